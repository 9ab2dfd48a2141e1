//! Which shell runs `cmd`, with which arguments, and how the command is shown.

use std::ffi::{CStr, OsStr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The shells upstream knows how to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellKind {
    Zsh,
    Bash,
    Sh,
    PowerShell,
    Cmd,
}

impl ShellKind {
    /// The kind a shell's name or path names: `bash`, `/usr/bin/bash`, `sh.exe` (by file stem); `None` for others
    /// (`dash`, `fish`, ...).
    pub fn detect(shell: &Path) -> Option<ShellKind> {
        match shell.to_str()? {
            "zsh" => Some(ShellKind::Zsh),
            "bash" => Some(ShellKind::Bash),
            "sh" => Some(ShellKind::Sh),
            "pwsh" | "powershell" => Some(ShellKind::PowerShell),
            "cmd" => Some(ShellKind::Cmd),
            _ => {
                let stem = Path::new(shell.file_stem()?);
                (stem != shell).then(|| ShellKind::detect(stem)).flatten()
            }
        }
    }

    /// The program looked up on `PATH`, and where to look after that.
    fn binary_and_fallbacks(self) -> (&'static str, &'static [&'static str]) {
        match self {
            ShellKind::Zsh => ("zsh", &["/bin/zsh"]),
            ShellKind::Bash => ("bash", &["/bin/bash", "/usr/bin/bash"]),
            ShellKind::Sh => ("sh", &["/bin/sh"]),
            ShellKind::PowerShell => ("pwsh", &["/usr/local/bin/pwsh"]),
            ShellKind::Cmd => ("cmd", &[]),
        }
    }
}

/// A shell to run commands with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shell {
    pub kind: ShellKind,
    pub path: PathBuf,
}

impl Shell {
    /// Upstream's last resort: `/bin/sh`.
    pub fn fallback() -> Shell {
        Shell { kind: ShellKind::Sh, path: PathBuf::from("/bin/sh") }
    }

    /// The user's default shell as upstream picks it: `login_shell` (the passwd entry's, see [`passwd_shell`]) when it
    /// is a known kind that can be found, else bash, else zsh, else `/bin/sh`.
    pub fn user_default(login_shell: Option<&Path>, search_path: Option<&OsStr>) -> Shell {
        login_shell
            .and_then(ShellKind::detect)
            .and_then(|kind| Shell::locate(kind, login_shell, search_path))
            .or_else(|| Shell::locate(ShellKind::Bash, login_shell, search_path))
            .or_else(|| Shell::locate(ShellKind::Zsh, login_shell, search_path))
            .unwrap_or_else(Shell::fallback)
    }

    /// The shell for the tool's `shell` argument. Upstream 0.169.0 uses the name only for its kind: `/bin/sh` runs
    /// the first `sh` on `PATH`, `/usr/bin/bash` the user's bash; a name of no known kind (`dash`, `fish`, ``) or a
    /// kind not installed gives `/bin/sh`.
    pub fn for_requested(requested: &str, user_shell: &Shell, search_path: Option<&OsStr>) -> Shell {
        ShellKind::detect(Path::new(requested))
            .and_then(|kind| Shell::locate(kind, Some(&user_shell.path), search_path))
            .unwrap_or_else(Shell::fallback)
    }

    /// The user's shell when it is of `kind`, else `kind`'s program on `search_path`, else its usual places.
    fn locate(kind: ShellKind, user_shell: Option<&Path>, search_path: Option<&OsStr>) -> Option<Shell> {
        let (binary, fallbacks) = kind.binary_and_fallbacks();
        let user = user_shell.filter(|path| ShellKind::detect(path) == Some(kind) && path.is_file());
        let path = user
            .map(Path::to_path_buf)
            .or_else(|| which(binary, search_path?))
            .or_else(|| fallbacks.iter().map(PathBuf::from).find(|path| path.is_file()))?;
        Some(Shell { kind, path })
    }

    /// The argv running `cmd`: `[shell, -lc, cmd]` for a login shell, `[shell, -c, cmd]` otherwise (PowerShell and
    /// cmd take their own flags).
    pub fn argv(&self, cmd: &str, login: bool) -> Vec<String> {
        let shell = self.path.to_string_lossy().into_owned();
        let flags: &[&str] = match self.kind {
            ShellKind::Zsh | ShellKind::Bash | ShellKind::Sh if login => &["-lc"],
            ShellKind::Zsh | ShellKind::Bash | ShellKind::Sh => &["-c"],
            ShellKind::PowerShell if login => &["-Command"],
            ShellKind::PowerShell => &["-NoProfile", "-Command"],
            ShellKind::Cmd => &["/c"],
        };
        std::iter::once(shell).chain(flags.iter().map(|flag| flag.to_string())).chain([cmd.to_string()]).collect()
    }
}

/// The first executable file named `binary` in the directories of `search_path` (a `PATH` value).
fn which(binary: &str, search_path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(search_path)
        .map(|dir| dir.join(binary))
        .find(|path| path.metadata().is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0))
}

