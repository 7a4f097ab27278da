//! A recording cut into video frames of a fixed period: frame k shows the canvas at
//! `t_k = t_start + k·period` (k = 1, 2, …; the events before `t_k` are on it), from the
//! first event (or `--start` after it) until the frame that shows the last event (or
//! `--end`). The file is read batch by batch ([`EventReader`]), so memory is the canvas plus
//! one batch whatever the recording's length. A clock glitch (an event time jump beyond
//! [`JumpBound`]) restarts the frame clock at the event after it rather than rendering hours
//! of empty frames; it is counted.

use std::path::Path;

use super::canvas::{Canvas, Decay, upscale};
use super::fade::Fade;
use super::palette::INK_WHITE;
use super::text::Image;
use super::video::VideoWriter;
use super::{Mp4Preset, Palette, RenderError};
use crate::events::ReadOptions;
use crate::events::{Event, EventReader, Resolution};
use crate::stream::resync::JumpBound;

/// At most this many frames in one render (a day at 30 fps would be 2.6 M): a period that
/// would make more is refused before anything is written.
pub const MAX_VIDEO_FRAMES: u64 = 10_000_000;

#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// Time between frames, µs of event time.
    pub period_us: f64,
    pub decay: Decay,
    pub tau_us: f64,
    pub palette: Palette,
    /// Each sensor pixel becomes `scale × scale` pixels; `None`: 1, or enough for 320 pixels
    /// across on a small sensor (at most 8).
    pub scale: Option<usize>,
    /// Offsets from the first event, µs.
    pub start_us: u64,
    pub end_us: Option<u64>,
    /// The x264 preset of MP4 output (speed against size).
    pub mp4_preset: Mp4Preset,
    /// Draw the time since the first event in the top-left corner.
    pub timecode: bool,
}

impl RenderOptions {
    pub fn fps(&self) -> f64 {
        1e6 / self.period_us
    }

    /// The scale for a sensor.
    pub fn scale_for(&self, sensor: Resolution) -> usize {
        self.scale.unwrap_or_else(|| (320 / usize::from(sensor.width.max(1))).clamp(1, 8))
    }
}

/// What a render did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RenderStats {
    pub frames: u64,
    /// The video's size in pixels.
    pub width: usize,
    pub height: usize,
    pub events: u64,
    pub first_t: Option<u64>,
    pub last_t: Option<u64>,
    pub clock_jumps: u64,
    /// Frames that repeated the previous one because the caller was behind ([`Live`]).
    pub frames_repeated: u64,
}

/// A frame about to be written: its index, time, and the (scaled) pixels to draw on.
pub struct FrameInfo {
    pub index: u64,
    pub t: u64,
    /// µs since the first event.
    pub elapsed_us: u64,
}

/// Draws on a frame before it is written (predictions, labels).
pub type Overlay<'a> = dyn FnMut(&FrameInfo, &mut Image) -> Result<(), RenderError> + 'a;

/// Renders the recording at `path` into the video `out` (its format by extension, its size the
/// sensor's times the scale); `overlay` may draw on every frame before it is written.
pub fn render_file(path: &Path, read: ReadOptions, options: &RenderOptions, out: &Path, overlay: &mut Overlay) -> Result<RenderStats, RenderError> {
    let mut reader = EventReader::open(path, read)?;
    let mut batch: Vec<Event> = Vec::new();
    let mut live = Live::new(out, options.clone());
    while reader.next_batch(&mut batch)? {
        if batch.is_empty() {
            continue;
        }
        if !live.started() {
            live.start(reader.resolution().ok_or_else(|| RenderError::Options(format!("{}: the sensor size is not in the header; pass --sensor WxH", path.display())))?)?;
        }
        if !live.push(&batch, overlay)? {
            break;
        }
    }
    if !live.started() {
        return Err(RenderError::Options(format!("{}: the recording has no events; there is nothing to render", path.display())));
    }
    live.finish(overlay)
}

