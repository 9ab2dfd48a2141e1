//! `parity sweep`: one steer scenario run once per hold point, for each agent, and one table of where the steer
//! landed. This is the steer-timing experiment: the same steer, sent at different moments of the model's answer.
//!
//! The scenario's first steer names a hold of the model script (`steer = { at = "HOLD", ... }`); each point moves
//! that hold to stop before another event of its step (`--point NAME=EVENT`). Everything else is the scenario as
//! written, recorded as `parity record` records it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use parity_recorder::scenario::{AgentTrigger, TurnStep};
use parity_recorder::suite::default_work_root;
use parity_recorder::{Agent, RecordOptions, Scenario};
use parity_server::script::OutputItem;
use parity_timeline::Landing;
use serde::Serialize;

use crate::style::{self, paint};

#[derive(Args)]
pub struct SweepArgs {
    /// A scenario whose first steer is tied to a hold of the script.
    #[arg(long, value_name = "FILE")]
    scenario: PathBuf,
    /// The agents to compare (repeatable): `codex`, `rcodex` or a command template, as for `parity record`.
    #[arg(long, value_name = "AGENT", required = true)]
    agent: Vec<String>,
    /// A point, NAME=EVENT: the steer's hold stops before the first EVENT of its step; or NAME=agent:METHOD[:ITEM_TYPE]:
    /// the steer goes when the agent sends that notification (`agent:item/started:commandExecution`: while a command
    /// runs; `agent:turn/completed`: after the last response). Repeatable. Default: the points every Responses stream
    /// has, from before the first event to before response.completed.
    #[arg(long, value_name = "NAME=EVENT")]
    point: Vec<String>,
    /// The upstream Codex binary, instead of the one under .upstream/.
    #[arg(long, value_name = "PATH")]
    upstream_bin: Option<PathBuf>,
    /// The rcodex binary, instead of the one built beside parity.
    #[arg(long, value_name = "PATH")]
    rcodex_bin: Option<PathBuf>,
    /// Keep each run's recording in DIR/<point>/<agent> (by default they go to a temporary directory).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: FormatArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
}

/// Points every stream offers: `name=event`.
const DEFAULT_POINTS: &[(&str, &str)] = &[
    ("before-first-event", "response.created"),
    ("before-first-item", "response.output_item.added"),
    ("mid-message", "response.output_text.delta"),
    ("after-first-item", "response.output_item.done"),
    ("before-completed", "response.completed"),
];

/// One run of the sweep.
#[derive(Debug, Serialize)]
struct Row {
    point: String,
    before: String,
    agent: String,
    /// Where the steer landed, or why the run could not say.
    landing: Result<Landing, String>,
    /// The point was not run: the held step never sends its event.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    skipped: bool,
}

