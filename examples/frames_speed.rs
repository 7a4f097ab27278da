//! Count-binning speed on one core, for scripts/bench_frames.py: bins N formula-generated
//! events (the same formula the script uses for the Python peers) into T frames, split by
//! number, and prints events/s as JSON.
//!
//! `cargo run --release --example frames_speed -- N T W H REPEATS`

use std::time::Instant;

use spikestream::events::{Event, Resolution};
use spikestream::frames::{Polarity, Slicing, bin_slices, slice};

/// The shared synthetic recording: t non-decreasing, pixels spread over the sensor.
pub fn events(n: usize, w: u64, h: u64) -> Vec<Event> {
    (0..n as u64).map(|i| Event::new(i / 4, ((i * 7919 + 13) % w) as u16, ((i * 104_729 + 7) % h) as u16, (i * 31 >> 3) & 1 == 1)).collect()
}

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().expect("numbers")).collect();
    let (n, t, w, h, repeats) = match a[..] {
        [n, t, w, h, r] => (n, t, w, h, r),
        _ => (20_000_000, 10, 128, 128, 5),
    };
    let ev = events(n, w as u64, h as u64);
    let sensor = Resolution::new(w as u16, h as u16);
    let mut best = f64::INFINITY;
    let mut total = 0.0;
    for _ in 0..repeats {
        let start = Instant::now();
        let ranges = slice(&ev, Slicing::SjNumber { frames: t }).expect("slices");
        let frames = bin_slices(&ev, &ranges, sensor, Polarity::Split).expect("in sensor");
        let dt = start.elapsed().as_secs_f64();
        total = frames.data.iter().map(|&v| f64::from(v)).sum::<f64>();
        best = best.min(dt);
    }
    assert_eq!(total as usize, n, "every event counted once");
    println!("{{\"events\": {n}, \"frames\": {t}, \"best_s\": {best:.6}, \"events_per_s\": {:.0}}}", n as f64 / best);
}
