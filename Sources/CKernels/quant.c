// Quantized dot products, AVX2 (the same integer schemes as ggml-quants.c's x86 paths).
// Weights stay in their ggml blocks; the activation vector is quantized once per product to 8 bits.
#include "CKernels.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

typedef struct { float d; float s; int8_t qs[32]; } q8_32;
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } q8_K;
_Static_assert(sizeof(q8_32) == CONFAB_Q8_32_BYTES, "q8_32 size");
_Static_assert(sizeof(q8_K) == CONFAB_Q8_K_BYTES, "q8_K size");

static inline float f16(const uint8_t *p) {
    uint16_t h; memcpy(&h, p, 2);
    // Left to itself clang compiles this to vpinsrw into whatever register is free, often the loop's
    // accumulator: a false dependency that serializes the block loop (about 3x slower). Going through a
    // general register (the empty asm pins it there) makes it a vmovd, which writes the whole register.
    int v = h;
    __asm__("" : "+r"(v));
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(v)));
}

static inline float hsum8(__m256 x) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

// Σ pairs of int16 → 8 floats.
static inline __m256 sum_i16_pairs(__m256i x) {
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), x));
}
// unsigned bytes · signed bytes, summed in groups of 4 → 8 floats.
static inline __m256 mul_sum_us8(__m256i ax, __m256i sy) {
    return sum_i16_pairs(_mm256_maddubs_epi16(ax, sy));
}
// signed · signed: move the sign of x onto y.
static inline __m256 mul_sum_i8(__m256i x, __m256i y) {
    return mul_sum_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}
// 16 bytes of nibbles → 32 bytes: low nibbles first (elements 0..15), then the high ones (16..31).
static inline __m256i nibbles32(const uint8_t *p) {
    __m128i t = _mm_loadu_si128((const __m128i *)p);
    __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0xF));
}
// 32 bits → 32 bytes, 0xFF where the bit is set.
static inline __m256i bits32(const uint8_t *p) {
    uint32_t x; memcpy(&x, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
    b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1));
}

// MARK: activation quantization

void confab_quantize_q8_32(const float *x, void *vy, int n) {
    q8_32 *y = (q8_32 *)vy;
    for (int i = 0; i < n / 32; i++) {
        const float *xb = x + 32 * i;
        __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8), v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
        const __m256 sign = _mm256_set1_ps(-0.0f);
        __m256 m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1));
        m = _mm256_max_ps(m, _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127.f, id = amax > 0 ? 127.f / amax : 0.f;
        const __m256 mul = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
        __m128i s4 = _mm_add_epi32(_mm256_extracti128_si256(s, 1), _mm256_castsi256_si128(s));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        // Scales rounded to half precision, as ggml's block_q8_0/q8_1 store them (keeps results bit-close to llama.cpp).
        y[i].d = _cvtsh_ss(_cvtss_sh(d, 0));
        y[i].s = _cvtsh_ss(_cvtss_sh(d * (float)_mm_cvtsi128_si32(s4), 0));
        // pack 32-bit → 16 → 8 (packs interleave 128-bit lanes; the permute restores the order)
        i0 = _mm256_packs_epi32(i0, i1);
        i2 = _mm256_packs_epi32(i2, i3);
        i0 = _mm256_packs_epi16(i0, i2);
        i0 = _mm256_permutevar8x32_epi32(i0, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[i].qs, i0);
    }
}

void confab_quantize_q8_K(const float *x, void *vy, int n) {
    // ggml's quantize_row_q8_K_ref, vectorized with the same arithmetic: the scale comes from the first element of
    // largest magnitude (signed, so it maps to -127 exactly), q = round-to-nearest-even(iscale·x) (ggml's
    // nearest_int, and cvtps under the default MXCSR), d = 1/iscale.
    q8_K *y = (q8_K *)vy;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int i = 0; i < n / 256; i++) {
        const float *xb = x + 256 * i;
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < 256; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        if (!(amax > 0)) {
            y[i].d = 0;
            memset(y[i].qs, 0, 256);
            memset(y[i].bsums, 0, 32);
            continue;
        }
        int k = 0;
        while (k < 255 && fabsf(xb[k]) != amax) k++;
        const float iscale = -127.f / xb[k];
        const __m256 mul = _mm256_set1_ps(iscale);
        for (int j = 0; j < 256; j += 32) {
            __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j), mul));
            __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 8), mul));
            __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 16), mul));
            __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 24), mul));
            // |iscale·x| ≤ 127 by construction; the saturating packs are the clamp
            i0 = _mm256_packs_epi32(i0, i1);
            i2 = _mm256_packs_epi32(i2, i3);
            i0 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(i0, i2), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), i0);
        }
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * g + l];
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

// MARK: 32-element block types × Q8_32

static float dot_q4_0(int n, const uint8_t *w, const q8_32 *y) {
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / 32; i++, w += 18) {
        const __m256 d = _mm256_set1_ps(f16(w) * y[i].d);
        __m256i qx = _mm256_sub_epi8(nibbles32(w + 2), _mm256_set1_epi8(8));
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_i8(qx, qy), acc);
    }
    return hsum8(acc);
}

static float dot_q4_1(int n, const uint8_t *w, const q8_32 *y) {
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    for (int i = 0; i < n / 32; i++, w += 20) {
        summs += f16(w + 2) * y[i].s;
        const __m256 d = _mm256_set1_ps(f16(w) * y[i].d);
        __m256i qx = nibbles32(w + 4);
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_us8(qx, qy), acc);
    }
    return hsum8(acc) + summs;
}

static float dot_q5_0(int n, const uint8_t *w, const q8_32 *y) {
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / 32; i++, w += 22) {
        const __m256 d = _mm256_set1_ps(f16(w) * y[i].d);
        __m256i qx = nibbles32(w + 6);
        // (nibble | bit<<4) - 16: where the bit is clear the byte becomes nibble | 0xF0 = nibble - 16.
        __m256i hi = _mm256_andnot_si256(bits32(w + 2), _mm256_set1_epi8((char)0xF0));
        qx = _mm256_or_si256(qx, hi);
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_i8(qx, qy), acc);
    }
    return hsum8(acc);
}

static float dot_q5_1(int n, const uint8_t *w, const q8_32 *y) {
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    for (int i = 0; i < n / 32; i++, w += 24) {
        summs += f16(w + 2) * y[i].s;
        const __m256 d = _mm256_set1_ps(f16(w) * y[i].d);
        __m256i qx = nibbles32(w + 8);
        qx = _mm256_or_si256(qx, _mm256_and_si256(bits32(w + 4), _mm256_set1_epi8(0x10)));
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_us8(qx, qy), acc);
    }
    return hsum8(acc) + summs;
}

static float dot_q8_0(int n, const uint8_t *w, const q8_32 *y) {
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / 32; i++, w += 34) {
        const __m256 d = _mm256_set1_ps(f16(w) * y[i].d);
        __m256i qx = _mm256_loadu_si256((const __m256i *)(w + 2));
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_i8(qx, qy), acc);
    }
    return hsum8(acc);
}

// MARK: K-quants × Q8_K

// Unpacks the 12 scale bytes of Q4_K/Q5_K into 8 scales (utmp[0..1]) and 8 mins (utmp[2..3]).
static inline void k_scales(const uint8_t *s, uint32_t utmp[4]) {
    const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
    memcpy(utmp, s, 12);
    utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
    const uint32_t uaux = utmp[1] & kmask1;
    utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
    utmp[2] = uaux;
    utmp[0] &= kmask1;
}

// Broadcast 16-bit lane i of a 128-bit register to all 16 lanes of a 256-bit one.
static inline __m256i scale_k4(__m256i scales, int i) {
    return _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)((2 * i) | ((2 * i + 1) << 8))));
}

static float dot_q4_K(int n, const uint8_t *w, const q8_K *y) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    uint32_t utmp[4];
    for (int i = 0; i < n / 256; i++, w += 144) {
        const float d = y[i].d * f16(w), dmin = -y[i].d * f16(w + 2);
        k_scales(w + 4, utmp);
        const __m256i mins_and_scales = _mm256_cvtepu8_epi16(_mm_set_epi32((int)utmp[3], (int)utmp[2], (int)utmp[1], (int)utmp[0]));
        const __m256i q8sums = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        const __m128i q8s = _mm_hadd_epi16(_mm256_extracti128_si256(q8sums, 0), _mm256_extracti128_si256(q8sums, 1));
        const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(mins_and_scales, 1), q8s);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);
        const __m128i sc128 = _mm256_extracti128_si256(mins_and_scales, 0);
        const __m256i scales = _mm256_set_m128i(sc128, sc128);
        const uint8_t *q4 = w + 16;
        const int8_t *q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i q4bits = _mm256_loadu_si256((const __m256i *)q4); q4 += 32;
            const __m256i q4l = _mm256_and_si256(q4bits, m4);
            const __m256i q4h = _mm256_and_si256(_mm256_srli_epi16(q4bits, 4), m4);
            const __m256i q8l = _mm256_loadu_si256((const __m256i *)q8); q8 += 32;
            const __m256i q8h = _mm256_loadu_si256((const __m256i *)q8); q8 += 32;
            __m256i pl = _mm256_madd_epi16(scale_k4(scales, 2 * j), _mm256_maddubs_epi16(q4l, q8l));
            __m256i ph = _mm256_madd_epi16(scale_k4(scales, 2 * j + 1), _mm256_maddubs_epi16(q4h, q8h));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
    return hsum8(acc) + _mm_cvtss_f32(acc_m);
}

