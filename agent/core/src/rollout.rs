//! Sessions on disk, as upstream keeps them: `CODEX_HOME/sessions/YYYY/MM/DD/rollout-<local time>-<thread id>.jsonl`,
//! one JSON line per record: `{"timestamp", "ordinal", "type", "payload"}`, the ordinal counting the thread's records
//! from 0. The first line is the `session_meta`; then, turn by turn, the records upstream 0.169.0 writes, in its
//! order (see [`crate::session`]): `task_started`, the model's context (the first turn), `world_state`,
//! `turn_context`, `thread_settings_applied`, the conversation's `response_item`s with an `item_completed` for each
//! item a frontend shows, `token_usage_record` and `token_count` for each response, `task_complete`. Each line is
//! written whole and flushed, so a failed or interrupted turn leaves a file that ends on a complete line and resumes.
//!
//! A fork refers to its source instead of copying it, as upstream's does: its `session_meta` names the source and how
//! many of its records it takes (`forked_from_ordinal_exclusive`, `history_base`), and its own records go on from
//! that ordinal. [`records`] reads a thread's whole history, its sources' included.

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

/// Where a fork branches off its source: the source's thread, how many of its records the fork takes (its ordinals
/// below this one), and how long its file was then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryBase {
    pub thread_id: String,
    pub end_ordinal_exclusive: u64,
    pub end_byte_offset: u64,
}

/// An open session file, appended to. A new session's file is written from its first turn on, as upstream writes
/// it (a thread nobody has spoken to leaves no file): until [`Rollout::materialize`], records wait in memory.
pub struct Rollout {
    path: PathBuf,
    file: Option<File>,
    /// Lines waiting for the file.
    pending: Vec<String>,
    /// The ordinal of the next record.
    next_ordinal: u64,
}

impl Rollout {
    /// Starts a new session file, written once [`Rollout::materialize`]d.
    pub fn create(codex_home: &Path, meta: &SessionMeta) -> std::io::Result<Rollout> {
        Rollout::start(codex_home, meta, None)
    }

    /// Starts the session file of a fork that branches off its source at `base` ([`history_base`]): it refers to
    /// the source's records, which are not copied, and is written at once (a fork has history from the start).
    pub fn fork(codex_home: &Path, meta: &SessionMeta, base: &HistoryBase) -> std::io::Result<Rollout> {
        let mut rollout = Rollout::start(codex_home, meta, Some(base))?;
        rollout.materialize()?;
        Ok(rollout)
    }

    fn start(codex_home: &Path, meta: &SessionMeta, base: Option<&HistoryBase>) -> std::io::Result<Rollout> {
        let now = jiff::Zoned::now();
        let dir = codex_home.join("sessions").join(now.strftime("%Y/%m/%d").to_string());
        let name = format!("rollout-{}-{}.jsonl", now.strftime("%Y-%m-%dT%H-%M-%S"), meta.thread_id);
        let path = dir.join(name);
        let next_ordinal = base.map_or(0, |base| base.end_ordinal_exclusive);
        let mut rollout = Rollout { path, file: None, pending: Vec::new(), next_ordinal };
        // Upstream's keys, in its order; a key it leaves out when it has no value is left out.
        let mut payload = serde_json::Map::new();
        payload.insert("session_id".into(), json!(meta.thread_id));
        payload.insert("id".into(), json!(meta.thread_id));
        if let Some(base) = base {
            payload.insert("forked_from_id".into(), json!(base.thread_id));
            payload.insert("forked_from_ordinal_exclusive".into(), json!(base.end_ordinal_exclusive));
        }
        payload.insert("timestamp".into(), json!(timestamp()));
        payload.insert("cwd".into(), json!(meta.cwd));
        payload.insert("runtime_workspace_roots".into(), json!(meta.workspace_roots));
        payload.insert("originator".into(), json!(meta.originator));
        payload.insert("cli_version".into(), json!(meta.cli_version));
        payload.insert("source".into(), json!(meta.source));
        if !meta.thread_source.is_empty() {
            payload.insert("thread_source".into(), json!(meta.thread_source));
        }
        payload.insert("model_provider".into(), json!(meta.model_provider));
        payload.insert("history_mode".into(), json!("paginated"));
        if let Some(base) = base {
            payload.insert(
                "history_base".into(),
                json!({"thread_id": base.thread_id, "end_ordinal_exclusive": base.end_ordinal_exclusive,
                    "end_byte_offset": base.end_byte_offset}),
            );
        }
        payload.insert("context_window".into(), json!({"window_id": meta.context_window_id}));
        rollout.append("session_meta", Value::Object(payload))?;
        Ok(rollout)
    }

