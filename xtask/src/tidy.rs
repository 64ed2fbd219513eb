//! Tidy tests: the docs say what the code does (rust-analyzer keeps its docs
//! in step the same way).

use std::path::Path;

use crate::model::status::{Status, Tally};

fn read(path: &str) -> String {
    std::fs::read_to_string(crate::project_root().join(path)).unwrap()
}

/// Every file by its whole path: three `compare.rs` are three files.
#[test]
fn architecture_names_every_source_file() {
    let architecture = read("ARCHITECTURE.md");
    for (file, _) in sources() {
        let row = format!("| `xtask/src/{file}` |");
        assert!(architecture.contains(&row), "ARCHITECTURE.md has no row saying what xtask/src/{file} owns");
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

/// The layers of `xtask/src`, read from ARCHITECTURE.md's "Layers" table:
/// each row is `| name | rank | paths | ... |`, paths relative to
/// `xtask/src` (a folder ends in `/`). Higher ranks may import lower ones.
fn layers(architecture: &str) -> Vec<(String, u32)> {
    table_rows(architecture)
        .into_iter()
        .flat_map(|(rank, files, _)| files.into_iter().map(move |f| (f, rank)))
        .collect()
}

/// The one import upward a row allows: a file its "may import" cell names
/// (`tasks/` take `cli.rs`'s option types, which stop there).
fn upward_allowed(architecture: &str) -> Vec<(String, String)> {
    table_rows(architecture)
        .into_iter()
        .flat_map(|(_, files, allowed)| {
            files.into_iter().flat_map(move |f| allowed.clone().into_iter().map(move |a| (f.clone(), a)))
        })
        .collect()
}

/// `(rank, files, files named in "may import")` of each row of the Layers table.
fn table_rows(architecture: &str) -> Vec<(u32, Vec<String>, Vec<String>)> {
    let section = architecture.split("## Layers").nth(1).expect("ARCHITECTURE.md has a Layers section");
    let quoted = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .filter(|p| p.ends_with(".rs") || p.ends_with('/'))
            .map(str::to_string)
            .collect()
    };
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let rank = cells.get(2)?.parse::<u32>().ok()?;
            Some((rank, quoted(cells[3]), cells.get(4).map_or(Vec::new(), |c| quoted(c))))
        })
        .collect()
}

/// The rank of a file (`engine/mod.rs`), by the longest path of the table
/// that names it.
fn rank_of(layers: &[(String, u32)], file: &str) -> Option<u32> {
    layers
        .iter()
        .filter(|(path, _)| if path.ends_with('/') { file.starts_with(path.as_str()) } else { file == path })
        .max_by_key(|(path, _)| path.len())
        .map(|(_, rank)| *rank)
}

/// The source without comments, string literals and test modules: what is
/// left holds the code's own paths.
fn code_of(source: &str) -> String {
    let source = match source.find("#[cfg(test)]\nmod tests") {
        Some(at) => &source[..at],
        None => source,
    };
    let mut code = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        code.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match (escaped, c) {
                        (false, '\\') => escaped = true,
                        (false, '"') => break,
                        _ => escaped = false,
                    }
                }
                code.push_str("\"\"");
            }
            _ => code.push(c),
        }
    }
    code
}

/// The module path (`["engine", "kinds"]`) of a file (`engine/kinds.rs`).
fn module_of(file: &str) -> Vec<String> {
    let trimmed = file.trim_end_matches(".rs");
    let mut parts: Vec<String> = trimmed.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "main") {
        parts.pop();
    }
    parts
}

