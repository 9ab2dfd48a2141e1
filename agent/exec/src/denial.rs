//! Telling a command the sandbox stopped from one that failed on its own, as Codex 0.169.0 tells them apart.
//!
//! Upstream cannot know for sure either: it judges a sandboxed command that ended within the early-exit grace
//! period ([`crate::EARLY_EXIT_GRACE`]) by its exit code and what it printed. A command so judged is reported to the
//! model as usual, but shown as no item at all (`codex exec --json` and the app server alike), and, where nobody may
//! approve running it outside the sandbox, not retried. Seen against upstream 0.169.0 (read-only and workspace-write
//! sandboxes, `exec` and the app server with `on-request`):
//!
//! | command | exit | items |
//! | --- | --- | --- |
//! | `echo data > created.txt` (`Read-only file system`) | 1 | none |
//! | `touch created.txt`, `touch /etc/x`, `echo x > ../outside.txt` under workspace-write | 1 | none |
//! | `echo permission denied; exit 1`, `echo SANDBOX thing; exit 5` | 1, 5 | none |
//! | `echo Read-only file system; exit 2`, `echo sandbox; exit 126` | 2, 126 | none |
//! | `kill -SYS $$` (no output) | 159 | none |
//! | `echo permission denied; exit 0` | 0 | started and completed |
//! | `echo hi; exit 3`, `exit 1` | 3, 1 | started and completed |
//! | `sleep 0.1; echo operation not permitted; exit 1` | 1 | none |
//! | `sleep 0.2; ...` or `sleep 0.4; touch created.txt` (ended after the grace period) | 1 | started and completed |
//! | any of these under `danger-full-access` (no sandbox) | | started and completed |

/// Words (compared without case) in a failed command's output that upstream takes for the sandbox's refusal.
const DENIAL_WORDS: [&str; 7] = [
    "operation not permitted",
    "permission denied",
    "read-only file system",
    "seccomp",
    "sandbox",
    "landlock",
    "failed to write file",
];

/// The exit status of a command the seccomp filter killed (128 + SIGSYS).
const KILLED_BY_SECCOMP: i32 = 128 + 31;

/// Whether a sandboxed command that ended early with `exit_code`, having printed `output`, reads as refused by the
/// sandbox: a failure whose output names a refusal, or a death by SIGSYS.
pub fn looks_like_sandbox_denial(exit_code: i32, output: &str) -> bool {
    if exit_code == 0 {
        return false;
    }
    let output = output.to_lowercase();
    exit_code == KILLED_BY_SECCOMP || DENIAL_WORDS.iter().any(|word| output.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_naming_a_refusal_or_killed_by_seccomp_is_a_denial() {
        assert!(looks_like_sandbox_denial(1, "/bin/bash: line 1: created.txt: Read-only file system\n"));
        assert!(looks_like_sandbox_denial(5, "SANDBOX thing\n"));
        assert!(looks_like_sandbox_denial(2, "Read-only file system\n"), "exit 2 with the words counts too");
        assert!(looks_like_sandbox_denial(126, "sandbox\n"));
        assert!(looks_like_sandbox_denial(159, ""));
        assert!(!looks_like_sandbox_denial(0, "permission denied\n"), "a success is never a denial");
        assert!(!looks_like_sandbox_denial(3, "hi\n"));
        assert!(!looks_like_sandbox_denial(1, ""));
    }
}
