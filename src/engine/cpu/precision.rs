//! The CPU backend's weight precision (`--precision f32|bf16|f16`): how weights are stored for
//! the kernels, and the conversion at load.
//!
//! `f32` (the default) stores the model's values unchanged, the bit-exact path. `bf16` and `f16`
//! round every conv and linear weight once, to nearest even, and store the 16-bit values; the
//! kernels widen them to f32 (exactly: bf16 is the top half of an f32, f16 converts by F16C) and
//! accumulate in f32. So a reduced-precision run equals an f32 run on the rounded weights bit for
//! bit, except in Winograd layers under `bf16` on a CPU with AVX512_BF16: there the transformed
//! weights and inputs are rounded to bf16 too and multiplied by `vdpbf16ps`
//! ([`super::winograd_bf16`]); elsewhere (f16, or no AVX512_BF16) the transformed weights are
//! computed from the rounded weights and kept in f32 (see [`super::winograd`]). Biases, TEBN
//! scales and neuron parameters stay f32.
//! A weight that is not finite in the target format (f16 above 65504, or NaN/∞ in the file) is an
//! error naming its tensor, never saturated.

/// The precision of stored weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// float32 weights: the reference path, bit for bit.
    #[default]
    F32,
    /// bfloat16 weights (8-bit exponent, 8-bit significand), accumulated in f32.
    Bf16,
    /// IEEE half weights (5-bit exponent, 11-bit significand), accumulated in f32.
    F16,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
        }
    }
}

/// A weight the target format cannot hold.
#[derive(Debug, thiserror::Error)]
#[error("--precision {format}: tensor {tensor}: weight {value} at index {index} is not finite in {format} (largest finite {max:e}); use --precision f32{hint}")]
pub struct PrecisionError {
    pub tensor: String,
    pub index: usize,
    pub value: f32,
    pub format: &'static str,
    pub max: f32,
    hint: &'static str,
}

/// A stored weight: f32, or a 16-bit format the kernels widen to f32.
pub trait Weight: Copy + Default + Send + Sync + 'static {
    fn widen(self) -> f32;
    /// `w` rounded to this format (to nearest even), `None` where the result is not finite.
    fn narrow(w: f32) -> Option<Self>;
    /// The weights of this type in `s`, if `s` holds this type.
    fn of(s: &Stored) -> Option<&[Self]>;
    /// `w` itself where `Self` is f32 (no widening needed), else `None`.
    #[inline(always)]
    fn as_f32(_: &[Self]) -> Option<&[f32]> {
        None
    }
    /// Eight consecutive weights widened (AVX2, F16C).
    /// # Safety
    /// `p..p + 8` must be readable; AVX2 and F16C must be present.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256;
}

/// A bfloat16 value's bits.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(transparent)]
pub struct Bf16(pub u16);

/// An IEEE half value's bits.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(transparent)]
pub struct F16(pub u16);

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

impl Weight for f32 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
    fn narrow(w: f32) -> Option<Self> {
        Some(w)
    }
    fn of(s: &Stored) -> Option<&[Self]> {
        if let Stored::F32(a) = s { Some(a.as_slice()) } else { None }
    }
    #[inline(always)]
    fn as_f32(w: &[Self]) -> Option<&[f32]> {
        Some(w)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> __m256 {
        // SAFETY: the caller guarantees 8 readable floats and AVX.
        unsafe { _mm256_loadu_ps(p) }
    }
}

/// The [`Weight`] methods the 16-bit formats share: rounding by `half`'s type `$h`, and the
/// [`Stored`] variant `$v` that holds them.
macro_rules! sixteen_bits {
    ($h:ty, $v:ident) => {
        fn narrow(w: f32) -> Option<Self> {
            let h = <$h>::from_f32(w);
            h.is_finite().then_some(Self(h.to_bits()))
        }
        fn of(s: &Stored) -> Option<&[Self]> {
            if let Stored::$v(a) = s { Some(a.as_slice()) } else { None }
        }
    };
}