/// Every crate path a file's code names: `use` items (groups expanded),
/// inline `crate::a::B` and `super::` paths, as module paths from the root.
fn imports(file: &str, source: &str, top_modules: &[String]) -> Vec<Vec<String>> {
    let code = code_of(source);
    let here = module_of(file);
    let mut found = Vec::new();
    // `use` statements, whole (they may span lines and nest groups); the
    // rest of the code is searched for inline paths.
    let mut rest = String::with_capacity(code.len());
    for statement in code.split_inclusive(';') {
        let at = statement.find("use ").filter(|at| {
            let before = statement[..*at].trim_end();
            let line_start = before.rfind(['\n', '}', '{']).map_or(before, |i| &before[i + 1..]).trim();
            ["", "pub", "pub(crate)"].contains(&line_start)
        });
        match at {
            Some(at) => {
                rest.push_str(&statement[..at]);
                let tree: String = statement[at + 4..]
                    .trim_end_matches(';')
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                found.extend(expand(&tree));
            }
            None => rest.push_str(statement),
        }
    }
    for (at, _) in rest.match_indices("crate::").chain(rest.match_indices("super::")) {
        let starts_word =
            rest[..at].chars().last().is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
        if starts_word {
            let path: String =
                rest[at..].chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            found.push(path.split("::").filter(|p| !p.is_empty()).map(str::to_string).collect());
        }
    }
    found
        .into_iter()
        .filter_map(|path| {
            let first = path.first()?.clone();
            match first.as_str() {
                "crate" => Some(path[1..].to_vec()),
                "super" => {
                    let mut base = here.clone();
                    let mut rest = &path[..];
                    while rest.first().is_some_and(|p| p == "super") {
                        base.pop();
                        rest = &rest[1..];
                    }
                    base.extend(rest.iter().cloned());
                    Some(base)
                }
                "self" => Some(here.iter().chain(&path[1..]).cloned().collect()),
                // In the crate root, `use engine::X` names the crate's own module.
                name if here.is_empty() && top_modules.iter().any(|m| m == name) => Some(path),
                _ => None,
            }
        })
        .filter(|path| !path.is_empty())
        .collect()
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree);
        return vec![path.split("::").filter(|p| !p.is_empty()).map(str::to_string).collect()];
    };
    let prefix: Vec<String> =
        tree[..open].split("::").filter(|p| !p.is_empty()).map(str::to_string).collect();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .flat_map(|item| {
            expand(item).into_iter().map(|rest| {
                let mut path = prefix.clone();
                path.extend(rest.into_iter().filter(|p| p != "self"));
                path
            })
        })
        .collect()
}

/// The file a module path lands in: its longest prefix that is a file.
fn file_of(path: &[String], files: &[String]) -> Option<String> {
    (1..=path.len()).rev().find_map(|n| {
        let joined = path[..n].join("/");
        [format!("{joined}.rs"), format!("{joined}/mod.rs")].into_iter().find(|f| files.contains(f))
    })
}

/// What breaks the layering: an import that points to a higher layer, or
/// a circle of imports within one layer.
fn layering_errors(
    sources: &[(String, String)],
    layers: &[(String, u32)],
    allowed: &[(String, String)],
) -> Vec<String> {
    let files: Vec<String> = sources.iter().map(|(f, _)| f.clone()).collect();
    let top_modules: Vec<String> = files
        .iter()
        .filter_map(|f| module_of(f).first().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut errors = Vec::new();
    let mut edges: Vec<(String, String)> = Vec::new();
    for (file, source) in sources {
        let Some(rank) = rank_of(layers, file) else {
            errors.push(format!("{file} is in no layer of ARCHITECTURE.md's table"));
            continue;
        };
        let mut reported = Vec::new();
        for path in imports(file, source, &top_modules) {
            let Some(target) = file_of(&path, &files) else { continue };
            if &target == file {
                continue;
            }
            let Some(target_rank) = rank_of(layers, &target) else { continue };
            let excepted = allowed.iter().any(|(from, to)| {
                let prefix = |p: &str, f: &str| if p.ends_with('/') { f.starts_with(p) } else { f == p };
                prefix(from, file) && prefix(to, &target)
            });
            if target_rank > rank && !excepted && !reported.contains(&target) {
                reported.push(target.clone());
                errors.push(format!("{file} imports {} from {target}, a higher layer", path.join("::")));
            } else if target_rank == rank && !edges.contains(&(file.clone(), target.clone())) {
                edges.push((file.clone(), target));
            }
        }
    }
    // Circles within a layer: a file that reaches itself.
    for file in &files {
        let mut seen = vec![file.clone()];
        let mut frontier = vec![file.clone()];
        while let Some(next) = frontier.pop() {
            for (_, to) in edges.iter().filter(|(from, _)| *from == next) {
                if to == file {
                    errors.push(format!("{file} is in an import circle (through {next})"));
                } else if !seen.contains(to) {
                    seen.push(to.clone());
                    frontier.push(to.clone());
                }
            }
        }
    }
    errors.sort();
    errors.dedup();
    errors
}

/// Every `.rs` file under `xtask/src`, relative to it, with its text.
fn sources() -> Vec<(String, String)> {
    let root = crate::project_root().join("xtask/src");
    let mut paths = Vec::new();
    fn walk(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    walk(&root, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.strip_prefix(&root).unwrap().to_string_lossy().into_owned(), text)
        })
        .collect()
}

