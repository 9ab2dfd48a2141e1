//! `parity check`: record every scenario of the suite with the agent under test, and diff each against the
//! baseline. This is what a regression CI job runs.
//!
//! Scenarios come from the scenario files (`--scenarios`), not from the baseline: a scenario with no baseline
//! recording fails, naming it, instead of being skipped. `--only` and `--shard K/N` pick part of the suite; accept
//! entries are then judged stale over that part only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context;
use clap::{Args, ValueEnum};
use parity_diff::report::{self, Format};
use parity_diff::suite::{ScenarioResult, SuiteComparison, compare_scenario, protocol_beside};
use parity_diff::{AcceptList, NormalizeOptions, RuleSet};
use parity_protocol::Protocol;
use parity_recorder::{Agent, RecordError, RunRecord, Scenario};

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
    /// Keep the agent's recordings here (by default a temporary directory removed at the end, or, with
    /// --report-dir, REPORT_DIR/recordings so that the reports' links keep working).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Write an HTML report per scenario and an index.html linking them into this directory.
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// The whole check's report format, on stdout or --output.
    #[arg(long, value_enum, default_value = "text")]
    format: FormatArg,
    /// Write the report to this file (the text summary then stays on stdout).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Only these scenarios (repeatable).
    #[arg(long, value_name = "NAME")]
    only: Vec<String>,
    /// Leave out these scenarios (repeatable): say why where it is passed. Accept entries are judged as on the
    /// whole suite.
    #[arg(long, value_name = "NAME")]
    skip: Vec<String>,
    /// Only the K-th of N stable parts of the suite (1-based), for CI machines that split the work.
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
    /// Only the scenarios of this frontend (`exec`, `app-server` or `tui`), for an agent that has only one of them.
    #[arg(long, value_name = "FRONTEND", value_parser = ["exec", "app-server", "tui"])]
    frontend: Option<String>,
    /// Leave out the scenarios of this frontend (repeatable), for an agent that does not have it (an agent without
    /// an interactive interface: `--skip-frontend tui`). Accept entries are judged as on the whole suite.
    #[arg(long, value_name = "FRONTEND", value_parser = ["exec", "app-server", "tui"])]
    skip_frontend: Vec<String>,
    /// Fail (exit 1) when an accept entry judged in this run matched nothing.
    #[arg(long)]
    strict: bool,
    /// Leave out the agent's own event streams (`exec --json` events, app-server messages: the category `events`),
    /// which are compared by default: for an agent whose requests are aligned before its events are.
    #[arg(long)]
    no_events: bool,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
    Markdown,
    Junit,
}

/// `--shard K/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(text: &str) -> Result<Shard, String> {
        let parse = |s: &str| s.trim().parse::<usize>().ok();
        match text.split_once('/').map(|(k, n)| (parse(k), parse(n))) {
            Some((Some(index), Some(count))) if count >= 1 && (1..=count).contains(&index) => {
                Ok(Shard { index, count })
            }
            _ => Err(format!("\"{text}\" is not K/N with 1 <= K <= N (e.g. 1/2)")),
        }
    }
}

impl Shard {
    /// A stable split: the suite's scenarios in name order, dealt round-robin, so the shards differ in size by at
    /// most one and every scenario is in exactly one of them.
    pub fn take<T>(&self, sorted: Vec<T>) -> Vec<T> {
        sorted.into_iter().enumerate().filter(|(i, _)| i % self.count == self.index - 1).map(|(_, t)| t).collect()
    }
}

/// The scenarios this run checks, and the ones it cannot (no baseline recording), in name order.
struct Plan {
    scenarios: Vec<Scenario>,
    missing_baseline: Vec<String>,
    /// Whether the plan covers the whole suite (no --only, no --shard).
    whole: bool,
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
    let plan = plan(&args)?;

