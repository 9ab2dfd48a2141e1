//! Images as the model sees them: `data:` URLs of local files.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use base64::Engine;
use image::{DynamicImage, GenericImageView, ImageDecoder, ImageEncoder, ImageFormat, ImageReader};
use serde_json::{Value, json};

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

/// The detail an image is asked at. Upstream 0.169.0 asks `original` for the models of its catalog (all of which
/// have `supports_image_detail_original`) and `high` for a model it has no metadata for; each detail has its own
/// size limits, and an image beyond them is scaled down before it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageDetail {
    High,
    Original,
}

impl ImageDetail {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageDetail::High => "high",
            ImageDetail::Original => "original",
        }
    }

    /// The longest side and the number of 32-pixel patches an image may have at this detail.
    fn limits(self) -> (u32, u64) {
        match self {
            ImageDetail::High => (2048, 2_500),
            ImageDetail::Original => (6000, 10_000),
        }
    }
}

/// Upstream's text in place of an image it could read but not decode (or re-encode).
pub const IMAGE_NOT_PROCESSED: &str = "image content omitted because it could not be processed";
/// Upstream's text in place of an image whose data URL would exceed 1 GiB.
pub const IMAGE_TOO_LARGE: &str =
    "image content omitted because it exceeded the supported size limit; use a smaller image";
const MAX_IMAGE_INPUT_BYTES: usize = 1024 * 1024 * 1024;
const PATCH_SIZE: u32 = 32;

/// The content parts of one `--image` file, as upstream 0.169.0 puts them in the user message. `number` is the
/// image's place among the message's images, from 1; a file that cannot be read takes its number too.
///
/// - A file that decodes: `<image name=[Image #N] path="PATH">`, the `input_image` (with `detail`), `</image>`.
///   PATH is the path as given, unescaped. PNG, JPEG and WebP go byte for byte; any other decodable image (GIF) as
///   an RGBA PNG; an image beyond the detail's limits scaled down (triangle filter) and re-encoded in its own format
///   (PNG as RGBA, JPEG at quality 85, WebP lossless; GIF as PNG), keeping an RGB colour profile and EXIF data.
/// - A file that reads but does not decode (not an image, truncated, empty, BMP, TIFF...), or whose re-encoding
///   fails: the same two tags around the text [`IMAGE_NOT_PROCESSED`] instead of the image.
/// - A file that cannot be read (missing, a directory): one text, without tags:
///   ``Codex could not read the local image at `PATH`: No such file or directory (os error 2)``.
pub fn local_image_content(path: &Path, number: usize, detail: ImageDetail) -> Vec<Value> {
    let shown = path.display();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => return vec![input_text(format!("Codex could not read the local image at `{shown}`: {e}"))],
    };
    let image = match prompt_image(bytes, detail) {
        Ok(url) => json!({"type": "input_image", "image_url": url, "detail": detail.as_str()}),
        Err(placeholder) => input_text(placeholder.to_string()),
    };
    vec![input_text(format!("<image name=[Image #{number}] path=\"{shown}\">")), image, input_text("</image>".into())]
}

/// The content parts of a message's `--image` files, numbered from 1 in the order given. Upstream puts them at the
/// start of the user message, before the prompt's text part.
pub fn local_images_content(paths: &[PathBuf], detail: ImageDetail) -> Vec<Value> {
    paths.iter().enumerate().flat_map(|(i, path)| local_image_content(path, i + 1, detail)).collect()
}

fn input_text(text: String) -> Value {
    json!({"type": "input_text", "text": text})
}

/// The data URL upstream sends for an image file's bytes at `detail`, or the placeholder text it sends instead.
pub fn prompt_image(bytes: Vec<u8>, detail: ImageDetail) -> Result<String, &'static str> {
    // Upstream checks the size of the file's own data URL payload before anything else.
    if bytes.len().div_ceil(3) * 4 > MAX_IMAGE_INPUT_BYTES {
        return Err(IMAGE_TOO_LARGE);
    }
    let (mime, bytes) = prepare(bytes, detail).ok_or(IMAGE_NOT_PROCESSED)?;
    Ok(format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
}

