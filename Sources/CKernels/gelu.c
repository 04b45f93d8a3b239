// Exact-form GELU x·Φ(x) = ½x(1 + erf(x/√2)) in place, erf from Abramowitz–Stegun 7.1.26 (|error| ≤ 1.5e-7):
//   erf(|z|) = 1 − (a1·t + a2·t² + … + a5·t⁵)·e^(−z²),  t = 1 / (1 + p·|z|)
// written as gelu = x − q for x ≥ 0 and q for x < 0, with q = ½x·poly(t)·t·e^(−z²) (one blend, no sign flips).
// 16 lanes on AVX-512 (the reciprocal from vrcp14ps and one Newton step, e^x by vscalefps); 8 lanes on AVX2 (a
// division), picked at run time. Whisper's encoder runs it on ~11 million values per 30-second window.
#include "CKernels.h"
#include <immintrin.h>
#include <math.h>

#define A1 0.254829592f
#define A2 -0.284496736f
#define A3 1.421413741f
#define A4 -1.453152027f
#define A5 1.061405429f
#define P 0.3275911f
#define RSQRT2 0.70710678118654752f

#define Z_ATTR __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq")))
#define Y_ATTR __attribute__((target("avx2,fma")))

// e^x for x ≤ 0 on 16 lanes: Cephes's reduction x = n·ln2 + r and degree-6 polynomial (as exp8), 2ⁿ by vscalefps.
static Z_ATTR inline __m512 exp_neg16(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.f));
    return _mm512_scalef_ps(y, n);
}

static Z_ATTR inline __m512 gelu16(__m512 v) {
    const __m512 az = _mm512_abs_ps(_mm512_mul_ps(v, _mm512_set1_ps(RSQRT2)));
    const __m512 d = _mm512_fmadd_ps(az, _mm512_set1_ps(P), _mm512_set1_ps(1.f));
    __m512 t = _mm512_rcp14_ps(d);
    t = _mm512_mul_ps(t, _mm512_fnmadd_ps(d, t, _mm512_set1_ps(2.f)));     // one Newton step: relative error ~1e-8
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(A5), t, _mm512_set1_ps(A4));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(A3));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(A2));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(A1));
    // e^(−z²) is zero past z² = 80 (GELU there is below 1e-35): q would otherwise come out denormal, and denormal
    // activations made the float32 products after (OpenBLAS sgemm on conv1's output) 4× slower.
    const __m512 z2 = _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), az), az);
    const __m512 e = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(z2, _mm512_set1_ps(-80.f), _CMP_GE_OQ), exp_neg16(z2));
    const __m512 q = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(v, _mm512_set1_ps(0.5f)), _mm512_mul_ps(p, t)), e);
    const __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_blend_ps(neg, _mm512_sub_ps(v, q), q);
}

static Z_ATTR void gelu_avx512(float *x, size_t n) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 a = gelu16(_mm512_loadu_ps(x + i)), b = gelu16(_mm512_loadu_ps(x + i + 16));
        _mm512_storeu_ps(x + i, a);
        _mm512_storeu_ps(x + i + 16, b);
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, m, gelu16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

// The same on 8 lanes (AVX2 has no vscalefps: 2ⁿ from the exponent bits; a true division).
static Y_ATTR inline __m256 exp_neg8(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

static Y_ATTR inline __m256 gelu8(__m256 v) {
    const __m256 az = _mm256_andnot_ps(_mm256_set1_ps(-0.f), _mm256_mul_ps(v, _mm256_set1_ps(RSQRT2)));
    const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.f), _mm256_fmadd_ps(az, _mm256_set1_ps(P), _mm256_set1_ps(1.f)));
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(A5), t, _mm256_set1_ps(A4));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(A3));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(A2));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(A1));
    const __m256 z2 = _mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), az), az);
    const __m256 e = _mm256_and_ps(_mm256_cmp_ps(z2, _mm256_set1_ps(-80.f), _CMP_GE_OQ), exp_neg8(z2));
    const __m256 q = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(v, _mm256_set1_ps(0.5f)), _mm256_mul_ps(p, t)), e);
    return _mm256_blendv_ps(_mm256_sub_ps(v, q), q, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
}

static Y_ATTR void gelu_avx2(float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, gelu8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float tail[8] = {0};
        for (size_t j = i; j < n; j++) tail[j - i] = x[j];
        _mm256_storeu_ps(tail, gelu8(_mm256_loadu_ps(tail)));
        for (size_t j = i; j < n; j++) x[j] = tail[j - i];
    }
}

// The formula in scalar C (non-x86 builds).
static void gelu_plain(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float v = x[i], az = fabsf(v * RSQRT2), t = 1.f / (1.f + P * az);
        const float p = (((A5 * t + A4) * t + A3) * t + A2) * t + A1;
        const float q = az * az > 80.f ? 0.f : 0.5f * v * p * t * expf(-az * az);
        x[i] = v < 0 ? q : v - q;
    }
}

int confab_gelu_best_variant(void) { return confab_cpu_vector_level(); }

void confab_gelu(int variant, float *x, size_t n) {
    const int best = confab_cpu_vector_level();
    if (variant < 0 || variant > best) variant = best;
    if (variant == 2) gelu_avx512(x, n);
    else if (variant == 1) gelu_avx2(x, n);
    else gelu_plain(x, n);
}
