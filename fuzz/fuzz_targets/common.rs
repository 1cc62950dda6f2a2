//! What the node-level targets share: a node of a real example app, kept
//! across inputs, on a runtime of its own.

use std::path::{Path, PathBuf};

use rusm_host::Host;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `examples/<app>` as `rusm build` left it (ci/fuzz.sh builds it first,
/// with the stable toolchain: the fuzzer's nightly and instrumentation
/// flags are not for guests), its config with `edit` applied, and a host
/// for it with a kv store in a fresh temporary directory.
pub fn host(
    app: &str,
    edit: impl FnOnce(&mut rusm_config::AppConfig),
) -> (Host, rusm_config::AppConfig) {
    let dir = repo().join("examples").join(app);
    let mut config = rusm_config::AppConfig::load(&dir).expect("the app's rusm.toml");
    edit(&mut config);
    let store = std::env::temp_dir().join(format!("rusm-fuzz-{app}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store);
    let app = rusm_app::App::with_config(&dir, config.clone())
        .expect("the app is built: bash ci/fuzz.sh builds it");
    let host = app
        .boot(app.host().storage(&store, &config.storage))
        .expect("the host boots");
    (host, config)
}
