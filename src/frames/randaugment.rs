//! RandAugment for static images (the AutoAugment-style policy of the reference's CIFAR configs,
//! here with torchvision's `RandAugment(num_ops, magnitude, num_magnitude_bins=31)` op space):
//! `num_ops` ops per image, each drawn uniformly from Identity, ShearX/Y, TranslateX/Y, Rotate,
//! Brightness, Color, Contrast, Sharpness, Posterize, Solarize, AutoContrast and Equalize, at one
//! fixed magnitude bin, signed ops negated with p = 0.5. Images are `[1, C, H, W]` in `[0, 1]`
//! (before normalisation, as torchvision applies it to the PIL image).
//!
//! Differences from torchvision, by design: shears are about the image centre (torchvision's
//! RandAugment shears about the top-left corner) through the same nearest-neighbour affine as
//! [`super::spikformer`]; Posterize, Solarize and Equalize work on the image rounded to 8 bits and
//! give values `k / 255`; the generator is ours, so draws do not match torch's.

use anyhow::{Result, bail};

use super::Frames;
use super::spikformer::{inverse_affine, warp};

const BINS: usize = 31;

/// The policy: how many ops per image and the magnitude bin (0..=30).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandAugment {
    pub ops: usize,
    pub magnitude: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Identity,
    Affine { angle: f64, translate: (f64, f64), shear: (f64, f64) },
    /// Blend with a degenerate image (black, grey, mean, blurred) by `factor`.
    Brightness(f32),
    Color(f32),
    Contrast(f32),
    Sharpness(f32),
    Posterize(u32),
    Solarize(f32),
    AutoContrast,
    Equalize,
}

impl RandAugment {
    /// `N:M` (ops per image, magnitude bin 0..=30), e.g. `2:9` (torchvision's defaults).
    pub fn parse(flag: &str, value: &str) -> Result<Self> {
        let parsed = value.split_once(':').and_then(|(n, m)| Some((n.trim().parse::<usize>().ok()?, m.trim().parse::<usize>().ok()?)));
        match parsed {
            Some((ops, magnitude)) if (1..=8).contains(&ops) && magnitude < BINS => Ok(Self { ops, magnitude }),
            _ => bail!("{flag} {value:?}: expected N:M with N ops per image in 1..=8 and magnitude M in 0..=30 (e.g. 2:9)"),
        }
    }

    /// Applies `ops` drawn ops to a static image `[1, C, H, W]`.
    pub fn apply(&self, image: &Frames, mut next_u64: impl FnMut() -> u64) -> Frames {
        let mut out = image.clone();
        for _ in 0..self.ops {
            let op = self.draw(image.height, image.width, &mut next_u64);
            out = apply_op(op, &out);
        }
        out
    }

    fn draw(&self, h: usize, w: usize, next_u64: &mut impl FnMut() -> u64) -> Op {
        let level = |hi: f64| hi * self.magnitude as f64 / (BINS - 1) as f64;
        let which = next_u64() % 14;
        let sign = if next_u64() & 1 == 1 { -1.0 } else { 1.0 };
        let affine = |angle, translate, shear| Op::Affine { angle, translate, shear };
        match which {
            0 => Op::Identity,
            // torchvision: shear = degrees(atan(m)), m in linspace(0, 0.3).
            1 => affine(0.0, (0.0, 0.0), ((sign * level(0.3)).atan().to_degrees(), 0.0)),
            2 => affine(0.0, (0.0, 0.0), (0.0, (sign * level(0.3)).atan().to_degrees())),
            // int(m) pixels, m in linspace(0, 150/331 · size).
            3 => affine(0.0, ((sign * level(150.0 / 331.0 * w as f64)).trunc(), 0.0), (0.0, 0.0)),
            4 => affine(0.0, (0.0, (sign * level(150.0 / 331.0 * h as f64)).trunc()), (0.0, 0.0)),
            // F.rotate passes -angle to the inverse matrix.
            5 => affine(-sign * level(30.0), (0.0, 0.0), (0.0, 0.0)),
            6 => Op::Brightness(1.0 + (sign * level(0.9)) as f32),
            7 => Op::Color(1.0 + (sign * level(0.9)) as f32),
            8 => Op::Contrast(1.0 + (sign * level(0.9)) as f32),
            9 => Op::Sharpness(1.0 + (sign * level(0.9)) as f32),
            // 8 - round(bin / ((bins - 1) / 4)), torch rounds half to even.
            10 => Op::Posterize(8 - (self.magnitude as f64 / ((BINS - 1) as f64 / 4.0)).round_ties_even() as u32),
            11 => Op::Solarize((255.0 - level(255.0)) as f32 / 255.0),
            12 => Op::AutoContrast,
            _ => Op::Equalize,
        }
    }
}

