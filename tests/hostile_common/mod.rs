//! Helpers of the hostile-input suites: running the binary under a time limit with its peak RSS
//! (getrusage of the child through `wait4`), and building crafted recordings and model files.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use safetensors::tensor::TensorView;
use spikestream::events::formats::aedat4::{Aedat4Writer, Compression, IoHeader, VERSION_LINE, WriterOptions};
use spikestream::events::{Event, Resolution};

/// What a child run did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident set size of the child, KiB (`ru_maxrss`).
    pub max_rss_kb: i64,
}

pub const LIMIT: Duration = Duration::from_secs(60);

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs the binary with `args` (stdin from `stdin` or empty), killing it after [`LIMIT`].
pub fn run(args: &[&str], stdin: Option<&Path>) -> Run {
    run_with_env(args, stdin, &[])
}

pub fn run_with_env(args: &[&str], stdin: Option<&Path>, env: &[(&str, &str)]) -> Run {
    // The peak RSS comes from GNU time, which forks a small process of its own: measured from
    // here, the child's `ru_maxrss` starts at this test process's peak (the spawned child
    // shares our address space until it execs, and exec keeps the larger high-water mark).
    let rss_file = tempfile::NamedTempFile::new().unwrap();
    let time = Path::new("/usr/bin/time");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.args(["-f", "%M", "-o", p(rss_file.path()), env!("CARGO_BIN_EXE_spikestream")]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_spikestream"))
    };
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(stdin.map_or(Stdio::null(), |f| Stdio::from(std::fs::File::open(f).unwrap())));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    let (mut status, mut usage, mut timed_out) = (0, unsafe { std::mem::zeroed::<libc::rusage>() }, false);
    loop {
        // SAFETY: wait4 on our own child with valid out-pointers.
        let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if done == pid {
            break;
        }
        if start.elapsed() > LIMIT && !timed_out {
            timed_out = true;
            // SAFETY: kills the child's own process group (time and spikestream).
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (mut code, mut signal) = if libc::WIFEXITED(status) { (Some(libc::WEXITSTATUS(status)), None) } else { (None, Some(libc::WTERMSIG(status))) };
    let mut max_rss_kb = usage.ru_maxrss;
    if time.exists() {
        let report = std::fs::read_to_string(rss_file.path()).unwrap_or_default();
        max_rss_kb = report.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(max_rss_kb);
        if let Some(n) = report.split("terminated by signal ").nth(1).and_then(|s| s.split_whitespace().next()).and_then(|n| n.parse().ok()) {
            (code, signal) = (None, Some(n));
        }
    }
    Run { code, signal, timed_out, stdout: out.join().unwrap(), stderr: err.join().unwrap(), max_rss_kb }
}

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn demo_model() -> PathBuf {
    repo("models/demo/sim10_vgg48_legacy.safetensors")
}

/// One labelled sample recording of the demo model's classes.
pub fn demo_sample() -> PathBuf {
    let dir = repo("models/demo/samples/bar_right");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.remove(0)
}

/// An EVT3 RAW file whose `% format` line is `format`, with `events` events on a 64x48 grid.
pub fn evt3_file(format: &str, events: usize) -> Vec<u8> {
    let mut b = format!("% camera_integrator_name Prophesee\n% evt 3.0\n% format {format}\n% end\n").into_bytes();
    let mut word = |w: u16| b.extend_from_slice(&w.to_le_bytes());
    word(0x8000); // TIME_HIGH 0
    for i in 0..events {
        word(0x6000 | (i as u16 * 7) & 0x0FFF); // TIME_LOW
        word((i as u16 * 5) % 48); // ADDR_Y
        word(0x2000 | ((i as u16 * 3) % 64) | if i % 2 == 0 { 0x800 } else { 0 }); // ADDR_X
    }
    b
}

/// An AEDAT4 file with `events` events (1 µs apart) in packets of `per_packet`, LZ4, data table.
pub fn aedat4_file(resolution: Resolution, events: usize, per_packet: usize) -> Vec<u8> {
    let ev: Vec<Event> = (0..events).map(|i| Event::new(1_000_000 + i as u64 * 50, (i % 64) as u16, (i * 7 % 48) as u16, i % 3 == 0)).collect();
    let options = WriterOptions { packet_events: per_packet, ..WriterOptions::new(resolution) };
    let mut w = Aedat4Writer::new(std::io::Cursor::new(Vec::new()), options).unwrap();
    w.write_events(&ev).unwrap();
    w.finish().unwrap().into_inner()
}

/// An AEDAT4 file that is only a header with `xml` as its info and `table` as the data table
/// position.
pub fn aedat4_header_only(xml: &str, table: i64) -> Vec<u8> {
    let fb = IoHeader::build(Compression::Lz4, table, xml);
    let mut b = VERSION_LINE.to_vec();
    b.extend_from_slice(&(fb.len() as u32).to_le_bytes());
    b.extend_from_slice(&fb);
    b
}

/// A valid event-stream header and no packets (no data table: a recording that stopped).
pub fn aedat4_events_header(resolution: Resolution) -> Vec<u8> {
    let xml = spikestream::events::formats::aedat4::streams_xml(0, None, Compression::Lz4, resolution, "test");
    aedat4_header_only(&xml, -1)
}

/// Byte offsets where packets of an AEDAT4 file start (after the header), up to its table.
pub fn packet_boundaries(file: &[u8]) -> Vec<usize> {
    let header = u32::from_le_bytes(file[14..18].try_into().unwrap()) as usize;
    let mut at = 18 + header;
    let mut starts = vec![at];
    while at + 8 <= file.len() {
        let size = i32::from_le_bytes(file[at + 4..at + 8].try_into().unwrap()) as usize;
        at += 8 + size;
        starts.push(at);
    }
    starts
}

type Parts = (Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)>, HashMap<String, String>);

fn parts(bytes: &[u8]) -> Parts {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let tensors = st.tensors().into_iter().map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec())).collect();
    (tensors, meta.metadata().clone().unwrap_or_default())
}

