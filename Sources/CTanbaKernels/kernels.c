#include "tanba_kernels.h"
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

tanba_kernel_level tanba_kernel_detect(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vpopcntdq"))
        return TANBA_KERNEL_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt"))
        return TANBA_KERNEL_AVX2;
#endif
    return TANBA_KERNEL_PORTABLE;
}

static inline int direction_gap(uint8_t a, uint8_t b) {
    int d = (a - b) & 255;
    return d > 128 ? 256 - d : d;
}

// The same scalar formula every level ends with; kept in one place.
static inline float local_similarity(uint32_t both, float ra, float rb, float na, float nb) {
    float denom = ra + rb;
    if (denom == 0.0f) return 0.0f;
    float diff = na + nb - 2.0f * (float)both;   // exact: small integers
    return 1.0f - sqrtf(diff) / denom;
}

// MARK: portable (any x86-64 or other CPU)

static void similarity_portable(const tanba_cylinders *a, const tanba_cylinders *b,
                                int32_t maxdd, float *out, int32_t stride) {
    const int W = a->words;
    const int groupsB = (b->count + 7) / 8;
    for (int i = 0; i < a->count; i++) {
        const uint64_t *ag = a->bits + (size_t)(i / 8) * W * 8 + (i % 8);
        const float ra = a->root_norms[i], na = a->norms[i];
        float *row = out + (size_t)i * stride;
        for (int g = 0; g < groupsB; g++) {
            const uint64_t *bg = b->bits + (size_t)g * W * 8;
            uint32_t both[8] = {0};
            for (int w = 0; w < W; w++) {
                uint64_t av = ag[(size_t)w * 8];
                for (int l = 0; l < 8; l++) both[l] += (uint32_t)__builtin_popcountll(av & bg[w * 8 + l]);
            }
            for (int l = 0; l < 8; l++) {
                int j = g * 8 + l;
                float rb = b->root_norms[j];
                float v = local_similarity(both[l], ra, rb, na, b->norms[j]);
                if (j >= b->count || direction_gap(a->angles[i], b->angles[j]) > maxdd) v = 0.0f;
                row[j] = v;
            }
        }
    }
}

static void scan_portable(const uint64_t *probe, int W, const uint64_t *gallery, int64_t count, uint16_t *out) {
    for (int64_t g = 0; g < count / 8; g++) {
        const uint64_t *bg = gallery + g * W * 8;
        uint32_t acc[8] = {0};
        for (int w = 0; w < W; w++)
            for (int l = 0; l < 8; l++) acc[l] += (uint32_t)__builtin_popcountll(probe[w] & bg[w * 8 + l]);
        for (int l = 0; l < 8; l++) out[g * 8 + l] = (uint16_t)acc[l];
    }
}

#if defined(__x86_64__)
// MARK: AVX2 — no vector popcount: popcnt on 64-bit scalars, SIMD for the arithmetic.

__attribute__((target("avx2,popcnt")))
static void similarity_avx2(const tanba_cylinders *a, const tanba_cylinders *b,
                            int32_t maxdd, float *out, int32_t stride) {
    const int W = a->words;
    const int groupsB = (b->count + 7) / 8;
    for (int i = 0; i < a->count; i++) {
        const uint64_t *ag = a->bits + (size_t)(i / 8) * W * 8 + (i % 8);
        const float ra = a->root_norms[i];
        const __m256 vra = _mm256_set1_ps(ra), vna = _mm256_set1_ps(a->norms[i]);
        const __m256i vai = _mm256_set1_epi32(a->angles[i]);
        const __m256i vmax = _mm256_set1_epi32(maxdd);
        float *row = out + (size_t)i * stride;
        for (int g = 0; g < groupsB; g++) {
            const uint64_t *bg = b->bits + (size_t)g * W * 8;
            uint32_t both[8] = {0};
            for (int w = 0; w < W; w++) {
                uint64_t av = ag[(size_t)w * 8];
                const uint64_t *bw = bg + w * 8;
                both[0] += (uint32_t)_mm_popcnt_u64(av & bw[0]);
                both[1] += (uint32_t)_mm_popcnt_u64(av & bw[1]);
                both[2] += (uint32_t)_mm_popcnt_u64(av & bw[2]);
                both[3] += (uint32_t)_mm_popcnt_u64(av & bw[3]);
                both[4] += (uint32_t)_mm_popcnt_u64(av & bw[4]);
                both[5] += (uint32_t)_mm_popcnt_u64(av & bw[5]);
                both[6] += (uint32_t)_mm_popcnt_u64(av & bw[6]);
                both[7] += (uint32_t)_mm_popcnt_u64(av & bw[7]);
            }
            __m256 vrb = _mm256_loadu_ps(b->root_norms + g * 8);
            __m256 vboth = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)both));
            __m256 denom = _mm256_add_ps(vra, vrb);
            __m256 diff = _mm256_sub_ps(_mm256_add_ps(vna, _mm256_loadu_ps(b->norms + g * 8)),
                                        _mm256_mul_ps(_mm256_set1_ps(2.0f), vboth));
            __m256 lam = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_sqrt_ps(diff), denom));
            // Angle gate and empty pairs → 0.
            __m256i bang = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(b->angles + g * 8)));
            __m256i d = _mm256_and_si256(_mm256_sub_epi32(vai, bang), _mm256_set1_epi32(255));
            d = _mm256_min_epi32(d, _mm256_sub_epi32(_mm256_set1_epi32(256), d));
            __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_add_epi32(vmax, _mm256_set1_epi32(1)), d));
            keep = _mm256_and_ps(keep, _mm256_cmp_ps(denom, _mm256_setzero_ps(), _CMP_NEQ_OQ));
            lam = _mm256_and_ps(lam, keep);
            _mm256_storeu_ps(row + g * 8, lam);
        }
        for (int j = b->count; j < groupsB * 8; j++) row[j] = 0.0f;
    }
}

