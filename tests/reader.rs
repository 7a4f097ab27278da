//! The streaming reader ([`EventReader`]) against the whole-file reader ([`read_file`]): the same
//! events, resolution, triggers, metadata and errors for every golden fixture at every chunk
//! size, cut and corrupted files included; `convert` writes the bytes the writers write from
//! `read_file`'s events; memory stays bounded by the chunk, not the file.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use spikestream::events::formats::aedat4::{Aedat4Writer, Compression, WriterOptions};
use spikestream::events::ReadOptions;
use spikestream::events::io::reader::DEFAULT_CHUNK_BYTES;
use spikestream::events::write::{write_csv, write_npy};
use spikestream::events::{DecodeError, Event, EventReader, Format, ReadError, Recording, Resolution, Trigger, read_file};

/// Every recording tests/golden.rs reads, where present (absent shared ones are noted).
fn golden_fixtures() -> Vec<PathBuf> {
    let mut list: Vec<PathBuf> = [
        "tonic/sample.aedat4",
        "generated/synthetic_none.aedat4",
        "generated/synthetic_lz4.aedat4",
        "generated/synthetic_zstd.aedat4",
        "expelliarmus/evt2_sample.raw",
        "faery/evt2.raw",
        "expelliarmus/evt3_sample.raw",
        "derived/evt3_trigger_from_rosbag.raw",
        "tonic/sample_ncars.dat",
        "tonic/sample_nmnist.bin",
        "PyAedatTools/IMU_translBoxes.aedat",
        "derived/dvxplorer_rollover_aedat31.aedat",
    ]
    .into_iter()
    .filter_map(common::fixture)
    .collect();
    list.extend(common::shared("tonic/sample_aedat_header.aedat"));
    list.extend(["dv_network_stream_capture.bin", "header_test_128.aedat_test", "header_test_240.aedat_test"].map(common::data));
    list.extend(aedat_crate_sample());
    list
}

/// The DAVIS346 recording inside the `aedat` crate (events, frames, IMU and triggers).
fn aedat_crate_sample() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
    let registry = home.join("registry/src");
    let found = std::fs::read_dir(&registry).ok()?.flatten().map(|d| d.path().join("aedat-1.3.3/test_data.aedat4")).find(|p| p.exists());
    if found.is_none() {
        eprintln!("NOTE: aedat-1.3.3/test_data.aedat4 not found under {}; skipped", registry.display());
    }
    found
}

/// What reading gave: the recording and the decode error (with its message), if any.
#[derive(Debug, PartialEq)]
struct Outcome {
    format: Option<Format>,
    resolution: Option<Resolution>,
    events: Vec<Event>,
    triggers: Vec<Trigger>,
    metadata: Vec<(String, String)>,
    error: Option<(DecodeError, String)>,
}

fn whole(path: &Path) -> Outcome {
    let (rec, error): (Recording, _) = match read_file(path, ReadOptions::default()) {
        Ok(rec) => (rec, None),
        Err(ReadError::Decode { path, source, partial }) => {
            let message = ReadError::Decode { path, source: source.clone(), partial: Box::default() }.to_string();
            (*partial, Some((source, message)))
        }
        Err(e) => panic!("{e}"),
    };
    Outcome { format: rec.format, resolution: rec.resolution, events: rec.events, triggers: rec.triggers, metadata: rec.metadata, error }
}

