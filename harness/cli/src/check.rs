//! `parity check`: record every scenario of a baseline with the agent under test, and diff each against the
//! baseline. This is what a regression CI job runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use parity_capture::Recording;
use parity_diff::{AcceptList, NormalizeOptions, RuleSet, report};
use parity_recorder::run::CAPTURES_DIR;
use parity_recorder::{Agent, Scenario};

use crate::record::{RunArgs, record_with_progress};
use crate::style::{self, paint};

#[derive(Args)]
pub struct CheckArgs {
    /// The agent under test: `rcodex`, `codex`, or a command template (see `parity record --help`).
    #[arg(long, value_name = "AGENT", default_value = "rcodex")]
    agent: String,
    /// The upstream Codex binary, instead of the one under .upstream/.
    #[arg(long, value_name = "PATH")]
    upstream_bin: Option<PathBuf>,
    /// The rcodex binary, instead of the one built beside parity.
    #[arg(long, value_name = "PATH")]
    rcodex_bin: Option<PathBuf>,
    /// The recording to compare against: one directory per scenario, as `parity record --all` writes them.
    #[arg(long, value_name = "DIR", default_value = "captures/codex-0.169.0")]
    baseline: PathBuf,
    /// Accepted divergences (see docs/diff.md); entries may name a `scenario`.
    #[arg(long, value_name = "FILE")]
    accept: Option<PathBuf>,
    /// Normalization rules added to the built-in ones.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Keep the agent's recordings here (by default they go to a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Write an HTML report per scenario into this directory.
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// Only these scenarios (repeatable).
    #[arg(long, value_name = "NAME")]
    only: Vec<String>,
    #[command(flatten)]
    run: RunArgs,
}

/// One scenario's verdict.
struct Verdict {
    name: String,
    outcome: Result<parity_diff::Summary, String>,
    agent_note: Option<String>,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let agent = Agent::parse(&args.agent, args.upstream_bin.as_deref(), args.rcodex_bin.as_deref())
        .map_err(anyhow::Error::msg)?;
    let rules = match &args.rules {
        Some(path) => RuleSet::load(path)?,
        None => RuleSet::builtin(),
    };
    let accept = match &args.accept {
        Some(path) => AcceptList::load(path)?,
        None => AcceptList::default(),
    };
    let scenarios = baseline_scenarios(&args.baseline, &args.run.scenarios, &args.only)?;

