// Int8 matrix products for float layers (Whisper's linear layers): weights quantized once at load, symmetric per
// output row; activations quantized per row as they come. All variants compute the same integer sums exactly and
// the same float epilogue, so their outputs are bit-identical; only the speed differs.
//
//   activations  qa [M, Kp] uint8 = q + 128, q = round(x / sa) in [-127, 127] (zero padding past K is q = 0)
//   weights      panels of 16 output rows: [Kp/4][16][4] int8 (4 consecutive k per output, the VNNI order)
//   y[m, n] (+)= sa[m] · sw[n] · (Σ_k (qa[m,k]) · qw[n,k] − 128 · colsum[n]) + bias[n]
#include "CKernels.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

static inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

int confab_i8_padded_k(int K) { return round_up(K, 4); }
int confab_i8_padded_n(int N) { return round_up(N, 16); }

void confab_i8_pack(const float *W, int N, int K, size_t ldw, int8_t *packed, float *scales, int32_t *colsums) {
    const int Kp = round_up(K, 4), Np = round_up(N, 16);
    memset(packed, 0, (size_t)Np * Kp);
    for (int n = 0; n < Np; n++) {
        if (n >= N) { scales[n] = 0; colsums[n] = 0; continue; }
        const float *w = W + (size_t)n * ldw;
        float amax = 0;
        for (int k = 0; k < K; k++) amax = fmaxf(amax, fabsf(w[k]));
        const float d = amax / 127.f, id = amax > 0 ? 127.f / amax : 0.f;
        int8_t *panel = packed + (size_t)(n / 16) * Kp * 16;
        int32_t sum = 0;
        for (int k = 0; k < K; k++) {
            int q = (int)nearbyintf(w[k] * id);
            q = q > 127 ? 127 : (q < -127 ? -127 : q);
            panel[(k / 4) * 64 + (n % 16) * 4 + (k % 4)] = (int8_t)q;
            sum += q;
        }
        scales[n] = d;
        colsums[n] = sum;
    }
}

void confab_i8_quantize_rows(const float *x, int M, int K, size_t ldx, uint8_t *qa, float *scales) {
    const int Kp = round_up(K, 4);
    for (int m = 0; m < M; m++) {
        const float *r = x + (size_t)m * ldx;
        uint8_t *q = qa + (size_t)m * Kp;
        __m256 mx = _mm256_setzero_ps();
        const __m256 sign = _mm256_set1_ps(-0.0f);
        int k = 0;
        for (; k + 8 <= K; k += 8) mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(r + k)));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(mx, 1), _mm256_castps256_ps128(mx));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        for (; k < K; k++) amax = fmaxf(amax, fabsf(r[k]));
        const float id = amax > 0 ? 127.f / amax : 0.f;
        scales[m] = amax / 127.f;
        const __m256 mul = _mm256_set1_ps(id);
        const __m256i off = _mm256_set1_epi32(128);
        k = 0;
        for (; k + 32 <= K; k += 32) {
            // round to nearest even (the default MXCSR), as nearbyintf in the tail and the reference
            __m256i i0 = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(r + k), mul)), off);
            __m256i i1 = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(r + k + 8), mul)), off);
            __m256i i2 = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(r + k + 16), mul)), off);
            __m256i i3 = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(r + k + 24), mul)), off);
            // values are in 1...255: the signed 32→16 pack keeps them, the unsigned 16→8 pack keeps them
            i0 = _mm256_packs_epi32(i0, i1);
            i2 = _mm256_packs_epi32(i2, i3);
            i0 = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(i0, i2), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(q + k), i0);
        }
        for (; k < K; k++) q[k] = (uint8_t)((int)nearbyintf(r[k] * id) + 128);
        for (; k < Kp; k++) q[k] = 128;
    }
}

// MARK: the epilogue, shared by the vector kernels through 16-float rows

static inline void finish16(const int32_t *acc, int m, int n, int N, const float *sa, const float *sw, const int32_t *colsum,
                            const float *bias, float *y, size_t ldy, int accumulate) {
    for (int j = 0; j < 16 && n + j < N; j++) {
        // one fused multiply-add, as the vector kernels do it (no contraction left to the compiler)
        const float v = fmaf(sa[m] * sw[n + j], (float)(acc[j] - 128 * colsum[n + j]), bias ? bias[n + j] : 0.f);
        float *out = y + (size_t)m * ldy + n + j;
        *out = accumulate ? *out + v : v;
    }
}

// MARK: plain C (the reference every variant must match)

