//! The framer thread: event batches in, frames of the model's shape out, under the overload
//! policy. Frames close on event time or count ([`StreamFramer`]); with no event for `idle`, the
//! event clock advances by the wall time since the last event times the source's clock rate, so
//! a quiet scene still closes (empty) time frames. Events outside the sensor are skipped and
//! counted, not fatal: one bad event must not end a live stream.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::StreamError;
use super::pipeline::{Shared, StreamConfig};
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
}

/// Returns the number of events in the frame still open at the end.
pub(super) fn framer_loop(rx: Receiver<SourceMsg>, tx: PolicySender<FrameMsg>, config: StreamConfig, clock_rate: Option<f64>, shared: Arc<Shared>) -> Result<u64, StreamError> {
    let c = &shared.counters;
    let mut framer: Option<(StreamFramer, Resolution)> = None;
    // (first event time, arrival) of recent batches, to find when a frame's last event arrived.
    let mut arrivals: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut last_event: Option<(u64, Instant)> = None;
    let (mut pushed, mut framed) = (0u64, 0u64);
    let mut kept = Vec::new();
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
                let (Some(first), Some(last)) = (events.first(), events.last()) else { continue };
                arrivals.push_back((first.t, arrival));
                last_event = Some((last.t, arrival));
                pushed += events.len() as u64;
                f.push(&events)?
            }
            Err(RecvTimeoutError::Timeout) => match (clock_rate, last_event, framer.as_mut()) {
                (Some(rate), Some((t, wall)), Some((f, _))) => {
                    let elapsed = wall.elapsed();
                    f.advance_to(t.saturating_add((elapsed.as_secs_f64() * 1e6 * rate) as u64))
                }
                _ => continue,
            },
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let now = Instant::now();
        for frame in closed {
            framed += frame.events as u64;
            let arrival = if frame.events == 0 { now } else { last_arrival(&mut arrivals, frame.t_end).unwrap_or(now) };
            let sensor = framer.as_ref().map(|(_, r)| *r).expect("frames come from a started framer");
            let msg = to_message(frame, sensor, &config, arrival, now)?;
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

fn to_message(frame: ClosedFrame, sensor: Resolution, config: &StreamConfig, arrival: Instant, closed: Instant) -> Result<FrameMsg, FrameError> {
    let (sh, sw) = (usize::from(sensor.height), usize::from(sensor.width));
    let data = match config.resize {
        Some((h, w)) if (h, w) != (sh, sw) => {
            let frames = Frames { frames: 1, channels: config.polarity.channels(), height: sh, width: sw, data: frame.data };
            resize(&frames, h, w)?.data
        }
        _ => frame.data,
    };
    Ok(FrameMsg { t_start: frame.t_start, t_end: frame.t_end, data, arrival, closed })
}
