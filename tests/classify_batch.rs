//! `classify` as a batch job: `--jsonl` lines, `--shard I/N` (shards together are the unsharded
//! run), `--resume OUT.jsonl` (a run killed mid-way and resumed equals an uninterrupted one, and
//! never loses a line), `--skip-errors` (a corrupt file becomes an error record, exit status 3).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/demo");

fn model() -> String {
    format!("{DEMO}/sim10_vgg48_legacy.safetensors")
}

fn classify(args: &[&str]) -> Output {
    let m = model();
    let mut all = vec!["classify", m.as_str(), "--backend", "cpu"];
    all.extend_from_slice(args);
    Command::new(env!("CARGO_BIN_EXE_spikestream")).args(&all).output().unwrap()
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines().map(str::to_string).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `copies` copies of every demo sample in `dir/<class>/`, so a run lasts long enough to kill.
fn corpus(dir: &Path, copies: usize) -> usize {
    let mut n = 0;
    for class in std::fs::read_dir(Path::new(DEMO).join("samples")).unwrap() {
        let class = class.unwrap().path();
        let to = dir.join(class.file_name().unwrap());
        std::fs::create_dir_all(&to).unwrap();
        for file in std::fs::read_dir(&class).unwrap() {
            let file = file.unwrap().path();
            for c in 0..copies {
                std::fs::copy(&file, to.join(format!("{c}_{}", file.file_name().unwrap().to_string_lossy()))).unwrap();
                n += 1;
            }
        }
    }
    n
}

#[test]
fn two_shards_together_equal_the_unsharded_run() {
    let samples = format!("{DEMO}/samples");
    let whole = classify(&[&samples, "--jsonl", "--labels-from-dirs", "--top-k", "2"]);
    assert!(whole.status.success(), "{}", text(&whole.stderr));
    let whole = lines(&text(&whole.stdout));
    assert_eq!(whole.len(), 20, "one line per input");
    let mut union = BTreeSet::new();
    for shard in ["0/2", "1/2"] {
        let part = classify(&[&samples, "--jsonl", "--labels-from-dirs", "--top-k", "2", "--shard", shard]);
        assert!(part.status.success(), "{}", text(&part.stderr));
        let part = lines(&text(&part.stdout));
        assert_eq!(part.len(), 10, "shard {shard}: half of the sorted inputs");
        assert!(union.is_disjoint(&part), "shards overlap");
        union.extend(part);
    }
    assert_eq!(union, whole);
    for line in &whole {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in ["file", "label", "class", "index", "score", "top_k"] {
            assert!(v.get(key).is_some(), "{key} missing in {line}");
        }
        assert_eq!(v["top_k"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn a_killed_and_resumed_run_equals_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let total = corpus(&data, 3);
    let data = data.to_str().unwrap();
    let reference = classify(&[data, "--jsonl", "--batch", "1", "--decode", "per-step"]);
    assert!(reference.status.success(), "{}", text(&reference.stderr));
    let reference = lines(&text(&reference.stdout));
    assert_eq!(reference.len(), total);

    let out = dir.path().join("out.jsonl");
    let o = out.to_str().unwrap();
    let m = model();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spikestream"))
        .args(["classify", &m, "--backend", "cpu", data, "--batch", "1", "--decode", "per-step", "--resume", o])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed (SIGKILL) as soon as the first line is out.
    while std::fs::read_to_string(&out).map_or(true, |t| t.lines().count() == 0) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before writing a line");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = std::fs::read_to_string(&out).unwrap();
    let complete = &before[..before.rfind('\n').map_or(0, |i| i + 1)];
    assert!(complete.lines().count() < total, "the run was killed before the end ({} of {total} lines)", complete.lines().count());
    // As if the kill had come mid-write: a torn last line.
    std::fs::write(&out, format!("{complete}{{\"file\":\"{data}/torn")).unwrap();

    let resumed = classify(&[data, "--batch", "4", "--decode", "per-step", "--resume", o]);
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    let after = std::fs::read_to_string(&out).unwrap();
    assert!(after.starts_with(complete), "the lines written before the kill are kept as they were");
    assert_eq!(after.lines().count(), total, "no input twice, none missing");
    assert_eq!(lines(&after), reference);
    // Nothing left to do: a second resume appends nothing.
    let again = classify(&[data, "--decode", "per-step", "--resume", o]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), after);
}

#[test]
fn skip_errors_reports_a_corrupt_file_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let good: Vec<PathBuf> = ["expand/0080.aedat4", "bar_up/0081.aedat4"].iter().map(|n| Path::new(DEMO).join("samples").join(n)).collect();
    for (i, g) in good.iter().enumerate() {
        std::fs::copy(g, dir.path().join(format!("{i}.aedat4"))).unwrap();
    }
    // A recording cut short: its header is intact (so the folder walk takes it), its data is not.
    let bytes = std::fs::read(&good[0]).unwrap();
    let corrupt = dir.path().join("1_cut.aedat4");
    std::fs::write(&corrupt, &bytes[..bytes.len() / 3]).unwrap();
    let d = dir.path().to_str().unwrap();

    let failed = classify(&[d, "--jsonl"]);
    assert_eq!(failed.status.code(), Some(1), "without --skip-errors the run stops: {}", text(&failed.stderr));
    assert!(text(&failed.stderr).contains("1_cut.aedat4"), "{}", text(&failed.stderr));

    let r = classify(&[d, "--jsonl", "--skip-errors"]);
    assert_eq!(r.status.code(), Some(3), "some inputs failed: {}", text(&r.stderr));
    let records: Vec<serde_json::Value> = text(&r.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 3);
    let errors: Vec<&serde_json::Value> = records.iter().filter(|v| v.get("error").is_some()).collect();
    assert_eq!(errors.len(), 1, "{records:?}");
    assert!(errors[0]["file"].as_str().unwrap().ends_with("1_cut.aedat4"));
    assert!(errors[0]["error"].as_str().unwrap().contains("1_cut.aedat4"), "the message names the file");

    let r = classify(&[d, "--skip-errors"]);
    assert_eq!(r.status.code(), Some(3));
    assert_eq!(text(&r.stdout).lines().count(), 2, "the two good inputs are classified");
    assert!(text(&r.stderr).contains("1_cut.aedat4"));
}

#[test]
fn bad_shard_values_and_foreign_resume_files_are_refused() {
    let sample = format!("{DEMO}/samples/expand/0080.aedat4");
    for bad in ["2/2", "0/0", "1", "a/2", "1/2/3", "-1/2"] {
        let r = classify(&[&sample, "--jsonl", &format!("--shard={bad}")]);
        assert_eq!(r.status.code(), Some(2), "--shard {bad}");
        assert!(text(&r.stderr).contains("--shard"), "the refusal names the flag: {}", text(&r.stderr));
    }
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.jsonl");
    std::fs::write(&notes, "my notes\n").unwrap();
    let r = classify(&[&sample, "--resume", notes.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r.stderr).contains("notes.jsonl") && text(&r.stderr).contains("line 1"), "{}", text(&r.stderr));
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes\n", "a file that is not ours is left alone");
}