/// Streams `path` in `chunk`-byte steps; also returns the largest batch capacity seen.
fn streamed(path: &Path, chunk: usize) -> (Outcome, usize) {
    let mut reader = EventReader::open(path, ReadOptions::default()).unwrap_or_else(|e| panic!("{e}")).with_chunk_bytes(chunk);
    let (mut events, mut triggers, mut batch, mut capacity) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let error = loop {
        match reader.next_batch(&mut batch) {
            Ok(true) => {
                assert!(!batch.is_empty() || !reader.triggers().is_empty(), "{}: an empty batch", path.display());
                events.extend_from_slice(&batch);
                triggers.extend_from_slice(reader.triggers());
                capacity = capacity.max(batch.capacity());
            }
            Ok(false) => break None,
            Err(e @ ReadError::Decode { .. }) => {
                let message = e.to_string();
                let ReadError::Decode { source, .. } = e else { unreachable!() };
                assert!(!reader.next_batch(&mut batch).unwrap() && batch.is_empty(), "nothing after the error");
                break Some((source, message));
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(reader.trigger_count(), triggers.len() as u64);
    if error.is_none() {
        assert_eq!(reader.offset(), reader.file_len(), "{}: every byte fed", path.display());
    }
    let outcome = Outcome { format: Some(reader.format()), resolution: reader.resolution(), events, triggers, metadata: reader.metadata(), error };
    (outcome, capacity)
}

fn assert_same(path: &Path, chunk: usize, want: &Outcome, got: &Outcome) {
    let name = path.display();
    assert_eq!(got.events.len(), want.events.len(), "{name} chunk {chunk}: event count");
    assert!(got.events == want.events, "{name} chunk {chunk}: events differ");
    assert_eq!((got.format, got.resolution), (want.format, want.resolution), "{name} chunk {chunk}");
    assert_eq!(got.triggers, want.triggers, "{name} chunk {chunk}: triggers");
    assert_eq!(got.metadata, want.metadata, "{name} chunk {chunk}: metadata");
    assert_eq!(got.error, want.error, "{name} chunk {chunk}: error");
}

#[test]
fn every_golden_fixture_streams_to_what_read_file_gives_at_every_chunk_size() {
    for path in golden_fixtures() {
        let want = whole(&path);
        let len = std::fs::metadata(&path).unwrap().len();
        for chunk in [1, 4093, 65536, 1 << 20, DEFAULT_CHUNK_BYTES] {
            if chunk == 1 && len > 1 << 20 {
                continue; // one byte at a time: the smaller files (tests/robustness.rs covers the decoders)
            }
            let (got, _) = streamed(&path, chunk);
            assert_same(&path, chunk, &want, &got);
        }
    }
}

/// Cut and byte-flipped copies of the fixtures: the streamed events before the error and the
/// error (kind, byte offset, message with the file name) are read_file's.
#[test]
fn a_cut_or_corrupt_file_delivers_read_files_events_then_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs: Vec<PathBuf> = ["synthetic_lz4.aedat4", "synthetic_zstd.aedat4", "evt3_trigger_from_rosbag.raw", "dvxplorer_rollover_aedat31.aedat", "dv_network_stream_capture.bin"]
        .map(common::data)
        .into();
    for name in ["expelliarmus/evt2_sample.raw", "tonic/sample_nmnist.bin", "tonic/sample_ncars.dat", "PyAedatTools/IMU_translBoxes.aedat", "tonic/sample.aedat4"] {
        inputs.extend(common::shared(name));
    }
    inputs.extend(aedat_crate_sample());
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut errors = 0;
    for input in inputs {
        let bytes = std::fs::read(&input).unwrap();
        let stem = input.file_name().unwrap().to_string_lossy().into_owned();
        let mut variants: Vec<(String, Vec<u8>)> = (1..8).map(|k| (format!("cut{k}-{stem}"), bytes[..bytes.len() * k / 8 + k].to_vec())).collect();
        for k in 0..5 {
            let mut b = bytes.clone();
            for _ in 0..1 + k {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed % b.len() as u64) as usize;
                b[at] ^= (seed >> 40) as u8 | 1;
            }
            variants.push((format!("flip{k}-{stem}"), b));
        }
        for (name, b) in variants {
            let path = dir.path().join(&name);
            std::fs::write(&path, &b).unwrap();
            let want = match read_file(&path, ReadOptions::default()) {
                Err(ReadError::UnknownFormat { .. }) => continue, // a flip in the signature
                _ => whole(&path),
            };
            errors += usize::from(want.error.is_some());
            for chunk in [1, 4093, DEFAULT_CHUNK_BYTES] {
                if chunk == 1 && b.len() > 300_000 {
                    continue;
                }
                let (got, _) = streamed(&path, chunk);
                assert_same(&path, chunk, &want, &got);
                if let Some((_, message)) = &got.error {
                    assert!(message.contains(&name) && message.contains("at byte"), "{message}");
                }
            }
        }
    }
    assert!(errors > 10, "the variants should include errors ({errors})");
}

/// With chunks of C bytes an EVT2 batch holds at most C/4 + 1 events (one more from a record
/// split across chunks), whatever the size of the file.
#[test]
fn the_batch_buffer_is_bounded_by_the_chunk_not_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.raw");
    let n = write_evt2(&path, 3_000_000);
    for chunk in [4093, 65536] {
        let (got, capacity) = streamed(&path, chunk);
        assert_eq!(got.events.len() as u64, n);
        let most = chunk / 4 + 1;
        assert!(capacity <= 2 * most, "chunk {chunk}: a batch held room for {capacity} events, more than 2 x {most}");
    }
}

