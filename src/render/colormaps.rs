//! Fabio Crameri's Scientific Colour Maps under the names faery uses for them (`batlow`, `vik`,
//! `roma_o`, …), read from `assets/colormaps/crameri.bin` (written by
//! `scripts/assets/colormaps.py` from the MIT-licensed `cmcrameri` package) that is embedded
//! in the binary; and any map from a file ([`from_file`]), e.g. faery's own `starry_night`
//! (LGPL, so not embedded here), written out with faery.

use std::sync::OnceLock;

/// How a map is read, as faery classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Low to high: the background is the map's start, both polarities go towards its end.
    Sequential,
    /// Two sides of a centre: the background is the centre, ON goes to the end, OFF to the start.
    Diverging,
    /// As diverging (the ends meet).
    Cyclic,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Colormap {
    pub name: String,
    pub kind: Kind,
    pub rgb: [[u8; 3]; 256],
}

static ASSET: &[u8] = include_bytes!("../../assets/colormaps/crameri.bin");

/// Every embedded map, in the asset's order.
pub fn all() -> &'static [Colormap] {
    static MAPS: OnceLock<Vec<Colormap>> = OnceLock::new();
    MAPS.get_or_init(|| parse(ASSET).expect("assets/colormaps/crameri.bin is well formed (checked by a unit test)"))
}

fn parse(bytes: &[u8]) -> Result<Vec<Colormap>, String> {
    let rest = bytes.strip_prefix(b"SSCM").ok_or("no SSCM magic")?;
    let (&count, mut rest) = rest.split_first().ok_or("no count")?;
    let mut maps = Vec::with_capacity(usize::from(count));
    for i in 0..count {
        let (&len, tail) = rest.split_first().ok_or(format!("map {i}: truncated"))?;
        let len = usize::from(len);
        if tail.len() < len + 1 + 768 {
            return Err(format!("map {i}: truncated"));
        }
        let name = String::from_utf8(tail[..len].to_vec()).map_err(|_| format!("map {i}: name is not UTF-8"))?;
        let kind = match tail[len] {
            0 => Kind::Sequential,
            1 => Kind::Diverging,
            2 => Kind::Cyclic,
            k => return Err(format!("map {name}: kind {k}")),
        };
        let table = &tail[len + 1..len + 1 + 768];
        let rgb = std::array::from_fn(|j| [table[3 * j], table[3 * j + 1], table[3 * j + 2]]);
        maps.push(Colormap { name, kind, rgb });
        rest = &tail[len + 1 + 768..];
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes after the last map", rest.len()));
    }
    Ok(maps)
}

/// The most rows a colour map file may have (a file is read whole).
const MAX_ROWS: usize = 65_536;

/// A colour map from a text file: one colour a line, three numbers separated by commas or
/// spaces, all in 0…1 or all in 0…255 (decided by the largest); `#` starts a comment. Any
/// number of rows (2…65,536) is resampled to 256 by linear interpolation. `kind`:
/// `sequential`, `diverging` or `cyclic`. Errors name the file and line.
pub fn from_file(path: &std::path::Path, kind: &str) -> Result<Colormap, String> {
    let name = path.display().to_string();
    let kind = match kind {
        "sequential" => Kind::Sequential,
        "diverging" => Kind::Diverging,
        "cyclic" => Kind::Cyclic,
        other => return Err(format!("{name}: colour map kind '{other}' (sequential, diverging or cyclic)")),
    };
    let meta = std::fs::metadata(path).map_err(|e| format!("{name}: {e}"))?;
    if meta.len() > 64 * MAX_ROWS as u64 {
        return Err(format!("{name}: {} bytes is too large for a colour map", meta.len()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    let mut rows: Vec<[f64; 3]> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let values: Vec<f64> = line.split(|c: char| c == ',' || c.is_whitespace()).filter(|v| !v.is_empty()).map(str::parse).collect::<Result<_, _>>().map_err(|_| format!("{name}: line {}: '{line}' is not three numbers", i + 1))?;
        match values[..] {
            [r, g, b] if values.iter().all(|v| v.is_finite() && *v >= 0.0 && *v <= 255.0) => rows.push([r, g, b]),
            _ => return Err(format!("{name}: line {}: '{line}': three numbers in 0…1 or 0…255 expected", i + 1)),
        }
        if rows.len() > MAX_ROWS {
            return Err(format!("{name}: more than {MAX_ROWS} colours"));
        }
    }
    if rows.len() < 2 {
        return Err(format!("{name}: a colour map needs at least 2 colours, found {}", rows.len()));
    }
    let scale = if rows.iter().flatten().any(|&v| v > 1.0) { 1.0 } else { 255.0 };
    let rgb = std::array::from_fn(|j| {
        let x = j as f64 / 255.0 * (rows.len() - 1) as f64;
        let (i, f) = ((x.floor() as usize).min(rows.len() - 2), x - x.floor().min((rows.len() - 2) as f64));
        std::array::from_fn(|k| ((rows[i][k] + (rows[i + 1][k] - rows[i][k]) * f) * scale).round().clamp(0.0, 255.0) as u8)
    });
    Ok(Colormap { name, kind, rgb })
}

impl Colormap {
    /// The colour at `position` in 0…1 (the nearest of the 256 entries).
    pub fn at(&self, position: f32) -> [u8; 3] {
        self.rgb[(position.clamp(0.0, 1.0) * 255.0).round() as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_asset_holds_faerys_names() {
        let maps = all();
        assert_eq!(maps.len(), 35);
        let names: Vec<&str> = maps.iter().map(|m| m.name.as_str()).collect();
        for name in ["batlow", "vik", "roma_o", "berlin", "lajolla"] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        let vik = maps.iter().find(|m| m.name == "vik").unwrap();
        assert_eq!(vik.kind, Kind::Diverging);
        // vik runs from dark blue through near white to dark red.
        let [r0, _, b0] = vik.at(0.0);
        let [r1, _, b1] = vik.at(1.0);
        assert!(b0 > r0 && r1 > b1, "{:?} … {:?}", vik.at(0.0), vik.at(1.0));
        assert!(vik.at(0.5).iter().all(|&c| c > 200), "{:?}", vik.at(0.5));
    }

    #[test]
    fn a_damaged_asset_is_refused() {
        assert!(parse(b"XXXX").is_err());
        assert!(parse(&ASSET[..ASSET.len() - 1]).is_err());
        let mut extra = ASSET.to_vec();
        extra.push(0);
        assert!(parse(&extra).is_err());
    }
}
