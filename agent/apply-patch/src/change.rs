//! What a patch does to each file, for the agent's `file_change` item and diff tracking.

use std::path::PathBuf;

/// What a hunk does to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// Creates the file (or replaces it).
    Add,
    /// Removes the file.
    Delete,
    /// Edits the file, possibly moving it.
    Update,
}

impl ChangeKind {
    /// The `kind` of a `file_change` item's change: `add`, `delete` or `update`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Add => "add",
            ChangeKind::Delete => "delete",
            ChangeKind::Update => "update",
        }
    }
}

/// One file a patch changes, as checked against the tree before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The file the hunk names, absolute and lexically normalized (for a move, the source).
    pub path: PathBuf,
    /// What the hunk does to it.
    pub kind: ChangeKind,
    /// Where an update moves the file, absolute.
    pub move_to: Option<PathBuf>,
    /// The file's text before (deletions and updates).
    pub before: Option<String>,
    /// The file's text after (additions and updates).
    pub after: Option<String>,
}

impl FileChange {
    /// A unified diff of the change, with one line of context (as upstream computes it), without file headers.
    pub fn unified_diff(&self) -> String {
        let before = self.before.as_deref().unwrap_or("");
        let after = self.after.as_deref().unwrap_or("");
        similar::TextDiff::from_lines(before, after).unified_diff().context_radius(1).to_string()
    }
}

/// Sorts changes the way upstream lists them in a `file_change` item: by path, bytewise.
pub(crate) fn sort_changes(changes: &mut [FileChange]) {
    changes.sort_by(|a, b| a.path.as_os_str().as_encoded_bytes().cmp(b.path.as_os_str().as_encoded_bytes()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(path: &str) -> FileChange {
        FileChange { path: path.into(), kind: ChangeKind::Add, move_to: None, before: None, after: Some("x\n".into()) }
    }

    #[test]
    fn changes_sort_bytewise_not_by_component() {
        let mut changes = vec![change("/w/a/b.txt"), change("/w/a.txt"), change("/w/a-b.txt"), change("/w/B.txt")];
        sort_changes(&mut changes);
        let paths: Vec<_> = changes.iter().map(|c| c.path.to_str().unwrap()).collect();
        assert_eq!(paths, ["/w/B.txt", "/w/a-b.txt", "/w/a.txt", "/w/a/b.txt"]);
    }

    #[test]
    fn unified_diff_shows_the_edit_with_one_line_of_context() {
        let update = FileChange {
            kind: ChangeKind::Update,
            before: Some("a\nb\nc\nd\n".into()),
            after: Some("a\nB\nc\nd\n".into()),
            ..change("/w/f")
        };
        assert_eq!(update.unified_diff(), "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
        assert_eq!(change("/w/f").unified_diff(), "@@ -0,0 +1 @@\n+x\n");
    }

    #[test]
    fn kinds_read_as_in_file_change_items() {
        let kinds = [ChangeKind::Add, ChangeKind::Delete, ChangeKind::Update].map(ChangeKind::as_str);
        assert_eq!(kinds, ["add", "delete", "update"]);
    }
}