    let temporary;
    let out = match (&args.out, &args.report_dir) {
        (Some(dir), _) => dir.clone(),
        (None, Some(reports)) => reports.join("recordings"),
        (None, None) => {
            temporary =
                tempfile::Builder::new().prefix("parity-check-").tempdir().context("making a temporary directory")?;
            temporary.path().to_path_buf()
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let options = args.run.suite_options(out.clone(), true);
    let shard = args.shard.map(|s| format!(" (shard {}/{})", s.index, s.count)).unwrap_or_default();
    anstream::eprintln!(
        "{} checking {} against {} on {} scenario(s){shard}",
        paint(style::BOLD, "parity:"),
        agent.label(),
        args.baseline.display(),
        plan.scenarios.len() + plan.missing_baseline.len()
    );
    let results = record_with_progress(&runtime, &plan.scenarios, &agent, &options);

    let mut used = vec![false; accept.len()];
    // The JSON-RPC transcripts of app-server scenarios are checked against the schema the baseline was recorded with.
    let protocol = protocol_beside(&args.baseline);
    let mut verdicts: Vec<ScenarioResult> = plan
        .scenarios
        .iter()
        .zip(&results)
        .map(|(scenario, result)| {
            let options = NormalizeOptions { events: !args.no_events, ..NormalizeOptions::default() };
            verdict(&args.baseline, &out, scenario, result, (&rules, options, protocol.as_ref()), &accept, &mut used)
        })
        .collect();
    verdicts.extend(plan.missing_baseline.iter().map(|name| ScenarioResult {
        name: name.clone(),
        outcome: Err(format!(
            "no baseline: {} has no recording of it (record it from upstream with `parity record --scenario {} \
             --agent codex --out {}`)",
            args.baseline.display(),
            args.run.scenarios.join(format!("{name}.toml")).display(),
            args.baseline.join(name).display()
        )),
        note: None,
    }));
    verdicts.sort_by(|a, b| a.name.cmp(&b.name));
    let ran: Vec<String> = verdicts.iter().map(|v| v.name.clone()).collect();
    let stale = accept.unused_in(&used, &ran, plan.whole);
    let suite = SuiteComparison {
        left: args.baseline.display().to_string(),
        right: out.display().to_string(),
        scenarios: verdicts,
        stale,
    };

    if let Some(dir) = &args.report_dir {
        write_report_dir(dir, &suite)?;
    }
    let format = match args.format {
        FormatArg::Text => Format::Text,
        FormatArg::Json => Format::Json,
        FormatArg::Markdown => Format::Markdown,
        FormatArg::Junit => Format::Junit,
    };
    let summary = console_summary(&suite);
    match (&args.output, format) {
        (None, Format::Text) => anstream::print!("{summary}"),
        (None, _) => {
            anstream::eprint!("{summary}");
            print!("{}", report::render_suite(&suite, format, &report::Options::default(), &|_| None));
        }
        (Some(path), _) => {
            anstream::print!("{summary}");
            let text = report::render_suite(&suite, format, &report::Options::default(), &|_| None);
            parity_capture::store::write_atomic(path, text.as_bytes())
                .with_context(|| format!("writing the report to {}", path.display()))?;
        }
    }
    if let Some(dir) = &args.report_dir {
        anstream::eprintln!("{}", paint(style::DIM, format!("reports: {}", dir.join("index.html").display())));
    }

    let divergent = suite.scenarios.iter().any(|s| s.outcome.as_ref().is_ok_and(|c| !c.is_clean()));
    Ok(ExitCode::from(if suite.errors() > 0 {
        crate::EXIT_BAD_INPUT
    } else if divergent || (args.strict && !suite.stale.is_empty()) {
        1
    } else {
        0
    }))
}

/// Which scenarios to run: the scenario files, narrowed by --only and --shard, each with or without a baseline.
fn plan(args: &CheckArgs) -> anyhow::Result<Plan> {
    let scenarios_dir = &args.run.scenarios;
    let mut names = toml_stems(scenarios_dir)?;
    let recorded = parity_diff::suite::scenario_names(&args.baseline)
        .with_context(|| format!("the baseline {}", args.baseline.display()))?;
    for extra in recorded.iter().filter(|r| !names.contains(r)) {
        anstream::eprintln!(
            "{} the baseline records \"{extra}\", which {} has no file for ({extra}.toml): not checked",
            paint(style::WARN, "parity: note:"),
            scenarios_dir.display()
        );
    }
    if let Some(unknown) = args.only.iter().find(|o| !names.contains(o)) {
        anyhow::bail!("--only {unknown}: {} has no such scenario ({unknown}.toml)", scenarios_dir.display());
    }
    if let Some(unknown) = args.skip.iter().find(|o| !names.contains(o)) {
        anyhow::bail!("--skip {unknown}: {} has no such scenario ({unknown}.toml)", scenarios_dir.display());
    }
    if !args.only.is_empty() {
        names.retain(|n| args.only.contains(n));
    }
    names.retain(|n| !args.skip.contains(n));
    if let Some(shard) = args.shard {
        names = shard.take(names);
    }
    anyhow::ensure!(!names.is_empty() || args.shard.is_some(), "{}: no scenarios (*.toml)", scenarios_dir.display());
    let (with, without): (Vec<String>, Vec<String>) = names.into_iter().partition(|n| recorded.contains(n));
    let mut scenarios = with
        .iter()
        .map(|name| Scenario::load(&scenarios_dir.join(format!("{name}.toml"))).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut missing_baseline = without;
    let wanted = |frontend: &str| {
        args.frontend.as_deref().is_none_or(|f| f == frontend) && !args.skip_frontend.iter().any(|f| f == frontend)
    };
    scenarios.retain(|s| wanted(s.agent.frontend.name()));
    // A scenario file is read to know its frontend; one that will not load is kept, to fail as an error.
    missing_baseline.retain(|name| {
        Scenario::load(&scenarios_dir.join(format!("{name}.toml"))).map_or(true, |s| wanted(s.agent.frontend.name()))
    });
    let whole = args.only.is_empty() && args.shard.is_none() && args.frontend.is_none();
    Ok(Plan { scenarios, missing_baseline, whole })
}

/// The names of the `*.toml` files of a directory, sorted.
fn toml_stems(dir: &Path) -> anyhow::Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("the scenarios directory {}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    Ok(names)
}

/// One scenario's verdict: its recording diffed against the baseline's, accepted divergences set apart.
fn verdict(
    baseline: &Path,
    out: &Path,
    scenario: &Scenario,
    result: &Result<RunRecord, RecordError>,
    (rules, options, protocol): (&RuleSet, NormalizeOptions, Option<&Protocol>),
    accept: &AcceptList,
    used: &mut [bool],
) -> ScenarioResult {
    let name = scenario.name.clone();
    let record = match result {
        Err(e) => return ScenarioResult { name, outcome: Err(e.to_string()), note: None },
        Ok(record) => record,
    };
    let outcome =
        compare_scenario(&baseline.join(&name), &out.join(&name), rules, options, protocol).map(|mut comparison| {
            for (slot, was_used) in used.iter_mut().zip(accept.apply_in(&mut comparison, Some(&name))) {
                *slot |= was_used;
            }
            comparison
        });
    ScenarioResult { name, outcome, note: record.failure().map(|why| format!("the agent's {why}")) }
}

/// `REPORT_DIR/<scenario>.html` for every compared scenario (with the stale entries that name it), and
/// `REPORT_DIR/index.html` linking them.
fn write_report_dir(dir: &Path, suite: &SuiteComparison) -> anyhow::Result<()> {
    let options = report::Options { links_from: Some(dir.to_path_buf()), ..Default::default() };
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        parity_capture::store::write_atomic(&path, text.as_bytes()).with_context(|| format!("{}", path.display()))
    };
    for scenario in &suite.scenarios {
        if let Ok(comparison) = &scenario.outcome {
            let mut comparison = comparison.clone();
            comparison.stale =
                suite.stale.iter().filter(|e| AcceptList::names_scenario(e, &scenario.name)).cloned().collect();
            write(&format!("{}.html", scenario.name), report::render(&comparison, Format::Html, &options))?;
        }
    }
    let has_page = |name: &str| suite.scenarios.iter().any(|s| s.name == name && s.outcome.is_ok());
    let link = |name: &str| has_page(name).then(|| format!("{name}.html"));
    write("index.html", report::render_suite(suite, Format::Html, &report::Options::default(), &link))
}

/// A line per scenario, the paths of what diverged under it, the totals, and stale accept entries.
fn console_summary(suite: &SuiteComparison) -> String {
    /// Divergence lines shown per scenario before "and N more".
    const SHOWN: usize = 8;
    let mut out = String::new();
    for scenario in &suite.scenarios {
        let verdict = report::scenario_verdict(scenario);
        let verdict = if scenario.is_clean() {
            let (head, accepted) = verdict.split_at(verdict.find(" (").unwrap_or(verdict.len()));
            format!("{}{}", paint(style::GOOD, head), paint(style::DIM, accepted))
        } else {
            paint(style::BAD, verdict)
        };
        let note = scenario.note.as_ref().map(|n| format!("  {}", paint(style::WARN, n))).unwrap_or_default();
        out.push_str(&format!("  {:<28} {verdict}{note}\n", scenario.name));
        if let Ok(comparison) = &scenario.outcome {
            let lines: Vec<String> = comparison
                .divergences()
                .map(|(pair, d)| {
                    let path = if d.path.is_empty() { "(whole request)" } else { &d.path };
                    format!("      {} {:<8} {path}", pair.id, d.category.as_str())
                })
                .collect();
            for line in lines.iter().take(SHOWN) {
                out.push_str(&paint(style::DIM, line));
                out.push('\n');
            }
            if lines.len() > SHOWN {
                out.push_str(&paint(style::DIM, format!("      and {} more\n", lines.len() - SHOWN)));
            }
        }
    }
    out.push_str(&report::suite_totals(suite));
    out.push('\n');
    for entry in &suite.stale {
        out.push_str(&format!(
            "{} accept entry at line {} ({} {}) matched nothing: is it still needed?\n",
            paint(style::WARN, "stale:"),
            entry.line,
            entry.category,
            entry.path
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_cover_the_suite_once_and_differ_by_at_most_one() {
        let names: Vec<String> = (0..25).map(|i| format!("s{i:02}")).collect();
        let shards: Vec<Vec<String>> =
            (1..=3).map(|k| Shard::from_str(&format!("{k}/3")).unwrap().take(names.clone())).collect();
        let mut all: Vec<String> = shards.concat();
        all.sort();
        assert_eq!(all, names);
        let sizes: Vec<usize> = shards.iter().map(Vec::len).collect();
        assert_eq!(sizes, [9, 8, 8]);
        assert_eq!(Shard::from_str("2/3").unwrap().take(names.clone()), shards[1], "the same split every time");
        for bad in ["0/2", "3/2", "1/0", "a/b", "2"] {
            assert!(Shard::from_str(bad).is_err(), "{bad}");
        }
    }
}
