//! Palette-index frames as YUV planes (BT.601 full range), for Y4M and for the frames piped to
//! ffmpeg: a plane is a 256-entry table looked up a pixel at a time, and 4:2:0 chroma the
//! rounded mean of each 2×2 block. Where the CPU has AVX-512 VBMI (Zen 4, Ice Lake and later)
//! 64 pixels are looked up at once (`vpermi2b`); the values are the same.

/// BT.601 full-range Y, Cb, Cr of an RGB colour.
pub fn yuv([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
    let clamp = |v: f64| v.round().clamp(0.0, 255.0) as u8;
    [clamp(0.299 * r + 0.587 * g + 0.114 * b), clamp(128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b), clamp(128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b)]
}

/// `dst[i] = lut[src[i]]` (the same lengths).
pub fn lookup(lut: &[u8; 256], src: &[u8], dst: &mut [u8]) {
    assert_eq!(src.len(), dst.len(), "one output a pixel");
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if vbmi() {
        // SAFETY: the features were detected.
        done = unsafe { simd::lookup(lut, src, dst) };
    }
    for (d, &i) in dst[done..].iter_mut().zip(&src[done..]) {
        *d = lut[usize::from(i)];
    }
}

/// One Y4M 4:2:0 frame (`FRAME`, Y, Cb, Cr) of palette indices `pixels` into `out`; odd sides
/// repeat their last row or column, chroma is the rounded mean of each 2×2 block.
pub fn yuv420(pixels: &[u8], width: usize, height: usize, lut: &[[u8; 256]; 3], out: &mut Vec<u8>) {
    let (w2, h2) = (width.div_ceil(2), height.div_ceil(2));
    let (luma, chroma) = (4 * w2 * h2, w2 * h2);
    out.resize(6 + luma + 2 * chroma, 0);
    let (head, planes) = out.split_at_mut(6);
    head.copy_from_slice(b"FRAME\n");
    let (y_plane, uv) = planes.split_at_mut(luma);
    let (u_plane, v_plane) = uv.split_at_mut(chroma);
    let row = |y: usize| &pixels[y.min(height - 1) * width..][..width];
    for (y, dst) in y_plane.chunks_exact_mut(2 * w2).enumerate() {
        let r = row(y);
        lookup(&lut[0], r, &mut dst[..width]);
        if width % 2 == 1 {
            dst[width] = lut[0][usize::from(r[width - 1])];
        }
    }
    // Cb and Cr of an index in one word (Cb + Cr·2^16), so a 2×2 block is four lookups and
    // three additions for both planes (each sum is at most 4·255).
    let both: [u32; 256] = std::array::from_fn(|i| u32::from(lut[1][i]) | u32::from(lut[2][i]) << 16);
    let mean = |sum: u32| ((((sum & 0xffff) + 2) / 4) as u8, (((sum >> 16) + 2) / 4) as u8);
    for (y, (u_row, v_row)) in u_plane.chunks_exact_mut(w2).zip(v_plane.chunks_exact_mut(w2)).enumerate() {
        let (a, b) = (row(2 * y), row(2 * y + 1));
        let block = |x0: usize, x1: usize| both[usize::from(a[x0])] + both[usize::from(a[x1])] + both[usize::from(b[x0])] + both[usize::from(b[x1])];
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if vbmi() {
            // SAFETY: the features were detected.
            done = unsafe { simd::chroma(&lut[1], &lut[2], a, b, u_row, v_row) };
        }
        let even = width / 2;
        for (x, (u, v)) in u_row[..even].iter_mut().zip(&mut v_row[..even]).enumerate().skip(done) {
            (*u, *v) = mean(block(2 * x, 2 * x + 1));
        }
        if width % 2 == 1 {
            (u_row[even], v_row[even]) = mean(block(width - 1, width - 1));
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn vbmi() -> bool {
    std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512vbmi")
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// A 256-byte table as four vectors.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    unsafe fn table(lut: &[u8; 256]) -> [__m512i; 4] {
        // SAFETY: each load reads 64 of the 256 bytes.
        std::array::from_fn(|k| unsafe { _mm512_loadu_si512(lut.as_ptr().add(64 * k).cast()) })
    }

    /// 64 lookups: `vpermi2b` picks among 128 entries by bits 0–6, bit 7 picks the half.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn look(t: &[__m512i; 4], idx: __m512i) -> __m512i {
        let low = _mm512_permutex2var_epi8(t[0], idx, t[1]);
        let high = _mm512_permutex2var_epi8(t[2], idx, t[3]);
        _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), low, high)
    }

    /// [`super::lookup`] of the pixels up to a multiple of 64 (returned).
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub unsafe fn lookup(lut: &[u8; 256], src: &[u8], dst: &mut [u8]) -> usize {
        // SAFETY: the caller checked the features.
        let t = unsafe { table(lut) };
        let n = src.len().min(dst.len()) / 64 * 64;
        for i in (0..n).step_by(64) {
            // SAFETY: i + 64 <= n, within both slices.
            unsafe { _mm512_storeu_si512(dst.as_mut_ptr().add(i).cast(), look(&t, _mm512_loadu_si512(src.as_ptr().add(i).cast()))) };
        }
        n
    }

    /// The 4:2:0 chroma of rows `a` and `b` for the 2×2 blocks of whole 64-pixel runs (the
    /// blocks done are returned): each plane looked up, pairs summed by `vpmaddubsw`, the rows
    /// added, rounded and halved twice, as the scalar `(sum + 2) / 4`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub unsafe fn chroma(lut_u: &[u8; 256], lut_v: &[u8; 256], a: &[u8], b: &[u8], u: &mut [u8], v: &mut [u8]) -> usize {
        // SAFETY: the caller checked the features.
        let (tu, tv) = unsafe { (table(lut_u), table(lut_v)) };
        let (ones, two) = (_mm512_set1_epi8(1), _mm512_set1_epi16(2));
        let n = (a.len().min(b.len()) / 2 * 2) / 64 * 64;
        let n = n.min(u.len().min(v.len()) * 2 / 64 * 64);
        for x in (0..n).step_by(64) {
            // SAFETY: x + 64 <= n, within both rows.
            let (ra, rb) = unsafe { (_mm512_loadu_si512(a.as_ptr().add(x).cast()), _mm512_loadu_si512(b.as_ptr().add(x).cast())) };
            for (t, out) in [(&tu, &mut *u), (&tv, &mut *v)] {
                let sum = _mm512_add_epi16(_mm512_maddubs_epi16(look(t, ra), ones), _mm512_maddubs_epi16(look(t, rb), ones));
                let mean = _mm512_cvtepi16_epi8(_mm512_srli_epi16::<2>(_mm512_add_epi16(sum, two)));
                // SAFETY: x / 2 + 32 <= n / 2 <= the row's length.
                unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(x / 2).cast(), mean) };
            }
        }
        n / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_range_bt601() {
        assert_eq!(yuv([255, 255, 255]), [255, 128, 128]);
        assert_eq!(yuv([0, 0, 0]), [0, 128, 128]);
    }

    #[test]
    fn yuv420_repeats_odd_edges_and_averages_chroma() {
        // Index i has Y = i, Cb = 10·i, Cr = 200 − i.
        let lut: [[u8; 256]; 3] = [std::array::from_fn(|i| i as u8), std::array::from_fn(|i| (10 * i).min(255) as u8), std::array::from_fn(|i| 200u8.saturating_sub(i as u8))];
        let pixels = [1, 2, 3, 4, 5, 6, 7, 8, 9]; // 3×3
        let mut out = Vec::new();
        yuv420(&pixels, 3, 3, &lut, &mut out);
        let y = [1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9, 7, 8, 9, 9];
        // Cb blocks: (1,2,4,5), (3,3,6,6), (7,8,7,8), (9,9,9,9) → means of 10× those.
        let cb = [30, 45, 75, 90];
        let cr = [197, 196, 193, 191];
        assert_eq!(&out[..6], b"FRAME\n");
        assert_eq!(&out[6..22], &y);
        assert_eq!(&out[22..26], &cb);
        assert_eq!(&out[26..30], &cr);
        assert_eq!(out.len(), 30);
    }

    #[test]
    fn wide_frames_equal_the_pixel_by_pixel_definition() {
        // Widths around the 64-pixel runs (odd, even, exact multiples, with tails), every
        // index, tables with high bytes: the vector path (where the CPU has it) and the tails
        // must give the definition's values.
        let lut: [[u8; 256]; 3] = [std::array::from_fn(|i| (i * 7 + 3) as u8), std::array::from_fn(|i| (255 - i) as u8), std::array::from_fn(|i| (i * 131 % 256) as u8)];
        for (width, height) in [(640, 4), (129, 3), (128, 2), (191, 5), (64, 1), (65, 2), (1, 1)] {
            let pixels: Vec<u8> = (0..width * height).map(|k| (k * 97 + k / width * 31) as u8).collect();
            let mut out = Vec::new();
            yuv420(&pixels, width, height, &lut, &mut out);
            let (w2, h2) = (width.div_ceil(2), height.div_ceil(2));
            let at = |x: usize, y: usize| usize::from(pixels[y.min(height - 1) * width + x.min(width - 1)]);
            let mut want = b"FRAME\n".to_vec();
            want.extend((0..2 * h2).flat_map(|y| (0..2 * w2).map(move |x| (y, x))).map(|(y, x)| lut[0][at(x, y)]));
            for plane in &lut[1..] {
                let block = |x: usize, y: usize| [(0, 0), (1, 0), (0, 1), (1, 1)].iter().map(|&(dx, dy)| u32::from(plane[at(2 * x + dx, 2 * y + dy)])).sum::<u32>();
                want.extend((0..h2).flat_map(|y| (0..w2).map(move |x| (x, y))).map(|(x, y)| ((block(x, y) + 2) / 4) as u8));
            }
            assert_eq!(out, want, "{width}x{height}");
            let mut looked = vec![0; pixels.len()];
            lookup(&lut[2], &pixels, &mut looked);
            assert!(looked.iter().zip(&pixels).all(|(&l, &p)| l == lut[2][usize::from(p)]), "{width}x{height}");
        }
    }
}
