// include_dir! embeds each file with include_bytes!, which tracks changed files but not added or removed ones.
fn main() {
    println!("cargo:rerun-if-changed=data/system-skills");
}
