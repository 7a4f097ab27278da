//! The source thread of the pipeline: polls the [`Source`], hands every batch to the recorder
//! first (so a recording holds every event received, whatever is dropped later), then to the
//! framer; turns connection changes into notices, and a loss to a corrupt stream or a cut
//! mid-packet that no reconnection follows into the stream's error.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;

use super::StreamError;
use super::framer::SourceMsg;
use super::config::StreamConfig;
use super::stage::{Output, Shared};
use super::record::RecordMsg;
use super::source::{Source, Status};
use super::stats::{Counters, Ending};
use super::tap::TapMsg;
use crate::events::Resolution;

/// The most events one message to the framer carries (1 MiB of events).
const FRAMER_SLICE: usize = 65_536;

pub(super) struct SourceReport {
    pub(super) ending: Ending,
    pub(super) describe: String,
    pub(super) resolution: Option<Resolution>,
    pub(super) event_time: Option<(u64, u64)>,
}

pub(super) fn source_loop(
    mut source: Box<dyn Source>,
    config: StreamConfig,
    events_tx: Sender<SourceMsg>,
    record_tx: Option<Sender<RecordMsg>>,
    out: Sender<Output>,
    shared: Arc<Shared>,
) -> Result<SourceReport, StreamError> {
    let mut started: Option<Resolution> = None;
    let mut event_time: Option<(u64, u64)> = None;
    let mut ending = Ending::SourceEnded;
    let c = &shared.counters;
    // A loss to an error (corrupt stream, cut mid-packet) that no reconnection has followed yet.
    let mut unrecovered: Option<String> = None;
    let result = loop {
        if shared.stopped() {
            ending = Ending::Stopped;
            break unrecovered.take().map_or(Ok(()), |reason| Err(StreamError::Lost(reason)));
        }
        let mut batch = Vec::new();
        let status = source.poll(&mut batch, config.poll);
        let arrival = Instant::now();
        if started.is_none() {
            let fallback = if batch.is_empty() { None } else { config.fallback_sensor };
            if let Some(res) = config.sensor.or(source.resolution()).or(fallback) {
                started = Some(res);
                if let Some(r) = &record_tx {
                    let _ = r.send(RecordMsg::Start(res));
                }
                for tap in &config.taps {
                    tap.send(TapMsg::Start(res));
                }
                if events_tx.send(SourceMsg::Start(res)).is_err() {
                    break Ok(());
                }
            } else if !batch.is_empty() {
                // A decode error that cut the header short is the real story, not the size.
                break Err(match status {
                    Err(e) => e,
                    Ok(Status::Lost { reason, error: true, retrying: false }) => StreamError::Lost(reason),
                    _ => StreamError::NoSensor,
                });
            }
        }
        if let (Some(first), Some(last)) = (batch.first(), batch.last()) {
            event_time = Some(event_time.map_or((first.t, last.t), |(a, _)| (a, last.t)));
            Counters::add(&c.events, batch.len() as u64);
            // The recording comes first: whatever happens downstream, it holds every event.
            // Its queue is bounded like the framer's (slices of at most FRAMER_SLICE events), so a
            // disk slower than the stream holds the source back instead of growing memory.
            if let Some(r) = &record_tx {
                for slice in batch.chunks(FRAMER_SLICE) {
                    if r.send(RecordMsg::Events(slice.to_vec())).is_err() {
                        break;
                    }
                }
            }
            for tap in &config.taps {
                tap.send(TapMsg::Events(batch.clone(), arrival));
            }
            // The framer's queue holds 64 messages: slices of at most FRAMER_SLICE events keep
            // it under 64 MiB however large a packet decodes (a DV packet can hold millions).
            let gone = if batch.len() <= FRAMER_SLICE {
                Counters::add(&c.batches, 1);
                events_tx.send(SourceMsg::Events(batch, arrival)).is_err()
            } else {
                batch.chunks(FRAMER_SLICE).any(|slice| {
                    Counters::add(&c.batches, 1);
                    events_tx.send(SourceMsg::Events(slice.to_vec(), arrival)).is_err()
                })
            };
            if gone {
                // The framer is gone (stop or error): nothing more to do here.
                break Ok(());
            }
        }
        match status {
            Ok(Status::Data | Status::Idle) => {}
            Ok(Status::Connected { message, again }) => {
                if again {
                    Counters::add(&c.reconnects, 1);
                }
                unrecovered = None;
                let _ = out.send(Output::Notice(message));
            }
            Ok(Status::Lost { reason, retrying, error }) => {
                let _ = out.send(Output::Notice(reason.clone()));
                if error {
                    unrecovered = Some(reason);
                }
                if !retrying {
                    break unrecovered.take().map_or(Ok(()), |reason| Err(StreamError::Lost(reason)));
                }
            }
            Ok(Status::Ended) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    let resolution = started.or(source.resolution());
    result.map(|()| SourceReport { ending, describe: source.describe(), resolution, event_time })
}
