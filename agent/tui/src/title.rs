//! The thread-title request upstream's interface makes for every message the user sends: a new, ephemeral session
//! in read-only with the recipe, prompt and schema the pack learned from the interface's recordings
//! (`keys::TUI_TITLE_*`), whose answer rcodex does not use yet.

use rcodex_core::config::{Config, SandboxMode};
use rcodex_core::events::{EventSink, UserInput};
use rcodex_core::request::Surface;
use rcodex_core::session::SessionOptions;
use rcodex_core::thread::ThreadHandle;
use rcodex_prompt_pack::keys;

/// The thread source upstream gives its title sessions.
const THREAD_SOURCE: &str = "thread_title";

/// Asks for a title for `prompt` in the background. Does nothing when the pack has no title prompt.
pub fn request(config: &Config, sandbox_launcher: &std::path::Path, prompt: &str) {
    let pack = rcodex_prompt_pack::embedded();
    let (Some(template), Some(schema)) = (pack.text(keys::TUI_TITLE_PROMPT), pack.text(keys::TUI_TITLE_SCHEMA)) else {
        return;
    };
    let Ok(text) = rcodex_prompt_pack::render(template, &[("prompt", prompt)]) else { return };
    let Ok(schema) = serde_json::from_str(schema) else { return };
    let mut config = config.clone();
    config.sandbox_mode = SandboxMode::ReadOnly;
    config.thread_source = THREAD_SOURCE.to_string();
    // Upstream's title request offers no MCP tools (tui-mcp-approval): its session starts no servers.
    config.mcp_servers.clear();
    // Said once, by the thread itself.
    config.warnings.clear();
    config.under_development_features.clear();
    let options = SessionOptions {
        config,
        resume: None,
        ephemeral: true,
        output_schema: Some(schema),
        sandbox_launcher: sandbox_launcher.to_path_buf(),
        fork: None,
        client: None,
        surface: Surface::TuiTitle,
        interaction: Default::default(),
        spawned: None,
        child_events: None,
    };
    tokio::spawn(async move {
        let Ok((thread, task)) = ThreadHandle::spawn(options, EventSink::discard()) else { return };
        let _ = thread.run_turn(vec![UserInput::Text { text }]).await;
        thread.shutdown().await;
        let _ = task.await;
    });
}