static float dot_q5_K(int n, const uint8_t *w, const q8_K *y) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const __m256i mone = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    uint32_t utmp[4];
    for (int i = 0; i < n / 256; i++, w += 176) {
        const float d = y[i].d * f16(w), dmin = -y[i].d * f16(w + 2);
        k_scales(w + 4, utmp);
        const __m256i mins_and_scales = _mm256_cvtepu8_epi16(_mm_set_epi32((int)utmp[3], (int)utmp[2], (int)utmp[1], (int)utmp[0]));
        const __m256i q8sums = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        const __m128i q8s = _mm_hadd_epi16(_mm256_extracti128_si256(q8sums, 0), _mm256_extracti128_si256(q8sums, 1));
        const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(mins_and_scales, 1), q8s);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);
        const __m128i sc128 = _mm256_extracti128_si256(mins_and_scales, 0);
        const __m256i scales = _mm256_set_m128i(sc128, sc128);
        const __m256i hbits = _mm256_loadu_si256((const __m256i *)(w + 16));
        const uint8_t *q5 = w + 48;
        const int8_t *q8 = y[i].qs;
        __m256i hmask = mone;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i q5bits = _mm256_loadu_si256((const __m256i *)q5); q5 += 32;
            // high bit 2j for the low nibbles, 2j+1 for the high ones: (hbits & mask) != 0 → 16
            const __m256i h0 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, hmask), hmask), _mm256_set1_epi8(16));
            hmask = _mm256_slli_epi16(hmask, 1);
            const __m256i h1 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, hmask), hmask), _mm256_set1_epi8(16));
            hmask = _mm256_slli_epi16(hmask, 1);
            const __m256i q5_0 = _mm256_add_epi8(_mm256_and_si256(q5bits, m4), h0);
            const __m256i q5_1 = _mm256_add_epi8(_mm256_and_si256(_mm256_srli_epi16(q5bits, 4), m4), h1);
            const __m256i q8_0 = _mm256_loadu_si256((const __m256i *)q8); q8 += 32;
            const __m256i q8_1 = _mm256_loadu_si256((const __m256i *)q8); q8 += 32;
            __m256i p0 = _mm256_madd_epi16(scale_k4(scales, 2 * j), _mm256_maddubs_epi16(q5_0, q8_0));
            __m256i p1 = _mm256_madd_epi16(scale_k4(scales, 2 * j + 1), _mm256_maddubs_epi16(q5_1, q8_1));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
    return hsum8(acc) + _mm_cvtss_f32(acc_m);
}

static float dot_q6_K(int n, const uint8_t *w, const q8_K *y) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const __m256i m2 = _mm256_set1_epi8(3);
    const __m256i m32s = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / 256; i++, w += 210) {
        const float d = y[i].d * f16(w + 208);
        const uint8_t *q4 = w, *qh = w + 128;
        const int8_t *q8 = y[i].qs;
        const __m128i scales = _mm_loadu_si128((const __m128i *)(w + 192));
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0, is = 0; j < 2; j++, is += 4) {
            // scale k covers 16 values: 8 lanes of the int16 products
            const __m128i s0 = _mm_shuffle_epi8(scales, _mm_set_epi64x(0x0101010101010101LL * (2 * is + 1), 0x0101010101010101LL * (2 * is)));
            const __m128i s1 = _mm_shuffle_epi8(scales, _mm_set_epi64x(0x0101010101010101LL * (2 * is + 3), 0x0101010101010101LL * (2 * is + 2)));
            const __m128i s2 = _mm_shuffle_epi8(scales, _mm_set_epi64x(0x0101010101010101LL * (2 * is + 5), 0x0101010101010101LL * (2 * is + 4)));
            const __m128i s3 = _mm_shuffle_epi8(scales, _mm_set_epi64x(0x0101010101010101LL * (2 * is + 7), 0x0101010101010101LL * (2 * is + 6)));
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)q4); q4 += 32;
            const __m256i b2 = _mm256_loadu_si256((const __m256i *)q4); q4 += 32;
            const __m256i bh = _mm256_loadu_si256((const __m256i *)qh); qh += 32;
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(bh, m2), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 2), m2), 4);
            const __m256i h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 4), m2), 4);
            const __m256i h3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 6), m2), 4);
            const __m256i x0 = _mm256_or_si256(_mm256_and_si256(b1, m4), h0);
            const __m256i x1 = _mm256_or_si256(_mm256_and_si256(b2, m4), h1);
            const __m256i x2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4), h2);
            const __m256i x3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4), h3);
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)q8); q8 += 32;
            const __m256i y1 = _mm256_loadu_si256((const __m256i *)q8); q8 += 32;
            const __m256i y2 = _mm256_loadu_si256((const __m256i *)q8); q8 += 32;
            const __m256i y3 = _mm256_loadu_si256((const __m256i *)q8); q8 += 32;
            // (x - 32)·y = x·y - 32·y, with x unsigned 0..63
            __m256i p0 = _mm256_sub_epi16(_mm256_maddubs_epi16(x0, y0), _mm256_maddubs_epi16(m32s, y0));
            __m256i p1 = _mm256_sub_epi16(_mm256_maddubs_epi16(x1, y1), _mm256_maddubs_epi16(m32s, y1));
            __m256i p2 = _mm256_sub_epi16(_mm256_maddubs_epi16(x2, y2), _mm256_maddubs_epi16(m32s, y2));
            __m256i p3 = _mm256_sub_epi16(_mm256_maddubs_epi16(x3, y3), _mm256_maddubs_epi16(m32s, y3));
            p0 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(s0), p0);
            p1 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(s1), p1);
            p2 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(s2), p2);
            p3 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(s3), p3);
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_add_epi32(p0, p1), _mm256_add_epi32(p2, p3)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc);
}

// MARK: float weights × float activations

static float dot_f32(int n, const float *w, const float *x) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    float s = hsum8(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

static float dot_f16(int n, const uint16_t *w, const float *x) {
    __m256 a0 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))), _mm256_loadu_ps(x + i), a0);
    float s = hsum8(a0);
    for (; i < n; i++) s += _cvtsh_ss(w[i]) * x[i];
    return s;
}

static float dot_bf16(int n, const uint16_t *w, const float *x) {
    __m256 a0 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + i))), 16);
        a0 = _mm256_fmadd_ps(_mm256_castsi256_ps(v), _mm256_loadu_ps(x + i), a0);
    }
    float s = hsum8(a0);
    for (; i < n; i++) { uint32_t u = (uint32_t)w[i] << 16; float f; memcpy(&f, &u, 4); s += f * x[i]; }
    return s;
}

void confab_round_f16(float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), 0)));
    for (; i < n; i++) x[i] = _cvtsh_ss(_cvtss_sh(x[i], 0));
}

float confab_dot(int type, int n, const void *w, const void *x) {
    switch (type) {
    case 0: return dot_f32(n, (const float *)w, (const float *)x);
    case 1: return dot_f16(n, (const uint16_t *)w, (const float *)x);
    case 30: return dot_bf16(n, (const uint16_t *)w, (const float *)x);
    case 2: return dot_q4_0(n, (const uint8_t *)w, (const q8_32 *)x);
    case 3: return dot_q4_1(n, (const uint8_t *)w, (const q8_32 *)x);
    case 6: return dot_q5_0(n, (const uint8_t *)w, (const q8_32 *)x);
    case 7: return dot_q5_1(n, (const uint8_t *)w, (const q8_32 *)x);
    case 8: return dot_q8_0(n, (const uint8_t *)w, (const q8_32 *)x);
    case 12: return dot_q4_K(n, (const uint8_t *)w, (const q8_K *)x);
    case 13: return dot_q5_K(n, (const uint8_t *)w, (const q8_K *)x);
    case 14: return dot_q6_K(n, (const uint8_t *)w, (const q8_K *)x);
    default: return 0;
    }
}

// MARK: four activation rows per pass over a weight row (prefill)
//
// Prefill multiplies each weight row by T activation rows. Unpacking a weight block (nibbles, high bits,
// K-quant scales) costs as much as the integer dot product itself, so these kernels unpack each block once and
// dot it against 4 activation rows: y[t] = x + t·xs bytes, t = 0..3. Per activation row they do exactly the
// operations of the one-row kernels above in the same order (same products, same fma into the same 8 lanes,
// same final sums), so out[t] is bit-identical to dot_*(n, w, y[t]); the tests check that.

#define YK(t, i) ((const q8_K *)(xb + (size_t)(t) * xs) + (i))

// AVX2: unsigned·signed bytes via vpmaddubsw, pairs summed to 8 int32 lanes by vpmaddwd.
#define DOT4_ATTR
#define DOT4_NAME(t) dot4_##t
#define DOT4_US8(ax, sy) mul_sum_us8(ax, sy)
#include "dot4_q32.h"
#undef DOT4_ATTR
#undef DOT4_NAME
#undef DOT4_US8

// AVX-512 VNNI (Zen 4, Ice Lake and later): vpdpbusd on 256-bit registers; checked at run time.
#define DOT4_ATTR __attribute__((target("avx512f,avx512vl,avx512bw,avx512vnni")))
#define DOT4_NAME(t) dot4v_##t
#define DOT4_US8(ax, sy) _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy))
#include "dot4_q32.h"
#undef DOT4_ATTR
#undef DOT4_NAME
#undef DOT4_US8

