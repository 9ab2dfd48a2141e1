//! `parity record`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use parity_recorder::suite::{default_jobs, default_work_root};
use parity_recorder::{Agent, RecordError, RecordOptions, RunRecord, Scenario, SuiteEvent, SuiteOptions};

use crate::style::{self, paint};

/// Where scenarios are when `--all` is given without `--scenarios`.
pub const DEFAULT_SCENARIOS: &str = "fixtures/scenarios";

#[derive(Args)]
#[command(group = clap::ArgGroup::new("which").required(true).multiple(false))]
pub struct RecordArgs {
    /// The scenario to record.
    #[arg(long, value_name = "FILE", group = "which")]
    scenario: Option<PathBuf>,
    /// Record every scenario of --scenarios, each into OUT/<name>.
    #[arg(long, group = "which")]
    all: bool,
    #[command(flatten)]
    agent: AgentArgs,
    /// The output directory (it must be empty, unless --clean).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace what an earlier recording left in the output directory.
    #[arg(long)]
    clean: bool,
    #[command(flatten)]
    run: RunArgs,
}

/// Which agent, shared by `record` and `check`.
#[derive(Args)]
pub struct AgentArgs {
    /// `codex` (upstream, as installed by scripts/install-upstream.sh), `rcodex`, or a command template run with
    /// /bin/sh for each turn, e.g. 'my-agent {resume_args} --json {prompt}' (placeholders: {prompt} {turn}
    /// {resume_args} {workspace} {home} {codex_home} {base_url} {model} {frontend}).
    #[arg(long, value_name = "AGENT")]
    pub agent: String,
    /// The upstream Codex binary, instead of the one under .upstream/.
    #[arg(long, value_name = "PATH")]
    pub upstream_bin: Option<PathBuf>,
    /// The rcodex binary, instead of the one built beside parity.
    #[arg(long, value_name = "PATH")]
    pub rcodex_bin: Option<PathBuf>,
}

impl AgentArgs {
    pub fn agent(&self) -> anyhow::Result<Agent> {
        Agent::parse(&self.agent, self.upstream_bin.as_deref(), self.rcodex_bin.as_deref()).map_err(anyhow::Error::msg)
    }
}

/// How runs are made, shared by `record` and `check`.
#[derive(Args)]
pub struct RunArgs {
    /// The scenarios directory for --all.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_SCENARIOS)]
    pub scenarios: PathBuf,
    /// How many scenarios run at once (scenarios marked `serial` run alone). Default: the number of cores.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Where the runs' HOME and workspace directories are made (default: /var/tmp/parity-runs).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Keep the runs' HOME and workspace directories.
    #[arg(long)]
    pub keep_work: bool,
}

impl RunArgs {
    pub fn suite_options(&self, out: PathBuf, clean: bool) -> SuiteOptions {
        SuiteOptions {
            out,
            work_root: self.work_dir.clone().unwrap_or_else(default_work_root),
            keep_work: self.keep_work,
            clean,
            jobs: self.jobs.unwrap_or_else(default_jobs),
        }
    }
}

pub fn run(args: RecordArgs) -> anyhow::Result<ExitCode> {
    let agent = args.agent.agent()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    if let Some(path) = &args.scenario {
        let scenario = Scenario::load(path)?;
        let options = RecordOptions {
            out: args.out.clone(),
            work_root: args.run.work_dir.clone().unwrap_or_else(default_work_root),
            keep_work: args.run.keep_work,
            clean: args.clean,
        };
        let record = runtime.block_on(parity_recorder::record(&scenario, &agent, &options))?;
        anstream::eprintln!("{}", outcome_line(&scenario.name, &Ok(record.clone())));
        anstream::eprintln!("{}", paint(style::DIM, format!("recorded into {}", args.out.display())));
        return Ok(if record.succeeded() { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    let scenarios = parity_recorder::scenario::load_dir(&args.run.scenarios)?;
    anyhow::ensure!(!scenarios.is_empty(), "{}: no scenarios (*.toml)", args.run.scenarios.display());
    let options = args.run.suite_options(args.out.clone(), args.clean);
    let results = record_with_progress(&runtime, &scenarios, &agent, &options);
    let (failed, errors) = tally(&results);
    anstream::eprintln!(
        "{} {} scenario(s) recorded into {}; {failed} agent failure(s), {errors} error(s)",
        paint(style::BOLD, "parity:"),
        scenarios.len() - errors,
        args.out.display()
    );
    // When nothing could be recorded at all, the cause is the input (an agent that will not start, say): exit 2.
    if let Some(first) = results.iter().find_map(|r| r.as_ref().err())
        && errors == scenarios.len()
    {
        return Err(anyhow::anyhow!("{first}"));
    }
    Ok(if failed + errors == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Records a suite with a spinner naming the scenarios under way and a line for each that finishes.
pub fn record_with_progress(
    runtime: &tokio::runtime::Runtime,
    scenarios: &[Scenario],
    agent: &Agent,
    options: &SuiteOptions,
) -> Vec<Result<RunRecord, RecordError>> {
    let bar = ProgressBar::new(scenarios.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{pos}/{len}] {elapsed} {wide_msg}").expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let running = std::sync::Mutex::new(Vec::<String>::new());
    let on_event = |event: SuiteEvent| {
        let mut names = running.lock().expect("progress lock");
        match event {
            SuiteEvent::Started { scenario } => names.push(scenario.name.clone()),
            SuiteEvent::Finished { scenario, result } => {
                names.retain(|n| n != &scenario.name);
                bar.inc(1);
                let line = outcome_line(&scenario.name, result);
                if bar.is_hidden() {
                    anstream::eprintln!("{line}");
                } else {
                    bar.println(line);
                }
            }
        }
        bar.set_message(format!("{} {}", agent.label(), names.join(", ")));
    };
    let results = runtime.block_on(parity_recorder::record_suite(scenarios, agent, options, &on_event));
    bar.finish_and_clear();
    results
}

/// (agent failures, errors) among results.
pub fn tally(results: &[Result<RunRecord, RecordError>]) -> (usize, usize) {
    let failed = results.iter().filter(|r| r.as_ref().is_ok_and(|r| !r.succeeded())).count();
    let errors = results.iter().filter(|r| r.is_err()).count();
    (failed, errors)
}

/// `✓ plain-reply  2 requests  1.3 s`, or what went wrong.
pub fn outcome_line(name: &str, result: &Result<RunRecord, RecordError>) -> String {
    match result {
        Ok(record) if record.succeeded() => format!(
            "{} {name:<28} {} request(s) {:>6.1} s",
            paint(style::GOOD, "✓"),
            record.requests,
            record.duration_ms as f64 / 1000.0
        ),
        Ok(record) => {
            let why = record.failure().unwrap_or_default();
            format!(
                "{} {name:<28} {} request(s), {}",
                paint(style::WARN, "!"),
                record.requests,
                paint(style::WARN, why)
            )
        }
        Err(error) => format!("{} {name:<28} {}", paint(style::BAD, "✗"), paint(style::BAD, error)),
    }
}
