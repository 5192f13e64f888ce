// One head × one block of queries of full (non-causal) attention with a small head dimension
// (SD's 40/80/160), in AVX-512 register tiles: OpenBLAS sgemm runs QKᵀ with k = 40 and PV with
// n = 40 at about 60% of its large-product rate, and this is where a 512² UNet step spends its
// self-attention time (4096 tokens at the first level). The softmax is left unnormalised and each
// output row is divided by its sum at the end (one multiply per output instead of per score).
#include "internal.h"
#include <string.h>

int ck_attention_tile_available(void) { return CK_X86 && ck_simd_level() >= 2; }

// Score rows are padded past a multiple of 32 so the rows a tile reads together do not share L1 sets.
size_t ck_attention_tile_stride(size_t n) { return (n + 31) / 32 * 32 + 16; }

size_t ck_attention_tile_keys(size_t n, size_t heads, size_t d) { return (n + 31) / 32 * 32 * heads * d; }

#if CK_X86
// Rows of queries per QKᵀ tile and per PV tile; PV covers up to 48 output columns per pass.
enum { QK_ROWS = 12, PV_ROWS = 8, PV_COLS = 48 };

/// scores[r][j] = scale · q_r · k_j for `rows` (≤ QK_ROWS) queries; kt is the head's keys
/// transposed in panels of 32 keys (panel p holds d × 32 floats, so a tile reads it sequentially).
CK_AVX512VNNI static inline __attribute__((always_inline)) void
qk_tile(const float *q, size_t q_stride, const float *kt, size_t n, size_t d, float scale, float *scores, size_t ld,
        const int rows) {
    const __m512 vs = _mm512_set1_ps(scale);
    for (size_t j = 0; j < n; j += 32) {  // one panel per call from attention_tile_avx512
        size_t left = n - j;
        __mmask16 m0 = left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1);
        __mmask16 m1 = left >= 32 ? 0xFFFF : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
        __m512 acc[QK_ROWS][2];
        for (int r = 0; r < rows; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        for (size_t c = 0; c < d; c++) {
            const float *panel = kt + j * d + c * 32;
            __m512 k0 = _mm512_loadu_ps(panel), k1 = _mm512_loadu_ps(panel + 16);
            for (int r = 0; r < rows; r++) {
                __m512 b = _mm512_set1_ps(q[r * q_stride + c]);
                acc[r][0] = _mm512_fmadd_ps(b, k0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(b, k1, acc[r][1]);
            }
        }
        for (int r = 0; r < rows; r++) {
            _mm512_mask_storeu_ps(scores + r * ld + j, m0, _mm512_mul_ps(acc[r][0], vs));
            _mm512_mask_storeu_ps(scores + r * ld + j + 16, m1, _mm512_mul_ps(acc[r][1], vs));
        }
    }
}

/// out[r][c0 ..< c0 + width] (+)= Σ_j p[r][j] · v_j[c0 ...] over n keys for `rows` (≤ PV_ROWS) rows, width ≤ PV_COLS.
CK_AVX512VNNI static inline __attribute__((always_inline)) void
pv_tile(const float *p, size_t ld, const float *v, size_t v_stride, size_t n, size_t c0, size_t width, int accumulate,
        float *out, size_t out_stride, const int rows) {
    __mmask16 mask[3];
    for (int t = 0; t < 3; t++) {
        size_t lo = 16 * (size_t)t;
        mask[t] = width >= lo + 16 ? 0xFFFF : width <= lo ? 0 : (__mmask16)((1u << (width - lo)) - 1);
    }
    __m512 acc[PV_ROWS][3];
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < 3; t++)
            acc[r][t] = accumulate ? _mm512_maskz_loadu_ps(mask[t], out + r * out_stride + c0 + 16 * t) : _mm512_setzero_ps();
    for (size_t j = 0; j < n; j++) {
        const float *vj = v + j * v_stride + c0;
        __m512 v0 = _mm512_maskz_loadu_ps(mask[0], vj), v1 = _mm512_maskz_loadu_ps(mask[1], vj + 16);
        __m512 v2 = _mm512_maskz_loadu_ps(mask[2], vj + 32);
        for (int r = 0; r < rows; r++) {
            __m512 b = _mm512_set1_ps(p[r * ld + j]);
            acc[r][0] = _mm512_fmadd_ps(b, v0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(b, v1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(b, v2, acc[r][2]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < 3; t++) _mm512_mask_storeu_ps(out + r * out_stride + c0 + 16 * t, mask[t], acc[r][t]);
}

/// exp(x − max) in place over a row; returns 1 / Σ.
CK_AVX512VNNI static float exp_row(float *x, size_t n) { return 1.0f / ck_exp_sum256(x, n); }

CK_AVX512VNNI static void attention_tile_avx512(const float *q, size_t q_stride, size_t m, const float *kt, const float *v, size_t v_stride, size_t n, size_t d, float scale, float *out,
                                                size_t out_stride, float *scores) {
    size_t ld = ck_attention_tile_stride(n);
    // Key panels outer, query rows inner: a panel stays in L1 while every row of the block reads it.
    for (size_t j = 0; j < n; j += 32) {
        size_t width = n - j < 32 ? n - j : 32, i = 0;
        for (; i + QK_ROWS <= m; i += QK_ROWS)
            qk_tile(q + i * q_stride, q_stride, kt + j * d, width, d, scale, scores + i * ld + j, ld, QK_ROWS);
        for (; i < m; i++) qk_tile(q + i * q_stride, q_stride, kt + j * d, width, d, scale, scores + i * ld + j, ld, 1);
    }
    // 1 / Σ goes into each row's padding (ld − 1 ≥ n + 15).
    for (size_t i = 0; i < m; i++) scores[i * ld + ld - 1] = exp_row(scores + i * ld, n);
    // Chunks of keys outer, so their values stay in cache across the row groups.
    enum { KEY_CHUNK = 256 };
    for (size_t j = 0; j < n; j += KEY_CHUNK) {
        size_t count = n - j < KEY_CHUNK ? n - j : KEY_CHUNK;
        for (size_t i = 0; i < m; i += PV_ROWS) {
            size_t rows = m - i < PV_ROWS ? m - i : PV_ROWS;
            for (size_t c0 = 0; c0 < d; c0 += PV_COLS) {
                size_t width = d - c0 < PV_COLS ? d - c0 : PV_COLS;
                const float *p = scores + i * ld + j;
                const float *vj = v + j * v_stride;
                float *o = out + i * out_stride;
                if (rows == PV_ROWS) pv_tile(p, ld, vj, v_stride, count, c0, width, j > 0, o, out_stride, PV_ROWS);
                else
                    for (size_t r = 0; r < rows; r++)
                        pv_tile(p + r * ld, ld, vj, v_stride, count, c0, width, j > 0, o + r * out_stride, out_stride, 1);
            }
        }
    }
    for (size_t i = 0; i < m; i++) {
        __m512 s = _mm512_set1_ps(scores[i * ld + ld - 1]);
        float *o = out + i * out_stride;
        for (size_t c = 0; c < d; c += 16) {
            __mmask16 mk = d - c >= 16 ? 0xFFFF : (__mmask16)((1u << (d - c)) - 1);
            _mm512_mask_storeu_ps(o + c, mk, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, o + c), s));
        }
    }
}
#endif

void ck_attention_pack_keys(const float *k, size_t k_stride, size_t n, size_t heads, size_t d, float *kt) {
    size_t panels = (n + 31) / 32;
    for (size_t p = 0; p < panels; p++) {
        size_t first = 32 * p, count = n - first < 32 ? n - first : 32;
        for (size_t jj = 0; jj < count; jj++) {
            const float *row = k + (first + jj) * k_stride;
            for (size_t h = 0; h < heads; h++) {
                float *panel = kt + h * panels * 32 * d + first * d;
                for (size_t c = 0; c < d; c++) panel[c * 32 + jj] = row[h * d + c];
            }
        }
        for (size_t jj = count; jj < 32; jj++)
            for (size_t h = 0; h < heads; h++)
                for (size_t c = 0; c < d; c++) kt[h * panels * 32 * d + first * d + c * 32 + jj] = 0;
    }
}

void ck_attention_tile(const float *q, size_t q_stride, size_t m, const float *kt, const float *v, size_t v_stride, size_t n,
                       size_t d, float scale, float *out, size_t out_stride, float *scores) {
#if CK_X86
    if (ck_attention_tile_available()) {
        attention_tile_avx512(q, q_stride, m, kt, v, v_stride, n, d, scale, out, out_stride, scores);
        return;
    }
#endif
    // Portable form (callers prefer sgemm where ck_attention_tile_available() is 0).
    size_t ld = ck_attention_tile_stride(n);
    for (size_t i = 0; i < m; i++) {
        float *row = scores + i * ld, mx = -INFINITY, sum = 0;
        for (size_t j = 0; j < n; j++) {
            float dot = 0;
            for (size_t c = 0; c < d; c++) dot += q[i * q_stride + c] * kt[j / 32 * 32 * d + c * 32 + j % 32];
            row[j] = dot * scale;
            mx = row[j] > mx ? row[j] : mx;
        }
        for (size_t j = 0; j < n; j++) sum += row[j] = expf(row[j] - mx);
        for (size_t c = 0; c < d; c++) {
            float acc = 0;
            for (size_t j = 0; j < n; j++) acc += row[j] * v[j * v_stride + c];
            out[i * out_stride + c] = acc / sum;
        }
    }
}