/// Writes an EVT2 file of `n` events (a TIME_HIGH word every 64 µs, 4 events per µs) without
/// holding it in memory; returns `n`.
fn write_evt2(path: &Path, n: u64) -> u64 {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(b"% evt 2.0\n% format EVT2;height=480;width=640\n% geometry 640x480\n% end\n").unwrap();
    let mut high = u64::MAX;
    for i in 0..n {
        let t = 1_000_000 + i / 4;
        if t >> 6 != high {
            high = t >> 6;
            out.write_all(&((0x8u32 << 28) | (high as u32 & 0x0FFF_FFFF)).to_le_bytes()).unwrap();
        }
        let (x, y, p) = ((i * 7919 % 640) as u32, (i * 104_729 % 480) as u32, (i % 3 == 0) as u32);
        out.write_all(&((p << 28) | ((t as u32 & 0x3F) << 22) | (x << 11) | y).to_le_bytes()).unwrap();
    }
    out.flush().unwrap();
    n
}

/// `spikestream ARGS` with its data segment (heap and other private writable memory) limited to
/// `limit` bytes (RLIMIT_DATA, through `ulimit -d`); a read-only file mapping does not count.
/// (The peak RSS a parent reads with `wait4` is no use here: a child spawned with vfork inherits
/// the test process's own high-water mark.)
#[cfg(target_os = "linux")]
fn spikestream_limited(limit: u64, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -d {} && exec \"$0\" \"$@\"", limit / 1024))
        .arg(env!("CARGO_BIN_EXE_spikestream"))
        .args(args)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A 64 MB EVT2 file of 16 M events, 256 MB as a `Vec<Event>`: reading it whole, `inspect`
/// aborted with its heap limited to 48 MiB; streamed, `inspect` and `convert` succeed (they
/// need about 28 MiB, 16 of them the batch vector for 2 MiB chunks).
#[cfg(target_os = "linux")]
#[test]
fn inspect_and_convert_of_a_64_mb_file_run_in_a_48_mib_heap() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.raw");
    write_evt2(&input, 16_000_000);
    let (input, npy) = (input.to_str().unwrap(), dir.path().join("big.npy"));
    let (ok, out, err) = spikestream_limited(48 << 20, &["inspect", "--json", input]);
    assert!(ok, "inspect: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["events"].as_u64(), v["t_last"].as_u64()), (Some(16_000_000), Some(1_000_000 + 3_999_999)));
    let (ok, _, err) = spikestream_limited(48 << 20, &["convert", input, npy.to_str().unwrap()]);
    assert!(ok, "convert: {err}");
    assert_eq!(std::fs::metadata(&npy).unwrap().len(), 128 + 16_000_000 * 13);
}

