//! Seeded chaos: with a given probability per model request, a fault drawn from a seed instead of (or on top of) the
//! script's answer, recorded in the capture beside the request (`chaos`), so that a failure can be told apart from
//! the agent's own and replayed exactly (`parity serve --replay` answers with what was sent, fault included).
//!
//! The draw depends only on the seed and the request's arrival number (1 for the server's first request), so the
//! same seed gives the same faults to the same requests, run after run. A fault that replaces the answer takes no
//! step of the script: the agent's retry gets the step the failed request would have had. A slow trickle delivers
//! the step itself, slowly.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::plan::{Action, Plan};

/// `SEED[:RATE]`: faults drawn from `SEED`, for a fraction `RATE` of the model requests (0.2 when absent). Written
/// and read in that form.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Chaos {
    pub seed: u64,
    pub rate: f64,
}

/// What chaos does to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// An HTTP error status instead of a stream, with or without `Retry-After` (seconds).
    Http {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u32>,
    },
    /// A stream that ends with `response.failed` (a server error).
    ResponseFailed,
    /// The connection cut before any event.
    CutBeforeEvents,
    /// The connection cut in the middle of a stream: `response.created` and part of a message, then nothing.
    CutMidStream,
    /// `response.created`, then silence for this long (longer than an agent's idle timeout), then a cut.
    Stall { ms: u64 },
    /// `response.created`, then an event whose data is not JSON, then a cut.
    Malformed,
    /// The script's own answer, with this pause before every event.
    Trickle { ms: u64 },
}

impl Chaos {
    pub const DEFAULT_RATE: f64 = 0.2;

    /// Reads `SEED[:RATE]`, saying what is wrong with it.
    pub fn parse(text: &str) -> Result<Chaos, String> {
        let (seed, rate) = match text.split_once(':') {
            Some((seed, rate)) => (seed, Some(rate)),
            None => (text, None),
        };
        let seed =
            seed.trim().parse::<u64>().map_err(|_| format!("chaos {text:?}: the seed must be a whole number"))?;
        let rate = match rate {
            Some(rate) => {
                rate.trim().parse::<f64>().map_err(|_| format!("chaos {text:?}: the rate must be a number"))?
            }
            None => Chaos::DEFAULT_RATE,
        };
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("chaos {text:?}: the rate must be between 0 and 1"));
        }
        Ok(Chaos { seed, rate })
    }

    /// The fault for the request that arrived `arrival`-th, if any.
    pub fn draw(&self, arrival: u64) -> Option<Fault> {
        let mut state = self.seed ^ arrival.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut next = || splitmix64(&mut state);
        let roll = (next() >> 11) as f64 / (1u64 << 53) as f64;
        if roll >= self.rate {
            return None;
        }
        Some(match next() % 9 {
            0 => Fault::Http { status: 429, retry_after: Some(1) },
            1 => Fault::Http { status: 429, retry_after: None },
            2 => Fault::Http { status: 500, retry_after: None },
            3 => Fault::Http { status: 503, retry_after: Some(1) },
            4 => Fault::ResponseFailed,
            5 => Fault::CutBeforeEvents,
            6 => Fault::CutMidStream,
            7 => {
                if next() % 2 == 0 {
                    Fault::Malformed
                } else {
                    Fault::Stall { ms: 5_000 + next() % 5_000 }
                }
            }
            _ => Fault::Trickle { ms: 50 + next() % 150 },
        })
    }
}

impl TryFrom<String> for Chaos {
    type Error = String;
    fn try_from(text: String) -> Result<Chaos, String> {
        Chaos::parse(&text)
    }
}

