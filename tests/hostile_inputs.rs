//! Hostile and careless inputs through the `spikestream` binary (issue 13): crafted recordings,
//! model files, `.npy` arrays and CLI numbers. Every command that reads the input runs as a child
//! process under a time limit, and must exit non-zero with a message that names the file and
//! the byte offset, key or flag, without a panic, an abort or a hang, and leave existing outputs
//! as they were. Tests are named after the bug they pin.

mod common;
mod hostile_common;

use std::path::{Path, PathBuf};

use hostile_common::{Run, aedat4_file, aedat4_header_only, demo_model, demo_sample, evt3_file, model_with_meta, p, run};
use spikestream::events::Resolution;

/// Asserts a clean refusal: no timeout, no signal, no panic, a non-zero exit, and every needle
/// in stderr.
#[track_caller]
fn refused(r: &Run, needles: &[&str]) {
    assert!(!r.timed_out, "hung: {r:?}");
    assert!(r.signal.is_none(), "killed by signal {:?}: {r:?}", r.signal);
    assert!(!r.stderr.contains("panicked") && r.code != Some(101), "panicked: {r:?}");
    assert!(r.code.is_some_and(|c| c != 0), "exit 0 on a hostile input: {r:?}");
    for n in needles {
        assert!(r.stderr.contains(n), "stderr lacks '{n}': {}", r.stderr);
    }
}

/// Runs `args` with an existing output file and checks it is unchanged afterwards.
fn keeps_output(dir: &Path, name: &str) -> (PathBuf, Vec<u8>) {
    let out = dir.join(name);
    std::fs::write(&out, b"the user's previous output").unwrap();
    (out.clone(), std::fs::read(&out).unwrap())
}

#[test]
fn aedat4_header_xml_nested_20000_deep_is_refused_without_stack_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!("{}{}", "<node>".repeat(20_000), "</node>".repeat(20_000));
    let file = dir.path().join("deep.aedat4");
    std::fs::write(&file, aedat4_header_only(&deep, -1)).unwrap();
    let (npy, before) = keeps_output(dir.path(), "frames.npy");
    let csv = dir.path().join("out.csv");
    for args in [
        vec!["inspect", p(&file)],
        vec!["convert", p(&file), p(&csv)],
        vec!["frames", p(&file), "--out", p(&npy)],
        vec!["classify", p(&demo_model()), p(&file)],
    ] {
        let r = run(&args, None);
        refused(&r, &["deep.aedat4", "nested more than 64 deep"]);
    }
    assert_eq!(std::fs::read(&npy).unwrap(), before);
    assert!(!csv.exists());
    // The DV network stream form (no version line) parses the same header.
    let mut stream = Vec::new();
    let fb = spikestream::events::formats::aedat4::IoHeader::build(spikestream::events::formats::aedat4::Compression::None, -1, &deep);
    stream.extend_from_slice(&(fb.len() as u32).to_le_bytes());
    stream.extend_from_slice(&fb);
    let file = dir.path().join("deep.stream");
    std::fs::write(&file, stream).unwrap();
    refused(&run(&["inspect", p(&file)], None), &["deep.stream", "nested more than 64 deep"]);
}

#[test]
fn evt3_header_sensor_65535_squared_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.raw");
    std::fs::write(&file, evt3_file("EVT3;height=65535;width=65535", 200)).unwrap();
    let (npy, before) = keeps_output(dir.path(), "frames.npy");
    let r = run(&["frames", p(&file), "--out", p(&npy)], None);
    refused(&r, &["huge.raw", "65535x65535", "limit"]);
    assert!(r.max_rss_kb < 200 << 10, "peak RSS {} KiB", r.max_rss_kb);
    assert_eq!(std::fs::read(&npy).unwrap(), before);
    let r = run(&["classify", p(&demo_model()), p(&file)], None);
    refused(&r, &["huge.raw", "65535x65535"]);
    assert!(r.max_rss_kb < 300 << 10, "peak RSS {} KiB", r.max_rss_kb);
}

