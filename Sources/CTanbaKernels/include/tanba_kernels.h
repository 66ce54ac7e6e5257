#ifndef TANBA_KERNELS_H
#define TANBA_KERNELS_H
#include <stdint.h>
#include <stddef.h>

// SIMD kernels for the comparator, compiled for several instruction-set levels in one
// binary (function-level target attributes) and chosen at run time from CPUID.
// Swift cannot compile one function for several ISA levels, which is why these few hot
// loops live in C; everything around them (and the scalar reference) is Swift.
//
// Determinism: every level performs the same IEEE-754 single-precision operations in the
// same order (integer popcounts, exact int→float conversion, correctly rounded sqrt and
// division, no fused multiply-add: built with -ffp-contract=off), so all levels return
// bit-identical results. Tests compare them with the Swift scalar reference.

typedef enum {
    TANBA_KERNEL_PORTABLE = 0,
    TANBA_KERNEL_AVX2 = 1,
    TANBA_KERNEL_AVX512 = 2,   // AVX-512F/BW + VPOPCNTDQ
} tanba_kernel_level;

/// Best level this CPU supports.
tanba_kernel_level tanba_kernel_detect(void);

/// Cylinders of one template in the blocked layout: cylinders are grouped by 8 (the last
/// group zero-padded) and stored word-major inside a group, so that word w of cylinders
/// 8g…8g+7 is 8 consecutive uint64: bits[(g * words + w) * 8 + lane].
typedef struct {
    const uint64_t *bits;
    const float *norms;        // popcount of each cylinder (exact in float), padded to a multiple of 8
    const float *root_norms;   // √popcount of each cylinder, padded likewise
    const uint8_t *angles;     // direction in 1/256 turns, padded to a multiple of 8
    int32_t count;             // number of real cylinders
    int32_t words;             // 64-bit words per cylinder
} tanba_cylinders;

/// Local similarity of every cylinder pair (bit MCC without validity masks):
///   λ(i, j) = 1 − √|a_i ⊕ b_j| / (√|a_i| + √|b_j|), with |a ⊕ b| = |a| + |b| − 2|a ∧ b|,
/// and λ = 0 when the directions differ by more than `max_direction_difference` (1/256 turns)
/// or both cylinders are empty. Writes a.count rows of `row_stride` floats (row_stride ≥
/// b.count rounded up to 8; the padding columns receive 0).
void tanba_similarity_matrix(tanba_kernel_level level, const tanba_cylinders *a, const tanba_cylinders *b,
                             int32_t max_direction_difference, float *out, int32_t row_stride);

/// Prefilter scan: popcount(probe ∧ g) for every gallery vector g. The gallery is blocked
/// like cylinders (8 vectors per group, word-major); `count` is a multiple of 8.
void tanba_and_popcount_scan(tanba_kernel_level level, const uint64_t *probe, int32_t words,
                             const uint64_t *gallery, int64_t count, uint16_t *out);

#endif
