//! Sessions on disk, as upstream keeps them: `CODEX_HOME/sessions/YYYY/MM/DD/rollout-<local time>-<thread id>.jsonl`,
//! one JSON line per record: `{"timestamp", "type", "payload"}`. The first line is the `session_meta`; then come
//! `turn_context` lines, the conversation's `response_item`s and `event_msg`s. Each line is written whole and flushed,
//! so a failed or interrupted turn leaves a file that ends on a complete line and resumes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// What a session's first line says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionMeta {
    pub thread_id: String,
    pub cwd: PathBuf,
    /// The workspace roots: the working directory, then the `--add-dir` ones (and the other writable roots).
    pub workspace_roots: Vec<PathBuf>,
    /// How the thread is classified (`user` unless `--thread-source` said otherwise when it was created; empty, saved
    /// as `null`, for a thread of the app server, which upstream leaves unclassified).
    pub thread_source: String,
    /// Which frontend made it: `exec`, or `vscode` for an app-server client (as upstream's app server says).
    pub source: String,
    pub model: String,
    pub model_provider: String,
    pub originator: String,
    pub cli_version: String,
    pub context_window_id: String,
    /// The thread this one was forked from.
    pub forked_from_id: Option<String>,
}

/// An open session file, appended to. A new session's file is written from its first turn on, as upstream writes
/// it (a thread nobody has spoken to leaves no file): until [`Rollout::materialize`], records wait in memory.
pub struct Rollout {
    path: PathBuf,
    file: Option<File>,
    /// Lines waiting for the file.
    pending: Vec<String>,
}

impl Rollout {
    /// Starts a new session file, written once [`Rollout::materialize`]d.
    pub fn create(codex_home: &Path, meta: &SessionMeta) -> std::io::Result<Rollout> {
        let now = jiff::Zoned::now();
        let dir = codex_home.join("sessions").join(now.strftime("%Y/%m/%d").to_string());
        let name = format!("rollout-{}-{}.jsonl", now.strftime("%Y-%m-%dT%H-%M-%S"), meta.thread_id);
        let path = dir.join(name);
        let mut rollout = Rollout { path, file: None, pending: Vec::new() };
        rollout.append(
            "session_meta",
            json!({
                "session_id": meta.thread_id,
                "id": meta.thread_id,
                "timestamp": timestamp(),
                "cwd": meta.cwd,
                "runtime_workspace_roots": meta.workspace_roots,
                "originator": meta.originator,
                "cli_version": meta.cli_version,
                "source": meta.source,
                "thread_source": (!meta.thread_source.is_empty()).then_some(&meta.thread_source),
                "model_provider": meta.model_provider,
                "model": meta.model,
                "context_window_id": meta.context_window_id,
                "forked_from_id": meta.forked_from_id,
            }),
        )?;
        Ok(rollout)
    }

    /// Appends every record of another session file but its `session_meta` (a fork's copy of its source), each
    /// with its own time; lines that cannot be read are left out, as a resume leaves them out. Returns how many
    /// records the source holds, its `session_meta` included: where in it the fork branches off.
    pub fn copy_records(&mut self, source: &Path) -> std::io::Result<u64> {
        let text = std::fs::read(source)?;
        let mut records = 0;
        for line in text.split(|b| *b == b'\n') {
            let Ok(record) = serde_json::from_slice::<Value>(line) else { continue };
            if !record.is_object() {
                continue;
            }
            records += 1;
            if record["type"] != "session_meta" {
                self.write_line(record.to_string())?;
            }
        }
        Ok(records)
    }

    /// Writes the file, if it is not written yet, with what waited for it.
    pub fn materialize(&mut self) -> std::io::Result<()> {
        if self.file.is_some() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new().create_new(true).append(true).open(&self.path)?;
        for line in self.pending.drain(..) {
            file.write_all(line.as_bytes())?;
        }
        file.flush()?;
        self.file = Some(file);
        Ok(())
    }

    /// Whether the file has been written.
    pub fn is_materialized(&self) -> bool {
        self.file.is_some()
    }

    fn write_line(&mut self, mut line: String) -> std::io::Result<()> {
        line.push('\n');
        match &mut self.file {
            Some(file) => {
                file.write_all(line.as_bytes())?;
                file.flush()
            }
            None => {
                self.pending.push(line);
                Ok(())
            }
        }
    }

