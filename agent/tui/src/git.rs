//! What `/review`'s second pickers list, asked of git as upstream asks it: the local branches (the default one
//! first) and the current one, for a review against a base branch; the recent commits, for a review of a commit.
//! A directory that is not a repository, or a git that fails, lists nothing.

use std::path::Path;
use std::process::Command;

/// How many commits the commit picker offers, as upstream's.
pub const RECENT_COMMITS: usize = 100;

/// One commit the commit picker offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    /// The first line of its message.
    pub subject: String,
}

/// What git printed for `args` in `cwd`, when it succeeded.
fn git(cwd: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).current_dir(cwd).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The local branches, sorted, the default branch (`main`, else `master`, when there is one) first.
pub fn local_branches(cwd: &Path) -> Vec<String> {
    let Some(listed) = git(cwd, &["branch", "--format=%(refname:short)"]) else { return Vec::new() };
    let mut branches: Vec<String> =
        listed.lines().map(str::trim).filter(|name| !name.is_empty()).map(str::to_string).collect();
    branches.sort_unstable();
    let default = ["main", "master"]
        .into_iter()
        .find(|name| git(cwd, &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{name}")]).is_some());
    if let Some(at) = default.and_then(|name| branches.iter().position(|b| b == name)) {
        let branch = branches.remove(at);
        branches.insert(0, branch);
    }
    branches
}

/// The branch checked out, `None` on a detached HEAD.
pub fn current_branch(cwd: &Path) -> Option<String> {
    git(cwd, &["branch", "--show-current"]).map(|name| name.trim().to_string()).filter(|name| !name.is_empty())
}

/// The last `limit` commits reachable from HEAD, newest first.
pub fn recent_commits(cwd: &Path, limit: usize) -> Vec<Commit> {
    let count = limit.max(1).to_string();
    // Fields apart by the unit separator, which no subject holds.
    let Some(log) = git(cwd, &["log", "-n", &count, "--pretty=format:%H%x1f%s"]) else { return Vec::new() };
    log.lines()
        .filter_map(|line| {
            let (sha, subject) = line.split_once('\u{1f}')?;
            let sha = sha.trim();
            (!sha.is_empty()).then(|| Commit { sha: sha.to_string(), subject: subject.trim().to_string() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn branches_come_sorted_with_the_default_first_and_commits_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        run(repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("a"), "1").unwrap();
        run(repo, &["add", "a"]);
        run(repo, &["commit", "-q", "-m", "First"]);
        run(repo, &["switch", "-q", "-c", "zeta"]);
        run(repo, &["switch", "-q", "-c", "alpha"]);
        std::fs::write(repo.join("a"), "2").unwrap();
        run(repo, &["commit", "-q", "-am", "Second: with a colon\n\nand a body"]);
        assert_eq!(local_branches(repo), ["main", "alpha", "zeta"]);
        assert_eq!(current_branch(repo).as_deref(), Some("alpha"));
        let commits = recent_commits(repo, RECENT_COMMITS);
        let subjects: Vec<&str> = commits.iter().map(|c| c.subject.as_str()).collect();
        assert_eq!(subjects, ["Second: with a colon", "First"]);
        assert!(commits.iter().all(|c| c.sha.len() == 40), "{commits:?}");
        assert_eq!(recent_commits(repo, 1).len(), 1);
        run(repo, &["switch", "-q", "--detach", "main"]);
        assert_eq!(current_branch(repo), None, "a detached HEAD");
    }

    #[test]
    fn a_directory_outside_git_lists_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(local_branches(dir.path()).is_empty());
        assert!(recent_commits(dir.path(), 10).is_empty());
        assert_eq!(current_branch(dir.path()), None);
    }
}
