//! `rusm.toml`: any text parses to a config or to an error naming what is
//! wrong, never a panic; a config that parses answers every question the
//! node asks of it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rusm_config::{AppConfig, Capability};

fuzz_target!(|text: &str| {
    let Ok(config) = AppConfig::parse(text) else {
        return;
    };
    let _ = config.check_components(&["a".to_string(), "web".to_string()]);
    let _ = config.uses_storage();
    for name in ["a", "web", "nobody"] {
        let profile = config.capabilities(name);
        for capability in Capability::ALL {
            let _ = profile.grants(capability);
        }
        let _ = profile.fetch_allows("api.example.com", 443);
    }
    for listener in &config.serve {
        let _ = listener.routes.find("GET", "/users/7");
    }
    let _ = config.residents().count();
});
