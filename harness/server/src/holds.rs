//! Holds: streams stopped before an event until something releases them. This is what steer-timing experiments
//! stand on: the agent has part of a response, and the experimenter chooses when it gets the rest.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{oneshot, watch};

use crate::plan::HoldPoint;
use crate::script::Until;

/// What let a held stream go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleasedBy {
    /// The control API or the library.
    Release,
    /// The next request of the same session arrived.
    NextRequest,
    /// The hold's timeout passed.
    Timeout,
    /// The agent closed the connection while its stream was held.
    ClientClosed,
}

impl ReleasedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleasedBy::Release => "release",
            ReleasedBy::NextRequest => "next_request",
            ReleasedBy::Timeout => "timeout",
            ReleasedBy::ClientClosed => "client_closed",
        }
    }
}

/// A stream currently held, as the control API lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoldInfo {
    pub id: u64,
    pub name: String,
    pub session: u32,
    pub seq: u32,
    pub before: String,
    pub until: Until,
    pub held_ms: f64,
}

struct Active {
    info: HoldInfo,
    since: Instant,
    release: Option<oneshot::Sender<ReleasedBy>>,
}

pub struct Holds {
    active: Mutex<Vec<Active>>,
    next_id: Mutex<u64>,
    /// Bumped on every change, so that waiters for a hold wake up.
    changed: watch::Sender<u64>,
}

impl Default for Holds {
    fn default() -> Self {
        Holds { active: Mutex::new(Vec::new()), next_id: Mutex::new(0), changed: watch::channel(0).0 }
    }
}

impl Holds {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts holding; the receiver fires when something releases the hold. Call [`Holds::leave`] afterwards.
    pub fn enter(&self, point: &HoldPoint, session: u32, seq: u32) -> (u64, oneshot::Receiver<ReleasedBy>) {
        let id = {
            let mut next = self.next_id.lock().expect("holds lock");
            *next += 1;
            *next
        };
        let (tx, rx) = oneshot::channel();
        let info = HoldInfo {
            id,
            name: point.name.clone(),
            session,
            seq,
            before: point.before.clone(),
            until: point.until,
            held_ms: 0.0,
        };
        self.active.lock().expect("holds lock").push(Active { info, since: Instant::now(), release: Some(tx) });
        self.changed.send_modify(|g| *g += 1);
        (id, rx)
    }

    /// Forgets a hold once its stream has moved on (released, timed out, or the client left).
    pub fn leave(&self, id: u64) {
        self.active.lock().expect("holds lock").retain(|a| a.info.id != id);
        self.changed.send_modify(|g| *g += 1);
    }

    /// Releases the holds whose name (or numeric id) is `selector`, or every hold when it is `None`. Holds that only
    /// the next request may release are left alone. Returns how many were released.
    pub fn release(&self, selector: Option<&str>) -> usize {
        self.release_where(ReleasedBy::Release, |a| {
            a.info.until != Until::NextRequest
                && selector.is_none_or(|s| a.info.name == s || a.info.id.to_string() == s)
        })
    }

    /// Releases every hold, whatever releases it otherwise (a reset: no stream of the cleared run stays held).
    pub fn release_every(&self) -> usize {
        self.release_where(ReleasedBy::Release, |_| true)
    }

    /// A request of `session` arrived: releases that session's holds that wait for the next request.
    pub fn on_request(&self, session: u32) -> usize {
        self.release_where(ReleasedBy::NextRequest, |a| a.info.session == session && a.info.until != Until::Release)
    }

    fn release_where(&self, by: ReleasedBy, pick: impl Fn(&Active) -> bool) -> usize {
        let mut active = self.active.lock().expect("holds lock");
        let mut count = 0;
        for a in active.iter_mut().filter(|a| pick(a)) {
            if let Some(tx) = a.release.take() {
                count += usize::from(tx.send(by).is_ok());
            }
        }
        count
    }

    /// The holds in effect now.
    pub fn list(&self) -> Vec<HoldInfo> {
        let active = self.active.lock().expect("holds lock");
        active
            .iter()
            .filter(|a| a.release.is_some())
            .map(|a| HoldInfo { held_ms: a.since.elapsed().as_secs_f64() * 1000.0, ..a.info.clone() })
            .collect()
    }

    /// Waits until a hold named `name` is in effect, for at most `timeout`.
    pub async fn wait_for(&self, name: &str, timeout: Duration) -> Option<HoldInfo> {
        let mut changed = self.changed.subscribe();
        let wait = async {
            loop {
                if let Some(h) = self.list().into_iter().find(|h| h.name == name) {
                    return h;
                }
                if changed.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(name: &str, until: Until) -> HoldPoint {
        HoldPoint { name: name.into(), before: "response.completed".into(), until, timeout: Duration::from_secs(5) }
    }

    #[tokio::test]
    async fn release_by_name_by_request_and_respecting_until() {
        let holds = Holds::new();
        let (_, a) = holds.enter(&point("a", Until::Either), 1, 1);
        let (_, b) = holds.enter(&point("b", Until::NextRequest), 1, 2);
        let (_, c) = holds.enter(&point("c", Until::Release), 2, 1);
        assert_eq!(holds.list().len(), 3);

        assert_eq!(holds.release(Some("b")), 0, "b waits for the next request only");
        assert_eq!(holds.on_request(2), 0, "c waits for a release only");
        assert_eq!(holds.on_request(1), 2);
        assert_eq!(a.await.unwrap(), ReleasedBy::NextRequest);
        assert_eq!(b.await.unwrap(), ReleasedBy::NextRequest);
        assert_eq!(holds.release(None), 1);
        assert_eq!(c.await.unwrap(), ReleasedBy::Release);
        assert!(holds.list().is_empty(), "released holds are no longer listed");
    }

    #[tokio::test]
    async fn wait_for_sees_a_hold_entered_later() {
        let holds = std::sync::Arc::new(Holds::new());
        let h = holds.clone();
        let waiter = tokio::spawn(async move { h.wait_for("late", Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (id, _rx) = holds.enter(&point("late", Until::Either), 3, 1);
        let info = waiter.await.unwrap().expect("seen");
        assert_eq!((info.id, info.session), (id, 3));
        assert!(holds.wait_for("never", Duration::from_millis(20)).await.is_none());
    }
}
