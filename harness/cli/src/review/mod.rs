//! `parity review BASELINE NEW`: a re-recorded suite against its baseline, scenario by scenario, like
//! `cargo insta review`: each scenario whose normalized requests differ is shown and accepted (the new recording
//! replaces the baseline's), rejected (the baseline stays), accepted as a known divergence (the baseline stays and
//! the divergences go to the accept file), or skipped. Undecided scenarios stay pending in `NEW/.parity-review.json`.

mod replace;
mod state;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use parity_diff::report::{self, Format};
use parity_diff::suite::{ScenarioResult, scenario_names};
use parity_diff::{AcceptList, Comparison, NormalizeOptions, RuleSet};

use crate::style::{self, paint};
use state::{Decision, ReviewState, STATE_FILE};

#[derive(Args)]
#[command(group = clap::ArgGroup::new("mode").multiple(false))]
pub struct ReviewArgs {
    /// The baseline: one directory per scenario (e.g. captures/codex-0.169.0). Accepted scenarios are replaced here.
    #[arg(value_name = "BASELINE")]
    baseline: PathBuf,
    /// The re-recorded suite, as `parity record --all --out NEW` wrote it. The pending review is kept here.
    #[arg(value_name = "NEW")]
    new: PathBuf,
    /// Normalization rules (TOML) added to the built-in ones, as for `parity diff`.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// The accept file: divergences it covers do not count, and the `k` choice appends entries to it (created when
    /// missing).
    #[arg(long, value_name = "FILE")]
    accept_file: Option<PathBuf>,
    /// Accept every undecided scenario without asking.
    #[arg(long, group = "mode")]
    accept_all: bool,
    /// Reject every undecided scenario without asking.
    #[arg(long, group = "mode")]
    reject_all: bool,
    /// List every scenario with its state and change nothing. Exits 0 when nothing awaits a decision.
    #[arg(long, group = "mode")]
    status: bool,
    /// Only these scenarios (repeatable).
    #[arg(long, value_name = "NAME")]
    only: Vec<String>,
}

/// Exit status when something is left undecided.
const EXIT_PENDING: u8 = 1;

/// Where a scenario stands.
enum Standing {
    /// Nothing differs (once accepted divergences are set apart).
    Clean,
    /// A decision about this very recording was made earlier.
    Decided(Decision),
    /// Differs, or exists on one side only, and awaits a decision.
    Undecided,
    /// Could not be compared although both sides have it.
    Error(String),
}

struct Item {
    result: ScenarioResult,
    in_baseline: bool,
    in_new: bool,
    fingerprint: String,
    standing: Standing,
}

/// What the user chose for one scenario.
enum Choice {
    Accept,
    Reject,
    Known,
    Skip,
    Quit,
}

#[derive(Default)]
struct Tally {
    accepted: usize,
    rejected: usize,
    known: usize,
    skipped: usize,
}

