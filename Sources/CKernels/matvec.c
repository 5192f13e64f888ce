#include "internal.h"

// Portable path: widen one element at a time.
#define DEFINE_MATVEC_PORTABLE(NAME, T, WIDEN)                                                    \
    static void NAME(const T *w, size_t ldw, size_t k, const float *x, size_t ldx, size_t nvec,   \
                     float *y, size_t ldy, size_t r0, size_t r1, int accumulate) {                \
        for (size_t r = r0; r < r1; r++) {                                                        \
            const T *row = w + r * ldw;                                                           \
            for (size_t v = 0; v < nvec; v++) {                                                   \
                const float *xv = x + v * ldx;                                                    \
                float s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                             \
                size_t c = 0;                                                                     \
                for (; c + 4 <= k; c += 4) {                                                      \
                    s0 += WIDEN(row[c]) * xv[c];                                                  \
                    s1 += WIDEN(row[c + 1]) * xv[c + 1];                                          \
                    s2 += WIDEN(row[c + 2]) * xv[c + 2];                                          \
                    s3 += WIDEN(row[c + 3]) * xv[c + 3];                                          \
                }                                                                                 \
                for (; c < k; c++) s0 += WIDEN(row[c]) * xv[c];                                   \
                float s = (s0 + s1) + (s2 + s3);                                                  \
                float *out = y + v * ldy + r;                                                     \
                *out = accumulate ? *out + s : s;                                                 \
            }                                                                                     \
        }                                                                                         \
    }

#define WIDEN_F32(v) (v)
DEFINE_MATVEC_PORTABLE(matvec_f32_portable, float, WIDEN_F32)
DEFINE_MATVEC_PORTABLE(matvec_f16_portable, uint16_t, ck_f16_to_f32_scalar)
DEFINE_MATVEC_PORTABLE(matvec_bf16_portable, uint16_t, ck_bf16_to_f32_scalar)

#if CK_X86
// AVX2 path: 8 weights per load, widened in registers. One vector uses four accumulators to
// hide FMA latency; four vectors share each weight load (batched decode).
#define DEFINE_MATVEC_AVX2(NAME, T, LOAD8, WIDEN)                                                 \
    CK_AVX2 static void NAME(const T *w, size_t ldw, size_t k, const float *x, size_t ldx,        \
                             size_t nvec, float *y, size_t ldy, size_t r0, size_t r1,             \
                             int accumulate) {                                                    \
        for (size_t r = r0; r < r1; r++) {                                                        \
            const T *row = w + r * ldw;                                                           \
            size_t v = 0;                                                                         \
            for (; v + 4 <= nvec; v += 4) {                                                       \
                const float *x0 = x + v * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;    \
                __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                       \
                size_t c = 0;                                                                     \
                for (; c + 8 <= k; c += 8) {                                                      \
                    __m256 wv = LOAD8(row + c);                                                   \
                    a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x0 + c), a0);                        \
                    a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x1 + c), a1);                        \
                    a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x2 + c), a2);                        \
                    a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x3 + c), a3);                        \
                }                                                                                 \
                float s[4] = {ck_hsum256(a0), ck_hsum256(a1), ck_hsum256(a2), ck_hsum256(a3)};    \
                for (; c < k; c++) {                                                              \
                    float wc = WIDEN(row[c]);                                                     \
                    s[0] += wc * x0[c];                                                           \
                    s[1] += wc * x1[c];                                                           \
                    s[2] += wc * x2[c];                                                           \
                    s[3] += wc * x3[c];                                                           \
                }                                                                                 \
                for (int j = 0; j < 4; j++) {                                                     \
                    float *out = y + (v + j) * ldy + r;                                           \
                    *out = accumulate ? *out + s[j] : s[j];                                       \
                }                                                                                 \
            }                                                                                     \
            for (; v < nvec; v++) {                                                               \
                const float *xv = x + v * ldx;                                                    \
                __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                       \
                size_t c = 0;                                                                     \
                for (; c + 32 <= k; c += 32) {                                                    \
                    a0 = _mm256_fmadd_ps(LOAD8(row + c), _mm256_loadu_ps(xv + c), a0);            \
                    a1 = _mm256_fmadd_ps(LOAD8(row + c + 8), _mm256_loadu_ps(xv + c + 8), a1);    \
                    a2 = _mm256_fmadd_ps(LOAD8(row + c + 16), _mm256_loadu_ps(xv + c + 16), a2);  \
                    a3 = _mm256_fmadd_ps(LOAD8(row + c + 24), _mm256_loadu_ps(xv + c + 24), a3);  \
                }                                                                                 \
                for (; c + 8 <= k; c += 8)                                                        \
                    a0 = _mm256_fmadd_ps(LOAD8(row + c), _mm256_loadu_ps(xv + c), a0);            \
                float s = ck_hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))); \
                for (; c < k; c++) s += WIDEN(row[c]) * xv[c];                                    \
                float *out = y + v * ldy + r;                                                     \
                *out = accumulate ? *out + s : s;                                                 \
            }                                                                                     \
        }                                                                                         \
    }

