//! The runner: one component that runs any script component's program as
//! a rusm process. It asks the host for the program (`script.source`),
//! evaluates it as an ES module and runs its default export to the end,
//! driving QuickJS's job queue and its own event loop (`prelude.js`) in
//! between: when no job is left it waits in the host for the next
//! message or deadline. The process API reaches JavaScript as the `__rusm`
//! global (`natives.rs`), which the `rusm-ts` package wraps.
//!
//! Asked to compile instead (`rusm build`), it hands the program's bytecode
//! back with `script.compiled`, behind a header naming the engine that
//! wrote it; it loads only bytecode whose header names its own engine.
//!
//! An uncaught exception ends the process with `trap(<message and stack>)`.

mod bindings {
    wit_bindgen::generate!({
        world: "guest",
        path: "../runtime/host/wit",
    });
}
mod natives;

use bindings::rusm::runtime::{process, script};
use rquickjs::module::WriteOptions;
use rquickjs::promise::PromiseState;
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Function, Module, Runtime, Value};

/// The first line of every bytecode file the runner writes.
const MAGIC: &[u8] = b"rusm-qjsbc 2\n";

/// What wrote a bytecode file: QuickJS's bytecode changes between engine
/// versions, and reading foreign bytecode is undefined behaviour, so the
/// second line must match exactly. (`build.rs` reads the version from
/// Cargo.lock.)
const ENGINE: &str = concat!("quickjs-ng via rquickjs-sys ", env!("RQUICKJS_SYS_VERSION"));

/// Evaluated before every program, as a module of its own: the event
/// loop, timers and `console`.
const PRELUDE: &str = include_str!("prelude.js");

fn main() {
    let Some(program) = script::source() else {
        fail("the runner runs script components; this process has no script");
    };
    let runtime = Runtime::new().unwrap_or_else(|e| fail(&format!("cannot start QuickJS: {e}")));
    let context =
        Context::full(&runtime).unwrap_or_else(|e| fail(&format!("cannot start QuickJS: {e}")));
    context.with(|ctx| {
        if let Err(e) = natives::install(&ctx) {
            fail(&format!("cannot install the process API: {e}"));
        }
        let outcome = if program.compile {
            compile(&ctx, &program)
        } else {
            run(&ctx, &program)
        };
        if let Err(e) = outcome {
            fail(&describe(e));
        }
    });
    // The process ends here and its whole memory with it: freeing every
    // object, atom and shape one by one first (QuickJS's teardown, with a
    // last GC) would only burn CPU. It was a sixth of a cold start.
    std::mem::forget(context);
    std::mem::forget(runtime);
}

/// Evaluates the prelude, then the program, and runs the program's
/// default export to the end (its promise settled, if it returns one).
/// Both come from bytecode when `rusm build` compiled the program: parsing
/// the prelude at every start was a sixth of a cold start.
fn run<'js>(ctx: &Ctx<'js>, program: &script::Program) -> Result<(), Failure<'js>> {
    let (prelude, module) = if program.bytecode {
        let (prelude, code) = our_bytecode(&program.name, &program.code)?;
        // SAFETY: the header says this runner's engine wrote both, and
        // they (borrowed from `program`) outlive the context.
        unsafe {
            (
                Module::load(ctx.clone(), prelude).catch(ctx)?,
                Module::load(ctx.clone(), code).catch(ctx)?,
            )
        }
    } else {
        (
            declare_prelude(ctx)?,
            Module::declare(ctx.clone(), program.name.as_str(), program.code.clone()).catch(ctx)?,
        )
    };
    let (_, evaluated) = prelude.eval().catch(ctx)?;
    settle(ctx, evaluated.into_value())?;
    let (module, evaluated) = module.eval().catch(ctx)?;
    settle(ctx, evaluated.into_value())?;
    let main: Value = module.get("default").catch(ctx)?;
    let Some(main) = main.as_function() else {
        return Ok(());
    };
    let returned: Value = main.call(()).catch(ctx)?;
    settle(ctx, returned)
}

/// The prelude as a module (its own name in stack traces), compiled, not
/// yet evaluated.
fn declare_prelude<'js>(ctx: &Ctx<'js>) -> Result<Module<'js>, Failure<'js>> {
    Ok(Module::declare(ctx.clone(), "rusm:prelude", PRELUDE).catch(ctx)?)
}

