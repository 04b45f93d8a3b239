// The 32-element block types' 4-activation-row kernels (see quant.c, "four activation rows per pass"). quant.c
// includes this file twice: once for AVX2 and once for CPUs with 8-bit VNNI, where DOT4_US8 is one vpdpbusd instead
// of vpmaddubsw + vpmaddwd. The integer lane sums are the same (no pair here can saturate vpmaddubsw: weights are
// at most 31 in magnitude, or 128 for Q8_0, activations at most 127), so both variants give identical floats.
// Per activation row: the weight block's scale times the row's block scale (one float product, as the one-row
// kernels compute it), times the 8 lane sums, fused into 8 accumulator lanes.
//   w: one weight row, n/32 blocks; xb + t·xs: activation row t (n/32 Q8_32 blocks), t = 0..3; out[4].
#define Y32(t, i) ((const q8_32 *)(xb + (size_t)(t) * xs) + (i))

static DOT4_ATTR void DOT4_NAME(q4_0)(int n, const uint8_t *w, const uint8_t *xb, size_t xs, float out[4]) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < n / 32; i++, w += 18) {
        const __m256 dwv = _mm256_set1_ps(f16(w));
        const __m256i qx = _mm256_sub_epi8(nibbles32(w + 2), _mm256_set1_epi8(8));
        const __m256i ax = _mm256_sign_epi8(qx, qx);   // |x|, the sign goes onto y (mul_sum_i8)
#define STEP(t, acc) { const q8_32 *y = Y32(t, i); \
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y->qs); \
        acc = _mm256_fmadd_ps(_mm256_mul_ps(dwv, _mm256_broadcast_ss(&y->d)), DOT4_US8(ax, _mm256_sign_epi8(qy, qx)), acc); }
        STEP(0, a0) STEP(1, a1) STEP(2, a2) STEP(3, a3)
#undef STEP
    }
    out[0] = hsum8(a0); out[1] = hsum8(a1); out[2] = hsum8(a2); out[3] = hsum8(a3);
}

static DOT4_ATTR void DOT4_NAME(q4_1)(int n, const uint8_t *w, const uint8_t *xb, size_t xs, float out[4]) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    float m0 = 0, m1 = 0, m2 = 0, m3 = 0;
    for (int i = 0; i < n / 32; i++, w += 20) {
        const __m256 dwv = _mm256_set1_ps(f16(w));
        const float mw = f16(w + 2);
        const __m256i qx = nibbles32(w + 4);
#define STEP(t, acc, ms) { const q8_32 *y = Y32(t, i); ms += mw * y->s; \
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y->qs); \
        acc = _mm256_fmadd_ps(_mm256_mul_ps(dwv, _mm256_broadcast_ss(&y->d)), DOT4_US8(qx, qy), acc); }
        STEP(0, a0, m0) STEP(1, a1, m1) STEP(2, a2, m2) STEP(3, a3, m3)
#undef STEP
    }
    out[0] = hsum8(a0) + m0; out[1] = hsum8(a1) + m1; out[2] = hsum8(a2) + m2; out[3] = hsum8(a3) + m3;
}

static DOT4_ATTR void DOT4_NAME(q5_0)(int n, const uint8_t *w, const uint8_t *xb, size_t xs, float out[4]) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < n / 32; i++, w += 22) {
        const __m256 dwv = _mm256_set1_ps(f16(w));
        __m256i qx = nibbles32(w + 6);
        qx = _mm256_or_si256(qx, _mm256_andnot_si256(bits32(w + 2), _mm256_set1_epi8((char)0xF0)));
        const __m256i ax = _mm256_sign_epi8(qx, qx);
#define STEP(t, acc) { const q8_32 *y = Y32(t, i); \
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y->qs); \
        acc = _mm256_fmadd_ps(_mm256_mul_ps(dwv, _mm256_broadcast_ss(&y->d)), DOT4_US8(ax, _mm256_sign_epi8(qy, qx)), acc); }
        STEP(0, a0) STEP(1, a1) STEP(2, a2) STEP(3, a3)
#undef STEP
    }
    out[0] = hsum8(a0); out[1] = hsum8(a1); out[2] = hsum8(a2); out[3] = hsum8(a3);
}

static DOT4_ATTR void DOT4_NAME(q5_1)(int n, const uint8_t *w, const uint8_t *xb, size_t xs, float out[4]) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    float m0 = 0, m1 = 0, m2 = 0, m3 = 0;
    for (int i = 0; i < n / 32; i++, w += 24) {
        const __m256 dwv = _mm256_set1_ps(f16(w));
        const float mw = f16(w + 2);
        __m256i qx = nibbles32(w + 8);
        qx = _mm256_or_si256(qx, _mm256_and_si256(bits32(w + 4), _mm256_set1_epi8(0x10)));
#define STEP(t, acc, ms) { const q8_32 *y = Y32(t, i); ms += mw * y->s; \
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y->qs); \
        acc = _mm256_fmadd_ps(_mm256_mul_ps(dwv, _mm256_broadcast_ss(&y->d)), DOT4_US8(qx, qy), acc); }
        STEP(0, a0, m0) STEP(1, a1, m1) STEP(2, a2, m2) STEP(3, a3, m3)
#undef STEP
    }
    out[0] = hsum8(a0) + m0; out[1] = hsum8(a1) + m1; out[2] = hsum8(a2) + m2; out[3] = hsum8(a3) + m3;
}

static DOT4_ATTR void DOT4_NAME(q8_0)(int n, const uint8_t *w, const uint8_t *xb, size_t xs, float out[4]) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < n / 32; i++, w += 34) {
        const __m256 dwv = _mm256_set1_ps(f16(w));
        const __m256i qx = _mm256_loadu_si256((const __m256i *)(w + 2));
        const __m256i ax = _mm256_sign_epi8(qx, qx);
#define STEP(t, acc) { const q8_32 *y = Y32(t, i); \
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y->qs); \
        acc = _mm256_fmadd_ps(_mm256_mul_ps(dwv, _mm256_broadcast_ss(&y->d)), DOT4_US8(ax, _mm256_sign_epi8(qy, qx)), acc); }
        STEP(0, a0) STEP(1, a1) STEP(2, a2) STEP(3, a3)
#undef STEP
    }
    out[0] = hsum8(a0); out[1] = hsum8(a1); out[2] = hsum8(a2); out[3] = hsum8(a3);
}

#undef Y32
