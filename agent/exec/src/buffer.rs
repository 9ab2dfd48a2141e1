//! A byte buffer capped at a fixed size that keeps the beginning and the end of what it was given.

use std::collections::VecDeque;

/// Upstream's cap on the output kept per read, and on a command's transcript: 1 MiB.
pub const OUTPUT_MAX_BYTES: usize = 1024 * 1024;

/// Keeps the first half of its capacity as it arrives and the most recent bytes in the other half, counting what falls
/// out in between: a command's output as upstream collects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadTailBuffer {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    head_capacity: usize,
    tail_capacity: usize,
    omitted: usize,
}

impl Default for HeadTailBuffer {
    fn default() -> Self {
        Self::with_capacity(OUTPUT_MAX_BYTES)
    }
}

impl HeadTailBuffer {
    /// A buffer keeping at most `capacity` bytes: `capacity / 2` of head, the rest of tail.
    pub fn with_capacity(capacity: usize) -> Self {
        let head_capacity = capacity / 2;
        Self {
            head: Vec::new(),
            tail: VecDeque::new(),
            head_capacity,
            tail_capacity: capacity - head_capacity,
            omitted: 0,
        }
    }

    pub fn push(&mut self, mut bytes: &[u8]) {
        let to_head = self.head_capacity.saturating_sub(self.head.len()).min(bytes.len());
        self.head.extend_from_slice(&bytes[..to_head]);
        bytes = &bytes[to_head..];
        if bytes.len() >= self.tail_capacity {
            let keep_from = bytes.len() - self.tail_capacity;
            self.omitted += self.tail.len() + keep_from;
            self.tail.clear();
            self.tail.extend(&bytes[keep_from..]);
            return;
        }
        self.tail.extend(bytes);
        let excess = self.tail.len().saturating_sub(self.tail_capacity);
        self.tail.drain(..excess);
        self.omitted += excess;
    }

    /// Bytes given so far, kept or not.
    pub fn total_bytes(&self) -> usize {
        self.head.len() + self.tail.len() + self.omitted
    }

    /// Bytes dropped from the middle.
    pub fn omitted_bytes(&self) -> usize {
        self.omitted
    }

    pub fn is_empty(&self) -> bool {
        self.total_bytes() == 0
    }

    /// Empties the buffer, handing back what it held.
    pub fn take(&mut self) -> Self {
        let empty = Self::with_capacity(self.head_capacity + self.tail_capacity);
        std::mem::replace(self, empty)
    }

    /// Head and tail, with upstream's `\n... N bytes omitted ...\n` between them when bytes were dropped.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.head.len() + self.tail.len() + 40);
        out.extend_from_slice(&self.head);
        if self.omitted > 0 {
            out.push(b'\n');
            out.extend_from_slice(omission_marker(self.omitted).as_bytes());
            out.push(b'\n');
        }
        out.extend(self.tail.iter());
        out
    }
}

/// Upstream's mark for bytes the buffer dropped.
pub fn omission_marker(omitted_bytes: usize) -> String {
    format!("... {omitted_bytes} bytes omitted ...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_within_capacity() {
        let mut buffer = HeadTailBuffer::with_capacity(10);
        buffer.push(b"abc");
        buffer.push(b"defg");
        assert_eq!(buffer.to_bytes(), b"abcdefg");
        assert_eq!((buffer.total_bytes(), buffer.omitted_bytes()), (7, 0));
    }

    #[test]
    fn drops_the_middle_and_marks_it() {
        let mut buffer = HeadTailBuffer::with_capacity(6);
        buffer.push(b"0123");
        buffer.push(b"456789");
        assert_eq!(buffer.to_bytes(), b"012\n... 4 bytes omitted ...\n789");
        assert_eq!((buffer.total_bytes(), buffer.omitted_bytes()), (10, 4));
    }

    #[test]
    fn chunking_does_not_change_the_result() {
        let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let mut whole = HeadTailBuffer::with_capacity(1000);
        whole.push(&data);
        for size in [1, 7, 333, 999, 1000, 1001] {
            let mut chunked = HeadTailBuffer::with_capacity(1000);
            data.chunks(size).for_each(|chunk| chunked.push(chunk));
            assert_eq!(chunked.to_bytes(), whole.to_bytes(), "chunks of {size}");
            assert_eq!(chunked.omitted_bytes(), 4000);
        }
    }

    #[test]
    fn take_leaves_an_empty_buffer_of_the_same_capacity() {
        let mut buffer = HeadTailBuffer::with_capacity(4);
        buffer.push(b"abcdef");
        let taken = buffer.take();
        assert_eq!(taken.to_bytes(), b"ab\n... 2 bytes omitted ...\nef");
        assert!(buffer.is_empty());
        buffer.push(b"123456");
        assert_eq!(buffer.omitted_bytes(), 2);
    }
}
