//! The journal of exchanges: captures kept in memory for the library and the control API, and written to disk.
//!
//! Each exchange is written once, when it ends, before the agent sees the end of the response: when an agent has
//! its answer, the capture is on disk. An exchange still open after a short while (a hold, a slow stream) is also
//! written early with outcome `pending`, so that a run killed mid-exchange still leaves the request on disk. Both
//! writes are atomic and ordered: the final write always wins.

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use parity_capture::redact::Redactor;
use parity_capture::{Capture, CaptureStore, Outcome};
use serde::Serialize;
use tokio::sync::watch;

/// What the control API lists for each exchange.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaptureSummary {
    pub arrival: u64,
    pub session: u32,
    pub seq: u32,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub outcome: Outcome,
    /// The capture's path relative to the captures directory, when captures go to disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    pub events: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CaptureSummary {
    fn of(capture: &Capture, on_disk: bool) -> Self {
        CaptureSummary {
            arrival: capture.arrival,
            session: capture.session.index,
            seq: capture.seq,
            method: capture.request.method.clone(),
            path: capture.request.path.clone(),
            status: capture.response.status,
            outcome: capture.response.outcome,
            file: on_disk.then(|| capture.relative_path()),
            step: capture.script.as_ref().and_then(|s| s.step),
            events: capture.response.events.len(),
            error: capture.response.error.clone(),
        }
    }
}

/// Called with every finished exchange (the CLI prints a line per request with it).
pub type FinishHook = Arc<dyn Fn(&Capture) + Send + Sync>;

/// How many summaries the control API keeps: the most recent ones. Captures on disk are never dropped; this only
/// bounds the memory of a server that runs for hours.
pub const SUMMARIES_KEPT: usize = 10_000;

/// Summaries of the most recent exchanges, addressed by their absolute slot number.
#[derive(Default)]
struct Summaries {
    /// Slot number of `list[0]`.
    first_slot: usize,
    list: VecDeque<CaptureSummary>,
}

impl Summaries {
    fn push(&mut self, summary: CaptureSummary) -> usize {
        if self.list.len() == SUMMARIES_KEPT {
            self.list.pop_front();
            self.first_slot += 1;
        }
        self.list.push_back(summary);
        self.first_slot + self.list.len() - 1
    }

    fn set(&mut self, slot: usize, summary: CaptureSummary) {
        if let Some(entry) = slot.checked_sub(self.first_slot).and_then(|i| self.list.get_mut(i)) {
            *entry = summary;
        }
    }

    fn total(&self) -> usize {
        self.first_slot + self.list.len()
    }
}

pub struct Journal {
    store: Option<CaptureStore>,
    keep_in_memory: bool,
    pending_after: Duration,
    summaries: Mutex<Summaries>,
    full: Mutex<Vec<Capture>>,
    in_flight: watch::Sender<usize>,
    write_errors: AtomicU64,
    last_write_error: Mutex<Option<String>>,
    on_finish: Option<FinishHook>,
    /// What is kept off the record: every header, query and message a capture holds goes through it.
    redactor: Redactor,
    /// Bumped by every reset. An exchange that began before a reset belongs to the run the reset cleared: it still
    /// ends, but enters neither the memory nor the disk of the new run. Held (shared) around every write that must
    /// not straddle a reset, and exclusively by the reset itself.
    generation: RwLock<u64>,
    /// Every capture file this server wrote since it started or was last reset: what a reset removes from disk,
    /// and nothing else.
    written: Mutex<BTreeSet<PathBuf>>,
    /// The kinds of credentials already warned of ([`Journal::warn_of_credentials`]).
    credentials_warned: Mutex<BTreeSet<&'static str>>,
}

