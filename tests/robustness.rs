//! Bad input never panics and never loses what was decoded: truncation at every prefix, chunks
//! of every size, flipped bytes, absurd sizes, wrong formats. The bounded in-test fuzzing that
//! CI runs; `fuzz/` has the coverage-guided targets.

mod common;

use std::path::Path;

use proptest::prelude::*;
use spikestream::events::{DecoderOptions, new_decoder};
use spikestream::events::{ReadOptions, read_bytes};
use spikestream::events::{DecodeError, Event, Format, ReadError, read_file};

/// Fixtures with their format: the committed ones always, the shared ones when present.
fn fixtures() -> Vec<(String, Vec<u8>, Format)> {
    let mut list: Vec<(std::path::PathBuf, Format)> = vec![
        (common::data("synthetic_none.aedat4"), Format::Aedat4),
        (common::data("synthetic_lz4.aedat4"), Format::Aedat4),
        (common::data("synthetic_zstd.aedat4"), Format::Aedat4),
        (common::data("dv_network_stream_capture.bin"), Format::Aedat4Stream),
        (common::data("evt3_trigger_from_rosbag.raw"), Format::Evt3),
        (common::data("dvxplorer_rollover_aedat31.aedat"), Format::Aedat31),
    ];
    for (name, format) in [
        ("tonic/sample_nmnist.bin", Format::AtisBin),
        ("tonic/sample_ncars.dat", Format::Dat),
        ("expelliarmus/evt2_sample.raw", Format::Evt2),
        ("PyAedatTools/IMU_translBoxes.aedat", Format::Aedat2),
        ("tonic/sample.aedat4", Format::Aedat4),
    ] {
        if let Some(p) = common::shared(name) {
            list.push((p, format));
        }
    }
    let mut fixtures: Vec<_> = list.into_iter().map(|(p, f)| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap(), f)).collect();
    fixtures.push(("written_with_triggers_lz4.aedat4".into(), file_with_triggers(spikestream::events::formats::aedat4::Compression::Lz4), Format::Aedat4));
    fixtures
}

