//! The host ABI from a guest's side: each input is up to four programs of
//! host calls that real `chaos` guests (examples/abi) run at once on one
//! node, with garbage pids, names, lengths, bytes and references, calls
//! they have no session or capability for, raw calls with lying pointers,
//! and children spawned with programs of their own. The node must never
//! panic; every process must end (no call hangs); afterwards the process
//! table's invariants hold and the node still runs a process.

#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rusm_core::ExitReason;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Per program: how deep its children may spawn, and its bytes.
    programs: Vec<(u8, Vec<u8>)>,
}

/// The chaos guests may do everything but reach the outside world: fetch
/// reaches one closed port, and gives up quickly.
const CONFIG: &str = r#"
[log]
level = "off"
[fetch]
timeout-ms = 200
[runtime]
max-processes = 200
mailbox-len = 64
[capabilities.chaos]
spawn = true
register = true
storage = true
fetch = ["127.0.0.1:9"]
"#;

fn host() -> &'static rusm_host::Host {
    static HOST: OnceLock<rusm_host::Host> = OnceLock::new();
    HOST.get_or_init(|| {
        common::host("abi", |config| {
            *config = rusm_config::AppConfig::parse(CONFIG).expect("the fuzz config");
        })
        .0
    })
}

fuzz_target!(|input: Input| {
    let host = host();
    rusm_rt::block_on(async {
        let me = host.node().attach("fuzz").expect("room for the harness");
        let before = host.node().process_count();
        for (depth, program) in input.programs.iter().take(4) {
            let mut init = vec![depth % 3];
            init.extend_from_slice(&me.pid().as_raw().to_le_bytes());
            init.extend(program.iter().take(512));
            let _ = host.spawn_monitor(&me, "chaos", init);
        }
        // Every program ends, and its children with it (the harness's own
        // process may be killed by one: that is a program's right).
        let deadline = Instant::now() + Duration::from_secs(10);
        let others = || host.node().process_count() - usize::from(me.exit_reason().is_none());
        while others() > before - 1 {
            assert!(
                Instant::now() < deadline,
                "processes never ended: {}",
                host.node().process_count()
            );
            rusm_rt::time::sleep(Duration::from_millis(2)).await;
        }
        host.node().check_consistency();
        let _ = me.exit(me.pid(), ExitReason::Killed);
    });
});