/// Decodes the image, scales it to the detail's limits if it exceeds them, and gives the bytes to send with their
/// type: the file's own bytes when it is a PNG, JPEG or WebP within the limits.
fn prepare(bytes: Vec<u8>, detail: ImageDetail) -> Option<(&'static str, Vec<u8>)> {
    let guessed = image::guess_format(&bytes).ok()?;
    let kept = matches!(guessed, ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP);
    let mut decoder = ImageReader::with_format(Cursor::new(&bytes), guessed).into_decoder().ok()?;
    // An RGB colour profile and the EXIF data go along when the image is re-encoded.
    let icc = decoder.icc_profile().ok().flatten().filter(|p| p.get(16..20) == Some(b"RGB "));
    let exif = decoder.exif_metadata().ok().flatten();
    let image = DynamicImage::from_decoder(decoder).ok()?;
    let (width, height) = image.dimensions();
    let target = fit(width, height, detail.limits());
    if target == (width, height) {
        if kept {
            return Some((mime_of(guessed), bytes));
        }
        return encode(&image, ImageFormat::Png, icc, exif);
    }
    let resized = image.resize_exact(target.0, target.1, image::imageops::FilterType::Triangle);
    encode(&resized, if kept { guessed } else { ImageFormat::Png }, icc, exif)
}

fn mime_of(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::WebP => "image/webp",
        _ => "image/png",
    }
}

/// Whether an image of this size is within the limits: each side at most the longest side allowed, and at most so
/// many 32-pixel patches.
fn fits(width: u32, height: u32, (max_side, max_patches): (u32, u64)) -> bool {
    let patches = u64::from(width.div_ceil(PATCH_SIZE)) * u64::from(height.div_ceil(PATCH_SIZE));
    width <= max_side && height <= max_side && patches <= max_patches
}

/// The size an image is scaled to, as upstream computes it: first to the longest side allowed (rounded), then, if
/// there are still too many patches, by area, rounded down to a whole number of patches on the tighter side.
fn fit(width: u32, height: u32, limits: (u32, u64)) -> (u32, u32) {
    let (width, height) = (width.max(1), height.max(1));
    if fits(width, height, limits) {
        return (width, height);
    }
    let side_scale = (f64::from(limits.0) / f64::from(width.max(height))).min(1.0);
    let width = ((f64::from(width) * side_scale).round() as u32).max(1);
    let height = ((f64::from(height) * side_scale).round() as u32).max(1);
    if fits(width, height, limits) {
        return (width, height);
    }
    let (w, h, patch) = (f64::from(width), f64::from(height), f64::from(PATCH_SIZE));
    let mut scale = (patch * patch * limits.1 as f64 / w / h).sqrt();
    let (wide, high) = (w * scale / patch, h * scale / patch);
    scale *= (wide.floor() / wide).min(high.floor() / high);
    (((w * scale).floor() as u32).max(1), ((h * scale).floor() as u32).max(1))
}

