// Direct 1-D convolution kernels for HiFi-GAN's residual blocks (see ConvKernels.h).
//
// Each tile keeps 8 output channels × 3 vectors of time steps in registers (AVX-512: 8 × 48 steps in 24 zmm;
// AVX2: 4 × 24 steps in 12 ymm) and runs over every (input channel, tap) pair: three unaligned loads of x
// and one broadcast weight per channel feed 3 FMAs each. im2col + sgemm wrote and re-read a K·cin-row copy
// of the input per convolution; here the input rows stay in L1/L2 while all output blocks use them.
#include "ConvKernels.h"
#include <immintrin.h>
#include <stdint.h>

void confab_conv_pack8(const float *w, int cout, int cin, int K, float *wp) {
    for (int ob = 0; ob < (cout + 7) / 8; ob++)
        for (int c = 0; c < cin; c++)
            for (int k = 0; k < K; k++)
                for (int i = 0; i < 8; i++) {
                    int o = ob * 8 + i;
                    wp[(((long)ob * cin + c) * K + k) * 8 + i] = o < cout ? w[((long)o * cin + c) * K + k] : 0;
                }
}

static inline float epilogue_scalar(float v, int o, long t, const confab_conv_out *e) {
    if (e->bias) v += e->bias[o];
    if (e->res) v += e->res[o * e->ldr + t];
    if (e->y) {
        float *p = e->y + o * e->ldy + t;
        *p = e->accumulate ? *p + v : v;
    }
    if (e->act) e->act[o * e->lda + t] = v > 0 ? v : v * e->slope;
    return v;
}

// The reference: plain loops, one output at a time.
static void conv_plain(const float *x, long ldx, int cin, const float *wp, int cout, int K, int dil, int pad,
                       long t0, long t1, const confab_conv_out *e) {
    for (int o = 0; o < cout; o++) {
        const float *wo = wp + (long)(o / 8) * cin * K * 8 + (o % 8);
        for (long t = t0; t < t1; t++) {
            float s = 0;
            for (int c = 0; c < cin; c++)
                for (int k = 0; k < K; k++)
                    s += wo[((long)c * K + k) * 8] * x[c * ldx + t - pad + (long)k * dil];
            epilogue_scalar(s, o, t, e);
        }
    }
}

#if defined(__x86_64__)
// MARK: AVX2

#define Y_ATTR __attribute__((target("avx2,fma")))

static Y_ATTR inline __attribute__((always_inline)) __m256i ymask(long n) {
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - (n > 8 ? 8 : n)));
}

static Y_ATTR inline __attribute__((always_inline)) void y_store(__m256 v, int o, long t, long n, const confab_conv_out *e) {
    __m256i m = ymask(n);
    if (e->bias) v = _mm256_add_ps(v, _mm256_set1_ps(e->bias[o]));
    if (e->res) v = _mm256_add_ps(v, _mm256_maskload_ps(e->res + o * e->ldr + t, m));
    if (e->y) {
        float *p = e->y + o * e->ldy + t;
        __m256 s = e->accumulate ? _mm256_add_ps(_mm256_maskload_ps(p, m), v) : v;
        if (n >= 8) _mm256_storeu_ps(p, s); else _mm256_maskstore_ps(p, m, s);
    }
    if (e->act) {
        __m256 sv = _mm256_mul_ps(v, _mm256_set1_ps(e->slope));
        __m256 a = e->slope > 1 ? _mm256_min_ps(v, sv) : _mm256_max_ps(v, sv);
        float *p = e->act + o * e->lda + t;
        if (n >= 8) _mm256_storeu_ps(p, a); else _mm256_maskstore_ps(p, m, a);
    }
}

