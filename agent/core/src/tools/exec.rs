//! `exec_command` and `write_stdin` in a session: the exec engine ([`rcodex_exec`]) with the session's environment,
//! each command wrapped in the sandbox ([`rcodex_sandbox`]), escalation refused or asked for as the approval policy
//! says ([`super::approval`]), and the engine's command events turned into `command_execution` items.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;

use rcodex_apply_patch::ShellPatch;
use rcodex_exec::tool::{ExecCommandArgs, SandboxPermissions, ToolContext, prepare_exec_command};
use rcodex_exec::{CommandStatus, ExecEvent, ExecManager};
use rcodex_sandbox::SandboxPolicy;

use super::ToolCall;
use super::approval::{ADDITIONAL_PERMISSIONS_DISABLED, Approvals, COMMAND_DECLINED, CommandApproval, Proposal};
use super::patch::Patcher;
use crate::config::{ApprovalPolicy, Config};
use crate::events::{CommandRun, Event, EventSink, Item, ItemDetails, Status};
use crate::exec_policy::{Policy, Situation, Verdict};
use crate::interaction::ApprovalDecision;
use crate::shell_env;

/// The session's commands.
/// How an `exec_command` or `write_stdin` call ended.
pub enum CommandAnswer {
    /// The command ran, or runs on.
    Ran(rcodex_exec::ExecOutput),
    /// A patch given as a command was applied instead: the text reads as a command's output.
    Patched(String),
    /// The call was refused, or failed before anything ran: the text says why.
    Refused(String),
}

impl CommandAnswer {
    /// The text the model reads for a direct call.
    pub fn model_text(self) -> String {
        match self {
            CommandAnswer::Ran(output) => output.to_model_text(),
            CommandAnswer::Patched(text) | CommandAnswer::Refused(text) => text,
        }
    }

    /// What a code-mode script's promise gets: upstream's object for a command that ran (the output whole), the
    /// text for a patch, a rejection with the reason for a refusal.
    pub fn code_mode_value(self) -> Result<serde_json::Value, String> {
        match self {
            CommandAnswer::Ran(output) => {
                let mut value = serde_json::Map::new();
                value.insert("chunk_id".into(), output.chunk_id.clone().into());
                value.insert("wall_time_seconds".into(), output.wall_time.as_secs_f64().into());
                if let Some(code) = output.exit_code {
                    value.insert("exit_code".into(), code.into());
                }
                if let Some(id) = output.session_id {
                    value.insert("session_id".into(), id.into());
                }
                value.insert("original_token_count".into(), output.original_token_count.into());
                value.insert("output".into(), output.text().into());
                Ok(value.into())
            }
            CommandAnswer::Patched(text) => Ok(text.into()),
            CommandAnswer::Refused(text) => Err(text),
        }
    }
}

pub struct Commands {
    manager: ExecManager,
    context: ToolContext,
    policy: SandboxPolicy,
    /// The exec policy's rules.
    rules: Arc<Policy>,
    launcher: PathBuf,
    /// Set at shutdown: the events of commands killed then are not reported.
    closed: Arc<AtomicBool>,
    /// The engine's event channel, for [`FLUSH`] marks.
    events: UnboundedSender<ExecEvent>,
    /// Told when a [`FLUSH`] mark has gone through: every event sent before it has been reported.
    flushed: Arc<Notify>,
    /// Where items are reported.
    items: EventSink,
    /// Commands shown as items before they started (while their approval was asked): call id -> item id. Their
    /// start is not shown again.
    announced: Arc<Mutex<HashMap<String, String>>>,
}