#[test]
fn dv_tcp_server_sending_xml_nested_4000_deep_does_not_kill_the_client() {
    // A malicious server: the stream's source thread (small stack) overflowed at depth 4,000.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("tcp://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let deep = format!("{}{}", "<node>".repeat(4_000), "</node>".repeat(4_000));
        let fb = spikestream::events::formats::aedat4::IoHeader::build(spikestream::events::formats::aedat4::Compression::None, -1, &deep);
        let mut bytes = (fb.len() as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(&fb);
        let _ = std::io::Write::write_all(&mut conn, &bytes);
        std::thread::sleep(std::time::Duration::from_secs(2));
    });
    let r = run(&["stream", "--source", &address, "--frame-us", "1000", "--backend", "cpu", p(&demo_model())], None);
    // The exit code of a stream whose source fails is part A's (issue 13); here: no crash, and
    // the reason is said.
    assert!(!r.timed_out && r.signal.is_none() && !r.stderr.contains("panicked"), "{r:?}");
    assert!(r.stderr.contains("nested more than 64 deep"), "{}", r.stderr);
    server.join().unwrap();
}

#[test]
fn stdin_stream_with_a_65535_squared_sensor_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.raw");
    std::fs::write(&file, evt3_file("EVT3;height=65535;width=65535", 2000)).unwrap();
    let r = run(&["stream", "--source", "-", "--frame-us", "1000", "--backend", "cpu", p(&demo_model())], Some(&file));
    refused(&r, &["65535x65535", "limit"]);
    assert!(r.max_rss_kb < 200 << 10, "peak RSS {} KiB", r.max_rss_kb);
}

#[test]
fn aedat4_sizex_sizey_65535_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.aedat4");
    std::fs::write(&file, aedat4_file(Resolution::new(65535, 65535), 3000, 1000)).unwrap();
    let r = run(&["frames", p(&file), "--out", p(&dir.path().join("f.npy"))], None);
    refused(&r, &["huge.aedat4", "65535x65535", "limit"]);
    assert!(r.max_rss_kb < 200 << 10, "peak RSS {} KiB", r.max_rss_kb);
}

#[test]
fn zero_sized_sensor_with_size_does_not_panic_in_resize() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zero.raw");
    std::fs::write(&file, evt3_file("EVT3;height=0;width=0", 50)).unwrap();
    refused(&run(&["frames", p(&file), "--size", "48x48", "--out", p(&dir.path().join("f.npy"))], None), &["zero.raw", "sensor"]);
}

#[test]
fn npy_shape_whose_byte_size_wraps_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wrap.npy");
    // 2^62 x 4 float32: `count * 4` wrapped to 0 and passed the size check.
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0; 64]);
    std::fs::write(&file, bytes).unwrap();
    refused(&run(&["classify", p(&demo_model()), p(&file)], None), &["wrap.npy", "limit"]);
}

#[test]
fn npy_input_with_nan_or_inf_is_refused_naming_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nan.npy");
    let mut data = vec![0f32; 8 * 2 * 48 * 48];
    data[2 * 48 * 48 + 5] = f32::NAN;
    spikestream::frames::npy::write_f32(std::fs::File::create(&file).unwrap(), &[8, 2, 48, 48], &data).unwrap();
    refused(&run(&["classify", p(&demo_model()), p(&file)], None), &["nan.npy", "NaN", "[1, 0, 0, 5]"]);
}

