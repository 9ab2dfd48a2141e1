//! What `rcodex exec` prints. With `--json`, every event as a JSON line on stdout. Otherwise, as upstream does, a
//! transcript on stderr (colored on a terminal) and only the final message on stdout, so that it can be piped.

use std::io::Write;
use std::sync::Mutex;

use anstyle::{AnsiColor, Style};
use rcodex_core::config::Config;
use rcodex_core::events::{Event, ItemDetails, Status};
use rcodex_core::session::TurnSummary;

const TITLE: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const GOOD: Style = AnsiColor::Green.on_default();
const BAD: Style = AnsiColor::Red.on_default();
const WARN: Style = AnsiColor::Yellow.on_default();
const ROLE: Style = AnsiColor::Magenta.on_default().bold();

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

/// The human-readable transcript.
pub struct Human {
    summary: Vec<(&'static str, String)>,
    prompt: String,
    cwd: String,
    lock: Mutex<()>,
}

impl Human {
    pub fn new(config: &Config, prompt: &str) -> Human {
        let summary = vec![
            ("workdir", config.cwd.display().to_string()),
            ("model", config.model.clone()),
            ("provider", config.model_provider_id.clone()),
            ("approval", config.approval_policy.as_str().to_string()),
            ("sandbox", config.sandbox_mode.as_str().to_string()),
            ("reasoning effort", config.model_reasoning_effort.clone().unwrap_or_else(|| "none".into())),
            ("reasoning summaries", config.model_reasoning_summary.clone().unwrap_or_else(|| "none".into())),
        ];
        Human { summary, prompt: prompt.to_string(), cwd: config.cwd.display().to_string(), lock: Mutex::new(()) }
    }

    pub fn header(&self, thread_id: &str) {
        let _guard = self.lock.lock();
        anstream::eprintln!(
            "{}",
            paint(TITLE, &format!("rcodex v{} (aligned with Codex CLI)", env!("CARGO_PKG_VERSION")))
        );
        anstream::eprintln!("--------");
        for (key, value) in &self.summary {
            anstream::eprintln!("{}: {value}", paint(TITLE, key));
        }
        anstream::eprintln!("{}: {thread_id}", paint(TITLE, "session id"));
        anstream::eprintln!("--------");
        anstream::eprintln!("{}\n{}", paint(ROLE, "user"), self.prompt);
    }

    pub fn event(&self, event: &Event) {
        let _guard = self.lock.lock();
        match event {
            Event::ItemStarted { item } => {
                if let ItemDetails::CommandExecution { command, .. } = &item.details {
                    anstream::eprintln!("{}\n{} in {}", paint(ROLE, "exec"), paint(TITLE, command), self.cwd);
                }
            }
            Event::ItemCompleted { item } => match &item.details {
                ItemDetails::AgentMessage { text } => anstream::eprintln!("{}\n{text}", paint(ROLE, "codex")),
                ItemDetails::Reasoning { text } => anstream::eprintln!("{}", paint(DIM, text)),
                ItemDetails::CommandExecution { aggregated_output, exit_code, status, .. } => {
                    let verdict = match (status, exit_code) {
                        (Status::Completed, Some(0)) => paint(GOOD, " succeeded:"),
                        (_, Some(code)) => paint(BAD, &format!(" exited {code}:")),
                        _ => paint(BAD, " failed:"),
                    };
                    anstream::eprintln!("{verdict}\n{}", paint(DIM, aggregated_output.trim_end()));
                }
                ItemDetails::FileChange { changes, status } => {
                    let verdict = if *status == Status::Completed {
                        paint(GOOD, "apply_patch")
                    } else {
                        paint(BAD, "apply_patch failed")
                    };
                    anstream::eprintln!("{verdict}");
                    for change in changes {
                        anstream::eprintln!("  {} {}", change.kind, change.path);
                    }
                }
                ItemDetails::TodoList { items } => {
                    anstream::eprintln!("{}", paint(ROLE, "plan"));
                    for todo in items {
                        anstream::eprintln!("  [{}] {}", if todo.completed { "x" } else { " " }, todo.text);
                    }
                }
                ItemDetails::WebSearch { query, .. } => {
                    anstream::eprintln!("{} {}", paint(ROLE, "web search:"), query)
                }
                ItemDetails::Error { message } => anstream::eprintln!("{} {message}", paint(BAD, "warning:")),
            },
            Event::Error { message } => anstream::eprintln!("{} {}", paint(BAD, "ERROR:"), error_line(message)),
            Event::TurnFailed { error, .. } => anstream::eprintln!("{} {}", paint(BAD, "ERROR:"), error.message),
            _ => {}
        }
    }

    /// The token count on stderr, the final message alone on stdout.
    pub fn finish(&self, summary: &TurnSummary) {
        let _guard = self.lock.lock();
        anstream::eprintln!(
            "{}\n{}",
            paint(TITLE, "tokens used"),
            summary.usage.input_tokens + summary.usage.output_tokens
        );
        if let Some(message) = &summary.last_message {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::error_line;

    #[test]
    fn the_transcript_shows_a_reconnect_without_its_reason_as_upstream() {
        let cut = "stream disconnected before completion: Transport error: network error: error decoding response body";
        assert_eq!(error_line(&format!("Reconnecting... 1/5 ({cut})")), "Reconnecting... 1/5");
        assert_eq!(error_line(cut), cut, "the final failure in full");
    }
}
