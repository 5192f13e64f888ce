#include "internal.h"
#include <string.h>

// C[m × (begin ..< end)] (+)= A[m × k] · B + bias, with B packed once per weight in panels of 16
// columns (k × 16 floats each), so a register tile streams its B operand sequentially and no call
// packs anything. Goto & van de Geijn's loop order ("Anatomy of High-Performance Matrix
// Multiplication", 2008) without packing A: a block of GEMM_MC rows and GEMM_KC inner indices of A
// stays in L2 while every pair of panels runs over it, a pair's GEMM_KC × 32 slice stays in L1
// across the block's row tiles. Each output element accumulates over k in the same order however the
// rows are tiled or blocked, so a row's result does not depend on how many rows share the call.

#ifndef GEMM_KC
#define GEMM_KC 512
#endif
#ifndef GEMM_MC
#define GEMM_MC 192
#endif
enum { GEMM_AHEAD = 32 };

size_t ck_gemm_packed_count(size_t n, size_t k) { return k * ((n + 15) / 16 * 16); }

void ck_gemm_pack(const float *w, size_t n, size_t k, float *packed) {
    memset(packed, 0, ck_gemm_packed_count(n, k) * sizeof(float));  // the last panel's columns past n
    for (size_t o = 0; o < n; o++)
        for (size_t i = 0; i < k; i++) packed[(o / 16 * k + i) * 16 + o % 16] = w[o * k + i];
}

// One register tile: `rows` rows × 16 or 32 (`two`) columns over kc inner indices. The first chunk
// (`first`) starts from C when accumulating, else from zero, plus the bias; later chunks from C.
static inline __attribute__((always_inline)) void gemm_tile(
    const float *a, size_t lda, const float *b0, const float *b1, size_t kc, float *c, size_t ldc, size_t n0,
    size_t n1, const float *bias, int from_c, const int rows, const int two) {
    ck_v16 acc[12][2], shift0 = {0}, shift1 = {0};
    if (bias) {
        shift0 = ck_load16(bias, n0);
        if (two) shift1 = ck_load16(bias + 16, n1);
    }
    for (int r = 0; r < rows; r++) {
        acc[r][0] = from_c ? ck_load16(c + r * ldc, n0) : (ck_v16){0};
        acc[r][1] = two && from_c ? ck_load16(c + r * ldc + 16, n1) : (ck_v16){0};
        if (bias) {
            acc[r][0] += shift0;
            if (two) acc[r][1] += shift1;
        }
    }
    for (size_t k = 0; k < kc; k++) {
        ck_v16 x0, x1 = {0};
        __builtin_prefetch(b0 + (k + GEMM_AHEAD) * 16);
        if (two) __builtin_prefetch(b1 + (k + GEMM_AHEAD) * 16);
        __builtin_memcpy(&x0, b0 + k * 16, 64);
        if (two) __builtin_memcpy(&x1, b1 + k * 16, 64);
        for (int r = 0; r < rows; r++) {
            const float s = a[r * lda + k];
            acc[r][0] += s * x0;
            if (two) acc[r][1] += s * x1;
        }
    }
    for (int r = 0; r < rows; r++) {
        ck_store16(c + r * ldc, acc[r][0], n0);
        if (two) ck_store16(c + r * ldc + 16, acc[r][1], n1);
    }
}

#define GEMM_TILE(rows) \
    (n1 ? gemm_tile(a + i * lda + kk, lda, b0, b1, kc, c + i * ldc + n, ldc, n0, n1, shift, from_c, rows, 1) \
        : gemm_tile(a + i * lda + kk, lda, b0, b1, kc, c + i * ldc + n, ldc, n0, n1, shift, from_c, rows, 0))

// The body, for one instruction set: tiles of `mr` rows (as many as its vector registers hold), then
// of `tail` rows, then single rows.
#define CK_GEMM_PACKED(name, target, mr, tail)                                                                    \
    target static void name(const float *a, size_t m, size_t k, size_t lda, const float *b, size_t begin, size_t end, \
                            const float *bias, float *c, size_t ldc, int accumulate) {                          \
        for (size_t i0 = 0; i0 < m; i0 += GEMM_MC) {                                                            \
            const size_t i1 = m - i0 < GEMM_MC ? m : i0 + GEMM_MC;                                               \
            for (size_t kk = 0; kk < k || kk == 0; kk += GEMM_KC) {                                              \
                const size_t kc = k - kk < GEMM_KC ? k - kk : GEMM_KC;                                           \
                const int from_c = kk > 0 || accumulate;                                                        \
                for (size_t n = begin; n < end; n += 32) {                                                      \
                    const size_t n0 = end - n < 16 ? end - n : 16;                                               \
                    const size_t n1 = end - n <= 16 ? 0 : end - n - 16 < 16 ? end - n - 16 : 16;                  \
                    const float *b0 = b + (n / 16 * k + kk) * 16, *b1 = b0 + k * 16;                              \
                    const float *shift = kk == 0 && bias ? bias + n : NULL;                                      \
                    size_t i = i0;                                                                              \
                    for (; i + mr <= i1; i += mr) GEMM_TILE(mr);                                                \
                    for (; i + tail <= i1; i += tail) GEMM_TILE(tail);                                          \
                    for (; i < i1; i++) GEMM_TILE(1);                                                           \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
    }

#if CK_X86
CK_GEMM_PACKED(gemm_packed_avx512, CK_AVX512VNNI, 12, 4)
CK_GEMM_PACKED(gemm_packed_avx2, CK_AVX2, 3, 1)
#endif
CK_GEMM_PACKED(gemm_packed_portable, , 2, 1)

void ck_gemm_packed(const float *a, size_t m, size_t k, size_t lda, const float *b, size_t begin, size_t end,
                    const float *bias, float *c, size_t ldc, int accumulate) {
#if CK_X86
    const int level = ck_simd_level();
    if (level >= 2) { gemm_packed_avx512(a, m, k, lda, b, begin, end, bias, c, ldc, accumulate); return; }
    if (level >= 1) { gemm_packed_avx2(a, m, k, lda, b, begin, end, bias, c, ldc, accumulate); return; }
#endif
    gemm_packed_portable(a, m, k, lda, b, begin, end, bias, c, ldc, accumulate);
}
