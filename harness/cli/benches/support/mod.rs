//! What the benchmarks share: where things are, a `parity serve` process, timing a process with its resource usage,
//! statistics, and printing a table.

#![allow(dead_code)] // each benchmark uses its own part

pub mod app_server;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository exists")
}

/// The `parity` binary cargo built for this benchmark.
pub fn parity_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_parity"))
}

/// A `parity serve` process on a free loopback port, stopped on drop.
pub struct Serve {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, from the server's first line.
    pub url: String,
}

impl Serve {
    /// `parity serve --listen 127.0.0.1:0 --quiet ARGS...`, once it listens.
    pub fn start(args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Serve {
        let mut child = Command::new(parity_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--quiet"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("parity starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").expect("first line names the address").to_string();
        Serve { child, url }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Prints the load average; the figures assume an otherwise idle machine.
pub fn print_load() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average at start: {} on {} cores (the figures assume an otherwise idle machine)",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        std::thread::available_parallelism().map(usize::from).unwrap_or(0)
    );
}

/// `PARITY_BENCH_RUNS`, or `default`.
pub fn runs(default: usize) -> usize {
    std::env::var("PARITY_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(default)
}

/// Upstream Codex: `$PARITY_UPSTREAM_BIN`, what is installed under `.upstream/`, or else what
/// `scripts/install-upstream.sh` installs now. An error says why there is none.
pub fn upstream_bin() -> Result<PathBuf, String> {
    if let Ok(bin) = parity_recorder::agent::find_upstream() {
        return std::path::absolute(&bin).map_err(|e| format!("{}: {e}", bin.display()));
    }
    let script = repo_root().join("scripts/install-upstream.sh");
    let output =
        Command::new(&script).stderr(Stdio::inherit()).output().map_err(|e| format!("{}: {e}", script.display()))?;
    let path = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if output.status.success() && Path::new(&path).is_file() {
        Ok(PathBuf::from(path))
    } else {
        Err(format!("scripts/install-upstream.sh could not install upstream Codex ({})", output.status))
    }
}

/// rcodex: `$PARITY_RCODEX_BIN`, or `target/release/rcodex`. An error says how to build it.
pub fn rcodex_bin() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("PARITY_RCODEX_BIN") {
        // Agents run in their workspace, where a relative path would mean something else.
        return std::path::absolute(&bin).map_err(|e| format!("PARITY_RCODEX_BIN: {e}"));
    }
    let bin = repo_root().join("target/release/rcodex");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("{} is not built: run cargo build --release -p rcodex (or set PARITY_RCODEX_BIN)", bin.display()))
    }
}

/// How a process ended, how long it ran, and what it used (its own and its waited-for descendants', as wait4(2)
/// reports them).
pub struct Finished {
    pub code: Option<i32>,
    pub wall: Duration,
    pub timed_out: bool,
    pub usage: libc::rusage,
}

impl Finished {
    pub fn cpu(&self) -> Duration {
        timeval(self.usage.ru_utime) + timeval(self.usage.ru_stime)
    }

    /// Peak resident set size in bytes: the largest process of the tree.
    pub fn max_rss(&self) -> u64 {
        self.usage.ru_maxrss as u64 * 1024
    }
}

pub fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// Runs `command` in a process group of its own, timed from spawn to reaping; after `timeout` the group is killed.
/// The group is killed at the end in any case, so nothing it started outlives it.
pub fn run_timed(command: &mut Command, timeout: Duration) -> std::io::Result<Finished> {
    run_observed(command, timeout, |_| ()).map(|(finished, ())| finished)
}

/// [`run_timed`], with `observe` running on a thread of its own meanwhile; it should return once its flag is set
/// (when the process has ended).
pub fn run_observed<R: Send>(
    command: &mut Command,
    timeout: Duration,
    observe: impl FnOnce(&AtomicBool) -> R + Send,
) -> std::io::Result<(Finished, R)> {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    let started = Instant::now();
    let child = command.spawn()?;
    let pid = child.id() as i32;
    let ended = AtomicBool::new(false);
    let (done, watch) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let watchdog = scope.spawn(move || {
            let expired = matches!(watch.recv_timeout(timeout), Err(mpsc::RecvTimeoutError::Timeout));
            if expired {
                // SAFETY: kill(2) on the process group the child leads; no memory is involved.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
            expired
        });
        let observer = scope.spawn(|| observe(&ended));
        let waited = wait4(pid);
        let wall = started.elapsed();
        ended.store(true, Ordering::SeqCst);
        let _ = done.send(());
        let timed_out = watchdog.join().unwrap_or(false);
        let observed = observer.join().expect("the observer does not panic");
        // SAFETY: as above.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        drop(child); // already reaped: dropping a std Child neither waits nor kills
        let (status, usage) = waited?;
        Ok((Finished { code: exit_code(status), wall, timed_out, usage }, observed))
    })
}