// 4 outputs (ob·8 + half·4 …) × NV vectors of 8 steps from t.
#define Y_TILE(NV)                                                                                                  \
    static Y_ATTR void y_tile##NV(const float *x, long ldx, int cin, const float *w, int K, int dil, long t,      \
                                  long n, int o0, int cout, const confab_conv_out *e) {                                     \
        __m256 a[4][NV];                                                                                           \
        for (int i = 0; i < 4; i++)                                                                                \
            for (int j = 0; j < NV; j++) a[i][j] = _mm256_setzero_ps();                                           \
        for (int c = 0; c < cin; c++) {                                                                            \
            const float *xc = x + c * ldx + t;                                                                     \
            const float *wc = w + (long)c * K * 8;                                                                 \
            for (int k = 0; k < K; k++) {                                                                          \
                __m256 xv[NV];                                                                                     \
                for (int j = 0; j < NV; j++) xv[j] = _mm256_loadu_ps(xc + (long)k * dil + 8 * j);                  \
                for (int i = 0; i < 4; i++) {                                                                      \
                    __m256 wv = _mm256_broadcast_ss(wc + k * 8 + i);                                               \
                    for (int j = 0; j < NV; j++) a[i][j] = _mm256_fmadd_ps(wv, xv[j], a[i][j]);                   \
                }                                                                                                  \
            }                                                                                                      \
        }                                                                                                          \
        for (int i = 0; i < 4 && o0 + i < cout; i++)                                                               \
            for (int j = 0; j < NV; j++) y_store(a[i][j], o0 + i, t + 8 * j, n - 8 * j, e);                        \
    }
Y_TILE(3)
Y_TILE(1)

// One output (HiFi-GAN's conv_post) × 4 vectors: the 8-row tiles would waste 7 rows of FMAs.
static Y_ATTR void y_one(const float *x, long ldx, int cin, const float *w, int K, int dil, long t, long n,
                         const confab_conv_out *e) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int c = 0; c < cin; c++) {
        const float *xc = x + c * ldx + t;
        for (int k = 0; k < K; k++) {
            __m256 wv = _mm256_broadcast_ss(w + ((long)c * K + k) * 8);
            const float *xk = xc + (long)k * dil;
            a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xk), a0);
            a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xk + 8), a1);
            a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xk + 16), a2);
            a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xk + 24), a3);
        }
    }
    __m256 a[4] = {a0, a1, a2, a3};
    for (int j = 0; j < 4 && 8 * j < n; j++) y_store(a[j], 0, t + 8 * j, n - 8 * j, e);
}

static Y_ATTR void conv_avx2(const float *x, long ldx, int cin, const float *wp, int cout, int K, int dil, int pad,
                             long t0, long t1, const confab_conv_out *e) {
    const float *xs = x - pad;
    long t = t0;
    if (cout == 1) {
        for (; t < t1; t += 32) y_one(xs, ldx, cin, wp, K, dil, t, t1 - t, e);
        return;
    }
    for (; t + 24 <= t1; t += 24)
        for (int o = 0; o < cout; o += 4)
            y_tile3(xs, ldx, cin, wp + (long)(o / 8) * cin * K * 8 + (o % 8), K, dil, t, 24, o, cout, e);
    for (; t < t1; t += 8)
        for (int o = 0; o < cout; o += 4)
            y_tile1(xs, ldx, cin, wp + (long)(o / 8) * cin * K * 8 + (o % 8), K, dil, t, t1 - t, o, cout, e);
}

// MARK: AVX-512

#define Z_ATTR __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq")))

static Z_ATTR inline __attribute__((always_inline)) void z_store(__m512 v, int o, long t, long n, const confab_conv_out *e) {
    __mmask16 m = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    if (e->bias) v = _mm512_add_ps(v, _mm512_set1_ps(e->bias[o]));
    if (e->res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, e->res + o * e->ldr + t));
    if (e->y) {
        float *p = e->y + o * e->ldy + t;
        __m512 s = e->accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(m, p), v) : v;
        _mm512_mask_storeu_ps(p, m, s);
    }
    if (e->act) {
        __m512 sv = _mm512_mul_ps(v, _mm512_set1_ps(e->slope));
        __m512 a = e->slope > 1 ? _mm512_min_ps(v, sv) : _mm512_max_ps(v, sv);
        _mm512_mask_storeu_ps(e->act + o * e->lda + t, m, a);
    }
}

