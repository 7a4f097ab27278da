// Event binning: each event of each frame's index range adds 1 to its pixel's count:
//   counts[f, channel(p), y, x] += 1   for every event e in events[range f]
// Ranges may overlap (an event then counts in each frame). Invocation j takes the j-th event
// of the concatenated ranges and finds its frame by binary search over `ranges`.

struct Params {
    width: u32,
    height: u32,
    frame_len: u32, // channels·H·W
    on_offset: u32, // where ON events go: H·W with two polarity channels, 0 with one
    frames: u32,
    total: u32,     // Σ range lengths
}

// One event as uploaded (16 bytes): time in µs (unused by binning), x, y | p << 16.
struct GpuEvent {
    t_lo: u32,
    t_hi: u32,
    x: u32,
    yp: u32,
}

// One frame's events: events[start .. start + len]; `first` = Σ of earlier lengths.
struct Range {
    start: u32,
    len: u32,
    first: u32,
    pad: u32,
}

// p: sizes
@group(0) @binding(0) var<uniform> p: Params;
// events: [E] GpuEvent, x < width and y < height checked on upload
@group(0) @binding(1) var<storage, read> events: array<GpuEvent>;
// ranges: [frames] Range
@group(0) @binding(2) var<storage, read> ranges: array<Range>;
// counts: [frames, channels, H, W] u32
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var j = gid.x; j < p.total; j += nwg.x * WG) {
        // Last frame whose `first` ≤ j (empty frames share `first` with the next one).
        var lo = 0u;
        var hi = p.frames;
        while hi - lo > 1u {
            let mid = (lo + hi) / 2u;
            if ranges[mid].first <= j { lo = mid; } else { hi = mid; }
        }
        let r = ranges[lo];
        let e = events[r.start + (j - r.first)];
        let y = e.yp & 0xffffu;
        let on = (e.yp >> 16u) != 0u;
        let index = lo * p.frame_len + select(0u, p.on_offset, on) + y * p.width + e.x;
        atomicAdd(&counts[index], 1u);
    }
}
