#include "tanba_kernels.h"

tanba_kernel_level tanba_kernel_detect(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq"))
        return TANBA_KERNEL_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt"))
        return TANBA_KERNEL_AVX2;
#endif
    return TANBA_KERNEL_PORTABLE;
}
