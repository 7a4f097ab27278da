//! Image files as static inputs: PNG (grey, RGB, RGBA, palette, 16-bit) and JPEG decoding
//! against known pixels, bad files (truncated, a huge declared size, the wrong channel count, an
//! event recording) refused with an error naming the file, `.npy` `[N, C, H, W]` arrays, and
//! `spikestream classify` end to end on a tiny synthetic static model (folders of PNGs and JPEGs
//! with `--labels-from-dirs`, equal to the library's answers).

mod static_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use spikestream::frames::image::{self, Image};
use spikestream::{BackendChoice, Session, SessionOptions};
use static_common::{pixels, planar, static_model, write_png, write_png_depth};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/static").join(name)
}

#[test]
fn png_colour_types_decode_to_planar_values() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (5u32, 3u32);
    let grey = pixels(1, 15);
    let rgb = pixels(2, 45);
    let rgba = pixels(3, 60);
    write_png(&dir.path().join("grey.png"), w, h, png::ColorType::Grayscale, &grey);
    write_png(&dir.path().join("rgb.png"), w, h, png::ColorType::Rgb, &rgb);
    write_png(&dir.path().join("rgba.png"), w, h, png::ColorType::Rgba, &rgba);
    let read = |n: &str| image::read(&dir.path().join(n)).unwrap();
    assert_eq!(read("grey.png"), Image { channels: 1, height: 3, width: 5, data: planar(&grey, 1) });
    assert_eq!(read("rgb.png"), Image { channels: 3, height: 3, width: 5, data: planar(&rgb, 3) });
    // Alpha is dropped: RGBA gives the RGB planes.
    let rgb_of_rgba: Vec<u8> = rgba.chunks(4).flat_map(|p| p[..3].to_vec()).collect();
    assert_eq!(read("rgba.png").data, planar(&rgb_of_rgba, 3));
    // Palette: expanded to RGB.
    let palette = [10u8, 20, 30, 200, 100, 0, 255, 255, 255];
    let indices = [0u8, 1, 2, 1, 0, 2];
    let file = std::fs::File::create(dir.path().join("palette.png")).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), 3, 2);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_palette(palette.to_vec());
    encoder.write_header().unwrap().write_image_data(&indices).unwrap();
    let rgb_of_palette: Vec<u8> = indices.iter().flat_map(|&i| palette[3 * i as usize..3 * i as usize + 3].to_vec()).collect();
    assert_eq!(read("palette.png"), Image { channels: 3, height: 2, width: 3, data: planar(&rgb_of_palette, 3) });
    // 16-bit grey: x / 65535.
    let deep: Vec<u8> = [0u16, 65535, 32768, 1, 4660, 65534].iter().flat_map(|v| v.to_be_bytes()).collect();
    write_png_depth(&dir.path().join("deep.png"), 3, 2, png::ColorType::Grayscale, png::BitDepth::Sixteen, &deep);
    let d = read("deep.png");
    assert_eq!(d.data, [0u16, 65535, 32768, 1, 4660, 65534].iter().map(|&v| f32::from(v) / 65535.0).collect::<Vec<_>>());
}

#[test]
fn jpeg_decodes_close_to_libjpeg() {
    let pil: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(data("jpeg_pixels_pil.json")).unwrap()).unwrap();
    for (name, channels) in [("grey_8x8.jpg", 1usize), ("rgb_10x6.jpg", 3)] {
        let img = image::read(&data(name)).unwrap();
        let shape: Vec<usize> = pil[name]["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        assert_eq!((img.channels, img.height, img.width), (channels, shape[0], shape[1]), "{name}");
        let want: Vec<u8> = pil[name]["pil_pixels"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u8).collect();
        let want = planar(&want, channels);
        // Two JPEG decoders may differ by a few levels (IDCT and chroma upsampling).
        let diffs: Vec<f32> = img.data.iter().zip(&want).map(|(a, b)| (a - b).abs() * 255.0).collect();
        let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
        let max = diffs.iter().cloned().fold(0.0, f32::max);
        assert!(mean < 2.0 && max <= 16.0, "{name}: mean {mean} max {max} levels from PIL");
    }
}

#[test]
fn bad_images_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.png");
    write_png(&good, 16, 16, png::ColorType::Rgb, &pixels(4, 16 * 16 * 3));
    let bytes = std::fs::read(&good).unwrap();
    let check = |name: &str, content: &[u8], why: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let err = image::read(&path).unwrap_err().to_string();
        assert!(err.contains(name), "{name}: names the file: {err}");
        assert!(err.contains(why), "{name}: {err}");
    };
    check("truncated.png", &bytes[..bytes.len() / 2], "PNG");
    // IHDR declaring 65535 x 65535 pixels (CRC fixed up): refused before allocating.
    let mut huge = bytes.clone();
    huge[16..20].copy_from_slice(&65535u32.to_be_bytes());
    huge[20..24].copy_from_slice(&65535u32.to_be_bytes());
    let crc = crc32(&huge[12..29]);
    huge[29..33].copy_from_slice(&crc.to_be_bytes());
    check("huge.png", &huge, "65535x65535");
    let jpeg = std::fs::read(data("rgb_10x6.jpg")).unwrap();
    check("truncated.jpg", &jpeg[..jpeg.len() / 3], "JPEG");
    // SOF0 frame header declaring 65535 x 65535.
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("baseline JPEG");
    let mut big = jpeg.clone();
    big[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    check("huge.jpg", &big, "JPEG");
    check("text.png", b"not an image", "not a PNG or JPEG");
}