    /// Reopens a session file to append to it (a resumed session).
    pub fn reopen(path: &Path) -> std::io::Result<Rollout> {
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Rollout { path: path.to_path_buf(), file: Some(file), pending: Vec::new() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record, whole, and flushes it.
    pub fn append(&mut self, kind: &str, payload: Value) -> std::io::Result<()> {
        self.write_line(json!({"timestamp": timestamp(), "type": kind, "payload": payload}).to_string())
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
    /// Lines that could not be read and were left out: `path:line: why`.
    pub skipped: Vec<String>,
    /// The thread's token usage so far, as its last `token_count` said.
    pub total_usage: Option<crate::client::Usage>,
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

/// Reads a session file. A line that is not a JSON record (a last line cut short by a killed process, a line damaged
/// since) is left out and listed in [`Saved::skipped`], as upstream resumes past it; a file without its
/// `session_meta` line cannot be resumed.
pub fn load(path: &Path) -> Result<Saved, RolloutError> {
    let io = |source| RolloutError::Io { path: path.to_path_buf(), source };
    let bytes = std::fs::read(path).map_err(io)?;
    let mut meta = None;
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    let mut total_usage = None;
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record: Value = match serde_json::from_slice(line) {
            Ok(record @ Value::Object(_)) => record,
            Ok(_) => {
                skipped.push(format!("{}:{}: not a record", path.display(), i + 1));
                continue;
            }
            Err(e) => {
                skipped.push(format!("{}:{}: {e}", path.display(), i + 1));
                continue;
            }
        };
        let payload = &record["payload"];
        match record["type"].as_str() {
            Some("session_meta") => {
                let text = |k: &str| payload.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                meta = Some(SessionMeta {
                    thread_id: text("id"),
                    cwd: PathBuf::from(text("cwd")),
                    workspace_roots: payload
                        .get("runtime_workspace_roots")
                        .and_then(Value::as_array)
                        .map(|roots| roots.iter().filter_map(Value::as_str).map(PathBuf::from).collect())
                        .unwrap_or_default(),
                    thread_source: text("thread_source"),
                    source: text("source"),
                    model: text("model"),
                    model_provider: text("model_provider"),
                    originator: text("originator"),
                    cli_version: text("cli_version"),
                    context_window_id: text("context_window_id"),
                    forked_from_id: payload.get("forked_from_id").and_then(Value::as_str).map(str::to_string),
                });
            }
            Some("response_item") => items.push(payload.clone()),
            Some("event_msg") if payload["type"] == "token_count" => {
                if let Some(usage) = payload.pointer("/info/total_token_usage") {
                    total_usage = crate::client::Usage::from_saved(usage);
                }
            }
            _ => {}
        }
    }
    let meta = match meta {
        Some(meta) => meta,
        None => {
            let prefix = format!("{}:", path.display());
            let why = match skipped.first() {
                Some(first) => format!(
                    "no readable session_meta line (line {})",
                    first.strip_prefix(&prefix).unwrap_or(first).replacen(": ", " is unreadable: ", 1)
                ),
                None => "no session_meta line".to_string(),
            };
            return Err(RolloutError::Invalid { path: path.into(), line: 1, message: why });
        }
    };
    Ok(Saved { path: path.to_path_buf(), meta, items, skipped, total_usage })
}

/// Every session file under `CODEX_HOME/sessions`, newest first (their names sort by local time).
pub fn session_files(codex_home: &Path) -> Vec<PathBuf> {
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

/// The session `exec resume` picked, and what was passed over on the way, worth telling the user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    /// None when no session qualifies: upstream then starts a new one.
    pub path: Option<PathBuf>,
    /// Session files passed over, each `path:line: why`.
    pub skipped_files: Vec<String>,
    /// Lines of the chosen session left out, each `path:line: why`.
    pub skipped_lines: Vec<String>,
}

/// The newest session that can be resumed, among those started in `cwd` when it is given (as `exec resume --last`
/// does unless `--all`). A file that cannot be read is passed over, with a note, for the next newest, as upstream
/// passes it over; when none is left, there is no session to resume (upstream then starts a new one).
pub fn find_last(codex_home: &Path, cwd: Option<&Path>) -> Found {
    let mut skipped_files = Vec::new();
    for path in session_files(codex_home) {
        match load(&path) {
            Ok(saved) if cwd.is_none_or(|cwd| saved.meta.cwd == cwd) => {
                return Found { path: Some(path), skipped_files, skipped_lines: saved.skipped };
            }
            Ok(_) => {}
            Err(e) => skipped_files.push(e.to_string()),
        }
    }
    Found { path: None, skipped_files, skipped_lines: Vec::new() }
}

/// The session of this thread id, with the lines of it that will be left out.
pub fn find_by_id(codex_home: &Path, id: &str) -> Result<Found, RolloutError> {
    let path = session_files(codex_home)
        .into_iter()
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(&format!("{id}.jsonl"))))
        .ok_or_else(|| RolloutError::NotFound(format!(" with id {id}")))?;
    let saved = load(&path)?;
    Ok(Found { path: Some(path), skipped_files: Vec::new(), skipped_lines: saved.skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(thread: &str, cwd: &str) -> SessionMeta {
        SessionMeta {
            thread_id: thread.into(),
            cwd: cwd.into(),
            workspace_roots: vec![cwd.into()],
            thread_source: "user".into(),
            source: "exec".into(),
            model: "m".into(),
            model_provider: "p".into(),
            originator: "codex_exec".into(),
            cli_version: "0.169.0".into(),
            context_window_id: format!("cw-{thread}"),
            forked_from_id: None,
        }
    }

    /// A session file, written.
    fn written(home: &Path, meta: &SessionMeta) -> Rollout {
        let mut rollout = Rollout::create(home, meta).unwrap();
        rollout.materialize().unwrap();
        rollout
    }

    #[test]
    fn a_session_is_written_line_by_line_and_read_back() {
        let home = tempfile::tempdir().unwrap();
        let mut r = Rollout::create(home.path(), &meta("t1", "/w")).unwrap();
        r.append("response_item", json!({"type": "message", "role": "user"})).unwrap();
        assert!(!r.path().exists(), "nothing is written before the first turn");
        r.materialize().unwrap();
        r.append("event_msg", json!({"type": "task_complete"})).unwrap();
        let relative = r.path().strip_prefix(home.path()).unwrap().display().to_string();
        assert!(relative.starts_with("sessions/") && relative.ends_with("-t1.jsonl"), "{relative}");
        let saved = load(r.path()).unwrap();
        assert_eq!(saved.meta, meta("t1", "/w"));
        assert_eq!(saved.items, vec![json!({"type": "message", "role": "user"})]);

        // A process killed mid-line leaves a partial last line: the session still loads.
        let mut file = OpenOptions::new().append(true).open(r.path()).unwrap();
        file.write_all(b"{\"timestamp\": \"2026").unwrap();
        let saved = load(r.path()).unwrap();
        assert_eq!(saved.items.len(), 1);
        assert_eq!(saved.skipped.len(), 1, "the cut line is left out: {:?}", saved.skipped);
    }

    /// A copy of `path` with line `n` (from 1) made unreadable.
    fn corrupt(path: &Path, n: usize) {
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<String> = text
            .lines()
            .enumerate()
            .map(|(i, l)| if i + 1 == n { format!("{{CORRUPT {l}") } else { l.into() })
            .collect();
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn a_damaged_line_is_left_out_and_named_and_a_damaged_meta_passes_the_file_over() {
        let home = tempfile::tempdir().unwrap();
        let older = written(home.path(), &meta("old", "/w")).path().to_path_buf();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let mut r = written(home.path(), &meta("new", "/w"));
        r.append("response_item", json!({"type": "message", "role": "user", "n": 1})).unwrap();
        r.append("response_item", json!({"type": "message", "role": "assistant", "n": 2})).unwrap();
        r.append("event_msg", json!({"type": "task_complete"})).unwrap();
        let newer = r.path().to_path_buf();
        corrupt(&newer, 2);

        // Upstream 0.169.0 resumed such a session without the damaged line.
        let found = find_last(home.path(), Some(Path::new("/w")));
        assert_eq!(found.path.as_deref(), Some(newer.as_path()));
        assert!(found.skipped_files.is_empty(), "{:?}", found.skipped_files);
        assert_eq!(found.skipped_lines.len(), 1, "{:?}", found.skipped_lines);
        assert!(found.skipped_lines[0].starts_with(&format!("{}:2: ", newer.display())), "{:?}", found.skipped_lines);
        let saved = load(&newer).unwrap();
        assert_eq!(saved.items, vec![json!({"type": "message", "role": "assistant", "n": 2})]);
        let by_id = find_by_id(home.path(), "new").unwrap();
        assert_eq!((by_id.path.as_deref(), by_id.skipped_lines.len()), (Some(newer.as_path()), 1));

        // Without its session_meta the file cannot be resumed: the next newest is taken, and the skip is said.
        corrupt(&newer, 1);
        let found = find_last(home.path(), Some(Path::new("/w")));
        assert_eq!(found.path.as_deref(), Some(older.as_path()));
        let why = format!("{}:1: no readable session_meta line", newer.display());
        assert!(found.skipped_files[0].starts_with(&why), "{:?}", found.skipped_files);
        assert!(find_by_id(home.path(), "new").unwrap_err().to_string().contains(":1: no readable session_meta"));
        corrupt(&older, 1);
        let found = find_last(home.path(), None);
        assert_eq!(found.path, None, "nothing left to resume: upstream starts a new session");
        assert_eq!(found.skipped_files.len(), 2, "{:?}", found.skipped_files);
    }

    #[test]
    fn the_last_session_of_a_directory_and_a_session_by_id_are_found() {
        let home = tempfile::tempdir().unwrap();
        let first = written(home.path(), &meta("a", "/w1")).path().to_path_buf();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = written(home.path(), &meta("b", "/w2")).path().to_path_buf();
        assert_eq!(find_last(home.path(), None).path, Some(second));
        assert_eq!(find_last(home.path(), Some(Path::new("/w1"))).path, Some(first.clone()));
        assert_eq!(find_last(home.path(), Some(Path::new("/w3"))), Found::default());
        assert_eq!(find_by_id(home.path(), "a").unwrap().path, Some(first));
        assert!(find_by_id(home.path(), "zz").is_err());
    }
}
