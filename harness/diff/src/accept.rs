//! Accepted divergences: a baseline of known differences, each with its reason.
//!
//! ```toml
//! [[accept]]
//! category = "prompt"                  # schema, relation, value, prompt, events, protocol or files
//! path = "/body/tools/*/description"    # a JSON pointer; `*` is one level, `**` any number
//! request = "session-01/*"              # optional: a glob on the request id (`session-01/0002`) or capture file
//! scenario = "exec-*"                   # optional, for `parity check`: a glob on the scenario's name
//! reason = "our exec_command description is shorter on purpose"
//! ```
//!
//! [`AcceptList::apply`] sets the divergences an entry covers apart (they no longer count against the run) and lists
//! the entries that covered nothing as stale, so that a baseline does not outlive what it excused.

use std::path::Path;

use regex::Regex;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::compare::{Accepted, Category, Comparison, Divergence, RequestPair};
use crate::selector::{Selector, Step, pointer_tokens};
use crate::source::{FileError, Source};

/// One accept entry, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AcceptEntry {
    pub category: Category,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    pub reason: String,
    /// The line of the entry's `path` in its file (1-based).
    pub line: usize,
}

#[derive(Debug, Clone)]
struct Matcher {
    entry: AcceptEntry,
    path: Selector,
    request: Option<Regex>,
    scenario: Option<Regex>,
}

/// The entries of an accept file.
#[derive(Debug, Clone, Default)]
pub struct AcceptList {
    matchers: Vec<Matcher>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptFile {
    #[serde(default)]
    accept: Vec<Spanned<EntryFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    category: Category,
    path: Spanned<String>,
    #[serde(default)]
    request: Option<Spanned<String>>,
    #[serde(default)]
    scenario: Option<Spanned<String>>,
    reason: Spanned<String>,
}

impl AcceptList {
    pub fn load(path: &Path) -> Result<AcceptList, FileError> {
        let mut text = String::new();
        let source = Source::read(path, &mut text)?;
        AcceptList::parse(&source)
    }

    /// Parses an accept file's text; `path` names the file in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<AcceptList, FileError> {
        AcceptList::parse(&Source { path, text })
    }

    fn parse(source: &Source<'_>) -> Result<AcceptList, FileError> {
        let file: AcceptFile = source.parse()?;
        let mut matchers = Vec::new();
        for spanned in file.accept {
            let entry = spanned.into_inner();
            let line = source.error_at(entry.path.span(), "").line.unwrap_or(1);
            if entry.reason.get_ref().trim().is_empty() {
                return Err(
                    source.error_at(entry.reason.span(), "accept: `reason` must say why the divergence is accepted")
                );
            }
            let path = Selector::parse_pointer(entry.path.get_ref())
                .map_err(|e| source.error_at(entry.path.span(), format!("accept: path: {e}")))?;
            let request = entry.request.as_ref().map(|glob| glob_regex(glob.get_ref()));
            let scenario = entry.scenario.as_ref().map(|glob| glob_regex(glob.get_ref()));
            matchers.push(Matcher {
                entry: AcceptEntry {
                    category: entry.category,
                    path: entry.path.into_inner(),
                    request: entry.request.map(Spanned::into_inner),
                    scenario: entry.scenario.map(Spanned::into_inner),
                    reason: entry.reason.into_inner(),
                    line,
                },
                path,
                request,
                scenario,
            });
        }
        Ok(AcceptList { matchers })
    }

    pub fn len(&self) -> usize {
        self.matchers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.matchers.is_empty()
    }

    /// Moves the divergences the entries cover into each pair's `accepted`, and records unused entries as stale.
    pub fn apply(&self, comparison: &mut Comparison) {
        let used = self.apply_in(comparison, None);
        comparison.stale = self.unused(&used);
    }

    /// Like [`AcceptList::apply`] for one scenario of a `parity check` run: entries naming another scenario do not
    /// apply. Returns which entries covered something, so that staleness is judged over the whole run.
    pub fn apply_in(&self, comparison: &mut Comparison, scenario: Option<&str>) -> Vec<bool> {
        let mut used = vec![false; self.matchers.len()];
        for pair in &mut comparison.pairs {
            let mut kept = Vec::with_capacity(pair.divergences.len());
            for divergence in std::mem::take(&mut pair.divergences) {
                let applies = |m: &&Matcher| match (&m.scenario, scenario) {
                    (None, _) => true,
                    (Some(glob), Some(name)) => glob.is_match(name),
                    (Some(_), None) => false,
                };
                match self.matchers.iter().position(|m| applies(&m) && m.covers(pair, &divergence)) {
                    Some(i) => {
                        used[i] = true;
                        pair.accepted.push(Accepted { divergence, reason: self.matchers[i].entry.reason.clone() });
                    }
                    None => kept.push(divergence),
                }
            }
            pair.divergences = kept;
        }
        used
    }

    /// The entries that covered nothing, given which did.
    pub fn unused(&self, used: &[bool]) -> Vec<AcceptEntry> {
        self.matchers.iter().zip(used).filter(|(_, used)| !**used).map(|(m, _)| m.entry.clone()).collect()
    }

    /// The entries that covered nothing in a run over only some scenarios (`parity check --only` or `--shard`):
    /// an entry naming scenarios is judged only when one of them ran; an entry naming none only on a whole run
    /// (`whole` set), since the scenarios it is for may be in another shard.
    pub fn unused_in(&self, used: &[bool], ran: &[String], whole: bool) -> Vec<AcceptEntry> {
        self.matchers
            .iter()
            .zip(used)
            .filter(|(m, used)| {
                !**used
                    && match &m.scenario {
                        Some(glob) => ran.iter().any(|name| glob.is_match(name)),
                        None => whole,
                    }
            })
            .map(|(m, _)| m.entry.clone())
            .collect()
    }

