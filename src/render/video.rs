//! Writing rendered frames (palette indices) as video. Every output goes through
//! [`AtomicOutput`] (a temporary renamed into place when complete), so an interrupted render
//! leaves the old file as it was. A video is renamed into place without waiting for the disk
//! ([`AtomicOutput::commit_unsynced`]): it can be rendered again from its recording, and the
//! wait was 5 % of a 10 s GIF's render (an 80 MB file).
//!
//! - GIF (`gif` crate for the container, [`super::lzw`] for the compression): the palette is
//!   the GIF's global colour table, so frames are stored as they are; delays are hundredths of a second, rounded so that their running sum follows
//!   the frame times exactly (30 fps: 3, 3, 4, …);
//! - PNG (`png` crate), indexed colour: `OUT.png` holds the last frame rendered (a still at
//!   `--end`), `OUT-%06d.png` (any `%0Nd`) one file per frame;
//! - Y4M: YUV4MPEG2 4:4:4, BT.601 full range, written directly, so video needs no codec;
//! - MP4: YUV 4:2:0 frames (full range; chroma averaged over 2×2 here, so ffmpeg converts
//!   nothing) piped as Y4M to `ffmpeg` (libx264, `--mp4-preset`, default ultrafast) when it is on the PATH;
//!   when it is not, the error says so and suggests `.y4m` or `.gif`. No codec is vendored.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::RenderError;
use super::palette::Palette;
use super::yuv::{lookup, yuv, yuv420};
use crate::output::AtomicOutput;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VideoFormat {
    Gif,
    /// One PNG: the last frame.
    Png,
    /// One PNG per frame: the path before and after the `%0Nd` and the digits.
    PngSequence { before: String, after: String, digits: usize },
    Y4m,
    Mp4,
}

impl VideoFormat {
    /// The format an output path asks for, by its extension (and a `%0Nd` for PNG sequences).
    pub fn of(path: &Path) -> Result<Self, RenderError> {
        let name = path.to_string_lossy();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        Ok(match ext.as_deref() {
            Some("gif") => Self::Gif,
            Some("y4m") => Self::Y4m,
            Some("mp4") => Self::Mp4,
            Some("png") => match name.find('%') {
                None => Self::Png,
                Some(at) => {
                    let rest = &name[at + 1..];
                    let digits_end = rest.find('d').filter(|&d| rest[..d].chars().all(|c| c.is_ascii_digit())).ok_or_else(|| RenderError::Options(format!("{name}: a PNG sequence needs a pattern like frame-%06d.png")))?;
                    let digits = if digits_end == 0 { 1 } else { rest[..digits_end].parse().unwrap_or(1) };
                    Self::PngSequence { before: name[..at].to_string(), after: rest[digits_end + 1..].to_string(), digits: digits.min(12) }
                }
            },
            _ => return Err(RenderError::Options(format!("{name}: the output's extension picks the format: .gif, .mp4, .y4m or .png (one still, or frame-%06d.png for every frame)"))),
        })
    }
}

/// Frames of `width × height` palette indices at `fps`, written as [`VideoFormat`] says.
pub struct VideoWriter {
    format: VideoFormat,
    path: PathBuf,
    width: usize,
    height: usize,
    fps: f64,
    colors: [[u8; 3]; 256],
    /// Y, Cb, Cr of every palette index.
    yuv: [[u8; 256]; 3],
    frames: u64,
    sink: Sink,
}

enum Sink {
    /// The container writer, the LZW encoder and its output buffer (kept across frames).
    Gif(gif::Encoder<BufWriter<std::fs::File>>, AtomicOutput, Box<super::lzw::Lzw>, Vec<u8>),
    /// The file, the output, and one plane's bytes (kept across frames).
    Y4m(BufWriter<std::fs::File>, AtomicOutput, Vec<u8>),
    /// ffmpeg, the output, and the frame's bytes (kept across frames).
    Ffmpeg(Child, AtomicOutput, Vec<u8>),
    /// PNG frames: the latest frame (a still) or nothing kept (a sequence writes each).
    Png(Vec<u8>),
}

