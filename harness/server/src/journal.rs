//! The journal of exchanges: captures kept in memory for the library and the control API, and written to disk.
//!
//! Each exchange is written once, when it ends, before the agent sees the end of the response: when an agent has
//! its answer, the capture is on disk. An exchange still open after a short while (a hold, a slow stream) is also
//! written early with outcome `pending`, so that a run killed mid-exchange still leaves the request on disk. Both
//! writes are atomic and ordered: the final write always wins.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

pub struct Journal {
    store: Option<CaptureStore>,
    keep_in_memory: bool,
    pending_after: Duration,
    summaries: Mutex<Vec<CaptureSummary>>,
    full: Mutex<Vec<Capture>>,
    in_flight: watch::Sender<usize>,
    write_errors: AtomicU64,
    last_write_error: Mutex<Option<String>>,
    on_finish: Option<FinishHook>,
}

impl Journal {
    pub fn new(
        store: Option<CaptureStore>,
        keep_in_memory: bool,
        pending_after: Duration,
        on_finish: Option<FinishHook>,
    ) -> Self {
        Journal {
            store,
            keep_in_memory,
            pending_after,
            summaries: Mutex::new(Vec::new()),
            full: Mutex::new(Vec::new()),
            in_flight: watch::channel(0).0,
            write_errors: AtomicU64::new(0),
            last_write_error: Mutex::new(None),
            on_finish,
        }
    }

    pub fn captures_dir(&self) -> Option<PathBuf> {
        self.store.as_ref().map(|s| s.root().to_path_buf())
    }

    /// Summaries of every exchange so far, in arrival order (open ones as `pending`).
    pub fn summaries(&self) -> Vec<CaptureSummary> {
        let mut list = self.summaries.lock().expect("journal lock").clone();
        list.sort_by_key(|s| s.arrival);
        list
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
        tokio::time::timeout(timeout, rx.wait_for(|n| *n == 0))
            .await
            .is_ok()
    }

    /// Capture writes that failed, and the last failure.
    pub fn write_errors(&self) -> (u64, Option<String>) {
        (
            self.write_errors.load(Ordering::Relaxed),
            self.last_write_error.lock().expect("journal lock").clone(),
        )
    }

    fn record_write(&self, result: std::io::Result<PathBuf>) {
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
    slot: usize,
    capture: Arc<Mutex<Capture>>,
    started: Instant,
    write_lock: Arc<Mutex<()>>,
    finished: Arc<AtomicBool>,
}

impl Exchange {
    /// Registers a new exchange; `started` is when its request arrived.
    pub fn begin(journal: &Arc<Journal>, capture: Capture, started: Instant) -> Exchange {
        let slot = {
            let mut summaries = journal.summaries.lock().expect("journal lock");
            summaries.push(CaptureSummary::of(&capture, journal.store.is_some()));
            summaries.len() - 1
        };
        journal.in_flight.send_modify(|n| *n += 1);
        let exchange = Exchange {
            journal: journal.clone(),
            slot,
            capture: Arc::new(Mutex::new(capture)),
            started,
            write_lock: Arc::new(Mutex::new(())),
            finished: Arc::new(AtomicBool::new(false)),
        };
        if journal.store.is_some() {
            let early = exchange.writer();
            let after = journal.pending_after;
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                early.write_pending().await;
            });
        }
        exchange
    }

    /// Milliseconds since the request arrived, rounded to microseconds.
    pub fn elapsed_ms(&self) -> f64 {
        parity_capture::model::round_ms(self.started.elapsed().as_secs_f64() * 1000.0)
    }

    /// Changes the capture in progress.
    pub fn update<R>(&self, change: impl FnOnce(&mut Capture) -> R) -> R {
        change(&mut self.capture.lock().expect("capture lock"))
    }

    /// Writes the capture as it stands now (outcome `pending`), e.g. when a stream is held.
    pub fn checkpoint(&self) {
        if self.journal.store.is_some() {
            let writer = self.writer();
            tokio::spawn(async move { writer.write_pending().await });
        }
    }

    fn writer(&self) -> PendingWriter {
        PendingWriter {
            journal: self.journal.clone(),
            capture: self.capture.clone(),
            write_lock: self.write_lock.clone(),
            finished: self.finished.clone(),
        }
    }

    /// Ends the exchange: writes the final capture (awaited), then makes it visible in memory.
    pub async fn finish(self) {
        self.finished.store(true, Ordering::SeqCst);
        let capture = self.capture.lock().expect("capture lock").clone();
        if let Some(store) = self.journal.store.clone() {
            let lock = self.write_lock.clone();
            let to_write = capture.clone();
            let result = tokio::task::spawn_blocking(move || {
                let _guard = lock.lock().expect("write lock");
                store.write(&to_write)
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
            self.journal.record_write(result);
        }
        self.journal.summaries.lock().expect("journal lock")[self.slot] =
            CaptureSummary::of(&capture, self.journal.store.is_some());
        if let Some(hook) = &self.journal.on_finish {
            hook(&capture);
        }
        if self.journal.keep_in_memory {
            self.journal
                .full
                .lock()
                .expect("journal lock")
                .push(capture);
        }
        self.journal.in_flight.send_modify(|n| *n -= 1);
    }
}

/// Writes an exchange's capture before it ends, unless it has ended by then.
struct PendingWriter {
    journal: Arc<Journal>,
    capture: Arc<Mutex<Capture>>,
    write_lock: Arc<Mutex<()>>,
    finished: Arc<AtomicBool>,
}

impl PendingWriter {
    async fn write_pending(self) {
        let Some(store) = self.journal.store.clone() else {
            return;
        };
        let journal = self.journal.clone();
        let result = tokio::task::spawn_blocking(move || {
            let _guard = self.write_lock.lock().expect("write lock");
            // Checked under the lock: once the final write has started or happened, an early one must not follow.
            if self.finished.load(Ordering::SeqCst) {
                return None;
            }
            let snapshot = self.capture.lock().expect("capture lock").clone();
            Some(store.write(&snapshot))
        })
        .await;
        if let Ok(Some(result)) = result {
            journal.record_write(result);
        }
    }
}
