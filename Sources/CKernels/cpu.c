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
