//! `parity timeline`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};

#[derive(Args)]
pub struct TimelineArgs {
    /// A recording directory (as `parity record` writes it), or two to show side by side.
    #[arg(value_name = "RECORDING", required = true, num_args = 1..=2)]
    recordings: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: FormatArg,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
    Html,
}

pub fn run(args: TimelineArgs) -> anyhow::Result<ExitCode> {
    let timelines = args
        .recordings
        .iter()
        .map(|dir| parity_timeline::build(dir).with_context(|| format!("the recording {}", dir.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let text = match args.format {
        FormatArg::Text => parity_timeline::render_text(&timelines),
        FormatArg::Json => parity_timeline::render_json(&timelines),
        FormatArg::Html => parity_timeline::render_html(&timelines),
    };
    match &args.output {
        Some(path) => parity_capture::store::write_atomic(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
