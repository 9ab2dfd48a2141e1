//! Replacing a baseline's scenario by a new recording of it, touching only parity's files, and never leaving a
//! half-replaced scenario.
//!
//! Parity's files in a scenario directory are the ones a run writes (`run.json` of parity's run format, the
//! transcript, each `turn-N/` output file, the captures parity wrote, see [`parity_capture::owned`]) and the normalized view
//! (`normalized/`, see [`parity_diff::view`]). Anything else there is the user's and stays in the scenario.
//!
//! The new recording is copied into a staging directory beside the scenario (`.parity-review.<name>.staging`, holding
//! a marker while incomplete), which is then swapped with the scenario in one `renameat2(RENAME_EXCHANGE)`: the
//! scenario is at every instant either wholly the old recording or wholly the new one. The old one, now at
//! `.parity-review.<name>.old`, gives back the user's files and is removed. [`recover`] finishes (or rolls back) a
//! replacement that was killed midway, from what is on disk.

use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context;
use parity_capture::owned;
use parity_diff::RuleSet;
use parity_diff::view::VIEW_DIR;
use parity_recorder::output::recording_files;
use parity_recorder::run::CAPTURES_DIR;
use sha2::{Digest, Sha256};

/// Inside a staging directory until its copy is complete and it is swapped in.
const INCOMING_MARKER: &str = ".parity-review-incoming";
const PREFIX: &str = ".parity-review.";
const STAGING: &str = ".staging";
const OLD: &str = ".old";

/// Parity's files in a scenario directory, relative to it, sorted: what a run wrote
/// ([`parity_recorder::output::recording_files`]) and the normalized view. A missing directory has none.
pub fn parity_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = recording_files(dir)?;
    if dir.is_dir() {
        let views = crate::normalize::existing_views(&dir.join(VIEW_DIR)).map_err(io::Error::other)?;
        files.extend(views.into_iter().map(|v| Path::new(VIEW_DIR).join(v)));
        files.sort();
    }
    Ok(files)
}

/// A short fingerprint of a scenario's recording (its files but the normalized view, which can be rewritten at
/// any time without the recording changing): two recordings of a scenario have two fingerprints.
pub fn fingerprint(dir: &Path) -> io::Result<String> {
    if !dir.is_dir() {
        return Ok("absent".into());
    }
    let mut hash = Sha256::new();
    for file in parity_files(dir)?.iter().filter(|f| !f.starts_with(VIEW_DIR)) {
        hash.update(file.to_string_lossy().as_bytes());
        hash.update([0]);
        hash.update(std::fs::read(dir.join(file))?);
        hash.update([0]);
    }
    Ok(hash.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect())
}

fn staging_of(baseline: &Path, name: &str) -> PathBuf {
    baseline.join(format!("{PREFIX}{name}{STAGING}"))
}

fn old_of(baseline: &Path, name: &str) -> PathBuf {
    baseline.join(format!("{PREFIX}{name}{OLD}"))
}

/// Replaces the baseline's `name` by `source` (a scenario directory of the new suite), or, when `source` is `None`,
/// removes the baseline's recording of it. `views` regenerates the normalized view of the new recording when either
/// side had one. Returns a warning when a file of the user's could not be put back.
pub fn replace(baseline: &Path, name: &str, source: Option<&Path>, views: &RuleSet) -> anyhow::Result<Option<String>> {
    let target = baseline.join(name);
    let staging = staging_of(baseline, name);
    let old = old_of(baseline, name);
    recover(baseline, name)?;
    let at = |what: &str, path: &Path| format!("{what} {}", path.display());

    std::fs::create_dir(&staging).with_context(|| at("making", &staging))?;
    parity_capture::store::write_atomic(&staging.join(INCOMING_MARKER), b"")
        .with_context(|| at("writing the marker in", &staging))?;
    let mut had_views = target.join(VIEW_DIR).is_dir();
    if let Some(source) = source {
        had_views |= source.join(VIEW_DIR).is_dir();
        for file in parity_files(source).with_context(|| at("reading", source))? {
            if file.starts_with(VIEW_DIR) {
                continue;
            }
            let to = staging.join(&file);
            std::fs::create_dir_all(to.parent().expect("a file under the staging directory"))
                .with_context(|| at("making a directory in", &staging))?;
            std::fs::copy(source.join(&file), &to).with_context(|| at("copying", &source.join(&file)))?;
        }
    }
    if had_views && staging.join(CAPTURES_DIR).is_dir() {
        crate::normalize::update_view(&staging, views, true)?;
    }

    if target.exists() {
        swap(&staging, &target, &old)
            .with_context(|| format!("swapping {} with {}", staging.display(), target.display()))?;
    } else {
        std::fs::rename(&staging, &target).with_context(|| at("moving into place", &staging))?;
    }
    finish(&target, &old, source.is_none())
}

