//! Scripts: what scripted mode answers, request by request.

mod compile;
mod expect;
mod extract;
mod load;
mod model;

pub use compile::{DEFAULT_HOLD_TIMEOUT_MS, StepContext, compile};
pub use expect::check;
pub use extract::{extract, substitute};
pub use load::{ScriptError, Syntax};
pub use model::*;
