//! The keyword lists upstream's `tool_search` indexes some deferred tools by, read out of the pinned release's
//! binary.
//!
//! Upstream indexes most deferred tools by their definitions, which the captures hold. The five multi-agent tools
//! it indexes by keyword lists of their own (`wait_agent wait agent subagent status ...`), which never appear on the
//! wire. They are string constants of the binary: each starts with the tool's name and the first word of it
//! (`wait_agent wait `, `send_input send `) and goes on in lower-case words. Constants are laid end to end, so where one list ends
//! is found from what follows it: an upper-case letter or other punctuation ends it; a word running into the start
//! of another tool's list (`targetsspawn_agent spawn agent`) ends where that list begins; a word running into a
//! snake_case identifier (`targetlegacy_to_paginated_v1`) ends with the longest word of the lists that begins it.
//! The suite checks the result: the recorded tool searches (`tool-search`, `tool-search-keywords`, the sub-agent
//! scenarios) must rank as upstream ranked them.

use std::collections::BTreeMap;

/// The keyword list of each of `tools` found in `binary`; tools without one are left out.
pub fn extract(binary: &[u8], tools: &[String]) -> BTreeMap<String, String> {
    let heads: Vec<(String, Vec<u8>)> = tools.iter().map(|name| (name.clone(), head(name).into_bytes())).collect();
    let mut runs: BTreeMap<String, (String, Vec<u8>)> = BTreeMap::new();
    for (name, head) in &heads {
        let Some(start) = find(binary, head) else { continue };
        let rest = &binary[start + head.len()..];
        let len = rest.iter().take_while(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b' ' | b'-')).count();
        let words = String::from_utf8_lossy(&rest[..len]).into_owned();
        // What follows the run, to tell where its last word ends.
        let after = rest[len..].iter().take(64).copied().collect();
        runs.insert(name.clone(), (words, after));
    }
    let vocabulary: Vec<String> =
        runs.values().flat_map(|(words, _)| words.split(' ').map(str::to_string)).filter(|w| !w.is_empty()).collect();
    runs.into_iter()
        .map(|(name, (words, after))| {
            let words = trim_last_word(&words, &after, &heads, &vocabulary);
            (name.clone(), format!("{}{}", head(&name), words.trim_end()).trim_end().to_string())
        })
        .collect()
}

/// How a tool's list begins: its name, then the name's first word.
fn head(name: &str) -> String {
    format!("{name} {} ", name.split('_').next().unwrap_or(name))
}

/// `words` without the part of its last word that belongs to the constant after it.
fn trim_last_word(words: &str, after: &[u8], heads: &[(String, Vec<u8>)], vocabulary: &[String]) -> String {
    let continues = after.first().is_some_and(|b| *b == b'_' || b.is_ascii_digit());
    if words.ends_with(' ') || !continues {
        return words.to_string();
    }
    let (kept, last) = words.rsplit_once(' ').unwrap_or(("", words));
    let tail = |cut: usize| -> Vec<u8> { [&last.as_bytes()[cut..], after].concat() };
    // Another tool's list begins inside the last word.
    if let Some(cut) = (1..last.len()).find(|&cut| heads.iter().any(|(_, head)| tail(cut).starts_with(head))) {
        return format!("{kept} {}", &last[..cut]);
    }
    // An identifier begins inside it: the longest known word that starts it is the list's own.
    let own =
        vocabulary.iter().filter(|w| w.len() < last.len() && last.starts_with(w.as_str())).max_by_key(|w| w.len());
    match own {
        Some(word) => format!("{kept} {word}"),
        None => words.to_string(),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_laid_end_to_end_are_told_apart() {
        let binary =
            b"call wait_agent when needed.wait_agent wait agent status final targetsspawn_agent spawn agent fork \
model reasoningWarning: the restsend_input send message queue targetclose_agent close agent stop target\x00\
resume_agent resume agent reopen thread id targetlegacy_to_paginated_v1more";
        let names: Vec<String> =
            ["spawn_agent", "wait_agent", "send_input", "close_agent", "resume_agent", "absent_tool"]
                .map(String::from)
                .into();
        let found = extract(binary, &names);
        assert_eq!(found["wait_agent"], "wait_agent wait agent status final targets");
        assert_eq!(found["spawn_agent"], "spawn_agent spawn agent fork model reasoning");
        assert_eq!(found["send_input"], "send_input send message queue target");
        assert_eq!(found["close_agent"], "close_agent close agent stop target");
        assert_eq!(found["resume_agent"], "resume_agent resume agent reopen thread id target");
        assert!(!found.contains_key("absent_tool"));
    }
}