fn blend(img: &mut [f32], other: impl Fn(usize) -> f32, factor: f32) {
    for (i, v) in img.iter_mut().enumerate() {
        *v = (factor * *v + (1.0 - factor) * other(i)).clamp(0.0, 1.0);
    }
}

/// ITU-R 601-2 luma of a 3-channel image (torchvision's `rgb_to_grayscale`); a 1-channel image is its own.
fn grey(f: &Frames) -> Vec<f32> {
    let n = f.height * f.width;
    if f.channels == 3 {
        (0..n).map(|i| 0.2989 * f.data[i] + 0.587 * f.data[n + i] + 0.114 * f.data[2 * n + i]).collect()
    } else {
        f.data[..n].to_vec()
    }
}

fn to_u8(v: f32) -> u8 {
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

fn apply_op(op: Op, f: &Frames) -> Frames {
    let (h, w, n) = (f.height, f.width, f.height * f.width);
    let mut out = f.clone();
    match op {
        Op::Identity => {}
        Op::Affine { angle, translate, shear } => return warp(f, inverse_affine(angle, translate, shear)),
        Op::Brightness(k) => blend(&mut out.data, |_| 0.0, k),
        Op::Color(k) if f.channels == 3 => {
            let g = grey(f);
            blend(&mut out.data, |i| g[i % n], k);
        }
        Op::Color(_) => {}
        Op::Contrast(k) => {
            let mean = grey(f).iter().sum::<f32>() / n as f32;
            blend(&mut out.data, |_| mean, k);
        }
        Op::Sharpness(k) if h > 2 && w > 2 => {
            // The 3x3 smoothing kernel [1 1 1; 1 5 1; 1 1 1] / 13 on the interior; borders keep theirs.
            let mut smooth = f.data.clone();
            for c in 0..f.channels {
                let p = &f.data[c * n..(c + 1) * n];
                for y in 1..h - 1 {
                    for x in 1..w - 1 {
                        let mut s = 4.0 * p[y * w + x];
                        for dy in 0..3 {
                            s += p[(y + dy - 1) * w + x - 1..(y + dy - 1) * w + x + 2].iter().sum::<f32>();
                        }
                        smooth[c * n + y * w + x] = s / 13.0;
                    }
                }
            }
            blend(&mut out.data, |i| smooth[i], k);
        }
        Op::Sharpness(_) => {}
        Op::Posterize(bits) => {
            let mask = !((1u32 << (8 - bits)) - 1) as u8;
            out.data.iter_mut().for_each(|v| *v = (to_u8(*v) & mask) as f32 / 255.0);
        }
        Op::Solarize(threshold) => out.data.iter_mut().filter(|v| **v >= threshold).for_each(|v| *v = 1.0 - *v),
        Op::AutoContrast => {
            for plane in out.data.chunks_mut(n) {
                let (lo, hi) = plane.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                if hi > lo {
                    plane.iter_mut().for_each(|v| *v = ((*v - lo) / (hi - lo)).clamp(0.0, 1.0));
                }
            }
        }
        Op::Equalize => {
            // torchvision's _scale_channel on 8-bit values.
            for plane in out.data.chunks_mut(n) {
                let mut hist = [0usize; 256];
                plane.iter().for_each(|&v| hist[to_u8(v) as usize] += 1);
                let last = hist.iter().rposition(|&c| c != 0).unwrap_or(0);
                let step = (hist.iter().sum::<usize>() - hist[last]) / 255;
                if step == 0 {
                    continue;
                }
                let mut lut = [0u8; 256];
                let mut cum = 0;
                for (v, &c) in hist.iter().enumerate() {
                    lut[v] = ((cum + step / 2) / step).min(255) as u8;
                    cum += c;
                }
                plane.iter_mut().for_each(|v| *v = lut[to_u8(*v) as usize] as f32 / 255.0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(c: usize, h: usize, w: usize) -> Frames {
        let mut f = Frames::zeros(1, c, h, w);
        f.data.iter_mut().enumerate().for_each(|(i, v)| *v = ((i * 37) % 256) as f32 / 255.0);
        f
    }

    #[test]
    fn parse_checks_the_range_and_names_the_flag() {
        assert_eq!(RandAugment::parse("--randaugment", "2:9").unwrap(), RandAugment { ops: 2, magnitude: 9 });
        for bad in ["2", "0:9", "2:31", "a:b"] {
            assert!(RandAugment::parse("--randaugment", bad).unwrap_err().to_string().contains("--randaugment"), "{bad}");
        }
    }

    #[test]
    fn ops_do_what_torchvision_documents() {
        let f = image(3, 8, 8);
        // Brightness 0 is black; factor 1 of every blend is the identity.
        assert!(apply_op(Op::Brightness(0.0), &f).data.iter().all(|&v| v == 0.0));
        for op in [Op::Brightness(1.0), Op::Color(1.0), Op::Contrast(1.0), Op::Sharpness(1.0)] {
            assert_eq!(apply_op(op, &f), f, "{op:?}");
        }
        // Colour 0 is the grey image in every channel.
        let g = apply_op(Op::Color(0.0), &f);
        assert_eq!(g.data[..64], g.data[64..128]);
        // Solarize inverts from the threshold; Posterize 1 bit keeps only the top bit.
        let s = apply_op(Op::Solarize(0.5), &f);
        assert!(f.data.iter().zip(&s.data).all(|(&a, &b)| if a >= 0.5 { b == 1.0 - a } else { b == a }));
        assert!(apply_op(Op::Posterize(1), &f).data.iter().all(|&v| v == 0.0 || v == 128.0 / 255.0));
        // AutoContrast stretches each channel to [0, 1]; Equalize spreads a two-level image.
        let mut dim = Frames::zeros(1, 1, 32, 32);
        dim.data.iter_mut().enumerate().for_each(|(i, v)| *v = (64 + 2 * (i % 2)) as f32 / 255.0);
        for op in [Op::AutoContrast, Op::Equalize] {
            let out = apply_op(op, &dim);
            assert!(out.data.iter().zip(&dim.data).all(|(&o, &d)| o == if d > 65.0 / 255.0 { 1.0 } else { 0.0 }), "{op:?}");
        }
        // A translation of 2 pixels moves the image right and fills black.
        let t = apply_op(Op::Affine { angle: 0.0, translate: (2.0, 0.0), shear: (0.0, 0.0) }, &f);
        assert_eq!(t.data[2..8], f.data[0..6]);
        assert_eq!(t.data[..2], [0.0, 0.0]);
    }

    #[test]
    fn a_seed_gives_the_same_images_and_values_stay_in_range() {
        let f = image(3, 12, 12);
        let run = |seed: u64| {
            let mut s = seed;
            let ra = RandAugment { ops: 2, magnitude: 9 };
            (0..20).map(|_| ra.apply(&f, || crate::rng::splitmix64(&mut s))).collect::<Vec<_>>()
        };
        let (a, b, c) = (run(1), run(1), run(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().any(|x| x != &f), "some draws change the image");
        assert!(a.iter().flat_map(|x| &x.data).all(|&v| (0.0..=1.0).contains(&v)));
    }
}
