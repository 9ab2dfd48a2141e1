//! The `exec_command` and `write_stdin` tools as the model calls them: JSON arguments in, upstream's texts out.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::manager::{ExecError, ExecManager, ExecRequest, WriteRequest};
use crate::output::ExecOutput;
use crate::shell::{Shell, display_command, passwd_shell};
use crate::{DEFAULT_EXEC_YIELD_MS, DEFAULT_MAX_OUTPUT_TOKENS, DEFAULT_WRITE_YIELD_MS};

/// What the tools need to know of the turn.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// The turn's working directory: the default `workdir`, and what a relative one is joined to.
    pub cwd: PathBuf,
    /// The environment commands get, whole (see [`crate::EXEC_ENV_OVERRIDES`]).
    pub env: HashMap<String, String>,
    /// The shell when the model names none.
    pub user_shell: Shell,
    /// Where shells the model names are looked up (upstream: the agent's own `PATH`).
    pub search_path: Option<OsString>,
    /// The one environment id accepted in `environment_id`.
    pub environment_id: String,
    /// Whether `login: true` is allowed (config `allow_login_shell`, on by default); also the default of `login`.
    pub allow_login_shell: bool,
    /// The model's own cap on tool output, in tokens (its truncation policy: 10 000 for gpt-5.5).
    pub model_max_output_tokens: usize,
}

impl ToolContext {
    /// Upstream's defaults: the passwd entry's shell, the agent's `PATH`, environment `local`, login shells allowed,
    /// gpt-5.5's budget.
    pub fn new(cwd: impl Into<PathBuf>, env: HashMap<String, String>) -> ToolContext {
        let search_path = std::env::var_os("PATH");
        ToolContext {
            cwd: cwd.into(),
            env,
            user_shell: Shell::user_default(passwd_shell().as_deref(), search_path.as_deref()),
            search_path,
            environment_id: "local".to_string(),
            allow_login_shell: true,
            model_max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
        }
    }

    fn output_budget(&self, requested: Option<usize>) -> usize {
        requested.unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS).min(self.model_max_output_tokens)
    }
}

/// A tool call's failure, as the text the model gets in place of output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ToolError(pub String);

impl ToolError {
    /// The text of an `exec_command` that never reached a process.
    pub fn exec_command(err: ExecError) -> ToolError {
        // Upstream prints the Debug form of its own error, in which a spawn failure's message is nested twice.
        let detail = match err {
            ExecError::UnknownSession(id) => format!("UnknownProcessId {{ process_id: {id} }}"),
            other => format!("CreateProcess {{ message: {:?} }}", format!("Rejected({:?})", other.to_string())),
        };
        ToolError(format!("exec_command failed: {detail}"))
    }
}

/// How upstream permissions a command; parsed for its error texts, acted on by the agent core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxPermissions {
    UseDefault,
    RequireEscalated,
    WithAdditionalPermissions,
}

/// Where the command runs: read before the other arguments, as upstream does (its errors come first).
#[derive(Debug, Deserialize)]
struct EnvironmentArgs {
    #[serde(default)]
    environment_id: Option<String>,
    #[serde(default)]
    workdir: Option<String>,
}

/// `exec_command`'s arguments. Field names, order and types are upstream's: serde's error texts depend on them.
#[derive(Debug, Clone, Deserialize)]
pub struct ExecCommandArgs {
    pub cmd: String,
    #[serde(default)]
    pub shell: Option<String>,
    #[serde(default)]
    pub login: Option<bool>,
    #[serde(default)]
    pub tty: bool,
    #[serde(default = "default_exec_yield_ms")]
    pub yield_time_ms: u64,
    #[serde(default)]
    pub max_output_tokens: Option<usize>,
    #[serde(default)]
    pub sandbox_permissions: Option<SandboxPermissions>,
    #[serde(default)]
    pub additional_permissions: Option<serde_json::Value>,
    #[serde(default)]
    pub justification: Option<String>,
    #[serde(default)]
    pub prefix_rule: Option<Vec<String>>,
}

/// The session a `write_stdin` is for: looked up before the other arguments are read.
#[derive(Debug, Deserialize)]
struct SessionArg {
    session_id: i32,
}

/// `write_stdin`'s arguments.
#[derive(Debug, Clone, Deserialize)]
pub struct WriteStdinArgs {
    pub session_id: i32,
    #[serde(default)]
    pub chars: String,
    #[serde(default = "default_write_yield_ms")]
    pub yield_time_ms: u64,
    #[serde(default)]
    pub max_output_tokens: Option<usize>,
}

fn default_exec_yield_ms() -> u64 {
    DEFAULT_EXEC_YIELD_MS
}

fn default_write_yield_ms() -> u64 {
    DEFAULT_WRITE_YIELD_MS
}

fn parse<T: DeserializeOwned>(arguments: &str) -> Result<T, ToolError> {
    serde_json::from_str(arguments).map_err(|err| ToolError(format!("failed to parse function arguments: {err}")))
}

/// A parsed `exec_command` call, ready to run: [`ExecManager::exec_command`] takes `request`, which the agent core
/// may first adjust (sandbox wrapping: change `argv`, keep `command`).
#[derive(Debug, Clone)]
pub struct PreparedExec {
    pub args: ExecCommandArgs,
    pub request: ExecRequest,
}

