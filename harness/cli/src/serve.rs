//! `parity serve`

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use parity_capture::{Capture, Outcome, Recording};
use parity_server::script::Syntax;
use parity_server::{DEFAULT_MAX_BODY_BYTES, Pace, ParityServer, ProxyConfig, Script, ServerBuilder};

use crate::style::{self, paint};

/// The script served when no source is given.
const EXAMPLE_SCRIPT: &str = include_str!("../../../fixtures/scripts/example.toml");

#[derive(Args)]
#[command(group = clap::ArgGroup::new("source").multiple(false))]
pub struct ServeArgs {
    /// Answer from a script (JSON or TOML). Without --script, --proxy or --replay, a bundled example script.
    #[arg(long, value_name = "FILE", group = "source")]
    script: Option<PathBuf>,
    /// Forward to a real Responses endpoint, given by its base URL (e.g. https://api.openai.com/v1), recording both
    /// sides.
    #[arg(long, value_name = "URL", group = "source")]
    proxy: Option<String>,
    /// Answer from an earlier recording (a directory of captures).
    #[arg(long, value_name = "DIR", group = "source")]
    replay: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// Write every exchange under this directory (it must not already hold captures, unless --clean).
    #[arg(long, value_name = "DIR")]
    captures: Option<PathBuf>,
    /// Remove captures an earlier run left in the captures directory.
    #[arg(long, requires = "captures")]
    clean: bool,
    /// Proxy mode: send the origin this environment variable's value as the bearer credential, instead of the
    /// agent's own (so the agent can hold a dummy key).
    #[arg(long, value_name = "VAR", requires = "proxy")]
    origin_key_env: Option<String>,
    /// Replay mode: send events as fast as possible, or with the recorded gaps.
    #[arg(long, value_enum, default_value = "fast", requires = "replay")]
    pace: PaceArg,
    /// Refuse request bodies larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Also redact headers and query parameters of this name (repeatable), on top of the built-in rules: any name
    /// with a word such as key, auth, token, secret or password in it.
    #[arg(long, value_name = "NAME")]
    redact: Vec<String>,
    /// Redact every match of this regular expression in request bodies before they are kept (repeatable). Bodies
    /// are otherwise kept as sent; one that looks like it holds a credential (an API key, a token, a private key)
    /// is warned of on stderr.
    #[arg(long, value_name = "PATTERN")]
    redact_body: Vec<String>,
    /// Scripted mode: inject a fault drawn from SEED into a fraction RATE (0.2 when absent) of the model requests: an
    /// HTTP 429/500/503 with or without Retry-After, response.failed, a cut before any event or mid-stream, a stall,
    /// a malformed event or a slow trickle. Each is recorded in its capture (`chaos`); the same seed gives the same
    /// faults to the same requests. Overrides the script's own `chaos`.
    #[arg(long, value_name = "SEED[:RATE]", value_parser = parity_server::chaos::Chaos::parse, conflicts_with_all = ["proxy", "replay"])]
    chaos: Option<parity_server::chaos::Chaos>,
    /// Print no line per exchange.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum PaceArg {
    Fast,
    Recorded,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let (builder, description) = source(&args)?;
    let mut builder =
        builder.listen(args.listen).max_body_bytes(args.max_body_bytes).redact_names(args.redact.iter().cloned());
    builder = builder.redact_body(args.redact_body.iter().cloned());
    if let Some(chaos) = args.chaos {
        builder = builder.chaos(chaos);
    }
    if let Some(dir) = &args.captures {
        // Captures go to disk; memory stays small however long the server runs.
        builder = builder.captures_dir(dir).clean(args.clean).keep_in_memory(false);
    }
    if !args.quiet {
        builder = builder.on_finish(print_exchange);
    }
    let server = builder.start().await?;

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", server.url())?;
    stdout.flush()?;
    drop(stdout);
    let captures = match &args.captures {
        Some(dir) => format!("captures go to {}", dir.display()),
        None => "captures are kept in memory only (pass --captures DIR to write them)".to_string(),
    };
    anstream::eprintln!("{} {description}; {captures}", paint(style::BOLD, "parity:"));
    anstream::eprintln!(
        "{} point an agent's model provider at base_url = \"{}\"; control API: {}/_parity/health",
        paint(style::DIM, "       "),
        server.base_url(),
        server.url()
    );

