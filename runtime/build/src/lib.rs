//! `rusm build`: every `components/<name>/` of an app becomes something
//! under `wasm/` that the node runs.
//!
//! A Rust component (a folder with `Cargo.toml`) is a binary crate; `cargo
//! build --release --target wasm32-wasip2` already produces a component (no
//! cargo-component, no jco): `wasm/<name>.wasm`. All components of all apps
//! may share one target directory, so `rusm-rs` and its dependencies
//! compile once.
//!
//! A TypeScript component (a folder with `package.json`) is bundled by Bun
//! with its npm imports into `wasm/<name>.js`, and runs on the shared
//! runner, copied once per app to `wasm/rusm-runner.wasm`, which holds
//! `rusm-ts` (the bundle imports it). The host
//! then precompiles the bundle to bytecode, `wasm/<name>.qjsbc`
//! (`rusm_app::build`, with the host's compiler): that needs wasmtime, which
//! this crate does not.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rust target every guest is compiled for.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// The runner's file in an app's `wasm/`: not a component of its own.
pub const RUNNER_FILE: &str = "rusm-runner.wasm";

/// One component that was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The component's name: its folder under `components/`.
    pub name: String,
    /// The wasm the node instantiates: `<app>/wasm/<name>.wasm`, or for a
    /// script component the shared runner, `<app>/wasm/rusm-runner.wasm`.
    pub wasm: PathBuf,
    /// For a script component, the program the runner runs.
    pub script: Option<ScriptFile>,
}

/// A script component's program: `wasm/<name>.js` (source) or
/// `wasm/<name>.qjsbc` (the runner's bytecode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFile {
    pub path: PathBuf,
    pub bytecode: bool,
}

/// A build failed; the message says which component and why.
#[derive(Debug)]
pub struct BuildError(String);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

/// What a component folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `Cargo.toml`: a Rust guest crate.
    Rust,
    /// `package.json`: a TypeScript (or JavaScript) component.
    Script,
}

/// The components of an app: the folders under `components/` that hold a
/// `Cargo.toml` or a `package.json`, in name order.
pub fn components(app_dir: &Path) -> Result<Vec<(String, Kind)>, BuildError> {
    let dir = app_dir.join("components");
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| BuildError(format!("cannot list {}: {e}", dir.display())))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| BuildError(format!("cannot list {}: {e}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().join("Cargo.toml").is_file() {
            found.push((name, Kind::Rust));
        } else if entry.path().join("package.json").is_file() {
            found.push((name, Kind::Script));
        }
    }
    found.sort();
    Ok(found)
}

/// The Rust components of an app, in name order.
pub fn rust_components(app_dir: &Path) -> Result<Vec<String>, BuildError> {
    Ok(components(app_dir)?
        .into_iter()
        .filter(|(_, kind)| *kind == Kind::Rust)
        .map(|(name, _)| name)
        .collect())
}

/// What `rusm build` left in `<app>/wasm/`, in name order: each
/// `<name>.wasm`, and each script as `<name>.qjsbc` (or `<name>.js` when
/// it has no bytecode) on the app's runner. An app can ship without its
/// sources.
pub fn built(app_dir: &Path) -> Result<Vec<Built>, BuildError> {
    let dir = app_dir.join("wasm");
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        BuildError(format!(
            "cannot list {}: {e} (run `rusm build` first)",
            dir.display()
        ))
    })?;
    let runner = dir.join(RUNNER_FILE);
    let mut found = std::collections::BTreeMap::new();
    for entry in entries {
        let path = entry
            .map_err(|e| BuildError(format!("cannot list {}: {e}", dir.display())))?
            .path();
        let (Some(name), Some(ext)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        let (wasm, script) = match ext {
            "wasm" if path != runner => (path.clone(), None),
            "qjsbc" | "js" => (
                runner.clone(),
                Some(ScriptFile {
                    path: path.clone(),
                    bytecode: ext == "qjsbc",
                }),
            ),
            _ => continue,
        };
        let built = Built {
            name: name.to_string(),
            wasm,
            script,
        };
        // Bytecode wins over the source it was compiled from.
        match found.get(name) {
            Some(Built {
                script: Some(ScriptFile { bytecode: true, .. }),
                ..
            }) => {}
            _ => {
                found.insert(name.to_string(), built);
            }
        }
    }
    if found.is_empty() {
        return Err(BuildError(format!(
            "{} holds no components (run `rusm build` first)",
            dir.display()
        )));
    }
    if found.values().any(|b| b.script.is_some()) && !runner.is_file() {
        return Err(BuildError(format!(
            "{} has scripts but no {RUNNER_FILE} (run `rusm build` again)",
            dir.display()
        )));
    }
    Ok(found.into_values().collect())
}