/// Exchanges the staging directory with the scenario, leaving the old recording at `old`.
fn swap(staging: &Path, target: &Path, old: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, staging, CWD, target, RenameFlags::EXCHANGE) {
        Ok(()) => std::fs::rename(staging, old),
        // A file system without the exchange: two renames, the gap between them covered by `recover`'s roll-back.
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS | rustix::io::Errno::OPNOTSUPP) => {
            std::fs::rename(target, old)?;
            std::fs::rename(staging, target)
        }
        Err(e) => Err(e.into()),
    }
}

/// Moves the user's files from the old recording into the new one, removes the rest of the old recording and the
/// marker. An emptied scenario (a removal with nothing of the user's) goes too.
fn finish(target: &Path, old: &Path, removal: bool) -> anyhow::Result<Option<String>> {
    let mut warning = None;
    if old.is_dir() {
        let ours = parity_files(old).with_context(|| format!("reading {}", old.display()))?;
        let mut kept = Vec::new();
        for entry in walkdir::WalkDir::new(old).min_depth(1).contents_first(true) {
            let entry = entry.with_context(|| format!("reading {}", old.display()))?;
            let rel = entry.path().strip_prefix(old).expect("walkdir stays under its root").to_path_buf();
            if entry.file_type().is_dir() {
                // Empty by now unless something of the user's had to stay.
                let _ = std::fs::remove_dir(entry.path());
            } else if ours.contains(&rel) {
                std::fs::remove_file(entry.path()).with_context(|| format!("removing {}", entry.path().display()))?;
            } else {
                let to = target.join(&rel);
                if to.symlink_metadata().is_ok() {
                    kept.push(rel.display().to_string());
                    continue;
                }
                std::fs::create_dir_all(to.parent().expect("a file under the scenario"))?;
                std::fs::rename(entry.path(), &to)
                    .with_context(|| format!("moving {} back", entry.path().display()))?;
            }
        }
        if std::fs::remove_dir(old).is_err() {
            warning = Some(format!(
                "{} stays: the new recording has files of the same names as yours ({}); move them by hand",
                old.display(),
                owned::brief_list(&kept)
            ));
        }
    }
    let marker = target.join(INCOMING_MARKER);
    if marker.exists() {
        std::fs::remove_file(&marker).with_context(|| format!("removing {}", marker.display()))?;
    }
    if removal {
        let _ = std::fs::remove_dir(target);
    }
    Ok(warning)
}

/// Finishes or rolls back a replacement of `name` that a killed review left: an incomplete staging copy is
/// discarded; a swapped-out old recording gives back the user's files (or, when the scenario itself is missing
/// because the kill fell between two plain renames, goes back into place).
pub fn recover(baseline: &Path, name: &str) -> anyhow::Result<Option<String>> {
    let (target, staging, old) = (baseline.join(name), staging_of(baseline, name), old_of(baseline, name));
    if staging.is_dir() {
        if staging.join(INCOMING_MARKER).is_file() {
            std::fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
        } else {
            // No marker: the exchange happened, this is the old recording.
            std::fs::rename(&staging, &old).with_context(|| format!("moving {} aside", staging.display()))?;
        }
    }
    if old.is_dir() && !target.exists() {
        std::fs::rename(&old, &target).with_context(|| format!("putting {} back", old.display()))?;
        return Ok(None);
    }
    if old.is_dir() || target.join(INCOMING_MARKER).exists() {
        return finish(&target, &old, false);
    }
    Ok(None)
}

