//! Randomized patches against randomized trees: a patch that cannot apply leaves the tree byte for byte as it
//! was, and one that can does exactly what it says, however its context lines are mangled.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use rcodex_apply_patch::{ApplyError, ChangeKind, Unrestricted, apply_patch};

const EXISTING: [&str; 6] = ["a.txt", "b.txt", "dir/c.txt", "dir/sub/d.txt", "e.txt", "f.txt"];
const FRESH: [&str; 4] = ["new.txt", "dir/new.txt", "fresh/deep/x.txt", "g.txt"];
const WORDS: [&str; 6] = ["alpha", "beta", "gamma", "delta", "  indented", "tab\there"];

#[derive(Clone)]
struct File {
    lines: Vec<String>,
    crlf: bool,
    final_newline: bool,
}

impl File {
    fn random(rng: &mut fastrand::Rng, name: &str) -> Self {
        File {
            // Unique lines, so that every chunk has exactly one place to go.
            lines: (0..rng.usize(1..12)).map(|i| format!("{name}-{i} {}", rng.choice(WORDS).unwrap())).collect(),
            crlf: rng.bool(),
            final_newline: rng.bool(),
        }
    }

    fn text(&self) -> String {
        let ending = if self.crlf { "\r\n" } else { "\n" };
        let mut text = self.lines.join(ending);
        if self.final_newline {
            text.push_str(ending);
        }
        text
    }

    /// What an update leaves: the file's ending on every line, a final one included (`\n` for a file that had
    /// none).
    fn updated(&self, lines: Vec<String>) -> String {
        let has_ending = self.lines.len() > 1 || self.final_newline;
        let ending = if self.crlf && has_ending { "\r\n" } else { "\n" };
        lines.iter().map(|line| format!("{line}{ending}")).collect()
    }
}

/// A random patch and what it should leave behind, or `None` when it should not apply.
struct Scenario {
    patch: String,
    expected: Option<BTreeMap<String, Option<String>>>,
    kinds: Vec<(String, ChangeKind)>,
}

fn mangle(rng: &mut fastrand::Rng, line: &str) -> String {
    match rng.u8(0..4) {
        0 => format!("{line}  "),
        1 => format!("  {}", line.trim_start()),
        2 => line.trim().to_string(),
        _ => line.to_string(),
    }
}

/// Chunks for an update of `file`, and the lines it leaves.
fn chunks_for(rng: &mut fastrand::Rng, file: &File) -> (String, Vec<String>) {
    let lines = &file.lines;
    let mut body = String::new();
    let mut result = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        // Skip some lines; the last one skipped may serve as the chunk's anchor.
        let skip = rng.usize(0..3).min(lines.len() - at);
        result.extend_from_slice(&lines[at..at + skip]);
        at += skip;
        if at >= lines.len() {
            break;
        }
        let anchored = skip > 0 && rng.bool();
        let context_before = rng.usize(0..2).min(lines.len() - at);
        let removed = rng.usize(0..3).min(lines.len() - at - context_before);
        let context_after = rng.usize(0..2).min(lines.len() - at - context_before - removed);
        if context_before + removed + context_after == 0 {
            break;
        }
        body.push_str(&if anchored { format!("@@ {}\n", mangle(rng, &lines[at - 1])) } else { "@@\n".to_string() });
        for line in &lines[at..at + context_before] {
            body.push_str(&format!(" {}\n", mangle(rng, line)));
            result.push(line.clone());
        }
        for line in &lines[at + context_before..at + context_before + removed] {
            body.push_str(&format!("-{}\n", mangle(rng, line)));
        }
        for n in 0..rng.usize(0..3) {
            let added = format!("added {n} {}", rng.u32(..));
            body.push_str(&format!("+{added}\n"));
            result.push(added);
        }
        let after_start = at + context_before + removed;
        for line in &lines[after_start..after_start + context_after] {
            body.push_str(&format!(" {}\n", mangle(rng, line)));
            result.push(line.clone());
        }
        at = after_start + context_after;
        if !rng.bool() {
            break;
        }
    }
    result.extend_from_slice(&lines[at.min(lines.len())..]);
    (body, result)
}

