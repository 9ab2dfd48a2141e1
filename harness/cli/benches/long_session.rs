//! Long-session benchmark: upstream Codex against rcodex, each as `BIN app-server` with one thread driven through
//! [`TURNS`] turns by this benchmark as its JSON-RPC client. `cargo bench -p parity-cli --bench long_session`.
//!
//! Each turn's model answer is a tool call (`exec_command`, a real command run by the agent), then, once its
//! output is sent back, a message. The script's usage makes every [`COMPACT_EVERY`]th turn's last response pass
//! `model_auto_compact_token_limit` (set to [`LIMIT`] in the run's config.toml), so that the next turn starts with an
//! automatic compaction: 4 compactions in 200 turns, and the history never holds more than 40 turns. Every run gets
//! a fresh isolated home and workspace, a scripted parity server of its own on loopback, and a process group of its
//! own, killed at the end whatever happened.
//!
//! Measured, per run: the wall time from the first `turn/start` written to the last `turn/completed` read; the peak
//! resident set (VmHWM) of the app server's process tree at the end; and the resident set now (VmRSS, summed over the
//! tree) right after each compaction's turn completed, from which the growth between the first and the last
//! compaction. A run counts only if every turn completed, the server saw every request the script has (two a turn
//! and one a compaction), and every compaction request came.
//!
//! Targets: rcodex's wall time at most 1/3 of upstream's, its peak memory at most 1/10, and its memory flat across
//! compactions (the resident set after the last compaction within 10% of that after the first). One warm-up round
//! is discarded, then `PARITY_BENCH_RUNS` rounds (1).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use parity_server::{Match, ParityServer, Step, Usage};
use serde_json::{Value, json};
use support::app_server::AppServer;
use support::*;

const TURNS: usize = 200;
const COMPACT_EVERY: usize = 40;
/// The auto-compaction limit of the run's config: a small usage stays under it, a large one passes it.
const LIMIT: u64 = 20_000;
const SMALL: u64 = 2_000;
const LARGE: u64 = 30_000;
/// The longest one turn may take.
const TURN_WAIT: Duration = Duration::from_secs(60);
/// How much the resident set may grow from the first compaction to the last and still count as flat.
const FLAT: f64 = 1.10;

#[derive(Clone, Copy, PartialEq)]
struct Session;

impl Measured for Session {
    fn name(self) -> &'static str {
        "session"
    }

    fn metrics(self) -> &'static [Metric] {
        &[
            ("wall time of 200 turns with a tool call each, 4 compactions", secs),
            ("peak RSS of the tree (VmHWM, summed) at the end", mib),
            ("RSS after the first compaction", mib),
            ("RSS after the last compaction", mib),
        ]
    }

    fn target(self) -> (f64, &'static str) {
        (1.0 / 3.0, "rcodex <= 1/3 of upstream")
    }
}

