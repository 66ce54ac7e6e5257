#include "tanba_kernels.h"
#include <math.h>
#include <string.h>
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

// ρ of one pair of pairs, f the better one: the formula of tanba_kernels.h, term by term.
static inline float compatibility_one(const tanba_pairs *p, const tanba_compatibility_tables *t, int f, int o) {
    const float dxA = p->ax[o] - p->ax[f], dyA = p->ay[o] - p->ay[f];
    const float dxB = p->bx[o] - p->bx[f], dyB = p->by[o] - p->by[f];
    const float lenA = sqrtf(dxA * dxA + dyA * dyA), lenB = sqrtf(dxB * dxB + dyB * dyB);
    const float d1 = fabsf(lenA - lenB);
    if (d1 >= 16.0f) return 0.0f;
    const float z1 = t->length[(int)(d1 * 16.0f)];
    int d2 = (p->delta[f] - p->delta[o]) & 255;
    if (d2 > 128) d2 = 256 - d2;
    const float z2 = t->direction[d2];
    const float ac = p->a_cos[f], as = p->a_sin[f], bc = p->b_cos[f], bs = p->b_sin[f];
    const float uA = ac * dxA + as * dyA, vA = -as * dxA + ac * dyA;
    const float uB = bc * dxB + bs * dyB, vB = -bs * dxB + bc * dyB;
    const float denom = lenA * lenB;
    float c = 1.0f;
    if (denom > 0.0f) {
        c = (uA * uB + vA * vB) / denom;
        c = c < 1.0f ? c : 1.0f;
        c = c >= -1.0f ? c : -1.0f;
    }
    const float z3 = t->segment[(int)((c + 1.0f) * 4096.0f)];
    const float v = z1 * z2 * z3;
    return v < 0x1p-24f ? 0.0f : v;
}

