//! `SpikFormerDVS`, the reference's TrivialAugment-wide style policy for DVS frames (IMP-SNN
//! `datasets/transforms/dvs/version_spikformer.py`, reference notes §6.4): one op per sample,
//! drawn uniformly from Identity, ShearX, TranslateX, TranslateY, Rotate and Cutout, with the
//! magnitude bin drawn uniformly from 31 and signed ops negated with probability 0.5. The same
//! draw is applied to every frame and channel of a `[T, C, H, W]` sample.
//!
//! Affine ops follow torchvision's tensor path (`F.affine` / `F.rotate` with no `center`):
//! `_get_inverse_affine_matrix` about the image centre, `_gen_affine_grid` and
//! `grid_sample(mode='nearest', padding_mode='zeros', align_corners=False)`, so output pixel
//! `(y, x)` reads source pixel `M · (x − W/2 + ½, y − H/2 + ½) + ((W−1)/2, (H−1)/2)` rounded
//! half-to-even, and 0 outside. ShearX passes `shear = degrees(m)` (so the shear factor is
//! `tan(m)`, as the older torchvision the reference used; newer TrivialAugment uses
//! `degrees(atan(m))`), TranslateX/Y `int(m)` pixels (truncated), Rotate is counter-clockwise for a
//! positive angle. Difference: the grid is computed in f32 here in one fixed order; torch's `bmm`
//! may round differently, which can move a source coordinate that lies within an ulp of a
//! half-pixel to the neighbouring pixel. Cutout is `RandomErasing(p=1, scale=(0.001, 0.11),
//! ratio=(1, 1), value=0)`: side `round(√(H·W·u))`, `u ~ U(0.001, 0.11)`, top-left uniform over the
//! positions where the square fits (10 tries, else nothing is erased, as torchvision's fallback
//! returns the image itself). The generator is ours, so draws do not match torch's bit for bit.

use super::Frames;

/// Number of magnitude bins (TrivialAugmentWide's `num_magnitude_bins`).
pub const BINS: usize = 31;

/// One drawn op of the policy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SpikFormerOp {
    Identity,
    /// torchvision `shear = [degrees(m), 0]`, `m` in `linspace(-0.3, 0.3, 31)`, about the centre.
    ShearX { m: f64 },
    /// Content moves by `pixels` along the width axis (`int(m)`, `m` in `linspace(-5, 5, 31)`).
    TranslateX { pixels: i64 },
    TranslateY { pixels: i64 },
    /// `F.rotate(img, degrees)`: counter-clockwise about the centre, `linspace(-30, 30, 31)`.
    Rotate { degrees: f64 },
    /// Zero a `side`×`side` square at (`top`, `left`) in every frame and channel.
    Cutout { top: usize, left: usize, side: usize },
}

/// `torch.linspace(lo, hi, BINS)[bin]`.
fn linspace(lo: f64, hi: f64, bin: usize) -> f64 {
    lo + (hi - lo) * bin as f64 / (BINS - 1) as f64
}

