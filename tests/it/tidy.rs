//! The module rules of docs/architecture.md, checked over the source: the import graph has no
//! circle and no arrow that goes up (or sideways) the layer list the document gives; pyo3 is
//! used only in src/python/ (and lib.rs's `#[pymodule]`); config/ and proto/ make no
//! syscalls (no libc, no nix); stats/ does not import server/; the module map names every
//! module and file, and the unsafe list every file with `unsafe`.
//!
//! The parser is textual, as tools/…/rust_imports.py is: `use crate::…`, `use super::…` trees
//! and any `crate::a::b` path in non-test code. The crate's `eprintln!` (lib.rs) expands to
//! `log::output` in every module; that file therefore must use nothing of the crate, which is
//! checked too.

use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// A regex compiled once (debug-build regex compilation is slow enough to matter per file).
macro_rules! re {
    ($pat:expr) => {{
        static RE: LazyLock<Regex> = LazyLock::new(|| Regex::new($pat).unwrap());
        &*RE
    }};
}

/// Sibling-file circles that are known and being removed. Each entry is an allowance, not a
/// rule, and `the_known_circles_still_exist` makes an outlived one fail. Empty since the
/// request/worker split ended the last one (request.rs <-> worker.rs).
const KNOWN_SIBLING_CYCLES: &[&[&str]] = &[];

fn src() -> PathBuf {
    crate::util::root().join("src")
}

/// Every .rs file under src/, as paths relative to src/ (`server/worker.rs`).
fn rust_files() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, base, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(&src(), &src(), &mut out);
    out.sort();
    out
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(src().join(rel)).unwrap()
}

/// Test-only files: their imports are not part of the module graph.
fn is_test_file(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap();
    name == "tests.rs" || name == "testutil.rs" || rel.contains("/tests/")
}

/// `text` without comments (line and block).
fn strip_comments(text: &str) -> String {
    let block = re!(r"(?s)/\*.*?\*/");
    let line = re!(r"//[^\n]*");
    line.replace_all(&block.replace_all(text, ""), "")
        .into_owned()
}

/// `text` without comments and without its inline test module (which comes last in every
/// file of this crate).
fn code_only(text: &str) -> String {
    let text = strip_comments(text);
    let tests = re!(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{");
    match tests.find(&text) {
        Some(m) => text[..m.start()].to_string(),
        None => text,
    }
}

/// The module path of a file: `server/worker.rs` → [server, worker]; mod.rs, lib.rs and
/// main.rs name their folder (the crate root is []).
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into full paths.
fn expand(tree: &str) -> Vec<String> {
    let Some(open) = tree.find("::{") else {
        return vec![tree.to_string()];
    };
    if !tree.ends_with('}') {
        return vec![tree.to_string()];
    }
    let head = &tree[..open];
    let body = &tree[open + 3..tree.len() - 1];
    let (mut parts, mut depth, mut cur) = (Vec::new(), 0, String::new());
    for ch in body.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if ch == ',' && depth == 0 {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(ch);
        }
    }
    parts.push(cur);
    parts
        .iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| expand(p.trim()))
        .map(|p| format!("{head}::{p}"))
        .collect()
}

/// The crate paths `code` (of module `module`) refers to, as absolute module paths.
fn references(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let uses = re!(r"\buse\s+((?:crate|super|self)\b[^;]*);");
    let paths = re!(r"\b(?:crate|super)(?:::\w+)+");
    let ident = re!(r"^\w+$");
    let mut raw: Vec<String> = Vec::new();
    for c in uses.captures_iter(code) {
        let tree: String = c[1].chars().filter(|c| !c.is_whitespace()).collect();
        raw.extend(expand(&tree));
    }
    raw.extend(paths.find_iter(code).map(|m| m.as_str().to_string()));
    raw.iter()
        .map(|p| {
            let mut segs: Vec<&str> = p.split("::").collect();
            let mut base: Vec<String> = module.to_vec();
            if segs.first() == Some(&"crate") {
                segs.remove(0);
                base.clear();
            } else {
                while let Some(&s) = segs.first() {
                    match s {
                        "super" => {
                            base.pop();
                        }
                        "self" => {}
                        _ => break,
                    }
                    segs.remove(0);
                }
            }
            // `a::{self, b}` names `a` itself.
            base.extend(
                segs.iter()
                    .filter(|s| ident.is_match(s) && **s != "self")
                    .map(|s| s.to_string()),
            );
            base
        })
        .collect()
}

/// A non-test file (`server/worker.rs`), its module path and the module paths it refers to.
type FileRefs = (String, Vec<String>, Vec<Vec<String>>);

/// Every non-test file's references.
fn graph() -> &'static [FileRefs] {
    static GRAPH: LazyLock<Vec<FileRefs>> = LazyLock::new(|| {
        rust_files()
            .into_iter()
            .filter(|f| !is_test_file(f))
            .map(|f| {
                let m = module_of(&f);
                let refs = references(&code_only(&read(&f)), &m);
                (f, m, refs)
            })
            .collect()
    });
    &GRAPH
}

