;; A component that exports the renderer interface of another contract version
;; (berth:plugin@0.1.0, the one before topology became WIT records). The host must refuse it with ContractMismatch, naming both.
(component
  (core module $m
    (func (export "describe") (result i32) (i32.const 0)))
  (core instance $i (instantiate $m))
  (func $describe (result u32) (canon lift (core func $i "describe")))
  (instance $renderer (export "describe" (func $describe)))
  (export "berth:plugin/renderer@0.1.0" (instance $renderer))
)
