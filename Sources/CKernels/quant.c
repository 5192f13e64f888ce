// GGUF quantized weights: block sizes, dequantization, reference quantization (Q8_0, Q4_0), and
// the matrix product that quantizes activations to 8-bit blocks and runs integer dot products on
// the weight blocks directly, as llama.cpp's CPU backend does. Layouts and rounding follow
// ggml-quants.c; the SIMD dot products are in quant_dot.h (AVX2 and AVX-512 VNNI builds).
#include "quant.h"
#include <stdlib.h>
#include <string.h>

size_t ck_block_elements(ck_dtype dtype) {
    switch (dtype) {
    case CK_F32: case CK_F16: case CK_BF16: return 1;
    case CK_Q8_0: case CK_Q4_0: case CK_Q4_1: return QK32;
    case CK_Q4_K: case CK_Q5_K: case CK_Q6_K: return QK256;
    }
    return 1;
}

size_t ck_block_bytes(ck_dtype dtype) {
    switch (dtype) {
    case CK_F32: return 4;
    case CK_F16: case CK_BF16: return 2;
    case CK_Q8_0: return sizeof(blk_q8_0);
    case CK_Q4_0: return sizeof(blk_q4_0);
    case CK_Q4_1: return sizeof(blk_q4_1);
    case CK_Q4_K: return sizeof(blk_q4_K);
    case CK_Q5_K: return sizeof(blk_q5_K);
    case CK_Q6_K: return sizeof(blk_q6_K);
    }
    return 4;
}

static inline float h2f(uint16_t h) { return ck_f16_to_f32_scalar(h); }

// MARK: Dequantization (ggml's dequantize_row_*)

void ck_dequantize_row(ck_dtype dtype, const void *src, float *y, size_t n) {
    switch (dtype) {
    case CK_Q8_0:
        for (size_t i = 0; i < n / QK32; i++) {
            const blk_q8_0 *b = (const blk_q8_0 *)src + i;
            float d = h2f(b->d);
            for (int j = 0; j < 32; j++) y[i * 32 + j] = b->qs[j] * d;
        }
        return;
    case CK_Q4_0:
        for (size_t i = 0; i < n / QK32; i++) {
            const blk_q4_0 *b = (const blk_q4_0 *)src + i;
            float d = h2f(b->d);
            for (int j = 0; j < 16; j++) {
                y[i * 32 + j] = ((b->qs[j] & 0xF) - 8) * d;
                y[i * 32 + j + 16] = ((b->qs[j] >> 4) - 8) * d;
            }
        }
        return;
    case CK_Q4_1:
        for (size_t i = 0; i < n / QK32; i++) {
            const blk_q4_1 *b = (const blk_q4_1 *)src + i;
            float d = h2f(b->d), m = h2f(b->m);
            for (int j = 0; j < 16; j++) {
                y[i * 32 + j] = (b->qs[j] & 0xF) * d + m;
                y[i * 32 + j + 16] = (b->qs[j] >> 4) * d + m;
            }
        }
        return;
    case CK_Q4_K:
        for (size_t i = 0; i < n / QK256; i++) {
            const blk_q4_K *b = (const blk_q4_K *)src + i;
            const uint8_t *q = b->qs;
            float d = h2f(b->d), dmin = h2f(b->dmin);
            float *out = y + i * 256;
            for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
                uint8_t sc, m;
                k_scale_min(is, b->scales, &sc, &m);
                float d1 = d * sc, m1 = dmin * m;
                k_scale_min(is + 1, b->scales, &sc, &m);
                float d2 = d * sc, m2 = dmin * m;
                for (int l = 0; l < 32; l++) *out++ = d1 * (q[l] & 0xF) - m1;
                for (int l = 0; l < 32; l++) *out++ = d2 * (q[l] >> 4) - m2;
            }
        }
        return;
    case CK_Q5_K:
        for (size_t i = 0; i < n / QK256; i++) {
            const blk_q5_K *b = (const blk_q5_K *)src + i;
            const uint8_t *ql = b->qs, *qh = b->qh;
            float d = h2f(b->d), dmin = h2f(b->dmin);
            float *out = y + i * 256;
            uint8_t u1 = 1, u2 = 2;
            for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
                uint8_t sc, m;
                k_scale_min(is, b->scales, &sc, &m);
                float d1 = d * sc, m1 = dmin * m;
                k_scale_min(is + 1, b->scales, &sc, &m);
                float d2 = d * sc, m2 = dmin * m;
                for (int l = 0; l < 32; l++) *out++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
                for (int l = 0; l < 32; l++) *out++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            }
        }
        return;
    case CK_Q6_K:
        for (size_t i = 0; i < n / QK256; i++) {
            const blk_q6_K *b = (const blk_q6_K *)src + i;
            const uint8_t *ql = b->ql, *qh = b->qh;
            const int8_t *sc = b->scales;
            float d = h2f(b->d);
            float *out = y + i * 256;
            for (int half = 0; half < 2; half++, out += 128, ql += 64, qh += 32, sc += 8) {
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    int q1 = (int)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    out[l] = d * sc[is] * q1;
                    out[l + 32] = d * sc[is + 2] * q2;
                    out[l + 64] = d * sc[is + 4] * q3;
                    out[l + 96] = d * sc[is + 6] * q4;
                }
            }
        }
        return;
    default:
        return;
    }
}

