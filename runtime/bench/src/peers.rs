//! The programs rusm is measured against, each run as a process of its
//! own: Erlang/OTP (`peers/erlang`), `wasmtime serve` on a wasi:http
//! component (`peers/wasi-http-hello`), Bun (`peers/bun`), and rusm itself
//! when it serves (`rusm serve`, so every server is measured the same way).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rusm_rt::time::{self, Duration};

use crate::repo;

/// Where each peer is, as `ci/bench` installs them; `None` when missing.
pub struct Peers {
    pub erlang: Option<(PathBuf, PathBuf)>,
    pub wasmtime: Option<(PathBuf, PathBuf)>,
    pub bun: Option<PathBuf>,
}

impl Peers {
    /// `erl`/`erlc` from PATH, Bun from `.tools/`, and `wasmtime` with the
    /// peer component as given (`--wasmtime`, `--wasi-hello`).
    pub fn find(wasmtime: Option<(PathBuf, PathBuf)>) -> Peers {
        let on_path = |name: &str| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join(name))
                    .find(|candidate| candidate.is_file())
            })
        };
        let bun = repo().join(".tools/node_modules/.bin/bun");
        Peers {
            erlang: on_path("erl").zip(on_path("erlc")),
            wasmtime,
            bun: bun.is_file().then_some(bun),
        }
    }

    /// The peers' own versions, for the report.
    pub fn versions(&self) -> Vec<String> {
        let mut versions = Vec::new();
        if let Some((erl, _)) = &self.erlang {
            let release = output(Command::new(erl).args([
                "-noshell",
                "-eval",
                "io:format(\"~s\", [erlang:system_info(otp_release)]), halt().",
            ]));
            versions.push(format!("Erlang/OTP {release}"));
        }
        if let Some((wasmtime, _)) = &self.wasmtime {
            versions.push(output(Command::new(wasmtime).arg("--version")));
        }
        if let Some(bun) = &self.bun {
            versions.push(format!(
                "Bun {}",
                output(Command::new(bun).arg("--version"))
            ));
        }
        versions
    }
}

fn output(command: &mut Command) -> String {
    command
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map_or_else(|| "unknown".into(), |s| s.trim().to_string())
}

/// Runs `rusm_peer:main(spawns, rounds, restarts)` in a fresh Erlang VM
/// and returns its figures by key.
pub fn erlang(
    (erl, erlc): &(PathBuf, PathBuf),
    spawns: usize,
    rounds: usize,
    restarts: usize,
) -> BTreeMap<String, f64> {
    let beams = repo().join("target/bench-peers/erlang");
    std::fs::create_dir_all(&beams).expect("a directory for the Erlang peer");
    let compiled = Command::new(erlc)
        .arg("-o")
        .arg(&beams)
        .arg(repo().join("runtime/bench/peers/erlang/rusm_peer.erl"))
        .status()
        .expect("run erlc");
    assert!(compiled.success(), "erlc failed on the Erlang peer");
    let out = Command::new(erl)
        .arg("-noshell")
        .arg("-pa")
        .arg(&beams)
        .arg("-eval")
        .arg(format!("rusm_peer:main({spawns}, {rounds}, {restarts})"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run erl");
    assert!(out.status.success(), "the Erlang peer failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// A server in a process of its own, killed when dropped. What it prints
/// goes to `target/bench-peers/<name>.log`.
pub struct Server {
    child: Child,
}

impl Server {
    /// Starts `command` and waits until each of `addresses` accepts
    /// connections.
    pub async fn start(name: &str, mut command: Command, addresses: &[SocketAddr]) -> Server {
        let dir = repo().join("target/bench-peers");
        std::fs::create_dir_all(&dir).expect("a directory for the servers' logs");
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("a server log");
        let child = command
            .stdout(file.try_clone().expect("the log, twice"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
        let mut server = Server { child };
        for &address in addresses {
            let mut tries = 0;
            while rusm_rt::net::connect(address).await.is_err() {
                if let Ok(Some(status)) = server.child.try_wait() {
                    panic!(
                        "{command:?} ended before listening on {address}: {status} (see {})",
                        log.display()
                    );
                }
                tries += 1;
                assert!(
                    tries < 600,
                    "{command:?} did not listen on {address} within 30 s"
                );
                time::sleep(Duration::from_millis(50)).await;
            }
        }
        server
    }

    /// `rusm serve <app>` with the `rusm` binary built beside this one.
    pub async fn rusm(name: &str, app: &Path, addresses: &[SocketAddr]) -> Server {
        let mut command = Command::new(rusm_binary());
        command.arg("serve").arg(app);
        Server::start(name, command, addresses).await
    }

    /// The server's resident set, from /proc.
    pub fn resident_bytes(&self) -> u64 {
        resident_bytes(self.child.id())
    }

    /// The server's proportional set size, from /proc.
    pub fn proportional_bytes(&self) -> u64 {
        proportional_bytes(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `rusm` binary built beside this one (`cargo build --release -p rusm`).
pub fn rusm_binary() -> PathBuf {
    let rusm = std::env::current_exe()
        .expect("this binary's path")
        .with_file_name("rusm");
    assert!(
        rusm.is_file(),
        "{} is missing: cargo build --release -p rusm",
        rusm.display()
    );
    rusm
}

/// A process's resident set, from /proc (`VmRSS`).
pub fn resident_bytes(pid: u32) -> u64 {
    proc_bytes(pid, "status", "VmRSS:")
}

/// Process `pid`'s proportional set size (`Pss` in `smaps_rollup`): a page
/// shared by n mappings counts 1/n, so a copy-on-write image page mapped by
/// many instances is not counted once per instance as `VmRSS` counts it.
pub fn proportional_bytes(pid: u32) -> u64 {
    proc_bytes(pid, "smaps_rollup", "Pss:")
}

/// The `key: <n> kB` line of `/proc/<pid>/<file>`, in bytes.
fn proc_bytes(pid: u32, file: &str, key: &str) -> u64 {
    let path = format!("/proc/{pid}/{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let kib = text
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or_else(|| panic!("{path} has no {key} line"));
    kib * 1024
}

/// The memory budget of the benchmarks' nodes: 3/4 of this machine, the
/// default until an unset budget became half. Ten thousand idle Rust
/// processes or held WebSockets count 1.1 MiB each (a linear memory counts
/// at its size, touched or not): 11 GiB, past half of a 24 GiB machine.
/// So the rows go on measuring what they measured before.
pub fn three_quarters_of_the_machine_mib() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("/proc/meminfo");
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("MemTotal in /proc/meminfo");
    kib / 1024 / 4 * 3
}
