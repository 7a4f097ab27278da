//! `spikestream render` end to end: golden frames (the renderer is deterministic, so frames of
//! a committed sample equal committed PNGs byte for byte), GIF frame count and timing, Y4M
//! layout, MP4 through ffmpeg where it is installed, and refusals.
//! Regenerate the golden PNGs after an intended change with `SPIKESTREAM_BLESS=1`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn spikestream(args: &[&str]) -> (bool, String) {
    spikestream_with_path(args, None)
}

fn spikestream_with_path(args: &[&str], path_env: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spikestream"));
    cmd.args(args);
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    let out = cmd.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo/samples/bar_right/0080.aedat4")
}

fn golden_dir() -> PathBuf {
    common::data("render")
}

#[test]
fn frames_of_a_sample_equal_the_committed_pngs() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("f-%03d.png");
    let (ok, err) = spikestream(&["render", p(&sample()), "--out", p(&pattern), "--fps", "100", "--end", "60ms", "--scale", "2", "--timecode"]);
    assert!(ok, "{err}");
    let mut names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, (0..6).map(|i| format!("f-{i:03}.png")).collect::<Vec<_>>(), "{err}");
    if std::env::var_os("SPIKESTREAM_BLESS").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        for n in &names {
            std::fs::copy(dir.path().join(n), golden_dir().join(n)).unwrap();
        }
    }
    for n in &names {
        let got = std::fs::read(dir.path().join(n)).unwrap();
        let want = std::fs::read(golden_dir().join(n)).unwrap_or_else(|e| panic!("{}: {e}; bless with SPIKESTREAM_BLESS=1", golden_dir().join(n).display()));
        assert!(got == want, "{n} differs from {}", golden_dir().join(n).display());
    }
    // The still is the last frame of the same range.
    let still = dir.path().join("still.png");
    let (ok, err) = spikestream(&["render", p(&sample()), "--out", p(&still), "--fps", "100", "--end", "60ms", "--scale", "2", "--timecode"]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(&still).unwrap(), std::fs::read(dir.path().join("f-005.png")).unwrap());
}

#[test]
fn a_gif_has_the_frames_and_timing_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.gif");
    let (ok, err) = spikestream(&["render", p(&sample()), "--out", p(&out), "--fps", "30", "--end", "200ms", "--decay", "linear", "--tau-us", "30000"]);
    assert!(ok, "{err}");
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = options.read_info(std::fs::File::open(&out).unwrap()).unwrap();
    let (w, h) = (decoder.width(), decoder.height());
    let (mut frames, mut delay) = (0u64, 0u64);
    let mut lit = 0usize;
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        assert_eq!((frame.width, frame.height), (w, h));
        frames += 1;
        delay += u64::from(frame.delay);
        lit += frame.buffer.iter().filter(|&&i| i != 0).count();
    }
    // 200 ms at 30 fps: frames at 1/30 … 6/30 s, 20 hundredths in all (3, 4, 3, 3, 4, 3).
    assert_eq!(frames, 6, "{err}");
    assert_eq!(delay, 20);
    assert!(lit > 0, "every frame is background");
    assert!(err.contains("6 frames"), "{err}");
}

#[test]
fn y4m_is_a_header_and_whole_444_frames() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.y4m");
    let (ok, err) = spikestream(&["render", p(&sample()), "--out", p(&out), "--frame-us", "20000", "--end", "200ms", "--scale", "1"]);
    assert!(ok, "{err}");
    let bytes = std::fs::read(&out).unwrap();
    let header_end = bytes.iter().position(|&b| b == b'\n').unwrap();
    let header = std::str::from_utf8(&bytes[..header_end]).unwrap();
    let field = |k: char| header.split(' ').find_map(|f| f.strip_prefix(k)).unwrap().to_string();
    assert!(header.starts_with("YUV4MPEG2 ") && header.contains(" C444") && field('F') == "50:1", "{header}");
    let (w, h): (usize, usize) = (field('W').parse().unwrap(), field('H').parse().unwrap());
    let frame = 6 + 3 * w * h;
    assert_eq!((bytes.len() - header_end - 1) % frame, 0);
    assert_eq!((bytes.len() - header_end - 1) / frame, 10);
    assert_eq!(&bytes[header_end + 1..header_end + 7], b"FRAME\n");
}

