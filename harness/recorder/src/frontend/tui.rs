//! The tui frontend: the agent's interactive interface in a pseudo-terminal of a fixed size, a terminal emulator
//! (`vt100`) reading what it draws, and the scenario's steps typing into it and waiting on its screen.
//!
//! The agent starts as `AGENT --no-daemon` (see [`crate::agent::Agent::tui_command`]), in its own session and
//! process group, with the run's environment and `TERM=xterm-256color`, before the first step (unless that step is
//! a `start`). Each step types text and presses keys (xterm's encoding), waits for a text on the screen, waits some
//! milliseconds, waits for the agent to exit, or starts it again with other arguments (`resume --last`). A step
//! with `at = HOLD` waits until the scripted server reaches that hold, does its input, gives the agent
//! [`super::app_server::RELEASE_GRACE`] to close the held stream itself, then releases it. The emulator answers
//! the two queries an application waits for (the cursor position, the primary device attributes), so the agent
//! sees a terminal without extensions.
//!
//! The recording: `screens/NNN.txt`, the screen as text after step NNN (rows with their trailing spaces cut; `000`
//! is the screen before the first step, once the agent has drawn), the transcript `frontend.jsonl` (each step and
//! what it did, holds, releases, processes' starts and exits, with times), and per agent process `turn-N/stdout.txt`
//! (everything it wrote to the terminal, escape sequences included) and an empty `turn-N/stderr.txt` (a terminal
//! has one output).

use std::path::Path;
use std::time::Duration;

use parity_capture::store::write_atomic;
use serde_json::json;
use tokio::time::Instant;

use super::app_server::RELEASE_GRACE;
use super::transcript::{self, Transcript};
use super::{Driven, KILL_GRACE, RunContext, signal_group};
use crate::run::{RecordError, TurnRecord, io_error};
use crate::terminal::{Terminal, screen_of};
use crate::tui_steps::{TuiAction, TuiSpec, TuiStep};

/// Where the screens go in the output directory.
pub const SCREENS_DIR: &str = "screens";
/// The terminal the agent is told it runs in.
pub const TERM: &str = "xterm-256color";
/// After an input step, the screen is taken once the agent has been quiet this long...
const SETTLE_QUIET: Duration = Duration::from_millis(200);
/// ...or after this long, if it keeps drawing (a spinner, a clock).
const SETTLE_MAX: Duration = Duration::from_millis(1500);
/// Between typed text and the keys of the same step, so that the interface does not take them for one paste.
const TEXT_TO_KEYS: Duration = Duration::from_millis(150);
/// How long an agent has to exit after SIGHUP (its terminal hung up) before SIGTERM.
const HANGUP_GRACE: Duration = Duration::from_secs(3);

/// What a user of the interactive interface has in their config.toml, so that a run goes straight to the prompt:
/// the workspace trusted (no "Trust this folder?"), the screen-reader check done, no update check, no animations or
/// tooltips, paste detection off (typed text arrives faster than a person types), and the model announcements of
/// upstream 0.169.0 seen (the migration from gpt-5.5 and the new-model notice). The scenario's own config goes over
/// it.
pub fn user_config(workspace: &Path) -> toml::Table {
    let mut config = toml::Table::new();
    config.insert("check_for_update_on_startup".into(), false.into());
    let tui: toml::Table = toml::from_str(
        "screen_reader_detection_done = true\nanimations = false\nshow_tooltips = false\ndisable_paste_burst = \
         true\nmodel_availability_nux = { \"gpt-6.1-sol\" = 100 }\n",
    )
    .expect("static TOML");
    config.insert("tui".into(), tui.into());
    let notice: toml::Table =
        toml::from_str("model_migrations = { \"gpt-5.5\" = \"gpt-6-sol\" }\n").expect("static TOML");
    config.insert("notice".into(), notice.into());
    let mut project = toml::Table::new();
    project.insert("trust_level".into(), "trusted".into());
    let mut projects = toml::Table::new();
    projects.insert(workspace.display().to_string(), project.into());
    config.insert("projects".into(), projects.into());
    config
}

