//! The modules of every crate form no import cycle.
//!
//! Run it with `cargo test --release --workspace --test module_graph`; on failure it prints
//! each cycle as a path of modules. A module is a file (`events/ingest.rs` is
//! `events::ingest`). An edge goes from a module to the module that *defines* what it names
//! through a path (`crate::...`, `super::...`, `self::...` or a child module's name), in a
//! `use` or in code. A `pub use` is a module's public face, not a need: a path through one is
//! followed to where the item is defined, and the `pub use` itself is no edge. Declaring a
//! child (`mod ingest;`) is no edge, and neither is test code (`#[cfg(test)] mod tests`, at
//! the end of a file). Paths into other crates are Cargo's business: it refuses cyclic crate
//! dependencies already.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`events::ingest`, `` for the root) to the modules it uses.
type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    let mut cycles = Vec::new();
    for entry in std::fs::read_dir(&crates).expect("the crates directory") {
        let src = entry.expect("a crate").path().join("src");
        if !src.is_dir() {
            continue;
        }
        let graph = Crate::read(&src).graph();
        assert!(!graph.is_empty(), "{} has no modules", src.display());
        checked += 1;
        for cycle in find_cycles(&graph) {
            let name = src.parent().and_then(Path::file_name).unwrap_or_default();
            cycles.push(format!("{}: {}", name.to_string_lossy(), cycle.join(" -> ")));
        }
    }
    assert!(
        checked >= 10,
        "found only {checked} crates under {}",
        crates.display()
    );
    assert!(
        cycles.is_empty(),
        "import cycles between modules:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_checker_resolves_grouped_relative_and_re_exported_paths() {
    let krate = Crate::from_sources(&[
        (
            "",
            "mod a;\nmod c;\npub use c::d::{Other as Renamed};\nfn main() { a::b::run(); other::x(); }",
        ),
        ("a", "pub mod b;"),
        (
            "a::b",
            "use crate::{a::b::Thing, c::{self, Tool}};\nuse crate::{c::Outside, Renamed};\n\
             fn f() { super::helper(); } // crate::c::d::ignored\n",
        ),
        ("c", "pub mod d;\npub use d::Tool;\npub use other_crate::Outside;"),
        ("c::d", "pub struct Other;\npub struct Tool;"),
    ]);
    let graph = krate.graph();
    let names = |list: &[&str]| list.iter().map(|m| m.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        graph[""],
        names(&["a::b"]),
        "a `pub use` is no edge; a call through a child is"
    );
    assert_eq!(
        graph["a::b"],
        names(&["a", "c", "c::d"]),
        "`c::Tool` and `crate::Renamed` are defined in c::d"
    );
    assert!(graph["c"].is_empty());

    let mut cyclic = Graph::new();
    cyclic.insert("a".into(), names(&["c"]));
    cyclic.insert("c".into(), names(&["c::d"]));
    cyclic.insert("c::d".into(), names(&["a"]));
    assert_eq!(find_cycles(&cyclic), vec![vec!["a", "c", "c::d", "a"]]);
}

/// A crate's modules and their code, without comments and tests.
struct Crate {
    code: BTreeMap<String, String>,
}

/// Where a `pub use` sends a name: the module it was written in and the path it names, or
/// another crate (`None`).
type ReExport = Option<(Vec<String>, String)>;

impl Crate {
    fn read(src: &Path) -> Crate {
        let code = rust_files(src)
            .iter()
            .map(|file| {
                let text = std::fs::read_to_string(file).expect("a readable source file");
                (module_of(src, file), without_tests_and_comments(&text))
            })
            .collect();
        Crate { code }
    }

    fn from_sources(sources: &[(&str, &str)]) -> Crate {
        let code = sources
            .iter()
            .map(|(module, text)| (module.to_string(), without_tests_and_comments(text)))
            .collect();
        Crate { code }
    }