/// What a reset cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResetReport {
    /// Captures that were known (finished or open) and are now forgotten.
    pub captures_cleared: usize,
    /// Capture files of this run removed from the captures directory.
    pub files_removed: usize,
    /// Streams that were held, now released so that they end.
    pub holds_released: usize,
    /// Files that could not be removed, with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Journal {
    pub fn new(
        store: Option<CaptureStore>,
        keep_in_memory: bool,
        pending_after: Duration,
        on_finish: Option<FinishHook>,
        redactor: Redactor,
    ) -> Self {
        Journal {
            store,
            keep_in_memory,
            pending_after,
            summaries: Mutex::new(Summaries::default()),
            full: Mutex::new(Vec::new()),
            in_flight: watch::channel(0).0,
            write_errors: AtomicU64::new(0),
            last_write_error: Mutex::new(None),
            on_finish,
            redactor,
            generation: RwLock::new(0),
            written: Mutex::new(BTreeSet::new()),
            credentials_warned: Mutex::new(BTreeSet::new()),
        }
    }

    /// Forgets every capture of this run: in memory, and on disk the files this server wrote (never another
    /// file). Exchanges still open finish without being recorded.
    pub fn reset(&self) -> ResetReport {
        let mut generation = self.generation.write().expect("journal generation lock");
        *generation += 1;
        let mut report = ResetReport::default();
        {
            let mut summaries = self.summaries.lock().expect("journal lock");
            report.captures_cleared = summaries.list.len();
            *summaries = Summaries::default();
        }
        self.full.lock().expect("journal lock").clear();
        let written = std::mem::take(&mut *self.written.lock().expect("journal lock"));
        let mut dirs = BTreeSet::new();
        for path in written {
            match std::fs::remove_file(&path) {
                Ok(()) => report.files_removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => report.errors.push(format!("{}: {e}", path.display())),
            }
            dirs.extend(path.parent().map(PathBuf::from));
        }
        // Session directories this run created are left only when something else is in them.
        for dir in dirs {
            let _ = std::fs::remove_dir(dir);
        }
        report
    }

    /// The finished capture of this arrival number, when the journal keeps captures in memory.
    pub fn capture(&self, arrival: u64) -> Option<Capture> {
        self.full.lock().expect("journal lock").iter().find(|c| c.arrival == arrival).cloned()
    }

    /// The summary of this arrival number, when it is among the most recent.
    pub fn summary(&self, arrival: u64) -> Option<CaptureSummary> {
        self.summaries.lock().expect("journal lock").list.iter().find(|s| s.arrival == arrival).cloned()
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    pub fn captures_dir(&self) -> Option<PathBuf> {
        self.store.as_ref().map(|s| s.root().to_path_buf())
    }

    /// Summaries of the most recent exchanges (up to [`SUMMARIES_KEPT`]), in arrival order, open ones as
    /// `pending`.
    pub fn summaries(&self) -> Vec<CaptureSummary> {
        let mut list: Vec<CaptureSummary> = self.summaries.lock().expect("journal lock").list.iter().cloned().collect();
        list.sort_by_key(|s| s.arrival);
        list
    }

    /// How many exchanges there have been.
    pub fn total(&self) -> usize {
        self.summaries.lock().expect("journal lock").total()
    }

    /// Every finished capture, in arrival order, when the journal keeps them in memory.
    pub fn captures(&self) -> Vec<Capture> {
        let mut list = self.full.lock().expect("journal lock").clone();
        list.sort_by_key(|c| c.arrival);
        list
    }

    pub fn in_flight(&self) -> usize {
        *self.in_flight.borrow()
    }

    /// Waits until no exchange is open, for at most `timeout`; returns whether that happened.
    pub async fn settle(&self, timeout: Duration) -> bool {
        let mut rx = self.in_flight.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|n| *n == 0)).await.is_ok()
    }

    /// Capture writes that failed, and the last failure.
    pub fn write_errors(&self) -> (u64, Option<String>) {
        (self.write_errors.load(Ordering::Relaxed), self.last_write_error.lock().expect("journal lock").clone())
    }

    /// Tells on stderr, once per kind in a run, that a body to be written holds what looks like a credential: bodies
    /// are kept as sent, unless `--redact-body` says otherwise.
    fn warn_of_credentials(&self, capture: &Capture) {
        let kinds = parity_capture::redact::credentials_in_body(&capture.request);
        let mut warned = self.credentials_warned.lock().expect("journal lock");
        for kind in kinds {
            if warned.insert(kind) {
                eprintln!(
                    "parity: warning: the body of {} holds what looks like {kind}; it is written as sent \
                     (--redact-body PATTERN redacts it). Told once per kind",
                    capture.relative_path()
                );
            }
        }
    }

    fn record_write(&self, result: std::io::Result<PathBuf>) {
        if let Ok(path) = &result {
            self.written.lock().expect("journal lock").insert(path.clone());
        }
        if let Err(e) = result {
            self.write_errors.fetch_add(1, Ordering::Relaxed);
            let message = format!("could not write a capture: {e}");
            eprintln!("parity: {message}");
            *self.last_write_error.lock().expect("journal lock") = Some(message);
        }
    }
}

