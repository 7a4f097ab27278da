//! Label-aware flips: a mirrored scene can be another class's scene (a bar moving left, mirrored,
//! moves right; a clockwise rotation becomes counter-clockwise), so a training flip must swap
//! those labels. [`FlipSpec`] is what the user asked for (`--flip-swap`, `--vflip`,
//! `--vflip-swap`, by class name); [`LabelFlips`] is it resolved against a dataset's classes.

use anyhow::{Result, bail};

/// The flips asked for, by class name, before the dataset's classes are known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlipSpec {
    /// Classes whose labels a horizontal (mirror-x) flip exchanges.
    pub h_swap: Vec<(String, String)>,
    /// Also flip vertically (mirror y) with p = 0.5.
    pub vflip: bool,
    /// Classes whose labels a vertical flip exchanges (implies `vflip`).
    pub v_swap: Vec<(String, String)>,
}

/// Parses `A=B,C=D` (the value of `flag`) into pairs; an empty string gives no pairs.
pub fn parse_pairs(flag: &str, value: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((a, b)) = item.split_once('=') else { bail!("{flag} {value:?}: expected CLASS=CLASS pairs separated by commas, got {item:?}") };
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() || b.is_empty() || a == b {
            bail!("{flag} {value:?}: {item:?} must name two different classes");
        }
        pairs.push((a.to_string(), b.to_string()));
    }
    Ok(pairs)
}

/// Flips resolved to class indices: `h[c]` is the label of class `c` after a horizontal flip,
/// `v` the same for vertical flips when they are on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelFlips {
    pub h: Vec<usize>,
    pub v: Option<Vec<usize>>,
}

impl LabelFlips {
    /// Resolves `spec` against `classes`; an unknown class or a class in two pairs of one flag is
    /// an error naming the flag.
    pub fn resolve(spec: &FlipSpec, classes: &[String]) -> Result<Self> {
        let h = permutation("--flip-swap", &spec.h_swap, classes)?;
        let v = if spec.vflip || !spec.v_swap.is_empty() { Some(permutation("--vflip-swap", &spec.v_swap, classes)?) } else { None };
        Ok(Self { h, v })
    }

    /// The label of a sample of class `label` after the flips drawn for it.
    pub fn label(&self, label: usize, hflip: bool, vflip: bool) -> usize {
        let label = if hflip { self.h[label] } else { label };
        match (&self.v, vflip) {
            (Some(v), true) => v[label],
            _ => label,
        }
    }
}

fn permutation(flag: &str, pairs: &[(String, String)], classes: &[String]) -> Result<Vec<usize>> {
    let mut map: Vec<usize> = (0..classes.len()).collect();
    let index = |name: &str| {
        classes.iter().position(|c| c == name).ok_or_else(|| anyhow::anyhow!("{flag}: {name:?} is not one of the dataset's classes ({})", classes.join(", ")))
    };
    for (a, b) in pairs {
        let (i, j) = (index(a)?, index(b)?);
        if map[i] != i || map[j] != j {
            bail!("{flag}: {:?} appears in two pairs", if map[i] != i { a } else { b });
        }
        map[i] = j;
        map[j] = i;
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> Vec<String> {
        ["bar_left", "bar_right", "rotate_ccw", "rotate_cw", "expand"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pairs_swap_both_ways_and_leave_other_classes() {
        let spec = FlipSpec { h_swap: parse_pairs("--flip-swap", "bar_left=bar_right, rotate_cw=rotate_ccw").unwrap(), ..Default::default() };
        let f = LabelFlips::resolve(&spec, &classes()).unwrap();
        assert_eq!(f.h, vec![1, 0, 3, 2, 4]);
        assert_eq!(f.v, None);
        assert_eq!(f.label(0, true, true), 1, "no vertical flips unless asked");
        assert_eq!(f.label(4, true, false), 4);
        let spec = FlipSpec { vflip: true, v_swap: parse_pairs("--vflip-swap", "rotate_cw=rotate_ccw").unwrap(), ..spec };
        let f = LabelFlips::resolve(&spec, &classes()).unwrap();
        assert_eq!(f.label(3, true, true), 3, "mirrored twice, a rotation keeps its sense");
        assert_eq!(f.label(3, false, true), 2);
    }

    #[test]
    fn bad_pairs_name_the_flag() {
        for bad in ["bar_left", "bar_left=bar_left", "=x"] {
            let e = parse_pairs("--flip-swap", bad).unwrap_err().to_string();
            assert!(e.contains("--flip-swap"), "{e}");
        }
        let spec = FlipSpec { v_swap: parse_pairs("--vflip-swap", "bar_up=bar_down").unwrap(), ..Default::default() };
        let e = LabelFlips::resolve(&spec, &classes()).unwrap_err().to_string();
        assert!(e.contains("--vflip-swap") && e.contains("bar_up"), "{e}");
        let spec = FlipSpec { h_swap: parse_pairs("--flip-swap", "bar_left=bar_right,bar_right=expand").unwrap(), ..Default::default() };
        let e = LabelFlips::resolve(&spec, &classes()).unwrap_err().to_string();
        assert!(e.contains("two pairs") && e.contains("bar_right"), "{e}");
    }
}