/// Builds every component of the app at `app_dir` into `<app>/wasm/`.
/// `target_dir` (cargo's, for the Rust guests and the runner) defaults to
/// `$RUSM_TARGET_DIR`, else `<app>/target`. Scripts come back as source;
/// the host precompiles them.
///
/// What the builders print goes to stderr, never stdout: `rusm sim` and
/// `rusm test` keep stdout for the trace alone.
pub fn build_app(app_dir: &Path, target_dir: Option<&Path>) -> Result<Vec<Built>, BuildError> {
    let target_dir = match (target_dir, std::env::var_os("RUSM_TARGET_DIR")) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(dir)) => PathBuf::from(dir),
        (None, None) => app_dir.join("target"),
    };
    let components = components(app_dir)?;
    if components.is_empty() {
        return Err(BuildError(format!(
            "{} has no components (expected components/<name>/Cargo.toml or package.json)",
            app_dir.display()
        )));
    }
    let wasm_dir = app_dir.join("wasm");
    std::fs::create_dir_all(&wasm_dir)
        .map_err(|e| BuildError(format!("cannot create {}: {e}", wasm_dir.display())))?;
    let runner = if components.iter().any(|(_, kind)| *kind == Kind::Script) {
        let runner = wasm_dir.join(RUNNER_FILE);
        let built = build_runner(&target_dir)?;
        std::fs::copy(&built, &runner).map_err(|e| {
            BuildError(format!(
                "cannot copy the runner to {}: {e}",
                runner.display()
            ))
        })?;
        Some(runner)
    } else {
        None
    };
    components
        .into_iter()
        .map(|(name, kind)| match (kind, &runner) {
            (Kind::Script, Some(runner)) => bundle(app_dir, &name, runner, &wasm_dir),
            _ => build_component(app_dir, &name, &target_dir, &wasm_dir),
        })
        .collect()
}

/// Bundles TypeScript component `name` with Bun into `wasm/<name>.js`
/// (`sdk-ts/bundle.ts`), installing its npm dependencies first if it has
/// any.
fn bundle(app_dir: &Path, name: &str, runner: &Path, wasm_dir: &Path) -> Result<Built, BuildError> {
    let dir = app_dir.join("components").join(name);
    let failed = |why: String| BuildError(format!("component {name}: {why}"));
    let manifest: serde_json::Value = std::fs::read_to_string(dir.join("package.json"))
        .map_err(|e| failed(format!("cannot read package.json: {e}")))
        .and_then(|text| {
            serde_json::from_str(&text).map_err(|e| failed(format!("package.json: {e}")))
        })?;
    let entry = match manifest.get("main").and_then(|m| m.as_str()) {
        Some(main) => dir.join(main),
        None => ["index.ts", "index.js", "src/index.ts", "src/index.js"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                failed("no entry: set \"main\" in package.json, or add index.ts".into())
            })?,
    };
    let bun = bun()?;
    let has_dependencies = manifest
        .get("dependencies")
        .and_then(|d| d.as_object())
        .is_some_and(|d| !d.is_empty());
    if has_dependencies {
        let mut install = Command::new(&bun);
        install.arg("install").current_dir(&dir);
        if dir.join("bun.lock").is_file() {
            install.arg("--frozen-lockfile");
        }
        run(install, &failed, "bun install")?;
    }
    let js = wasm_dir.join(format!("{name}.js"));
    let mut bundle = Command::new(&bun);
    bundle
        .arg(sdk_ts_dir().join("bundle.ts"))
        .arg(&entry)
        .arg(&js);
    run(bundle, &failed, "bundling with bun")?;
    Ok(Built {
        name: name.to_string(),
        wasm: runner.to_path_buf(),
        script: Some(ScriptFile {
            path: js,
            bytecode: false,
        }),
    })
}