impl Weight for Bf16 {
    /// The bits are the top half of the f32: exact.
    #[inline(always)]
    fn widen(self) -> f32 {
        f32::from_bits(u32::from(self.0) << 16)
    }
    sixteen_bits!(half::bf16, Bf16);
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> __m256 {
        // SAFETY: the caller guarantees 8 readable values (16 bytes) and AVX2.
        unsafe { _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(_mm_loadu_si128(p.cast())))) }
    }
}

impl Weight for F16 {
    /// Exact for every finite value (subnormals included), branch-free so loops vectorise: the
    /// exponent and significand bits, moved to f32's places, read as 2⁻¹¹² times the value, and
    /// a power-of-two product is exact. Stored weights are finite ([`round`]).
    #[inline(always)]
    fn widen(self) -> f32 {
        let h = u32::from(self.0);
        let magnitude = f32::from_bits((h & 0x7fff) << 13) * f32::from_bits(0x7780_0000);
        f32::from_bits(magnitude.to_bits() | (h & 0x8000) << 16)
    }
    sixteen_bits!(half::f16, F16);
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> __m256 {
        // SAFETY: the caller guarantees 8 readable values and F16C.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }
}

/// `w` rounded to `p` and widened back (what the kernels will compute with), or the first weight
/// that is not finite there. `tensor` names it in the error. `f32` returns `w` unchanged.
pub fn round(tensor: &str, w: &[f32], p: Precision) -> Result<Vec<f32>, PrecisionError> {
    match p {
        Precision::F32 => Ok(w.to_vec()),
        Precision::Bf16 => round_as::<Bf16>(tensor, w, p, f32::from(half::bf16::MAX)),
        Precision::F16 => round_as::<F16>(tensor, w, p, f32::from(half::f16::MAX)),
    }
}

fn round_as<W: Weight>(tensor: &str, w: &[f32], p: Precision, max: f32) -> Result<Vec<f32>, PrecisionError> {
    w.iter()
        .enumerate()
        .map(|(index, &value)| {
            let hint = if p == Precision::F16 && value.is_finite() { " or bf16" } else { "" };
            W::narrow(value).filter(|_| value.is_finite()).map(W::widen).ok_or(PrecisionError { tensor: tensor.into(), index, value, format: p.name(), max, hint })
        })
        .collect()
}

/// Weights stored in one precision, starting on a 64-byte boundary (so a 64-lane f32 weight row
/// is four whole cache lines, and a 16-bit one two).
pub enum Stored {
    F32(Aligned<f32>),
    Bf16(Aligned<Bf16>),
    F16(Aligned<F16>),
}

impl Stored {
    /// `w` in precision `p`; every value must already be representable there ([`round`]).
    pub fn new(w: &[f32], p: Precision) -> Self {
        fn narrow<W: Weight>(w: &[f32]) -> Aligned<W> {
            let mut a = Aligned::zeroed(w.len());
            a.as_mut_slice().iter_mut().zip(w).for_each(|(d, &v)| *d = W::narrow(v).expect("a weight rounded to this format"));
            a
        }
        match p {
            Precision::F32 => {
                let mut a = Aligned::zeroed(w.len());
                a.as_mut_slice().copy_from_slice(w);
                Self::F32(a)
            }
            Precision::Bf16 => Self::Bf16(narrow(w)),
            Precision::F16 => Self::F16(narrow(w)),
        }
    }

    /// [`Stored::new`] of weights already in an aligned buffer, which f32 keeps (no copy).
    pub fn from_aligned(w: Aligned<f32>, p: Precision) -> Self {
        match p {
            Precision::F32 => Self::F32(w),
            _ => Self::new(w.as_slice(), p),
        }
    }

    pub fn precision(&self) -> Precision {
        match self {
            Self::F32(_) => Precision::F32,
            Self::Bf16(_) => Precision::Bf16,
            Self::F16(_) => Precision::F16,
        }
    }

