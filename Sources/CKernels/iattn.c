// Non-causal attention of an audio encoder (many queries, many keys, head size 64) in 16-bit integers on
// AVX-512 VNNI (vpdpwssd: pairs of int16 products summed into int32, twice the multiply rate of float32 FMAs),
// with the softmax fused between the two products so the scores never leave the L2 cache.
//
//   scores  q and k of a head quantized per row to ±4095 (64·4095² < 2³¹: the sums cannot overflow)
//   softmax in float32, probabilities as round(p·32767) (their sum stays ≤ 32767 + Tk/2)
//   values  quantized per dimension (over all keys) to ±32767: Σ p·v ≤ (32767 + Tk/2)·32767 < 2³¹ for Tk < 65000
// Relative error of the output is about 1e-4: far below the int8 products around it.
#include "CKernels.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define ATTR __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni")))
#define HD 64
#define QMAX 4095.f
#define PMAX 32767.f
#define VMAX 32767.f
#define MB 48            // query rows per block (8 tiles of 6)

static inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

// vpdpwssd as written: clang otherwise splits the intrinsic into vpmaddwd + vpaddd (two µops, half the rate here).
static ATTR inline __m512i dpwssd(__m512i acc, __m512i a, __m512i b) {
    __asm__("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

size_t confab_attn16_workspace_bytes(int Tk) {
    const size_t tp = (size_t)round_up(Tk, 16);
    return tp * HD * 2          // keys, packed
         + tp * 4               // key scales
         + tp * HD * 2          // values, packed
         + HD * 4               // value scales
         + MB * HD * 2 + MB * 4 // query block
         + MB * tp * 4          // scores
         + MB * tp * 2          // probabilities
         + 256;
}

int confab_attn16_available(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

static ATTR inline float hmax16(__m512 v) { return _mm512_reduce_max_ps(v); }

// e^x on 16 lanes: the same Cephes reduction and polynomial as the engine's exp8.
static ATTR inline __m512 exp16(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
    x = _mm512_min_ps(x, _mm512_set1_ps(88.3f));
    const __m512 magic = _mm512_set1_ps(12582912.f);
    const __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), magic);
    const __m512 n = _mm512_sub_ps(t, magic);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.f));
    const __m512i ni = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4B400000));
    return _mm512_mul_ps(y, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(ni, _mm512_set1_epi32(127)), 23)));
}

// Quantizes 64 floats to int16 at ±qmax with a max-abs scale; returns the scale.
static ATTR inline float quant64(const float *x, int16_t *q, float qmax) {
    __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16), v2 = _mm512_loadu_ps(x + 32), v3 = _mm512_loadu_ps(x + 48);
    __m512 m = _mm512_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)), _mm512_max_ps(_mm512_abs_ps(v2), _mm512_abs_ps(v3)));
    const float amax = hmax16(m);
    const __m512 id = _mm512_set1_ps(amax > 0 ? qmax / amax : 0.f);
    _mm256_storeu_si256((__m256i *)q, _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(v0, id))));
    _mm256_storeu_si256((__m256i *)(q + 16), _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(v1, id))));
    _mm256_storeu_si256((__m256i *)(q + 32), _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(v2, id))));
    _mm256_storeu_si256((__m256i *)(q + 48), _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(v3, id))));
    return amax / qmax;
}

// C[MR][NZ·16] = Σ_pairs a[i] (2 × int16, broadcast) · b (panels of 16 outputs × 2 int16; NZ panels `ps` apart).
#define TILE16(MR, NZ, A, LDA, PAIRS, B, PS, C) do { \
    for (int i_ = 0; i_ < MR; i_++) for (int j_ = 0; j_ < NZ; j_++) C[i_][j_] = _mm512_setzero_si512(); \
    for (int k_ = 0; k_ < (PAIRS); k_++) { \
        __m512i w_[4]; \
        for (int j_ = 0; j_ < NZ; j_++) w_[j_] = _mm512_loadu_si512((const void *)((B) + (size_t)j_ * (PS) + (size_t)k_ * 32)); \
        for (int i_ = 0; i_ < MR; i_++) { \
            int32_t v_; memcpy(&v_, (A) + (size_t)i_ * (LDA) + 2 * k_, 4); \
            const __m512i b_ = _mm512_set1_epi32(v_); \
            for (int j_ = 0; j_ < NZ; j_++) C[i_][j_] = dpwssd(C[i_][j_], b_, w_[j_]); \
        } \
    } } while (0)

