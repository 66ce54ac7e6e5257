#ifndef TANBA_KERNELS_H
#define TANBA_KERNELS_H
#include <stdint.h>
#include <stddef.h>

// SIMD kernels for the comparator, compiled for several instruction-set levels in one
// binary (function-level target attributes) and chosen at run time from CPUID.
// Swift cannot compile one function for several ISA levels, which is why these few hot
// loops live in C; everything around them (and the scalar reference) is Swift.

typedef enum {
    TANBA_KERNEL_PORTABLE = 0,
    TANBA_KERNEL_AVX2 = 1,
    TANBA_KERNEL_AVX512 = 2,   // AVX-512F + VPOPCNTDQ
} tanba_kernel_level;

/// Best level this CPU supports.
tanba_kernel_level tanba_kernel_detect(void);

#endif
