;; The engine's floor: the smallest component rusm can spawn. It imports
;; nothing, has one page of memory and a `wasi:cli/run` export that returns
;; `ok` at once, so spawning it costs only what wasmtime and the node spend
;; on any process.
(component
  (core module $main
    (memory (export "memory") 1)
    (func (export "run") (result i32)
      i32.const 0))
  (core instance $main (instantiate $main))
  (func $run (result (result))
    (canon lift (core func $main "run")))
  (instance $cli-run
    (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $cli-run)))
