//! Decode speed on one file, for `scripts/bench_decode.py` (which runs the peers beside it).
//!
//! ```text
//! decode_speed synth DIR [EVENTS]        write the synthetic inputs of benches/common/synth.rs
//! decode_speed time FORMAT PATH [SECS]   time decoding PATH; one JSON line
//! decode_speed digest FORMAT PATH [CHUNK] decode in CHUNK-byte pieces; print a digest line
//! decode_speed mutants [EVENTS]          digests of seeded corrupted inputs, every format
//! ```
//!
//! `time` measures three ways: `buffer` decodes the file's bytes (read once into memory) into a
//! reused `Vec<Event>`, the engine's steady state; `file` is [`read_file`] from the path each
//! time (memory map, fresh vector, page faults included), which is what the peers do; `stream`
//! opens the path each time with [`EventReader`] and decodes it batch by batch into one reused
//! buffer (what `inspect` and `convert` do, and what dv-processing's `getNextEventBatch` and
//! expelliarmus's chunked reads do). `digest` and `mutants` exist to check that a decoder
//! optimisation changed no output, error included.

#[path = "../benches/common/synth.rs"]
mod synth;

use std::hash::Hasher;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use spikestream::events::formats::aedat4::{Parallelism, set_parallelism};
use spikestream::events::ReadOptions;
use spikestream::events::{DecoderOptions, Event, EventReader, Format, new_decoder, read_file};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    // `AEDAT4_PARALLEL=always` decodes runs of whole AEDAT4 packets on the rayon pool even with
    // fewer than 4 threads (the library's default engages it only from 4), to measure it.
    match std::env::var("AEDAT4_PARALLEL").as_deref() {
        Ok("always") => set_parallelism(Parallelism::Always),
        Ok("never") => set_parallelism(Parallelism::Never),
        _ => {}
    }
    let format = || arg(1).and_then(Format::from_name).expect("a format name (evt2, evt3, dat, aedat4, aedat2, aedat3.1, atis-bin)");
    match arg(0) {
        Some("synth") => synth_files(Path::new(arg(1).expect("an output folder")), arg(2).map_or(5_000_000, |n| n.parse().expect("an event count"))),
        Some("time") => time(format(), Path::new(arg(2).expect("a path")), arg(3).map_or(2.0, |s| s.parse().expect("seconds"))),
        Some("digest") => {
            let bytes = std::fs::read(arg(2).expect("a path")).expect("a readable file");
            println!("{}", digest(format(), &bytes, arg(3).map_or(usize::MAX, |c| c.parse().expect("a chunk size"))));
        }
        Some("mutants") => mutants(arg(1).map_or(20_000, |n| n.parse().expect("an event count"))),
        _ => {
            eprintln!("usage: decode_speed synth DIR [EVENTS] | time FORMAT PATH [SECS] | digest FORMAT PATH [CHUNK] | mutants [EVENTS]");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn synth_files(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).expect("a writable output folder");
    for s in synth::all(n) {
        let ext = match s.format {
            Format::Evt2 | Format::Evt3 => "raw",
            Format::Dat => "dat",
            Format::Aedat4 => "aedat4",
            Format::Aedat2 | Format::Aedat31 => "aedat",
            _ => "bin",
        };
        let path = dir.join(format!("{}-{}.{ext}", s.format.name(), s.name));
        std::fs::write(&path, &s.bytes).expect("writing a synthetic file");
        println!("{}", serde_json::json!({"format": s.format.name(), "name": s.name, "path": path, "events": s.events, "bytes": s.bytes.len()}));
    }
}

fn decode_into(format: Format, bytes: &[u8], out: &mut Vec<Event>) {
    let mut decoder = new_decoder(format, DecoderOptions::default());
    decoder.feed(bytes, out).and_then(|()| decoder.finish(out)).expect("the input decodes");
}

/// Repeats `f` until `budget` has passed (at least 3 times); returns the sorted wall-clock and
/// the sorted CPU times of the runs.
fn repeat(budget: Duration, mut f: impl FnMut()) -> (Vec<Duration>, Vec<Duration>) {
    let start = Instant::now();
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    while wall.len() < 3 || start.elapsed() < budget {
        let (t, c) = (Instant::now(), cpu_time());
        f();
        wall.push(t.elapsed());
        cpu.push(cpu_time().saturating_sub(c));
    }
    wall.sort();
    cpu.sort();
    (wall, cpu)
}

/// CPU time of this process (user + system, all threads). On a shared machine it leaves out
/// the time other processes held the core; on an idle one it equals wall time for this
/// single-threaded work.
fn cpu_time() -> Duration {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes one timespec into `ts`, which lives for the call.
        if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } == 0 {
            return Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        }
    }
    Duration::ZERO
}

