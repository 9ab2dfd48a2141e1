//! The recorder: runs upstream Codex and any other agent on scenarios, each in an isolated home and workspace with
//! a controlled environment, against an in-process scripted server, and keeps what happened.
//!
//! - [`scenario`]: scenario files (prompts, model script, agent options, workspace);
//! - [`agent`]: the agent under test, a black box started once per turn;
//! - [`isolate`]: fresh HOME, CODEX_HOME and workspace, and a cleared environment;
//! - [`frontend`]: how a run drives its agent: exec turns, a JSON-RPC session with an app server, or keystrokes in a
//!   pseudo-terminal (the agent's interactive interface; its steps in [`tui_steps`]);
//! - [`run`]: recording one scenario into an output directory (`run.json`, `captures/`, each turn's output);
//! - [`output`]: what in an output directory is a recording of parity's, the only thing `--clean` replaces;
//! - [`suite`]: recording every scenario, in parallel where safe.

pub mod agent;
pub mod credentials;
pub mod frontend;
pub mod isolate;
pub mod output;
pub mod run;
pub mod scenario;
pub mod suite;
pub mod terminal;
pub mod tui_steps;

pub use agent::Agent;
pub use run::{RecordError, RecordOptions, RunOptions, RunRecord, TurnRecord, record};
pub use scenario::{Frontend, Scenario, ScenarioError, TurnStep};
pub use suite::{SuiteEvent, SuiteOptions, record_suite};
pub use tui_steps::{Key, TuiAction, TuiSpec, TuiStep};