/// Top-level modules: the folders and files directly under src/ (not the crate root).
fn top_level_modules() -> BTreeSet<String> {
    rust_files()
        .iter()
        .map(|f| module_of(f))
        .filter_map(|m| m.first().cloned())
        .collect()
}

/// Sets of nodes that reach each other (each set has two or more members).
fn circles(edges: &Edges) -> Vec<BTreeSet<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(n) = todo.pop() {
            for m in edges.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|k| (k, reach(k))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for (a, ra) in &reached {
        if !ra.contains(*a) || out.iter().any(|c| c.contains(*a)) {
            continue;
        }
        let circle: BTreeSet<String> = ra
            .iter()
            .filter(|b| reached.get(b).is_some_and(|rb| rb.contains(*a)))
            .cloned()
            .collect();
        if circle.len() > 1 {
            out.push(circle);
        }
    }
    out
}

/// The text of the section of docs/architecture.md that starts with `heading`.
fn doc_section(heading: &str) -> String {
    let doc = std::fs::read_to_string(crate::util::root().join("docs/architecture.md")).unwrap();
    let start = doc
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("docs/architecture.md has no `{heading}` section"));
    let rest = &doc[start + heading.len() + 2..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
}

/// The layer list of docs/architecture.md ("Layers, from the top"): module → rank, where a
/// higher rank is a higher layer.
fn layers() -> BTreeMap<String, usize> {
    let section = doc_section("## Module map (arrows = \"may use\")");
    let item = re!(r"^\d+\.\s+(.*)$");
    let name = re!(r"`(\w+)`");
    let rows: Vec<Vec<String>> = section
        .lines()
        .skip_while(|l| !l.starts_with("Layers, from the top"))
        .filter_map(|l| item.captures(l.trim()))
        .map(|c| {
            name.captures_iter(&c[1])
                .map(|n| n[1].to_string())
                .collect()
        })
        .collect();
    assert!(!rows.is_empty(), "no layer list in the module map section");
    let mut rank = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        for m in row {
            assert!(
                rank.insert(m.clone(), rows.len() - i).is_none(),
                "`{m}` is in two layers"
            );
        }
    }
    rank
}

type Edges = BTreeMap<String, BTreeSet<String>>;

/// Arrows between top-level modules, each with the first file that draws it, and between
/// sibling files (the same folder, both plain files of it).
fn edges() -> (BTreeMap<(String, String), String>, Edges) {
    let tops = top_level_modules();
    let g = graph();
    let files: BTreeMap<Vec<String>, String> =
        g.iter().map(|(f, m, _)| (m.clone(), f.clone())).collect();
    let mut top = BTreeMap::new();
    let mut siblings = Edges::new();
    for (file, module, refs) in g {
        let Some(from) = module.first() else {
            continue; // the crate root may use anything
        };
        for r in refs {
            let Some(to) = r.first() else { continue };
            if to != from && tops.contains(to) {
                top.entry((from.clone(), to.clone()))
                    .or_insert_with(|| file.clone());
            }
            let n = module.len();
            if n >= 2 && r.len() >= n && r[..n - 1] == module[..n - 1] && r[..n] != module[..] {
                if let Some(f) = files.get(&r[..n]).filter(|f| !f.ends_with("mod.rs")) {
                    siblings.entry(file.clone()).or_default().insert(f.clone());
                }
            }
        }
    }
    (top, siblings)
}

fn known(c: &BTreeSet<String>) -> bool {
    KNOWN_SIBLING_CYCLES
        .iter()
        .any(|k| k.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>() == *c)
}

