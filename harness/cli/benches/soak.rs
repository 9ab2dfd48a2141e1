//! Soak under faults: upstream Codex and rcodex, each as `BIN app-server` with one thread driven through
//! `PARITY_SOAK_TURNS` turns (500) against a scripted parity server in chaos mode (`PARITY_SOAK_CHAOS`, `SEED:RATE`,
//! default `17:0.15`): every model request may draw an HTTP 429/500/503, a `response.failed`, a cut, a stall longer
//! than the agent's idle timeout (set to 3 s in the run's config), a malformed event or a slow trickle, the same
//! faults for the same request numbers in both runs. `cargo bench -p parity-cli --bench soak` (minutes: upstream
//! waits out its backoff).
//!
//! Each turn asks for a real command (`sleep 0.1; echo soak-N-end`) and then a message; the script's steps are found
//! by content, so a turn that fails leaves the next turns their own steps. What is checked, per agent: every turn
//! ends (completed, or failed with a message) within [`TURN_WAIT`] (a turn past it is a hang); no process the agent
//! started is left once the turns are over; every line of every rollout file it wrote is JSON, and `thread/read`
//! gives back every turn. Reported beside each other: turns completed and failed, the failure messages, requests
//! (retries are the requests past two a turn), the faults injected by kind, and the wall time. This is a benchmark-
//! style run, never a timed test: it checks what it finds and says where the agents differ. `PARITY_SOAK_KEEP=1`
//! keeps each agent's home (its session files) and says where.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use parity_server::chaos::Chaos;
use parity_server::{Match, ParityServer, Step};
use serde_json::{Value, json};
use support::app_server::AppServer;
use support::*;

/// The longest one turn may take before it counts as hung: retries with backoff and stalls included.
const TURN_WAIT: Duration = Duration::from_secs(180);

/// What one agent's soak gave.
#[derive(Default)]
struct Outcome {
    completed: usize,
    failed: usize,
    hung: Option<usize>,
    /// Failure messages, with how many turns ended with each.
    messages: BTreeMap<String, usize>,
    requests: usize,
    faults: BTreeMap<String, usize>,
    leftover: Vec<String>,
    rollout_lines: usize,
    bad_rollout_lines: usize,
    turns_read_back: Option<usize>,
    wall: f64,
    problem: Option<String>,
}

fn main() {
    print_load();
    let turns: usize = std::env::var("PARITY_SOAK_TURNS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let chaos = std::env::var("PARITY_SOAK_CHAOS").unwrap_or_else(|_| "17:0.15".into());
    let chaos = Chaos::parse(&chaos).unwrap_or_else(|e| panic!("PARITY_SOAK_CHAOS: {e}"));
    let agents = compared_agents(|_| Ok(()));
    if agents.is_empty() {
        println!("nothing to soak");
        return;
    }
    println!("{turns} turns each, chaos seed {} at rate {}", chaos.seed, chaos.rate);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut outcomes = Vec::new();
    for (label, bin) in &agents {
        println!("{label}: {} app-server ...", bin.display());
        let outcome = runtime.block_on(soak(bin, turns, chaos));
        println!(
            "{label}: {} completed, {} failed{} in {}",
            outcome.completed,
            outcome.failed,
            outcome.hung.map_or(String::new(), |t| format!(", turn {t} hung")),
            secs(outcome.wall)
        );
        outcomes.push((*label, outcome));
    }
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|(label, o)| {
            let faults: usize = o.faults.values().sum();
            vec![
                label.to_string(),
                o.completed.to_string(),
                o.failed.to_string(),
                o.hung.map_or("none".into(), |t| format!("turn {t}")),
                format!("{} ({} retries)", o.requests, o.requests.saturating_sub(2 * turns)),
                faults.to_string(),
                if o.leftover.is_empty() { "none".into() } else { o.leftover.join(" ") },
                format!("{} ({} not JSON)", o.rollout_lines, o.bad_rollout_lines),
                o.turns_read_back.map_or("-".into(), |n| n.to_string()),
                secs(o.wall),
            ]
        })
        .collect();
    print_table(
        &[
            "agent",
            "completed",
            "failed",
            "hung",
            "requests",
            "faults",
            "processes left",
            "rollout lines",
            "turns read back",
            "wall",
        ],
        &rows,
    );
    for (label, o) in &outcomes {
        let kinds: Vec<String> = o.faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("{label}: faults injected: {}", kinds.join(", "));
        for (message, n) in &o.messages {
            println!("{label}: {n} turn(s) failed with: {message:.300}");
        }
        if let Some(problem) = &o.problem {
            println!("{label}: could not finish: {problem}");
        }
    }
    for (label, o) in &outcomes {
        let sound = o.hung.is_none()
            && o.problem.is_none()
            && o.completed + o.failed == turns
            && o.leftover.is_empty()
            && o.bad_rollout_lines == 0
            && o.turns_read_back == Some(turns);
        println!(
            "{label}: every turn ended, no process left, every rollout line readable, every turn read back: {}",
            verdict(Some(sound))
        );
    }
    if let [(_, upstream), (_, rcodex)] = &outcomes[..] {
        let same = |a: &BTreeMap<String, usize>, b: &BTreeMap<String, usize>| a.keys().eq(b.keys());
        println!(
            "failure messages the same set for both: {}",
            verdict(Some(same(&upstream.messages, &rcodex.messages)))
        );
    }
}

