//! The TypeScript runner's snapshot: the runner pre-initialized once with
//! wasmtime-wizer (QuickJS created, the prelude and rusm-ts evaluated by its
//! `wizer-initialize` export), so that a process starts from that memory
//! image instead of building it: a cold start in tens of microseconds, not
//! milliseconds. Every script component runs on it.
//!
//! A snapshot is derived from the runner alone, so it is made once per
//! runner and kept in the compiled-component cache under the runner's
//! content key, behind a header that names what made it. The
//! initialization may read only the clocks and the random seed, which read
//! zero here; any other import is a trap. So the snapshot's bytes are the
//! same on every machine, and no time or seed of the build reaches a
//! process (the runner takes its clock's start and seeds `Math.random`
//! when a process starts).

use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use sha2::{Digest, Sha256};
use wasmtime::component::types::{ComponentItem, Type};
use wasmtime::component::{Component, Instance, Lift, Linker, ResourceType, Val, WasmList};
use wasmtime::{Config, Engine, Store};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

/// The first line of a snapshot file. Then `runner <sha-256 of the
/// runner>`, `wasmtime <its compatibility hash>` (wasmtime-wizer is of the
/// same version), an empty line, the component.
const FORMAT: &str = "rusm-snapshot 1";

/// The runner pre-initialized: from `dir` when this runner's snapshot was
/// made before, else made now (and kept there, if there is a `dir`). A
/// file there that names another runner or wasmtime is refused, said so in
/// the lifecycle log, and made again.
pub(crate) fn runner(runner: &[u8], dir: Option<&Path>) -> Result<Vec<u8>, String> {
    // An engine of its own: the node's pool, fuel and epoch settings are
    // for processes, and what runs here once is the runner's set-up.
    let mut config = Config::new();
    // Under simulation nothing may start OS threads (see TOOLCHAIN.md).
    config.parallel_compilation(!cfg!(madsim));
    let engine = Engine::new(&config)
        .map_err(|e| format!("cannot snapshot the runner: the engine: {e:#}"))?;
    let header = format!(
        "{FORMAT}\nrunner {}\nwasmtime {}\n\n",
        hex(&Sha256::digest(runner)),
        &crate::engine::cache_key(&engine, &[])[..16],
    );
    let Some(dir) = dir else {
        return wizen(&engine, runner);
    };
    let path = dir.join(format!("{}.snapshot", &hex(&Sha256::digest(&header))[..32]));
    if let Ok(file) = std::fs::read(&path) {
        match file.strip_prefix(header.as_bytes()) {
            Some(snapshot) => return Ok(snapshot.to_vec()),
            None => tracing::warn!(
                target: crate::LifecycleLog::TARGET,
                "refused {}: {}; this node's is {}: making it again",
                path.display(),
                describe_header(&file),
                describe_header(header.as_bytes())
            ),
        }
    }
    let snapshot = wizen(&engine, runner)?;
    let mut file = header.into_bytes();
    file.extend_from_slice(&snapshot);
    crate::engine::write_atomically(&path, &file)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(snapshot)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a snapshot file's header says made it, on one line.
fn describe_header(file: &[u8]) -> String {
    let Some(end) = file.windows(2).position(|w| w == b"\n\n") else {
        return "not a rusm snapshot".into();
    };
    let header = String::from_utf8_lossy(&file[..end]);
    let mut lines = header.lines();
    if lines.next() != Some(FORMAT) {
        return format!(
            "{:?} is another snapshot format",
            header.lines().next().unwrap_or("")
        );
    }
    lines.collect::<Vec<_>>().join(", ")
}

/// Runs the runner's `wizer-initialize` and snapshots its state.
fn wizen(engine: &Engine, runner: &[u8]) -> Result<Vec<u8>, String> {
    let fail =
        |what: &str, e: wasmtime::Error| format!("cannot snapshot the runner: {what}: {e:#}");
    let mut wizer = Wizer::new();
    // Without it wasmtime-wizer 48 writes an invalid component (wasmtime
    // #13168); the export stays, and the host never calls it.
    wizer.keep_init_func(true);
    let (context, instrumented) = wizer
        .instrument_component(runner)
        .map_err(|e| fail("instrumenting", e))?;
    let component = Component::new(engine, &instrumented).map_err(|e| fail("compiling", e))?;
    let linker = linker(engine, &component).map_err(|e| fail("linking", e))?;
    let mut store = Store::new(engine, ());
    let instance = linker
        .instantiate(&mut store, &component)
        .map_err(|e| fail("instantiating", e))?;
    instance
        .get_typed_func::<(), ()>(&mut store, wizer.get_init_func())
        .and_then(|init| init.call(&mut store, ()))
        .map_err(|e| fail("wizer-initialize", e))?;
    let mut state = Access {
        store: &mut store,
        instance,
    };
    // The state is read with plain calls, so the future is ready at once.
    let snapshot = pin!(wizer.snapshot_component(&context, &mut state));
    match snapshot.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(snapshot) => snapshot.map_err(|e| fail("snapshotting", e)),
        Poll::Pending => Err("cannot snapshot the runner: wasmtime-wizer waited".into()),
    }
}

