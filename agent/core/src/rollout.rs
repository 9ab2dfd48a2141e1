//! Sessions on disk, as upstream keeps them: `CODEX_HOME/sessions/YYYY/MM/DD/rollout-<local time>-<thread id>.jsonl`,
//! one JSON line per record: `{"timestamp", "type", "payload"}`. The first line is the `session_meta`; then come
//! `turn_context` lines, the conversation's `response_item`s and `event_msg`s. Each line is written whole and flushed,
//! so a failed or interrupted turn leaves a file that ends on a complete line and resumes.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// What a session's first line says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionMeta {
    pub thread_id: String,
    pub cwd: PathBuf,
    pub model: String,
    pub model_provider: String,
    pub originator: String,
    pub cli_version: String,
    pub context_window_id: String,
}

/// An open session file, appended to.
pub struct Rollout {
    path: PathBuf,
    file: File,
}

impl Rollout {
    /// Starts a new session file.
    pub fn create(codex_home: &Path, meta: &SessionMeta) -> std::io::Result<Rollout> {
        let now = jiff::Zoned::now();
        let dir = codex_home.join("sessions").join(now.strftime("%Y/%m/%d").to_string());
        std::fs::create_dir_all(&dir)?;
        let name = format!("rollout-{}-{}.jsonl", now.strftime("%Y-%m-%dT%H-%M-%S"), meta.thread_id);
        let path = dir.join(name);
        let file = OpenOptions::new().create_new(true).append(true).open(&path)?;
        let mut rollout = Rollout { path, file };
        rollout.append(
            "session_meta",
            json!({
                "session_id": meta.thread_id,
                "id": meta.thread_id,
                "timestamp": timestamp(),
                "cwd": meta.cwd,
                "originator": meta.originator,
                "cli_version": meta.cli_version,
                "source": "exec",
                "model_provider": meta.model_provider,
                "model": meta.model,
                "context_window_id": meta.context_window_id,
            }),
        )?;
        Ok(rollout)
    }

    /// Reopens a session file to append to it (a resumed session).
    pub fn reopen(path: &Path) -> std::io::Result<Rollout> {
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Rollout { path: path.to_path_buf(), file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record, whole, and flushes it.
    pub fn append(&mut self, kind: &str, payload: Value) -> std::io::Result<()> {
        let mut line = json!({"timestamp": timestamp(), "type": kind, "payload": payload}).to_string();
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()
    }
}

fn timestamp() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A session read back for resuming.
#[derive(Debug, Clone)]
pub struct Saved {
    pub path: PathBuf,
    pub meta: SessionMeta,
    /// The conversation's items, in order.
    pub items: Vec<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Invalid { path: PathBuf, line: usize, message: String },
    #[error("no saved session to resume{0}")]
    NotFound(String),
}

/// Reads a session file. A last line cut short (a killed process) is ignored; any other bad line is an error.
pub fn load(path: &Path) -> Result<Saved, RolloutError> {
    let io = |source| RolloutError::Io { path: path.to_path_buf(), source };
    let reader = BufReader::new(File::open(path).map_err(io)?);
    let lines: Vec<String> = reader.lines().collect::<Result<_, _>>().map_err(io)?;
    let last = lines.len();
    let mut meta = None;
    let mut items = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: Value = match serde_json::from_str(line) {
            Ok(record) => record,
            Err(_) if i + 1 == last => break,
            Err(e) => return Err(RolloutError::Invalid { path: path.into(), line: i + 1, message: e.to_string() }),
        };
        let payload = &record["payload"];
        match record["type"].as_str() {
            Some("session_meta") => {
                let text = |k: &str| payload.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                meta = Some(SessionMeta {
                    thread_id: text("id"),
                    cwd: PathBuf::from(text("cwd")),
                    model: text("model"),
                    model_provider: text("model_provider"),
                    originator: text("originator"),
                    cli_version: text("cli_version"),
                    context_window_id: text("context_window_id"),
                });
            }
            Some("response_item") => items.push(payload.clone()),
            _ => {}
        }
    }
    let meta = meta.ok_or_else(|| RolloutError::Invalid {
        path: path.into(),
        line: 1,
        message: "no session_meta line".into(),
    })?;
    Ok(Saved { path: path.to_path_buf(), meta, items })
}

/// Every session file under `CODEX_HOME/sessions`, newest first (their names sort by local time).
fn session_files(codex_home: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![codex_home.join("sessions")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("rollout-") && n.ends_with(".jsonl"))
            {
                files.push(path);
            }
        }
    }
    files.sort_by(|a, b| b.file_name().cmp(&a.file_name()));
    files
}