fn main() {
    print_load();
    let rounds = runs(1);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let agents = compared_agents(|_| Ok(()));
    if agents.is_empty() {
        println!("nothing to measure");
        return;
    }
    for (label, bin) in &agents {
        println!("{label}: {} app-server", bin.display());
    }
    println!("{rounds} measured round(s) after one warm-up: {TURNS} turns each, a compaction every {COMPACT_EVERY}");
    let samples = measure_rounds(&[Session], &agents, rounds, |_, bin| runtime.block_on(run_once(bin)));
    report(&[Session], &agents, &samples);

    // The memory targets, on the same runs.
    let median = |agent: &str, metric: usize| {
        let a = agents.iter().position(|(label, _)| *label == agent)?;
        let values: Vec<f64> = samples[0][a]
            .iter()
            .filter(|s| s.problems.is_empty())
            .filter_map(|s| s.values.get(metric).copied())
            .collect();
        Some(Stats::of(&values)?.median)
    };
    let peak = median("upstream", 1).zip(median("rcodex", 1)).map(|(u, r)| r / u);
    println!(
        "peak memory: rcodex <= 1/10 of upstream: ratio {}: {}",
        peak.map_or("-".into(), |x| format!("{x:.3}")),
        verdict(peak.map(|x| x <= 0.1))
    );
    let growth = median("rcodex", 3).zip(median("rcodex", 2)).map(|(last, first)| last / first);
    println!(
        "rcodex's memory across compactions: the last compaction's RSS within 10% of the first's: ratio {}: {}",
        growth.map_or("-".into(), |x| format!("{x:.3}")),
        verdict(growth.map(|x| x <= FLAT))
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at the end: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
}

/// The script: per turn a tool call then a message, the message of every [`COMPACT_EVERY`]th turn past the limit;
/// every compaction request answered by a summary.
fn script() -> Vec<Step> {
    let usage = |input: u64| Usage { input_tokens: input, ..Usage::default() };
    let compaction = Match { last_input_contains: Some("CONTEXT CHECKPOINT COMPACTION".into()), ..Match::default() };
    let mut steps =
        vec![Step::message("The user ran numbered turns, each running one command.").matching(compaction).repeat()];
    for turn in 1..=TURNS {
        let command = json!({"cmd": format!("echo turn {turn}")});
        steps.push(Step::function_call("exec_command", command).call_id(format!("call_{turn}")).usage(usage(SMALL)));
        let input = if turn % COMPACT_EVERY == 0 { LARGE } else { SMALL };
        steps.push(Step::message(format!("Turn {turn} ran its command.")).usage(usage(input)));
    }
    steps
}

async fn run_once(bin: &Path) -> Sample {
    let server = match ParityServer::scripted(script()).start().await {
        Ok(server) => server,
        Err(e) => return Sample::failed(format!("the scripted server: {e}")),
    };
    let config = format!("model_auto_compact_token_limit = {LIMIT}");
    let mut app = match AppServer::spawn_configured(bin, &server.base_url(), &config) {
        Ok(app) => app,
        Err(why) => return Sample::failed(why),
    };
    let result = drive(&mut app, &server).await;
    app.finish().await;
    result.unwrap_or_else(Sample::failed)
}

async fn drive(app: &mut AppServer, server: &ParityServer) -> Result<Sample, String> {
    let thread = app.open(Instant::now() + TURN_WAIT).await?;
    let started = Instant::now();
    let mut after_compactions = Vec::new();
    for turn in 1..=TURNS {
        let deadline = Instant::now() + TURN_WAIT;
        let params = json!({"threadId": thread, "input": [{"type": "text", "text": format!("Run turn {turn}.")}]});
        let id = app.request("turn/start", params).await?;
        let answer = app.answer(id, deadline).await?;
        let turn_id = answer.pointer("/turn/id").and_then(Value::as_str).ok_or(format!("turn/start: {answer}"))?;
        let completed =
            |m: &Value| m["method"] == "turn/completed" && m.pointer("/params/turn/id") == Some(&json!(turn_id));
        let (_, done) = app.wait_for(deadline, &format!("turn {turn} completed"), completed).await?;
        if done.pointer("/params/turn/status") != Some(&json!("completed")) {
            return Err(format!("turn {turn} ended {}", done.pointer("/params/turn/status").unwrap_or(&Value::Null)));
        }
        // The turn after a large usage begins with a compaction.
        if turn > 1 && (turn - 1) % COMPACT_EVERY == 0 {
            let rss: u64 = process_tree(app.pid).iter().filter_map(|pid| proc_status_bytes(*pid, "VmRSS")).sum();
            after_compactions.push(rss as f64);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let peak: u64 = process_tree(app.pid).iter().filter_map(|pid| proc_status_bytes(*pid, "VmHWM")).sum();
    let mut sample = Sample {
        values: vec![
            wall,
            peak as f64,
            after_compactions.first().copied().unwrap_or(f64::NAN),
            after_compactions.last().copied().unwrap_or(f64::NAN),
        ],
        ..Sample::default()
    };
    let requests = server.model_requests().await;
    let compactions =
        requests.iter().filter(|r| r.request.body.to_string().contains("CONTEXT CHECKPOINT COMPACTION")).count();
    let expected = (TURNS - 1) / COMPACT_EVERY;
    if compactions != expected {
        sample.problems.push(format!("{compactions} compaction requests, {expected} expected"));
    }
    if requests.len() != 2 * TURNS + expected {
        sample.problems.push(format!("{} model requests, {} expected", requests.len(), 2 * TURNS + expected));
    }
    Ok(sample)
}