#[test]
fn the_import_graph_has_no_circle_and_no_upward_arrow() {
    let rank = layers();
    let mut problems = Vec::new();
    for m in top_level_modules() {
        if !rank.contains_key(&m) {
            problems.push(format!(
                "module `{m}` is in no layer of docs/architecture.md"
            ));
        }
    }
    let (top, siblings) = edges();
    let mut top_edges = Edges::new();
    for ((from, to), file) in &top {
        if rank.get(from) <= rank.get(to) {
            problems.push(format!(
                "{from} -> {to} goes up or sideways the layer list (in src/{file})"
            ));
        }
        top_edges
            .entry(from.clone())
            .or_default()
            .insert(to.clone());
    }
    for c in circles(&top_edges) {
        problems.push(format!("circle between modules: {c:?}"));
    }
    for c in circles(&siblings).iter().filter(|c| !known(c)) {
        problems.push(format!("circle between sibling files: {c:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_known_circles_still_exist() {
    // An allowance that outlived its circle must go, so that the test is strict again.
    let found = circles(&edges().1);
    for k in KNOWN_SIBLING_CYCLES {
        let k: BTreeSet<String> = k.iter().map(|s| s.to_string()).collect();
        assert!(
            found.iter().any(|c| k.is_subset(c)),
            "{k:?} is no circle any more: remove it from KNOWN_SIBLING_CYCLES"
        );
    }
}

#[test]
fn module_rules_hold() {
    let pyo3 = re!(r"\bpyo3\b");
    let syscalls = re!(r"\b(libc|nix)::|\buse\s+(libc|nix)\b");
    let mut problems = Vec::new();
    for f in rust_files() {
        let text = read(&f);
        let code = strip_comments(&text);
        // lib.rs keeps the wheel's `#[pymodule]`: it hands `cmd::main_with_args` to
        // python::extension, and python/ must not import cmd (a higher layer).
        if !f.starts_with("python/") && f != "lib.rs" && pyo3.is_match(&code) {
            problems.push(format!("src/{f} uses pyo3 (only src/python/ may)"));
        }
        // Their unit tests may set up fixtures with syscalls (a fifo); their code may not.
        if (f.starts_with("config/") || f.starts_with("proto/"))
            && syscalls.is_match(&code_only(&text))
        {
            problems.push(format!(
                "src/{f} uses libc or nix (config/ and proto/ are pure)"
            ));
        }
    }
    for (file, module, refs) in graph() {
        let first = module.first().map(String::as_str);
        if first == Some("stats")
            && refs
                .iter()
                .any(|r| r.first().is_some_and(|m| m == "server"))
        {
            problems.push(format!("src/{file} imports server/ (stats/ must not)"));
        }
        // Every module's eprintln! goes through it: it may use nothing of the crate.
        if file == "log/output.rs" && refs.iter().any(|r| r.first().is_some_and(|m| m != "log")) {
            problems.push(format!("src/{file} uses another module of the crate"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_module_map_names_every_module_and_file() {
    let section = doc_section("## Module map (arrows = \"may use\")");
    let block = section
        .split("```")
        .nth(1)
        .expect("the module map is a code block");
    // Entries start at the first column (`server/ …`, `main.rs …`); the rest continues one.
    let mut entries: BTreeMap<String, String> = BTreeMap::new();
    let mut current = None;
    for line in block.lines() {
        if let Some(name) = line
            .split_whitespace()
            .next()
            .filter(|_| !line.starts_with(' '))
        {
            current = Some(name.trim_end_matches('/').to_string());
        }
        if let Some(c) = &current {
            let e = entries.entry(c.clone()).or_default();
            e.push_str(line);
            e.push('\n');
        }
    }
    let mut problems = Vec::new();
    for f in rust_files() {
        let (top, rest) = match f.split_once('/') {
            Some((top, rest)) => (top.to_string(), Some(rest)),
            None => (f.clone(), None),
        };
        let Some(entry) = entries.get(&top) else {
            problems.push(format!("the module map has no entry for `{top}`"));
            continue;
        };
        let Some(rest) = rest else { continue };
        let stem = rest.rsplit('/').next().unwrap().trim_end_matches(".rs");
        if matches!(stem, "mod" | "tests" | "testutil") {
            continue;
        }
        if !names_word(entry, stem) {
            problems.push(format!(
                "the module map's `{top}/` entry does not name src/{f} (`{stem}`)"
            ));
        }
    }
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Whether `text` holds `word` with no word character (letter, digit, `_`) on either side.
fn names_word(text: &str, word: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        !text[..i].chars().next_back().is_some_and(is_word)
            && !text[i + word.len()..].chars().next().is_some_and(is_word)
    })
}

#[test]
fn the_unsafe_list_names_every_file_with_unsafe() {
    let section = doc_section("## Unsafe code");
    let item = re!(r"^- `([^`]+)`");
    let listed: Vec<String> = section
        .lines()
        .filter_map(|l| item.captures(l).map(|c| c[1].to_string()))
        .collect();
    let is_listed = |f: &str| {
        listed
            .iter()
            .any(|l| l == f || (l.ends_with('/') && f.starts_with(l.as_str())))
    };
    let token = re!(r"\bunsafe\s*(\{|fn\b|impl\b|extern\b|trait\b)");
    let mut has = BTreeSet::new();
    let mut problems = Vec::new();
    for f in rust_files() {
        if token.is_match(&strip_comments(&read(&f))) {
            if !is_listed(&f) {
                problems.push(format!(
                    "src/{f} has unsafe code the unsafe list does not name"
                ));
            }
            has.insert(f);
        }
    }
    for l in &listed {
        if !has
            .iter()
            .any(|f| f == l || (l.ends_with('/') && f.starts_with(l.as_str())))
        {
            problems.push(format!(
                "the unsafe list names `{l}`, which has no unsafe code"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_import_parser_reads_use_trees_and_paths() {
    let m: Vec<String> = vec!["server".into(), "worker".into()];
    let got = references(
        "use super::{request::{self, Conn}, socket::Socket};\nuse crate::net::listen;\nfn f() { crate::sys::clock::unix_us(); }",
        &m,
    );
    let got: BTreeSet<String> = got.iter().map(|p| p.join("::")).collect();
    for want in [
        "server::request",
        "server::request::Conn",
        "server::socket::Socket",
        "net::listen",
        "sys::clock::unix_us",
    ] {
        assert!(got.contains(want), "{want} not in {got:?}");
    }
    let mut edges = Edges::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert!(circles(&edges).is_empty());
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(circles(&edges).len(), 1);
}
