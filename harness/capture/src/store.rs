//! Writing captures atomically, and reading a file, a session or a whole recording back.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::{Capture, FORMAT};
use crate::owned;

/// Suffix of the temporary files a write goes through; a reader never looks at them.
pub(crate) const TEMP_SUFFIX: &str = ".tmp-parity";

/// `session-01/0002-post-responses.json`: sessions and requests numbered so that names sort in arrival order.
/// Whatever the request, the name stays short: the method and the path are each cut to a bounded slug.
pub fn relative_path(session_index: u32, seq: u32, method: &str, path: &str) -> String {
    format!("{}/{seq:04}-{}-{}.json", session_dir_name(session_index), slug(method, 16, "method"), path_slug(path))
}

pub fn session_dir_name(session_index: u32) -> String {
    format!("session-{session_index:02}")
}

/// `/v1/responses` -> `responses`; `/v1/responses/compact` -> `responses-compact`; `/` -> `root`.
fn path_slug(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    let trimmed = trimmed.strip_prefix("v1/").or_else(|| (trimmed == "v1").then_some("")).unwrap_or(trimmed);
    slug(trimmed, 60, "root")
}

/// Lowercase ASCII letters, digits, `.` and `_`, anything else a `-`; at most `max` characters; `empty` if none.
fn slug(text: &str, max: usize, empty: &str) -> String {
    let slug: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '_' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    let slug: String = slug.trim_matches('-').chars().take(max).collect();
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() { empty.to_string() } else { slug.to_string() }
}

/// Writes `contents` to `path` so that the file is either absent, or complete: the bytes go to a temporary file in
/// the same directory, which is then renamed over `path`. A process killed mid-write leaves only a temporary file,
/// which readers ignore and [`CaptureStore::open`] removes.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("capture");
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(TEMP_SUFFIX);
    // Temporary files are private (0600) by default; a capture is an ordinary file, readable like any other.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A directory captures are written to.
#[derive(Debug, Clone)]
pub struct CaptureStore {
    root: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{path} already holds {count} capture(s) from an earlier run; choose an empty directory, or pass --clean to replace them"
    )]
    NotEmpty { path: PathBuf, count: usize },
    #[error(
        "--clean: {path} is not a parity captures directory (no {marker}, no parity captures): it holds {holds}; \
         nothing was removed. Choose a new or empty directory"
    )]
    NotParity { path: PathBuf, marker: &'static str, holds: String },
}

