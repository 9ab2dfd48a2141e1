//! The README's picture of an rcodex session: rcodex's interactive interface in a 100x34 pseudo-terminal against a
//! scripted parity server (a prompt, the model's reasoning summary, a patch, its answer), the screen read by the
//! terminal emulator and written as SVG.
//!
//!     cargo build --release -p rcodex
//!     cargo run --release -p parity-cli --example tui_screenshot -- docs/images/rcodex-tui.svg
//!
//! `PARITY_RCODEX_BIN` names another rcodex (or upstream's `codex`, to picture it the same way).

use std::time::Duration;

use parity_recorder::isolate::IsolatedAgent;
use parity_recorder::terminal::Terminal;
use parity_server::{Match, ParityServer, Step};
use tokio::time::Instant;

const PROMPT: &str = "Tidy up the project: a usage page, a clearer README, and drop obsolete.txt.";
const PATCH: &str = "*** Begin Patch
*** Add File: docs/usage.md
+# Usage
+
+Run `demo --help` for the options.
*** Update File: README.md
@@
 # Demo
 
-A demo project.
+A demo project, tidied: see docs/usage.md.
 It does little.
*** Delete File: obsolete.txt
*** End Patch
";

#[tokio::main]
async fn main() -> Result<(), String> {
    let out = std::env::args().nth(1).ok_or("usage: tui_screenshot OUT.svg")?;
    let bin = std::env::var("PARITY_RCODEX_BIN").unwrap_or_else(|_| {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        format!("{root}/target/release/rcodex")
    });
    let title = Match { last_input_contains: Some("Generate a concise".into()), ..Match::default() };
    let server = ParityServer::scripted(vec![
        Step::message("Tidy the project files").matching(title).repeat(),
        Step::reasoning("**Planning the tidy-up**\n\nOne patch: add the usage page, point the README at it, drop the obsolete file.")
            .then_custom_tool_call("apply_patch", PATCH),
        Step::message("Done: `docs/usage.md` is new, the README points to it, and `obsolete.txt` is gone."),
    ])
    .start()
    .await
    .map_err(|e| format!("the scripted server: {e}"))?;
    let agent = IsolatedAgent::builder(&server.base_url())
        .interactive(true)
        .git(true)
        .file("README.md", "# Demo\n\nA demo project.\nIt does little.\n")
        .file("obsolete.txt", "old\n")
        .create()
        .map_err(|e| format!("the isolated home: {e}"))?;
    let mut env = agent.env();
    env.push(("TERM".into(), parity_recorder::frontend::tui::TERM.into()));
    let mut terminal = Terminal::spawn(&bin, &["--no-daemon".into()], env, agent.workspace(), 100, 34)
        .map_err(|e| format!("{bin}: {e}"))?;
    let result = async {
        wait_for(&mut terminal, "Ask Codex to do anything").await?;
        terminal.write(PROMPT.as_bytes()).map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_millis(150)).await;
        terminal.write(b"\r").map_err(|e| e.to_string())?;
        wait_for(&mut terminal, "Worked for").await?;
        // The status line settles.
        let quiet = Instant::now() + Duration::from_millis(300);
        while terminal.read_until(quiet).await {}
        std::fs::write(&out, terminal.screen_svg()).map_err(|e| format!("{out}: {e}"))
    }
    .await;
    if let Some(pid) = terminal.pid {
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
    result?;
    println!("wrote {out}");
    Ok(())
}

async fn wait_for(terminal: &mut Terminal, text: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !terminal.screen_text().contains(text) {
        if Instant::now() >= deadline || (!terminal.read_until(deadline).await && terminal.eof) {
            return Err(format!("{text:?} did not show within 20 s:\n{}", terminal.screen_text()));
        }
    }
    Ok(())
}