#[test]
fn mp4_goes_through_ffmpeg_or_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.mp4");
    // Without ffmpeg on the PATH: a clear error, and no output.
    let (ok, err) = spikestream_with_path(&["render", p(&sample()), "--out", p(&out), "--end", "200ms"], Some(p(dir.path())));
    assert!(!ok);
    assert!(err.contains("ffmpeg") && err.contains(".y4m"), "{err}");
    assert!(!out.exists());
    let has = |tool: &str| Command::new(tool).arg("-version").output().is_ok_and(|o| o.status.success());
    if !(has("ffmpeg") && has("ffprobe")) {
        assert!(!common::in_ci(), "CI installs ffmpeg (scripts/setup-ffmpeg.sh)");
        eprintln!("ffmpeg/ffprobe are not installed here: the MP4 encode was not checked");
        return;
    }
    let (ok, err) = spikestream(&["render", p(&sample()), "--out", p(&out), "--fps", "25", "--end", "200ms"]);
    assert!(ok, "{err}");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=codec_name,nb_read_frames,r_frame_rate", "-of", "csv=p=0", p(&out)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&probe.stdout);
    assert_eq!(text.trim(), "h264,25/1,5", "{text}");
    // The colours survive the encode: the MP4's last frame, decoded to RGB, is close to the PNG
    // still of the same moment (H.264 is lossy; a range or matrix mix-up shifts every pixel).
    let still = dir.path().join("still.png");
    let (ok, err) = spikestream(&["render", p(&sample()), "--out", p(&still), "--fps", "25", "--end", "200ms"]);
    assert!(ok, "{err}");
    let decoded = Command::new("ffmpeg").args(["-v", "error", "-sseof", "-0.04", "-i", p(&out), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]).output().unwrap();
    assert!(decoded.status.success(), "{}", String::from_utf8_lossy(&decoded.stderr));
    let png = image_rgb(&still);
    assert_eq!(decoded.stdout.len(), png.len(), "frame size");
    let mean_error = decoded.stdout.iter().zip(&png).map(|(&a, &b)| f64::from(a.abs_diff(b))).sum::<f64>() / png.len() as f64;
    assert!(mean_error < 6.0, "mean |MP4 − PNG| = {mean_error:.2} per channel");
}

/// The RGB bytes of an indexed or RGB PNG.
fn image_rgb(path: &std::path::Path) -> Vec<u8> {
    let mut decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    buf
}

#[test]
fn bad_requests_are_refused_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let s = sample();
    let cases: [(&[&str], &str); 5] = [
        (&["--out", "x.avi"], ".gif, .mp4, .y4m"),
        (&["--out", "x.gif", "--fps", "0"], "--fps"),
        (&["--out", "x.gif", "--start", "2s", "--end", "1s"], "--end"),
        (&["--out", "x.gif", "--start", "2 parsecs"], "unit"),
        (&["--out", "x.gif", "--scale", "1000"], "--scale"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["render", p(&s)];
        let out = dir.path().join(args[1]);
        let mut rest: Vec<&str> = args.to_vec();
        rest[1] = p(&out);
        all.extend(rest);
        let (ok, err) = spikestream(&all);
        assert!(!ok, "{all:?} succeeded");
        assert!(err.contains(needle), "{all:?}: {err}");
    }
    // The output may not be the input.
    let copy = dir.path().join("in.gif");
    std::fs::copy(&s, &copy).unwrap();
    let (ok, err) = spikestream(&["render", p(&copy), "--out", p(&copy), "--format", "aedat4"]);
    assert!(!ok && err.contains("input"), "{err}");
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&s).unwrap());
}

