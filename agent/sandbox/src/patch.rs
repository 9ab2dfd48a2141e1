//! The sandbox's say on `apply_patch`: patches write where sandboxed commands may.

use std::path::{Path, PathBuf};

use rcodex_apply_patch::{Refusal, WritePolicy};

use crate::policy::{SandboxPolicy, WritableRoot, normalize};

/// A [`WritePolicy`] for the apply_patch engine that follows a [`SandboxPolicy`]: nothing under `read-only`,
/// everything under `danger-full-access`, and under `workspace-write` what is in a writable root and in none of
/// its carve-outs (`.git`, `.agents`, `.codex`, `.aws`).
///
/// Patches are applied by the agent itself, outside the process sandbox, so a path is checked twice: as written
/// and with symlinks resolved, the way the kernel would follow them. A patch that reaches outside the roots
/// through a symlink in the workspace is refused here, where upstream (which writes from inside its sandbox)
/// fails at the write instead.
#[derive(Debug, Clone)]
pub struct PatchPolicy(Scope);

#[derive(Debug, Clone)]
enum Scope {
    Everything,
    Nothing,
    /// The roots as configured, and the same roots resolved through symlinks.
    Roots {
        lexical: Vec<WritableRoot>,
        resolved: Vec<WritableRoot>,
    },
}

impl SandboxPolicy {
    /// The policy apply_patch follows for a session in `cwd` (`$TMPDIR` taken from the environment, as for
    /// commands).
    pub fn patch_policy(&self, cwd: &Path) -> PatchPolicy {
        PatchPolicy(match self {
            SandboxPolicy::DangerFullAccess => Scope::Everything,
            SandboxPolicy::ReadOnly => Scope::Nothing,
            SandboxPolicy::WorkspaceWrite(_) => {
                let lexical = self.writable_roots(cwd);
                let resolved = lexical
                    .iter()
                    .map(|root| WritableRoot {
                        root: resolve(&root.root),
                        read_only_subpaths: root.read_only_subpaths.iter().map(|p| resolve(p)).collect(),
                    })
                    .collect();
                Scope::Roots { lexical, resolved }
            }
        })
    }
}

impl WritePolicy for PatchPolicy {
    fn check(&self, path: &Path) -> Result<(), Refusal> {
        match &self.0 {
            Scope::Everything => Ok(()),
            Scope::Nothing => Err(Refusal::ReadOnlySandbox),
            Scope::Roots { lexical, resolved } => {
                // A carve-out of one root wins over any other root containing it, as the mounts have it.
                let allowed = |roots: &[WritableRoot], path: &Path| {
                    roots.iter().any(|root| path.starts_with(&root.root))
                        && !roots.iter().flat_map(|root| &root.read_only_subpaths).any(|sub| path.starts_with(sub))
                };
                if allowed(lexical, path) && allowed(resolved, &resolve(path)) {
                    Ok(())
                } else {
                    Err(Refusal::OutsideWritableRoots)
                }
            }
        }
    }
}

/// `path` with symlinks resolved as far as it exists, the rest appended lexically.
fn resolve(path: &Path) -> PathBuf {
    let path = normalize(path);
    for existing in path.ancestors() {
        if let Ok(real) = existing.canonicalize() {
            let rest = path.strip_prefix(existing).unwrap_or(Path::new(""));
            return normalize(&real.join(rest));
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::policy::WorkspaceWriteOptions;

    fn only_workspace() -> SandboxPolicy {
        SandboxPolicy::WorkspaceWrite(WorkspaceWriteOptions {
            exclude_slash_tmp: true,
            exclude_tmpdir_env_var: true,
            ..Default::default()
        })
    }

    #[test]
    fn modes_map_to_the_engine_refusals() {
        let p = Path::new("/anywhere/x");
        assert_eq!(SandboxPolicy::ReadOnly.patch_policy(Path::new("/w")).check(p), Err(Refusal::ReadOnlySandbox));
        assert_eq!(SandboxPolicy::DangerFullAccess.patch_policy(Path::new("/w")).check(p), Ok(()));
    }

    #[test]
    fn workspace_write_allows_the_roots_but_not_their_carve_outs() {
        let ws = tempfile::tempdir().unwrap();
        let ws = ws.path();
        let policy = only_workspace().patch_policy(ws);
        assert_eq!(policy.check(&ws.join("src/new.rs")), Ok(()));
        for protected in [".git/config", ".codex/config.toml", ".agents/x", ".aws/credentials"] {
            assert_eq!(policy.check(&ws.join(protected)), Err(Refusal::OutsideWritableRoots), "{protected}");
        }
        assert_eq!(policy.check(&ws.parent().unwrap().join("sibling")), Err(Refusal::OutsideWritableRoots));
    }

    #[test]
    fn symlinks_do_not_lead_patches_out_of_the_roots() {
        let base = tempfile::tempdir().unwrap();
        let ws = base.path().join("ws");
        let outside = base.path().join("outside");
        std::fs::create_dir_all(ws.join(".git")).unwrap();
        std::fs::create_dir(&outside).unwrap();
        symlink(&outside, ws.join("escape")).unwrap();
        symlink(ws.join(".git"), ws.join("gitlink")).unwrap();
        symlink(ws.join("src"), ws.join("inside")).unwrap();
        let policy = only_workspace().patch_policy(&ws);
        assert_eq!(policy.check(&ws.join("escape/x")), Err(Refusal::OutsideWritableRoots));
        assert_eq!(policy.check(&ws.join("gitlink/hooks/pre-commit")), Err(Refusal::OutsideWritableRoots));
        assert_eq!(policy.check(&ws.join("inside/lib.rs")), Ok(()));
    }

    #[test]
    fn a_workspace_reached_through_a_symlink_is_still_writable() {
        let base = tempfile::tempdir().unwrap();
        std::fs::create_dir(base.path().join("real")).unwrap();
        symlink(base.path().join("real"), base.path().join("alias")).unwrap();
        let ws = base.path().join("alias");
        assert_eq!(only_workspace().patch_policy(&ws).check(&ws.join("a.txt")), Ok(()));
    }
}
