//! chaos: runs a program of host calls with whatever arguments its bytes
//! say, for the host ABI fuzzer (fuzz/fuzz_targets/host_abi_calls.rs). Its
//! init payload is `[depth, peer (8 bytes LE), program...]`; each op is a
//! byte, followed by the bytes of its arguments: pids garbage or real,
//! names and payloads of any bytes, references never issued, calls that
//! need a session or a capability it lacks, and raw calls whose pointers
//! and lengths lie. A call may end the process (a trap is how the host
//! answers a guest's bug); the node must never panic and its tables must
//! stay consistent. When the program runs out, the process ends normally.

mod bindings {
    wit_bindgen::generate!({
        world: "guest",
        path: "../../../../runtime/host/wit",
    });
}

use bindings::rusm::runtime::{crypto, fetch, kv, process, script, serving};

/// The bytes of a program, read as they are needed (zeros past the end).
struct Tape<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Tape<'_> {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |n, i| n | (u64::from(self.byte()) << (8 * i)))
    }

    /// Up to 63 bytes.
    fn blob(&mut self) -> Vec<u8> {
        let len = usize::from(self.byte() % 64);
        (0..len).map(|_| self.byte()).collect()
    }

    fn text(&mut self) -> String {
        String::from_utf8_lossy(&self.blob()).into_owned()
    }

    /// A short name from a few, so that registrations collide.
    fn name(&mut self) -> String {
        match self.byte() % 5 {
            0 => "a".into(),
            1 => "b".into(),
            2 => String::new(),
            3 => "x".repeat(300),
            _ => self.text(),
        }
    }
}

/// What a program remembers between ops.
struct State {
    depth: u8,
    peer: u64,
    spawned: u64,
    monitors: Vec<u64>,
}

fn pid(tape: &mut Tape, state: &State) -> u64 {
    match tape.byte() % 7 {
        0 => 0,
        1 => process::self_pid(),
        2 => state.peer,
        3 => state.spawned,
        4 => tape.u64(),
        5 => u64::from(tape.byte()),
        _ => u64::MAX,
    }
}

fn reason(tape: &mut Tape) -> process::ExitReason {
    use process::ExitReason as R;
    match tape.byte() % 8 {
        0 => R::Normal,
        1 => R::Killed,
        2 => R::Trap(tape.text()),
        3 => R::Disconnect,
        4 => R::Noproc,
        5 => R::MailboxOverflow,
        6 => R::Custom("x".repeat(5000)),
        _ => R::Custom(tape.text()),
    }
}

fn hash(tape: &mut Tape) -> crypto::Hash {
    match tape.byte() % 4 {
        0 => crypto::Hash::Sha1,
        1 => crypto::Hash::Sha256,
        2 => crypto::Hash::Sha384,
        _ => crypto::Hash::Sha512,
    }
}

#[link(wasm_import_module = "rusm:runtime/process@0.1.0")]
unsafe extern "C" {
    /// `send` with a pointer and length of the fuzzer's choosing.
    #[link_name = "send"]
    fn raw_send(to: i64, ptr: i32, len: i32);
}

fn main() {
    let init = process::init();
    let (depth, rest) = init.split_first().map(|(d, r)| (*d, r)).unwrap_or((0, &[]));
    let (peer, program) = if rest.len() >= 8 {
        let (peer, program) = rest.split_at(8);
        (
            u64::from_le_bytes(peer.try_into().unwrap_or_default()),
            program,
        )
    } else {
        (0, rest)
    };
    let mut state = State {
        depth,
        peer,
        spawned: 0,
        monitors: Vec::new(),
    };
    let mut tape = Tape {
        bytes: program,
        at: 0,
    };
    while !tape.done() {
        step(&mut tape, &mut state);
    }
}

