//! `parity normalize`: writes the normalized view of each recording beside its captures (`<recording>/normalized/`),
//! so that committing the views and diffing them shows only what really changed between two recordings.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use parity_capture::Recording;
use parity_diff::RuleSet;
use parity_diff::view::{VIEW_DIR, ViewFile, is_view_file_name, is_view_text, views};
use parity_recorder::run::CAPTURES_DIR;

use crate::style::{self, paint};

#[derive(Args)]
pub struct NormalizeArgs {
    /// A recording (a directory holding captures/, as `parity record` writes it) or a suite of them (as
    /// `parity record --all` writes it).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Normalization rules (TOML) added to the built-in ones, as for `parity diff`.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Write nothing; exit 1 when a view is missing or out of date (for CI).
    #[arg(long)]
    check: bool,
}

/// What bringing one recording's view up to date did, or would do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    pub written: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.written.is_empty() && self.removed.is_empty()
    }
}

pub fn run(args: NormalizeArgs) -> anyhow::Result<ExitCode> {
    let rules = match &args.rules {
        Some(path) => RuleSet::load(path).context("invalid rules file")?,
        None => RuleSet::builtin(),
    };
    let recordings = recordings_in(&args.dir)?;
    let mut stale = 0;
    for (name, dir) in &recordings {
        let changes = update_view(dir, &rules, !args.check)?;
        let line = if changes.is_empty() {
            format!("{} {name:<28} {} view(s), up to date", paint(style::GOOD, "✓"), changes.unchanged)
        } else if args.check {
            stale += 1;
            format!(
                "{} {name:<28} out of date: {}",
                paint(style::BAD, "✗"),
                describe_changes(&changes, "missing or changed", "left over")
            )
        } else {
            format!("{} {name:<28} {}", paint(style::GOOD, "✓"), describe_changes(&changes, "written", "removed"))
        };
        anstream::println!("{line}");
    }
    if stale > 0 {
        anstream::eprintln!(
            "{} {stale} recording(s) have views out of date; run `parity normalize {}` and commit the result",
            paint(style::BAD, "parity:"),
            args.dir.display()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_changes(changes: &Changes, written: &str, removed: &str) -> String {
    let mut parts = vec![format!("{} {written}", changes.written.len())];
    if !changes.removed.is_empty() {
        parts.push(format!("{} {removed}", changes.removed.len()));
    }
    parts.push(format!("{} unchanged", changes.unchanged));
    let mut text = parts.join(", ");
    if let Some(first) = changes.written.first().or(changes.removed.first()) {
        text.push_str(&format!(" (first: {VIEW_DIR}/{first})"));
    }
    text
}

/// The recordings under `dir`, by name: `dir` itself when it holds captures/, else each scenario of a suite.
fn recordings_in(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    if !dir.is_dir() {
        bail!("{}: no such directory", dir.display());
    }
    if dir.join(CAPTURES_DIR).is_dir() {
        let name = dir.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
        return Ok(vec![(name.unwrap_or_else(|| dir.display().to_string()), dir.to_path_buf())]);
    }
    let names = parity_diff::suite::scenario_names(dir).with_context(|| format!("reading {}", dir.display()))?;
    let recordings: Vec<(String, PathBuf)> = names
        .into_iter()
        .filter(|n| dir.join(n).join(CAPTURES_DIR).is_dir())
        .map(|n| (n.clone(), dir.join(n)))
        .collect();
    if recordings.is_empty() {
        bail!(
            "{}: neither a recording (a directory holding {CAPTURES_DIR}/) nor a suite of them (directories each \
             holding {CAPTURES_DIR}/)",
            dir.display()
        );
    }
    Ok(recordings)
}

/// Brings `recording/normalized/` in line with the recording's captures: writes views that are missing or differ,
/// removes views of captures that are gone (only files that are views, by name and format), and touches nothing
/// else. With `write` unset, only says what it would do.
pub fn update_view(recording: &Path, rules: &RuleSet, write: bool) -> anyhow::Result<Changes> {
    let captures = recording.join(CAPTURES_DIR);
    let loaded = Recording::load(&captures).with_context(|| format!("loading {}", captures.display()))?;
    write_views(&recording.join(VIEW_DIR), &views(&loaded, rules), write)
}

/// Puts these views into `dir`, as [`update_view`] describes.
pub fn write_views(dir: &Path, wanted: &[ViewFile], write: bool) -> anyhow::Result<Changes> {
    let mut changes = Changes::default();
    for view in wanted {
        let path = dir.join(&view.path);
        if std::fs::read(&path).is_ok_and(|old| old == view.text.as_bytes()) {
            // Left alone, so that an unchanged view keeps its modification time too.
            changes.unchanged += 1;
            continue;
        }
        if write {
            parity_capture::store::write_atomic(&path, view.text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        changes.written.push(view.path.clone());
    }
    for old in existing_views(dir)? {
        if wanted.iter().any(|v| v.path == old) {
            continue;
        }
        if write {
            let path = dir.join(&old);
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            // A session directory goes only once empty: a file of the user's keeps it.
            if let Some(session_dir) = path.parent() {
                let _ = std::fs::remove_dir(session_dir);
            }
        }
        changes.removed.push(old);
    }
    Ok(changes)
}

/// The view files already in a view directory (by name and format: a user's file there is not one), relative.
pub fn existing_views(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    if !dir.is_dir() {
        return Ok(found);
    }
    let read = |d: &Path| std::fs::read_dir(d).with_context(|| format!("reading {}", d.display()));
    for session in read(dir)? {
        let session = session?;
        let session_name = session.file_name().to_string_lossy().into_owned();
        if !session.file_type()?.is_dir() || !session_name.starts_with("session-") {
            continue;
        }
        for file in read(&session.path())? {
            let file = file?;
            let name = file.file_name().to_string_lossy().into_owned();
            let is_view = file.file_type()?.is_file()
                && is_view_file_name(&name)
                && std::fs::read_to_string(file.path()).is_ok_and(|t| is_view_text(&t));
            if is_view {
                found.push(format!("{session_name}/{name}"));
            }
        }
    }
    found.sort();
    Ok(found)
}
