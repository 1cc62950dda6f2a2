//! Embeds `templates/` (the apps `rusm new` writes) in the binary: an
//! installed rusm needs no checkout to create an app.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, found);
        } else {
            found.push(path);
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-changed=build.rs");
    let mut out =
        String::from("/// Each template's files: (template, [(path in the app, bytes)]).\n");
    out.push_str("pub const TEMPLATES: &[(&str, &[File])] = &[\n");
    let mut templates: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("templates/")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    templates.sort();
    for template in templates {
        let name = template.file_name().unwrap().to_string_lossy().into_owned();
        writeln!(out, "    ({name:?}, &[").unwrap();
        let mut found = Vec::new();
        files(&template, &mut found);
        for file in found {
            let relative = file
                .strip_prefix(&template)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            writeln!(
                out,
                "        ({relative:?}, include_bytes!({:?})),",
                file.display().to_string()
            )
            .unwrap();
        }
        out.push_str("    ]),\n");
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("templates.rs");
    std::fs::write(dest, out).unwrap();
}
