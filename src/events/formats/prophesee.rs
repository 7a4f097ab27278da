//! The `% key value` header of Prophesee RAW and DAT files, and the sensor size it implies.

use crate::events::Resolution;
use super::text_header::TextHeader;

#[derive(Clone, Debug, Default)]
pub struct PropheseeHeader {
    /// Every `% key value` line in file order.
    pub fields: Vec<(String, String)>,
    pub resolution: Option<Resolution>,
    /// Where `resolution` came from (`geometry`, `format`, `Width/Height`, `plugin_name`).
    pub resolution_source: Option<&'static str>,
}

impl PropheseeHeader {
    pub(crate) fn parse(header: &TextHeader) -> Self {
        let mut fields = Vec::new();
        for line in header.lines() {
            let mut parts = line.splitn(2, char::is_whitespace);
            let key = parts.next().unwrap_or_default().to_string();
            let value = parts.next().unwrap_or_default().trim().to_string();
            if !key.is_empty() && key != "end" {
                fields.push((key, value));
            }
        }
        let mut h = Self { fields, ..Self::default() };
        (h.resolution, h.resolution_source) = h.find_resolution();
        h
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }

    /// The EVT version named by `% evt` or `% format`, e.g. `2.0`, `3.0`, `2.1`.
    pub fn evt_version(&self) -> Option<String> {
        if let Some(v) = self.get("evt") {
            return Some(v.to_string());
        }
        let format = self.get("format")?;
        let name = format.split(';').next()?.trim().to_ascii_uppercase();
        let digits = name.strip_prefix("EVT")?;
        Some(match digits {
            "2" => "2.0".to_string(),
            "21" => "2.1".to_string(),
            "3" => "3.0".to_string(),
            other => other.to_string(),
        })
    }

    fn find_resolution(&self) -> (Option<Resolution>, Option<&'static str>) {
        if let Some(r) = self.get("geometry").and_then(Resolution::parse) {
            return (Some(r), Some("geometry"));
        }
        if let Some(format) = self.get("format") {
            let (mut w, mut h) = (None, None);
            for kv in format.split(';').skip(1) {
                match kv.split_once('=') {
                    Some(("width", v)) => w = v.trim().parse().ok().filter(|&v: &u16| v > 0),
                    Some(("height", v)) => h = v.trim().parse().ok().filter(|&v: &u16| v > 0),
                    _ => {}
                }
            }
            if let (Some(width), Some(height)) = (w, h) {
                return (Some(Resolution { width, height }), Some("format"));
            }
        }
        let dim = |k| self.get(k).and_then(|v| v.parse::<u16>().ok()).filter(|&v| v > 0);
        if let (Some(width), Some(height)) = (dim("Width"), dim("Height")) {
            return (Some(Resolution { width, height }), Some("Width/Height"));
        }
        match self.get("plugin_name").and_then(sensor_of_plugin) {
            Some(r) => (Some(r), Some("plugin_name")),
            None => (None, None),
        }
    }
}

/// Sensor size of the camera a Metavision HAL plugin drives (old RAW files name only the plugin).
fn sensor_of_plugin(plugin: &str) -> Option<Resolution> {
    let p = plugin.to_ascii_lowercase();
    let known: [(&str, (u16, u16)); 6] = [
        ("gen41", (1280, 720)),
        ("imx636", (1280, 720)),
        ("evk4", (1280, 720)),
        ("genx320", (320, 320)),
        ("gen31", (640, 480)),
        ("gen3", (640, 480)),
    ];
    known.iter().find(|(k, _)| p.contains(k)).map(|&(_, (width, height))| Resolution { width, height })
}

/// Header fields plus where the resolution came from, for `inspect`.
pub(crate) fn metadata(header: &PropheseeHeader) -> Vec<(String, String)> {
    let mut m = header.fields.clone();
    if let Some(source) = header.resolution_source {
        m.push(("resolution from".into(), source.into()));
    }
    m
}
