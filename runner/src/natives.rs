//! `__rusm`: the host imports as JavaScript functions, one for one. They
//! are synchronous, like the imports; `prelude.js` builds the promise-based
//! `receive` and the timers on `wait`, `sleep` and `now`. The `rusm-ts`
//! package wraps them in its typed API.
//!
//! Pids and monitor references are bigints; a refused call throws an
//! `Error` with the host's message.

use std::io::Write;
use std::time::{Duration, Instant};

use rquickjs::function::Opt;
use rquickjs::{BigInt, Ctx, Exception, FromJs, Function, Object, Result, TypedArray, Value};

use crate::bindings::rusm::runtime::{kv, process};

/// Installs `__rusm` on the global object.
pub fn install(ctx: &Ctx<'_>) -> Result<()> {
    let rusm = Object::new(ctx.clone())?;
    let started = Instant::now();
    rusm.set(
        "now",
        Function::new(ctx.clone(), move || {
            started.elapsed().as_secs_f64() * 1000.0
        })?,
    )?;
    rusm.set("self", Function::new(ctx.clone(), self_pid)?)?;
    rusm.set(
        "init",
        Function::new(ctx.clone(), || {
            String::from_utf8_lossy(&process::init()).into_owned()
        })?,
    )?;
    rusm.set("send", Function::new(ctx.clone(), send)?)?;
    rusm.set("wait", Function::new(ctx.clone(), wait)?)?;
    rusm.set(
        "sleep",
        Function::new(ctx.clone(), |ms: f64| {
            std::thread::sleep(Duration::from_millis(ms.max(0.0) as u64));
        })?,
    )?;
    rusm.set("spawn", Function::new(ctx.clone(), spawn)?)?;
    rusm.set(
        "link",
        Function::new(ctx.clone(), |p: Value<'_>| pid(&p).map(process::link))?,
    )?;
    rusm.set(
        "unlink",
        Function::new(ctx.clone(), |p: Value<'_>| pid(&p).map(process::unlink))?,
    )?;
    rusm.set("monitor", Function::new(ctx.clone(), monitor)?)?;
    rusm.set(
        "demonitor",
        Function::new(ctx.clone(), |r: Value<'_>| pid(&r).map(process::demonitor))?,
    )?;
    rusm.set("trapExit", Function::new(ctx.clone(), process::trap_exit)?)?;
    rusm.set("register", Function::new(ctx.clone(), register)?)?;
    rusm.set("unregister", Function::new(ctx.clone(), unregister)?)?;
    rusm.set("whereis", Function::new(ctx.clone(), whereis)?)?;
    rusm.set("exit", Function::new(ctx.clone(), exit)?)?;
    rusm.set(
        "print",
        Function::new(ctx.clone(), |line: String| {
            // One write per line: the node reports each write as one
            // output event (and a trace line).
            let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
        })?,
    )?;
    rusm.set("kvGet", Function::new(ctx.clone(), kv_get)?)?;
    rusm.set("kvSet", Function::new(ctx.clone(), kv_set)?)?;
    rusm.set("kvDelete", Function::new(ctx.clone(), kv_delete)?)?;
    rusm.set("kvExists", Function::new(ctx.clone(), kv_exists)?)?;
    rusm.set("kvList", Function::new(ctx.clone(), kv_list)?)?;
    ctx.globals().set("__rusm", rusm)?;
    Ok(())
}

fn self_pid(ctx: Ctx<'_>) -> Result<BigInt<'_>> {
    BigInt::from_u64(ctx, process::self_pid())
}

fn send(to: Value<'_>, data: String) -> Result<()> {
    process::send(pid(&to)?, data.as_bytes());
    Ok(())
}

/// The next message; with `ms` >= 0, null once that many milliseconds pass.
fn wait(ctx: Ctx<'_>, ms: f64) -> Result<Value<'_>> {
    let message = if ms >= 0.0 {
        process::receive_timeout(ms as u64)
    } else {
        Some(process::receive())
    };
    message_to_js(&ctx, message)
}

fn spawn<'js>(ctx: Ctx<'js>, component: String, init: Opt<String>) -> Result<BigInt<'js>> {
    let init = init.0.unwrap_or_default();
    let spawned = process::spawn(&component, init.as_bytes()).map_err(|e| refused(&ctx, &e))?;
    BigInt::from_u64(ctx, spawned)
}

fn monitor<'js>(ctx: Ctx<'js>, target: Value<'js>) -> Result<BigInt<'js>> {
    BigInt::from_u64(ctx, process::monitor(pid(&target)?))
}

fn register(ctx: Ctx<'_>, name: String, who: Opt<Value<'_>>) -> Result<()> {
    let who = match who.0 {
        Some(who) if !who.is_undefined() => pid(&who)?,
        _ => process::self_pid(),
    };
    process::register(&name, who).map_err(|e| refused(&ctx, &e))
}

fn unregister(ctx: Ctx<'_>, name: String) -> Result<()> {
    process::unregister(&name).map_err(|e| refused(&ctx, &e))
}

fn whereis(ctx: Ctx<'_>, name: String) -> Result<Value<'_>> {
    match process::whereis(&name) {
        Some(found) => Ok(BigInt::from_u64(ctx, found)?.into_value()),
        None => Ok(Value::new_null(ctx)),
    }
}

/// `exit(pid, reason)`: "normal" and "killed" are those reasons, any other
/// text a custom one.
fn exit(to: Value<'_>, reason: String) -> Result<()> {
    let reason = match reason.as_str() {
        "normal" => process::ExitReason::Normal,
        "killed" => process::ExitReason::Killed,
        _ => process::ExitReason::Custom(reason),
    };
    process::exit(pid(&to)?, &reason);
    Ok(())
}

/// The value of a key: a string when `text` (UTF-8, invalid bytes
/// replaced), else a `Uint8Array`; null when it is not set.
fn kv_get<'js>(ctx: Ctx<'js>, bucket: String, key: String, text: Opt<bool>) -> Result<Value<'js>> {
    match kv::get(&bucket, &key).map_err(|e| refused(&ctx, &e))? {
        None => Ok(Value::new_null(ctx)),
        Some(bytes) if text.0.unwrap_or(false) => {
            rquickjs::String::from_str(ctx, &String::from_utf8_lossy(&bytes))
                .map(|s| s.into_value())
        }
        Some(bytes) => Ok(TypedArray::<u8>::new(ctx, bytes)?.into_value()),
    }
}

/// Sets a key to a string (stored as UTF-8) or to the bytes of a typed
/// array.
fn kv_set<'js>(ctx: Ctx<'js>, bucket: String, key: String, value: Value<'js>) -> Result<()> {
    let bytes = if let Some(text) = value.as_string() {
        text.to_string()?.into_bytes()
    } else if let Ok(array) = TypedArray::<u8>::from_js(&ctx, value) {
        // SAFETY: copied at once; no JavaScript runs (and could detach or
        // resize the buffer) while the slice lives.
        unsafe { array.as_bytes() }
            .ok_or_else(|| refused(&ctx, "the value's buffer is detached"))?
            .to_vec()
    } else {
        return Err(refused(&ctx, "a kv value is a string or a Uint8Array"));
    };
    kv::set(&bucket, &key, &bytes).map_err(|e| refused(&ctx, &e))
}

fn kv_delete(ctx: Ctx<'_>, bucket: String, key: String) -> Result<bool> {
    kv::delete(&bucket, &key).map_err(|e| refused(&ctx, &e))
}

fn kv_exists(ctx: Ctx<'_>, bucket: String, key: String) -> Result<bool> {
    kv::exists(&bucket, &key).map_err(|e| refused(&ctx, &e))
}

/// The keys of a bucket that start with `prefix` (default: all), at most
/// `limit` (default and most: 1000).
fn kv_list(
    ctx: Ctx<'_>,
    bucket: String,
    prefix: Opt<String>,
    limit: Opt<f64>,
) -> Result<Vec<String>> {
    let prefix = prefix.0.unwrap_or_default();
    let limit = limit.0.map_or(1000, |n| n.clamp(0.0, 1000.0) as u32);
    kv::list(&bucket, &prefix, limit).map_err(|e| refused(&ctx, &e))
}

/// A bigint as a pid or monitor reference; anything else throws.
fn pid(value: &Value<'_>) -> Result<u64> {
    value
        .as_big_int()
        .and_then(|n| n.clone().to_i64().ok())
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| {
            let got = value.type_name();
            refused(
                value.ctx(),
                &format!("a pid is a non-negative bigint, not {got}"),
            )
        })
}

