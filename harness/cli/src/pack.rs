//! `parity pack`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::style::{self, paint};

#[derive(Args)]
pub struct PackArgs {
    /// The reference recording of upstream Codex (each scenario's run.json and captures, and models.json).
    #[arg(long, value_name = "DIR", default_value = "captures/codex-0.169.0")]
    baseline: PathBuf,
    /// The scenario files the recording was made from.
    #[arg(long, value_name = "DIR", default_value = crate::record::DEFAULT_SCENARIOS)]
    scenarios: PathBuf,
    /// Where to write the pack.
    #[arg(long, value_name = "FILE", default_value = "agent/prompt-pack/data/pack.json")]
    out: PathBuf,
}

pub fn run(args: PackArgs) -> anyhow::Result<ExitCode> {
    let inputs = parity_pack::load(&args.baseline, &args.scenarios)?;
    let pack = parity_pack::extract(&inputs)?;
    let text = serde_json::to_string_pretty(&pack)? + "\n";
    ensure_replaceable(&args.out)?;
    parity_capture::store::write_atomic(&args.out, text.as_bytes())?;
    anstream::eprintln!(
        "{} prompt pack of codex {} written to {}: {} model(s) recorded ({}), {} text(s), {} catalog model(s)",
        paint(style::BOLD, "parity:"),
        pack.upstream_version,
        args.out.display(),
        pack.families.len(),
        pack.families.keys().cloned().collect::<Vec<_>>().join(", "),
        pack.texts.len(),
        pack.models.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Only a pack is replaced by a pack: `--out notes.json` must not overwrite a user's file.
fn ensure_replaceable(out: &std::path::Path) -> anyhow::Result<()> {
    let Ok(bytes) = std::fs::read(out) else {
        return Ok(()); // absent (or unreadable, which the write will report)
    };
    let format = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("format").and_then(|f| f.as_str()).map(str::to_string));
    match format {
        Some(f) if f.starts_with("rcodex.pack/") => Ok(()),
        _ => anyhow::bail!(
            "--out {}: the file exists and is not an rcodex prompt pack (no \"format\": \"rcodex.pack/...\"); \
             refusing to overwrite it. Choose another path, or remove it yourself",
            out.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pack_or_nothing_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        ensure_replaceable(&path).unwrap();
        std::fs::write(&path, r#"{"format": "rcodex.pack/v1"}"#).unwrap();
        ensure_replaceable(&path).unwrap();
        for mine in ["my thesis", r#"{"format": "mine"}"#, "{}"] {
            std::fs::write(&path, mine).unwrap();
            let e = ensure_replaceable(&path).unwrap_err().to_string();
            assert!(e.contains("is not an rcodex prompt pack") && e.contains("out.json"), "{e}");
        }
    }
}