    /// The ordinal the next record gets.
    pub fn next_ordinal(&self) -> u64 {
        self.next_ordinal
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
        let next_ordinal = records(path).map_err(std::io::Error::other)?.last().map_or(0, |r| r.ordinal + 1);
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Rollout { path: path.to_path_buf(), file: Some(file), pending: Vec::new(), next_ordinal })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record, whole, and flushes it.
    pub fn append(&mut self, kind: &str, payload: Value) -> std::io::Result<()> {
        let ordinal = self.next_ordinal;
        self.next_ordinal += 1;
        self.write_line(
            json!({"timestamp": timestamp(), "ordinal": ordinal, "type": kind, "payload": payload}).to_string(),
        )
    }
}

/// One record of a thread, with its ordinal (read from the line, or counted for a file written before records had
/// one) and the file it is in.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub ordinal: u64,
    pub record: Value,
}

impl Record {
    pub fn kind(&self) -> &str {
        self.record["type"].as_str().unwrap_or_default()
    }

    pub fn payload(&self) -> &Value {
        &self.record["payload"]
    }
}

/// Where a fork of the thread whose session file is `source` branches off: after all of its records.
pub fn history_base(source: &Path) -> std::io::Result<HistoryBase> {
    let records = records(source).map_err(std::io::Error::other)?;
    let end_byte_offset = std::fs::metadata(source)?.len();
    let thread_id = records
        .iter()
        .rev()
        .find(|r| r.kind() == "session_meta")
        .and_then(|r| r.payload()["id"].as_str())
        .unwrap_or_default()
        .to_string();
    Ok(HistoryBase { thread_id, end_ordinal_exclusive: records.last().map_or(0, |r| r.ordinal + 1), end_byte_offset })
}

/// The lines of one session file: its records, and the lines that could not be read (`path:line: why`). A record
/// without an ordinal gets the one after the previous record's (from `first`).
fn file_records(path: &Path, first: u64) -> Result<(Vec<Record>, Vec<String>), RolloutError> {
    let bytes = std::fs::read(path).map_err(|source| RolloutError::Io { path: path.to_path_buf(), source })?;
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    let mut next = first;
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(record @ Value::Object(_)) => {
                let ordinal = record["ordinal"].as_u64().unwrap_or(next);
                next = ordinal + 1;
                records.push(Record { ordinal, record });
            }
            Ok(_) => skipped.push(format!("{}:{}: not a record", path.display(), i + 1)),
            Err(e) => skipped.push(format!("{}:{}: {e}", path.display(), i + 1)),
        }
    }
    Ok((records, skipped))
}

/// Where a session file's fork source is, from its `session_meta`: `history_base`, or upstream's
/// `forked_from_id` with `forked_from_ordinal_exclusive`. A fork rcodex wrote before forks referred to their source
/// (a copy, with `forked_from_id` alone) has none: it holds its whole history.
fn base_of(records: &[Record]) -> Option<(String, u64)> {
    let meta = records.iter().find(|r| r.kind() == "session_meta")?.payload();
    let base = &meta["history_base"];
    match (base["thread_id"].as_str(), base["end_ordinal_exclusive"].as_u64()) {
        (Some(thread), Some(end)) => Some((thread.to_string(), end)),
        _ => Some((meta["forked_from_id"].as_str()?.to_string(), meta["forked_from_ordinal_exclusive"].as_u64()?)),
    }
}

/// The `CODEX_HOME` a session file is in (`CODEX_HOME/sessions/...` or `CODEX_HOME/archived_sessions/...`).
fn codex_home_of(path: &Path) -> Option<&Path> {
    path.ancestors()
        .find(|dir| matches!(dir.file_name().and_then(|n| n.to_str()), Some("sessions" | "archived_sessions")))?
        .parent()
}

/// A thread's session file, live or archived.
fn thread_file(codex_home: &Path, thread_id: &str) -> Option<PathBuf> {
    let suffix = format!("-{thread_id}.jsonl");
    let named = |p: &PathBuf| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(&suffix));
    session_files(codex_home).into_iter().find(named).or_else(|| {
        let archived = std::fs::read_dir(codex_home.join("archived_sessions")).ok()?;
        archived.flatten().map(|e| e.path()).find(named)
    })
}