impl VideoWriter {
    pub fn create(path: &Path, width: usize, height: usize, fps: f64, palette: Palette, preset: Mp4Preset) -> Result<Self, RenderError> {
        let format = VideoFormat::of(path)?;
        let colors = palette.colors();
        let io = |what| io_error(path, what);
        let sink = match &format {
            VideoFormat::Gif => {
                let (w, h) = (u16::try_from(width), u16::try_from(height));
                let (Ok(w), Ok(h)) = (w, h) else {
                    return Err(RenderError::Options(format!("{}: GIF frames are at most 65535 pixels a side; {width}x{height} is not (lower --scale)", path.display())));
                };
                let out = AtomicOutput::create(path)?;
                let file = BufWriter::new(out.try_clone_file()?);
                let flat: Vec<u8> = colors.iter().flatten().copied().collect();
                let mut enc = gif::Encoder::new(file, w, h, &flat).map_err(|e| RenderError::Encoder(format!("{}: {e}", path.display())))?;
                enc.set_repeat(gif::Repeat::Infinite).map_err(|e| RenderError::Encoder(format!("{}: {e}", path.display())))?;
                Sink::Gif(enc, out, Box::default(), Vec::new())
            }
            VideoFormat::Y4m => {
                let out = AtomicOutput::create(path)?;
                let mut file = BufWriter::new(out.try_clone_file()?);
                let (num, den) = rational(fps);
                write!(file, "YUV4MPEG2 W{width} H{height} F{num}:{den} Ip A1:1 C444 XCOLORRANGE=FULL\n").map_err(io("writing"))?;
                Sink::Y4m(file, out, Vec::new())
            }
            VideoFormat::Mp4 => {
                let out = AtomicOutput::create(path)?;
                let mut child = ffmpeg(out.temp_path(), preset).map_err(|e| RenderError::Encoder(format!("{}: {e}", path.display())))?;
                // 4:2:0 needs even sides: the last row and column repeat where they are odd.
                let (num, den) = rational(fps);
                let header = format!("YUV4MPEG2 W{} H{} F{num}:{den} Ip A1:1 C420jpeg XCOLORRANGE=FULL\n", width.next_multiple_of(2), height.next_multiple_of(2));
                let stdin = child.stdin.as_mut().ok_or_else(|| RenderError::Encoder("ffmpeg's input is closed".into()))?;
                stdin.write_all(header.as_bytes()).map_err(|e| RenderError::Encoder(format!("{}: ffmpeg stopped reading ({e}); run it by hand to see why", path.display())))?;
                Sink::Ffmpeg(child, out, Vec::new())
            }
            VideoFormat::Png | VideoFormat::PngSequence { .. } => Sink::Png(Vec::new()),
        };
        let yuv = std::array::from_fn(|plane| std::array::from_fn(|i| yuv(colors[i])[plane]));
        Ok(Self { format, path: path.to_path_buf(), width, height, fps, colors, yuv, frames: 0, sink })
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Appends one frame (`width × height` palette indices).
    pub fn write(&mut self, pixels: &[u8]) -> Result<(), RenderError> {
        assert_eq!(pixels.len(), self.width * self.height, "frame size");
        let path = self.path.clone();
        let io = |what| io_error(&path, what);
        match &mut self.sink {
            Sink::Gif(enc, _, lzw, data) => {
                data.clear();
                lzw.encode_frame(pixels, data);
                let mut frame = gif::Frame { width: self.width as u16, height: self.height as u16, buffer: std::borrow::Cow::Borrowed(&data[..]), ..gif::Frame::default() };
                // Hundredths of a second, so that the running sum follows frame k at k / fps.
                let at = |k: u64| (k as f64 * 100.0 / self.fps).round() as u64;
                frame.delay = (at(self.frames + 1) - at(self.frames)).min(u64::from(u16::MAX)) as u16;
                enc.write_lzw_pre_encoded_frame(&frame).map_err(|e| RenderError::Encoder(format!("{}: {e}", self.path.display())))?;
            }
            Sink::Y4m(file, _, plane) => {
                file.write_all(b"FRAME\n").map_err(io("writing"))?;
                for lut in &self.yuv {
                    plane.resize(pixels.len(), 0);
                    lookup(lut, pixels, plane);
                    file.write_all(plane).map_err(io("writing"))?;
                }
            }
            Sink::Ffmpeg(child, _, frame) => {
                yuv420(pixels, self.width, self.height, &self.yuv, frame);
                let stdin = child.stdin.as_mut().ok_or_else(|| RenderError::Encoder("ffmpeg's input is closed".into()))?;
                stdin.write_all(frame).map_err(|e| RenderError::Encoder(format!("{}: ffmpeg stopped reading frames ({e}); run it by hand to see why", self.path.display())))?;
            }
            Sink::Png(last) => match &self.format {
                VideoFormat::PngSequence { before, after, digits } => {
                    let name = PathBuf::from(format!("{before}{:0digits$}{after}", self.frames, digits = *digits));
                    write_png(&name, self.width, self.height, &self.colors, pixels)?;
                }
                _ => {
                    last.clear();
                    last.extend_from_slice(pixels);
                }
            },
        }
        self.frames += 1;
        Ok(())
    }

    /// Completes the output and renames it into place.
    pub fn finish(self) -> Result<u64, RenderError> {
        let path = self.path.clone();
        let io = |what| io_error(&path, what);
        match self.sink {
            Sink::Gif(enc, out, ..) => {
                let mut file = enc.into_inner().map_err(|e| RenderError::Encoder(format!("{}: finishing the GIF: {e}", path.display())))?;
                file.flush().map_err(io("writing"))?;
                out.commit_unsynced()?;
            }
            Sink::Y4m(mut file, out, _) => {
                file.flush().map_err(io("writing"))?;
                drop(file);
                out.commit_unsynced()?;
            }
            Sink::Ffmpeg(mut child, out, _) => {
                drop(child.stdin.take());
                let result = child.wait_with_output().map_err(io("waiting for ffmpeg"))?;
                if !result.status.success() {
                    let why = String::from_utf8_lossy(&result.stderr);
                    return Err(RenderError::Encoder(format!("{}: ffmpeg failed ({}): {}", self.path.display(), result.status, why.trim())));
                }
                out.commit_unsynced()?;
            }
            Sink::Png(last) => {
                if self.format == VideoFormat::Png {
                    if self.frames == 0 {
                        return Err(RenderError::Options(format!("{}: no frame was rendered (is the time range empty?)", self.path.display())));
                    }
                    write_png(&self.path, self.width, self.height, &self.colors, &last)?;
                }
            }
        }
        Ok(self.frames)
    }
}

fn io_error<'a>(path: &'a Path, what: &'static str) -> impl Fn(std::io::Error) -> RenderError + 'a {
    move |error| RenderError::Io { path: path.to_path_buf(), what, error }
}

fn write_png(path: &Path, width: usize, height: usize, colors: &[[u8; 3]; 256], pixels: &[u8]) -> Result<(), RenderError> {
    let mut bytes = Vec::new();
    let mut enc = png::Encoder::new(&mut bytes, width as u32, height as u32);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(colors.iter().flatten().copied().collect::<Vec<u8>>());
    let encode = |e: png::EncodingError| RenderError::Encoder(format!("{}: {e}", path.display()));
    let mut w = enc.write_header().map_err(encode)?;
    w.write_image_data(pixels).map_err(encode)?;
    w.finish().map_err(encode)?;
    crate::output::write_atomic(path, &bytes)?;
    Ok(())
}

/// `fps` as a ratio of integers (30 → 30:1, 29.97 → 2997:100).
fn rational(fps: f64) -> (u64, u64) {
    let den = if (fps - fps.round()).abs() < 1e-9 { 1 } else { 1000 };
    ((fps * den as f64).round() as u64, den)
}

/// x264's presets, fastest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mp4Preset {
    Ultrafast,
    Superfast,
    Veryfast,
    Faster,
    Fast,
    Medium,
    Slow,
    Slower,
    Veryslow,
}