/// One exchange in progress.
pub struct Exchange {
    journal: Arc<Journal>,
    /// The journal's generation when the exchange began (see [`Journal::reset`]).
    generation: u64,
    slot: usize,
    shared: Arc<Shared>,
    started: Instant,
}

/// What an exchange shares with its early writer.
struct Shared {
    /// The capture being built; `None` once the exchange has finished (and taken it).
    capture: Mutex<Option<Capture>>,
    /// Held while a capture file of this exchange is written, so that an early write never follows the final one.
    write_lock: Mutex<()>,
}

impl Exchange {
    /// Registers a new exchange; `started` is when its request arrived.
    pub fn begin(journal: &Arc<Journal>, mut capture: Capture, started: Instant) -> Exchange {
        journal.redactor.redact_body(&mut capture.request);
        if journal.store.is_some() {
            journal.warn_of_credentials(&capture);
        }
        let summary = CaptureSummary::of(&capture, journal.store.is_some());
        let (generation, slot) = {
            let generation = journal.generation.read().expect("journal generation lock");
            (*generation, journal.summaries.lock().expect("journal lock").push(summary))
        };
        journal.in_flight.send_modify(|n| *n += 1);
        let shared = Arc::new(Shared { capture: Mutex::new(Some(capture)), write_lock: Mutex::new(()) });
        let exchange = Exchange { journal: journal.clone(), generation, slot, shared, started };
        if journal.store.is_some() {
            let (journal, shared, after) = (journal.clone(), exchange.shared.clone(), journal.pending_after);
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                write_pending(journal, shared, generation).await;
            });
        }
        exchange
    }

    /// The rules that keep credentials out of this exchange's capture.
    pub fn redactor(&self) -> &Redactor {
        &self.journal.redactor
    }

    /// Milliseconds since the request arrived, rounded to microseconds.
    pub fn elapsed_ms(&self) -> f64 {
        parity_capture::model::round_ms(self.started.elapsed().as_secs_f64() * 1000.0)
    }

    /// Changes the capture in progress.
    pub fn update<R>(&self, change: impl FnOnce(&mut Capture) -> R) -> R {
        change(self.shared.capture.lock().expect("capture lock").as_mut().expect("the exchange is open"))
    }

    /// Writes the capture as it stands now (outcome `pending`), e.g. when a stream is held.
    pub fn checkpoint(&self) {
        if self.journal.store.is_some() {
            tokio::spawn(write_pending(self.journal.clone(), self.shared.clone(), self.generation));
        }
    }

    /// Ends the exchange: writes the final capture (awaited), then makes it visible in memory.
    pub async fn finish(self) {
        let mut capture = self.shared.capture.lock().expect("capture lock").take().expect("finished once");
        // A token endpoint's answer (proxied) holds credentials too.
        parity_capture::redact::redact_response_body(&mut capture.response);
        let summary = CaptureSummary::of(&capture, self.journal.store.is_some());
        if let Some(hook) = &self.journal.on_finish {
            hook(&capture);
        }
        let kept = self.journal.keep_in_memory.then(|| capture.clone());
        if let Some(store) = self.journal.store.clone() {
            let (shared, journal, generation) = (self.shared.clone(), self.journal.clone(), self.generation);
            tokio::task::spawn_blocking(move || {
                let _guard = shared.write_lock.lock().expect("write lock");
                let current = journal.generation.read().expect("journal generation lock");
                if *current == generation {
                    journal.record_write(store.write_owned(capture));
                }
            })
            .await
            .unwrap_or_else(|e| self.journal.record_write(Err(std::io::Error::other(e))));
        }
        {
            let current = self.journal.generation.read().expect("journal generation lock");
            if *current == self.generation {
                self.journal.summaries.lock().expect("journal lock").set(self.slot, summary);
                if let Some(capture) = kept {
                    self.journal.full.lock().expect("journal lock").push(capture);
                }
            }
        }
        self.journal.in_flight.send_modify(|n| *n -= 1);
    }
}

