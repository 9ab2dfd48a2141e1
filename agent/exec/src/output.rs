//! What one `exec_command` or `write_stdin` call returns, and the text the model reads.

use std::fmt::Write as _;
use std::time::Duration;

use crate::buffer::{HeadTailBuffer, omission_marker};
use crate::truncate::{approx_tokens, truncate_for_model, truncate_middle};

/// The `exec_command` text for output that no process produced (a patch the agent applied itself instead of running
/// the command): no chunk id, no exit code, no token count, and a wall time of zero, as upstream frames it.
pub fn output_without_process(text: &str, max_output_tokens: usize) -> String {
    format!("Wall time: 0.0000 seconds\nOutput:\n{}", truncate_for_model(text, max_output_tokens))
}

/// The result of a call that reached a process: what it printed since the last read and whether it is still running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Six random hex digits, new for every response.
    pub chunk_id: String,
    /// From the start of the wait for output to its end; for `exec_command` the wait starts once the process has run
    /// for [`crate::EARLY_EXIT_GRACE`] or exited, whichever comes first.
    pub wall_time: Duration,
    /// Set when the process has exited (`128 + signal` for one killed by a signal without a PTY, 1 with a PTY).
    pub exit_code: Option<i32>,
    /// Set while the process runs on: the id `write_stdin` takes.
    pub session_id: Option<i32>,
    /// Output collected by this call, capped at 1 MiB (head and tail, with upstream's omission mark between them).
    pub output: Vec<u8>,
    /// Bytes the cap dropped.
    pub omitted_bytes: usize,
    /// `ceil(bytes / 4)` over all the bytes collected, omitted ones included.
    pub original_token_count: usize,
    /// The budget of the model-facing text, already capped by the model's own (see [`crate::tool::ToolContext`]).
    pub max_output_tokens: usize,
}

impl ExecOutput {
    pub(crate) fn new(
        collected: HeadTailBuffer,
        wall_time: Duration,
        exit_code: Option<i32>,
        session_id: Option<i32>,
        max_output_tokens: usize,
    ) -> Self {
        Self {
            chunk_id: chunk_id(),
            wall_time,
            exit_code,
            session_id,
            output: collected.to_bytes(),
            omitted_bytes: collected.omitted_bytes(),
            original_token_count: approx_tokens(collected.total_bytes()),
            max_output_tokens,
        }
    }

    /// The output as text, invalid UTF-8 replaced by U+FFFD.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    /// The `function_call_output` text, byte for byte as upstream writes it.
    pub fn to_model_text(&self) -> String {
        let mut text = format!("Chunk ID: {}\nWall time: {:.4} seconds\n", self.chunk_id, self.wall_time.as_secs_f64());
        if let Some(code) = self.exit_code {
            let _ = writeln!(text, "Process exited with code {code}");
        }
        if let Some(id) = self.session_id {
            let _ = writeln!(text, "Process running with session ID {id}");
        }
        let _ = writeln!(text, "Original token count: {}", self.original_token_count);
        text.push_str("Output:\n");
        text.push_str(&self.model_output());
        text
    }

    /// The output part of [`Self::to_model_text`]: cut to the budget, with a note on bytes the 1 MiB cap dropped.
    pub fn model_output(&self) -> String {
        let text = self.text();
        if self.omitted_bytes == 0 {
            return truncate_for_model(&text, self.max_output_tokens);
        }
        let marker = omission_marker(self.omitted_bytes);
        if text.len() <= self.max_output_tokens.saturating_mul(4) {
            return if text.contains(&marker) { text } else { format!("{marker}\n{text}") };
        }
        let truncated = truncate_middle(&text, self.max_output_tokens);
        let notice = if truncated.contains(&marker) { String::new() } else { format!("{marker}\n") };
        format!(
            "Warning: truncated output (original token count: {})\n{notice}\n{truncated}",
            self.original_token_count
        )
    }
}

fn chunk_id() -> String {
    (0..6).map(|_| char::from_digit(fastrand::u32(..16), 16).expect("a hex digit")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_without_process_has_only_a_zero_wall_time_and_keeps_the_budget() {
        assert_eq!(output_without_process("Success.\n", 100), "Wall time: 0.0000 seconds\nOutput:\nSuccess.\n");
        let long = "line\n".repeat(100);
        let cut = output_without_process(&long, 10);
        assert!(cut.starts_with("Wall time: 0.0000 seconds\nOutput:\nWarning: truncated output"), "{cut}");
        assert!(cut.len() < long.len(), "{cut}");
    }

    fn output(bytes: &[u8], exit_code: Option<i32>, session_id: Option<i32>, max_output_tokens: usize) -> ExecOutput {
        let mut collected = HeadTailBuffer::default();
        collected.push(bytes);
        ExecOutput::new(collected, Duration::from_micros(501_449), exit_code, session_id, max_output_tokens)
    }

    #[test]
    fn chunk_ids_are_six_lowercase_hex_digits() {
        for _ in 0..100 {
            let id = chunk_id();
            assert_eq!(id.len(), 6);
            assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id}");
        }
    }

    #[test]
    fn exited_process() {
        let text = output(b"hello\n", Some(0), None, 10_000).to_model_text();
        let (chunk, rest) = text.split_at("Chunk ID: ".len() + 6);
        assert!(chunk.starts_with("Chunk ID: "));
        assert_eq!(
            rest,
            "\nWall time: 0.5014 seconds\nProcess exited with code 0\nOriginal token count: 2\nOutput:\nhello\n"
        );
    }

    #[test]
    fn running_process_with_invalid_utf8() {
        let out = output(b"a\xff\xfeb\n", None, Some(65989), 10_000);
        assert!(out.to_model_text().ends_with(
            "Wall time: 0.5014 seconds\nProcess running with session ID 65989\nOriginal token count: 2\nOutput:\na\u{fffd}\u{fffd}b\n"
        ));
    }

    #[test]
    fn dropped_bytes_are_noted_before_the_cut() {
        let mut collected = HeadTailBuffer::with_capacity(20);
        collected.push(b"0123456789abcdefghijklmnopqrstuvwxyz");
        let out = ExecOutput::new(collected, Duration::ZERO, Some(0), None, 2);
        assert_eq!(out.original_token_count, 9);
        assert_eq!(
            out.model_output(),
            "Warning: truncated output (original token count: 9)\n... 16 bytes omitted ...\n\n0123…10 tokens truncated…wxyz"
        );
    }

    #[test]
    fn dropped_bytes_within_budget_keep_the_inline_mark() {
        let mut collected = HeadTailBuffer::with_capacity(4);
        collected.push(b"abcdef");
        let out = ExecOutput::new(collected, Duration::ZERO, Some(0), None, 100);
        assert_eq!(out.model_output(), "ab\n... 2 bytes omitted ...\nef");
    }
}
