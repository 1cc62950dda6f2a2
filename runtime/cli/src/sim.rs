//! `rusm sim` and `rusm test`: replaying scenarios. They run in the
//! simulation build (`--cfg madsim`), where time and every choice come from
//! the seed; the production build hands them to the simulation build that
//! `ci/install.sh` installs beside it.

use std::path::Path;
use std::process::ExitCode;

#[cfg(madsim)]
pub use simulated::{sim, test};

#[cfg(not(madsim))]
pub use production::{sim, test};

#[cfg(not(madsim))]
mod production {
    use super::*;
    use std::path::PathBuf;

    /// The simulation build of this rusm: `$RUSM_SIM`, else
    /// `PREFIX/lib/rusm/rusm-sim` beside an installed `PREFIX/bin/rusm`.
    fn simulation_build() -> Option<PathBuf> {
        if let Some(sim) = std::env::var_os("RUSM_SIM") {
            return Some(sim.into());
        }
        let exe = std::env::current_exe().ok()?;
        let installed = exe.parent()?.join("../lib/rusm/rusm-sim");
        installed.is_file().then_some(installed)
    }

    /// Runs this very command in the simulation build and exits as it does.
    fn hand_over(what: &str, in_a_checkout: &str) -> Result<ExitCode, String> {
        let Some(sim) = simulation_build() else {
            return Err(format!(
                "{what} replays in the simulation build, and this rusm has none beside it \
                 (set RUSM_SIM to one): install rusm with `bash ci/install.sh`, which \
                 installs both builds, or in a checkout run {in_a_checkout}"
            ));
        };
        let status = std::process::Command::new(&sim)
            .args(std::env::args_os().skip(1))
            .status()
            .map_err(|e| format!("cannot run the simulation build {}: {e}", sim.display()))?;
        Ok(match status.code() {
            Some(0) => ExitCode::SUCCESS,
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            None => ExitCode::FAILURE,
        })
    }

    pub fn sim(scenario: &Path, seed: Option<u64>) -> Result<ExitCode, String> {
        let seed = seed.map_or(String::new(), |s| format!(" --seed {s}"));
        hand_over(
            "rusm sim",
            &format!("`bash ci/sim.sh {}{seed}`", scenario.display()),
        )
    }

    pub fn test(
        _app: &Path,
        _seeds: Option<u64>,
        _only: Option<&str>,
        _accept: bool,
    ) -> Result<ExitCode, String> {
        hand_over(
            "rusm test",
            "it with RUSM_SIM=target-madsim/debug/rusm (`bash ci/test.sh` builds that)",
        )
    }
}

#[cfg(madsim)]
mod simulated {
    use super::*;
    use std::path::PathBuf;

    use rusm_sim::check::{Pinned, check_seed};
    use rusm_sim::snapshot;
    use rusm_sim::{RunError, Scenario};

    /// Replays `scenario` inside the simulator and prints its trace on
    /// stdout; the exit code says whether every expectation held.
    pub fn sim(scenario: &Path, seed: Option<u64>) -> Result<ExitCode, String> {
        let scenario = Scenario::load(scenario).map_err(|e| e.to_string())?;
        let seed = seed.unwrap_or(scenario.seeds[0]);
        match rusm_sim::run(&scenario, seed) {
            Ok(trace) => {
                print!("{trace}");
                Ok(ExitCode::SUCCESS)
            }
            Err(RunError::Expectations { failures, trace }) => {
                print!("{trace}");
                for failure in failures {
                    eprintln!("rusm sim: expectation failed {failure}");
                }
                Ok(ExitCode::FAILURE)
            }
            Err(setup) => Err(setup.to_string()),
        }
    }

