//! Paging through a thread's history, as upstream's app server pages a paginated thread: `thread/turns/list` (turns,
//! newest first unless asked otherwise, each with a view of its items) and `thread/items/list` (items, oldest first,
//! across the thread or within one turn), and the cursors `thread/resume` answers to page backwards from the newest
//! turn and item.
//!
//! A cursor is opaque to the client. rcodex's say what upstream 0.169.0's were seen to say, in its words: the thread,
//! the ordinal of the record at the edge of the page (a turn's `task_started`, an item's `item_completed`), whether
//! the next page includes it, and what is paged (`turns`, `itemsByCreatedAtOrdinal`). Since rcodex writes upstream's
//! records in upstream's order, its cursors are upstream's for the same history.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::history::{History, ItemsView};
use crate::rpc::{Reply, RpcError};

/// JSON-RPC's code for parameters that do not fit, as upstream answers an item anchor it cannot use.
const INVALID_PARAMS: i64 = -32602;
/// A page's size when the client does not say, and the most one page holds (a limit of 0 is 1).
const DEFAULT_PAGE: usize = 25;
const MAX_PAGE: usize = 100;

/// What a cursor pages through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Turns,
    Items,
}

impl Scope {
    fn kind(self) -> &'static str {
        match self {
            Scope::Turns => "turns",
            Scope::Items => "itemsByCreatedAtOrdinal",
        }
    }
}

/// A position in a thread's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub thread_id: String,
    pub ordinal: u64,
    /// Whether the page it starts includes the record at `ordinal`.
    pub include_anchor: bool,
    pub scope: Scope,
}

impl Cursor {
    pub fn encode(&self) -> String {
        json!({
            "requestedThreadId": self.thread_id,
            "rolloutOrdinal": self.ordinal,
            "includeAnchor": self.include_anchor,
            "scope": {"kind": self.scope.kind()},
        })
        .to_string()
    }

