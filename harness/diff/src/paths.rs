//! The machine-specific paths of a recording, found in the recording itself.
//!
//! Codex tells the model where it runs: `<cwd>` and workspace `<root>`s in the `<environment_context>` message, and
//! the skill roots under CODEX_HOME (`.../skills/.system`) in the skills message. Those paths, and the HOME that holds
//! a default `~/.codex`, become placeholders wherever they appear, so that two runs in different directories compare
//! equal. The rules file can name more ([`crate::ExtraPath`]).

use std::sync::{Arc, LazyLock};

use aho_corasick::{AhoCorasick, MatchKind};
use parity_capture::Recording;
use regex::Regex;
use serde_json::Value;

use crate::node::Segment;
use crate::rules::ExtraPath;

/// A path to replace, and the placeholder kind it becomes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KnownPath {
    pub kind: String,
    pub path: String,
}

static CWD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"<cwd>([^<]+)</cwd>").expect("regex"));
static ROOT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"<root>([^<]+)</root>").expect("regex"));
static SKILLS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(/[^\s`'<>]+?)/skills/\.system\b").expect("regex"));

/// The paths of a recording: its working directories, workspace roots, CODEX_HOME and (when CODEX_HOME is the
/// default `~/.codex`) HOME, then `extra`. Directories too short to be specific (`/`, `/tmp`) are left out.
pub fn derive(recording: &Recording, extra: &[ExtraPath]) -> Vec<KnownPath> {
    let mut found: Vec<KnownPath> = Vec::new();
    let mut add = |kind: &str, path: &str| {
        let path = path.trim().trim_end_matches('/');
        if is_specific(path) && !found.iter().any(|p| p.path == path) {
            found.push(KnownPath { kind: kind.to_string(), path: path.to_string() });
        }
    };
    for exchange in recording.exchanges() {
        for item in exchange.capture.request.input() {
            let Some(parts) = item.get("content").and_then(Value::as_array) else {
                continue;
            };
            for text in parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)) {
                if text.contains("<cwd>") {
                    CWD.captures_iter(text).for_each(|c| add("cwd", &c[1]));
                }
                if text.contains("<root>") {
                    ROOT.captures_iter(text).for_each(|c| add("workspace", &c[1]));
                }
                for c in SKILLS.captures_iter(text) {
                    let home = &c[1];
                    add("codex_home", home);
                    if let Some(parent) = home.strip_suffix("/.codex") {
                        add("home", parent);
                    }
                }
            }
        }
    }
    for p in extra {
        add(&p.kind, &p.path);
    }
    found
}

/// The run's own directory, when the working directory and HOME sit side by side in it (`parity record` makes
/// `<run>/workspace` and `<run>/home`): a file the agent writes beside the workspace is named by it. A run that made
/// no request names no HOME: then a working directory called `workspace` stands for the layout. `None` when they do
/// not share a specific parent.
pub fn run_dir(paths: &[KnownPath]) -> Option<String> {
    let first = |kind: &str| paths.iter().find(|p| p.kind == kind).map(|p| p.path.as_str());
    let parent = |path: &str| path[..path.rfind('/').unwrap_or(0)].to_string();
    let workspace = first("cwd")?;
    let cwd = parent(workspace);
    let beside = match first("home") {
        Some(home) => parent(home) == cwd,
        None => workspace.ends_with("/workspace"),
    };
    (beside && is_specific(&cwd) && !paths.iter().any(|p| p.path == cwd)).then_some(cwd)
}

/// Whether a path names something specific enough to replace everywhere: at least two levels deep (`/root` aside).
fn is_specific(path: &str) -> bool {
    path.starts_with('/') && (path.matches('/').count() >= 2 || path == "/root")
}

/// Finds known paths in text, longest first, only where a whole path component ends.
#[derive(Debug, Clone)]
pub struct PathFinder {
    paths: Vec<(Arc<str>, String)>,
    automaton: Option<AhoCorasick>,
}

impl PathFinder {
    pub fn new(paths: &[KnownPath]) -> PathFinder {
        let mut paths: Vec<(Arc<str>, String)> =
            paths.iter().map(|p| (Arc::from(p.kind.as_str()), p.path.clone())).collect();
        paths.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.1.cmp(&b.1)));
        let automaton = (!paths.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(paths.iter().map(|(_, p)| p))
                .expect("paths build an automaton")
        });
        PathFinder { paths, automaton }
    }

    /// Splits `text` where known paths occur: `Some(segments)` with placeholders made by `assign`, or `None` when
    /// there is none.
    pub fn split(&self, text: &str, assign: &mut dyn FnMut(&Arc<str>, &str) -> Segment) -> Option<Vec<Segment>> {
        let automaton = self.automaton.as_ref()?;
        let mut out = Vec::new();
        let mut last = 0;
        let mut at = 0;
        while let Some(m) = automaton.find(&text[at..]) {
            let start = at + m.start();
            // The longest path found may run on into a longer name (`/w/app` in `/w/apple`): then try the shorter
            // known paths at the same place.
            let hit = self
                .paths
                .iter()
                .find(|(_, p)| text[start..].starts_with(p.as_str()) && ends_component(text, start + p.len()));
            match hit {
                Some((kind, path)) => {
                    out.push(Segment::Literal(text[last..start].to_string()));
                    out.push(assign(kind, path));
                    last = start + path.len();
                    at = last;
                }
                None => at = start + 1,
            }
            if at >= text.len() {
                break;
            }
            while !text.is_char_boundary(at) {
                at += 1;
            }
        }
        if out.is_empty() {
            return None;
        }
        out.push(Segment::Literal(text[last..].to_string()));
        Some(out)
    }
}

fn ends_component(text: &str, end: usize) -> bool {
    text[end..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Placeholder, text_node};

    fn finder(paths: &[(&str, &str)]) -> PathFinder {
        PathFinder::new(&known(paths))
    }

    fn known(paths: &[(&str, &str)]) -> Vec<KnownPath> {
        paths.iter().map(|(k, p)| KnownPath { kind: k.to_string(), path: p.to_string() }).collect()
    }

    #[test]
    fn the_run_directory_holds_the_workspace_and_home_or_a_workspace_alone() {
        let both = known(&[("cwd", "/var/tmp/runs/a/workspace"), ("home", "/var/tmp/runs/a/home")]);
        assert_eq!(run_dir(&both).as_deref(), Some("/var/tmp/runs/a"));
        let apart = known(&[("cwd", "/var/tmp/runs/a/workspace"), ("home", "/var/tmp/other/home")]);
        assert_eq!(run_dir(&apart), None);
        // A run without requests names no HOME: the recorder's layout is told by the workspace's name.
        assert_eq!(run_dir(&known(&[("cwd", "/var/tmp/runs/b/workspace")])).as_deref(), Some("/var/tmp/runs/b"));
        assert_eq!(run_dir(&known(&[("cwd", "/var/tmp/runs/b/project")])), None);
        assert_eq!(run_dir(&known(&[("cwd", "/tmp/workspace")])), None, "too short to be the run's own");
    }

    fn replace(f: &PathFinder, text: &str) -> String {
        let mut assign = |kind: &Arc<str>, _: &str| Segment::Placeholder(Placeholder { kind: kind.clone(), n: 1 });
        match f.split(text, &mut assign) {
            Some(segments) => text_node(segments).to_value().as_str().unwrap().to_string(),
            None => text.to_string(),
        }
    }

    #[test]
    fn longest_path_wins_and_only_whole_components_match() {
        let f = finder(&[("home", "/home/al"), ("cwd", "/home/al/proj")]);
        assert_eq!(replace(&f, "cd /home/al/proj/src"), "cd <cwd#1>/src");
        assert_eq!(replace(&f, "/home/al/.codex"), "<home#1>/.codex");
        assert_eq!(replace(&f, "/home/al/project"), "<home#1>/project");
        assert_eq!(replace(&f, "/home/alice"), "/home/alice");
        assert_eq!(replace(&f, "<cwd>/home/al/proj</cwd>"), "<cwd><cwd#1></cwd>");
        assert_eq!(replace(&f, "é /home/al"), "é <home#1>");
        assert!(finder(&[]).split("x", &mut |_, _| unreachable!()).is_none());
    }

    #[test]
    fn too_general_paths_are_not_derived() {
        assert!(!is_specific("/"));
        assert!(!is_specific("/tmp"));
        assert!(!is_specific("relative/path"));
        assert!(is_specific("/root"));
        assert!(is_specific("/tmp/x"));
    }
}
