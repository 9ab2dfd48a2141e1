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