pub fn run(args: ReviewArgs) -> anyhow::Result<ExitCode> {
    for (what, dir) in [("BASELINE", &args.baseline), ("NEW", &args.new)] {
        if !dir.is_dir() {
            bail!("{what} {}: no such directory", dir.display());
        }
    }
    let baseline = args.baseline.canonicalize().with_context(|| format!("{}", args.baseline.display()))?;
    anyhow::ensure!(
        baseline != args.new.canonicalize().with_context(|| format!("{}", args.new.display()))?,
        "BASELINE and NEW are the same directory ({}): review a re-recording made elsewhere (parity record --all \
         --out NEW)",
        args.baseline.display()
    );
    let rules = match &args.rules {
        Some(path) => RuleSet::load(path).context("invalid rules file")?,
        None => RuleSet::builtin(),
    };
    let accept = match &args.accept_file {
        Some(path) if path.exists() => AcceptList::load(path).context("invalid accept file")?,
        _ => AcceptList::default(),
    };
    if !args.status {
        for (name, warning) in replace::recover_all(&args.baseline)? {
            anstream::eprintln!("{} finished an interrupted replacement of {name}", paint(style::WARN, "parity:"));
            if let Some(warning) = warning {
                anstream::eprintln!("{} {warning}", paint(style::WARN, "parity:"));
            }
        }
    }
    let mut state = match ReviewState::load(&args.new)? {
        Some(state) if state.baseline == baseline => state,
        Some(state) => {
            anstream::eprintln!(
                "{} {} was a review against {}; starting afresh against {}",
                paint(style::WARN, "parity:"),
                args.new.join(STATE_FILE).display(),
                state.baseline.display(),
                baseline.display()
            );
            ReviewState::new(&baseline)
        }
        None => ReviewState::new(&baseline),
    };

    let mut items = survey(&args, &rules, &accept, &state)?;
    if args.status {
        print_status(&args, &items);
        return Ok(exit_code(&items));
    }

    // Keys are read from the terminal the questions are written to: both ends must be one.
    let interactive =
        !args.accept_all && !args.reject_all && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let undecided = items.iter().filter(|i| matches!(i.standing, Standing::Undecided)).count();
    let mut tally = Tally::default();
    let mut position = 0;
    for item in items.iter_mut().filter(|i| matches!(i.standing, Standing::Undecided)) {
        position += 1;
        let choice = if args.accept_all {
            Choice::Accept
        } else if args.reject_all {
            Choice::Reject
        } else if interactive {
            show(&args, item, position, undecided);
            ask(&args, item)?
        } else {
            Choice::Skip
        };
        let name = item.result.name.clone();
        let decision = match choice {
            Choice::Quit => break,
            Choice::Skip => {
                tally.skipped += usize::from(interactive);
                Decision::Pending
            }
            Choice::Reject => {
                tally.rejected += 1;
                Decision::Rejected
            }
            Choice::Accept => {
                let source = item.in_new.then(|| args.new.join(&name));
                if let Some(warning) = replace::replace(&args.baseline, &name, source.as_deref(), &rules)
                    .with_context(|| format!("accepting {name}: replacing {}", args.baseline.join(&name).display()))?
                {
                    anstream::eprintln!("{} {warning}", paint(style::WARN, "parity:"));
                }
                tally.accepted += 1;
                Decision::Accepted
            }
            Choice::Known => {
                let (file, reason) = (args.accept_file.as_ref().expect("offered only with a file"), read_reason()?);
                let comparison = item.result.outcome.as_ref().expect("offered only for a comparison");
                let n = append_known(file, &name, comparison, &reason)?;
                anstream::println!("{}", paint(style::DIM, format!("{n} entr(y/ies) added to {}", file.display())));
                tally.known += 1;
                Decision::Known
            }
        };
        state.set(&name, decision, &item.fingerprint);
        if decision != Decision::Pending {
            item.standing = Standing::Decided(decision);
        }
        // Saved after every decision: a review stopped anywhere resumes where it was.
        state.save(&args.new)?;
    }
    state.scenarios.retain(|name, _| items.iter().any(|i| &i.result.name == name) || !args.only.is_empty());
    state.save(&args.new)?;
    print_summary(&args, &items, &tally, interactive || args.accept_all || args.reject_all);
    Ok(exit_code(&items))
}

/// Compares the two suites and sets each scenario's standing from the comparison and the saved decisions.
fn survey(args: &ReviewArgs, rules: &RuleSet, accept: &AcceptList, state: &ReviewState) -> anyhow::Result<Vec<Item>> {
    let only = (!args.only.is_empty()).then_some(args.only.as_slice());
    let suite = parity_diff::diff_suites(&args.baseline, &args.new, rules, NormalizeOptions::default(), only)
        .with_context(|| format!("comparing {} with {}", args.baseline.display(), args.new.display()))?;
    let baseline_names = scenario_names(&args.baseline).with_context(|| format!("{}", args.baseline.display()))?;
    let new_names = scenario_names(&args.new).with_context(|| format!("{}", args.new.display()))?;
    if let Some(missing) = args.only.iter().find(|o| !suite.scenarios.iter().any(|s| &s.name == *o)) {
        bail!("--only {missing}: neither {} nor {} has such a scenario", args.baseline.display(), args.new.display());
    }
    let mut items = Vec::new();
    for mut result in suite.scenarios {
        if let Ok(comparison) = &mut result.outcome {
            accept.apply_in(comparison, Some(&result.name));
        }
        let in_baseline = baseline_names.contains(&result.name);
        let in_new = new_names.contains(&result.name);
        let fingerprint = replace::fingerprint(&args.new.join(&result.name))
            .with_context(|| format!("reading {}", args.new.join(&result.name).display()))?;
        let standing = match (&result.outcome, in_baseline && in_new) {
            // A scenario accepted (or accepted as known) earlier is clean now; its decision says why.
            (Ok(c), _) if c.is_clean() => match state.decided(&result.name, &fingerprint) {
                Some(decision @ (Decision::Accepted | Decision::Known)) => Standing::Decided(decision),
                _ => Standing::Clean,
            },
            (Err(e), true) => Standing::Error(e.clone()),
            _ => match state.decided(&result.name, &fingerprint) {
                Some(decision) => Standing::Decided(decision),
                None => Standing::Undecided,
            },
        };
        items.push(Item { result, in_baseline, in_new, fingerprint, standing });
    }
    Ok(items)
}

