//! `classify --jsonl` and `--resume OUT.jsonl`: one JSON line per input, written as soon as it
//! is classified, to stdout or appended to OUT.
//!
//! OUT is an append-only log, so it is the one output not written through a temporary and a
//! rename (that would rewrite the whole file per line): each line goes out in one `write` with
//! `O_APPEND` and is flushed before the next input. Existing lines are never rewritten; the
//! only change to them is that an incomplete last line (a run killed mid-write) is cut off
//! before appending, and only when every complete line is a record of this command (a file of
//! anything else is refused, not touched).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Where lines go.
pub enum Sink {
    Stdout,
    Append { file: File, path: PathBuf },
}

/// Opens OUT for appending: returns the sink and the inputs OUT already holds (the `file` of
/// every complete line, results and errors alike). A missing OUT is created.
pub fn resume(path: &Path) -> anyhow::Result<(Sink, HashSet<String>)> {
    let name = path.display();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("--resume {name}: cannot read")),
    };
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut done = HashSet::new();
    for (n, line) in bytes[..complete].split(|&b| b == b'\n').enumerate().filter(|(_, l)| !l.is_empty()) {
        let file = serde_json::from_slice::<serde_json::Value>(line).ok().and_then(|v| v.get("file").and_then(|f| f.as_str()).map(str::to_string));
        match file {
            Some(f) => {
                done.insert(f);
            }
            None => bail!("--resume {name}: line {} is not a classify --jsonl record; refusing to append to this file", n + 1),
        }
    }
    let file = OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("--resume {name}: cannot open for appending"))?;
    if complete < bytes.len() {
        eprintln!("note: --resume {name}: dropping an incomplete last line ({} bytes) left by an interrupted run", bytes.len() - complete);
        file.set_len(complete as u64).with_context(|| format!("--resume {name}: cannot cut the incomplete last line"))?;
    }
    Ok((Sink::Append { file, path: path.to_path_buf() }, done))
}

impl Sink {
    /// One record, as one line, flushed.
    pub fn line(&mut self, record: &serde_json::Value) -> anyhow::Result<()> {
        let mut text = record.to_string();
        text.push('\n');
        match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()?;
            }
            Sink::Append { file, path } => {
                file.write_all(text.as_bytes()).and_then(|()| file.flush()).with_context(|| format!("{}: cannot append", path.display()))?;
            }
        }
        Ok(())
    }
}
