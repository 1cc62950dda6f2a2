//! Raw bytes to the serving layer: a real node serving examples/serve-rs
//! on a loopback port, its real guests answering. Whatever the bytes, the
//! node answers with an HTTP response or closes the connection, never
//! panics, and still serves a well-formed request afterwards (checked every
//! 64 inputs, and its process table's invariants with it).

#![no_main]

#[path = "common.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;

struct Served {
    address: SocketAddr,
    host: rusm_host::Host,
}

fn served() -> &'static Served {
    static SERVED: OnceLock<Served> = OnceLock::new();
    SERVED.get_or_init(|| {
        // libFuzzer's C main leaves SIGPIPE deadly (a Rust main ignores it):
        // a write to a connection the node closed must be an error, as in
        // the `rusm` binary.
        // SAFETY: setting a signal's disposition to ignore, before any thread of ours runs.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let (host, mut config) = common::host("serve-rs", |config| {
            config.log.level = rusm_config::LogLevel::Off;
            for listener in &mut config.serve {
                listener.address = "127.0.0.1:0".parse().expect("an address");
            }
        });
        config
            .serve
            .retain(|l| l.kind == rusm_config::ListenerKind::Http);
        let (bound, address) = std::sync::mpsc::channel();
        let serving = host.clone();
        // libFuzzer calls the target synchronously from its own thread; the
        // node runs on a runtime of another.
        std::thread::spawn(move || {
            rusm_rt::block_on(async move {
                serving
                    .start_residents(rusm_host::Resident::from_config(&config))
                    .expect("the residents start");
                let server = rusm_serve::Server::start(&serving, &config.serve)
                    .await
                    .expect("the listener binds");
                let _ = bound.send(server.bound()[0].address);
                std::future::pending::<()>().await;
                drop(server);
            })
        });
        Served {
            address: address.recv().expect("the server started"),
            host,
        }
    })
}

/// Writes `bytes`, then reads whatever comes back until the node closes
/// the connection or `patience` passes (an SSE route streams until its
/// client leaves, as this one then does).
///
/// With `half_close`, the client shuts its writing side after the bytes, as
/// some do; hyper then drops a request whose answer is not ready yet, so
/// an empty answer is fair. The health check keeps its side open and asks
/// the node to close instead (`connection: close`).
fn exchange(address: SocketAddr, bytes: &[u8], patience: Duration, half_close: bool) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).expect("the node accepts");
    stream.set_read_timeout(Some(patience)).expect("a timeout");
    let _ = stream.write_all(bytes);
    if half_close {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    // An endless stream (SSE) is read for `patience` or 64 KiB, then left.
    let deadline = std::time::Instant::now() + patience;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 8192];
    while answer.len() < 64 * 1024 && std::time::Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
    answer
}

fuzz_target!(|bytes: &[u8]| {
    let served = served();
    let answer = exchange(served.address, bytes, Duration::from_millis(500), true);
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 ") || answer.starts_with(b"HTTP/1.0 "),
        "not an HTTP response: {:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(200)])
    );
    static INPUTS: AtomicU64 = AtomicU64::new(0);
    if INPUTS.fetch_add(1, Ordering::Relaxed) % 64 == 0 {
        // Streams the fuzzer opened may still be ending: a busy node is
        // given time, a stopped one is not mistaken for it.
        let asked = std::time::Instant::now();
        let answer = exchange(
            served.address,
            b"GET /users/7 HTTP/1.1\r\nhost: fuzz\r\nconnection: close\r\n\r\n",
            Duration::from_secs(20),
            false,
        );
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "the node stopped serving: {:?} after {:?}",
            String::from_utf8_lossy(&answer),
            asked.elapsed()
        );
        served.host.node().check_consistency();
    }
});
