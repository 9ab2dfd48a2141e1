//! `rcodex` alone (and `rcodex resume`, `rcodex fork`): the interactive terminal interface, a thin frontend over the thread runtime
//! ([`rcodex_core::thread`]). It sends the thread operations (start a turn, steer, interrupt, resolve an approval,
//! compact, shut down) and draws the events it gets back; no turn logic lives here.
//!
//! What it sends the model is the interface's (see [`rcodex_core::request::Surface`]); for every message the user
//! sends, a turn's prompt or a steer, it also asks for a thread title in a session of its own, as upstream's
//! interface does ([`title`]).

mod app;
mod composer;
mod diff;
mod git;
mod title;
mod view;

use std::path::PathBuf;

pub use app::Origin;
use std::process::ExitCode;

use rcodex_core::config::Config;

/// What the command line asked for.
pub struct Options {
    pub config: Config,
    /// A new thread, or a saved session continued or forked.
    pub origin: Origin,
    /// A first prompt, sent at once.
    pub prompt: Option<String>,
    /// Images to attach to the first prompt.
    pub images: Vec<PathBuf>,
    /// Draw in the terminal's alternate screen (upstream's default; `--no-alt-screen` says no).
    pub alt_screen: bool,
    /// rcodex itself, which sandboxes commands.
    pub sandbox_launcher: PathBuf,
}

/// Runs the interface until the user quits. Prints the thread's usage and how to resume it on the way out.
pub fn run(options: Options) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rcodex: could not start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(app::run(options)) {
        Ok(goodbye) => {
            print!("{goodbye}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("rcodex: {message}");
            ExitCode::from(1)
        }
    }
}