#define LOAD8_F32(p) _mm256_loadu_ps(p)
DEFINE_MATVEC_AVX2(matvec_f32_avx2, float, LOAD8_F32, WIDEN_F32)
DEFINE_MATVEC_AVX2(matvec_f16_avx2, uint16_t, ck_load8_f16, ck_f16_to_f32_scalar)
DEFINE_MATVEC_AVX2(matvec_bf16_avx2, uint16_t, ck_load8_bf16, ck_bf16_to_f32_scalar)
#endif

void ck_matvec(ck_dtype dtype, const void *w, size_t ldw, size_t k, const float *x, size_t ldx, size_t nvec,
               float *y, size_t ldy, size_t row_begin, size_t row_end, int accumulate) {
#if CK_X86
    if (ck_use_simd()) {
        switch (dtype) {
        case CK_F32: matvec_f32_avx2(w, ldw, k, x, ldx, nvec, y, ldy, row_begin, row_end, accumulate); return;
        case CK_F16: matvec_f16_avx2(w, ldw, k, x, ldx, nvec, y, ldy, row_begin, row_end, accumulate); return;
        case CK_BF16: matvec_bf16_avx2(w, ldw, k, x, ldx, nvec, y, ldy, row_begin, row_end, accumulate); return;
        }
    }
#endif
    switch (dtype) {
    case CK_F32: matvec_f32_portable(w, ldw, k, x, ldx, nvec, y, ldy, row_begin, row_end, accumulate); return;
    case CK_F16: matvec_f16_portable(w, ldw, k, x, ldx, nvec, y, ldy, row_begin, row_end, accumulate); return;
    case CK_BF16: matvec_bf16_portable(w, ldw, k, x, ldx, nvec, y, ldy, row_begin, row_end, accumulate); return;
    }
}

typedef struct {
    ck_dtype dtype;
    const void *w;
    size_t ldw, rows, k;
    const float *x;
    size_t ldx, nvec;
    float *y;
    size_t ldy;
    int accumulate;
} matvec_job;

static void matvec_task(void *context, int index, int count) {
    const matvec_job *j = context;
    // Chunk boundaries on multiples of 8 rows keep each thread's output in its own cache lines.
    size_t blocks = (j->rows + 7) / 8;
    size_t begin = blocks * (size_t)index / (size_t)count * 8;
    size_t end = blocks * (size_t)(index + 1) / (size_t)count * 8;
    if (end > j->rows) end = j->rows;
    if (begin < end) ck_matvec(j->dtype, j->w, j->ldw, j->k, j->x, j->ldx, j->nvec, j->y, j->ldy, begin, end, j->accumulate);
}

void ck_matvec_parallel(ck_dtype dtype, const void *w, size_t ldw, size_t rows, size_t k, const float *x, size_t ldx,
                        size_t nvec, float *y, size_t ldy, int accumulate) {
    if (dtype > CK_BF16) {
        // Quantized rows are read whole (ldw == k): the integer kernels.
        ck_qmatmul_parallel(dtype, w, NULL, rows, k, x, ldx, nvec, y, ldy, accumulate);
        return;
    }
    matvec_job job = {dtype, w, ldw, rows, k, x, ldx, nvec, y, ldy, accumulate};
    size_t work = rows * k * (nvec ? nvec : 1);
    // Several tasks per thread, claimed dynamically, so one descheduled thread cannot stall the
    // job; below ~32K multiply-adds a second thread costs more than it saves.
    int tasks = ck_pool_threads() * 4;
    if ((size_t)tasks > rows / 8) tasks = (int)(rows / 8);
    if (work < 32768 || tasks < 1) tasks = 1;
    ck_parallel_for(matvec_task, &job, tasks);
}

typedef struct {
    const ck_matvec_item *items;
    int count;
    size_t nvec, blocks;
} group_job;

static void group_task(void *context, int index, int count) {
    const group_job *j = context;
    // The task's share of all 8-row blocks, mapped onto the items it overlaps.
    size_t begin = j->blocks * (size_t)index / (size_t)count;
    size_t end = j->blocks * (size_t)(index + 1) / (size_t)count;
    size_t first_block = 0;
    for (int i = 0; i < j->count && begin < end; i++) {
        const ck_matvec_item *it = &j->items[i];
        size_t item_blocks = (it->rows + 7) / 8;
        size_t lo = begin > first_block ? begin - first_block : 0;
        size_t hi = end - first_block < item_blocks ? end - first_block : item_blocks;
        if (end > first_block && lo < hi) {
            size_t r1 = hi * 8 < it->rows ? hi * 8 : it->rows;
            ck_matvec(it->dtype, it->w, it->k, it->k, it->x, it->k, j->nvec, it->y, it->rows, lo * 8, r1, it->accumulate);
        }
        first_block += item_blocks;
    }
}

void ck_matvec_group_parallel(const ck_matvec_item *items, int count, size_t nvec) {
    size_t blocks = 0;
    for (int i = 0; i < count; i++) blocks += (items[i].rows + 7) / 8;
    group_job job = {items, count, nvec, blocks};
    int tasks = ck_pool_threads() * 4;
    if ((size_t)tasks > blocks) tasks = blocks ? (int)blocks : 1;
    ck_parallel_for(group_task, &job, tasks);
}
