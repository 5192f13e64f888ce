// One head × one block of queries of full (non-causal) attention with a small head dimension
// (SD's 40/80, SDXL's 64), in AVX-512 register tiles, flash-attention style: OpenBLAS sgemm runs
// QKᵀ with k = 40 and PV with n = 40 at about 60% of its large-product rate, and a 128-query block's
// scores over 4096 keys (2 MiB) do not fit in L2. Here keys go in chunks of 256 (their panel and
// values stay in L2 while every 8-query group reads them); a group's scores for the chunk live in an
// L1 tile, its output rows are rescaled when a chunk raises a row's maximum (online softmax), and
// each output row is divided by its sum at the end.
#include "internal.h"
#include <string.h>

int ck_attention_tile_available(void) { return CK_X86 && ck_simd_level() >= 2; }

// Queries per register tile, keys per chunk, and the score tile's row stride (padded so the rows a
// tile reads together do not share L1 sets).
enum { ROWS = 8, CHUNK = 256, SLD = CHUNK + 16 };

size_t ck_attention_tile_scratch(size_t m) { return 2 * m + ROWS * SLD; }

size_t ck_attention_tile_keys(size_t n, size_t heads, size_t d) { return (n + 31) / 32 * 32 * heads * d; }

#if CK_X86
/// s[r][0 ..< width] = scale · q_r · k_j for one panel of ≤ 32 keys (kt: d × 32 floats, keys
/// contiguous), folding each row's maximum into rmax[r].
CK_AVX512VNNI static inline __attribute__((always_inline)) void
qk_panel(const float *q, size_t q_stride, const float *kt, size_t width, size_t d, __m512 vs, float *s, __m512 *rmax,
         const int rows) {
    __mmask16 m0 = width >= 16 ? 0xFFFF : (__mmask16)((1u << width) - 1);
    __mmask16 m1 = width >= 32 ? 0xFFFF : width <= 16 ? 0 : (__mmask16)((1u << (width - 16)) - 1);
    __m512 acc[ROWS][2];
    for (int r = 0; r < rows; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (size_t c = 0; c < d; c++) {
        __m512 k0 = _mm512_loadu_ps(kt + c * 32), k1 = _mm512_loadu_ps(kt + c * 32 + 16);
        for (int r = 0; r < rows; r++) {
            __m512 b = _mm512_set1_ps(q[r * q_stride + c]);
            acc[r][0] = _mm512_fmadd_ps(b, k0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(b, k1, acc[r][1]);
        }
    }
    for (int r = 0; r < rows; r++) {
        __m512 a0 = _mm512_mul_ps(acc[r][0], vs), a1 = _mm512_mul_ps(acc[r][1], vs);
        _mm512_mask_storeu_ps(s + r * SLD, m0, a0);
        _mm512_mask_storeu_ps(s + r * SLD + 16, m1, a1);
        rmax[r] = _mm512_mask_max_ps(rmax[r], m0, rmax[r], a0);
        rmax[r] = _mm512_mask_max_ps(rmax[r], m1, rmax[r], a1);
    }
}

/// out[r][0 ..< width] = alpha[r] · out[r] (0 when `first`) + Σ_j p[r][j] · v_j over `count` keys,
/// in nz 16-lane and ny 8-lane parts (8-lane halves cost half on CPUs that split 512-bit operations,
/// so a 40-wide head wastes no lanes).
CK_AVX512VNNI static inline __attribute__((always_inline)) void
pv_tile(const float *p, const float *v, size_t v_stride, size_t count, size_t width, const float *alpha, int first,
        float *out, size_t out_stride, const int rows, const int nz, const int ny) {
    __mmask16 mz[3];
    for (int t = 0; t < nz; t++) {
        size_t lo = 16 * (size_t)t;
        mz[t] = width >= lo + 16 ? 0xFFFF : (__mmask16)((1u << (width - lo)) - 1);
    }
    size_t ylo = 16 * (size_t)nz;
    __mmask8 my = ny == 0 || width >= ylo + 8 ? 0xFF : (__mmask8)((1u << (width - ylo)) - 1);
    __m512 az[ROWS][3];
    __m256 ay[ROWS];
    for (int r = 0; r < rows; r++) {
        float *o = out + r * out_stride;
        __m512 a = _mm512_set1_ps(first ? 0 : alpha[r]);
        for (int t = 0; t < nz; t++) az[r][t] = first ? a : _mm512_mul_ps(_mm512_maskz_loadu_ps(mz[t], o + 16 * t), a);
        if (ny) ay[r] = first ? _mm256_setzero_ps() : _mm256_mul_ps(_mm256_maskz_loadu_ps(my, o + ylo), _mm512_castps512_ps256(a));
    }
    for (size_t j = 0; j < count; j++) {
        const float *vj = v + j * v_stride;
        __m512 vz[3];
        for (int t = 0; t < nz; t++) vz[t] = _mm512_maskz_loadu_ps(mz[t], vj + 16 * t);
        __m256 vy = ny ? _mm256_maskz_loadu_ps(my, vj + ylo) : _mm256_setzero_ps();
        for (int r = 0; r < rows; r++) {
            __m512 b = _mm512_set1_ps(p[r * SLD + j]);
            for (int t = 0; t < nz; t++) az[r][t] = _mm512_fmadd_ps(b, vz[t], az[r][t]);
            if (ny) ay[r] = _mm256_fmadd_ps(_mm512_castps512_ps256(b), vy, ay[r]);
        }
    }
    for (int r = 0; r < rows; r++) {
        float *o = out + r * out_stride;
        for (int t = 0; t < nz; t++) _mm512_mask_storeu_ps(o + 16 * t, mz[t], az[r][t]);
        if (ny) _mm256_mask_storeu_ps(o + ylo, my, ay[r]);
    }
}

/// pv_tile over one column pass of ≤ 48 columns, with the fewest 16- and 8-lane parts that cover it.
CK_AVX512VNNI static inline __attribute__((always_inline)) void
pv_pass(const float *p, const float *v, size_t v_stride, size_t count, size_t width, const float *alpha, int first,
        float *out, size_t out_stride, const int rows) {
    switch ((width + 7) / 8) {
    case 1: pv_tile(p, v, v_stride, count, width, alpha, first, out, out_stride, rows, 0, 1); break;
    case 2: pv_tile(p, v, v_stride, count, width, alpha, first, out, out_stride, rows, 1, 0); break;
    case 3: pv_tile(p, v, v_stride, count, width, alpha, first, out, out_stride, rows, 1, 1); break;
    case 4: pv_tile(p, v, v_stride, count, width, alpha, first, out, out_stride, rows, 2, 0); break;
    case 5: pv_tile(p, v, v_stride, count, width, alpha, first, out, out_stride, rows, 2, 1); break;
    default: pv_tile(p, v, v_stride, count, width, alpha, first, out, out_stride, rows, 3, 0); break;
    }
}

/// One group of `rows` queries against one chunk of keys: scores, online-softmax update of the
/// group's running maxima and sums, then PV into its output rows.
CK_AVX512VNNI static inline __attribute__((always_inline)) void
group_chunk(const float *q, size_t q_stride, const float *kt, const float *v, size_t v_stride, size_t count, size_t d,
            __m512 vs, int first, float *out, size_t out_stride, float *mx, float *sum, float *s, const int rows) {
    __m512 rmax[ROWS];
    for (int r = 0; r < rows; r++) rmax[r] = _mm512_set1_ps(-INFINITY);
    for (size_t j = 0; j < count; j += 32)
        qk_panel(q, q_stride, kt + j * d, count - j < 32 ? count - j : 32, d, vs, s + j, rmax, rows);
    float alpha[ROWS];
    for (int r = 0; r < rows; r++) {
        float m = _mm512_reduce_max_ps(rmax[r]);
        if (!first && mx[r] > m) m = mx[r];
        alpha[r] = first ? 0 : ggml_expf512(_mm512_set1_ps(mx[r] - m))[0];
        __m512 vm = _mm512_set1_ps(m), total = _mm512_setzero_ps();
        float *row = s + r * SLD;
        for (size_t j = 0; j < count; j += 16) {
            __mmask16 mk = count - j >= 16 ? 0xFFFF : (__mmask16)((1u << (count - j)) - 1);
            __m512 e = ggml_expf512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, row + j), vm));
            _mm512_mask_storeu_ps(row + j, mk, e);
            total = _mm512_mask_add_ps(total, mk, total, e);
        }
        sum[r] = (first ? 0 : sum[r] * alpha[r]) + _mm512_reduce_add_ps(total);
        mx[r] = m;
    }
    // Heads above 48 dimensions in two passes of near-equal width (80 → 40 + 40: no idle lanes).
    size_t split = d <= 48 ? d : ((d + 1) / 2 + 7) / 8 * 8;
    pv_pass(s, v, v_stride, count, split, alpha, first, out, out_stride, rows);
    if (split < d) pv_pass(s, v + split, v_stride, count, d - split, alpha, first, out + split, out_stride, rows);
}

