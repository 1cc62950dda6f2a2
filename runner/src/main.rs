//! The runner: one component that runs any script component's program as
//! a rusm process. It asks the host for the program (`script.source`),
//! evaluates it as an ES module and runs its default export to the end,
//! driving QuickJS's job queue and its own event loop (`prelude.js`) in
//! between: when no job is left it waits in the host for the next
//! message or deadline. The process API reaches JavaScript as the `__rusm`
//! global (`natives.rs`), which the `rusm-ts` package wraps.
//!
//! What every program shares is made once, in the runner's snapshot: the
//! host calls `wizer-initialize` when it pre-initializes the runner
//! (wasmtime-wizer), which creates QuickJS and evaluates the prelude and
//! rusm-ts (the module `rusm-ts`, which bundles import rather than carry),
//! and every process starts from that memory. Run without a snapshot, the
//! runner does the same first.
//!
//! Asked to compile instead (`rusm build`), it hands the program's bytecode
//! back with `script.compiled`, behind a header naming the engine and the
//! rusm-ts that wrote it; it loads only bytecode whose header names its own.
//!
//! An uncaught exception ends the process with `trap(<message and stack>)`.

mod bindings {
    wit_bindgen::generate!({
        world: "runner",
        path: "../runtime/host/wit",
    });
}
mod natives;

use std::cell::RefCell;

use bindings::rusm::runtime::{process, script};
use rquickjs::module::WriteOptions;
use rquickjs::promise::PromiseState;
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Function, Module, Runtime, Value};

/// The first line of every bytecode file the runner writes.
const MAGIC: &[u8] = b"rusm-qjsbc 3\n";

/// What wrote a bytecode file: QuickJS's bytecode changes between engine
/// versions, and reading foreign bytecode is undefined behaviour, so the
/// second line must match exactly. A program imports rusm-ts from the
/// runner, so the line names that too. (`build.rs` reads the engine's
/// version from Cargo.lock and hashes rusm-ts.)
const ENGINE: &str = concat!(
    "quickjs-ng via rquickjs-sys ",
    env!("RQUICKJS_SYS_VERSION"),
    ", rusm-ts ",
    env!("RUSM_TS_ID")
);

/// Evaluated before rusm-ts, as a module of its own: the event loop,
/// timers and `console`.
const PRELUDE: &str = include_str!("prelude.js");

/// The rusm-ts package as one ES module (bundled by `build.rs`), which
/// installs the web globals when evaluated and exports rusm-ts's API and
/// `start`, the entry of every bundle.
const RUSM_TS: &str = include_str!(concat!(env!("OUT_DIR"), "/rusm-ts.js"));

/// QuickJS with the prelude and rusm-ts evaluated: what every process
/// starts from.
struct Engine {
    context: Context,
    /// Held for the context, which lives in it.
    _runtime: Runtime,
}

thread_local! {
    /// Made by `wizer-initialize`, so held in the snapshot.
    static PREPARED: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

struct Runner;

impl bindings::Guest for Runner {
    fn wizer_initialize() {
        let engine = prepare();
        PREPARED.set(Some(engine));
    }
}

bindings::export!(Runner with_types_in bindings);

fn main() {
    let Some(program) = script::source() else {
        fail("the runner runs script components; this process has no script");
    };
    let engine = PREPARED.take().unwrap_or_else(prepare);
    natives::start();
    engine.context.with(|ctx| {
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
    std::mem::forget(engine);
}

/// Creates QuickJS, installs the process API and evaluates the prelude and
/// rusm-ts. Nothing here calls an import of the host, reads a clock for
/// good or draws a random number that a process keeps: it runs once, when
/// the snapshot is made, for every process after it.
fn prepare() -> Engine {
    let runtime = Runtime::new().unwrap_or_else(|e| fail(&format!("cannot start QuickJS: {e}")));
    let context =
        Context::full(&runtime).unwrap_or_else(|e| fail(&format!("cannot start QuickJS: {e}")));
    context.with(|ctx| {
        let evaluated = natives::install(&ctx)
            .catch(&ctx)
            .map_err(Failure::from)
            .and_then(|()| evaluate(&ctx, "rusm:prelude", PRELUDE))
            .and_then(|()| evaluate(&ctx, "rusm-ts", RUSM_TS));
        if let Err(e) = evaluated {
            fail(&format!("cannot prepare the runner: {}", describe(e)));
        }
    });
    Engine {
        context,
        _runtime: runtime,
    }
}

/// Declares and evaluates a module of the runner's own, under `name` (the
/// name programs import it by, and the one stack traces show).
fn evaluate<'js>(ctx: &Ctx<'js>, name: &str, source: &str) -> Result<(), Failure<'js>> {
    let module = Module::declare(ctx.clone(), name, source).catch(ctx)?;
    let (_, evaluated) = module.eval().catch(ctx)?;
    settle(ctx, evaluated.into_value())
}

/// Evaluates the program and runs its default export to the end (its
/// promise settled, if it returns one). From bytecode when `rusm build`
/// compiled the program.
fn run<'js>(ctx: &Ctx<'js>, program: &script::Program) -> Result<(), Failure<'js>> {
    let module = if program.bytecode {
        let code = our_bytecode(&program.name, &program.code)?;
        // SAFETY: the header says this runner's engine wrote it, and it
        // (borrowed from `program`) outlives the context.
        unsafe { Module::load(ctx.clone(), code).catch(ctx)? }
    } else {
        Module::declare(ctx.clone(), program.name.as_str(), program.code.clone()).catch(ctx)?
    };
    let (module, evaluated) = module.eval().catch(ctx)?;
    settle(ctx, evaluated.into_value())?;
    let main: Value = module.get("default").catch(ctx)?;
    let Some(main) = main.as_function() else {
        return Ok(());
    };
    let returned: Value = main.call(()).catch(ctx)?;
    settle(ctx, returned)
}

/// Compiles the program and hands its bytecode, behind the header, to the
/// host: the header's two lines, then the module's bytecode. Nothing of it
/// runs.
fn compile<'js>(ctx: &Ctx<'js>, program: &script::Program) -> Result<(), Failure<'js>> {
    // Without each function's source text, kept only for
    // `Function.prototype.toString`: reading bytecode at every start is a
    // large part of a cold start, and the text was half of the bytes. Line
    // numbers (debug information) stay, for stack traces.
    let options = WriteOptions {
        strip_source: true,
        ..WriteOptions::default()
    };
    let module =
        Module::declare(ctx.clone(), program.name.as_str(), program.code.clone()).catch(ctx)?;
    let code = module.write(options).catch(ctx)?;
    let mut bytecode = Vec::with_capacity(MAGIC.len() + ENGINE.len() + 1 + code.len());
    bytecode.extend_from_slice(MAGIC);
    bytecode.extend_from_slice(ENGINE.as_bytes());
    bytecode.push(b'\n');
    bytecode.extend_from_slice(&code);
    script::compiled(&bytecode).map_err(Failure::Runner)
}

/// The program's QuickJS bytecode behind the header, if this runner's
/// engine and rusm-ts wrote it; otherwise an error that says what did.
fn our_bytecode<'a, 'js>(name: &str, file: &'a [u8]) -> Result<&'a [u8], Failure<'js>> {
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
    let (engine, code) = (&rest[..end], &rest[end + 1..]);
    if engine != ENGINE.as_bytes() {
        return Err(refuse(format!(
            "was compiled by {}, and this runner is {ENGINE}",
            String::from_utf8_lossy(engine)
        )));
    }
    Ok(code)
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