static inline float hsum4(__m128 a) {
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

// Q4_K / Q5_K: the scales, mins and (Q5_K) high bits are unpacked once per block, the 4-bit values once per
// 64-value chunk j, then dotted against each activation row's bytes of that chunk.
#define KQ_MINS(t) \
    const __m256i q8sums##t = _mm256_loadu_si256((const __m256i *)YK(t, i)->bsums); \
    const __m128i q8s##t = _mm_hadd_epi16(_mm256_extracti128_si256(q8sums##t, 0), _mm256_extracti128_si256(q8sums##t, 1)); \
    m##t = _mm_fmadd_ps(_mm_set1_ps(-YK(t, i)->d * dmw), _mm_cvtepi32_ps(_mm_madd_epi16(mins, q8s##t)), m##t);

static void dot4_q4_K(int n, const uint8_t *w, const uint8_t *xb, size_t xs, float out[4]) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m128 m0 = _mm_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
    uint32_t utmp[4];
    for (int i = 0; i < n / 256; i++, w += 144) {
        const float dw = f16(w), dmw = f16(w + 2);
        k_scales(w + 4, utmp);
        const __m256i mins_and_scales = _mm256_cvtepu8_epi16(_mm_set_epi32((int)utmp[3], (int)utmp[2], (int)utmp[1], (int)utmp[0]));
        const __m128i mins = _mm256_extracti128_si256(mins_and_scales, 1);
        KQ_MINS(0) KQ_MINS(1) KQ_MINS(2) KQ_MINS(3)
        const __m128i sc128 = _mm256_extracti128_si256(mins_and_scales, 0);
        const __m256i scales = _mm256_set_m128i(sc128, sc128);
        const uint8_t *q4 = w + 16;
        __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
        for (int j = 0; j < 4; j++, q4 += 32) {
            const __m256i q4bits = _mm256_loadu_si256((const __m256i *)q4);
            const __m256i q4l = _mm256_and_si256(q4bits, m4);
            const __m256i q4h = _mm256_and_si256(_mm256_srli_epi16(q4bits, 4), m4);
            const __m256i scl = scale_k4(scales, 2 * j), sch = scale_k4(scales, 2 * j + 1);
#define STEP(t, s) { const int8_t *q8 = YK(t, i)->qs + 64 * j; \
            const __m256i pl = _mm256_madd_epi16(scl, _mm256_maddubs_epi16(q4l, _mm256_loadu_si256((const __m256i *)q8))); \
            const __m256i ph = _mm256_madd_epi16(sch, _mm256_maddubs_epi16(q4h, _mm256_loadu_si256((const __m256i *)(q8 + 32)))); \
            s = _mm256_add_epi32(s, _mm256_add_epi32(pl, ph)); }
            STEP(0, s0) STEP(1, s1) STEP(2, s2) STEP(3, s3)
#undef STEP
        }
        a0 = _mm256_fmadd_ps(_mm256_set1_ps(YK(0, i)->d * dw), _mm256_cvtepi32_ps(s0), a0);
        a1 = _mm256_fmadd_ps(_mm256_set1_ps(YK(1, i)->d * dw), _mm256_cvtepi32_ps(s1), a1);
        a2 = _mm256_fmadd_ps(_mm256_set1_ps(YK(2, i)->d * dw), _mm256_cvtepi32_ps(s2), a2);
        a3 = _mm256_fmadd_ps(_mm256_set1_ps(YK(3, i)->d * dw), _mm256_cvtepi32_ps(s3), a3);
    }
    out[0] = hsum8(a0) + hsum4(m0); out[1] = hsum8(a1) + hsum4(m1);
    out[2] = hsum8(a2) + hsum4(m2); out[3] = hsum8(a3) + hsum4(m3);
}

static void dot4_q5_K(int n, const uint8_t *w, const uint8_t *xb, size_t xs, float out[4]) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m128 m0 = _mm_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
    uint32_t utmp[4];
    for (int i = 0; i < n / 256; i++, w += 176) {
        const float dw = f16(w), dmw = f16(w + 2);
        k_scales(w + 4, utmp);
        const __m256i mins_and_scales = _mm256_cvtepu8_epi16(_mm_set_epi32((int)utmp[3], (int)utmp[2], (int)utmp[1], (int)utmp[0]));
        const __m128i mins = _mm256_extracti128_si256(mins_and_scales, 1);
        KQ_MINS(0) KQ_MINS(1) KQ_MINS(2) KQ_MINS(3)
        const __m128i sc128 = _mm256_extracti128_si256(mins_and_scales, 0);
        const __m256i scales = _mm256_set_m128i(sc128, sc128);
        const __m256i hbits = _mm256_loadu_si256((const __m256i *)(w + 16));
        const uint8_t *q5 = w + 48;
        __m256i hmask = _mm256_set1_epi8(1);
        __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
        for (int j = 0; j < 4; j++, q5 += 32) {
            const __m256i q5bits = _mm256_loadu_si256((const __m256i *)q5);
            const __m256i h0 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, hmask), hmask), _mm256_set1_epi8(16));
            hmask = _mm256_slli_epi16(hmask, 1);
            const __m256i h1 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, hmask), hmask), _mm256_set1_epi8(16));
            hmask = _mm256_slli_epi16(hmask, 1);
            const __m256i q5l = _mm256_add_epi8(_mm256_and_si256(q5bits, m4), h0);
            const __m256i q5h = _mm256_add_epi8(_mm256_and_si256(_mm256_srli_epi16(q5bits, 4), m4), h1);
            const __m256i scl = scale_k4(scales, 2 * j), sch = scale_k4(scales, 2 * j + 1);
#define STEP(t, s) { const int8_t *q8 = YK(t, i)->qs + 64 * j; \
            const __m256i p0 = _mm256_madd_epi16(scl, _mm256_maddubs_epi16(q5l, _mm256_loadu_si256((const __m256i *)q8))); \
            const __m256i p1 = _mm256_madd_epi16(sch, _mm256_maddubs_epi16(q5h, _mm256_loadu_si256((const __m256i *)(q8 + 32)))); \
            s = _mm256_add_epi32(s, _mm256_add_epi32(p0, p1)); }
            STEP(0, s0) STEP(1, s1) STEP(2, s2) STEP(3, s3)
#undef STEP
        }
        a0 = _mm256_fmadd_ps(_mm256_set1_ps(YK(0, i)->d * dw), _mm256_cvtepi32_ps(s0), a0);
        a1 = _mm256_fmadd_ps(_mm256_set1_ps(YK(1, i)->d * dw), _mm256_cvtepi32_ps(s1), a1);
        a2 = _mm256_fmadd_ps(_mm256_set1_ps(YK(2, i)->d * dw), _mm256_cvtepi32_ps(s2), a2);
        a3 = _mm256_fmadd_ps(_mm256_set1_ps(YK(3, i)->d * dw), _mm256_cvtepi32_ps(s3), a3);
    }
    out[0] = hsum8(a0) + hsum4(m0); out[1] = hsum8(a1) + hsum4(m1);
    out[2] = hsum8(a2) + hsum4(m2); out[3] = hsum8(a3) + hsum4(m3);
}
#undef KQ_MINS

static void dot4_q6_K(int n, const uint8_t *w, const uint8_t *xb, size_t xs, float out[4]) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const __m256i m2 = _mm256_set1_epi8(3);
    const __m256i m32s = _mm256_set1_epi8(32);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < n / 256; i++, w += 210) {
        const float dw = f16(w + 208);
        const uint8_t *q4 = w, *qh = w + 128;
        const __m128i scales = _mm_loadu_si128((const __m128i *)(w + 192));
        __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
        for (int j = 0, is = 0; j < 2; j++, is += 4) {
            const __m256i c0 = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, _mm_set_epi64x(0x0101010101010101LL * (2 * is + 1), 0x0101010101010101LL * (2 * is))));
            const __m256i c1 = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, _mm_set_epi64x(0x0101010101010101LL * (2 * is + 3), 0x0101010101010101LL * (2 * is + 2))));
            const __m256i c2 = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, _mm_set_epi64x(0x0101010101010101LL * (2 * is + 5), 0x0101010101010101LL * (2 * is + 4))));
            const __m256i c3 = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, _mm_set_epi64x(0x0101010101010101LL * (2 * is + 7), 0x0101010101010101LL * (2 * is + 6))));
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)q4); q4 += 32;
            const __m256i b2 = _mm256_loadu_si256((const __m256i *)q4); q4 += 32;
            const __m256i bh = _mm256_loadu_si256((const __m256i *)qh); qh += 32;
            const __m256i x0 = _mm256_or_si256(_mm256_and_si256(b1, m4), _mm256_slli_epi16(_mm256_and_si256(bh, m2), 4));
            const __m256i x1 = _mm256_or_si256(_mm256_and_si256(b2, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 2), m2), 4));
            const __m256i x2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 4), m2), 4));
            const __m256i x3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 6), m2), 4));
#define P(x, c, y) _mm256_madd_epi16(c, _mm256_sub_epi16(_mm256_maddubs_epi16(x, y), _mm256_maddubs_epi16(m32s, y)))
#define STEP(t, s) { const __m256i *q8 = (const __m256i *)(YK(t, i)->qs + 128 * j); \
            const __m256i y0 = _mm256_loadu_si256(q8), y1 = _mm256_loadu_si256(q8 + 1); \
            const __m256i y2 = _mm256_loadu_si256(q8 + 2), y3 = _mm256_loadu_si256(q8 + 3); \
            s = _mm256_add_epi32(s, _mm256_add_epi32(_mm256_add_epi32(P(x0, c0, y0), P(x1, c1, y1)), _mm256_add_epi32(P(x2, c2, y2), P(x3, c3, y3)))); }
            STEP(0, s0) STEP(1, s1) STEP(2, s2) STEP(3, s3)
#undef STEP
#undef P
        }
        a0 = _mm256_fmadd_ps(_mm256_set1_ps(YK(0, i)->d * dw), _mm256_cvtepi32_ps(s0), a0);
        a1 = _mm256_fmadd_ps(_mm256_set1_ps(YK(1, i)->d * dw), _mm256_cvtepi32_ps(s1), a1);
        a2 = _mm256_fmadd_ps(_mm256_set1_ps(YK(2, i)->d * dw), _mm256_cvtepi32_ps(s2), a2);
        a3 = _mm256_fmadd_ps(_mm256_set1_ps(YK(3, i)->d * dw), _mm256_cvtepi32_ps(s3), a3);
    }
    out[0] = hsum8(a0); out[1] = hsum8(a1); out[2] = hsum8(a2); out[3] = hsum8(a3);
}
#undef YK

