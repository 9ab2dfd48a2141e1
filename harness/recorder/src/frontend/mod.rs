//! How a run drives its agent: the one thing that differs between frontends. Each frontend gets the same isolated
//! directories, the same scripted server and the same output directory, and gives back the turns it ran; `run`
//! does the rest (server, run.json).
//!
//! - [`exec`]: a process per turn (`exec PROMPT`, then `exec resume --last PROMPT`);
//! - [`app_server`]: one `app-server` process per thread session, driven over JSON-RPC, with actions tied to the
//!   script's holds, its transcript kept in `frontend.jsonl` (see [`transcript`]);
//! - [`tui`]: the agent's interactive interface in a pseudo-terminal, driven by keystrokes and waits on its screen,
//!   the screens kept in `screens/`.

use std::path::Path;
use std::time::{Duration, Instant};

use parity_server::ParityServer;

use crate::agent::Agent;
use crate::isolate::RunDirs;
use crate::run::{RecordError, TurnRecord};
use crate::scenario::{Frontend, Scenario};

pub mod app_server;
pub mod exec;
pub mod transcript;
pub mod tui;

/// After a turn's time is up: SIGTERM, then this long before SIGKILL.
pub(crate) const KILL_GRACE: Duration = Duration::from_secs(2);

/// What every frontend works with.
pub struct RunContext<'a> {
    pub scenario: &'a Scenario,
    pub agent: &'a Agent,
    pub dirs: &'a RunDirs,
    pub server: &'a ParityServer,
    pub base_url: &'a str,
    /// The run's output directory.
    pub out: &'a Path,
    /// When the run started: the origin of the transcript's times.
    pub started: Instant,
}

impl RunContext<'_> {
    /// What the agent process of `turn` is told (an interactive or app-server process: its prompts do not travel on
    /// the command line).
    pub fn process_spec(&self, turn: usize) -> crate::agent::ProcessSpec<'_> {
        crate::agent::ProcessSpec {
            turn,
            prompt: "",
            workspace: &self.dirs.workspace,
            home: &self.dirs.home,
            codex_home: &self.dirs.codex_home,
            base_url: self.base_url,
            model: self.scenario.agent.model(),
            args: &self.scenario.agent.args,
            review: &[],
        }
    }
}

/// What a frontend ran.
pub struct Driven {
    pub turns: Vec<TurnRecord>,
    /// The transcript's file in the output directory, when the frontend keeps one.
    pub transcript: Option<String>,
}

/// Runs the scenario's turns with its frontend.
pub async fn drive(cx: &RunContext<'_>) -> Result<Driven, RecordError> {
    match cx.scenario.agent.frontend {
        Frontend::Exec => Ok(Driven { turns: exec::drive(cx).await?, transcript: None }),
        Frontend::AppServer => app_server::drive(cx).await,
        Frontend::Tui => tui::drive(cx).await,
    }
}

pub(crate) fn signal_group(group: Option<i32>, signal: i32) {
    if let Some(group) = group.filter(|g| *g > 0) {
        // SAFETY: kill(2) with a negative pid signals the process group the agent leads; no memory is involved.
        unsafe {
            libc::kill(-group, signal);
        }
    }
}