    fn graph(&self) -> Graph {
        let re_exports: BTreeMap<&str, BTreeMap<String, ReExport>> = self
            .code
            .iter()
            .map(|(module, code)| (module.as_str(), self.re_exports(module, code)))
            .collect();
        let mut graph = Graph::new();
        for (module, code) in &self.code {
            let mut edges = BTreeSet::new();
            for (base, path) in self.paths(module, &strip_re_exports(code)) {
                if let Some(target) = self.resolve(&base, &path, &re_exports, 0) {
                    if target != *module {
                        edges.insert(target);
                    }
                }
            }
            graph.insert(module.clone(), edges);
        }
        graph
    }

    /// The names `code` (module `module`) re-exports with `pub use`, and what they name.
    fn re_exports(&self, module: &str, code: &str) -> BTreeMap<String, ReExport> {
        let mut names = BTreeMap::new();
        for statement in re_export_statements(code) {
            let ours = self.paths(module, &format!("use {statement};"));
            let theirs = || expand(&statement).into_iter().map(|path| (Vec::new(), path));
            let local = !ours.is_empty();
            let paths: Vec<_> = if local { ours } else { theirs().collect() };
            for (base, path) in paths {
                let name = match path.split_once(" as ") {
                    Some((_, alias)) => alias.trim().to_string(),
                    None => path.rsplit("::").next().unwrap_or_default().to_string(),
                };
                let path = path.split(" as ").next().unwrap_or_default().to_string();
                names.insert(name, local.then_some((base, path)));
            }
        }
        names
    }

    /// Every path in `code` that starts at a module of this crate: the module it starts from
    /// and the rest of the path (`crate::a::B` is `([], "a::B")`).
    fn paths(&self, module: &str, code: &str) -> Vec<(Vec<String>, String)> {
        let here: Vec<String> = module
            .split("::")
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect();
        let mut found = Vec::new();
        for (start, _) in code.match_indices("::") {
            let word_start = code[..start]
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            let word = &code[word_start..start];
            // Only a path's first segment: `super::super::x` is read once, from its start.
            if word.is_empty() || word_start >= 2 && &code[word_start - 2..word_start] == "::" {
                continue;
            }
            let child = here
                .iter()
                .map(String::as_str)
                .chain([word])
                .collect::<Vec<_>>()
                .join("::");
            let (mut base, mut rest) = match word {
                "crate" => (Vec::new(), &code[start + 2..]),
                "super" | "self" => (here.clone(), &code[start + 2..]),
                _ if self.code.contains_key(&child) => (here.clone(), &code[word_start..]),
                _ => continue,
            };
            if word == "super" {
                base.pop();
                while let Some(after) = rest.strip_prefix("super::") {
                    base.pop();
                    rest = after;
                }
            }
            found.extend(expand(rest).into_iter().map(|path| (base.clone(), path)));
        }
        found
    }

    /// The module that defines what `path` names, starting from `base`; `None` when it is
    /// another crate's.
    fn resolve(
        &self,
        base: &[String],
        path: &str,
        re_exports: &BTreeMap<&str, BTreeMap<String, ReExport>>,
        depth: usize,
    ) -> Option<String> {
        let mut current: Vec<String> = base.to_vec();
        for segment in path.split("::").map(str::trim) {
            if segment == "self" || segment.is_empty() {
                continue;
            }
            let mut candidate = current.clone();
            candidate.push(segment.to_string());
            if self.code.contains_key(&candidate.join("::")) {
                current = candidate;
                continue;
            }
            let module = current.join("::");
            match re_exports
                .get(module.as_str())
                .and_then(|names| names.get(segment))
            {
                Some(Some((base, path))) if depth < 16 => {
                    return self.resolve(base, path, re_exports, depth + 1);
                }
                Some(None) => return None,
                _ => {}
            }
            break;
        }
        // A path that named no module of this crate past its start names an item of `base`'s
        // module only if it started there (`crate::`, `super::`, a child); the callers only
        // pass such paths, and re-exports of other crates' items end here with `None`.
        if current.len() == base.len() && !self.code.contains_key(&current.join("::")) {
            return None;
        }
        Some(current.join("::"))
    }
}