fn spikestream(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// What the whole-file path wrote: the writers applied to read_file's events.
fn written_whole(rec: &Recording, ext: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match ext {
        "csv" => write_csv(&mut out, &rec.events).unwrap(),
        "npy" => write_npy(&mut out, &rec.events).unwrap(),
        _ => {
            let mut w = Aedat4Writer::new(std::io::Cursor::new(&mut out), WriterOptions::new(rec.resolution?)).unwrap();
            w.write_events(&rec.events).unwrap();
            w.finish().unwrap();
        }
    }
    Some(out)
}

#[test]
fn convert_writes_the_bytes_of_the_whole_file_path() {
    let dir = tempfile::tempdir().unwrap();
    for input in golden_fixtures() {
        let Ok(rec) = read_file(&input, ReadOptions::default()) else { continue }; // errors: below
        for ext in ["csv", "npy", "aedat4"] {
            let out = dir.path().join(format!("out.{ext}"));
            let (ok, err) = spikestream(&["convert", input.to_str().unwrap(), out.to_str().unwrap()]);
            let name = format!("{} to {ext}", input.display());
            match written_whole(&rec, ext) {
                None => assert!(!ok && err.contains("--sensor") && !out.exists(), "{name}: {err}"),
                Some(want) if rec.triggers.is_empty() || ext != "aedat4" => {
                    assert!(ok, "{name}: {err}");
                    assert!(std::fs::read(&out).unwrap() == want, "{name}: the output differs from the whole-file writers'");
                }
                // With triggers the AEDAT4 file also has a trigger stream: read it back.
                Some(_) => {
                    assert!(ok, "{name}: {err}");
                    let back = read_file(&out, ReadOptions::default()).unwrap();
                    assert!(back.events == rec.events, "{name}: events");
                    let rising: Vec<bool> = back.triggers.iter().map(|t| t.rising).collect();
                    assert_eq!(rising, rec.triggers.iter().map(|t| t.rising).collect::<Vec<_>>(), "{name}: trigger edges");
                    assert_eq!(back.triggers.iter().map(|t| t.t).collect::<Vec<_>>(), rec.triggers.iter().map(|t| t.t).collect::<Vec<_>>(), "{name}: trigger times");
                }
            }
            let _ = std::fs::remove_file(&out);
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
            assert!(left.is_empty(), "{name}: left behind {left:?}");
        }
    }
}

#[test]
fn convert_of_a_cut_file_writes_nothing_or_with_partial_what_read_file_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.aedat4");
    let bytes = std::fs::read(common::data("synthetic_zstd.aedat4")).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 1000]).unwrap();
    let partial = read_file(&cut, ReadOptions::default()).unwrap_err().partial().unwrap().clone();
    assert_eq!(partial.events.len(), 1000);
    for ext in ["csv", "npy", "aedat4"] {
        let out = dir.path().join(format!("out.{ext}"));
        // Without --partial an existing output is left as it was.
        std::fs::write(&out, b"keep").unwrap();
        let (ok, err) = spikestream(&["convert", cut.to_str().unwrap(), out.to_str().unwrap()]);
        assert!(!ok && err.contains("nothing written; 1000 events decoded") && err.contains("cut.aedat4") && err.contains("at byte"), "{err}");
        assert_eq!(std::fs::read(&out).unwrap(), b"keep");
        let (ok, err) = spikestream(&["convert", "--partial", cut.to_str().unwrap(), out.to_str().unwrap()]);
        assert!(!ok && err.contains("wrote the 1000 events decoded before it") && err.contains("at byte"), "{err}");
        assert!(std::fs::read(&out).unwrap() == written_whole(&partial, ext).unwrap(), "{ext}: --partial output");
    }
    let mut left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name().into_string().unwrap()).collect();
    left.sort();
    assert_eq!(left, ["cut.aedat4", "out.aedat4", "out.csv", "out.npy"], "no temporary files left");
}

/// A trigger stream added after packets were written gives the bytes of a writer that had it
/// from the start (`convert` adds it when the first Prophesee trigger arrives).
#[test]
fn adding_the_trigger_stream_late_equals_declaring_it_up_front() {
    let events: Vec<Event> = (0..20_000u64).map(|i| Event::new(100 + i, (i % 64) as u16, (i % 48) as u16, i % 5 == 0)).collect();
    let triggers = [Trigger { t: 5_000, channel: 1, rising: true }, Trigger { t: 9_000, channel: 2, rising: false }];
    for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let options = WriterOptions { compression, packet_events: 3000, ..WriterOptions::new(Resolution::new(64, 48)) };
        let write = |up_front: bool| {
            let dir = tempfile::tempdir().unwrap();
            let file = std::fs::File::options().read(true).write(true).create(true).truncate(true).open(dir.path().join("t.aedat4")).unwrap();
            let mut w = if up_front { Aedat4Writer::with_triggers(file, options.clone()) } else { Aedat4Writer::new(file, options.clone()) }.unwrap();
            w.write_events(&events[..10_000]).unwrap();
            w.add_trigger_stream().unwrap();
            w.write_triggers(&triggers).unwrap();
            w.write_events(&events[10_000..]).unwrap();
            let mut file = w.finish().unwrap();
            let mut bytes = Vec::new();
            std::io::Seek::rewind(&mut file).unwrap();
            std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
            bytes
        };
        let (late, up_front) = (write(false), write(true));
        assert!(late == up_front, "{compression:?}: the files differ");
        let rec = spikestream::events::read_bytes(&late, Path::new("t.aedat4"), ReadOptions::default()).unwrap();
        assert!(rec.events == events);
        assert_eq!(rec.triggers.iter().map(|t| (t.t, t.channel, t.rising)).collect::<Vec<_>>(), [(5_000, 1, true), (9_000, 2, false)]);
    }
}
