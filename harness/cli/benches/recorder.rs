//! Recorder benchmarks: `cargo bench -p parity-cli --bench recorder`.
//!
//! 1. Overhead. Upstream Codex's own run time for the whole suite is the sum, over every scenario of
//!    `fixtures/scenarios`, of the wall time of its processes (each turn, spawn to exit) when run directly against a
//!    plain `parity serve --script` process (no captures on disk, no recorder), one scenario after another, in the
//!    same isolated HOME, workspace and environment the recorder makes. Against it: the wall time of the whole
//!    `parity record --all --jobs 1 --agent codex` (everything the recorder does: workspaces and git repositories,
//!    the in-process server, captures, each turn's output, `codex --version`, run.json), and, for the record,
//!    `parity record --all` with its default parallelism. Target: `--jobs 1` takes at most 1.5 times upstream's own
//!    run time, at the median of the rounds' ratios; which of the two goes first alternates round by round.
//! 2. Parallelism. `parity check --agent rcodex` over the whole suite with `--jobs 1` and with the default (one job
//!    per core): wall time, CPU time of parity and everything it ran (wait4), the sum of the scenarios' own
//!    durations (run.json), and how many scenarios are under way at once, sampled every 2 ms from the run
//!    directories in the pass's own `--work-dir` (one per scenario under way). Scenarios marked `serial` run alone
//!    by design, so the target is judged on the rest of the time: more than 1.5 scenarios under way at once on
//!    average on the 2 cores.
//!
//! Upstream comes from `$PARITY_UPSTREAM_BIN` or `.upstream/` (installed by `scripts/install-upstream.sh` if
//! missing; the first part is skipped when it cannot be), rcodex from `$PARITY_RCODEX_BIN` (an absolute path) or
//! `target/release/rcodex` (`cargo build --release -p rcodex`; the second part is skipped without it).
//! `PARITY_BENCH_RUNS` sets the number of rounds (3); `PARITY_BENCH=overhead` or `PARITY_BENCH=check` runs one part;
//! `PARITY_BENCH_SCENARIOS=plain-reply,exec-command` only those scenarios (for short development runs).

mod support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parity_recorder::isolate::RunDirs;
use parity_recorder::suite::default_work_root;
use parity_recorder::{Agent, RunRecord, Scenario};
use support::*;

/// A whole suite run gets this long before it is killed.
const SUITE_TIMEOUT: Duration = Duration::from_secs(900);

fn main() {
    print_load();
    let rounds = runs(3);
    let root = repo_root();
    let tmp = tempfile::tempdir().unwrap();
    let scenarios_dir = scenarios_dir(&root.join("fixtures/scenarios"), tmp.path());
    let scenarios = parity_recorder::scenario::load_dir(&scenarios_dir).expect("the scenarios load");
    println!("{} scenarios in {}, {rounds} round(s)", scenarios.len(), scenarios_dir.display());

    let only = std::env::var("PARITY_BENCH").unwrap_or_default();
    if only.is_empty() || only == "overhead" {
        match upstream_bin() {
            Ok(bin) => overhead(&scenarios, &scenarios_dir, &bin, rounds, tmp.path()),
            Err(why) => println!("\nskipping the recording overhead: {why}"),
        }
    }
    if only.is_empty() || only == "check" {
        match rcodex_bin() {
            Ok(bin) => parallel_check(&root, &scenarios_dir, &bin, rounds, tmp.path()),
            Err(why) => println!("\nskipping the parallel check: {why}"),
        }
    }
}

/// The suite's scenarios, or with `PARITY_BENCH_SCENARIOS=a,b` (for short development runs) a directory of links to
/// only those.
fn scenarios_dir(suite: &Path, tmp: &Path) -> PathBuf {
    let Ok(only) = std::env::var("PARITY_BENCH_SCENARIOS") else { return suite.to_path_buf() };
    let dir = tmp.join("scenarios");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(suite).unwrap().filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let wanted = match name.strip_suffix(".toml") {
            Some(stem) => only.split(',').any(|o| o.trim() == stem),
            None => true, // what scenarios copy files from
        };
        if wanted {
            std::os::unix::fs::symlink(entry.path(), dir.join(&name)).unwrap();
        }
    }
    dir
}

/// One `parity record --all` (or `parity check`): its wall and CPU time, what run.json says of each scenario, and
/// how many scenarios ran at once.
struct SuitePass {
    wall: f64,
    cpu: f64,
    code: Option<i32>,
    /// Per scenario: the run's duration and the sum of its turns' durations, in ms.
    runs: Vec<(String, f64, f64)>,
    flight: Flight,
}

