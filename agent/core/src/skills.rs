//! Skills: `SKILL.md` files found where upstream Codex looks for them, listed in the context and read into the
//! conversation when a `skill` input item selects one.
//!
//! Upstream 0.169.0 (its source, `core-skills/src/loader.rs`; the workspace's roots were recorded, app-skill-input)
//! looks under these roots, in this order: `$CODEX_HOME/skills` and `$HOME/.agents/skills` (user skills), its own
//! system skills in `$CODEX_HOME/skills/.system`, `/etc/codex/skills` (admin skills), then `.agents/skills` in each
//! directory from the project root (the nearest ancestor of the working directory holding `.git`, else the working
//! directory itself) down to the working directory (repo skills). Under a root, every `SKILL.md` up to six
//! directories deep, hidden entries skipped; the same file found twice counts once, where it was found first. rcodex
//! lists the system skills as the prompt pack records upstream's listing, and installs their files as upstream does
//! ([`install_system_skills`]).

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

/// Where a skill was found, as the app-server protocol names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    User,
    Repo,
    System,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Repo => "repo",
            Scope::System => "system",
            Scope::Admin => "admin",
        }
    }

    /// Upstream lists system skills first, then admin, repo and user ones.
    fn listing_rank(self) -> u8 {
        match self {
            Scope::System => 0,
            Scope::Admin => 1,
            Scope::Repo => 2,
            Scope::User => 3,
        }
    }
}

/// A skill found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    pub name: String,
    pub description: String,
    /// Its `SKILL.md`, links resolved.
    pub path: PathBuf,
    /// The root it was found under, links resolved.
    pub root: PathBuf,
    pub scope: Scope,
}

/// A `SKILL.md` that could not be read as a skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillError {
    pub path: PathBuf,
    pub message: String,
}

/// Installs the recorded system skills into `CODEX_HOME/skills/.system`, as upstream does at startup: when the marker
/// there names another version (or is missing), the directory is emptied and written anew, the marker last, so that
/// an interrupted install is redone; when it names this one, nothing is touched (a user's edits stay).
pub fn install_system_skills(codex_home: &Path) -> std::io::Result<()> {
    use rcodex_prompt_pack::include_dir::DirEntry;
    use rcodex_prompt_pack::{SYSTEM_SKILLS, SYSTEM_SKILLS_MARKER};
    let Some(marker) = SYSTEM_SKILLS.get_file(SYSTEM_SKILLS_MARKER) else { return Ok(()) };
    let root = codex_home.join("skills/.system");
    if std::fs::read(root.join(SYSTEM_SKILLS_MARKER)).is_ok_and(|found| found == marker.contents()) {
        return Ok(());
    }
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    let mut pending = vec![&SYSTEM_SKILLS];
    while let Some(dir) = pending.pop() {
        for entry in dir.entries() {
            match entry {
                DirEntry::Dir(sub) => pending.push(sub),
                DirEntry::File(file) if file.path() != Path::new(SYSTEM_SKILLS_MARKER) => {
                    let path = root.join(file.path());
                    std::fs::create_dir_all(path.parent().expect("under the root"))?;
                    std::fs::write(path, file.contents())?;
                    rcodex_prompt_pack::release_embedded(file.contents());
                }
                DirEntry::File(_) => {}
            }
        }
    }
    std::fs::write(root.join(SYSTEM_SKILLS_MARKER), marker.contents())
}

/// The skills of a working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skills {
    /// In upstream's listing order: by scope, then name, then path.
    pub skills: Vec<Skill>,
    /// The roots that gave a skill, in the order they were searched, and where the system skills' root comes among
    /// them (upstream numbers the roots of its listing in this order; the system root is always there).
    pub roots: Vec<PathBuf>,
    pub system_root_index: usize,
    pub errors: Vec<SkillError>,
}

/// No skill on disk: the system skills alone, under the first root.
impl Default for Skills {
    fn default() -> Skills {
        Skills { skills: Vec::new(), roots: vec![PathBuf::new()], system_root_index: 0, errors: Vec::new() }
    }
}

