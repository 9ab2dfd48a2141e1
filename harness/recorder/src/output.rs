//! A run's output directory: what parity recognizes as a recording of its own, and the only files `--clean`
//! removes from it.
//!
//! A directory is a parity recording when it holds a `run.json` of parity's run format, or a `captures/` directory
//! that parity wrote (a run killed before its end leaves no `run.json`). Replacing one removes `run.json`, the
//! app-server and tui transcript `frontend.jsonl`, the turns' output files, the tui frontend's `screens/NNN.txt`, parity's captures (see [`parity_capture::owned`]) and the directories they leave empty;
//! whatever else is there stays. A directory that is not a recording is never emptied, and neither is `/`, the home
//! directory, the working directory or one of its parents, whatever they hold.

use std::io;
use std::path::{Path, PathBuf};

use parity_capture::owned::{self, brief_list};
use serde_json::Value;

use crate::run::{CAPTURES_DIR, RUN_FORMAT};

/// The files a run writes into each `turn-N/` directory.
pub const TURN_FILES: &[&str] = &["stdout.txt", "stderr.txt", "events.jsonl"];
/// The run record's file name.
pub const RUN_JSON: &str = "run.json";
/// The files a run writes at the top of its output directory: the run record, and the app-server frontend's
/// transcript.
pub const RUN_FILES: &[&str] = &[RUN_JSON, crate::frontend::transcript::FILE];

/// Where a recording keeps what the scenario asked to keep of the agent's home (`[home] keep`), as laid out there.
pub const KEPT_HOME_DIR: &str = "home";

/// Copies the paths `keep` names under `home` (files, or directories with everything under them) into
/// `out/home/`, each file written atomically. A path the agent did not write is left out: the comparison tells.
pub fn keep_home_files(home: &Path, keep: &[String], out: &Path) -> io::Result<()> {
    for path in keep {
        let (source, target) = (home.join(path), out.join(KEPT_HOME_DIR).join(path));
        if source.is_file() {
            parity_capture::store::write_atomic(&target, &std::fs::read(&source)?)?;
            continue;
        }
        for (relative, contents) in parity_capture::store::read_tree(&source)? {
            parity_capture::store::write_atomic(&target.join(relative), &contents)?;
        }
    }
    Ok(())
}

/// Why an output directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} already holds a recording{what}; choose another directory, or pass --clean to replace it")]
    HoldsRecording { path: PathBuf, what: String },
    #[error(
        "{path} is not empty and is not a parity recording (no run.json, no captures/ written by parity): it holds \
         {holds}; nothing was removed. Choose a new or empty directory"
    )]
    NotARecording { path: PathBuf, holds: String },
    #[error("--clean: refusing to replace {path}: it is {what}; nothing was removed. Choose a directory of its own")]
    Protected { path: PathBuf, what: &'static str },
}

/// Makes `out` ready for a run: created when missing; when it is not empty, replaced if it is a parity recording
/// and `clean` is set, else refused with what is there.
pub fn prepare(out: &Path, clean: bool) -> Result<(), OutputError> {
    let io_error = |source| OutputError::Io { path: out.to_path_buf(), source };
    std::fs::create_dir_all(out).map_err(io_error)?;
    let entries = names_in(out).map_err(io_error)?;
    if entries.is_empty() {
        return Ok(());
    }
    let recording = recording_label(out).map_err(io_error)?;
    match (recording, clean) {
        (None, _) => Err(OutputError::NotARecording { path: out.to_path_buf(), holds: brief_list(&entries) }),
        (Some(what), false) => Err(OutputError::HoldsRecording { path: out.to_path_buf(), what }),
        (Some(_), true) => {
            if let Some(what) = protected(out) {
                return Err(OutputError::Protected { path: out.to_path_buf(), what });
            }
            remove_recording(out).map_err(io_error)
        }
    }
}

/// `Some(" (scenario plain-reply)")` when `dir` is a parity recording, `None` when it is not.
fn recording_label(dir: &Path) -> io::Result<Option<String>> {
    let run_json = dir.join(RUN_JSON);
    if run_json.is_file() {
        let record: Option<Value> = std::fs::read(&run_json).ok().and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(record) = record.filter(|r| r.get("format").and_then(Value::as_str) == Some(RUN_FORMAT)) {
            let scenario = record.get("scenario").and_then(Value::as_str).unwrap_or("?");
            return Ok(Some(format!(" (scenario {scenario}, {RUN_JSON})")));
        }
    }
    let captures = dir.join(CAPTURES_DIR);
    if captures.is_dir() && owned::survey(&captures)?.is_parity_dir() {
        return Ok(Some(" (an unfinished run: captures/ without run.json)".to_string()));
    }
    Ok(None)
}

