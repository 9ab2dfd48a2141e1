//! Agents benchmark: upstream Codex against rcodex on the same scripted scenarios. `cargo bench -p parity-cli
//! --bench agents`.
//!
//! Each run is a `parity record` of one scenario through the recorder library, so both agents get identical
//! conditions: the in-process scripted server writing captures, a fresh isolated HOME, CODEX_HOME and workspace, a
//! cleared environment, `exec --skip-git-repo-check --json PROMPT` with stdin closed. The agent is started through a
//! small wrapper (this very binary, re-executed with `--rusage-wrap`) that times it from spawn to exit and reads its
//! resource usage with wait4(2): `ru_maxrss` is the peak resident set of the largest process of the agent's tree
//! (the agent and every descendant it waited for; the wrapper is a child subreaper, so orphans count too).
//!
//! Runs alternate between the agents (the order flips every round), one warm-up round is discarded, and
//! `PARITY_BENCH_RUNS` rounds (10) are measured. Scenarios:
//! - `fixtures/scenarios/plain-reply.toml`: one request, no tools. Targets: rcodex's wall time at most 1/5 of
//!   upstream's, its peak memory at most 1/10;
//! - `fixtures/scenarios/openai-ws-plain-reply.toml`: the same reply from the built-in provider over the Responses
//!   WebSocket (a warm-up, then the turn, on one connection). Target: rcodex's wall time at most 1/5 of upstream's;
//! - `fixtures/bench/three-execs.toml`: three `exec_command` round trips, each `echo bench-N` (a shell builtin).
//!   Targets: rcodex's wall time at most 1/2 of upstream's, and its tool overhead under 5 ms at the median. The
//!   round trip is the time from the server sending the function call (its `response.output_item.done`, `t_ms`
//!   after the request's `received_at`) to the next request arriving (its `received_at`), taken from the captures;
//!   `received_at` has millisecond resolution, so each gap is within +-1 ms. The overhead is the round trip less
//!   the command's own run time: the command alone, run the way rcodex runs it (`/bin/bash -lc 'echo bench-N'`, a
//!   login shell, through rcodex's sandbox launcher in the scenario's mode, read-only) in the same isolated
//!   environment, timed apart. Upstream's round trip is shown beside it (upstream runs `bash -c` sourcing a snapshot
//!   of the login shell's environment, inside bubblewrap: its command's share is not measured here).
//!
//! - `fixtures/bench/code-mode.toml`: one code-mode `exec` cell (gpt-5.6-sol) whose script runs `echo bench-code`
//!   through the nested `exec_command`. Target: rcodex's wall time at most 1/2 of upstream's (rcodex starts a Node.js
//!   process per cell in its sandbox; upstream runs the script in its own V8).
//!
//! A run whose requests are not what the scenario expects (a command not run: its output lacks `bench-N`; a
//! request missing; a turn that failed) is reported, and the targets it touches are not judged. Upstream comes from
//! `$PARITY_UPSTREAM_BIN` or `.upstream/` (installed by `scripts/install-upstream.sh` when missing), rcodex from
//! `$PARITY_RCODEX_BIN` (an absolute path: cargo runs benchmarks in the crate's directory) or
//! `target/release/rcodex`; a missing one is skipped with a message and the other measured alone.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use parity_capture::{Capture, Recording};
use parity_recorder::agent::shell_quote;
use parity_recorder::isolate::RunDirs;
use parity_recorder::suite::default_work_root;
use parity_recorder::{Agent, RecordOptions, Scenario};
use serde_json::{Value, json};
use support::*;

