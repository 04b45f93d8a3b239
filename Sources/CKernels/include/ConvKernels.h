#ifndef CONFAB_CONV_KERNELS_H
#define CONFAB_CONV_KERNELS_H
// Direct 1-D convolution for HiFi-GAN's residual blocks (stride 1, any dilation), register-tiled over
// 8 output channels × a run of time steps, with the block's element-wise work fused into the store.
#include <stddef.h>

/// What a convolution does with each output value v = Σ W·x + bias[o] (+ res[o, t] when res is set):
///   y   != NULL: y[o, t] = v, or y[o, t] += v when accumulate is set
///   act != NULL: act[o, t] = v > 0 ? v : slope·v   (the next convolution's leaky-ReLU input)
/// Rows of res, y and act are ldr, ldy, lda floats apart; res may be y (in place).
typedef struct {
    const float *bias;
    const float *res; long ldr;
    float *y; long ldy; int accumulate;
    float *act; long lda; float slope;
} confab_conv_out;

/// Packs W [cout, cin, K] into wp [⌈cout/8⌉][cin][K][8], the kernels' weight order (missing rows zero).
void confab_conv_pack8(const float *w, int cout, int cin, int K, float *wp);

/// Output steps t0..<t1 of y = conv(x) for every output channel. x [cin, ·] has rows ldx floats apart and
/// points at step 0 of channel 0: every x[c·ldx + t] for t in [t0 − pad, t1 + 63 + dilation·(K−1) − pad) must
/// be readable, and zero outside 0..<T (the caller's halo). Values at t ≥ t1 are neither computed nor stored.
/// level: 2 AVX-512, 1 AVX2 + FMA, 0 plain C (the reference the tests compare with).
void confab_conv1d_direct(int level, const float *x, long ldx, int cin, const float *wp, int cout, int K,
                          int dilation, int pad, long t0, long t1, const confab_conv_out *out);
#endif
