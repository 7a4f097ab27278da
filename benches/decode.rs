//! Decoding throughput (events/s) of every format: a whole in-memory file into a reused
//! `Vec<Event>` (cleared between iterations), the way the engine reads.
//!
//! Inputs: the large synthetic files of `common/synth.rs` (about 5 M events each, so timings are
//! stable), and the real sample recordings from `../shared/fixtures` when that folder exists
//! (their licences keep them out of the repository; each absent file is noted and skipped).
//! `SPIKESTREAM_BENCH_EVENTS` changes the synthetic size. For the comparison with other
//! decoders on one core, see `scripts/bench_decode.py`.

#[path = "common/synth.rs"]
mod synth;

use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use spikestream::events::{DecoderOptions, Event, Format, new_decoder};

/// Real recordings worth timing: (format, path under ../shared/fixtures).
const FIXTURES: [(Format, &str); 8] = [
    (Format::Evt2, "expelliarmus/evt2_sample.raw"),
    (Format::Evt3, "expelliarmus/evt3_sample.raw"),
    (Format::Evt3, "derived/evt3_trigger_from_rosbag.raw"),
    (Format::Dat, "tonic/sample_ncars.dat"),
    (Format::Aedat4, "tonic/sample.aedat4"),
    (Format::Aedat2, "PyAedatTools/IMU_translBoxes.aedat"),
    (Format::Aedat31, "derived/dvxplorer_rollover_aedat31.aedat"),
    (Format::AtisBin, "tonic/sample_nmnist.bin"),
];

fn decode_into(format: Format, bytes: &[u8], out: &mut Vec<Event>) {
    let mut decoder = new_decoder(format, DecoderOptions::default());
    decoder.feed(bytes, out).and_then(|()| decoder.finish(out)).expect("benchmark input decodes");
}

fn bench_one(c: &mut Criterion, format: Format, name: &str, bytes: &[u8]) {
    let mut out = Vec::new();
    decode_into(format, bytes, &mut out);
    let events = out.len() as u64;
    let mut group = c.benchmark_group(format!("decode/{}", format.name()));
    group.throughput(Throughput::Elements(events));
    // Big inputs take tens of ms per run: few samples suffice; small ones get more.
    let big = bytes.len() > 4 << 20;
    group.sample_size(if big { 10 } else { 30 });
    group.warm_up_time(Duration::from_millis(if big { 500 } else { 300 }));
    group.measurement_time(Duration::from_secs(if big { 3 } else { 1 }));
    group.bench_function(BenchmarkId::from_parameter(name), |b| {
        b.iter(|| {
            out.clear();
            decode_into(format, bytes, &mut out);
            out.len()
        })
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    let n = std::env::var("SPIKESTREAM_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000_000);
    for s in synth::all(n) {
        bench_one(c, s.format, s.name, &s.bytes);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    for (format, file) in FIXTURES {
        let path = root.join(file);
        match std::fs::read(&path) {
            Ok(bytes) => bench_one(c, format, file, &bytes),
            Err(_) => eprintln!("NOTE: fixture {} is absent; its benchmark is skipped", path.display()),
        }
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