fn exit_code(items: &[Item]) -> ExitCode {
    if items.iter().any(|i| matches!(i.standing, Standing::Error(_))) {
        ExitCode::from(crate::EXIT_BAD_INPUT)
    } else if items.iter().any(|i| matches!(i.standing, Standing::Undecided)) {
        ExitCode::from(EXIT_PENDING)
    } else {
        ExitCode::SUCCESS
    }
}

/// What differs, in a few words: `2 prompt, 1 schema`, or which side is missing.
fn difference(args: &ReviewArgs, item: &Item) -> String {
    match (&item.result.outcome, item.in_baseline, item.in_new) {
        (_, true, false) => format!("gone: only the baseline has it, {} has no such scenario", args.new.display()),
        (_, false, true) => {
            format!("added: only the new suite has it, {} has no such scenario", args.baseline.display())
        }
        _ => report::scenario_verdict(&item.result),
    }
}

/// The standing in one word, padded before it is painted (escape codes have no width on a terminal).
fn standing_label(standing: &Standing) -> String {
    let (style, word) = match standing {
        Standing::Clean => (style::GOOD, "clean"),
        Standing::Decided(Decision::Accepted) => (style::GOOD, "accepted"),
        Standing::Decided(d) => (style::WARN, d.as_str()),
        Standing::Undecided => (style::BAD, "pending"),
        Standing::Error(_) => (style::BAD, "error"),
    };
    paint(style, format!("{word:<9}"))
}

/// `  name   standing  detail`, for the status and the non-interactive summary.
fn status_line(args: &ReviewArgs, item: &Item) -> String {
    let detail = match &item.standing {
        Standing::Clean => String::new(),
        Standing::Error(e) => e.clone(),
        _ => difference(args, item),
    };
    format!("  {:<28} {} {detail}", item.result.name, standing_label(&item.standing)).trim_end().to_string()
}

fn print_status(args: &ReviewArgs, items: &[Item]) {
    anstream::println!(
        "{} {} against {} (state in {})",
        paint(style::BOLD, "review of"),
        args.new.display(),
        args.baseline.display(),
        args.new.join(STATE_FILE).display()
    );
    for item in items {
        anstream::println!("{}", status_line(args, item));
    }
}

/// The scenario's name, what differs and the text report, before the question.
fn show(args: &ReviewArgs, item: &Item, position: usize, of: usize) {
    let mut out = anstream::stdout().lock();
    let _ = writeln!(
        out,
        "\n{} {}",
        paint(style::BOLD, format!("━━ {} ━━", item.result.name)),
        paint(style::DIM, format!("({position} of {of} to review)"))
    );
    let _ = writeln!(
        out,
        "{}",
        paint(style::DIM, format!("baseline: {}", args.baseline.join(&item.result.name).display()))
    );
    let _ = writeln!(out, "{}", paint(style::DIM, format!("new:      {}", args.new.join(&item.result.name).display())));
    match (&item.result.outcome, item.in_baseline && item.in_new) {
        (Ok(comparison), true) => {
            let options = report::Options { color: std::io::stdout().is_terminal(), ..Default::default() };
            let _ = write!(out, "\n{}", report::render(comparison, Format::Text, &options));
        }
        _ => {
            let _ = writeln!(out, "\n{}", paint(style::WARN, difference(args, item)));
        }
    }
    let _ = out.flush();
}

