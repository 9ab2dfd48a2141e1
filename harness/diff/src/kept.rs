//! Files a scenario keeps from the agent's home after its run (`[home] keep`, under `home/` of each recording):
//! what the agent installs there, such as upstream's system skills, compared byte for byte. A file on one side only
//! or with other contents is a divergence of the category `files`; a scenario that keeps nothing compares nothing.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::compare::{Category, Comparison, Divergence, Kind, RequestInfo, RequestPair};
use crate::textdiff::{self, TextDiff};

/// A recording's directory of kept files (the recorder's `KEPT_HOME_DIR`).
pub const KEPT_DIR: &str = "home";

/// Adds the divergences between the files `left` and `right` kept (as one pair, `files`), when either kept any.
pub fn compare_kept_files(comparison: &mut Comparison, left: &Path, right: &Path) -> Result<(), String> {
    let (l, r) = (kept_files(left)?, kept_files(right)?);
    if l.is_empty() && r.is_empty() {
        return Ok(());
    }
    let divergences = divergences(&l, &r);
    let info = |dir: &Path| RequestInfo {
        file: KEPT_DIR.to_string(),
        label: "files kept from the agent's home".to_string(),
        step: None,
        path: dir.join(KEPT_DIR),
    };
    comparison.pairs.push(RequestPair {
        id: "files".to_string(),
        session: 0,
        seq: 0,
        left: (!l.is_empty()).then(|| info(left)),
        right: (!r.is_empty()).then(|| info(right)),
        divergences,
        accepted: Vec::new(),
        patch: None,
        explain_left: Vec::new(),
        explain_right: Vec::new(),
        events: false,
    });
    Ok(())
}

/// Every file under `dir/home`, by its path relative to it (`.codex/skills/.system/...`).
fn kept_files(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let root = dir.join(KEPT_DIR);
    parity_capture::store::read_tree(&root).map_err(|e| format!("{}: {e}", root.display()))
}

/// What a file's contents show in a divergence: its text, or its size and a digest when it is not text.
fn shown(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => json!(text),
        Err(_) => json!(format!("{} bytes, fnv-1a {:016x}", bytes.len(), fnv1a(bytes))),
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x100000001b3))
}

fn divergences(left: &BTreeMap<String, Vec<u8>>, right: &BTreeMap<String, Vec<u8>>) -> Vec<Divergence> {
    let mut names: Vec<&String> = left.keys().chain(right.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let (l, r) = (left.get(name), right.get(name));
            let kind = match (l, r) {
                (Some(_), None) => Kind::OnlyLeft,
                (None, Some(_)) => Kind::OnlyRight,
                (Some(l), Some(r)) if l != r => Kind::Changed,
                _ => return None,
            };
            let (left, right) = (l.map(|b| shown(b)), r.map(|b| shown(b)));
            let text_diff = match (&left, &right) {
                (Some(Value::String(l)), Some(Value::String(r))) if textdiff::wants_diff(l, r) => {
                    Some(TextDiff::new(l, r))
                }
                _ => None,
            };
            Some(Divergence {
                category: Category::Files,
                kind,
                path: format!("/{KEPT_DIR}/{name}"),
                right_path: None,
                left,
                right,
                note: None,
                text_diff,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &[u8])]) {
        for (name, bytes) in files {
            let path = dir.join(KEPT_DIR).join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    }

    fn empty_comparison() -> Comparison {
        let side = crate::compare::SideInfo { root: String::new(), requests: 0, paths: Vec::new() };
        Comparison { left: side.clone(), right: side, pairs: Vec::new(), stale: Vec::new() }
    }

    #[test]
    fn kept_files_diverge_when_missing_extra_or_different() {
        let (left, right) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let png: &[u8] = &[0x89, b'P', b'N', b'G', 0xff];
        write(left.path(), &[("s/.marker", b"e2e4"), ("s/a/SKILL.md", b"one\ntwo\n"), ("s/a/logo.png", png)]);
        write(right.path(), &[("s/.marker", b"e2e4"), ("s/a/SKILL.md", b"one\nthree\n"), ("s/b.txt", b"extra")]);
        let mut c = empty_comparison();
        compare_kept_files(&mut c, left.path(), right.path()).unwrap();
        let found: Vec<(&str, Kind)> = c.pairs[0].divergences.iter().map(|d| (d.path.as_str(), d.kind)).collect();
        assert_eq!(
            found,
            [
                ("/home/s/a/SKILL.md", Kind::Changed),
                ("/home/s/a/logo.png", Kind::OnlyLeft),
                ("/home/s/b.txt", Kind::OnlyRight)
            ]
        );
        assert!(c.pairs[0].divergences[1].left.as_ref().unwrap().as_str().unwrap().starts_with("5 bytes, fnv-1a "));
        assert_eq!(c.summary().files, 3);
        assert!(!c.is_clean());
    }

    #[test]
    fn the_same_files_or_none_kept_are_clean() {
        let (left, right) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut c = empty_comparison();
        compare_kept_files(&mut c, left.path(), right.path()).unwrap();
        assert!(c.pairs.is_empty(), "nothing kept, nothing compared");
        write(left.path(), &[("x/y", b"same")]);
        write(right.path(), &[("x/y", b"same")]);
        compare_kept_files(&mut c, left.path(), right.path()).unwrap();
        assert!(c.is_clean() && c.pairs.len() == 1);
    }
}
