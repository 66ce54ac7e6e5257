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
// MARK: AVX2 — no vector popcount instruction: counts by nibble lookup (VPSHUFB).

// |a_i ∧ b_j| for the eight cylinders j of one group, four per register: each byte of
// a ∧ b is counted as lut[low nibble] + lut[high nibble] (W words of ≤ 8 bits per byte:
// ≤ 8·W fits a byte for W ≤ 31), then VPSADBW sums each 64-bit lane's eight bytes.
// Integers: exact, whatever the order.
__attribute__((target("avx2")))
static inline __attribute__((always_inline)) __m256i group_popcounts_avx2(const uint64_t *ag, const uint64_t *bg, int W) {
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
    for (int w = 0; w < W; w++) {
        const __m256i av = _mm256_set1_epi64x((long long)ag[(size_t)w * 8]);
        const __m256i x0 = _mm256_and_si256(av, _mm256_loadu_si256((const __m256i *)(bg + w * 8)));
        const __m256i x1 = _mm256_and_si256(av, _mm256_loadu_si256((const __m256i *)(bg + w * 8 + 4)));
        lo = _mm256_add_epi8(lo, _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(x0, nibble)),
                                                 _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x0, 4), nibble))));
        hi = _mm256_add_epi8(hi, _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(x1, nibble)),
                                                 _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x1, 4), nibble))));
    }
    // Lanes 0–3 and 4–7 as 64-bit sums, then their low halves packed to 8 × int32 in order.
    const __m256i s0 = _mm256_sad_epu8(lo, _mm256_setzero_si256()), s1 = _mm256_sad_epu8(hi, _mm256_setzero_si256());
    const __m256i packed = _mm256_blend_epi32(s0, _mm256_slli_epi64(s1, 32), 0xAA);   // s0[0] s1[0] s0[1] s1[1] …
    return _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
}

__attribute__((target("avx2")))
static inline __attribute__((always_inline))
void similarity_avx2_words(const tanba_cylinders *a, const tanba_cylinders *b,
                           int32_t maxdd, float *out, int32_t stride, const int W) {
    const int groupsB = (b->count + 7) / 8;
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i vlimit = _mm256_set1_epi32(maxdd + 1);
    for (int i = 0; i < a->count; i++) {
        const uint64_t *ag = a->bits + (size_t)(i / 8) * W * 8 + (i % 8);
        const __m256 vra = _mm256_set1_ps(a->root_norms[i]), vna = _mm256_set1_ps(a->norms[i]);
        const __m256i vai = _mm256_set1_epi32(a->angles[i]);
        float *row = out + (size_t)i * stride;
        for (int g = 0; g < groupsB; g++) {
            const __m256i both = group_popcounts_avx2(ag, b->bits + (size_t)g * W * 8, W);
            __m256 vrb = _mm256_loadu_ps(b->root_norms + g * 8);
            __m256 denom = _mm256_add_ps(vra, vrb);
            __m256 diff = _mm256_sub_ps(_mm256_add_ps(vna, _mm256_loadu_ps(b->norms + g * 8)),
                                        _mm256_mul_ps(_mm256_set1_ps(2.0f), _mm256_cvtepi32_ps(both)));
            __m256 lam = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_sqrt_ps(diff), denom));
            // Angle gate, empty pairs and padding columns → 0.
            __m256i bang = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(b->angles + g * 8)));
            __m256i d = _mm256_and_si256(_mm256_sub_epi32(vai, bang), _mm256_set1_epi32(255));
            d = _mm256_min_epi32(d, _mm256_sub_epi32(_mm256_set1_epi32(256), d));
            __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(vlimit, d));
            keep = _mm256_and_ps(keep, _mm256_cmp_ps(denom, _mm256_setzero_ps(), _CMP_NEQ_OQ));
            keep = _mm256_and_ps(keep, _mm256_castsi256_ps(_mm256_cmpgt_epi32(
                _mm256_set1_epi32(b->count), _mm256_add_epi32(lanes, _mm256_set1_epi32(g * 8)))));
            _mm256_storeu_ps(row + g * 8, _mm256_and_ps(lam, keep));
        }
    }
}