fn run(
    mut command: Command,
    failed: &dyn Fn(String) -> BuildError,
    what: &str,
) -> Result<(), BuildError> {
    let status = command.stdout(std::io::stderr()).status().map_err(|e| {
        failed(format!(
            "{what}: cannot run {:?}: {e}",
            command.get_program()
        ))
    })?;
    if !status.success() {
        return Err(failed(format!("{what} failed ({status})")));
    }
    Ok(())
}

/// Bun: `$RUSM_BUN`, else the one `ci/setup.sh` (or `ci/install.sh`)
/// installs from npm into the home's `.tools/`, else `bun` on the PATH.
fn bun() -> Result<PathBuf, BuildError> {
    if let Some(bun) = std::env::var_os("RUSM_BUN") {
        return Ok(bun.into());
    }
    let local = home().join(".tools/node_modules/.bin/bun");
    if local.is_file() {
        return Ok(local);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("bun"))
        .find(|bun| bun.is_file());
    on_path.ok_or_else(|| {
        BuildError(
            "TypeScript components are bundled with Bun, and none was found: run `bash ci/setup.sh` (it installs bun from npm), or set RUSM_BUN".into(),
        )
    })
}

/// The file `ci/install.sh` leaves at the top of an installed home.
pub const HOME_MARKER: &str = "rusm-home";

/// Where the guest SDKs (`sdk-rs/`, `sdk-ts/`), the WIT package, the
/// runner and Bun are: `$RUSM_HOME`; else the home of an installed rusm
/// (`PREFIX/share/rusm`, beside `PREFIX/bin/rusm` and
/// `PREFIX/lib/rusm/rusm-sim`); else the checkout this rusm was built
/// from. The installed home mirrors the checkout's layout.
pub fn home() -> PathBuf {
    if let Some(home) = std::env::var_os("RUSM_HOME") {
        return home.into();
    }
    let installed = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .skip(2)
            .take(2)
            .map(|prefix| prefix.join("share/rusm"))
            .find(|home| home.join(HOME_MARKER).is_file())
    });
    installed.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// The `rusm-ts` package, which holds the bundler script.
fn sdk_ts_dir() -> PathBuf {
    home().join("sdk-ts")
}

fn build_component(
    app_dir: &Path,
    name: &str,
    target_dir: &Path,
    wasm_dir: &Path,
) -> Result<Built, BuildError> {
    let manifest = app_dir.join("components").join(name).join("Cargo.toml");
    let package = package_name(&manifest)?;
    let status = guest_build(&manifest, target_dir)
        .status()
        .map_err(|e| BuildError(format!("component {name}: cannot run cargo: {e}")))?;
    if !status.success() {
        return Err(BuildError(format!(
            "component {name}: cargo build failed ({status}); is the target installed? (rustup target add {GUEST_TARGET})"
        )));
    }
    // A binary keeps its package name, hyphens included.
    let artifact = target_dir
        .join(GUEST_TARGET)
        .join("release")
        .join(format!("{package}.wasm"));
    let wasm = wasm_dir.join(format!("{name}.wasm"));
    std::fs::copy(&artifact, &wasm).map_err(|e| {
        BuildError(format!(
            "component {name}: cannot copy {} to {}: {e} (is it a binary crate?)",
            artifact.display(),
            wasm.display()
        ))
    })?;
    Ok(Built {
        name: name.to_string(),
        wasm,
        script: None,
    })
}

