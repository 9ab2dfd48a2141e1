//! A thread: one long-lived task that owns a session and takes operations while its turns run.
//!
//! Frontends (exec, the app server) hold a [`ThreadHandle`] and send it [`Op`]s; what happens comes back as
//! [`Event`](crate::events::Event)s through the session's [`EventSink`]. A turn runs inside the thread's task, which
//! keeps reading operations meanwhile: a steer joins the running turn at its next request, an interrupt ends it, a
//! turn started while another runs waits its turn, a shutdown interrupts and ends the commands still running.

use std::collections::VecDeque;
use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

use crate::config::TurnOverrides;
use crate::events::{EventSink, UserInput};
use crate::interaction::{Answer, ResolveError};
use crate::session::{Session, SessionError, SessionOptions, TurnControl, TurnError, TurnSummary};

/// What a frontend asks of a thread.
pub enum Op {
    /// Starts a turn (after the running one, if any). `started` gets its id when it starts; `done` its outcome.
    StartTurn {
        input: Vec<UserInput>,
        /// The JSON schema this turn's final answer must follow (over the session's).
        output_schema: Option<serde_json::Value>,
        /// Settings this turn changes, for itself and the turns after it.
        overrides: TurnOverrides,
        started: Option<oneshot::Sender<String>>,
        done: Option<oneshot::Sender<Result<TurnSummary, TurnError>>>,
    },
    /// Adds input to the running turn, which must be `expected_turn_id` when given; answered with the turn's id.
    Steer {
        input: Vec<UserInput>,
        expected_turn_id: Option<String>,
        reply: oneshot::Sender<Result<String, SteerError>>,
    },
    /// Ends the running turn. Answered once it has ended, with its id (`None`: nothing was running).
    Interrupt { reply: oneshot::Sender<Option<String>> },
    /// Interrupts the running turn, ends every command, and stops the thread.
    Shutdown { reply: oneshot::Sender<()> },
    /// Compacts the thread's history (after the running turn, if any): a turn of its own, whose id `started` gets
    /// when it starts and whose outcome `done` gets (see [`Session::compact`]). It takes no steers.
    Compact { started: Option<oneshot::Sender<String>>, done: Option<oneshot::Sender<Result<TurnSummary, TurnError>>> },
    /// Keeps a review's findings in the history (after the running turn, if any), as upstream keeps a review run
    /// beside the thread's turns (`review/start`, `/review`): see [`Session::record_review`].
    RecordReview { findings: String, message_id: String },
    /// Answers a request of the running turn's tools ([`crate::events::Event::ApprovalRequested`],
    /// [`crate::events::Event::UserInputRequested`]) by its `request_id`.
    Resolve { request_id: String, answer: Answer, reply: Option<oneshot::Sender<Result<(), ResolveError>>> },
}

/// Why a steer was refused, in upstream's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SteerError {
    #[error("no active turn to steer")]
    NoActiveTurn,
    #[error("expected active turn id `{expected}` but found `{actual}`")]
    ExpectedTurnMismatch { expected: String, actual: String },
    #[error("input must not be empty")]
    EmptyInput,
    /// rcodex's words: upstream's were not recorded.
    #[error("the running turn is a compaction, which takes no input")]
    Compacting,
}

/// The thread has stopped (shut down, or its task ended).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the thread has stopped")]
pub struct ThreadStopped;

/// A frontend's hold on a running thread. Cloning it gives another sender of operations to the same thread.
#[derive(Clone)]
pub struct ThreadHandle {
    ops: mpsc::UnboundedSender<Op>,
    thread_id: String,
    rollout_path: Option<PathBuf>,
}

impl std::fmt::Debug for ThreadHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadHandle").field("thread_id", &self.thread_id).finish_non_exhaustive()
    }
}

impl ThreadHandle {
    /// Starts (or resumes) a session and its thread task. Must be called within a tokio runtime.
    pub fn spawn(
        options: SessionOptions,
        events: EventSink,
    ) -> Result<(ThreadHandle, tokio::task::JoinHandle<()>), SessionError> {
        let session = Session::start(options, events)?;
        let (ops, receiver) = mpsc::unbounded_channel();
        let handle = ThreadHandle {
            ops,
            thread_id: session.thread_id().to_string(),
            rollout_path: session.rollout_path().map(PathBuf::from),
        };
        let task = tokio::spawn(run(session, receiver));
        Ok((handle, task))
    }

    pub fn thread_id(&self) -> &str {
        &self.thread_id
    }

    pub fn rollout_path(&self) -> Option<&std::path::Path> {
        self.rollout_path.as_deref()
    }

