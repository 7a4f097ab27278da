//! Fabio Crameri's Scientific Colour Maps under the names faery uses for them (`batlow`, `vik`,
//! `roma_o`, …), read from `assets/colormaps/crameri.bin` (written by
//! `scripts/assets/colormaps.py` from the MIT-licensed `cmcrameri` package) that is embedded
//! in the binary.

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
