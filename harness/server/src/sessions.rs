//! Telling sessions apart and numbering requests within them.

use std::collections::HashMap;
use std::sync::Mutex;

use parity_capture::{HeaderList, SessionRef};

/// Headers that identify a session, in order of preference. A thread id comes first: sub-agents share their
/// parent's session id but run threads (and scripts) of their own.
pub const SESSION_HEADERS: &[&str] = &["thread-id", "session-id", "session_id", "conversation_id"];

/// The key of requests that carry none of [`SESSION_HEADERS`].
pub const DEFAULT_SESSION_KEY: &str = "default";

/// Where a request falls: its session, its place among the session's requests, and its place among the session's
/// requests of the same method and path (the nth `POST /v1/responses` is what a script step or a recording answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub session: SessionRef,
    /// 1-based, among all requests of the session.
    pub seq: u32,
    /// 1-based, among the session's requests with this method and path.
    pub route_seq: u32,
    /// 1-based, among all requests the server received.
    pub global: u64,
}

#[derive(Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_key: HashMap<String, SessionState>,
    next_global: u64,
}

struct SessionState {
    index: u32,
    next_seq: u32,
    routes: HashMap<(String, String), u32>,
}

impl Sessions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a request and says where it falls.
    pub fn arrive(&self, headers: &HeaderList, method: &str, path: &str) -> Arrival {
        let (key, key_header) = session_key(headers);
        let mut inner = self.inner.lock().expect("sessions lock");
        inner.next_global += 1;
        let global = inner.next_global;
        let next_index = inner.by_key.len() as u32 + 1;
        let state = inner.by_key.entry(key.clone()).or_insert_with(|| SessionState {
            index: next_index,
            next_seq: 0,
            routes: HashMap::new(),
        });
        state.next_seq += 1;
        let route = state.routes.entry((method.to_string(), path.to_string())).or_insert(0);
        *route += 1;
        Arrival {
            session: SessionRef { index: state.index, key, key_header },
            seq: state.next_seq,
            route_seq: *route,
            global,
        }
    }

    /// Where a request would fall, without registering anything: the index of its session (or the one it would
    /// get) and its `route_seq`.
    pub fn peek(&self, headers: &HeaderList, method: &str, path: &str) -> (u32, u32) {
        let (key, _) = session_key(headers);
        let inner = self.inner.lock().expect("sessions lock");
        match inner.by_key.get(&key) {
            Some(s) => (s.index, s.routes.get(&(method.to_string(), path.to_string())).copied().unwrap_or(0) + 1),
            None => (inner.by_key.len() as u32 + 1, 1),
        }
    }

    /// Forgets every session: the next request starts session 1, request 1.
    pub fn reset(&self) {
        *self.inner.lock().expect("sessions lock") = Inner::default();
    }

    /// How many sessions have been seen.
    pub fn count(&self) -> usize {
        self.inner.lock().expect("sessions lock").by_key.len()
    }
}

/// The session key of a request, and the header it came from.
pub fn session_key(headers: &HeaderList) -> (String, Option<String>) {
    SESSION_HEADERS
        .iter()
        .find_map(|name| headers.get(name).filter(|v| !v.is_empty()).map(|v| (v.to_string(), Some(name.to_string()))))
        .unwrap_or_else(|| (DEFAULT_SESSION_KEY.to_string(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderList {
        pairs.iter().copied().collect()
    }

    #[test]
    fn sessions_are_numbered_by_first_arrival_and_routes_counted_apart() {
        let s = Sessions::new();
        let a1 = s.arrive(&headers(&[("session-id", "A"), ("thread-id", "T1")]), "POST", "/v1/responses");
        let b1 = s.arrive(&headers(&[("session-id", "A"), ("thread-id", "T2")]), "POST", "/v1/responses");
        let a2 = s.arrive(&headers(&[("thread-id", "T1")]), "GET", "/v1/models");
        let a3 = s.arrive(&headers(&[("thread-id", "T1")]), "POST", "/v1/responses");
        let d = s.arrive(&headers(&[]), "GET", "/v1/models");
        assert_eq!((a1.session.index, a1.seq, a1.route_seq), (1, 1, 1));
        assert_eq!(a1.session.key_header.as_deref(), Some("thread-id"));
        assert_eq!((b1.session.index, b1.seq), (2, 1), "another thread is another session");
        assert_eq!((a2.session.index, a2.seq, a2.route_seq), (1, 2, 1));
        assert_eq!((a3.session.index, a3.seq, a3.route_seq), (1, 3, 2));
        assert_eq!((d.session.index, d.session.key.as_str(), d.session.key_header.clone()), (3, "default", None));
        assert_eq!(d.global, 5);
        assert_eq!(s.count(), 3);
    }
}
