//! Pinned traces: a scenario's first-seed trace, kept in the app's
//! `snapshots/<scenario>.snap` in insta's file format (a header between two
//! `---` lines, then the trace), so `cargo insta` and `rusm test --accept`
//! read and write the same files.

use std::fmt;
use std::path::{Path, PathBuf};

/// A snapshot file as read: its description and the trace it pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub description: Option<String>,
    /// The pinned trace, ending in one newline.
    pub trace: String,
}

/// A snapshot file that cannot be read or is not a snapshot; the message
/// names the file and, where one is to blame, the line.
#[derive(Debug)]
pub struct SnapshotError(String);

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SnapshotError {}

/// Where the snapshot of the scenario file `scenario` lives: `snapshots/`
/// beside the `scenarios/` folder that holds it, named after the file.
pub fn path_of(scenario: &Path) -> PathBuf {
    let app = match scenario.parent().and_then(Path::parent) {
        Some(app) => app.to_path_buf(),
        // A file given by name alone, from inside `scenarios/`.
        None => PathBuf::from(".."),
    };
    let stem = scenario.file_stem().unwrap_or_default();
    app.join("snapshots").join(stem).with_extension("snap")
}

impl Snapshot {
    /// Reads the snapshot at `path`; `Ok(None)` if there is none yet.
    pub fn read(path: &Path) -> Result<Option<Snapshot>, SnapshotError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Snapshot::parse(&text)
                .map(Some)
                .map_err(|(line, why)| SnapshotError(format!("{}:{line}: {why}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SnapshotError(format!(
                "{}: cannot read: {e}",
                path.display()
            ))),
        }
    }

    /// Parses a snapshot file's text; an error is its line and why.
    fn parse(text: &str) -> Result<Snapshot, (usize, String)> {
        let mut lines = text.split_inclusive('\n');
        if lines.next().map(str::trim_end) != Some("---") {
            return Err((
                1,
                "not a snapshot: an insta snapshot begins with a `---` line".into(),
            ));
        }
        let mut description = None;
        let mut number = 1;
        let mut offset = text.find('\n').map_or(text.len(), |n| n + 1);
        loop {
            number += 1;
            let Some(line) = lines.next() else {
                return Err((
                    number,
                    "not a snapshot: its header has no closing `---` line".into(),
                ));
            };
            offset += line.len();
            let line = line.trim_end();
            if line == "---" {
                break;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err((
                    number,
                    format!("not a snapshot: {line:?} is not a `key: value` header line"),
                ));
            };
            if key == "description" {
                description = Some(
                    unquote(value.trim())
                        .ok_or((number, "the description is not a quoted string".to_string()))?,
                );
            }
        }
        Ok(Snapshot {
            description,
            trace: format!("{}\n", text[offset..].trim_end()),
        })
    }

    /// The file's text: insta's header (what pinned it, the scenario's
    /// description) and the trace.
    pub fn render(&self, source: &str) -> String {
        let mut text = format!("---\nsource: {source}\n");
        if let Some(description) = &self.description {
            // A JSON string is a YAML double-quoted scalar, as insta writes.
            let quoted = serde_json::to_string(description).expect("a string encodes");
            text.push_str(&format!("description: {quoted}\n"));
        }
        text.push_str("expression: trace\n---\n");
        text.push_str(&self.trace);
        text
    }

    /// Writes it to `path` (its folder created if missing).
    pub fn write(&self, path: &Path, source: &str) -> Result<(), SnapshotError> {
        let failed =
            |e: std::io::Error| SnapshotError(format!("{}: cannot write: {e}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        std::fs::write(path, self.render(source)).map_err(failed)
    }
}

/// A YAML double-quoted (or plain) scalar's value, as insta writes
/// descriptions.
fn unquote(value: &str) -> Option<String> {
    if value.starts_with('"') {
        serde_json::from_str(value).ok()
    } else {
        Some(value.to_string())
    }
}

/// The pinned trace against the new one as a unified diff (`-` pinned,
/// `+` now), with a little context: what a failed check prints.
pub fn diff(pinned: &str, now: &str) -> String {
    similar::TextDiff::from_lines(pinned, now)
        .unified_diff()
        .context_radius(3)
        .header("pinned", "now")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_reads_back_what_it_wrote() {
        let snapshot = Snapshot {
            description: Some("two \"clients\",\none leaves".into()),
            trace: "      0.000ms  spawn sim#1\n      5.000ms  end\n".into(),
        };
        let text = snapshot.render("scenarios/x.toml");
        assert_eq!(Snapshot::parse(&text), Ok(snapshot));
    }

    #[test]
    fn the_repository_snapshots_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../snapshots");
        let file = dir.join("sse-disconnect.snap");
        let snapshot = Snapshot::read(&file).unwrap().unwrap();
        assert!(snapshot.description.unwrap().starts_with("An SSE client"));
        assert!(
            snapshot.trace.ends_with("800.000ms  end\n"),
            "{}",
            snapshot.trace
        );
    }

    #[test]
    fn a_file_that_is_not_a_snapshot_is_named_with_its_line() {
        for (text, line, why) in [
            ("hello\n", 1, "begins with a `---` line"),
            ("---\nsource: x\n", 3, "no closing `---` line"),
            (
                "---\nsource: x\njunk\n---\n",
                3,
                "\"junk\" is not a `key: value`",
            ),
        ] {
            let (at, message) = Snapshot::parse(text).unwrap_err();
            assert_eq!(at, line, "{text:?}");
            assert!(message.contains(why), "{message}");
        }
    }

    #[test]
    fn a_snapshot_sits_beside_the_scenarios_folder() {
        assert_eq!(
            path_of(Path::new("app/scenarios/leave.toml")),
            Path::new("app/snapshots/leave.snap")
        );
        assert_eq!(
            path_of(Path::new("scenarios/leave.toml")),
            Path::new("snapshots/leave.snap")
        );
        assert_eq!(
            path_of(Path::new("leave.toml")),
            Path::new("../snapshots/leave.snap")
        );
    }

    #[test]
    fn the_diff_shows_both_sides() {
        let diff = diff("a\nb\nc\n", "a\nB\nc\n");
        assert!(diff.contains("-b\n+B\n"), "{diff}");
    }
}