/// The newest session, among those started in `cwd` when it is given (as `exec resume --last` does unless `--all`).
pub fn find_last(codex_home: &Path, cwd: Option<&Path>) -> Result<PathBuf, RolloutError> {
    for path in session_files(codex_home) {
        match cwd {
            None => return Ok(path),
            Some(cwd) => {
                if load(&path).is_ok_and(|saved| saved.meta.cwd == cwd) {
                    return Ok(path);
                }
            }
        }
    }
    let where_ = cwd.map(|c| format!(" in {}", c.display())).unwrap_or_default();
    Err(RolloutError::NotFound(where_))
}

/// The session of this thread id.
pub fn find_by_id(codex_home: &Path, id: &str) -> Result<PathBuf, RolloutError> {
    session_files(codex_home)
        .into_iter()
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(&format!("{id}.jsonl"))))
        .ok_or_else(|| RolloutError::NotFound(format!(" with id {id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(thread: &str, cwd: &str) -> SessionMeta {
        SessionMeta {
            thread_id: thread.into(),
            cwd: cwd.into(),
            model: "m".into(),
            model_provider: "p".into(),
            originator: "codex_exec".into(),
            cli_version: "0.169.0".into(),
            context_window_id: format!("cw-{thread}"),
        }
    }

    #[test]
    fn a_session_is_written_line_by_line_and_read_back() {
        let home = tempfile::tempdir().unwrap();
        let mut r = Rollout::create(home.path(), &meta("t1", "/w")).unwrap();
        r.append("response_item", json!({"type": "message", "role": "user"})).unwrap();
        r.append("event_msg", json!({"type": "task_complete"})).unwrap();
        let relative = r.path().strip_prefix(home.path()).unwrap().display().to_string();
        assert!(relative.starts_with("sessions/") && relative.ends_with("-t1.jsonl"), "{relative}");
        let saved = load(r.path()).unwrap();
        assert_eq!(saved.meta, meta("t1", "/w"));
        assert_eq!(saved.items, vec![json!({"type": "message", "role": "user"})]);

        // A process killed mid-line leaves a partial last line: the session still loads.
        let mut file = OpenOptions::new().append(true).open(r.path()).unwrap();
        file.write_all(b"{\"timestamp\": \"2026").unwrap();
        assert_eq!(load(r.path()).unwrap().items.len(), 1);
    }

    #[test]
    fn the_last_session_of_a_directory_and_a_session_by_id_are_found() {
        let home = tempfile::tempdir().unwrap();
        let first = Rollout::create(home.path(), &meta("a", "/w1")).unwrap().path().to_path_buf();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = Rollout::create(home.path(), &meta("b", "/w2")).unwrap().path().to_path_buf();
        assert_eq!(find_last(home.path(), None).unwrap(), second);
        assert_eq!(find_last(home.path(), Some(Path::new("/w1"))).unwrap(), first);
        assert!(find_last(home.path(), Some(Path::new("/w3"))).unwrap_err().to_string().contains("in /w3"));
        assert_eq!(find_by_id(home.path(), "a").unwrap(), first);
        assert!(find_by_id(home.path(), "zz").is_err());
    }
}
