//! The composer's text and its cursor, with the editing keys of a shell's line editor: arrows, Home and End (of the
//! line), Ctrl-A and Ctrl-E, Backspace and Delete, Ctrl-U and Ctrl-K (to the start or end of the line), Ctrl-W and
//! Alt-Backspace (the word before), Alt-B and Alt-F (a word back or forward).

/// Multi-line text with a cursor, a byte offset always on a character boundary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Composer {
    text: String,
    cursor: usize,
}

impl Composer {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn is_multiline(&self) -> bool {
        self.text.contains('\n')
    }

    /// Replaces the text (a message from the history), the cursor at its end.
    pub fn set(&mut self, text: String) {
        self.cursor = text.len();
        self.text = text;
    }

    pub fn clear(&mut self) {
        self.set(String::new());
    }

    /// The text, leaving the composer empty.
    pub fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.text)
    }

    pub fn insert(&mut self, c: char) {
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
    }

    pub fn insert_str(&mut self, s: &str) {
        self.text.insert_str(self.cursor, s);
        self.cursor += s.len();
    }

    pub fn backspace(&mut self) {
        if let Some(previous) = self.before().chars().next_back() {
            self.cursor -= previous.len_utf8();
            self.text.remove(self.cursor);
        }
    }

    pub fn delete(&mut self) {
        if self.cursor < self.text.len() {
            self.text.remove(self.cursor);
        }
    }

    pub fn left(&mut self) {
        if let Some(previous) = self.before().chars().next_back() {
            self.cursor -= previous.len_utf8();
        }
    }

    pub fn right(&mut self) {
        if let Some(next) = self.text[self.cursor..].chars().next() {
            self.cursor += next.len_utf8();
        }
    }

    pub fn line_start(&mut self) {
        self.cursor = self.line_start_offset();
    }

    pub fn line_end(&mut self) {
        self.cursor = self.line_end_offset();
    }

    /// Ctrl-U: the line up to the cursor.
    pub fn kill_to_line_start(&mut self) {
        let start = self.line_start_offset();
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    /// Ctrl-K: the line from the cursor.
    pub fn kill_to_line_end(&mut self) {
        let end = self.line_end_offset();
        self.text.replace_range(self.cursor..end, "");
    }

    /// Ctrl-W: the word before the cursor, with the spaces after it.
    pub fn kill_word_back(&mut self) {
        let start = self.word_back_offset();
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    pub fn word_back(&mut self) {
        self.cursor = self.word_back_offset();
    }

    pub fn word_forward(&mut self) {
        let rest = &self.text[self.cursor..];
        let spaces = rest.len() - rest.trim_start().len();
        let word = rest[spaces..].find(char::is_whitespace).unwrap_or(rest.len() - spaces);
        self.cursor += spaces + word;
    }

    fn before(&self) -> &str {
        &self.text[..self.cursor]
    }

    fn line_start_offset(&self) -> usize {
        self.before().rfind('\n').map_or(0, |i| i + 1)
    }

    fn line_end_offset(&self) -> usize {
        self.text[self.cursor..].find('\n').map_or(self.text.len(), |i| self.cursor + i)
    }

    fn word_back_offset(&self) -> usize {
        let before = self.before().trim_end();
        before.rfind(char::is_whitespace).map_or(0, |i| i + before[i..].chars().next().map_or(1, char::len_utf8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text with `|` where the cursor is.
    fn shown(c: &Composer) -> String {
        format!("{}|{}", &c.text()[..c.cursor()], &c.text()[c.cursor()..])
    }

    #[test]
    fn characters_go_in_at_the_cursor_and_the_arrows_move_it_by_characters() {
        let mut c = Composer::default();
        for ch in "héllo".chars() {
            c.insert(ch);
        }
        c.left();
        c.left();
        c.left();
        c.left();
        assert_eq!(shown(&c), "h|éllo");
        c.right();
        assert_eq!(shown(&c), "hé|llo", "a character of two bytes is one step");
        c.insert('X');
        c.backspace();
        c.backspace();
        assert_eq!(shown(&c), "h|llo");
        c.delete();
        assert_eq!(shown(&c), "h|lo");
        c.line_start();
        c.left();
        c.backspace();
        assert_eq!(shown(&c), "|hlo", "nothing before the start");
        c.line_end();
        c.right();
        c.delete();
        assert_eq!(shown(&c), "hlo|", "nothing after the end");
    }

    #[test]
    fn line_keys_work_on_the_cursor_s_line_of_a_multi_line_text() {
        let mut c = Composer::default();
        c.insert_str("first line\nsecond line\nthird");
        for _ in 0.."third".len() {
            c.left();
        }
        c.left();
        assert_eq!(shown(&c), "first line\nsecond line|\nthird");
        c.line_start();
        assert_eq!(shown(&c), "first line\n|second line\nthird");
        c.word_forward();
        assert_eq!(shown(&c), "first line\nsecond| line\nthird");
        c.kill_to_line_end();
        assert_eq!(shown(&c), "first line\nsecond|\nthird");
        c.kill_to_line_start();
        assert_eq!(shown(&c), "first line\n|\nthird");
        c.set("run the tests  now".into());
        c.kill_word_back();
        assert_eq!(shown(&c), "run the tests  |");
        c.kill_word_back();
        assert_eq!(shown(&c), "run the |");
        c.word_back();
        assert_eq!(shown(&c), "run |the ");
        assert_eq!(c.take(), "run the ");
        assert_eq!(shown(&c), "|");
    }
}
