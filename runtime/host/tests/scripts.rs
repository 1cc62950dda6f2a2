//! Script components: the shared runner (QuickJS as a component) running
//! JavaScript programs as rusm processes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rusm_config::{Capabilities, Runtime};
use rusm_core::{Event, ExitReason, Message, Observer, Pid};
use rusm_host::{ComponentSource, Host, Script};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn runner() -> &'static Path {
    static RUNNER: OnceLock<PathBuf> = OnceLock::new();
    RUNNER.get_or_init(|| {
        rusm_build::build_runner(&repo().join("target/runner")).expect("the runner builds")
    })
}

/// Guest output, by process.
#[derive(Default)]
struct Output(Mutex<Vec<(Pid, String)>>);

impl Observer for Output {
    fn event(&self, event: Event<'_>) {
        if let Event::Output { pid, bytes, .. } = event {
            let text = String::from_utf8_lossy(bytes).into_owned();
            self.0.lock().unwrap().push((pid, text));
        }
    }
}

/// Runs `source` as script component `name` until it ends.
fn run_script(name: &str, source: &str) -> (ExitReason, String) {
    let output = Arc::new(Output::default());
    // A small pool: tests run in parallel, each with its own host.
    let settings = Runtime {
        max_processes: 16,
        ..Runtime::default()
    };
    let host = Host::builder(settings)
        .observer(output.clone())
        .cache_dir(repo().join("target/rusm-cache"))
        .build(vec![ComponentSource {
            name: name.to_string(),
            wasm: runner().to_path_buf(),
            capabilities: Capabilities {
                allow_stdio: true,
                ..Capabilities::default()
            },
            script: Some(Script {
                bytecode: false,
                code: source.as_bytes().into(),
            }),
        }])
        .unwrap_or_else(|e| panic!("the host: {e}"));
    let reason = rusm_rt::block_on(async {
        let me = host.node().attach("test").unwrap();
        let (pid, _) = host.spawn_monitor(&me, name, Vec::new()).unwrap();
        loop {
            if let Message::Down { pid: p, reason, .. } = me.receive().await
                && p == pid
            {
                break reason;
            }
        }
    });
    let printed = output
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, t)| t.clone())
        .collect();
    (reason, printed)
}

#[test]
fn a_script_runs_its_default_export_as_a_process() {
    let (reason, printed) = run_script(
        "hello",
        r#"
        export default function main() {
            const me = __rusm.self();
            __rusm.send(me, "hello");
            const message = __rusm.receive(1000);
            console.log(`got ${message.data} from ${message.from === me ? "myself" : message.from}`, typeof me);
            console.log("then", __rusm.receive(0));
        }
        "#,
    );
    assert_eq!(reason, ExitReason::Normal);
    assert_eq!(printed, "got hello from myself bigint\nthen null\n");
}

#[test]
fn an_uncaught_exception_ends_the_process_with_its_message() {
    let (reason, _) = run_script(
        "thrower",
        "export default async function main() { await null; throw new Error('no luck'); }",
    );
    match reason {
        ExitReason::Trap(text) => assert!(text.starts_with("uncaught no luck"), "{text}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    let (reason, _) = run_script("broken", "export default function main( {");
    // QuickJS's parse error, with where it is.
    assert!(
        matches!(&reason, ExitReason::Trap(text) if text.starts_with("uncaught ") && text.contains("at broken:1:")),
        "{reason:?}"
    );
}