static void gemm_plain(const uint8_t *qa, const float *sa, int M, int Kp, const int8_t *packed, const float *sw, const int32_t *colsum,
                       const float *bias, int N, int p0, int p1, float *y, size_t ldy, int accumulate) {
    for (int p = p0; p < p1; p++) {
        const int8_t *panel = packed + (size_t)p * Kp * 16;
        for (int m = 0; m < M; m++) {
            int32_t acc[16] = {0};
            const uint8_t *a = qa + (size_t)m * Kp;
            for (int k = 0; k < Kp; k++)
                for (int j = 0; j < 16; j++) acc[j] += (int32_t)a[k] * panel[(k / 4) * 64 + j * 4 + (k % 4)];
            finish16(acc, m, 16 * p, N, sa, sw, colsum, bias, y, ldy, accumulate);
        }
    }
}

// MARK: AVX2 (the floor): u8·s8 products widened to 16 bits exactly (vpmaddubsw could saturate)

static inline __m256i dp_avx2(__m256i acc, __m256i a_lo, __m256i a_hi, __m256i w) {
    const __m256i w_lo = _mm256_srai_epi16(_mm256_slli_epi16(w, 8), 8);   // bytes 0, 2 of each lane, sign-extended
    const __m256i w_hi = _mm256_srai_epi16(w, 8);                          // bytes 1, 3
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a_lo, w_lo));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a_hi, w_hi));
}

static void gemm_avx2(const uint8_t *qa, const float *sa, int M, int Kp, const int8_t *packed, const float *sw, const int32_t *colsum,
                      const float *bias, int N, int p0, int p1, float *y, size_t ldy, int accumulate) {
    const __m256i lo_mask = _mm256_set1_epi16(0x00FF);
    for (int p = p0; p < p1; p++) {
        const int8_t *panel = packed + (size_t)p * Kp * 16;
        int m = 0;
        for (; m < M; m += 2) {
            const int rows = M - m >= 2 ? 2 : 1;
            const uint8_t *a0 = qa + (size_t)m * Kp, *a1 = qa + (size_t)(m + rows - 1) * Kp;
            __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00;
            for (int k = 0; k < Kp; k += 4) {
                const __m256i w0 = _mm256_loadu_si256((const __m256i *)(panel + k * 16));
                const __m256i w1 = _mm256_loadu_si256((const __m256i *)(panel + k * 16 + 32));
                int32_t v0, v1;
                memcpy(&v0, a0 + k, 4); memcpy(&v1, a1 + k, 4);
                const __m256i b0 = _mm256_set1_epi32(v0), b1 = _mm256_set1_epi32(v1);
                const __m256i l0 = _mm256_and_si256(b0, lo_mask), h0 = _mm256_srli_epi16(b0, 8);
                const __m256i l1 = _mm256_and_si256(b1, lo_mask), h1 = _mm256_srli_epi16(b1, 8);
                c00 = dp_avx2(c00, l0, h0, w0); c01 = dp_avx2(c01, l0, h0, w1);
                c10 = dp_avx2(c10, l1, h1, w0); c11 = dp_avx2(c11, l1, h1, w1);
            }
            int32_t acc[16];
            _mm256_storeu_si256((__m256i *)acc, c00); _mm256_storeu_si256((__m256i *)(acc + 8), c01);
            finish16(acc, m, 16 * p, N, sa, sw, colsum, bias, y, ldy, accumulate);
            if (rows == 2) {
                _mm256_storeu_si256((__m256i *)acc, c10); _mm256_storeu_si256((__m256i *)(acc + 8), c11);
                finish16(acc, m + 1, 16 * p, N, sa, sw, colsum, bias, y, ldy, accumulate);
            }
        }
    }
}

// MARK: AVX-512 VNNI: vpdpbusd, MR rows × NZ panels of 16 outputs in zmm accumulators

#define VNNI_ATTR __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni")))

static VNNI_ATTR inline __attribute__((always_inline)) void finish_zmm(__m512i acc, int m, int n, int N, const float *sa,
        const float *sw, const int32_t *colsum, const float *bias, float *y, size_t ldy, int accumulate) {
    const __mmask16 mask = N - n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (N - n)) - 1);
    const __m512i cs = _mm512_maskz_loadu_epi32(mask, colsum + n);
    const __m512i d = _mm512_sub_epi32(acc, _mm512_slli_epi32(cs, 7));
    // the same operations as finish16: fma(sa·sw, dot, bias), then + y
    const __m512 s = _mm512_mul_ps(_mm512_set1_ps(sa[m]), _mm512_maskz_loadu_ps(mask, sw + n));
    const __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + n) : _mm512_setzero_ps();
    __m512 v = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(d), b);
    float *out = y + (size_t)m * ldy + n;
    if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, out), v);
    _mm512_mask_storeu_ps(out, mask, v);
}

