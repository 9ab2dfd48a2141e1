//! Upstream's token estimate and its cut of over-long output.

/// Upstream counts a token for every 4 bytes, rounding up.
const BYTES_PER_TOKEN: usize = 4;

/// Upstream's token estimate of `bytes` bytes of text.
pub fn approx_tokens(bytes: usize) -> usize {
    bytes.div_ceil(BYTES_PER_TOKEN)
}

/// `text` as the model sees it under a budget of `max_tokens`: unchanged when it fits, else a warning giving its token
/// count and line count, then its middle cut out (see [`truncate_middle`]).
pub fn truncate_for_model(text: &str, max_tokens: usize) -> String {
    if text.len() <= budget_bytes(max_tokens) {
        return text.to_string();
    }
    format!(
        "Warning: truncated output (original token count: {})\nTotal output lines: {}\n\n{}",
        approx_tokens(text.len()),
        text.lines().count(),
        truncate_middle(text, max_tokens)
    )
}

/// Keeps about `max_tokens * 2` bytes from each end of `text` (whole characters only) and puts
/// `…N tokens truncated…` in place of the rest, N estimating the bytes over budget.
pub fn truncate_middle(text: &str, max_tokens: usize) -> String {
    let budget = budget_bytes(max_tokens);
    if text.len() <= budget && (budget > 0 || text.is_empty()) {
        return text.to_string();
    }
    let marker = format!("…{} tokens truncated…", approx_tokens(text.len() - budget));
    let head_budget = budget / 2;
    let tail_start = text.len() - (budget - head_budget);
    let head_end =
        text.char_indices().map(|(at, c)| at + c.len_utf8()).take_while(|&end| end <= head_budget).last().unwrap_or(0);
    let tail_from =
        text.char_indices().map(|(at, _)| at).find(|&at| at >= tail_start).unwrap_or(text.len()).max(head_end);
    [&text[..head_end], &marker, &text[tail_from..]].concat()
}

fn budget_bytes(max_tokens: usize) -> usize {
    max_tokens.saturating_mul(BYTES_PER_TOKEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_a_token_per_four_bytes_rounding_up() {
        assert_eq!([0, 1, 4, 5, 8].map(approx_tokens), [0, 1, 1, 2, 2]);
    }

    #[test]
    fn text_within_budget_is_unchanged() {
        assert_eq!(truncate_for_model("12345678", 2), "12345678");
        assert_eq!(truncate_for_model("", 0), "");
    }

    #[test]
    fn cuts_on_character_boundaries() {
        // 40 two-byte characters and a newline under 5 tokens: 10 bytes of head, characters starting in the last 10.
        let text = format!("{}\n", "é".repeat(40));
        assert_eq!(truncate_middle(&text, 5), "ééééé…16 tokens truncated…éééé\n");
    }

    #[test]
    fn a_zero_budget_leaves_only_the_marker() {
        assert_eq!(truncate_middle("1\n2\n3\n4\n5\n", 0), "…3 tokens truncated…");
        assert_eq!(
            truncate_for_model("1\n2\n3\n4\n5\n", 0),
            "Warning: truncated output (original token count: 3)\nTotal output lines: 5\n\n…3 tokens truncated…"
        );
    }

    #[test]
    fn one_byte_over_budget() {
        let text = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
        assert_eq!(truncate_middle(text, 5), "1\n2\n3\n4\n5\n…1 tokens truncated…\n7\n8\n9\n10\n");
    }

    #[test]
    fn counts_lines_as_rust_does_crlf_included() {
        assert_eq!(
            truncate_for_model("z\r\nz\r\n", 1),
            "Warning: truncated output (original token count: 2)\nTotal output lines: 2\n\nz\r…1 tokens truncated…\r\n"
        );
    }
}