/// Compiles the prelude and the program and hands their bytecode, behind
/// the header, to the host: the header's two lines, the prelude's length
/// (4 bytes, little-endian), the prelude's bytecode, the program's.
/// Nothing of either runs.
fn compile<'js>(ctx: &Ctx<'js>, program: &script::Program) -> Result<(), Failure<'js>> {
    // Without each function's source text, kept only for
    // `Function.prototype.toString`: reading bytecode at every start is a
    // large part of a cold start, and the text was half of the bytes. Line
    // numbers (debug information) stay, for stack traces.
    let options = || WriteOptions {
        strip_source: true,
        ..WriteOptions::default()
    };
    let prelude = declare_prelude(ctx)?.write(options()).catch(ctx)?;
    let module =
        Module::declare(ctx.clone(), program.name.as_str(), program.code.clone()).catch(ctx)?;
    let code = module.write(options()).catch(ctx)?;
    let prelude_len = u32::try_from(prelude.len())
        .map_err(|_| Failure::Runner("the prelude's bytecode is over 4 GiB".into()))?;
    let mut bytecode =
        Vec::with_capacity(MAGIC.len() + ENGINE.len() + 5 + prelude.len() + code.len());
    bytecode.extend_from_slice(MAGIC);
    bytecode.extend_from_slice(ENGINE.as_bytes());
    bytecode.push(b'\n');
    bytecode.extend_from_slice(&prelude_len.to_le_bytes());
    bytecode.extend_from_slice(&prelude);
    bytecode.extend_from_slice(&code);
    script::compiled(&bytecode).map_err(Failure::Runner)
}

/// The prelude's and the program's QuickJS bytecode behind the header, if
/// this runner's engine wrote them; otherwise an error that says what did.
fn our_bytecode<'a, 'js>(name: &str, file: &'a [u8]) -> Result<(&'a [u8], &'a [u8]), Failure<'js>> {
    let refuse =
        |why: String| Failure::Runner(format!("{name}.qjsbc {why}; rebuild it with `rusm build`"));
    let Some(rest) = file.strip_prefix(MAGIC) else {
        return Err(refuse(if file.starts_with(b"rusm-qjsbc ") {
            "is in an older rusm bytecode format".into()
        } else {
            "is not rusm bytecode (no rusm-qjsbc header)".into()
        }));
    };
    let end = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| refuse("has a broken header".into()))?;
    let (engine, rest) = (&rest[..end], &rest[end + 1..]);
    if engine != ENGINE.as_bytes() {
        return Err(refuse(format!(
            "was compiled by {}, and this runner is {ENGINE}",
            String::from_utf8_lossy(engine)
        )));
    }
    let broken = || refuse("is cut short".into());
    let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(broken)?;
    let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| broken())?;
    if rest.len() < len {
        return Err(broken());
    }
    Ok(rest.split_at(len))
}

/// Drives the job queue and the event loop until `value` settles (a
/// promise; anything else is settled already).
fn settle<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<(), Failure<'js>> {
    let Some(promise) = value.into_promise() else {
        return Ok(());
    };
    let step: Function = ctx
        .globals()
        .get::<_, rquickjs::Object>("__rusm")
        .and_then(|rusm| rusm.get("step"))
        .catch(ctx)?;
    loop {
        while ctx.execute_pending_job() {}
        match promise.state() {
            PromiseState::Resolved => return Ok(()),
            PromiseState::Rejected => {
                let rejected = promise.result::<Value>().transpose();
                return Ok(rejected.map(drop).catch(ctx)?);
            }
            PromiseState::Pending => {}
        }
        let more: bool = step.call(()).catch(ctx)?;
        if !more {
            return Err(Failure::Runner(
                "the program waits on a promise that nothing can settle (no receive or timer is pending)".into(),
            ));
        }
    }
}

/// Why a program could not go on.
enum Failure<'js> {
    /// JavaScript threw (or a conversion failed).
    Js(CaughtError<'js>),
    /// The runner refused: foreign bytecode, a promise that cannot settle.
    Runner(String),
}

impl<'js> From<CaughtError<'js>> for Failure<'js> {
    fn from(error: CaughtError<'js>) -> Self {
        Failure::Js(error)
    }
}

/// A failure as the text of the process's trap.
fn describe(failure: Failure<'_>) -> String {
    let error = match failure {
        Failure::Runner(message) => return message,
        Failure::Js(error) => error,
    };
    match error {
        CaughtError::Exception(e) => {
            let message = e.message().unwrap_or_default();
            match e.stack() {
                Some(stack) if !stack.trim_end().is_empty() => {
                    format!("uncaught {message}\n{}", stack.trim_end())
                }
                _ => format!("uncaught {message}"),
            }
        }
        CaughtError::Value(v) => {
            let text = v
                .ctx()
                .globals()
                .get::<_, Function>("String")
                .and_then(|f| f.call::<_, String>((v.clone(),)))
                .unwrap_or_else(|_| format!("{v:?}"));
            format!("uncaught {text}")
        }
        CaughtError::Error(e) => format!("{e}"),
    }
}

fn fail(message: &str) -> ! {
    process::fail(message);
    unreachable!("fail ends the process")
}