// MARK: Reference quantization of weights (ggml's quantize_row_q8_0_ref / q4_0_ref)

void ck_quantize_row(ck_dtype dtype, const float *x, void *dst, size_t n) {
    for (size_t i = 0; i < n / QK32; i++, x += 32) {
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++) {
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        }
        if (dtype == CK_Q8_0) {
            blk_q8_0 *b = (blk_q8_0 *)dst + i;
            // 127/amax, not 1/d: ggml's SIMD quantize_row_q8_0/q8_1, which its CPU matmuls run.
        float d = amax / 127, id = amax ? 127.f / amax : 0.0f;
            b->d = ck_f32_to_f16_scalar(d);
            for (int j = 0; j < 32; j++) b->qs[j] = (int8_t)roundf(x[j] * id);
        } else {
            blk_q4_0 *b = (blk_q4_0 *)dst + i;
            float d = max / -8, id = d ? 1.0f / d : 0.0f;
            b->d = ck_f32_to_f16_scalar(d);
            for (int j = 0; j < 16; j++) {
                int lo = (int8_t)(x[j] * id + 8.5f), hi = (int8_t)(x[j + 16] * id + 8.5f);
                b->qs[j] = (uint8_t)((lo < 15 ? lo : 15) | (hi < 15 ? hi : 15) << 4);
            }
        }
    }
}

// MARK: Activation quantization

/// ggml's nearest_int: round half to even for |x| < 2^22.
static inline int nearest_int(float v) {
    float shifted = v + 12582912.f;
    int32_t bits;
    memcpy(&bits, &shifted, 4);
    return (bits & 0x007fffff) - 0x00400000;
}

static void quantize_act_32(const float *x, act_q8_32 *y, size_t n) {
    for (size_t i = 0; i < n / QK32; i++, x += 32) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        // 127/amax, not 1/d: ggml's SIMD quantize_row_q8_0/q8_1, which its CPU matmuls run.
        float d = amax / 127, id = amax ? 127.f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            y[i].qs[j] = (int8_t)nearest_int(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].d = h2f(ck_f32_to_f16_scalar(d));
        y[i].s = h2f(ck_f32_to_f16_scalar(d * (float)sum));
        y[i].sum = sum;
    }
}