fn step(tape: &mut Tape, state: &mut State) {
    match tape.byte() % 24 {
        0 => {
            let to = pid(tape, state);
            process::send(to, &tape.blob());
        }
        1 => drop(process::receive_timeout(u64::from(tape.byte() % 8))),
        2 => process::link(pid(tape, state)),
        3 => process::unlink(pid(tape, state)),
        4 => {
            let target = pid(tape, state);
            state.monitors.push(process::monitor(target));
        }
        5 => {
            let monitor = match state.monitors.pop() {
                Some(m) if tape.byte().is_multiple_of(2) => m,
                _ => tape.u64(),
            };
            process::demonitor(monitor);
        }
        6 => drop(process::trap_exit(tape.byte().is_multiple_of(2))),
        7 => {
            let name = tape.name();
            drop(process::register(&name, pid(tape, state)));
        }
        8 => drop(process::unregister(&tape.name())),
        9 => drop(process::whereis(&tape.name())),
        10 => {
            let to = pid(tape, state);
            process::exit(to, &reason(tape));
        }
        11 => {
            let component = match tape.byte() % 3 {
                0 => "chaos".to_string(),
                1 => "probe".to_string(),
                _ => tape.text(),
            };
            let mut init = vec![state.depth.saturating_sub(1)];
            init.extend_from_slice(&process::self_pid().to_le_bytes());
            init.extend(tape.blob());
            if state.depth > 0
                && let Ok(child) = process::spawn(&component, &init)
            {
                state.spawned = child;
            }
        }
        12 => drop(kv::get(&tape.text(), &tape.text())),
        13 => {
            let (bucket, key) = (tape.text(), tape.text());
            drop(kv::set(&bucket, &key, &tape.blob()));
        }
        14 => match tape.byte() % 3 {
            0 => drop(kv::delete(&tape.text(), &tape.text())),
            1 => drop(kv::exists(&tape.text(), &tape.text())),
            _ => {
                let (bucket, prefix) = (tape.text(), tape.text());
                drop(kv::list(&bucket, &prefix, tape.u64() as u32));
            }
        },
        15 => match tape.byte() % 3 {
            0 => drop(serving::session()),
            1 => {
                let status = u16::from(tape.byte()) * 3;
                drop(serving::respond(
                    status,
                    &[(tape.text(), tape.text())],
                    &tape.blob(),
                ));
            }
            _ => drop(serving::respond_stream(u16::from(tape.byte()), &[])),
        },
        16 => match tape.byte() % 2 {
            0 => drop(serving::write(&tape.blob())),
            _ => drop(serving::send_frame(&serving::Frame::Text(tape.text()))),
        },
        17 => match tape.byte() % 4 {
            0 => drop(crypto::digest(hash(tape), &tape.blob())),
            1 => {
                let h = hash(tape);
                drop(crypto::hmac_sign(h, &tape.blob(), &tape.blob()));
            }
            2 => {
                let (key, iv) = (tape.blob(), tape.blob());
                drop(crypto::aes_gcm_encrypt(
                    &key,
                    &iv,
                    &tape.blob(),
                    &tape.blob(),
                ));
            }
            _ => {
                let (key, iv) = (tape.blob(), tape.blob());
                drop(crypto::aes_gcm_decrypt(
                    &key,
                    &iv,
                    &tape.blob(),
                    &tape.blob(),
                ));
            }
        },
        18 => {
            let url = match tape.byte() % 3 {
                0 => "http://127.0.0.1:9/".to_string(),
                1 => "http://10.1.2.3/".to_string(),
                _ => tape.text(),
            };
            let streamed = tape.byte().is_multiple_of(2);
            drop(fetch::start(&fetch::Request {
                method: tape.text(),
                url,
                headers: vec![(tape.text(), tape.text())],
                body: if streamed { None } else { Some(tape.blob()) },
                streamed_body: streamed,
                redirect: fetch::Redirect::Follow,
            }));
        }
        19 => match tape.byte() % 2 {
            0 => drop(script::source()),
            _ => drop(script::compiled(&tape.blob())),
        },
        20 => process::fail(&tape.text()),
        21 => {
            let to = pid(tape, state) as i64;
            let (ptr, len) = (tape.u64() as i32, tape.u64() as i32);
            // SAFETY: the host reads (ptr, len) from this guest's memory
            // and traps the guest if they lie: that is what is tested.
            unsafe { raw_send(to, ptr, len) };
        }
        22 => drop((process::self_pid(), process::init())),
        _ => {}
    }
}