// scores of rows i0..i0+MR (of the block) against 4 key panels starting at panel p (fewer at the end)
static ATTR inline __attribute__((always_inline)) void score_tile(const int MR, const int16_t *qb, const float *sq, int p, int np,
        const int16_t *kp, const float *sk, float scale, int Tk, float *scores, int ldS) {
    __m512i c[6][4];
    const size_t ps = 16 * HD;   // int16 per key panel
    switch (np) {
    case 4: TILE16(MR, 4, qb, HD, HD / 2, kp + (size_t)p * ps, ps, c); break;
    case 3: TILE16(MR, 3, qb, HD, HD / 2, kp + (size_t)p * ps, ps, c); break;
    case 2: TILE16(MR, 2, qb, HD, HD / 2, kp + (size_t)p * ps, ps, c); break;
    default: TILE16(MR, 1, qb, HD, HD / 2, kp + (size_t)p * ps, ps, c); break;
    }
    for (int i = 0; i < MR; i++) {
        const __m512 s = _mm512_set1_ps(sq[i] * scale);
        for (int j = 0; j < np; j++) {
            const int t = 16 * (p + j);
            __m512 v = _mm512_mul_ps(_mm512_mul_ps(s, _mm512_loadu_ps(sk + t)), _mm512_cvtepi32_ps(c[i][j]));
            // keys past Tk (panel padding) get −∞
            if (t + 16 > Tk) {
                const __mmask16 valid = Tk - t <= 0 ? 0 : (__mmask16)((1u << (Tk - t)) - 1);
                v = _mm512_mask_blend_ps(valid, _mm512_set1_ps(-INFINITY), v);
            }
            _mm512_storeu_ps(scores + (size_t)i * ldS + t, v);
        }
    }
}

