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

use std::path::Path;

use serde_json::Value;

use super::resize::resize;
use super::slicing::SjVersion;
use super::{FrameError, Frames, Polarity, Slicing, bin_slices, slice};
use crate::limits::MAX_FRAMES;
use super::streamed::{FileFramesError, FileTimeline, bin_file, rereadable};
use crate::events::ReadOptions;
use crate::events::{ReadError, Recording, Resolution, read_file};

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
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the recording has no events; there is nothing to classify (is it cut short or empty?)")]
    NoEvents,
    #[error("the recording has {events} events, fewer than the {frames} frames the framing cuts it into, so some frames would be empty")]
    TooFewEvents { events: usize, frames: usize },
    #[error("frames are {got:?} but the model takes [{}, {}, {}] per timestep; set framing 'resize' or check the model", want[0], want[1], want[2])]
    Shape { got: [usize; 3], want: [usize; 3] },
}

/// A positive integer at `key`, at most `limit`: a float (`1e9`), a negative or a zero is an
/// error naming the key, not a silent default.
fn count(key: &str, v: &Value, limit: u64) -> Result<usize, FramingError> {
    let n = v.as_u64().filter(|&n| n > 0).ok_or_else(|| FramingError::Spec(format!("'{key}' = {v} is not a positive integer")))?;
    crate::limits::count(|| format!("'{key}'"), n, limit).map_err(|e| FramingError::Spec(e.to_string()))
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
        let frames = match v.get("frames") {
            None => timesteps,
            Some(f) => count("frames", f, MAX_FRAMES)?,
        };
        let overlap = v.get("overlap").and_then(Value::as_f64).unwrap_or(0.0);
        let slicing = match s("split_by").unwrap_or("number") {
            "number" => Slicing::SjNumber { frames },
            "time" => Slicing::SjTime { frames },
            "duration" => Slicing::SjDuration {
                duration_us: count("duration_us", v.get("duration_us").ok_or_else(|| FramingError::Spec("split_by duration needs duration_us".into()))?, u64::MAX)? as u64,
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
            Some(t) => {
                let (h, w) = pair(t).filter(|&(h, w)| h > 0 && w > 0).ok_or_else(|| FramingError::Spec(format!("resize {t} is not \"HxW\" or [H, W]")))?;
                crate::limits::tensor(|| format!("'resize' {t}"), &[2, h, w], 4).map_err(|e| FramingError::Spec(e.to_string()))?;
                Some((h, w))
            }
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
        let sensor = self.check(recording.resolution, recording.events.len(), input)?;
        let ranges = slice(&recording.events, self.slicing)?;
        self.finish(bin_slices(&recording.events, &ranges, sensor, self.polarity)?, input)
    }

    /// Frames for the recording in `path`, read batch by batch ([`super::streamed`]: a pass
    /// for the length and time span, one more for time-based frame boundaries, one to bin;
    /// memory is the frames plus one batch); a pipe, which can be read only once, and a single
    /// polarity channel are read whole. The same frames as [`Framing::frames`] of the whole
    /// recording.
    pub fn frames_from_file(&self, path: &Path, options: ReadOptions, input: [usize; 3]) -> Result<Frames, FramingError> {
        if self.polarity == Polarity::Single || !rereadable(path) {
            return self.frames(&read_file(path, options)?, input);
        }
        let from_file = |e| match e {
            FileFramesError::Read(e) => FramingError::Read(e),
            FileFramesError::Frames(e) => FramingError::Frames(e),
        };
        let mut timeline = FileTimeline::open(path, options)?;
        let sensor = self.check(timeline.resolution(), timeline.events(), input)?;
        let ranges = timeline.ranges(self.slicing).map_err(from_file)?;
        let frames = bin_file(path, options, &ranges, sensor, self.polarity).map_err(from_file)?;
        self.finish(frames, input)
    }

    /// The sensor, once what is known before any work passes: the output size (a resize to
    /// anything but the model's input, or a sensor that differs from it without one, is refused
    /// before allocating) and enough events for the frames.
    fn check(&self, resolution: Option<Resolution>, events: usize, input: [usize; 3]) -> Result<Resolution, FramingError> {
        let sensor = resolution.or(self.sensor).ok_or(FramingError::NoSensor)?;
        let (fh, fw) = self.resize.unwrap_or((usize::from(sensor.height), usize::from(sensor.width)));
        let got = [self.polarity.channels(), fh, fw];
        if got != input {
            return Err(FramingError::Shape { got, want: input });
        }
        if events == 0 {
            return Err(FramingError::NoEvents);
        }
        if let Slicing::SjNumber { frames } | Slicing::TonicEventBins { bins: frames, .. } = self.slicing {
            if events < frames {
                return Err(FramingError::TooFewEvents { events, frames });
            }
        }
        Ok(sensor)
    }

    fn finish(&self, mut frames: Frames, input: [usize; 3]) -> Result<Frames, FramingError> {
        if let Some((h, w)) = self.resize {
            frames = resize(&frames, h, w)?;
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
