//! What parity wrote into a captures directory, told apart from everything else there, so that `--clean` removes
//! only parity's own files.
//!
//! Parity owns, in a captures directory:
//! - the marker file [`CAPTURES_MARKER`], written whenever a server opens the directory;
//! - capture files: `session-NN/NNNN-*.json` directly under the directory whose JSON says `"format":
//!   "parity.capture/v1"` (a file of that name without the format field is not parity's);
//! - temporary files of interrupted writes (`.<name>.<random>.tmp-parity`) in the directory or a session directory;
//! - session directories, once they are empty.
//!
//! Nothing else is ever removed: not a user's `notes/0001-meeting.json`, not a recording nested deeper, not a file a
//! user put into a session directory.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::FORMAT;
use crate::store::{TEMP_SUFFIX, is_capture_file_name};

/// The file that marks a directory as a parity captures directory.
pub const CAPTURES_MARKER: &str = ".parity-captures";

const MARKER_TEXT: &str = "This directory holds captures written by parity (format parity.capture/v1).\n\
`parity serve --clean` removes only the session-NN/NNNN-*.json captures of that format, and this file.\n";

/// What a captures directory holds, sorted into parity's files and the rest.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CapturesSurvey {
    /// The marker file is there.
    pub marker: bool,
    /// Capture files parity wrote.
    pub captures: Vec<PathBuf>,
    /// Temporary files of interrupted writes.
    pub temporaries: Vec<PathBuf>,
    /// Session directories (they may also hold other files).
    pub session_dirs: Vec<PathBuf>,
    /// Everything else, relative to the directory, a directory with a trailing `/`.
    pub others: Vec<String>,
}

impl CapturesSurvey {
    /// Whether parity has written here: the marker, or captures of parity's format where parity puts them.
    pub fn is_parity_dir(&self) -> bool {
        self.marker || !self.captures.is_empty()
    }

    /// A short list of what else is there, for messages: `thesis.txt, sub/ and 3 more`.
    pub fn others_brief(&self) -> String {
        brief_list(&self.others)
    }
}

/// `a, b, c and 4 more`: the first few names of a list.
pub fn brief_list(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = names.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

/// Looks at a directory (which must exist) without changing it. Only the directory itself and its session
/// directories are read: parity never writes deeper.
pub fn survey(root: &Path) -> io::Result<CapturesSurvey> {
    let mut survey = CapturesSurvey::default();
    for entry in sorted_entries(root)? {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type()?.is_dir();
        if name == CAPTURES_MARKER && !is_dir {
            survey.marker = true;
        } else if is_temporary(&name) && !is_dir {
            survey.temporaries.push(path);
        } else if is_dir && is_session_dir_name(&name) {
            for inner in sorted_entries(&path)? {
                let inner_path = inner.path();
                let inner_name = inner.file_name().to_string_lossy().into_owned();
                let is_file = inner.file_type()?.is_file();
                if is_file && is_temporary(&inner_name) {
                    survey.temporaries.push(inner_path);
                } else if is_file && is_capture_file_name(&inner_name) && has_capture_format(&inner_path) {
                    survey.captures.push(inner_path);
                } else {
                    let slash = if is_file { "" } else { "/" };
                    survey.others.push(format!("{name}/{inner_name}{slash}"));
                }
            }
            survey.session_dirs.push(path);
        } else {
            survey.others.push(if is_dir { format!("{name}/") } else { name });
        }
    }
    Ok(survey)
}

/// Writes the marker (atomically, so a killed run never leaves half of it).
pub fn write_marker(root: &Path) -> io::Result<()> {
    let path = root.join(CAPTURES_MARKER);
    if path.is_file() {
        return Ok(());
    }
    crate::store::write_atomic(&path, MARKER_TEXT.as_bytes())
}

/// Removes what a survey found to be parity's: captures, temporaries, the marker, and session directories left
/// empty. Returns how many captures went.
pub fn remove_owned(root: &Path, survey: &CapturesSurvey) -> io::Result<usize> {
    for path in survey.captures.iter().chain(&survey.temporaries) {
        remove_file_if_present(path)?;
    }
    for dir in &survey.session_dirs {
        // Only an empty session directory goes: anything a user put there stays, with its directory.
        let _ = fs::remove_dir(dir);
    }
    if survey.marker {
        remove_file_if_present(&root.join(CAPTURES_MARKER))?;
    }
    Ok(survey.captures.len())
}

/// Removes the temporary files of interrupted writes, which are parity's whatever the directory's state.
pub fn remove_temporaries(survey: &CapturesSurvey) -> io::Result<()> {
    survey.temporaries.iter().try_for_each(|path| remove_file_if_present(path))
}

/// Removes a file; one already gone is no error (a run killed midway may have removed it).
pub fn remove_file_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn sorted_entries(dir: &Path) -> io::Result<Vec<fs::DirEntry>> {
    let mut entries = fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

/// `session-01`, `session-123`: what [`crate::store::session_dir_name`] makes.
fn is_session_dir_name(name: &str) -> bool {
    name.strip_prefix("session-").is_some_and(|n| n.len() >= 2 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `.0001-post-responses.json.Ab12Cd.tmp-parity`: what [`crate::store::write_atomic`] writes through.
fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(TEMP_SUFFIX)
}

/// Whether the file is JSON whose `format` is parity's capture format.
fn has_capture_format(path: &Path) -> bool {
    let Ok(text) = fs::read(path) else { return false };
    serde_json::from_slice::<Value>(&text).is_ok_and(|v| v.get("format").and_then(Value::as_str) == Some(FORMAT))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plant(root: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
    }

    const CAPTURE: &str = "{\"format\": \"parity.capture/v1\"}";

    #[test]
    fn only_captures_of_parity_format_where_parity_writes_them_are_parity_s() {
        let dir = tempfile::tempdir().unwrap();
        plant(
            dir.path(),
            &[
                ("session-01/0001-post-responses.json", CAPTURE),
                ("session-01/0002-post-responses.json", "{\"mine\": true}"),
                ("session-01/.0003-post-responses.json.x1.tmp-parity", "{"),
                ("notes/0001-meeting.json", "{}"),
                ("old/session-01/0001-post-responses.json", CAPTURE),
                ("2024-budget.json", "{}"),
                ("session-x/0001-post-responses.json", CAPTURE),
            ],
        );
        let s = survey(dir.path()).unwrap();
        assert!(!s.marker);
        assert_eq!(s.captures, vec![dir.path().join("session-01/0001-post-responses.json")]);
        assert_eq!(s.temporaries.len(), 1);
        assert_eq!(
            s.others,
            ["2024-budget.json", "notes/", "old/", "session-01/0002-post-responses.json", "session-x/"]
        );
        assert!(s.is_parity_dir());
        assert_eq!(remove_owned(dir.path(), &s).unwrap(), 1);
        for kept in [
            "session-01/0002-post-responses.json",
            "notes/0001-meeting.json",
            "old/session-01/0001-post-responses.json",
        ] {
            assert!(dir.path().join(kept).is_file(), "{kept} is kept");
        }
        assert!(!dir.path().join("session-01/0001-post-responses.json").exists());
    }

    #[test]
    fn brief_lists_stop_after_five() {
        let names: Vec<String> = (1..=7).map(|i| format!("f{i}")).collect();
        assert_eq!(brief_list(&names), "f1, f2, f3, f4, f5 and 2 more");
        assert_eq!(brief_list(&names[..2]), "f1, f2");
    }
}