/// A video rendered from events pushed as they come (a file read batch by batch, or a live
/// stream): [`Live::start`] with the sensor, [`Live::push`] every batch, [`Live::finish`].
/// While [`Live::set_behind`] says the caller is behind, due frames repeat the last painted one
/// instead of painting (counted in [`RenderStats::frames_repeated`]): the video keeps its timing
/// and every event still reaches the canvas.
pub struct Live {
    out: std::path::PathBuf,
    options: RenderOptions,
    sensor: Option<Resolution>,
    state: Option<(Renderer, VideoWriter)>,
    stats: RenderStats,
    behind: bool,
}

impl Live {
    pub fn new(out: &Path, options: RenderOptions) -> Self {
        Self { out: out.to_path_buf(), options, sensor: None, state: None, stats: RenderStats::default(), behind: false }
    }

    pub fn started(&self) -> bool {
        self.sensor.is_some()
    }

    /// The sensor: the video's size is the sensor's times the scale (checked before anything
    /// is written).
    pub fn start(&mut self, sensor: Resolution) -> Result<(), RenderError> {
        let scale = self.options.scale_for(sensor);
        let (w, h) = (usize::from(sensor.width) * scale, usize::from(sensor.height) * scale);
        crate::limits::tensor(|| format!("a {w}x{h} video frame (sensor {}x{} at scale {scale})", sensor.width, sensor.height), &[h, w], 4)?;
        (self.stats.width, self.stats.height) = (w, h);
        self.sensor = Some(sensor);
        Ok(())
    }

    pub fn set_behind(&mut self, behind: bool) {
        self.behind = behind;
    }

    pub fn stats(&self) -> &RenderStats {
        &self.stats
    }

    /// Puts `batch` on the canvas and writes the frames it completes; false once past `--end`
    /// (later events are not wanted).
    pub fn push(&mut self, batch: &[Event], overlay: &mut Overlay) -> Result<bool, RenderError> {
        let (Some(first), Some(sensor)) = (batch.first(), self.sensor) else { return Ok(true) };
        let options = &self.options;
        let (r, video) = match &mut self.state {
            Some(s) => s,
            None => {
                self.stats.first_t = Some(first.t);
                let video = VideoWriter::create(&self.out, self.stats.width, self.stats.height, options.fps(), options.palette, options.mp4_preset)?;
                self.state.insert((Renderer::new(Canvas::with_decay(sensor, options.decay, options.tau_us)?, options, options.scale_for(sensor), first.t), video))
            }
        };
        r.behind = self.behind;
        let taken = r.take(batch, options, video, overlay, &mut self.stats)?;
        self.stats.events += taken as u64;
        self.stats.last_t = batch[..taken].last().map(|e| e.t).or(self.stats.last_t);
        Ok(taken == batch.len())
    }

    /// Writes the frame that shows the last events and completes the video.
    pub fn finish(mut self, overlay: &mut Overlay) -> Result<RenderStats, RenderError> {
        match self.state.take() {
            Some((mut r, mut video)) => {
                r.behind = false;
                r.flush(&self.options, &mut video, overlay, &mut self.stats)?;
                video.finish()?;
                Ok(self.stats)
            }
            None => Err(RenderError::Options(format!("{}: no events arrived; there is nothing to render", self.out.display()))),
        }
    }
}

struct Renderer {
    canvas: Canvas,
    fade: Fade,
    /// Repeat the last painted frame instead of painting ([`Live::set_behind`]).
    behind: bool,
    scale: usize,
    /// The time frame 0 would show, the next frame's index and its time.
    origin: u64,
    next: u64,
    next_t: u64,
    first_t: u64,
    end_t: Option<u64>,
    last_t: Option<u64>,
    /// Whether an event reached the canvas since the last frame was written.
    pending: bool,
    small: Vec<u8>,
    big: Vec<u8>,
}