    shutdown_signal().await;
    let open = server.summaries().iter().filter(|s| s.outcome == Outcome::Pending).count();
    anstream::eprintln!("{} stopping ({open} exchange(s) still open)", paint(style::BOLD, "parity:"));
    let (errors, last) = server.capture_write_errors();
    server.shutdown(Duration::from_secs(5)).await;
    if errors > 0 {
        bail!("{errors} capture(s) could not be written; the last error: {}", last.unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

/// The builder for the chosen source, and words saying what it is.
fn source(args: &ServeArgs) -> anyhow::Result<(ServerBuilder, String)> {
    if let Some(url) = &args.proxy {
        let credential = match &args.origin_key_env {
            Some(var) => Some(
                std::env::var(var)
                    .with_context(|| format!("--origin-key-env {var}: the environment variable {var} is not set"))?,
            ),
            None => None,
        };
        let note = if credential.is_some() { " with the origin key from the environment" } else { "" };
        let config = ProxyConfig { origin: url.clone(), credential };
        let shown = parity_capture::redact::redact_url(url);
        return Ok((ParityServer::proxy(config), format!("proxy mode to {shown}{note}")));
    }
    if let Some(dir) = &args.replay {
        let recording = Recording::load(dir)?;
        let description = format!(
            "replay mode, {} request(s) in {} session(s) from {}",
            recording.len(),
            recording.sessions.len(),
            dir.display()
        );
        let pace = match args.pace {
            PaceArg::Fast => Pace::Fast,
            PaceArg::Recorded => Pace::Recorded,
        };
        return Ok((ParityServer::replay(recording).pace(pace), description));
    }
    let (script, origin) = match &args.script {
        Some(path) => (Script::load(path)?, path.display().to_string()),
        None => (Script::parse(EXAMPLE_SCRIPT, Syntax::Toml, "bundled example")?, "the bundled example".to_string()),
    };
    if script.is_empty() {
        anstream::eprintln!(
            "{} {origin} has no steps: every request will be answered with the past-the-end 400",
            paint(style::WARN, "parity: warning:")
        );
    }
    let mut description = format!("scripted mode, {} step(s) from {origin}", script.steps.len());
    if let Some(chaos) = args.chaos.or(script.chaos) {
        description.push_str(&format!(", chaos seed {} at rate {}", chaos.seed, chaos.rate));
    }
    Ok((ParityServer::scripted(script), description))
}

/// One line per finished exchange: where it falls, what was asked, how it was answered.
fn print_exchange(capture: &Capture) {
    let response = &capture.response;
    let status_style = match (response.status, response.outcome) {
        (_, Outcome::Dropped | Outcome::ClientClosed | Outcome::OriginUnreachable) => style::WARN,
        (200..=299, _) => style::GOOD,
        _ => style::BAD,
    };
    let mut line = format!(
        "{} {} {} {}",
        paint(style::DIM, format!("s{:02}.{:04}", capture.session.index, capture.seq)),
        capture.request.method,
        capture.request.path,
        paint(status_style, response.status),
    );
    if let Some(ws) = &capture.websocket {
        // A refused upgrade is connection 0.
        match ws.connection {
            0 => line.push_str(" websocket upgrade"),
            n => line.push_str(&format!(" websocket {n}.{}", ws.message)),
        }
    }
    if !response.events.is_empty() {
        line.push_str(&format!(" {} events", response.events.len()));
    }
    if let Some(end) = response.end_ms {
        line.push_str(&format!(" {end:.1} ms"));
    }
    if let Some(fault) = capture.chaos.as_ref().map(|c| &c["fault"]) {
        let mut told = fault["kind"].as_str().unwrap_or("fault").replace('_', " ");
        for (key, value) in fault.as_object().into_iter().flatten().filter(|(k, _)| *k != "kind") {
            told.push_str(&format!(" {}={value}", key.replace('_', "-")));
        }
        line.push_str(&format!(" {}", paint(style::WARN, format!("chaos: {told}"))));
    }
    if let Some(script) = &capture.script {
        match script.step {
            Some(step) => line.push_str(&format!(" step {step}/{}", script.steps)),
            None if script.warmup => line.push_str(" warm-up (no step)"),
            None => line.push_str(" past the end of the script"),
        }
        if let Some(name) = &script.name {
            line.push_str(&format!(" \"{name}\""));
        }
    }
    if response.outcome != Outcome::Completed {
        line.push_str(&format!(" {}", paint(style::WARN, format!("{:?}", response.outcome).to_lowercase())));
    }
    if let Some(error) = &response.error {
        line.push_str(&format!(" {}", paint(style::BAD, error)));
    } else if let Some(message) =
        response.body.as_ref().and_then(|b| b.pointer("/error/message")).and_then(|m| m.as_str())
    {
        line.push_str(&format!(" {}", paint(style::BAD, message)));
    }
    anstream::eprintln!("{line}");
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
