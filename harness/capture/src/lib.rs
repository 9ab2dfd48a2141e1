//! The parity capture format.
//!
//! Every HTTP exchange that passes through a parity server becomes one JSON file: the request as the agent sent it
//! (method, path, query, headers in order, parsed body) and the response as the agent received it (status, headers
//! and, for event streams, every event with its time relative to the request). Files are grouped by session and
//! numbered in arrival order:
//!
//! ```text
//! captures/
//!   session-01/
//!     0001-post-responses.json
//!     0002-post-responses.json
//!   session-02/
//!     0001-post-responses.json
//! ```
//!
//! The crate owns a few small jobs, each in its own module:
//! - [`model`]: the types of a capture file and their serde form (see `docs/capture-format.md`);
//! - [`store`]: writing captures atomically and loading a file, a session or a whole recording back;
//! - [`owned`]: telling what parity wrote into a directory from what it did not, so `--clean` removes only its own;
//! - [`redact`]: keeping credentials off the disk while letting two captures tell whether the same key was used;
//! - [`sse`]: reading and writing `text/event-stream` bodies incrementally.
//!
//! [`pretty`] renders JSON so that captures diff well in git, and [`view`] reads requests the Responses way.

pub mod model;
pub mod owned;
pub mod pretty;
pub mod redact;
pub mod sse;
pub mod store;
pub mod view;

pub use model::{
    Capture, CapturedRequest, CapturedResponse, Expectation, FORMAT, HeaderList, Mode, Outcome, RawBody, ReplayInfo,
    ScriptInfo, SessionRef, StreamEvent, Transport, WebSocketInfo,
};
pub use store::{CaptureStore, LoadError, RecordedExchange, RecordedSession, Recording};
