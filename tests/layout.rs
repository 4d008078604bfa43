//! The code-layout rules of DEVELOPERS.md checked on the tree itself: no
//! function in a crate's `src/` runs past 100 lines (test modules aside), and
//! no module imports a module that imports it back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FN_LINES: usize = 100;

fn workspace() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run under cargo")).join("..")
}

/// Every `src/` folder of the workspace's crates, and the adversary's
/// sources (a binary of this crate, held to the same rules).
fn src_dirs() -> Vec<PathBuf> {
    let root = workspace();
    let mut out = vec![root.join("zkvm-adapters/src"), root.join("tests/adversary")];
    for entry in std::fs::read_dir(root.join("node")).expect("node/") {
        let src = entry.expect("entry").path().join("src");
        if src.is_dir() {
            out.push(src);
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The line with string and char literals and `//` comments removed, so braces count.
fn code_of(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        match (in_str, c) {
            (true, '\\') => {
                chars.next();
            }
            (true, '"') => in_str = false,
            (true, _) => {}
            (false, '"') => in_str = true,
            (false, '/') if chars.peek() == Some(&'/') => break,
            (false, '\'') => {
                // A char literal such as '{' (lifetimes have no closing quote within 3 chars).
                let rest: String = chars.clone().take(3).collect();
                if rest.chars().nth(1) == Some('\'') || (rest.starts_with('\\') && rest.chars().nth(2) == Some('\'')) {
                    for _ in 0..rest.find('\'').map_or(0, |i| i + 1) {
                        chars.next();
                    }
                }
            }
            (false, _) => out.push(c),
        }
    }
    out
}

/// Lines of the item starting at `start` (through its closing brace), or 1 for a `;` item.
fn item_len(lines: &[String], start: usize) -> usize {
    let mut depth = 0i64;
    let mut opened = false;
    for (i, l) in lines.iter().enumerate().skip(start) {
        if !opened && l.trim_end().ends_with(';') {
            return i - start + 1;
        }
        depth += l.matches('{').count() as i64 - l.matches('}').count() as i64;
        opened |= l.contains('{');
        if opened && depth <= 0 {
            return i - start + 1;
        }
    }
    lines.len() - start
}

fn is_fn_start(code: &str) -> bool {
    let t = code.trim_start();
    let t = t
        .strip_prefix("pub(crate) ")
        .or_else(|| t.strip_prefix("pub(super) "))
        .or_else(|| t.strip_prefix("pub "))
        .unwrap_or(t);
    let t = t.strip_prefix("const ").unwrap_or(t);
    let t = t.strip_prefix("async ").unwrap_or(t);
    t.starts_with("fn ")
}

/// (file, line, length) of every function over the limit.
fn long_functions(file: &Path) -> Vec<(PathBuf, usize, usize)> {
    let text = std::fs::read_to_string(file).expect("utf-8 source");
    let lines: Vec<String> = text.lines().map(code_of).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if text.lines().nth(i).is_some_and(|l| l.trim() == "#[cfg(test)]") {
            i += 1 + item_len(&lines, i + 1);
            continue;
        }
        if is_fn_start(&lines[i]) {
            let n = item_len(&lines, i);
            if n > MAX_FN_LINES {
                out.push((file.to_path_buf(), i + 1, n));
            }
        }
        i += 1;
    }
    out
}

#[test]
fn no_function_in_src_is_longer_than_100_lines() {
    let mut long = Vec::new();
    for dir in src_dirs() {
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        for f in files {
            long.extend(long_functions(&f));
        }
    }
    assert!(long.is_empty(), "functions over {MAX_FN_LINES} lines: {long:#?}");
}

/// The top-level module a file belongs to (`a.rs` and `a/…` are module `a`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component").as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// `crate::x` paths a file uses outside its test module.
fn crate_imports(file: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).expect("utf-8 source");
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let name: String = code[i + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let mut cycles = Vec::new();
    for src in src_dirs() {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &files {
            let m = module_of(&src, f);
            let imports: Vec<String> = crate_imports(f).into_iter().filter(|i| *i != m).collect();
            uses.entry(m).or_default().extend(imports);
        }
        for (a, used) in &uses {
            for b in used {
                if a < b && uses.get(b).is_some_and(|u| u.contains(a)) {
                    cycles.push(format!("{}: {a} <-> {b}", src.display()));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "modules importing each other: {cycles:#?}");
}

#[test]
fn the_checks_catch_what_they_look_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let long = dir.path().join("long.rs");
    let body: String = (0..120).map(|i| format!("    let _x{i} = \"{{\";\n")).collect();
    std::fs::write(
        &long,
        format!("fn long() {{\n{body}}}\n\n#[cfg(test)]\nmod tests {{\n    fn also_long() {{\n{body}    }}\n}}\n"),
    )
    .expect("write");
    let found = long_functions(&long);
    assert_eq!(found.len(), 1, "the long fn, not the one in the test module: {found:?}");
    assert_eq!(found[0].2, 122);
    let a = dir.path().join("a.rs");
    std::fs::write(&a, "use crate::b::X;\n#[cfg(test)]\nuse crate::c::Y;\n").expect("write");
    assert_eq!(crate_imports(&a), BTreeSet::from(["b".to_string()]));
}
