//! `simulate --from-images`: an image-folder dataset filmed under saccades keeps its folders,
//! is deterministic, fires where the image has edges, and refuses images of mixed sizes.

use std::path::Path;
use std::process::Command;

use spikestream::events::file::ReadOptions;
use spikestream::events::{Resolution, read_file};

fn write_png(path: &Path, w: u32, h: u32, pixels: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut enc = png::Encoder::new(std::fs::File::create(path).unwrap(), w, h);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().unwrap().write_image_data(pixels).unwrap();
}

/// A 16x16 image: a bright square on black (class "square") or a bright bar ("bar").
fn picture(square: bool) -> Vec<u8> {
    (0..256).map(|i| {
        let (x, y) = (i % 16, i / 16);
        let lit = if square { (5..11).contains(&x) && (5..11).contains(&y) } else { (7..9).contains(&x) };
        if lit { 255 } else { 0 }
    }).collect()
}

fn simulate(images: &Path, out: &Path) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_spikestream"))
        .args(["simulate", "--from-images", images.to_str().unwrap(), "--out", out.to_str().unwrap(), "--threads", "2"])
        .output()
        .unwrap();
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn an_image_folder_becomes_an_event_dataset_with_the_same_layout() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    for (split, n) in [("train", 3), ("test", 1)] {
        for class in ["square", "bar"] {
            for i in 0..n {
                write_png(&images.join(split).join(class).join(format!("{i}.png")), 16, 16, &picture(class == "square"));
            }
        }
    }
    std::fs::write(images.join("README.txt"), "not an image").unwrap();
    let out = dir.path().join("events");
    let (ok, log) = simulate(&images, &out);
    assert!(ok, "{log}");
    assert!(log.contains("wrote 8 recordings") && log.contains("22x22 sensor"), "{log}");
    let recording = read_file(&out.join("train/square/0.aedat4"), ReadOptions::default()).unwrap();
    assert_eq!(recording.resolution, Some(Resolution::new(22, 22)));
    // Edges fire: most events lie on the square's outline (sensor rows/cols 8..14, ±2 for the
    // saccade), few in its flat middle or the flat black surround.
    let near_edge = |v: u16| (6..=10).contains(&v) || (12..=16).contains(&v);
    let on_outline = recording.events.iter().filter(|e| (near_edge(e.x) && (6..=16).contains(&e.y)) || (near_edge(e.y) && (6..=16).contains(&e.x))).count();
    assert!(recording.events.len() > 200, "{} events", recording.events.len());
    assert!(on_outline * 10 > recording.events.len() * 8, "{on_outline} of {} events near the outline", recording.events.len());
    for file in ["train/bar/2.aedat4", "test/square/0.aedat4", "test/bar/0.aedat4", "simulate.json"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    assert!(!out.join("README.aedat4").exists());
    // Deterministic: the same folder and seed give the same bytes.
    let again = dir.path().join("again");
    assert!(simulate(&images, &again).0);
    assert_eq!(std::fs::read(out.join("test/bar/0.aedat4")).unwrap(), std::fs::read(again.join("test/bar/0.aedat4")).unwrap());
    // Two images of one class differ only by their seeds (the path): different noise.
    assert_ne!(std::fs::read(out.join("train/bar/0.aedat4")).unwrap(), std::fs::read(out.join("train/bar/1.aedat4")).unwrap());
}

#[test]
fn images_of_another_size_or_not_png_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    write_png(&images.join("a/0.png"), 16, 16, &picture(true));
    write_png(&images.join("a/1.png"), 8, 8, &[0; 64]);
    let (ok, log) = simulate(&images, &dir.path().join("out"));
    assert!(!ok && log.contains("1.png") && log.contains("8x8"), "{log}");
    assert!(!dir.path().join("out").exists(), "a failed run leaves no dataset");
    std::fs::write(images.join("a/1.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let (ok, log) = simulate(&images, &dir.path().join("out"));
    assert!(!ok && log.contains("1.png") && log.contains("PNG"), "{log}");
}
