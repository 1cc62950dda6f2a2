//! The runner: one component that runs any script component's program as
//! a rusm process. It asks the host for the program (`script.source`),
//! evaluates it as an ES module and runs its default export; the process
//! API reaches JavaScript as the `__rusm` global, which the `rusm-ts`
//! package wraps.
//!
//! An uncaught exception ends the process with `trap(<message and stack>)`.

mod bindings {
    wit_bindgen::generate!({
        world: "guest",
        path: "../runtime/host/wit",
    });
}

use bindings::rusm::runtime::{process, script};
use rquickjs::{
    BigInt, CatchResultExt, CaughtError, Context, Ctx, Function, Module, Object, Promise, Runtime,
    Value,
};

fn main() {
    let Some(program) = script::source() else {
        process::fail("the runner runs script components; this process has no script");
        return;
    };
    let runtime = Runtime::new().unwrap_or_else(|e| fail(&format!("cannot start QuickJS: {e}")));
    let context =
        Context::full(&runtime).unwrap_or_else(|e| fail(&format!("cannot start QuickJS: {e}")));
    context.with(|ctx| {
        if let Err(e) = install(&ctx) {
            fail(&format!("cannot install the process API: {e}"));
        }
        if let Err(e) = run(&ctx, &program) {
            fail(&describe(e));
        }
    });
}

/// Evaluates the program and runs its default export to the end (its
/// promise settled, if it returns one).
fn run<'js>(ctx: &Ctx<'js>, program: &script::Program) -> Result<(), CaughtError<'js>> {
    let module = if program.bytecode {
        // The bytecode was written by this runner (`rusm build`).
        unsafe { Module::load(ctx.clone(), &program.code) }.catch(ctx)?
    } else {
        Module::declare(ctx.clone(), program.name.as_str(), program.code.clone()).catch(ctx)?
    };
    let (module, evaluated) = module.eval().catch(ctx)?;
    evaluated.finish::<()>().catch(ctx)?;
    let main: Value = module.get("default").catch(ctx)?;
    let Some(main) = main.as_function() else {
        return Ok(());
    };
    let returned: Value = main.call(()).catch(ctx)?;
    if let Some(promise) = returned.as_promise() {
        let promise: Promise = promise.clone();
        promise.finish::<()>().catch(ctx)?;
    }
    Ok(())
}

/// `__rusm` (the process API) and `console`.
fn install(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let rusm = Object::new(ctx.clone())?;
    rusm.set("self", Function::new(ctx.clone(), self_pid)?)?;
    rusm.set(
        "send",
        Function::new(ctx.clone(), |to: BigInt<'_>, data: String| {
            process::send(pid(&to)?, data.as_bytes());
            Ok::<_, rquickjs::Error>(())
        })?,
    )?;
    rusm.set("receive", Function::new(ctx.clone(), receive)?)?;
    ctx.globals().set("__rusm", rusm)?;
    let console = Object::new(ctx.clone())?;
    console.set(
        "log",
        Function::new(ctx.clone(), |line: rquickjs::function::Rest<Value<'_>>| {
            println!("{}", join(&line.0));
        })?,
    )?;
    ctx.globals().set("console", console)?;
    Ok(())
}

fn self_pid<'js>(ctx: Ctx<'js>) -> rquickjs::Result<BigInt<'js>> {
    BigInt::from_u64(ctx, process::self_pid())
}

/// The next message, or null once `timeout_ms` pass (no timeout: wait).
fn receive<'js>(
    ctx: Ctx<'js>,
    timeout_ms: rquickjs::function::Opt<f64>,
) -> rquickjs::Result<Value<'js>> {
    let message = match timeout_ms.0 {
        Some(ms) if ms.is_finite() && ms >= 0.0 => process::receive_timeout(ms as u64),
        _ => Some(process::receive()),
    };
    message_to_js(&ctx, message)
}

fn pid(value: &BigInt<'_>) -> rquickjs::Result<u64> {
    value
        .clone()
        .to_i64()
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| rquickjs::Error::new_from_js("bigint", "pid"))
}

/// A message as `{from, data}` (data messages) or `{down: {pid, reason}}`,
/// or null when a timed receive found none.
fn message_to_js<'js>(
    ctx: &Ctx<'js>,
    message: Option<process::Message>,
) -> rquickjs::Result<Value<'js>> {
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
        }
        process::Message::Exit(exit) => {
            object.set("exit", BigInt::from_u64(ctx.clone(), exit.from)?)?;
        }
    }
    Ok(object.into_value())
}

/// `console.log`'s arguments as one line: strings as they are, the rest
/// through their JavaScript `String()`.
fn join(values: &[Value<'_>]) -> String {
    values
        .iter()
        .map(|v| match v.as_string() {
            Some(s) => s.to_string().unwrap_or_default(),
            None => v
                .ctx()
                .globals()
                .get::<_, Function>("String")
                .and_then(|f| f.call::<_, String>((v.clone(),)))
                .unwrap_or_else(|_| "?".into()),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An uncaught exception as the text of the process's trap.
fn describe(error: CaughtError<'_>) -> String {
    match error {
        CaughtError::Exception(e) => {
            let message = e.message().unwrap_or_default();
            match e.stack() {
                Some(stack) if !stack.is_empty() => format!("uncaught {message}\n{stack}"),
                _ => format!("uncaught {message}"),
            }
        }
        CaughtError::Value(v) => format!("uncaught {v:?}"),
        CaughtError::Error(e) => format!("{e}"),
    }
}

fn fail(message: &str) -> ! {
    process::fail(message);
    unreachable!("fail ends the process")
}
