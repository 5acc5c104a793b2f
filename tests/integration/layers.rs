//! The layers of the crate, and the rule that imports run one way (ARCHITECTURE.md):
//!
//! | layer | folder |
//! |---|---|
//! | 0 core (pure) | `src/core/` |
//! | 1 adapters | `src/adapters/` |
//! | 2 services | `src/services/` |
//! | 3 edge | `src/edge/` |
//!
//! A module's layer is the folder it lives in (`src/lib.rs` maps each with `#[path]`, so its
//! path stays `crate::name`); a source file outside the four folders fails the test.
//!
//! A module may import its own layer and the layers below, never one above; at the edge,
//! `web` and `config` never import `cli` (the command line composes the others, not the
//! other way round). Every `crate::…` path of every file under `src/` counts, comments
//! aside.
//!
//! Within a layer, no two modules may reach each other through their imports (directly
//! or through others): a cycle `a <-> b` fails the suite too.
//!
//! The imports that break the rule today are listed in `tests/fixtures/layers/allowed.txt`
//! (and the cycles, as `a <-> b`) while the restructuring removes them: a new one fails
//! this test, and so does a listed one that is gone (remove it from the list), so the list
//! only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::lab::repo;

/// The layer folders under `src/`, lowest first: a module's layer is the folder it lives in.
const LAYERS: &[(&str, u8)] = &[("core", 0), ("adapters", 1), ("services", 2), ("edge", 3)];

/// Every top-level module of the crate and its layer, read from the folders: `src/core/name.rs`
/// is module `name` in layer 0, `src/adapters/registry/` module `registry` in layer 1.
fn modules(src: &Path) -> BTreeMap<String, u8> {
    let mut found = BTreeMap::new();
    for (folder, layer) in LAYERS {
        for entry in std::fs::read_dir(src.join(folder)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            found.insert(name.trim_end_matches(".rs").to_owned(), *layer);
        }
    }
    found
}

/// The top-level modules a source text names through `crate::…` paths, braces included
/// (`crate::{a::b, c}` names `a` and `c`). Lines that are comments are skipped.
fn imported_modules(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .map(|line| format!("{line}\n"))
        .collect();
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let preceded = rest[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[at + "crate::".len()..];
        if preceded {
            continue; // `pecwatch_crate::` or the like
        }
        if let Some(group) = rest.strip_prefix('{') {
            // The top-level items of the brace group.
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (depth == 1 && c == ',') {
                    found.extend(first_segment(&item));
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                } else if depth == 1 {
                    item.push(c);
                } else {
                    item.push(' ');
                }
            }
        } else {
            found.extend(first_segment(rest));
        }
    }
    found
}

fn first_segment(path: &str) -> Option<String> {
    let name: String = path
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Every top-level module with the top-level modules its files import; a source file
/// outside the layer folders (the crate's root aside) is listed under its own name with no
/// layer, so that [`violations`] reports it.
fn imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let layered = LAYERS.iter().any(|(folder, _)| *folder == name);
        if !layered && name != "lib.rs" && name != "main.rs" {
            out.insert(format!("src/{name}"), BTreeSet::new());
        }
    }
    for (folder, _) in LAYERS {
        let mut stack = vec![src.join(folder)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let relative = path.strip_prefix(src.join(folder)).unwrap();
                let first = relative.components().next().unwrap().as_os_str();
                let module = first.to_string_lossy().trim_end_matches(".rs").to_owned();
                let text = std::fs::read_to_string(&path).unwrap();
                let found = out.entry(module.clone()).or_default();
                found.extend(imported_modules(&text).into_iter().filter(|m| *m != module));
            }
        }
    }
    out
}

/// Every `importer -> imported` pair of top-level modules that breaks the rule.
fn violations(
    layers: &BTreeMap<String, u8>,
    imports: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (module, imported) in imports {
        let Some(&own) = layers.get(module) else {
            out.insert(format!(
                "{module}: outside the layer folders (move it into one)"
            ));
            continue;
        };
        for imported in imported {
            let Some(&theirs) = layers.get(imported) else {
                continue; // items of the root (crate::Lang)
            };
            let sideways_to_cli = imported == "cli" && module != "cli";
            if theirs > own || sideways_to_cli {
                out.insert(format!("{module} -> {imported}"));
            }
        }
    }
    out
}

/// Every pair of modules that reach each other through their imports, as `a <-> b`
/// (`a` first in name order).
fn cycles(imports: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(module) = stack.pop() {
            for next in imports.get(&module).into_iter().flatten() {
                if imports.contains_key(next) && seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        imports.keys().map(|m| (m, reach(m))).collect();
    let mut out = BTreeSet::new();
    for (a, from_a) in &reached {
        for b in from_a {
            if a.as_str() < b.as_str() && reached.get(b).is_some_and(|from_b| from_b.contains(*a)) {
                out.insert(format!("{a} <-> {b}"));
            }
        }
    }
    out
}

#[test]
fn imports_run_one_way() {
    let root = repo();
    let imports = imports(&root.join("src"));
    let mut found = violations(&modules(&root.join("src")), &imports);
    found.extend(cycles(&imports));
    let allowed_path = root.join("tests/fixtures/layers/allowed.txt");
    let allowed: BTreeSet<String> = std::fs::read_to_string(&allowed_path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let new: Vec<_> = found.difference(&allowed).collect();
    let gone: Vec<_> = allowed.difference(&found).collect();
    assert!(
        new.is_empty(),
        "imports against the layers, or modules reaching each other (see the table in \
         tests/integration/layers.rs): {new:?}"
    );
    assert!(
        gone.is_empty(),
        "no longer imported, remove from {}: {gone:?}",
        allowed_path.display()
    );
}

#[test]
fn the_import_reader_sees_every_form() {
    let text = "use crate::name::DomainName;\n\
                use crate::{dns::{Outcome, Reply}, finding,\n    profile::Profile};\n\
                // use crate::web;\n\
                fn f() { crate::clock::now(); }\n\
                let x = pecwatch_crate::web;\n";
    let found: Vec<String> = imported_modules(text).into_iter().collect();
    assert_eq!(found, ["clock", "dns", "finding", "name", "profile"]);
}

#[test]
fn cycles_are_found_through_other_modules() {
    let imports: BTreeMap<String, BTreeSet<String>> = [
        ("a", &["b"][..]),
        ("b", &["c"][..]),
        ("c", &["a", "name"][..]),
        ("d", &["a"][..]),
    ]
    .into_iter()
    .map(|(m, i)| (m.to_owned(), i.iter().map(|s| (*s).to_owned()).collect()))
    .collect();
    let found: Vec<String> = cycles(&imports).into_iter().collect();
    assert_eq!(found, ["a <-> b", "a <-> c", "b <-> c"]);
}