/// Reads `exec_command`'s arguments and builds the command, checking them in upstream's order with its error texts.
pub fn prepare_exec_command(arguments: &str, context: &ToolContext, call_id: &str) -> Result<PreparedExec, ToolError> {
    let environment: EnvironmentArgs = parse(arguments)?;
    if let Some(id) = environment.environment_id.filter(|id| *id != context.environment_id) {
        return Err(ToolError(format!("unknown turn environment id `{id}`")));
    }
    let cwd = match environment.workdir.as_deref() {
        None | Some("") => context.cwd.clone(),
        Some(workdir) => context.cwd.join(workdir),
    };
    let args: ExecCommandArgs = parse(arguments)?;
    if args.justification.is_some() && args.sandbox_permissions.is_none() {
        return Err(ToolError(
            "`justification` requires an explicit `sandbox_permissions`; use `sandbox_permissions: \"require_escalated\"` for unsandboxed execution, or omit `justification`."
                .to_string(),
        ));
    }
    let login = match args.login {
        Some(true) if !context.allow_login_shell => {
            return Err(ToolError("login shell is disabled by config; omit `login` or set it to false.".to_string()));
        }
        Some(login) => login,
        None => context.allow_login_shell,
    };
    let shell = match args.shell.as_deref() {
        Some(requested) => Shell::for_requested(requested, &context.user_shell, context.search_path.as_deref()),
        None => context.user_shell.clone(),
    };
    let argv = shell.argv(&args.cmd, login);
    let request = ExecRequest {
        command: display_command(&argv),
        argv,
        cwd,
        env: context.env.clone(),
        tty: args.tty,
        yield_time: Duration::from_millis(args.yield_time_ms),
        max_output_tokens: context.output_budget(args.max_output_tokens),
        call_id: call_id.to_string(),
        sandboxed: false,
    };
    Ok(PreparedExec { args, request })
}

/// The whole `exec_command` tool: on success the output (see [`ExecOutput::to_model_text`]), on failure the text the
/// model gets instead.
pub async fn exec_command(
    manager: &ExecManager,
    arguments: &str,
    context: &ToolContext,
    call_id: &str,
) -> Result<ExecOutput, ToolError> {
    let prepared = prepare_exec_command(arguments, context, call_id)?;
    manager.exec_command(prepared.request).await.map_err(ToolError::exec_command)
}

/// The whole `write_stdin` tool. Upstream looks the session up before reading the other arguments, so an unknown
/// session is reported even when they are malformed.
pub async fn write_stdin(
    manager: &ExecManager,
    arguments: &str,
    context: &ToolContext,
) -> Result<ExecOutput, ToolError> {
    let failed = |err: ExecError| ToolError(format!("write_stdin failed: {err}"));
    let SessionArg { session_id } = parse(arguments)?;
    if !manager.has_session(session_id) {
        return Err(failed(ExecError::UnknownSession(session_id)));
    }
    let args: WriteStdinArgs = parse(arguments)?;
    let request = WriteRequest {
        session_id,
        chars: args.chars,
        yield_time: Duration::from_millis(args.yield_time_ms),
        max_output_tokens: context.output_budget(args.max_output_tokens),
    };
    manager.write_stdin(request).await.map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> ToolContext {
        ToolContext::new("/work", HashMap::new())
    }

    fn error(arguments: &str) -> String {
        prepare_exec_command(arguments, &context(), "c").unwrap_err().0
    }

    #[test]
    fn parse_errors_are_serdes_behind_upstreams_prefix() {
        assert_eq!(error("{}"), "failed to parse function arguments: missing field `cmd` at line 1 column 2");
        assert_eq!(
            error(r#"{"cmd":"x","yield_time_ms":-1}"#),
            "failed to parse function arguments: invalid value: integer `-1`, expected u64 at line 1 column 29"
        );
    }

    #[test]
    fn workdir_and_environment_are_checked_first() {
        assert_eq!(
            error(r#"{"cmd":5,"workdir":5}"#),
            "failed to parse function arguments: invalid type: integer `5`, expected a string at line 1 column 20"
        );
        assert_eq!(error(r#"["echo hi"]"#), "unknown turn environment id `echo hi`");
    }

    #[test]
    fn builds_the_shell_command() {
        let mut context = context();
        context.user_shell = Shell { kind: crate::ShellKind::Bash, path: PathBuf::from("/bin/bash") };
        let prepared = prepare_exec_command(
            r#"{"cmd":"ls","workdir":"sub","login":false,"max_output_tokens":20000}"#,
            &context,
            "c",
        )
        .unwrap();
        assert_eq!(prepared.request.argv, ["/bin/bash", "-c", "ls"]);
        assert_eq!(prepared.request.command, "/bin/bash -c ls");
        assert_eq!(prepared.request.cwd, PathBuf::from("/work/sub"));
        assert_eq!(prepared.request.yield_time, Duration::from_secs(10));
        assert_eq!(prepared.request.max_output_tokens, 10_000, "capped by the model's budget");
    }

    #[test]
    fn login_shells_can_be_disabled() {
        let mut context = context();
        context.allow_login_shell = false;
        let prepared = prepare_exec_command(r#"{"cmd":"ls"}"#, &context, "c").unwrap();
        assert_eq!(prepared.request.argv[1], "-c");
        let err = prepare_exec_command(r#"{"cmd":"ls","login":true}"#, &context, "c").unwrap_err();
        assert_eq!(err.0, "login shell is disabled by config; omit `login` or set it to false.");
    }
}
