//! The framer thread: event batches in, frames of the model's shape out, under the overload
//! policy. Frames close on event time or count ([`StreamFramer`]); with no event for `idle`, the
//! event clock advances by the wall time since the last event times the source's clock rate, so
//! a quiet scene still closes (empty) time frames. Events outside the sensor are skipped and
//! counted, not fatal: one bad event must not end a live stream. A jump of event time beyond
//! the configured bound (a clock glitch or reset) restarts the framing from the event after it
//! and tells the engine to reset its lanes ([`super::resync`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::StreamError;
use super::config::StreamConfig;
use super::stage::{Output, Shared};
use super::queue::PolicySender;
use super::stats::Counters;
use crate::events::{Event, Resolution};
use crate::frames::{FrameError, Frames};
use crate::frames::incremental::{ClosedFrame, StreamFramer};
use crate::frames::resize::resize;

/// Source thread → framer.
pub(super) enum SourceMsg {
    Start(Resolution),
    /// Events and when the source read them.
    Events(Vec<Event>, Instant),
}

/// Framer → engine: one frame of the model's input shape.
pub(super) struct FrameMsg {
    pub(super) t_start: u64,
    pub(super) t_end: u64,
    /// `[C, H, W]`
    pub(super) data: Vec<f32>,
    /// When the source read the frame's last event.
    pub(super) arrival: Instant,
    /// When the framer closed the frame.
    pub(super) closed: Instant,
    /// Resynchronisations before this frame ([`super::resync`]): when it changes, the engine
    /// resets its lanes. (A count rather than a message, so a dropped frame cannot lose it.)
    pub(super) epoch: u64,
}

/// Returns the number of events in the frame still open at the end.
pub(super) fn framer_loop(
    rx: Receiver<SourceMsg>,
    tx: PolicySender<FrameMsg>,
    config: StreamConfig,
    clock_rate: Option<f64>,
    out: Sender<Output>,
    shared: Arc<Shared>,
) -> Result<u64, StreamError> {
    let c = &shared.counters;
    let mut framer: Option<(StreamFramer, Resolution)> = None;
    // (first event time, arrival) of recent batches, to find when a frame's last event arrived.
    let mut arrivals: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut last_event: Option<(u64, Instant)> = None;
    let (mut pushed, mut framed) = (0u64, 0u64);
    let mut kept = Vec::new();
    let mut epoch = 0u64;
    loop {
        if shared.stopped() {
            break;
        }
        let closed = match rx.recv_timeout(config.idle) {
            Ok(SourceMsg::Start(res)) => {
                let [ch, h, w] = config.input;
                let (fh, fw) = config.resize.unwrap_or((usize::from(res.height), usize::from(res.width)));
                let got = [config.polarity.channels(), fh, fw];
                if got != [ch, h, w] {
                    return Err(StreamError::Shape { got, want: config.input });
                }
                framer = Some((StreamFramer::try_new(config.close, res, config.polarity)?, res));
                continue;
            }
            Ok(SourceMsg::Events(events, arrival)) => {
                Counters::add(&c.batches_framed, 1);
                let Some((f, res)) = framer.as_mut() else { continue };
                let inside = |e: &Event| res.contains(e);
                let events = if events.iter().all(inside) {
                    events
                } else {
                    kept.clear();
                    kept.extend(events.iter().copied().filter(inside));
                    Counters::add(&c.out_of_sensor, (events.len() - kept.len()) as u64);
                    std::mem::take(&mut kept)
                };
                let Some(last) = events.last() else { continue };
                pushed += events.len() as u64;
                let mut closed = Vec::new();
                let mut rest = &events[..];
                // The time the stream had reached; none right after a resync.
                let mut clock = last_event.map(|(t, _)| t);
                while let Some(i) = config.jumps.first_jump(clock, rest) {
                    closed.extend(f.push(&rest[..i])?.into_iter().map(|fr| (fr, epoch)));
                    let from = if i > 0 { rest[i - 1].t } else { clock.unwrap_or(0) };
                    framed += f.open_events() as u64;
                    *f = StreamFramer::new(config.close, *res, config.polarity);
                    arrivals.clear();
                    epoch += 1;
                    Counters::add(&c.time_jumps, 1);
                    let _ = out.send(Output::Notice(format!(
                        "event time jumped from {from} to {} µs (a clock glitch or reset): frames restart from there and the lanes reset",
                        rest[i].t
                    )));
                    rest = &rest[i..];
                    clock = None;
                }
                arrivals.push_back((rest[0].t, arrival));
                last_event = Some((last.t, arrival));
                closed.extend(f.push(rest)?.into_iter().map(|fr| (fr, epoch)));
                closed
            }
            Err(RecvTimeoutError::Timeout) => match (clock_rate, last_event, framer.as_mut()) {
                (Some(rate), Some((t, wall)), Some((f, _))) => {
                    // A fast replay's silence advances at most a jump's worth (or the wall time), not
                    // millions of frames at once; a live source (rate 1) advances by the wall time.
                    let wall_us = wall.elapsed().as_secs_f64() * 1e6;
                    let by = (wall_us * rate).min(wall_us.max(config.jumps.forward_us as f64)) as u64;
                    f.advance_to(t.saturating_add(by)).into_iter().map(|fr| (fr, epoch)).collect()
                }
                _ => continue,
            },
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let now = Instant::now();
        for (frame, epoch) in closed {
            framed += frame.events as u64;
            let arrival = if frame.events == 0 { now } else { last_arrival(&mut arrivals, frame.t_end).unwrap_or(now) };
            let sensor = framer.as_ref().map(|(_, r)| *r).expect("frames come from a started framer");
            let msg = to_message(frame, sensor, &config, arrival, now, epoch)?;
            Counters::add(&c.frames, 1);
            if tx.send(msg).is_err() {
                // The engine is gone (stop or error).
                return Ok(pushed - framed);
            }
        }
    }
    Ok(pushed - framed)
}

/// The arrival of the latest batch that started before `t_end`, dropping older batches (frames
/// close in time order, so later frames never need them).
fn last_arrival(arrivals: &mut VecDeque<(u64, Instant)>, t_end: u64) -> Option<Instant> {
    while arrivals.len() >= 2 && arrivals[1].0 < t_end {
        arrivals.pop_front();
    }
    arrivals.front().filter(|(t, _)| *t < t_end).map(|&(_, a)| a)
}

fn to_message(frame: ClosedFrame, sensor: Resolution, config: &StreamConfig, arrival: Instant, closed: Instant, epoch: u64) -> Result<FrameMsg, FrameError> {
    let (sh, sw) = (usize::from(sensor.height), usize::from(sensor.width));
    let data = match config.resize {
        Some((h, w)) if (h, w) != (sh, sw) => {
            let frames = Frames { frames: 1, channels: config.polarity.channels(), height: sh, width: sw, data: frame.data };
            resize(&frames, h, w)?.data
        }
        _ => frame.data,
    };
    Ok(FrameMsg { t_start: frame.t_start, t_end: frame.t_end, data, arrival, closed, epoch })
}
