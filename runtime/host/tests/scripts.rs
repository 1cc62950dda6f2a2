//! Script components: the shared runner (QuickJS as a component) running
//! JavaScript programs as rusm processes, from source and from bytecode.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rusm_config::{Capabilities, Runtime, Storage};
use rusm_core::{Event, ExitReason, Message, Observer, Pid};
use rusm_host::{ComponentSource, Host, Script};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn runner() -> &'static Path {
    static RUNNER: OnceLock<PathBuf> = OnceLock::new();
    RUNNER.get_or_init(|| {
        rusm_build::build_runner(&repo().join("target/guests")).expect("the runner builds")
    })
}

fn cache() -> PathBuf {
    repo().join("target/rusm-cache")
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

/// Runs `script` as component `name` (granted stdio, plus `extra`) until it
/// ends: its exit reason and everything it printed.
fn run(name: &str, script: Script, extra: Capabilities) -> (ExitReason, String) {
    run_with(name, script, with_stdio(extra), Runtime::default())
}

fn with_stdio(extra: Capabilities) -> Capabilities {
    Capabilities {
        allow_stdio: true,
        ..extra
    }
}

/// Runs `script` as component `name` granted `capabilities`, under
/// `settings` (their pool made small: tests run in parallel, each with its
/// own host).
fn run_with(
    name: &str,
    script: Script,
    capabilities: Capabilities,
    settings: Runtime,
) -> (ExitReason, String) {
    let output = Arc::new(Output::default());
    let settings = Runtime {
        max_processes: 16,
        ..settings
    };
    let store = std::env::temp_dir().join(format!("rusm-scripts-{}-{name}", std::process::id()));
    let host = Host::builder(settings)
        .observer(output.clone())
        .cache_dir(cache())
        .storage(&store, &Storage::default())
        .build(vec![ComponentSource {
            name: name.to_string(),
            wasm: runner().to_path_buf(),
            capabilities,
            script: Some(script),
        }])
        .unwrap_or_else(|e| panic!("the host: {e}"));
    let reason = rusm_rt::block_on(async {
        let me = host.node().attach("test").unwrap();
        let (pid, _) = host.spawn_monitor(&me, name, b"hi".to_vec()).unwrap();
        loop {
            if let Message::Down { pid: p, reason, .. } = me.receive().await
                && p == pid
            {
                break reason;
            }
        }
    });
    host.shutdown();
    let _ = std::fs::remove_dir_all(&store);
    let printed = output
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, t)| t.clone())
        .collect();
    (reason, printed)
}

fn run_source(name: &str, source: &str) -> (ExitReason, String) {
    run(
        name,
        Script::source(source.as_bytes()),
        Capabilities::default(),
    )
}

/// A TypeScript process under the limits of `settings`.
fn run_limited(name: &str, source: &str, settings: Runtime) -> (ExitReason, String) {
    run_with(
        name,
        Script::source(source.as_bytes()),
        with_stdio(Capabilities::default()),
        settings,
    )
}

/// The node's limits hold for TypeScript processes as for Rust ones: a
/// spinning one is preempted, then ends `out-of-fuel` at `max-fuel`; a
/// JS heap grown past `memory-limit-mib`, or past the memory budget, ends
/// `out-of-memory`; an oversized message traps the sender; an unread
/// mailbox past `mailbox-len` ends its owner `mailbox-overflow`.
#[test]
fn a_typescript_process_meets_every_limit_of_the_node() {
    let spin = "export default () => { for (;;) {} }";
    let hoard =
        "export default () => { const kept = []; for (;;) kept.push(new Array(65536).fill(7)); }";
    let flood = "export default async () => { for (let i = 0; i < 11; i++) __rusm.send(__rusm.self(), 'm'); await __rusm.receive(1000); }";
    let cases = [
        (
            spin,
            Runtime {
                max_fuel: Some(200_000_000),
                ..Runtime::default()
            },
            ExitReason::OutOfFuel,
        ),
        (
            hoard,
            Runtime {
                memory_limit_mib: 24,
                ..Runtime::default()
            },
            ExitReason::OutOfMemory,
        ),
        (
            hoard,
            Runtime {
                memory_budget_mib: Some(24),
                ..Runtime::default()
            },
            ExitReason::OutOfMemory,
        ),
        (
            flood,
            Runtime {
                mailbox_len: 10,
                ..Runtime::default()
            },
            ExitReason::MailboxOverflow,
        ),
    ];
    for (source, settings, expected) in cases {
        let (reason, printed) = run_limited("limited", source, settings);
        assert_eq!(reason, expected, "{source}\n{printed}");
    }

    let big = "export default () => { __rusm.send(__rusm.self(), 'x'.repeat(2 << 20)); }";
    let (reason, _) = run_limited("big", big, Runtime::default());
    assert!(
        trap(reason).contains("exceeds the limit of 1048576 bytes"),
        "an oversized message"
    );
}