const WRAP_FLAG: &str = "--rusage-wrap";
const PLAIN: &str = "plain-reply";
const PLAIN_WS: &str = "openai-ws-plain-reply";
const EXECS: &str = "three-execs";
const CODE: &str = "code-mode";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(WRAP_FLAG) {
        rusage_wrap(&args[2..]);
    }
    print_load();
    let rounds = runs(10);
    let root = repo_root();
    let scenarios: Vec<Scenario> = [
        "fixtures/scenarios/plain-reply.toml",
        "fixtures/scenarios/openai-ws-plain-reply.toml",
        "fixtures/bench/three-execs.toml",
        "fixtures/bench/code-mode.toml",
    ]
    .iter()
    .map(|p| Scenario::load(&root.join(p)).expect("the scenario loads"))
    .collect();

    let mut agents: Vec<(&str, PathBuf)> = Vec::new();
    match upstream_bin() {
        Ok(bin) => agents.push(("upstream", bin)),
        Err(why) => println!("upstream is not measured: {why}"),
    }
    match rcodex_bin() {
        Ok(bin) => agents.push(("rcodex", bin)),
        Err(why) => println!("rcodex is not measured: {why}"),
    }
    if agents.is_empty() {
        println!("nothing to measure");
        return;
    }
    for (label, bin) in &agents {
        println!("{label}: {}", bin.display());
    }
    println!("{rounds} measured round(s) after one warm-up; each round runs every scenario with every agent");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // samples[scenario][agent]
    let mut samples: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); agents.len()]; scenarios.len()];
    for round in 0..=rounds {
        for (s, scenario) in scenarios.iter().enumerate() {
            let mut order: Vec<usize> = (0..agents.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for a in order {
                let (label, bin) = &agents[a];
                let sample = runtime.block_on(run_once(scenario, bin, tmp.path(), &format!("{label}-{round}")));
                let tag = if round == 0 { "warm-up".to_string() } else { format!("{round}/{rounds}") };
                println!("{tag:>7} {:<12} {label:<8} {}", scenario.name, sample.line());
                if round > 0 {
                    samples[s][a].push(sample);
                }
            }
        }
    }
    let rcodex = agents.iter().find(|(label, _)| *label == "rcodex").map(|(_, bin)| bin.as_path());
    let command = command_alone(&scenarios[2], rcodex, rounds * 3);
    report(&scenarios, &agents, &samples, command);
}

/// The command of a tool call alone, as rcodex runs it: `/bin/bash -lc 'echo bench-N'` (a login shell), in the
/// scenario's sandbox (read-only: rcodex's own launcher, `rcodex sandbox-launcher`, as each command of the run goes
/// through it), in a run's isolated environment and workspace. This is the command's own run time, the part of a tool
/// round trip that is not the agent's plumbing. Without rcodex, the bare shell. Median, in ms.
fn command_alone(scenario: &Scenario, rcodex: Option<&Path>, n: usize) -> Option<(f64, &'static str)> {
    let dirs = RunDirs::create(&default_work_root(), scenario, "http://127.0.0.1:9/v1").ok()?;
    let mode = scenario.agent.sandbox.clone().unwrap_or_else(|| "read-only".into());
    let times: Vec<f64> = (0..n)
        .filter_map(|i| {
            let shell = ["/bin/bash".to_string(), "-lc".into(), format!("echo bench-{}", i % 3 + 1)];
            let mut command = match rcodex.filter(|_| mode != "danger-full-access") {
                Some(rcodex) => {
                    let mut command = Command::new(rcodex);
                    let cwd = dirs.workspace.display().to_string();
                    command.args(["sandbox-launcher", "--cwd", &cwd, "--mode", &mode, "--"]).args(&shell);
                    command
                }
                None => {
                    let mut command = Command::new(&shell[0]);
                    command.args(&shell[1..]);
                    command
                }
            };
            command
                .current_dir(&dirs.workspace)
                .env_clear()
                .envs(dirs.env("http://127.0.0.1:9/v1", 1))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let finished = run_timed(&mut command, Duration::from_secs(10)).ok()?;
            Some(finished.wall.as_secs_f64() * 1000.0)
        })
        .collect();
    let how = if rcodex.is_some() && mode != "danger-full-access" { "in rcodex's sandbox" } else { "bare" };
    Some((Stats::of(&times)?.median, how))
}

/// One run of one agent on one scenario.
#[derive(Debug, Clone, Default)]
struct Sample {
    /// The agent process's wall time, spawn to exit, summed over turns (ms).
    wall: f64,
    /// Peak RSS of the agent's process tree (bytes).
    max_rss: f64,
    /// CPU time of the tree (ms).
    cpu: f64,
    /// Per tool call: function call sent to next request received (ms).
    gaps: Vec<f64>,
    /// Per tool call: the command's run time as the agent reported it (ms).
    reported: Vec<f64>,
    /// How the run differed from what the scenario expects.
    problems: Vec<String>,
}