// MARK: VNNI tiles of 4 weight rows × 4 activation rows (prefill, 32-element block types)
//
// vpdpbusd accumulates into int32 without vpmaddubsw's int16 pairs, so the weights can be used unsigned,
// x = u - off with u in 0..255, and the offset folded into the accumulator's start: Σ x·y = Σ u·y - off·Σ y, with
// -off·Σy (per activation block, in the same 8 lanes of 4 bytes) computed once and shared by the 4 weight rows.
// That drops the per-pair vpsignb of the signed types, and each activation block (bytes, scale, offset sums) is
// loaded once for 4 rows. The 8 lane sums are the same integers as the one-row kernels' (Q4_0 u = nibble, off 8;
// Q5_0 u = nibble | high bit << 4, off 16; Q8_0 u = x + 128, off 128; Q4_1/Q5_1 no offset) and they then take the
// same float steps, so every output is bit-identical to dot_* (the tests check it).
//   W rows w + r·rowBytes (r = 0..3), activation rows xb + t·xs (t = 0..3); out[t·outStride + r].
#define VNNI_ATTR __attribute__((target("avx512f,avx512vl,avx512bw,avx512vnni")))


static VNNI_ATTR inline __attribute__((always_inline)) void tile_q32(const int type, const int RM, const int RN, int n,
        const uint8_t *w, size_t rowBytes, const uint8_t *xb, size_t xs, float *out, size_t outStride) {
    const int bb = type == 2 ? 18 : type == 3 ? 20 : type == 6 ? 22 : type == 7 ? 24 : 34;
    const int off = type == 2 ? 8 : type == 6 ? 16 : type == 8 ? 128 : 0;
    const int hasMin = type == 3 || type == 7;
    __m256 acc[4][8];   // [row][token]
    float ms[4][8];
    for (int r = 0; r < RM; r++) for (int t = 0; t < RN; t++) { acc[r][t] = _mm256_setzero_ps(); ms[r][t] = 0; }
    for (int i = 0; i < n / 32; i++) {
        __m256i yq[8], c[8];
        __m256 dy[8];
        float ys[8];
        for (int t = 0; t < RN; t++) {
            const q8_32 *y = (const q8_32 *)(xb + (size_t)t * xs) + i;
            yq[t] = _mm256_loadu_si256((const __m256i *)y->qs);
            dy[t] = _mm256_broadcast_ss(&y->d);
            c[t] = off ? _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)off), yq[t]))
                       : _mm256_setzero_si256();
            ys[t] = y->s;
        }
        for (int r = 0; r < RM; r++) {
            const uint8_t *wb = w + (size_t)r * rowBytes + (size_t)i * bb;
            const __m256 dwv = _mm256_set1_ps(f16(wb));
            __m256i u;
            float mw = 0;
            switch (type) {
            case 2: u = nibbles32(wb + 2); break;
            case 3: u = nibbles32(wb + 4); mw = f16(wb + 2); break;
            // the 32 high bits straight into a mask register: bit j sets 16 in byte j (element j), one masked add
            case 6: { uint32_t qh; memcpy(&qh, wb + 2, 4); const __m256i q = nibbles32(wb + 6);
                      u = _mm256_mask_add_epi8(q, (__mmask32)qh, q, _mm256_set1_epi8(0x10)); break; }
            case 7: { uint32_t qh; memcpy(&qh, wb + 4, 4); const __m256i q = nibbles32(wb + 8);
                      u = _mm256_mask_add_epi8(q, (__mmask32)qh, q, _mm256_set1_epi8(0x10)); mw = f16(wb + 2); break; }
            default: u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(wb + 2)), _mm256_set1_epi8((char)0x80)); break;
            }
            for (int t = 0; t < RN; t++) {
                if (hasMin) ms[r][t] += mw * ys[t];
                const __m256 sum = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(c[t], u, yq[t]));
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dwv, dy[t]), sum, acc[r][t]);
            }
        }
    }
    for (int t = 0; t < RN; t++)
        for (int r = 0; r < RM; r++)
            out[(size_t)t * outStride + r] = hasMin ? hsum8(acc[r][t]) + ms[r][t] : hsum8(acc[r][t]);
}


// MARK: 512-bit tiles: two activation rows per register (prefill, AVX-512 VNNI)
//
// The 256-bit tile above keeps its 4 × 8 accumulators in a stack array (32 ymm registers are all there are, and the
// activation blocks need some too), so every fma went through memory. Here one zmm register holds two activation rows,
// t = 2p in lanes 0-7 and t = 2p + 1 in lanes 8-15, each half taking exactly the 256-bit steps of its own row (the
// weight block broadcast to both halves): 4 × 8 accumulators in 16 registers and half the instructions. Every output is
// still bit-identical to the one-row kernels (the tests check it).
#define ZMM_ATTR __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni")))
static ZMM_ATTR inline __m512i pair256(const void *a, const void *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)), _mm256_loadu_si256((const __m256i *)b), 1);
}
static ZMM_ATTR inline __m512 pairps(float a, float b) {
    return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1);
}
// A tile's token t, clamped to the last of its L valid tokens: a tile with fewer tokens than its pairs hold reads the
// last one again and does not store those lanes.
#define TC(t) ((t) < L ? (t) : L - 1)
#define YKL(t, i) YK(TC(t), i)
static ZMM_ATTR inline float hsum8_lo(__m512 x) { return hsum8(_mm512_castps512_ps256(x)); }
static ZMM_ATTR inline float hsum8_hi(__m512 x) { return hsum8(_mm512_extractf32x8_ps(x, 1)); }

// Q4_0, Q5_0, Q8_0 (the types with an offset), RM weight rows × 2·NP activation rows.
static ZMM_ATTR inline __attribute__((always_inline)) void tilez_q32(const int type, const int RM, const int NP, int n,
        const uint8_t *w, size_t rowBytes, const uint8_t *xb, size_t xs, const int L, float *out, size_t outStride) {
    const int bb = type == 2 ? 18 : type == 6 ? 22 : 34;
    const int off = type == 2 ? 8 : type == 6 ? 16 : 128;
    __m512 acc[4][4];
#pragma clang loop unroll(full)
    for (int r = 0; r < RM; r++)
#pragma clang loop unroll(full)
        for (int p = 0; p < NP; p++) acc[r][p] = _mm512_setzero_ps();
    for (int i = 0; i < n / 32; i++) {
        __m512i yq[4], c[4];
        __m512 dy[4];
#pragma clang loop unroll(full)
        for (int p = 0; p < NP; p++) {
            const q8_32 *y0 = (const q8_32 *)(xb + (size_t)TC(2 * p) * xs) + i, *y1 = (const q8_32 *)(xb + (size_t)TC(2 * p + 1) * xs) + i;
            yq[p] = pair256(y0->qs, y1->qs);
            dy[p] = pairps(y0->d, y1->d);
            c[p] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)off), yq[p]));
        }
#pragma clang loop unroll(full)
        for (int r = 0; r < RM; r++) {
            const uint8_t *wb = w + (size_t)r * rowBytes + (size_t)i * bb;
            const __m512 dwv = _mm512_set1_ps(f16(wb));
            __m256i u;
            switch (type) {
            case 2: u = nibbles32(wb + 2); break;
            case 6: { uint32_t qh; memcpy(&qh, wb + 2, 4); const __m256i q = nibbles32(wb + 6);
                      u = _mm256_mask_add_epi8(q, (__mmask32)qh, q, _mm256_set1_epi8(0x10)); break; }
            default: u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(wb + 2)), _mm256_set1_epi8((char)0x80)); break;
            }
            const __m512i uz = _mm512_broadcast_i64x4(u);
#pragma clang loop unroll(full)
            for (int p = 0; p < NP; p++) {
                const __m512 sum = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(c[p], uz, yq[p]));
                acc[r][p] = _mm512_fmadd_ps(_mm512_mul_ps(dwv, dy[p]), sum, acc[r][p]);
            }
        }
    }
#pragma clang loop unroll(full)
    for (int p = 0; p < NP; p++)
#pragma clang loop unroll(full)
        for (int r = 0; r < RM; r++) {
            out[(size_t)(2 * p) * outStride + r] = hsum8_lo(acc[r][p]);
            if (2 * p + 1 < L) out[(size_t)(2 * p + 1) * outStride + r] = hsum8_hi(acc[r][p]);
        }
}

// Cache lines of the next group of rows (G bytes) each of a decode kernel's block steps fetches, so the whole group is
// in cache when its turn comes.
static inline int group_prefetch_lines(size_t G, int steps) {
    return (int)((G + 64 * (size_t)steps - 1) / (64 * (size_t)steps));
}

// Decode (one activation row): 2·NZ weight rows at once, two rows per zmm register (row 2z in lanes 0-7, 2z + 1 in
// lanes 8-15), each half taking exactly dot_q4_0/dot_q5_0/dot_q8_0's 256-bit float steps, so every output is
// bit-identical to theirs. The activation block and its offset sums are loaded once for all the rows, and the NZ
// accumulators are independent chains (the one-row kernel waits on one fma per block).
static ZMM_ATTR inline __attribute__((always_inline)) void rowsz_q32(const int type, const int NZ, int n,
        const uint8_t *w, size_t rowBytes, const q8_32 *y, float *out) {
    const int bb = type == 2 ? 18 : type == 6 ? 22 : 34;
    const int off = type == 2 ? 8 : type == 6 ? 16 : 128;
    __m512 acc[4];
#pragma clang loop unroll(full)
    for (int z = 0; z < NZ; z++) acc[z] = _mm512_setzero_ps();
    // The hardware prefetcher does not keep up with 2·NZ interleaved row streams (8.4 GB/s of the 12 one core can
    // stream, measured on a Sapphire Rapids VM): each block step also fetches its share of the next group's lines.
    const size_t G = (size_t)(2 * NZ) * rowBytes;
    const int pfLines = group_prefetch_lines(G, n / 32);
    const uint8_t *pf = w + G;
    for (int i = 0; i < n / 32; i++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m512i yq = _mm512_broadcast_i64x4(q);
        const __m512i c = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)off), yq));
        const __m512 dy = _mm512_set1_ps(y[i].d);
        for (int k = 0; k < pfLines; k++, pf += 64) _mm_prefetch((const char *)pf, _MM_HINT_T0);
