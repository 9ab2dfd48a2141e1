//! What each fuzz target checks, one function per parser of outside input. The targets in `fuzz_targets/` only
//! call these; `scripts/fuzz.sh` builds and runs them. A parser may refuse its input (that is what errors are
//! for); it must not panic, hang, or give answers that contradict each other.

use std::path::Path;

/// The SSE codec: any bytes give the same frames whole or cut in two anywhere.
pub fn sse(data: &[u8]) {
    use parity_capture::sse::SseParser;
    let whole = SseParser::new().push(data);
    let at = data.first().map(|b| *b as usize % (data.len() + 1)).unwrap_or(0);
    let mut parser = SseParser::new();
    let mut pieces = parser.push(&data[..at]);
    pieces.extend(parser.push(&data[at..]));
    assert_eq!(whole, pieces, "the same bytes cut at {at} gave other frames");
}

/// The script loader, JSON or TOML (the first byte chooses): a script that loads also passes its own validation
/// and starts a server plan.
pub fn script(data: &[u8]) {
    use parity_server::script::Syntax;
    let Some((first, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let syntax = if first % 2 == 0 { Syntax::Json } else { Syntax::Toml };
    if let Ok(script) = parity_server::Script::parse(text, syntax, "fuzz") {
        script.validate().expect("a script that parsed is valid");
    }
}

/// The capture loader: a capture that loads writes back to JSON that loads as the same capture.
pub fn capture(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("fuzz.json");
    if let Ok(capture) = parity_capture::store::parse_capture(text, path) {
        let again = serde_json::to_string(&capture).expect("a capture serializes");
        let reloaded = parity_capture::store::parse_capture(&again, path).expect("a written capture loads");
        assert_eq!(serde_json::to_value(&capture).unwrap(), serde_json::to_value(&reloaded).unwrap());
    }
}

/// The diff's rules file and accept file (the first byte chooses).
pub fn diff_files(data: &[u8]) {
    let Some((first, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let path = Path::new("fuzz.toml");
    if first % 2 == 0 {
        let _ = parity_diff::RuleSet::from_toml(text, path);
    } else {
        let _ = parity_diff::AcceptList::from_toml(text, path);
    }
}

/// The apply-patch grammar, and the recognizer of a patch sent through a shell (`bash -lc 'apply_patch <<EOF...'`).
pub fn patch(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = rcodex_apply_patch::parse(text);
    let argv = ["bash".to_string(), "-lc".to_string(), text.to_string()];
    let _ = rcodex_apply_patch::shell_patch(&argv);
}

/// rcodex's config loader, over a config.toml holding the input.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let home = tempfile::tempdir().expect("a temporary CODEX_HOME");
    std::fs::write(home.path().join("config.toml"), text).expect("config.toml is written");
    let overrides = rcodex_core::config::Overrides {
        codex_home: Some(home.path().to_path_buf()),
        cwd: Some(home.path().to_path_buf()),
        ..Default::default()
    };
    let _ = rcodex_core::config::Config::load(&overrides);
}

/// The app server's JSON-RPC framing: a line is blank, a message, or malformed, and a message is a JSON value that
/// writes back to a line that frames as the same message.
pub fn jsonrpc(data: &[u8]) {
    use rcodex_app_server::{Framed, frame};
    if let Framed::Message(message) = frame(data) {
        let line = serde_json::to_string(&message).expect("a JSON value serializes");
        let Framed::Message(again) = frame(line.as_bytes()) else { panic!("{line} does not frame as a message") };
        assert_eq!(message, again);
    }
}
