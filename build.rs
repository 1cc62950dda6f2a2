//! Names what the runner's bytecode depends on, for the bytecode header:
//! the version of rquickjs-sys that Cargo.lock pins, so bytecode written by
//! one engine is never read by another, and the rusm-ts it holds, bundled
//! here from `../sdk-ts` by Bun (`bundle.ts --library`) into one module.
//! Bun is `$RUSM_BUN` (what `rusm_build::build_runner` sets), else the one
//! `ci/setup.sh` installs, else `bun` on the PATH.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").expect("the runner's Cargo.lock");
    let version = lock
        .split("[[package]]")
        .find(|package| package.contains("name = \"rquickjs-sys\""))
        .and_then(|package| package.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"'))
        .expect("rquickjs-sys in the runner's Cargo.lock");
    println!("cargo::rustc-env=RQUICKJS_SYS_VERSION={version}");

    let sdk = Path::new("../sdk-ts");
    for watched in ["src", "bundle.ts", "package.json"] {
        println!("cargo::rerun-if-changed={}", sdk.join(watched).display());
    }
    println!("cargo::rerun-if-env-changed=RUSM_BUN");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("rusm-ts.js");
    let bun = bun();
    let status = Command::new(&bun)
        .arg(sdk.join("bundle.ts"))
        .arg("--library")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run Bun ({}): {e}; run `bash ci/setup.sh` or set RUSM_BUN", bun.display()));
    assert!(status.success(), "bundling rusm-ts with Bun failed ({status})");
    let library = std::fs::read(&out).expect("the rusm-ts bundle");
    println!("cargo::rustc-env=RUSM_TS_ID={:016x}", fnv1a(&library));
}

fn bun() -> PathBuf {
    if let Some(bun) = std::env::var_os("RUSM_BUN") {
        return bun.into();
    }
    let local = Path::new("../.tools/node_modules/.bin/bun");
    if local.is_file() {
        return local.to_path_buf();
    }
    "bun".into()
}

/// FNV-1a, 64 bits: names a rusm-ts bundle in bytecode headers (an
/// identity, not a defence: the host trusts its own cache).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
