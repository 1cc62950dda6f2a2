//! `__rusm`: the host imports as JavaScript functions, one for one. They
//! are synchronous, like the imports; `prelude.js` builds the promise-based
//! `receive` and the timers on `wait`, `sleep` and `now`. The `rusm-ts`
//! package wraps them in its typed API.
//!
//! Pids and monitor references are bigints; a refused call throws an
//! `Error` with the host's message.

use std::cell::Cell;
use std::io::Write;
use std::time::{Duration, Instant};

use rquickjs::function::Opt;
use rquickjs::{BigInt, Ctx, Exception, FromJs, Function, Object, Result, TypedArray, Value};

use crate::bindings::rusm::runtime::crypto::{self, Hash};
use crate::bindings::rusm::runtime::fetch;
use crate::bindings::rusm::runtime::{kv, process, serving};

thread_local! {
    /// When the process started (`__rusm.now()` counts from it).
    static STARTED: Cell<Option<Instant>> = const { Cell::new(None) };
    /// `Math.random`'s state (xorshift64*, as QuickJS's own).
    static RANDOM: Cell<u64> = const { Cell::new(0) };
}

/// Installs `__rusm` on the global object, and a `Math.random` whose state
/// [`start`] seeds. Installing calls no import, so it may run while the
/// runner's snapshot is made.
pub fn install(ctx: &Ctx<'_>) -> Result<()> {
    let rusm = Object::new(ctx.clone())?;
    rusm.set(
        "now",
        Function::new(ctx.clone(), || {
            STARTED
                .get()
                .map_or(0.0, |started| started.elapsed().as_secs_f64() * 1000.0)
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
    rusm.set(
        "setAside",
        Function::new(ctx.clone(), |count: f64| {
            process::set_aside(count.clamp(0.0, f64::from(u32::MAX)) as u32)
        })?,
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
    rusm.set("session", Function::new(ctx.clone(), session)?)?;
    rusm.set("respond", Function::new(ctx.clone(), respond)?)?;
    rusm.set("respondStream", Function::new(ctx.clone(), respond_stream)?)?;
    rusm.set("write", Function::new(ctx.clone(), write)?)?;
    rusm.set("sendFrame", Function::new(ctx.clone(), send_frame)?)?;
    rusm.set("utf8Encode", Function::new(ctx.clone(), utf8_encode)?)?;
    rusm.set("utf8Decode", Function::new(ctx.clone(), utf8_decode)?)?;
    rusm.set("randomBytes", Function::new(ctx.clone(), random_bytes)?)?;
    rusm.set("digest", Function::new(ctx.clone(), digest)?)?;
    rusm.set("hmacSign", Function::new(ctx.clone(), hmac_sign)?)?;
    rusm.set("hmacVerify", Function::new(ctx.clone(), hmac_verify)?)?;
    rusm.set(
        "aesGcmEncrypt",
        Function::new(ctx.clone(), |ctx, key, iv, aad, data| {
            aes_gcm(ctx, crypto::aes_gcm_encrypt, [key, iv, aad, data])
        })?,
    )?;
    rusm.set(
        "aesGcmDecrypt",
        Function::new(ctx.clone(), |ctx, key, iv, aad, data| {
            aes_gcm(ctx, crypto::aes_gcm_decrypt, [key, iv, aad, data])
        })?,
    )?;
    rusm.set("fetchStart", Function::new(ctx.clone(), fetch_start)?)?;
    ctx.globals().set("__rusm", rusm)?;
    // QuickJS seeds its own Math.random from the clock when the context is
    // made, which for a snapshot is once for every process: each would draw
    // the same numbers.
    let math: Object = ctx.globals().get("Math")?;
    math.set("random", Function::new(ctx.clone(), math_random)?)?;
    Ok(())
}

/// Starts the process's clock and seeds `Math.random` from WASI's random
/// (the node's seed under simulation): what no snapshot may hold.
pub fn start() {
    STARTED.set(Some(Instant::now()));
    let mut seed = [0; 8];
    // Without randomness the state stays fixed, still non-zero: a process
    // still runs, its numbers only repeat.
    let _ = getrandom::fill(&mut seed);
    RANDOM.set(u64::from_le_bytes(seed) | 1);
}

/// A float in [0, 1): xorshift64*'s next value in the mantissa, as
/// QuickJS's own `Math.random`.
fn math_random() -> f64 {
    let mut x = RANDOM.get();
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    RANDOM.set(x);
    let bits = (0x3ff << 52) | (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 12);
    f64::from_bits(bits) - 1.0
}

fn self_pid(ctx: Ctx<'_>) -> Result<BigInt<'_>> {
    BigInt::from_u64(ctx, process::self_pid())
}

/// Sends a string (as UTF-8) or the bytes of a `Uint8Array`.
fn send<'js>(ctx: Ctx<'js>, to: Value<'js>, data: Value<'js>) -> Result<()> {
    process::send(pid(&to)?, &bytes_of(&ctx, data)?);
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

/// `exit(pid, reason)`: "normal", "killed" and "shutdown" are those
/// reasons, any other text a custom one.
fn exit(to: Value<'_>, reason: String) -> Result<()> {
    let reason = match reason.as_str() {
        "normal" => process::ExitReason::Normal,
        "killed" => process::ExitReason::Killed,
        "shutdown" => process::ExitReason::Shutdown,
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
    let bytes = bytes_of(&ctx, value)?;
    kv::set(&bucket, &key, &bytes).map_err(|e| refused(&ctx, &e))
}

/// A string as UTF-8, or the bytes of a `Uint8Array`; anything else throws.
fn bytes_of<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<Vec<u8>> {
    if let Some(text) = value.as_string() {
        return Ok(text.to_string()?.into_bytes());
    }
    let Ok(array) = TypedArray::<u8>::from_js(ctx, value) else {
        return Err(refused(ctx, "expected a string or a Uint8Array"));
    };
    // SAFETY: copied at once; no JavaScript runs (and could detach or
    // resize the buffer) while the slice lives.
    let bytes =
        unsafe { array.as_bytes() }.ok_or_else(|| refused(ctx, "the buffer is detached"))?;
    Ok(bytes.to_vec())
}

fn utf8_encode(ctx: Ctx<'_>, text: String) -> Result<TypedArray<'_, u8>> {
    TypedArray::new(ctx, text.into_bytes())
}

/// Writes a chunk of a streamed response; false once the client has gone.
fn write<'js>(ctx: Ctx<'js>, chunk: Value<'js>) -> Result<bool> {
    Ok(serving::write(&bytes_of(&ctx, chunk)?))
}

/// `n` random bytes (at most 65536, as getRandomValues allows).
fn random_bytes(ctx: Ctx<'_>, n: f64) -> Result<TypedArray<'_, u8>> {
    if !(0.0..=65536.0).contains(&n) {
        return Err(Exception::throw_range(
            &ctx,
            "at most 65536 random bytes at a time",
        ));
    }
    let mut bytes = vec![0; n as usize];
    getrandom::fill(&mut bytes).map_err(|e| refused(&ctx, &format!("no randomness: {e}")))?;
    TypedArray::new(ctx, bytes)
}

/// A hash by its Web Crypto name ("SHA-256").
fn hash(ctx: &Ctx<'_>, name: &str) -> Result<Hash> {
    match name.to_ascii_uppercase().as_str() {
        "SHA-1" => Ok(Hash::Sha1),
        "SHA-256" => Ok(Hash::Sha256),
        "SHA-384" => Ok(Hash::Sha384),
        "SHA-512" => Ok(Hash::Sha512),
        _ => Err(Exception::throw_type(
            ctx,
            &format!("unsupported hash {name:?} (SHA-1, SHA-256, SHA-384 or SHA-512)"),
        )),
    }
}

fn digest<'js>(ctx: Ctx<'js>, name: String, data: Value<'js>) -> Result<TypedArray<'js, u8>> {
    let out = crypto::digest(hash(&ctx, &name)?, &bytes_of(&ctx, data)?);
    TypedArray::new(ctx, out)
}

fn hmac_sign<'js>(
    ctx: Ctx<'js>,
    name: String,
    key: Value<'js>,
    data: Value<'js>,
) -> Result<TypedArray<'js, u8>> {
    let (key, data) = (bytes_of(&ctx, key)?, bytes_of(&ctx, data)?);
    let out = crypto::hmac_sign(hash(&ctx, &name)?, &key, &data).map_err(|e| refused(&ctx, &e))?;
    TypedArray::new(ctx, out)
}

fn hmac_verify<'js>(
    ctx: Ctx<'js>,
    name: String,
    key: Value<'js>,
    data: Value<'js>,
    signature: Value<'js>,
) -> Result<bool> {
    let (key, data) = (bytes_of(&ctx, key)?, bytes_of(&ctx, data)?);
    let signature = bytes_of(&ctx, signature)?;
    crypto::hmac_verify(hash(&ctx, &name)?, &key, &data, &signature).map_err(|e| refused(&ctx, &e))
}

/// The host's AES-GCM encrypt or decrypt, over (key, iv, aad, data).
type AesGcm = fn(&[u8], &[u8], &[u8], &[u8]) -> core::result::Result<Vec<u8>, String>;

/// AES-GCM one way or the other.
fn aes_gcm<'js>(ctx: Ctx<'js>, op: AesGcm, args: [Value<'js>; 4]) -> Result<TypedArray<'js, u8>> {
    let [key, iv, aad, data] = args.map(|a| bytes_of(&ctx, a));
    let out = op(&key?, &iv?, &aad?, &data?).map_err(|e| refused(&ctx, &e))?;
    TypedArray::new(ctx, out)
}

/// Starts an outbound request: `fetchStart(method, url, headers, body,
/// streamed, redirect)`, with `body` null, a string or bytes and
/// `redirect` "follow", "manual" or "error"; the pid of its fetch process.
fn fetch_start<'js>(
    ctx: Ctx<'js>,
    method: String,
    url: String,
    headers: Vec<Vec<String>>,
    body: Value<'js>,
    streamed: bool,
    redirect: String,
) -> Result<BigInt<'js>> {
    let body = if body.is_null() || body.is_undefined() {
        None
    } else {
        Some(bytes_of(&ctx, body)?)
    };
    let redirect = match redirect.as_str() {
        "manual" => fetch::Redirect::Manual,
        "error" => fetch::Redirect::Error,
        _ => fetch::Redirect::Follow,
    };
    let request = fetch::Request {
        method,
        url,
        headers: header_list(headers),
        body,
        streamed_body: streamed,
        redirect,
    };
    let carrier = fetch::start(&request).map_err(|e| refused(&ctx, &e))?;
    BigInt::from_u64(ctx, carrier)
}

/// Bytes as text: invalid UTF-8 is replaced, or with `fatal` throws.
fn utf8_decode<'js>(ctx: Ctx<'js>, bytes: Value<'js>, fatal: Opt<bool>) -> Result<String> {
    let bytes = bytes_of(&ctx, bytes)?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(_) if fatal.0.unwrap_or(false) => {
            Err(Exception::throw_type(&ctx, "the bytes are not valid UTF-8"))
        }
        Err(e) => Ok(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// This process's session, or null: `{action, params, method, path,
/// query, headers, body, socket}`, with `params` and `headers` as arrays of
/// `[name, value]` pairs and `body` a `Uint8Array`.
fn session(ctx: Ctx<'_>) -> Result<Value<'_>> {
    let Some(info) = serving::session() else {
        return Ok(Value::new_null(ctx));
    };
    let object = Object::new(ctx.clone())?;
    object.set("action", info.action)?;
    object.set("params", pairs(info.params))?;
    object.set("method", info.request.method)?;
    object.set("path", info.request.path)?;
    object.set("query", info.request.query)?;
    object.set("headers", pairs(info.request.headers))?;
    object.set(
        "body",
        TypedArray::<u8>::new(ctx.clone(), info.request.body)?,
    )?;
    match info.socket {
        Some(socket) => object.set("socket", BigInt::from_u64(ctx.clone(), socket)?)?,
        None => object.set("socket", Value::new_null(ctx.clone()))?,
    }
    Ok(object.into_value())
}

fn pairs(pairs: Vec<(String, String)>) -> Vec<Vec<String>> {
    pairs.into_iter().map(|(k, v)| vec![k, v]).collect()
}

/// `[[name, value], …]` from JavaScript.
fn header_list(headers: Vec<Vec<String>>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .filter_map(|pair| match <[String; 2]>::try_from(pair) {
            Ok([name, value]) => Some((name, value)),
            Err(_) => None,
        })
        .collect()
}

fn respond<'js>(
    ctx: Ctx<'js>,
    status: u16,
    headers: Vec<Vec<String>>,
    body: Value<'js>,
) -> Result<()> {
    let body = bytes_of(&ctx, body)?;
    serving::respond(status, &header_list(headers), &body).map_err(|e| refused(&ctx, &e))
}

fn respond_stream(ctx: Ctx<'_>, status: u16, headers: Vec<Vec<String>>) -> Result<()> {
    serving::respond_stream(status, &header_list(headers)).map_err(|e| refused(&ctx, &e))
}

/// A text frame for a string, a binary one for bytes; false once the
/// client has gone.
fn send_frame<'js>(ctx: Ctx<'js>, data: Value<'js>) -> Result<bool> {
    let frame = match data.as_string() {
        Some(text) => serving::Frame::Text(text.to_string()?),
        None => serving::Frame::Binary(bytes_of(&ctx, data)?),
    };
    Ok(serving::send_frame(&frame))
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

/// A message as `{from, data}` (plus `binary`, its bytes, when they are not
/// UTF-8), `{down, ref, reason}` or `{exit, reason}`, or null when a timed
/// wait found none.
fn message_to_js<'js>(ctx: &Ctx<'js>, message: Option<process::Message>) -> Result<Value<'js>> {
    let Some(message) = message else {
        return Ok(Value::new_null(ctx.clone()));
    };
    let object = Object::new(ctx.clone())?;
    match message {
        process::Message::Data(data) => {
            object.set("from", BigInt::from_u64(ctx.clone(), data.from)?)?;
            match String::from_utf8(data.bytes) {
                Ok(text) => object.set("data", text)?,
                Err(e) => {
                    // Not text (a binary WebSocket frame, say): the bytes
                    // as they are, beside a lossy `data`.
                    object.set("data", String::from_utf8_lossy(e.as_bytes()).into_owned())?;
                    object.set(
                        "binary",
                        TypedArray::<u8>::new(ctx.clone(), e.into_bytes())?,
                    )?;
                }
            }
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
        R::MemoryBudget => "memory-budget".into(),
        R::Timeout => "timeout".into(),
        R::Shutdown => "shutdown".into(),
        R::Custom(reason) => format!("custom: {reason}"),
    }
}