__attribute__((target("avx2")))
static void similarity_avx2(const tanba_cylinders *a, const tanba_cylinders *b,
                            int32_t maxdd, float *out, int32_t stride) {
    // As for AVX-512: a constant word count for the default 8-word cylinders.
    if (a->words == 8) similarity_avx2_words(a, b, maxdd, out, stride, 8);
    else if (a->words <= 31) similarity_avx2_words(a, b, maxdd, out, stride, a->words);
    else similarity_portable(a, b, maxdd, out, stride);   // byte counters would overflow
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

// MARK: Candidate pairs

static int32_t collect_portable(const float *matrix, int rows, int stride, const float *maxima, float threshold,
                                float *values, int32_t *positions) {
    int32_t count = 0;
    for (int i = 0; i < rows; i++) {
        int any = 0;
        for (int l = 0; l < 8; l++) any |= maxima[i * 8 + l] >= threshold;
        if (!any) continue;
        const float *row = matrix + (size_t)i * stride;
        for (int j = 0; j < stride; j++) {
            // Written always, kept by advancing: no branch on the value.
            values[count] = row[j];
            positions[count] = i << 16 | j;
            count += row[j] >= threshold;
        }
    }
    return count;
}

#if defined(__x86_64__)
__attribute__((target("avx2")))
static int32_t collect_avx2(const float *matrix, int rows, int stride, const float *maxima, float threshold,
                            float *values, int32_t *positions) {
    const __m256 t = _mm256_set1_ps(threshold);
    int32_t count = 0;
    for (int i = 0; i < rows; i++) {
        if (!_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(maxima + i * 8), t, _CMP_GE_OQ))) continue;
        const float *row = matrix + (size_t)i * stride;
        for (int j = 0; j < stride; j += 8) {
            const int bits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(row + j), t, _CMP_GE_OQ));
            if (!bits) continue;   // most groups: one well-predicted branch
            for (int l = 0; l < 8; l++) {
                values[count] = row[j + l];
                positions[count] = i << 16 | (j + l);
                count += (bits >> l) & 1;
            }
        }
    }
    return count;
}

// Sixteen entries per step, packed by VPCOMPRESSD into a register and stored whole.
AVX512_TARGET
static int32_t collect_avx512(const float *matrix, int rows, int stride, const float *maxima, float threshold,
                              float *values, int32_t *positions) {
    const __m512 t = _mm512_set1_ps(threshold);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int32_t count = 0;
    for (int i = 0; i < rows; i++) {
        if (!_mm256_cmp_ps_mask(_mm256_loadu_ps(maxima + i * 8), _mm256_set1_ps(threshold), _CMP_GE_OQ)) continue;
        const float *row = matrix + (size_t)i * stride;
        const __m512i base = _mm512_add_epi32(lane, _mm512_set1_epi32(i << 16));
        for (int j = 0; j < stride; j += 16) {
            const __mmask16 inside = stride - j >= 16 ? 0xFFFF : 0x00FF;   // stride is a multiple of 8
            const __m512 v = _mm512_maskz_loadu_ps(inside, row + j);
            const __mmask16 hit = _mm512_cmp_ps_mask(v, t, _CMP_GE_OQ);
            _mm512_storeu_ps(values + count, _mm512_maskz_compress_ps(hit, v));
            _mm512_storeu_si512((void *)(positions + count),
                                _mm512_maskz_compress_epi32(hit, _mm512_add_epi32(base, _mm512_set1_epi32(j))));
            count += __builtin_popcount(hit);
        }
    }
    return count;
}
#endif

int32_t tanba_collect_candidates(tanba_kernel_level level, const float *matrix, int32_t rows, int32_t stride,
                                 const float *row_maxima, float threshold, float *values, int32_t *positions) {
#if defined(__x86_64__)
    if (level == TANBA_KERNEL_AVX512) return collect_avx512(matrix, rows, stride, row_maxima, threshold, values, positions);
    if (level == TANBA_KERNEL_AVX2) return collect_avx2(matrix, rows, stride, row_maxima, threshold, values, positions);
#endif
    return collect_portable(matrix, rows, stride, row_maxima, threshold, values, positions);
}