__attribute__((target("avx2,popcnt")))
static void scan_avx2(const uint64_t *probe, int W, const uint64_t *gallery, int64_t count, uint16_t *out) {
    for (int64_t g = 0; g < count / 8; g++) {
        const uint64_t *bg = gallery + g * W * 8;
        uint32_t acc[8] = {0};
        for (int w = 0; w < W; w++) {
            const uint64_t pv = probe[w];
            for (int l = 0; l < 8; l++) acc[l] += (uint32_t)_mm_popcnt_u64(pv & bg[w * 8 + l]);
        }
        for (int l = 0; l < 8; l++) out[g * 8 + l] = (uint16_t)acc[l];
    }
}

// MARK: AVX-512 with VPOPCNTDQ: eight cylinder pairs per instruction.

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vpopcntdq")))
static void similarity_avx512(const tanba_cylinders *a, const tanba_cylinders *b,
                              int32_t maxdd, float *out, int32_t stride) {
    const int W = a->words;
    const int groupsB = (b->count + 7) / 8;
    for (int i = 0; i < a->count; i++) {
        const uint64_t *ag = a->bits + (size_t)(i / 8) * W * 8 + (i % 8);
        const float ra = a->root_norms[i];
        const __m256 vra = _mm256_set1_ps(ra), vna = _mm256_set1_ps(a->norms[i]);
        const __m256i vai = _mm256_set1_epi32(a->angles[i]);
        const __m256i vlimit = _mm256_set1_epi32(maxdd + 1);
        float *row = out + (size_t)i * stride;
        for (int g = 0; g < groupsB; g++) {
            const uint64_t *bg = b->bits + (size_t)g * W * 8;
            __m512i acc = _mm512_setzero_si512();
            for (int w = 0; w < W; w++) {
                __m512i av = _mm512_set1_epi64((long long)ag[(size_t)w * 8]);
                __m512i bv = _mm512_loadu_si512((const void *)(bg + w * 8));
                acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_and_si512(av, bv)));
            }
            __m256i both32 = _mm512_cvtepi64_epi32(acc);
            __m256 vrb = _mm256_loadu_ps(b->root_norms + g * 8);
            __m256 vboth = _mm256_cvtepi32_ps(both32);
            __m256 denom = _mm256_add_ps(vra, vrb);
            __m256 diff = _mm256_sub_ps(_mm256_add_ps(vna, _mm256_loadu_ps(b->norms + g * 8)),
                                        _mm256_mul_ps(_mm256_set1_ps(2.0f), vboth));
            __m256 lam = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_sqrt_ps(diff), denom));
            __m256i bang = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(b->angles + g * 8)));
            __m256i d = _mm256_and_si256(_mm256_sub_epi32(vai, bang), _mm256_set1_epi32(255));
            d = _mm256_min_epi32(d, _mm256_sub_epi32(_mm256_set1_epi32(256), d));
            __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(vlimit, d));
            keep = _mm256_and_ps(keep, _mm256_cmp_ps(denom, _mm256_setzero_ps(), _CMP_NEQ_OQ));
            lam = _mm256_and_ps(lam, keep);
            _mm256_storeu_ps(row + g * 8, lam);
        }
        for (int j = b->count; j < groupsB * 8; j++) row[j] = 0.0f;
    }
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vpopcntdq")))
static void scan_avx512(const uint64_t *probe, int W, const uint64_t *gallery, int64_t count, uint16_t *out) {
    for (int64_t g = 0; g < count / 8; g++) {
        const uint64_t *bg = gallery + g * W * 8;
        __m512i acc = _mm512_setzero_si512();
        for (int w = 0; w < W; w++) {
            __m512i pv = _mm512_set1_epi64((long long)probe[w]);
            acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_and_si512(pv, _mm512_loadu_si512((const void *)(bg + w * 8)))));
        }
        _mm_storeu_si128((__m128i *)(out + g * 8), _mm512_cvtepi64_epi16(acc));
    }
}
#endif

void tanba_similarity_matrix(tanba_kernel_level level, const tanba_cylinders *a, const tanba_cylinders *b,
                             int32_t maxdd, float *out, int32_t stride) {
#if defined(__x86_64__)
    if (level == TANBA_KERNEL_AVX512) { similarity_avx512(a, b, maxdd, out, stride); return; }
    if (level == TANBA_KERNEL_AVX2) { similarity_avx2(a, b, maxdd, out, stride); return; }
#endif
    similarity_portable(a, b, maxdd, out, stride);
}

void tanba_and_popcount_scan(tanba_kernel_level level, const uint64_t *probe, int32_t words,
                             const uint64_t *gallery, int64_t count, uint16_t *out) {
#if defined(__x86_64__)
    if (level == TANBA_KERNEL_AVX512) { scan_avx512(probe, words, gallery, count, out); return; }
    if (level == TANBA_KERNEL_AVX2) { scan_avx2(probe, words, gallery, count, out); return; }
#endif
    scan_portable(probe, words, gallery, count, out);
}