    /// Checks every scenario of the app at `dir` (or the one named `only`);
    /// the exit code says whether all passed.
    pub fn test(
        dir: &Path,
        sweep: Option<u64>,
        only: Option<&str>,
        accept: bool,
    ) -> Result<ExitCode, String> {
        let files = scenario_files(dir, only)?;
        let mut tally = Tally::default();
        for file in &files {
            check_file(file, sweep, accept, &mut tally);
        }
        eprintln!(
            "rusm test: {} passed, {} failed",
            tally.passed, tally.failed
        );
        Ok(if tally.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }

    /// `<dir>/scenarios/*.toml` in name order, or the one named `only`.
    fn scenario_files(dir: &Path, only: Option<&str>) -> Result<Vec<PathBuf>, String> {
        let folder = dir.join("scenarios");
        let entries = std::fs::read_dir(&folder).map_err(|e| {
            format!(
                "cannot list {}: {e} (an app keeps its scenarios there)",
                folder.display()
            )
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| format!("cannot list {}: {e}", folder.display()))?
                .path();
            if path.extension().is_some_and(|x| x == "toml") {
                files.push(path);
            }
        }
        files.sort();
        let name = |f: &PathBuf| f.file_stem().map(|s| s.to_string_lossy().into_owned());
        match only {
            None if files.is_empty() => {
                Err(format!("{} holds no scenario (*.toml)", folder.display()))
            }
            None => Ok(files),
            Some(only) => {
                let names: Vec<String> = files.iter().filter_map(name).collect();
                files.retain(|f| name(f).as_deref() == Some(only));
                if files.is_empty() {
                    return Err(format!(
                        "{} has no scenario {only:?} (it has: {})",
                        folder.display(),
                        names.join(", ")
                    ));
                }
                Ok(files)
            }
        }
    }

    /// Runs that passed and failed (one per scenario and seed).
    #[derive(Default)]
    struct Tally {
        passed: u64,
        failed: u64,
    }

    /// Checks one scenario file: each seed twice in this process; its first
    /// seed once more in a fresh process, under madsim's own determinism
    /// check, and against the snapshot.
    fn check_file(file: &Path, sweep: Option<u64>, accept: bool, tally: &mut Tally) {
        let name = file
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let scenario = match Scenario::load(file) {
            Ok(scenario) => scenario,
            Err(e) => {
                eprintln!("FAILED {name}: {e}");
                tally.failed += 1;
                return;
            }
        };
        let mut seeds = scenario.seeds.clone();
        seeds.extend((1..=sweep.unwrap_or(0)).filter(|s| !scenario.seeds.contains(s)));
        let total = seeds.len();
        let snapshot = snapshot::path_of(file);
        let source = format!("scenarios/{name}.toml");
        for (n, &seed) in seeds.iter().enumerate() {
            let replay = format!("rusm sim {} --seed {seed}", file.display());
            let fresh = |seed| fresh_process(file, seed);
            let pinned = Pinned {
                snapshot: &snapshot,
                source: &source,
                accept,
                accept_with: "rusm test --accept",
                fresh: Some(&fresh),
            };
            let first = n == 0;
            match check_seed(&scenario, seed, first.then_some(&pinned)) {
                Ok(note) => {
                    tally.passed += 1;
                    if first || sweep.is_some() {
                        eprintln!("ok     {name} seed {seed} ({}/{total}){note}", n + 1);
                    }
                }
                Err(report) => {
                    tally.failed += 1;
                    eprintln!("FAILED {name} seed {seed}: {report}\nreplay: {replay}\n");
                }
            }
        }
    }

    /// The trace `rusm sim` prints for `file` and `seed` in a process of
    /// its own (what a user's replay will see), and what it said on stderr.
    fn fresh_process(file: &Path, seed: u64) -> Result<(String, String), String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this rusm: {e}"))?;
        let out = std::process::Command::new(exe)
            .arg("sim")
            .arg(file)
            .args(["--seed", &seed.to_string()])
            .output()
            .map_err(|e| format!("cannot run rusm sim in a fresh process: {e}"))?;
        let trace = String::from_utf8(out.stdout)
            .map_err(|_| "rusm sim printed a trace that is not UTF-8".to_string())?;
        Ok((trace, String::from_utf8_lossy(&out.stderr).into_owned()))
    }
}
