//! What `rcodex exec` prints. With `--json`, every event as a JSON line on stdout. Otherwise, as upstream does, a
//! transcript on stderr (colored on a terminal) and only the final message on stdout, so that it can be piped.

use std::io::Write;
use std::sync::Mutex;

use anstyle::{AnsiColor, Style};
use rcodex_core::client::Usage;
use rcodex_core::config::{Config, SandboxMode};
use rcodex_core::events::{Event, ItemDetails, Status};
use rcodex_core::session::TurnSummary;

const TITLE: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const GOOD: Style = AnsiColor::Green.on_default();
const BAD: Style = AnsiColor::Red.on_default();
const WARN: Style = AnsiColor::Yellow.on_default();
/// Upstream's styles for the transcript's parts.
const USER: Style = AnsiColor::Cyan.on_default();
const ROLE: Style = AnsiColor::Magenta.on_default().italic();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();

pub fn print_json(event: &Event) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", serde_json::to_string(event).expect("events serialize"));
    let _ = out.flush();
}

pub fn print_error(message: &str) {
    anstream::eprintln!("{}ERROR:{} {message}", BAD.render(), BAD.render_reset());
}

/// Something the user should know that does not stop the run, on stderr (never among `--json` events).
pub fn print_warning(message: &str) {
    anstream::eprintln!("{}WARNING:{} {message}", WARN.render(), WARN.render_reset());
}

/// An `error` event as upstream's transcript shows it: a reconnect notice without its reason
/// (`Reconnecting... 1/5`), which `--json` carries in full; any other error as it is.
fn error_line(message: &str) -> &str {
    match message.split_once(" (") {
        Some((notice, _)) if notice.starts_with("Reconnecting... ") => notice,
        _ => message,
    }
}

fn paint(style: Style, text: &str) -> String {
    format!("{}{text}{}", style.render(), style.render_reset())
}

/// The human-readable transcript, as upstream 0.169.0 prints it (checked against it with colours off): the header
/// when the thread starts, each item as it comes, the token count and the final message at the end.
pub struct Human {
    summary: Vec<(&'static str, String)>,
    prompt: String,
    cwd: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    header_printed: bool,
}

impl Human {
    pub fn new(config: &Config, prompt: &str) -> Human {
        let summary = vec![
            ("workdir", config.cwd.display().to_string()),
            ("model", config.model.clone()),
            ("provider", config.model_provider_id.clone()),
            ("approval", config.approval_policy.as_str().to_string()),
            ("sandbox", sandbox_summary(config)),
            ("reasoning effort", config.model_reasoning_effort.clone().unwrap_or_else(|| "none".into())),
            ("reasoning summaries", config.model_reasoning_summary.clone().unwrap_or_else(|| "none".into())),
        ];
        Human {
            summary,
            prompt: prompt.to_string(),
            cwd: config.cwd.display().to_string(),
            state: Mutex::new(State::default()),
        }
    }

    /// The header: printed when the thread starts, before anything the thread tells, once.
    pub fn header(&self, thread_id: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.print_header(&mut state, thread_id);
    }

    fn print_header(&self, state: &mut State, thread_id: &str) {
        if std::mem::replace(&mut state.header_printed, true) {
            return;
        }
        anstream::eprintln!(
            "{}",
            paint(TITLE, &format!("rcodex v{} (aligned with Codex CLI)", env!("CARGO_PKG_VERSION")))
        );
        anstream::eprintln!("--------");
        for (key, value) in &self.summary {
            anstream::eprintln!("{} {value}", paint(TITLE, &format!("{key}:")));
        }
        anstream::eprintln!("{} {thread_id}", paint(TITLE, "session id:"));
        anstream::eprintln!("--------");
        anstream::eprintln!("{}\n{}", paint(USER, "user"), self.prompt);
    }

