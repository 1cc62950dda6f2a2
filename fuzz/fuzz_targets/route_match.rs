//! `[serve.routes]`: any set of route patterns either makes a table or is
//! refused with a message, and any request path looked up in a table finds
//! one of its routes (with its parameters) or says 404 / 405, never a
//! panic. The table is built the way the node builds it: from `rusm.toml`.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rusm_config::{AppConfig, NotFound};

#[derive(Arbitrary, Debug)]
struct Input {
    routes: Vec<(u8, String, String)>,
    lookups: Vec<(u8, String)>,
}

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "BREW",
];

fuzz_target!(|input: Input| {
    let mut routes = toml::Table::new();
    for (method, path, target) in input.routes.iter().take(16) {
        let key = format!("{} {path}", METHODS[usize::from(*method) % METHODS.len()]);
        routes.insert(key, toml::Value::String(target.clone()));
    }
    let mut listener = toml::Table::new();
    listener.insert("address".into(), "127.0.0.1:8080".into());
    listener.insert("kind".into(), "http".into());
    listener.insert("routes".into(), toml::Value::Table(routes));
    let mut file = toml::Table::new();
    file.insert(
        "serve".into(),
        toml::Value::Array(vec![toml::Value::Table(listener)]),
    );
    let Ok(text) = toml::to_string(&file) else {
        return;
    };
    let Ok(config) = AppConfig::parse(&text) else {
        return;
    };
    let table = &config.serve[0].routes;
    let components: Vec<&str> = table.components().collect();
    for (method, path) in input.lookups.iter().take(16) {
        let method = METHODS[usize::from(*method) % METHODS.len()];
        match table.find(method, path) {
            Ok(found) => assert!(
                components.contains(&found.component),
                "{method} {path} found {found:?}, a component no route names"
            ),
            Err(NotFound::Method { allowed }) => {
                assert!(!allowed.is_empty() && !allowed.iter().any(|m| m == method))
            }
            Err(NotFound::Path) => {}
        }
    }
});