/// CRC-32 (PNG chunks).
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

/// A tiny static model on disk: grey 16x16 images, 4 classes `a`..`d`.
fn grey_model(dir: &Path) -> PathBuf {
    let path = dir.join("grey.safetensors");
    std::fs::write(&path, static_model("sew_resnet18", [1, 16, 16], 3, "[0.5]", "[0.25]")).unwrap();
    path
}

fn cpu_session(model: &Path) -> Session {
    Session::open(model, SessionOptions { backend: BackendChoice::Cpu, batch: 4, ..SessionOptions::default() }).unwrap()
}

#[test]
fn wrong_kind_or_shape_is_an_error_naming_the_file_and_the_models_input() {
    let dir = tempfile::tempdir().unwrap();
    let model = grey_model(dir.path());
    let s = cpu_session(&model);
    let rgb = dir.path().join("rgb.png");
    write_png(&rgb, 16, 16, png::ColorType::Rgb, &pixels(5, 16 * 16 * 3));
    let err = format!("{:#}", anyhow::Error::new(s.loader().file(&rgb, Default::default()).unwrap_err()));
    assert!(err.contains("rgb.png") && err.contains("3-channel") && err.contains("static 1x16x16"), "{err}");
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo/samples/expand/0080.aedat4");
    let err = format!("{:#}", anyhow::Error::new(s.loader().file(&events, Default::default()).unwrap_err()));
    assert!(err.contains("0080.aedat4") && err.contains("static 1x16x16"), "{err}");
    let demo = cpu_session(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo/sim10_vgg48_legacy.safetensors"));
    let err = format!("{:#}", anyhow::Error::new(demo.loader().file(&rgb, Default::default()).unwrap_err()));
    assert!(err.contains("rgb.png") && err.contains("PNG image") && err.contains("event frames 2x48x48"), "{err}");
}

#[test]
fn npy_arrays_equal_the_same_pixels_as_images() {
    let dir = tempfile::tempdir().unwrap();
    let model = grey_model(dir.path());
    let mut s = cpu_session(&model);
    let raw: Vec<Vec<u8>> = (0..3).map(|i| pixels(20 + i, 256)).collect();
    let mut by_image = Vec::new();
    for (i, px) in raw.iter().enumerate() {
        let p = dir.path().join(format!("{i}.png"));
        write_png(&p, 16, 16, png::ColorType::Grayscale, px);
        by_image.extend(s.classify_file(&p, Default::default()).unwrap());
    }
    let stacked: Vec<f32> = raw.iter().flat_map(|px| planar(px, 1)).collect();
    let npy = dir.path().join("batch.npy");
    spikestream::frames::npy::write_f32(std::fs::File::create(&npy).unwrap(), &[3, 1, 16, 16], &stacked).unwrap();
    assert_eq!(s.classify_file(&npy, Default::default()).unwrap(), by_image);
    let wrong = dir.path().join("wrong.npy");
    spikestream::frames::npy::write_f32(std::fs::File::create(&wrong).unwrap(), &[2, 3, 16, 16], &vec![0.0; 1536]).unwrap();
    let err = format!("{:#}", anyhow::Error::new(s.loader().file(&wrong, Default::default()).unwrap_err()));
    assert!(err.contains("wrong.npy") && err.contains("[2, 3, 16, 16]") && err.contains("static 1x16x16"), "{err}");
}

#[test]
fn classify_cli_takes_image_folders_with_labels() {
    let dir = tempfile::tempdir().unwrap();
    let model = grey_model(dir.path());
    let mut s = cpu_session(&model);
    let mut expected = Vec::new();
    for (k, class) in ["a", "c"].iter().enumerate() {
        let d = dir.path().join("set").join(class);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..3 {
            let p = d.join(format!("{i}.png"));
            write_png(&p, 16, 16, png::ColorType::Grayscale, &pixels(40 + 10 * k as u64 + i, 256));
            expected.push((p.clone(), s.classify_file(&p, Default::default()).unwrap().remove(0).prediction.class));
        }
    }
    std::fs::write(dir.path().join("set/a/notes.txt"), "not an input").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_spikestream"))
        .args(["classify", model.to_str().unwrap(), dir.path().join("set").to_str().unwrap(), "--labels-from-dirs", "--json", "--backend", "cpu"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped 1 file"), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = report.to_string();
    for (path, class) in &expected {
        let name = path.display().to_string();
        let entry = report["results"].as_array().unwrap().iter().find(|r| r["file"] == name.as_str()).unwrap_or_else(|| panic!("{name} in {text}"));
        assert_eq!(entry["class"], class.as_str(), "{name}");
    }
    assert!(report["accuracy"].as_f64().is_some(), "{text}");
}

#[test]
fn info_shows_a_static_input_and_its_normalisation() {
    let dir = tempfile::tempdir().unwrap();
    let model = grey_model(dir.path());
    let run = |json: bool| {
        let mut args = vec!["info", model.to_str().unwrap()];
        if json {
            args.push("--json");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_spikestream")).args(&args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let doc: serde_json::Value = serde_json::from_str(&run(true)).unwrap();
    assert_eq!(doc["input_kind"], serde_json::json!({"kind": "static", "mean": [0.5], "std": [0.25]}));
    let text = run(false);
    assert!(text.contains("static image [1, 16, 16]") && text.contains("mean [0.5] std [0.25]") && !text.contains("framing"), "{text}");
}