/// Asks for a key until a valid one comes.
fn ask(args: &ReviewArgs, item: &Item) -> anyhow::Result<Choice> {
    let name = &item.result.name;
    let accept_what = if item.in_new {
        format!("replace the baseline's {name} by the new recording")
    } else {
        format!("remove {name} from the baseline")
    };
    let known = args.accept_file.as_ref().filter(|_| item.in_baseline && item.in_new);
    let mut lines = vec![
        format!("  {} accept   {accept_what}", paint(style::GOOD, "a")),
        format!("  {} reject   keep the baseline; mark the new recording rejected", paint(style::BAD, "r")),
    ];
    if let Some(file) = known {
        lines.push(format!(
            "  {} known    keep the baseline; write these divergences to {} as accepted, with a reason",
            paint(style::WARN, "k"),
            file.display()
        ));
    }
    lines.push(format!("  {} skip     decide later", paint(style::WARN, "s")));
    lines.push(format!("  {} quit     leave this one and the rest for later", paint(style::DIM, "q")));
    anstream::println!("\n{}", lines.join("\n"));
    let term = dialoguer::console::Term::stdout();
    let keys = if known.is_some() { "a/r/k/s/q" } else { "a/r/s/q" };
    loop {
        anstream::print!("{} ", paint(style::BOLD, format!("decision [{keys}]>")));
        let _ = std::io::stdout().flush();
        let key = term.read_char().context("reading a key from the terminal")?;
        anstream::println!("{key}");
        match key.to_ascii_lowercase() {
            'a' => return Ok(Choice::Accept),
            'r' => return Ok(Choice::Reject),
            'k' if known.is_some() => return Ok(Choice::Known),
            's' => return Ok(Choice::Skip),
            'q' => return Ok(Choice::Quit),
            _ => anstream::println!(
                "{}",
                paint(style::WARN, format!("press a, r, {}s or q", if known.is_some() { "k, " } else { "" }))
            ),
        }
    }
}

fn read_reason() -> anyhow::Result<String> {
    dialoguer::Input::<String>::new()
        .with_prompt("reason (why this divergence is accepted)")
        .validate_with(
            |text: &String| {
                if text.trim().is_empty() { Err("an accept entry needs a reason") } else { Ok(()) }
            },
        )
        .interact_text()
        .context("reading the reason from the terminal")
        .map(|r| r.trim().to_string())
}

/// Appends an accept entry per (category, path) of the scenario's divergences, naming the scenario; the file is
/// checked whole before it is written, atomically. Returns how many entries were added.
fn append_known(file: &Path, scenario: &str, comparison: &Comparison, reason: &str) -> anyhow::Result<usize> {
    let mut seen: Vec<(String, String)> = Vec::new();
    for (_, divergence) in comparison.divergences() {
        let key = (divergence.category.to_string(), divergence.path.clone());
        if !seen.contains(&key) {
            seen.push(key);
        }
    }
    let existing = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut text = existing.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for (category, path) in &seen {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!(
            "[[accept]]\nscenario = {}\ncategory = {}\npath = {}\nreason = {}\n",
            quote(scenario),
            quote(category),
            quote(path),
            quote(reason)
        ));
    }
    AcceptList::from_toml(&text, file).with_context(|| format!("the entries for {scenario} would break the file"))?;
    parity_capture::store::write_atomic(file, text.as_bytes())
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(seen.len())
}

fn print_summary(args: &ReviewArgs, items: &[Item], tally: &Tally, decided_now: bool) {
    let count = |f: &dyn Fn(&Standing) -> bool| items.iter().filter(|i| f(&i.standing)).count();
    let clean = count(&|s| matches!(s, Standing::Clean));
    let pending: Vec<&Item> = items.iter().filter(|i| matches!(i.standing, Standing::Undecided)).collect();
    let earlier =
        count(&|s| matches!(s, Standing::Decided(_))).saturating_sub(tally.accepted + tally.rejected + tally.known);
    if !decided_now {
        for item in items {
            if !matches!(item.standing, Standing::Clean) {
                anstream::println!("{}", status_line(args, item));
            }
        }
    }
    let mut line = format!(
        "accepted {}, rejected {}, known {}, skipped {}; {clean} clean",
        tally.accepted, tally.rejected, tally.known, tally.skipped
    );
    if earlier > 0 {
        line.push_str(&format!(", {earlier} decided earlier"));
    }
    let errors: Vec<&Item> = items.iter().filter(|i| matches!(i.standing, Standing::Error(_))).collect();
    if !errors.is_empty() {
        line.push_str(&format!(", {} could not be compared", errors.len()));
    }
    line.push_str(&format!("; {} pending", pending.len()));
    anstream::println!("\n{} {line}", paint(style::BOLD, "parity review:"));
    if !pending.is_empty() {
        let names: Vec<String> = pending.iter().map(|i| i.result.name.clone()).collect();
        anstream::eprintln!(
            "{} {} scenario(s) await a decision ({}), kept in {}: run `parity review {} {}` in a terminal to decide \
             one by one, or pass --accept-all or --reject-all",
            paint(style::WARN, "parity:"),
            pending.len(),
            parity_capture::owned::brief_list(&names),
            args.new.join(STATE_FILE).display(),
            args.baseline.display(),
            args.new.display()
        );
    }
}