fn serialize((tensors, meta): Parts) -> Vec<u8> {
    let views: Vec<(String, TensorView)> = tensors.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

/// The demo model with metadata keys set and others removed.
pub fn model_with_meta(set: &[(&str, &str)], remove: &[&str]) -> Vec<u8> {
    let (t, mut meta) = parts(&std::fs::read(demo_model()).unwrap());
    for (k, v) in set {
        meta.insert(k.to_string(), v.to_string());
    }
    for k in remove {
        meta.remove(*k);
    }
    serialize((t, meta))
}

pub fn without_meta(bytes: &[u8], key: &str) -> Vec<u8> {
    let (t, mut meta) = parts(bytes);
    meta.remove(key);
    serialize((t, meta))
}

/// The demo model with every value of the named (f32) tensors set to `value`.
pub fn demo_with_constant(names: &[&str], value: f32) -> Vec<u8> {
    let (mut t, meta) = parts(&std::fs::read(demo_model()).unwrap());
    for (n, d, _, b) in &mut t {
        if names.iter().any(|want| n.ends_with(want)) {
            assert_eq!(*d, safetensors::Dtype::F32);
            b.chunks_exact_mut(4).for_each(|c| c.copy_from_slice(&value.to_le_bytes()));
        }
    }
    serialize((t, meta))
}

/// A `graph` model of `layers` on a `CxHxW` input whose linear layer `fc` maps whatever reaches
/// it to 10 classes (the demo's framing, so the demo samples frame for it).
pub fn graph_model(layers: &str, input: &str) -> Vec<u8> {
    let dims: Vec<usize> = input.split('x').map(|d| d.parse().unwrap()).collect();
    let n: usize = dims.iter().product();
    let f32s = |v: Vec<f32>| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let tensors = vec![
        ("fc.weight".to_string(), safetensors::Dtype::F32, vec![10, n], f32s(vec![0.01; 10 * n])),
        ("fc.bias".to_string(), safetensors::Dtype::F32, vec![10], f32s(vec![0.0; 10])),
        ("c.weight".to_string(), safetensors::Dtype::F32, vec![4, dims[0], 0, 0], Vec::new()),
        // A 1x1 convolution with no output channels.
        ("z.weight".to_string(), safetensors::Dtype::F32, vec![0, dims[0], 1, 1], Vec::new()),
        ("z.bias".to_string(), safetensors::Dtype::F32, vec![0], Vec::new()),
    ];
    let meta: HashMap<String, String> = [
        ("format", "1"),
        ("arch", "graph"),
        ("graph", layers),
        ("timesteps", "8"),
        ("num_classes", "10"),
        ("input", input),
        ("framing", r#"{"split_by":"number","frames":8,"resize":"8x8"}"#),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    serialize((tensors, meta))
}