impl CaptureStore {
    /// Opens `root` for writing, creating it and marking it as parity's (see [`crate::owned`]). A directory that
    /// already holds captures is refused, so that two runs never mix, unless `replace` is set: then parity's own
    /// files are removed first, and nothing else. `replace` refuses a directory parity never wrote into that holds
    /// anything. Temporary files left by a killed run are removed either way.
    pub fn open(root: impl Into<PathBuf>, replace: bool) -> Result<Self, StoreError> {
        let root = root.into();
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        let survey = owned::survey(&root).map_err(io_err(&root))?;
        owned::remove_temporaries(&survey).map_err(io_err(&root))?;
        if !survey.captures.is_empty() && !replace {
            return Err(StoreError::NotEmpty { path: root, count: survey.captures.len() });
        }
        if replace {
            if !survey.is_parity_dir() && !survey.others.is_empty() {
                return Err(StoreError::NotParity {
                    path: root,
                    marker: owned::CAPTURES_MARKER,
                    holds: survey.others_brief(),
                });
            }
            owned::remove_owned(&root, &survey).map_err(io_err(&root))?;
        }
        owned::write_marker(&root).map_err(io_err(&root))?;
        Ok(CaptureStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path a capture is (or will be) written to.
    pub fn path_of(&self, capture: &Capture) -> PathBuf {
        self.root.join(capture.relative_path())
    }

    /// Writes (or rewrites) a capture atomically and returns its path.
    pub fn write(&self, capture: &Capture) -> io::Result<PathBuf> {
        self.write_owned(capture.clone())
    }

    /// As [`CaptureStore::write`], consuming the capture: its request body and events are moved into the document
    /// written, not copied, which matters at thousands of 40 KB requests a second.
    pub fn write_owned(&self, capture: Capture) -> io::Result<PathBuf> {
        let path = self.path_of(&capture);
        let text = crate::pretty::value_to_pretty_string(&to_document(capture).map_err(io::Error::other)?);
        write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }
}

/// The capture as a JSON document, moving its large values instead of cloning them: each is swapped for `null`
/// before serializing, which keeps its key in place, and moved back after.
fn to_document(mut capture: Capture) -> serde_json::Result<Value> {
    let body = std::mem::take(&mut capture.request.body);
    let data: Vec<Value> = capture.response.events.iter_mut().map(|e| std::mem::take(&mut e.data)).collect();
    let response_body = capture.response.body.as_mut().map(std::mem::take);
    let mut document = serde_json::to_value(&capture)?;
    document["request"]["body"] = body;
    if let Some(events) = document["response"].get_mut("events").and_then(Value::as_array_mut) {
        for (event, data) in events.iter_mut().zip(data) {
            event["data"] = data;
        }
    }
    if let Some(response_body) = response_body {
        document["response"]["body"] = response_body;
    }
    Ok(document)
}

fn walk(root: &Path) -> walkdir::IntoIter {
    walkdir::WalkDir::new(root).sort_by_file_name().into_iter()
}

/// Capture files are named `NNNN-<method>-<slug>.json`; other files in a recording (an agent's stdout, a scenario)
/// are not captures and are left alone.
pub fn is_capture_file_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    name.ends_with(".json") && bytes.len() > 5 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-'
}

/// Why a capture or recording could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}:{line}:{column}: not valid JSON: {message}")]
    Json { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path}: not a parity capture: it has no \"format\" field")]
    NotACapture { path: PathBuf },
    #[error("{path}: capture format \"{found}\" is not supported; this parity reads \"{FORMAT}\"")]
    Format { path: PathBuf, found: String },
    #[error("{path}: field {field}: {message}")]
    Field { path: PathBuf, field: String, message: String },
    #[error("{path} and {other}: both claim to be request {seq} of session {session}")]
    Duplicate { path: PathBuf, other: PathBuf, session: u32, seq: u32 },
    #[error("{path}: no such file or directory")]
    Missing { path: PathBuf },
}

/// Parses one capture file's text; `path` is only used to name the file in errors.
pub fn parse_capture(text: &str, path: &Path) -> Result<Capture, LoadError> {
    let value: Value = serde_json::from_str(text).map_err(|e| LoadError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string().split(" at line ").next().unwrap_or_default().to_string(),
    })?;
    match value.get("format") {
        None => {
            return Err(LoadError::NotACapture { path: path.to_path_buf() });
        }
        Some(Value::String(f)) if f == FORMAT => {}
        Some(other) => {
            let found = other.as_str().map(str::to_string).unwrap_or_else(|| other.to_string());
            return Err(LoadError::Format { path: path.to_path_buf(), found });
        }
    }
    let capture: Capture = serde_path_to_error::deserialize(value).map_err(|e| LoadError::Field {
        path: path.to_path_buf(),
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    capture.check().map_err(|(field, message)| LoadError::Field { path: path.to_path_buf(), field, message })?;
    Ok(capture)
}

/// Reads one capture file.
pub fn load_capture(path: &Path) -> Result<Capture, LoadError> {
    let text = fs::read_to_string(path).map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?;
    parse_capture(&text, path)
}

/// A set of captures read back from disk, grouped by session.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// What was loaded: a capture file, a session directory or a recording directory.
    pub root: PathBuf,
    /// Sessions in order of their index.
    pub sessions: Vec<RecordedSession>,
}

#[derive(Debug, Clone)]
pub struct RecordedSession {
    pub index: u32,
    /// The session key of its first request (volatile: a thread id).
    pub key: String,
    /// Exchanges in order of `seq`.
    pub exchanges: Vec<RecordedExchange>,
}

#[derive(Debug, Clone)]
pub struct RecordedExchange {
    /// Where the capture was read from.
    pub path: PathBuf,
    pub capture: Capture,
}

