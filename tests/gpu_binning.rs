//! GPU event binning (`frames::gpu_binning`) against the CPU's `bin_slices`: the same counts
//! on random events (hot pixels, so atomics collide; empty and overlapping ranges) and the same
//! errors. lavapipe runs it in CI (see tests/gpu_common).

mod gpu_common;

use gpu_common::{EXACT, Rng, assert_close, gpu};
use spikestream::frames::gpu_binning::GpuBinner;
use spikestream::events::{Event, Resolution};
use spikestream::frames::{Polarity, bin_slices};

#[test]
fn gpu_binning_equals_bin_slices() {
    let Some(ctx) = gpu() else { return };
    let mut rng = Rng(30);
    let sensor = Resolution { width: 17, height: 13 };
    for polarity in [Polarity::Split, Polarity::Merged] {
        let binner = GpuBinner::new(ctx.clone(), sensor, polarity);
        for round in 0..4 {
            let n = 50 + rng.below(3000) as usize;
            let mut t = 0;
            let events: Vec<Event> = (0..n)
                .map(|_| {
                    t += rng.below(5);
                    // Hot pixels too, so atomics collide.
                    let (x, y) = if rng.below(4) == 0 { (3, 5) } else { (rng.below(17) as u16, rng.below(13) as u16) };
                    Event::new(t, x, y, rng.below(2) == 1)
                })
                .collect();
            // Random, possibly empty or overlapping ranges.
            let ranges: Vec<_> = (0..1 + round * 3)
                .map(|_| {
                    let a = rng.below(n as u64 + 1) as usize;
                    let b = rng.below(n as u64 + 1) as usize;
                    a.min(b)..a.max(b)
                })
                .collect();
            let expected = bin_slices(&events, &ranges, sensor, polarity).unwrap();
            let got = binner.bin(&events, &ranges).unwrap();
            assert_eq!(expected.shape(), got.shape());
            assert_close(&format!("{polarity:?} round {round}"), &expected.data, &got.data, EXACT);
        }
    }
}

#[test]
fn gpu_binning_reports_the_same_errors() {
    let Some(ctx) = gpu() else { return };
    let sensor = Resolution { width: 4, height: 4 };
    let events = vec![Event::new(0, 1, 1, true), Event::new(1, 4, 0, false), Event::new(2, 0, 9, true)];
    let ranges = [0..1, 1..3];
    let cpu = bin_slices(&events, &ranges, sensor, Polarity::Split).unwrap_err();
    let gpu = GpuBinner::new(ctx.clone(), sensor, Polarity::Split).bin(&events, &ranges).unwrap_err();
    assert_eq!(gpu.to_string(), cpu.to_string());
    let two = bin_slices(&events[..1], std::slice::from_ref(&(0..1)), sensor, Polarity::Single).map(|_| ());
    assert!(two.is_ok());
    let both = vec![Event::new(0, 1, 1, true), Event::new(1, 1, 1, false)];
    let cpu = bin_slices(&both, std::slice::from_ref(&(0..2)), sensor, Polarity::Single).unwrap_err();
    let gpu = GpuBinner::new(ctx, sensor, Polarity::Single).bin(&both, std::slice::from_ref(&(0..2))).unwrap_err();
    assert_eq!(gpu.to_string(), cpu.to_string());
}
