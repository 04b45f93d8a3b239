#ifndef CONFAB_CKERNELS_H
#define CONFAB_CKERNELS_H
// Innermost quantized dot-product kernels in C intrinsics. Everything else stays in Swift.
#include <stdint.h>
#include <stddef.h>

/// Runtime check that this CPU has what the kernels were built for (AVX2, FMA, F16C on x86-64).
int confab_cpu_supported(void);
#endif