/// A kv value on its way counts against the memory budget: a write that
/// does not fit beside what its process already holds is refused with the
/// budget's error, and the process goes on.
#[test]
fn a_kv_value_past_the_memory_budget_is_refused() {
    let program = r#"
        export default function main() {
            const big = new Uint8Array(8 << 20);
            try { __rusm.kvSet("notes", "big", big); console.log("stored"); }
            catch (e) { console.log("refused:", e.message); }
            __rusm.kvSet("notes", "small", "1");
            console.log("small stored:", __rusm.kvGet("notes", "small", true));
        }
    "#;
    let (reason, printed) = run_with(
        "hoarder",
        Script::source(program.as_bytes()),
        with_stdio(Capabilities {
            storage: true,
            ..Capabilities::default()
        }),
        Runtime {
            memory_budget_mib: Some(24),
            ..Runtime::default()
        },
    );
    assert_eq!(reason, ExitReason::Normal, "{printed}");
    assert!(
        printed.starts_with("refused: kv: the node's memory budget of 24 MiB is full"),
        "{printed}"
    );
    assert!(printed.ends_with("small stored: 1\n"), "{printed}");
}

fn trap(reason: ExitReason) -> String {
    match reason {
        ExitReason::Trap(text) => text,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn a_script_runs_its_default_export_as_a_process() {
    let (reason, printed) = run_source(
        "hello",
        r#"
        export default async function main() {
            const me = __rusm.self();
            __rusm.send(me, "hello");
            const message = await __rusm.receive(1000);
            console.log(`got ${message.data} from ${message.from === me ? "myself" : message.from}`, typeof me);
            console.log("then", await __rusm.receive(0), "init", __rusm.init());
        }
        "#,
    );
    assert_eq!(reason, ExitReason::Normal);
    assert_eq!(printed, "got hello from myself bigint\nthen null init hi\n");
}

/// Every process starts from the same snapshot, so what the runner's set-up
/// could have fixed for all of them is made per process: `Math.random`'s
/// seed and the start of `__rusm.now()`.
#[test]
fn each_process_draws_its_own_random_numbers_and_its_clock_starts_with_it() {
    let program = r#"
        export default function main() {
            console.log(Math.random(), Math.random(), __rusm.now() < 1000);
        }
    "#;
    let draws: Vec<String> = (0..2)
        .map(|_| {
            let (reason, printed) = run_source("draws", program);
            assert_eq!(reason, ExitReason::Normal);
            printed
        })
        .collect();
    for printed in &draws {
        let fields: Vec<&str> = printed.split_whitespace().collect();
        assert_eq!(fields.len(), 3, "{printed}");
        for draw in &fields[..2] {
            let x: f64 = draw.parse().unwrap();
            assert!((0.0..1.0).contains(&x), "{printed}");
        }
        assert_ne!(fields[0], fields[1], "{printed}");
        assert_eq!(
            fields[2], "true",
            "the clock did not start with the process: {printed}"
        );
    }
    assert_ne!(draws[0], draws[1], "two processes drew the same numbers");
}

#[test]
fn receives_are_served_in_order_and_timers_fire_by_deadline() {
    let (reason, printed) = run_source(
        "loop",
        r#"
        export default async function main() {
            const me = __rusm.self();
            const first = __rusm.receive();
            const second = __rusm.receive(5000);
            __rusm.send(me, "one");
            __rusm.send(me, "two");
            console.log((await first).data, (await second).data);

            const order = [];
            setTimeout(() => order.push("b"), 20);
            setTimeout(() => order.push("a"), 10);
            const never = setTimeout(() => order.push("never"), 15);
            clearTimeout(never);
            // How many ticks fit in the wait depends on the machine: the
            // test waits for the third, then checks it was the last.
            let ticks = 0;
            const thrice = new Promise((resolve) => {
                const every = setInterval(() => { if (++ticks === 3) { clearInterval(every); resolve(); } }, 5);
            });
            const started = __rusm.now();
            const nothing = await __rusm.receive(40);
            const waited = __rusm.now() - started;
            await thrice;
            await new Promise((resolve) => setTimeout(resolve, 20));
            console.log(order.join(","), ticks, nothing, waited >= 40);

            // A message that arrives while a timer is the nearest deadline.
            setTimeout(() => __rusm.send(me, "late"), 10);
            console.log((await __rusm.receive()).data);
            await new Promise((resolve) => setTimeout(resolve, 1));
            queueMicrotask(() => console.log("microtask"));
        }
        "#,
    );
    assert_eq!(reason, ExitReason::Normal, "{printed}");
    assert_eq!(printed, "one two\na,b 3 null true\nlate\nmicrotask\n");
}

/// A process's pending timers are bounded (the runner's MAX_TIMERS): one
/// more throws, and a cleared or fired one makes room.
#[test]
fn pending_timers_are_bounded() {
    let (reason, printed) = run_source(
        "timers",
        r#"
        export default async function main() {
            const ids = [];
            for (let i = 0; i < 10000; i++) ids.push(setTimeout(() => {}, 60000));
            try { setInterval(() => {}, 1); } catch (e) { console.log(e.name, e.message); }
            clearTimeout(ids.pop());
            await new Promise((resolve) => setTimeout(resolve, 1));
            for (const id of ids) clearTimeout(id);
            console.log("room again");
        }
        "#,
    );
    assert_eq!(reason, ExitReason::Normal, "{printed}");
    assert_eq!(
        printed,
        "RangeError 10000 timers are pending, the runner's limit: clear some first\nroom again\n"
    );
}

#[test]
fn console_formats_values_and_prefixes_warnings_and_errors() {
    let (reason, printed) = run_source(
        "console",
        r#"
        export default function main() {
            console.log("pid", __rusm.self(), { n: 1, big: 2n, list: [1, "x"] }, null, undefined, 1.5);
            console.warn("retrying", 2);
            console.error(new TypeError("boom"));
        }
        "#,
    );
    assert_eq!(reason, ExitReason::Normal);
    let lines: Vec<&str> = printed.lines().collect();
    assert!(
        lines[0].starts_with("pid ")
            && lines[0].ends_with(r#" {"n":1,"big":"2","list":[1,"x"]} null undefined 1.5"#),
        "{printed}"
    );
    assert_eq!(lines[1], "[warn] retrying 2");
    assert_eq!(lines[2], "[error] TypeError: boom");
    assert!(lines[3].contains("at main (console:"), "{printed}");
}

/// Without `allow-stdio` a TypeScript process's console output is
/// discarded, and it cannot tell: nothing throws.
#[test]
fn without_allow_stdio_console_output_is_discarded() {
    let program = r#"
        export default function main() {
            console.log("to stdout");
            console.error("to stderr");
            console.warn("a warning");
        }
    "#;
    let run = |capabilities| {
        run_with(
            "quiet",
            Script::source(program.as_bytes()),
            capabilities,
            Runtime::default(),
        )
    };
    assert_eq!(
        run(Capabilities::default()),
        (ExitReason::Normal, String::new())
    );
    let (reason, printed) = run(with_stdio(Capabilities::default()));
    assert_eq!(reason, ExitReason::Normal);
    assert_eq!(printed, "to stdout\n[error] to stderr\n[warn] a warning\n");
}

#[test]
fn an_uncaught_exception_ends_the_process_with_its_message() {
    let (reason, _) = run_source(
        "thrower",
        "export default async function main() { await __rusm.receive(1); throw new Error('no luck'); }",
    );
    assert!(trap(reason).starts_with("uncaught no luck"));
    let (reason, _) = run_source(
        "rejecter",
        "export default function main() { return Promise.reject('plain'); }",
    );
    assert_eq!(trap(reason), "uncaught plain");
    let (reason, _) = run_source(
        "timer",
        "export default async function main() { setTimeout(() => { throw new Error('in a timer'); }, 1); await __rusm.receive(50); }",
    );
    assert!(trap(reason).starts_with("uncaught in a timer"));
    let (reason, _) = run_source("broken", "export default function main( {");
    // QuickJS's parse error, with where it is.
    let text = trap(reason);
    assert!(
        text.starts_with("uncaught ") && text.contains("at broken:1:"),
        "{text}"
    );
}

#[test]
fn a_promise_nothing_can_settle_ends_the_process_with_a_clear_reason() {
    let (reason, _) = run_source(
        "stuck",
        "export default async function main() { await new Promise(() => {}); }",
    );
    assert_eq!(
        trap(reason),
        "the program waits on a promise that nothing can settle (no receive or timer is pending)"
    );
}

#[test]
fn the_process_api_refuses_with_the_hosts_messages() {
    let program = r#"
        export default function main() {
            const attempt = (what, f) => {
                try { console.log(what, f()); } catch (e) { console.log(what, "threw:", e.message); }
            };
            attempt("spawn", () => __rusm.spawn("nobody", ""));
            attempt("register", () => __rusm.register("me"));
            attempt("whereis", () => __rusm.whereis("me") === __rusm.self());
            attempt("kv", () => __rusm.kvSet("notes", "a", "1"));
            attempt("kv get", () => __rusm.kvGet("notes", "a", true));
            attempt("kv exists", () => __rusm.kvExists("notes", "a"));
            attempt("kv list", () => __rusm.kvList("notes").length);
            attempt("kv delete", () => __rusm.kvDelete("notes", "a"));
            attempt("unregister", () => __rusm.unregister("me"));
            attempt("pid", () => __rusm.send(1, "not a bigint"));
        }
    "#;
    let (reason, printed) = run(
        "api",
        Script::source(program.as_bytes()),
        Capabilities::default(),
    );
    assert_eq!(reason, ExitReason::Normal);
    assert_eq!(
        printed,
        "spawn threw: capability denied: spawn (grant it in rusm.toml: [capabilities.api] spawn = true)\n\
         register threw: capability denied: register (grant it in rusm.toml: [capabilities.api] register = true)\n\
         whereis false\n\
         kv threw: capability denied: storage (grant it in rusm.toml: [capabilities.api] storage = true)\n\
         kv get threw: capability denied: storage (grant it in rusm.toml: [capabilities.api] storage = true)\n\
         kv exists threw: capability denied: storage (grant it in rusm.toml: [capabilities.api] storage = true)\n\
         kv list threw: capability denied: storage (grant it in rusm.toml: [capabilities.api] storage = true)\n\
         kv delete threw: capability denied: storage (grant it in rusm.toml: [capabilities.api] storage = true)\n\
         unregister threw: capability denied: register (grant it in rusm.toml: [capabilities.api] register = true)\n\
         pid threw: a pid is a non-negative bigint, not int\n"
    );
    let (reason, printed) = run(
        "api",
        Script::source(program.as_bytes()),
        Capabilities::trusted(),
    );
    assert_eq!(reason, ExitReason::Normal);
    assert!(
        printed.starts_with("spawn threw: no component named \"nobody\""),
        "{printed}"
    );
    assert!(
        printed.contains(
            "register undefined\nwhereis true\nkv undefined\nkv get 1\nkv exists true\nkv list 1\nkv delete true\nunregister undefined\n"
        ),
        "{printed}"
    );
}

#[test]
fn kv_reads_back_text_and_bytes() {
    let program = r#"
        export default function main() {
            __rusm.kvSet("notes", "greeting", "héllo");
            __rusm.kvSet("notes", "raw", new Uint8Array([0, 255, 7]));
            const raw = __rusm.kvGet("notes", "raw");
            console.log(__rusm.kvGet("notes", "greeting", true), raw instanceof Uint8Array, Array.from(raw).join("."));
            console.log(__rusm.kvList("notes"), __rusm.kvList("notes", "g"), __rusm.kvExists("notes", "raw"));
            console.log(__rusm.kvDelete("notes", "raw"), __rusm.kvGet("notes", "raw"));
            try { __rusm.kvSet("Bad Bucket", "k", "v"); } catch (e) { console.log(e.message); }
        }
    "#;
    let storage = Capabilities {
        storage: true,
        ..Capabilities::default()
    };
    let (reason, printed) = run("notes", Script::source(program.as_bytes()), storage);
    assert_eq!(reason, ExitReason::Normal, "{printed}");
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines[..3],
        [
            r#"héllo true 0.255.7"#,
            r#"["greeting","raw"] ["greeting"] true"#,
            "true null"
        ]
    );
    assert!(
        lines[3].starts_with("the bucket name \"Bad Bucket\" is not"),
        "{printed}"
    );
}

#[test]
fn bytecode_runs_like_its_source_and_foreign_bytecode_is_refused() {
    let program = r#"
        const greeting = "from bytecode";
        export default async function main() {
            await __rusm.receive(1);
            console.log(greeting);
        }
    "#;
    let bytecode =
        rusm_host::compile_script(runner(), "hello", program.as_bytes(), Some(&cache())).unwrap();
    let header = String::from_utf8_lossy(&bytecode[..bytecode.len().min(80)]).into_owned();
    assert!(
        header.starts_with("rusm-qjsbc 3\nquickjs-ng via rquickjs-sys ")
            && header.contains(", rusm-ts "),
        "{header:?}"
    );
    let (reason, printed) = run(
        "hello",
        Script::bytecode(bytecode.clone()),
        Capabilities::default(),
    );
    assert_eq!(
        (reason, printed.as_str()),
        (ExitReason::Normal, "from bytecode\n")
    );

    // Another engine's header, and another rusm-ts's: a program imports
    // rusm-ts from the runner, so bytecode built against another would
    // link against exports that may not be there.
    let header_end = bytecode.iter().skip(13).position(|&b| b == b'\n').unwrap() + 13;
    let runner_is = |text: &str| {
        text.contains(", and this runner is quickjs-ng via rquickjs-sys 0.")
            && text.ends_with("; rebuild it with `rusm build`")
    };
    for other in [
        "quickjs-ng via rquickjs-sys 0.0.1, rusm-ts 0000000000000000",
        &format!(
            "{}, rusm-ts 0000000000000000",
            header[13..].split(", rusm-ts").next().unwrap()
        ),
    ] {
        let mut foreign = format!("rusm-qjsbc 3\n{other}").into_bytes();
        foreign.extend_from_slice(&bytecode[header_end..]);
        let (reason, _) = run("hello", Script::bytecode(foreign), Capabilities::default());
        let text = trap(reason);
        assert!(
            text.starts_with(&format!("hello.qjsbc was compiled by {other}")) && runner_is(&text),
            "{text}"
        );
    }
    // The format that carried the prelude in every file.
    let mut older = b"rusm-qjsbc 2\n".to_vec();
    older.extend_from_slice(&bytecode[13..]);
    let (reason, _) = run("hello", Script::bytecode(older), Capabilities::default());
    assert_eq!(
        trap(reason),
        "hello.qjsbc is in an older rusm bytecode format; rebuild it with `rusm build`"
    );
    // Cut short: QuickJS's reader refuses it (a trap of the process, not
    // a read past the end).
    let (reason, _) = run(
        "hello",
        Script::bytecode(bytecode[..bytecode.len() - 10].to_vec()),
        Capabilities::default(),
    );
    let text = trap(reason);
    assert!(text.starts_with("uncaught "), "{text}");
    // Not bytecode at all (a JavaScript file named .qjsbc, say).
    let (reason, _) = run(
        "hello",
        Script::bytecode(program.as_bytes()),
        Capabilities::default(),
    );
    assert_eq!(
        trap(reason),
        "hello.qjsbc is not rusm bytecode (no rusm-qjsbc header); rebuild it with `rusm build`"
    );

    let error = rusm_host::compile_script(runner(), "broken", b"export default (", Some(&cache()))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("component broken: trap: uncaught ") && error.contains("at broken:1:"),
        "{error}"
    );
}

/// The runner's snapshot (QuickJS, the prelude and rusm-ts pre-initialized,
/// what every script process starts from) is made once per runner into the
/// cache, is the same bytes wherever it is made, and a file there that
/// names another runner is refused, said so, and made again.
#[test]
fn the_runners_snapshot_is_made_once_the_same_everywhere_and_a_stale_one_is_remade() {
    let dirs = [1, 2].map(|n| {
        let dir = std::env::temp_dir().join(format!("rusm-snapshot-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    });
    let snapshot_in = |dir: &Path| {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "snapshot"))
            .collect();
        assert_eq!(
            files.len(),
            1,
            "one snapshot in {}: {files:?}",
            dir.display()
        );
        files.into_iter().next().unwrap()
    };
    let inode =
        |path: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap());

    let (reason, log) = run_in(&dirs[0]);
    assert_eq!(reason, ExitReason::Normal);
    assert_eq!(log, "");
    let path = snapshot_in(&dirs[0]);
    let made = std::fs::read(&path).unwrap();
    assert!(
        made.starts_with(b"rusm-snapshot 1\nrunner "),
        "{:?}",
        &made[..40]
    );

    // Again: loaded, not made (the file is the one written first).
    let first = inode(&path);
    assert_eq!(run_in(&dirs[0]), (ExitReason::Normal, String::new()));
    assert_eq!(inode(&path), first, "the snapshot was made again");

    // Elsewhere: the same bytes (no time, seed or path in them).
    assert_eq!(run_in(&dirs[1]).0, ExitReason::Normal);
    assert!(
        std::fs::read(snapshot_in(&dirs[1])).unwrap() == made,
        "two snapshots differ"
    );

    // Made from another runner: refused, and made again.
    let text =
        String::from_utf8_lossy(&made[..made.iter().position(|&b| b == 0).unwrap()]).into_owned();
    let runner_line = text.lines().nth(1).unwrap().to_string();
    let other = format!("runner {}", "0".repeat(64));
    let mut stale = made.clone();
    stale.splice(16..16 + runner_line.len(), other.bytes());
    std::fs::write(&path, &stale).unwrap();
    let (reason, log) = run_in(&dirs[0]);
    assert_eq!(reason, ExitReason::Normal);
    let wasmtime_line = text.lines().nth(2).unwrap();
    assert!(
        log.contains(&format!(
            "refused {}: {other}, {wasmtime_line}; this node's is {runner_line}, {wasmtime_line}: making it again",
            path.display()
        )),
        "{log}"
    );
    assert!(
        std::fs::read(&path).unwrap() == made,
        "the remade snapshot differs"
    );
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Runs a small program on a host whose cache is `dir`: its exit reason,
/// and what the host logged while it was built.
fn run_in(dir: &Path) -> (ExitReason, String) {
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    // Warnings only: the boot's info lines (the memory budget) are not
    // what this test is about.
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .without_time()
        .with_ansi(false)
        .finish();
    let host = tracing::subscriber::with_default(subscriber, || {
        Host::builder(Runtime {
            max_processes: 4,
            ..Runtime::default()
        })
        .cache_dir(dir)
        .build(vec![ComponentSource {
            name: "hello".into(),
            wasm: runner().to_path_buf(),
            capabilities: Capabilities::default(),
            script: Some(Script::source(
                &b"export default () => { if (typeof setTimeout !== 'function') throw 1; }"[..],
            )),
        }])
        .unwrap_or_else(|e| panic!("the host: {e}"))
    });
    let reason = rusm_rt::block_on(async {
        let me = host.node().attach("test").unwrap();
        let (pid, _) = host.spawn_monitor(&me, "hello", Vec::new()).unwrap();
        loop {
            if let Message::Down { pid: p, reason, .. } = me.receive().await
                && p == pid
            {
                break reason;
            }
        }
    });
    host.shutdown();
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (reason, log)
}