#pragma clang loop unroll(full)
        for (int z = 0; z < NZ; z++) {
            __m256i u[2];
            float dw[2];
#pragma clang loop unroll(full)
            for (int h = 0; h < 2; h++) {
                const uint8_t *wb = w + (size_t)(2 * z + h) * rowBytes + (size_t)i * bb;
                dw[h] = f16(wb);
                switch (type) {
                case 2: u[h] = nibbles32(wb + 2); break;
                case 6: { uint32_t qh; memcpy(&qh, wb + 2, 4); const __m256i nq = nibbles32(wb + 6);
                          u[h] = _mm256_mask_add_epi8(nq, (__mmask32)qh, nq, _mm256_set1_epi8(0x10)); break; }
                default: u[h] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(wb + 2)), _mm256_set1_epi8((char)0x80)); break;
                }
            }
            const __m512i uz = _mm512_inserti64x4(_mm512_castsi256_si512(u[0]), u[1], 1);
            const __m512 sum = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(c, uz, yq));
            acc[z] = _mm512_fmadd_ps(_mm512_mul_ps(pairps(dw[0], dw[1]), dy), sum, acc[z]);
        }
    }
#pragma clang loop unroll(full)
    for (int z = 0; z < NZ; z++) { out[2 * z] = hsum8_lo(acc[z]); out[2 * z + 1] = hsum8_hi(acc[z]); }
}
#ifndef ROWSZ_NZ
#define ROWSZ_NZ 4
#endif
#define ROWSZ(name, T) static ZMM_ATTR void name(int n, const uint8_t *w, size_t rb, const q8_32 *y, float *o) \
    { rowsz_q32(T, ROWSZ_NZ, n, w, rb, y, o); }
ROWSZ(rows_q4_0, 2) ROWSZ(rows_q5_0, 6) ROWSZ(rows_q8_0, 8)
#undef ROWSZ
typedef void (*rows_fn)(int, const uint8_t *, size_t, const q8_32 *, float *);

// Q4_K decode: 2·NZ weight rows at once, two per zmm register (row 2z in lanes 0-7, 2z + 1 in lanes 8-15), each half
// taking dot_q4_K's 256-bit steps: per 32-value sub-block vpmaddubsw (nibbles · activation bytes) then vpdpwssd with
// the sub-block's scale, which adds exactly what dot_q4_K's vpmaddwd + vpaddd add to the same int32 lane; the same
// fma per super-block; the mins in each row's own 128-bit chain. So every output is bit-identical to dot_q4_K. The
// activation bytes are loaded once for all the rows, and the rows' sums are independent chains.
static ZMM_ATTR inline __attribute__((always_inline)) void rowsz_q4_K(const int NZ, int n, const uint8_t *w, size_t rowBytes,
        const q8_K *y, float *out) {
    const __m512i m4 = _mm512_set1_epi8(0xF);
    __m512 acc[4];
    __m128 accm[8];
#pragma clang loop unroll(full)
    for (int z = 0; z < NZ; z++) { acc[z] = _mm512_setzero_ps(); accm[2 * z] = _mm_setzero_ps(); accm[2 * z + 1] = _mm_setzero_ps(); }
    const size_t G = (size_t)(2 * NZ) * rowBytes;
    const int pfLines = group_prefetch_lines(G, n / 256);
    const uint8_t *pf = w + G;
    for (int i = 0; i < n / 256; i++) {
        const __m256i q8sums = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        const __m128i q8s = _mm_hadd_epi16(_mm256_extracti128_si256(q8sums, 0), _mm256_extracti128_si256(q8sums, 1));
        for (int k = 0; k < pfLines; k++, pf += 64) _mm_prefetch((const char *)pf, _MM_HINT_T0);
#pragma clang loop unroll(full)
        for (int z = 0; z < NZ; z++) {
            const uint8_t *wa = w + (size_t)(2 * z) * rowBytes + (size_t)i * 144, *wb = wa + rowBytes;
            float d[2];
            __m128i sc[2];
#pragma clang loop unroll(full)
            for (int h = 0; h < 2; h++) {
                const uint8_t *wh = h ? wb : wa;
                uint32_t utmp[4];
                d[h] = y[i].d * f16(wh);
                const float dmin = -y[i].d * f16(wh + 2);
                k_scales(wh + 4, utmp);
                const __m256i ms = _mm256_cvtepu8_epi16(_mm_set_epi32((int)utmp[3], (int)utmp[2], (int)utmp[1], (int)utmp[0]));
                const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(ms, 1), q8s);
                accm[2 * z + h] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), accm[2 * z + h]);
                sc[h] = _mm256_extracti128_si256(ms, 0);
            }
            // [sc_a, sc_a, sc_b, sc_b]: a shuffle within each 128-bit lane then gives each half its own row's scale.
            const __m512i scales = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(sc[0], sc[0])), _mm256_set_m128i(sc[1], sc[1]), 1);
            __m512i sumi = _mm512_setzero_si512();
#pragma clang loop unroll(full)
            for (int j = 0; j < 4; j++) {
                const __m512i q4bits = pair256(wa + 16 + 32 * j, wb + 16 + 32 * j);
                const __m512i q4l = _mm512_and_si512(q4bits, m4);
                const __m512i q4h = _mm512_and_si512(_mm512_srli_epi16(q4bits, 4), m4);
                const __m512i q8l = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j)));
                const __m512i q8h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j + 32)));
                const __m512i sl = _mm512_shuffle_epi8(scales, _mm512_set1_epi16((short)((4 * j) | ((4 * j + 1) << 8))));
                const __m512i sh = _mm512_shuffle_epi8(scales, _mm512_set1_epi16((short)((4 * j + 2) | ((4 * j + 3) << 8))));
                // dot_q4_K adds (pl + ph) to sumi; integer sums are exact, so adding pl then ph gives the same lanes.
                sumi = _mm512_dpwssd_epi32(sumi, sl, _mm512_maddubs_epi16(q4l, q8l));
                sumi = _mm512_dpwssd_epi32(sumi, sh, _mm512_maddubs_epi16(q4h, q8h));
            }
            acc[z] = _mm512_fmadd_ps(pairps(d[0], d[1]), _mm512_cvtepi32_ps(sumi), acc[z]);
        }
    }
#pragma clang loop unroll(full)
    for (int z = 0; z < NZ; z++)
#pragma clang loop unroll(full)
        for (int h = 0; h < 2; h++) {
            __m128 m = accm[2 * z + h];
            m = _mm_add_ps(m, _mm_movehl_ps(m, m));
            m = _mm_add_ss(m, _mm_movehdup_ps(m));
            out[2 * z + h] = (h ? hsum8_hi(acc[z]) : hsum8_lo(acc[z])) + _mm_cvtss_f32(m);
        }
}
static ZMM_ATTR void rows_q4_K(int n, const uint8_t *w, size_t rb, const q8_32 *y, float *o) {
    rowsz_q4_K(ROWSZ_NZ, n, w, rb, (const q8_K *)(const void *)y, o);
}

#define YK(t, i) ((const q8_K *)(xb + (size_t)(t) * xs) + (i))

// Q4_K: per 32-value sub-block, vpmaddubsw (nibbles · activation bytes, pairs in int16) then vpdpwssd with the
// sub-block's scale adds scale·(pair + pair) into the same int32 lane that dot_q4_K's vpmaddwd + vpaddd fills: the
// same integers. The mins take dot_q4_K's 128-bit steps, four activation rows to a zmm register (one per 128-bit lane).
static ZMM_ATTR inline __attribute__((always_inline)) void tilez_q4_K(const int RM, const int NP, int n,
        const uint8_t *w, size_t rowBytes, const uint8_t *xb, size_t xs, const int L, float *out, size_t outStride) {
    const __m512i m4 = _mm512_set1_epi8(0xF);
    __m512 acc[4][4], macc[4][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < RM; r++) {
#pragma clang loop unroll(full)
        for (int p = 0; p < NP; p++) acc[r][p] = _mm512_setzero_ps();
#pragma clang loop unroll(full)
        for (int q = 0; q < (NP + 1) / 2; q++) macc[r][q] = _mm512_setzero_ps();
    }
    for (int i = 0; i < n / 256; i++) {
        // activation side: block scales in pairs, the 8 sub-block sums (bsums pairwise) and -d in fours
        __m512 dy[4], dn4[2];
        __m512i q8s4[2];
#pragma clang loop unroll(full)
        for (int p = 0; p < NP; p++) dy[p] = pairps(YKL(2 * p, i)->d, YKL(2 * p + 1, i)->d);
#pragma clang loop unroll(full)
        for (int q = 0; q < (NP + 1) / 2; q++) {
            __m128i s[4];
            float dn[4];
#pragma clang loop unroll(full)
            for (int k = 0; k < 4; k++) {
                const __m256i bs = _mm256_loadu_si256((const __m256i *)YKL(4 * q + k, i)->bsums);
                s[k] = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
                dn[k] = -YKL(4 * q + k, i)->d;
            }
            q8s4[q] = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(s[0]), s[1], 1), s[2], 2), s[3], 3);
            dn4[q] = _mm512_insertf32x4(_mm512_insertf32x4(_mm512_insertf32x4(_mm512_castps128_ps512(_mm_set1_ps(dn[0])),
                         _mm_set1_ps(dn[1]), 1), _mm_set1_ps(dn[2]), 2), _mm_set1_ps(dn[3]), 3);
        }
        __m512i sumi[4][4];
        uint8_t sc[4][8];