static ATTR inline __attribute__((always_inline)) void value_tile(const int MR, const int16_t *pb, int ldP, int pairs, const int16_t *vp,
        const float *sv, float *out, size_t outStride) {
    __m512i c[6][4];
    // values packed per token pair: [pairs][64 dims][2] = 4 panels of 16 dims, 64 int16 apart... laid out as 4 × 32 int16
    // per pair: panel j of pair k at vp + k·128 + j·32 (so the panel stride is 32 and the pair stride 128)
    for (int i = 0; i < MR; i++) for (int j = 0; j < 4; j++) c[i][j] = _mm512_setzero_si512();
    for (int k = 0; k < pairs; k++) {
        const int16_t *b = vp + (size_t)k * 128;
        const __m512i w0 = _mm512_loadu_si512((const void *)b), w1 = _mm512_loadu_si512((const void *)(b + 32));
        const __m512i w2 = _mm512_loadu_si512((const void *)(b + 64)), w3 = _mm512_loadu_si512((const void *)(b + 96));
        for (int i = 0; i < MR; i++) {
            int32_t v; memcpy(&v, pb + (size_t)i * ldP + 2 * k, 4);
            const __m512i a = _mm512_set1_epi32(v);
            c[i][0] = dpwssd(c[i][0], a, w0);
            c[i][1] = dpwssd(c[i][1], a, w1);
            c[i][2] = dpwssd(c[i][2], a, w2);
            c[i][3] = dpwssd(c[i][3], a, w3);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < 4; j++)
            _mm512_storeu_ps(out + (size_t)i * outStride + 16 * j, _mm512_mul_ps(_mm512_loadu_ps(sv + 16 * j), _mm512_cvtepi32_ps(c[i][j])));
}

ATTR void confab_attn16_head(const float *q, size_t qStride, const float *k, size_t kStride, const float *v, size_t vStride,
                             float *out, size_t outStride, int Tq, int Tk, float scale, void *workspace) {
    const int tp = round_up(Tk, 16), pairs = tp / 2, panels = tp / 16;
    char *w = (char *)(((uintptr_t)workspace + 63) & ~(uintptr_t)63);
    int16_t *kp = (int16_t *)w;                 w += (size_t)tp * HD * 2;
    float *sk = (float *)w;                     w += (size_t)tp * 4;
    int16_t *vp = (int16_t *)w;                 w += (size_t)tp * HD * 2;
    float *sv = (float *)w;                     w += HD * 4;
    int16_t *qb = (int16_t *)w;                 w += MB * HD * 2;
    float *sq = (float *)w;                     w += MB * 4;
    float *scores = (float *)w;                 w += (size_t)MB * tp * 4;
    int16_t *pb = (int16_t *)w;

    // keys: per-row int16, panels of 16 keys × 32 pairs of dimensions × 2
    memset(kp, 0, (size_t)tp * HD * 2);
    for (int t = 0; t < tp; t++) {
        if (t >= Tk) { sk[t] = 0; continue; }
        int16_t row[HD];
        sk[t] = quant64(k + (size_t)t * kStride, row, QMAX);
        int16_t *panel = kp + (size_t)(t / 16) * 16 * HD;
        for (int d = 0; d < HD; d += 2) { panel[(d / 2) * 32 + (t % 16) * 2] = row[d]; panel[(d / 2) * 32 + (t % 16) * 2 + 1] = row[d + 1]; }
    }
    // values: per-dimension scales over all keys, packed per token pair
    {
        __m512 m0 = _mm512_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
        for (int t = 0; t < Tk; t++) {
            const float *r = v + (size_t)t * vStride;
            m0 = _mm512_max_ps(m0, _mm512_abs_ps(_mm512_loadu_ps(r))); m1 = _mm512_max_ps(m1, _mm512_abs_ps(_mm512_loadu_ps(r + 16)));
            m2 = _mm512_max_ps(m2, _mm512_abs_ps(_mm512_loadu_ps(r + 32))); m3 = _mm512_max_ps(m3, _mm512_abs_ps(_mm512_loadu_ps(r + 48)));
        }
        __m512 id[4];
        const __m512 mx[4] = {m0, m1, m2, m3};
        for (int j = 0; j < 4; j++) {
            const __m512 nz = _mm512_max_ps(mx[j], _mm512_set1_ps(1e-30f));
            id[j] = _mm512_div_ps(_mm512_set1_ps(VMAX), nz);
            // the output's factor folds in the probabilities' 1/32767
            _mm512_storeu_ps(sv + 16 * j, _mm512_div_ps(nz, _mm512_set1_ps(VMAX * PMAX)));
        }
        for (int pr = 0; pr < pairs; pr++) {
            int16_t *dst = vp + (size_t)pr * 128;
            for (int j = 0; j < 4; j++) {
                __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
                const int t0 = 2 * pr, t1 = 2 * pr + 1;
                if (t0 < Tk) a = _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(v + (size_t)t0 * vStride + 16 * j), id[j])));
                if (t1 < Tk) b = _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(v + (size_t)t1 * vStride + 16 * j), id[j])));
                // interleave: dim d of t0, dim d of t1
                const __m512i a32 = _mm512_cvtepu16_epi32(a), b32 = _mm512_cvtepu16_epi32(b);
                _mm512_storeu_si512((void *)(dst + 32 * j), _mm512_or_si512(a32, _mm512_slli_epi32(b32, 16)));
            }
        }
    }
    for (int i0 = 0; i0 < Tq; i0 += MB) {
        const int n = Tq - i0 < MB ? Tq - i0 : MB;
        for (int i = 0; i < n; i++) sq[i] = quant64(q + (size_t)(i0 + i) * qStride, qb + (size_t)i * HD, QMAX);
        // scores [n, tp]
        for (int p = 0; p < panels; p += 4) {
            const int np = panels - p >= 4 ? 4 : panels - p;
            int i = 0;
            for (; i + 6 <= n; i += 6) score_tile(6, qb + (size_t)i * HD, sq + i, p, np, kp, sk, scale, Tk, scores + (size_t)i * tp, tp);
            for (; i < n; i++) score_tile(1, qb + (size_t)i * HD, sq + i, p, np, kp, sk, scale, Tk, scores + (size_t)i * tp, tp);
        }
        // softmax → int16 probabilities (padding keys: −∞ → 0)
        for (int i = 0; i < n; i++) {
            float *s = scores + (size_t)i * tp;
            __m512 m = _mm512_set1_ps(-INFINITY);
            for (int t = 0; t < tp; t += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(s + t));
            const __m512 mv = _mm512_set1_ps(hmax16(m));
            __m512 acc = _mm512_setzero_ps();
            for (int t = 0; t < tp; t += 16) {
                const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(s + t), mv));
                _mm512_storeu_ps(s + t, e);
                acc = _mm512_add_ps(acc, e);
            }
            // exp16 of −∞ (clamped) is ~1e-38, not 0: padding keys are zeroed below
            const __m512 f = _mm512_set1_ps(PMAX / _mm512_reduce_add_ps(acc));
            int16_t *pr = pb + (size_t)i * tp;
            for (int t = 0; t < tp; t += 16)
                _mm256_storeu_si256((__m256i *)(pr + t), _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(s + t), f))));
            for (int t = Tk; t < tp; t++) pr[t] = 0;
        }
        // out [n, 64] = P · V
        int i = 0;
        for (; i + 6 <= n; i += 6) value_tile(6, pb + (size_t)i * tp, tp, pairs, vp, sv, out + (size_t)(i0 + i) * outStride, outStride);
        for (; i < n; i++) value_tile(1, pb + (size_t)i * tp, tp, pairs, vp, sv, out + (size_t)(i0 + i) * outStride, outStride);
    }
}
