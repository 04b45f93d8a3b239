#ifndef CONFAB_CKERNELS_H
#define CONFAB_CKERNELS_H
// Innermost quantized dot-product kernels in C intrinsics. Everything else stays in Swift.
#include <stdint.h>
#include <stddef.h>
#include "ConvKernels.h"

/// Runtime check that this CPU has what the kernels were built for (AVX2, FMA, F16C on x86-64).
int confab_cpu_supported(void);
/// 2: AVX-512 F/BW/DQ/VL/CD usable; 1: AVX2 and FMA; 0: neither (for choosing OpenBLAS's kernel family).
int confab_cpu_vector_level(void);

// Activation vectors are quantized once per matrix product, in one of two layouts:
//   Q8_32: per 32 values { float d; float s = d·Σqs; int8 qs[32]; }            (40 bytes), for Q4_0..Q8_0 weights
//   Q8_K : per 256 values { float d; int8 qs[256]; int16 bsums[16]; }          (292 bytes), for Q4_K, Q5_K, Q6_K
// F32/F16/BF16 weights take the float activations as they are.
#define CONFAB_Q8_32_BYTES 40
#define CONFAB_Q8_K_BYTES 292

/// x[n] (n a multiple of 32) → Q8_32 blocks at y.
void confab_quantize_q8_32(const float *x, void *y, int n);
/// x[n] (n a multiple of 256) → Q8_K blocks at y.
void confab_quantize_q8_K(const float *x, void *y, int n);

/// Rounds x[n] to the nearest half-precision values, in place (keys/values as an f16 cache holds them).
void confab_round_f16(float *x, size_t n);

/// Dot product of one weight row of `n` elements (ggml type `type`) with one prepared activation vector.
float confab_dot(int type, int n, const void *w, const void *x);

/// The same dot product of one weight row against 4 prepared activation vectors at x + t·xStride bytes (t = 0..3),
/// the weight blocks unpacked once for all 4; out[t] is bit-identical to confab_dot with activation t.
void confab_dot4(int type, int n, const void *w, const void *x, size_t xStride, float out[4]);

/// The VNNI prefill tile (32-element block types, Q4_K, Q6_K), if this CPU and type have one: RM weight rows (w + r·rowBytes)
/// × RN activation vectors (x + t·xStride) into out[t·outStride + r], each value bit-identical to confab_dot.
/// Returns RM·64 + RN (0 and nothing written when there is no tile kernel).
int confab_tile(int type, int n, const void *w, size_t rowBytes, const void *x, size_t xStride, float *out, size_t outStride);

/// A smaller 512-bit tile of the same kernel (rm ≤ RM rows × tokens ≤ RN activation vectors), as the prefill uses for
/// the rows and tokens left over. Returns 0 (nothing written) when the type has no such tile or the shape is too large.
int confab_tile_part(int type, int rm, int tokens, int n, const void *w, size_t rowBytes, const void *x, size_t xStride,
                     float *out, size_t outStride);

/// Whether the 4-row kernels of the 32-element block types use AVX-512 VNNI (identical results, fewer multiply
/// µops). enable < 0: just report (detected on first use); 0 / 1: switch off / on where the CPU has it (tests).
int confab_vnni(int enable);

/// out[t·outStride + r] = row r of W · activation t, for rows r0..<r1 and t in 0..<T.
/// W rows are `rowBytes` apart; activation t starts at x + t·xStride bytes.
void confab_matmul(int type, const void *W, size_t rowBytes, int r0, int r1, int n,
                   const void *x, size_t xStride, int T, float *out, size_t outStride);
/// The spin-wait hint (x86 `pause`), for worker threads waiting on a flag.
void confab_pause(void);
/// A hint to bring the cache line at p into the caches (inlined into Swift callers: a header function).
static inline void confab_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
// MARK: int8 products for float models (igemm.c)
// Weights quantized once at load, symmetric per output row, in panels of 16 rows × 4 consecutive k (the VNNI order);
// activations quantized per row to uint8 (q + 128). Every variant gives bit-identical results (exact integer sums,
// the same float epilogue); the best one this CPU has is confab_i8_best_variant().
#define CONFAB_I8_PLAIN 0
#define CONFAB_I8_AVX2 1
#define CONFAB_I8_VNNI512 2
/// The fastest variant this CPU runs (VNNI512 with AVX-512 VNNI/BW/VL/DQ, else AVX2 on x86-64).
int confab_i8_best_variant(void);
/// K rounded up to a multiple of 4, N to a multiple of 16 (packed sizes: Np·Kp bytes, Np scales and column sums).
int confab_i8_padded_k(int K);
int confab_i8_padded_n(int N);
/// W [N, K] (row stride ldw floats) → packed int8 panels, per-row scales sw[Np] and column sums Σ_k q[n,k] (colsums[Np]).
void confab_i8_pack(const float *W, int N, int K, size_t ldw, int8_t *packed, float *scales, int32_t *colsums);
/// x [M, K] (row stride ldx) → qa [M, Kp] uint8 (round(x/s) + 128, padding 128), s = max|row| / 127 per row.
void confab_i8_quantize_rows(const float *x, int M, int K, size_t ldx, uint8_t *qa, float *scales);
/// y[m, n] (+)= fma(sa[m]·sw[n], Σ_k qa[m,k]·q[n,k] − 128·colsum[n], bias[n]) for all M rows and the outputs of panels
/// p0..<p1 (16 outputs each; outputs ≥ N are not written). A variant above what the CPU has runs as the best it has.
void confab_i8_gemm(int variant, const uint8_t *qa, const float *sa, int M, int Kp, const int8_t *packed, const float *sw,
                    const int32_t *colsum, const float *bias, int N, int p0, int p1, float *y, size_t ldy, int accumulate);
