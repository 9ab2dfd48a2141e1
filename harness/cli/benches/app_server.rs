//! App-server benchmark: upstream Codex against rcodex, each as `BIN app-server` (JSON-RPC over stdio, one message a
//! line), driven by this benchmark as its client. `cargo bench -p parity-cli --bench app_server`.
//!
//! Every run gets a fresh isolated home and workspace ([`IsolatedAgent`]: a cleared environment, a config.toml whose
//! provider `parity` points at a scripted parity server of the run's own, in this process, on loopback), a new
//! process in a process group of its own, and the messages the recorder sends (captures/codex-0.169.0/app-*:
//! `initialize` with `clientInfo` and `capabilities.experimentalApi`, the `initialized` notification, `thread/start`
//! with the workspace as `cwd`, the model and `approvalPolicy = never`). Every wait has a deadline; the process group
//! is killed at the end of the run (after stdin is closed and the agent had 2 s to exit), whatever happened. Parts:
//!
//! - `start`: the clock starts just before the spawn; `initialize`, `initialized` and `thread/start` are written at
//!   once, without waiting for any answer; the clock stops when the first `thread/started` notification is read
//!   from the agent's stdout (upstream sends it after `thread/start`'s answer). The run must have answered both
//!   requests, neither with an error (an agent that refuses a `thread/start` arriving before `initialize` is
//!   answered fails here, at once), and the notification must name the thread `thread/start` answered with.
//!   Target: rcodex at most 1/5 of upstream's time. Also shown: spawn to the answer of `initialize`.
//! - `steer`: a turn (`turn/start`) whose answer the server holds before `response.completed` (a hold released only
//!   by the benchmark); once the hold is in effect plus 300 ms (what the recorder's steer scenarios wait), a
//!   `turn/steer` naming the running turn (`expectedTurnId`) is written. The round trip runs from just before that
//!   write to the moment the server has received the whole next model request (`POST /v1/responses`): the
//!   benchmark polls the server's journal, which has the exchange once its body is read, every 0.2 ms, so the figure is
//!   within 0.2 ms. Then the hold is released. The run must have the steer accepted (an answer, not an error), the
//!   steer's text as a user message in the second request's input, and the turn completed. Target: rcodex no slower
//!   than upstream. Also shown: the steer's own answer (write to answer read).
//! - `memory`: `initialize`, `initialized`, then 10 `thread/start`s one after another, each answered before the
//!   next; 1 s idle; then the peak resident set (VmHWM of /proc/PID/status) of the app-server process and of every
//!   live descendant, summed (each process's own peak: an upper bound of the tree's peak at any one instant, and
//!   the same as it when the tree is one process). The run must have 10 distinct thread ids. Target: rcodex at most
//!   1/10 of upstream. Also shown: the app-server process alone, and how many processes the tree held.
//!
//! Runs alternate between the agents (the order flips every round), one warm-up round is discarded, and
//! `PARITY_BENCH_RUNS` rounds (10) are measured. A run that did not do what it should is reported as failed with the
//! reason; statistics come from the runs that succeeded, and a target touched by a failed run is not judged. Upstream
//! comes from `$PARITY_UPSTREAM_BIN` or `.upstream/` (installed by `scripts/install-upstream.sh` when missing),
//! rcodex from `$PARITY_RCODEX_BIN` (an absolute path) or `target/release/rcodex`. Before the rounds each agent is
//! probed (`app-server`, `initialize`, 30 s at most): one that is missing, exits, or does not answer is skipped
//! with the reason, and the other measured alone.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use parity_server::{Hold, ParityServer, Step, Until};
use serde_json::{Value, json};
use support::app_server::{AppServer, initialize_params};
use support::*;

const PROMPT: &str = "Write a long poem about the sea.";
const STEER: &str = "Actually, make it a haiku.";
const HOLD: &str = "answer";
const THREADS: usize = 10;
/// The longest any one wait of a run may take (an answer, a notification, a hold, a request).
const WAIT: Duration = Duration::from_secs(20);
/// How often the steer part looks for the next model request.
const POLL: Duration = Duration::from_micros(200);

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Start,
    Steer,
    Memory,
}

const PARTS: [Part; 3] = [Part::Start, Part::Steer, Part::Memory];