impl Renderer {
    fn new(canvas: Canvas, options: &RenderOptions, scale: usize, first_t: u64) -> Self {
        let mut r = Self { canvas, fade: Fade::new(options.decay, options.tau_us), behind: false, scale, origin: 0, next: 0, next_t: 0, first_t, end_t: options.end_us.map(|e| first_t.saturating_add(e)), last_t: None, pending: false, small: Vec::new(), big: Vec::new() };
        r.restart(first_t.saturating_add(options.start_us), options);
        r
    }

    /// Frame 1 at `origin + period`.
    fn restart(&mut self, origin: u64, options: &RenderOptions) {
        (self.origin, self.next) = (origin, 1);
        self.next_t = self.frame_t(options);
    }

    fn frame_t(&self, options: &RenderOptions) -> u64 {
        self.origin.saturating_add((self.next as f64 * options.period_us).round() as u64)
    }

    fn past_end(&self) -> bool {
        self.end_t.is_some_and(|end| self.next_t > end)
    }

    /// Puts `events` on the canvas, writing every frame whose time they pass; returns how many
    /// it took (fewer than all once past `--end`).
    fn take(&mut self, events: &[Event], options: &RenderOptions, out: &mut VideoWriter, overlay: &mut Overlay, stats: &mut RenderStats) -> Result<usize, RenderError> {
        let bound = JumpBound::default();
        let mut from = 0;
        for (i, e) in events.iter().enumerate() {
            if self.last_t.is_some_and(|p| bound.is_jump(p, e.t)) {
                // A glitch: show what came before it, then restart the frame clock here.
                self.canvas.push(&events[from..i])?;
                from = i;
                if self.pending {
                    self.write(options, out, overlay, stats)?;
                }
                self.restart(e.t, options);
                stats.clock_jumps += 1;
            }
            self.last_t = Some(e.t);
            while e.t >= self.next_t {
                if self.past_end() {
                    self.canvas.push(&events[from..i])?;
                    return Ok(i);
                }
                self.canvas.push(&events[from..i])?;
                from = i;
                self.write(options, out, overlay, stats)?;
            }
            self.pending = true;
        }
        self.canvas.push(&events[from..])?;
        Ok(events.len())
    }

    /// The frame that shows the last events.
    fn flush(&mut self, options: &RenderOptions, out: &mut VideoWriter, overlay: &mut Overlay, stats: &mut RenderStats) -> Result<(), RenderError> {
        if self.pending && !self.past_end() {
            self.write(options, out, overlay, stats)?;
        }
        Ok(())
    }

    fn write(&mut self, options: &RenderOptions, out: &mut VideoWriter, overlay: &mut Overlay, stats: &mut RenderStats) -> Result<(), RenderError> {
        let t = self.next_t;
        if self.behind && !self.big.is_empty() {
            stats.frames_repeated += 1;
        } else {
            let (w, h) = (self.canvas.width() * self.scale, self.canvas.height() * self.scale);
            if self.scale == 1 {
                self.canvas.paint(t, &self.fade, &mut self.big);
            } else {
                self.canvas.paint(t, &self.fade, &mut self.small);
                upscale(&self.small, self.canvas.width(), self.canvas.height(), self.scale, &mut self.big);
            }
            let info = FrameInfo { index: out.frames(), t, elapsed_us: t.saturating_sub(self.first_t) };
            let mut image = Image { pixels: &mut self.big, width: w, height: h };
            if options.timecode {
                image.text(4, 4, &timecode(info.elapsed_us), (w / 320).max(1), INK_WHITE);
            }
            overlay(&info, &mut image)?;
        }
        if out.frames() >= MAX_VIDEO_FRAMES {
            return Err(RenderError::Options(format!("more than {MAX_VIDEO_FRAMES} frames; raise --frame-us or lower --fps, or render a part with --start/--end")));
        }
        out.write(&self.big)?;
        stats.frames += 1;
        self.next += 1;
        self.next_t = self.frame_t(options);
        self.pending = false;
        Ok(())
    }
}

/// `HH:MM:SS.mmm` of `us` microseconds.
pub fn timecode(us: u64) -> String {
    let ms = us / 1000;
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}
