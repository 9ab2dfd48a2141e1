//! Images as the model sees them: `data:` URLs of local files.

use std::path::Path;

use base64::Engine;

/// Why an image could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("unable to read image at `{path}`: {message}")]
    Unreadable { path: String, message: String },
    #[error("`{path}` is not an image (PNG, JPEG, GIF or WebP)")]
    NotAnImage { path: String },
}

/// The image's type, from its first bytes (a name can lie).
pub fn mime_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// `data:<mime>;base64,<bytes>` for an image file.
pub fn data_url(path: &Path) -> Result<String, ImageError> {
    let shown = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| ImageError::Unreadable { path: shown.clone(), message: e.to_string() })?;
    decodable_data_url(&bytes).ok_or(ImageError::NotAnImage { path: shown })
}

/// The data URL of `bytes`, the bytes unchanged, when they are an image that decodes whole (a file that only starts
/// like one is refused, as upstream refuses it).
pub fn decodable_data_url(bytes: &[u8]) -> Option<String> {
    let mime = mime_type(bytes)?;
    image::load_from_memory(bytes).ok()?;
    Some(format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognized_by_content_and_refused_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("x.png");
        std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/scenarios/files/checkerboard.png"), &png)
            .unwrap();
        assert!(data_url(&png).unwrap().starts_with("data:image/png;base64,iVBORw0KGg"));
        std::fs::write(&png, b"\x89PNG\r\n\x1a\nrest").unwrap();
        assert!(matches!(data_url(&png), Err(ImageError::NotAnImage { .. })), "only the signature of a PNG");
        let text = dir.path().join("notes.png");
        std::fs::write(&text, b"hello").unwrap();
        assert!(matches!(data_url(&text), Err(ImageError::NotAnImage { .. })));
        assert!(matches!(data_url(&dir.path().join("missing.png")), Err(ImageError::Unreadable { .. })));
        assert_eq!(mime_type(b"GIF89a..."), Some("image/gif"));
    }
}