    pub fn send(&self, op: Op) -> Result<(), ThreadStopped> {
        self.ops.send(op).map_err(|_| ThreadStopped)
    }

    /// Starts a turn and returns its id once it has started.
    pub async fn start_turn(
        &self,
        input: Vec<UserInput>,
        done: Option<oneshot::Sender<Result<TurnSummary, TurnError>>>,
    ) -> Result<String, ThreadStopped> {
        self.start_turn_with(input, None, TurnOverrides::default(), done).await
    }

    /// Starts a turn whose final answer must follow `output_schema`, with the settings `overrides` changes (for it
    /// and the turns after it), and returns its id once it has started.
    pub async fn start_turn_with(
        &self,
        input: Vec<UserInput>,
        output_schema: Option<serde_json::Value>,
        overrides: TurnOverrides,
        done: Option<oneshot::Sender<Result<TurnSummary, TurnError>>>,
    ) -> Result<String, ThreadStopped> {
        let (started, id) = oneshot::channel();
        self.send(Op::StartTurn { input, output_schema, overrides, started: Some(started), done })?;
        id.await.map_err(|_| ThreadStopped)
    }

    /// Runs a turn to its end.
    pub async fn run_turn(&self, input: Vec<UserInput>) -> Result<Result<TurnSummary, TurnError>, ThreadStopped> {
        let (done, outcome) = oneshot::channel();
        let overrides = TurnOverrides::default();
        self.send(Op::StartTurn { input, output_schema: None, overrides, started: None, done: Some(done) })?;
        outcome.await.map_err(|_| ThreadStopped)
    }

    pub async fn steer(&self, input: Vec<UserInput>, expected_turn_id: Option<String>) -> Result<String, SteerError> {
        let (reply, answer) = oneshot::channel();
        if self.send(Op::Steer { input, expected_turn_id, reply }).is_err() {
            return Err(SteerError::NoActiveTurn);
        }
        answer.await.unwrap_or(Err(SteerError::NoActiveTurn))
    }

    /// Asks for the thread's history to be compacted (after the running turn, if any), without waiting.
    pub fn compact(
        &self,
        started: Option<oneshot::Sender<String>>,
        done: Option<oneshot::Sender<Result<TurnSummary, TurnError>>>,
    ) -> Result<(), ThreadStopped> {
        self.send(Op::Compact { started, done })
    }

    /// Keeps the findings of a review of this thread in its history, for its next turns.
    pub fn record_review(&self, findings: String, message_id: String) -> Result<(), ThreadStopped> {
        self.send(Op::RecordReview { findings, message_id })
    }

    /// Interrupts the running turn and waits for it to end; returns its id, or `None` when nothing was running.
    pub async fn interrupt(&self) -> Option<String> {
        let (reply, answer) = oneshot::channel();
        self.send(Op::Interrupt { reply }).ok()?;
        answer.await.ok().flatten()
    }

    /// Answers a request a tool of the running turn is waiting on.
    pub async fn resolve(&self, request_id: &str, answer: Answer) -> Result<(), ResolveError> {
        let (reply, answered) = oneshot::channel();
        let op = Op::Resolve { request_id: request_id.to_string(), answer, reply: Some(reply) };
        if self.send(op).is_err() {
            return Err(ResolveError::Unknown(request_id.to_string()));
        }
        answered.await.unwrap_or_else(|_| Err(ResolveError::Unknown(request_id.to_string())))
    }

    /// Stops the thread: interrupts its turn and ends its commands. Returns once that is done.
    pub async fn shutdown(&self) {
        let (reply, answer) = oneshot::channel();
        if self.send(Op::Shutdown { reply }).is_ok() {
            let _ = answer.await;
        }
    }
}

/// A turn waiting to start.
struct Queued {
    work: Work,
    started: Option<oneshot::Sender<String>>,
    done: Option<oneshot::Sender<Result<TurnSummary, TurnError>>>,
}

/// What a turn does.
enum Work {
    /// Answers the user's input.
    Input { input: Vec<UserInput>, output_schema: Option<serde_json::Value>, overrides: Box<TurnOverrides> },
    /// Compacts the history.
    Compact,
}