/// The files a run wrote in a recording directory, relative to it, sorted: `run.json` (of parity's run format) and
/// the transcript, each turn's output files, and the captures parity wrote (with their marker and temporaries).
/// Anything else there is not parity's. A missing directory has none.
pub fn recording_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if !dir.is_dir() {
        return Ok(files);
    }
    for file in RUN_FILES {
        let is_run_json = *file == RUN_JSON;
        let ours = if is_run_json {
            recording_label(dir)?.is_some() && dir.join(file).is_file()
        } else {
            dir.join(file).is_file()
        };
        if ours {
            files.push(PathBuf::from(file));
        }
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_turn_dir(&name) && entry.file_type()?.is_dir() {
            files
                .extend(TURN_FILES.iter().filter(|f| entry.path().join(f).is_file()).map(|f| Path::new(&name).join(f)));
        }
    }
    // The tui frontend's screens: `screens/NNN.txt`.
    let screens = dir.join(crate::frontend::tui::SCREENS_DIR);
    if screens.is_dir() {
        for entry in std::fs::read_dir(&screens)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_screen_file(&name) && entry.file_type()?.is_file() {
                files.push(Path::new(crate::frontend::tui::SCREENS_DIR).join(name));
            }
        }
    }
    // What the scenario kept of the agent's home (`[home] keep`), every file under `home/` of a recording.
    let kept = dir.join(KEPT_HOME_DIR);
    if kept.is_dir() && recording_label(dir)?.is_some() {
        for entry in walkdir::WalkDir::new(&kept) {
            let entry = entry.map_err(io::Error::other)?;
            if entry.file_type().is_file() {
                files.push(entry.path().strip_prefix(dir).expect("walked under the recording").to_path_buf());
            }
        }
    }
    let captures = dir.join(CAPTURES_DIR);
    if captures.is_dir() {
        let survey = owned::survey(&captures)?;
        for path in survey.captures.iter().chain(&survey.temporaries) {
            files.push(path.strip_prefix(dir).expect("the survey lists paths under its root").to_path_buf());
        }
        if survey.marker {
            files.push(Path::new(CAPTURES_DIR).join(owned::CAPTURES_MARKER));
        }
    }
    files.sort();
    Ok(files)
}