/// An AEDAT4 file from our writer with trigger packets between the event packets: 3000 events
/// in packets of 700, 5 trigger packets of 7 triggers of every DV type.
fn file_with_triggers(compression: spikestream::events::formats::aedat4::Compression) -> Vec<u8> {
    use spikestream::events::Trigger;
    use spikestream::events::formats::aedat4::{Aedat4Writer, WriterOptions};
    let options = WriterOptions { compression, packet_events: 700, ..WriterOptions::new(spikestream::events::Resolution::new(64, 48)) };
    let mut w = Aedat4Writer::with_triggers(std::io::Cursor::new(Vec::new()), options).unwrap();
    for k in 0..5u64 {
        let events: Vec<Event> = (0..600).map(|i| Event::new(1000 * k + i, (i % 64) as u16, (i % 48) as u16, i % 3 == 0)).collect();
        w.write_events(&events).unwrap();
        let triggers: Vec<Trigger> = (0..7).map(|j| Trigger { t: 1000 * k + 100 * j, channel: ((k * 7 + j) % 10) as u8, rising: false }).collect();
        w.write_triggers(&triggers).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn decode_chunked(bytes: &[u8], format: Format, chunk: usize) -> (Vec<Event>, Result<(), DecodeError>) {
    let mut d = new_decoder(format, DecoderOptions::default());
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        if let Err(e) = d.feed(piece, &mut out) {
            return (out, Err(e));
        }
    }
    let r = d.finish(&mut out);
    (out, r)
}

/// Cut points: every prefix of inputs up to 40 KiB; for larger ones the first 8 KiB, the last
/// 256 bytes and 300 evenly spaced cuts (each cut decodes the whole prefix again).
fn cuts(len: usize) -> Vec<usize> {
    if len <= 40 << 10 {
        return (0..=len).collect();
    }
    let mut c: Vec<usize> = (0..8 << 10).chain(len - 256..=len).collect();
    c.extend((0..300).map(|i| i * len / 300));
    c
}

#[test]
fn every_prefix_decodes_what_precedes_the_cut_then_ends_cleanly_or_says_where() {
    for (name, bytes, format) in fixtures() {
        let (full, r) = decode_chunked(&bytes, format, bytes.len());
        r.unwrap_or_else(|e| panic!("{name}: {e}"));
        for cut in cuts(bytes.len()) {
            let path = Path::new(&name);
            match read_bytes(&bytes[..cut], path, ReadOptions { format: Some(format), ..Default::default() }) {
                Ok(rec) => assert!(full.starts_with(&rec.events), "{name} cut at {cut}: events are not a prefix"),
                Err(ReadError::Decode { source, partial, .. }) => {
                    assert!(full.starts_with(&partial.events), "{name} cut at {cut}: partial events are not a prefix");
                    let msg = format!("{}", ReadError::Decode { path: path.into(), source: source.clone(), partial });
                    assert!(msg.starts_with(&name) && msg.contains("at byte"), "{name} cut at {cut}: {msg}");
                    assert!(source.is_truncation(), "{name} cut at {cut}: expected truncation, got {source}");
                }
                Err(e) => panic!("{name} cut at {cut}: {e}"),
            }
        }
    }
}

#[test]
fn truncated_file_error_names_the_file_and_the_byte_offset_and_keeps_events() {
    let bytes = std::fs::read(common::data("synthetic_lz4.aedat4")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.aedat4");
    // Cut inside the second packet: the first packet's 1000 events survive.
    std::fs::write(&path, &bytes[..bytes.len() - 3000]).unwrap();
    let err = read_file(&path, ReadOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("cut.aedat4") && msg.contains("at byte") && msg.contains("truncated"), "{msg}");
    assert_eq!(err.partial().unwrap().events.len(), 1000);
}

#[test]
fn chunk_size_does_not_change_the_result() {
    for (name, bytes, format) in fixtures() {
        let (whole, r) = decode_chunked(&bytes, format, bytes.len());
        r.unwrap();
        for chunk in [1, 2, 3, 5, 7, 8, 13, 28, 64, 4095, 65536] {
            if bytes.len() / chunk > 400_000 {
                continue; // keep the 1-byte runs to the smaller fixtures
            }
            let (got, r) = decode_chunked(&bytes, format, chunk);
            r.unwrap_or_else(|e| panic!("{name} chunk {chunk}: {e}"));
            assert!(got == whole, "{name}: chunks of {chunk} bytes decode differently");
        }
    }
}

#[test]
fn every_decoder_survives_every_other_format() {
    for (name, bytes, _) in fixtures() {
        for format in Format::ALL {
            // Any outcome but a panic is fine; errors must carry a message.
            let (_, r) = decode_chunked(&bytes[..bytes.len().min(200_000)], format, 4096);
            if let Err(e) = r {
                assert!(!e.to_string().is_empty(), "{name} as {format}");
            }
        }
    }
}

#[test]
fn garbage_is_an_unknown_format_not_a_guess() {
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let err = read_bytes(&garbage, Path::new("noise.bin"), ReadOptions::default()).unwrap_err();
    assert!(matches!(err, ReadError::UnknownFormat { .. }), "{err}");
    assert!(err.to_string().contains("noise.bin") && err.to_string().contains("--format"));
    let empty = read_bytes(&[], Path::new("empty"), ReadOptions::default()).unwrap_err();
    assert!(empty.to_string().contains("empty"), "{empty}");
}

fn aedat4_with_packet(stream_id: i32, size: i32, payload: &[u8]) -> Vec<u8> {
    let mut file = std::fs::read(common::data("synthetic_none.aedat4")).unwrap();
    let header_len = u32::from_le_bytes(file[14..18].try_into().unwrap()) as usize;
    file.truncate(18 + header_len);
    file.extend_from_slice(&stream_id.to_le_bytes());
    file.extend_from_slice(&size.to_le_bytes());
    file.extend_from_slice(payload);
    file
}

#[test]
fn absurd_sizes_are_refused_without_allocating_them() {
    // IOHeader length of 4 GiB.
    let mut file = b"#!AER-DAT4.0\r\n".to_vec();
    file.extend_from_slice(&u32::MAX.to_le_bytes());
    file.extend_from_slice(&[0; 64]);
    let e = decode_chunked(&file, Format::Aedat4, file.len()).1.unwrap_err();
    assert!(matches!(e, DecodeError::TooLarge { offset: 14, .. }), "{e}");
    // A 2 GiB packet.
    let file = aedat4_with_packet(0, i32::MAX, &[0; 16]);
    let e = decode_chunked(&file, Format::Aedat4, file.len()).1.unwrap_err();
    assert!(matches!(e, DecodeError::TooLarge { .. }), "{e}");
    // A negative packet size.
    let file = aedat4_with_packet(0, -5, &[0; 16]);
    assert!(decode_chunked(&file, Format::Aedat4, 7).1.is_err());
    // An event packet whose flatbuffer vector claims 2^32-1 events.
    let mut payload = spikestream_event_packet(&[Event::new(1, 2, 3, true)]);
    payload[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
    let file = aedat4_with_packet(0, payload.len() as i32, &payload);
    let e = decode_chunked(&file, Format::Aedat4, file.len()).1.unwrap_err();
    assert!(e.to_string().contains("vector"), "{e}");
    // AEDAT 3.1 packet declaring 2^31 events of 2^31 bytes: decoded as it arrives, then truncated.
    let mut file = b"#!AER-DAT3.1\r\n#!END-HEADER\r\n".to_vec();
    for v in [1i16, 1] {
        file.extend_from_slice(&v.to_le_bytes());
    }
    for v in [8i32, 4, 0, i32::MAX, i32::MAX, i32::MAX] {
        file.extend_from_slice(&v.to_le_bytes());
    }
    file.extend_from_slice(&[0x03, 0, 0, 0, 9, 0, 0, 0]); // one valid ON event at t=9
    let (events, r) = decode_chunked(&file, Format::Aedat31, file.len());
    assert_eq!(events, [Event::new(9, 0, 0, true)]);
    assert!(matches!(r, Err(DecodeError::Truncated { .. })));
}

#[test]
fn corrupt_lz4_and_zstd_payloads_are_errors() {
    for name in ["synthetic_lz4.aedat4", "synthetic_zstd.aedat4"] {
        let bytes = std::fs::read(common::data(name)).unwrap();
        let header_len = u32::from_le_bytes(bytes[14..18].try_into().unwrap()) as usize;
        let payload_start = 18 + header_len + 8;
        for offset in [0usize, 4, 5, 6, 7, 11, 40, 200] {
            let mut b = bytes.clone();
            b[payload_start + offset] ^= 0xFF;
            let (events, r) = decode_chunked(&b, Format::Aedat4, b.len());
            // Either the damage is caught, or it hit event data and the count is unchanged.
            if r.is_ok() {
                assert_eq!(events.len(), 2000, "{name} flip at +{offset}");
            }
        }
    }
}

#[test]
fn aedat4_triggers_round_trip_and_a_corrupt_trigger_packet_is_an_error_at_its_offset() {
    use spikestream::events::formats::aedat4::Compression;
    for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let bytes = file_with_triggers(compression);
        let rec = read_bytes(&bytes, Path::new("t.aedat4"), ReadOptions::default()).unwrap();
        assert_eq!(rec.events.len(), 3000, "{compression:?}");
        let got: Vec<_> = rec.triggers.iter().map(|t| (t.t, t.channel, t.rising)).collect();
        let want: Vec<_> = (0..5u64)
            .flat_map(|k| (0..7u64).map(move |j| (1000 * k + 100 * j, ((k * 7 + j) % 10) as u8, matches!((k * 7 + j) % 10, 1 | 3 | 4 | 6 | 8))))
            .collect();
        assert_eq!(got, want, "{compression:?}");
    }
    // A trigger's type byte made negative: an error naming the packet's offset; the events
    // before it are kept.
    let mut bytes = file_with_triggers(Compression::None);
    let header_len = u32::from_le_bytes(bytes[14..18].try_into().unwrap()) as usize;
    let (mut at, mut seen) = (18 + header_len, 0);
    loop {
        seen += usize::from(i32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) == 1);
        if seen == 3 {
            break; // the third trigger packet, after two event packets
        }
        at += 8 + i32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
    }
    let payload = at + 8;
    let first_table = payload + 28 + 4 + u32::from_le_bytes(bytes[payload + 32..payload + 36].try_into().unwrap()) as usize;
    bytes[first_table + 4] = 0x80;
    match read_bytes(&bytes, Path::new("bad_trigger.aedat4"), ReadOptions::default()) {
        Err(ReadError::Decode { source, partial, .. }) => {
            let msg = source.to_string();
            assert!(msg.contains("trigger packet: trigger 0 of the packet has t=2000, type=-128"), "{msg}");
            assert!(msg.contains(&format!("at byte {payload}")), "{msg}");
            assert_eq!((partial.events.len(), partial.triggers.len()), (1400, 14));
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
}

/// The DV network stream is the file without the version line and the data table: the
/// stream decoder gives the same events and triggers.
#[test]
fn aedat4_stream_with_a_trigger_stream_decodes_like_the_file() {
    use spikestream::events::formats::aedat4::{Compression, IoHeader};
    for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let file = file_with_triggers(compression);
        let header_len = u32::from_le_bytes(file[14..18].try_into().unwrap()) as usize;
        let table = IoHeader::parse(&file[18..18 + header_len]).unwrap().data_table_position.unwrap() as usize;
        let mut stream = file[14..table].to_vec();
        let at = 4 + IoHeader::POSITION_OFFSET;
        stream[at..at + 8].copy_from_slice(&(-1i64).to_le_bytes());
        let want = read_bytes(&file, Path::new("f.aedat4"), ReadOptions::default()).unwrap();
        for chunk in [stream.len(), 1000] {
            let mut d = new_decoder(Format::Aedat4Stream, DecoderOptions::default());
            let mut events = Vec::new();
            stream.chunks(chunk).try_for_each(|c| d.feed(c, &mut events)).and_then(|()| d.finish(&mut events)).unwrap();
            assert!(events == want.events, "{compression:?} chunk {chunk}");
            assert_eq!(d.triggers(), &want.triggers[..], "{compression:?} chunk {chunk}");
        }
    }
}

/// Regression guard for the parallel AEDAT4 path (a whole file in one chunk decodes runs of
/// packets on the rayon pool; small chunks go packet by packet): on corrupted compressed files
/// both give the same events, triggers and error, offset included.
#[test]
fn aedat4_parallel_and_sequential_decoding_agree_on_corrupt_files() {
    use spikestream::events::formats::aedat4::{Compression, Parallelism, set_parallelism};
    // Whole files take the parallel path on any machine (other tests' outputs do not change).
    set_parallelism(Parallelism::Always);
    let mut inputs = vec![file_with_triggers(Compression::Lz4), file_with_triggers(Compression::Zstd)];
    inputs.extend(["synthetic_lz4.aedat4", "synthetic_zstd.aedat4"].map(|n| std::fs::read(common::data(n)).unwrap()));
    let decode = |bytes: &[u8], chunk: usize| {
        let mut d = new_decoder(Format::Aedat4, DecoderOptions::default());
        let mut out = Vec::new();
        let r = bytes.chunks(chunk).try_for_each(|piece| d.feed(piece, &mut out)).and_then(|()| d.finish(&mut out));
        (out, d.triggers().to_vec(), r.map_err(|e| e.to_string()), d.metadata())
    };
    for (k, bytes) in inputs.iter().enumerate() {
        let mut s = 0x9E37_79B9_7F4A_7C15u64 ^ k as u64;
        for _ in 0..150 {
            let mut b = bytes.clone();
            for _ in 0..1 + s % 3 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let at = 200 + (s % (b.len() as u64 - 200)) as usize;
                b[at] ^= (s >> 40) as u8 | 1;
            }
            let whole = decode(&b, b.len());
            assert!(whole == decode(&b, 61), "input {k}: whole and 61-byte chunks differ: {:?}", whole.2);
        }
    }
}

/// An EVTS packet as spikestream writes it, for crafting bad ones.
fn spikestream_event_packet(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = spikestream::events::formats::aedat4::Aedat4Writer::new(
        std::io::Cursor::new(&mut out),
        spikestream::events::formats::aedat4::WriterOptions {
            compression: spikestream::events::formats::aedat4::Compression::None,
            ..spikestream::events::formats::aedat4::WriterOptions::new(spikestream::events::Resolution::new(8, 8))
        },
    )
    .unwrap();
    w.write_events(events).unwrap();
    w.finish().unwrap();
    let header_len = u32::from_le_bytes(out[14..18].try_into().unwrap()) as usize;
    let at = 18 + header_len;
    let size = i32::from_le_bytes(out[at + 4..at + 8].try_into().unwrap()) as usize;
    out[at + 8..at + 8 + size].to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_any_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..4096), chunk in 1usize..600) {
        for format in Format::ALL {
            let _ = decode_chunked(&bytes, format, chunk);
        }
        let _ = read_bytes(&bytes, Path::new("random"), ReadOptions::default());
    }

    #[test]
    fn flipped_bytes_in_real_files_never_panic(seed in any::<u64>(), flips in 1usize..16) {
        for (_, bytes, format) in fixtures().into_iter().filter(|(_, b, _)| b.len() < 1 << 20) {
            let mut b = bytes.clone();
            let mut s = seed | 1;
            for _ in 0..flips {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                let at = (s % b.len() as u64) as usize;
                b[at] ^= (s >> 32) as u8 | 1;
            }
            let _ = decode_chunked(&b, format, 1 + (s % 9000) as usize);
        }
    }

    #[test]
    fn aedat4_writer_round_trips(events in proptest::collection::vec((0u64..1u64 << 62, 0u16..640, 0u16..480, any::<bool>()), 0..3000), compression in 0usize..3, packet in 1usize..5000) {
        use spikestream::events::formats::aedat4::{Aedat4Writer, Compression, WriterOptions};
        let mut events: Vec<Event> = events.into_iter().map(|(t, x, y, p)| Event::new(t, x, y, p)).collect();
        events.sort_by_key(|e| e.t);
        let mut options = WriterOptions::new(spikestream::events::Resolution::new(640, 480));
        options.compression = [Compression::None, Compression::Lz4, Compression::Zstd][compression];
        options.packet_events = packet;
        let mut w = Aedat4Writer::new(std::io::Cursor::new(Vec::new()), options).unwrap();
        w.write_events(&events).unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let rec = read_bytes(&bytes, Path::new("roundtrip.aedat4"), ReadOptions::default()).unwrap();
        prop_assert_eq!(rec.resolution, Some(spikestream::events::Resolution::new(640, 480)));
        prop_assert!(rec.events == events);
    }
}
