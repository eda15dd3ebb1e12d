;; A component that asks for the filesystem. Whatever else it does, the host must
;; refuse it at load with ForbiddenImport naming wasi:filesystem/preopens.
(component
  (import "wasi:filesystem/preopens@0.2.6" (instance))
  (core module $m
    (func (export "describe") (result i32) (i32.const 0)))
  (core instance $i (instantiate $m))
  (func $describe (result u32) (canon lift (core func $i "describe")))
  (instance $renderer (export "describe" (func $describe)))
  (export "berth:plugin/renderer@0.1.0" (instance $renderer))
)
