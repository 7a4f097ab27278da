//! Helpers shared by the integration tests: where fixtures live, oracle values, digests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sha3::{Digest, Sha3_224};
use spikestream::events::Event;

/// A recording committed in `tests/data`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// A recording in the shared fixture folder beside the repository (`../shared/fixtures`), which
/// holds files whose licence keeps them out of the repository. `None`, with a note on stderr,
/// when it is absent.
pub fn shared(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures").join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("NOTE: fixture {} is absent; the checks that need it were skipped", path.display());
        None
    }
}

/// The shared fixture if present, else the committed copy in tests/data (same bytes).
pub fn fixture(shared_name: &str) -> Option<PathBuf> {
    let file = Path::new(shared_name).file_name().unwrap().to_str().unwrap();
    let local = data(file);
    if local.exists() { Some(local) } else { shared(shared_name) }
}

/// Oracle values from `tests/data/decoded_stats.json`, keyed by the shared fixture path.
pub fn oracle(key: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(data("decoded_stats.json")).unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    all.get(key).unwrap_or_else(|| panic!("no oracle entry for {key}")).clone()
}

/// sha3-224 digests of the t (u64 LE), x (u16 LE), y (u16 LE) and on (one byte) columns, the
/// scheme of aestream/faery `tests/assets.py` and `decoded_stats.json`.
pub fn digests(events: &[Event]) -> [String; 4] {
    let mut t = Sha3_224::new();
    let mut x = Sha3_224::new();
    let mut y = Sha3_224::new();
    let mut on = Sha3_224::new();
    for e in events {
        t.update(e.t.to_le_bytes());
        x.update(e.x.to_le_bytes());
        y.update(e.y.to_le_bytes());
        on.update([u8::from(e.p)]);
    }
    [t, x, y, on].map(|h| h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether the CI environment variable is set (then absent peers are failures, not skips).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}
