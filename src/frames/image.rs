//! Still images as network inputs (direct encoding): PNG and JPEG files decoded to `[C, H, W]`
//! values in `[0, 1]` (8-bit samples divided by 255, 16-bit by 65535, as torchvision's
//! `ToTensor`), and their per-channel normalisation `(x − mean) / std`. Sizes from a header are
//! checked before any pixel buffer is allocated. Alpha is dropped (grey + alpha gives 1 channel,
//! RGBA 3), as PIL's `convert` does; palette PNGs are expanded to RGB. Nothing is resized.

use std::path::{Path, PathBuf};

/// Longest image side accepted (a header may declare 65535).
pub const MAX_SIDE: usize = 16_384;

/// PNG and JPEG start with these bytes.
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {why}")]
    Bad { path: PathBuf, why: String },
}

/// A decoded image: `data` is `[C, H, W]` (C = 1 grey or 3 RGB), values in `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

impl Image {
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// `(x − mean[c]) / std[c]` for every value of channel c (torchvision `Normalize`, in f32).
    pub fn normalised(&self, mean: &[f32], std: &[f32]) -> Vec<f32> {
        normalise(&self.data, self.height * self.width, mean, std)
    }
}

/// `[.., C, H, W]` values (`plane` = H·W) normalised per channel: `(x − mean[c]) / std[c]`.
pub fn normalise(data: &[f32], plane: usize, mean: &[f32], std: &[f32]) -> Vec<f32> {
    let channels = mean.len().min(std.len()).max(1);
    data.chunks(plane.max(1))
        .enumerate()
        .flat_map(|(i, p)| {
            let c = i % channels;
            p.iter().map(move |&x| (x - mean[c]) / std[c])
        })
        .collect()
}

/// Which image format `head` (the first bytes of a file) starts like.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(PNG_MAGIC) {
        Some("PNG")
    } else if head.starts_with(JPEG_MAGIC) {
        Some("JPEG")
    } else {
        None
    }
}

/// Reads and decodes a PNG or JPEG file (by content, not extension).
pub fn read(path: &Path) -> Result<Image, ImageError> {
    let bytes = std::fs::read(path).map_err(|source| ImageError::Io { path: path.to_path_buf(), source })?;
    decode(&bytes).map_err(|why| ImageError::Bad { path: path.to_path_buf(), why })
}

/// Decodes PNG or JPEG bytes; the error says what is wrong (the caller adds the file).
pub fn decode(bytes: &[u8]) -> Result<Image, String> {
    match sniff(bytes) {
        Some("PNG") => decode_png(bytes),
        Some(_) => decode_jpeg(bytes),
        None => Err("not a PNG or JPEG image".into()),
    }
}

/// Checks a declared size against [`MAX_SIDE`] and the tensor limit before allocating.
fn check_size(width: usize, height: usize, channels: usize) -> Result<(), String> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!("the header declares {width}x{height} pixels; an image must be 1 to {MAX_SIDE} pixels a side"));
    }
    crate::limits::tensor(|| format!("the {width}x{height} image"), &[channels, height, width], 4).map_err(|e| e.to_string())?;
    Ok(())
}

/// Interleaved samples `[H, W, S]` (S samples per pixel, the first `channels` kept) to
/// `[C, H, W]` divided by `max`.
fn planar(samples: impl Iterator<Item = f32>, per_pixel: usize, channels: usize, height: usize, width: usize, max: f32) -> Result<Image, String> {
    let plane = height * width;
    let mut data = vec![0f32; channels * plane];
    let mut n = 0;
    for (i, v) in samples.enumerate() {
        let (px, s) = (i / per_pixel, i % per_pixel);
        if px >= plane {
            break;
        }
        if s < channels {
            data[s * plane + px] = v / max;
        }
        n += 1;
    }
    if n != plane * per_pixel {
        return Err(format!("decoded {n} samples, expected {width}x{height}x{per_pixel}"));
    }
    Ok(Image { channels, height, width, data })
}

fn decode_png(bytes: &[u8]) -> Result<Image, String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    // The header alone first: its declared size is checked before the decoder sizes anything.
    let header = decoder.read_header_info().map_err(|e| format!("not a readable PNG: {e}"))?;
    let (width, height) = (header.width as usize, header.height as usize);
    check_size(width, height, 4)?;
    let mut reader = decoder.read_info().map_err(|e| format!("not a readable PNG: {e}"))?;
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).map_err(|e| format!("cannot decode the PNG (truncated or corrupt?): {e}"))?;
    let per_pixel = info.color_type.samples();
    let channels = if per_pixel <= 2 { 1 } else { 3 };
    let data = &buf[..info.buffer_size()];
    match info.bit_depth {
        png::BitDepth::Sixteen => planar(data.chunks_exact(2).map(|b| f32::from(u16::from_be_bytes([b[0], b[1]]))), per_pixel, channels, height, width, 65535.0),
        _ => planar(data.iter().map(|&b| f32::from(b)), per_pixel, channels, height, width, 255.0),
    }
}

fn decode_jpeg(bytes: &[u8]) -> Result<Image, String> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().set_max_width(MAX_SIDE).set_max_height(MAX_SIDE);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(|e| format!("not a readable JPEG: {e:?}"))?;
    let (width, height) = decoder.dimensions().ok_or("the JPEG has no frame header")?;
    let grey = decoder.input_colorspace() == Some(ColorSpace::Luma);
    let (channels, out) = if grey { (1, ColorSpace::Luma) } else { (3, ColorSpace::RGB) };
    check_size(width, height, channels)?;
    decoder.set_options(options.jpeg_set_out_colorspace(out));
    let pixels = decoder.decode().map_err(|e| format!("cannot decode the JPEG (truncated or corrupt?): {e:?}"))?;
    planar(pixels.into_iter().map(f32::from), channels, channels, height, width, 255.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_is_torchvision_normalize_per_channel() {
        // Two channels of two pixels: x/255 then (x - mean) / std in f32.
        let data = [0.0, 255.0 / 255.0, 51.0 / 255.0, 102.0 / 255.0];
        let out = normalise(&data, 2, &[0.5, 0.25], &[0.5, 0.125]);
        assert_eq!(out, vec![(0.0 - 0.5) / 0.5, (1.0 - 0.5) / 0.5, (0.2f32 - 0.25) / 0.125, (0.4f32 - 0.25) / 0.125]);
        assert_eq!(out[0], -1.0);
        assert_eq!(out[1], 1.0);
    }

    #[test]
    fn sniff_tells_png_and_jpeg_from_events() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("PNG"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("JPEG"));
        assert_eq!(sniff(b"#!AER-DAT4.0"), None);
    }
}
