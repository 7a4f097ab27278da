//! What the fused plan merges, decided from the graph alone (no device): which neuron runs in
//! which convolution's epilogue, which average pools are folded into the loads of the
//! convolutions that read them, which spike values get bit words for block skipping, and the
//! tile shape of every fused convolution ([`Tile::choose`]).

use crate::model::graph::{Graph, Op, Pool};

/// Workgroups a conv dispatch should have at least, at any batch: two per SM of a 132-SM GPU.
pub const MIN_WORKGROUPS: usize = 264;
/// The longest dependent accumulation chain a kernel should run.
pub const MAX_SERIAL_TRIPS: usize = 300;
/// Chunks a workgroup's skip mask can describe (`mask` in conv_fused.wgsl).
const MASK_CHUNKS: usize = 512;

/// The merges for one graph.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fusion {
    /// Conv node → the neuron node its epilogue runs.
    pub neuron_of: Vec<Option<usize>>,
    /// Neuron node → the conv node it runs in.
    pub fused_into: Vec<Option<usize>>,
    /// Conv node → the pool node whose average it computes on load.
    pub pool_of: Vec<Option<usize>>,
    /// Pool node whose every reader folds it (no pool pass runs).
    pub pool_folded: Vec<bool>,
    /// Value id → it gets `[B, H, W, ⌈C/32⌉]` spike words (written by a fused epilogue, read
    /// by a convolution to skip silent blocks).
    pub bits: Vec<bool>,
}

/// A pool the fused convolution can compute on load: non-overlapping, no padding.
pub fn foldable(p: &Pool) -> bool {
    p.kernel == p.stride && p.padding == 0 && p.kernel >= 1
}

impl Fusion {
    pub fn of(g: &Graph) -> Self {
        let n = g.nodes.len();
        let readers = |v: usize| -> Vec<usize> { (0..n).filter(|&j| g.nodes[j].inputs.contains(&v)).collect() };
        let mut f = Fusion { neuron_of: vec![None; n], fused_into: vec![None; n], pool_of: vec![None; n], pool_folded: vec![false; n], bits: vec![false; n + 1] };
        for (i, node) in g.nodes.iter().enumerate() {
            let Op::Conv(_) = node.op else { continue };
            // The conv's only reader is a spiking neuron: the neuron runs in the epilogue (which
            // writes spike bits; a readout's membrane runs in its own pass).
            if let [j] = readers(i + 1)[..] {
                // Per-neuron parameters are read by `neuron_steps` only (its own pass).
                if matches!(&g.nodes[j].op, Op::Neuron(n) if n.kind.binary() && n.arrays.is_empty()) && g.nodes[j].inputs == [i + 1] && g.nodes[j].head == node.head {
                    f.neuron_of[i] = Some(j);
                    f.fused_into[j] = Some(i);
                }
            }
            let v = node.inputs[0];
            if v > 0 {
                if let Op::AvgPool(p) = &g.nodes[v - 1].op {
                    if foldable(p) {
                        f.pool_of[i] = Some(v - 1);
                    }
                }
            }
        }
        for (p, node) in g.nodes.iter().enumerate() {
            if matches!(node.op, Op::AvgPool(_)) {
                let r = readers(p + 1);
                f.pool_folded[p] = !r.is_empty() && r.iter().all(|&j| f.pool_of[j] == Some(p));
            }
        }
        for (i, node) in g.nodes.iter().enumerate() {
            if !matches!(node.op, Op::Conv(_)) {
                continue;
            }
            // The value whose zeros the conv can skip: its input, or the pooled value's source.
            let src = match f.pool_of[i] {
                Some(p) => g.nodes[p].inputs[0],
                None => node.inputs[0],
            };
            let from_fused = src > 0 && f.fused_into[src - 1].is_some();
            if from_fused && chunks(g, i) <= MASK_CHUNKS {
                f.bits[src] = true;
            }
        }
        f
    }

    /// Dispatches one timestep of the fused plan runs with the head (`head`) or without.
    pub fn dispatch_count(&self, g: &Graph, head: bool) -> usize {
        g.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| head || !n.head)
            .filter(|&(i, n)| match n.op {
                Op::Flatten => false,
                Op::Neuron(_) => self.fused_into[i].is_none(),
                Op::AvgPool(_) => !self.pool_folded[i],
                _ => true,
            })
            .count()
    }
}

/// K²·⌈Ci/32⌉: the chunks a fused convolution walks.
pub fn chunks(g: &Graph, conv: usize) -> usize {
    match &g.nodes[conv].op {
        Op::Conv(c) => c.kernel * c.kernel * c.in_ch.div_ceil(32),
        _ => 0,
    }
}

