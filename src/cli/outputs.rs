//! The `--force` rule of the commands that write event recordings (`convert`, `stream --record`,
//! `simulate`): an existing output that holds a recording is only replaced when the user says
//! so, because replacing it may lose the only copy. Derived outputs (frame tensors, pictures)
//! are replaced without asking, through the same temporary-and-rename as everything else
//! (`spikestream::output`).

use std::io::Read;
use std::path::Path;

use spikestream::events::{DETECT_BYTES, detect};
use spikestream::output::OutputError;

/// `Err` when `path` exists, `force` is off, and it holds an event recording: a format the
/// readers detect by content, or the CSV / `.npy` event tables `convert` writes.
pub fn refuse_replacing_a_recording(path: &Path, force: bool) -> Result<(), OutputError> {
    if force {
        return Ok(());
    }
    let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
    if !meta.is_file() {
        return Ok(());
    }
    let mut head = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(DETECT_BYTES as u64).read_to_end(&mut head);
    }
    let what = if head.starts_with(b"t,x,y,p\n") {
        Some("an event table (CSV)".to_string())
    } else if head.starts_with(b"\x93NUMPY") && String::from_utf8_lossy(&head[..head.len().min(256)]).contains("('t', '<u8')") {
        Some("an event table (.npy)".to_string())
    } else {
        (head.len() >= 64).then(|| detect(&head).ok()).flatten().map(|f| format!("an event recording ({})", f.name()))
    };
    match what {
        Some(what) => Err(OutputError::Exists { path: path.to_path_buf(), what }),
        None => Ok(()),
    }
}
