//! Limits on sizes that come from outside the program: a recording's header, a model's metadata,
//! an `.npy` file, the command line. Every such size goes through here before anything is
//! allocated from it, so a crafted file or a mistyped number is an error that names the key or
//! flag, never an overflow, a 300 GB allocation or an abort.
//!
//! Owns the stated limits and the checked arithmetic that applies them. It does not know where
//! a value came from: callers pass a description (`"model metadata 'timesteps'"`, `"--batch"`)
//! that the error repeats.
//!
//! - one tensor (frames, a layer's activations for a batch, an `.npy` array) may hold at most
//!   [`DEFAULT_MAX_TENSOR_BYTES`] (4 GiB); the environment variable `SPIKESTREAM_MAX_TENSOR_MB`
//!   raises or lowers that;
//! - one AEDAT4 packet may hold at most [`DEFAULT_MAX_PACKET_BYTES`] (64 MiB) decompressed;
//!   `SPIKESTREAM_MAX_PACKET_MB` changes that;
//! - counts have fixed limits: [`MAX_TIMESTEPS`], [`MAX_FRAMES`], [`MAX_BATCH`],
//!   [`MAX_PROFILE_STEPS`], [`MAX_CLASSES`];
//! - the numbers typed on the command line are checked by [`flags`] against each flag's stated
//!   range or the memory it would need.

pub mod flags;

use std::sync::OnceLock;

/// Bytes one tensor made from outside sizes may take unless `SPIKESTREAM_MAX_TENSOR_MB` says
/// otherwise: far above what any real input needs (a 1280x720 sensor gives 7.4 MB per frame).
pub const DEFAULT_MAX_TENSOR_BYTES: u64 = 4 << 30;
/// Timesteps of a model (IMP-SNN models run 4-16; a stream runs up to T lanes).
pub const MAX_TIMESTEPS: u64 = 10_000;
/// Classes of a model (ImageNet has 1,000).
pub const MAX_CLASSES: u64 = 1 << 20;
/// Frames one recording may be cut into.
pub const MAX_FRAMES: u64 = 100_000;
/// Samples per engine batch.
pub const MAX_BATCH: u64 = 4_096;
/// Timesteps `bench` profiles or times.
pub const MAX_PROFILE_STEPS: u64 = 100_000;

/// A size from outside that is refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LimitError {
    #[error("{what}: {shape} would need {}, more than the limit of {} for one tensor (set SPIKESTREAM_MAX_TENSOR_MB to change it)", human(*bytes, true), human(u128::from(*limit), true))]
    TooLarge { what: String, shape: String, bytes: u128, limit: u64 },
    #[error("{what} is {value}, above the limit of {limit}")]
    Count { what: String, value: u64, limit: u64 },
    #[error("{what} is 0; it must be positive")]
    Zero { what: String },
}

/// Bytes one AEDAT4 packet may hold, stored or decompressed, unless `SPIKESTREAM_MAX_PACKET_MB`
/// says otherwise. DV writes packets of a few hundred KB; a 315 KB zstd file of packets that
/// each decompress to 256 MB took `inspect` to 10 GB.
pub const DEFAULT_MAX_PACKET_BYTES: usize = 64 << 20;

/// The AEDAT4 packet limit in bytes (read once from `SPIKESTREAM_MAX_PACKET_MB`).
pub fn max_packet_bytes() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("SPIKESTREAM_MAX_PACKET_MB").ok().and_then(|v| v.trim().parse::<usize>().ok()).map_or(DEFAULT_MAX_PACKET_BYTES, |mb| mb.saturating_mul(1 << 20).max(1 << 16))
    })
}

/// The tensor limit in bytes (read once from `SPIKESTREAM_MAX_TENSOR_MB`).
pub fn max_tensor_bytes() -> u64 {
    static LIMIT: OnceLock<u64> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("SPIKESTREAM_MAX_TENSOR_MB").ok().and_then(|v| v.trim().parse::<u64>().ok()).map_or(DEFAULT_MAX_TENSOR_BYTES, |mb| mb.saturating_mul(1 << 20))
    })
}

/// The element count of a tensor of shape `dims` with `elem_bytes` bytes per element, when it
/// fits the tensor limit. `what` says what the tensor is, for the message.
pub fn tensor(what: impl FnOnce() -> String, dims: &[usize], elem_bytes: usize) -> Result<usize, LimitError> {
    let elements = dims.iter().try_fold(1u128, |a, &d| a.checked_mul(d as u128)).unwrap_or(u128::MAX);
    let bytes = elements.saturating_mul(elem_bytes as u128);
    let limit = max_tensor_bytes();
    if bytes > u128::from(limit) {
        let shape = format!("[{}] of {elem_bytes}-byte values", dims.iter().map(usize::to_string).collect::<Vec<_>>().join(", "));
        return Err(LimitError::TooLarge { what: what(), shape, bytes, limit });
    }
    Ok(elements as usize)
}

/// `value` when it is positive and at most `limit`.
pub fn count(what: impl FnOnce() -> String, value: u64, limit: u64) -> Result<usize, LimitError> {
    match value {
        0 => Err(LimitError::Zero { what: what() }),
        v if v > limit => Err(LimitError::Count { what: what(), value, limit }),
        v => Ok(v as usize),
    }
}

/// Bytes for people: `343.6 GB` in decimal units, or `4.0 GiB` in binary ones (`binary`, as the
/// limits here are set). The one formatter; `cli::limits` uses it too.
pub fn human(bytes: u128, binary: bool) -> String {
    let (step, units) = if binary { (1024.0, ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"]) } else { (1000.0, ["bytes", "KB", "MB", "GB", "TB", "PB"]) };
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= step && unit + 1 < units.len() {
        v /= step;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{v:.1} {}", units[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shape_whose_product_overflows_is_refused_not_wrapped() {
        let err = tensor(|| "x".into(), &[usize::MAX, 4, 2], 4).unwrap_err();
        assert!(matches!(err, LimitError::TooLarge { .. }), "{err}");
        assert_eq!(tensor(|| "x".into(), &[10, 2, 48, 48], 4), Ok(46_080));
    }

    #[test]
    fn evt3_header_sensor_of_65535_squared_is_refused_with_its_size() {
        let err = tensor(|| "10 frames of the 65535x65535 sensor".into(), &[10, 2, 65535, 65535], 4).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("65535x65535") && text.contains("320.0 GiB") && text.contains("4.0 GiB"), "{text}");
    }

    #[test]
    fn counts_refuse_zero_and_above_the_limit() {
        assert!(matches!(count(|| "--batch".into(), 0, MAX_BATCH), Err(LimitError::Zero { .. })));
        assert!(count(|| "--batch".into(), 1_000_000_000, MAX_BATCH).unwrap_err().to_string().contains("--batch is 1000000000, above the limit of 4096"));
        assert_eq!(count(|| "--batch".into(), 16, MAX_BATCH), Ok(16));
    }
}