impl Recording {
    /// Loads a capture file, or every capture file under a directory (a session or a whole recording).
    pub fn load(path: &Path) -> Result<Recording, LoadError> {
        if !path.exists() {
            return Err(LoadError::Missing { path: path.to_path_buf() });
        }
        let mut files = Vec::new();
        if path.is_file() {
            files.push(path.to_path_buf());
        } else {
            for entry in walk(path) {
                let entry = entry.map_err(|e| LoadError::Io { path: path.to_path_buf(), source: e.into() })?;
                let name = entry.file_name().to_str().unwrap_or_default();
                if entry.file_type().is_file() && is_capture_file_name(name) {
                    files.push(entry.into_path());
                }
            }
        }
        let mut captures = files
            .into_iter()
            .map(|file| load_capture(&file).map(|capture| RecordedExchange { path: file, capture }))
            .collect::<Result<Vec<_>, _>>()?;
        captures.sort_by_key(|e| (e.capture.session.index, e.capture.seq));
        let mut sessions: Vec<RecordedSession> = Vec::new();
        for exchange in captures {
            let (index, seq) = (exchange.capture.session.index, exchange.capture.seq);
            match sessions.last_mut() {
                Some(session) if session.index == index => {
                    if let Some(last) = session.exchanges.last().filter(|last| last.capture.seq == seq) {
                        return Err(LoadError::Duplicate {
                            path: exchange.path,
                            other: last.path.clone(),
                            session: index,
                            seq,
                        });
                    }
                    session.exchanges.push(exchange);
                }
                _ => sessions.push(RecordedSession {
                    index,
                    key: exchange.capture.session.key.clone(),
                    exchanges: vec![exchange],
                }),
            }
        }
        Ok(Recording { root: path.to_path_buf(), sessions })
    }

    /// Every exchange, session by session.
    pub fn exchanges(&self) -> impl Iterator<Item = &RecordedExchange> {
        self.sessions.iter().flat_map(|s| s.exchanges.iter())
    }

    pub fn len(&self) -> usize {
        self.sessions.iter().map(|s| s.exchanges.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A path relative to the recording's root, for messages and reports.
    pub fn display_path(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).display().to_string()
    }
}

/// Every file under `root` (recursively, symbolic links not followed), by its path relative to it, sorted; none when
/// `root` does not exist.
pub fn read_tree(root: &Path) -> io::Result<std::collections::BTreeMap<String, Vec<u8>>> {
    let mut files = std::collections::BTreeMap::new();
    if !root.exists() {
        return Ok(files);
    }
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.map_err(io::Error::other)?;
        if entry.file_type().is_file() {
            let relative = entry.path().strip_prefix(root).expect("walked under the root");
            files.insert(relative.to_string_lossy().into_owned(), fs::read(entry.path())?);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use serde_json::json;

    fn capture(session: u32, seq: u32) -> Capture {
        let session_ref =
            SessionRef { index: session, key: format!("key-{session}"), key_header: Some("thread-id".into()) };
        let request = CapturedRequest {
            method: "POST".into(),
            path: "/v1/responses".into(),
            query: None,
            headers: [("content-type", "application/json")].into_iter().collect(),
            body: json!({"model": "m", "input": []}),
            raw_body: None,
        };
        Capture::new(session_ref, seq, u64::from(seq), Mode::Scripted, "2026-11-21T00:00:00Z".into(), request)
    }

    #[test]
    fn moving_large_values_renders_exactly_what_cloning_would() {
        let mut c = capture(1, 1);
        c.response.status = 200;
        c.response.outcome = Outcome::Completed;
        c.response.events = vec![
            StreamEvent { t_ms: 0.5, event: Some("a".into()), data: json!({"type": "a", "n": [1, 2]}) },
            StreamEvent { t_ms: 1.0, event: None, data: json!("text") },
        ];
        c.response.body = Some(json!({"error": {"message": "m"}}));
        c.response.end_ms = Some(2.0);
        let by_clone = crate::pretty::to_pretty_string(&c).unwrap();
        let by_move = crate::pretty::value_to_pretty_string(&to_document(c).unwrap());
        assert_eq!(by_move, by_clone);
    }

    #[cfg(unix)]
    #[test]
    fn written_files_are_ordinary_files_not_private_temporaries() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomic(&path, b"{}").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
    }

    #[test]
    fn names_sort_in_arrival_order() {
        assert_eq!(relative_path(1, 2, "POST", "/v1/responses"), "session-01/0002-post-responses.json");
        assert_eq!(relative_path(12, 1, "GET", "/v1/models"), "session-12/0001-get-models.json");
        assert_eq!(relative_path(1, 1, "POST", "/v1/responses/compact"), "session-01/0001-post-responses-compact.json");
        assert_eq!(relative_path(1, 1, "GET", "/"), "session-01/0001-get-root.json");
        let long = relative_path(1, 1, &"X".repeat(300), &format!("/{}", "p/".repeat(300)));
        assert!(long.len() < 120, "{long}");
        assert_eq!(relative_path(1, 1, "M/../", "/"), "session-01/0001-m-..-root.json", "no separator survives");
    }

    #[test]
    fn written_captures_load_back_grouped_and_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaptureStore::open(dir.path(), false).unwrap();
        for (s, q) in [(2, 1), (1, 2), (1, 1)] {
            store.write(&capture(s, q)).unwrap();
        }
        fs::write(dir.path().join("stdout.txt"), "not a capture").unwrap();
        let rec = Recording::load(dir.path()).unwrap();
        let shape: Vec<(u32, Vec<u32>)> =
            rec.sessions.iter().map(|s| (s.index, s.exchanges.iter().map(|e| e.capture.seq).collect())).collect();
        assert_eq!(shape, vec![(1, vec![1, 2]), (2, vec![1])]);
        assert_eq!(rec.sessions[0].exchanges[0].capture, capture(1, 1));
        // A session directory alone, and a single file, load too.
        assert_eq!(Recording::load(&dir.path().join("session-01")).unwrap().len(), 2);
        assert_eq!(Recording::load(&dir.path().join("session-02/0001-post-responses.json")).unwrap().len(), 1);
    }