/// Recovers every interrupted replacement in the baseline. Returns what was recovered, with any warning.
pub fn recover_all(baseline: &Path) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(baseline).with_context(|| format!("reading {}", baseline.display()))? {
        let file_name = entry?.file_name().to_string_lossy().into_owned();
        let name = file_name.strip_prefix(PREFIX).and_then(|n| n.strip_suffix(STAGING).or_else(|| n.strip_suffix(OLD)));
        if let Some(name) = name.filter(|n| !n.is_empty() && !names.iter().any(|m: &String| m == n)) {
            names.push(name.to_string());
        }
    }
    names.into_iter().map(|name| Ok((name.clone(), recover(baseline, &name)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use parity_recorder::run::RUN_FORMAT;

    fn plant(root: &Path, files: &[(&str, &str)]) {
        for (name, text) in files {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    const CAPTURE: &str = "{\"format\": \"parity.capture/v1\"}";

    fn recording(root: &Path, tag: &str) {
        let run = format!("{{\"format\": \"{RUN_FORMAT}\", \"scenario\": \"{tag}\"}}");
        plant(
            root,
            &[
                ("run.json", &run),
                ("turn-1/stdout.txt", tag),
                ("captures/.parity-captures", ""),
                ("captures/session-01/0001-post-responses.json", CAPTURE),
            ],
        );
    }

    #[test]
    fn the_new_recording_replaces_parity_s_files_and_the_user_s_files_stay() {
        let dir = tempfile::tempdir().unwrap();
        let (baseline, new) = (dir.path().join("base"), dir.path().join("new"));
        recording(&baseline.join("s"), "old");
        plant(&baseline.join("s"), &[("notes.md", "mine"), ("turn-1/notes.md", "mine too")]);
        plant(&baseline.join("s"), &[("captures/session-02/0001-post-responses.json", CAPTURE)]);
        recording(&new.join("s"), "new");
        plant(&new.join("s"), &[("scratch.txt", "not parity's: not copied")]);

        let warning = replace(&baseline, "s", Some(&new.join("s")), &RuleSet::builtin()).unwrap();
        assert_eq!(warning, None);
        let s = baseline.join("s");
        assert!(read(&s.join("run.json")).contains("\"new\""));
        assert_eq!(read(&s.join("turn-1/stdout.txt")), "new");
        assert_eq!(read(&s.join("notes.md")), "mine");
        assert_eq!(read(&s.join("turn-1/notes.md")), "mine too");
        assert!(!s.join("scratch.txt").exists());
        assert!(!s.join("captures/session-02").exists(), "the old recording's extra session is gone");
        assert!(!s.join(INCOMING_MARKER).exists());
        let left: Vec<_> = std::fs::read_dir(&baseline).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["s"], "nothing is left beside the scenario");
        assert_eq!(fingerprint(&s).unwrap(), fingerprint(&new.join("s")).unwrap());
    }

    #[test]
    fn a_removal_keeps_the_user_s_files_and_an_addition_makes_the_scenario() {
        let dir = tempfile::tempdir().unwrap();
        let (baseline, new) = (dir.path().join("base"), dir.path().join("new"));
        recording(&baseline.join("gone"), "old");
        recording(&baseline.join("bare"), "old");
        plant(&baseline.join("gone"), &[("notes.md", "mine")]);
        recording(&new.join("added"), "new");
        replace(&baseline, "gone", None, &RuleSet::builtin()).unwrap();
        replace(&baseline, "bare", None, &RuleSet::builtin()).unwrap();
        replace(&baseline, "added", Some(&new.join("added")), &RuleSet::builtin()).unwrap();
        assert_eq!(parity_files(&baseline.join("gone")).unwrap(), Vec::<PathBuf>::new());
        assert_eq!(read(&baseline.join("gone/notes.md")), "mine");
        assert!(!baseline.join("bare").exists(), "a scenario with nothing of the user's goes whole");
        assert_eq!(read(&baseline.join("added/turn-1/stdout.txt")), "new");
    }

    #[test]
    fn an_interrupted_replacement_is_finished_or_rolled_back_never_left_half_done() {
        let dir = tempfile::tempdir().unwrap();
        let baseline = dir.path().join("base");
        // Killed while copying: the scenario is untouched, the copy is discarded.
        recording(&baseline.join("a"), "old");
        plant(&staging_of(&baseline, "a"), &[(INCOMING_MARKER, ""), ("run.json", "{")]);
        // Killed right after the exchange: the scenario is the new one; the old gives back the user's file.
        recording(&baseline.join("b"), "new");
        plant(&baseline.join("b"), &[(INCOMING_MARKER, "")]);
        recording(&staging_of(&baseline, "b"), "old");
        plant(&staging_of(&baseline, "b"), &[("notes.md", "mine")]);
        // Killed between two plain renames: the old recording goes back.
        recording(&old_of(&baseline, "c"), "old");

        let mut recovered: Vec<String> = recover_all(&baseline).unwrap().into_iter().map(|(n, _)| n).collect();
        recovered.sort();
        assert_eq!(recovered, ["a", "b", "c"]);
        assert_eq!(read(&baseline.join("a/turn-1/stdout.txt")), "old");
        assert_eq!(read(&baseline.join("b/turn-1/stdout.txt")), "new");
        assert_eq!(read(&baseline.join("b/notes.md")), "mine");
        assert!(!baseline.join("b").join(INCOMING_MARKER).exists());
        assert_eq!(read(&baseline.join("c/turn-1/stdout.txt")), "old");
        let mut left: Vec<_> =
            std::fs::read_dir(&baseline).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["a", "b", "c"]);
    }
}
