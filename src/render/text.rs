//! Labels on frames: an embedded 8×8 bitmap font (the public-domain IBM-PC glyphs of the
//! `font8x8` crate, so nothing depends on a system font), drawn in a palette ink with a
//! one-pixel shadow so that it reads on any background.

use font8x8::UnicodeFonts;

use super::palette::INK_BLACK;

/// An image of palette indices that labels are drawn on.
pub struct Image<'a> {
    pub pixels: &'a mut [u8],
    pub width: usize,
    pub height: usize,
}

/// The width in pixels of `text` at `scale`.
pub fn width(text: &str, scale: usize) -> usize {
    text.chars().count() * 8 * scale
}

impl Image<'_> {
    /// Draws `text` with its top-left corner at (`x`, `y`), each font pixel `scale × scale`,
    /// clipped to the image. Characters the font lacks are drawn as `?`.
    pub fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, ink: u8) {
        for pass in [INK_BLACK, ink] {
            let shadow = usize::from(pass == INK_BLACK && ink != INK_BLACK);
            for (k, ch) in text.chars().enumerate() {
                let glyph = font8x8::BASIC_FONTS.get(ch).or_else(|| font8x8::BASIC_FONTS.get('?')).unwrap_or([0; 8]);
                for (row, bits) in glyph.iter().enumerate() {
                    for col in 0..8 {
                        if bits >> col & 1 == 1 {
                            self.fill(x + (k * 8 + col) * scale + shadow, y + row * scale + shadow, scale, scale, pass);
                        }
                    }
                }
            }
        }
    }

    /// Fills the rectangle at (`x`, `y`) of `w × h` pixels, clipped to the image.
    pub fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, ink: u8) {
        for yy in y..(y + h).min(self.height) {
            let row = yy * self.width;
            for xx in x..(x + w).min(self.width) {
                self.pixels[row + xx] = ink;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::palette::INK_WHITE;

    #[test]
    fn glyphs_land_where_asked_with_a_shadow_and_clip_at_the_edge() {
        let mut px = vec![0u8; 40 * 12];
        let mut img = Image { pixels: &mut px, width: 40, height: 12 };
        img.text(1, 1, "I", 1, INK_WHITE);
        // font8x8's 'I' has its top bar in row 0 (0x1E: columns 1..=4).
        assert_eq!(&px[40 + 1..40 + 7], &[0, INK_WHITE, INK_WHITE, INK_WHITE, INK_WHITE, 0]);
        // Row 2: the glyph's second row (columns 2, 3) over the top bar's shadow (x 3..=6).
        assert_eq!(&px[80 + 2..80 + 8], &[0, INK_WHITE, INK_WHITE, INK_BLACK, INK_BLACK, 0]);
        let mut img = Image { pixels: &mut px, width: 40, height: 12 };
        img.text(30, 6, "WWWW", 2, INK_WHITE); // runs off the right and bottom edges
        assert_eq!(width("WWWW", 2), 64);
    }
}
