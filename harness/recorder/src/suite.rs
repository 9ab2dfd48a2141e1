//! Recording a whole suite: every scenario, in parallel where safe.

use std::path::PathBuf;

use tokio::sync::Semaphore;

use crate::agent::Agent;
use crate::run::{RecordError, RecordOptions, RunRecord, record};
use crate::scenario::Scenario;

#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// Each scenario's run goes to `out/<scenario name>`.
    pub out: PathBuf,
    pub work_root: PathBuf,
    pub keep_work: bool,
    pub clean: bool,
    /// How many scenarios run at once; scenarios marked `serial` run alone.
    pub jobs: usize,
}

/// What the suite is doing, for a progress display.
pub enum SuiteEvent<'a> {
    Started { scenario: &'a Scenario },
    Finished { scenario: &'a Scenario, result: &'a Result<RunRecord, RecordError> },
}

/// Records every scenario; the results come back in the scenarios' order.
pub async fn record_suite(
    scenarios: &[Scenario],
    agent: &Agent,
    options: &SuiteOptions,
    on_event: &(dyn Fn(SuiteEvent) + Sync),
) -> Vec<Result<RunRecord, RecordError>> {
    let jobs = options.jobs.max(1);
    let slots = Semaphore::new(jobs);
    let runs = scenarios.iter().map(|scenario| {
        let slots = &slots;
        async move {
            // A serial scenario takes every slot: nothing runs beside it.
            let wanted = if scenario.serial { jobs as u32 } else { 1 };
            let _permit = slots.acquire_many(wanted).await.expect("the semaphore is never closed");
            on_event(SuiteEvent::Started { scenario });
            let run_options = RecordOptions {
                out: options.out.join(&scenario.name),
                work_root: options.work_root.clone(),
                keep_work: options.keep_work,
                clean: options.clean,
            };
            let result = record(scenario, agent, &run_options).await;
            on_event(SuiteEvent::Finished { scenario, result: &result });
            result
        }
    });
    futures_util::future::join_all(runs).await
}

/// Parallelism when none is asked for: the machine's cores.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map(usize::from).unwrap_or(2)
}

/// Where run directories go when none is asked for: outside the system temp directory, where Codex refuses to
/// install its PATH helpers and so behaves differently.
pub fn default_work_root() -> PathBuf {
    let var_tmp = PathBuf::from("/var/tmp");
    if var_tmp.is_dir() { var_tmp.join("parity-runs") } else { std::env::temp_dir().join("parity-runs") }
}
