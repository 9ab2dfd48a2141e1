//! `parity diff`

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use parity_capture::Recording;
use parity_diff::report::{self, Format};
use parity_diff::{AcceptList, NormalizeOptions, RuleSet};

#[derive(Args)]
pub struct DiffArgs {
    /// The reference: a capture file, a session directory or a recording directory (upstream Codex, usually).
    #[arg(value_name = "LEFT")]
    left: PathBuf,
    /// What to compare with it, of the same shape.
    #[arg(value_name = "RIGHT")]
    right: PathBuf,
    /// Normalization rules (TOML) added to the built-in ones; see docs/diff.md.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Accepted divergences (TOML), each with its reason: reported apart, and the run passes when only they remain.
    #[arg(long, value_name = "FILE")]
    accept: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    format: FormatArg,
    /// Write the report to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Show which rule changed what, per request and side.
    #[arg(long)]
    explain: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
    Markdown,
    Junit,
    Html,
}

/// Exit status when the two sides diverge (bad input is `EXIT_BAD_INPUT`, 2, through the error path).
const EXIT_DIVERGED: u8 = 1;

pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let rules = match &args.rules {
        Some(path) => RuleSet::load(path).context("invalid rules file")?,
        None => RuleSet::builtin(),
    };
    let accept = match &args.accept {
        Some(path) => Some(AcceptList::load(path).context("invalid accept file")?),
        None => None,
    };
    let options = NormalizeOptions { explain: args.explain, ..NormalizeOptions::default() };
    if parity_diff::suite::is_suite(&args.left) && parity_diff::suite::is_suite(&args.right) {
        return diff_suites(&args, &rules, accept.as_ref(), options);
    }
    let left = load(&args.left)?;
    let right = load(&args.right)?;
    let mut comparison = parity_diff::diff_recordings(&left, &right, &rules, options);
    if let Some(accept) = &accept {
        accept.apply(&mut comparison);
    }
    let (format, render_options) = format_and_options(&args);
    let text = report::render(&comparison, format, &render_options);
    emit(&args, &text)?;
    Ok(if comparison.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DIVERGED) })
}

fn format_and_options(args: &DiffArgs) -> (Format, report::Options) {
    let format = match args.format {
        FormatArg::Text => Format::Text,
        FormatArg::Json => Format::Json,
        FormatArg::Markdown => Format::Markdown,
        FormatArg::Junit => Format::Junit,
        FormatArg::Html => Format::Html,
    };
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let options = report::Options {
        // anstream drops the colours anyway when stdout is not a terminal (or NO_COLOR is set).
        color: matches!(format, Format::Text) && to_terminal,
        explain: args.explain,
        // Links from the report to the captures stay valid when both move together.
        links_from: args.output.as_ref().map(|o| o.parent().unwrap_or(Path::new(".")).to_path_buf()),
    };
    (format, options)
}

/// The report, to --output or stdout.
fn emit(args: &DiffArgs, text: &str) -> anyhow::Result<()> {
    match &args.output {
        Some(path) => parity_capture::store::write_atomic(path, text.as_bytes())
            .with_context(|| format!("writing the report to {}", path.display())),
        None => {
            let mut stdout = anstream::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            Ok(())
        }
    }
}

/// Two suites (as `parity record --all` writes them), scenario by scenario. An HTML report is an index page; each
/// scenario's own page goes beside the --output file as `<stem>.<scenario>.html`.
fn diff_suites(
    args: &DiffArgs,
    rules: &RuleSet,
    accept: Option<&AcceptList>,
    options: NormalizeOptions,
) -> anyhow::Result<ExitCode> {
    let mut suite = parity_diff::diff_suites(&args.left, &args.right, rules, options, None)
        .with_context(|| format!("comparing the suites {} and {}", args.left.display(), args.right.display()))?;
    if let Some(accept) = accept {
        let mut used = vec![false; accept.len()];
        for scenario in &mut suite.scenarios {
            if let Ok(comparison) = &mut scenario.outcome {
                for (slot, was_used) in used.iter_mut().zip(accept.apply_in(comparison, Some(&scenario.name))) {
                    *slot |= was_used;
                }
            }
        }
        suite.stale = accept.unused(&used);
    }
    let (format, render_options) = format_and_options(args);
    let page_of = |name: &str| -> Option<PathBuf> {
        let output = args.output.as_ref()?;
        let stem = output.file_stem()?.to_string_lossy();
        Some(output.with_file_name(format!("{stem}.{name}.html")))
    };
    if format == Format::Html {
        for scenario in &suite.scenarios {
            if let (Ok(comparison), Some(page)) = (&scenario.outcome, page_of(&scenario.name)) {
                let html = report::render(comparison, Format::Html, &render_options);
                parity_capture::store::write_atomic(&page, html.as_bytes())
                    .with_context(|| format!("writing {}", page.display()))?;
            }
        }
    }
    let link = |name: &str| page_of(name).and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
    emit(args, &report::render_suite(&suite, format, &render_options, &link))?;
    Ok(if suite.errors() > 0 {
        ExitCode::from(crate::EXIT_BAD_INPUT)
    } else if suite.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DIVERGED)
    })
}