const MAX_SCAN_DEPTH: usize = 6;
const MAX_DIRS_PER_ROOT: usize = 2000;
const MAX_NAME_CHARS: usize = 64;
const MAX_DESCRIPTION_CHARS: usize = 1024;

/// The skills of `cwd`, for a user whose home is `home` (upstream's `dirs::home_dir`) and whose Codex home is
/// `codex_home`.
pub fn discover(cwd: &Path, codex_home: &Path, home: Option<&Path>) -> Skills {
    discover_under(cwd, codex_home, home, Path::new("/etc/codex/skills"))
}

fn discover_under(cwd: &Path, codex_home: &Path, home: Option<&Path>, admin_root: &Path) -> Skills {
    // `None` stands for the system root, whose skills the prompt pack lists.
    let mut roots: Vec<(Option<PathBuf>, Scope)> = vec![(Some(codex_home.join("skills")), Scope::User)];
    roots.extend(home.map(|home| (Some(home.join(".agents/skills")), Scope::User)));
    roots.push((None, Scope::System));
    roots.push((Some(admin_root.to_path_buf()), Scope::Admin));
    roots.extend(repo_roots(cwd).into_iter().map(|root| (Some(root), Scope::Repo)));

    let mut found = Skills { roots: Vec::new(), ..Skills::default() };
    let mut seen_roots = HashSet::new();
    let mut seen_files = HashSet::new();
    for (root, scope) in roots {
        let Some(root) = root else {
            found.system_root_index = found.roots.len();
            found.roots.push(PathBuf::new());
            continue;
        };
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        if !seen_roots.insert(root.clone()) {
            continue;
        }
        let before = found.skills.len();
        for file in skill_files(&root) {
            if !seen_files.insert(file.clone()) {
                continue;
            }
            match read_skill(&file) {
                Ok((name, description)) => {
                    found.skills.push(Skill { name, description, path: file, root: root.clone(), scope })
                }
                Err(message) => found.errors.push(SkillError { path: file, message }),
            }
        }
        if found.skills.len() > before {
            found.roots.push(root);
        }
    }
    found
        .skills
        .sort_by(|a, b| (a.scope.listing_rank(), &a.name, &a.path).cmp(&(b.scope.listing_rank(), &b.name, &b.path)));
    found
}

/// `.agents/skills` of each directory from the project root down to `cwd`, where it is a directory.
fn repo_roots(cwd: &Path) -> Vec<PathBuf> {
    let project_root = cwd.ancestors().find(|dir| dir.join(".git").symlink_metadata().is_ok()).unwrap_or(cwd);
    let mut dirs: Vec<&Path> = cwd.ancestors().take_while(|dir| *dir != project_root).collect();
    dirs.push(project_root);
    dirs.reverse();
    dirs.into_iter().map(|dir| dir.join(".agents/skills")).filter(|root| root.is_dir()).collect()
}

/// Every `SKILL.md` under `root`, breadth first, links to directories followed, hidden entries skipped; each file
/// with its links resolved.
fn skill_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut visited = HashSet::from([root.to_path_buf()]);
    let mut queue = VecDeque::from([(root.to_path_buf(), 0)]);
    while let Some((dir, depth)) = queue.pop_front() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            let Ok(metadata) = std::fs::metadata(&path) else { continue };
            if metadata.is_dir() {
                let resolved = std::fs::canonicalize(&path).unwrap_or(path);
                if depth < MAX_SCAN_DEPTH && visited.len() < MAX_DIRS_PER_ROOT && visited.insert(resolved.clone()) {
                    queue.push_back((resolved, depth + 1));
                }
            } else if metadata.is_file() && name == "SKILL.md" {
                files.push(std::fs::canonicalize(&path).unwrap_or(path));
            }
        }
    }
    files
}

