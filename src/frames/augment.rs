//! Training augmentation of IMP-SNN's 48×48 DVS configs, applied identically to every frame of
//! a sample: zero-pad by `padding` and crop back at an offset in `[0, 2·padding]²`
//! (`RandomCropDVS`), then flip the width axis with probability 0.5 (`RandomHorizontalFlipDVS`).

use super::Frames;

/// One random draw, shared by all frames of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropFlip {
    pub padding: usize,
    /// Crop offsets into the padded image, each in `0..=2·padding`.
    pub dy: usize,
    pub dx: usize,
    pub flip: bool,
}

impl CropFlip {
    /// Draws offsets and flip from `next_u64` (a seeded generator).
    pub fn sample(padding: usize, mut next_u64: impl FnMut() -> u64) -> Self {
        let span = 2 * padding as u64 + 1;
        let (dy, dx) = ((next_u64() % span) as usize, (next_u64() % span) as usize);
        Self { padding, dy, dx, flip: next_u64() & 1 == 1 }
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
                for x in 0..w {
                    let Some(sx) = (x + self.dx).checked_sub(self.padding).filter(|&sx| sx < w) else { continue };
                    let ox = if self.flip { w - 1 - x } else { x };
                    dst[y * w + ox] = src[sy * w + sx];
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
        let same = CropFlip { padding: 4, dy: 4, dx: 4, flip: false }.apply(&f);
        assert_eq!(same, f);
        let flipped = CropFlip { padding: 4, dy: 4, dx: 4, flip: true }.apply(&f);
        assert_eq!(&flipped.data[..4], &[3.0, 2.0, 1.0, 0.0]);
        let shifted = CropFlip { padding: 1, dy: 1, dx: 0, flip: false }.apply(&f);
        assert_eq!(&shifted.data[..4], &[0.0, 0.0, 1.0, 2.0]);
    }
}
