//! `engine::Session` on the shipped demo model, CPU backend: `classify` (a recording framed by
//! the model's framing) equals `classify_frames` on the same frames, alone or batched and
//! padded; `step` over a stream of frames gives, for every window, bit for bit the logits
//! `classify` gives on the window's frames; and the three decodes relate as documented.

use std::path::{Path, PathBuf};

use spikestream::{Classification, Decode, ReadOptions, Session, SessionError, SessionOptions, read_file};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/demo");

fn model() -> PathBuf {
    Path::new(DEMO).join("sim10_vgg48_legacy.safetensors")
}

fn sample(name: &str) -> PathBuf {
    Path::new(DEMO).join("samples").join(name)
}

fn session(batch: usize, decode: Option<Decode>, hop: Option<usize>) -> Session {
    let options = SessionOptions { backend: spikestream::BackendChoice::Cpu, batch, decode, hop, top_k: 3, ..SessionOptions::default() };
    Session::open(model(), options).expect("demo model")
}

/// The frames `[T, C, H, W]` of a demo sample, framed as the session frames it.
fn frames(s: &Session, name: &str) -> Vec<f32> {
    s.loader().recording(&read_file(&sample(name), ReadOptions::default()).unwrap()).unwrap()
}

fn shape(s: &Session) -> Vec<usize> {
    let [c, h, w] = s.model().meta.input;
    vec![s.timesteps(), c, h, w]
}

const A: &str = "expand/0080.aedat4";
const B: &str = "rotate_cw/0081.aedat4";
const C: &str = "bar_up/0080.aedat4";

#[test]
fn classify_equals_classify_frames_alone_batched_and_padded() {
    let mut s = session(2, None, None);
    let names = [A, B, C];
    let single: Vec<Classification> = names.iter().map(|n| s.classify(&read_file(&sample(n), ReadOptions::default()).unwrap()).unwrap()).collect();
    for (n, c) in names.iter().zip(&single) {
        let again = s.classify_frames(&shape(&s), &frames(&s, n)).unwrap();
        assert_eq!(again, vec![c.clone()], "{n}");
        assert_eq!(c.logits.len(), s.timesteps(), "mean decode keeps every step's logits");
        assert_eq!(c.prediction.top_k.len(), 3);
        assert_eq!(c.prediction.top_k[0].index, c.prediction.index);
        for p in &c.probabilities {
            assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{p:?}");
        }
    }
    // [T, B, C, H, W] with B = 3 on a batch of 2: one full batch and one padded.
    let t = s.timesteps();
    let per = frames(&s, A).len() / t;
    let all: Vec<Vec<f32>> = names.iter().map(|n| frames(&s, n)).collect();
    let mut stacked = Vec::new();
    for step in 0..t {
        for f in &all {
            stacked.extend_from_slice(&f[step * per..(step + 1) * per]);
        }
    }
    let mut batched_shape = shape(&s);
    batched_shape.insert(1, 3);
    assert_eq!(s.classify_frames(&batched_shape, &stacked).unwrap(), single);
    assert_ne!(single[0].prediction.scores, single[1].prediction.scores, "different samples, different logits");
}

#[test]
fn step_over_a_stream_equals_classify_on_each_window_bit_for_bit() {
    let mut offline = session(1, None, None);
    let t = offline.timesteps();
    let per = frames(&offline, A).len() / t;
    // A stream of two recordings' frames back to back; a window every 3 frames.
    let stream: Vec<f32> = [frames(&offline, A), frames(&offline, B)].concat();
    let n = stream.len() / per;
    for hop in [t, 3] {
        let mut live = session(1, None, Some(hop));
        let mut got = Vec::new();
        for f in 0..n {
            if let Some(p) = live.step(&stream[f * per..(f + 1) * per]).unwrap() {
                got.push((f + 1 - t, p));
            }
        }
        let expected: Vec<usize> = (0..).map(|j| j * hop).take_while(|first| first + t <= n).collect();
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), expected, "hop {hop}: one window every hop frames");
        for (first, p) in got {
            let want = offline.classify_samples(&[&stream[first * per..(first + t) * per]]).unwrap().remove(0);
            assert_eq!(p.scores, want.prediction.scores, "hop {hop}, window from frame {first}: logits differ");
            assert_eq!(p, want.prediction);
        }
    }
}

#[test]
fn decodes_mean_last_and_per_step() {
    let f = frames(&session(1, None, None), B);
    let run = |d: Decode| {
        let mut s = session(1, Some(d), None);
        assert_eq!(s.decode(), d);
        s.classify_frames(&shape(&s), &f).unwrap().remove(0)
    };
    let (mean, last, per_step) = (run(Decode::Mean), run(Decode::Last), run(Decode::PerStep));
    let t = per_step.logits.len();
    assert_eq!(t, session(1, None, None).timesteps());
    let k = mean.prediction.scores.len();
    // Mean: the sum of the per-step logits in step order over T.
    let mut sum = vec![0f32; k];
    for row in &mean.logits {
        sum.iter_mut().zip(row).for_each(|(a, v)| *a += v);
    }
    assert_eq!(mean.prediction.scores, sum.iter().map(|v| v / t as f32).collect::<Vec<_>>());
    // Per-step: the same logits and decision as mean, every step kept.
    assert_eq!(per_step.logits, mean.logits);
    assert_eq!(per_step.prediction, mean.prediction);
    // Last: only the last step's head runs; its logits are the last row of the others.
    assert_eq!(last.logits.len(), 1);
    assert_eq!(last.logits[0], mean.logits[t - 1]);
    assert_eq!(last.prediction.scores, last.logits[0]);
    assert_ne!(last.prediction.scores, mean.prediction.scores);
}

#[test]
fn bad_frames_are_refused_naming_the_shape() {
    let mut s = session(1, None, None);
    let e = s.classify_frames(&[3, 2, 5, 5], &[0.0; 150]).unwrap_err();
    assert!(matches!(e, SessionError::Shape { .. }) && e.to_string().contains("[3, 2, 5, 5]"), "{e}");
    let mut wrong_t = shape(&s);
    wrong_t[0] += 1;
    let len = wrong_t.iter().product();
    let e = s.classify_frames(&wrong_t, &vec![0.0; len]).unwrap_err();
    assert!(e.to_string().contains("timesteps"), "{e}");
    let e = s.step(&[0.0; 3]).unwrap_err();
    assert!(e.to_string().contains("stream frame"), "{e}");
    let e = Session::open(Path::new(DEMO).join("missing.safetensors"), SessionOptions::default()).err().expect("missing model");
    assert!(matches!(e, SessionError::Model(_)), "{e}");
}
