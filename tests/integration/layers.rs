//! The layers of the crate, and the rule that imports run one way (ARCHITECTURE.md):
//!
//! | layer | modules |
//! |---|---|
//! | 0 core (pure) | name, finding, profile, check, lifecycle, address, clock, report, contact |
//! | 1 adapters | dns, dnssec, net, probe, registry |
//! | 2 services | sweep, actions, activation, provision, outbox, index, postfix, notice, instructions, view |
//! | 3 edge | cli, web, config |
//!
//! A module may import its own layer and the layers below, never one above; at the edge,
//! `web` and `config` never import `cli` (the command line composes the others, not the
//! other way round). Every `crate::…` path of every file under `src/` counts, comments
//! aside.
//!
//! The imports that break the rule today are listed in `tests/fixtures/layers/allowed.txt`
//! while the restructuring removes them: a new one fails this test, and so does a listed
//! one that is gone (remove it from the list), so the list only shrinks.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::lab::repo;

const LAYERS: &[(&str, u8)] = &[
    ("name", 0),
    ("finding", 0),
    ("profile", 0),
    ("check", 0),
    ("lifecycle", 0),
    ("address", 0),
    ("clock", 0),
    ("report", 0),
    ("contact", 0),
    ("dns", 1),
    ("dnssec", 1),
    ("net", 1),
    ("probe", 1),
    ("registry", 1),
    ("sweep", 2),
    ("actions", 2),
    ("activation", 2),
    ("provision", 2),
    ("outbox", 2),
    ("index", 2),
    ("postfix", 2),
    ("notice", 2),
    ("instructions", 2),
    ("view", 2),
    ("cli", 3),
    ("web", 3),
    ("config", 3),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, layer)| *layer)
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

/// Every `importer -> imported` pair of top-level modules that breaks the rule.
fn violations(src: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![src.to_path_buf()];
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
            let relative = path.strip_prefix(src).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let module = first.to_string_lossy().trim_end_matches(".rs").to_owned();
            if module == "lib" || module == "main" {
                continue; // the crate's root composes everything
            }
            let Some(own) = layer(&module) else {
                out.insert(format!("{module}: a module in no layer (add it to LAYERS)"));
                continue;
            };
            let text = std::fs::read_to_string(&path).unwrap();
            for imported in imported_modules(&text) {
                let Some(theirs) = layer(&imported) else {
                    continue; // items of the root (crate::Lang)
                };
                let sideways_to_cli = imported == "cli" && module != "cli";
                if imported != module && (theirs > own || sideways_to_cli) {
                    out.insert(format!("{module} -> {imported}"));
                }
            }
        }
    }
    out
}

#[test]
fn imports_run_one_way() {
    let root = repo();
    let found = violations(&root.join("src"));
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
        "imports against the layers (see the table in tests/integration/layers.rs): {new:?}"
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