    /// The weights as `W`, which must be the stored type.
    #[inline]
    pub fn get<W: Weight>(&self) -> &[W] {
        W::of(self).expect("weights read in the precision they are stored in")
    }
}

/// Calls `$f::<W>($args)` with `W` the stored type of `$stored` (a [`Stored`]).
macro_rules! dispatch {
    ($stored:expr, $($f:ident)::+($($arg:expr),*)) => {
        match $stored.precision() {
            $crate::engine::cpu::precision::Precision::F32 => $($f)::+::<f32>($($arg),*),
            $crate::engine::cpu::precision::Precision::Bf16 => $($f)::+::<$crate::engine::cpu::precision::Bf16>($($arg),*),
            $crate::engine::cpu::precision::Precision::F16 => $($f)::+::<$crate::engine::cpu::precision::F16>($($arg),*),
        }
    };
}
pub(super) use dispatch;

/// `len` default (zero) values, on huge pages where the system allows and they span at least
/// 2 MB: Linux is asked (`madvise`, transparent huge pages) before the memory is first touched.
/// Large layers' weights are streamed from memory every step at batch 1, and with 4 KB pages
/// each 4 KB of them costs a TLB miss and a page walk that the prefetches wait on:
/// vgg11_48_legacy at batch 1, one thread, with every large allocation on huge pages (glibc's
/// `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, Zen 5, 2026-12-07 14:40 UTC, interleaved): the step
/// 6.04–6.30 → 5.27–5.51 ms, features.15 (16.8 MB of Winograd weights) 1.05–1.12 → 0.59–0.66
/// ms; batch 16 within noise. Where the system has no transparent huge pages (or they are
/// `never`), the advice is refused and nothing changes.
pub fn zeroed<T: Copy + Default>(len: usize) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(len);
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let at = v.as_mut_ptr() as usize;
        let (start, end) = (at.next_multiple_of(HUGE), (at + len * size_of::<T>()) / HUGE * HUGE);
        if end > start {
            // SAFETY: advice on whole pages inside this vector's own allocation, which changes
            // no contents (untouched pages are zero either way); an error (no THP) is ignored.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
    v.resize(len, T::default());
    v
}

/// Values starting on a 64-byte boundary.
pub struct Aligned<T> {
    buf: Vec<T>,
    at: usize,
    len: usize,
}

impl<T: Copy + Default> Aligned<T> {
    pub fn zeroed(len: usize) -> Self {
        let slack = 64 / size_of::<T>();
        let buf: Vec<T> = zeroed(len + slack);
        let at = buf.as_ptr().align_offset(64).min(slack);
        Self { buf, at, len }
    }
    pub fn as_slice(&self) -> &[T] {
        &self.buf[self.at..self.at + self.len]
    }
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.buf[self.at..self.at + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every finite f16 and every bf16 widens to the value `half` gives, bit for bit.
    #[test]
    fn widening_is_exact() {
        for bits in 0..=u16::MAX {
            let h = half::f16::from_bits(bits);
            if h.is_finite() {
                assert_eq!(F16(bits).widen().to_bits(), h.to_f32().to_bits(), "f16 {bits:#06x}");
            }
            let b = half::bf16::from_bits(bits);
            assert!(b.is_nan() || Bf16(bits).widen().to_bits() == b.to_f32().to_bits(), "bf16 {bits:#06x}");
        }
    }

    #[test]
    fn rounding_is_to_nearest_even_and_overflow_is_an_error() {
        // 1 + 2^-8 lies halfway between two bf16 values: to the even one, 1.
        assert_eq!(round("t", &[1.0 + 1.0 / 256.0, 1.0 + 3.0 / 256.0], Precision::Bf16).unwrap(), [1.0, 1.0 + 4.0 / 256.0]);
        assert_eq!(round("t", &[65504.0, -65519.0], Precision::F16).unwrap(), [65504.0, -65504.0]);
        let e = round("layer.weight", &[0.0, 65520.0], Precision::F16).unwrap_err();
        assert_eq!((e.tensor.as_str(), e.index, e.value), ("layer.weight", 1, 65520.0));
        assert!(round("t", &[f32::INFINITY], Precision::Bf16).is_err() && round("t", &[f32::MAX], Precision::Bf16).is_err());
        assert_eq!(round("t", &[f32::NAN, 1e30], Precision::F32).unwrap()[1], 1e30);
    }
}
