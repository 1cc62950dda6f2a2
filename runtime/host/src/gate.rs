//! What guards each host import: the table the capability matrix test
//! (`tests/capabilities.rs`) holds the host to. Every function of the
//! `rusm:runtime` world must be listed here (the test reads the WIT file),
//! and under every profile each import must refuse or work exactly as its
//! gate says, so an import added without its check fails a test.

use rusm_config::Capability;

/// What a guest needs to use an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Nothing: messaging and the process model are every process's.
    Open,
    /// A grant in `[capabilities.<component>]` (or `trusted`); without it
    /// the call returns `capability denied: <key> (grant it ...)`.
    Capability(Capability),
    /// A client session: only a process the node spawned to serve a
    /// request or connection may answer one.
    Session,
    /// A compile request: only a runner the host started to compile a
    /// program (`rusm build`) may hand bytecode back.
    Compile,
    /// Nothing grants it: a WASI area the sandbox keeps shut.
    Never,
}

/// Every import a guest can reach, by `interface.function` as the WIT file
/// names it, plus the WASI areas the sandbox decides on (`stdio`,
/// `filesystem`, `sockets`).
pub const IMPORTS: &[(&str, Gate)] = &[
    ("process.self-pid", Gate::Open),
    ("process.init", Gate::Open),
    ("process.spawn", Gate::Capability(Capability::Spawn)),
    ("process.send", Gate::Open),
    ("process.receive", Gate::Open),
    ("process.receive-timeout", Gate::Open),
    ("process.link", Gate::Open),
    ("process.unlink", Gate::Open),
    ("process.monitor", Gate::Open),
    ("process.demonitor", Gate::Open),
    ("process.set-aside", Gate::Open),
    ("process.trap-exit", Gate::Open),
    ("process.register", Gate::Capability(Capability::Register)),
    ("process.unregister", Gate::Capability(Capability::Register)),
    ("process.whereis", Gate::Open),
    ("process.exit", Gate::Open),
    ("process.fail", Gate::Open),
    ("serving.session", Gate::Open),
    ("serving.respond", Gate::Session),
    ("serving.respond-stream", Gate::Session),
    ("serving.write", Gate::Session),
    ("serving.send-frame", Gate::Session),
    ("kv.get", Gate::Capability(Capability::Storage)),
    ("kv.set", Gate::Capability(Capability::Storage)),
    ("kv.delete", Gate::Capability(Capability::Storage)),
    ("kv.exists", Gate::Capability(Capability::Storage)),
    ("kv.list", Gate::Capability(Capability::Storage)),
    ("script.source", Gate::Open),
    ("script.compiled", Gate::Compile),
    ("crypto.digest", Gate::Open),
    ("crypto.hmac-sign", Gate::Open),
    ("crypto.hmac-verify", Gate::Open),
    ("crypto.aes-gcm-encrypt", Gate::Open),
    ("crypto.aes-gcm-decrypt", Gate::Open),
    ("fetch.start", Gate::Capability(Capability::Fetch)),
    ("stdio", Gate::Capability(Capability::AllowStdio)),
    ("filesystem", Gate::Never),
    ("sockets", Gate::Never),
];

/// What a call refused for want of `capability` returns: the grant that
/// would allow it, written as it goes in `rusm.toml`.
pub fn denied(capability: Capability, component: &str) -> String {
    let grant = match capability {
        Capability::Fetch => format!("{capability} = [\"<host>\"]"),
        _ => format!("{capability} = true"),
    };
    format!(
        "capability denied: {capability} (grant it in rusm.toml: [capabilities.{component}] {grant})"
    )
}
