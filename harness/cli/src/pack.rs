//! `parity pack`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::style::{self, paint};

#[derive(Args)]
pub struct PackArgs {
    /// The reference recording of upstream Codex (each scenario's run.json and captures, and models.json).
    #[arg(long, value_name = "DIR", default_value = "captures/codex-0.169.0")]
    baseline: PathBuf,
    /// The scenario files the recording was made from.
    #[arg(long, value_name = "DIR", default_value = crate::record::DEFAULT_SCENARIOS)]
    scenarios: PathBuf,
    /// Where to write the pack.
    #[arg(long, value_name = "FILE", default_value = "agent/prompt-pack/data/pack.json")]
    out: PathBuf,
    /// Where to write the system skills upstream installs in its home (from the scenario that keeps
    /// `.codex/skills/.system`), which rcodex embeds and installs the same way.
    #[arg(long, value_name = "DIR", default_value = "agent/prompt-pack/data/system-skills")]
    system_skills_out: PathBuf,
    /// The pinned upstream binary: the keyword lists its tool search indexes the multi-agent tools by are read out
    /// of it (they never appear on the wire) into `--search-keywords-out`. Without it that file is left as it was.
    #[arg(long, value_name = "FILE")]
    upstream_bin: Option<PathBuf>,
    /// Where to write those keyword lists.
    #[arg(long, value_name = "FILE", default_value = "agent/prompt-pack/data/tool-search-keywords.json")]
    search_keywords_out: PathBuf,
}

