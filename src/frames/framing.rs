//! A model's `framing` metadata: how a recording becomes the `[T, C, H, W]` frames the model was
//! trained on. JSON, e.g. `{"split_by": "number", "frames": 10, "resize": "48x48"}`:
//!
//! - `split_by`: `number` | `time` (SpikingJelly) | `duration` (+ `duration_us`, `sj_version`)
//!   | `tonic_time_bins` | `tonic_event_bins` (+ `overlap`) — default `number`;
//! - `frames`: T (default: the model's timesteps);
//! - `sensor`: `"WxH"` or `[W, H]`, when the recording's header lacks it;
//! - `resize`: `"HxW"` or `[H, W]`, torchvision antialiased bilinear, when the sensor differs
//!   from the input;
//! - `polarity`: `split` (2 channels, default) or `merged`.

use serde_json::Value;

use super::resize::resize;
use super::slicing::SjVersion;
use super::{FrameError, Frames, Polarity, Slicing, bin_slices, slice};
use crate::events::{Recording, Resolution};

#[derive(Clone, Debug, PartialEq)]
pub struct Framing {
    pub slicing: Slicing,
    pub sensor: Option<Resolution>,
    pub resize: Option<(usize, usize)>,
    pub polarity: Polarity,
}

#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    #[error("framing metadata: {0}")]
    Spec(String),
    #[error("the recording has no sensor size and the model's framing gives none; pass --sensor WxH")]
    NoSensor,
    #[error(transparent)]
    Frames(#[from] FrameError),
    #[error("frames are {got:?} but the model takes [{}, {}, {}] per timestep; set framing 'resize' or check the model", want[0], want[1], want[2])]
    Shape { got: [usize; 3], want: [usize; 3] },
}

/// A pair given as `"AxB"` or `[A, B]`.
fn pair(v: &Value) -> Option<(usize, usize)> {
    match v {
        Value::String(text) => {
            let (a, b) = text.split_once(['x', 'X'])?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        }
        Value::Array(a) if a.len() == 2 => Some((a[0].as_u64()? as usize, a[1].as_u64()? as usize)),
        _ => None,
    }
}

impl Framing {
    /// Parses the metadata object; `timesteps` is the default frame count.
    pub fn from_json(v: Option<&Value>, timesteps: usize) -> Result<Self, FramingError> {
        let empty = Value::Object(Default::default());
        let v = v.unwrap_or(&empty);
        let s = |k: &str| v.get(k).and_then(Value::as_str);
        let frames = v.get("frames").and_then(Value::as_u64).map_or(timesteps, |f| f as usize);
        let overlap = v.get("overlap").and_then(Value::as_f64).unwrap_or(0.0);
        let slicing = match s("split_by").unwrap_or("number") {
            "number" => Slicing::SjNumber { frames },
            "time" => Slicing::SjTime { frames },
            "duration" => Slicing::SjDuration {
                duration_us: v.get("duration_us").and_then(Value::as_u64).ok_or_else(|| FramingError::Spec("split_by duration needs duration_us".into()))?,
                version: if s("sj_version") == Some("legacy") { SjVersion::Legacy } else { SjVersion::V2 },
            },
            "tonic_time_bins" => Slicing::TonicTimeBins { bins: frames, overlap },
            "tonic_event_bins" => Slicing::TonicEventBins { bins: frames, overlap },
            other => return Err(FramingError::Spec(format!("unknown split_by '{other}'"))),
        };
        let sensor = match v.get("sensor") {
            None => None,
            Some(t) => {
                let (w, h) = pair(t).filter(|&(w, h)| w > 0 && h > 0 && w <= 65535 && h <= 65535).ok_or_else(|| FramingError::Spec(format!("sensor {t} is not \"WxH\" or [W, H]")))?;
                Some(Resolution::new(w as u16, h as u16))
            }
        };
        let resize = match v.get("resize") {
            None => None,
            Some(t) => Some(pair(t).filter(|&(h, w)| h > 0 && w > 0).ok_or_else(|| FramingError::Spec(format!("resize {t} is not \"HxW\" or [H, W]")))?),
        };
        let polarity = match s("polarity").unwrap_or("split") {
            "split" => Polarity::Split,
            "merged" => Polarity::Merged,
            other => return Err(FramingError::Spec(format!("unknown polarity '{other}'"))),
        };
        Ok(Self { slicing, sensor, resize, polarity })
    }

    /// Frames `[T, C, H, W]` for a recording; `input` is the model's per-step `[C, H, W]`.
    pub fn frames(&self, recording: &Recording, input: [usize; 3]) -> Result<Frames, FramingError> {
        let sensor = recording.resolution.or(self.sensor).ok_or(FramingError::NoSensor)?;
        let ranges = slice(&recording.events, self.slicing)?;
        let mut frames = bin_slices(&recording.events, &ranges, sensor, self.polarity)?;
        if let Some((h, w)) = self.resize {
            frames = resize(&frames, h, w);
        }
        let got = [frames.channels, frames.height, frames.width];
        if got != input {
            return Err(FramingError::Shape { got, want: input });
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_arrays_both_parse() {
        let a = Framing::from_json(Some(&serde_json::json!({"frames": 8, "sensor": "128x96", "resize": "48x40"})), 10).unwrap();
        let b = Framing::from_json(Some(&serde_json::json!({"frames": 8, "sensor": [128, 96], "resize": [48, 40]})), 10).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.sensor, Some(Resolution::new(128, 96)));
        assert_eq!(a.resize, Some((48, 40)));
        assert_eq!(a.slicing, Slicing::SjNumber { frames: 8 });
        assert!(Framing::from_json(Some(&serde_json::json!({"resize": "big"})), 10).is_err());
        assert_eq!(Framing::from_json(None, 10).unwrap().slicing, Slicing::SjNumber { frames: 10 });
    }
}