impl From<Chaos> for String {
    fn from(chaos: Chaos) -> String {
        format!("{}:{}", chaos.seed, chaos.rate)
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Fault {
    /// Whether the fault replaces the script's answer (and takes no step), rather than changing how it is sent.
    pub fn replaces_answer(&self) -> bool {
        !matches!(self, Fault::Trickle { .. })
    }

    /// The answer to a request, for a fault that replaces it; `response_id` names the response it pretends to be.
    pub fn plan(&self, response_id: &str, model: &str) -> Option<Plan> {
        let created = || Action::Send {
            event: Some("response.created".into()),
            data: json!({"type": "response.created", "response": {"id": response_id, "model": model, "status": "in_progress", "output": []}}),
        };
        Some(match self {
            Fault::Http { status, retry_after } => {
                let message = format!("parity chaos: an injected HTTP {status}");
                let mut plan = Plan::error(*status, "parity_chaos", message);
                if let Some(seconds) = retry_after {
                    plan.headers.push(("retry-after".into(), seconds.to_string()));
                }
                plan
            }
            Fault::ResponseFailed => Plan::stream(vec![
                created(),
                Action::Send {
                    event: Some("response.failed".into()),
                    data: json!({"type": "response.failed", "response": {"id": response_id, "model": model, "status": "failed", "output": [],
                        "error": {"code": "server_error", "message": "parity chaos: an injected response.failed"}}}),
                },
            ]),
            Fault::CutBeforeEvents => Plan::stream(vec![Action::Disconnect]),
            Fault::CutMidStream => Plan::stream(vec![
                created(),
                Action::Send {
                    event: Some("response.output_item.added".into()),
                    data: json!({"type": "response.output_item.added", "output_index": 0,
                        "item": {"type": "message", "id": format!("msg_{response_id}"), "role": "assistant", "status": "in_progress", "content": []}}),
                },
                Action::Send {
                    event: Some("response.output_text.delta".into()),
                    data: json!({"type": "response.output_text.delta", "output_index": 0, "content_index": 0,
                        "item_id": format!("msg_{response_id}"), "delta": "Partial"}),
                },
                Action::Disconnect,
            ]),
            Fault::Stall { ms } => {
                Plan::stream(vec![created(), Action::Sleep(Duration::from_millis(*ms)), Action::Disconnect])
            }
            Fault::Malformed => Plan::stream(vec![
                created(),
                Action::Send {
                    event: Some("response.output_text.delta".into()),
                    data: Value::String("{not json".into()),
                },
                Action::Disconnect,
            ]),
            Fault::Trickle { .. } => return None,
        })
    }

    /// The script's answer, changed as the fault says (a trickle slows every event); others leave it as it is.
    pub fn shape(&self, mut plan: Plan) -> Plan {
        if let (Fault::Trickle { ms }, crate::plan::PlanBody::Stream(actions)) = (self, &mut plan.body) {
            let pause = Duration::from_millis(*ms);
            *actions = std::mem::take(actions)
                .into_iter()
                .flat_map(|action| match action {
                    send @ Action::Send { .. } => vec![Action::Sleep(pause), send],
                    other => vec![other],
                })
                .collect();
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_and_rates_are_read_and_bad_ones_named() {
        assert_eq!(Chaos::parse("42").unwrap(), Chaos { seed: 42, rate: Chaos::DEFAULT_RATE });
        assert_eq!(Chaos::parse("7:0.5").unwrap(), Chaos { seed: 7, rate: 0.5 });
        assert!(Chaos::parse("x").unwrap_err().contains("the seed must be a whole number"));
        assert!(Chaos::parse("1:2").unwrap_err().contains("between 0 and 1"));
        assert!(Chaos::parse("1:a").unwrap_err().contains("the rate must be a number"));
    }

    #[test]
    fn the_same_seed_draws_the_same_faults_and_the_rate_holds_roughly() {
        let chaos = Chaos { seed: 42, rate: 0.3 };
        let draws: Vec<Option<Fault>> = (1..=2000).map(|n| chaos.draw(n)).collect();
        assert_eq!(draws, (1..=2000).map(|n| chaos.draw(n)).collect::<Vec<_>>());
        let hit = draws.iter().filter(|d| d.is_some()).count();
        assert!((500..700).contains(&hit), "{hit} of 2000 at 0.3");
        let other: Vec<Option<Fault>> = (1..=2000).map(|n| Chaos { seed: 43, rate: 0.3 }.draw(n)).collect();
        assert_ne!(draws, other, "another seed, other faults");
        // Every kind of fault comes up.
        let kinds: std::collections::BTreeSet<String> = draws
            .iter()
            .flatten()
            .map(|f| serde_json::to_value(f).unwrap()["kind"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kinds.len(), 7, "{kinds:?}");
        assert!((1..=100).all(|n| Chaos { seed: 1, rate: 0.0 }.draw(n).is_none()));
        assert!((1..=100).all(|n| Chaos { seed: 1, rate: 1.0 }.draw(n).is_some()));
    }

    #[test]
    fn replacing_faults_have_plans_and_a_trickle_slows_the_script_s_own() {
        let http = Fault::Http { status: 429, retry_after: Some(1) }.plan("resp_1", "m").unwrap();
        assert_eq!((http.status, http.headers.last().cloned()), (429, Some(("retry-after".into(), "1".into()))));
        let failed = Fault::ResponseFailed.plan("resp_1", "m").unwrap();
        assert_eq!(failed.event_types(), ["response.created", "response.failed"]);
        assert!(Fault::Trickle { ms: 5 }.plan("resp_1", "m").is_none());
        let script = Plan::stream(vec![
            Action::Send { event: None, data: json!({"type": "a"}) },
            Action::Send { event: None, data: json!({"type": "b"}) },
        ]);
        let slowed = Fault::Trickle { ms: 5 }.shape(script.clone());
        let crate::plan::PlanBody::Stream(actions) = &slowed.body else { panic!() };
        assert_eq!(actions.len(), 4);
        assert_eq!(actions[0], Action::Sleep(Duration::from_millis(5)));
        assert_eq!(slowed.event_types(), ["a", "b"]);
        assert_eq!(Fault::CutBeforeEvents.shape(script.clone()), script);
    }
}
