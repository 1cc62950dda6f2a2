//! The capability matrix: every host import, called by a real guest (the
//! raw-ABI `probe` of examples/abi) under every profile: none, each single
//! grant, and `trusted`. Each import must behave as its gate in
//! `rusm_host::gate::IMPORTS` says, and that table must list every function
//! of the WIT world, so an import added without a capability check (or
//! without a line in the table) fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusm_config::{Capabilities, Capability, Runtime, Storage};
use rusm_core::{Event, ExitReason, Message, Observer, Pid};
use rusm_host::gate::{Gate, IMPORTS};
use rusm_host::{ComponentSource, Host};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `interface.function` names of every import of the `guest` world.
fn wit_functions() -> BTreeSet<String> {
    let mut resolve = wit_parser::Resolve::new();
    let (package, _) = resolve
        .push_path(repo().join("runtime/host/wit"))
        .expect("the WIT file parses");
    let world = resolve
        .select_world(&[package], Some("guest"))
        .expect("the guest world");
    let mut names = BTreeSet::new();
    for item in resolve.worlds[world].imports.values() {
        if let wit_parser::WorldItem::Interface { id, .. } = item {
            let interface = &resolve.interfaces[*id];
            let prefix = interface.name.clone().expect("a named interface");
            for function in interface.functions.keys() {
                names.insert(format!("{prefix}.{function}"));
            }
        }
    }
    names
}

#[test]
fn the_gate_table_lists_every_function_of_the_wit_world() {
    let listed: BTreeSet<String> = IMPORTS
        .iter()
        .map(|(name, _)| name.to_string())
        .filter(|name| name.contains('.'))
        .collect();
    let wit = wit_functions();
    assert!(wit.len() > 20, "{wit:?}");
    let missing: Vec<_> = wit.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&wit).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "imports without a gate in rusm_host::gate::IMPORTS: {missing:?}; gates of no import: {stale:?}"
    );
}

/// The profiles the matrix runs: nothing, each grant alone, everything.
fn profiles() -> Vec<(String, Capabilities)> {
    let mut profiles = vec![("probe".to_string(), Capabilities::default())];
    for capability in Capability::ALL {
        let mut profile = Capabilities::default();
        match capability {
            Capability::AllowStdio => profile.allow_stdio = true,
            Capability::Spawn => profile.spawn = true,
            Capability::Register => profile.register = true,
            Capability::Storage => profile.storage = true,
            Capability::Fetch => profile.fetch = vec!["127.0.0.1".into()],
        }
        profiles.push((format!("probe-{capability}"), profile));
    }
    profiles.push(("probe-trusted".to_string(), Capabilities::trusted()));
    profiles
}

/// Which processes wrote to stdout.
#[derive(Default)]
struct Printed(Mutex<BTreeSet<Pid>>);

impl Observer for Printed {
    fn event(&self, event: Event<'_>) {
        if let Event::Output { pid, .. } = event {
            self.0.lock().unwrap().insert(pid);
        }
    }
}

#[test]
fn every_import_behaves_as_its_gate_says_under_every_profile() {
    let dir = repo().join("examples/abi");
    rusm_build::build_app(&dir, Some(&repo().join("target/guests"))).expect("guest build");
    let wasm = dir.join("wasm/probe.wasm");
    let profiles = profiles();
    let store = std::env::temp_dir().join(format!("rusm-capabilities-{}", std::process::id()));
    let printed = Arc::new(Printed::default());
    let host = Host::builder(Runtime::default())
        .observer(printed.clone())
        .storage(&store, &Storage::default())
        .build(
            profiles
                .iter()
                .map(|(name, capabilities)| ComponentSource {
                    name: name.clone(),
                    wasm: wasm.clone(),
                    script: None,
                    capabilities: capabilities.clone(),
                })
                .collect(),
        )
        .unwrap();
    // What each (import, profile) came to.
    let mut outcomes: BTreeMap<(String, String), String> = BTreeMap::new();
    rusm_rt::block_on(async {
        let me = host.node().attach("test").unwrap();
        // Linked to by the probes: it traps exits so that their ends do
        // not end it.
        let peer = host.node().attach("peer").unwrap();
        peer.trap_exit(true).unwrap();
        for (import, _) in IMPORTS {
            for (profile, _) in &profiles {
                let init = format!(
                    r#"{{"import": "{import}", "peer": {}}}"#,
                    peer.pid().as_raw()
                );
                let (pid, _) = host.spawn_monitor(&me, profile, init.into_bytes()).unwrap();
                let reason = loop {
                    if let Message::Down { pid: p, reason, .. } = me.receive().await
                        && p == pid
                    {
                        break reason;
                    }
                };
                let mut outcome = match reason {
                    ExitReason::Custom(text) => text,
                    other => other.to_string(),
                };
                if *import == "stdio" {
                    let shown = printed.0.lock().unwrap().contains(&pid);
                    outcome = format!(
                        "{outcome} ({})",
                        if shown { "printed" } else { "discarded" }
                    );
                }
                outcomes.insert((import.to_string(), profile.clone()), outcome);
            }
        }
    });
    let _ = std::fs::remove_dir_all(&store);

    let mut wrong = Vec::new();
    for (import, gate) in IMPORTS {
        let of = |profile: &str| outcomes[&(import.to_string(), profile.to_string())].clone();
        let baseline = of("probe");
        for (profile, capabilities) in &profiles {
            let outcome = of(profile);
            let outcome = outcome.as_str();
            let fine = match gate {
                Gate::Capability(c) if capabilities.grants(*c) => outcome == granted(import),
                Gate::Capability(c) => outcome == denial(*c, profile, import),
                Gate::Open => outcome == granted(import),
                Gate::Session | Gate::Compile => outcome == baseline && outcome != "ok",
                Gate::Never => outcome.starts_with("refused:") && !outcome.contains("denied: "),
            };
            if !fine {
                wrong.push(format!("{import} as {profile} ({gate:?}): {outcome}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports off their gate:\n{}",
        wrong.join("\n")
    );
}

/// How a granted (or open) call reads: it did what it says.
fn granted(import: &str) -> &'static str {
    match import {
        "stdio" => "ok (printed)",
        // Its success is the trap it asks for.
        "process.fail" => "trap: probe",
        _ => "ok",
    }
}

/// How a refused call reads, for `profile` lacking `capability`.
fn denial(capability: Capability, profile: &str, import: &str) -> String {
    let denied = rusm_host::gate::denied(capability, profile);
    if import == "stdio" {
        // Output is not refused but discarded: the guest cannot tell.
        return "ok (discarded)".to_string();
    }
    format!("refused: {denied}")
}
