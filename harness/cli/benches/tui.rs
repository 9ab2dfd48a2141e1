//! Interface benchmark: upstream Codex against rcodex, each as `BIN --no-daemon` (its interactive interface) in a
//! 120x40 pseudo-terminal whose screen a vt100 emulator reads ([`parity_recorder::terminal`], what the recorder's
//! tui frontend drives). `cargo bench -p parity-cli --bench tui`.
//!
//! Every run gets a fresh isolated home and workspace set up as the recorder sets up a tui scenario's
//! ([`IsolatedAgent`] with `interactive`: the workspace trusted, first-run screens seen, the provider `parity`
//! pointing at a scripted parity server of the run's own, on loopback), `TERM=xterm-256color`, and a process group of
//! its own, killed at the end of the run whatever happened. Parts:
//!
//! - `start`: from just before the spawn to the first screen that shows the composer's placeholder (`Ask Codex to
//!   do anything`), read as the terminal's output arrives. Target: rcodex at most 1/3 of upstream's time.
//! - `keystroke`: a prompt whose answer streams slowly (64 deltas, 40 ms apart, about 2.6 s); once the answer's
//!   first word is on screen, [`KEYS`] letters are typed one at a time into the composer, each timed from its write
//!   to the first screen whose composer line holds everything typed so far. The run's value is the median of its
//!   keystrokes (also shown: the slowest). The run must have typed every letter while the answer was still
//!   streaming. Target: rcodex at most 1/3 of upstream's latency.
//! - `memory`: the same streamed turn, left to finish (its last word on screen), then 1 s idle; the peak resident
//!   set (VmHWM) of the interface's process and every live descendant, summed. Target: rcodex at most 1/5.
//!
//! Runs alternate between the agents (the order flips every round), one warm-up round is discarded, and
//! `PARITY_BENCH_RUNS` rounds (5) are measured; statistics and verdicts as the app-server benchmark's. Upstream
//! comes from `$PARITY_UPSTREAM_BIN` or `.upstream/`, rcodex from `$PARITY_RCODEX_BIN` or `target/release/rcodex`;
//! an agent whose interface does not show its composer within 30 s is skipped with the reason.

mod support;

use std::path::Path;
use std::time::Duration;

use parity_recorder::isolate::IsolatedAgent;
use parity_recorder::terminal::Terminal;
use parity_server::script::Message;
use parity_server::{Match, OutputItem, ParityServer, Step};

use support::*;
use tokio::time::Instant;

const COLS: u16 = 120;
const ROWS: u16 = 40;
/// What an empty composer shows, upstream's and rcodex's alike.
const PLACEHOLDER: &str = "Ask Codex to do anything";
const PROMPT: &str = "Write a long poem about the sea.";
/// The streamed answer's first and last words, to see it begin and end on screen.
const FIRST_WORD: &str = "Tidewater";
const LAST_WORD: &str = "harbourlight.";
/// How far apart the answer's deltas are.
const DELTA_MS: u64 = 40;
/// The letters typed while the answer streams.
const KEYS: &str = "zqxjvkwp";
/// The longest any one wait of a run may take.
const WAIT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Start,
    Keystroke,
    Memory,
}

const PARTS: [Part; 3] = [Part::Start, Part::Keystroke, Part::Memory];

impl Measured for Part {
    fn name(self) -> &'static str {
        match self {
            Part::Start => "start",
            Part::Keystroke => "keystroke",
            Part::Memory => "memory",
        }
    }

    fn metrics(self) -> &'static [Metric] {
        match self {
            Part::Start => &[("spawn to the composer on screen", ms)],
            Part::Keystroke => &[
                ("keystroke to screen while an answer streams (median of the run)", ms),
                ("the run's slowest keystroke", ms),
            ],
            Part::Memory => &[
                ("peak RSS of the tree (VmHWM, summed) after a streamed answer", mib),
                ("processes in the tree", count),
            ],
        }
    }

    fn target(self) -> (f64, &'static str) {
        match self {
            Part::Start => (1.0 / 3.0, "rcodex <= 1/3 of upstream"),
            Part::Keystroke => (1.0 / 3.0, "rcodex <= 1/3 of upstream"),
            Part::Memory => (0.2, "rcodex <= 1/5 of upstream"),
        }
    }
}