// 8 outputs × NV vectors of 16 steps from t.
#define Z_TILE(NV)                                                                                                  \
    static Z_ATTR void z_tile##NV(const float *x, long ldx, int cin, const float *w, int K, int dil, long t,      \
                                  long n, int o0, int cout, const confab_conv_out *e) {                                     \
        __m512 a[8][NV];                                                                                           \
        for (int i = 0; i < 8; i++)                                                                                \
            for (int j = 0; j < NV; j++) a[i][j] = _mm512_setzero_ps();                                           \
        for (int c = 0; c < cin; c++) {                                                                            \
            const float *xc = x + c * ldx + t;                                                                     \
            const float *wc = w + (long)c * K * 8;                                                                 \
            for (int k = 0; k < K; k++) {                                                                          \
                __m512 xv[NV];                                                                                     \
                for (int j = 0; j < NV; j++) xv[j] = _mm512_loadu_ps(xc + (long)k * dil + 16 * j);                 \
                for (int i = 0; i < 8; i++) {                                                                      \
                    __m512 wv = _mm512_set1_ps(wc[k * 8 + i]);                                                     \
                    for (int j = 0; j < NV; j++) a[i][j] = _mm512_fmadd_ps(wv, xv[j], a[i][j]);                   \
                }                                                                                                  \
            }                                                                                                      \
        }                                                                                                          \
        for (int i = 0; i < 8 && o0 + i < cout; i++)                                                               \
            for (int j = 0; j < NV; j++) z_store(a[i][j], o0 + i, t + 16 * j, n - 16 * j, e);                      \
    }
Z_TILE(3)
Z_TILE(1)

// One output (HiFi-GAN's conv_post) × 4 vectors.
static Z_ATTR void z_one(const float *x, long ldx, int cin, const float *w, int K, int dil, long t, long n,
                         const confab_conv_out *e) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int c = 0; c < cin; c++) {
        const float *xc = x + c * ldx + t;
        for (int k = 0; k < K; k++) {
            __m512 wv = _mm512_set1_ps(w[((long)c * K + k) * 8]);
            const float *xk = xc + (long)k * dil;
            a0 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xk), a0);
            a1 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xk + 16), a1);
            a2 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xk + 32), a2);
            a3 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xk + 48), a3);
        }
    }
    __m512 a[4] = {a0, a1, a2, a3};
    for (int j = 0; j < 4 && 16 * j < n; j++) z_store(a[j], 0, t + 16 * j, n - 16 * j, e);
}

static Z_ATTR void conv_avx512(const float *x, long ldx, int cin, const float *wp, int cout, int K, int dil, int pad,
                               long t0, long t1, const confab_conv_out *e) {
    const float *xs = x - pad;
    long t = t0;
    if (cout == 1) {
        for (; t < t1; t += 64) z_one(xs, ldx, cin, wp, K, dil, t, t1 - t, e);
        return;
    }
    for (; t + 48 <= t1; t += 48)
        for (int o = 0; o < cout; o += 8)
            z_tile3(xs, ldx, cin, wp + (long)(o / 8) * cin * K * 8, K, dil, t, 48, o, cout, e);
    for (; t < t1; t += 16)
        for (int o = 0; o < cout; o += 8)
            z_tile1(xs, ldx, cin, wp + (long)(o / 8) * cin * K * 8, K, dil, t, t1 - t, o, cout, e);
}
#endif

void confab_conv1d_direct(int level, const float *x, long ldx, int cin, const float *wp, int cout, int K,
                          int dilation, int pad, long t0, long t1, const confab_conv_out *out) {
    if (t1 <= t0) return;
#if defined(__x86_64__)
    if (level >= 2) { conv_avx512(x, ldx, cin, wp, cout, K, dilation, pad, t0, t1, out); return; }
    if (level == 1) { conv_avx2(x, ldx, cin, wp, cout, K, dilation, pad, t0, t1, out); return; }
#endif
    conv_plain(x, ldx, cin, wp, cout, K, dilation, pad, t0, t1, out);
}