fn time(format: Format, path: &Path, seconds: f64) {
    let bytes = std::fs::read(path).expect("a readable file");
    let mut out = Vec::new();
    decode_into(format, &bytes, &mut out); // warm-up; sizes the buffer once
    let events = out.len();
    let budget = Duration::from_secs_f64(seconds / 3.0);
    let (buffer, buffer_cpu) = repeat(budget, || {
        out.clear();
        decode_into(format, &bytes, &mut out);
        std::hint::black_box(&out);
    });
    let options = ReadOptions { format: Some(format), ..ReadOptions::default() };
    let (file, file_cpu) = repeat(budget, || {
        let rec = read_file(path, options).expect("the file decodes");
        assert_eq!(rec.events.len(), events);
        std::hint::black_box(rec);
    });
    let mut batch = Vec::new();
    let (stream, stream_cpu) = repeat(budget, || {
        let mut reader = EventReader::open(path, options).expect("a readable file");
        let mut n = 0;
        while reader.next_batch(&mut batch).expect("the file decodes") {
            n += batch.len();
            std::hint::black_box(&batch);
        }
        assert_eq!(n, events);
    });
    let secs = |d: &Duration| d.as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "format": format.name(), "path": path, "events": events, "bytes": bytes.len(),
            "buffer_best_s": secs(&buffer[0]), "buffer_median_s": secs(&buffer[buffer.len() / 2]), "buffer_runs": buffer.len(),
            "buffer_best_cpu_s": secs(&buffer_cpu[0]), "buffer_median_cpu_s": secs(&buffer_cpu[buffer_cpu.len() / 2]),
            "file_best_s": secs(&file[0]), "file_median_s": secs(&file[file.len() / 2]), "file_runs": file.len(),
            "file_best_cpu_s": secs(&file_cpu[0]), "file_median_cpu_s": secs(&file_cpu[file_cpu.len() / 2]),
            "stream_best_s": secs(&stream[0]), "stream_median_s": secs(&stream[stream.len() / 2]), "stream_runs": stream.len(),
            "stream_best_cpu_s": secs(&stream_cpu[0]), "stream_median_cpu_s": secs(&stream_cpu[stream_cpu.len() / 2]),
        })
    );
}

/// Event count, trigger count, FNV-1a over every field, and the error if any.
fn digest(format: Format, bytes: &[u8], chunk: usize) -> String {
    let mut decoder = new_decoder(format, DecoderOptions::default());
    let mut out = Vec::new();
    let mut result = Ok(());
    for piece in bytes.chunks(chunk.max(1)) {
        result = decoder.feed(piece, &mut out);
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = decoder.finish(&mut out);
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    for e in &out {
        h.write_u64(e.t);
        h.write_u16(e.x);
        h.write_u16(e.y);
        h.write_u8(e.p.into());
    }
    for t in decoder.triggers() {
        h.write_u64(t.t);
        h.write_u8(t.channel);
        h.write_u8(t.rising.into());
    }
    let error = result.err().map(|e| e.to_string()).unwrap_or_default();
    format!("{} events={} triggers={} fnv={:016x} meta={:?} err={error}", format.name(), out.len(), decoder.triggers().len(), h.finish(), decoder.metadata())
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// Seeded byte flips, truncations and random word soups of every synthetic input, each decoded
/// whole and in odd-sized chunks.
fn mutants(n: usize) {
    let mut rng = synth::Rng::new(99);
    for s in synth::all(n) {
        let head = &s.bytes[..256.min(s.bytes.len())];
        let header = head.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut inputs = vec![("clean".to_string(), s.bytes.clone())];
        for m in 0..12 {
            let mut b = s.bytes.clone();
            for _ in 0..1 + m * 3 {
                let at = rng.below(b.len() as u64) as usize;
                b[at] ^= 1 << rng.below(8);
            }
            inputs.push((format!("flip{m}"), b));
        }
        for m in 0..4 {
            let cut = rng.below(s.bytes.len() as u64) as usize;
            inputs.push((format!("cut{m}"), s.bytes[..cut].to_vec()));
            let mut soup = s.bytes[..header].to_vec();
            soup.extend((0..n * 2).map(|_| rng.next() as u8));
            inputs.push((format!("soup{m}"), soup));
        }
        for (label, bytes) in &inputs {
            for chunk in [usize::MAX, 1 << 16, 4093, 7] {
                if chunk == 7 && bytes.len() > 200_000 {
                    continue;
                }
                println!("{} {label} chunk={chunk}: {}", s.name, digest(s.format, bytes, chunk));
            }
        }
    }
}