    /// Reads a cursor the server gave for `thread_id` and `scope`; anything else is refused in upstream's words.
    pub fn decode(text: &str, thread_id: &str, scope: Scope) -> Result<Cursor, RpcError> {
        let invalid = || RpcError::invalid(format!("invalid cursor: {text}"));
        let value: Value = serde_json::from_str(text).map_err(|_| invalid())?;
        let cursor = Cursor {
            thread_id: value["requestedThreadId"].as_str().ok_or_else(invalid)?.to_string(),
            ordinal: value["rolloutOrdinal"].as_u64().ok_or_else(invalid)?,
            include_anchor: value["includeAnchor"].as_bool().ok_or_else(invalid)?,
            scope,
        };
        if cursor.thread_id != thread_id || value["scope"]["kind"] != scope.kind() {
            return Err(invalid());
        }
        Ok(cursor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortDirection {
    Asc,
    Desc,
}

/// One page of records ordered by ordinal: those after (or before, descending) the cursor, `limit` of them, with the
/// cursor to the next page (when there is one) and the one to page back from the first (when there is one).
fn page<T>(
    mut entries: Vec<(u64, T)>,
    direction: SortDirection,
    cursor: Option<&Cursor>,
    limit: Option<u32>,
    thread_id: &str,
    scope: Scope,
) -> (Vec<T>, Value, Value) {
    if direction == SortDirection::Desc {
        entries.reverse();
    }
    if let Some(cursor) = cursor {
        let (at, include) = (cursor.ordinal, cursor.include_anchor);
        entries.retain(|(ordinal, _)| match direction {
            SortDirection::Asc => *ordinal > at || (include && *ordinal == at),
            SortDirection::Desc => *ordinal < at || (include && *ordinal == at),
        });
    }
    let limit = limit.map_or(DEFAULT_PAGE, |l| (l as usize).clamp(1, MAX_PAGE));
    let more = entries.len() > limit;
    entries.truncate(limit);
    let at = |ordinal: u64, include_anchor: bool| {
        json!(Cursor { thread_id: thread_id.to_string(), ordinal, include_anchor, scope }.encode())
    };
    let next = match entries.last() {
        Some((ordinal, _)) if more => at(*ordinal, false),
        _ => Value::Null,
    };
    let back = entries.first().map_or(Value::Null, |(ordinal, _)| at(*ordinal, true));
    (entries.into_iter().map(|(_, entry)| entry).collect(), next, back)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnsParams {
    pub thread_id: String,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    sort_direction: Option<SortDirection>,
    #[serde(default)]
    items_view: Option<String>,
}

/// `thread/turns/list` over a thread's history (`None`: the thread has no session file yet, so no turns).
pub fn turns_list(history: Option<&History>, params: TurnsParams) -> Reply {
    let view = match params.items_view.as_deref() {
        None | Some("summary") => ItemsView::Summary,
        Some("full") => ItemsView::Full,
        Some("notLoaded") => ItemsView::NotLoaded,
        Some(other) => {
            return Err(RpcError::invalid(format!(
                "Invalid request: unknown variant `{other}`, expected one of `notLoaded`, `summary`, `full`"
            )));
        }
    };
    let cursor = match &params.cursor {
        Some(text) => Some(Cursor::decode(text, &params.thread_id, Scope::Turns)?),
        None => None,
    };
    let Some(history) = history else { return Ok(json!({"data": [], "nextCursor": null, "backwardsCursor": null})) };
    let turns: Vec<(u64, Value)> = history.turns.iter().map(|t| (t.ordinal, history.turn_json(t, view))).collect();
    let direction = params.sort_direction.unwrap_or(SortDirection::Desc);
    let (data, next, back) = page(turns, direction, cursor.as_ref(), params.limit, &params.thread_id, Scope::Turns);
    Ok(json!({"data": data, "nextCursor": next, "backwardsCursor": back}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemsParams {
    pub thread_id: String,
    #[serde(default)]
    turn_id: Option<String>,
    #[serde(default)]
    cursor: Option<Value>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    sort_direction: Option<SortDirection>,
}

/// `thread/items/list` over a thread's history (`None`: no session file yet).
pub fn items_list(history: Option<&History>, params: ItemsParams) -> Reply {
    let direction = params.sort_direction.unwrap_or(SortDirection::Asc);
    let empty = json!({"data": [], "nextCursor": null, "backwardsCursor": null});
    // A cursor is a string the server gave, or an item of the turn to start after (or before, descending).
    let (cursor, anchor) = match &params.cursor {
        None | Some(Value::Null) => (None, None),
        Some(Value::String(text)) => (Some(Cursor::decode(text, &params.thread_id, Scope::Items)?), None),
        Some(anchor) if anchor["type"] == "item" && anchor["itemId"].is_string() => {
            if params.turn_id.as_deref().is_none_or(str::is_empty) {
                return Err(RpcError {
                    code: INVALID_PARAMS,
                    message: "turnId is required when cursor is an item anchor".into(),
                });
            }
            (None, anchor["itemId"].as_str().map(str::to_string))
        }
        Some(other) => return Err(RpcError::invalid(format!("Invalid request: invalid cursor {other}"))),
    };
    let Some(history) = history else { return Ok(empty) };
    let items: Vec<(u64, Value)> = history
        .items
        .iter()
        .filter(|item| params.turn_id.as_ref().is_none_or(|turn| item.turn_id == *turn))
        .map(|item| {
            let entry = json!({"turnId": item.turn_id, "item": item.item, "startedAtMs": item.started_ms,
                "completedAtMs": item.completed_ms});
            (item.ordinal, entry)
        })
        .collect();
    let cursor = match anchor {
        Some(id) => {
            let found = items.iter().find(|(_, entry)| entry["item"]["id"] == id.as_str()).map(|(ordinal, _)| *ordinal);
            let ordinal = found.ok_or_else(|| RpcError {
                code: INVALID_PARAMS,
                message: "cursor.itemId does not identify an item in the requested history scope".into(),
            })?;
            Some(Cursor { thread_id: params.thread_id.clone(), ordinal, include_anchor: false, scope: Scope::Items })
        }
        None => cursor,
    };
    let (data, next, back) = page(items, direction, cursor.as_ref(), params.limit, &params.thread_id, Scope::Items);
    Ok(json!({"data": data, "nextCursor": next, "backwardsCursor": back}))
}

/// Upstream's `deprecationNotice` for an answer carrying a thread's whole history, now that the client could page
/// instead (its words, from the prompt pack), sent before that answer.
pub fn full_history_notice(out: &crate::rpc::Outgoing) {
    let pack = rcodex_prompt_pack::embedded();
    if let Some(summary) = pack.texts.get(rcodex_prompt_pack::keys::FULL_HISTORY_DEPRECATED) {
        out.notify("deprecationNotice", json!({"summary": summary, "details": null}));
    }
}

/// The history of a thread to page through: a loaded thread's (`None` until its file is written, from its first
/// turn), or a saved one's. A thread the server does not know is refused as upstream refuses it.
pub fn history_of(server: &crate::server::Server, thread_id: &str) -> Result<Option<History>, RpcError> {
    let path = match server.thread(thread_id) {
        Some(loaded) => loaded.handle.rollout_path().filter(|path| path.exists()).map(std::path::Path::to_path_buf),
        None => {
            let home = &server.options.codex_home;
            let path =
                crate::history::find(home, thread_id, false).or_else(|| crate::history::find(home, thread_id, true));
            Some(path.ok_or_else(|| RpcError::invalid(format!("thread not loaded: {thread_id}")))?)
        }
    };
    Ok(path.as_deref().and_then(crate::history::read))
}

/// The cursors `thread/resume` answers: from the newest turn and the newest item, backwards, those included.
pub fn backwards_cursors(history: &History) -> (Value, Value) {
    let thread_id = history.thread_id().to_string();
    let at = |ordinal: u64, scope| {
        json!(Cursor { thread_id: thread_id.clone(), ordinal, include_anchor: true, scope }.encode())
    };
    let turns = history.turns.iter().map(|t| t.ordinal).max().map_or(Value::Null, |o| at(o, Scope::Turns));
    let items = history.items.iter().map(|i| i.ordinal).max().map_or(Value::Null, |o| at(o, Scope::Items));
    (turns, items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_only_for_its_thread_and_scope() {
        let cursor = Cursor { thread_id: "t1".into(), ordinal: 14, include_anchor: false, scope: Scope::Turns };
        let text = cursor.encode();
        assert_eq!(
            text,
            r#"{"requestedThreadId":"t1","rolloutOrdinal":14,"includeAnchor":false,"scope":{"kind":"turns"}}"#
        );
        assert_eq!(Cursor::decode(&text, "t1", Scope::Turns).unwrap(), cursor);
        for (text, thread, scope) in
            [(text.as_str(), "t2", Scope::Turns), (&text, "t1", Scope::Items), ("garbage", "t1", Scope::Turns)]
        {
            let error = Cursor::decode(text, thread, scope).unwrap_err();
            assert_eq!((error.code, error.message), (-32600, format!("invalid cursor: {text}")));
        }
    }

    #[test]
    fn pages_go_either_way_from_a_cursor_with_or_without_its_anchor() {
        let entries: Vec<(u64, u64)> = [1, 14, 23, 32].into_iter().map(|o| (o, o)).collect();
        let page = |direction, cursor: Option<(u64, bool)>, limit| {
            let cursor = cursor.map(|(ordinal, include_anchor)| Cursor {
                thread_id: "t".into(),
                ordinal,
                include_anchor,
                scope: Scope::Turns,
            });
            let (data, next, back) = page(entries.clone(), direction, cursor.as_ref(), limit, "t", Scope::Turns);
            let ordinal = |c: &Value| {
                c.as_str().map(|c| serde_json::from_str::<Value>(c).unwrap()["rolloutOrdinal"].as_u64().unwrap())
            };
            (data, ordinal(&next), ordinal(&back))
        };
        // Newest first by default, 25 at most: everything, no next page.
        assert_eq!(page(SortDirection::Desc, None, None), (vec![32, 23, 14, 1], None, Some(32)));
        assert_eq!(page(SortDirection::Desc, None, Some(1)), (vec![32], Some(32), Some(32)));
        assert_eq!(page(SortDirection::Desc, None, Some(0)), (vec![32], Some(32), Some(32)), "a limit of 0 is 1");
        assert_eq!(page(SortDirection::Desc, Some((14, false)), Some(2)), (vec![1], None, Some(1)));
        assert_eq!(page(SortDirection::Desc, Some((14, true)), Some(2)), (vec![14, 1], None, Some(14)));
        assert_eq!(page(SortDirection::Asc, Some((14, false)), Some(2)), (vec![23, 32], None, Some(23)));
        assert_eq!(page(SortDirection::Asc, Some((14, true)), Some(2)), (vec![14, 23], Some(23), Some(14)));
        assert_eq!(page(SortDirection::Asc, Some((32, false)), None), (vec![], None, None));
    }
}
