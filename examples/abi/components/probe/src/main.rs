//! probe: calls one host import, named in its init payload, with harmless
//! arguments, and exits with what it got: `custom("ok")`, or
//! `custom("refused: <the error>")`; a call that traps ends it with the
//! trap. It speaks the raw ABI (no rusm-rs), so it shows what the host
//! allows. The capability matrix test (runtime/host/tests/capabilities.rs)
//! runs it under every profile for every import.

mod bindings {
    wit_bindgen::generate!({
        world: "guest",
        path: "../../../../runtime/host/wit",
    });
}

use bindings::rusm::runtime::{crypto, fetch, kv, process, script, serving};
use serde::Deserialize;

#[derive(Deserialize)]
struct Probe {
    /// `interface.function`, as in the WIT file (`kv.get`), or a WASI
    /// area (`stdio`, `filesystem`, `sockets`).
    import: String,
    /// A live process to link to, monitor and signal.
    peer: u64,
}

fn main() {
    let probe: Probe = serde_json::from_slice(&process::init()).expect("a probe payload");
    let reason = match call(&probe.import, probe.peer) {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("refused: {e}"),
    };
    process::exit(process::self_pid(), &process::ExitReason::Custom(reason));
}

fn call(import: &str, peer: u64) -> Result<(), String> {
    let me = process::self_pid();
    match import {
        "process.self-pid" => drop(process::self_pid()),
        "process.init" => drop(process::init()),
        "process.spawn" => drop(process::spawn("probe", b"")?),
        "process.send" => process::send(me, b"probe"),
        "process.receive" => {
            process::send(me, b"probe");
            drop(process::receive());
        }
        "process.receive-timeout" => drop(process::receive_timeout(0)),
        "process.link" => process::link(peer),
        "process.unlink" => process::unlink(peer),
        "process.monitor" => drop(process::monitor(peer)),
        "process.demonitor" => process::demonitor(process::monitor(peer)),
        "process.set-aside" => process::set_aside(0),
        "process.trap-exit" => drop(process::trap_exit(false)),
        "process.register" => process::register("probe", me)?,
        "process.unregister" => {
            // Registered first where that is allowed, so that only the
            // capability decides.
            let _ = process::register("probe", me);
            process::unregister("probe")?
        }
        "process.whereis" => drop(process::whereis("nobody")),
        "process.exit" => process::exit(peer, &process::ExitReason::Normal),
        "process.fail" => process::fail("probe"),
        "serving.session" => drop(serving::session()),
        "serving.respond" => serving::respond(200, &[], b"probe")?,
        "serving.respond-stream" => serving::respond_stream(200, &[])?,
        "serving.write" => drop(serving::write(b"probe")),
        "serving.send-frame" => drop(serving::send_frame(&serving::Frame::Text("probe".into()))),
        "kv.get" => drop(kv::get("probe", "key")?),
        "kv.set" => kv::set("probe", "key", b"value")?,
        "kv.delete" => drop(kv::delete("probe", "key")?),
        "kv.exists" => drop(kv::exists("probe", "key")?),
        "kv.list" => drop(kv::list("probe", "", 10)?),
        "script.source" => drop(script::source()),
        "script.compiled" => script::compiled(b"probe")?,
        "crypto.digest" => drop(crypto::digest(crypto::Hash::Sha256, b"probe")),
        "crypto.hmac-sign" => drop(crypto::hmac_sign(crypto::Hash::Sha256, b"key", b"probe")?),
        "crypto.hmac-verify" => drop(crypto::hmac_verify(
            crypto::Hash::Sha256,
            b"key",
            b"probe",
            b"",
        )?),
        "crypto.aes-gcm-encrypt" => {
            drop(crypto::aes_gcm_encrypt(&[0; 16], &[0; 12], b"", b"probe")?)
        }
        "crypto.aes-gcm-decrypt" => {
            drop(crypto::aes_gcm_decrypt(&[0; 16], &[0; 12], b"", b"probe"))
        }
        // Port 9 (discard) on the loopback: allowed by the probe's grant;
        // the fetch process fails to connect after the probe has ended.
        "fetch.start" => drop(fetch::start(&fetch::Request {
            method: "GET".into(),
            url: "http://127.0.0.1:9/".into(),
            headers: vec![],
            body: None,
            streamed_body: false,
            redirect: fetch::Redirect::Follow,
        })?),
        "stdio" => println!("probe"),
        "filesystem" => drop(std::fs::read_dir("/").map_err(|e| e.to_string())?),
        "sockets" => drop(std::net::TcpStream::connect("127.0.0.1:80").map_err(|e| e.to_string())?),
        other => return Err(format!("the probe does not know {other:?}")),
    }
    Ok(())
}
