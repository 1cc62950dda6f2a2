//! The `rusm:runtime/script` import: a script component's runner asks for
//! the program it runs.

use crate::imports::rusm::runtime::script as wit;
use crate::process::ProcState;

impl wit::Host for ProcState {
    fn source(&mut self) -> wasmtime::Result<Option<wit::Program>> {
        Ok(self.script.as_ref().map(|script| wit::Program {
            name: self.component.to_string(),
            bytecode: script.bytecode,
            code: script.code.to_vec(),
        }))
    }
}
