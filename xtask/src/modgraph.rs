//! The module graph of a crate's `src/`: which top-level module names
//! which, read from the `crate::` (and crate-reaching `super::`) paths of
//! its files, and the cycles in it. `cargo xtask lint` fails on a cycle in
//! fwd's loader, so its dependencies keep pointing one way.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};

/// Top-level module -> the modules it names, each with the files that do.
pub(crate) type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<PathBuf>>>;

/// Reads every `.rs` file under `src` (but `lib.rs` and `main.rs`, which
/// only declare and call) into the graph of its top-level modules.
pub(crate) fn read(src: &Path) -> Result<Graph> {
    let mut files = Vec::new();
    collect(src, &mut files)?;
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(src, f)).collect();
    let mut graph = Graph::new();
    for file in &files {
        let Some(module) = top_module(src, file) else {
            continue;
        };
        let text =
            fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let depth = depth(src, file);
        let edges = graph.entry(module.clone()).or_default();
        for name in referenced(&text, depth) {
            if name != module && modules.contains(&name) {
                let rel = file.strip_prefix(src).unwrap_or(file).to_path_buf();
                edges.entry(name).or_default().insert(rel);
            }
        }
    }
    Ok(graph)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    Ok(())
}

/// `gc.rs` and `gc/tests.rs` are module `gc`; the crate roots are none.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" => None,
        f => Some(f.strip_suffix(".rs").unwrap_or(f).to_string()),
    }
}

/// How many `super::` reach the crate root from `file`: `m.rs` and
/// `m/mod.rs` 1, `m/c.rs` 2, ...
fn depth(src: &Path, file: &Path) -> usize {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let parts = rel.components().count();
    if rel.file_name().is_some_and(|n| n == "mod.rs") {
        parts - 1
    } else {
        parts
    }
}

/// The top-level names a file's code reaches through `crate::a`,
/// `crate::{a::x, b}` or `super::`s up to the root (comments skipped).
pub(crate) fn referenced(text: &str, depth: usize) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(strip_comment)
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = next_path(rest) {
        let (supers, after) = at;
        if supers == 0 || supers == depth {
            out.extend(heads(after));
        }
        rest = &after[after.len().min(1)..];
    }
    out
}

/// The next `crate::` or `super::`-chain; returns how many `super`s (0
/// for `crate`) and the text after the last `::`.
fn next_path(text: &str) -> Option<(usize, &str)> {
    let c = find_word(text, "crate::");
    let s = find_word(text, "super::");
    match (c, s) {
        (None, None) => None,
        (Some(c), s) if s.is_none_or(|s| c < s) => Some((0, &text[c + "crate::".len()..])),
        (_, Some(s)) => {
            let mut after = &text[s..];
            let mut n = 0;
            while let Some(r) = after.strip_prefix("super::") {
                n += 1;
                after = r;
            }
            Some((n, after))
        }
        (Some(_), None) => unreachable!("matched by the second arm"),
    }
}

/// `word` where it does not continue an identifier (`xcrate::` is not one).
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let at = from + i;
        let before = text[..at].chars().next_back();
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// The first segment of each path at the start of `text`: `a` of `a::b`,
/// `a` and `b` of `{a::x, b}` (nested groups skipped).
fn heads(text: &str) -> Vec<String> {
    let text = text.trim_start();
    let Some(group) = text.strip_prefix('{') else {
        return ident(text).into_iter().collect();
    };
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = true;
    for (i, ch) in group.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => start = true,
            c if start && !c.is_whitespace() => {
                start = false;
                out.extend(ident(&group[i..]));
            }
            _ => {}
        }
    }
    out
}

fn ident(text: &str) -> Option<String> {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| text[..end].to_string())
}

/// A line without its `//` comment (a `//` inside a string is kept).
fn strip_comment(line: &str) -> &str {
    let mut in_string = false;
    let mut prev = '\0';
    for (i, ch) in line.char_indices() {
        match ch {
            '"' if prev != '\\' => in_string = !in_string,
            '/' if !in_string && prev == '/' => return &line[..i - 1],
            _ => {}
        }
        prev = ch;
    }
    line
}

/// One cycle per strongly connected component of more than one module,
/// as the modules in order (the first repeated at the end).
pub(crate) fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for component in components(graph) {
        if component.len() < 2 {
            continue;
        }
        let first = component.iter().next().expect("not empty").clone();
        if let Some(path) = path_back(graph, &component, &first) {
            out.push(path);
        }
    }
    out
}

