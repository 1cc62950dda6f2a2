//! Names the QuickJS engine for the bytecode header: the version of
//! rquickjs-sys that Cargo.lock pins, so bytecode written by one engine is
//! never read by another.

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
}
