//! Pictures of what the model sees: each frame as an RGB image (ON events red, OFF events
//! blue, brightness by count relative to the busiest pixel of the stack), and a contact sheet.

use std::io::{self, Write};

use super::Frames;

/// RGB8 pixels of frame `i` scaled by `peak` (counts at or above it are full brightness).
pub fn frame_rgb(frames: &Frames, i: usize, peak: f32) -> Vec<u8> {
    let (h, w) = (frames.height, frames.width);
    let f = frames.frame(i);
    let plane = h * w;
    let level = |v: f32| ((v / peak.max(1e-6)).clamp(0.0, 1.0).sqrt() * 255.0).round() as u8;
    let mut rgb = vec![0u8; plane * 3];
    for p in 0..plane {
        let (off, on) = if frames.channels >= 2 { (f[p], f[plane + p]) } else { (0.0, f[p]) };
        rgb[3 * p] = level(on);
        rgb[3 * p + 1] = level(on.min(off)) / 2;
        rgb[3 * p + 2] = level(off);
    }
    rgb
}

/// The count a pixel needs for full brightness: the 99.5th percentile of non-zero values,
/// so one hot pixel does not darken the rest.
pub fn peak(frames: &Frames) -> f32 {
    let mut v: Vec<f32> = frames.data.iter().copied().filter(|&x| x > 0.0).collect();
    if v.is_empty() {
        return 1.0;
    }
    v.sort_by(f32::total_cmp);
    v[(v.len() - 1) * 995 / 1000].max(1.0)
}

pub fn write_png(out: impl Write, width: usize, height: usize, rgb: &[u8]) -> io::Result<()> {
    let mut encoder = png::Encoder::new(out, width as u32, height as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(io::Error::other)?;
    writer.write_image_data(rgb).map_err(io::Error::other)?;
    writer.finish().map_err(io::Error::other)
}

/// All frames side by side in a grid (up to 8 per row), each upscaled to at least 96 px wide,
/// separated by 2-pixel grey lines. Returns (width, height, rgb).
pub fn contact_sheet(frames: &Frames) -> (usize, usize, Vec<u8>) {
    let peak = peak(frames);
    let zoom = (96 / frames.width.max(1)).max(1);
    let (fw, fh) = (frames.width * zoom, frames.height * zoom);
    let cols = frames.frames.clamp(1, 8);
    let rows = frames.frames.div_ceil(cols).max(1);
    let gap = 2;
    let (w, h) = (cols * (fw + gap) + gap, rows * (fh + gap) + gap);
    let mut rgb = vec![64u8; w * h * 3];
    for i in 0..frames.frames {
        let img = frame_rgb(frames, i, peak);
        let (ox, oy) = (gap + (i % cols) * (fw + gap), gap + (i / cols) * (fh + gap));
        for y in 0..fh {
            for x in 0..fw {
                let s = 3 * ((y / zoom) * frames.width + x / zoom);
                let d = 3 * ((oy + y) * w + ox + x);
                rgb[d..d + 3].copy_from_slice(&img[s..s + 3]);
            }
        }
    }
    (w, h, rgb)
}