fn main() {
    print_load();
    let rounds = runs(5);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let agents = compared_agents(|bin| runtime.block_on(probe(bin)));
    if agents.is_empty() {
        println!("nothing to measure");
        return;
    }
    for (label, bin) in &agents {
        println!("{label}: {} --no-daemon, in a {COLS}x{ROWS} terminal", bin.display());
    }
    println!("{rounds} measured round(s) after one warm-up; each round runs every part with every agent");
    let samples = measure_rounds(&PARTS, &agents, rounds, |part, bin| runtime.block_on(run_once(part, bin)));
    report(&PARTS, &agents, &samples);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at the end: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
}

/// Whether the interface shows its composer: the reason when it does not.
async fn probe(bin: &Path) -> Result<(), String> {
    start(bin).await.map(|_| ())
}

async fn run_once(part: Part, bin: &Path) -> Sample {
    let run = async {
        match part {
            Part::Start => start(bin).await,
            Part::Keystroke => keystrokes(bin).await,
            Part::Memory => memory(bin).await,
        }
    };
    match tokio::time::timeout(WAIT * 3, run).await {
        Ok(Ok(sample)) => sample,
        Ok(Err(why)) => Sample::failed(why),
        Err(_) => Sample::failed(format!("the run did not end within {} s", (WAIT * 3).as_secs())),
    }
}

/// Spawn to the composer on screen.
async fn start(bin: &Path) -> Result<Sample, String> {
    let server = scripted(Vec::new()).await?;
    let mut ui = Interface::spawn(bin, &server)?;
    let shown = ui.wait_for(|screen| screen.contains(PLACEHOLDER), "the composer").await?;
    Ok(Sample { values: vec![ms_between(ui.spawned, shown)], ..Sample::default() })
}

/// Each keystroke's write to the screen showing it, while an answer streams.
async fn keystrokes(bin: &Path) -> Result<Sample, String> {
    let server = scripted(vec![streamed_answer()]).await?;
    let mut ui = Interface::spawn(bin, &server)?;
    ui.wait_for(|screen| screen.contains(PLACEHOLDER), "the composer").await?;
    ui.type_line(PROMPT).await?;
    ui.wait_for(|screen| screen.contains(FIRST_WORD), "the answer's first word").await?;
    let mut latencies = Vec::new();
    for (i, _) in KEYS.char_indices() {
        let typed = &KEYS[..=i];
        let written = Instant::now();
        ui.write(&typed.as_bytes()[i..])?;
        let shown = ui.wait_for(|screen| composer_holds(screen, typed), "the keystroke on screen").await?;
        latencies.push(ms_between(written, shown));
    }
    let mut sample = Sample::default();
    if ui.terminal.screen_text().contains(LAST_WORD) {
        sample.problems.push("the answer had finished streaming before the last keystroke".into());
    }
    let slowest = latencies.iter().copied().fold(0.0, f64::max);
    sample.values = vec![Stats::of(&latencies).map_or(f64::NAN, |s| s.median), slowest];
    Ok(sample)
}

/// Peak memory of the interface's process tree once a streamed answer has ended.
async fn memory(bin: &Path) -> Result<Sample, String> {
    let server = scripted(vec![streamed_answer()]).await?;
    let mut ui = Interface::spawn(bin, &server)?;
    ui.wait_for(|screen| screen.contains(PLACEHOLDER), "the composer").await?;
    ui.type_line(PROMPT).await?;
    ui.wait_for(|screen| screen.contains(LAST_WORD), "the answer's last word").await?;
    let idle = Instant::now() + Duration::from_secs(1);
    while ui.terminal.read_until(idle).await {}
    let tree = process_tree(ui.pid);
    let peak: u64 = tree.iter().filter_map(|pid| proc_status_bytes(*pid, "VmHWM")).sum();
    if peak == 0 {
        return Err("no peak RSS could be read from /proc".into());
    }
    Ok(Sample { values: vec![peak as f64, tree.len() as f64], ..Sample::default() })
}