/// The thread's task: turns one after another, operations taken all along.
async fn run(mut session: Session, mut ops: mpsc::UnboundedReceiver<Op>) {
    // Answers go to the tools while the turn holds the session.
    let asker = session.asker();
    let resolve = |request_id: String, answer: Answer, reply: Option<oneshot::Sender<Result<(), ResolveError>>>| {
        let resolved = asker.resolve(&request_id, answer);
        if let Some(reply) = reply {
            let _ = reply.send(resolved);
        }
    };
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut stopping: Option<oneshot::Sender<()>> = None;
    // Reviews that ended while a turn ran: kept once it has ended.
    let mut reviews: Vec<(String, String)> = Vec::new();
    loop {
        for (findings, message_id) in reviews.drain(..) {
            session.record_review(&findings, message_id);
        }
        // Idle: the next queued turn, or the next operation.
        let next = match queue.pop_front() {
            Some(next) => next,
            None => match ops.recv().await {
                Some(Op::StartTurn { input, output_schema, overrides, started, done }) => {
                    Queued { work: Work::Input { input, output_schema, overrides: Box::new(overrides) }, started, done }
                }
                Some(Op::Compact { started, done }) => Queued { work: Work::Compact, started, done },
                Some(Op::RecordReview { findings, message_id }) => {
                    session.record_review(&findings, message_id);
                    continue;
                }
                Some(Op::Steer { reply, .. }) => {
                    let _ = reply.send(Err(SteerError::NoActiveTurn));
                    continue;
                }
                Some(Op::Interrupt { reply }) => {
                    let _ = reply.send(None);
                    continue;
                }
                // Nothing waits between turns: the answer is to a request withdrawn with its turn.
                Some(Op::Resolve { request_id, answer, reply }) => {
                    resolve(request_id, answer, reply);
                    continue;
                }
                Some(Op::Shutdown { reply }) => {
                    stopping = Some(reply);
                    break;
                }
                None => break,
            },
        };

        let mut control = TurnControl::new(uuid::Uuid::now_v7().to_string());
        // The user's input, or nothing for a compaction.
        let input = match next.work {
            Work::Input { input, output_schema, overrides } => {
                control.output_schema = output_schema;
                control.overrides = *overrides;
                Some(input)
            }
            Work::Compact => None,
        };
        let compacting = input.is_none();
        let turn_id = control.turn_id.clone();
        if let Some(started) = next.started {
            let _ = started.send(turn_id.clone());
            // The one who started it answers before the turn tells anything (upstream's app server answers
            // `turn/start` before the turn's first notification): its task runs before this one goes on.
            tokio::task::yield_now().await;
        }
        let mut interrupted_replies = Vec::new();
        let outcome = {
            let turn = async {
                match input {
                    Some(input) => session.run_turn(input, &control).await,
                    None => session.compact(&control).await,
                }
            };
            tokio::pin!(turn);
            let mut ops_open = true;
            loop {
                tokio::select! {
                    outcome = &mut turn => break outcome,
                    op = ops.recv(), if ops_open => match op {
                        Some(Op::StartTurn { input, output_schema, overrides, started, done }) => {
                            let work = Work::Input { input, output_schema, overrides: Box::new(overrides) };
                            queue.push_back(Queued { work, started, done })
                        }
                        Some(Op::Compact { started, done }) => {
                            queue.push_back(Queued { work: Work::Compact, started, done })
                        }
                        Some(Op::RecordReview { findings, message_id }) => reviews.push((findings, message_id)),
                        Some(Op::Steer { input, expected_turn_id, reply }) => {
                            let answer = match expected_turn_id {
                                _ if input.is_empty() => Err(SteerError::EmptyInput),
                                Some(expected) if expected != turn_id => {
                                    Err(SteerError::ExpectedTurnMismatch { expected, actual: turn_id.clone() })
                                }
                                _ if compacting => Err(SteerError::Compacting),
                                _ => {
                                    control.steer(input);
                                    Ok(turn_id.clone())
                                }
                            };
                            let _ = reply.send(answer);
                        }
                        Some(Op::Interrupt { reply }) => {
                            control.interrupt();
                            interrupted_replies.push(reply);
                        }
                        Some(Op::Shutdown { reply }) => {
                            control.interrupt();
                            stopping = Some(reply);
                        }
                        Some(Op::Resolve { request_id, answer, reply }) => resolve(request_id, answer, reply),
                        // Every handle is gone: nobody can steer or wait any more; the turn ends as interrupted.
                        None => {
                            ops_open = false;
                            control.interrupt();
                        }
                    },
                }
            }
        };
        if let Some(done) = next.done {
            let _ = done.send(outcome);
        }
        for reply in interrupted_replies {
            let _ = reply.send(Some(turn_id.clone()));
        }
        if stopping.is_some() || ops.is_closed() && queue.is_empty() {
            break;
        }
    }
    for queued in queue {
        if let Some(done) = queued.done {
            let _ = done.send(Err(TurnError::Interrupted));
        }
    }
    session.shutdown().await;
    if let Some(reply) = stopping {
        let _ = reply.send(());
    }
}