/// A skill file's name and description.
fn read_skill(path: &Path) -> Result<(String, String), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("failed to read file: {e}"))?;
    let front = front_matter(&text).ok_or("missing YAML frontmatter delimited by ---")?;
    let name = front_field(front, "name")
        .map(|name| single_line(&name))
        .filter(|name| !name.is_empty())
        .or_else(|| path.parent()?.file_name().map(|dir| single_line(&dir.to_string_lossy())))
        .unwrap_or_else(|| "skill".into());
    let description = front_field(front, "description").map(|d| single_line(&d)).unwrap_or_default();
    for (field, value, max) in [("name", &name, MAX_NAME_CHARS), ("description", &description, MAX_DESCRIPTION_CHARS)] {
        if value.chars().count() > max {
            return Err(format!("invalid {field}: longer than {max} characters"));
        }
    }
    Ok((name, description))
}

/// The lines between a first line `---` and the next `---`.
fn front_matter(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("---")?;
    let rest = rest.strip_prefix('\r').unwrap_or(rest).strip_prefix('\n')?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some(&rest[..offset]);
        }
        offset += line.len();
    }
    None
}

/// A top-level scalar of the front matter: plain, quoted, or a block (`|`, `>`) or plain value continued on
/// indented lines.
fn front_field(front: &str, key: &str) -> Option<String> {
    let mut lines = front.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(value) = line.strip_prefix(key).and_then(|rest| rest.strip_prefix(':')) else { continue };
        let value = value.trim();
        let mut continued = Vec::new();
        while let Some(next) = lines.peek().filter(|next| next.starts_with([' ', '\t']) || next.trim().is_empty()) {
            continued.push(next.trim());
            lines.next();
        }
        let value = if value.starts_with(['|', '>']) {
            continued.join(if value.starts_with('|') { "\n" } else { " " })
        } else if let Some(quoted) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            quoted.replace("\\\"", "\"").replace("\\\\", "\\")
        } else if let Some(quoted) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            quoted.replace("''", "'")
        } else {
            std::iter::once(value).chain(continued).collect::<Vec<_>>().join(" ")
        };
        return Some(value);
    }
    None
}