pub fn run(args: PackArgs) -> anyhow::Result<ExitCode> {
    let inputs = parity_pack::load(&args.baseline, &args.scenarios)?;
    let pack = parity_pack::extract(&inputs)?;
    let text = serde_json::to_string_pretty(&pack)? + "\n";
    ensure_replaceable(&args.out)?;
    parity_capture::store::write_atomic(&args.out, text.as_bytes())?;
    if inputs.system_skills.is_empty() {
        anstream::eprintln!(
            "{} no scenario keeps {}: {} left as it was",
            paint(style::BOLD, "parity:"),
            parity_pack::SYSTEM_SKILLS,
            args.system_skills_out.display()
        );
    } else {
        replace_tree(&args.system_skills_out, &inputs.system_skills)?;
        anstream::eprintln!(
            "{} {} system skill file(s) written to {}",
            paint(style::BOLD, "parity:"),
            inputs.system_skills.len(),
            args.system_skills_out.display()
        );
    }
    if let Some(bin) = &args.upstream_bin {
        let deferred: Vec<&serde_json::Value> = pack.families.values().flat_map(|f| f.deferred_tools.iter()).collect();
        write_search_keywords(bin, &deferred, &args.search_keywords_out)?;
    }
    anstream::eprintln!(
        "{} prompt pack of codex {} written to {}: {} model(s) recorded ({}), {} text(s), {} catalog model(s)",
        paint(style::BOLD, "parity:"),
        pack.upstream_version,
        args.out.display(),
        pack.families.len(),
        pack.families.keys().cloned().collect::<Vec<_>>().join(", "),
        pack.texts.len(),
        pack.models.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The keyword lists of the `deferred` tools (namespaces and their tools) found in the upstream binary `bin`, as JSON
/// (tool name to text).
fn write_search_keywords(
    bin: &std::path::Path,
    deferred: &[&serde_json::Value],
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let binary = std::fs::read(bin).map_err(|e| anyhow::anyhow!("--upstream-bin {}: {e}", bin.display()))?;
    let mut names: Vec<String> = deferred
        .iter()
        .flat_map(|entry| entry.get("tools").and_then(serde_json::Value::as_array).cloned().unwrap_or_default())
        .filter_map(|tool| tool.get("name").and_then(serde_json::Value::as_str).map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    let found = parity_pack::search_keywords::extract(&binary, &names);
    if found.is_empty() {
        anyhow::bail!("--upstream-bin {}: no keyword list of a deferred tool found in it", bin.display());
    }
    let text = serde_json::to_string_pretty(&found)? + "\n";
    parity_capture::store::write_atomic(out, text.as_bytes())?;
    anstream::eprintln!(
        "{} the search keywords of {} deferred tool(s) ({}) written to {}",
        paint(style::BOLD, "parity:"),
        found.len(),
        found.keys().cloned().collect::<Vec<_>>().join(", "),
        out.display()
    );
    Ok(())
}

/// The marker upstream writes beside its system skills; a directory without it is not replaced.
const SYSTEM_SKILLS_MARKER: &str = ".codex-system-skills.marker";

/// Writes `files` as the whole of `dir`: into a new directory beside it, which then takes its place, so that an
/// interrupted run leaves the old tree or the new one. Only a directory of system skills (or nothing) is replaced.
fn replace_tree(dir: &std::path::Path, files: &std::collections::BTreeMap<String, Vec<u8>>) -> anyhow::Result<()> {
    if dir.exists() && !dir.join(SYSTEM_SKILLS_MARKER).is_file() {
        anyhow::bail!(
            "--system-skills-out {}: the directory exists and holds no {SYSTEM_SKILLS_MARKER}; refusing to replace it",
            dir.display()
        );
    }
    let sibling = |suffix: &str| {
        let mut name = dir.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{suffix}-{}", std::process::id()));
        dir.with_file_name(name)
    };
    let (fresh, old) = (sibling("new"), sibling("old"));
    for (relative, contents) in files {
        parity_capture::store::write_atomic(&fresh.join(relative), contents)?;
    }
    if dir.exists() {
        std::fs::rename(dir, &old)?;
    }
    std::fs::rename(&fresh, dir)?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

/// Only a pack is replaced by a pack: `--out notes.json` must not overwrite a user's file.
fn ensure_replaceable(out: &std::path::Path) -> anyhow::Result<()> {
    let Ok(bytes) = std::fs::read(out) else {
        return Ok(()); // absent (or unreadable, which the write will report)
    };
    let format = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("format").and_then(|f| f.as_str()).map(str::to_string));
    match format {
        Some(f) if f.starts_with("rcodex.pack/") => Ok(()),
        _ => anyhow::bail!(
            "--out {}: the file exists and is not an rcodex prompt pack (no \"format\": \"rcodex.pack/...\"); \
             refusing to overwrite it. Choose another path, or remove it yourself",
            out.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_skills_tree_is_replaced_whole_and_only_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let skills = dir.path().join("system-skills");
        let files = |names: &[&str]| names.iter().map(|n| (n.to_string(), n.as_bytes().to_vec())).collect();
        replace_tree(&skills, &files(&[SYSTEM_SKILLS_MARKER, "a/SKILL.md", "b/x.py"])).unwrap();
        replace_tree(&skills, &files(&[SYSTEM_SKILLS_MARKER, "a/SKILL.md"])).unwrap();
        let left = parity_capture::store::read_tree(&skills).unwrap();
        assert_eq!(left.keys().collect::<Vec<_>>(), [SYSTEM_SKILLS_MARKER, "a/SKILL.md"]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "nothing left beside it");
        let mine = dir.path().join("mine");
        std::fs::create_dir(&mine).unwrap();
        let e = replace_tree(&mine, &files(&["a"])).unwrap_err().to_string();
        assert!(e.contains("refusing to replace") && e.contains("mine"), "{e}");
    }

    #[test]
    fn only_a_pack_or_nothing_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        ensure_replaceable(&path).unwrap();
        std::fs::write(&path, r#"{"format": "rcodex.pack/v1"}"#).unwrap();
        ensure_replaceable(&path).unwrap();
        for mine in ["my thesis", r#"{"format": "mine"}"#, "{}"] {
            std::fs::write(&path, mine).unwrap();
            let e = ensure_replaceable(&path).unwrap_err().to_string();
            assert!(e.contains("is not an rcodex prompt pack") && e.contains("out.json"), "{e}");
        }
    }
}
