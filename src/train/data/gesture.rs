//! DVS128 Gesture as downloaded: `userNN_<lighting>.aedat` (AEDAT 3.1) recordings, each with a
//! `…_labels.csv` of `class,startTime_usec,endTime_usec` rows (class 1–11), and the split lists
//! `trials_to_train.txt` / `trials_to_test.txt`. Every labelled window is one sample, events with
//! `start ≤ t < end` (SpikingJelly's rule), label = class − 1.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::discover::{Dataset, Sample};

pub const CLASSES: [&str; 11] = [
    "hand_clapping",
    "right_hand_wave",
    "left_hand_wave",
    "right_arm_clockwise",
    "right_arm_counter_clockwise",
    "left_arm_clockwise",
    "left_arm_counter_clockwise",
    "arm_roll",
    "air_drums",
    "air_guitar",
    "other_gestures",
];

fn trials(dir: &Path, list: &str) -> Result<Vec<String>> {
    let path = dir.join(list);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
}

fn windows(dir: &Path, recording: &str) -> Result<Vec<Sample>> {
    let stem = recording.strip_suffix(".aedat").unwrap_or(recording);
    let labels = dir.join(format!("{stem}_labels.csv"));
    let text = std::fs::read_to_string(&labels).with_context(|| format!("reading {}", labels.display()))?;
    let mut out = Vec::new();
    for (line_no, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < 3 || fields[0].is_empty() {
            continue;
        }
        let parse = |s: &str| s.parse::<u64>().with_context(|| format!("{}:{}: '{s}' is not a number", labels.display(), line_no + 1));
        let (class, start, end) = (parse(fields[0])?, parse(fields[1])?, parse(fields[2])?);
        if !(1..=11).contains(&class) {
            bail!("{}:{}: class {class} is not 1–11", labels.display(), line_no + 1);
        }
        out.push(Sample { path: dir.join(recording), label: class as usize - 1, window: Some((start, end)), item: None });
    }
    Ok(out)
}

pub fn discover_gesture(dir: &Path) -> Result<Dataset> {
    let mut train = Vec::new();
    for r in trials(dir, "trials_to_train.txt")? {
        train.extend(windows(dir, &r)?);
    }
    let mut test = Vec::new();
    if dir.join("trials_to_test.txt").is_file() {
        for r in trials(dir, "trials_to_test.txt")? {
            test.extend(windows(dir, &r)?);
        }
    }
    Ok(Dataset { classes: CLASSES.iter().map(|c| c.to_string()).collect(), train, test, layout: "DVS128 Gesture (labelled windows, trials files)" })
}
