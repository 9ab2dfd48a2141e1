//! Suites: recordings of many scenarios side by side, one directory per scenario (what `parity record --all` and
//! `parity check --out` write), compared scenario by scenario.
//!
//! A scenario directory is a subdirectory holding a `run.json` or a `captures/` directory. Each scenario's requests
//! are numbered from session 1 of their own, so a suite cannot be compared as one recording: the scenarios are
//! paired by name, and each pair is diffed alone.

use std::path::{Path, PathBuf};

use parity_capture::Recording;
use serde::Serialize;

use crate::accept::AcceptEntry;
use crate::compare::{Comparison, Summary};
use crate::normalize::NormalizeOptions;
use crate::rules::RuleSet;

/// One scenario's result: its comparison, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    /// The comparison, or what stopped it (a side missing, a capture that does not load, a failed recording).
    pub outcome: Result<Comparison, String>,
    /// Something to say beside the verdict (e.g. that the agent's turn failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ScenarioResult {
    pub fn is_clean(&self) -> bool {
        self.outcome.as_ref().is_ok_and(Comparison::is_clean)
    }
}

/// Every scenario of two suites.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuiteComparison {
    pub left: String,
    pub right: String,
    pub scenarios: Vec<ScenarioResult>,
    /// Accept entries that matched nothing in any compared scenario.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<AcceptEntry>,
}

impl SuiteComparison {
    /// Counts over every compared scenario.
    pub fn summary(&self) -> Summary {
        let mut total = Summary::default();
        for scenario in &self.scenarios {
            if let Ok(c) = &scenario.outcome {
                total.add(&c.summary());
            }
        }
        total.stale = self.stale.len();
        total
    }

    /// Scenarios that could not be compared.
    pub fn errors(&self) -> usize {
        self.scenarios.iter().filter(|s| s.outcome.is_err()).count()
    }

    pub fn clean_scenarios(&self) -> usize {
        self.scenarios.iter().filter(|s| s.is_clean()).count()
    }

    /// Whether every scenario was compared and nothing diverges.
    pub fn is_clean(&self) -> bool {
        self.scenarios.iter().all(ScenarioResult::is_clean)
    }
}

/// The scenario directories of a suite, by name, sorted.
pub fn scenario_names(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() && is_scenario_dir(&entry.path()) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn is_scenario_dir(dir: &Path) -> bool {
    dir.join("run.json").is_file() || dir.join("captures").is_dir()
}

/// Whether `dir` is a suite: not a recording itself, but a directory of scenario directories.
pub fn is_suite(dir: &Path) -> bool {
    dir.is_dir() && !is_scenario_dir(dir) && scenario_names(dir).is_ok_and(|names| !names.is_empty())
}

/// Where a scenario's captures are inside its directory.
pub fn captures_of(suite: &Path, scenario: &str) -> PathBuf {
    suite.join(scenario).join("captures")
}

/// Compares two suites scenario by scenario, over the scenarios either side has (or only `only`, when given).
pub fn diff_suites(
    left: &Path,
    right: &Path,
    rules: &RuleSet,
    options: NormalizeOptions,
    only: Option<&[String]>,
) -> std::io::Result<SuiteComparison> {
    let (left_names, right_names) = (scenario_names(left)?, scenario_names(right)?);
    let protocol = protocol_beside(left);
    let mut names: Vec<String> = left_names.iter().chain(&right_names).cloned().collect();
    names.sort();
    names.dedup();
    if let Some(only) = only {
        names.retain(|n| only.contains(n));
    }
    let scenarios = names
        .into_iter()
        .map(|name| {
            let outcome = match (left_names.contains(&name), right_names.contains(&name)) {
                (true, false) => Err(format!("only in {}: {} has no such scenario", left.display(), right.display())),
                (false, true) => Err(format!("only in {}: {} has no such scenario", right.display(), left.display())),
                _ => compare_scenario(&left.join(&name), &right.join(&name), rules, options, protocol.as_ref()),
            };
            ScenarioResult { name, outcome, note: None }
        })
        .collect();
    Ok(SuiteComparison {
        left: left.display().to_string(),
        right: right.display().to_string(),
        scenarios,
        stale: Vec::new(),
    })
}

/// Where a suite keeps the app-server protocol's schema it was recorded with (`captures/codex-0.169.0` has one).
pub const PROTOCOL_DIR: &str = "app-server-schema";

/// The protocol recorded beside a suite's scenarios, when there is one.
pub fn protocol_beside(suite: &Path) -> Option<parity_protocol::Protocol> {
    let dir = suite.join(PROTOCOL_DIR);
    dir.is_dir().then(|| parity_protocol::Protocol::load(&dir).ok()).flatten()
}

/// Compares two recordings of a scenario (their directories, as `parity record` writes them): the captures, the
/// event streams when `options` asks, and, given the protocol, every JSON-RPC message of either side's transcript
/// against it (the category `protocol`), and the files kept from the agent's home (the category `files`).
pub fn compare_scenario(
    left: &Path,
    right: &Path,
    rules: &RuleSet,
    options: NormalizeOptions,
    protocol: Option<&parity_protocol::Protocol>,
) -> Result<Comparison, String> {
    let mut comparison = diff_scenario(&left.join("captures"), &right.join("captures"), rules, options)?;
    if let Some(protocol) = protocol {
        crate::protocol::check_transcripts(&mut comparison, protocol, left, right);
    }
    crate::kept::compare_kept_files(&mut comparison, left, right)?;
    Ok(comparison)
}

/// Compares one scenario's captures; a side with no captures directory compares as empty (an agent that sent
/// nothing), so every request of the other side is reported missing.
pub fn diff_scenario(
    left: &Path,
    right: &Path,
    rules: &RuleSet,
    options: NormalizeOptions,
) -> Result<Comparison, String> {
    let load = |dir: &Path| -> Result<Recording, String> {
        if !dir.exists() {
            return Ok(Recording { root: dir.to_path_buf(), sessions: Vec::new() });
        }
        Recording::load(dir).map_err(|e| e.to_string())
    };
    let (l, r) = (load(left)?, load(right)?);
    Ok(crate::diff_recordings(&l, &r, rules, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_directories_are_told_from_other_directories() {
        let dir = tempfile::tempdir().unwrap();
        for (path, is_file) in [("a/run.json", true), ("b/captures", false), ("c/notes.txt", true)] {
            let path = dir.path().join(path);
            std::fs::create_dir_all(if is_file { path.parent().unwrap() } else { &path }).unwrap();
            if is_file {
                std::fs::write(&path, "{}").unwrap();
            }
        }
        assert_eq!(scenario_names(dir.path()).unwrap(), ["a", "b"]);
        assert!(is_suite(dir.path()));
        assert!(!is_suite(&dir.path().join("a")), "a scenario is a recording, not a suite");
        assert!(!is_suite(&dir.path().join("c")));
    }
}