/// wait4(2) on one child, retried on EINTR.
pub fn wait4(pid: i32) -> std::io::Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain old data, and wait4 writes into the two locals it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((status, usage));
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// The exit code, or 128 + the signal, shell style; `None` only for statuses that are neither.
pub fn exit_code(status: i32) -> Option<i32> {
    if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Some(128 + libc::WTERMSIG(status))
    } else {
        None
    }
}

/// Median and spread of a sample.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub n: usize,
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let at = |p: f64| {
            // Linear interpolation between closest ranks.
            let rank = (v.len() - 1) as f64 * p;
            let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
        };
        Some(Stats { n: v.len(), median: at(0.5), p10: at(0.1), p90: at(0.9), min: v[0], max: v[v.len() - 1] })
    }

    /// `median (p10 to p90)`, each formatted by `unit`.
    pub fn show(&self, unit: impl Fn(f64) -> String) -> String {
        if self.n < 3 {
            return format!("{} (n={})", unit(self.median), self.n);
        }
        format!("{} ({} to {})", unit(self.median), unit(self.p10), unit(self.p90))
    }
}

pub fn ms(v: f64) -> String {
    if v >= 100.0 { format!("{v:.0} ms") } else { format!("{v:.1} ms") }
}

pub fn secs(v: f64) -> String {
    format!("{v:.2} s")
}

pub fn mib(v: f64) -> String {
    format!("{:.1} MB", v / 1_000_000.0)
}

/// Prints rows under a header, columns aligned, as a Markdown table (so it can be pasted into the README).
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> =
            cells.iter().zip(&widths).map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count()))).collect();
        println!("| {} |", padded.join(" | "));
    };
    line(header.iter().map(|h| h.to_string()).collect());
    line(widths.iter().map(|w| "-".repeat(*w)).collect());
    for row in rows {
        line(row.clone());
    }
}

/// `met`, `NOT MET`, or `n/a` when there is nothing to judge.
pub fn verdict(met: Option<bool>) -> String {
    match met {
        Some(true) => "met".into(),
        Some(false) => "NOT MET".into(),
        None => "n/a".into(),
    }
}

/// `pid` and every live descendant of it (by parent pid, read from /proc), `pid` first.
pub fn process_tree(pid: i32) -> Vec<i32> {
    let mut parents: Vec<(i32, i32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // `PID (COMM) STATE PPID ...`: the name may hold spaces and parentheses, so split after the last `)`.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok());
        if let Some(ppid) = ppid {
            parents.push((child, ppid));
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(parents.iter().filter(|(_, p)| *p == parent).map(|(c, _)| *c));
        i += 1;
    }
    tree
}

/// A `kB` field of /proc/PID/status (`VmHWM`, `VmRSS`...) in bytes, while the process lives.
pub fn proc_status_bytes(pid: i32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let value = status.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?;
    let kb: u64 = value.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kb * 1024)
}

/// The command name of a live process (/proc/PID/comm).
pub fn proc_name(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|n| n.trim().to_string()).unwrap_or_default()
}

