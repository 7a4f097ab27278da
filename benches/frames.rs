//! Count binning and resize throughput (criterion). The side-by-side comparison with
//! SpikingJelly and tonic is scripts/bench_frames.py.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spikestream::events::{Event, Resolution};
use spikestream::frames::resize::resize;
use spikestream::frames::{Polarity, Slicing, bin_slices, slice};

fn events(n: usize, w: u64, h: u64) -> Vec<Event> {
    (0..n as u64).map(|i| Event::new(i / 4, ((i * 7919 + 13) % w) as u16, ((i * 104_729 + 7) % h) as u16, (i * 31 >> 3) & 1 == 1)).collect()
}

fn binning(c: &mut Criterion) {
    let ev = events(4_000_000, 128, 128);
    let mut g = c.benchmark_group("binning");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ev.len() as u64));
    g.bench_function("split_by_number_10x2x128x128", |b| {
        b.iter(|| bin_slices(&ev, &slice(&ev, Slicing::SjNumber { frames: 10 }).unwrap(), Resolution::new(128, 128), Polarity::Split).unwrap())
    });
    g.bench_function("tonic_time_bins_10x2x128x128", |b| {
        b.iter(|| bin_slices(&ev, &slice(&ev, Slicing::TonicTimeBins { bins: 10, overlap: 0.0 }).unwrap(), Resolution::new(128, 128), Polarity::Split).unwrap())
    });
    g.finish();
    let frames = bin_slices(&ev, &slice(&ev, Slicing::SjNumber { frames: 10 }).unwrap(), Resolution::new(128, 128), Polarity::Split).unwrap();
    let mut g = c.benchmark_group("resize");
    g.sample_size(10);
    g.throughput(Throughput::Elements(frames.data.len() as u64));
    g.bench_function("aa_bilinear_10x2x128x128_to_48x48", |b| b.iter(|| resize(&frames, 48, 48).unwrap()));
    g.finish();
}

criterion_group!(benches, binning);
criterion_main!(benches);