// MARK: Cylinders

// ⌈x⌉ and ⌊x⌋ for |x| < 2³¹, exactly, without libm (baseline x86-64 has no rounding
// instruction, and these run for every neighbour).
static inline int ceil_int(float x) { int t = (int)x; return (float)t < x ? t + 1 : t; }
static inline int floor_int(float x) { int t = (int)x; return (float)t > x ? t - 1 : t; }

// One minutia's cylinder sums, accumulated into acc (cell-major, `bins` per cell), from
// its neighbours in index order — the order of the reference, so the sums are the same
// floats. NB is the number of direction bins when it is a compile-time constant.
static inline __attribute__((always_inline))
void cylinder_sums_portable(const tanba_cylinder_geometry *g, const float *x, const float *y, const uint8_t *angle,
                            int m, const int32_t *neighbours, int count, float *acc, const int NB) {
    const float c = g->cosine[angle[m]], s = g->sine[angle[m]];
    const float cut = g->cut, cs = g->cell_size, half = g->half, cut2 = g->cut2, scale = g->spatial_scale;
    const int ns = g->spatial_cells;
    for (int q = 0; q < count; q++) {
        const int k = neighbours[q];
        const float dx = x[k] - x[m], dy = y[k] - y[m];
        const float u = c * dx + s * dy, v = -s * dx + c * dy;
        int i0 = ceil_int((u - cut) / cs + half), i1 = floor_int((u + cut) / cs + half);
        int j0 = ceil_int((v - cut) / cs + half), j1 = floor_int((v + cut) / cs + half);
        if (i0 < 1) i0 = 1;
        if (i1 > ns) i1 = ns;
        if (j0 < 1) j0 = 1;
        if (j1 > ns) j1 = ns;
        if (i0 > i1 || j0 > j1) continue;
        const float *w = g->directional + (uint8_t)(angle[k] - angle[m]) * NB;
        for (int j = j0; j <= j1; j++) {
            const int first = i0 > g->row_first[j] ? i0 : g->row_first[j];
            const int last = i1 < g->row_last[j] ? i1 : g->row_last[j];
            const float cy = g->centre[j] - v, cy2 = cy * cy;
            float *cell = acc + (size_t)(g->row_cell[j] + first - g->row_first[j]) * NB;
            for (int i = first; i <= last; i++, cell += NB) {
                const float cx = g->centre[i] - u;
                const float d2 = cx * cx + cy2;
                if (d2 > cut2) continue;
                const float gs = g->spatial[(int)(d2 * scale)];
                for (int b = 0; b < NB; b++) cell[b] += gs * w[b];
            }
        }
    }
}

static inline __attribute__((always_inline))
int32_t encode_cylinders_portable(const tanba_cylinder_geometry *g, const float *x, const float *y, const uint8_t *angle,
                                  int n, int32_t *kept, uint64_t *cylinders, float *scratch, const int NB) {
    const int bins = g->cells * NB, W = g->words;
    float *acc = scratch;
    int32_t *neighbours = (int32_t *)(scratch + bins);
    memset(acc, 0, sizeof(float) * bins);
    int32_t out = 0;
    for (int m = 0; m < n; m++) {
        int count = 0;
        for (int k = 0; k < n; k++) {
            const float dx = x[k] - x[m], dy = y[k] - y[m];
            neighbours[count] = k;
            count += (dx * dx + dy * dy <= g->reach2) & (k != m);
        }
        if (count < g->minimum_neighbours) continue;
        cylinder_sums_portable(g, x, y, angle, m, neighbours, count, acc, NB);
        uint64_t *cylinder = cylinders + (size_t)out * W;
        for (int w = 0; w < W; w++) cylinder[w] = 0;
        for (int b = 0; b < bins; b++) {
            cylinder[b >> 6] |= (uint64_t)(acc[b] >= g->threshold) << (b & 63);
            acc[b] = 0.0f;
        }
        kept[out++] = m;
    }
    return out;
}

