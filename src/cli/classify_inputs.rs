//! Which files `classify` reads: those named, every recording, PNG/JPEG image or `.npy` array
//! in the folders named, and with `--shard I/N` the I-th of N stable parts of them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use spikestream::events::detect::{DETECT_BYTES, detect};

/// The files to classify: those named, and in each folder named, every event recording, image or
/// `.npy` array below it (by content: `simulate.json`, READMEs and the like are skipped, and
/// how many were is said on stderr, also with `--json`, whose stdout stays the report).
pub fn collect_inputs(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found = Vec::new();
            walk(input, &mut found).with_context(|| format!("{}: cannot list", input.display()))?;
            found.sort();
            let (kept, skipped): (Vec<PathBuf>, Vec<PathBuf>) = found.into_iter().partition(|p| is_input(p));
            if let Some(example) = skipped.first() {
                eprintln!("note: {}: skipped {} file(s) that are not event recordings, images or .npy arrays, e.g. {}", input.display(), skipped.len(), example.display());
            }
            files.extend(kept);
        } else {
            files.push(input.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether a file found in a folder walk starts like an `.npy` array, a PNG or JPEG image, or a
/// recording of a format spikestream detects (the first [`DETECT_BYTES`], or the whole file when
/// shorter). Which kind the model takes is checked when the file is read.
fn is_input(path: &Path) -> bool {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(path) else { return true };
    let mut head = Vec::new();
    if file.take(DETECT_BYTES as u64).read_to_end(&mut head).is_err() {
        return true; // let the real read report it
    }
    head.starts_with(b"\x93NUMPY") || spikestream::frames::image::sniff(&head).is_some() || detect(&head).is_ok()
}

/// `--shard I/N`: part I (from 0) of N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// Parses `I/N` with N ≥ 1 and I < N.
pub fn parse_shard(s: &str) -> Result<Shard, String> {
    let (i, n) = s.split_once('/').ok_or_else(|| format!("'{s}' is not I/N (e.g. 0/4: the first of four shards)"))?;
    let number = |v: &str, what: &str| v.trim().parse::<usize>().map_err(|_| format!("{what} '{v}' is not a whole number (I/N, e.g. 0/4)"));
    let (index, count) = (number(i, "shard index")?, number(n, "shard count")?);
    if count == 0 {
        return Err("the shard count N must be at least 1".into());
    }
    if index >= count {
        return Err(format!("shard index {index} is not below the shard count {count}; shards are numbered 0 to {}", count - 1));
    }
    Ok(Shard { index, count })
}

impl Shard {
    /// The files of this shard, in their given order: the inputs sorted by path, the k-th
    /// (from 0) going to shard k mod N. Every shard must be given the same inputs.
    pub fn select(self, files: Vec<PathBuf>) -> Vec<PathBuf> {
        let mut order: Vec<usize> = (0..files.len()).collect();
        order.sort_by(|&a, &b| files[a].cmp(&files[b]).then(a.cmp(&b)));
        let mut mine = vec![false; files.len()];
        for (rank, &i) in order.iter().enumerate() {
            mine[i] = rank % self.count == self.index;
        }
        files.into_iter().zip(mine).filter_map(|(f, m)| m.then_some(f)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_sorted_inputs() {
        let files: Vec<PathBuf> = ["c", "a", "d", "b", "e"].iter().map(PathBuf::from).collect();
        let parts: Vec<Vec<PathBuf>> = (0..2).map(|i| Shard { index: i, count: 2 }.select(files.clone())).collect();
        assert_eq!(parts[0], ["c", "a", "e"].iter().map(PathBuf::from).collect::<Vec<_>>());
        assert_eq!(parts[1], ["d", "b"].iter().map(PathBuf::from).collect::<Vec<_>>());
        assert_eq!(parse_shard("1/3"), Ok(Shard { index: 1, count: 3 }));
        for bad in ["3/3", "0/0", "1", "a/2", "-1/2"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
