//! Finding the samples and classes of a dataset folder (layouts in the module above).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// One training example: a recording, or a time window of one.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub path: PathBuf,
    pub label: usize,
    /// Event-time window `[start, end)` in µs (DVS128 Gesture), or the whole recording.
    pub window: Option<(u64, u64)>,
    /// Index of an in-memory image (static datasets, [`super::images`]).
    pub item: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct Dataset {
    pub classes: Vec<String>,
    pub train: Vec<Sample>,
    pub test: Vec<Sample>,
    /// Which layout was recognised, for people.
    pub layout: &'static str,
}

fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    out.sort();
    Ok(out)
}

fn sorted_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    out.sort();
    Ok(out)
}

fn name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The samples of `dir` (see the module docs for the layouts).
pub fn discover(dir: &Path) -> Result<Dataset> {
    if !dir.is_dir() {
        bail!("{}: not a folder (give a dataset folder: DIR/<class>/<recording> or DIR/{{train,test}}/<class>/…)", dir.display());
    }
    // `train`/`test` (the simulator) or `Train`/`Test` (N-MNIST as downloaded).
    let split_dirs = [("train", "test"), ("Train", "Test")].into_iter().map(|(a, b)| (dir.join(a), dir.join(b))).find(|(a, b)| a.is_dir() && b.is_dir());
    if let Some((train_dir, test_dir)) = split_dirs {
        let mut classes: Vec<String> = sorted_dirs(&train_dir)?.iter().chain(sorted_dirs(&test_dir)?.iter()).map(|p| name(p)).collect();
        classes.sort();
        classes.dedup();
        let collect = |root: &Path| -> Result<Vec<Sample>> {
            let mut out = Vec::new();
            for (label, class) in classes.iter().enumerate() {
                let d = root.join(class);
                if d.is_dir() {
                    out.extend(sorted_files(&d)?.into_iter().map(|path| Sample { path, label, window: None, item: None }));
                }
            }
            Ok(out)
        };
        return finish(Dataset { train: collect(&train_dir)?, test: collect(&test_dir)?, classes, layout: "train/test class folders" });
    }
    if dir.join("trials_to_train.txt").is_file() {
        return super::discover_gesture(dir);
    }
    let class_dirs = sorted_dirs(dir)?;
    if class_dirs.is_empty() {
        bail!("{}: no class folders (expected DIR/<class>/<recording>)", dir.display());
    }
    let classes: Vec<String> = class_dirs.iter().map(|p| name(p)).collect();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    let mut cifar = false;
    for (label, d) in class_dirs.iter().enumerate() {
        let files = sorted_files(d)?;
        let indices: Vec<Option<usize>> = files.iter().map(|f| cifar10_dvs_index(&name(f))).collect();
        if !files.is_empty() && indices.iter().all(Option::is_some) {
            cifar = true;
            for (f, i) in files.into_iter().zip(indices) {
                let s = Sample { path: f, label, window: None, item: None };
                if i.unwrap_or(0) < 100 { test.push(s) } else { train.push(s) }
            }
        } else {
            let mut files = files;
            seeded_shuffle(&mut files, label as u64);
            let n_test = (files.len() / 10).max(usize::from(files.len() > 1));
            let split = files.len() - n_test;
            for (k, f) in files.into_iter().enumerate() {
                let s = Sample { path: f, label, window: None, item: None };
                if k < split { train.push(s) } else { test.push(s) }
            }
        }
    }
    let layout = if cifar { "CIFAR10-DVS class folders (files _0.._99 are the test split)" } else { "class folders (a seeded 90/10 split per class)" };
    finish(Dataset { classes, train, test, layout })
}

fn finish(d: Dataset) -> Result<Dataset> {
    if d.train.is_empty() {
        bail!("no training recordings found ({})", d.layout);
    }
    Ok(d)
}