#pragma clang loop unroll(full)
        for (int r = 0; r < RM; r++) {
            const uint8_t *wb = w + (size_t)r * rowBytes + (size_t)i * 144;
            uint32_t utmp[4];
            k_scales(wb + 4, utmp);
            memcpy(sc[r], utmp, 8);
            const __m128i mins = _mm256_extracti128_si256(_mm256_cvtepu8_epi16(_mm_set_epi32((int)utmp[3], (int)utmp[2], (int)utmp[1], (int)utmp[0])), 1);
            const __m512i minz = _mm512_broadcast_i32x4(mins);
            const __m512 dmw = _mm512_set1_ps(f16(wb + 2));
#pragma clang loop unroll(full)
            for (int q = 0; q < (NP + 1) / 2; q++)
                macc[r][q] = _mm512_fmadd_ps(_mm512_mul_ps(dn4[q], dmw), _mm512_cvtepi32_ps(_mm512_madd_epi16(minz, q8s4[q])), macc[r][q]);
#pragma clang loop unroll(full)
            for (int p = 0; p < NP; p++) sumi[r][p] = _mm512_setzero_si512();
        }
        for (int j = 0; j < 4; j++) {
            __m512i yl[4], yh[4];
#pragma clang loop unroll(full)
            for (int p = 0; p < NP; p++) {
                yl[p] = pair256(YKL(2 * p, i)->qs + 64 * j, YKL(2 * p + 1, i)->qs + 64 * j);
                yh[p] = pair256(YKL(2 * p, i)->qs + 64 * j + 32, YKL(2 * p + 1, i)->qs + 64 * j + 32);
            }
#pragma clang loop unroll(full)
            for (int r = 0; r < RM; r++) {
                const uint8_t *wb = w + (size_t)r * rowBytes + (size_t)i * 144;
                const __m512i bits = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(wb + 16 + 32 * j)));
                const __m512i ql = _mm512_and_si512(bits, m4), qh = _mm512_and_si512(_mm512_srli_epi16(bits, 4), m4);
                const __m512i scl = _mm512_set1_epi16(sc[r][2 * j]), sch = _mm512_set1_epi16(sc[r][2 * j + 1]);
#pragma clang loop unroll(full)
                for (int p = 0; p < NP; p++) {
                    sumi[r][p] = _mm512_dpwssd_epi32(sumi[r][p], _mm512_maddubs_epi16(ql, yl[p]), scl);
                    sumi[r][p] = _mm512_dpwssd_epi32(sumi[r][p], _mm512_maddubs_epi16(qh, yh[p]), sch);
                }
            }
        }
#pragma clang loop unroll(full)
        for (int r = 0; r < RM; r++) {
            const __m512 dw = _mm512_set1_ps(f16(w + (size_t)r * rowBytes + (size_t)i * 144));
#pragma clang loop unroll(full)
            for (int p = 0; p < NP; p++) acc[r][p] = _mm512_fmadd_ps(_mm512_mul_ps(dy[p], dw), _mm512_cvtepi32_ps(sumi[r][p]), acc[r][p]);
        }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < RM; r++)
#pragma clang loop unroll(full)
        for (int p = 0; p < NP; p++) {
            float m[16];
            _mm512_storeu_ps(m, macc[r][p / 2]);
            const int k = 8 * (p % 2);
            out[(size_t)(2 * p) * outStride + r] = hsum8_lo(acc[r][p]) + hsum4(_mm_loadu_ps(m + k));
            if (2 * p + 1 < L) out[(size_t)(2 * p + 1) * outStride + r] = hsum8_hi(acc[r][p]) + hsum4(_mm_loadu_ps(m + k + 4));
        }
}

// Q6_K: dot_q6_K forms (x - 32)·y pairs as vpmaddubsw(x, y) - vpmaddubsw(32, y). Here the activation bytes go in as the
// unsigned operand, y + 128, against the signed weights x - 32: (y + 128)(x - 32) = y(x - 32) + 128(x - 32), and the
// weight-only part 128(x - 32), times the scales, is summed once per weight block and starts each row's int32 lanes
// negated. Then per 32 values one vpmaddubsw and one vpdpwssd (the scales), and the lanes end as the same integers.
static ZMM_ATTR inline __attribute__((always_inline)) void tilez_q6_K(const int RM, const int NP, int n,
        const uint8_t *w, size_t rowBytes, const uint8_t *xb, size_t xs, const int L, float *out, size_t outStride) {
    const __m512i m4 = _mm512_set1_epi8(0xF), m30 = _mm512_set1_epi8(0x30), m32 = _mm512_set1_epi8(32);
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 acc[4][8];
#pragma clang loop unroll(full)
    for (int r = 0; r < RM; r++)
#pragma clang loop unroll(full)
        for (int p = 0; p < NP; p++) acc[r][p] = _mm512_setzero_ps();
    for (int i = 0; i < n / 256; i++) {
        __m512i sumi[4][8], corr[4], sc16[4];
#pragma clang loop unroll(full)
        for (int r = 0; r < RM; r++) {
            // the 16 scales as int16, in both 256-bit halves
            sc16[r] = _mm512_broadcast_i64x4(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + (size_t)r * rowBytes + (size_t)i * 210 + 192))));
            corr[r] = _mm512_setzero_si512();
#pragma clang loop unroll(full)
            for (int p = 0; p < NP; p++) sumi[r][p] = _mm512_setzero_si512();
        }
        for (int j = 0; j < 2; j++) {
#pragma clang loop unroll(full)
            for (int k = 0; k < 4; k++) {
                __m512i y[8];
#pragma clang loop unroll(full)
                for (int p = 0; p < NP; p++)
                    y[p] = _mm512_xor_si512(pair256(YKL(2 * p, i)->qs + 128 * j + 32 * k, YKL(2 * p + 1, i)->qs + 128 * j + 32 * k), flip);
                // scale 8j + 2k for the chunk's first 16 values, 8j + 2k + 1 for the next 16 (int16 lanes 0-7, 8-15)
                const int s0 = 8 * j + 2 * k;
                const __m512i idx = _mm512_set_epi16(s0 + 17, s0 + 17, s0 + 17, s0 + 17, s0 + 17, s0 + 17, s0 + 17, s0 + 17,
                                                     s0 + 16, s0 + 16, s0 + 16, s0 + 16, s0 + 16, s0 + 16, s0 + 16, s0 + 16,
                                                     s0 + 1, s0 + 1, s0 + 1, s0 + 1, s0 + 1, s0 + 1, s0 + 1, s0 + 1,
                                                     s0, s0, s0, s0, s0, s0, s0, s0);
#pragma clang loop unroll(full)
                for (int r = 0; r < RM; r++) {
                    const uint8_t *wb = w + (size_t)r * rowBytes + (size_t)i * 210;
                    // x_k as dot_q6_K builds it: low (k < 2) or high nibbles of ql, bits 2k..2k+1 of qh at 4..5
                    const __m512i b = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(wb + 64 * j + 32 * (k & 1))));
                    const __m512i bh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(wb + 128 + 32 * j)));
                    const __m512i lo = k < 2 ? _mm512_and_si512(b, m4) : _mm512_and_si512(_mm512_srli_epi16(b, 4), m4);
                    const __m512i hi = _mm512_and_si512(k == 3 ? _mm512_srli_epi16(bh, 2) : k == 2 ? bh : _mm512_slli_epi16(bh, 4 - 2 * k), m30);
                    const __m512i x = _mm512_sub_epi8(_mm512_or_si512(lo, hi), m32);
                    const __m512i sc = _mm512_permutexvar_epi16(idx, sc16[r]);
                    corr[r] = _mm512_dpwssd_epi32(corr[r], _mm512_maddubs_epi16(flip, x), sc);
#pragma clang loop unroll(full)
                    for (int p = 0; p < NP; p++) sumi[r][p] = _mm512_dpwssd_epi32(sumi[r][p], _mm512_maddubs_epi16(y[p], x), sc);
                }
            }
        }
#pragma clang loop unroll(full)
        for (int r = 0; r < RM; r++) {
            const __m512 dw = _mm512_set1_ps(f16(w + (size_t)r * rowBytes + (size_t)i * 210 + 208));
#pragma clang loop unroll(full)
            for (int p = 0; p < NP; p++)
                acc[r][p] = _mm512_fmadd_ps(_mm512_mul_ps(pairps(YKL(2 * p, i)->d, YKL(2 * p + 1, i)->d), dw),
                                            _mm512_cvtepi32_ps(_mm512_sub_epi32(sumi[r][p], corr[r])), acc[r][p]);
        }
    }
#pragma clang loop unroll(full)
    for (int p = 0; p < NP; p++)
#pragma clang loop unroll(full)
        for (int r = 0; r < RM; r++) {
            out[(size_t)(2 * p) * outStride + r] = hsum8_lo(acc[r][p]);
            if (2 * p + 1 < L) out[(size_t)(2 * p + 1) * outStride + r] = hsum8_hi(acc[r][p]);
        }
}
#undef YK

typedef void (*tile_fn)(int, const uint8_t *, size_t, const uint8_t *, size_t, float *, size_t);
typedef struct { tile_fn f; int rm, rn; } tile_kernel;
// Tile shapes measured on Zen 4 (2 cores, noisy): 4 rows × 8 tokens for the types with an offset, 1 × 8 for the
// ones with a min (Q4_1/Q5_1 have no offset sums to share between rows).
#define TILE(name, T, RM, RN) static VNNI_ATTR void name(int n, const uint8_t *w, size_t rb, const uint8_t *xb, size_t xs, float *o, size_t os) \
    { tile_q32(T, RM, RN, n, w, rb, xb, xs, o, os); }