/// The command as upstream shows it (the `command` of its `command_execution` events): the argv joined and quoted for
/// a POSIX shell, e.g. `/bin/bash -lc 'echo hello'`.
pub fn display_command(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| "<command included NUL byte>".to_string())
}

/// The login shell of the current user's passwd entry.
pub fn passwd_shell() -> Option<PathBuf> {
    let mut buffer = vec![0u8; 4096];
    loop {
        // SAFETY: passwd and result are plain out-parameters; the strings they point to live in `buffer`, which
        // outlives their use below.
        let mut passwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result = std::ptr::null_mut();
        let status = unsafe {
            libc::getpwuid_r(libc::getuid(), &mut passwd, buffer.as_mut_ptr().cast(), buffer.len(), &mut result)
        };
        if status == libc::ERANGE && buffer.len() < 1 << 20 {
            buffer.resize(buffer.len() * 2, 0);
            continue;
        }
        if status != 0 || result.is_null() || passwd.pw_shell.is_null() {
            return None;
        }
        // SAFETY: getpwuid_r succeeded, so pw_shell points to a NUL-terminated string in `buffer`.
        let shell = unsafe { CStr::from_ptr(passwd.pw_shell) };
        return Some(PathBuf::from(shell.to_string_lossy().into_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_kinds_by_name_path_and_stem() {
        let kind = |s: &str| ShellKind::detect(Path::new(s));
        assert_eq!(kind("bash"), Some(ShellKind::Bash));
        assert_eq!(kind("/usr/bin/bash"), Some(ShellKind::Bash));
        assert_eq!(kind("/bin/sh.exe"), Some(ShellKind::Sh));
        assert_eq!(kind("powershell"), Some(ShellKind::PowerShell));
        assert_eq!(kind("dash"), None);
        assert_eq!(kind(""), None);
        assert_eq!(kind("/usr/bin/env"), None);
    }

    #[test]
    fn requested_shells_resolve_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let sh = dir.path().join("sh");
        std::fs::write(&sh, "").unwrap();
        std::fs::set_permissions(&sh, std::fs::Permissions::from_mode(0o755)).unwrap();
        let bash = Shell { kind: ShellKind::Bash, path: PathBuf::from("/bin/bash") };
        let resolve = |s: &str| Shell::for_requested(s, &bash, Some(dir.path().as_os_str())).path;
        // The user's bash, wherever the request says bash is.
        assert_eq!(resolve("/usr/local/bin/bash"), PathBuf::from("/bin/bash"));
        // The path given is not used: the first sh on the search path is.
        assert_eq!(resolve("/bin/sh"), sh);
        assert_eq!(resolve("fish"), PathBuf::from("/bin/sh"));
        assert_eq!(resolve(""), PathBuf::from("/bin/sh"));
        // A known kind found nowhere.
        assert_eq!(resolve("pwsh"), PathBuf::from("/bin/sh"));
    }

    #[test]
    fn argv_for_login_and_not() {
        let bash = Shell { kind: ShellKind::Bash, path: PathBuf::from("/bin/bash") };
        assert_eq!(bash.argv("echo hi", true), ["/bin/bash", "-lc", "echo hi"]);
        assert_eq!(bash.argv("echo hi", false), ["/bin/bash", "-c", "echo hi"]);
    }

    #[test]
    fn displays_as_upstream_quotes() {
        let show = |cmd: &str| display_command(&["/bin/bash".into(), "-lc".into(), cmd.into()]);
        assert_eq!(show("echo hello"), "/bin/bash -lc 'echo hello'");
        assert_eq!(show("true"), "/bin/bash -lc true");
        assert_eq!(show(""), "/bin/bash -lc ''");
        assert_eq!(show("printf 'no newline'"), "/bin/bash -lc \"printf 'no newline'\"");
        assert_eq!(show("a\0b"), "<command included NUL byte>");
    }
}