impl Measured for Part {
    fn name(self) -> &'static str {
        match self {
            Part::Start => "start",
            Part::Steer => "steer",
            Part::Memory => "memory",
        }
    }

    /// What each value of a sample is, and its unit; the first is the one the target is about.
    fn metrics(self) -> &'static [Metric] {
        match self {
            Part::Start => &[("spawn to the first thread/started", ms), ("spawn to initialize answered", ms)],
            Part::Steer => &[
                ("turn/steer written to the next model request received", ms),
                ("turn/steer written to its answer read", ms),
            ],
            Part::Memory => &[
                ("peak RSS of the tree (VmHWM, summed), 10 idle threads", mib),
                ("peak RSS of the app-server process alone", mib),
                ("processes in the tree", count),
            ],
        }
    }

    /// The target: rcodex's first metric at most this times upstream's.
    fn target(self) -> (f64, &'static str) {
        match self {
            Part::Start => (0.2, "rcodex <= 1/5 of upstream"),
            Part::Steer => (1.0, "rcodex <= upstream"),
            Part::Memory => (0.1, "rcodex <= 1/10 of upstream"),
        }
    }
}

fn main() {
    print_load();
    let rounds = runs(10);
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let agents = compared_agents(|bin| runtime.block_on(probe(bin)));
    if agents.is_empty() {
        println!("nothing to measure");
        return;
    }
    for (label, bin) in &agents {
        println!("{label}: {} app-server", bin.display());
    }
    println!("{rounds} measured round(s) after one warm-up; each round runs every part with every agent");

    let samples = measure_rounds(&PARTS, &agents, rounds, |part, bin| runtime.block_on(run_once(part, bin)));
    report(&PARTS, &agents, &samples);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at the end: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
}

/// Whether `BIN app-server` answers `initialize`: the reason when it does not (it exits, says something else, or
/// stays silent for 30 s).
async fn probe(bin: &Path) -> Result<(), String> {
    let server = scripted(vec![]).await?;
    let mut app = AppServer::spawn(bin, &server.base_url())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = app.request("initialize", initialize_params()).await?;
    let answered = app.answer(id, deadline).await;
    app.finish().await;
    answered.map(|_| ())
}

async fn run_once(part: Part, bin: &Path) -> Sample {
    // A guard over the run's own deadlines: the process group dies with the run's AppServer either way.
    let limit = WAIT * (THREADS as u32 + 4);
    let run = async {
        match part {
            Part::Start => start(bin).await,
            Part::Steer => steer(bin).await,
            Part::Memory => memory(bin).await,
        }
    };
    match tokio::time::timeout(limit, run).await {
        Ok(Ok(sample)) => sample,
        Ok(Err(why)) => Sample::failed(why),
        Err(_) => Sample::failed(format!("the run did not end within {} s", limit.as_secs())),
    }
}

/// Spawn to the first `thread/started`, with `initialize`, `initialized` and `thread/start` written at once.
async fn start(bin: &Path) -> Result<Sample, String> {
    let server = scripted(vec![]).await?;
    let mut app = AppServer::spawn(bin, &server.base_url())?;
    let deadline = Instant::now() + WAIT;
    let result = async {
        let init = app.request("initialize", initialize_params()).await?;
        app.notify("initialized").await?;
        let thread = app.request("thread/start", app.thread_params()).await?;
        // An error answering thread/start (or initialize) means no thread/started is coming: fail at once.
        let refused = |m: &Value| (m["id"] == thread || m["id"] == init) && m.get("error").is_some();
        let (started_at, started) =
            app.wait_for(deadline, "thread/started", |m| m["method"] == "thread/started" || refused(m)).await?;
        if refused(&started) {
            let method = if started["id"] == init { "initialize" } else { "thread/start" };
            return Err(format!("{method} answered with an error: {}", started["error"]));
        }
        let mut sample = Sample { values: vec![ms_since(app.spawned, started_at)], ..Sample::default() };
        let (init_at, init_answer) = app.wait_for(deadline, "the answer to initialize", |m| m["id"] == init).await?;
        sample.values.push(ms_since(app.spawned, init_at));
        if let Some(error) = init_answer.get("error") {
            sample.problems.push(format!("initialize answered with an error: {error}"));
        }
        let answer = app.answer(thread, deadline).await;
        match (answer, started.pointer("/params/thread/id").and_then(Value::as_str)) {
            (Err(e), _) => sample.problems.push(e),
            (Ok(result), notified) => {
                let id = result.pointer("/thread/id").and_then(Value::as_str);
                if id.is_none() || id != notified {
                    sample
                        .problems
                        .push(format!("thread/start answered thread {id:?}, thread/started names {notified:?}"));
                }
            }
        }
        Ok(sample)
    }
    .await;
    app.finish().await;
    result
}