/// A refusal from the host as a thrown `Error`.
fn refused(ctx: &Ctx<'_>, message: &str) -> rquickjs::Error {
    Exception::throw_message(ctx, message)
}

/// A message as `{from, data}`, `{down, ref, reason}` or `{exit, reason}`,
/// or null when a timed wait found none.
fn message_to_js<'js>(ctx: &Ctx<'js>, message: Option<process::Message>) -> Result<Value<'js>> {
    let Some(message) = message else {
        return Ok(Value::new_null(ctx.clone()));
    };
    let object = Object::new(ctx.clone())?;
    match message {
        process::Message::Data(data) => {
            object.set("from", BigInt::from_u64(ctx.clone(), data.from)?)?;
            object.set("data", String::from_utf8_lossy(&data.bytes).into_owned())?;
        }
        process::Message::Down(down) => {
            object.set("down", BigInt::from_u64(ctx.clone(), down.pid)?)?;
            object.set("ref", BigInt::from_u64(ctx.clone(), down.monitor)?)?;
            object.set("reason", reason_text(&down.reason))?;
        }
        process::Message::Exit(exit) => {
            object.set("exit", BigInt::from_u64(ctx.clone(), exit.from)?)?;
            object.set("reason", reason_text(&exit.reason))?;
        }
    }
    Ok(object.into_value())
}

/// An exit reason as the node's logs write it (`rusm_wire::ExitReason`'s
/// `Display`).
fn reason_text(reason: &process::ExitReason) -> String {
    use process::ExitReason as R;
    match reason {
        R::Normal => "normal".into(),
        R::Killed => "killed".into(),
        R::Trap(message) => format!("trap: {message}"),
        R::OutOfFuel => "out-of-fuel".into(),
        R::OutOfMemory => "out-of-memory".into(),
        R::Disconnect => "disconnect".into(),
        R::Noproc => "noproc".into(),
        R::MailboxOverflow => "mailbox-overflow".into(),
        R::Custom(reason) => format!("custom: {reason}"),
    }
}