    /// Whether an entry (one of [`AcceptList::unused`]'s, say) names this scenario.
    pub fn names_scenario(entry: &AcceptEntry, scenario: &str) -> bool {
        entry.scenario.as_deref().is_some_and(|glob| glob_regex(glob).is_match(scenario))
    }
}

impl Matcher {
    fn covers(&self, pair: &RequestPair, d: &Divergence) -> bool {
        if d.category != self.entry.category {
            return false;
        }
        if let Some(request) = &self.request {
            let files = [&pair.left, &pair.right];
            let named = request.is_match(&pair.id)
                || files.iter().filter_map(|f| f.as_ref()).any(|f| request.is_match(&f.file));
            if !named {
                return false;
            }
        }
        let matches = |pointer: &str| {
            let tokens = pointer_tokens(pointer);
            let steps: Vec<Step<'_>> = tokens
                .iter()
                .map(|t| match t.parse::<usize>() {
                    Ok(i) => Step::Index(i),
                    Err(_) => Step::Key(t),
                })
                .collect();
            self.path.matches(&steps)
        };
        matches(&d.path) || d.right_path.as_deref().is_some_and(matches)
    }
}

/// A glob (`*` any run of characters, `?` one) as an anchored regex.
fn glob_regex(glob: &str) -> Regex {
    let mut pattern = String::from("^");
    for c in glob.chars() {
        match c {
            '*' => pattern.push_str(".*"),
            '?' => pattern.push('.'),
            c => pattern.push_str(&regex::escape(&c.to_string())),
        }
    }
    pattern.push('$');
    Regex::new(&pattern).expect("an escaped glob is a valid regex")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Kind, RequestInfo, SideInfo};

    fn divergence(category: Category, path: &str) -> Divergence {
        Divergence {
            category,
            kind: Kind::Changed,
            path: path.into(),
            right_path: None,
            left: None,
            right: None,
            note: None,
            text_diff: None,
        }
    }

    fn comparison() -> Comparison {
        let side = SideInfo { root: "x".into(), requests: 2, paths: vec![] };
        let pair = |seq: u32, divergences| RequestPair {
            id: format!("session-01/{seq:04}"),
            session: 1,
            seq,
            left: Some(RequestInfo {
                file: format!("session-01/{seq:04}-post-responses.json"),
                label: "POST /v1/responses".into(),
                step: None,
                path: Default::default(),
            }),
            right: None,
            divergences,
            accepted: vec![],
            patch: None,
            explain_left: vec![],
            explain_right: vec![],
            events: false,
        };
        Comparison {
            left: side.clone(),
            right: side,
            pairs: vec![
                pair(
                    1,
                    vec![
                        divergence(Category::Prompt, "/body/tools/0/description"),
                        divergence(Category::Schema, "/headers/x-a"),
                    ],
                ),
                pair(2, vec![divergence(Category::Prompt, "/body/tools/3/description")]),
            ],
            stale: vec![],
        }
    }

    #[test]
    fn entries_cover_by_category_path_and_request_and_stale_ones_are_named() {
        let list = AcceptList::from_toml(
            r#"
[[accept]]
category = "prompt"
path = "/body/tools/*/description"
request = "session-01/0002*"
reason = "shorter on purpose"

[[accept]]
category = "schema"
path = "/headers/**"
reason = "headers later"

[[accept]]
category = "value"
path = "/body/model"
reason = "no longer happens"
"#,
            Path::new("accept.toml"),
        )
        .unwrap();
        let mut c = comparison();
        list.apply(&mut c);
        assert_eq!(c.pairs[0].divergences.len(), 1, "request 1's prompt divergence is not covered");
        assert_eq!(c.pairs[0].accepted[0].reason, "headers later");
        assert!(c.pairs[1].divergences.is_empty());
        assert_eq!(c.pairs[1].accepted[0].reason, "shorter on purpose");
        assert_eq!(c.stale.len(), 1);
        assert_eq!((c.stale[0].path.as_str(), c.stale[0].line), ("/body/model", 15));
        assert_eq!(c.summary().accepted, 2);
        assert!(!c.is_clean());
    }

    #[test]
    fn bad_entries_are_located() {
        let err = |text: &str| AcceptList::from_toml(text, Path::new("a.toml")).unwrap_err().to_string();
        assert!(
            err("[[accept]]\ncategory = \"prompt\"\npath = \"/x\"\nreason = \" \"\n")
                .starts_with("a.toml:4:10: accept: `reason` must say why")
        );
        assert!(err("[[accept]]\ncategory = \"prompt\"\npath = \"/x\"\n").contains("missing field `reason`"));
        assert!(
            err("[[accept]]\ncategory = \"style\"\npath = \"/x\"\nreason = \"r\"\n")
                .starts_with("a.toml:2:12: unknown variant `style`")
        );
        assert!(
            err("[[accept]]\ncategory = \"prompt\"\npath = \"body\"\nreason = \"r\"\n")
                .starts_with("a.toml:3:8: accept: path: `body` is not a JSON pointer")
        );
    }

    #[test]
    fn globs_are_anchored() {
        assert!(glob_regex("session-01/*").is_match("session-01/0002"));
        assert!(!glob_regex("session-01/*").is_match("x/session-01/0002"));
        assert!(glob_regex("s?.json").is_match("s1.json"));
        assert!(!glob_regex("a.b").is_match("axb"));
    }
}
