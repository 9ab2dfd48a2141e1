//! Reading the user's TOML files (rules, accepted divergences) with errors that name the file, line and column.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Why a rules or accept file could not be used. Displays as `FILE:LINE:COLUMN: what is wrong`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub path: PathBuf,
    /// 1-based; absent when the problem is the whole file (it cannot be read).
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for FileError {}

/// A TOML file's text, for parsing and for locating problems in it.
pub(crate) struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl<'a> Source<'a> {
    pub fn read(path: &'a Path, buffer: &'a mut String) -> Result<Source<'a>, FileError> {
        *buffer = std::fs::read_to_string(path).map_err(|e| FileError {
            path: path.to_path_buf(),
            line: None,
            column: None,
            message: format!("cannot read it: {e}"),
        })?;
        Ok(Source { path, text: buffer })
    }

    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, FileError> {
        toml::from_str(self.text).map_err(|e| {
            let message = e.message().trim().to_string();
            match e.span() {
                Some(span) => self.error_at(span, message),
                None => self.error(message),
            }
        })
    }

    /// An error located at a byte span of the file.
    pub fn error_at(&self, span: Range<usize>, message: impl Into<String>) -> FileError {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        FileError { path: self.path.to_path_buf(), line: Some(line), column: Some(column), message: message.into() }
    }

    pub fn error(&self, message: impl Into<String>) -> FileError {
        FileError { path: self.path.to_path_buf(), line: None, column: None, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_located_by_line_and_column() {
        let source = Source { path: Path::new("r.toml"), text: "a = 1\nbb = [\n" };
        let err = source.parse::<toml::Table>().unwrap_err();
        assert_eq!(err.path, Path::new("r.toml"));
        assert!(err.line.is_some(), "{err}");
        assert_eq!(source.error_at(7..9, "here").to_string(), "r.toml:2:2: here");
        assert_eq!(source.error("whole").to_string(), "r.toml: whole");
    }
}