#if defined(__x86_64__)
// The vector levels, for the default six direction bins. Per minutia:
//  1. neighbours within reach, eight candidates at a time, appended without branches;
//  2. per neighbour, its rotated position (u, v), the 3σS window of grid rows and columns
//     (exact ⌈⌉/⌊⌋ of the reference's quotients) and its direction row, eight neighbours
//     at a time, into small arrays;
//  3. per cell of each window (about eleven per neighbour), the squared distance, the
//     spatial weight — 0 past 3σS: adding 0 · w to a sum of non-negative terms changes no
//     bit, so there is no branch — and the six-bin multiply-add, straight-line;
//  4. the bins, compared with μψ eight or sixteen at a time, become the cylinder's bits,
//     and are cleared for the next minutia.
// Steps 1, 2 and 4 are exact lane by lane; step 3 adds to each sum in neighbour order.

#define CYLINDER_TARGET __attribute__((target("avx2")))

typedef struct {
    float *acc;                  // cells × 8 floats (six bins, two always 0), zero between minutiae
    int32_t *neighbours;         // n + 8
    float *u, *v;                // n + 8 each
    int32_t *i0, *i1, *j0, *j1, *row;
} cylinder_work;

static cylinder_work cylinder_work_in(float *scratch, int cells, int n) {
    cylinder_work w;
    // An even number of cells: the AVX-512 thresholding reads two at a time.
    const size_t padded = ((size_t)cells + 1) / 2 * 16, lane = ((size_t)n + 15) & ~(size_t)7;
    // Cache-line aligned, so that no cell straddles two lines.
    w.acc = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    scratch = w.acc;
    w.neighbours = (int32_t *)(scratch + padded);
    w.u = scratch + padded + lane;
    w.v = w.u + lane;
    w.i0 = (int32_t *)(w.v + lane); w.i1 = w.i0 + lane; w.j0 = w.i1 + lane; w.j1 = w.j0 + lane; w.row = w.j1 + lane;
    memset(w.acc, 0, sizeof(float) * padded);
    return w;
}

// Step 1. Returns the number of neighbours; the list is padded with m (a valid index).
CYLINDER_TARGET
static int cylinder_neighbours(const tanba_cylinder_geometry *g, const float *x, const float *y, int m, int n,
                               int32_t *neighbours) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 xm = _mm256_set1_ps(x[m]), ym = _mm256_set1_ps(y[m]), reach2 = _mm256_set1_ps(g->reach2);
    int count = 0;
    for (int k0 = 0; k0 < n; k0 += 8) {
        const __m256i k = _mm256_add_epi32(lane, _mm256_set1_epi32(k0));
        const __m256i valid = _mm256_andnot_si256(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(m)),
                                                  _mm256_cmpgt_epi32(_mm256_set1_epi32(n), k));
        const __m256 dx = _mm256_sub_ps(_mm256_maskload_ps(x + k0, valid), xm);
        const __m256 dy = _mm256_sub_ps(_mm256_maskload_ps(y + k0, valid), ym);
        const __m256 d2 = _mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_mul_ps(dy, dy));
        const int bits = _mm256_movemask_ps(_mm256_and_ps(_mm256_cmp_ps(d2, reach2, _CMP_LE_OQ), _mm256_castsi256_ps(valid)));
        for (int l = 0; l < 8; l++) { neighbours[count] = k0 + l; count += (bits >> l) & 1; }
    }
    for (int l = 0; l < 8; l++) neighbours[count + l] = m;
    return count;
}