impl Sample {
    fn line(&self) -> String {
        let mut line = format!("wall {:>8}  peak {:>8}  cpu {:>8}", ms(self.wall), mib(self.max_rss), ms(self.cpu));
        if !self.gaps.is_empty() {
            let gaps: Vec<String> = self.gaps.iter().map(|g| format!("{g:.0}")).collect();
            line += &format!("  tool gaps {} ms", gaps.join("/"));
        }
        if !self.problems.is_empty() {
            line += &format!("  DIVERGED: {}", self.problems.join("; "));
        }
        line
    }
}

async fn run_once(scenario: &Scenario, bin: &Path, tmp: &Path, tag: &str) -> Sample {
    let out = tmp.join(format!("{tag}-{}", scenario.name));
    let usage = tmp.join(format!("{tag}-{}.usage", scenario.name));
    let exe = std::env::current_exe().expect("this benchmark's path");
    let extra: String = scenario.agent.args.iter().map(|a| shell_quote(a) + " ").collect();
    // Exactly the command `parity record --agent codex|rcodex` runs, behind the wrapper.
    let template = format!(
        "{} {WRAP_FLAG} {} {} exec {{resume_args}} --skip-git-repo-check --json {extra}{{prompt}}",
        shell_quote(&exe.display().to_string()),
        shell_quote(&usage.display().to_string()),
        shell_quote(&bin.display().to_string()),
    );
    let agent = Agent::Template { template };
    let options = RecordOptions { out: out.clone(), work_root: default_work_root(), keep_work: false, clean: true };
    let mut sample = Sample::default();
    match parity_recorder::record(scenario, &agent, &options).await {
        Ok(run) => {
            if let Some(why) = run.failure() {
                sample.problems.push(why);
            }
        }
        Err(e) => sample.problems.push(format!("the recorder failed: {e}")),
    }
    for line in std::fs::read_to_string(&usage).unwrap_or_default().lines() {
        let turn: Value = serde_json::from_str(line).unwrap_or_default();
        sample.wall += turn["wall_ms"].as_f64().unwrap_or(f64::NAN);
        sample.cpu += turn["cpu_ms"].as_f64().unwrap_or(f64::NAN);
        sample.max_rss = sample.max_rss.max(turn["tree_max_rss_kb"].as_f64().unwrap_or(f64::NAN) * 1024.0);
    }
    if sample.wall == 0.0 {
        sample.problems.push("the wrapper reported nothing".into());
        (sample.wall, sample.cpu, sample.max_rss) = (f64::NAN, f64::NAN, f64::NAN);
    }
    match Recording::load(&out.join(parity_recorder::run::CAPTURES_DIR)) {
        Ok(recording) => inspect(scenario, &recording, &mut sample),
        Err(e) => sample.problems.push(format!("no captures: {e}")),
    }
    let _ = std::fs::remove_dir_all(&out);
    sample
}