// MARK: GELU (gelu.c)
/// The fastest GELU variant this CPU runs: 2 AVX-512 (16 lanes), 1 AVX2 (8 lanes), 0 plain C.
int confab_gelu_best_variant(void);
/// Exact-form GELU in place (erf by Abramowitz–Stegun 7.1.26, |error| ≤ 1.5e-7), variant as above (< 0: the best;
/// one above what the CPU has runs as the best it has).
void confab_gelu(int variant, float *x, size_t n);
// MARK: bf16 products for float models (bgemm.c)
// Weights rounded to bfloat16 once at load, in panels of 16 rows × 2 consecutive k (vdpbf16ps's pairs); activations
// rounded to bfloat16 per product; sums in float32. The plain variant emulates vdpbf16ps step by step (bit-identical).
#define CONFAB_BF16_PLAIN 0
#define CONFAB_BF16_AVX512 1
/// Whether this CPU has AVX512-BF16 (with AVX-512 F/BW/VL/DQ).
int confab_bf16_available(void);
/// AVX512 where the CPU has AVX512-BF16, else PLAIN.
int confab_bf16_best_variant(void);
/// Multiply-adds per second of vdpbf16ps over those of vfmadd231ps on zmm registers, measured here and now (about
/// 0.3 ms; 0 without AVX512-BF16). 1.86–2.0 measured on AMD Zen 5; below 1 on Intel Xeons up to Emerald Rapids, where
/// vdpbf16ps issues on one port only.
double confab_bf16_multiply_rate_ratio(void);
/// K rounded up to a multiple of 2, N to a multiple of 16 (packed size: Np·Kp bfloat16 values).
int confab_bf16_padded_k(int K);
int confab_bf16_padded_n(int N);
/// float → bfloat16 as vcvtneps2bf16 rounds: to nearest even, denormals to zero.
uint16_t confab_bf16_from_float(float f);
/// W [N, K] (row stride ldw floats) → packed bfloat16 panels.
void confab_bf16_pack(const float *W, int N, int K, size_t ldw, uint16_t *packed);
/// x [M, K] (row stride ldx) → xa [M, lda] bfloat16 (lda ≥ K rounded up to 2; an odd K's pad element set to zero).
void confab_bf16_round_rows(int variant, const float *x, int M, int K, size_t ldx, uint16_t *xa, size_t lda);
/// y[m, n] (+)= Σ_k xa[m,k]·w[n,k] + bias[n] for the M rows of xa (lda apart) and the outputs of panels p0..<p1
/// (16 outputs each; outputs ≥ N are not written). AVX512 runs as PLAIN where the CPU lacks AVX512-BF16.
void confab_bf16_gemm(int variant, const uint16_t *xa, size_t lda, int M, int Kp, const uint16_t *packed, const float *bias, int N,
                      int p0, int p1, float *y, size_t ldy, int accumulate);
// MARK: 16-bit integer attention (iattn.c), AVX-512 VNNI only
/// Whether confab_attn16_head can run here.
int confab_attn16_available(void);
/// Workspace bytes for one head's call with Tk keys.
size_t confab_attn16_workspace_bytes(int Tk);
/// One head of non-causal attention, head size 64: out[i, 0..<64] = Σ_t softmax_t(scale · q_i·k_t) · v_t, with q and k
/// quantized per row to 13 bits, v per dimension to 16 bits and the probabilities to 15 bits, summed exactly in int32.
void confab_attn16_head(const float *q, size_t qStride, const float *k, size_t kStride, const float *v, size_t vStride,
                        float *out, size_t outStride, int Tq, int Tk, float scale, void *workspace);
#endif