/// A fused convolution's workgroup: `tp` pixel slots × `rp` pixels each, `tc` groups of 4
/// output channels, `sk` splits of the reduction; `tp·tc·sk` invocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    pub tp: usize,
    pub rp: usize,
    pub tc: usize,
    pub sk: usize,
}

impl Tile {
    pub fn pixels(&self) -> usize {
        self.tp * self.rp
    }

    /// Workgroups for `px` output pixels per lane, `co` channels, `batch` lanes.
    pub fn workgroups(&self, px: usize, co: usize, batch: usize) -> usize {
        px.div_ceil(self.pixels()) * co.div_ceil(4).div_ceil(self.tc) * batch
    }

    /// The longest dependent chain: every chunk's share of this split, then the tree.
    pub fn serial_trips(&self, ci: usize, k: usize) -> usize {
        let full = ci / 32;
        let rest = ci % 32;
        let per_tap = full * 32usize.div_ceil(self.sk) + rest.div_ceil(self.sk);
        k * k * per_tap + self.sk.trailing_zeros() as usize
    }

    /// Fits conv_fused.wgsl's workgroup arrays and the 256-invocation limit.
    fn fits(&self) -> bool {
        let threads = self.tp * self.tc * self.sk;
        (1..=256).contains(&threads) && self.pixels() <= 32 && self.tc <= 16 && (self.sk / 2) * self.tp * self.tc * self.rp <= 512
    }

    /// The tile for a layer: among shapes that fit, the first goal met wins: a dependent chain of
    /// at most [`MAX_SERIAL_TRIPS`], then at least [`MIN_WORKGROUPS`] workgroups, then the
    /// largest tile (most reuse of each staged value), then the shortest chain.
    pub fn choose(px: usize, co: usize, ci: usize, k: usize, batch: usize) -> Tile {
        let co4 = co.div_ceil(4);
        // Whole 32-channel words per tile, or one tile for all of a narrow layer.
        let tcs: Vec<usize> = if co4 <= 8 { vec![co4.next_power_of_two().max(1)] } else { vec![16, 8] };
        let width = ci.clamp(1, 32);
        let mut best: Option<(Tile, (bool, bool, usize, std::cmp::Reverse<usize>))> = None;
        for &tc in &tcs {
            for sk in [1, 2, 4, 8, 16, 32].into_iter().filter(|&s| s <= width.next_power_of_two()) {
                for tp in [1, 2, 4, 8, 16, 32] {
                    for rp in [1, 2, 4] {
                        let t = Tile { tp, rp, tc, sk };
                        if !t.fits() || tp * tc * sk < 32 {
                            continue;
                        }
                        let trips = t.serial_trips(ci, k);
                        let score = (trips <= MAX_SERIAL_TRIPS, t.workgroups(px, co, batch) >= MIN_WORKGROUPS, t.pixels() * t.tc, std::cmp::Reverse(trips));
                        if best.as_ref().is_none_or(|(_, s)| score > *s) {
                            best = Some((t, score));
                        }
                    }
                }
            }
        }
        best.map_or(Tile { tp: 1, rp: 1, tc: 1, sk: 1 }, |(t, _)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_deep_layers_split_k_and_still_fill_a_large_gpu() {
        // vgg11_48_legacy's 512→512 layer at 6×6, batch 1.
        let t = Tile::choose(36, 512, 512, 3, 1);
        assert!(t.serial_trips(512, 3) <= MAX_SERIAL_TRIPS, "{t:?}");
        assert!(t.workgroups(36, 512, 1) >= MIN_WORKGROUPS, "{t:?}");
        assert!(t.sk >= 16, "{t:?}");
    }

    #[test]
    fn wide_shallow_layers_take_big_tiles_at_batch_16() {
        let one = Tile::choose(48 * 48, 64, 2, 3, 1);
        let many = Tile::choose(48 * 48, 64, 2, 3, 16);
        assert!(one.workgroups(48 * 48, 64, 1) >= MIN_WORKGROUPS, "{one:?}");
        assert!(many.pixels() * many.tc >= one.pixels() * one.tc, "{one:?} {many:?}");
        for t in [one, many] {
            assert!(t.fits() && t.sk <= 2, "a 2-channel input splits at most 2 ways: {t:?}");
        }
    }

    #[test]
    fn narrow_layers_keep_whole_words_in_one_tile() {
        let t = Tile::choose(100, 12, 8, 3, 1);
        assert!(t.tc * 4 >= 12, "{t:?}");
    }
}
