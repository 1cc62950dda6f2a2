//! `rusm build`: every `components/<name>/` of an app becomes
//! `wasm/<name>.wasm`.
//!
//! A Rust component is a binary crate; `cargo build --release --target
//! wasm32-wasip2` already produces a component (no cargo-component, no jco).
//! All components of all apps may share one target directory, so `rusm-rs`
//! and its dependencies compile once.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rust target every guest is compiled for.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// One component that was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The component's name: its folder under `components/`.
    pub name: String,
    /// `<app>/wasm/<name>.wasm`.
    pub wasm: PathBuf,
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

/// The Rust components of an app: the folders under `components/` that hold
/// a `Cargo.toml`, in name order.
pub fn rust_components(app_dir: &Path) -> Result<Vec<String>, BuildError> {
    let dir = app_dir.join("components");
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| BuildError(format!("cannot list {}: {e}", dir.display())))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| BuildError(format!("cannot list {}: {e}", dir.display())))?;
        if entry.path().join("Cargo.toml").is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Builds every component of the app at `app_dir` into `<app>/wasm/`.
/// `target_dir` defaults to `<app>/target`.
pub fn build_app(app_dir: &Path, target_dir: Option<&Path>) -> Result<Vec<Built>, BuildError> {
    let target_dir = target_dir.map_or_else(|| app_dir.join("target"), Path::to_path_buf);
    let names = rust_components(app_dir)?;
    if names.is_empty() {
        return Err(BuildError(format!(
            "{} has no components (expected components/<name>/Cargo.toml)",
            app_dir.display()
        )));
    }
    let wasm_dir = app_dir.join("wasm");
    std::fs::create_dir_all(&wasm_dir)
        .map_err(|e| BuildError(format!("cannot create {}: {e}", wasm_dir.display())))?;
    names
        .into_iter()
        .map(|name| build_component(app_dir, &name, &target_dir, &wasm_dir))
        .collect()
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
        .env_remove("CARGO_BUILD_TARGET");
    command
}

/// The runner's sources: `runner/` in this repository.
fn runner_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runner")
}

/// Builds the shared TypeScript runner (QuickJS for `wasm32-wasip2`) and
/// returns its `.wasm`. QuickJS is C: it is compiled with Debian's
/// clang-19 against wasi-libc (`ci/setup.sh` installs them), not with a
/// WASI SDK download.
pub fn build_runner(target_dir: &Path) -> Result<PathBuf, BuildError> {
    let status = guest_build(&runner_dir().join("Cargo.toml"), target_dir)
        .env("RQUICKJS_SYS_NO_WASI_SDK", "1")
        .env("CC_wasm32_wasip2", "clang-19")
        .env("AR_wasm32_wasip2", "llvm-ar-19")
        .env(
            "CFLAGS_wasm32_wasip2",
            "--target=wasm32-wasip1 -isystem /usr/include/wasm32-wasi -Os",
        )
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
