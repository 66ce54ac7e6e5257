#ifndef TANBA_KERNELS_H
#define TANBA_KERNELS_H
#include <stdint.h>
#include <stddef.h>

// SIMD kernels for the comparator and the cylinder encoder, compiled for several
// instruction-set levels in one binary (function-level target attributes) and chosen at
// run time from CPUID. Swift cannot compile one function for several ISA levels, nor use
// gathers, compress or mask registers, which is why these few hot loops live in C;
// everything around them (and the scalar reference of each) is Swift.
//
// Determinism: every level performs the same IEEE-754 single-precision operations in the
// same order (integer popcounts, exact int→float conversion, correctly rounded sqrt and
// division, truncating float→int conversion, table lookups, no fused multiply-add: built
// with -ffp-contract=off), so all levels return bit-identical results. Tests compare them
// with the Swift references.

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

/// The entries ≥ `threshold` of a similarity matrix (`rows` rows of `stride` floats, a
/// multiple of 8, padding columns 0 < threshold), in row-major order: their values and
/// positions (row << 16 | column). `row_maxima` holds 8 floats per row, the maxima over
/// the column classes j mod 8; a row whose maxima are all below the threshold is skipped.
/// Returns the count; the outputs need `rows · stride + 16` entries. Same result on every
/// level as the Swift reference (`TemplateComparator.selectTopPairs`).
int32_t tanba_collect_candidates(tanba_kernel_level level, const float *matrix, int32_t rows, int32_t stride,
                                 const float *row_maxima, float threshold, float *values, int32_t *positions);

/// The pairs kept by the comparator's local stage, structure of arrays (LSS-R geometry).
typedef struct {
    const float *ax, *ay, *bx, *by;   // positions of each pair's minutia in A and in B
    const float *a_cos, *a_sin;       // cos and sin of the A minutia's direction
    const float *b_cos, *b_sin;       // and of the B minutia's
    const float *initial;             // the pair's local similarity λ (decides the frame)
    const int32_t *delta;             // A direction − B direction, ISO units (256 per turn)
    int32_t count;
} tanba_pairs;

/// Sigmoid tables of ρ, indexed as the reference formula does.
typedef struct {
    const float *length;      // Z1 at index (int)(d1 · 16), d1 < 16 px
    const float *direction;   // Z2 at index d2, 0…128
    const float *segment;     // Z3 at index (int)((cos d3 + 1) · 4096), 0…8192
} tanba_compatibility_tables;

/// ρ(r, k) of LSS-R for every two pairs: `count` rows of `row_stride` floats (only the
/// first `count` columns are written). With f the better of r and k (higher λ, then lower
/// index) and o the other, in single precision, in this order:
///   dA = A_o − A_f, dB = B_o − B_f, lenA = √(dA·dA), lenB = √(dB·dB), d1 = |lenA − lenB|;
///   d1 ≥ 16 → 0; z1 = length[(int)(d1 · 16)];
///   d2 = (delta_f − delta_o) mod 256, folded to 0…128; z2 = direction[d2];
///   (uA, vA) = (c·dxA + s·dyA, (−s)·dxA + c·dyA) with f's A direction, likewise (uB, vB);
///   cos = lenA·lenB > 0 ? clamp((uA·uB + vA·vB) / (lenA·lenB), −1, 1) : 1;
///   z3 = segment[(int)((cos + 1) · 4096)]; ρ = z1 · z2 · z3, and 0 if below 2⁻²⁴;
/// ρ(r, r) = 0; the matrix is symmetric (ρ(k, r) is ρ(r, k), which the formula makes
/// explicit by choosing f). Every level returns the same bits as the Swift reference
/// (`CompatibilityTables.referenceMatrix`). `scratch` holds at least count² + 32 int32.
void tanba_compatibility_matrix(tanba_kernel_level level, const tanba_pairs *pairs,
                                const tanba_compatibility_tables *tables, float *out, int32_t row_stride,
                                int32_t *scratch);

/// Cylinder geometry and tables for `tanba_encode_cylinders` (see `CylinderEncoder`).
typedef struct {
    const float *directional;      // 256 rows × direction_bins, then ≥ 8 zeros
    const float *directional8;     // the same rows padded to 8 floats with zeros (6 bins only)
    const float *spatial;          // Gaussian by (int)(d2 · spatial_scale), d2 ≤ cut2
    const float *cosine, *sine;    // by ISO direction, 256 each
    const float *centre;           // centre offset of grid column/row j (1-based): ns + 9 entries
    const int32_t *row_first;      // first and last column of grid row j inside the disc
    const int32_t *row_last;       //   (first > last when none), 1-based, ns + 1 entries
    const int32_t *row_cell;       // cell index of (row_first[j], j)
    float spatial_scale, cell_size, half, cut, cut2, reach2, threshold;
    int32_t spatial_cells, direction_bins, cells, words, minimum_neighbours;
} tanba_cylinder_geometry;

/// Encodes the cylinders of `count` minutiae (500-dpi frame, y up), in index order, for
/// those with at least `minimum_neighbours` neighbours within reach: writes their indices
/// to `kept` and their bits (cell-major, bit b = bin b of the cylinder, `words` words each)
/// to `cylinders`; returns how many. `scratch`: ≥ 16 · (cells + 8 · count + 64) floats;
/// `angle` readable 4 bytes past `count`. Same bits on every level as the Swift
/// reference encoder.
int32_t tanba_encode_cylinders(tanba_kernel_level level, const tanba_cylinder_geometry *geometry,
                               const float *x, const float *y, const uint8_t *angle, int32_t count,
                               int32_t *kept, uint64_t *cylinders, float *scratch);

/// Prefilter scan: popcount(probe ∧ g) for every gallery vector g. The gallery is blocked
/// like cylinders (8 vectors per group, word-major); `count` is a multiple of 8.
void tanba_and_popcount_scan(tanba_kernel_level level, const uint64_t *probe, int32_t words,
                             const uint64_t *gallery, int64_t count, uint16_t *out);

#endif