/// `ffmpeg` reading Y4M frames on its input and writing H.264 MP4 to `out`.
fn ffmpeg(out: &Path, preset: Mp4Preset) -> Result<Child, String> {
    let preset = clap::ValueEnum::to_possible_value(&preset).expect("every preset has a name");
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "yuv4mpegpipe", "-i", "-"])
        // The default, ultrafast: event video is mostly noise-like texture that the slower
        // presets' searches compress at most 1.5× better, at 3.5× the time and more
        // (BENCHMARKS.md), and render's goal is 10× real time on one core.
        .args(["-c:v", "libx264", "-preset", preset.get_name(), "-movflags", "+faststart", "-f", "mp4"])
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "MP4 needs ffmpeg, which is not on the PATH; install it (Debian/Ubuntu: apt install ffmpeg), or write .y4m (plays in ffplay/mpv/VLC, no codec needed) or .gif".to_string(),
            _ => format!("cannot start ffmpeg: {e}"),
        })?;
    // A 1 MiB pipe (Linux's limit for anyone) holds a whole 640×480 frame, so the two processes
    // take turns once a frame instead of every 64 KiB; where the kernel refuses, the pipe keeps
    // its size.
    #[cfg(target_os = "linux")]
    if let Some(stdin) = &child.stdin {
        use std::os::fd::AsRawFd;
        // SAFETY: F_SETPIPE_SZ on a pipe descriptor we own; it reads nothing through pointers.
        unsafe { libc::fcntl(stdin.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
    }
    Ok(child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_extension_and_png_patterns() {
        assert_eq!(VideoFormat::of(Path::new("a.GIF")).unwrap(), VideoFormat::Gif);
        assert_eq!(VideoFormat::of(Path::new("a.png")).unwrap(), VideoFormat::Png);
        assert_eq!(VideoFormat::of(Path::new("d/f-%06d.png")).unwrap(), VideoFormat::PngSequence { before: "d/f-".into(), after: ".png".into(), digits: 6 });
        assert!(VideoFormat::of(Path::new("a.avi")).unwrap_err().to_string().contains(".y4m"));
        assert!(VideoFormat::of(Path::new("f-%x.png")).is_err());
        assert_eq!(rational(30.0), (30, 1));
        assert_eq!(rational(29.97), (29970, 1000));
    }
}
