//! The unified exec engine: what upstream Codex's `exec_command` and `write_stdin` tools do, as the model sees it.
//!
//! - [`ExecManager`] starts commands (an argv, a working directory, a whole environment) in pipes or a PTY, each in
//!   its own session and process group; waits for output up to the yield time, returning early when the command
//!   exits; keeps those still running as sessions with random ids for [`ExecManager::write_stdin`]; evicts beyond 64;
//!   kills process groups when told or when dropped.
//! - [`ExecOutput::to_model_text`] writes upstream's `function_call_output` text: chunk id, wall time, exit code or
//!   session id, token count, and the output cut to its token budget.
//! - [`ExecEvent`] carries the `command_execution` items of `codex exec --json`.
//! - [`tool`] reads the tools' JSON arguments with upstream's error texts and builds the shell command
//!   (`/bin/bash -lc CMD`).
//!
//! The behaviour pinned here was observed on Codex CLI 0.169.0: see `tests/observed/README.md`.

mod buffer;
mod denial;
mod event;
mod manager;
mod output;
mod process;
mod script;
mod shell;
pub mod tool;
mod truncate;

use std::time::Duration;

pub use buffer::{HeadTailBuffer, OUTPUT_MAX_BYTES, omission_marker};
pub use denial::looks_like_sandbox_denial;
pub use event::{CommandExecution, CommandStatus, ExecEvent};
pub use manager::{ExecError, ExecManager, ExecRequest, WriteRequest};
pub use output::{ExecOutput, output_without_process};
pub use script::{literal_commands, plain_commands, plain_script};
pub use shell::{Shell, ShellKind, display_command, passwd_shell};
pub use truncate::{approx_tokens, truncate_for_model, truncate_middle};

/// The shortest wait for output.
pub const MIN_YIELD: Duration = Duration::from_millis(250);
/// The longest wait for output, except for a poll (empty `write_stdin`).
pub const MAX_YIELD: Duration = Duration::from_secs(30);
/// A poll waits at least this long...
pub const MIN_EMPTY_POLL: Duration = Duration::from_secs(5);
/// ...and at most this long (upstream's default background terminal timeout).
pub const MAX_EMPTY_POLL: Duration = Duration::from_secs(300);
/// `exec_command`'s default `yield_time_ms`.
pub const DEFAULT_EXEC_YIELD_MS: u64 = 10_000;
/// `write_stdin`'s default `yield_time_ms`.
pub const DEFAULT_WRITE_YIELD_MS: u64 = 250;
/// [`DEFAULT_EXEC_YIELD_MS`] as a duration.
pub const DEFAULT_EXEC_YIELD: Duration = Duration::from_millis(DEFAULT_EXEC_YIELD_MS);
/// `max_output_tokens`' default.
pub const DEFAULT_MAX_OUTPUT_TOKENS: usize = 10_000;
/// Sessions kept at most; storing one more evicts one.
pub const MAX_SESSIONS: usize = 64;
/// The most recently used sessions, never evicted.
pub const PROTECTED_SESSIONS: usize = 8;
/// How long `exec_command` lets a command run before starting the wall-time clock (sooner if it exits).
pub const EARLY_EXIT_GRACE: Duration = Duration::from_millis(150);

/// Variables upstream sets over the environment of every command it runs (the agent core adds its own `CODEX_*`
/// ones: see `tests/observed/cases/environment.json`).
pub const EXEC_ENV_OVERRIDES: [(&str, &str); 10] = [
    ("NO_COLOR", "1"),
    ("TERM", "dumb"),
    ("LANG", "C.UTF-8"),
    ("LC_CTYPE", "C.UTF-8"),
    ("LC_ALL", "C.UTF-8"),
    ("COLORTERM", ""),
    ("PAGER", "cat"),
    ("GIT_PAGER", "cat"),
    ("GH_PAGER", "cat"),
    ("CODEX_CI", "1"),
];