#[test]
fn imports_point_down_the_layers_and_form_no_circle() {
    let architecture = read("ARCHITECTURE.md");
    let errors = layering_errors(&sources(), &layers(&architecture), &upward_allowed(&architecture));
    assert!(errors.is_empty(), "the layering of ARCHITECTURE.md is broken:\n{}", errors.join("\n"));
}

#[test]
fn the_layering_check_catches_grouped_inline_and_super_paths() {
    let layers: Vec<(String, u32)> = [("model/", 1), ("report/", 2), ("cli.rs", 3), ("main.rs", 3)]
        .iter()
        .map(|(p, r)| (p.to_string(), *r))
        .collect();
    let check = |file: &str, source: &str| {
        let sources = vec![
            (file.to_string(), source.to_string()),
            ("cli.rs".to_string(), String::new()),
            ("report/mod.rs".to_string(), String::new()),
            ("report/human.rs".to_string(), String::new()),
            ("model/mod.rs".to_string(), String::new()),
            ("model/status.rs".to_string(), String::new()),
        ];
        layering_errors(&sources, &layers, &[("report/".to_string(), "cli.rs".to_string())])
    };
    let grouped = check("model/result.rs", "use crate::{model::status::Status, report::human::Human};\n");
    assert_eq!(
        grouped,
        ["model/result.rs imports report::human::Human from report/human.rs, a higher layer"]
    );
    let inline = check("model/result.rs", "fn f() -> String { crate::report::human_bytes(1) }\n");
    assert_eq!(inline, ["model/result.rs imports report::human_bytes from report/mod.rs, a higher layer"]);
    let nested = check("model/result.rs", "use crate::report::{self, human::{Human, Event}};\n");
    assert_eq!(nested.len(), 2, "{nested:?}");
    let above = check("model/result.rs", "fn f() { super::super::cli::parse() }\n");
    assert_eq!(above, ["model/result.rs imports cli::parse from cli.rs, a higher layer"]);
    assert!(
        check("report/json.rs", "use super::human::Human;\nuse crate::model::status::Status;\n").is_empty()
    );
    let commented = "// crate::report::x\nconst A: &str = \"crate::cli::y\";\n#[cfg(test)]\nmod tests { use crate::cli; }\n";
    assert!(check("model/result.rs", commented).is_empty(), "comments, strings and tests are not imports");
    let circle = vec![
        ("report/a.rs".to_string(), "use crate::report::b::X;".to_string()),
        ("report/b.rs".to_string(), "use super::a::Y;".to_string()),
    ];
    let errors = layering_errors(&circle, &layers, &[]);
    assert!(check("report/json.rs", "use crate::cli::X;\n").is_empty(), "an upward import the table allows");
    assert!(errors.iter().any(|e| e.contains("report/a.rs is in an import circle")), "{errors:?}");
}

/// Files that may match on `Execution` or `Status`: what an ending means is
/// decided in `model/status.rs`; `report/words.rs` says it.
const MAY_MATCH_ENDINGS: [&str; 2] = ["model/status.rs", "report/words.rs"];