/// Every record of a thread, in order: for a fork, its source's records up to where it branched off (its source's
/// source's before them, and so on), then its own. Lines that cannot be read are left out (see [`load`]).
pub fn records(path: &Path) -> Result<Vec<Record>, RolloutError> {
    Ok(read_chain(path)?.0)
}

/// [`records`], with the lines left out.
fn read_chain(path: &Path) -> Result<(Vec<Record>, Vec<String>), RolloutError> {
    let mut chain = vec![file_records(path, 0)?];
    let mut seen = vec![path.to_path_buf()];
    let mut ends = Vec::new();
    // A source that cannot be found or read leaves the fork with its own records only.
    while let Some((thread, end)) = base_of(&chain.last().expect("a file").0)
        && let Some(source) = codex_home_of(path).and_then(|home| thread_file(home, &thread))
        && !seen.contains(&source)
        && let Ok(read) = file_records(&source, 0)
    {
        seen.push(source);
        ends.push(end);
        chain.push(read);
    }
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    // The oldest source first, each cut where its fork branched off.
    for (i, (own, own_skipped)) in chain.into_iter().enumerate().rev() {
        let end = i.checked_sub(1).map(|j| ends[j]);
        records.extend(own.into_iter().filter(|r| end.is_none_or(|end| r.ordinal < end)));
        if i == 0 {
            skipped = own_skipped;
        }
    }
    Ok((records, skipped))
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
    /// The last response's usage, as its last `token_count` said: the context's size then.
    pub last_usage: Option<crate::client::Usage>,
    /// Which context window the thread is in: 0, or the last compaction's (whose id is then `meta`'s
    /// `context_window_id`).
    pub window_number: u32,
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
    let (records, skipped) = read_chain(path)?;
    let mut meta = None;
    let mut items = Vec::new();
    let mut total_usage = None;
    let mut last_usage = None;
    let mut model = None;
    let mut window: Option<(u32, String)> = None;
    for record in &records {
        let payload = record.payload();
        match record.kind() {
            // A fork's sources' come first: the thread's own is the last.
            "session_meta" => {
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
                    // Upstream's key, or the one rcodex wrote before.
                    context_window_id: payload
                        .pointer("/context_window/window_id")
                        .and_then(Value::as_str)
                        .map_or_else(|| text("context_window_id"), str::to_string),
                    forked_from_id: payload.get("forked_from_id").and_then(Value::as_str).map(str::to_string),
                });
            }
            "response_item" => items.push(payload.clone()),
            // A compaction replaced the history, and opened a context window.
            "compacted" if payload["replacement_history"].is_array() => {
                items = payload["replacement_history"].as_array().cloned().unwrap_or_default();
                if let (Some(number), Some(id)) = (payload["window_number"].as_u64(), payload["window_id"].as_str()) {
                    window = Some((number as u32, id.to_string()));
                }
            }
            "turn_context" => model = payload["model"].as_str().map(str::to_string).or(model),
            "event_msg" if payload["type"] == "token_count" => {
                if let Some(usage) = payload.pointer("/info/total_token_usage") {
                    total_usage = crate::client::Usage::from_saved(usage);
                }
                if let Some(usage) = payload.pointer("/info/last_token_usage") {
                    last_usage = crate::client::Usage::from_saved(usage);
                }
            }
            _ => {}
        }
    }
    let mut meta = match meta {
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
    // The model is the last turn's (upstream's session_meta does not name it).
    if let Some(model) = model {
        meta.model = model;
    }
    let window_number = match window {
        Some((number, id)) => {
            meta.context_window_id = id;
            number
        }
        None => 0,
    };
    Ok(Saved { path: path.to_path_buf(), meta, items, skipped, total_usage, last_usage, window_number })
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
        // As upstream's, the session_meta does not name the model: the turns' contexts do.
        r.append("turn_context", json!({"turn_id": "u1", "model": "m"})).unwrap();
        r.append("event_msg", json!({"type": "task_complete"})).unwrap();
        let relative = r.path().strip_prefix(home.path()).unwrap().display().to_string();
        assert!(relative.starts_with("sessions/") && relative.ends_with("-t1.jsonl"), "{relative}");
        let saved = load(r.path()).unwrap();
        assert_eq!(saved.meta, meta("t1", "/w"));
        // Every record has its ordinal, from 0, and upstream's keys in upstream's order.
        let lines: Vec<Value> =
            std::fs::read_to_string(r.path()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.iter().map(|l| l["ordinal"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 1, 2, 3]);
        let keys: Vec<&String> = lines[0].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["timestamp", "ordinal", "type", "payload"]);
        assert_eq!(lines[0]["payload"]["history_mode"], "paginated");
        assert_eq!(lines[0]["payload"]["context_window"], json!({"window_id": "cw-t1"}));
        assert_eq!(saved.items, vec![json!({"type": "message", "role": "user"})]);

        // A process killed mid-line leaves a partial last line: the session still loads.
        let mut file = OpenOptions::new().append(true).open(r.path()).unwrap();
        file.write_all(b"{\"timestamp\": \"2026").unwrap();
        let saved = load(r.path()).unwrap();
        assert_eq!(saved.items.len(), 1);
        assert_eq!(saved.skipped.len(), 1, "the cut line is left out: {:?}", saved.skipped);
    }

    #[test]
    fn a_fork_refers_to_its_source_and_reads_its_history_from_it() {
        let home = tempfile::tempdir().unwrap();
        let message =
            |text: &str| json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]});
        let mut source = written(home.path(), &meta("s", "/w"));
        source.append("response_item", message("a")).unwrap();
        source.append("response_item", message("b")).unwrap();

        // Upstream's fork names where it branches off: after the source's records so far (3: its meta, a, b).
        let base = history_base(source.path()).unwrap();
        assert_eq!((base.thread_id.as_str(), base.end_ordinal_exclusive), ("s", 3));
        assert_eq!(base.end_byte_offset, std::fs::metadata(source.path()).unwrap().len());
        let mut fork =
            Rollout::fork(home.path(), &SessionMeta { forked_from_id: Some("s".into()), ..meta("f", "/w") }, &base)
                .unwrap();
        assert!(fork.path().exists(), "a fork's file is written at once");
        fork.append("response_item", message("c")).unwrap();
        // What the source says after the fork is not the fork's.
        source.append("response_item", message("not the fork's")).unwrap();

        let first: Value =
            serde_json::from_str(std::fs::read_to_string(fork.path()).unwrap().lines().next().unwrap()).unwrap();
        assert_eq!(first["ordinal"], 3, "the fork's records go on from its source's");
        assert_eq!(first["payload"]["forked_from_id"], "s");
        assert_eq!(first["payload"]["forked_from_ordinal_exclusive"], 3);
        assert_eq!(first["payload"]["history_base"]["end_ordinal_exclusive"], 3);

        let saved = load(fork.path()).unwrap();
        assert_eq!(saved.meta.thread_id, "f");
        assert_eq!(saved.meta.forked_from_id.as_deref(), Some("s"));
        assert_eq!(saved.items, [message("a"), message("b"), message("c")]);
        let ordinals: Vec<u64> = records(fork.path()).unwrap().iter().map(|r| r.ordinal).collect();
        assert_eq!(ordinals, [0, 1, 2, 3, 4]);
        assert_eq!(Rollout::reopen(fork.path()).unwrap().next_ordinal(), 5);

        // A fork of the fork takes both.
        let base = history_base(fork.path()).unwrap();
        assert_eq!((base.thread_id.as_str(), base.end_ordinal_exclusive), ("f", 5));
        let mut second = Rollout::fork(home.path(), &meta("g", "/w"), &base).unwrap();
        second.append("response_item", message("d")).unwrap();
        assert_eq!(load(second.path()).unwrap().items, [message("a"), message("b"), message("c"), message("d")]);

        // Without its source, a fork has its own records only.
        std::fs::remove_file(source.path()).unwrap();
        assert_eq!(load(fork.path()).unwrap().items, [message("c")]);
    }

    #[test]
    fn a_file_written_before_records_had_ordinals_is_counted_and_a_copied_fork_is_whole() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("sessions/2026/01/01");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rollout-2026-01-01T00-00-00-old.jsonl");
        let lines = [
            json!({"timestamp": "t", "type": "session_meta", "payload": {"id": "old", "forked_from_id": "gone",
                "context_window_id": "cw", "model": "m1"}}),
            json!({"timestamp": "t", "type": "response_item", "payload": {"type": "message", "role": "user"}}),
        ];
        std::fs::write(&path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        let saved = load(&path).unwrap();
        assert_eq!(saved.items.len(), 1, "a fork rcodex copied holds its whole history");
        assert_eq!((saved.meta.context_window_id.as_str(), saved.meta.model.as_str()), ("cw", "m1"));
        assert_eq!(Rollout::reopen(&path).unwrap().next_ordinal(), 2);
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