static void quantize_act_256(const float *x, act_q8_256 *y, size_t n) {
    for (size_t i = 0; i < n / QK256; i++, x += 256) {
        float max = 0, amax = 0;
        for (int j = 0; j < 256; j++) {
            if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
        }
        if (!amax) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -127.f / max;
        for (int j = 0; j < 256; j++) {
            int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[j * 16 + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

static int is_k_quant(ck_dtype dtype) { return dtype == CK_Q4_K || dtype == CK_Q5_K || dtype == CK_Q6_K; }

/// Bytes of quantized activations for one row of k floats.
static size_t act_row_bytes(ck_dtype dtype, size_t k) {
    return is_k_quant(dtype) ? k / QK256 * sizeof(act_q8_256) : k / QK32 * sizeof(act_q8_32);
}

static void quantize_act(ck_dtype dtype, const float *x, void *act, size_t k) {
    if (is_k_quant(dtype)) quantize_act_256(x, act, k);
    else quantize_act_32(x, act, k);
}

// MARK: Portable dot products (ggml's generic vec_dot_*)

static float dot_q8_0(size_t n, const void *w, const void *act) {
    const blk_q8_0 *x = w;
    const act_q8_32 *y = act;
    float sum = 0;
    for (size_t i = 0; i < n / QK32; i++) {
        int s = 0;
        for (int j = 0; j < 32; j++) s += x[i].qs[j] * y[i].qs[j];
        sum += s * (h2f(x[i].d) * y[i].d);
    }
    return sum;
}

static float dot_q4_0(size_t n, const void *w, const void *act) {
    const blk_q4_0 *x = w;
    const act_q8_32 *y = act;
    float sum = 0;
    for (size_t i = 0; i < n / QK32; i++) {
        int s = 0;
        for (int j = 0; j < 16; j++) s += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        sum += s * (h2f(x[i].d) * y[i].d);
    }
    return sum;
}

static float dot_q4_1(size_t n, const void *w, const void *act) {
    const blk_q4_1 *x = w;
    const act_q8_32 *y = act;
    float sum = 0;
    for (size_t i = 0; i < n / QK32; i++) {
        int s = 0;
        for (int j = 0; j < 16; j++) s += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        sum += s * (h2f(x[i].d) * y[i].d) + h2f(x[i].m) * y[i].s;
    }
    return sum;
}

/// One Q4_K or Q5_K super-block against its 8-bit activations; `qh` is the fifth bit plane (Q5_K) or NULL.
static inline float dot_k_superblock(uint16_t d, uint16_t dmin, const uint8_t *scales, const uint8_t *qh,
                                     const uint8_t *q, const act_q8_256 *y) {
    const int8_t *a = y->qs;
    int sumi = 0, mins = 0;
    for (int j = 0; j < 4; j++, q += 32, a += 64) {
        uint8_t sc0, m0, sc1, m1;
        k_scale_min(2 * j, scales, &sc0, &m0);
        k_scale_min(2 * j + 1, scales, &sc1, &m1);
        int s0 = 0, s1 = 0;
        for (int l = 0; l < 32; l++) {
            int hi0 = qh ? ((qh[l] >> (2 * j)) & 1) * 16 : 0;
            int hi1 = qh ? ((qh[l] >> (2 * j + 1)) & 1) * 16 : 0;
            s0 += ((q[l] & 0xF) + hi0) * a[l];
            s1 += ((q[l] >> 4) + hi1) * a[l + 32];
        }
        sumi += sc0 * s0 + sc1 * s1;
        mins += m0 * (y->bsums[4 * j] + y->bsums[4 * j + 1]) + m1 * (y->bsums[4 * j + 2] + y->bsums[4 * j + 3]);
    }
    return h2f(d) * y->d * sumi - h2f(dmin) * y->d * mins;
}

static float dot_q4_K(size_t n, const void *w, const void *act) {
    const blk_q4_K *x = w;
    const act_q8_256 *y = act;
    float sum = 0;
    for (size_t i = 0; i < n / QK256; i++) sum += dot_k_superblock(x[i].d, x[i].dmin, x[i].scales, NULL, x[i].qs, &y[i]);
    return sum;
}

static float dot_q5_K(size_t n, const void *w, const void *act) {
    const blk_q5_K *x = w;
    const act_q8_256 *y = act;
    float sum = 0;
    for (size_t i = 0; i < n / QK256; i++) sum += dot_k_superblock(x[i].d, x[i].dmin, x[i].scales, x[i].qh, x[i].qs, &y[i]);
    return sum;
}

static float dot_q6_K(size_t n, const void *w, const void *act) {
    const blk_q6_K *x = w;
    const act_q8_256 *y = act;
    float sum = 0;
    for (size_t i = 0; i < n / QK256; i++) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales, *a = y[i].qs;
        int sumi = 0;
        for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, a += 128) {
            int s[8] = {0};
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                s[is] += ((int)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32) * a[l];
                s[is + 2] += ((int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * a[l + 32];
                s[is + 4] += ((int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * a[l + 64];
                s[is + 6] += ((int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * a[l + 96];
            }
            for (int g = 0; g < 8; g++) sumi += sc[g] * s[g];
        }
        sum += h2f(x[i].d) * y[i].d * sumi;
    }
    return sum;
}

static q_dot_fn portable_dot(ck_dtype dtype) {
    switch (dtype) {
    case CK_Q8_0: return dot_q8_0;
    case CK_Q4_0: return dot_q4_0;
    case CK_Q4_1: return dot_q4_1;
    case CK_Q4_K: return dot_q4_K;
    case CK_Q5_K: return dot_q5_K;
    case CK_Q6_K: return dot_q6_K;
    default: return NULL;
    }
}

static q_dot_fn select_dot(ck_dtype dtype) {
#if CK_X86
    int level = ck_simd_level();
    if (level >= 2) return ck_q_dot_vnni(dtype);
    if (level >= 1) return ck_q_dot_avx2(dtype);
#endif
    return portable_dot(dtype);
}

/// The four-row form where the thread's level has one (SIMD, 32-element block types), else NULL.
static q_dot4_fn select_dot4(ck_dtype dtype) {
#if CK_X86
    int level = ck_simd_level();
    if (level >= 2) return ck_q_dot4_vnni(dtype);
    if (level >= 1) return ck_q_dot4_avx2(dtype);
#endif
    (void)dtype;
    return NULL;
}

/// The interleaved Q4_0 kernel where the thread's level has one (AVX2 or AVX-512 VNNI), else NULL
/// (the portable path reads the rows as stored).
static q_x8_fn select_x8(ck_dtype dtype) {
#if CK_X86
    int level = ck_simd_level();
    if (dtype == CK_Q4_0 && level >= 2) return ck_q4_0_x8_vnni();
    if (dtype == CK_Q4_0 && level >= 1) return ck_q4_0_x8_avx2();
#endif
    (void)dtype;
    return NULL;
}

size_t ck_q4_0_x8_bytes(size_t rows, size_t k) { return rows / 8 * (k / QK32) * Q4_0_X8_BLOCK; }

void ck_q4_0_x8_pack(const void *w, size_t rows, size_t k, void *packed) {
    size_t blocks = k / QK32;
    uint8_t *out = packed;
    for (size_t g = 0; g + 8 <= rows; g += 8) {
        for (size_t i = 0; i < blocks; i++, out += Q4_0_X8_BLOCK) {
            uint8_t q[8][32];
            for (int l = 0; l < 8; l++) {
                const blk_q4_0 *b = (const blk_q4_0 *)w + (g + l) * blocks + i;
                memcpy(out + 2 * l, &b->d, 2);
                for (int m = 0; m < 16; m++) {
                    q[l][m] = b->qs[m] & 0xF;
                    q[l][m + 16] = b->qs[m] >> 4;
                }
            }
            // Bytes 16 + 32j + 4l + t: row l's value 8j + t (low nibble) and 8j + 4 + t (high).
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 8; l++)
                    for (int t = 0; t < 4; t++)
                        out[16 + 32 * j + 4 * l + t] = (uint8_t)(q[l][8 * j + t] | q[l][8 * j + 4 + t] << 4);
        }
    }
}

/// The 4 × 4 register tile where the thread's level has one (AVX-512 VNNI, Q8_0/Q4_0/Q4_1), else NULL.
static q_tile_fn select_tile(ck_dtype dtype) {
#if CK_X86
    if (ck_simd_level() >= 2) return ck_q_tile_vnni(dtype);
#endif
    (void)dtype;
    return NULL;
}

// MARK: Matrix product

typedef struct {
    ck_dtype dtype;
    const char *w;
    const char *packed;
    size_t rows, k, row_bytes, act_bytes;
    const char *act;
    const float *x;
    size_t ldx, nvec;
    float *y;
    size_t ldy;
    int accumulate;
    size_t tasks_rows;
} qmatmul_job;

static void quantize_task(void *context, int index, int count) {
    const qmatmul_job *j = context;
    for (size_t v = (size_t)index; v < j->nvec; v += (size_t)count)
        quantize_act(j->dtype, j->x + v * j->ldx, (void *)(j->act + v * j->act_bytes), j->k);
}

static inline void qmatmul_store(const qmatmul_job *j, size_t v, size_t r, float s) {
    float *out = j->y + v * j->ldy + r;
    *out = j->accumulate ? *out + s : s;
}

/// Weight row r against activation rows [v, v1): four at a time where a four-row dot product exists.
static void qmatmul_row(const qmatmul_job *j, q_dot_fn dot, q_dot4_fn dot4, size_t r, size_t v, size_t v1) {
    const char *row = j->w + r * j->row_bytes;
    if (dot4) {
        for (; v + 4 <= v1; v += 4) {
            float s[4];
            dot4(j->k, row, j->act + v * j->act_bytes, j->act_bytes, s);
            for (int i = 0; i < 4; i++) qmatmul_store(j, v + i, r, s[i]);
        }
    }
    for (; v < v1; v++) qmatmul_store(j, v, r, dot(j->k, row, j->act + v * j->act_bytes));
}

/// Rows [r0, r1) against every activation row, a chunk of activation rows at a time (they stay in
/// L2 while the weight rows stream past): 4 × 4 register tiles where the level has them, the rest
/// row by row.
static void qmatmul_rows(const qmatmul_job *j, size_t r0, size_t r1) {
    q_dot_fn dot = select_dot(j->dtype);
    q_dot4_fn dot4 = select_dot4(j->dtype);
    q_tile_fn tile = select_tile(j->dtype);
    q_x8_fn x8 = j->packed ? select_x8(j->dtype) : NULL;
    for (size_t v0 = 0; v0 < j->nvec; v0 += 64) {
        size_t v1 = v0 + 64 < j->nvec ? v0 + 64 : j->nvec;
        size_t r = r0;
        // Whole interleaved groups (r0 is a multiple of 8), four activation rows at a time.
        for (; x8 && r + 8 <= r1 && r + 8 <= j->rows / 8 * 8; r += 8) {
            const char *group = j->packed + r / 8 * (j->row_bytes * 8);
            for (size_t v = v0; v < v1; v += 4) {
                int count = v1 - v < 4 ? (int)(v1 - v) : 4;
                float s[32];
                x8(j->k, group, j->act + v * j->act_bytes, j->act_bytes, count, s);
                for (int c = 0; c < count; c++)
                    for (int a = 0; a < 8; a++) qmatmul_store(j, v + c, r + a, s[8 * c + a]);
            }
        }
        if (tile && v1 - v0 >= 4) {
            for (; r + 4 <= r1; r += 4) {
                size_t v = v0;
                for (; v + 4 <= v1; v += 4) {
                    float s[16];
                    tile(j->k, j->w + r * j->row_bytes, j->row_bytes, j->act + v * j->act_bytes, j->act_bytes, s);
                    for (int a = 0; a < 4; a++)
                        for (int c = 0; c < 4; c++) qmatmul_store(j, v + c, r + a, s[a * 4 + c]);
                }
                for (int a = 0; a < 4; a++) qmatmul_row(j, dot, dot4, r + a, v, v1);
            }
        }
        for (; r < r1; r++) qmatmul_row(j, dot, dot4, r, v0, v1);
    }
}

static void qmatmul_task(void *context, int index, int count) {
    const qmatmul_job *j = context;
    size_t blocks = (j->rows + 7) / 8;
    size_t begin = blocks * (size_t)index / (size_t)count * 8;
    size_t end = blocks * (size_t)(index + 1) / (size_t)count * 8;
    if (end > j->rows) end = j->rows;
    if (begin < end) qmatmul_rows(j, begin, end);
}

void ck_qmatmul_parallel(ck_dtype dtype, const void *w, const void *packed, size_t rows, size_t k,
                         const float *x, size_t ldx, size_t nvec, float *y, size_t ldy, int accumulate) {
    if (rows == 0 || nvec == 0) return;
    size_t act_bytes = act_row_bytes(dtype, k);
    // Per-thread scratch for the quantized activations, grown as needed.
    static _Thread_local char *scratch = NULL;
    static _Thread_local size_t scratch_size = 0;
    size_t need = act_bytes * nvec + 64;
    if (need > scratch_size) {
        free(scratch);
        scratch = aligned_alloc(64, (need + 63) / 64 * 64);
        scratch_size = scratch ? (need + 63) / 64 * 64 : 0;
        if (!scratch) return;
    }
    size_t row_bytes = k / ck_block_elements(dtype) * ck_block_bytes(dtype);
    qmatmul_job job = {dtype, w, dtype == CK_Q4_0 ? packed : NULL, rows, k, row_bytes, act_bytes, scratch, x, ldx, nvec, y, ldy, accumulate, 0};
    int threads = ck_pool_threads();
    if (nvec > 1 && threads > 1) ck_parallel_for(quantize_task, &job, (size_t)threads < nvec ? threads : (int)nvec);
    else quantize_task(&job, 0, 1);
    size_t work = rows * k * nvec;
    int tasks = threads * 4;
    if ((size_t)tasks > rows / 8) tasks = (int)(rows / 8);
    if (work < 32768 || tasks < 1) tasks = 1;
    ck_parallel_for(qmatmul_task, &job, tasks);
}