pub fn run(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let scenario = Scenario::load(&args.scenario)?;
    let hold = first_steer_hold(&scenario)?;
    let points = points(&args.point)?;
    let agents = args
        .agent
        .iter()
        .map(|spec| {
            Agent::parse(spec, args.upstream_bin.as_deref(), args.rcodex_bin.as_deref()).map_err(anyhow::Error::msg)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let temporary = tempfile::Builder::new().prefix("parity-sweep-").tempdir().context("a temporary directory")?;
    let out = args.out.clone().unwrap_or_else(|| temporary.path().to_path_buf());
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let mut rows = Vec::new();
    for (name, event) in &points {
        let moved = match with_point(&scenario, &hold, event) {
            Ok(moved) => moved,
            Err(why) => {
                // A point this step cannot hold at (a message event in a step of tool calls) is no failure.
                for agent in &agents {
                    let (point, before, agent) = (name.clone(), event.clone(), agent.label().to_string());
                    rows.push(Row { point, before, agent, landing: Err(format!("{why:#}")), skipped: true });
                }
                continue;
            }
        };
        for (i, agent) in agents.iter().enumerate() {
            anstream::eprintln!("{} {name} ({event}) with {}", paint(style::DIM, "sweep:"), agent.label());
            let label = agent.label();
            let simple = label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            let dir = out.join(name).join(if simple { label.to_string() } else { format!("agent-{}", i + 1) });
            let options =
                RecordOptions { out: dir.clone(), work_root: default_work_root(), keep_work: false, clean: true };
            let landing = match runtime.block_on(parity_recorder::record(&moved, agent, &options)) {
                Err(e) => Err(e.to_string()),
                Ok(run) => {
                    let landing = parity_timeline::build(&dir)
                        .map_err(|e| e.to_string())
                        .and_then(|t| t.steers.into_iter().next().ok_or_else(|| "no steer was sent".to_string()));
                    // A steer that reached no request in a run that failed: the failure says why (a refused steer).
                    match (landing, run.failure()) {
                        (Ok(l), Some(why)) if l.request.is_none() => Err(why),
                        (landing, _) => landing,
                    }
                }
            };
            let (point, before, agent) = (name.clone(), event.clone(), agent.label().to_string());
            rows.push(Row { point, before, agent, landing, skipped: false });
        }
    }
    match args.format {
        FormatArg::Text => anstream::print!("{}", table(&rows)),
        FormatArg::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
    }
    Ok(if rows.iter().all(|r| r.landing.is_ok() || r.skipped) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The hold the scenario's first steer waits for.
fn first_steer_hold(scenario: &Scenario) -> anyhow::Result<String> {
    scenario
        .turns
        .iter()
        .find_map(|t| match t {
            TurnStep::Prompt(turn) => turn.steer.first().map(|s| s.at.clone()),
            _ => None,
        })
        .with_context(|| format!("{}: no turn has a steer to sweep", scenario.path.display()))
}

fn points(given: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    if given.is_empty() {
        return Ok(DEFAULT_POINTS.iter().map(|(n, e)| (n.to_string(), e.to_string())).collect());
    }
    given
        .iter()
        .map(|p| match p.split_once('=') {
            Some((name, event)) if !name.is_empty() && !event.is_empty() => Ok((name.to_string(), event.to_string())),
            _ => bail!("--point {p}: give NAME=EVENT, e.g. mid-message=response.output_text.delta"),
        })
        .collect()
}

/// The scenario with its first steer sent at `point`: an event of the held step (the hold moved before it, see
/// [`with_hold_before`]), or a message of the agent's (`agent:METHOD[:ITEM_TYPE]`: the steer waits for it, and the
/// hold it waited for goes, so that the stream is not held for nothing).
fn with_point(scenario: &Scenario, hold: &str, point: &str) -> anyhow::Result<Scenario> {
    if AgentTrigger::parse(point).is_none() {
        return with_hold_before(scenario, hold, point);
    }
    let mut moved = scenario.clone();
    let lists = std::iter::once(&mut moved.script.steps).chain(moved.script.sessions.iter_mut().map(|s| &mut s.steps));
    for steps in lists {
        for (i, step) in steps.iter_mut().enumerate() {
            let step_name = step.name.clone().unwrap_or_else(|| format!("step-{}", i + 1));
            let name_of = |h: &parity_server::Hold| h.name.clone().unwrap_or_else(|| step_name.clone());
            if step.hold.as_ref().is_some_and(|h| name_of(h) == hold) {
                step.hold = None;
            }
            step.output.retain(|item| !matches!(item, OutputItem::Hold(h) if name_of(h) == hold));
        }
    }
    let steer = moved.turns.iter_mut().find_map(|t| match t {
        TurnStep::Prompt(turn) => turn.steer.first_mut(),
        _ => None,
    });
    steer.expect("the scenario has a steer").at = point.to_string();
    moved.script.validate().map_err(|e| anyhow::anyhow!("point {point}: {e}"))?;
    Ok(moved)
}

/// The scenario with the hold named `hold` (of a step, or placed in its `output`) moved before `event`; the script is checked again, so a point
/// whose event the step never sends is refused, naming it.
fn with_hold_before(scenario: &Scenario, hold: &str, event: &str) -> anyhow::Result<Scenario> {
    let mut moved = scenario.clone();
    // A step-level hold is named by its own `name`, else its step's `name`, else `step-N` (1-based in its list).
    let lists = std::iter::once(&mut moved.script.steps).chain(moved.script.sessions.iter_mut().map(|s| &mut s.steps));
    let mut found = false;
    for steps in lists {
        for (i, step) in steps.iter_mut().enumerate() {
            let step_name = step.name.clone().unwrap_or_else(|| format!("step-{}", i + 1));
            if let Some(h) = step.hold.as_mut() {
                if h.name.clone().unwrap_or_else(|| step_name.clone()) == hold {
                    h.before = Some(event.to_string());
                    found = true;
                }
                continue;
            }
            // A hold placed in `output` holds where it stands: it becomes the step's hold, before the point's event.
            let inline = step.output.iter().position(
                |item| matches!(item, OutputItem::Hold(h) if h.name.clone().unwrap_or_else(|| step_name.clone()) == hold),
            );
            if let Some(at) = inline
                && let OutputItem::Hold(mut h) = step.output.remove(at)
            {
                h.name = Some(hold.to_string());
                h.before = Some(event.to_string());
                step.hold = Some(h);
                found = true;
            }
        }
    }
    if !found {
        bail!("{}: the steer waits for hold \"{hold}\", but no step holds under that name", scenario.path.display());
    }
    moved.script.validate().map_err(|e| anyhow::anyhow!("point {event}: {e}"))?;
    Ok(moved)
}

/// One row per point and agent.
fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<20} {:<38} {:<10} {:<16} {:<26} {}\n",
        "point", "held before", "agent", "request", "position", "after"
    );
    for row in rows {
        let line = match &row.landing {
            Ok(l) => format!(
                "{:<20} {:<38} {:<10} {:<16} {:<26} {}",
                row.point,
                row.before,
                row.agent,
                l.request.as_deref().unwrap_or("nowhere"),
                format!("{} ({})", l.pointer.as_deref().unwrap_or("-"), l.role.as_deref().unwrap_or("-")),
                l.after
            ),
            Err(_) if row.skipped => format!(
                "{:<20} {:<38} {:<10} {}",
                row.point,
                row.before,
                row.agent,
                paint(style::DIM, "skipped: the held step sends no such event")
            ),
            Err(e) => format!("{:<20} {:<38} {:<10} {}", row.point, row.before, row.agent, paint(style::BAD, e)),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = r#"
[agent]
frontend = "app-server"

[[turns]]
prompt = "Write a poem."
steer = { at = "answer", text = "Make it short." }

[[script.steps]]
name = "answer"
hold = { before = "response.completed", until = "release" }
output = [{ message = "The sea" }]

[[script.steps]]
output = [{ message = "Wait" }, { hold = { name = "inline", until = "release" } }]

[[script.steps]]
output = [{ message = "Short." }]
"#;

    #[test]
    fn each_point_moves_the_steer_s_hold_and_a_point_the_step_never_reaches_is_refused() {
        let scenario = Scenario::parse(SCENARIO, std::path::Path::new("/s/sweep.toml")).unwrap();
        let hold = first_steer_hold(&scenario).unwrap();
        assert_eq!(hold, "answer");
        let moved = with_hold_before(&scenario, &hold, "response.output_text.delta").unwrap();
        assert_eq!(moved.script.steps[0].hold.as_ref().unwrap().before.as_deref(), Some("response.output_text.delta"));
        assert_eq!(moved.script.steps[1], scenario.script.steps[1], "nothing else changes");
        let e = with_hold_before(&scenario, &hold, "response.function_call_arguments.delta").unwrap_err().to_string();
        assert!(e.contains("matches no event"), "{e}");
        let e = with_hold_before(&scenario, "nope", "response.created").unwrap_err().to_string();
        assert!(e.contains("no step holds under that name"), "{e}");
        let waiting = with_point(&scenario, &hold, "agent:item/started:commandExecution").unwrap();
        assert!(waiting.script.steps[0].hold.is_none(), "the steer no longer waits for the hold, which goes");
        let TurnStep::Prompt(turn) = &waiting.turns[0] else { panic!("a prompt") };
        assert_eq!(turn.steer[0].at, "agent:item/started:commandExecution");
        let moved = with_hold_before(&scenario, "inline", "response.created").unwrap();
        let step = &moved.script.steps[1];
        assert_eq!(step.hold.as_ref().unwrap().before.as_deref(), Some("response.created"));
        assert_eq!(step.output.len(), 1, "the inline hold became the step's");
        assert!(points(&["x".into()]).is_err());
        assert_eq!(points(&[]).unwrap().len(), DEFAULT_POINTS.len());
    }
}