    #[test]
    fn a_used_directory_is_refused_unless_replaced_and_temp_files_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        CaptureStore::open(dir.path(), false).unwrap().write(&capture(1, 1)).unwrap();
        let stale = dir.path().join("session-01/.0002-post-responses.json.abc.tmp-parity");
        fs::write(&stale, "{\"format\": \"parity.capt").unwrap();
        let err = CaptureStore::open(dir.path(), false).unwrap_err();
        assert!(err.to_string().contains("already holds 1 capture"), "{err}");
        assert!(!stale.exists(), "the killed run's temporary file is gone");
        CaptureStore::open(dir.path(), true).unwrap();
        assert!(Recording::load(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn bad_files_are_named_with_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("0001-post-responses.json");
        let check = |text: &str, want: &str| {
            fs::write(&file, text).unwrap();
            let err = Recording::load(dir.path()).unwrap_err().to_string();
            assert!(err.contains("0001-post-responses.json") && err.contains(want), "{err}");
        };
        check("{\n  \"format\": ", "2:12: not valid JSON");
        check("{\"a\": 1}", "no \"format\" field");
        check("{\"format\": \"parity.capture/v9\"}", "\"parity.capture/v9\" is not supported");
        let mut bad = serde_json::to_value(capture(1, 1)).unwrap();
        bad["response"]["outcome"] = json!("exploded");
        check(&bad.to_string(), "field response.outcome: unknown variant `exploded`");
        let mut bad = serde_json::to_value(capture(1, 1)).unwrap();
        bad["response"]["status"] = json!(1000);
        check(&bad.to_string(), "field response.status: 1000 is not an HTTP status");
        let mut bad = serde_json::to_value(capture(1, 1)).unwrap();
        bad["response"]["events"] = json!([{"t_ms": 1.0, "data": {}}, {"t_ms": 1e30, "data": {}}]);
        check(&bad.to_string(), "field response.events[1].t_ms: 1000000000000000000000000000000 is not a time");
        bad["response"]["events"] = json!([{"t_ms": -1.0, "data": {}}]);
        check(&bad.to_string(), "field response.events[0].t_ms: -1 is not a time");
        assert!(matches!(Recording::load(&dir.path().join("nope")), Err(LoadError::Missing { .. })));
    }

    #[test]
    fn duplicates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaptureStore::open(dir.path(), false).unwrap();
        store.write(&capture(1, 1)).unwrap();
        let text = crate::pretty::to_pretty_string(&capture(1, 1)).unwrap();
        fs::write(dir.path().join("session-01/0001-post-copy.json"), text).unwrap();
        let err = Recording::load(dir.path()).unwrap_err();
        assert!(matches!(err, LoadError::Duplicate { session: 1, seq: 1, .. }), "{err}");
    }
}
