//! Reading a NIR node's parameters as the engine needs them: shapes, whole numbers, square
//! windows, vectors of a given length, and neuron parameters per neuron or reduced to one value.
//! Every error says which key is wrong and why.

use serde_json::{Value as Json, json};

use super::hdf5::{Array, RawNode, Value};
use crate::model::graph::Shape;

/// Output size along one axis of a `k`-window with `stride` and `padding` over `n` (of `input`).
pub fn window(n: usize, k: usize, stride: usize, padding: usize, input: Shape) -> Result<usize, String> {
    (n + 2 * padding).checked_sub(k).map(|d| d / stride.max(1) + 1).ok_or_else(|| format!("a {k}x{k} window does not fit {input}"))
}

pub fn shape_of_input(a: &Array) -> Result<Shape, String> {
    let dims: Vec<usize> = a.data.iter().map(|&d| d as usize).collect();
    let mut d: &[usize] = &dims;
    while d.len() > 3 && d[0] == 1 {
        d = &d[1..];
    }
    match *d {
        [n] => Ok(Shape::new(n, 1, 1)),
        [c, h, w] => Ok(Shape::new(c, h, w)),
        _ => Err(format!("input shape {dims:?}: [n] or [channels, height, width] is supported")),
    }
}

pub fn array<'a>(node: &'a RawNode, key: &str) -> Result<&'a Array, String> {
    match node.params.get(key) {
        Some(Value::Array(a)) => Ok(a),
        Some(Value::Text(t)) => Err(format!("'{key}' is text ({t:?}), numbers are expected")),
        None => Err(format!("no '{key}'")),
    }
}

pub fn f32s(a: &Array) -> Vec<f32> {
    a.data.iter().map(|&v| v as f32).collect()
}

/// Parameter `key` as a vector of `n` values (a missing bias is zeros).
pub fn vector(node: &RawNode, key: &str, n: usize) -> Result<Array, String> {
    match node.params.get(key) {
        None => Ok(Array { shape: vec![n], data: vec![0.0; n] }),
        Some(_) => {
            let a = array(node, key)?;
            if a.data.len() != n {
                return Err(format!("'{key}' has {} values for {n} outputs", a.data.len()));
            }
            Ok(a.clone())
        }
    }
}

/// Integer parameter `key` (`want` values; a single value stands for all); 1 when absent.
pub fn ints(node: &RawNode, key: &str, want: usize) -> Result<Vec<i64>, String> {
    let Some(_) = node.params.get(key) else { return Ok(vec![1; want]) };
    let a = array(node, key)?;
    if a.data.iter().any(|v| v.fract() != 0.0 || !v.is_finite()) {
        return Err(format!("'{key}' = {:?} must be whole numbers", a.data));
    }
    Ok(a.data.iter().map(|&v| v as i64).collect())
}

/// A 2-D window parameter that must be the same along height and width.
pub fn square(node: &RawNode, key: &str) -> Result<usize, String> {
    let a = array(node, key)?;
    let v: Vec<i64> = ints(node, key, 2)?;
    match v[..] {
        [x] | [x, _] if v.iter().all(|&y| y == x) && (0..=i64::from(u16::MAX)).contains(&x) => Ok(x as usize),
        _ => Err(format!("'{key}' = {:?}: the same value along height and width (0 to 65535) is supported", a.data)),
    }
}

/// A neuron parameter per neuron of `shape` (`[C, H, W]` order): one value for all, one per
/// channel (shape `[C]` or `[C, 1, 1]`, broadcast over height and width) or one per neuron.
pub fn per_neuron(node: &RawNode, key: &str, shape: Shape) -> Result<Vec<f32>, String> {
    let a = array(node, key)?;
    let (n, c) = (shape.len(), shape.c);
    match a.data.len() {
        0 => Err(format!("'{key}' is empty")),
        1 => Ok(vec![a.data[0] as f32; n]),
        len if len == n => Ok(f32s(a)),
        len if len == c => Ok(a.data.iter().flat_map(|&v| std::iter::repeat_n(v as f32, shape.h * shape.w)).collect()),
        len => Err(format!("'{key}' has {len} values (shape {:?}) for {shape}: one value, one per channel ({c}) or one per neuron ({n}) is supported", a.shape)),
    }
}

pub fn scalar(v: &Value) -> Option<f64> {
    match v {
        Value::Array(a) if a.data.len() == 1 => Some(a.data[0]),
        Value::Text(t) if t.len() == 1 => t[0].trim().parse().ok(),
        _ => None,
    }
}

pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Array(a) if a.data.len() == 1 => json!(a.data[0]),
        Value::Array(a) => json!(a.data),
        Value::Text(t) if t.len() == 1 => json!(t[0]),
        Value::Text(t) => json!(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(key: &str, shape: Vec<usize>, data: Vec<f64>) -> RawNode {
        RawNode { kind: "LIF".into(), params: [(key.to_string(), Value::Array(Array { shape, data }))].into(), ..RawNode::default() }
    }

    #[test]
    fn per_neuron_values_are_one_per_channel_or_per_neuron() {
        let s = Shape::new(2, 1, 2);
        assert_eq!(per_neuron(&node("tau", vec![2, 1, 1], vec![1.0, 2.0]), "tau", s), Ok(vec![1.0, 1.0, 2.0, 2.0]), "per channel, broadcast");
        assert_eq!(per_neuron(&node("tau", vec![], vec![3.0]), "tau", s), Ok(vec![3.0; 4]));
        assert_eq!(per_neuron(&node("tau", vec![2, 1, 2], vec![1.0, 2.0, 3.0, 4.0]), "tau", s), Ok(vec![1.0, 2.0, 3.0, 4.0]));
        assert!(per_neuron(&node("tau", vec![3], vec![1.0; 3]), "tau", s).is_err_and(|e| e.contains("'tau' has 3 values")));
    }
}
