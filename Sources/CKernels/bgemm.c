// bf16 matrix products for float layers (Whisper's encoder): weights rounded to bfloat16 once at load, activations
// rounded to bfloat16 per product, products summed in float32 by AVX512-BF16's vdpbf16ps. The plain C variant
// emulates vdpbf16ps operation by operation (the odd element of each pair first, then the even one, each product
// exact in float32, every sum rounded to nearest even, denormal inputs and results flushed to zero), so the two
// variants give the same bits.
//
//   activations  xa [M, lda] bf16 (lda ≥ Kp = K rounded up to 2; the pad element is zero)
//   weights      panels of 16 output rows: [Kp/2][16][2] bf16 (2 consecutive k per output, vdpbf16ps's pairs)
//   y[m, n] (+)= Σ_k xa[m,k]·w[n,k] + bias[n]
#include "CKernels.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

static inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

int confab_bf16_padded_k(int K) { return round_up(K, 2); }
int confab_bf16_padded_n(int N) { return round_up(N, 16); }

int confab_bf16_available(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

static inline uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// vcvtneps2bf16: round to nearest even; denormal inputs become zero of the same sign; NaN stays a (quiet) NaN.
uint16_t confab_bf16_from_float(float f) {
    uint32_t u = bits_of(f);
    if ((u & 0x7F800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float bf16_to_float(uint16_t h) { return float_of((uint32_t)h << 16); }
static inline float ftz(float f) { return (bits_of(f) & 0x7F800000u) == 0 ? float_of(bits_of(f) & 0x80000000u) : f; }

void confab_bf16_pack(const float *W, int N, int K, size_t ldw, uint16_t *packed) {
    const int Kp = round_up(K, 2), Np = round_up(N, 16);
    memset(packed, 0, (size_t)Np * Kp * 2);
    for (int n = 0; n < N; n++) {
        const float *w = W + (size_t)n * ldw;
        uint16_t *panel = packed + (size_t)(n / 16) * Kp * 16;
        for (int k = 0; k < K; k++) panel[(size_t)(k / 2) * 32 + (n % 16) * 2 + (k % 2)] = confab_bf16_from_float(w[k]);
    }
}

static void round_rows_plain(const float *x, int M, int K, size_t ldx, uint16_t *xa, size_t lda) {
    for (int m = 0; m < M; m++) {
        const float *r = x + (size_t)m * ldx;
        uint16_t *a = xa + (size_t)m * lda;
        for (int k = 0; k < K; k++) a[k] = confab_bf16_from_float(r[k]);
        if (K % 2) a[K] = 0;
    }
}

#define BF16_ATTR __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512bf16")))

static BF16_ATTR void round_rows_avx512(const float *x, int M, int K, size_t ldx, uint16_t *xa, size_t lda) {
    for (int m = 0; m < M; m++) {
        const float *r = x + (size_t)m * ldx;
        uint16_t *a = xa + (size_t)m * lda;
        int k = 0;
        for (; k + 32 <= K; k += 32) {
            const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(r + k + 16), _mm512_loadu_ps(r + k));
            _mm512_storeu_si512((void *)(a + k), (__m512i)v);
        }
        if (k < K) {
            const int n = K - k;
            const __mmask16 lo = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
            const __mmask16 hi = n <= 16 ? 0 : (__mmask16)((1u << (n - 16)) - 1);
            const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, r + k + 16), _mm512_maskz_loadu_ps(lo, r + k));
            _mm512_mask_storeu_epi16(a + k, (__mmask32)(((uint64_t)1 << (n + (n & 1))) - 1), (__m512i)v);
        }
    }
}

void confab_bf16_round_rows(int variant, const float *x, int M, int K, size_t ldx, uint16_t *xa, size_t lda) {
    if (variant == CONFAB_BF16_AVX512 && confab_bf16_available()) round_rows_avx512(x, M, K, ldx, xa, lda);
    else round_rows_plain(x, M, K, ldx, xa, lda);
}

// MARK: plain C (vdpbf16ps emulated)

static inline void store16(const float *acc, int m, int n, int N, const float *bias, float *y, size_t ldy, int accumulate) {
    for (int j = 0; j < 16 && n + j < N; j++) {
        const float v = bias ? acc[j] + bias[n + j] : acc[j];
        float *out = y + (size_t)m * ldy + n + j;
        *out = accumulate ? *out + v : v;
    }
}

static void gemm_plain(const uint16_t *xa, size_t lda, int M, int Kp, const uint16_t *packed, const float *bias, int N,
                       int p0, int p1, float *y, size_t ldy, int accumulate) {
    for (int p = p0; p < p1; p++) {
        const uint16_t *panel = packed + (size_t)p * Kp * 16;
        for (int m = 0; m < M; m++) {
            const uint16_t *a = xa + (size_t)m * lda;
            float acc[16] = {0};
            for (int kp = 0; kp < Kp / 2; kp++) {
                const float a0 = ftz(bf16_to_float(a[2 * kp])), a1 = ftz(bf16_to_float(a[2 * kp + 1]));
                for (int j = 0; j < 16; j++) {
                    const float w0 = ftz(bf16_to_float(panel[(size_t)kp * 32 + j * 2])), w1 = ftz(bf16_to_float(panel[(size_t)kp * 32 + j * 2 + 1]));
                    float s = ftz(acc[j]);
                    s = ftz(s + a1 * w1);      // the products of two bf16 values are exact in float32
                    s = ftz(s + a0 * w0);
                    acc[j] = s;
                }
            }
            store16(acc, m, 16 * p, N, bias, y, ldy, accumulate);
        }
    }
}

// MARK: AVX-512 BF16: MR rows × NZ panels of 16 outputs in zmm accumulators

static BF16_ATTR inline __attribute__((always_inline)) void store_zmm(__m512 acc, int m, int n, int N, const float *bias,
        float *y, size_t ldy, int accumulate) {
    const __mmask16 mask = N - n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (N - n)) - 1);
    // the same operations as store16: + bias, then + y
    __m512 v = bias ? _mm512_add_ps(acc, _mm512_maskz_loadu_ps(mask, bias + n)) : acc;
    float *out = y + (size_t)m * ldy + n;
    if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, out), v);
    _mm512_mask_storeu_ps(out, mask, v);
}