// Step 2.
CYLINDER_TARGET
static void cylinder_windows(const tanba_cylinder_geometry *g, const float *x, const float *y, const uint8_t *angle,
                             int m, int count, cylinder_work *w) {
    const __m256 c = _mm256_set1_ps(g->cosine[angle[m]]), s = _mm256_set1_ps(g->sine[angle[m]]);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 xm = _mm256_set1_ps(x[m]), ym = _mm256_set1_ps(y[m]);
    const __m256 cut = _mm256_set1_ps(g->cut), cs = _mm256_set1_ps(g->cell_size), half = _mm256_set1_ps(g->half);
    const __m256i one = _mm256_set1_epi32(1), last = _mm256_set1_epi32(g->spatial_cells);
    const __m256i am = _mm256_set1_epi32(angle[m]), byte = _mm256_set1_epi32(255);
    for (int q = 0; q < count; q += 8) {
        const __m256i k = _mm256_loadu_si256((const __m256i *)(w->neighbours + q));
        const __m256 dx = _mm256_sub_ps(_mm256_i32gather_ps(x, k, 4), xm);
        const __m256 dy = _mm256_sub_ps(_mm256_i32gather_ps(y, k, 4), ym);
        const __m256 u = _mm256_add_ps(_mm256_mul_ps(c, dx), _mm256_mul_ps(s, dy));
        const __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_xor_ps(s, sign), dx), _mm256_mul_ps(c, dy));
        // ⌈x⌉ = t + (t < x), ⌊x⌋ = t − (t > x), t = x truncated: exact (a true compare is −1).
        #define CEIL(X) ({ __m256 x_ = (X); __m256i t_ = _mm256_cvttps_epi32(x_); \
            _mm256_sub_epi32(t_, _mm256_castps_si256(_mm256_cmp_ps(_mm256_cvtepi32_ps(t_), x_, _CMP_LT_OQ))); })
        #define FLOOR(X) ({ __m256 x_ = (X); __m256i t_ = _mm256_cvttps_epi32(x_); \
            _mm256_add_epi32(t_, _mm256_castps_si256(_mm256_cmp_ps(_mm256_cvtepi32_ps(t_), x_, _CMP_GT_OQ))); })
        _mm256_storeu_ps(w->u + q, u);
        _mm256_storeu_ps(w->v + q, v);
        _mm256_storeu_si256((__m256i *)(w->i0 + q), _mm256_max_epi32(one, CEIL(_mm256_add_ps(_mm256_div_ps(_mm256_sub_ps(u, cut), cs), half))));
        _mm256_storeu_si256((__m256i *)(w->i1 + q), _mm256_min_epi32(last, FLOOR(_mm256_add_ps(_mm256_div_ps(_mm256_add_ps(u, cut), cs), half))));
        _mm256_storeu_si256((__m256i *)(w->j0 + q), _mm256_max_epi32(one, CEIL(_mm256_add_ps(_mm256_div_ps(_mm256_sub_ps(v, cut), cs), half))));
        _mm256_storeu_si256((__m256i *)(w->j1 + q), _mm256_min_epi32(last, FLOOR(_mm256_add_ps(_mm256_div_ps(_mm256_add_ps(v, cut), cs), half))));
        #undef CEIL
        #undef FLOOR
        // (angle[k] − angle[m]) mod 256, as a row of the eight-float table. The byte
        // gather reads four bytes at angle + k: the Swift caller pads the array for it.
        const __m256i ak = _mm256_and_si256(_mm256_i32gather_epi32((const int *)angle, k, 1), byte);
        _mm256_storeu_si256((__m256i *)(w->row + q), _mm256_slli_epi32(_mm256_and_si256(_mm256_sub_epi32(ak, am), byte), 3));
    }
}

// Step 3 for one neighbour: each cell of its window gets gs times the six weights, one
// eight-float read-modify-write (cells are 32 bytes apart, so consecutive ones never
// overlap, which would stall store-to-load forwarding; the two spare lanes add 0 · 0).
#define CYLINDER_CELLS                                                                                \
    for (int j = w->j0[q]; j <= w->j1[q]; j++) {                                                      \
        const int first = w->i0[q] > g->row_first[j] ? w->i0[q] : g->row_first[j];                    \
        const int last = w->i1[q] < g->row_last[j] ? w->i1[q] : g->row_last[j];                       \
        const float cy = g->centre[j] - vq, cy2 = cy * cy;                                            \
        float *cell = w->acc + (size_t)(g->row_cell[j] + first - g->row_first[j]) * 8;                \
        for (int i = first; i <= last; i++, cell += 8) {                                              \
            const float cx = g->centre[i] - uq;                                                       \
            const float d2 = cx * cx + cy2;                                                           \
            const float near = g->spatial[(int)((d2 < cut2 ? d2 : cut2) * scale)];                    \
            const float gs = d2 > cut2 ? 0.0f : near;                                                 \
            _mm256_storeu_ps(cell, _mm256_add_ps(_mm256_loadu_ps(cell), _mm256_mul_ps(_mm256_set1_ps(gs), w8))); \
        }                                                                                             \
    }

