//! `rcodex app-server`: rcodex's threads driven over JSON-RPC on stdin and stdout, in the protocol of Codex CLI's
//! app server (the schema recorded from upstream 0.169.0 in `captures/codex-0.169.0/app-server-schema/`), as the
//! SDKs and IDE clients speak it.
//!
//! The server owns no turn logic: each thread is an [`rcodex_core::thread::ThreadHandle`], requests become its
//! operations, its events become notifications ([`notify`]). Requests the server sends the client (approvals, user
//! input) go through [`server_requests`].

mod account;
mod approvals;
mod history;
mod items;
mod methods;
mod notify;
mod overrides;
mod paging;
mod rpc;
mod search;
mod server;
pub mod server_requests;
mod turn_diff;

use std::process::ExitCode;
use std::sync::Arc;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite};

pub use server::Options;

/// The only transport: JSON-RPC lines on stdin and stdout.
pub const STDIO: &str = "stdio://";

/// Serves on stdin and stdout until the client closes stdin; then every thread ends its turn and its commands, and
/// the process exits 0.
pub fn run(options: Options) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rcodex app-server: could not start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        // The user agent names the system; looking it up takes a moment, better spent before `initialize`.
        rcodex_core::request::prepare_user_agent();
        let input = tokio::io::BufReader::new(tokio::io::stdin());
        serve(input, tokio::io::stdout(), options).await;
    });
    ExitCode::SUCCESS
}

/// Serves one client: reads its messages from `input` until it ends, writes the server's to `output`.
pub async fn serve(
    input: impl AsyncBufRead + Unpin,
    output: impl AsyncWrite + Unpin + Send + 'static,
    options: Options,
) {
    let (out, writer) = rpc::Outgoing::start(output);
    let server = server::Server::new(out.clone(), options);
    read_messages(input, &out, &server).await;
    server.shutdown().await;
    drop(server);
    drop(out);
    let _ = writer.await;
}

async fn read_messages(mut input: impl AsyncBufRead + Unpin, out: &rpc::Outgoing, server: &Arc<server::Server>) {
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        match frame(&line) {
            Framed::Blank => {}
            Framed::Message(message) => server.dispatch(message),
            // JSON-RPC's answer to a line that is not JSON; the server goes on reading.
            Framed::Malformed(parse_error) => out.error(
                &serde_json::Value::Null,
                rpc::RpcError { code: rpc::PARSE_ERROR, message: format!("Parse error: {parse_error}") },
            ),
        }
    }
}

/// What one line of the client's input holds.
#[derive(Debug)]
pub enum Framed {
    /// Nothing but white space: skipped.
    Blank,
    Message(serde_json::Value),
    /// Not JSON (bytes that are not UTF-8 read as replacement characters): serde_json's words for what is wrong.
    Malformed(String),
}

/// Reads one newline-delimited line of JSON-RPC (its `\n` included or not).
pub fn frame(line: &[u8]) -> Framed {
    let text = String::from_utf8_lossy(line);
    if text.trim().is_empty() {
        return Framed::Blank;
    }
    match serde_json::from_str(&text) {
        Ok(message) => Framed::Message(message),
        Err(e) => Framed::Malformed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_blank_a_message_or_malformed() {
        assert!(matches!(frame(b" \r\n"), Framed::Blank));
        let Framed::Message(message) = frame(b"{\"id\":1,\"method\":\"initialize\"}\n") else { panic!() };
        assert_eq!(message["method"], "initialize");
        let Framed::Malformed(why) = frame(b"{\"id\":\n") else { panic!() };
        assert!(why.contains("EOF"), "{why}");
        // Bytes that are not UTF-8 are read, not refused: a string holding one is still a message.
        let Framed::Message(message) = frame(b"\"\xff\"") else { panic!() };
        assert_eq!(message, "\u{fffd}");
    }
}
