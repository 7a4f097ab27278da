//! Frames equal the reference code on real recordings: SpikingJelly (split by number, by time,
//! fixed duration) and tonic (`ToFrame` n_time_bins, n_event_bins with overlap, time_window
//! with overlap, event_count with overlap) bit for bit (sha256 of the f32 frames), and
//! torchvision's antialiased Resize within 1e-6. Fixtures: scripts/fixtures/make_frame_fixtures.py.

mod common;

use std::path::Path;

use sha2::{Digest, Sha256};
use spikestream::events::ReadOptions;
use spikestream::events::{DecoderOptions, Resolution, read_file};
use spikestream::frames::slicing::SjVersion;
use spikestream::frames::{Frames, Polarity, Slicing, bin_slices, npy, resize::resize, slice};

fn sha256(frames: &Frames) -> String {
    let mut h = Sha256::new();
    for v in &frames.data {
        h.update(v.to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn check(name: &str, case: &str, want: &serde_json::Value, got: &Frames) {
    assert_eq!(got.shape().to_vec(), want["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect::<Vec<_>>(), "{name} {case}: shape");
    let sums: Vec<f64> = (0..got.frames).map(|i| got.frame(i).iter().map(|&v| f64::from(v)).sum()).collect();
    let want_sums: Vec<f64> = want["frame_sums"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(sums, want_sums, "{name} {case}: events per frame");
    assert_eq!(sha256(got), want["sha256"].as_str().unwrap(), "{name} {case}: frame digest");
}

#[test]
fn frames_equal_spikingjelly_and_tonic_and_resize_equals_torchvision() {
    let text = std::fs::read_to_string(common::data("frames/reference_frames.json")).unwrap();
    let fixtures: serde_json::Value = serde_json::from_str(&text).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut recordings = 0;
    for (name, c) in fixtures["cases"].as_object().unwrap() {
        let path = root.join(c["file"].as_str().unwrap());
        if !path.exists() {
            eprintln!("NOTE: {} is absent; frame checks for {name} skipped", path.display());
            continue;
        }
        let (w, h) = (c["width"].as_u64().unwrap() as u16, c["height"].as_u64().unwrap() as u16);
        let sensor = Resolution::new(w, h);
        let options = ReadOptions { decoder: DecoderOptions { resolution: Some(sensor), ..Default::default() }, ..Default::default() };
        let ev = read_file(&path, options).unwrap().events;
        assert_eq!(ev.len() as u64, c["events"].as_u64().unwrap(), "{name}");
        let frames = |s: Slicing| bin_slices(&ev, &slice(&ev, s).unwrap(), sensor, Polarity::Split).unwrap();
        for n in [10, 16] {
            check(name, "sj_number", &c[format!("sj_number_{n}")], &frames(Slicing::SjNumber { frames: n }));
        }
        match c["sj_time_10"].get("error") {
            Some(_) => assert!(slice(&ev, Slicing::SjTime { frames: 10 }).is_err(), "{name}: SpikingJelly failed on an empty time bin"),
            None => check(name, "sj_time", &c["sj_time_10"], &frames(Slicing::SjTime { frames: 10 })),
        }
        let d = &c["sj_duration_legacy"];
        check(name, "sj_duration", d, &frames(Slicing::SjDuration { duration_us: d["duration_us"].as_u64().unwrap(), version: SjVersion::Legacy }));
        check(name, "tonic_n_time_bins", &c["tonic_n_time_bins_10"], &frames(Slicing::TonicTimeBins { bins: 10, overlap: 0.0 }));
        check(name, "tonic_n_event_bins", &c["tonic_n_event_bins_8_overlap_0.25"], &frames(Slicing::TonicEventBins { bins: 8, overlap: 0.25 }));
        let tw = &c["tonic_time_window"];
        let window = tw["window_us"].as_u64().unwrap();
        check(name, "tonic_time_window", tw, &frames(Slicing::TonicTimeWindow { window: window as f64, overlap: (window / 4) as f64, include_incomplete: true }));
        let ec = &c["tonic_event_count"];
        let count = ec["count"].as_u64().unwrap() as usize;
        check(name, "tonic_event_count", ec, &frames(Slicing::TonicEventCount { count, overlap: ev.len() / 20, include_incomplete: false }));
        if let Some(r) = c.get("resize") {
            let (rh, rw) = (r["input"][0].as_u64().unwrap() as u16, r["input"][1].as_u64().unwrap() as u16);
            let sub: Vec<_> = ev.iter().filter(|e| e.x < rw && e.y < rh).copied().collect();
            let binned = bin_slices(&sub, &slice(&sub, Slicing::SjNumber { frames: 10 }).unwrap(), Resolution::new(rw, rh), Polarity::Split).unwrap();
            let got = resize(&binned, 48, 48).unwrap();
            let want = npy::read(&std::fs::read(common::data(&format!("frames/{}", r["file"].as_str().unwrap()))).unwrap()).unwrap();
            assert_eq!(want.shape, got.shape().to_vec());
            let (mut worst, mut at) = (0f32, 0);
            for (i, (a, b)) in got.data.iter().zip(&want.data).enumerate() {
                if (a - b).abs() > worst {
                    (worst, at) = ((a - b).abs(), i);
                }
            }
            eprintln!("{name}: resize {rh}x{rw} -> 48x48, largest difference to torchvision {worst:e} at {at}");
            assert!(worst <= 1e-6, "{name}: resize differs from torchvision by {worst} at index {at} (got {}, want {})", got.data[at], want.data[at]);
        }
        recordings += 1;
    }
    assert!(recordings >= 3, "only {recordings} recordings checked");
}