static void compatibility_portable(const tanba_pairs *p, const tanba_compatibility_tables *t, float *out, int32_t stride) {
    const int n = p->count;
    for (int r = 0; r < n; r++) {
        out[(size_t)r * stride + r] = 0.0f;
        for (int k = r + 1; k < n; k++) {
            // r < k: r's frame unless k's pair is strictly more similar.
            const float v = p->initial[k] > p->initial[r] ? compatibility_one(p, t, k, r) : compatibility_one(p, t, r, k);
            out[(size_t)r * stride + k] = v;
            out[(size_t)k * stride + r] = v;
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

// ρ for the upper triangle, eight k at a time along each row r (the pairs passing the
// length test are a quarter of all, at random: no branch can predict them).
//  1. Vector pass: the formula up to its three table indices, for every lane; the lanes
//     that pass are appended to a list without branches (write always, advance by the
//     lane's bit), each as two words: r | k << 8 | d2 << 16 | (int)(d1·16) << 24, and
//     (int)((cos + 1)·4096).
//  2. Scalar pass over the list: three table loads, the product, both mirror stores.
// Gathers would do step 2 inside the vector pass, but AMD cores run them as slow
// microcode: this is several times faster there and no slower elsewhere.
static void compatibility_finish(const tanba_compatibility_tables *t, const uint32_t *words, const int32_t *cosines,
                                 int count, float *out, int32_t stride) {
    for (int s = 0; s < count; s++) {
        const uint32_t w = words[s];
        const int r = w & 255, k = (w >> 8) & 255;
        const float v = t->length[w >> 24] * t->direction[(w >> 16) & 255] * t->segment[cosines[s]];
        const float kept = v < 0x1p-24f ? 0.0f : v;
        out[(size_t)r * stride + k] = kept;
        out[(size_t)k * stride + r] = kept;
    }
}

__attribute__((target("avx2")))
static void compatibility_avx2(const tanba_pairs *p, const tanba_compatibility_tables *t, float *out, int32_t stride,
                               uint32_t *words, int32_t *cosines) {
    const int n = p->count;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f), minusOne = _mm256_set1_ps(-1.0f);
    const __m256 limit = _mm256_set1_ps(16.0f), steps = _mm256_set1_ps(4096.0f);
    int count = 0;
    for (int r = 0; r < n; r++) {
        const __m256 rax = _mm256_set1_ps(p->ax[r]), ray = _mm256_set1_ps(p->ay[r]);
        const __m256 rbx = _mm256_set1_ps(p->bx[r]), rby = _mm256_set1_ps(p->by[r]);
        const __m256 rac = _mm256_set1_ps(p->a_cos[r]), ras = _mm256_set1_ps(p->a_sin[r]);
        const __m256 rbc = _mm256_set1_ps(p->b_cos[r]), rbs = _mm256_set1_ps(p->b_sin[r]);
        const __m256 rinitial = _mm256_set1_ps(p->initial[r]);
        const __m256i rdelta = _mm256_set1_epi32(p->delta[r]);
        for (int k0 = r + 1; k0 < n; k0 += 8) {
            const __m256i k = _mm256_add_epi32(lane, _mm256_set1_epi32(k0));
            const __m256i valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), k);
            const __m256 dxA = _mm256_sub_ps(_mm256_maskload_ps(p->ax + k0, valid), rax);
            const __m256 dyA = _mm256_sub_ps(_mm256_maskload_ps(p->ay + k0, valid), ray);
            const __m256 dxB = _mm256_sub_ps(_mm256_maskload_ps(p->bx + k0, valid), rbx);
            const __m256 dyB = _mm256_sub_ps(_mm256_maskload_ps(p->by + k0, valid), rby);
            const __m256 lenA = _mm256_sqrt_ps(_mm256_add_ps(_mm256_mul_ps(dxA, dxA), _mm256_mul_ps(dyA, dyA)));
            const __m256 lenB = _mm256_sqrt_ps(_mm256_add_ps(_mm256_mul_ps(dxB, dxB), _mm256_mul_ps(dyB, dyB)));
            const __m256 d1 = _mm256_andnot_ps(sign, _mm256_sub_ps(lenA, lenB));
            const int live = _mm256_movemask_ps(_mm256_and_ps(_mm256_cmp_ps(d1, limit, _CMP_LT_OQ), _mm256_castsi256_ps(valid)));
            if (!live) continue;
            __m256i d = _mm256_and_si256(_mm256_sub_epi32(rdelta, _mm256_maskload_epi32(p->delta + k0, valid)),
                                         _mm256_set1_epi32(255));
            d = _mm256_min_epi32(d, _mm256_sub_epi32(_mm256_set1_epi32(256), d));
            // k > r: the frame is r's unless k's pair is strictly more similar.
            const __m256 kBetter = _mm256_cmp_ps(_mm256_maskload_ps(p->initial + k0, valid), rinitial, _CMP_GT_OQ);
            const __m256 ac = _mm256_blendv_ps(rac, _mm256_maskload_ps(p->a_cos + k0, valid), kBetter);
            const __m256 as = _mm256_blendv_ps(ras, _mm256_maskload_ps(p->a_sin + k0, valid), kBetter);
            const __m256 bc = _mm256_blendv_ps(rbc, _mm256_maskload_ps(p->b_cos + k0, valid), kBetter);
            const __m256 bs = _mm256_blendv_ps(rbs, _mm256_maskload_ps(p->b_sin + k0, valid), kBetter);
            const __m256 uA = _mm256_add_ps(_mm256_mul_ps(ac, dxA), _mm256_mul_ps(as, dyA));
            const __m256 vA = _mm256_add_ps(_mm256_mul_ps(_mm256_xor_ps(as, sign), dxA), _mm256_mul_ps(ac, dyA));
            const __m256 uB = _mm256_add_ps(_mm256_mul_ps(bc, dxB), _mm256_mul_ps(bs, dyB));
            const __m256 vB = _mm256_add_ps(_mm256_mul_ps(_mm256_xor_ps(bs, sign), dxB), _mm256_mul_ps(bc, dyB));
            const __m256 denom = _mm256_mul_ps(lenA, lenB);
            __m256 c = _mm256_div_ps(_mm256_add_ps(_mm256_mul_ps(uA, uB), _mm256_mul_ps(vA, vB)), denom);
            c = _mm256_max_ps(_mm256_min_ps(c, one), minusOne);
            c = _mm256_blendv_ps(one, c, _mm256_cmp_ps(denom, _mm256_setzero_ps(), _CMP_GT_OQ));
            const __m256i word = _mm256_or_si256(
                _mm256_or_si256(_mm256_set1_epi32(r), _mm256_slli_epi32(k, 8)),
                _mm256_or_si256(_mm256_slli_epi32(d, 16), _mm256_slli_epi32(_mm256_cvttps_epi32(_mm256_mul_ps(d1, limit)), 24)));
            uint32_t w[8]; int32_t cs[8];
            _mm256_storeu_si256((__m256i *)w, word);
            _mm256_storeu_si256((__m256i *)cs, _mm256_cvttps_epi32(_mm256_mul_ps(_mm256_add_ps(c, one), steps)));
            for (int l = 0; l < 8; l++) {
                words[count] = w[l];
                cosines[count] = cs[l];
                count += (live >> l) & 1;
            }
        }
    }
    compatibility_finish(t, words, cosines, count, out, stride);
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

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vpopcntdq")))

// |a_i ∧ b_j| for the eight cylinders j of one group: AND with a's word (broadcast),
// popcount, add, per word, in two independent chains so that the adds do not wait on
// each other. Integer sums: the order does not matter.
AVX512_TARGET
static inline __attribute__((always_inline)) __m512i group_popcounts_avx512(const uint64_t *ag, const uint64_t *bg, int W) {
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
    int w = 0;
    for (; w + 2 <= W; w += 2) {
        acc0 = _mm512_add_epi64(acc0, _mm512_popcnt_epi64(_mm512_and_si512(
            _mm512_set1_epi64((long long)ag[(size_t)w * 8]), _mm512_loadu_si512((const void *)(bg + w * 8)))));
        acc1 = _mm512_add_epi64(acc1, _mm512_popcnt_epi64(_mm512_and_si512(
            _mm512_set1_epi64((long long)ag[(size_t)(w + 1) * 8]), _mm512_loadu_si512((const void *)(bg + (w + 1) * 8)))));
    }
    if (w < W)
        acc0 = _mm512_add_epi64(acc0, _mm512_popcnt_epi64(_mm512_and_si512(
            _mm512_set1_epi64((long long)ag[(size_t)w * 8]), _mm512_loadu_si512((const void *)(bg + w * 8)))));
    return _mm512_add_epi64(acc0, acc1);
}

// Column blocks outside, rows inside: a block is two groups of b (16 columns), whose
// words stay in registers while every row of a streams past them (with the default
// 8-word cylinders the compiler hoists all sixteen loads out of the row loop, see the
// W == 8 call below); the block's norms, angles and padding mask are loaded once too.
// Both groups' counts are packed into one vector (the low halves of the 64-bit sums),
// so the square root and the division, the slowest instructions here, run once per 16
// pairs. A lone last group reads its columns through masked loads, which never touch
// memory past the padded arrays.
AVX512_TARGET
static inline __attribute__((always_inline))
void similarity_avx512_words(const tanba_cylinders *a, const tanba_cylinders *b,
                             int32_t maxdd, float *out, int32_t stride, const int W) {
    const int groupsB = (b->count + 7) / 8;
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i vlimit = _mm512_set1_epi32(maxdd + 1);
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    for (int g = 0; g < groupsB; g += 2) {
        const int pair = g + 1 < groupsB;
        const __mmask16 inside = pair ? 0xFFFF : 0x00FF;
        const uint64_t *b0 = b->bits + (size_t)g * W * 8, *b1 = pair ? b0 + (size_t)W * 8 : b0;
        const __m512 vrb = _mm512_maskz_loadu_ps(inside, b->root_norms + g * 8);
        const __m512 vnb = _mm512_maskz_loadu_ps(inside, b->norms + g * 8);
        const __m512i bang = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(inside, b->angles + g * 8));
        // Padding columns → 0.
        const __mmask16 real = _mm512_cmplt_epi32_mask(_mm512_add_epi32(lanes, _mm512_set1_epi32(g * 8)),
                                                       _mm512_set1_epi32(b->count));
        for (int i = 0; i < a->count; i++) {
            const uint64_t *ag = a->bits + (size_t)(i / 8) * W * 8 + (i % 8);
            __m512i both = _mm512_permutex2var_epi32(group_popcounts_avx512(ag, b0, W), evens,
                                                     group_popcounts_avx512(ag, b1, W));
            __m512 denom = _mm512_add_ps(_mm512_set1_ps(a->root_norms[i]), vrb);
            __m512 diff = _mm512_sub_ps(_mm512_add_ps(_mm512_set1_ps(a->norms[i]), vnb),
                                        _mm512_mul_ps(two, _mm512_cvtepi32_ps(both)));
            __m512 q = _mm512_div_ps(_mm512_sqrt_ps(diff), denom);
            // Angle gate and empty pairs → 0.
            __m512i d = _mm512_and_si512(_mm512_sub_epi32(_mm512_set1_epi32(a->angles[i]), bang), _mm512_set1_epi32(255));
            d = _mm512_min_epi32(d, _mm512_sub_epi32(_mm512_set1_epi32(256), d));
            __mmask16 keep = real & _mm512_cmpgt_epi32_mask(vlimit, d);
            keep &= _mm512_cmp_ps_mask(denom, _mm512_setzero_ps(), _CMP_NEQ_OQ);
            _mm512_mask_storeu_ps(out + (size_t)i * stride + g * 8, inside, _mm512_maskz_sub_ps(keep, one, q));
        }
    }
}