/// Loads one side; a directory without a single capture is refused rather than compared as empty.
fn load(path: &Path) -> anyhow::Result<Recording> {
    let recording = Recording::load(path)?;
    if recording.is_empty() {
        bail!("{}: no capture files here (they are named like 0001-post-responses.json)", path.display());
    }
    Ok(recording)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: DiffArgs,
    }

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/diff")
    }

    fn run_with(args: &[&str]) -> anyhow::Result<ExitCode> {
        let mut argv = vec!["parity-diff".to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        run(Cli::try_parse_from(argv)?.args)
    }

    fn fixture(rel: &str) -> String {
        fixtures().join(rel).display().to_string()
    }

    #[test]
    fn exits_0_when_equal_and_1_when_diverging_writing_the_chosen_format() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("report.json");
        let out_arg = out.display().to_string();
        let code = run_with(&[&fixture("upstream-a"), &fixture("upstream-b"), "-o", &out_arg]).unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        let left = fixture("upstream-a/session-01/0002-post-responses.json");
        let right = fixture("variants/extra-body-key.json");
        let code = run_with(&[&left, &right, "--format", "json", "--explain", "-o", &out_arg]).unwrap();
        assert_eq!(code, ExitCode::from(EXIT_DIVERGED));
        let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(report["divergences"][0]["path"], "/body/service_tier");
        assert!(!report["explain"][0]["left"].as_array().unwrap().is_empty());
    }

    #[test]
    fn accepted_divergences_make_the_run_pass_and_stale_ones_do_not_fail_it() {
        let dir = tempfile::tempdir().unwrap();
        let accept = dir.path().join("accept.toml");
        std::fs::write(
            &accept,
            "[[accept]]\ncategory = \"schema\"\npath = \"/body/service_tier\"\nreason = \"we ask for flex\"\n\n\
             [[accept]]\ncategory = \"prompt\"\npath = \"/body/instructions\"\nreason = \"old\"\n",
        )
        .unwrap();
        let out = dir.path().join("report.txt").display().to_string();
        let left = fixture("upstream-a/session-01/0002-post-responses.json");
        let right = fixture("variants/extra-body-key.json");
        let code = run_with(&[&left, &right, "--accept", &accept.display().to_string(), "-o", &out]).unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains("reason: we ask for flex"), "{text}");
        assert!(text.contains("stale: 1 accept entry matched nothing"), "{text}");
    }

    #[test]
    fn bad_input_is_an_error_naming_the_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules.toml");
        std::fs::write(&rules, "[[rule]]\nname = \"x\"\nselect = \".body[\"\nremove = true\n").unwrap();
        let a = fixture("upstream-a");
        let err = run_with(&[&a, &a, "--rules", &rules.display().to_string()]).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("invalid rules file") && message.contains("rules.toml:3:10: rule \"x\""), "{message}");

        let accept = dir.path().join("accept.toml");
        std::fs::write(&accept, "[[accept]]\ncategory = \"prompt\"\npath = \"/x\"\n").unwrap();
        let err = run_with(&[&a, &a, "--accept", &accept.display().to_string()]).unwrap_err();
        assert!(format!("{err:#}").contains("accept.toml:1:1: missing field `reason`"), "{err:#}");

        let broken = dir.path().join("0001-post-responses.json");
        std::fs::write(&broken, "{\"format\": \"parity.capture/v1\", \"seq\": \"one\"}").unwrap();
        let err = run_with(&[&a, &broken.display().to_string()]).unwrap_err();
        assert!(format!("{err:#}").contains("0001-post-responses.json: field"), "{err:#}");

        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let err = run_with(&[&a, &empty.display().to_string()]).unwrap_err();
        assert!(format!("{err:#}").contains("no capture files here"), "{err:#}");
        let err = run_with(&[&a, "/nonexistent/recording"]).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/recording: no such file or directory"), "{err:#}");
    }
}