#[test]
fn graph_with_avgpool_stride_0_or_conv_kernel_0_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    for (name, graph, needle) in [
        ("empty.safetensors", r#"[{"op":"conv","name":"z","kernel":1},{"op":"flatten"},{"op":"linear","name":"fc"}]"#, "empty output"),
        ("pool.safetensors", r#"[{"op":"avgpool","kernel":2,"stride":0},{"op":"flatten"},{"op":"linear","name":"fc"}]"#, "stride 0"),
        ("conv.safetensors", r#"[{"op":"conv","name":"c","kernel":0},{"op":"flatten"},{"op":"linear","name":"fc"}]"#, "kernel 0"),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, hostile_common::graph_model(graph, "2x8x8")).unwrap();
        let sample = demo_sample();
        for cmd in ["info", "classify"] {
            let mut args = vec![cmd, p(&file)];
            if cmd == "classify" {
                args.push(p(&sample));
            }
            refused(&run(&args, None), &[name, needle]);
        }
    }
}

#[test]
fn model_metadata_that_forces_huge_allocations_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str, &str); 6] = [
        ("frames", "framing", r#"{"split_by":"number","frames":1000000000,"resize":"48x48"}"#, "'frames'"),
        ("frames_float", "framing", r#"{"split_by":"number","frames":1e9,"resize":"48x48"}"#, "'frames'"),
        ("duration", "framing", r#"{"split_by":"duration","duration_us":1,"resize":"48x48"}"#, "(duration_us) is 299957, above the limit of 100000"),
        ("resize", "framing", r#"{"split_by":"number","frames":8,"resize":"100000x100000"}"#, "'resize'"),
        ("input", "input", "2x60000x60000", "'input'"),
        ("timesteps", "timesteps", "1000000000", "'timesteps'"),
    ];
    for (name, key, value, needle) in cases {
        let file = dir.path().join(format!("{name}.safetensors"));
        std::fs::write(&file, model_with_meta(&[(key, value)], &[])).unwrap();
        let r = run(&["classify", p(&file), p(&demo_sample())], None);
        // Refused at load (naming the model), or, for a count that depends on the recording,
        // when framing it (naming the recording).
        let file = if name == "duration" { demo_sample().file_name().unwrap().to_string_lossy().into_owned() } else { format!("{name}.safetensors") };
        refused(&r, &[&file, needle]);
        assert!(r.max_rss_kb < 400 << 10, "{name}: peak RSS {} KiB", r.max_rss_kb);
    }
}

#[test]
fn num_classes_of_10_to_the_12_without_class_names_is_refused_not_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("classes.safetensors");
    std::fs::write(&file, model_with_meta(&[("num_classes", "1000000000000")], &["classes"])).unwrap();
    let r = run(&["info", p(&file)], None);
    refused(&r, &["classes.safetensors", "'num_classes'"]);
    assert!(r.max_rss_kb < 200 << 10, "peak RSS {} KiB", r.max_rss_kb);
}

#[test]
fn cli_numbers_that_force_huge_allocations_are_refused_naming_the_flag() {
    let model = demo_model();
    let r = run(&["classify", p(&model), p(&demo_sample()), "--batch", "1000000000"], None);
    refused(&r, &["--batch", "4096"]);
    let r = run(&["bench", "--arch", "vgg11_48_legacy", "--width-div", "16", "--backend", "cpu", "--profile-steps", "1000000000000"], None);
    refused(&r, &["--profile-steps"]);
    let r = run(&["bench", "--arch", "vgg11_48_legacy", "--backend", "cpu", "--input-shape", "2x60000x60000"], None);
    refused(&r, &["--input-shape", "limit"]);
}

#[test]
fn neuron_tau_0_or_threshold_not_above_0_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (name, neuron, needle) in [
        ("tau0", r#"{"kind":"lif","tau":0.0,"v_th":1.0}"#, "'tau'"),
        ("vth0", r#"{"kind":"legacy_lif","tau":0.25,"v_th":0.0}"#, "'v_th'"),
        ("vthneg", r#"{"kind":"if","v_th":-1.0}"#, "'v_th'"),
    ] {
        let file = dir.path().join(format!("{name}.safetensors"));
        std::fs::write(&file, model_with_meta(&[("neuron", neuron)], &[])).unwrap();
        refused(&run(&["info", p(&file)], None), &[&format!("{name}.safetensors"), "neuron", needle]);
    }
}

#[test]
fn weights_that_overflow_the_logits_are_an_error_naming_a_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("overflow.safetensors");
    std::fs::write(&file, hostile_common::demo_with_constant(&["classifier.module.1.weight", "classifier.module.1.bias"], 3.0e38)).unwrap();
    let r = run(&["classify", "--backend", "cpu", "--json", p(&file), p(&demo_sample())], None);
    refused(&r, &["became", "classifier.module.1"]);
    assert!(!r.stdout.contains("null"), "{}", r.stdout);
}

#[test]
fn aedat4_cut_exactly_at_a_packet_boundary_is_reported_as_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let whole = aedat4_file(Resolution::new(64, 48), 5000, 1000);
    let boundary = hostile_common::packet_boundaries(&whole)[2];
    let file = dir.path().join("cut.aedat4");
    std::fs::write(&file, &whole[..boundary]).unwrap();
    let r = run(&["inspect", p(&file)], None);
    refused(&r, &["cut.aedat4", &format!("ends at byte {boundary}"), "data table", "truncated"]);
    assert!(r.stdout.contains("2000"), "the events before the cut are summarised: {}", r.stdout);
    refused(&run(&["classify", p(&demo_model()), p(&file)], None), &["cut.aedat4", "truncated"]);
}

#[test]
fn aedat4_with_no_events_is_not_classified() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("empty.aedat4");
    std::fs::write(&file, hostile_common::aedat4_events_header(Resolution::new(64, 48))).unwrap();
    refused(&run(&["classify", p(&demo_model()), p(&file)], None), &["empty.aedat4", "no events"]);
    // A header cut short: the truncation is the message, for convert --partial too.
    let whole = aedat4_file(Resolution::new(64, 48), 100, 100);
    let cut = dir.path().join("headercut.aedat4");
    std::fs::write(&cut, &whole[..40]).unwrap();
    let out = dir.path().join("out.aedat4");
    let r = run(&["convert", "--partial", p(&cut), p(&out)], None);
    refused(&r, &["headercut.aedat4", "truncated"]);
    assert!(!out.exists());
}

#[test]
fn zero_filled_file_of_1048575_bytes_is_not_detected_as_nmnist() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zeros.bin");
    std::fs::write(&file, vec![0u8; 1_048_575]).unwrap();
    refused(&run(&["classify", p(&demo_model()), p(&file)], None), &["zeros.bin", "unknown event format"]);
    refused(&run(&["inspect", p(&file)], None), &["zeros.bin", "unknown event format"]);
}

