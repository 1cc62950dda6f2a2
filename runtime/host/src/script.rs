//! Script components (TypeScript/JavaScript): the shared runner plus a
//! program. The `rusm:runtime/script` import hands the runner its program,
//! and takes back the bytecode when the host started it to compile one.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusm_config::{Capabilities, Runtime};

use crate::imports::rusm::runtime::script as wit;
use crate::process::ProcState;
use crate::{ComponentSource, Host, HostError};

/// The program of a script component, handed to the runner through the
/// `script.source` import.
#[derive(Debug, Clone)]
pub struct Script {
    bytecode: bool,
    code: Arc<[u8]>,
    /// Set when the process is to compile the program rather than run it:
    /// where `script.compiled` puts the bytecode.
    compiled: Option<Arc<Mutex<Option<Vec<u8>>>>>,
}

impl Script {
    /// A program as JavaScript source (an ES module).
    pub fn source(code: impl Into<Arc<[u8]>>) -> Script {
        Script {
            bytecode: false,
            code: code.into(),
            compiled: None,
        }
    }

    /// A program as bytecode the runner wrote ([`compile`]).
    pub fn bytecode(code: impl Into<Arc<[u8]>>) -> Script {
        Script {
            bytecode: true,
            ..Script::source(code)
        }
    }
}

/// Compiles the JavaScript module `source` to the bytecode of the runner at
/// `runner`, by running that runner once in compile mode: only the engine
/// that will read the bytecode writes it. A syntax error is an error that
/// says where. It runs a node of its own to completion: call it outside an
/// async runtime.
pub fn compile(
    runner: &Path,
    name: &str,
    source: &[u8],
    cache_dir: Option<&Path>,
) -> Result<Vec<u8>, HostError> {
    let slot = Arc::new(Mutex::new(None));
    let script = Script {
        compiled: Some(slot.clone()),
        ..Script::source(source)
    };
    let mut builder = Host::builder(Runtime::default());
    if let Some(dir) = cache_dir {
        builder = builder.cache_dir(dir);
    }
    let host = builder.build(vec![ComponentSource {
        name: name.to_string(),
        wasm: runner.to_path_buf(),
        capabilities: Capabilities::default(),
        script: Some(script),
    }])?;
    let failed = |message: String| HostError::Compile {
        component: name.to_string(),
        message,
    };
    let reason = rusm_rt::block_on(host.run("rusm build", name, Vec::new()))?;
    if !reason.is_normal() {
        return Err(failed(reason.to_string()));
    }
    slot.lock()
        .expect("the bytecode slot")
        .take()
        .ok_or_else(|| failed("the runner ended without handing back bytecode".into()))
}

impl wit::Host for ProcState {
    fn source(&mut self) -> wasmtime::Result<Option<wit::Program>> {
        Ok(self.script.as_ref().map(|script| wit::Program {
            name: self.component.to_string(),
            bytecode: script.bytecode,
            code: script.code.to_vec(),
            compile: script.compiled.is_some(),
        }))
    }

    fn compiled(&mut self, bytecode: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        let Some(slot) = self.script.as_ref().and_then(|s| s.compiled.as_ref()) else {
            return Ok(Err("this process was not asked to compile a program".into()));
        };
        let mut slot = slot.lock().expect("the bytecode slot");
        if slot.is_some() {
            return Ok(Err("the bytecode was already handed back".into()));
        }
        *slot = Some(bytecode);
        Ok(Ok(()))
    }
}
