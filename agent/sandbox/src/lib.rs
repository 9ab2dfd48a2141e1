//! The sandbox of rcodex, as Codex CLI 0.169.0 has it on Linux: its three modes, what each lets commands and
//! patches write, and their enforcement on the commands the agent runs.
//!
//! # The policy
//!
//! A [`SandboxPolicy`] comes from `sandbox_mode` and `[sandbox_workspace_write]` in config.toml
//! ([`SandboxMode`], [`WorkspaceWriteOptions`], both deserializable). It answers:
//!
//! - [`SandboxPolicy::writable_roots`]: the directories commands may write and their read-only carve-outs
//!   (`.git` and the git directory a `gitdir:` file points to, `.agents`, `.codex`, `.aws`), sorted as the
//!   model is told them;
//! - [`SandboxPolicy::network_access`], [`SandboxPolicy::command_env`], [`SandboxPolicy::metadata_tag`];
//! - [`SandboxPolicy::permission_profile`]: the entries of the environment context's permission profile;
//! - [`SandboxPolicy::patch_policy`]: the same roots as an apply_patch [`WritePolicy`](rcodex_apply_patch::WritePolicy).
//!
//! # Enforcement
//!
//! [`command_argv`] wraps a command in a call to the launcher (rcodex itself, with [`LAUNCHER_SUBCOMMAND`]),
//! whose entry point is [`run_launcher`]. Upstream runs its commands in bubblewrap with a seccomp filter; the
//! launcher builds the same sandbox directly with the kernel's interfaces, so that commands read the same
//! errors: user, mount and PID namespaces (network too when it is closed); the whole tree remounted
//! read-only, `nosuid` and `nodev`; writable roots mounted read-write over it and their carve-outs read-only
//! again, a missing carve-out shown as an empty read-only directory; fresh `/dev` and `/proc`; the command as
//! PID 2 with no capabilities, `no_new_privs`, and a seccomp filter that denies io_uring, and, when the network
//! is closed, every socket call but local (`AF_UNIX`) ones, `ptrace` and `process_vm_*`.
//!
//! A write where it is not allowed fails with EROFS, "Read-only file system", for root too: that is the
//! mount's answer, not a permission check. Landlock is not used: it would answer EACCES ("Permission denied")
//! where upstream's commands read EROFS, and it adds nothing the mounts do not already refuse.
//!
//! `danger-full-access` is not sandboxed at all, as upstream: [`command_argv`] returns the command unchanged.
//!
//! # Requirements
//!
//! Linux 5.12 or later (`mount_setattr`), user namespaces open to the user running rcodex, and seccomp.
//! [`check_support`] tells, for a startup warning, naming what is missing. Where the kernel refuses the namespaces, every sandboxed
//! command fails with exit status 1 and bubblewrap's explanation, the text Codex 0.169.0 shows the model then,
//! e.g. `bwrap: Creating new namespace failed: nesting depth or /proc/sys/user/max_*_namespaces exceeded
//! (ENOSPC)`.

#![warn(missing_docs)]

mod launcher;
mod patch;
mod policy;

pub use launcher::{LAUNCHER_SUBCOMMAND, command_argv, run_launcher};
#[cfg(target_os = "linux")]
pub use launcher::{Unsupported, check_support};
pub use patch::PatchPolicy;
pub use policy::{
    Access, PROTECTED_NAMES, PermissionProfile, ProfileEntry, ProfilePath, SandboxMode, SandboxPolicy,
    UnknownSandboxMode, WorkspaceWriteOptions, WritableRoot,
};