TILE(tile_q4_1, 3, 1, 8) TILE(tile_q5_1, 7, 1, 8)
#undef TILE
// 512-bit tiles: RM rows × 2·NP tokens. Shapes measured on Zen 4 (2 shared cores, thread CPU time, best of 5):
// Q5_0 4 × 8, Q4_K 3 × 8, Q6_K 2 × 16 (its weight unpacking costs more, so more tokens share it).
#ifndef Q32_RM
#define Q32_RM 4
#define Q32_NP 4
#endif
#ifndef Q4K_RM
#define Q4K_RM 3
#define Q4K_NP 4
#endif
#ifndef Q6K_RM
#define Q6K_RM 2
#define Q6K_NP 8
#endif
// Every tile shape up to the full one, RM' ≤ RM rows × NP' ≤ NP token pairs, for the rows and tokens left over: a
// prompt of 14 tokens is one 8-token and one 6-token pass of the Q4_K tile, not 8 + a 4-token kernel + 2 one-token ones.
typedef void (*tilez_fn)(int, const uint8_t *, size_t, const uint8_t *, size_t, int, float *, size_t);
#define TZ32(T, name, RM, NP) static ZMM_ATTR void name(int n, const uint8_t *w, size_t rb, const uint8_t *xb, size_t xs, int L, float *o, size_t os) \
    { tilez_q32(T, RM, NP, n, w, rb, xb, xs, L, o, os); }