/// What a value is, and how to show it.
pub type Metric = (&'static str, fn(f64) -> String);

pub fn count(v: f64) -> String {
    format!("{v:.0}")
}

/// A part of a benchmark that measures upstream against rcodex.
pub trait Measured: Copy {
    fn name(self) -> &'static str;
    /// What each value of a sample is, and its unit; the first is the one the target is about.
    fn metrics(self) -> &'static [Metric];
    /// The target: rcodex's first metric at most this times upstream's.
    fn target(self) -> (f64, &'static str);
}

/// One run of one part with one agent: the part's metrics, in order, and what went wrong.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub values: Vec<f64>,
    pub note: String,
    pub problems: Vec<String>,
}

impl Sample {
    pub fn failed(why: String) -> Sample {
        Sample { problems: vec![why], ..Sample::default() }
    }

    pub fn line(&self, part: impl Measured) -> String {
        let shown: Vec<String> =
            part.metrics().iter().zip(&self.values).map(|((what, unit), v)| format!("{what} {}", unit(*v))).collect();
        let mut line = shown.join(", ");
        if !self.note.is_empty() {
            line += &format!(" ({})", self.note);
        }
        if !self.problems.is_empty() {
            line += &format!("  FAILED: {}", self.problems.join("; "));
        }
        line
    }
}

/// Upstream and rcodex, each if it is found and passes `probe`; the others are named with the reason.
pub fn compared_agents(mut probe: impl FnMut(&Path) -> Result<(), String>) -> Vec<(&'static str, PathBuf)> {
    let mut agents = Vec::new();
    for (label, found) in [("upstream", upstream_bin()), ("rcodex", rcodex_bin())] {
        let probed = found.and_then(|bin| match probe(&bin) {
            Ok(()) => Ok(bin),
            Err(why) => Err(format!("{}: {why}", bin.display())),
        });
        match probed {
            Ok(bin) => agents.push((label, bin)),
            Err(why) => println!("{label} is not measured: {why}"),
        }
    }
    agents
}

/// One warm-up round (discarded), then `rounds` measured ones; each round runs every part with every agent, the
/// agents' order flipping every round. Prints each run. The samples are indexed `[part][agent]`.
pub fn measure_rounds<P: Measured>(
    parts: &[P],
    agents: &[(&str, PathBuf)],
    rounds: usize,
    mut run: impl FnMut(P, &Path) -> Sample,
) -> Vec<Vec<Vec<Sample>>> {
    let mut samples: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); agents.len()]; parts.len()];
    for round in 0..=rounds {
        for (p, part) in parts.iter().enumerate() {
            let mut order: Vec<usize> = (0..agents.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for a in order {
                let (label, bin) = &agents[a];
                let sample = run(*part, bin);
                let tag = if round == 0 { "warm-up".to_string() } else { format!("{round}/{rounds}") };
                println!("{tag:>7} {:<9} {label:<8} {}", part.name(), sample.line(*part));
                if round > 0 {
                    samples[p][a].push(sample);
                }
            }
        }
    }
    samples
}

/// Every metric's median (p10 to p90) per agent, then each part's target judged on its first metric: a target
/// touched by a failed run is not judged.
pub fn report<P: Measured>(parts: &[P], agents: &[(&str, PathBuf)], samples: &[Vec<Vec<Sample>>]) {
    let stat = |p: usize, a: usize, m: usize| {
        let values: Vec<f64> = samples[p][a]
            .iter()
            .filter(|s| s.problems.is_empty())
            .filter_map(|s| s.values.get(m).copied())
            .filter(|v| v.is_finite())
            .collect();
        Stats::of(&values)
    };
    println!("\nmedian (p10 to p90) over the runs that did what they should; runs: those of all");
    let mut rows = Vec::new();
    for (p, part) in parts.iter().enumerate() {
        for (m, (what, unit)) in part.metrics().iter().enumerate() {
            for (a, (label, _)) in agents.iter().enumerate() {
                let clean = samples[p][a].iter().filter(|s| s.problems.is_empty()).count();
                rows.push(vec![
                    format!("{}: {what}", part.name()),
                    label.to_string(),
                    stat(p, a, m).map_or("-".into(), |s| s.show(unit)),
                    format!("{clean}/{}", samples[p][a].len()),
                ]);
            }
        }
    }
    print_table(&["what", "agent", "measured", "runs"], &rows);

    let agent = |label: &str| agents.iter().position(|(l, _)| *l == label);
    let (up, rc) = (agent("upstream"), agent("rcodex"));
    let mut rows = Vec::new();
    for (p, part) in parts.iter().enumerate() {
        let (what, unit) = part.metrics()[0];
        let (target, target_text) = part.target();
        let median = |a: Option<usize>| Some(stat(p, a?, 0)?.median);
        let (u, r) = (median(up), median(rc));
        let ratio = u.zip(r).map(|(u, r)| r / u);
        let met = verdict(ratio.map(|x| x <= target));
        let failed: Vec<String> = [("upstream", up), ("rcodex", rc)]
            .iter()
            .filter_map(|(label, a)| {
                let runs = &samples[p][(*a)?];
                let bad: Vec<&Sample> = runs.iter().filter(|s| !s.problems.is_empty()).collect();
                let first = bad.first()?;
                Some(format!("{} of {} {label} runs failed ({})", bad.len(), runs.len(), first.problems[0]))
            })
            .collect();
        let judged = if failed.is_empty() {
            met
        } else if ratio.is_none() {
            format!("not judged: {}", failed.join("; "))
        } else {
            format!("not judged: {}; as measured: {met}", failed.join("; "))
        };
        rows.push(vec![
            format!("{}: {what}", part.name()),
            target_text.to_string(),
            u.map_or("-".into(), unit),
            r.map_or("-".into(), unit),
            ratio.map_or("-".into(), |x| format!("{x:.3}")),
            judged,
        ]);
    }
    println!();
    print_table(&["what", "target", "upstream", "rcodex", "ratio", "verdict"], &rows);
}
