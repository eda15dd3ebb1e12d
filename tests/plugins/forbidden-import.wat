;; A component that asks for HTTP. Whatever else it does, the host must refuse it at
;; load with ForbiddenImport naming wasi:http/outgoing-handler. Its filesystem import is
;; one the host serves with a deny-by-default stub: that one alone would load, and it
;; does not make the HTTP import acceptable.
(component
  (import "wasi:filesystem/preopens@0.2.6" (instance))
  (import "wasi:http/outgoing-handler@0.2.6" (instance))
  (core module $m
    (func (export "describe") (result i32) (i32.const 0)))
  (core instance $i (instantiate $m))
  (func $describe (result u32) (canon lift (core func $i "describe")))
  (instance $renderer (export "describe" (func $describe)))
  (export "berth:plugin/renderer@0.4.0" (instance $renderer))
)