#[test]
fn directory_where_a_file_is_expected_says_so_not_no_such_device() {
    let dir = tempfile::tempdir().unwrap();
    for args in [vec!["inspect", p(dir.path())], vec!["info", p(dir.path())], vec!["classify", p(dir.path()), p(&demo_sample())]] {
        let r = run(&args, None);
        refused(&r, &["is a folder"]);
        assert!(!r.stderr.contains("os error 19"), "{}", r.stderr);
    }
}

#[test]
fn error_causes_are_not_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(common::data("synthetic_zstd.aedat4")).unwrap();
    let file = dir.path().join("cut.aedat4");
    std::fs::write(&file, &whole[..whole.len() - 1000]).unwrap();
    let r = run(&["classify", p(&demo_model()), p(&file)], None);
    refused(&r, &["cut.aedat4", "truncated"]);
    assert_eq!(r.stderr.matches("truncated").count(), 1, "{}", r.stderr);
}

#[test]
fn missing_input_metadata_hint_names_input_shape_and_vgg48_needs_none() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("noinput.safetensors");
    std::fs::write(&file, model_with_meta(&[], &["input"])).unwrap();
    let r = run(&["classify", p(&file), p(&demo_sample())], None);
    assert_eq!(r.code, Some(0), "vgg11_48_legacy infers 2x48x48: {r:?}");
    let graph = dir.path().join("graph.safetensors");
    let bytes = hostile_common::graph_model(r#"[{"op":"flatten"},{"op":"linear","name":"fc"}]"#, "2x8x8");
    std::fs::write(&graph, hostile_common::without_meta(&bytes, "input")).unwrap();
    refused(&run(&["info", p(&graph)], None), &["'input'", "--input-shape"]);
}

#[test]
fn classify_labels_from_dirs_skips_simulate_json_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let class = dir.path().join("bar_right");
    std::fs::create_dir(&class).unwrap();
    std::fs::copy(demo_sample(), class.join("0001.aedat4")).unwrap();
    std::fs::write(dir.path().join("simulate.json"), br#"{"seed": 1}"#).unwrap();
    let r = run(&["classify", p(&demo_model()), p(dir.path()), "--labels-from-dirs"], None);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stderr.contains("skipped 1 file") && r.stderr.contains("simulate.json"), "{}", r.stderr);
}