/// `000.txt`, `012.txt`: a screen of the tui frontend's.
fn is_screen_file(name: &str) -> bool {
    name.strip_suffix(".txt").is_some_and(|n| n.len() >= 3 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `turn-1`, `turn-12`.
fn is_turn_dir(name: &str) -> bool {
    name.strip_prefix("turn-").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes what a run wrote, and the directories that leaves empty, leaving anything else.
fn remove_recording(dir: &Path) -> io::Result<()> {
    let files = recording_files(dir)?;
    for file in &files {
        owned::remove_file_if_present(&dir.join(file))?;
    }
    // Every directory above a file, deepest first: a session directory before captures/.
    let mut parents: Vec<&Path> =
        files.iter().flat_map(|f| f.ancestors().skip(1)).filter(|p| !p.as_os_str().is_empty()).collect();
    parents.sort_by_key(|p| (std::cmp::Reverse(p.components().count()), *p));
    parents.dedup();
    for parent in parents.into_iter().chain([Path::new(CAPTURES_DIR)]) {
        let _ = std::fs::remove_dir(dir.join(parent));
    }
    Ok(())
}

/// What makes a directory too precious to empty, whatever it holds.
fn protected(dir: &Path) -> Option<&'static str> {
    let dir = dir.canonicalize().ok()?;
    if dir.parent().is_none() {
        return Some("the root directory");
    }
    if std::env::var_os("HOME").and_then(|h| Path::new(&h).canonicalize().ok()).is_some_and(|home| home == dir) {
        return Some("the home directory");
    }
    let cwd = std::env::current_dir().ok().and_then(|c| c.canonicalize().ok())?;
    if cwd == dir {
        return Some("the working directory");
    }
    cwd.starts_with(&dir).then_some("a parent of the working directory")
}

/// The directory's entries, directories with a trailing `/`, sorted.
fn names_in(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        names.push(if entry.file_type()?.is_dir() { format!("{name}/") } else { name });
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plant(root: &Path, files: &[(&str, &str)]) {
        for (name, text) in files {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    #[test]
    fn a_recording_is_replaced_file_by_file_and_what_else_is_there_stays() {
        let dir = tempfile::tempdir().unwrap();
        let run = format!("{{\"format\": \"{RUN_FORMAT}\", \"scenario\": \"plain\"}}");
        plant(
            dir.path(),
            &[
                ("run.json", &run),
                ("frontend.jsonl", "{}"),
                ("turn-1/stdout.txt", "out"),
                ("turn-1/stderr.txt", ""),
                ("turn-1/notes.md", "mine"),
                ("captures/session-01/0001-post-responses.json", "{\"format\": \"parity.capture/v1\"}"),
                ("captures/.parity-captures", ""),
                ("thesis.txt", "mine"),
            ],
        );
        let refused = prepare(dir.path(), false).unwrap_err().to_string();
        assert!(refused.contains("already holds a recording (scenario plain, run.json)"), "{refused}");
        prepare(dir.path(), true).unwrap();
        assert_eq!(names_in(dir.path()).unwrap(), ["thesis.txt", "turn-1/"]);
        assert_eq!(names_in(&dir.path().join("turn-1")).unwrap(), ["notes.md"]);
    }

    #[test]
    fn a_tui_recording_s_screens_go_with_it_and_a_user_s_file_among_them_stays() {
        let dir = tempfile::tempdir().unwrap();
        let run = format!("{{\"format\": \"{RUN_FORMAT}\", \"scenario\": \"tui-demo\"}}");
        plant(
            dir.path(),
            &[
                ("run.json", &run),
                ("screens/000.txt", ""),
                ("screens/012.txt", "screen"),
                ("turn-1/stdout.txt", "out"),
                ("turn-1/stderr.txt", ""),
            ],
        );
        prepare(dir.path(), true).unwrap();
        assert!(names_in(dir.path()).unwrap().is_empty(), "screens/ went, emptied");
        plant(dir.path(), &[("run.json", &run), ("screens/001.txt", ""), ("screens/notes.txt", "mine")]);
        prepare(dir.path(), true).unwrap();
        assert_eq!(names_in(&dir.path().join("screens")).unwrap(), ["notes.txt"]);
    }

    #[test]
    fn kept_home_files_are_copied_and_go_with_the_recording() {
        let (home, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        plant(
            home.path(),
            &[(".codex/skills/.system/a/SKILL.md", "a"), (".codex/skills/.system/.m", "1"), ("x", "no")],
        );
        let keep = [".codex/skills/.system".to_string(), "never-written".to_string()];
        keep_home_files(home.path(), &keep, out.path()).unwrap();
        let kept = parity_capture::store::read_tree(&out.path().join(KEPT_HOME_DIR)).unwrap();
        assert_eq!(kept.keys().collect::<Vec<_>>(), [".codex/skills/.system/.m", ".codex/skills/.system/a/SKILL.md"]);
        let run = format!("{{\"format\": \"{RUN_FORMAT}\", \"scenario\": \"kept\"}}");
        plant(out.path(), &[("run.json", &run)]);
        assert_eq!(recording_files(out.path()).unwrap().len(), 3, "run.json and the two kept files");
        prepare(out.path(), true).unwrap();
        assert!(names_in(out.path()).unwrap().is_empty(), "home/ went, emptied");
    }

    #[test]
    fn a_directory_that_is_not_a_recording_is_refused_with_or_without_clean() {
        let dir = tempfile::tempdir().unwrap();
        plant(dir.path(), &[("thesis.txt", "mine"), ("sub/a.txt", "mine"), ("run.json", "{\"format\": \"mine\"}")]);
        for clean in [false, true] {
            let e = prepare(dir.path(), clean).unwrap_err().to_string();
            assert!(e.contains("is not a parity recording") && e.contains("run.json, sub/, thesis.txt"), "{e}");
        }
        assert_eq!(names_in(dir.path()).unwrap(), ["run.json", "sub/", "thesis.txt"]);
    }

    #[test]
    fn an_unfinished_run_is_a_recording_and_an_empty_or_new_directory_is_used_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        plant(dir.path(), &[("captures/.parity-captures", ""), ("turn-1/stdout.txt", "")]);
        assert!(matches!(prepare(dir.path(), false), Err(OutputError::HoldsRecording { .. })));
        prepare(dir.path(), true).unwrap();
        assert!(names_in(dir.path()).unwrap().is_empty());
        prepare(&dir.path().join("new/deeper"), false).unwrap();
        assert!(dir.path().join("new/deeper").is_dir());
    }

    #[test]
    fn the_root_the_home_and_the_working_directory_s_line_are_protected() {
        assert_eq!(protected(Path::new("/")), Some("the root directory"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(protected(&cwd), Some("the working directory"));
        assert_eq!(protected(Path::new(".")), Some("the working directory"));
        assert_eq!(protected(cwd.parent().unwrap()), Some("a parent of the working directory"));
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(protected(elsewhere.path()), None);
    }
}