/// Whitespace runs (newlines included) as one space, trimmed, as upstream shows names and descriptions.
fn single_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Skills {
    /// The skill a `skill` input item selects: the one whose file is at `path` (relative to `cwd`), links resolved.
    pub fn selected(&self, path: &Path, cwd: &Path) -> Option<&Skill> {
        let path = cwd.join(path);
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        self.skills.iter().find(|skill| skill.path == path)
    }

    /// A root's alias index in the listing (the system root's is [`Skills::system_root_index`]).
    pub fn root_index(&self, root: &Path) -> Option<usize> {
        self.roots.iter().enumerate().find(|(i, r)| *i != self.system_root_index && r.as_path() == root).map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_front_matter_gives_the_name_and_description() {
        let text = "---\nname: demo\ndescription: demo skill\n---\n\nUse the word cobalt.\n";
        let front = front_matter(text).unwrap();
        assert_eq!(front_field(front, "name").as_deref(), Some("demo"));
        assert_eq!(front_field(front, "description").as_deref(), Some("demo skill"));
        let quoted = "---\nname: \"two words\"\ndescription: 'it''s\n  long'\nmetadata:\n  short-description: x\n---\n";
        assert_eq!(front_field(front_matter(quoted).unwrap(), "name").as_deref(), Some("two words"));
        let folded = "---\ndescription: >\n  Does a\n  thing.\nname: x\n---\n";
        assert_eq!(single_line(&front_field(front_matter(folded).unwrap(), "description").unwrap()), "Does a thing.");
        let plain = "---\ndescription: Does a\n  thing.\n---\n";
        assert_eq!(front_field(front_matter(plain).unwrap(), "description").as_deref(), Some("Does a thing."));
        assert!(front_matter("no front matter\n").is_none());
        assert!(front_matter("---\nname: x\n").is_none(), "unclosed");
    }

    #[test]
    fn system_skills_are_installed_once_and_again_when_their_marker_changes() {
        use rcodex_prompt_pack::SYSTEM_SKILLS_MARKER;
        let home = tempfile::tempdir().unwrap();
        let root = home.path().join("skills/.system");
        install_system_skills(home.path()).unwrap();
        let marker = std::fs::read_to_string(root.join(SYSTEM_SKILLS_MARKER)).unwrap();
        let creator = root.join("skill-creator/SKILL.md");
        assert!(std::fs::read_to_string(&creator).unwrap().starts_with("---\nname: skill-creator"));
        assert!(root.join("skill-creator/assets/skill-creator.png").is_file(), "binary files too");
        // The same version: a user's edit stays.
        std::fs::write(&creator, "edited").unwrap();
        install_system_skills(home.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&creator).unwrap(), "edited");
        // Another version: written anew, what was not recorded removed.
        std::fs::write(root.join(SYSTEM_SKILLS_MARKER), "older").unwrap();
        std::fs::write(root.join("stray.txt"), "x").unwrap();
        install_system_skills(home.path()).unwrap();
        assert_ne!(std::fs::read_to_string(&creator).unwrap(), "edited");
        assert!(!root.join("stray.txt").exists());
        assert_eq!(std::fs::read_to_string(root.join(SYSTEM_SKILLS_MARKER)).unwrap(), marker);
    }

    #[test]
    fn skills_are_found_under_upstreams_roots_in_its_order() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        let (home, codex_home, admin) = (base.join("home"), base.join("home/.codex"), base.join("etc/skills"));
        let repo = base.join("repo");
        let cwd = repo.join("sub");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        write(&cwd.join(".agents/skills/demo/SKILL.md"), "---\nname: demo\ndescription: demo skill\n---\nBody.\n");
        write(&repo.join(".agents/skills/tools/lint/SKILL.md"), "---\nname: lint\ndescription: Lints.\n---\n");
        write(&repo.join(".agents/skills/broken/SKILL.md"), "no front matter\n");
        write(&repo.join(".agents/skills/.hidden/SKILL.md"), "---\nname: hidden\n---\n");
        write(&home.join(".agents/skills/mine/SKILL.md"), "---\ndescription: Mine.\n---\n");
        write(&codex_home.join("skills/.system/imagegen/SKILL.md"), "---\nname: imagegen\n---\n");
        // Above the project root: not looked at.
        write(&base.join(".agents/skills/outside/SKILL.md"), "---\nname: outside\n---\n");

        let found = discover_under(&cwd, &codex_home, Some(&home), &admin);
        let listed: Vec<(&str, &str, Scope)> =
            found.skills.iter().map(|s| (s.name.as_str(), s.description.as_str(), s.scope)).collect();
        assert_eq!(
            listed,
            [("demo", "demo skill", Scope::Repo), ("lint", "Lints.", Scope::Repo), ("mine", "Mine.", Scope::User)],
            "repo skills before user ones, each by name; the name defaults to the directory's"
        );
        assert_eq!(
            found.roots,
            [home.join(".agents/skills"), PathBuf::new(), repo.join(".agents/skills"), cwd.join(".agents/skills")]
        );
        assert_eq!(found.system_root_index, 1);
        assert_eq!(found.root_index(&cwd.join(".agents/skills")), Some(3));
        assert_eq!(found.errors.len(), 1);
        assert_eq!(found.errors[0].path, repo.join(".agents/skills/broken/SKILL.md"));
        let demo = found.selected(Path::new(".agents/skills/demo/SKILL.md"), &cwd).unwrap();
        assert_eq!(demo.path, cwd.join(".agents/skills/demo/SKILL.md"));
        assert!(found.selected(Path::new("nowhere/SKILL.md"), &cwd).is_none());

        // The project root bounds the search: a repository in the working directory itself.
        std::fs::write(cwd.join(".git"), "gitdir: elsewhere\n").unwrap();
        let found = discover_under(&cwd, &codex_home, None, &admin);
        assert_eq!(found.skills.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["demo"]);
        assert_eq!(found.roots, [PathBuf::new(), cwd.join(".agents/skills")]);
        assert_eq!(found.system_root_index, 0);
        assert_eq!(Skills::default().roots, found.roots[..1], "no skill: the system root alone");
    }
}