/// Runs the scenario's steps; writes the screens and the transcript.
pub async fn drive(cx: &RunContext<'_>) -> Result<Driven, RecordError> {
    let spec = cx.scenario.tui.as_ref().expect("a tui scenario has [tui]");
    let transcript = Transcript::new(cx.started);
    let mut driver = Driver { cx, spec, transcript: transcript.clone(), terminal: None, processes: Vec::new() };
    let screens = cx.out.join(SCREENS_DIR);
    std::fs::create_dir_all(&screens).map_err(io_error(&screens))?;

    let mut failure: Option<Stop> = None;
    if !matches!(spec.steps.first().map(|s| &s.action), Some(TuiAction::Start { .. })) {
        driver.start(0, &[]).await?;
        driver.keep_screen(0, "start")?;
    }
    for step in &spec.steps {
        let result = driver.run_step(step).await?;
        driver.keep_screen(step.number, step.kind())?;
        if let Err(stop) = result {
            failure = Some(stop);
            break;
        }
    }
    if let Some(stop) = &failure {
        transcript.action("failed", driver.processes.len(), json!({"message": stop.message}));
    }
    driver.close(failure.is_some()).await;
    let mut turns = Vec::new();
    let last = driver.processes.len();
    for (i, mut process) in std::mem::take(&mut driver.processes).into_iter().enumerate() {
        let turn = i + 1;
        // The failure is told in the last process's record.
        if let Some(stop) = failure.as_ref().filter(|_| turn == last) {
            process.record.error = Some(stop.message.clone());
            process.record.timed_out = stop.timed_out;
        }
        let write = |name: &str, bytes: &[u8]| -> Result<String, RecordError> {
            let relative = format!("turn-{turn}/{name}");
            let path = cx.out.join(&relative);
            write_atomic(&path, bytes).map_err(io_error(&path))?;
            Ok(relative)
        };
        process.record.stdout = write("stdout.txt", &process.raw)?;
        process.record.stderr = write("stderr.txt", b"")?;
        turns.push(process.record);
    }
    let path = cx.out.join(transcript::FILE);
    write_atomic(&path, transcript.text().as_bytes()).map_err(io_error(&path))?;
    Ok(Driven { turns, transcript: Some(transcript::FILE.to_string()) })
}

/// Why a run stops: the message names the scenario and the step.
struct Stop {
    message: String,
    timed_out: bool,
}

/// A process that ran, for run.json and its output file.
struct Ended {
    record: TurnRecord,
    raw: Vec<u8>,
}

struct Driver<'a, 'b> {
    cx: &'a RunContext<'b>,
    spec: &'a TuiSpec,
    transcript: Transcript,
    terminal: Option<Terminal>,
    /// Every process started, in order; the running one's output is in `terminal` until it ends.
    processes: Vec<Ended>,
}

impl Driver<'_, '_> {
    fn stop(&self, step: &TuiStep, what: impl std::fmt::Display) -> Stop {
        Stop { message: format!("scenario {}, {}: {what}", self.cx.scenario.name, step.label()), timed_out: false }
    }

    fn timeout(&self, step: &TuiStep, what: impl std::fmt::Display) -> Stop {
        Stop { timed_out: true, ..self.stop(step, what) }
    }

    /// The default time a wait may take: the scenario's `timeout_secs`.
    fn default_timeout(&self) -> Duration {
        self.cx.scenario.agent.timeout()
    }

    async fn run_step(&mut self, step: &TuiStep) -> Result<Result<(), Stop>, RecordError> {
        let number = self.processes.len();
        let mut fields = json!({"step": step.number, "kind": step.kind()});
        match &step.action {
            TuiAction::Start { args } => {
                fields["args"] = json!(args);
                self.transcript.action("step", number, fields);
                self.start(step.number, args).await?;
                return Ok(Ok(()));
            }
            TuiAction::Input { text, keys } => {
                fields["text"] = json!(text);
                fields["keys"] = json!(keys.iter().map(|k| k.name()).collect::<Vec<_>>());
                if let Some(at) = &step.at {
                    fields["at"] = json!(at);
                }
            }
            TuiAction::WaitScreen { text, timeout, count } => {
                fields["text"] = json!(text);
                if *count > 1 {
                    fields["count"] = json!(count);
                }
                fields["timeout_ms"] = json!(timeout.unwrap_or(self.default_timeout()).as_millis() as u64);
            }
            TuiAction::Wait(d) => fields["ms"] = json!(d.as_millis() as u64),
            TuiAction::WaitExit { timeout } => {
                fields["timeout_ms"] = json!(timeout.unwrap_or(self.default_timeout()).as_millis() as u64);
            }
        }
        self.transcript.action("step", number, fields);
        if self.terminal.is_none() {
            return Ok(Err(self.stop(step, "no agent runs (it exited): put a `start` step before this one")));
        }
        Ok(match &step.action {
            TuiAction::Input { text, keys } => self.input(step, text.as_deref(), keys).await,
            TuiAction::WaitScreen { text, timeout, count } => {
                let deadline = Instant::now() + timeout.unwrap_or(self.default_timeout());
                self.wait_screen(step, text, *count, deadline).await
            }
            TuiAction::Wait(d) => {
                let until = Instant::now() + *d;
                self.pump_until(until).await;
                Ok(())
            }
            TuiAction::WaitExit { timeout } => {
                let deadline = Instant::now() + timeout.unwrap_or(self.default_timeout());
                self.wait_exit(step, deadline).await
            }
            TuiAction::Start { .. } => unreachable!("handled above"),
        })
    }