/// Per turn a command then a message, each found by what the request's last input holds.
fn script(turns: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    for turn in 1..=turns {
        let asks = Match { last_input_contains: Some(format!("Run turn {turn}.")), ..Match::default() };
        let command = json!({"cmd": format!("sleep 0.1; echo soak-{turn}-end")});
        steps.push(Step::function_call("exec_command", command).call_id(format!("call_{turn}")).matching(asks));
        let ran = Match { last_input_contains: Some(format!("soak-{turn}-end")), ..Match::default() };
        steps.push(Step::message(format!("Turn {turn} ran its command.")).matching(ran));
    }
    steps
}

async fn soak(bin: &Path, turns: usize, chaos: Chaos) -> Outcome {
    let mut outcome = Outcome::default();
    let server = match ParityServer::scripted(script(turns)).chaos(chaos).start().await {
        Ok(server) => server,
        Err(e) => {
            outcome.problem = Some(format!("the scripted server: {e}"));
            return outcome;
        }
    };
    let config = "model_providers.parity.stream_idle_timeout_ms = 3000";
    let mut app = match AppServer::spawn_configured(bin, &server.base_url(), config) {
        Ok(app) => app,
        Err(why) => {
            outcome.problem = Some(why);
            return outcome;
        }
    };
    let started = Instant::now();
    if let Err(why) = drive(&mut app, turns, &mut outcome).await {
        outcome.problem = Some(why);
    }
    outcome.wall = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(300)).await;
    outcome.leftover = process_tree(app.pid).into_iter().skip(1).map(proc_name).collect();
    for file in walk_files(&app.codex_home().join("sessions")) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for line in text.lines() {
            outcome.rollout_lines += 1;
            if serde_json::from_str::<Value>(line).is_err() {
                outcome.bad_rollout_lines += 1;
            }
        }
    }
    let captures = server.captures().await;
    if std::env::var_os("PARITY_SOAK_KEEP").is_some() {
        println!("kept the agent's home and workspace in {}", app.keep_dirs().display());
        // Which request drew which fault, so that what differs in the kept session files can be traced to it.
        let faults: String =
            captures.iter().filter_map(|c| Some(format!("{} {}\n", c.arrival, c.chaos.as_ref()?["fault"]))).collect();
        let list = app.keep_dirs().join("faults.txt");
        match std::fs::write(&list, faults) {
            Ok(()) => println!("the faults by arrival number are in {}", list.display()),
            Err(e) => println!("could not write {}: {e}", list.display()),
        }
    }
    outcome.requests = captures.iter().filter(|c| c.request.path.ends_with("/responses")).count();
    for capture in &captures {
        if let Some(kind) = capture.chaos.as_ref().and_then(|c| c["fault"]["kind"].as_str()) {
            *outcome.faults.entry(kind.to_string()).or_default() += 1;
        }
    }
    app.finish().await;
    outcome
}

async fn drive(app: &mut AppServer, turns: usize, outcome: &mut Outcome) -> Result<(), String> {
    let thread = app.open(Instant::now() + Duration::from_secs(30)).await?;
    for turn in 1..=turns {
        let deadline = Instant::now() + TURN_WAIT;
        let params = json!({"threadId": thread, "input": [{"type": "text", "text": format!("Run turn {turn}.")}]});
        let id = app.request("turn/start", params).await?;
        let answer = app.answer(id, deadline).await?;
        let turn_id = answer.pointer("/turn/id").and_then(Value::as_str).ok_or(format!("turn/start: {answer}"))?;
        let completed =
            |m: &Value| m["method"] == "turn/completed" && m.pointer("/params/turn/id") == Some(&json!(turn_id));
        let done = match app.wait_for(deadline, &format!("turn {turn} completed"), completed).await {
            Ok((_, done)) => done,
            Err(why) => {
                outcome.hung = Some(turn);
                return Err(why);
            }
        };
        match done.pointer("/params/turn/status").and_then(Value::as_str) {
            Some("completed") => outcome.completed += 1,
            _ => {
                outcome.failed += 1;
                let message = done
                    .pointer("/params/turn/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)")
                    .to_string();
                *outcome.messages.entry(message).or_default() += 1;
            }
        }
        // Keep memory flat over hundreds of turns: the messages of finished turns are not needed again.
        app.seen.clear();
    }
    let id = app.request("thread/read", json!({"threadId": thread, "includeTurns": true})).await?;
    let read = app.answer(id, Instant::now() + Duration::from_secs(30)).await?;
    outcome.turns_read_back = read.pointer("/thread/turns").and_then(Value::as_array).map(Vec::len);
    Ok(())
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}
