//! Anti-aliased bilinear resize, computed as torchvision `Resize(antialias=True)` (ATen's
//! separable `_upsample_bilinear2d_aa` on float tensors): f32 weights per output index from a
//! triangle filter stretched by the scale, normalised to sum 1; the width pass runs first, then
//! the height pass, each accumulating in f32 in tap order. IMP-SNN resizes 128×128 and 180×240
//! event frames to 48×48 this way.

use super::{FrameError, Frames};

/// The taps of one output index: first input index and normalised weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Taps {
    pub first: usize,
    pub weights: Vec<f32>,
}

/// Per output index, the input taps of the 1-D AA bilinear filter (`in_size` → `out_size`).
pub fn taps(in_size: usize, out_size: usize) -> Vec<Taps> {
    // The f32/f64 mix below mirrors ATen's `_compute_weights_aa`, where double literals (0.5)
    // promote some intermediates; it keeps the weights identical to torch's.
    let scale = in_size as f32 / out_size as f32;
    // Downsampling stretches the triangle filter by the scale; upsampling uses it as is.
    let (support, inv_scale) = if scale >= 1.0 { (scale, (1.0 / f64::from(scale)) as f32) } else { (1.0, 1.0) };
    (0..out_size)
        .map(|i| {
            let center = (f64::from(scale) * (i as f64 + 0.5)) as f32;
            let first = (f64::from(center - support) + 0.5).max(0.0) as usize;
            let last = ((f64::from(center + support) + 0.5) as usize).min(in_size);
            let mut weights: Vec<f32> = (first..last)
                .map(|j| {
                    let x = ((f64::from(j as f32 - center) + 0.5) * f64::from(inv_scale)) as f32;
                    let x = x.abs();
                    if x < 1.0 { 1.0 - x } else { 0.0 }
                })
                .collect();
            let total: f32 = weights.iter().fold(0.0, |a, w| a + w);
            if total != 0.0 {
                weights.iter_mut().for_each(|w| *w /= total);
            }
            Taps { first, weights }
        })
        .collect()
}

/// Resizes every `[h, w]` plane of `frames` to `out_h × out_w`. An empty input or output size
/// is an error (there is nothing to interpolate from), as is an output over the tensor limit.
pub fn resize(frames: &Frames, out_h: usize, out_w: usize) -> Result<Frames, FrameError> {
    let (h, w) = (frames.height, frames.width);
    if h == 0 || w == 0 {
        return Err(FrameError::EmptySensor { width: w, height: h });
    }
    if out_h == 0 || out_w == 0 {
        return Err(FrameError::BadSlicing { what: "a resize", reason: format!("the output size {out_h}x{out_w} is empty") });
    }
    let planes = frames.frames * frames.channels;
    let mut out = Frames::try_zeros(frames.frames, frames.channels, out_h, out_w, || format!("{} frames resized to {out_h}x{out_w}", frames.frames))?;
    crate::limits::tensor(|| format!("a resize to {out_h}x{out_w}"), &[h, out_w], 4)?;
    let (tx, ty) = (taps(w, out_w), taps(h, out_h));
    let mut horizontal = vec![0f32; h * out_w];
    for p in 0..planes {
        let src = &frames.data[p * h * w..(p + 1) * h * w];
        for y in 0..h {
            let row = &src[y * w..(y + 1) * w];
            for (x, t) in tx.iter().enumerate() {
                horizontal[y * out_w + x] = dot(&row[t.first..t.first + t.weights.len()], &t.weights, 1);
            }
        }
        let dst = &mut out.data[p * out_h * out_w..(p + 1) * out_h * out_w];
        for (y, t) in ty.iter().enumerate() {
            for x in 0..out_w {
                let column = &horizontal[t.first * out_w + x..];
                dst[y * out_w + x] = dot(column, &t.weights, out_w);
            }
        }
    }
    Ok(out)
}

/// `Σ_j src[j·stride] · w[j]`, accumulated in order from j = 0 as ATen does.
#[inline]
fn dot(src: &[f32], weights: &[f32], stride: usize) -> f32 {
    let mut acc = src[0] * weights[0];
    for (j, w) in weights.iter().enumerate().skip(1) {
        acc += src[j * stride] * w;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_128_to_48_match_the_reference_numbers() {
        // ../shared/reference/imp-snn.md §6.4: six taps [.0238,.1667,.3095,.3095,.1667,.0238].
        let t = &taps(128, 48)[10];
        let want = [0.0238, 0.1667, 0.3095, 0.3095, 0.1667, 0.0238];
        assert_eq!(t.weights.len(), 6);
        for (a, b) in t.weights.iter().zip(want) {
            assert!((a - b).abs() < 1e-4, "{:?}", t.weights);
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let mut f = Frames::zeros(1, 1, 180, 240);
        f.data.fill(3.0);
        let r = resize(&f, 48, 48).unwrap();
        assert!(r.data.iter().all(|v| (v - 3.0).abs() < 1e-5));
    }
}