// Step 4: six bits per cell, shifted into a register and stored a word at a time.
#define CYLINDER_BITS                                                                                 \
    {                                                                                                 \
        uint64_t *cylinder = cylinders + (size_t)out * W, word = 0;                                    \
        int fill = 0, next = 0;                                                                       \
        for (int c = 0; c < g->cells; c++) {                                                          \
            float *cell = w->acc + (size_t)c * 8;                                                     \
            const uint64_t bits = (uint64_t)(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(cell), threshold, _CMP_GE_OQ)) & 63); \
            _mm256_storeu_ps(cell, _mm256_setzero_ps());                                              \
            word |= bits << fill;                                                                     \
            fill += 6;                                                                                \
            if (fill >= 64) { cylinder[next++] = word; fill -= 64; word = bits >> (6 - fill); }       \
        }                                                                                             \
        if (fill > 0) cylinder[next++] = word;                                                        \
        while (next < W) cylinder[next++] = 0;                                                        \
    }

#define CYLINDER_ENCODE_BODY                                                                          \
    const int W = g->words;                                                                           \
    cylinder_work work = cylinder_work_in(scratch, g->cells, n), *w = &work;                          \
    const float cut2 = g->cut2, scale = g->spatial_scale;                                             \
    const __m256 threshold = _mm256_set1_ps(g->threshold);                                            \
    int32_t out = 0;                                                                                  \
    for (int m = 0; m < n; m++) {                                                                     \
        const int count = cylinder_neighbours(g, x, y, m, n, w->neighbours);                          \
        if (count < g->minimum_neighbours) continue;                                                  \
        cylinder_windows(g, x, y, angle, m, count, w);                                                \
        for (int q = 0; q < count; q++) {                                                             \
            const float uq = w->u[q], vq = w->v[q];                                                   \
            const __m256 w8 = _mm256_loadu_ps(g->directional8 + w->row[q]);                           \
            CYLINDER_CELLS                                                                            \
        }                                                                                             \
        CYLINDER_BITS                                                                                 \
        kept[out++] = m;                                                                              \
    }                                                                                                 \
    return out;

CYLINDER_TARGET
static int32_t encode_cylinders_avx2(const tanba_cylinder_geometry *g, const float *x, const float *y, const uint8_t *angle,
                                     int n, int32_t *kept, uint64_t *cylinders, float *scratch) {
    CYLINDER_ENCODE_BODY
}

