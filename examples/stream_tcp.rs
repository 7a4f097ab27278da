//! Live predictions from a DV network stream (a dv-processing `NetworkWriter`), as
//! `spikestream stream --source tcp://HOST:PORT MODEL` does:
//! `cargo run --release --example stream_tcp -- MODEL tcp://127.0.0.1:7777 [FRAME_US]`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use spikestream::frames::incremental::Close;
use spikestream::stream::source::{OpenOptions, open};
use spikestream::stream::{Output, SourceSpec};
use spikestream::{Session, SessionOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, source, rest @ ..] = &args[..] else { return Err("usage: stream_tcp MODEL tcp://HOST:PORT [FRAME_US]".into()) };
    let frame_us: u64 = rest.first().map_or(Ok(10_000), |s| s.parse())?;
    // One lane per window: batch 1 (the session opens as many slots as the lanes need).
    let session = Session::open(model, SessionOptions { batch: 1, ..Default::default() })?;
    let config = session.stream_config(Close::EveryMicros(frame_us));
    let source = open(&SourceSpec::parse(source)?, &OpenOptions::default())?;
    let stop = Arc::new(AtomicBool::new(false));
    let classes = session.classes().to_vec();
    let (summary, result) = session.run_stream(source, config, stop, |o| match o {
        Output::Prediction(p) => println!("{}..{} us  {}  {:.3}", p.t_start, p.t_end, classes[p.class], p.score),
        Output::Notice(line) => eprintln!("note: {line}"),
        Output::Stats(_) => {}
    });
    eprintln!("{summary}");
    Ok(result?)
}