/// The text of the `pub use` statements in `code` (without `pub ... use` and `;`).
fn re_export_statements(code: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("pub") {
        let after = &rest[at + 3..];
        let after = match after.strip_prefix('(') {
            Some(scope) => scope.split_once(')').map_or("", |(_, tail)| tail),
            None => after,
        };
        if let Some(statement) = after.trim_start().strip_prefix("use ") {
            if let Some((body, _)) = statement.split_once(';') {
                statements.push(body.trim().to_string());
            }
        }
        rest = &rest[at + 3..];
    }
    statements
}

/// `code` without its `pub use` statements.
fn strip_re_exports(code: &str) -> String {
    code.lines()
        .filter(|line| {
            let line = line.trim_start();
            !(line.starts_with("pub use ")
                || line.starts_with("pub(crate) use ")
                || line.starts_with("pub(super) use "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn without_tests_and_comments(text: &str) -> String {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(tests) => &text[..tests],
        None => text,
    };
    code.lines()
        .map(|line| match line.find("//") {
            Some(comment) => &line[..comment],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// `src/events/ingest.rs` is `events::ingest`; `lib.rs`, `main.rs` and `mod.rs` name their
/// directory's module.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("a file under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    let root = parts.len() == 1 && matches!(parts[0].as_str(), "lib" | "main");
    if root || parts.last().is_some_and(|part| part == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The paths a `use` tail or a path expression names: `a::b::X` is one, `{a::X, b::{self,
/// Y as Z}}` several (`b::self` is `b`; an alias stays, as ` as Z`, for re-exports).
fn expand(text: &str) -> Vec<String> {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let mut depth = 1;
        let mut end = group.len();
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        return split_top_level(&group[..end])
            .iter()
            .flat_map(|item| expand(item))
            .collect();
    }
    let mut path = String::new();
    let mut rest = text;
    loop {
        let word_len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        path.push_str(&rest[..word_len]);
        rest = &rest[word_len..];
        match rest.strip_prefix("::") {
            Some(after) if after.starts_with('{') => {
                return expand(after)
                    .into_iter()
                    .map(|tail| format!("{path}::{tail}"))
                    .collect();
            }
            Some(after) => {
                path.push_str("::");
                rest = after;
            }
            None => {
                if let Some(alias) = rest.trim_start().strip_prefix("as ") {
                    let alias_len = alias
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(alias.len());
                    path.push_str(" as ");
                    path.push_str(&alias[..alias_len]);
                }
                return vec![path];
            }
        }
    }
}

/// `a::X, b::{self, Y}` split at the commas outside braces.
fn split_top_level(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    items
        .into_iter()
        .map(|item| item.trim().to_string())
        .filter(|item| !item.is_empty())
        .collect()
}

/// Cycles found by a depth-first search (at least one in every strongly connected set of
/// modules), each as the modules along it with the first repeated at the end.
fn find_cycles(graph: &Graph) -> Vec<Vec<String>> {
    let mut search = Search {
        graph,
        stack: Vec::new(),
        done: BTreeSet::new(),
        seen: BTreeSet::new(),
        cycles: Vec::new(),
    };
    for start in graph.keys() {
        search.visit(start);
    }
    search.cycles
}

struct Search<'g> {
    graph: &'g Graph,
    stack: Vec<String>,
    done: BTreeSet<String>,
    seen: BTreeSet<Vec<String>>,
    cycles: Vec<Vec<String>>,
}

impl Search<'_> {
    fn visit(&mut self, module: &str) {
        if let Some(position) = self.stack.iter().position(|m| m == module) {
            let mut cycle = self.stack[position..].to_vec();
            let mut key = cycle.clone();
            key.sort();
            if self.seen.insert(key) {
                cycle.push(module.to_string());
                self.cycles.push(cycle);
            }
            return;
        }
        if self.done.contains(module) {
            return;
        }
        self.stack.push(module.to_string());
        for next in self.graph.get(module).into_iter().flatten() {
            self.visit(next);
        }
        self.stack.pop();
        self.done.insert(module.to_string());
    }
}