static VNNI_ATTR inline __attribute__((always_inline)) void tile_vnni(const int MR, const int NZ, const uint8_t *qa, int m, int Kp,
        const int8_t *packed, int p, const float *sa, const float *sw, const int32_t *colsum, const float *bias, int N,
        float *y, size_t ldy, int accumulate) {
    __m512i c[6][4];
    for (int i = 0; i < MR; i++) for (int j = 0; j < NZ; j++) c[i][j] = _mm512_setzero_si512();
    const int8_t *w = packed + (size_t)p * Kp * 16;
    const size_t ps = (size_t)Kp * 16;
    const uint8_t *a = qa + (size_t)m * Kp;
    for (int k = 0; k < Kp; k += 4) {
        __m512i wv[4];
        for (int j = 0; j < NZ; j++) wv[j] = _mm512_loadu_si512((const void *)(w + j * ps + k * 16));
        for (int i = 0; i < MR; i++) {
            int32_t v; memcpy(&v, a + (size_t)i * Kp + k, 4);
            const __m512i b = _mm512_set1_epi32(v);
            for (int j = 0; j < NZ; j++) c[i][j] = _mm512_dpbusd_epi32(c[i][j], b, wv[j]);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NZ; j++) finish_zmm(c[i][j], m + i, 16 * (p + j), N, sa, sw, colsum, bias, y, ldy, accumulate);
}

#define TILE_CASE(MR) \
    switch (nz) { \
    case 4: tile_vnni(MR, 4, qa, m, Kp, packed, p, sa, sw, colsum, bias, N, y, ldy, accumulate); break; \
    case 3: tile_vnni(MR, 3, qa, m, Kp, packed, p, sa, sw, colsum, bias, N, y, ldy, accumulate); break; \
    case 2: tile_vnni(MR, 2, qa, m, Kp, packed, p, sa, sw, colsum, bias, N, y, ldy, accumulate); break; \
    default: tile_vnni(MR, 1, qa, m, Kp, packed, p, sa, sw, colsum, bias, N, y, ldy, accumulate); break; \
    }

static VNNI_ATTR void gemm_vnni(const uint8_t *qa, const float *sa, int M, int Kp, const int8_t *packed, const float *sw, const int32_t *colsum,
                                const float *bias, int N, int p0, int p1, float *y, size_t ldy, int accumulate) {
    // Blocks of rows small enough that their activations stay in L2 while every panel group passes over them.
    const int MB = Kp <= 512 ? 384 : 128;
    for (int m0 = 0; m0 < M; m0 += MB) {
        const int m1 = M - m0 > MB ? m0 + MB : M;
        for (int p = p0; p < p1; p += 4) {
            const int nz = p1 - p >= 4 ? 4 : p1 - p;
            int m = m0;
            for (; m + 6 <= m1; m += 6) { TILE_CASE(6) }
            switch (m1 - m) {
            case 5: TILE_CASE(5) break;
            case 4: TILE_CASE(4) break;
            case 3: TILE_CASE(3) break;
            case 2: TILE_CASE(2) break;
            case 1: TILE_CASE(1) break;
            default: break;
            }
        }
    }
}

// MARK: dispatch

int confab_i8_best_variant(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512dq")) return CONFAB_I8_VNNI512;
    return CONFAB_I8_AVX2;
#else
    return CONFAB_I8_PLAIN;
#endif
}

void confab_i8_gemm(int variant, const uint8_t *qa, const float *sa, int M, int Kp, const int8_t *packed, const float *sw,
                    const int32_t *colsum, const float *bias, int N, int p0, int p1, float *y, size_t ldy, int accumulate) {
    if (variant > confab_i8_best_variant()) variant = confab_i8_best_variant();
    switch (variant) {
    case CONFAB_I8_VNNI512: gemm_vnni(qa, sa, M, Kp, packed, sw, colsum, bias, N, p0, p1, y, ldy, accumulate); break;
    case CONFAB_I8_AVX2: gemm_avx2(qa, sa, M, Kp, packed, sw, colsum, bias, N, p0, p1, y, ldy, accumulate); break;
    default: gemm_plain(qa, sa, M, Kp, packed, sw, colsum, bias, N, p0, p1, y, ldy, accumulate); break;
    }
}
