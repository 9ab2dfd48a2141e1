//! Approvals in the tools: when a command or a patch asks, what it asks, and what the decision leaves behind for the
//! rest of the session, as Codex 0.169.0 was seen doing under `approval_policy = "on-request"` (the app-server
//! scenarios app-approvals and app-patch-approval, and variations of them run by hand):
//!
//! - A command with `sandbox_permissions: "require_escalated"` asks, unless the sandbox is `danger-full-access`
//!   (it then just runs). Approved, it runs outside the sandbox. The request proposes a rule: the `prefix_rule` the
//!   model gave when it starts every command of the script, else the script's first command when the script is
//!   plain (`cd .. && git status` proposes `cd ..`), else the whole argv (`/bin/bash -lc 'echo hi > out.txt'`).
//!   The decisions offered are `accept`, `acceptWithExecpolicyAmendment` with that rule, and `cancel`, though
//!   upstream takes `decline` and `acceptForSession` all the same.
//! - A patch writing where the sandbox does not let it (outside the writable roots, anywhere in read-only) asks,
//!   with no reason and no root to grant. Approved, it is applied as it is.
//! - `acceptForSession` approves the same command (argv, directory, terminal or not) for the rest of the session,
//!   or the same files for later patches (a patch touching another file asks again); `acceptWithExecpolicyAmendment`
//!   lets every command whose plain commands all start with the rule run outside the sandbox unasked (upstream
//!   also writes the rule to `CODEX_HOME/rules`; here it lasts for the session). `decline` answers the model with
//!   [`COMMAND_DECLINED`] or [`PATCH_DECLINED`]; `cancel` ends the turn as an interrupt does.
//! - Under `approval_policy = "untrusted"` (which upstream's app server takes in `thread/start`), every command
//!   asks the same way, with no reason, before it runs (app-approvals-untrusted: `ls` as well as `touch`); approved,
//!   it runs outside the sandbox (app-approvals-untrusted-read-only: `touch` writes under read-only).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::ApprovalPolicy;
use crate::events::FileChange;
use crate::interaction::{ApprovalDecision, ApprovalKind, Approved, Asker};

/// What the model reads for a command the person declined, seen in app-approvals: upstream's error for a process
/// it could not create, wrapping its rejection.
pub(crate) const COMMAND_DECLINED: &str =
    r#"exec_command failed: CreateProcess { message: "Rejected(\"rejected by user\")" }"#;

/// What the model reads for a patch the person declined, seen answering app-patch-approval's request `decline`.
pub(crate) const PATCH_DECLINED: &str = "patch rejected by user";

/// What the model reads under `on-request` for `sandbox_permissions: "with_additional_permissions"` (or an
/// `additional_permissions` object), seen against 0.169.0 with its default features.
pub(crate) const ADDITIONAL_PERMISSIONS_DISABLED: &str = "additional permissions are disabled; enable `features.exec_permission_approvals` before using `with_additional_permissions`";

/// A session's approvals: who is asked, under which policy, and what was approved for the rest of the session.
pub(crate) struct Approvals {
    pub asker: Arc<Asker>,
    pub approved: Approved,
    policy: ApprovalPolicy,
}

/// An escalated command to decide on.
pub(crate) struct CommandApproval<'a> {
    pub call_id: &'a str,
    /// The argv it runs (before sandbox wrapping).
    pub argv: &'a [String],
    /// The command as items show it.
    pub command: &'a str,
    pub cwd: &'a Path,
    pub tty: bool,
    pub justification: Option<String>,
    pub prefix_rule: Option<Vec<String>>,
    /// The rule the request proposes.
    pub proposal: Proposal,
}

/// The rule an approval request proposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Proposal {
    /// The model's `prefix_rule` when it covers the script, else its first plain command, else its argv.
    Usual,
    /// None: a `prompt` rule of the exec policy asks (its reason is the justification), as upstream proposes none
    /// then (app-exec-policy).
    None,
    /// This one: the dangerous plain command the exec policy's heuristics ask about (app-exec-policy-dangerous).
    Rule(Vec<String>),
}

impl Approvals {
    /// `policy` is the configured one; with nobody to answer, nothing is ever asked (as under `never`).
    pub fn new(asker: Arc<Asker>, policy: ApprovalPolicy) -> Approvals {
        let policy = if asker.answered() { policy } else { ApprovalPolicy::Never };
        Approvals { asker, approved: Approved::default(), policy }
    }

    /// Follows `policy` from now on (a turn changed it); what the session approved stays approved.
    pub fn set_policy(&mut self, policy: ApprovalPolicy) {
        self.policy = if self.asker.answered() { policy } else { ApprovalPolicy::Never };
    }

    /// The policy tools follow.
    pub fn policy(&self) -> ApprovalPolicy {
        self.policy
    }

    /// Whether tools ask rather than refuse.
    pub fn asks(&self) -> bool {
        self.policy == ApprovalPolicy::OnRequest
    }