/// `cargo build --release` of the guest crate at `manifest` for
/// [`GUEST_TARGET`] into `target_dir`.
fn guest_build(manifest: &Path, target_dir: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--release",
            "--target",
            GUEST_TARGET,
            "--manifest-path",
        ])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        // Flags meant for the host build (e.g. `--cfg madsim` while the
        // simulator's tests run) must not leak into the guest build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .stdout(std::io::stderr());
    command
}

/// The runner's sources: `runner/` in the home. An installed home has
/// the runner built instead, as `runner/rusm-runner.wasm`.
fn runner_dir() -> PathBuf {
    home().join("runner")
}

/// Builds the shared TypeScript runner (QuickJS for `wasm32-wasip2`) and
/// returns its `.wasm`. QuickJS is C: it is compiled with Debian's
/// clang-19 against wasi-libc (`ci/setup.sh` installs them), not with a
/// WASI SDK download. An installed rusm ships the runner built, and
/// that one is used as it is.
pub fn build_runner(target_dir: &Path) -> Result<PathBuf, BuildError> {
    let prebuilt = runner_dir().join(RUNNER_FILE);
    if !runner_dir().join("Cargo.toml").is_file() && prebuilt.is_file() {
        return Ok(prebuilt);
    }
    // The runner's bytes must not depend on where the repository is: a
    // QuickJS data segment that grows with a path moves its objects, and
    // QuickJS hashes shapes by address, so a process's fuel (simulated CPU
    // time) would differ from one checkout to the next. So: asserts (and
    // their __FILE__ strings) compiled out, the one path left mapped away,
    // and the target dir canonical (as cargo writes it into OUT_DIR).
    std::fs::create_dir_all(target_dir)
        .map_err(|e| BuildError(format!("cannot create {}: {e}", target_dir.display())))?;
    let target_dir = &target_dir
        .canonicalize()
        .map_err(|e| BuildError(format!("{}: {e}", target_dir.display())))?;
    let cflags = format!(
        "--target=wasm32-wasip1 -isystem /usr/include/wasm32-wasi -Os -DNDEBUG -ffile-prefix-map={}=/target",
        target_dir.display()
    );
    // The runner holds rusm-ts, which its build.rs bundles with Bun.
    let status = guest_build(&runner_dir().join("Cargo.toml"), target_dir)
        .env("RUSM_BUN", bun()?)
        .env("RQUICKJS_SYS_NO_WASI_SDK", "1")
        .env("CC_wasm32_wasip2", "clang-19")
        .env("AR_wasm32_wasip2", "llvm-ar-19")
        .env("CFLAGS_wasm32_wasip2", cflags)
        .status()
        .map_err(|e| BuildError(format!("the runner: cannot run cargo: {e}")))?;
    if !status.success() {
        return Err(BuildError(format!(
            "the runner: cargo build failed ({status}); are clang-19 and wasi-libc installed? (bash ci/setup.sh)"
        )));
    }
    Ok(target_dir
        .join(GUEST_TARGET)
        .join("release")
        .join("rusm-runner.wasm"))
}

fn package_name(manifest: &Path) -> Result<String, BuildError> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        package: Package,
    }
    #[derive(serde::Deserialize)]
    struct Package {
        name: String,
    }
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| BuildError(format!("cannot read {}: {e}", manifest.display())))?;
    let parsed: Manifest =
        toml::from_str(&text).map_err(|e| BuildError(format!("{}: {e}", manifest.display())))?;
    Ok(parsed.package.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_without_components_is_a_clear_error() {
        let err = build_app(Path::new("/nonexistent-app"), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot list /nonexistent-app/components"),
            "{err}"
        );
    }
}
