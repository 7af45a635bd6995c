//! ARCHITECTURE.md is kept true: every path it names exists, and no module imports what its
//! code map says it never imports.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn architecture() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap()
}

/// The spans in backticks of `text`.
fn quoted(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Paths named in the document: quoted, starting with one of the project's folders.
fn named_paths(text: &str) -> Vec<&str> {
    quoted(text)
        .into_iter()
        .filter(|q| {
            ["src/", "tests/", "bench/", "examples/", "docs/", "assets/"]
                .iter()
                .any(|folder| q.starts_with(folder))
        })
        .collect()
}

/// The code map's rows: the paths of a row and the modules they never import.
fn rules(text: &str) -> Vec<(Vec<&str>, Vec<&str>)> {
    text.lines()
        .filter(|line| line.starts_with("| `src/"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let paths = quoted(cells[1]);
            let forbidden = quoted(cells[cells.len() - 2]);
            (paths, forbidden)
        })
        .collect()
}

fn rust_files(path: &Path, found: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), found);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        found.push(path.to_path_buf());
    }
}

/// The modules of the crate a file's code names (`crate::x`, `use crate::{x, y}`), comments
/// left out.
fn imports(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or_default();
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or_default();
                names.extend(
                    group
                        .split(',')
                        .map(|n| n.trim().split("::").next().unwrap_or_default().to_string()),
                );
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.push(name);
            }
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

#[test]
fn every_path_it_names_exists() {
    let text = architecture();
    let paths = named_paths(&text);
    assert!(paths.len() > 20, "the code map names the project's parts");
    for path in paths {
        assert!(
            Path::new(ROOT).join(path).exists(),
            "ARCHITECTURE.md names {path}, which does not exist"
        );
    }
}

#[test]
fn every_folder_of_src_is_in_the_code_map() {
    let text = architecture();
    for entry in std::fs::read_dir(Path::new(ROOT).join("src")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name == "lib.rs" {
            continue;
        }
        let shown = if name.ends_with(".rs") {
            format!("`src/{name}`")
        } else {
            format!("`src/{name}/`")
        };
        assert!(
            text.contains(&shown),
            "src/{name} is missing from ARCHITECTURE.md"
        );
    }
}

#[test]
fn no_module_imports_what_the_code_map_forbids() {
    let text = architecture();
    let rules = rules(&text);
    assert!(rules.len() >= 10);
    let mut checked = 0;
    for (paths, forbidden) in rules {
        for path in paths {
            let mut files = Vec::new();
            rust_files(&Path::new(ROOT).join(path), &mut files);
            for file in files {
                let code = std::fs::read_to_string(&file).unwrap();
                for name in imports(&code) {
                    assert!(
                        !forbidden.contains(&name.as_str()),
                        "{} imports crate::{name}, which ARCHITECTURE.md says {path} never imports",
                        file.display()
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "{checked} files checked");
}

#[test]
fn the_import_reader_sees_paths_and_groups_but_not_comments() {
    let code = "use crate::serve::Server;\nuse crate::{board, text::escape};\n/// [`crate::ui`]\nlet x = crate::app::update(); // crate::cli\n";
    assert_eq!(imports(code), ["serve", "board", "text", "app"]);
}