/// An exchange dropped before it finished (its task panicked or was cancelled) still ends: its capture is written
/// with what went wrong, and it stops counting as in flight, so that `/_parity/health` and `settle` never wait on it.
impl Drop for Exchange {
    fn drop(&mut self) {
        let Some(mut capture) = self.shared.capture.lock().map(|mut c| c.take()).unwrap_or(None) else {
            return; // finished normally
        };
        capture.response.outcome = Outcome::Dropped;
        capture.response.end_ms = Some(self.elapsed_ms());
        capture.response.error =
            Some("parity: the exchange was abandoned before it ended (an internal error of parity)".to_string());
        let summary = CaptureSummary::of(&capture, self.journal.store.is_some());
        // Locks in the order every writer takes them (this exchange's write lock, then the generation), and a lock
        // poisoned by the panic that dropped this exchange must not stop it from ending.
        let _guard = self.shared.write_lock.lock();
        let current = self.journal.generation.read().unwrap_or_else(|e| e.into_inner());
        if *current == self.generation {
            if let Some(store) = &self.journal.store {
                self.journal.record_write(store.write(&capture));
            }
            if let Ok(mut summaries) = self.journal.summaries.lock() {
                summaries.set(self.slot, summary);
            }
            if self.journal.keep_in_memory
                && let Ok(mut full) = self.journal.full.lock()
            {
                full.push(capture);
            }
        }
        drop(current);
        self.journal.in_flight.send_modify(|n| *n -= 1);
    }
}

/// Writes an exchange's capture before it ends, unless it has ended by then.
async fn write_pending(journal: Arc<Journal>, shared: Arc<Shared>, generation: u64) {
    let Some(store) = journal.store.clone() else {
        return;
    };
    if shared.capture.lock().expect("capture lock").is_none() {
        return; // finished: the usual case, decided without a trip to the blocking pool
    }
    let _ = tokio::task::spawn_blocking(move || {
        let _guard = shared.write_lock.lock().expect("write lock");
        // Checked again under the write lock: once the final write has begun, an early one must not follow it.
        let snapshot = shared.capture.lock().expect("capture lock").clone()?;
        // A reset since the exchange began: its capture belongs to the cleared run.
        let current = journal.generation.read().expect("journal generation lock");
        (*current == generation).then(|| journal.record_write(store.write(&snapshot)))
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(arrival: u64) -> CaptureSummary {
        CaptureSummary {
            arrival,
            session: 1,
            seq: arrival as u32,
            method: "POST".into(),
            path: "/v1/responses".into(),
            status: 0,
            outcome: Outcome::Pending,
            file: None,
            step: None,
            events: 0,
            error: None,
        }
    }

    #[test]
    fn summaries_stay_bounded_and_late_updates_of_dropped_slots_are_ignored() {
        let mut s = Summaries::default();
        let first = s.push(summary(1));
        for i in 2..=(SUMMARIES_KEPT as u64 + 5) {
            s.push(summary(i));
        }
        assert_eq!(s.list.len(), SUMMARIES_KEPT);
        assert_eq!(s.total(), SUMMARIES_KEPT + 5);
        s.set(first, CaptureSummary { status: 200, ..summary(1) });
        assert!(s.list.iter().all(|x| x.status == 0), "slot 0 was dropped; its update goes nowhere");
        let last = s.total() - 1;
        s.set(last, CaptureSummary { status: 200, ..summary(last as u64 + 1) });
        assert_eq!(s.list.back().unwrap().status, 200);
    }

    #[tokio::test]
    async fn an_exchange_dropped_before_it_ends_is_written_as_dropped_and_stops_counting_as_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaptureStore::open(dir.path(), false).unwrap();
        let journal = Arc::new(Journal::new(Some(store), true, Duration::from_secs(60), None, Redactor::builtin()));
        let session = parity_capture::SessionRef { index: 1, key: "t".into(), key_header: None };
        let request = parity_capture::CapturedRequest {
            method: "POST".into(),
            path: "/v1/responses".into(),
            query: None,
            headers: Default::default(),
            body: serde_json::Value::Null,
            raw_body: None,
        };
        let capture = Capture::new(session, 1, 1, parity_capture::Mode::Scripted, "now".into(), request);
        let exchange = Exchange::begin(&journal, capture, Instant::now());
        assert_eq!(journal.in_flight(), 1);
        // What a panicking or cancelled handler does to its exchange.
        drop(exchange);
        assert_eq!(journal.in_flight(), 0);
        assert!(journal.settle(Duration::from_millis(10)).await);
        let written = parity_capture::Recording::load(dir.path()).unwrap();
        let response = &written.sessions[0].exchanges[0].capture.response;
        assert_eq!(response.outcome, Outcome::Dropped);
        assert!(response.error.as_deref().unwrap().contains("abandoned"));
        assert_eq!(journal.captures().len(), 1);
    }
}