    pub fn event(&self, event: &Event) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::ThreadStarted { thread_id } => self.print_header(&mut state, thread_id),
            Event::ItemStarted { item } => match &item.details {
                ItemDetails::CommandExecution { command, run, .. } => {
                    let cwd = run.cwd.as_ref().map(|c| c.display().to_string()).unwrap_or_else(|| self.cwd.clone());
                    anstream::eprintln!("{}\n{} in {cwd}", paint(ROLE, "exec"), paint(TITLE, command));
                }
                // Upstream tells a search when it starts and again when it ends.
                ItemDetails::WebSearch { query, .. } => anstream::eprintln!("web search: {query}"),
                _ => {}
            },
            Event::ItemCompleted { item } => match &item.details {
                ItemDetails::AgentMessage { text, .. } => anstream::eprintln!("{}\n{text}", paint(ROLE, "codex")),
                ItemDetails::Reasoning { text } => anstream::eprintln!("{}", paint(DIM, text)),
                ItemDetails::CommandExecution { aggregated_output, exit_code, status, run, .. } => {
                    let took = run.duration_ms.map(|ms| format!(" in {ms}ms")).unwrap_or_default();
                    let verdict = match (status, exit_code) {
                        (Status::Completed, Some(0)) => paint(GOOD, &format!(" succeeded{took}:")),
                        (_, Some(code)) => paint(BAD, &format!(" exited {code}{took}:")),
                        _ => paint(BAD, &format!(" failed{took}:")),
                    };
                    anstream::eprintln!("{verdict}");
                    // The output as it is, whole; nothing at all for none.
                    if !aggregated_output.is_empty() {
                        anstream::eprintln!("{}", paint(DIM, aggregated_output));
                    }
                }
                ItemDetails::FileChange { changes, status } => {
                    anstream::eprintln!("{}", paint(ROLE, "apply patch"));
                    let verdict = format!("patch: {}", status_word(*status));
                    anstream::eprintln!("{}", paint(if *status == Status::Completed { GOOD } else { BAD }, &verdict));
                    for change in changes {
                        anstream::eprintln!("{}", change.path);
                    }
                }
                ItemDetails::TodoList { items } => {
                    anstream::eprintln!("{}", paint(ROLE, "plan"));
                    for todo in items {
                        anstream::eprintln!("  [{}] {}", if todo.completed { "x" } else { " " }, todo.text);
                    }
                }
                ItemDetails::WebSearch { query, .. } => anstream::eprintln!("web search: {query}"),
                ItemDetails::Error { message } => anstream::eprintln!("{} {message}", paint(WARNING, "warning:")),
                ItemDetails::CollabToolCall { tool, receiver_thread_ids, status, .. } => {
                    let agents = receiver_thread_ids.join(", ");
                    let verdict = paint(if *status == Status::Completed { GOOD } else { BAD }, status_word(*status));
                    anstream::eprintln!("{} {tool} {agents}: {verdict}", paint(ROLE, "agents"));
                }
                ItemDetails::McpToolCall { server, tool, status, error, .. } => {
                    anstream::eprintln!("{} {server}.{tool}", paint(ROLE, "tool"));
                    match error {
                        Some(error) => anstream::eprintln!("{}", paint(BAD, &format!(" failed: {}", error.message))),
                        None => {
                            let colour = if *status == Status::Completed { GOOD } else { BAD };
                            anstream::eprintln!("{}", paint(colour, &format!(" {}", status_word(*status))));
                        }
                    }
                }
            },
            Event::Error { message, .. } => anstream::eprintln!("{} {}", paint(BAD, "ERROR:"), error_line(message)),
            Event::TurnFailed { error, .. } => anstream::eprintln!("{} {}", paint(BAD, "ERROR:"), error.message),
            _ => {}
        }
    }

    /// The token count on stderr, the final message alone on stdout.
    pub fn finish(&self, summary: &TurnSummary) {
        let _state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        anstream::eprintln!("{}\n{}", paint(ROLE, "tokens used"), with_separators(blended_total(&summary.usage)));
        if let Some(message) = &summary.last_message {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{message}");
        }
    }
}

/// The thread's tokens as upstream counts them for "tokens used": the input not read from the cache, and the output.
fn blended_total(usage: &Usage) -> u64 {
    usage.input_tokens.saturating_sub(usage.cached_input_tokens).saturating_add(usage.output_tokens)
}

/// `1230` as `1,230`.
fn with_separators(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::InProgress => "in progress",
        Status::Completed => "completed",
        Status::Failed => "failed",
        Status::Declined => "declined",
    }
}

/// The sandbox as upstream's header tells it: `workspace-write` with what commands may write (`workdir`, `/tmp`,
/// `$TMPDIR`, then the added directories and the configured roots) and whether they have the network.
fn sandbox_summary(config: &Config) -> String {
    let options = &config.sandbox_workspace_write;
    match config.sandbox_mode {
        SandboxMode::WorkspaceWrite => {
            let mut roots = vec!["workdir".to_string()];
            if !options.exclude_slash_tmp {
                roots.push("/tmp".into());
            }
            if !options.exclude_tmpdir_env_var {
                roots.push("$TMPDIR".into());
            }
            roots.extend(config.workspace_roots().iter().skip(1).map(|root| root.display().to_string()));
            let network = if options.network_access { " (network access enabled)" } else { "" };
            format!("workspace-write [{}]{network}", roots.join(", "))
        }
        mode => mode.as_str().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_used_is_upstream_s_blended_total_with_separators() {
        // Upstream 0.169.0 printed `1,230` for a turn of 1200 input and 30 output tokens, and `15,713` for a thread
        // of 15 945 input (1 000 of them cached) and 768 output.
        let usage = |input, cached, output| Usage {
            input_tokens: input,
            cached_input_tokens: cached,
            output_tokens: output,
            ..Default::default()
        };
        assert_eq!(with_separators(blended_total(&usage(1200, 0, 30))), "1,230");
        assert_eq!(with_separators(blended_total(&usage(15_945, 1000, 768))), "15,713");
        for (n, shown) in [(0, "0"), (999, "999"), (1000, "1,000"), (123_456_789, "123,456,789")] {
            assert_eq!(with_separators(n), shown);
        }
    }

    #[test]
    fn the_transcript_shows_a_reconnect_without_its_reason_as_upstream() {
        let cut = "stream disconnected before completion: Transport error: network error: error decoding response body";
        assert_eq!(error_line(&format!("Reconnecting... 1/5 ({cut})")), "Reconnecting... 1/5");
        assert_eq!(error_line(cut), cut, "the final failure in full");
    }
}