/// The environment of a thread's commands: the shell environment policy's, with upstream's and the session's
/// variables and the sandbox's.
fn command_env(config: &Config, policy: &SandboxPolicy, thread_id: &str, version: &str) -> HashMap<String, String> {
    let vars = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    let mut env = shell_env::command_env(vars, &config.shell_environment_policy, thread_id);
    env.extend(rcodex_exec::EXEC_ENV_OVERRIDES.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let session_vars = [
        ("CODEX_APPLY_PATCH_PRESERVE_LINE_ENDINGS", "1"),
        ("CODEX_HOME", &config.codex_home.display().to_string()),
        ("CODEX_SESSION_ID", thread_id),
        ("CODEX_VERSION", version),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    env.extend(session_vars);
    env.extend(policy.command_env().into_iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// The call id of a mark sent through the event channel behind the engine's events.
const FLUSH: &str = "\0flush";

impl Commands {
    /// Commands of thread `thread_id` of rcodex aligned with upstream `version`.
    pub fn new(config: &Config, thread_id: &str, version: &str, launcher: PathBuf, events: EventSink) -> Commands {
        let policy = config.sandbox_policy();
        let env = command_env(config, &policy, thread_id, version);
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let closed = Arc::new(AtomicBool::new(false));
        let flushed = Arc::new(Notify::new());
        let announced = Arc::new(Mutex::new(HashMap::new()));
        tokio::spawn(forward_events(receiver, events.clone(), closed.clone(), flushed.clone(), announced.clone()));
        Commands {
            manager: ExecManager::with_events(sender.clone()).stream_output(),
            context: ToolContext::new(config.cwd.clone(), env),
            policy,
            rules: config.exec_policy.clone(),
            launcher,
            closed,
            events: sender,
            flushed,
            items: events,
            announced,
        }
    }

    /// Runs later commands with `config`'s working directory and sandbox (a turn changed them); the commands
    /// already running go on as they started.
    pub fn reconfigure(&mut self, config: &Config, thread_id: &str, version: &str) {
        self.policy = config.sandbox_policy();
        self.rules = config.exec_policy.clone();
        self.context = ToolContext::new(config.cwd.clone(), command_env(config, &self.policy, thread_id, version));
    }

    /// Runs an `exec_command` call; returns the text for the model. A command that only feeds a patch to
    /// `apply_patch` has `patcher` apply it instead of running.
    pub async fn exec_command(&self, call: &ToolCall, approvals: &Approvals, patcher: &Patcher) -> CommandAnswer {
        let mut prepared = match prepare_exec_command(&call.payload, &self.context, &call.call_id) {
            Ok(prepared) => prepared,
            Err(error) => return CommandAnswer::Refused(error.0),
        };
        let approval = approvals.policy();
        if requests_more_permissions(&prepared.args) {
            // Nobody can approve in exec: upstream refuses unless the policy lets the model ask.
            if approval != ApprovalPolicy::OnRequest {
                let policy = approval_debug_name(approval);
                return CommandAnswer::Refused(format!(
                    "approval policy is {policy}; reject command — you cannot ask for escalated permissions if the approval policy is {policy}"
                ));
            }
            if requests_additional_permissions(&prepared.args) {
                return CommandAnswer::Refused(ADDITIONAL_PERMISSIONS_DISABLED.to_string());
            }
        }
        match rcodex_apply_patch::shell_patch(&prepared.request.argv) {
            Some(ShellPatch::Bare) => return CommandAnswer::Refused(rcodex_apply_patch::BARE_PATCH_ERROR.to_string()),
            Some(ShellPatch::Heredoc { patch, workdir }) => {
                let cwd = prepared.request.cwd.join(workdir.unwrap_or_default());
                let output = patcher.apply_asking(&patch, &cwd, &call.call_id, approvals).await;
                // A patch that reached the files reads as a command's output; a refused one as the refusal alone.
                return if output.reached_files {
                    CommandAnswer::Patched(rcodex_exec::output_without_process(
                        &output.text,
                        prepared.request.max_output_tokens,
                    ))
                } else {
                    CommandAnswer::Refused(output.text)
                };
            }
            None => {}
        }
        // Escalated and approved (or allowed by a rule approved earlier), a command runs outside the sandbox. Under
        // `untrusted` every other command asks too (app-approvals-untrusted: `ls` as well as `touch`), and approved,
        // runs outside it as well (app-approvals-untrusted-read-only: `touch` writes under read-only).
        let mut sandboxed = !self.policy.is_unrestricted();
        let escalated = sandboxed && prepared.args.sandbox_permissions == Some(SandboxPermissions::RequireEscalated);
        // The exec policy's rules first: a rule that matches decides (exec_policy.rs); else the usual way.
        let situation = Situation { approval, restricted: sandboxed, escalated };
        let mut rule_reason = None;
        let mut proposal = Proposal::Usual;
        let mut allowed_by_rules = false;
        match self.rules.judge(&prepared.request.argv, &prepared.request.command, situation) {
            Verdict::Unmatched => {}
            Verdict::Forbidden(text) => return CommandAnswer::Refused(text),
            Verdict::Allowed { outside_sandbox } => {
                allowed_by_rules = true;
                sandboxed &= !outside_sandbox;
            }
            Verdict::Prompt { reason } => {
                rule_reason = Some(reason);
                proposal = Proposal::None;
            }
            Verdict::Ask { proposed } => proposal = Proposal::Rule(proposed),
        }
        // Asked by the policy (a rule, or a dangerous command), the command runs as it would have once approved.
        let asked_by_policy = proposal != Proposal::Usual;
        if allowed_by_rules {
            // Nothing to ask.
        } else if (sandboxed || asked_by_policy)
            && rule_reason.is_none()
            && approvals.allowed_by_rule(&prepared.request.argv)
        {
            // A rule approved earlier in the session (a dangerous command too: the rule then allows it).
            sandboxed = false;
        } else if asked_by_policy || escalated || approval == ApprovalPolicy::Untrusted {
            let request = &prepared.request;
            let asked = CommandApproval {
                call_id: &call.call_id,
                argv: &request.argv,
                command: &request.command,
                cwd: &request.cwd,
                tty: request.tty,
                justification: rule_reason.clone().or_else(|| prepared.args.justification.clone()),
                prefix_rule: prepared.args.prefix_rule.clone(),
                proposal: proposal.clone(),
            };
            let mut shown = None;
            let decision = approvals
                .decide_command(&asked, || shown = Some(self.announce(&call.call_id, &request.command, &request.cwd)))
                .await;
            match decision {
                // Approved, a command a rule sent for approval runs as it would have: in the sandbox unless it asked
                // to leave it (app-exec-policy).
                decision if decision.approves() => sandboxed &= asked_by_policy && !escalated,
                ApprovalDecision::Cancel => {
                    self.declined(shown, &call.call_id, &request.command, &request.cwd);
                    // The turn ends as interrupted; this call is answered as an interrupted one.
                    approvals.asker.cancel_turn();
                    std::future::pending::<()>().await;
                }
                _ => {
                    self.declined(shown, &call.call_id, &request.command, &request.cwd);
                    return CommandAnswer::Refused(COMMAND_DECLINED.to_string());
                }
            }
        }
        let request = &mut prepared.request;
        request.env.insert("CODEX_TOOL_CALL_ID".into(), call.call_id.clone());
        if sandboxed {
            let argv: Vec<std::ffi::OsString> = request.argv.iter().map(Into::into).collect();
            let wrapped = rcodex_sandbox::command_argv(&self.policy, &self.context.cwd, &self.launcher, &argv);
            request.argv = wrapped.into_iter().map(|a| a.to_string_lossy().into_owned()).collect();
        }
        request.sandboxed = sandboxed;
        match self.manager.exec_command(prepared.request).await {
            Ok(output) => CommandAnswer::Ran(output),
            Err(error) => CommandAnswer::Refused(rcodex_exec::tool::ToolError::exec_command(error).0),
        }
    }

    /// Shows a command waiting for approval as a started item; returns its id, which the command's own start
    /// (once approved) does not replace.
    fn announce(&self, call_id: &str, command: &str, cwd: &Path) -> String {
        let id = self.items.item_id();
        self.announced.lock().unwrap_or_else(|p| p.into_inner()).insert(call_id.to_string(), id.clone());
        let details = waiting_command(command, cwd, Status::InProgress);
        self.items.emit(Event::ItemStarted { item: Item::new(id.clone(), details).with_source(call_id) });
        id
    }

    /// Completes a command the person declined (or cancelled), shown by [`Self::announce`].
    fn declined(&self, shown: Option<String>, call_id: &str, command: &str, cwd: &Path) {
        self.announced.lock().unwrap_or_else(|p| p.into_inner()).remove(call_id);
        if let Some(id) = shown {
            let details = waiting_command(command, cwd, Status::Declined);
            self.items.emit(Event::ItemCompleted { item: Item::new(id, details).with_source(call_id) });
        }
    }

    /// Runs a `write_stdin` call.
    pub async fn write_stdin(&self, arguments: &str) -> CommandAnswer {
        match rcodex_exec::tool::write_stdin(&self.manager, arguments, &self.context).await {
            Ok(output) => CommandAnswer::Ran(output),
            Err(error) => CommandAnswer::Refused(error.0),
        }
    }

    /// Reports the events of commands that ended, then kills those still running, whose ends are not reported: the
    /// turn they belonged to is over.
    pub async fn shutdown(&self) {
        let flushed = self.flushed.notified();
        let mark = ExecEvent {
            call_id: FLUSH.into(),
            item: rcodex_exec::CommandExecution {
                command: String::new(),
                aggregated_output: String::new(),
                exit_code: None,
                status: CommandStatus::Completed,
            },
            cwd: PathBuf::new(),
            process_id: 0,
            duration: None,
            output_delta: None,
        };
        if self.events.send(mark).is_ok() {
            flushed.await;
        }
        self.closed.store(true, Ordering::Release);
        self.manager.terminate_all().await;
    }
}

/// A command that has not started: waiting for approval, or declined.
fn waiting_command(command: &str, cwd: &Path, status: Status) -> ItemDetails {
    ItemDetails::CommandExecution {
        command: command.to_string(),
        aggregated_output: String::new(),
        exit_code: None,
        status,
        run: CommandRun { cwd: Some(cwd.to_path_buf()), process_id: None, duration_ms: None },
    }
}

/// Whether a call asks for more than the sandbox gives: escalation, or additional permissions.
fn requests_more_permissions(args: &ExecCommandArgs) -> bool {
    matches!(
        args.sandbox_permissions,
        Some(SandboxPermissions::RequireEscalated | SandboxPermissions::WithAdditionalPermissions)
    ) || args.additional_permissions.as_ref().is_some_and(|p| !p.is_null())
}

/// Whether a call asks for permissions beyond escalation, which upstream's default features do not offer.
fn requests_additional_permissions(args: &ExecCommandArgs) -> bool {
    args.sandbox_permissions == Some(SandboxPermissions::WithAdditionalPermissions)
        || args.additional_permissions.as_ref().is_some_and(|p| !p.is_null())
}

/// The policy as upstream names it in its refusal (the Rust name of its variant).
fn approval_debug_name(approval: ApprovalPolicy) -> &'static str {
    match approval {
        ApprovalPolicy::Untrusted => "UnlessTrusted",
        ApprovalPolicy::OnFailure => "OnFailure",
        ApprovalPolicy::OnRequest => "OnRequest",
        ApprovalPolicy::Never => "Never",
    }
}

/// Turns the engine's command events into `command_execution` items, numbered as they start.
async fn forward_events(
    mut receiver: tokio::sync::mpsc::UnboundedReceiver<ExecEvent>,
    events: EventSink,
    closed: Arc<AtomicBool>,
    flushed: Arc<Notify>,
    announced: Arc<Mutex<HashMap<String, String>>>,
) {
    let mut ids: HashMap<String, String> = HashMap::new();
    while let Some(event) = receiver.recv().await {
        if event.call_id == FLUSH {
            flushed.notify_one();
            continue;
        }
        if closed.load(Ordering::Acquire) {
            continue;
        }
        if let Some(delta) = event.output_delta {
            events.emit(Event::CommandOutputDelta { call_id: event.call_id, delta });
            continue;
        }
        let status = match event.item.status {
            CommandStatus::InProgress => Status::InProgress,
            CommandStatus::Completed => Status::Completed,
            CommandStatus::Failed => Status::Failed,
        };
        let details = ItemDetails::CommandExecution {
            command: event.item.command,
            aggregated_output: event.item.aggregated_output,
            exit_code: event.item.exit_code,
            status,
            run: CommandRun {
                cwd: Some(event.cwd),
                process_id: Some(event.process_id),
                duration_ms: event.duration.map(|d| d.as_millis() as u64),
            },
        };
        if status == Status::InProgress {
            // A command shown while its approval was asked is the same item, already started.
            let shown = announced.lock().unwrap_or_else(|p| p.into_inner()).remove(&event.call_id);
            if let Some(id) = shown {
                ids.insert(event.call_id.clone(), id);
                continue;
            }
            let id = events.item_id();
            ids.insert(event.call_id.clone(), id.clone());
            events.emit(Event::ItemStarted { item: Item::new(id, details).with_source(event.call_id) });
        } else {
            let id = ids.remove(&event.call_id).unwrap_or_else(|| events.item_id());
            events.emit(Event::ItemCompleted { item: Item::new(id, details).with_source(event.call_id) });
        }
    }
}
