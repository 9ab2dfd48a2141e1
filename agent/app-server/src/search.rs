//! `fuzzyFileSearch`: a subsequence match of the query over the files under some roots.

use std::path::Path;

use serde_json::{Value, json};

/// At most this many files are looked at per root.
const MAX_FILES: usize = 100_000;

pub fn search(query: &str, roots: &[String], limit: usize) -> Vec<Value> {
    let query: Vec<char> = query.to_lowercase().chars().filter(|c| !c.is_whitespace()).collect();
    let mut found: Vec<(u32, Value)> = Vec::new();
    for root in roots {
        let walk = walkdir::WalkDir::new(root).follow_links(false).into_iter().filter_entry(|e| {
            let name = e.file_name().to_str().unwrap_or_default();
            e.depth() == 0 || !(name.starts_with('.') || name == "target" || name == "node_modules")
        });
        for entry in walk.flatten().filter(|e| e.file_type().is_file()).take(MAX_FILES) {
            let Ok(relative) = entry.path().strip_prefix(root) else { continue };
            let path = relative.to_string_lossy().into_owned();
            let Some((score, indices)) = score(&query, &path) else { continue };
            let name = Path::new(&path).file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            found.push((
                score,
                json!({"root": root, "path": path, "match_type": "file", "file_name": name, "score": score,
                    "indices": indices}),
            ));
        }
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1["path"].as_str().cmp(&b.1["path"].as_str())));
    found.into_iter().take(limit).map(|(_, v)| v).collect()
}

/// The match of `query` in `path`, greedy from the end of the file name backwards, and its score; `None` when the
/// path does not hold the query's characters in order.
fn score(query: &[char], path: &str) -> Option<(u32, Vec<u32>)> {
    let chars: Vec<char> = path.to_lowercase().chars().collect();
    let mut indices = Vec::with_capacity(query.len());
    let mut at = 0;
    for q in query {
        let found = chars[at..].iter().position(|c| c == q)? + at;
        indices.push(found as u32);
        at = found + 1;
    }
    let name_start = path.rfind('/').map_or(0, |i| i + 1) as u32;
    let gaps: u32 = indices.windows(2).map(|w| w[1] - w[0] - 1).sum();
    let in_name = indices.iter().filter(|i| **i >= name_start).count() as u32;
    let score = 10_000u32.saturating_sub(gaps * 10).saturating_sub(chars.len() as u32) + in_name * 100;
    Some((score, indices))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_matches_its_characters_in_order() {
        let q: Vec<char> = "mai".chars().collect();
        assert_eq!(score(&q, "src/main.rs").map(|(_, i)| i), Some(vec![4, 5, 6]));
        assert!(score(&q, "src/lib.rs").is_none());
        assert!(score(&q, "src/main.rs").unwrap().0 > score(&q, "m/a/i/x.rs").unwrap().0);
    }
}