impl SuitePass {
    fn run_sum(&self) -> f64 {
        self.runs.iter().map(|r| r.1).sum()
    }
    fn turn_sum(&self) -> f64 {
        self.runs.iter().map(|r| r.2).sum()
    }
    fn complete(&self) -> bool {
        self.code != Some(2) && self.runs.iter().all(|r| r.1.is_finite())
    }
}

/// Scenarios in flight, sampled every 2 ms from the run directories present in the pass's own work directory (one
/// per scenario under way, from its workspace's creation to its removal after the run).
#[derive(Debug, Clone, Copy, Default)]
struct Flight {
    /// Mean number of scenarios under way, over the samples when at least one was.
    mean: f64,
    /// The same, over the samples when no `serial` scenario (which runs alone by design) was under way.
    mean_parallel_part: f64,
    /// Share of those samples with two or more under way.
    share_two_plus: f64,
    max: usize,
}

fn sample_flight(work_dir: &Path, serial: &[String], ended: &AtomicBool) -> Flight {
    let mut samples: Vec<(usize, bool)> = Vec::new();
    while !ended.load(Ordering::SeqCst) {
        if let Ok(entries) = std::fs::read_dir(work_dir) {
            let names: Vec<String> =
                entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            // Run directories are named `<scenario>-<6 random characters>`.
            let serial_running = names
                .iter()
                .any(|n| n.rsplit_once('-').is_some_and(|(scenario, _)| serial.iter().any(|s| s == scenario)));
            if !names.is_empty() {
                samples.push((names.len(), serial_running));
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mean = |v: &[usize]| if v.is_empty() { f64::NAN } else { v.iter().sum::<usize>() as f64 / v.len() as f64 };
    let all: Vec<usize> = samples.iter().map(|s| s.0).collect();
    let parallel: Vec<usize> = samples.iter().filter(|s| !s.1).map(|s| s.0).collect();
    Flight {
        mean: mean(&all),
        mean_parallel_part: mean(&parallel),
        share_two_plus: parallel.iter().filter(|n| **n >= 2).count() as f64 / parallel.len().max(1) as f64,
        max: all.iter().copied().max().unwrap_or(0),
    }
}

fn overhead(scenarios: &[Scenario], scenarios_dir: &Path, upstream: &Path, rounds: usize, tmp: &Path) {
    println!("\nrecording overhead: upstream {}", upstream.display());
    let parity = parity_bin();
    let (mut own, mut serial, mut parallel) = (Vec::new(), Vec::new(), Vec::new());
    let mut per_scenario_own: Vec<Vec<f64>> = vec![Vec::new(); scenarios.len()];
    for round in 0..rounds {
        let record = |jobs: Option<usize>| {
            let out = tmp.join(format!("record-{round}-{}", jobs.map_or("default".into(), |j| j.to_string())));
            let mut command = Command::new(&parity);
            command.args(["record", "--all", "--agent", "codex", "--clean"]);
            command.arg("--upstream-bin").arg(upstream).arg("--scenarios").arg(scenarios_dir).arg("--out").arg(&out);
            if let Some(jobs) = jobs {
                command.args(["--jobs", &jobs.to_string()]);
            }
            suite_pass(&mut command, &out, scenarios)
        };
        let direct = || {
            let times: Vec<f64> = scenarios.iter().map(|s| direct_run(s, upstream, tmp)).collect();
            times
        };
        // Alternate which goes first, so that neither always runs on a warmer machine.
        let (times, pass) = if round % 2 == 0 {
            let t = direct();
            (t, record(Some(1)))
        } else {
            let p = record(Some(1));
            (direct(), p)
        };
        for (i, t) in times.iter().enumerate() {
            per_scenario_own[i].push(*t);
        }
        let total: f64 = times.iter().sum();
        println!(
            "round {}: upstream's own {} ; parity record --jobs 1 {} (exit {:?}, turns {})",
            round + 1,
            secs(total / 1000.0),
            secs(pass.wall / 1000.0),
            pass.code,
            secs(pass.turn_sum() / 1000.0)
        );
        own.push(total);
        serial.push(pass);
        let pass = record(None);
        println!(
            "round {}: parity record (default jobs) {} (exit {:?}, CPU {})",
            round + 1,
            secs(pass.wall / 1000.0),
            pass.code,
            secs(pass.cpu / 1000.0)
        );
        parallel.push(pass);
    }

    println!(
        "\nper scenario, median ms: upstream's own time (direct), its turns under the recorder (run.json), \
         the recorder's whole run (run.json)"
    );
    let mut rows = Vec::new();
    for (i, scenario) in scenarios.iter().enumerate() {
        let field = |pick: fn(&(String, f64, f64)) -> f64| {
            let values: Vec<f64> = serial.iter().filter_map(|p| p.runs.get(i)).map(pick).collect();
            Stats::of(&values).map_or("-".into(), |s| format!("{:.0}", s.median))
        };
        let own = Stats::of(&per_scenario_own[i]).map_or("-".into(), |s| format!("{:.0}", s.median));
        rows.push(vec![scenario.name.clone(), own, field(|r| r.2), field(|r| r.1)]);
    }
    print_table(&["scenario", "own (direct)", "turns (recorded)", "run (recorded)"], &rows);

    let ratios: Vec<f64> = own.iter().zip(&serial).map(|(o, p)| p.wall / o).collect();
    let stat = |v: Vec<f64>| Stats::of(&v).expect("at least one round");
    let own_s = stat(own.clone());
    let serial_wall = stat(serial.iter().map(|p| p.wall).collect());
    let serial_turns = stat(serial.iter().map(|p| p.turn_sum()).collect());
    let parallel_wall = stat(parallel.iter().map(|p| p.wall).collect());
    let parallel_cores = stat(parallel.iter().map(|p| p.cpu / p.wall).collect());
    let parallel_flight = stat(parallel.iter().map(|p| p.flight.mean).collect());
    let ratio = stat(ratios);
    let range = |s: Stats| {
        if s.n > 1 {
            format!("{} (min {}, max {})", secs(s.median / 1000.0), secs(s.min / 1000.0), secs(s.max / 1000.0))
        } else {
            secs(s.median / 1000.0)
        }
    };
    println!();
    print_table(
        &["what", "target", "measured", "verdict"],
        &[
            vec![
                format!("upstream's own run time, {} scenarios one after another", scenarios.len()),
                "-".into(),
                range(own_s),
                String::new(),
            ],
            vec!["`parity record --all --jobs 1`, wall".into(), "-".into(), range(serial_wall), String::new()],
            vec!["of which upstream's turns (run.json)".into(), "-".into(), range(serial_turns), String::new()],
            vec![
                "recording / upstream's own run time".into(),
                "<= 1.5".into(),
                format!("{:.2} (min {:.2}, max {:.2})", ratio.median, ratio.min, ratio.max),
                verdict(Some(ratio.median <= 1.5)),
            ],
            vec![
                "`parity record --all` (default jobs), wall".into(),
                "-".into(),
                format!(
                    "{}; {:.2} scenarios under way at once, {:.2} cores busy",
                    range(parallel_wall),
                    parallel_flight.median,
                    parallel_cores.median
                ),
                String::new(),
            ],
        ],
    );
}

/// Upstream's own time on one scenario, in ms: its turns' wall times against a plain `parity serve --script`.
fn direct_run(scenario: &Scenario, upstream: &Path, tmp: &Path) -> f64 {
    let script = tmp.join(format!("{}.script.json", scenario.name));
    std::fs::write(&script, serde_json::to_string(&scenario.script).expect("a script serializes")).unwrap();
    let server = Serve::start([OsStr::new("--script"), script.as_os_str()]);
    let base_url = format!("{}/v1", server.url);
    let dirs = RunDirs::create(&default_work_root(), scenario, &base_url).expect("the run directories");
    let agent = Agent::Codex { bin: upstream.to_path_buf() };
    let mut total = 0.0;
    for spec in dirs.turns(scenario, &base_url) {
        let (program, args) = agent.command(&spec);
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(&dirs.workspace)
            .env_clear()
            .envs(dirs.env(&base_url, spec.turn))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let finished = run_timed(&mut command, scenario.agent.timeout()).expect("upstream starts");
        if finished.timed_out {
            println!("  {} turn {}: upstream ran out of time (direct run)", scenario.name, spec.turn);
        }
        total += finished.wall.as_secs_f64() * 1000.0;
    }
    total
}

/// Runs a whole-suite command (given `--work-dir` here) and reads the run.json it left for each scenario.
fn suite_pass(command: &mut Command, out: &Path, scenarios: &[Scenario]) -> SuitePass {
    let root = default_work_root();
    std::fs::create_dir_all(&root).expect("the work root");
    // A work directory of its own, outside /tmp as the recorder's default is, so that what is in it is this pass's.
    let work = tempfile::Builder::new().prefix("bench-").tempdir_in(&root).expect("a work directory");
    command.arg("--work-dir").arg(work.path());
    command.current_dir(repo_root()).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let serial: Vec<String> = scenarios.iter().filter(|s| s.serial).map(|s| s.name.clone()).collect();
    let (finished, flight) = run_observed(command, SUITE_TIMEOUT, |ended| sample_flight(work.path(), &serial, ended))
        .expect("parity starts");
    let runs = scenarios
        .iter()
        .map(|s| match RunRecord::load(&out.join(&s.name).join("run.json")) {
            Ok(r) => (s.name.clone(), r.duration_ms as f64, r.turns.iter().map(|t| t.duration_ms as f64).sum()),
            Err(_) => (s.name.clone(), f64::NAN, f64::NAN),
        })
        .collect();
    SuitePass {
        wall: finished.wall.as_secs_f64() * 1000.0,
        cpu: finished.cpu().as_secs_f64() * 1000.0,
        code: finished.code,
        runs,
        flight,
    }
}

fn parallel_check(root: &Path, scenarios_dir: &Path, rcodex: &Path, rounds: usize, tmp: &Path) {
    let baseline = root.join("captures/codex-0.169.0");
    println!("\nparallel check: rcodex {} against {}", rcodex.display(), baseline.display());
    // The scenarios the baseline holds, as parity check runs them.
    let scenarios: Vec<Scenario> = parity_recorder::scenario::load_dir(scenarios_dir)
        .expect("the scenarios load")
        .into_iter()
        .filter(|s| baseline.join(&s.name).join("run.json").is_file())
        .collect();
    let serial: Vec<&str> = scenarios.iter().filter(|s| s.serial).map(|s| s.name.as_str()).collect();
    println!("{} scenarios; marked serial (they run alone): {}", scenarios.len(), serial.join(", "));
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
    let (mut one, mut all): (Vec<SuitePass>, Vec<SuitePass>) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let check = |jobs: usize| {
            let out = tmp.join(format!("check-{round}-{jobs}"));
            let mut command = Command::new(parity_bin());
            command.args(["check", "--agent", "rcodex", "--jobs", &jobs.to_string()]);
            command.arg("--rcodex-bin").arg(rcodex).arg("--baseline").arg(&baseline);
            command.arg("--scenarios").arg(scenarios_dir).arg("--out").arg(&out);
            // As scripts/check.sh runs it: the project's accepted divergences set apart.
            command.arg("--accept").arg(repo_root().join("fixtures/accepted/rcodex.toml"));
            if std::env::var_os("PARITY_BENCH_SCENARIOS").is_some() {
                for scenario in &scenarios {
                    command.arg("--only").arg(&scenario.name);
                }
            }
            suite_pass(&mut command, &out, &scenarios)
        };
        let order = if round % 2 == 0 { [1, cores] } else { [cores, 1] };
        for jobs in order {
            let pass = check(jobs);
            println!(
                "round {}: parity check --jobs {jobs}: {} (exit {:?}: 0 all match, 1 divergences), CPU {}, \
                 scenarios' own {}, {:.2} under way at once (max {})",
                round + 1,
                secs(pass.wall / 1000.0),
                pass.code,
                secs(pass.cpu / 1000.0),
                secs(pass.run_sum() / 1000.0),
                pass.flight.mean,
                pass.flight.max,
            );
            if !pass.complete() {
                println!("  parity check did not record every scenario: the figures below are not meaningful");
            }
            if jobs == 1 { one.push(pass) } else { all.push(pass) }
        }
    }
    let stat = |v: Vec<f64>| Stats::of(&v).expect("at least one round");
    let row = |label: String, passes: &[SuitePass]| {
        let median = |pick: &dyn Fn(&SuitePass) -> f64| stat(passes.iter().map(pick).collect()).median;
        vec![
            label,
            secs(median(&|p| p.wall) / 1000.0),
            secs(median(&|p| p.run_sum()) / 1000.0),
            format!("{:.2}", median(&|p| p.cpu / p.wall)),
            format!("{:.2}", median(&|p| p.flight.mean)),
            format!("{:.2}", median(&|p| p.flight.mean_parallel_part)),
            format!("{:.0}%", median(&|p| p.flight.share_two_plus) * 100.0),
        ]
    };
    println!();
    print_table(
        &[
            "parity check --agent rcodex",
            "wall",
            "sum of scenario times",
            "cores busy (CPU/wall)",
            "scenarios at once",
            "at once, serial ones aside",
            "time with 2+ at once, serial ones aside",
        ],
        &[row("--jobs 1".into(), &one), row(format!("--jobs {cores} (the default)"), &all)],
    );
    let parallel = stat(all.iter().map(|p| p.flight.mean_parallel_part).collect()).median;
    let speedup = stat(one.iter().map(|p| p.wall).collect()).median / stat(all.iter().map(|p| p.wall).collect()).median;
    println!(
        "target: the default check runs scenarios side by side on both cores: outside the serial scenarios, \
         {parallel:.2} under way at once on average (target > 1.5); {speedup:.2}x faster than --jobs 1: {}",
        verdict(Some(parallel > 1.5))
    );
}
