#include "CKernels.h"

int confab_cpu_supported(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
    return 1;
#endif
}

void confab_pause(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

int confab_cpu_vector_level(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();   // libgcc's checks include the OS enabling the AVX and AVX-512 register state
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}
