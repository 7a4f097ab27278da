//! Still images filmed the way N-MNIST and N-Caltech101 were recorded (Orchard et al. 2015): the
//! image is shown still and the camera makes three saccades over it, so its edges move and fire
//! events. Here the image sits in the middle of the sensor and moves along a triangle of side
//! `amplitude` pixels, one saccade per third of the recording, at constant speed within each
//! (the original pan-tilt moves are ~100 ms each); brightness between pixels is bilinear.
//! [`load_png`] reads an image as luminance in `[0, 1]`.

use std::path::Path;

use super::error::SimError;
use crate::events::Resolution;

/// Brightness of a black pixel: a monitor's black is not dark (keeps the log contrast of black
/// on black finite, as N-MNIST's screen did).
const BLACK_LEVEL: f32 = 0.05;

/// An image as luminance, row-major `[height, width]`, values in `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Still {
    pub width: usize,
    pub height: usize,
    pub luma: Vec<f32>,
}

/// A still image under three saccades.
#[derive(Clone, Debug)]
pub struct Saccades {
    image: Still,
    sensor: Resolution,
    amplitude: f64,
    duration_s: f64,
}

impl Saccades {
    pub fn new(image: Still, sensor: Resolution, amplitude: f64, duration_s: f64) -> Self {
        Self { image, sensor, amplitude, duration_s }
    }

    /// The sensor that holds the image and its saccades: the image plus the amplitude on
    /// every side.
    pub fn sensor_for(image: &Still, amplitude: f64) -> Resolution {
        let margin = 2 * amplitude.ceil() as usize;
        let side = |n: usize| (n + margin).min(i16::MAX as usize) as u16;
        Resolution::new(side(image.width), side(image.height))
    }

    /// The image's displacement (pixels) at `t` seconds: the triangle (0, −a/2) → (a/2, a/2)
    /// → (−a/2, a/2) → back, a third of the recording per side.
    pub fn displacement(&self, t: f64) -> (f64, f64) {
        let a = self.amplitude;
        let corners = [(0.0, -a / 2.0), (a / 2.0, a / 2.0), (-a / 2.0, a / 2.0), (0.0, -a / 2.0)];
        let u = (t / self.duration_s).clamp(0.0, 1.0) * 3.0;
        let k = (u.floor() as usize).min(2);
        let f = u - k as f64;
        let (p, q) = (corners[k], corners[k + 1]);
        (p.0 + (q.0 - p.0) * f, p.1 + (q.1 - p.1) * f)
    }

    /// Brightness of every sensor pixel at `t` seconds.
    pub fn render(&self, t: f64, frame: &mut [f32]) {
        let (dx, dy) = self.displacement(t);
        let (sw, sh) = (usize::from(self.sensor.width), usize::from(self.sensor.height));
        let (iw, ih) = (self.image.width, self.image.height);
        // Image pixel centre (i + 0.5) sits at sensor position ox + i + 0.5 + d.
        let ox = (sw as f64 - iw as f64) / 2.0 + dx;
        let oy = (sh as f64 - ih as f64) / 2.0 + dy;
        let at = |x: isize, y: isize| -> f32 {
            if x < 0 || y < 0 || x as usize >= iw || y as usize >= ih { 0.0 } else { self.image.luma[y as usize * iw + x as usize] }
        };
        for (y, row) in frame.chunks_exact_mut(sw).take(sh).enumerate() {
            let v = y as f64 - oy;
            let (y0, fy) = (v.floor(), (v - v.floor()) as f32);
            for (x, out) in row.iter_mut().enumerate() {
                let u = x as f64 - ox;
                let (x0, fx) = (u.floor(), (u - u.floor()) as f32);
                let (x0, y0) = (x0 as isize, y0 as isize);
                let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
                let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
                let luma = top * (1.0 - fy) + bottom * fy;
                *out = BLACK_LEVEL + (1.0 - BLACK_LEVEL) * luma;
            }
        }
    }
}

/// Reads a PNG (grey, grey + alpha, RGB, RGBA, palette; 1 to 16 bits) as luminance (Rec. 601
/// weights; alpha ignored). Sizes are checked before the pixels are allocated.
pub fn load_png(path: &Path) -> Result<Still, SimError> {
    let bad = |why: String| SimError::Image { path: path.to_path_buf(), why };
    let file = std::fs::File::open(path).map_err(|source| SimError::Io { path: path.to_path_buf(), source })?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| bad(format!("not a readable PNG: {e}")))?;
    let (width, height) = (reader.info().width as usize, reader.info().height as usize);
    if width == 0 || height == 0 || width > i16::MAX as usize || height > i16::MAX as usize {
        return Err(bad(format!("{width}x{height} pixels; an image must be 1 to 32767 pixels a side")));
    }
    let len = crate::limits::tensor(|| format!("{}: the {width}x{height} image", path.display()), &[height, width, 4], 1).map_err(|e| bad(e.to_string()))?;
    let mut buf = vec![0u8; len.max(reader.output_buffer_size())];
    let info = reader.next_frame(&mut buf).map_err(|e| bad(format!("cannot decode: {e}")))?;
    let channels = info.color_type.samples();
    let luma = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|px| {
            let v = match channels {
                1 | 2 => f32::from(px[0]),
                _ => 0.299 * f32::from(px[0]) + 0.587 * f32::from(px[1]) + 0.114 * f32::from(px[2]),
            };
            v / 255.0
        })
        .collect::<Vec<f32>>();
    if luma.len() != width * height {
        return Err(bad(format!("decoded {} pixels, expected {width}x{height}", luma.len())));
    }
    Ok(Still { width, height, luma })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saccades_trace_a_closed_triangle_and_move_the_image() {
        let image = Still { width: 4, height: 4, luma: (0..16).map(|i| if i % 4 == 1 { 1.0 } else { 0.0 }).collect() };
        let sensor = Saccades::sensor_for(&image, 3.0);
        assert_eq!(sensor, Resolution::new(10, 10));
        let s = Saccades::new(image, sensor, 3.0, 0.3);
        assert_eq!(s.displacement(0.0), (0.0, -1.5));
        assert_eq!(s.displacement(0.3), (0.0, -1.5));
        let mid = s.displacement(0.05);
        assert!((mid.0 - 0.75).abs() < 1e-9 && (mid.1 - 0.0).abs() < 1e-9, "{mid:?}");
        let (mut a, mut b) = (vec![0f32; 100], vec![0f32; 100]);
        s.render(0.0, &mut a);
        s.render(0.1, &mut b);
        assert!(a.iter().all(|&v| (BLACK_LEVEL..=1.0).contains(&v)));
        assert!(a.iter().any(|&v| v > 0.9), "the bright column is on the sensor");
        assert_ne!(a, b, "a saccade moves the picture");
        // The image's total light is kept while it is inside the sensor.
        let sum = |f: &[f32]| f.iter().map(|&v| f64::from(v - BLACK_LEVEL)).sum::<f64>();
        assert!((sum(&a) - sum(&b)).abs() < 1e-3, "{} vs {}", sum(&a), sum(&b));
    }
}
