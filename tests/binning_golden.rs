//! Slicing and binning equal the real tonic 1.7.0 and SpikingJelly (2.0.0 and 0.0.0.0.14) code
//! on the golden vectors of `tests/data/binning_golden.json` (produced by running their code).

mod common;

use spikestream::events::{Event, Resolution};
use spikestream::frames::slicing::SjVersion;
use spikestream::frames::{FrameError, Polarity, Slicing, bin_slices, slice};

fn golden() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(common::data("binning_golden.json")).unwrap()).unwrap()
}

/// The golden inputs: x = i % 4, y = (i // 4) % 3, p = (i % 3 == 0) on a 4x3 sensor.
fn events(ts: &[u64]) -> Vec<Event> {
    ts.iter().enumerate().map(|(i, &t)| Event::new(t, (i % 4) as u16, ((i / 4) % 3) as u16, i % 3 == 0)).collect()
}

fn parse_key(key: &str) -> Option<Slicing> {
    let kv: std::collections::HashMap<&str, &str> = key.split(',').filter_map(|p| p.split_once('=')).collect();
    let f = |k: &str| kv.get(k).map(|v| v.parse::<f64>().unwrap());
    let incomplete = kv.get("include_incomplete") == Some(&"True");
    if let Some(w) = f("time_window") {
        return Some(Slicing::TonicTimeWindow { window: w, overlap: f("overlap").unwrap(), include_incomplete: incomplete });
    }
    if let Some(c) = f("event_count") {
        return Some(Slicing::TonicEventCount { count: c as usize, overlap: f("overlap").unwrap() as usize, include_incomplete: incomplete });
    }
    if key.starts_with("n_time_bins") {
        return Some(Slicing::TonicTimeBins { bins: f("n_time_bins").unwrap() as usize, overlap: f("overlap").unwrap() });
    }
    if key.starts_with("n_event_bins") {
        return Some(Slicing::TonicEventBins { bins: f("n_event_bins").unwrap() as usize, overlap: f("overlap").unwrap() });
    }
    match kv.get("split_by") {
        Some(&"number") => Some(Slicing::SjNumber { frames: f("frames_num").unwrap() as usize }),
        Some(&"time") => Some(Slicing::SjTime { frames: f("frames_num").unwrap() as usize }),
        _ => None,
    }
}

fn flat_ints(v: &serde_json::Value, out: &mut Vec<f32>) {
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| flat_ints(x, out)),
        x => out.push(x.as_f64().unwrap() as f32),
    }
}

#[test]
fn every_golden_slicing_and_frame_matches_the_reference_code() {
    let g = golden();
    let sensor = Resolution::new(4, 3);
    let mut checked = 0;
    for case in g["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let ts: Vec<u64> = case["t"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        let ev = events(&ts);
        for lib in ["tonic", "spikingjelly_2_0_0", "spikingjelly_0_0_0_0_14"] {
            for (key, want) in case[lib].as_object().unwrap() {
                let what = format!("{name} / {lib} / {key}");
                if let Some(slicing) = parse_key(key) {
                    let got = slice(&ev, slicing);
                    if let Some(msg) = want.as_str() {
                        assert!(msg.contains("IndexError"), "{what}");
                        assert!(matches!(got, Err(FrameError::EmptyTimeBin { .. })), "{what}: {got:?}");
                    } else {
                        let want: Vec<(usize, usize)> = want.as_array().unwrap().iter().map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_u64().unwrap() as usize)).collect();
                        // Reference slices may end past N (numpy clips when indexing); we clip.
                        let want: Vec<_> = want.iter().map(|&(a, b)| (a.min(ev.len()), b.min(ev.len()))).collect();
                        let got: Vec<_> = got.unwrap().into_iter().map(|r| (r.start, r.end)).collect();
                        assert_eq!(got, want, "{what}");
                    }
                    checked += 1;
                } else if key.starts_with("to_frame(n_time_bins=3)") || key.starts_with("fixed_frames number M=3") {
                    let slicing = if lib == "tonic" { Slicing::TonicTimeBins { bins: 3, overlap: 0.0 } } else { Slicing::SjNumber { frames: 3 } };
                    let frames = bin_slices(&ev, &slice(&ev, slicing).unwrap(), sensor, Polarity::Split).unwrap();
                    let mut want_flat = Vec::new();
                    flat_ints(want, &mut want_flat);
                    assert_eq!(frames.shape(), [3, 2, 3, 4], "{what}");
                    assert_eq!(frames.data, want_flat, "{what}");
                    checked += 1;
                } else if key.starts_with("fixed_duration=30") {
                    let version = if lib == "spikingjelly_2_0_0" { SjVersion::V2 } else { SjVersion::Legacy };
                    let got: Vec<u64> = slice(&ev, Slicing::SjDuration { duration_us: 30, version }).unwrap().iter().map(|r| r.len() as u64).collect();
                    let want: Vec<u64> = want.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
                    assert_eq!(got, want, "{what}");
                    checked += 1;
                } else {
                    panic!("golden key not understood: {what}");
                }
            }
        }
    }
    assert!(checked >= 80, "only {checked} golden entries checked");
}

#[test]
fn events_outside_the_sensor_are_an_error_naming_the_event() {
    let ev = vec![Event::new(1, 0, 0, true), Event::new(2, 4, 1, false)];
    let err = bin_slices(&ev, &[0..2], Resolution::new(4, 3), Polarity::Split).unwrap_err();
    assert_eq!(err, FrameError::OutsideSensor { index: 1, event: ev[1], width: 4, height: 3 });
    assert!(err.to_string().contains("event 1 (t=2, x=4, y=1)"));
}