/// From `turn/steer` written to the model request carrying it received.
async fn steer(bin: &Path) -> Result<Sample, String> {
    let hold = Hold::named(HOLD).before("response.completed").until(Until::Release).timeout_ms(WAIT.as_millis() as u64);
    let server =
        scripted(vec![Step::message("The sea is wide,").hold(hold), Step::message("Waves fold into foam.")]).await?;
    let mut app = AppServer::spawn(bin, &server.base_url())?;
    let deadline = Instant::now() + WAIT * 3;
    let result = async {
        let thread = app.open(deadline).await?;
        let params = json!({"threadId": thread, "input": [{"type": "text", "text": PROMPT}]});
        let id = app.request("turn/start", params).await?;
        let answer = app.answer(id, deadline).await?;
        let turn = answer.pointer("/turn/id").and_then(Value::as_str).ok_or(format!("turn/start answered {answer}"))?;
        server.wait_for_hold(HOLD, WAIT).await.ok_or("the model request was never held")?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = model_requests(&server);
        if before != 1 {
            return Err(format!("{before} model requests before the steer, 1 expected"));
        }
        let params = json!({"threadId": thread, "expectedTurnId": turn, "input": [{"type": "text", "text": STEER}]});
        let (id, written) = app.request_at("turn/steer", params).await?;
        // Polled on this thread (the runtime's workers serve the server and read the agent), sleeping between looks.
        let poll_deadline = Instant::now() + WAIT;
        let arrived = loop {
            if model_requests(&server) >= 2 {
                break Instant::now();
            }
            if Instant::now() > poll_deadline {
                server.release_all();
                return Err(format!("no model request within {} s of the steer", WAIT.as_secs()));
            }
            std::thread::sleep(POLL);
        };
        server.release_all();
        let mut sample = Sample { values: vec![ms_since(written, arrived)], ..Sample::default() };
        let (answered_at, answer) = app.wait_for(deadline, "the answer to turn/steer", |m| m["id"] == id).await?;
        sample.values.push(ms_since(written, answered_at));
        if let Some(error) = answer.get("error") {
            sample.problems.push(format!("turn/steer answered with an error: {error}"));
        }
        app.wait_for(deadline, "turn/completed", |m| m["method"] == "turn/completed").await?;
        let requests = server.model_requests().await;
        let carried = requests.get(1).is_some_and(|r| user_texts(&r.request.body).iter().any(|t| t == STEER));
        if !carried {
            sample.problems.push("the second model request does not carry the steer as a user message".into());
        }
        if requests.len() != 2 {
            sample.problems.push(format!("{} model requests, 2 expected", requests.len()));
        }
        Ok(sample)
    }
    .await;
    server.release_all();
    app.finish().await;
    result
}

/// Peak memory of the app server's process tree with 10 idle threads.
async fn memory(bin: &Path) -> Result<Sample, String> {
    let server = scripted(vec![]).await?;
    let mut app = AppServer::spawn(bin, &server.base_url())?;
    let deadline = Instant::now() + WAIT * (THREADS as u32 + 1);
    let result = async {
        let mut threads = vec![app.open(deadline).await?];
        while threads.len() < THREADS {
            let id = app.request("thread/start", app.thread_params()).await?;
            let answer = app.answer(id, deadline).await?;
            let thread = answer.pointer("/thread/id").and_then(Value::as_str);
            threads.push(thread.ok_or(format!("thread/start answered {answer}"))?.to_string());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let tree = process_tree(app.pid);
        let peaks: Vec<u64> = tree.iter().filter_map(|pid| proc_status_bytes(*pid, "VmHWM")).collect();
        let own = proc_status_bytes(app.pid, "VmHWM").ok_or("the app server is gone")?;
        let names: Vec<String> = tree.iter().map(|pid| proc_name(*pid)).collect();
        let mut sample = Sample {
            values: vec![peaks.iter().sum::<u64>() as f64, own as f64, tree.len() as f64],
            note: names.join(" "),
            ..Sample::default()
        };
        threads.sort();
        threads.dedup();
        if threads.len() != THREADS {
            sample.problems.push(format!("{} distinct threads, {THREADS} expected", threads.len()));
        }
        Ok(sample)
    }
    .await;
    app.finish().await;
    result
}

fn ms_since(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

/// A scripted server on loopback; `steps` empty means nothing to answer (one optional step).
async fn scripted(steps: Vec<Step>) -> Result<ParityServer, String> {
    let steps = if steps.is_empty() { vec![Step::message("unused").optional()] } else { steps };
    ParityServer::scripted(steps).start().await.map_err(|e| format!("the scripted server: {e}"))
}

/// Model requests the server has received whole so far (open exchanges included).
fn model_requests(server: &ParityServer) -> usize {
    server.summaries().iter().filter(|s| s.method == "POST" && s.path.ends_with("/responses")).count()
}

/// The texts of the user messages of a request's input.
fn user_texts(body: &Value) -> Vec<String> {
    let items = body["input"].as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .filter(|i| i["type"] == "message" && i["role"] == "user")
        .flat_map(|i| i["content"].as_array().into_iter().flatten())
        .filter_map(|c| c["text"].as_str().map(str::to_string))
        .collect()
}
