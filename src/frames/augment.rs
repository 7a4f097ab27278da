//! Training augmentation of IMP-SNN's 48×48 DVS configs, applied identically to every frame of
//! a sample: zero-pad by `padding` and crop back at an offset in `[0, 2·padding]²`
//! (`RandomCropDVS`), then flip the width axis with probability 0.5 (`RandomHorizontalFlipDVS`),
//! and, where asked (label-aware flips of mirror-image classes), the height axis too.

use super::Frames;

/// One random draw, shared by all frames of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropFlip {
    pub padding: usize,
    /// Crop offsets into the padded image, each in `0..=2·padding`.
    pub dy: usize,
    pub dx: usize,
    pub flip: bool,
    /// Mirror the height axis as well.
    pub vflip: bool,
}

impl CropFlip {
    /// Draws offsets and flips from `next_u64` (a seeded generator); the vertical flip is drawn
    /// only when `vflip` allows it, so runs without it draw the same numbers as before it existed.
    pub fn sample(padding: usize, vflip: bool, mut next_u64: impl FnMut() -> u64) -> Self {
        let span = 2 * padding as u64 + 1;
        let (dy, dx) = ((next_u64() % span) as usize, (next_u64() % span) as usize);
        let flip = next_u64() & 1 == 1;
        Self { padding, dy, dx, flip, vflip: vflip && next_u64() & 1 == 1 }
    }

    pub fn apply(&self, frames: &Frames) -> Frames {
        let (h, w) = (frames.height, frames.width);
        let mut out = Frames::zeros(frames.frames, frames.channels, h, w);
        let planes = frames.frames * frames.channels;
        for p in 0..planes {
            let src = &frames.data[p * h * w..(p + 1) * h * w];
            let dst = &mut out.data[p * h * w..(p + 1) * h * w];
            for y in 0..h {
                // Row y of the crop is row y + dy of the padded image = row y + dy − padding of src.
                let Some(sy) = (y + self.dy).checked_sub(self.padding).filter(|&sy| sy < h) else { continue };
                let oy = if self.vflip { h - 1 - y } else { y };
                for x in 0..w {
                    let Some(sx) = (x + self.dx).checked_sub(self.padding).filter(|&sx| sx < w) else { continue };
                    let ox = if self.flip { w - 1 - x } else { x };
                    dst[oy * w + ox] = src[sy * w + sx];
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centre_crop_without_flip_is_identity_and_flip_mirrors() {
        let mut f = Frames::zeros(1, 1, 3, 4);
        f.data.iter_mut().enumerate().for_each(|(i, v)| *v = i as f32);
        let same = CropFlip { padding: 4, dy: 4, dx: 4, flip: false, vflip: false }.apply(&f);
        assert_eq!(same, f);
        let flipped = CropFlip { padding: 4, dy: 4, dx: 4, flip: true, vflip: false }.apply(&f);
        assert_eq!(&flipped.data[..4], &[3.0, 2.0, 1.0, 0.0]);
        let shifted = CropFlip { padding: 1, dy: 1, dx: 0, flip: false, vflip: false }.apply(&f);
        assert_eq!(&shifted.data[..4], &[0.0, 0.0, 1.0, 2.0]);
        let upside_down = CropFlip { padding: 0, dy: 0, dx: 0, flip: false, vflip: true }.apply(&f);
        assert_eq!(&upside_down.data[..4], &[8.0, 9.0, 10.0, 11.0]);
        assert_eq!(&upside_down.data[8..], &[0.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn vertical_flips_are_drawn_only_when_allowed() {
        let mut state = 7u64;
        let mut next = || crate::rng::splitmix64(&mut state);
        let with: Vec<CropFlip> = (0..64).map(|_| CropFlip::sample(4, true, &mut next)).collect();
        assert!(with.iter().any(|d| d.vflip) && with.iter().any(|d| !d.vflip));
        assert!((0..64).all(|_| !CropFlip::sample(4, false, &mut next).vflip));
    }
}
