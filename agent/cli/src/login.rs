//! `rcodex login --with-api-key`, `rcodex login status` and `rcodex logout`: the API key kept in
//! `CODEX_HOME/auth.json` as upstream 0.169.0's `codex login` keeps it. What each prints (on stderr, as upstream) and
//! its exit status were observed by running upstream; signing in to ChatGPT (browser, device code) is not here.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use rcodex_core::auth::{self, OpenAiAuth};

#[derive(Args)]
pub struct LoginArgs {
    #[command(subcommand)]
    action: Option<LoginAction>,
    /// Read the API key from stdin (e.g. `printenv OPENAI_API_KEY | rcodex login --with-api-key`).
    #[arg(long)]
    with_api_key: bool,
}

#[derive(Subcommand)]
enum LoginAction {
    /// Show login status.
    Status,
}

pub fn login(args: LoginArgs) -> ExitCode {
    let codex_home = match existing_codex_home() {
        Ok(home) => home,
        Err(code) => return code,
    };
    if let Some(LoginAction::Status) = args.action {
        return status(&codex_home);
    }
    if !args.with_api_key {
        eprintln!(
            "rcodex signs in with an API key only: pipe it in, e.g. `printenv OPENAI_API_KEY | rcodex login --with-api-key`"
        );
        return ExitCode::from(1);
    }
    eprintln!("Reading API key from stdin...");
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("Failed to read API key from stdin: {e}");
        return ExitCode::from(1);
    }
    // Upstream trims the whole input and keeps what is left, line breaks inside included.
    let key = text.trim();
    if key.is_empty() {
        eprintln!("No API key provided via stdin.");
        return ExitCode::from(1);
    }
    match auth::login_api_key(&codex_home, key) {
        Ok(()) => {
            eprintln!("API key saved. Authentication is checked when you send a request.");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error logging in: {e}");
            ExitCode::from(1)
        }
    }
}

/// What `auth.json` holds, as upstream words it (it looks at the file only, not at `CODEX_API_KEY`).
fn status(codex_home: &std::path::Path) -> ExitCode {
    match auth::saved(codex_home) {
        Some(OpenAiAuth::ApiKey(key)) => {
            eprintln!("API key configured - {}", auth::masked(&key));
            eprintln!("Authentication is checked when you send a request.");
            ExitCode::SUCCESS
        }
        Some(OpenAiAuth::ChatgptTokens { .. }) => {
            eprintln!("Logged in using ChatGPT");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("Not logged in");
            ExitCode::from(1)
        }
    }
}

pub fn logout() -> ExitCode {
    let codex_home = match existing_codex_home() {
        Ok(home) => home,
        Err(code) => return code,
    };
    match auth::logout(&codex_home) {
        Ok(true) => eprintln!("Successfully logged out"),
        Ok(false) => eprintln!("Not logged in"),
        Err(e) => {
            eprintln!("Error logging out: {e}");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}

/// CODEX_HOME, which must exist: upstream refuses to log in to (or out of) a home that is not there.
fn existing_codex_home() -> Result<PathBuf, ExitCode> {
    let home = rcodex_core::config::codex_home().map_err(|e| {
        eprintln!("Error loading configuration: {e}");
        ExitCode::from(1)
    })?;
    if !home.is_dir() {
        eprintln!("Error loading configuration: CODEX_HOME points to {:?}, but that path does not exist", home);
        return Err(ExitCode::from(1));
    }
    Ok(home)
}