static BF16_ATTR inline __attribute__((always_inline)) void tile_bf16(const int MR, const int NZ, const uint16_t *xa, size_t lda,
        int m, int Kp, const uint16_t *packed, int p, const float *bias, int N, float *y, size_t ldy, int accumulate) {
    __m512 c[6][4];
    for (int i = 0; i < MR; i++) for (int j = 0; j < NZ; j++) c[i][j] = _mm512_setzero_ps();
    const uint16_t *w = packed + (size_t)p * Kp * 16;
    const size_t ps = (size_t)Kp * 16;
    const uint16_t *a = xa + (size_t)m * lda;
    for (int k = 0; k < Kp; k += 2) {
        __m512bh wv[4];
        for (int j = 0; j < NZ; j++) wv[j] = (__m512bh)_mm512_loadu_si512((const void *)(w + j * ps + (size_t)k * 16));
        for (int i = 0; i < MR; i++) {
            int32_t v; memcpy(&v, a + (size_t)i * lda + k, 4);
            const __m512bh b = (__m512bh)_mm512_set1_epi32(v);
            for (int j = 0; j < NZ; j++) c[i][j] = _mm512_dpbf16_ps(c[i][j], b, wv[j]);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NZ; j++) store_zmm(c[i][j], m + i, 16 * (p + j), N, bias, y, ldy, accumulate);
}

#define BTILE_CASE(MR) \
    switch (nz) { \
    case 4: tile_bf16(MR, 4, xa, lda, m, Kp, packed, p, bias, N, y, ldy, accumulate); break; \
    case 3: tile_bf16(MR, 3, xa, lda, m, Kp, packed, p, bias, N, y, ldy, accumulate); break; \
    case 2: tile_bf16(MR, 2, xa, lda, m, Kp, packed, p, bias, N, y, ldy, accumulate); break; \
    default: tile_bf16(MR, 1, xa, lda, m, Kp, packed, p, bias, N, y, ldy, accumulate); break; \
    }

static BF16_ATTR void gemm_avx512(const uint16_t *xa, size_t lda, int M, int Kp, const uint16_t *packed, const float *bias, int N,
                                  int p0, int p1, float *y, size_t ldy, int accumulate) {
    // Blocks of rows whose activations stay in L2 while every panel group passes over them.
    const int MB = Kp <= 512 ? 192 : 96;
    for (int m0 = 0; m0 < M; m0 += MB) {
        const int m1 = M - m0 > MB ? m0 + MB : M;
        for (int p = p0; p < p1; p += 4) {
            const int nz = p1 - p >= 4 ? 4 : p1 - p;
            int m = m0;
            for (; m + 6 <= m1; m += 6) { BTILE_CASE(6) }
            switch (m1 - m) {
            case 5: BTILE_CASE(5) break;
            case 4: BTILE_CASE(4) break;
            case 3: BTILE_CASE(3) break;
            case 2: BTILE_CASE(2) break;
            case 1: BTILE_CASE(1) break;
            default: break;
            }
        }
    }
}

// MARK: how fast vdpbf16ps is here

#include <time.h>

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// 12 independent accumulator chains (enough to cover the latency of either instruction at two a cycle), `n` passes
// of vdpbf16ps (bf16 = 1) or vfmadd231ps (bf16 = 0).
static BF16_ATTR __attribute__((noinline)) double time_chains(int bf16, int n) {
    __m512 c[12];
    for (int i = 0; i < 12; i++) c[i] = _mm512_setzero_ps();
    const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3F80), b = (__m512bh)_mm512_set1_epi16(0x3C00);
    const __m512 fa = _mm512_set1_ps(1.0f), fb = _mm512_set1_ps(0.0078125f);
    const double t0 = seconds_now();
    for (int r = 0; r < n; r++) {
        if (bf16) for (int i = 0; i < 12; i++) c[i] = _mm512_dpbf16_ps(c[i], a, b);
        else for (int i = 0; i < 12; i++) c[i] = _mm512_fmadd_ps(fa, fb, c[i]);
        __asm__ volatile("" : "+v"(c[0]), "+v"(c[1]), "+v"(c[2]), "+v"(c[3]), "+v"(c[4]), "+v"(c[5]));
    }
    const double t = seconds_now() - t0;
    float sink = 0;
    for (int i = 0; i < 12; i++) sink += _mm512_reduce_add_ps(c[i]);
    __asm__ volatile("" : : "x"(sink));
    return t;
}

