//! Colours of rendered frames, as one 256-entry palette shared by every output: index 0 is
//! the background, `1..=LEVELS` an ON event fading from full (LEVELS) to faint (1),
//! `LEVELS+1..=2·LEVELS` the same for OFF, and the last indices are overlay inks.
//! GIF and indexed PNG store the indices as they are; Y4M and MP4 look the colours up.
//!
//! The palettes are four of our own (Metavision's and DV's views) and faery's scientific
//! colour maps ([`super::colormaps`]): a diverging or cyclic map puts the background at its
//! centre, ON events towards its end and OFF towards its start; a sequential map fades both
//! polarities from its start to its end.

use super::colormaps::{self, Kind};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Palette {
    /// Grey background, ON events light, OFF events dark (Metavision's grey view, DV's default).
    Gray,
    /// Dark blue-grey background, ON events near white, OFF events blue (Metavision's dark view).
    Dark,
    /// Black background, ON events red, OFF events blue (as `frames --png`).
    RedBlue,
    /// White background, ON events black, OFF events a light grey (for print).
    Paper,
    /// One of faery's scientific colour maps: its index in [`colormaps::all`].
    Scientific(u8),
    /// A colour map read from a file ([`colormaps::from_file`]), kept for the process.
    File(&'static colormaps::Colormap),
}

const OWN: [(&str, Palette); 4] = [("gray", Palette::Gray), ("dark", Palette::Dark), ("red-blue", Palette::RedBlue), ("paper", Palette::Paper)];

impl Palette {
    /// Every name `--colormap` takes: ours, then faery's scientific maps.
    pub fn names() -> Vec<&'static str> {
        OWN.iter().map(|(n, _)| *n).chain(colormaps::all().iter().map(|m| m.name.as_str())).collect()
    }

    /// The palette called `name` (as [`Palette::names`] lists them), or a colour map file
    /// `FILE.csv[:sequential|diverging|cyclic]` (see [`colormaps::from_file`]); the error lists
    /// the names.
    pub fn parse(name: &str) -> Result<Self, String> {
        let (file, kind) = name.rsplit_once(':').filter(|(_, k)| ["sequential", "diverging", "cyclic"].contains(k)).unwrap_or((name, "diverging"));
        if [".csv", ".txt"].iter().any(|ext| file.to_ascii_lowercase().ends_with(ext)) {
            let map = colormaps::from_file(std::path::Path::new(file), kind)?;
            return Ok(Palette::File(Box::leak(Box::new(map))));
        }
        let name = name.trim().to_ascii_lowercase();
        if let Some((_, p)) = OWN.iter().find(|(n, _)| *n == name) {
            return Ok(*p);
        }
        match colormaps::all().iter().position(|m| m.name == name) {
            Some(i) => Ok(Palette::Scientific(i as u8)),
            None => Err(format!("no colormap '{name}'; choose one of: {}", Self::names().join(", "))),
        }
    }

    /// The 256 colours (RGB) of this palette.
    pub fn colors(self) -> [[u8; 3]; 256] {
        let mut c = [[0u8; 3]; 256];
        let (bg, on, off): ([u8; 3], Box<dyn Fn(f32) -> [u8; 3]>, Box<dyn Fn(f32) -> [u8; 3]>) = match self {
            Palette::Scientific(_) | Palette::File(_) => {
                let map = match self {
                    Palette::File(map) => map,
                    Palette::Scientific(i) => &colormaps::all()[usize::from(i)],
                    _ => unreachable!(),
                };
                match map.kind {
                    Kind::Sequential => (map.at(0.0), Box::new(|a| map.at(a)), Box::new(|a| map.at(a))),
                    // The centre of 256 entries lies between 127 and 128: take the mean.
                    Kind::Diverging | Kind::Cyclic => {
                        let centre = std::array::from_fn(|k| ((u16::from(map.rgb[127][k]) + u16::from(map.rgb[128][k]) + 1) / 2) as u8);
                        (centre, Box::new(|a| map.at(0.5 + 0.5 * a)), Box::new(|a| map.at(0.5 - 0.5 * a)))
                    }
                }
            }
            own => {
                let (bg, on, off) = match own {
                    Palette::Gray => ([128, 128, 128], [255, 255, 255], [0, 0, 0]),
                    Palette::Dark => ([30, 37, 52], [216, 223, 236], [64, 126, 201]),
                    Palette::RedBlue => ([0, 0, 0], [255, 48, 32], [40, 110, 255]),
                    _ => ([255, 255, 255], [0, 0, 0], [160, 160, 160]),
                };
                let mix = move |to: [u8; 3], a: f32| -> [u8; 3] { std::array::from_fn(|k| (f32::from(bg[k]) + (f32::from(to[k]) - f32::from(bg[k])) * a).round() as u8) };
                (bg, Box::new(move |a| mix(on, a)), Box::new(move |a| mix(off, a)))
            }
        };
        c[0] = bg;
        for level in 1..=LEVELS {
            let a = f32::from(level) / f32::from(LEVELS);
            c[usize::from(index(true, level))] = on(a);
            c[usize::from(index(false, level))] = off(a);
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

    #[test]
    fn scientific_maps_by_name() {
        assert_eq!(Palette::parse("red-blue"), Ok(Palette::RedBlue));
        let vik = Palette::parse("VIK").unwrap();
        let map = colormaps::all().iter().find(|m| m.name == "vik").unwrap();
        let c = vik.colors();
        // Diverging: ON at full is the map's end, OFF its start, the background its centre.
        assert_eq!(c[usize::from(index(true, LEVELS))], map.rgb[255]);
        assert_eq!(c[usize::from(index(false, LEVELS))], map.rgb[0]);
        assert!(c[0].iter().all(|&v| v > 200), "{:?}", c[0]);
        // Sequential: both polarities fade from the start to the end.
        let batlow = Palette::parse("batlow").unwrap().colors();
        assert_eq!(batlow[usize::from(index(true, LEVELS))], batlow[usize::from(index(false, LEVELS))]);
        // A file: two rows, blue to red, resampled to 256 and read as diverging.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("br.csv");
        std::fs::write(&file, "0,0,1\n1.0, 0.0, 0.0\n").unwrap();
        let c = Palette::parse(file.to_str().unwrap()).unwrap().colors();
        assert_eq!((c[usize::from(index(true, LEVELS))], c[usize::from(index(false, LEVELS))], c[0]), ([255, 0, 0], [0, 0, 255], [128, 0, 128]));
        let c = Palette::parse(&format!("{}:sequential", file.display())).unwrap().colors();
        assert_eq!((c[0], c[usize::from(index(false, LEVELS))]), ([0, 0, 255], [255, 0, 0]));
        std::fs::write(&file, "0,0,1\n1,0\n").unwrap();
        let err = Palette::parse(file.to_str().unwrap()).unwrap_err();
        assert!(err.contains("br.csv") && err.contains("line 2"), "{err}");
        let err = Palette::parse("jet").unwrap_err();
        assert!(err.contains("jet") && err.contains("batlow") && err.contains("gray"), "{err}");
    }
}