#[test]
fn the_overlay_shows_the_numbers_classify_gives_step_by_step() {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo/sim10_vgg48_legacy.safetensors");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo/samples/rotate_cw/0080.aedat4");
    let still = dir.path().join("overlay.png");
    let out = Command::new(env!("CARGO_BIN_EXE_spikestream"))
        .args(["render", p(&sample), "--out", p(&still), "--model", p(&model), "--labels-from-dirs", "--timecode", "--json", "--backend", "cpu", "--end", "250ms"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let classify = Command::new(env!("CARGO_BIN_EXE_spikestream"))
        .args(["classify", p(&model), p(&sample), "--decode", "per-step", "--json", "--backend", "cpu"])
        .output()
        .unwrap();
    assert!(classify.status.success());
    let json: serde_json::Value = serde_json::from_slice(&classify.stdout).unwrap();
    let logits: Vec<Vec<f32>> = serde_json::from_value(json["results"][0]["logits"].clone()).unwrap();
    let classes: Vec<String> = spikestream::model::Model::load(&model, &Default::default()).unwrap().meta.classes;
    let mut last_step = 0;
    for frame in &shown {
        let Some(step) = frame["step"].as_u64().map(|s| s as usize) else { continue };
        assert!(step >= last_step, "steps only advance: {frame}");
        last_step = step;
        let p = spikestream::engine::session::softmax(&logits[step - 1]);
        for entry in frame["top"].as_array().unwrap() {
            let (name, prob) = (entry[0].as_str().unwrap(), entry[1].as_f64().unwrap() as f32);
            let i = classes.iter().position(|c| c == name).unwrap();
            assert_eq!(prob, p[i], "frame {frame}: {name} at step {step}");
        }
    }
    assert!(last_step >= 6, "the overlay reached step {last_step}");
    if std::env::var_os("SPIKESTREAM_BLESS").is_some() {
        std::fs::copy(&still, golden_dir().join("overlay.png")).unwrap();
    }
    assert!(std::fs::read(&still).unwrap() == std::fs::read(golden_dir().join("overlay.png")).unwrap(), "overlay.png differs from the committed one");
}

#[test]
fn stream_render_writes_the_video_of_what_it_streams_and_changes_no_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo/sim10_vgg48_legacy.safetensors");
    let source = format!("replay:{}", sample().display());
    let stream = |extra: &[&str]| {
        let mut args = vec!["stream", p(&model), "--source", &source, "--speed", "max", "--frame-us", "10000", "--hop", "2", "--backend", "cpu", "--json"];
        args.extend_from_slice(extra);
        let o = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(&args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let predictions: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.get("window").is_some())
            .map(|mut v| {
                v.as_object_mut().unwrap().remove("latency_ms");
                v
            })
            .collect();
        (predictions, String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let gif = dir.path().join("live.gif");
    let (plain, _) = stream(&[]);
    let (rendered, err) = stream(&["--render", p(&gif)]);
    assert_eq!(plain, rendered, "rendering changed the predictions");
    assert!(err.contains("0 events dropped"), "{err}");
    // The same frames as rendering the file (30 fps, the whole recording).
    let still = dir.path().join("file.gif");
    let (ok, _) = spikestream(&["render", p(&sample()), "--out", p(&still)]);
    assert!(ok);
    let count = |path: &Path| {
        let mut d = gif::DecodeOptions::new().read_info(std::fs::File::open(path).unwrap()).unwrap();
        let mut n = 0;
        while d.read_next_frame().unwrap().is_some() {
            n += 1;
        }
        n
    };
    assert_eq!(count(&gif), count(&still));
    assert!(err.contains(&format!("rendered {} frames", count(&still))), "{err}");
}

#[test]
fn a_live_source_renders_the_same_video_as_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let (live, file) = (dir.path().join("live.y4m"), dir.path().join("file.y4m"));
    let source = format!("replay:{}", sample().display());
    let (ok, err) = spikestream(&["render", "--source", &source, "--out", p(&live), "--fps", "60"]);
    assert!(ok, "{err}");
    let (ok, err) = spikestream(&["render", p(&sample()), "--out", p(&file), "--fps", "60"]);
    assert!(ok, "{err}");
    assert!(std::fs::read(&live).unwrap() == std::fs::read(&file).unwrap(), "the live render differs from the file's");
}