double confab_bf16_multiply_rate_ratio(void) {
    if (!confab_bf16_available()) return 0;
    // Interleaved, best of five each: a time slice lost to another process shows in one sample, not in the minimum.
    const int n = 4096;   // 49k instructions: ~10-40 µs each
    double best_b = 1e9, best_f = 1e9;
    (void)time_chains(0, 256); (void)time_chains(1, 256);   // wake the vector unit (AVX-512 power-up on some parts)
    for (int i = 0; i < 5; i++) {
        const double b = time_chains(1, n), f = time_chains(0, n);
        if (b < best_b) best_b = b;
        if (f < best_f) best_f = f;
    }
    // vdpbf16ps does 32 multiply-adds per instruction, vfmadd231ps 16.
    return best_b > 0 ? (32.0 / best_b) / (16.0 / best_f) : 0;
}

int confab_bf16_best_variant(void) { return confab_bf16_available() ? CONFAB_BF16_AVX512 : CONFAB_BF16_PLAIN; }

void confab_bf16_gemm(int variant, const uint16_t *xa, size_t lda, int M, int Kp, const uint16_t *packed, const float *bias, int N,
                      int p0, int p1, float *y, size_t ldy, int accumulate) {
    if (variant == CONFAB_BF16_AVX512 && confab_bf16_available()) gemm_avx512(xa, lda, M, Kp, packed, bias, N, p0, p1, y, ldy, accumulate);
    else gemm_plain(xa, lda, M, Kp, packed, bias, N, p0, p1, y, ldy, accumulate);
}