/// Checks the run's model requests against the script, and measures each tool round trip.
fn inspect(scenario: &Scenario, recording: &Recording, sample: &mut Sample) {
    let mut requests: Vec<&Capture> = recording
        .exchanges()
        .map(|e| &e.capture)
        .filter(|c| c.request.method == "POST" && c.request.path.ends_with("/responses"))
        // A WebSocket's warm-up takes no step of the script.
        .filter(|c| !c.script.as_ref().is_some_and(|s| s.warmup))
        .collect();
    requests.sort_by_key(|c| c.arrival);
    let expected = scenario.script.steps.len();
    if requests.len() != expected {
        sample.problems.push(format!("{} model requests, the script expects {expected}", requests.len()));
    }
    for (i, request) in requests.iter().enumerate() {
        let Some(next) = requests.get(i + 1) else { break };
        for event in &request.response.events {
            let item = &event.data["item"];
            if event.event_type() != Some("response.output_item.done") {
                continue;
            }
            if item["type"] == "custom_tool_call" && item["name"] == "exec" {
                let call_id = item["call_id"].as_str().unwrap_or_default();
                let output = tool_output(&next.request.body, "custom_tool_call_output", call_id).unwrap_or_default();
                if !(output.contains("Script completed") && output.contains("bench-code")) {
                    sample
                        .problems
                        .push(format!("{call_id}: the cell did not complete with its marker: {output:.200}"));
                }
                continue;
            }
            if item["type"] != "function_call" {
                continue;
            }
            let call_id = item["call_id"].as_str().unwrap_or_default();
            let (Some(sent), Some(arrived)) = (millis(&request.received_at), millis(&next.received_at)) else {
                sample.problems.push("unreadable received_at".into());
                continue;
            };
            sample.gaps.push(arrived - (sent + event.t_ms));
            let arguments: Value =
                item["arguments"].as_str().and_then(|a| serde_json::from_str(a).ok()).unwrap_or_default();
            let marker = arguments["cmd"].as_str().and_then(|c| c.strip_prefix("echo ")).unwrap_or_default();
            match tool_output(&next.request.body, "function_call_output", call_id) {
                None => sample.problems.push(format!("{call_id}: no function_call_output in the next request")),
                Some(output) => {
                    if let Some(seconds) = output
                        .lines()
                        .find_map(|l| l.strip_prefix("Wall time: ")?.strip_suffix(" seconds")?.parse::<f64>().ok())
                    {
                        sample.reported.push(seconds * 1000.0);
                    }
                    if !output.lines().any(|l| l.trim() == marker) {
                        let first = output.lines().next().unwrap_or_default();
                        sample.problems.push(format!("{call_id}: the command did not run (output: {first:?})"));
                    }
                }
            }
        }
    }
}

/// The output of the call `call_id` in a request body, as text (content items as their JSON).
fn tool_output(body: &Value, output_type: &str, call_id: &str) -> Option<String> {
    let item = body["input"].as_array()?.iter().find(|i| i["type"] == output_type && i["call_id"] == call_id)?;
    Some(match &item["output"] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    })
}

/// RFC 3339 to milliseconds since the epoch.
fn millis(timestamp: &str) -> Option<f64> {
    timestamp.parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond() as f64)
}

