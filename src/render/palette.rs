//! Colours of rendered frames, as one 256-entry palette shared by every output: index 0 is
//! the background, `1..=LEVELS` an ON event fading from full (LEVELS) to faint (1),
//! `LEVELS+1..=2·LEVELS` the same for OFF, and the last indices are overlay inks.
//! GIF and indexed PNG store the indices as they are; Y4M and MP4 look the colours up.

/// Brightness steps of one polarity.
pub const LEVELS: u8 = 120;
/// Overlay inks: white text, black text shadow, and the confidence strip's colours.
pub const INK_WHITE: u8 = 250;
pub const INK_BLACK: u8 = 251;
pub const INK_STRIP: [u8; 4] = [252, 253, 254, 255];

/// The index of an ON (`on`) or OFF event at `level` in `1..=LEVELS`.
pub fn index(on: bool, level: u8) -> u8 {
    if on { level } else { LEVELS + level }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Palette {
    /// Grey background, ON events light, OFF events dark (Metavision's grey view, DV's default).
    Gray,
    /// Dark blue-grey background, ON events near white, OFF events blue (Metavision's dark view).
    Dark,
    /// Black background, ON events red, OFF events blue (as `frames --png`).
    RedBlue,
    /// White background, ON events black, OFF events a light grey (for print).
    Paper,
}

impl Palette {
    /// (background, full ON, full OFF).
    fn anchors(self) -> ([u8; 3], [u8; 3], [u8; 3]) {
        match self {
            Palette::Gray => ([128, 128, 128], [255, 255, 255], [0, 0, 0]),
            Palette::Dark => ([30, 37, 52], [216, 223, 236], [64, 126, 201]),
            Palette::RedBlue => ([0, 0, 0], [255, 48, 32], [40, 110, 255]),
            Palette::Paper => ([255, 255, 255], [0, 0, 0], [160, 160, 160]),
        }
    }

    /// The 256 colours (RGB) of this palette.
    pub fn colors(self) -> [[u8; 3]; 256] {
        let (bg, on, off) = self.anchors();
        let mut c = [[0u8; 3]; 256];
        c[0] = bg;
        let mix = |to: [u8; 3], level: u8| {
            let a = f32::from(level) / f32::from(LEVELS);
            std::array::from_fn(|k| (f32::from(bg[k]) + (f32::from(to[k]) - f32::from(bg[k])) * a).round() as u8)
        };
        for level in 1..=LEVELS {
            c[usize::from(index(true, level))] = mix(on, level);
            c[usize::from(index(false, level))] = mix(off, level);
        }
        c[usize::from(INK_WHITE)] = [255, 255, 255];
        c[usize::from(INK_BLACK)] = [0, 0, 0];
        // Colour-blind-safe strip colours (Okabe-Ito): orange, sky blue, green, yellow.
        for (i, rgb) in [[230, 159, 0], [86, 180, 233], [0, 158, 115], [240, 228, 66]].into_iter().enumerate() {
            c[usize::from(INK_STRIP[i])] = rgb;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_fade_from_the_background_to_the_polarity_colour() {
        let c = Palette::Gray.colors();
        assert_eq!(c[0], [128, 128, 128]);
        assert_eq!(c[usize::from(index(true, LEVELS))], [255, 255, 255]);
        assert_eq!(c[usize::from(index(false, LEVELS))], [0, 0, 0]);
        let faint_on = c[usize::from(index(true, 1))][0];
        assert!(faint_on > 128 && faint_on < 132, "{faint_on}");
        assert!(usize::from(index(false, LEVELS)) < usize::from(INK_WHITE));
    }
}