/// `cifar10_<class>_<i>.aedat` → `i`.
fn cifar10_dvs_index(file: &str) -> Option<usize> {
    let stem = file.strip_prefix("cifar10_")?.strip_suffix(".aedat")?;
    stem.rsplit('_').next()?.parse().ok()
}

/// Fisher–Yates with a SplitMix64 stream seeded by `seed`: the same order on every machine.
pub(crate) fn seeded_shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut next = || crate::rng::splitmix64(&mut state);
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cifar_names() {
        assert_eq!(cifar10_dvs_index("cifar10_airplane_17.aedat"), Some(17));
        assert_eq!(cifar10_dvs_index("cifar10_automobile_999.aedat"), Some(999));
        assert_eq!(cifar10_dvs_index("0001.aedat4"), None);
    }

    fn touch(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn cifar10_dvs_folders_use_the_reference_split() {
        let dir = tempfile::tempdir().unwrap();
        for class in ["airplane", "automobile"] {
            for i in [0, 5, 99, 100, 512, 999] {
                touch(&dir.path().join(class).join(format!("cifar10_{class}_{i}.aedat")), "");
            }
        }
        let d = discover(dir.path()).unwrap();
        assert_eq!(d.classes, ["airplane", "automobile"]);
        assert_eq!((d.train.len(), d.test.len()), (6, 6));
        assert!(d.test.iter().all(|s| cifar10_dvs_index(&name(&s.path)).unwrap() < 100));
        assert!(d.train.iter().all(|s| cifar10_dvs_index(&name(&s.path)).unwrap() >= 100));
        assert!(d.train.iter().filter(|s| s.label == 1).all(|s| name(&s.path).contains("automobile")));
    }

    #[test]
    fn class_folders_split_90_10_and_split_folders_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..20 {
            touch(&dir.path().join("flat/a").join(format!("{i:04}.bin")), "");
            touch(&dir.path().join("flat/b").join(format!("{i:04}.bin")), "");
        }
        let d = discover(&dir.path().join("flat")).unwrap();
        assert_eq!((d.train.len(), d.test.len()), (36, 4));
        assert_eq!(discover(&dir.path().join("flat")).unwrap().test, d.test, "the split is reproducible");
        for (split, n) in [("Train", 3), ("Test", 1)] {
            for c in ["0", "1"] {
                for i in 0..n {
                    touch(&dir.path().join("nmnist").join(split).join(c).join(format!("{i}.bin")), "");
                }
            }
        }
        let d = discover(&dir.path().join("nmnist")).unwrap();
        assert_eq!((d.classes.len(), d.train.len(), d.test.len()), (2, 6, 2));
    }

    #[test]
    fn dvs128_gesture_windows_come_from_the_labels_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        touch(&p.join("trials_to_train.txt"), "user01_fluorescent.aedat\n");
        touch(&p.join("trials_to_test.txt"), "user24_led.aedat\n");
        touch(&p.join("user01_fluorescent_labels.csv"), "class,startTime_usec,endTime_usec\n1,100,200\n11,300,450\n");
        touch(&p.join("user24_led_labels.csv"), "class,startTime_usec,endTime_usec\n3,10,20\n");
        let d = discover(p).unwrap();
        assert_eq!(d.classes.len(), 11);
        assert_eq!(d.train.iter().map(|s| (s.label, s.window)).collect::<Vec<_>>(), [(0, Some((100, 200))), (10, Some((300, 450)))]);
        assert_eq!(d.test[0].label, 2);
        touch(&p.join("user24_led_labels.csv"), "class,startTime_usec,endTime_usec\n12,10,20\n");
        let err = discover(p).unwrap_err().to_string();
        assert!(err.contains("user24_led_labels.csv") && err.contains("class 12"), "{err}");
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let mut a: Vec<u32> = (0..20).collect();
        let mut b = a.clone();
        seeded_shuffle(&mut a, 3);
        seeded_shuffle(&mut b, 3);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>());
        assert_ne!(a, (0..20).collect::<Vec<_>>());
    }
}