    /// Starts an agent process, ending the one that runs.
    async fn start(&mut self, step: usize, start_args: &[String]) -> Result<(), RecordError> {
        if self.terminal.is_some() {
            self.close(false).await;
        }
        let cx = self.cx;
        let turn = self.processes.len() + 1;
        let spec = cx.process_spec(turn);
        let (program, args) = cx.agent.tui_command(&spec, start_args);
        let mut env = cx.dirs.env(cx.base_url, turn);
        for (key, value) in &mut env {
            if key == "TERM" {
                *value = TERM.to_string();
            }
        }
        let terminal = Terminal::spawn(&program, &args, env, &cx.dirs.workspace, self.spec.cols, self.spec.rows)
            .map_err(|source| RecordError::Spawn { program: program.clone(), source })?;
        let mut command = vec![program.clone()];
        command.extend(args.iter().cloned());
        let unix_ms = jiff::Timestamp::now().as_millisecond();
        let fields = json!({"process": turn, "step": step, "command": command, "unix_ms": unix_ms,
            "size": {"cols": self.spec.cols, "rows": self.spec.rows}});
        self.transcript.action("start", turn, fields);
        self.processes
            .push(Ended { record: TurnRecord { turn, program, args, ..TurnRecord::default() }, raw: Vec::new() });
        self.terminal = Some(terminal);
        // The screen as the new process first draws it: its first output, then a quiet moment.
        let first = Instant::now() + SETTLE_MAX;
        if self.terminal().read_until(first).await {
            self.settle().await;
        }
        Ok(())
    }

    /// Ends the running process, if any: SIGHUP (its terminal is gone), then SIGTERM, then SIGKILL, its group
    /// killed after it; its exit goes to the transcript and its record.
    async fn close(&mut self, failed: bool) {
        let Some(mut terminal) = self.terminal.take() else { return };
        let number = self.processes.len();
        if terminal.exit.is_none() {
            let grace = if failed { Duration::ZERO } else { HANGUP_GRACE };
            signal_group(terminal.pid, libc::SIGHUP);
            if !terminal.wait_exit(Instant::now() + grace).await {
                signal_group(terminal.pid, libc::SIGTERM);
                if !terminal.wait_exit(Instant::now() + KILL_GRACE).await {
                    signal_group(terminal.pid, libc::SIGKILL);
                    terminal.wait_exit(Instant::now() + KILL_GRACE).await;
                }
            }
        }
        // Whatever the agent left running goes with it.
        signal_group(terminal.pid, libc::SIGKILL);
        terminal.drain();
        let (code, signal) = terminal.exit.clone().unwrap_or((None, None));
        self.transcript.action("exit", number, json!({"process": number, "code": code, "signal": signal}));
        if let Some(ended) = self.processes.last_mut() {
            ended.record.exit_code = code;
            ended.record.duration_ms = terminal.started.elapsed().as_millis() as u64;
            ended.raw = std::mem::take(&mut terminal.raw);
        }
    }

    fn terminal(&mut self) -> &mut Terminal {
        self.terminal.as_mut().expect("a terminal runs while a step does")
    }

    /// Reads the agent's output until it has been quiet for a moment (or has drawn for too long).
    async fn settle(&mut self) {
        let Some(terminal) = self.terminal.as_mut() else { return };
        let until = Instant::now() + SETTLE_MAX;
        loop {
            let quiet = (Instant::now() + SETTLE_QUIET).min(until);
            if !terminal.read_until(quiet).await || Instant::now() >= until {
                return;
            }
        }
    }

    async fn pump_until(&mut self, until: Instant) {
        let terminal = self.terminal();
        while Instant::now() < until {
            if !terminal.read_until(until).await && terminal.eof {
                tokio::time::sleep_until(until).await;
            }
        }
    }