    let temporary;
    let out = match &args.out {
        Some(dir) => dir.clone(),
        None => {
            temporary =
                tempfile::Builder::new().prefix("parity-check-").tempdir().context("making a temporary directory")?;
            temporary.path().to_path_buf()
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let options = args.run.suite_options(out.clone(), true);
    anstream::eprintln!(
        "{} checking {} against {} on {} scenario(s)",
        paint(style::BOLD, "parity:"),
        agent.label(),
        args.baseline.display(),
        scenarios.len()
    );
    let results = record_with_progress(&runtime, &scenarios, &agent, &options);

    let mut used = vec![false; accept.len()];
    let mut verdicts = Vec::new();
    for (scenario, result) in scenarios.iter().zip(&results) {
        let outcome = match result {
            Err(e) => Err(e.to_string()),
            Ok(_) => compare(&args.baseline, &out, scenario, &rules, &accept, &mut used, args.report_dir.as_deref()),
        };
        let agent_note = result.as_ref().ok().and_then(|r| r.failure()).map(|why| format!("the agent's {why}"));
        verdicts.push(Verdict { name: scenario.name.clone(), outcome, agent_note });
    }
    let stale = accept.unused(&used);
    print_verdicts(&verdicts, &stale);
    let errors = verdicts.iter().filter(|v| v.outcome.is_err()).count();
    let divergent = verdicts.iter().filter(|v| v.outcome.as_ref().is_ok_and(|s| s.divergences > 0)).count();
    Ok(ExitCode::from(if errors > 0 {
        crate::EXIT_BAD_INPUT
    } else if divergent > 0 {
        1
    } else {
        0
    }))
}

/// The scenarios the baseline recorded (its directories holding a run.json), from the scenario files.
fn baseline_scenarios(baseline: &Path, scenarios_dir: &Path, only: &[String]) -> anyhow::Result<Vec<Scenario>> {
    let entries = std::fs::read_dir(baseline).with_context(|| format!("{}", baseline.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("run.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| only.is_empty() || only.contains(name))
        .collect();
    names.sort();
    if let Some(missing) = only.iter().find(|o| !names.contains(o)) {
        anyhow::bail!("--only {missing}: the baseline {} has no such scenario", baseline.display());
    }
    anyhow::ensure!(
        !names.is_empty(),
        "{}: no recorded scenarios (directories holding a run.json)",
        baseline.display()
    );
    names
        .iter()
        .map(|name| Scenario::load(&scenarios_dir.join(format!("{name}.toml"))).map_err(anyhow::Error::from))
        .collect()
}

/// Diffs one scenario's recording against the baseline's.
fn compare(
    baseline: &Path,
    out: &Path,
    scenario: &Scenario,
    rules: &RuleSet,
    accept: &AcceptList,
    used: &mut [bool],
    report_dir: Option<&Path>,
) -> Result<parity_diff::Summary, String> {
    let load = |dir: PathBuf| Recording::load(&dir).map_err(|e| e.to_string());
    let left = load(baseline.join(&scenario.name).join(CAPTURES_DIR))?;
    // An agent that sent nothing left no captures: every baseline request is then missing, and said so.
    let right = load(out.join(&scenario.name).join(CAPTURES_DIR)).unwrap_or_default();
    let mut comparison = parity_diff::diff_recordings(&left, &right, rules, NormalizeOptions::default());
    for (slot, was_used) in used.iter_mut().zip(accept.apply_in(&mut comparison, Some(&scenario.name))) {
        *slot |= was_used;
    }
    if let Some(dir) = report_dir {
        let html = report::render(&comparison, report::Format::Html, &report::Options::default());
        let path = dir.join(format!("{}.html", scenario.name));
        parity_capture::store::write_atomic(&path, html.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(comparison.summary())
}

fn print_verdicts(verdicts: &[Verdict], stale: &[parity_diff::AcceptEntry]) {
    let mut totals = parity_diff::Summary::default();
    let mut clean = 0;
    for v in verdicts {
        let line = match &v.outcome {
            Err(e) => paint(style::BAD, format!("error: {e}")),
            Ok(s) if s.divergences == 0 => {
                clean += 1;
                let accepted = if s.accepted > 0 { format!(" ({} accepted)", s.accepted) } else { String::new() };
                format!("{}{}", paint(style::GOOD, "clean"), paint(style::DIM, accepted))
            }
            Ok(s) => {
                let counts: Vec<String> = parity_diff::Category::ALL
                    .iter()
                    .filter(|c| s.count(**c) > 0)
                    .map(|c| format!("{} {c}", s.count(*c)))
                    .collect();
                let accepted = if s.accepted > 0 { format!(" ({} accepted)", s.accepted) } else { String::new() };
                format!("{}{}", paint(style::BAD, counts.join(", ")), paint(style::DIM, accepted))
            }
        };
        let note = v.agent_note.as_ref().map(|n| format!("  {}", paint(style::WARN, n))).unwrap_or_default();
        anstream::println!("  {:<28} {line}{note}", v.name);
        if let Ok(s) = &v.outcome {
            totals.add(s);
        }
    }
    let counts: Vec<String> = parity_diff::Category::ALL.iter().map(|c| format!("{} {c}", totals.count(*c))).collect();
    anstream::println!(
        "{} of {} scenarios clean; {} divergence(s) ({}); {} accepted",
        clean,
        verdicts.len(),
        totals.divergences,
        counts.join(", "),
        totals.accepted
    );
    for entry in stale {
        anstream::println!(
            "{} accept entry at line {} ({} {}) matched nothing: is it still needed?",
            paint(style::WARN, "stale:"),
            entry.line,
            entry.category,
            entry.path
        );
    }
}
