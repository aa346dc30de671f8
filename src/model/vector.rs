//! The vectors a model gives: unit length, compared by dot product (cosine).
//! Every layer above compares vectors through [`dot`], so a score is the same
//! number wherever it is computed.

/// Dot product of two equal-length slices: with AVX2 and FMA where the
/// processor has them (checked once), otherwise portable code.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_fma() {
        // SAFETY: the processor has AVX2 and FMA (checked).
        return unsafe { dot_fma(a, b) };
    }
    dot_portable(a, b)
}

/// Whether the processor has AVX2 and FMA (checked once).
#[cfg(target_arch = "x86_64")]
#[inline]
fn has_fma() -> bool {
    use std::sync::OnceLock;
    static FMA: OnceLock<bool> = OnceLock::new();
    *FMA.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    })
}

/// [`dot`] of `a` with each of `bs`, **bit for bit** what `dot(a, b)` (and
/// `dot(b, a)`) gives, reading `a` once: each product is summed in the same
/// order as [`dot`] sums it, only the sums of several `bs` are interleaved,
/// so the processor works on them side by side instead of waiting on one.
/// Slices of unequal length are compared one by one.
#[inline]
pub fn dot_many<const N: usize>(a: &[f32], bs: [&[f32]; N]) -> [f32; N] {
    if bs.iter().any(|b| b.len() != a.len()) {
        return bs.map(|b| dot(a, b));
    }
    #[cfg(target_arch = "x86_64")]
    if has_fma() {
        // SAFETY: the processor has AVX2 and FMA (checked); lengths are equal.
        return unsafe { dot_many_fma(a, bs) };
    }
    bs.map(|b| dot_portable(a, b))
}

/// [`dot`] of `query` with rows `row(0)..row(count)`, into `out`, four rows
/// at a time through [`dot_many`] (the same numbers as one by one).
#[inline]
pub fn dot_each<'a>(
    query: &[f32],
    count: usize,
    row: impl Fn(usize) -> &'a [f32],
    out: &mut Vec<f32>,
) {
    out.clear();
    let mut i = 0;
    while i + 4 <= count {
        out.extend(dot_many(
            query,
            [row(i), row(i + 1), row(i + 2), row(i + 3)],
        ));
        i += 4;
    }
    out.extend((i..count).map(|j| dot(query, row(j))));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_fma(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let chunks = n / 16 * 16;
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut s0 = _mm256_setzero_ps();
    let mut s1 = _mm256_setzero_ps();
    let mut i = 0;
    while i < chunks {
        // SAFETY: i + 16 <= n, within both slices.
        unsafe {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), s0);
            s1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
                s1,
            );
        }
        i += 16;
    }
    let mut lanes = [0f32; 8];
    // SAFETY: lanes holds 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(s0, s1)) };
    let mut s: f32 = lanes.iter().sum();
    for j in chunks..n {
        s += a[j] * b[j];
    }
    s
}

/// [`dot_fma`] of `a` with each of `bs` (all of `a`'s length), the sums
/// of each made exactly as there.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_many_fma<const N: usize>(a: &[f32], bs: [&[f32]; N]) -> [f32; N] {
    use std::arch::x86_64::*;
    let n = a.len();
    let chunks = n / 16 * 16;
    let pa = a.as_ptr();
    let mut s0 = [_mm256_setzero_ps(); N];
    let mut s1 = [_mm256_setzero_ps(); N];
    let mut i = 0;
    while i < chunks {
        // SAFETY: i + 16 <= n, within `a` and every `b` (all of length n).
        unsafe {
            let (x0, x1) = (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pa.add(i + 8)));
            for j in 0..N {
                let pb = bs[j].as_ptr();
                s0[j] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(pb.add(i)), s0[j]);
                s1[j] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(pb.add(i + 8)), s1[j]);
            }
        }
        i += 16;
    }
    let mut out = [0f32; N];
    for j in 0..N {
        let mut lanes = [0f32; 8];
        // SAFETY: lanes holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(s0[j], s1[j])) };
        let mut s: f32 = lanes.iter().sum();
        for t in chunks..n {
            s += a[t] * bs[j][t];
        }
        out[j] = s;
    }
    out
}

fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent sums let the compiler vectorise.
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8 * 8;
    for (x, y) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks..a.len() {
        s += a[i] * b[i];
    }
    s
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_agrees_with_the_portable_sum() {
        let v = crate::index::ann::tests::random_unit(2, 389, 9);
        let (a, b) = v.split_at(389);
        let plain: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        assert!((dot(a, b) - plain).abs() < 1e-5);
        assert!((dot_portable(a, b) - plain).abs() < 1e-5);
        assert!((dot(a, a) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn dot_many_is_dot_bit_for_bit_either_way_round() {
        // Lengths with and without a tail past the 16-float chunks, and
        // unequal ones (compared one by one).
        for (dim, seed) in [(384, 1), (389, 2), (16, 3), (7, 4), (1, 5)] {
            let v = crate::index::ann::tests::random_unit(6, dim, seed);
            let r: Vec<&[f32]> = v.chunks(dim).collect();
            let r = |i: usize| r.get(i).copied().unwrap_or(&[]);
            let many = dot_many(r(0), [r(1), r(2), r(3), r(4)]);
            for (j, got) in many.iter().enumerate() {
                assert_eq!(got.to_bits(), dot(r(0), r(j + 1)).to_bits(), "{dim} {j}");
                assert_eq!(got.to_bits(), dot(r(j + 1), r(0)).to_bits(), "{dim} {j}");
            }
            let portable = [r(1), r(2)].map(|b| dot_portable(r(0), b));
            let swapped = [r(1), r(2)].map(|b| dot_portable(b, r(0)));
            assert_eq!(portable.map(f32::to_bits), swapped.map(f32::to_bits));
            let mut each = Vec::new();
            dot_each(r(5), 5, r, &mut each);
            let one: Vec<u32> = (0..5).map(|i| dot(r(5), r(i)).to_bits()).collect();
            assert_eq!(each.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), one);
        }
        let v = crate::index::ann::tests::random_unit(2, 33, 6);
        let (a, b) = v.split_at(33);
        let short = &b[..20];
        assert_eq!(dot_many(a, [b, short]), [dot(a, b), dot(a, short)]);
    }
}