// AVX-512: step 3 a whole window at a time. The window is at most 5 × 5 cells (2·3σS
// spans four cell widths): its 25 cells are lanes 0…24 of two vectors, row-major. Grid
// tables (centre offsets, the disc's row runs) have at most 16 entries and stay in
// registers, read by VPERMPS/VPERMD. Cells inside the disc, the window and 3σS are packed
// by VPCOMPRESSD (into a register; the memory form is microcoded on AMD) into one list
// for the whole minutia, neighbour by neighbour, as (cell, spatial-table index). One
// straight loop then adds gs · w to each listed cell, in list order — neighbour order for
// every cell, as in the reference.
AVX512_TARGET
static int32_t encode_cylinders_avx512(const tanba_cylinder_geometry *g, const float *x, const float *y, const uint8_t *angle,
                                       int n, int32_t *kept, uint64_t *cylinders, float *scratch) {
    // Grid tables must fit a register, entries a word: ≤ 15 grid rows, ≤ 128 cells, a
    // spatial table of ≤ 4096 entries. The default geometry is well inside.
    if (g->spatial_cells > 15 || g->cells > 128 || g->spatial_scale * g->cut2 > 4094.0f)
        return encode_cylinders_avx2(g, x, y, angle, n, kept, cylinders, scratch);
    const int W = g->words;
    cylinder_work work = cylinder_work_in(scratch, g->cells, n), *w = &work;
    // The list: up to 25 entries per neighbour (plus a vector's overrun), after the other arrays.
    int32_t *list = w->row + (((size_t)n + 15) & ~(size_t)7);
    const int ns = g->spatial_cells;
    __m512 centre = _mm512_setzero_ps();
    __m512i first = _mm512_set1_epi32(1), lastColumn = _mm512_setzero_si512(), rowCell = _mm512_setzero_si512();
    {
        float c16[16] = {0}; int32_t f16[16], l16[16], r16[16];
        for (int j = 0; j < 16; j++) { f16[j] = 1; l16[j] = 0; r16[j] = 0; }
        for (int j = 0; j <= ns; j++) { c16[j] = g->centre[j]; f16[j] = g->row_first[j]; l16[j] = g->row_last[j]; r16[j] = g->row_cell[j]; }
        centre = _mm512_loadu_ps(c16);
        first = _mm512_loadu_si512(f16); lastColumn = _mm512_loadu_si512(l16); rowCell = _mm512_loadu_si512(r16);
    }
    // Lane l of the window: row l / 5, column l % 5 (lanes 25…31 unused).
    const __m512i rowA = _mm512_setr_epi32(0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3);
    const __m512i colA = _mm512_setr_epi32(0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0);
    const __m512i rowB = _mm512_setr_epi32(3, 3, 3, 3, 4, 4, 4, 4, 4, 9, 9, 9, 9, 9, 9, 9);
    const __m512i colB = _mm512_setr_epi32(1, 2, 3, 4, 0, 1, 2, 3, 4, 9, 9, 9, 9, 9, 9, 9);
    const __m512 cut2 = _mm512_set1_ps(g->cut2), scale = _mm512_set1_ps(g->spatial_scale);
    const __m512 threshold = _mm512_set1_ps(g->threshold);
    int32_t out = 0;
    for (int m = 0; m < n; m++) {
        const int count = cylinder_neighbours(g, x, y, m, n, w->neighbours);
        if (count < g->minimum_neighbours) continue;
        cylinder_windows(g, x, y, angle, m, count, w);
        int entries = 0;
        for (int q = 0; q < count; q++) {
            const __m512 u = _mm512_set1_ps(w->u[q]), v = _mm512_set1_ps(w->v[q]);
            const __m512i i0 = _mm512_set1_epi32(w->i0[q]), i1 = _mm512_set1_epi32(w->i1[q]);
            const __m512i j0 = _mm512_set1_epi32(w->j0[q]), j1 = _mm512_set1_epi32(w->j1[q]);
            const __m512i direction = _mm512_set1_epi32((w->row[q] >> 3) << 19);
            #define WINDOW_HALF(ROWS, COLS) do {                                                                      \
                const __m512i j = _mm512_add_epi32(j0, ROWS), i = _mm512_add_epi32(i0, COLS);                          \
                const __m512i fj = _mm512_permutexvar_epi32(j, first), lj = _mm512_permutexvar_epi32(j, lastColumn);   \
                __mmask16 in = _mm512_cmple_epi32_mask(j, j1) & _mm512_cmple_epi32_mask(i, i1)                         \
                             & _mm512_cmpge_epi32_mask(i, fj) & _mm512_cmple_epi32_mask(i, lj);                         \
                const __m512 cx = _mm512_sub_ps(_mm512_permutexvar_ps(i, centre), u);                                  \
                const __m512 cy = _mm512_sub_ps(_mm512_permutexvar_ps(j, centre), v);                                  \
                const __m512 d2 = _mm512_add_ps(_mm512_mul_ps(cx, cx), _mm512_mul_ps(cy, cy));                         \
                in &= _mm512_cmp_ps_mask(d2, cut2, _CMP_LE_OQ);                                                        \
                const __m512i cell = _mm512_add_epi32(_mm512_permutexvar_epi32(j, rowCell), _mm512_sub_epi32(i, fj));  \
                const __m512i index = _mm512_cvttps_epi32(_mm512_mul_ps(_mm512_min_ps(d2, cut2), scale));              \
                /* One word per entry: cell | spatial index << 7 | direction << 19 (27 bits). */                       \
                const __m512i entry = _mm512_or_si512(_mm512_or_si512(cell, _mm512_slli_epi32(index, 7)), direction);  \
                _mm512_storeu_si512((void *)(list + entries), _mm512_maskz_compress_epi32(in, entry));                 \
                entries += __builtin_popcount(in);                                                                     \
            } while (0)
            WINDOW_HALF(rowA, colA);
            if (w->j1[q] - w->j0[q] >= 3) WINDOW_HALF(rowB, colB);   // rows 3 and 4 of the window
            #undef WINDOW_HALF
        }
        #pragma clang loop unroll_count(2)
        for (int e = 0; e < entries; e++) {
            const uint32_t entry = (uint32_t)list[e];
            float *cell = w->acc + (size_t)(entry & 127) * 8;
            const __m256 gs = _mm256_broadcast_ss(g->spatial + ((entry >> 7) & 4095));
            _mm256_store_ps(cell, _mm256_add_ps(_mm256_load_ps(cell), _mm256_mul_ps(gs, _mm256_loadu_ps(g->directional8 + (entry >> 19) * 8))));
        }
        // Two cells (sixteen lanes, six of each used) per comparison: twelve bits.
        uint64_t *cylinder = cylinders + (size_t)out * W, word = 0;
        int fill = 0, next = 0;
        for (int c = 0; c < g->cells; c += 2) {
            float *pair = w->acc + (size_t)c * 8;
            const uint32_t mask = _mm512_cmp_ps_mask(_mm512_load_ps(pair), threshold, _CMP_GE_OQ);
            _mm512_store_ps(pair, _mm512_setzero_ps());
            const int width = c + 1 < g->cells ? 12 : 6;
            const uint64_t bits = (mask & 0x3F) | ((mask >> 2) & 0xFC0);
            word |= bits << fill;
            fill += width;
            if (fill >= 64) { cylinder[next++] = word; fill -= 64; word = fill ? bits >> (width - fill) : 0; }
        }
        if (fill > 0) cylinder[next++] = word;
        while (next < W) cylinder[next++] = 0;
        kept[out++] = m;
    }
    return out;
}
#endif

