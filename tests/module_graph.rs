//! The library's module graph is a DAG with the command line outside it: no library module names `cli` or
//! `commands` (they are the binary's), and no two top-level modules import each other, directly or through others.
//! Read from the `crate::` paths in the source, test modules (`#[cfg(test)]` to the end of a file) excluded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module -> the top-level modules its non-test code names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .replace(".rs", "");
            if ["main", "lib", "cli", "commands"].contains(&top.as_str()) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            let deps = graph.entry(top.clone()).or_default();
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != top && name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                    deps.insert(name);
                }
            }
        }
    }
    graph
}

#[test]
fn no_library_module_reaches_up_into_the_command_line() {
    for (module, deps) in graph() {
        assert!(
            !deps.contains("cli") && !deps.contains("commands"),
            "{module} imports from the command line: {deps:?}"
        );
    }
}

#[test]
fn top_level_modules_form_a_dag() {
    let graph = graph();
    // Depth-first search for a back edge, reporting the cycle it closes.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle between top-level modules: {}", cycle.join(" -> "));
        }
    }
}

/// No two of the dataset module's files (the bottom of the library) import each other: an edge runs
/// from a file to each sibling it names by `super::<file>::`, `crate::dataset::<file>::`, or through a name that
/// dataset/mod.rs re-exports from that sibling.
#[test]
fn dataset_submodules_form_a_dag() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/dataset");
    let root = std::fs::read_to_string(dir.join("mod.rs")).unwrap();
    // Re-exported name -> the file it comes from (`pub use manifest::{Origin, ...};`).
    let mut exported: BTreeMap<String, String> = BTreeMap::new();
    for line in root.lines().filter_map(|l| l.strip_prefix("pub use ")) {
        let line = line.trim_start_matches("self::");
        let Some((module, names)) = line.split_once("::") else {
            continue;
        };
        for name in names.trim_matches(|c| "{};".contains(c)).split(',') {
            exported.insert(name.trim().to_string(), module.to_string());
        }
    }
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".rs").map(str::to_string))
        .filter(|f| f != "mod")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(dir.join(format!("{file}.rs"))).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let deps = graph.entry(file.clone()).or_default();
        for prefix in ["super::", "crate::dataset::"] {
            for (i, _) in code.match_indices(prefix) {
                let rest = &code[i + prefix.len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(group) => group.split('}').next().unwrap().split(',').collect(),
                    None => vec![rest],
                };
                for name in names {
                    let name: String = name
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    let target = if files.contains(&name) {
                        Some(&name)
                    } else {
                        exported.get(&name)
                    };
                    if let Some(target) = target.filter(|t| *t != file) {
                        deps.insert(target.clone());
                    }
                }
            }
        }
    }
    // The parse sees the real edges (the writer uses the manifest's types), so the check below is not vacuous.
    assert!(graph["writer"].contains("manifest"), "{graph:?}");
    for (a, deps) in &graph {
        for b in deps {
            assert!(
                !graph.get(b).is_some_and(|d| d.contains(a)),
                "dataset/{a}.rs and dataset/{b}.rs import each other"
            );
        }
    }
}
