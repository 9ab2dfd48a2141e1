//! `view_image`: a local image, given to the model as it is, as a content item of the tool's output.

use std::path::Path;

use serde::Deserialize;

use crate::images;

#[derive(Deserialize)]
struct Args {
    path: String,
    #[serde(default)]
    #[allow(dead_code)] // accepted, as upstream accepts it, but every image goes at its original detail
    environment_id: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

/// The `input_image` content item for the call's image, or the text upstream answers instead.
pub fn view_image(arguments: &str, cwd: &Path) -> Result<Vec<serde_json::Value>, String> {
    let args: Args = serde_json::from_str(arguments).map_err(|e| format!("failed to parse function arguments: {e}"))?;
    if let Some(detail) = args.detail.as_deref().filter(|d| !["high", "original"].contains(d)) {
        return Err(format!(
            "view_image.detail only supports `high` or `original`; omit `detail` for default high resized behavior, got `{detail}`"
        ));
    }
    let path = cwd.join(&args.path);
    let shown = path.display();
    let metadata = std::fs::metadata(&path).map_err(|e| format!("unable to locate image at `{shown}`: {e}"))?;
    if !metadata.is_file() {
        return Err(format!("image path `{shown}` is not a file"));
    }
    let bytes = std::fs::read(&path).map_err(|e| format!("unable to read image at `{shown}`: {e}"))?;
    let url = images::decodable_data_url(&bytes).ok_or("unable to process image: invalid or unsupported image data")?;
    // The models of 0.169.0 take every image at its original detail, whatever the call asked for.
    Ok(vec![serde_json::json!({"type": "input_image", "image_url": url, "detail": "original"})])
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/scenarios/files/checkerboard.png");

    #[test]
    fn an_image_goes_as_it_is_and_every_failure_is_worded_as_upstream_words_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(PNG, dir.path().join("ok.png")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not an image\n").unwrap();
        std::fs::write(dir.path().join("broken.png"), b"\x89PNG\r\n\x1a\ntruncated").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let d = dir.path().display();

        let ok = view_image(r#"{"path":"ok.png","detail":"high"}"#, dir.path()).unwrap();
        let original = std::fs::read(PNG).unwrap();
        use base64::Engine;
        let expected = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(original));
        assert_eq!(ok, [serde_json::json!({"type": "input_image", "image_url": expected, "detail": "original"})]);

        let err = |args: &str| view_image(args, dir.path()).unwrap_err();
        assert_eq!(
            err(r#"{"path":"missing.png"}"#),
            format!("unable to locate image at `{d}/missing.png`: No such file or directory (os error 2)")
        );
        assert_eq!(err(r#"{"path":"notes.txt"}"#), "unable to process image: invalid or unsupported image data");
        assert_eq!(err(r#"{"path":"broken.png"}"#), "unable to process image: invalid or unsupported image data");
        assert_eq!(err(r#"{"path":"sub"}"#), format!("image path `{d}/sub` is not a file"));
        assert_eq!(err("{}"), "failed to parse function arguments: missing field `path` at line 1 column 2");
        assert!(err(r#"{"path":"ok.png","detail":"low"}"#).ends_with("got `low`"));
    }
}