int32_t tanba_encode_cylinders(tanba_kernel_level level, const tanba_cylinder_geometry *geometry,
                               const float *x, const float *y, const uint8_t *angle, int32_t count,
                               int32_t *kept, uint64_t *cylinders, float *scratch) {
#if defined(__x86_64__)
    if (geometry->direction_bins == 6 && level == TANBA_KERNEL_AVX512)
        return encode_cylinders_avx512(geometry, x, y, angle, count, kept, cylinders, scratch);
    if (geometry->direction_bins == 6 && level == TANBA_KERNEL_AVX2)
        return encode_cylinders_avx2(geometry, x, y, angle, count, kept, cylinders, scratch);
#else
    (void)level;
#endif
    // The default geometry has six direction bins: a constant lets the compiler unroll them.
    if (geometry->direction_bins == 6)
        return encode_cylinders_portable(geometry, x, y, angle, count, kept, cylinders, scratch, 6);
    return encode_cylinders_portable(geometry, x, y, angle, count, kept, cylinders, scratch, geometry->direction_bins);
}

void tanba_and_popcount_scan(tanba_kernel_level level, const uint64_t *probe, int32_t words,
                             const uint64_t *gallery, int64_t count, uint16_t *out) {
#if defined(__x86_64__)
    if (level == TANBA_KERNEL_AVX512) { scan_avx512(probe, words, gallery, count, out); return; }
    if (level == TANBA_KERNEL_AVX2) { scan_avx2(probe, words, gallery, count, out); return; }
#endif
    scan_portable(probe, words, gallery, count, out);
}
