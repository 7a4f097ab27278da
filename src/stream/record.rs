//! `--record OUT`: the recorder thread, writing every event the source received as AEDAT4.
//!
//! The recording is written through [`AtomicOutput`]: under `.OUT.PID.partial` beside OUT and
//! renamed to OUT when the stream ends, so an existing OUT is untouched until there is something
//! to replace it with (a refused connection records nothing and leaves OUT as it was). Every
//! packet goes to the file in one write, unbuffered, and the events of a quiet stream are written
//! as a packet at least every [`FLUSH_EVERY`]; the header's data table position stays -1 until
//! the end, so at any moment the file is a valid AEDAT4 recording of whole packets that readers
//! walk. Hence:
//! - the stream ending, an error, a panic of another pipeline thread, or the first SIGINT /
//!   SIGTERM / SIGHUP: the recorder writes the last packet and the data table and renames the
//!   file into place;
//! - a second signal (exit at once): the signal handler waits for the packet being written and
//!   renames the file into place (valid, without a data table);
//! - SIGKILL: `.OUT.PID.partial` stays, holding every packet written before the kill
//!   (`spikestream convert --partial` reads them all).

use std::fs::File;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

use super::StreamError;
use super::config::StreamConfig;
use super::stage::{Output, Shared, spawn};
use super::stats::Counters;
use crate::events::formats::aedat4::{Aedat4Writer, WriterOptions};
use crate::events::{Event, Resolution};
use crate::output::AtomicOutput;

/// The longest a received event waits in memory before it is written to the file.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// Messages the recorder's queue holds (each at most `FRAMER_SLICE` events, about 1 MiB): when
/// the disk falls behind, the source thread waits rather than memory growing.
pub const QUEUE: usize = 64;

/// Source thread → recorder.
pub(super) enum RecordMsg {
    Start(Resolution),
    Events(Vec<Event>),
}

/// The recorder thread and the sender the source thread hands it events through, for
/// `--record` (none without it). The recording's temporary is created here, before anything
/// streams, so a bad path fails first; OUT itself is only replaced when the stream ends with
/// events recorded.
pub(super) fn start(config: &StreamConfig, out: &Sender<Output>, shared: &Arc<Shared>) -> Result<(Option<Sender<RecordMsg>>, Option<JoinHandle<Result<u64, StreamError>>>), StreamError> {
    let Some(path) = &config.record else {
        return Ok((None, None));
    };
    let output = AtomicOutput::create(path)?;
    let _ = out.send(Output::Notice(format!(
        "recording to {} (written as {} until the stream ends)",
        output.target().display(),
        output.temp_path().display()
    )));
    let (tx, rx) = bounded(QUEUE);
    let s = Arc::clone(shared);
    Ok((Some(tx), Some(spawn("recorder", move || recorder(output, rx, s)))))
}

/// Returns the number of events recorded. With none, the temporary is removed and OUT is left
/// as it was.
fn recorder(output: AtomicOutput, rx: Receiver<RecordMsg>, shared: Arc<Shared>) -> Result<u64, StreamError> {
    let result = record(&output, rx, &shared);
    let finished = match result {
        Ok(Some(writer)) if Counters::get(&shared.counters.recorded) > 0 => {
            let path = output.target().to_path_buf();
            let guard = output.write_guard();
            let finished = writer.finish().map(drop).map_err(|source| StreamError::Record { path, source });
            drop(guard);
            finished.and_then(|()| output.commit().map_err(StreamError::from))
        }
        Ok(_) => Ok(()),
        Err(e) => {
            // What was written is whole packets: keep it rather than lose the events.
            let _ = output.commit();
            Err(e)
        }
    };
    if finished.is_err() {
        // Losing the recording the user asked for ends the stream.
        shared.stop_all();
    }
    finished.map(|()| Counters::get(&shared.counters.recorded))
}

/// Writes until the source thread hangs up; returns the writer to finish (none if the stream
/// never started).
fn record(output: &AtomicOutput, rx: Receiver<RecordMsg>, shared: &Shared) -> Result<Option<Aedat4Writer<File>>, StreamError> {
    let fail = |source| StreamError::Record { path: output.target().to_path_buf(), source };
    let mut writer: Option<Aedat4Writer<File>> = None;
    let mut kept = false;
    let mut last_flush = Instant::now();
    loop {
        match rx.recv_timeout(FLUSH_EVERY) {
            Ok(RecordMsg::Start(res)) => {
                if writer.is_none() {
                    let options = WriterOptions { source: "spikestream stream".into(), ..WriterOptions::new(res) };
                    let file = output.try_clone_file().map_err(StreamError::from)?;
                    let _guard = output.write_guard();
                    writer = Some(Aedat4Writer::new(file, options).map_err(fail)?);
                }
            }
            Ok(RecordMsg::Events(events)) => {
                if let Some(w) = writer.as_mut() {
                    let guard = output.write_guard();
                    w.write_events(&events).map_err(fail)?;
                    drop(guard);
                    Counters::add(&shared.counters.recorded, events.len() as u64);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(writer),
        }
        if let Some(w) = writer.as_mut().filter(|_| last_flush.elapsed() >= FLUSH_EVERY) {
            let guard = output.write_guard();
            w.flush_packet().map_err(fail)?;
            drop(guard);
            last_flush = Instant::now();
            // Events are in the file now: from here a second signal keeps it rather than
            // deleting it.
            if !kept && Counters::get(&shared.counters.recorded) > 0 {
                output.keep_on_signal();
                kept = true;
            }
        }
    }
}
