//! The server's layout holds: each role folder imports only the folders below it, and no source file
//! imports one that imports it back. Read from the sources' `crate::` and `super::` paths, so a
//! change that breaks the layering fails here, not in review.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// The layers, top first: a file may use its own folder and the layers below its own.
const LAYERS: &[&[&str]] = &[
    &["main", "lib", "server", "local"],
    &["transport"],
    &["edge"],
    &["doors"],
    &["pipeline"],
    &["upstream"],
    &["ops"],
    &["config", "error"],
];

type Module = Vec<String>;

/// Every source file of `server/src` as its module path, with its text outside unit tests.
fn sources() -> BTreeMap<Module, String> {
    let mut sources = BTreeMap::new();
    collect(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut Vec::new(), &mut sources);
    sources
}

fn collect(dir: &Path, module: &mut Module, sources: &mut BTreeMap<Module, String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            module.push(name);
            collect(&path, module, sources);
            module.pop();
        } else if path.extension().is_some_and(|extension| extension == "rs")
            && !matches!(name.as_str(), "tests" | "test_support")
        {
            let mut file = module.clone();
            if name != "mod" {
                file.push(name);
            }
            sources.insert(file, outside_unit_tests(&fs::read_to_string(&path).unwrap()));
        }
    }
}

/// `text` up to its unit tests, without comments.
fn outside_unit_tests(text: &str) -> String {
    let mut kept = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "#[cfg(test)]" && lines.peek().is_some_and(|next| next.starts_with("mod tests")) {
            break;
        }
        if !line.trim_start().starts_with("//") {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

/// The files `module`'s text names through `crate::` and `super::` paths.
fn imports(module: &Module, text: &str, files: &BTreeSet<Module>) -> BTreeSet<Module> {
    let mut found = BTreeSet::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent(module))] {
        for (start, _) in text.match_indices(prefix) {
            if start > 0 && text[..start].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut path = base.clone();
            path.extend(
                text[start + prefix.len()..]
                    .split("::")
                    .map(|part| part.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>())
                    .take_while(|part| !part.is_empty()),
            );
            // Of a group (`crate::{a, b::c}`) this reads nothing: groups are read below.
            if let Some(file) = (1..=path.len()).rev().map(|len| path[..len].to_vec()).find(|file| files.contains(file))
                && &file != module
            {
                found.insert(file);
            }
        }
    }
    for group in text.split("use crate::{").skip(1) {
        let group = &group[..group.find("};").unwrap_or(group.len())];
        for item in group.split(',') {
            let path: Module = item
                .trim()
                .split("::")
                .map(|part| part.trim_matches(|c| c == '{' || c == '}').trim().to_owned())
                .collect();
            if let Some(file) = (1..=path.len()).rev().map(|len| path[..len].to_vec()).find(|file| files.contains(file))
                && &file != module
            {
                found.insert(file);
            }
        }
    }
    found
}

/// The module `super` names from `module`'s file (a folder's `mod.rs` is the folder's module).
fn parent(module: &Module) -> Module {
    module[..module.len().saturating_sub(1)].to_vec()
}

fn layer(module: &Module) -> usize {
    let top = module.first().map_or("lib", String::as_str);
    LAYERS.iter().position(|layer| layer.contains(&top)).unwrap_or_else(|| panic!("{top} is in no layer of LAYERS"))
}

#[test]
fn each_role_folder_imports_only_the_folders_below_it() {
    let sources = sources();
    let files: BTreeSet<Module> = sources.keys().cloned().collect();
    let mut upward = Vec::new();
    for (module, text) in &sources {
        for import in imports(module, text, &files) {
            let same_folder = module.first() == import.first();
            if !same_folder && layer(&import) <= layer(module) {
                upward.push(format!("{} -> {}", module.join("/"), import.join("/")));
            }
        }
    }
    assert!(upward.is_empty(), "imports of a layer not below the importer's:\n{}", upward.join("\n"));
}

#[test]
fn no_source_file_imports_one_that_imports_it_back() {
    let sources = sources();
    let files: BTreeSet<Module> = sources.keys().cloned().collect();
    let graph: BTreeMap<&Module, BTreeSet<Module>> =
        sources.iter().map(|(module, text)| (module, imports(module, text, &files))).collect();
    let mut circles = Vec::new();
    for start in graph.keys() {
        // Every file reachable from `start`; `start` among them is a circle through it.
        let mut seen = BTreeSet::new();
        let mut next: Vec<&Module> = graph[start].iter().collect();
        while let Some(module) = next.pop() {
            if seen.insert(module.clone()) {
                next.extend(graph.get(module).into_iter().flatten());
            }
        }
        if seen.contains(*start) {
            circles.push(start.join("/"));
        }
    }
    assert!(circles.is_empty(), "files in an import circle:\n{}", circles.join("\n"));
}