fn report(
    scenarios: &[Scenario],
    agents: &[(&str, PathBuf)],
    samples: &[Vec<Vec<Sample>>],
    command: Option<(f64, &str)>,
) {
    let stat = |s: usize, a: usize, pick: &dyn Fn(&Sample) -> Vec<f64>| {
        Stats::of(&samples[s][a].iter().flat_map(pick).filter(|v| v.is_finite()).collect::<Vec<_>>())
    };
    println!("\nmedian (p10 to p90); runs: how many ran as the scenario expects");
    let mut rows = Vec::new();
    for (s, scenario) in scenarios.iter().enumerate() {
        for (a, (label, _)) in agents.iter().enumerate() {
            let show = |st: Option<Stats>, unit: fn(f64) -> String| st.map_or("-".into(), |st| st.show(unit));
            let clean = samples[s][a].iter().filter(|x| x.problems.is_empty()).count();
            rows.push(vec![
                scenario.name.clone(),
                label.to_string(),
                show(stat(s, a, &|x| vec![x.wall]), ms),
                show(stat(s, a, &|x| vec![x.max_rss]), mib),
                show(stat(s, a, &|x| vec![x.cpu]), ms),
                show(stat(s, a, &|x| x.gaps.clone()), ms),
                show(stat(s, a, &|x| x.reported.clone()), ms),
                format!("{clean}/{}", samples[s][a].len()),
            ]);
        }
    }
    print_table(
        &["scenario", "agent", "wall", "peak RSS", "CPU", "tool gap", "command time (reported)", "runs"],
        &rows,
    );

    let find = |name: &str| scenarios.iter().position(|s| s.name == name);
    let agent = |label: &str| agents.iter().position(|(l, _)| *l == label);
    let (up, rc) = (agent("upstream"), agent("rcodex"));
    let median =
        |s: Option<usize>, a: Option<usize>, pick: &dyn Fn(&Sample) -> Vec<f64>| Some(stat(s?, a?, pick)?.median);
    // The verdict, unless some rcodex runs did not go as the scenario expects.
    let judged = |met: Option<bool>, s: Option<usize>| -> String {
        let (Some(s), Some(rc)) = (s, rc) else { return verdict(met) };
        let bad: Vec<&Sample> = samples[s][rc].iter().filter(|x| !x.problems.is_empty()).collect();
        match bad.first() {
            None => verdict(met),
            Some(first) => format!(
                "not judged: {} of {} rcodex runs diverged ({}); as measured: {}",
                bad.len(),
                samples[s][rc].len(),
                first.problems[0],
                verdict(met)
            ),
        }
    };
    let ratio_row =
        |what: &str, target: f64, s: Option<usize>, pick: &dyn Fn(&Sample) -> Vec<f64>, unit: fn(f64) -> String| {
            let (u, r) = (median(s, up, pick), median(s, rc, pick));
            let ratio = u.zip(r).map(|(u, r)| r / u);
            vec![
                what.to_string(),
                format!("rcodex <= {target} x upstream"),
                u.map_or("-".into(), unit),
                r.map_or("-".into(), unit),
                ratio.map_or("-".into(), |x| format!("{x:.3}")),
                judged(ratio.map(|x| x <= target), s),
            ]
        };
    let (plain, plain_ws, execs, code) = (find(PLAIN), find(PLAIN_WS), find(EXECS), find(CODE));
    let gap = |a: Option<usize>| median(execs, a, &|x| x.gaps.clone());
    let overhead = gap(rc).zip(command).map(|(gap, (time, _))| gap - time);
    println!();
    print_table(
        &["what", "target", "upstream", "rcodex", "ratio", "verdict"],
        &[
            ratio_row("plain reply: wall time of exec", 0.2, plain, &|x| vec![x.wall], ms),
            ratio_row("plain reply: peak RSS", 0.1, plain, &|x| vec![x.max_rss], mib),
            ratio_row("plain reply over the WebSocket: wall time of exec", 0.2, plain_ws, &|x| vec![x.wall], ms),
            ratio_row("three exec_command round trips: wall time", 0.5, execs, &|x| vec![x.wall], ms),
            ratio_row("a code-mode exec cell running one command: wall time", 0.5, code, &|x| vec![x.wall], ms),
            vec![
                "tool round trip: function call sent to next request, median".into(),
                "-".into(),
                gap(up).map_or("-".into(), ms),
                gap(rc).map_or("-".into(), ms),
                "-".into(),
                "-".into(),
            ],
            vec![
                "tool overhead: the round trip less the command's own run time".into(),
                "rcodex < 5 ms".into(),
                "-".into(),
                overhead.map_or("-".into(), ms),
                "-".into(),
                judged(overhead.map(|g| g < 5.0), execs),
            ],
        ],
    );
    if let Some((time, how)) = command {
        println!(
            "the command alone (/bin/bash -lc 'echo bench-N', {how}, in the run's environment) takes {} at the median",
            ms(time)
        );
    }
}

/// The wrapper: `--rusage-wrap USAGE_FILE PROGRAM ARGS...` runs the program (same environment, directory and
/// standard streams), appends one JSON line of its wall time and resource usage to USAGE_FILE, and exits as it did.
fn rusage_wrap(args: &[String]) -> ! {
    let [usage_file, program, rest @ ..] = args else {
        eprintln!("usage: {WRAP_FLAG} USAGE_FILE PROGRAM [ARGS...]");
        std::process::exit(2);
    };
    // SAFETY: prctl with integer arguments; makes orphaned descendants ours to reap, so their usage is counted.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let started = Instant::now();
    let child = match Command::new(program).args(rest).spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("{WRAP_FLAG}: {program}: {e}");
            std::process::exit(127);
        }
    };
    let (status, own) = wait4(child.id() as i32).expect("wait4 on the agent");
    let wall = started.elapsed();
    // Reap descendants that were orphaned and have already exited.
    // SAFETY: waitpid with a null status pointer and WNOHANG.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut tree: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut tree) };
    let cpu = timeval(tree.ru_utime) + timeval(tree.ru_stime);
    let line = json!({
        "wall_ms": wall.as_secs_f64() * 1000.0,
        "cpu_ms": cpu.as_secs_f64() * 1000.0,
        "agent_max_rss_kb": own.ru_maxrss,
        "tree_max_rss_kb": tree.ru_maxrss,
        "exit": exit_code(status),
    });
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(usage_file) {
        let _ = writeln!(file, "{line}");
    }
    std::process::exit(exit_code(status).unwrap_or(1));
}