AVX512_TARGET
static void similarity_avx512(const tanba_cylinders *a, const tanba_cylinders *b,
                              int32_t maxdd, float *out, int32_t stride) {
    // The default geometry's cylinders are 8 words (480 bits): a constant W lets the
    // compiler unroll the word loop and keep the block in registers.
    if (a->words == 8) similarity_avx512_words(a, b, maxdd, out, stride, 8);
    else similarity_avx512_words(a, b, maxdd, out, stride, a->words);
}

// ρ as in compatibility_avx2, sixteen k at a time, the passing lanes packed by
// VPCOMPRESSD into a register (the memory form is microcoded on AMD) and stored whole.
AVX512_TARGET
static void compatibility_avx512(const tanba_pairs *p, const tanba_compatibility_tables *t, float *out, int32_t stride,
                                 uint32_t *words, int32_t *cosines) {
    const int n = p->count;
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 sign = _mm512_set1_ps(-0.0f), one = _mm512_set1_ps(1.0f), minusOne = _mm512_set1_ps(-1.0f);
    const __m512 limit = _mm512_set1_ps(16.0f), steps = _mm512_set1_ps(4096.0f);
    int count = 0;
    for (int r = 0; r < n; r++) {
        const __m512 rax = _mm512_set1_ps(p->ax[r]), ray = _mm512_set1_ps(p->ay[r]);
        const __m512 rbx = _mm512_set1_ps(p->bx[r]), rby = _mm512_set1_ps(p->by[r]);
        const __m512 rac = _mm512_set1_ps(p->a_cos[r]), ras = _mm512_set1_ps(p->a_sin[r]);
        const __m512 rbc = _mm512_set1_ps(p->b_cos[r]), rbs = _mm512_set1_ps(p->b_sin[r]);
        const __m512 rinitial = _mm512_set1_ps(p->initial[r]);
        const __m512i rdelta = _mm512_set1_epi32(p->delta[r]);
        for (int k0 = r + 1; k0 < n; k0 += 16) {
            const __m512i k = _mm512_add_epi32(lane, _mm512_set1_epi32(k0));
            const __mmask16 valid = _mm512_cmplt_epi32_mask(k, _mm512_set1_epi32(n));
            const __m512 dxA = _mm512_sub_ps(_mm512_maskz_loadu_ps(valid, p->ax + k0), rax);
            const __m512 dyA = _mm512_sub_ps(_mm512_maskz_loadu_ps(valid, p->ay + k0), ray);
            const __m512 dxB = _mm512_sub_ps(_mm512_maskz_loadu_ps(valid, p->bx + k0), rbx);
            const __m512 dyB = _mm512_sub_ps(_mm512_maskz_loadu_ps(valid, p->by + k0), rby);
            const __m512 lenA = _mm512_sqrt_ps(_mm512_add_ps(_mm512_mul_ps(dxA, dxA), _mm512_mul_ps(dyA, dyA)));
            const __m512 lenB = _mm512_sqrt_ps(_mm512_add_ps(_mm512_mul_ps(dxB, dxB), _mm512_mul_ps(dyB, dyB)));
            const __m512 d1 = _mm512_abs_ps(_mm512_sub_ps(lenA, lenB));
            const __mmask16 live = valid & _mm512_cmp_ps_mask(d1, limit, _CMP_LT_OQ);
            if (!live) continue;
            __m512i d = _mm512_and_si512(_mm512_sub_epi32(rdelta, _mm512_maskz_loadu_epi32(valid, p->delta + k0)),
                                         _mm512_set1_epi32(255));
            d = _mm512_min_epi32(d, _mm512_sub_epi32(_mm512_set1_epi32(256), d));
            // k > r: the frame is r's unless k's pair is strictly more similar.
            const __mmask16 kBetter = _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(valid, p->initial + k0), rinitial, _CMP_GT_OQ);
            const __m512 ac = _mm512_mask_blend_ps(kBetter, rac, _mm512_maskz_loadu_ps(valid, p->a_cos + k0));
            const __m512 as = _mm512_mask_blend_ps(kBetter, ras, _mm512_maskz_loadu_ps(valid, p->a_sin + k0));
            const __m512 bc = _mm512_mask_blend_ps(kBetter, rbc, _mm512_maskz_loadu_ps(valid, p->b_cos + k0));
            const __m512 bs = _mm512_mask_blend_ps(kBetter, rbs, _mm512_maskz_loadu_ps(valid, p->b_sin + k0));
            const __m512 uA = _mm512_add_ps(_mm512_mul_ps(ac, dxA), _mm512_mul_ps(as, dyA));
            const __m512 vA = _mm512_add_ps(_mm512_mul_ps(_mm512_xor_ps(as, sign), dxA), _mm512_mul_ps(ac, dyA));
            const __m512 uB = _mm512_add_ps(_mm512_mul_ps(bc, dxB), _mm512_mul_ps(bs, dyB));
            const __m512 vB = _mm512_add_ps(_mm512_mul_ps(_mm512_xor_ps(bs, sign), dxB), _mm512_mul_ps(bc, dyB));
            const __m512 denom = _mm512_mul_ps(lenA, lenB);
            __m512 c = _mm512_div_ps(_mm512_add_ps(_mm512_mul_ps(uA, uB), _mm512_mul_ps(vA, vB)), denom);
            c = _mm512_max_ps(_mm512_min_ps(c, one), minusOne);
            c = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(denom, _mm512_setzero_ps(), _CMP_GT_OQ), one, c);
            const __m512i word = _mm512_or_si512(
                _mm512_or_si512(_mm512_set1_epi32(r), _mm512_slli_epi32(k, 8)),
                _mm512_or_si512(_mm512_slli_epi32(d, 16), _mm512_slli_epi32(_mm512_cvttps_epi32(_mm512_mul_ps(d1, limit)), 24)));
            const __m512i cosine = _mm512_cvttps_epi32(_mm512_mul_ps(_mm512_add_ps(c, one), steps));
            _mm512_storeu_si512((void *)(words + count), _mm512_maskz_compress_epi32(live, word));
            _mm512_storeu_si512((void *)(cosines + count), _mm512_maskz_compress_epi32(live, cosine));
            count += __builtin_popcount(live);
        }
    }
    compatibility_finish(t, words, cosines, count, out, stride);
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