/// Encodes as upstream re-encodes: PNG as RGBA, JPEG at quality 85, WebP lossless as RGBA; the colour profile and
/// EXIF data set on the encoder (a format that cannot carry them fails, as upstream's does).
fn encode(
    image: &DynamicImage,
    format: ImageFormat,
    icc: Option<Vec<u8>>,
    exif: Option<Vec<u8>>,
) -> Option<(&'static str, Vec<u8>)> {
    fn with_metadata<E: ImageEncoder>(mut encoder: E, icc: Option<Vec<u8>>, exif: Option<Vec<u8>>) -> Option<E> {
        if let Some(icc) = icc {
            encoder.set_icc_profile(icc).ok()?;
        }
        if let Some(exif) = exif {
            encoder.set_exif_metadata(exif).ok()?;
        }
        Some(encoder)
    }
    let mut buffer = Vec::new();
    let (width, height) = image.dimensions();
    let mime = match format {
        ImageFormat::Jpeg => {
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buffer, 85);
            with_metadata(encoder, icc, exif)?.encode_image(image).ok()?;
            "image/jpeg"
        }
        ImageFormat::WebP => {
            let encoder = image::codecs::webp::WebPEncoder::new_lossless(&mut buffer);
            let rgba = image.to_rgba8();
            with_metadata(encoder, icc, exif)?
                .write_image(rgba.as_raw(), width, height, image::ExtendedColorType::Rgba8)
                .ok()?;
            "image/webp"
        }
        _ => {
            let encoder = image::codecs::png::PngEncoder::new(&mut buffer);
            let rgba = image.to_rgba8();
            with_metadata(encoder, icc, exif)?
                .write_image(rgba.as_raw(), width, height, image::ExtendedColorType::Rgba8)
                .ok()?;
            "image/png"
        }
    };
    Some((mime, buffer))
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

    const CHECKERBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/scenarios/files/checkerboard.png");

    fn text(t: &str) -> Value {
        json!({"type": "input_text", "text": t})
    }

    /// FNV-1a, to compare an encoded image with the bytes upstream sent without keeping them here.
    fn fnv(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
    }

    /// A test pattern, encoded with this crate's encoders: the inputs upstream 0.169.0 was given (same bytes).
    fn pattern(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([((x * 37) % 256) as u8, ((x / 7 + y * 50) % 256) as u8, ((x * x) % 251) as u8])
        });
        let mut bytes = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(image).write_to(&mut bytes, format).unwrap();
        bytes.into_inner()
    }

    fn sent(bytes: Vec<u8>, detail: ImageDetail) -> (String, Vec<u8>) {
        let url = prompt_image(bytes, detail).unwrap();
        let (head, data) = url.split_once(',').unwrap();
        (head.to_string(), base64::engine::general_purpose::STANDARD.decode(data).unwrap())
    }

    #[test]
    fn a_local_image_is_wrapped_in_its_numbered_tags_as_upstream_sends_it() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.png");
        std::fs::copy(CHECKERBOARD, &good).unwrap();
        let url = data_url(&good).unwrap();
        let shown = good.display().to_string();
        assert_eq!(
            local_image_content(&good, 2, ImageDetail::Original),
            [
                text(&format!("<image name=[Image #2] path=\"{shown}\">")),
                json!({"type": "input_image", "image_url": url, "detail": "original"}),
                text("</image>"),
            ]
        );
        assert_eq!(local_image_content(&good, 1, ImageDetail::High)[1]["detail"], "high");
    }

    #[test]
    fn an_image_that_does_not_decode_is_a_placeholder_between_the_tags_and_an_unreadable_one_a_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let files: [(&str, &[u8]); 4] = [
            ("notes.png", b"hello"),
            ("trunc.png", b"\x89PNG\r\n\x1a\nrest"),
            ("empty.png", b""),
            ("pic.bmp", b"BM\0\0"),
        ];
        for (name, bytes) in files {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let shown = path.display();
            assert_eq!(
                local_image_content(&path, 4, ImageDetail::Original),
                [
                    text(&format!("<image name=[Image #4] path=\"{shown}\">")),
                    text("image content omitted because it could not be processed"),
                    text("</image>"),
                ],
                "{name}"
            );
        }
        let missing = dir.path().join("missing.png");
        assert_eq!(
            local_image_content(&missing, 1, ImageDetail::Original),
            [text(&format!(
                "Codex could not read the local image at `{}`: No such file or directory (os error 2)",
                missing.display()
            ))]
        );
        assert_eq!(
            local_image_content(dir.path(), 1, ImageDetail::Original),
            [text(&format!(
                "Codex could not read the local image at `{}`: Is a directory (os error 21)",
                dir.path().display()
            ))]
        );
    }

    #[test]
    fn images_are_numbered_in_order_an_unreadable_one_included_and_shown_by_the_path_given() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(CHECKERBOARD, dir.path().join("we\"ird.png")).unwrap();
        let relative = dir.path().join("we\"ird.png").strip_prefix("/").unwrap().to_path_buf();
        let paths = [dir.path().join("missing.png"), Path::new("/").join(&relative)];
        let parts = local_images_content(&paths, ImageDetail::Original);
        assert_eq!(parts.len(), 4);
        assert!(parts[0]["text"].as_str().unwrap().starts_with("Codex could not read the local image at "));
        // As upstream: the number counts the unreadable file, and the path is not escaped.
        assert_eq!(parts[1], text(&format!("<image name=[Image #2] path=\"/{}\">", relative.display())));
    }

    #[test]
    fn png_jpeg_and_webp_go_byte_for_byte_a_gif_as_an_rgba_png() {
        for format in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::WebP] {
            let bytes = pattern(40, 30, format);
            assert_eq!(sent(bytes.clone(), ImageDetail::Original).1, bytes, "{format:?}");
        }
        // Upstream 0.169.0 sent this GIF as a 165-byte RGBA PNG, these very bytes.
        let (head, png) = sent(pattern(9, 5, ImageFormat::Gif), ImageDetail::Original);
        assert_eq!(head, "data:image/png;base64");
        assert_eq!((png.len(), fnv(&png)), (165, 0x8db6_af69_0d25_23af));
    }

    #[test]
    fn an_image_beyond_the_detail_s_limits_is_scaled_down_as_upstream_scales_it() {
        // The sizes upstream 0.169.0 sent: original detail (6000 pixels a side, 10 000 patches of 32 pixels), high
        // (2048, 2 500).
        let original = ImageDetail::Original.limits();
        let high = ImageDetail::High.limits();
        assert_eq!(fit(4000, 3000, original), (3669, 2752));
        assert_eq!(fit(6500, 50, original), (6000, 46));
        assert_eq!(fit(7000, 7000, original), (3200, 3200));
        assert_eq!(fit(3000, 2000, original), (3000, 2000));
        assert_eq!(fit(3000, 2000, high), (1920, 1280));
        assert_eq!(fit(6100, 3, high), (2048, 1));

        // And the bytes it sent for these inputs: the same format, re-encoded (length, FNV-1a).
        let cases = [
            (ImageFormat::Png, 6100, 3, ImageDetail::Original, "png", 23500, 0xd1ed_3784_a4df_9c72),
            (ImageFormat::Png, 6100, 3, ImageDetail::High, "png", 6474, 0xc46c_f862_0b52_8b0a),
            (ImageFormat::Png, 2100, 3, ImageDetail::High, "png", 8113, 0x569b_4ced_51df_58d4),
            (ImageFormat::Jpeg, 6100, 8, ImageDetail::Original, "jpeg", 41495, 0x878c_c235_ae09_f918),
            (ImageFormat::Jpeg, 6100, 8, ImageDetail::High, "jpeg", 9947, 0x87b0_a812_2cc2_0f7a),
            (ImageFormat::WebP, 6100, 8, ImageDetail::Original, "webp", 10236, 0x397c_dde3_c0d7_6365),
            (ImageFormat::WebP, 6100, 8, ImageDetail::High, "webp", 7516, 0xda9b_3721_291b_405a),
        ];
        for (format, width, height, detail, mime, len, hash) in cases {
            let (head, bytes) = sent(pattern(width, height, format), detail);
            assert_eq!(head, format!("data:image/{mime};base64"));
            assert_eq!((bytes.len(), fnv(&bytes)), (len, hash), "{format:?} {width}x{height} at {detail:?}");
        }
        // Within the limits of original detail but not of high: as it is, then scaled.
        let within = pattern(2100, 3, ImageFormat::Png);
        assert_eq!(sent(within.clone(), ImageDetail::Original).1, within);
    }
}
