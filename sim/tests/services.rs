//! Service calls under many interleavings: several clients call one calc
//! service at once, and each must get its own answers, never another's. The
//! interleaving is the simulator's, so proptest explores seeds as well as
//! shapes, and a failure shrinks to a scenario that replays exactly.

#![cfg(madsim)]

use proptest::prelude::*;
use rusm_sim::{Action, Scenario, Step, run};

fn step(at_ms: u64, action: Action) -> Step {
    Step { at_ms, action }
}

/// calc, then `clients` clients each echoing its own tags, then a check
/// that each reported all of them answered right.
fn scenario(tags_per_client: &[Vec<String>]) -> Scenario {
    let mut steps = vec![step(
        0,
        Action::Spawn {
            component: "calc".into(),
            init: String::new(),
            name: "calc".into(),
        },
    )];
    for (n, tags) in tags_per_client.iter().enumerate() {
        // `$sim` is not JSON, so the init is written as text.
        let tags = serde_json::to_string(tags).expect("strings encode");
        let init = format!(r#"{{"mode": {{"echo": {{"tags": {tags}}}}}, "report": $sim}}"#);
        steps.push(step(
            1,
            Action::Spawn {
                component: "client".into(),
                init,
                name: format!("client{n}"),
            },
        ));
    }
    for (n, tags) in tags_per_client.iter().enumerate() {
        steps.push(step(
            900,
            Action::ExpectReceived {
                from: format!("client{n}"),
                json: Some(format!(r#"{{"done": {}}}"#, tags.len())),
            },
        ));
    }
    Scenario {
        description: "interleaved calls from several clients".into(),
        app: concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/calc").into(),
        seeds: vec![1],
        run_ms: 1000,
        runtime: toml::Table::new(),
        components: toml::Table::new(),
        upstream: None,
        steps,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_client_gets_its_own_replies(
        seed in 1..u64::MAX,
        tags_per_client in prop::collection::vec(
            prop::collection::vec("[a-z]{1,6}", 1..12), 2..6),
    ) {
        let tagged: Vec<Vec<String>> = tags_per_client
            .iter()
            .enumerate()
            .map(|(n, tags)| tags.iter().map(|t| format!("c{n}-{t}")).collect())
            .collect();
        let scenario = scenario(&tagged);
        if let Err(e) = run(&scenario, seed) {
            return Err(TestCaseError::fail(format!("seed {seed}: {e}")));
        }
    }
}