/// Strongly connected components (Kosaraju: order by finish, then walk
/// the reversed graph).
fn components(graph: &Graph) -> Vec<BTreeSet<String>> {
    let nodes: BTreeSet<&String> = graph
        .keys()
        .chain(graph.values().flat_map(|e| e.keys()))
        .collect();
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for n in &nodes {
        finish(graph, n, &mut seen, &mut order);
    }
    let mut reversed: BTreeMap<&String, Vec<&String>> = BTreeMap::new();
    for (from, edges) in graph {
        for to in edges.keys() {
            reversed.entry(to).or_default().push(from);
        }
    }
    let mut assigned = BTreeSet::new();
    let mut out = Vec::new();
    for n in order.iter().rev() {
        if assigned.contains(n) {
            continue;
        }
        let mut component = BTreeSet::new();
        let mut stack = vec![*n];
        while let Some(v) = stack.pop() {
            if assigned.insert(v) {
                component.insert(v.clone());
                stack.extend(reversed.get(v).into_iter().flatten().copied());
            }
        }
        out.push(component);
    }
    out
}

fn finish<'g>(
    graph: &'g Graph,
    n: &'g String,
    seen: &mut BTreeSet<&'g String>,
    order: &mut Vec<&'g String>,
) {
    if !seen.insert(n) {
        return;
    }
    for to in graph.get(n).into_iter().flat_map(|e| e.keys()) {
        finish(graph, to, seen, order);
    }
    order.push(n);
}

/// A path from `start` back to itself inside `component` (breadth first,
/// so the shortest).
fn path_back(graph: &Graph, component: &BTreeSet<String>, start: &str) -> Option<Vec<String>> {
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.to_string()]);
    while let Some(v) = queue.pop_front() {
        for to in graph.get(&v).into_iter().flat_map(|e| e.keys()) {
            if !component.contains(to) {
                continue;
            }
            if to == start {
                let mut path = vec![start.to_string()];
                let mut at = v.clone();
                while at != start {
                    path.push(at.clone());
                    at = parent[&at].clone();
                }
                path.push(start.to_string());
                path.reverse();
                return Some(path);
            }
            if !parent.contains_key(to) {
                parent.insert(to.clone(), v.clone());
                queue.push_back(to.clone());
            }
        }
    }
    None
}

/// A cycle as text, with the files behind each step:
/// `a -> b (a/x.rs) -> a (b.rs)`.
pub(crate) fn describe(graph: &Graph, cycle: &[String]) -> String {
    let mut s = cycle[0].clone();
    for pair in cycle.windows(2) {
        let files: Vec<String> = graph[&pair[0]][&pair[1]]
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        s.push_str(&format!(" -> {} ({})", pair[1], files.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(std::string::ToString::to_string).collect()
    }

    #[test]
    fn paths_groups_and_supers() {
        let text = r#"
use crate::{
    config::{Config, health::Spec},
    plan::Plan, text,
};
use super::sibling::X;        // within the module at depth 2
use super::super::ids::Book;  // the crate root from depth 2
fn f() { crate::clock::now(); let s = "crate::not_code"; }
// crate::commented::Out
fn g() -> mycrate::Thing { todo() }
"#;
        assert_eq!(
            referenced(text, 2),
            set(&["clock", "config", "ids", "not_code", "plan", "text"])
        );
        assert_eq!(referenced("use super::gc::X;", 1), set(&["gc"]));
        assert_eq!(referenced("use super::gc::X;", 2), set(&[]));
    }

    fn graph(edges: &[(&str, &str)]) -> Graph {
        let mut g = Graph::new();
        for (a, b) in edges {
            g.entry(a.to_string())
                .or_default()
                .entry(b.to_string())
                .or_default()
                .insert(PathBuf::from(format!("{a}.rs")));
        }
        g
    }

    #[test]
    fn finds_each_cycle_and_none_in_a_layering() {
        let layered = graph(&[("run", "state"), ("state", "plan"), ("run", "plan")]);
        assert!(cycles(&layered).is_empty());
        let looped = graph(&[
            ("config", "plan"),
            ("plan", "config"),
            ("run", "state"),
            ("state", "reconcile"),
            ("reconcile", "state"),
            ("run", "plan"),
        ]);
        let found = cycles(&looped);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.contains(&vec!["config".into(), "plan".into(), "config".into()]));
        assert_eq!(
            describe(
                &looped,
                &["reconcile".into(), "state".into(), "reconcile".into()]
            ),
            "reconcile -> state (reconcile.rs) -> reconcile (state.rs)"
        );
    }

    #[test]
    fn the_loader_has_no_cycle() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fwd/src");
        let g = read(&src).unwrap();
        assert!(g.len() > 10, "read the loader's modules: {:?}", g.keys());
        let found: Vec<String> = cycles(&g).iter().map(|c| describe(&g, c)).collect();
        assert!(found.is_empty(), "module cycles: {found:#?}");
    }
}