/// Uniform in `[0, 1)` from 53 bits.
fn unit(next_u64: &mut impl FnMut() -> u64) -> f64 {
    (next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

impl SpikFormerOp {
    /// Draws an op for `height`×`width` frames from `next_u64` (a seeded generator).
    pub fn sample(height: usize, width: usize, mut next_u64: impl FnMut() -> u64) -> Self {
        let op = next_u64() % 6;
        let bin = (next_u64() % BINS as u64) as usize;
        let sign = if next_u64() & 1 == 1 { -1.0 } else { 1.0 };
        match op {
            0 => Self::Identity,
            1 => Self::ShearX { m: sign * linspace(-0.3, 0.3, bin) },
            // Python's int() truncates toward zero.
            2 => Self::TranslateX { pixels: (sign * linspace(-5.0, 5.0, bin)).trunc() as i64 },
            3 => Self::TranslateY { pixels: (sign * linspace(-5.0, 5.0, bin)).trunc() as i64 },
            4 => Self::Rotate { degrees: sign * linspace(-30.0, 30.0, bin) },
            _ => Self::sample_cutout(height, width, &mut next_u64),
        }
    }

    /// `RandomErasing.get_params` with `scale = (0.001, 0.11)`, `ratio = (1, 1)`.
    fn sample_cutout(height: usize, width: usize, next_u64: &mut impl FnMut() -> u64) -> Self {
        let area = (height * width) as f64;
        for _ in 0..10 {
            let erase = area * (0.001 + (0.11 - 0.001) * unit(next_u64));
            // ratio = 1: h = w = int(round(sqrt(erase))).
            let side = erase.sqrt().round() as usize;
            if !(side < height && side < width) {
                continue;
            }
            let top = (next_u64() % (height - side + 1) as u64) as usize;
            let left = (next_u64() % (width - side + 1) as u64) as usize;
            return Self::Cutout { top, left, side };
        }
        Self::Identity
    }

    /// torchvision's inverse affine matrix `[a, b, c, d, e, f]` (centre-relative coordinates) of
    /// the affine ops; `None` for Identity and Cutout.
    fn inverse_matrix(&self) -> Option<[f64; 6]> {
        match *self {
            Self::Identity | Self::Cutout { .. } => None,
            Self::ShearX { m } => Some(inverse_affine(0.0, (0.0, 0.0), (m.to_degrees(), 0.0))),
            Self::TranslateX { pixels } => Some(inverse_affine(0.0, (pixels as f64, 0.0), (0.0, 0.0))),
            Self::TranslateY { pixels } => Some(inverse_affine(0.0, (0.0, pixels as f64), (0.0, 0.0))),
            // F.rotate passes -angle.
            Self::Rotate { degrees } => Some(inverse_affine(-degrees, (0.0, 0.0), (0.0, 0.0))),
        }
    }

    /// For each output pixel of an `h`×`w` plane, the source pixel it reads (`None`: fill 0).
    pub(crate) fn source_map(m: [f64; 6], h: usize, w: usize) -> Vec<Option<usize>> {
        // _gen_affine_grid: theta (f32) transposed and divided by (W/2, H/2); grid_sample
        // (align_corners=False) unnormalises with ((g + 1)·size − 1) / 2 and rounds half to even.
        let (wf, hf) = (w as f32, h as f32);
        let t: [f32; 6] = m.map(|v| v as f32);
        let rx = [t[0] / (0.5 * wf), t[1] / (0.5 * wf), t[2] / (0.5 * wf)];
        let ry = [t[3] / (0.5 * hf), t[4] / (0.5 * hf), t[5] / (0.5 * hf)];
        let mut map = Vec::with_capacity(h * w);
        for y in 0..h {
            let yc = y as f32 - 0.5 * hf + 0.5;
            for x in 0..w {
                let xc = x as f32 - 0.5 * wf + 0.5;
                let gx = xc * rx[0] + yc * rx[1] + rx[2];
                let gy = xc * ry[0] + yc * ry[1] + ry[2];
                let ix = (((gx + 1.0) * wf - 1.0) / 2.0).round_ties_even();
                let iy = (((gy + 1.0) * hf - 1.0) / 2.0).round_ties_even();
                let inside = ix >= 0.0 && iy >= 0.0 && ix < wf && iy < hf;
                map.push(inside.then(|| iy as usize * w + ix as usize));
            }
        }
        map
    }

    pub fn apply(&self, frames: &Frames) -> Frames {
        let (h, w) = (frames.height, frames.width);
        let planes = frames.frames * frames.channels;
        match *self {
            Self::Identity => frames.clone(),
            Self::Cutout { top, left, side } => {
                let mut out = frames.clone();
                for p in 0..planes {
                    for y in top..(top + side).min(h) {
                        let row = p * h * w + y * w;
                        out.data[row + left.min(w)..row + (left + side).min(w)].fill(0.0);
                    }
                }
                out
            }
            _ => warp(frames, self.inverse_matrix().expect("affine op")),
        }
    }
}

/// torchvision's `_get_inverse_affine_matrix` about the image centre (`center = [0, 0]` in
/// centre-relative coordinates), scale 1: rotation `angle_deg`, translation `(tx, ty)` pixels,
/// shear `(x°, y°)`.
pub(crate) fn inverse_affine(angle_deg: f64, (tx, ty): (f64, f64), (shear_x_deg, shear_y_deg): (f64, f64)) -> [f64; 6] {
    let rot = angle_deg.to_radians();
    let (sx, sy) = (shear_x_deg.to_radians(), shear_y_deg.to_radians());
    let a = (rot - sy).cos() / sy.cos();
    let b = -(rot - sy).cos() * sx.tan() / sy.cos() - rot.sin();
    let c = (rot - sy).sin() / sy.cos();
    let d = -(rot - sy).sin() * sx.tan() / sy.cos() + rot.cos();
    let mut m = [d, -b, 0.0, -c, a, 0.0];
    m[2] += m[0] * -tx + m[1] * -ty;
    m[5] += m[3] * -tx + m[4] * -ty;
    m
}

/// Every plane of `frames` through the inverse affine matrix `m` (nearest, fill 0).
pub(crate) fn warp(frames: &Frames, m: [f64; 6]) -> Frames {
    let (h, w) = (frames.height, frames.width);
    let map = SpikFormerOp::source_map(m, h, w);
    let mut out = Frames::zeros(frames.frames, frames.channels, h, w);
    for p in 0..frames.frames * frames.channels {
        let src = &frames.data[p * h * w..(p + 1) * h * w];
        let dst = &mut out.data[p * h * w..(p + 1) * h * w];
        for (d, s) in dst.iter_mut().zip(&map) {
            if let Some(s) = *s {
                *d = src[s];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || crate::rng::splitmix64(&mut s)
    }

    /// `t` frames × 2 channels, one lit pixel (value = plane index + 1) at (y, x) in every plane.
    fn lit(t: usize, h: usize, w: usize, y: usize, x: usize) -> Frames {
        let mut f = Frames::zeros(t, 2, h, w);
        for p in 0..t * 2 {
            f.data[p * h * w + y * w + x] = (p + 1) as f32;
        }
        f
    }

    fn lit_positions(f: &Frames) -> Vec<Vec<(usize, usize)>> {
        let (h, w) = (f.height, f.width);
        (0..f.frames * f.channels)
            .map(|p| (0..h * w).filter(|&i| f.data[p * h * w + i] != 0.0).map(|i| (i / w, i % w)).collect())
            .collect()
    }

    #[test]
    fn identity_leaves_frames_unchanged() {
        let mut f = Frames::zeros(3, 2, 6, 7);
        f.data.iter_mut().enumerate().for_each(|(i, v)| *v = i as f32);
        assert_eq!(SpikFormerOp::Identity.apply(&f), f);
        // Zero shear, translation and rotation are the identity through the affine path too.
        assert_eq!(SpikFormerOp::TranslateX { pixels: 0 }.apply(&f), f);
        assert_eq!(SpikFormerOp::Rotate { degrees: 0.0 }.apply(&f), f);
        assert_eq!(SpikFormerOp::ShearX { m: 0.0 }.apply(&f), f);
    }

    #[test]
    fn translate_moves_a_pixel_by_k_and_fills_zero() {
        let f = lit(2, 10, 10, 4, 4);
        for k in [-4i64, -1, 2, 5] {
            let gx = SpikFormerOp::TranslateX { pixels: k }.apply(&f);
            let want = (4, (4 + k) as usize);
            assert!(lit_positions(&gx).iter().all(|p| p == &vec![want]), "x {k}: {:?}", lit_positions(&gx));
            assert_eq!(gx.data[4 * 10 + want.1], 1.0);
            assert_eq!(gx.data[3 * 10 * 10 + 4 * 10 + want.1], 4.0, "values follow their plane");
            let gy = SpikFormerOp::TranslateY { pixels: k }.apply(&f);
            let want = ((4 + k) as usize, 4);
            assert!(lit_positions(&gy).iter().all(|p| p == &vec![want]), "y {k}: {:?}", lit_positions(&gy));
        }
        // Shifted out of the image: everything is filled with 0.
        let out = SpikFormerOp::TranslateX { pixels: 6 }.apply(&f);
        assert!(out.data.iter().all(|&v| v == 0.0));
        // A full image shifts with a zero band entering from the left.
        let ones = Frames { data: vec![1.0; 8 * 10 * 2], ..Frames::zeros(1, 2, 8, 10) };
        let shifted = SpikFormerOp::TranslateX { pixels: 3 }.apply(&ones);
        for y in 0..8 {
            let row = &shifted.data[y * 10..(y + 1) * 10];
            assert_eq!(row, &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        }
    }

    #[test]
    fn rotation_keeps_the_centre_and_turns_counter_clockwise() {
        // Odd size: the centre pixel is fixed under any rotation.
        let centre = lit(2, 9, 9, 4, 4);
        for deg in [-30.0, -12.0, 7.0, 30.0, 90.0] {
            let r = SpikFormerOp::Rotate { degrees: deg }.apply(&centre);
            assert!(lit_positions(&r).iter().all(|p| p == &vec![(4, 4)]), "{deg}");
        }
        // +90°: top-middle goes to left-middle, as torchvision's F.rotate (counter-clockwise).
        let top = lit(1, 9, 9, 0, 4);
        let r = SpikFormerOp::Rotate { degrees: 90.0 }.apply(&top);
        assert!(lit_positions(&r).iter().all(|p| p == &vec![(4, 0)]), "{:?}", lit_positions(&r));
        // Even size: the centre lies between pixels, and 90° maps the 4 centre pixels onto themselves.
        let mut quad = Frames::zeros(1, 1, 8, 8);
        for (i, (y, x)) in [(3, 3), (3, 4), (4, 4), (4, 3)].into_iter().enumerate() {
            quad.data[y * 8 + x] = (i + 1) as f32;
        }
        let r = SpikFormerOp::Rotate { degrees: 90.0 }.apply(&quad);
        // Counter-clockwise: (3,4) → (3,3), (4,4) → (3,4), (4,3) → (4,4), (3,3) → (4,3).
        assert_eq!([r.data[3 * 8 + 3], r.data[3 * 8 + 4], r.data[4 * 8 + 4], r.data[4 * 8 + 3]], [2.0, 3.0, 4.0, 1.0]);
        // 30° moves an off-centre pixel onto the rotated position (radius 4 from the centre).
        let right = lit(1, 9, 9, 4, 8);
        let r = SpikFormerOp::Rotate { degrees: 30.0 }.apply(&right);
        let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
        let (wy, wx) = (4.0 - 4.0 * s, 4.0 + 4.0 * c); // (2, 7.46)
        let pos = &lit_positions(&r)[0];
        assert!(pos.contains(&(2, 7)), "{pos:?}");
        // Nearest inverse mapping may read one source pixel into two outputs, both near the ideal.
        assert!(pos.iter().all(|&(y, x)| (y as f64 - wy).abs() <= 1.0 && (x as f64 - wx).abs() <= 1.0), "{pos:?}");
    }

    #[test]
    fn shear_keeps_the_centre_row_and_slants_the_others() {
        let mut f = Frames::zeros(1, 1, 9, 21);
        for y in 0..9 {
            f.data[y * 21 + 10] = 1.0; // a vertical line through the centre column
        }
        let m = 0.3;
        let out = SpikFormerOp::ShearX { m }.apply(&f);
        let pos = lit_positions(&out)[0].clone();
        assert_eq!(pos.len(), 9);
        for (y, x) in pos {
            // Output x reads source x + tan(m)·(y − 4): the line moves by −tan(m)·(y − 4).
            let want = 10.0 - m.tan() * (y as f64 - 4.0);
            assert!((x as f64 - want).abs() <= 0.5, "row {y}: x {x}, want ≈ {want}");
        }
        assert_eq!(out.data[4 * 21 + 10], 1.0);
        assert_eq!(out.data[0 * 21 + 11], 1.0); // top row moves right by tan(0.3)·4 ≈ 1.2
    }

    #[test]
    fn cutout_zeroes_one_square_of_the_stated_area_in_every_plane() {
        let (t, h, w) = (3, 48, 48);
        let ones = Frames { data: vec![1.0; t * 2 * h * w], ..Frames::zeros(t, 2, h, w) };
        let mut seen = 0;
        for seed in 0..400 {
            let mut next = counter(seed);
            let op = SpikFormerOp::sample_cutout(h, w, &mut next);
            let SpikFormerOp::Cutout { top, left, side } = op else { panic!("{op:?}") };
            // side = round(√(area·u)), u in [0.001, 0.11): 2..=16 on 48×48.
            assert!((2..=16).contains(&side), "side {side}");
            assert!(top + side <= h && left + side <= w);
            let out = op.apply(&ones);
            for p in 0..t * 2 {
                let plane = &out.data[p * h * w..(p + 1) * h * w];
                let zeros: Vec<usize> = (0..h * w).filter(|&i| plane[i] == 0.0).collect();
                assert_eq!(zeros.len(), side * side);
                assert!(zeros.iter().all(|&i| (top..top + side).contains(&(i / w)) && (left..left + side).contains(&(i % w))));
            }
            seen += 1;
        }
        assert_eq!(seen, 400);
    }

    #[test]
    fn sampling_is_seeded_and_covers_the_policy() {
        let mut f = Frames::zeros(2, 2, 16, 16);
        f.data.iter_mut().enumerate().for_each(|(i, v)| *v = (i % 7) as f32);
        let mut kinds = [0usize; 6];
        for seed in 0..600 {
            let a = SpikFormerOp::sample(16, 16, counter(seed));
            let b = SpikFormerOp::sample(16, 16, counter(seed));
            assert_eq!(a, b);
            assert_eq!(a.apply(&f), b.apply(&f));
            let k = match a {
                SpikFormerOp::Identity => 0,
                SpikFormerOp::ShearX { m } => {
                    assert!(m.abs() <= 0.3 + 1e-12);
                    1
                }
                SpikFormerOp::TranslateX { pixels } => {
                    assert!(pixels.abs() <= 5);
                    2
                }
                SpikFormerOp::TranslateY { pixels } => {
                    assert!(pixels.abs() <= 5);
                    3
                }
                SpikFormerOp::Rotate { degrees } => {
                    assert!(degrees.abs() <= 30.0 + 1e-9);
                    // A bin of linspace(-30, 30, 31): a multiple of 2°.
                    assert!((degrees / 2.0 - (degrees / 2.0).round()).abs() < 1e-9);
                    4
                }
                SpikFormerOp::Cutout { .. } => 5,
            };
            kinds[k] += 1;
        }
        assert!(kinds.iter().all(|&n| n > 60), "{kinds:?}");
    }
}
