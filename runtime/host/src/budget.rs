//! The node's memory budget (`[runtime] memory-budget-mib`): what every
//! process together may hold. The actor core enforces it
//! ([`rusm_core::Limits::memory_budget`]); this is where its size comes from.

use std::path::{Path, PathBuf};

use crate::HostError;
use crate::log::LifecycleLog;

/// Under simulation an unset budget is this, whatever the machine: a trace
/// must not depend on where it ran.
const SIMULATED_DEFAULT_MIB: u64 = 1024;

/// The budget in bytes: as configured, or else half the memory this node
/// may use (the machine's, or its cgroup's limit if lower), leaving the rest
/// to what the budget does not count: compiled code, each process's stack
/// and host state, the pages free pool slots keep (at most 1/4 of the
/// budget), the node's own buffers. (With 3/4, the hostile app in a 512 MiB
/// cgroup peaked at 390 to 512 MiB over three runs, and was once
/// OOM-killed.) Logged once, with where it came from.
pub(crate) fn resolve(configured_mib: Option<u64>) -> Result<usize, HostError> {
    let (mib, from) = match configured_mib {
        Some(mib) => (mib, "[runtime] memory-budget-mib".to_string()),
        None if cfg!(madsim) => (SIMULATED_DEFAULT_MIB, "the simulator's default".into()),
        None => {
            let (bytes, whose) = available();
            (
                (bytes / 2) >> 20,
                format!("1/2 of {whose} {} MiB", bytes >> 20),
            )
        }
    };
    if mib == 0 {
        return Err(HostError::Engine(
            "[runtime] memory-budget-mib must be at least 1".into(),
        ));
    }
    let bytes = mib
        .checked_mul(1 << 20)
        .and_then(|bytes| usize::try_from(bytes).ok())
        .ok_or_else(|| HostError::Engine("[runtime] memory-budget-mib is too large".into()))?;
    tracing::info!(target: LifecycleLog::TARGET, "memory budget {mib} MiB ({from})");
    Ok(bytes)
}

/// Memory mappings one live process takes (its memory's copy-on-write
/// image, its stack, their guard pages): ten thousand held WebSockets, two
/// processes each, ran out of Linux's default 65,530 near 6,000.
const MAPPINGS_PER_PROCESS: u64 = 6;

/// Warns at boot when `vm.max_map_count` leaves room for fewer processes
/// than `[runtime] max-processes`: past it the kernel refuses the node's
/// mappings and spawns fail. Not under simulation (nothing of the machine
/// may reach a trace).
pub(crate) fn check_map_count(max_processes: usize) {
    if cfg!(madsim) {
        return;
    }
    let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|text| text.trim().parse().ok());
    if let Some(warning) = limit.and_then(|limit| map_count_warning(limit, max_processes)) {
        tracing::warn!(target: LifecycleLog::TARGET, "{warning}");
    }
}

fn map_count_warning(max_map_count: u64, max_processes: usize) -> Option<String> {
    let room = max_map_count / MAPPINGS_PER_PROCESS;
    let wanted = (max_processes as u64).saturating_mul(MAPPINGS_PER_PROCESS * 4 / 3);
    (room < max_processes as u64).then(|| {
        format!(
            "vm.max_map_count is {max_map_count}: room for about {room} processes, fewer than \
             [runtime] max-processes = {max_processes}; raise it (sysctl -w \
             vm.max_map_count={}) or lower max-processes",
            wanted.max(262_144)
        )
    })
}

/// The memory this node may use, and whose limit that is.
fn available() -> (u64, &'static str) {
    let machine = meminfo_total().unwrap_or(u64::MAX);
    match cgroup_limit() {
        Some(limit) if limit < machine => (limit, "the cgroup's limit of"),
        _ => (machine, "this machine's"),
    }
}

fn meminfo_total() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The lowest memory limit of this process's cgroup and its ancestors,
/// cgroup v1 (`memory.limit_in_bytes`) or v2 (`memory.max`).
fn cgroup_limit() -> Option<u64> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mut lowest = None;
    for line in membership.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (root, file) = match controllers {
            c if c.split(',').any(|c| c == "memory") => {
                ("/sys/fs/cgroup/memory", "memory.limit_in_bytes")
            }
            "" => ("/sys/fs/cgroup", "memory.max"),
            _ => continue,
        };
        for dir in ancestors(Path::new(root), path) {
            // "max" (v2) and unreadable files are no limit.
            let limit = std::fs::read_to_string(dir.join(file))
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok());
            if let Some(limit) = limit {
                lowest = Some(lowest.map_or(limit, |lowest: u64| lowest.min(limit)));
            }
        }
    }
    lowest
}

/// `root/path`, then each of its parents up to `root` itself.
fn ancestors(root: &Path, path: &str) -> Vec<PathBuf> {
    let mut dirs = vec![root.to_path_buf()];
    let mut dir = root.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        dir.push(part);
        dirs.push(dir.clone());
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_count_too_small_for_max_processes_is_a_warning() {
        assert_eq!(map_count_warning(65_530, 10_000), None);
        let warning = map_count_warning(65_530, 20_000).unwrap();
        assert!(
            warning.starts_with(
                "vm.max_map_count is 65530: room for about 10921 processes, fewer than [runtime] max-processes = 20000"
            ),
            "{warning}"
        );
        assert!(
            warning.contains("sysctl -w vm.max_map_count=262144"),
            "{warning}"
        );
        assert!(
            map_count_warning(65_530, 100_000)
                .unwrap()
                .contains("=800000")
        );
    }

    #[test]
    fn a_configured_budget_is_taken_as_is() {
        assert_eq!(resolve(Some(3)).unwrap(), 3 << 20);
        assert!(resolve(Some(0)).is_err());
        assert!(resolve(Some(u64::MAX)).is_err());
    }

    #[test]
    fn the_default_is_under_what_the_machine_has() {
        let budget = resolve(None).unwrap() as u64;
        assert!(budget > 0 && budget < meminfo_total().unwrap());
    }
}