    /// Whether a rule approved in this session lets the command run outside the sandbox without asking.
    pub fn allowed_by_rule(&self, argv: &[String]) -> bool {
        self.approved.prefixes_cover(&commands_of(argv))
    }

    /// The decision on an escalated command: `accept` when the session approved it already, else asked, after
    /// `before_asking` (which shows the command as an item). What the decision approves for later is remembered.
    pub async fn decide_command(&self, c: &CommandApproval<'_>, before_asking: impl FnOnce()) -> ApprovalDecision {
        let key = command_key(c);
        if self.approved.all(std::slice::from_ref(&key)) {
            return ApprovalDecision::Accept;
        }
        before_asking();
        let proposed = match &c.proposal {
            Proposal::Usual => proposed_rule(&commands_of(c.argv), c.prefix_rule.as_deref()),
            Proposal::None => None,
            Proposal::Rule(rule) => Some(rule.clone()),
        };
        let mut available_decisions = vec![ApprovalDecision::Accept];
        if let Some(rule) = &proposed {
            available_decisions
                .push(ApprovalDecision::AcceptWithExecpolicyAmendment { execpolicy_amendment: rule.clone() });
        }
        available_decisions.push(ApprovalDecision::Cancel);
        let kind = ApprovalKind::Command {
            command: c.command.to_string(),
            argv: c.argv.to_vec(),
            cwd: c.cwd.to_path_buf(),
            reason: c.justification.clone(),
            proposed_execpolicy_amendment: proposed,
            available_decisions,
        };
        let decision = self.asker.approval(c.call_id, kind).await;
        match &decision {
            ApprovalDecision::AcceptForSession => self.approved.insert([key]),
            ApprovalDecision::AcceptWithExecpolicyAmendment { execpolicy_amendment } => {
                self.approved.add_prefix(execpolicy_amendment.clone())
            }
            _ => {}
        }
        decision
    }

    /// The decision on a patch writing where the sandbox does not let it: `accept` when the session approved every
    /// file it touches (`paths`), else asked after `before_asking`.
    pub async fn decide_patch(
        &self,
        call_id: &str,
        paths: &[PathBuf],
        changes: Vec<FileChange>,
        before_asking: impl FnOnce(),
    ) -> ApprovalDecision {
        let keys: Vec<String> = paths.iter().map(|path| patch_key(path)).collect();
        if self.approved.all(&keys) {
            return ApprovalDecision::Accept;
        }
        before_asking();
        let kind = ApprovalKind::Patch { changes, reason: None, grant_root: None };
        let decision = self.asker.approval(call_id, kind).await;
        if decision == ApprovalDecision::AcceptForSession {
            self.approved.insert(keys);
        }
        decision
    }
}

/// The commands a rule is matched against: the plain commands of the script, else the argv as one command.
fn commands_of(argv: &[String]) -> Vec<Vec<String>> {
    rcodex_exec::plain_commands(argv).unwrap_or_else(|| vec![argv.to_vec()])
}

/// The rule a request proposes: the model's prefix when it covers every command, else the first command.
fn proposed_rule(commands: &[Vec<String>], prefix_rule: Option<&[String]>) -> Option<Vec<String>> {
    match prefix_rule {
        Some(prefix) if !prefix.is_empty() && commands.iter().all(|command| command.starts_with(prefix)) => {
            Some(prefix.to_vec())
        }
        _ => commands.first().cloned(),
    }
}

fn command_key(c: &CommandApproval) -> String {
    serde_json::json!(["command", c.argv, c.cwd, c.tty]).to_string()
}

fn patch_key(path: &Path) -> String {
    serde_json::json!(["patch", path]).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(script: &str) -> Vec<String> {
        vec!["/bin/bash".into(), "-lc".into(), script.into()]
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    /// What upstream proposed in each case (seen in its requests' `proposedExecpolicyAmendment`).
    #[test]
    fn the_proposed_rule_is_upstreams() {
        let propose = |script: &str, prefix: Option<&[&str]>| {
            proposed_rule(&commands_of(&argv(script)), prefix.map(words).as_deref())
        };
        assert_eq!(propose("echo hooks configured", None), Some(words(&["echo", "hooks", "configured"])));
        assert_eq!(propose("cd .. && git status | head -1", None), Some(words(&["cd", ".."])));
        assert_eq!(propose("git log | head -n 1; echo x", None), Some(words(&["git", "log"])));
        assert_eq!(propose("echo hi > out.txt", None), Some(argv("echo hi > out.txt")));
        assert_eq!(propose("echo \"$HOME\"", None), Some(argv("echo \"$HOME\"")));
        let git = "git config --global a.b c";
        assert_eq!(propose(git, Some(&["git", "config"])), Some(words(&["git", "config"])));
        assert_eq!(propose(git, Some(&["python3"])), Some(words(&["git", "config", "--global", "a.b", "c"])));
    }
}