/// A long answer, streamed slowly: its first and last words are [`FIRST_WORD`] and [`LAST_WORD`].
fn streamed_answer() -> Step {
    let middle = "the grey swell rolls over stones and the gulls wheel above the long pier ".repeat(6);
    let text = format!("{FIRST_WORD} {middle}until the {LAST_WORD}");
    let message = Message { text, delta_delay_ms: Some(DELTA_MS), ..Message::default() };
    Step::reply().then_item(OutputItem::Message(message))
}

/// Whether the composer's line (`› ` then the text) holds `typed` at its end.
fn composer_holds(screen: &str, typed: &str) -> bool {
    screen.lines().any(|line| line.trim_end().strip_prefix("› ").is_some_and(|rest| rest.ends_with(typed)))
}

fn ms_between(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

/// A scripted server on loopback; `steps` empty means nothing to answer (one optional step). Title requests
/// (upstream's interface asks for a thread title beside each turn) get a short answer of their own.
async fn scripted(steps: Vec<Step>) -> Result<ParityServer, String> {
    let title = Match { last_input_contains: Some("Generate a concise".into()), ..Match::default() };
    let mut all = vec![Step::message("A task").matching(title).repeat()];
    if steps.is_empty() {
        all.push(Step::message("unused").optional());
    }
    all.extend(steps);
    ParityServer::scripted(all).start().await.map_err(|e| format!("the scripted server: {e}"))
}

/// An interface in its pseudo-terminal, on a fresh isolated home; its process group is killed when dropped.
struct Interface {
    terminal: Terminal,
    pid: i32,
    spawned: Instant,
    _agent: IsolatedAgent,
}

impl Interface {
    fn spawn(bin: &Path, server: &ParityServer) -> Result<Interface, String> {
        let agent = IsolatedAgent::builder(&server.base_url())
            .interactive(true)
            .create()
            .map_err(|e| format!("the isolated home: {e}"))?;
        let mut env = agent.env();
        env.push(("TERM".into(), parity_recorder::frontend::tui::TERM.into()));
        let spawned = Instant::now();
        let terminal =
            Terminal::spawn(&bin.display().to_string(), &["--no-daemon".into()], env, agent.workspace(), COLS, ROWS)
                .map_err(|e| format!("{}: {e}", bin.display()))?;
        let pid = terminal.pid.ok_or("no pid")?;
        Ok(Interface { terminal, pid, spawned, _agent: agent })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.terminal.write(bytes).map_err(|e| format!("writing to the terminal: {e}"))
    }

    /// Types `text`, then (once the interface had time to take it as typing, not a paste) Enter.
    async fn type_line(&mut self, text: &str) -> Result<(), String> {
        self.write(text.as_bytes())?;
        let settle = Instant::now() + Duration::from_millis(150);
        while self.terminal.read_until(settle).await {}
        self.write(b"\r")
    }

    /// Reads the terminal until its screen satisfies `shown`: when that screen was read.
    async fn wait_for(&mut self, shown: impl Fn(&str) -> bool, what: &str) -> Result<Instant, String> {
        let deadline = Instant::now() + WAIT;
        loop {
            if shown(&self.terminal.screen_text()) {
                return Ok(Instant::now());
            }
            if Instant::now() >= deadline || (!self.terminal.read_until(deadline).await && self.terminal.eof) {
                let screen = self.terminal.screen_text();
                let last: Vec<&str> = screen.lines().rev().filter(|l| !l.trim().is_empty()).take(3).collect();
                return Err(format!("{what} did not show within {} s (screen ends {last:?})", WAIT.as_secs()));
            }
        }
    }
}

impl Drop for Interface {
    fn drop(&mut self) {
        // portable-pty makes the child a session leader: its process group is its pid.
        unsafe {
            libc::killpg(self.pid, libc::SIGKILL);
        }
        let _ = self.terminal.child.wait();
    }
}
