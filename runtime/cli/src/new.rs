//! `rusm new`: writes an app that builds, runs and tests with this rusm,
//! from one of the templates under `runtime/cli/templates/` (embedded in
//! the binary). Each template carries a scenario of its own behaviour and
//! that scenario's pinned trace, so `rusm test` passes on a fresh app and
//! fails as soon as the app's behaviour changes.

use std::path::Path;
use std::process::ExitCode;

/// A template's file: its path in the app, its bytes.
type File = (&'static str, &'static [u8]);

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// The components' language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Ts,
}

/// What the app starts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// A process that answers messages and ends when idle (`rusm run`).
    Worker,
    /// A service with a typed client; its scenario kills it mid-call.
    Service,
    /// HTTP and SSE handlers (`rusm serve`); a client leaves mid-stream.
    Http,
    /// A WebSocket handler, one process per connection; a client leaves.
    Ws,
}

impl Template {
    fn name(self) -> &'static str {
        match self {
            Template::Worker => "worker",
            Template::Service => "service",
            Template::Http => "http",
            Template::Ws => "ws",
        }
    }
}

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Ts => "ts",
        }
    }
}

/// Writes the app; refuses a `dir` that exists and is not empty.
pub fn new(dir: &Path, lang: Lang, template: Template) -> Result<ExitCode, String> {
    let key = format!("{}-{}", lang.name(), template.name());
    let files = TEMPLATES
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, files)| *files)
        .ok_or_else(|| {
            format!(
                "there is no {} template for {}",
                template.name(),
                lang.name()
            )
        })?;
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() {
            return Err(format!(
                "{} exists and is not empty: rusm new writes only into a new or empty directory",
                dir.display()
            ));
        }
    } else if dir.exists() {
        return Err(format!("{} exists and is not a directory", dir.display()));
    }
    let home = rusm_build::home();
    let home = home.canonicalize().unwrap_or(home);
    let name = std::path::absolute(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".into());
    let replacements = [
        ("{{name}}", name.clone()),
        (
            "{{rusm-rs}}",
            home.join("sdk-rs/rusm-rs").display().to_string(),
        ),
        ("{{rusm-ts}}", home.join("sdk-ts").display().to_string()),
    ];
    for (path, bytes) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let bytes = match std::str::from_utf8(bytes) {
            Ok(text) => replacements
                .iter()
                .fold(text.to_string(), |text, (from, to)| text.replace(from, to))
                .into_bytes(),
            Err(_) => bytes.to_vec(),
        };
        std::fs::write(&target, bytes)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    }
    let shown = dir.display();
    eprintln!(
        "rusm new: a {} {} app in {shown}\n\n  rusm build {shown}\n  rusm test {shown}\n  {}",
        lang.name(),
        template.name(),
        match template {
            Template::Worker | Template::Service => format!("rusm run {shown}"),
            Template::Http | Template::Ws => format!("rusm serve {shown}"),
        }
    );
    Ok(ExitCode::SUCCESS)
}