CK_AVX512VNNI static void attention_tile_avx512(const float *q, size_t q_stride, size_t m, const float *kt, const float *v,
                                                size_t v_stride, size_t n, size_t d, float scale, float *out,
                                                size_t out_stride, float *scratch) {
    float *mx = scratch, *sum = scratch + m, *s = scratch + 2 * m;
    const __m512 vs = _mm512_set1_ps(scale);
    // Chunks of keys outer: a chunk's packed keys and values stay in L2 while every group reads them.
    for (size_t j = 0; j < n; j += CHUNK) {
        size_t count = n - j < CHUNK ? n - j : CHUNK, i = 0;
        for (; i + ROWS <= m; i += ROWS)
            group_chunk(q + i * q_stride, q_stride, kt + j * d, v + j * v_stride, v_stride, count, d, vs, j == 0,
                        out + i * out_stride, out_stride, mx + i, sum + i, s, ROWS);
        for (; i < m; i++)
            group_chunk(q + i * q_stride, q_stride, kt + j * d, v + j * v_stride, v_stride, count, d, vs, j == 0,
                        out + i * out_stride, out_stride, mx + i, sum + i, s, 1);
    }
    for (size_t i = 0; i < m; i++) {
        __m512 r = _mm512_set1_ps(1.0f / sum[i]);
        float *o = out + i * out_stride;
        for (size_t c = 0; c < d; c += 16) {
            __mmask16 mk = d - c >= 16 ? 0xFFFF : (__mmask16)((1u << (d - c)) - 1);
            _mm512_mask_storeu_ps(o + c, mk, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, o + c), r));
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
                       size_t d, float scale, float *out, size_t out_stride, float *scratch) {
#if CK_X86
    if (ck_attention_tile_available()) {
        attention_tile_avx512(q, q_stride, m, kt, v, v_stride, n, d, scale, out, out_stride, scratch);
        return;
    }
#endif
    // Portable form (callers prefer sgemm where ck_attention_tile_available() is 0), the same
    // chunked online softmax one row at a time.
    float *s = scratch + 2 * m;
    for (size_t i = 0; i < m; i++) {
        float mx = -INFINITY, sum = 0, *o = out + i * out_stride;
        for (size_t j = 0; j < n; j += CHUNK) {
            size_t count = n - j < CHUNK ? n - j : CHUNK;
            float cm = -INFINITY, part = 0;
            for (size_t k = 0; k < count; k++) {
                float dot = 0;
                for (size_t c = 0; c < d; c++) dot += q[i * q_stride + c] * kt[(j + k) / 32 * 32 * d + c * 32 + (j + k) % 32];
                s[k] = dot * scale;
                cm = s[k] > cm ? s[k] : cm;
            }
            float m1 = cm > mx ? cm : mx, alpha = j == 0 ? 0 : expf(mx - m1);
            for (size_t k = 0; k < count; k++) part += s[k] = expf(s[k] - m1);
            for (size_t c = 0; c < d; c++) {
                float acc = j == 0 ? 0 : o[c] * alpha;
                for (size_t k = 0; k < count; k++) acc += s[k] * v[(j + k) * v_stride + c];
                o[c] = acc;
            }
            sum = sum * alpha + part;
            mx = m1;
        }
        for (size_t c = 0; c < d; c++) o[c] /= sum;
    }
}