fn scenario(rng: &mut fastrand::Rng, tree: &BTreeMap<String, File>) -> Scenario {
    let mut patch = String::from("*** Begin Patch\n");
    let mut expected: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut kinds = Vec::new();
    // Every path is named once at most, so that hunks do not interact.
    let mut used = BTreeSet::new();
    let mut pick = |rng: &mut fastrand::Rng, pool: &[&str]| {
        let free: Vec<&str> = pool.iter().copied().filter(|p| !used.contains(*p)).collect();
        let path = rng.choice(free)?;
        used.insert(path.to_string());
        Some(path.to_string())
    };
    for _ in 0..rng.usize(1..5) {
        match rng.u8(0..4) {
            0 => {
                let pool = if rng.bool() { &FRESH[..] } else { &EXISTING[..] };
                let Some(path) = pick(rng, pool) else {
                    continue;
                };
                let lines: Vec<String> = (0..rng.usize(0..3)).map(|n| format!("line {n}")).collect();
                patch.push_str(&format!("*** Add File: {path}\n"));
                lines.iter().for_each(|line| patch.push_str(&format!("+{line}\n")));
                expected.insert(path.clone(), Some(lines.iter().map(|l| format!("{l}\n")).collect()));
                kinds.push((path, ChangeKind::Add));
            }
            1 => {
                let Some(path) = pick(rng, &EXISTING) else {
                    continue;
                };
                patch.push_str(&format!("*** Delete File: {path}\n"));
                expected.insert(path.clone(), None);
                kinds.push((path, ChangeKind::Delete));
            }
            _ => {
                let Some(path) = pick(rng, &EXISTING) else {
                    continue;
                };
                let (chunks, result) = chunks_for(rng, &tree[&path]);
                if chunks.is_empty() {
                    continue;
                }
                patch.push_str(&format!("*** Update File: {path}\n"));
                let destination = if rng.u8(0..4) == 0 {
                    pick(rng, &FRESH).inspect(|to| patch.push_str(&format!("*** Move to: {to}\n")))
                } else {
                    None
                };
                patch.push_str(&chunks);
                let text = tree[&path].updated(result);
                match destination {
                    Some(to) => {
                        expected.insert(path.clone(), None);
                        expected.insert(to, Some(text));
                    }
                    None => {
                        expected.insert(path.clone(), Some(text));
                    }
                }
                kinds.push((path, ChangeKind::Update));
            }
        }
    }
    let valid = !kinds.is_empty();
    let spoiled = match rng.u8(0..8) {
        0 => {
            patch.push_str("*** Update File: a.txt\n@@\n-no such line\n");
            true
        }
        1 => {
            patch.push_str("*** Delete File: missing.txt\n");
            true
        }
        2 if !kinds.is_empty() => {
            // A second hunk on a file already named.
            patch.push_str(&format!("*** Add File: {}\n+again\n", kinds[0].0));
            true
        }
        _ => false,
    };
    patch.push_str("*** End Patch\n");
    Scenario { patch, expected: (valid && !spoiled).then_some(expected), kinds }
}

fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let key = path.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            if path.is_dir() {
                entries.insert(format!("{key}/"), Vec::new());
                pending.push(path);
            } else {
                entries.insert(key, fs::read(&path).unwrap());
            }
        }
    }
    entries
}

#[test]
fn patches_apply_exactly_or_not_at_all() {
    let (mut applied, mut refused) = (0, 0);
    for seed in 0..400 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let dir = tempfile::tempdir().unwrap();
        let mut tree = BTreeMap::new();
        for name in EXISTING {
            let file = File::random(&mut rng, name);
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, file.text()).unwrap();
            tree.insert(name.to_string(), file);
        }
        let before = snapshot(dir.path());
        let scenario = scenario(&mut rng, &tree);
        let context = format!("seed {seed}, patch:\n{}", scenario.patch);

        let outcome = apply_patch(&scenario.patch, dir.path(), &Unrestricted);
        match (outcome, scenario.expected) {
            (Ok(done), Some(expected)) => {
                applied += 1;
                let mut after = before.clone();
                for (path, text) in &expected {
                    match text {
                        Some(text) => after.insert(path.clone(), text.clone().into_bytes()),
                        None => after.remove(path),
                    };
                }
                let mut now = snapshot(dir.path());
                // Directories made for new files are fine; only files are compared.
                now.retain(|path, _| !path.ends_with('/'));
                after.retain(|path, _| !path.ends_with('/'));
                assert_eq!(now, after, "{context}");
                let kinds: Vec<(String, ChangeKind)> = done
                    .changes()
                    .iter()
                    .map(|c| (c.path.strip_prefix(dir.path()).unwrap().to_str().unwrap().to_string(), c.kind))
                    .collect();
                // Listed by path.
                let mut wanted = scenario.kinds.clone();
                wanted.sort_by(|a, b| a.0.cmp(&b.0));
                assert_eq!(kinds, wanted, "{context}");
            }
            (Err(err), None) => {
                refused += 1;
                assert!(
                    matches!(
                        err,
                        ApplyError::Verification(_) | ApplyError::DuplicatePath { .. } | ApplyError::EmptyPatch
                    ),
                    "{context}\n{err}"
                );
                assert_eq!(snapshot(dir.path()), before, "{context}");
            }
            (Ok(_), None) => panic!("a spoiled patch applied; {context}"),
            (Err(err), Some(_)) => panic!("{err}; {context}"),
        }
    }
    // Both outcomes are exercised in earnest.
    assert!(applied > 100 && refused > 100, "applied {applied}, refused {refused}");
}