    async fn input(&mut self, step: &TuiStep, text: Option<&str>, keys: &[crate::tui_steps::Key]) -> Result<(), Stop> {
        let number = self.processes.len();
        let server = self.cx.server;
        if let Some(at) = &step.at {
            let deadline = Instant::now() + self.default_timeout();
            let terminal = self.terminal.as_mut().expect("a terminal runs");
            let held = loop {
                let remaining = deadline.saturating_duration_since(Instant::now());
                tokio::select! {
                    held = server.wait_for_hold(at, remaining) => break held,
                    _ = terminal.read_until(deadline), if !terminal.eof => {}
                }
            };
            let Some(info) = held else {
                let secs = self.default_timeout().as_secs();
                return Err(self.timeout(step, format!("the hold was not reached within the scenario's {secs} s")));
            };
            self.transcript.action(
                "hold",
                number,
                json!({"step": step.number, "at": at, "request": {"session": info.session, "seq": info.seq}}),
            );
        }
        if let Some(text) = text {
            if let Err(e) = self.terminal().write(text.as_bytes()) {
                return Err(self.stop(step, format!("could not type into the terminal: {e}")));
            }
            if !keys.is_empty() {
                let until = Instant::now() + TEXT_TO_KEYS;
                self.pump_until(until).await;
            }
        }
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                // Keys one by one, as a person presses them: an Esc alone is not the start of a sequence.
                let until = Instant::now() + Duration::from_millis(50);
                self.pump_until(until).await;
            }
            let application_cursor = self.terminal().application_cursor();
            if let Err(e) = self.terminal().write(&key.bytes(application_cursor)) {
                return Err(self.stop(step, format!("could not press {} in the terminal: {e}", key.name())));
            }
        }
        if let Some(at) = &step.at {
            // The agent's moment to close the held stream itself, then the release.
            let until = Instant::now() + RELEASE_GRACE;
            while Instant::now() < until && server.holds().iter().any(|h| &h.name == at) {
                let tick = (Instant::now() + Duration::from_millis(10)).min(until);
                self.pump_until(tick).await;
            }
            let still_held = server.holds().iter().any(|h| &h.name == at);
            let released = if still_held { server.release(at) } else { 0 };
            self.transcript.action("release", number, json!({"step": step.number, "at": at, "released": released}));
        }
        self.settle().await;
        Ok(())
    }

    async fn wait_screen(&mut self, step: &TuiStep, text: &str, count: usize, deadline: Instant) -> Result<(), Stop> {
        loop {
            let terminal = self.terminal();
            if terminal.screen_text().matches(text).count() >= count {
                return Ok(());
            }
            if terminal.eof {
                let how = terminal.exit_words(Duration::from_secs(1)).await;
                return Err(self.stop(step, format!("the agent's terminal closed ({how}) before the screen showed it")));
            }
            if Instant::now() >= deadline {
                return Err(self.timeout(step, "the screen did not show it in time"));
            }
            terminal.read_until(deadline).await;
        }
    }

    async fn wait_exit(&mut self, step: &TuiStep, deadline: Instant) -> Result<(), Stop> {
        let terminal = self.terminal();
        if terminal.wait_exit(deadline).await {
            self.close(false).await;
            Ok(())
        } else {
            Err(self.timeout(step, "the agent did not exit in time"))
        }
    }

    /// Writes the screen as it is to `screens/NNN.txt` and names it in the transcript.
    fn keep_screen(&mut self, step: usize, kind: &str) -> Result<(), RecordError> {
        let text = match &self.terminal {
            Some(terminal) => terminal.screen_text(),
            None => match self.processes.last() {
                // The last screen of a process that has ended: what its output drew.
                Some(ended) => screen_of(&ended.raw, self.spec.cols, self.spec.rows),
                None => String::new(),
            },
        };
        let relative = format!("{SCREENS_DIR}/{step:03}.txt");
        let path = self.cx.out.join(&relative);
        write_atomic(&path, text.as_bytes()).map_err(io_error(&path))?;
        self.transcript.action("screen", self.processes.len(), json!({"step": step, "kind": kind, "file": relative}));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_config_trusts_the_workspace_and_skips_first_run_screens() {
        let config = user_config(Path::new("/w/ws"));
        assert_eq!(config["projects"]["/w/ws"]["trust_level"].as_str(), Some("trusted"));
        assert_eq!(config["check_for_update_on_startup"].as_bool(), Some(false));
        assert_eq!(config["tui"]["screen_reader_detection_done"].as_bool(), Some(true));
        assert_eq!(config["notice"]["model_migrations"]["gpt-5.5"].as_str(), Some("gpt-6-sol"));
    }
}