void tanba_compatibility_matrix(tanba_kernel_level level, const tanba_pairs *pairs,
                                const tanba_compatibility_tables *tables, float *out, int32_t row_stride,
                                int32_t *scratch) {
#if defined(__x86_64__)
    uint32_t *scratch_words = (uint32_t *)scratch;
    int32_t *scratch_cosines = scratch + (size_t)pairs->count * pairs->count / 2 + 16;
    if (level == TANBA_KERNEL_AVX512 || level == TANBA_KERNEL_AVX2) {
        // Unwritten entries (pairs failing the length test, the diagonal) are 0.
        for (int r = 0; r < pairs->count; r++) memset(out + (size_t)r * row_stride, 0, sizeof(float) * pairs->count);
        if (level == TANBA_KERNEL_AVX512) compatibility_avx512(pairs, tables, out, row_stride, scratch_words, scratch_cosines);
        else compatibility_avx2(pairs, tables, out, row_stride, scratch_words, scratch_cosines);
        return;
    }
#else
    (void)scratch;
#endif
    compatibility_portable(pairs, tables, out, row_stride);
}

void tanba_and_popcount_scan(tanba_kernel_level level, const uint64_t *probe, int32_t words,
                             const uint64_t *gallery, int64_t count, uint16_t *out) {
#if defined(__x86_64__)
    if (level == TANBA_KERNEL_AVX512) { scan_avx512(probe, words, gallery, count, out); return; }
    if (level == TANBA_KERNEL_AVX2) { scan_avx2(probe, words, gallery, count, out); return; }
#endif
    scan_portable(probe, words, gallery, count, out);
}