#define TZK(K, name, RM, NP) static ZMM_ATTR void name(int n, const uint8_t *w, size_t rb, const uint8_t *xb, size_t xs, int L, float *o, size_t os) \
    { tilez_##K(RM, NP, n, w, rb, xb, xs, L, o, os); }
#if Q32_RM != 4 || Q32_NP != 4 || Q4K_RM != 3 || Q4K_NP != 4 || Q6K_RM != 2 || Q6K_NP != 8
#error the tile tables below are written for the default shapes
#endif
TZ32(2, tz_q4_0_1x1, 1, 1) TZ32(2, tz_q4_0_1x2, 1, 2) TZ32(2, tz_q4_0_1x3, 1, 3) TZ32(2, tz_q4_0_1x4, 1, 4)
TZ32(2, tz_q4_0_2x1, 2, 1) TZ32(2, tz_q4_0_2x2, 2, 2) TZ32(2, tz_q4_0_2x3, 2, 3) TZ32(2, tz_q4_0_2x4, 2, 4)
TZ32(2, tz_q4_0_3x1, 3, 1) TZ32(2, tz_q4_0_3x2, 3, 2) TZ32(2, tz_q4_0_3x3, 3, 3) TZ32(2, tz_q4_0_3x4, 3, 4)
TZ32(2, tz_q4_0_4x1, 4, 1) TZ32(2, tz_q4_0_4x2, 4, 2) TZ32(2, tz_q4_0_4x3, 4, 3) TZ32(2, tz_q4_0_4x4, 4, 4)
static const tilez_fn tz_q4_0_tiles[4][4] = { { tz_q4_0_1x1, tz_q4_0_1x2, tz_q4_0_1x3, tz_q4_0_1x4 }, { tz_q4_0_2x1, tz_q4_0_2x2, tz_q4_0_2x3, tz_q4_0_2x4 }, { tz_q4_0_3x1, tz_q4_0_3x2, tz_q4_0_3x3, tz_q4_0_3x4 }, { tz_q4_0_4x1, tz_q4_0_4x2, tz_q4_0_4x3, tz_q4_0_4x4 } };
TZ32(6, tz_q5_0_1x1, 1, 1) TZ32(6, tz_q5_0_1x2, 1, 2) TZ32(6, tz_q5_0_1x3, 1, 3) TZ32(6, tz_q5_0_1x4, 1, 4)
TZ32(6, tz_q5_0_2x1, 2, 1) TZ32(6, tz_q5_0_2x2, 2, 2) TZ32(6, tz_q5_0_2x3, 2, 3) TZ32(6, tz_q5_0_2x4, 2, 4)
TZ32(6, tz_q5_0_3x1, 3, 1) TZ32(6, tz_q5_0_3x2, 3, 2) TZ32(6, tz_q5_0_3x3, 3, 3) TZ32(6, tz_q5_0_3x4, 3, 4)
TZ32(6, tz_q5_0_4x1, 4, 1) TZ32(6, tz_q5_0_4x2, 4, 2) TZ32(6, tz_q5_0_4x3, 4, 3) TZ32(6, tz_q5_0_4x4, 4, 4)
static const tilez_fn tz_q5_0_tiles[4][4] = { { tz_q5_0_1x1, tz_q5_0_1x2, tz_q5_0_1x3, tz_q5_0_1x4 }, { tz_q5_0_2x1, tz_q5_0_2x2, tz_q5_0_2x3, tz_q5_0_2x4 }, { tz_q5_0_3x1, tz_q5_0_3x2, tz_q5_0_3x3, tz_q5_0_3x4 }, { tz_q5_0_4x1, tz_q5_0_4x2, tz_q5_0_4x3, tz_q5_0_4x4 } };
TZ32(8, tz_q8_0_1x1, 1, 1) TZ32(8, tz_q8_0_1x2, 1, 2) TZ32(8, tz_q8_0_1x3, 1, 3) TZ32(8, tz_q8_0_1x4, 1, 4)
TZ32(8, tz_q8_0_2x1, 2, 1) TZ32(8, tz_q8_0_2x2, 2, 2) TZ32(8, tz_q8_0_2x3, 2, 3) TZ32(8, tz_q8_0_2x4, 2, 4)
TZ32(8, tz_q8_0_3x1, 3, 1) TZ32(8, tz_q8_0_3x2, 3, 2) TZ32(8, tz_q8_0_3x3, 3, 3) TZ32(8, tz_q8_0_3x4, 3, 4)
TZ32(8, tz_q8_0_4x1, 4, 1) TZ32(8, tz_q8_0_4x2, 4, 2) TZ32(8, tz_q8_0_4x3, 4, 3) TZ32(8, tz_q8_0_4x4, 4, 4)
static const tilez_fn tz_q8_0_tiles[4][4] = { { tz_q8_0_1x1, tz_q8_0_1x2, tz_q8_0_1x3, tz_q8_0_1x4 }, { tz_q8_0_2x1, tz_q8_0_2x2, tz_q8_0_2x3, tz_q8_0_2x4 }, { tz_q8_0_3x1, tz_q8_0_3x2, tz_q8_0_3x3, tz_q8_0_3x4 }, { tz_q8_0_4x1, tz_q8_0_4x2, tz_q8_0_4x3, tz_q8_0_4x4 } };
TZK(q4_K, tz_q4_K_1x1, 1, 1) TZK(q4_K, tz_q4_K_1x2, 1, 2) TZK(q4_K, tz_q4_K_1x3, 1, 3) TZK(q4_K, tz_q4_K_1x4, 1, 4)
TZK(q4_K, tz_q4_K_2x1, 2, 1) TZK(q4_K, tz_q4_K_2x2, 2, 2) TZK(q4_K, tz_q4_K_2x3, 2, 3) TZK(q4_K, tz_q4_K_2x4, 2, 4)
TZK(q4_K, tz_q4_K_3x1, 3, 1) TZK(q4_K, tz_q4_K_3x2, 3, 2) TZK(q4_K, tz_q4_K_3x3, 3, 3) TZK(q4_K, tz_q4_K_3x4, 3, 4)
static const tilez_fn tz_q4_K_tiles[3][4] = { { tz_q4_K_1x1, tz_q4_K_1x2, tz_q4_K_1x3, tz_q4_K_1x4 }, { tz_q4_K_2x1, tz_q4_K_2x2, tz_q4_K_2x3, tz_q4_K_2x4 }, { tz_q4_K_3x1, tz_q4_K_3x2, tz_q4_K_3x3, tz_q4_K_3x4 } };
TZK(q6_K, tz_q6_K_1x1, 1, 1) TZK(q6_K, tz_q6_K_1x2, 1, 2) TZK(q6_K, tz_q6_K_1x3, 1, 3) TZK(q6_K, tz_q6_K_1x4, 1, 4)
TZK(q6_K, tz_q6_K_1x5, 1, 5) TZK(q6_K, tz_q6_K_1x6, 1, 6) TZK(q6_K, tz_q6_K_1x7, 1, 7) TZK(q6_K, tz_q6_K_1x8, 1, 8)
TZK(q6_K, tz_q6_K_2x1, 2, 1) TZK(q6_K, tz_q6_K_2x2, 2, 2) TZK(q6_K, tz_q6_K_2x3, 2, 3) TZK(q6_K, tz_q6_K_2x4, 2, 4)
TZK(q6_K, tz_q6_K_2x5, 2, 5) TZK(q6_K, tz_q6_K_2x6, 2, 6) TZK(q6_K, tz_q6_K_2x7, 2, 7) TZK(q6_K, tz_q6_K_2x8, 2, 8)
static const tilez_fn tz_q6_K_tiles[2][8] = { { tz_q6_K_1x1, tz_q6_K_1x2, tz_q6_K_1x3, tz_q6_K_1x4, tz_q6_K_1x5, tz_q6_K_1x6, tz_q6_K_1x7, tz_q6_K_1x8 }, { tz_q6_K_2x1, tz_q6_K_2x2, tz_q6_K_2x3, tz_q6_K_2x4, tz_q6_K_2x5, tz_q6_K_2x6, tz_q6_K_2x7, tz_q6_K_2x8 } };
#undef TZ32
#undef TZK

typedef void (*dot4_fn)(int, const uint8_t *, const uint8_t *, size_t, float *);

static int use_vnni = -1;   // -1: not yet checked

int confab_vnni(int enable) {
    int has = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    has = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
#endif
    if (enable >= 0) use_vnni = enable && has;
    else if (use_vnni < 0) use_vnni = has;
    return use_vnni;
}

static inline int vnni_on(void) { return use_vnni >= 0 ? use_vnni : confab_vnni(-1); }

static dot4_fn dot4_for(int type) {
    const int v = vnni_on();
    switch (type) {
    case 2: return v ? dot4v_q4_0 : dot4_q4_0;
    case 3: return v ? dot4v_q4_1 : dot4_q4_1;
    case 6: return v ? dot4v_q5_0 : dot4_q5_0;
    case 7: return v ? dot4v_q5_1 : dot4_q5_1;
    case 8: return v ? dot4v_q8_0 : dot4_q8_0;
    case 12: return dot4_q4_K;
    case 13: return dot4_q5_K;
    case 14: return dot4_q6_K;
    default: return 0;   // float weights: one row at a time
    }
}

// The 256-bit tiles (Q4_1, Q5_1: 1 row × 8 tokens).
static tile_kernel tile_for(int type) {
    tile_kernel none = { 0, 0, 0 };
    if (!vnni_on()) return none;
    switch (type) {
    case 3: return (tile_kernel){ tile_q4_1, 1, 8 };
    case 7: return (tile_kernel){ tile_q5_1, 1, 8 };
    default: return none;
    }
}

// The 512-bit tiles: tab[(rm - 1) · np + pairs - 1] is rm rows × pairs token pairs, up to RM × NP.
typedef struct { const tilez_fn *tab; int rm, np; } tilez_table;
static tilez_table tilez_for(int type) {
    tilez_table none = { 0, 0, 0 };
    if (!vnni_on()) return none;
    switch (type) {
    case 2: return (tilez_table){ &tz_q4_0_tiles[0][0], Q32_RM, Q32_NP };
    case 6: return (tilez_table){ &tz_q5_0_tiles[0][0], Q32_RM, Q32_NP };
    case 8: return (tilez_table){ &tz_q8_0_tiles[0][0], Q32_RM, Q32_NP };
    case 12: return (tilez_table){ &tz_q4_K_tiles[0][0], Q4K_RM, Q4K_NP };
    case 14: return (tilez_table){ &tz_q6_K_tiles[0][0], Q6K_RM, Q6K_NP };
    default: return none;
    }
}

// One token, 2·ROWSZ_NZ rows at a time, where the CPU has VNNI (the 32-element types with an offset).
static rows_fn rows_for(int type) {
    if (!vnni_on()) return 0;
    switch (type) {
    case 2: return rows_q4_0;
    case 6: return rows_q5_0;
    case 8: return rows_q8_0;
    case 12: return rows_q4_K;
    default: return 0;
    }
}

int confab_tile(int type, int n, const void *w, size_t rowBytes, const void *x, size_t xStride, float *out, size_t outStride) {
    const tilez_table z = tilez_for(type);
    if (z.tab) {
        z.tab[(z.rm - 1) * z.np + z.np - 1](n, (const uint8_t *)w, rowBytes, (const uint8_t *)x, xStride, 2 * z.np, out, outStride);
        return z.rm * 64 + 2 * z.np;
    }
    tile_kernel k = tile_for(type);
    if (!k.f) return 0;
    k.f(n, (const uint8_t *)w, rowBytes, (const uint8_t *)x, xStride, out, outStride);
    return k.rm * 64 + k.rn;
}

int confab_tile_part(int type, int rm, int tokens, int n, const void *w, size_t rowBytes, const void *x, size_t xStride,
                     float *out, size_t outStride) {
    const tilez_table z = tilez_for(type);
    const int pairs = (tokens + 1) / 2;
    if (!z.tab || rm < 1 || rm > z.rm || tokens < 1 || pairs > z.np) return 0;
    z.tab[(rm - 1) * z.np + pairs - 1](n, (const uint8_t *)w, rowBytes, (const uint8_t *)x, xStride, tokens, out, outStride);
    return 1;
}

void confab_dot4(int type, int n, const void *w, const void *x, size_t xStride, float out[4]) {
    dot4_fn f = dot4_for(type);
    if (f) { f(n, (const uint8_t *)w, (const uint8_t *)x, xStride, out); return; }
    for (int t = 0; t < 4; t++) out[t] = confab_dot(type, n, w, (const uint8_t *)x + (size_t)t * xStride);
}

typedef float (*dot_fn)(int, const void *, const void *);

void confab_matmul(int type, const void *W, size_t rowBytes, int r0, int r1, int n,
                   const void *x, size_t xStride, int T, float *out, size_t outStride) {
    dot_fn f;
    switch (type) {
    case 0: f = (dot_fn)dot_f32; break;
    case 1: f = (dot_fn)dot_f16; break;
    case 30: f = (dot_fn)dot_bf16; break;
    case 2: f = (dot_fn)dot_q4_0; break;
    case 3: f = (dot_fn)dot_q4_1; break;
    case 6: f = (dot_fn)dot_q5_0; break;
    case 7: f = (dot_fn)dot_q5_1; break;
    case 8: f = (dot_fn)dot_q8_0; break;
    case 12: f = (dot_fn)dot_q4_K; break;
    case 13: f = (dot_fn)dot_q5_K; break;
    case 14: f = (dot_fn)dot_q6_K; break;
    default: return;
    }
    const uint8_t *wb = (const uint8_t *)W;
    const uint8_t *xb = (const uint8_t *)x;
    if (T == 1) {
        int r = r0;
        const rows_fn fr = rows_for(type);
        if (fr) for (; r + 2 * ROWSZ_NZ <= r1; r += 2 * ROWSZ_NZ) fr(n, wb + (size_t)r * rowBytes, rowBytes, (const q8_32 *)xb, out + r);
        // One row at a time: the row two ahead is fetched into L2 first (Q6_K ffn_down 7.3 → 3.5 ms on one core; the
        // hardware prefetcher alone streamed 5.9 of the 12 GB/s a core can). A prefetch past the matrix never faults.
        for (; r < r1; r++) {
            const uint8_t *p = wb + (size_t)(r + 2) * rowBytes;
            for (size_t k = 0; k < rowBytes; k += 64) _mm_prefetch((const char *)p + k, _MM_HINT_T1);
            out[r] = f(n, wb + (size_t)r * rowBytes, xb);
        }
        return;
    }
    // Prefill: blocks of RT weight rows × all tokens, so a block's weight rows stay in L1/L2 while the activations
    // stream from L2. With VNNI, 512-bit tiles of up to RM rows × 2·NP tokens cover the block, smaller tiles of the
    // same kernel taking the rows and tokens left over.
    const tilez_table tz = tilez_for(type);
    if (tz.tab) {
        const int RM = tz.rm, RN = 2 * tz.np, RTZ = RM * ((16 + RM - 1) / RM);
        for (int rb = r0; rb < r1; rb += RTZ) {
            const int re = rb + RTZ < r1 ? rb + RTZ : r1;
            for (int t = 0; t < T; t += RN) {
                const int L = T - t < RN ? T - t : RN, pairs = (L + 1) / 2;
                const uint8_t *xt = xb + (size_t)t * xStride;
                float *ot = out + (size_t)t * outStride;
                for (int r = rb; r < re; r += RM) {
                    const int rm = re - r < RM ? re - r : RM;
                    tz.tab[(rm - 1) * tz.np + pairs - 1](n, wb + (size_t)r * rowBytes, rowBytes, xt, xStride, L, ot + r, outStride);
                }
            }
        }
        return;
    }
    // Otherwise 4 tokens per pass over a row (the 256-bit tiles of 8 tokens where there are some); leftover tokens
    // (T mod 4) take the one-row kernel.
    dot4_fn f4 = dot4_for(type);
    const tile_kernel tk = tile_for(type);   // RM rows × RN tokens where the CPU has VNNI
    const tile_fn ft = tk.f;
    const int TILE_RM = tk.rm, TILE_RN = tk.rn;
    const int RT = 16, T4 = f4 ? T / 4 * 4 : 0;
    for (int rb = r0; rb < r1; rb += RT) {
        const int re = rb + RT < r1 ? rb + RT : r1;
        int t = 0;
        if (ft) for (; t + TILE_RN <= T; t += TILE_RN) {
            const uint8_t *xt = xb + (size_t)t * xStride;
            float *ot = out + (size_t)t * outStride;
            int r = rb;
            for (; r + TILE_RM <= re; r += TILE_RM) ft(n, wb + (size_t)r * rowBytes, rowBytes, xt, xStride, ot + r, outStride);
            for (; r < re; r++)
                for (int k = 0; k < TILE_RN; k += 4) {
                    float o[4];
                    f4(n, wb + (size_t)r * rowBytes, xt + (size_t)k * xStride, xStride, o);
                    for (int j = 0; j < 4; j++) ot[(size_t)(k + j) * outStride + r] = o[j];
                }
        }
        for (; t < T4; t += 4) {
            const uint8_t *xt = xb + (size_t)t * xStride;
            float *ot = out + (size_t)t * outStride;
            for (int r = rb; r < re; r++) {
                float o[4];
                f4(n, wb + (size_t)r * rowBytes, xt, xStride, o);
                ot[r] = o[0]; ot[outStride + r] = o[1]; ot[2 * outStride + r] = o[2]; ot[3 * outStride + r] = o[3];
            }
        }
        for (int t = T4; t < T; t++) {
            const uint8_t *xt = xb + (size_t)t * xStride;
            float *ot = out + (size_t)t * outStride;
            for (int r = rb; r < re; r++) ot[r] = f(n, wb + (size_t)r * rowBytes, xt);
        }
    }
}
