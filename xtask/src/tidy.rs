//! Tidy tests: the docs say what the code does (rust-analyzer keeps its docs
//! in step the same way).

use std::path::Path;

use crate::model::status::{Status, Tally};

fn read(path: &str) -> String {
    std::fs::read_to_string(crate::project_root().join(path)).unwrap()
}

fn rust_files(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
}

#[test]
fn architecture_names_every_source_file() {
    let architecture = read("ARCHITECTURE.md");
    let mut files = Vec::new();
    rust_files(&crate::project_root().join("xtask/src"), &mut files);
    for file in files {
        let known = file == "mod.rs" || file == "tidy.rs" || architecture.contains(&file);
        assert!(known, "ARCHITECTURE.md does not say what {file} owns");
    }
}

#[test]
fn the_readme_status_table_matches_the_statuses() {
    let readme = read("README.md");
    for status in Status::ALL {
        let counts = match status.tally() {
            Tally::Passed => "passed",
            Tally::Skipped => "skipped",
            Tally::Failed => "failed",
        };
        let row = format!("| `{}` | {} | {counts} |", status.name(), status.meaning());
        assert!(readme.contains(&row), "README's status table lacks the row:\n{row}");
    }
}

#[test]
fn the_readme_test_command_needs_only_rust() {
    let readme = read("README.md");
    assert!(readme.contains("| test the project | `cargo test --workspace` |"));
    assert!(read(".ci/run").contains("cargo test --workspace"), ".ci/run must run the README's test command");
}

/// `println!` and `eprintln!` panic when the reader went away (`| head`, a
/// parent that died): in a thread that owns a container that leaves the run
/// hung and the container running. Our lines go through `say!` and `out!`.
#[test]
fn no_output_macro_can_panic() {
    fn visit(dir: &Path, offenders: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(&path, offenders);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tidy.rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (number, line) in text.lines().enumerate() {
                    if ["println!(", "print!("].iter().any(|m| line.contains(m)) {
                        offenders.push(format!("{}:{}", path.display(), number + 1));
                    }
                }
            }
        }
    }
    let mut offenders = Vec::new();
    visit(&crate::project_root().join("xtask/src"), &mut offenders);
    assert!(offenders.is_empty(), "use say!/out! instead at:\n{}", offenders.join("\n"));
}