/// The imports of the runner's set-up: the clocks read as zero and the
/// random seed is zero (QuickJS reads the clock to seed `Math.random`, which
/// the runner replaces when a process starts; Rust's `HashMap` draws its
/// keys), and every other import, WASI or rusm, is a trap that names
/// itself: the set-up must not call the host.
fn linker(engine: &Engine, component: &Component) -> wasmtime::Result<Linker<()>> {
    let mut linker = Linker::new(engine);
    for (name, item) in component.component_type().imports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let interface = name.split('@').next().unwrap_or(name);
        let mut imports = linker.instance(name)?;
        for (export, item) in instance.exports(engine) {
            // Resources are defined so the runner links; none can be made.
            if let ComponentItem::Resource(_) = item.ty {
                imports.resource(export, ResourceType::host::<Unmade>(), |_, _| Ok(()))?;
            }
        }
        for (function, item) in instance.exports(engine) {
            let ComponentItem::ComponentFunc(ty) = item.ty else {
                continue;
            };
            let constant = CONSTANT.contains(&(interface, function));
            let zeros: Option<Vec<Val>> = ty.results().map(|ty| zero(&ty)).collect();
            let called = format!("{name}.{function}");
            imports.func_new(function, move |_, _, params, results| match &zeros {
                Some(zeros) if constant => {
                    results.clone_from_slice(zeros);
                    Ok(())
                }
                _ => wasmtime::bail!(
                    "the runner called {called}{params:?} while it was pre-initialized"
                ),
            })?;
        }
    }
    Ok(linker)
}

/// The host's side of every resource the runner imports: never made.
struct Unmade;

/// The imports the set-up may call, each answering zero.
const CONSTANT: &[(&str, &str)] = &[
    ("wasi:clocks/wall-clock", "now"),
    ("wasi:clocks/wall-clock", "resolution"),
    ("wasi:clocks/monotonic-clock", "now"),
    ("wasi:clocks/monotonic-clock", "resolution"),
    ("wasi:random/insecure-seed", "insecure-seed"),
];

/// The zero of a type made of numbers (a clock's reading, a seed).
fn zero(ty: &Type) -> Option<Val> {
    Some(match ty {
        Type::U32 => Val::U32(0),
        Type::U64 => Val::U64(0),
        Type::Tuple(tuple) => Val::Tuple(tuple.types().map(|t| zero(&t)).collect::<Option<_>>()?),
        Type::Record(record) => Val::Record(
            record
                .fields()
                .map(|field| Some((field.name.to_string(), zero(&field.ty)?)))
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    })
}

/// How wasmtime-wizer reads the initialized instance: the exports its
/// instrumentation added, called in place.
struct Access<'a> {
    store: &'a mut Store<()>,
    instance: Instance,
}

impl Access<'_> {
    fn call<R: Lift + 'static>(&mut self, instance: &str, func: &str) -> R {
        let (_, exports) = self
            .instance
            .get_export(&mut *self.store, None, instance)
            .expect("wasmtime-wizer's instrumentation exports its access instance");
        let (_, export) = self
            .instance
            .get_export(&mut *self.store, Some(&exports), func)
            .expect("wasmtime-wizer's instrumentation exports each accessor");
        self.instance
            .get_typed_func::<(), (R,)>(&mut *self.store, export)
            .and_then(|f| f.call(&mut *self.store, ()))
            .expect("an accessor of wasmtime-wizer's instrumentation returns")
            .0
    }
}

impl ComponentInstanceState for Access<'_> {
    fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) -> impl Future<Output = ()> + Send {
        let list: WasmList<u8> = self.call(instance, func);
        contents(list.as_le_slice(&*self.store));
        std::future::ready(())
    }

    fn call_func_ret_s32(
        &mut self,
        instance: &str,
        func: &str,
    ) -> impl Future<Output = i32> + Send {
        std::future::ready(self.call(instance, func))
    }

    fn call_func_ret_s64(
        &mut self,
        instance: &str,
        func: &str,
    ) -> impl Future<Output = i64> + Send {
        std::future::ready(self.call(instance, func))
    }

    fn call_func_ret_f32(
        &mut self,
        instance: &str,
        func: &str,
    ) -> impl Future<Output = u32> + Send {
        std::future::ready(self.call::<f32>(instance, func).to_bits())
    }

    fn call_func_ret_f64(
        &mut self,
        instance: &str,
        func: &str,
    ) -> impl Future<Output = u64> + Send {
        std::future::ready(self.call::<f64>(instance, func).to_bits())
    }
}