/// Lines of code that match on an `Execution` or `Status` variant.
fn ending_matches(source: &str) -> Vec<usize> {
    let code = code_of(source);
    let mut found = Vec::new();
    for (number, line) in code.lines().enumerate() {
        let trimmed = line.trim_start().trim_start_matches("| ");
        let names_variant = |text: &str| text.contains("Execution::") || text.contains("Status::");
        let pattern = line.split("=>").next().filter(|_| line.contains("=>")).is_some_and(names_variant)
            || (trimmed.starts_with("Execution::") || trimmed.starts_with("Status::"))
                && line.trim_end().ends_with('|')
            || ["matches!(", "if let ", "while let ", "let Execution::", "let Status::"]
                .iter()
                .any(|m| line.split(m).nth(1).is_some_and(names_variant));
        if pattern {
            found.push(number + 1);
        }
    }
    found
}

#[test]
fn only_the_model_decides_what_an_ending_means() {
    let mut offenders = Vec::new();
    for (file, source) in sources() {
        if !MAY_MATCH_ENDINGS.contains(&file.as_str()) {
            offenders.extend(ending_matches(&source).into_iter().map(|line| format!("{file}:{line}")));
        }
    }
    assert!(
        offenders.is_empty(),
        "match on Execution/Status outside model/status.rs at:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_ending_check_sees_arms_guards_and_lets() {
    assert_eq!(ending_matches("match e {\n    Execution::Passed => 1,\n    _ => 2,\n}\n"), [2]);
    assert_eq!(ending_matches("match e {\n    Status::Pass\n    | Status::Skip => 1,\n}\n"), [3]);
    assert_eq!(ending_matches("if let Execution::Failed { .. } = e {}\n"), [1]);
    assert_eq!(ending_matches("let ok = matches!(s, Status::Pass);\n"), [1]);
    assert!(ending_matches(
        "let e = Execution::Failed { exit_code: 1, why: None };\nx => Execution::Passed,\n"
    )
    .is_empty());
}

/// Nothing below `tasks/` prints for people but the renderers of `report/`:
/// the runner emits events and the engine and image builds notices.
#[test]
fn only_renderers_print_below_the_tasks() {
    let architecture = read("ARCHITECTURE.md");
    let layers = layers(&architecture);
    let mut offenders = Vec::new();
    for (file, source) in sources() {
        let below_tasks = rank_of(&layers, &file).is_some_and(|rank| rank < 4);
        if below_tasks && !file.starts_with("report/") {
            for (number, line) in code_of(&source).lines().enumerate() {
                if ["say!(", "out!(", "print_quietly("].iter().any(|m| line.contains(m)) {
                    offenders.push(format!("{file}:{}", number + 1));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "send a Notice or an Event instead of printing at:\n{}",
        offenders.join("\n")
    );
}

/// README's run options table and `run --help` name the same options.
#[test]
fn the_readme_options_table_matches_the_run_flags() {
    let readme = read("README.md");
    let section = readme.split("### Run options").nth(1).expect("README has a Run options section");
    let table: Vec<&str> =
        section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')).collect();
    let run = crate::cli::command().find_subcommand("run").unwrap().clone();
    let flags: Vec<String> = run
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "help")
        .map(str::to_string)
        .collect();
    for flag in &flags {
        let named = table
            .iter()
            .any(|row| row.contains(&format!("`--{flag}")) || row.contains(&format!(", --{flag}")));
        assert!(named, "README's run options table has no row for --{flag}");
    }
    for row in &table[2..] {
        let first = row.split('|').nth(1).unwrap_or("");
        for named in first.split('`').skip(1).step_by(2).filter_map(|cell| cell.strip_prefix("--")) {
            let name = named.split([' ', '=']).next().unwrap_or("");
            let known = flags.iter().any(|f| f == name)
                || run
                    .get_arguments()
                    .any(|a| a.get_all_aliases().is_some_and(|aliases| aliases.contains(&name)));
            assert!(name.is_empty() || known, "README names --{name}, which `run` does not take");
        }
    }
}
