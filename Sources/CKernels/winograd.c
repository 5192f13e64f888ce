#include "internal.h"
#include <string.h>

// Winograd F(4×4, 3×3) for 3×3 stride-1 convolutions with one pixel of zero padding (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016): each 4×4 output tile is
// Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A over a 6×6 input tile d, so the per-tile arithmetic is 36 elementwise
// products instead of 144, and summing over input channels turns the 36 positions into 36 GEMMs
// (tiles × in) · (in × out), run here on weights packed for them. Feature maps are channels-last, so the
// transforms work on 16 channels at a time; the vector body is written once and compiled for
// AVX-512, AVX2 and the portable baseline.

// MARK: weight transform (once per weight, in double)

size_t ck_winograd_weights_count(size_t out_channels, size_t in_channels) {
    return 36 * ck_gemm_packed_count(out_channels, in_channels);
}

void ck_winograd_weights(const float *w, size_t out_channels, size_t in_channels, float *u) {
    static const double g[6][3] = {
        {1.0 / 4, 0, 0}, {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
        {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1},
    };
    const size_t plane = ck_winograd_weights_count(out_channels, in_channels) / 36;
    memset(u, 0, 36 * plane * sizeof(float));  // the last panel's columns past out_channels
    for (size_t o = 0; o < out_channels; o++) {
        for (size_t i = 0; i < in_channels; i++) {
            const float *k = w + (o * in_channels + i) * 9;
            double t[6][3];  // G · k
            for (int r = 0; r < 6; r++)
                for (int c = 0; c < 3; c++) t[r][c] = g[r][0] * k[c] + g[r][1] * k[3 + c] + g[r][2] * k[6 + c];
            for (int r = 0; r < 6; r++)
                for (int c = 0; c < 6; c++)
                    u[(size_t)(r * 6 + c) * plane + (o / 16 * in_channels + i) * 16 + o % 16] =
                        (float)(t[r][0] * g[c][0] + t[r][1] * g[c][1] + t[r][2] * g[c][2]);
        }
    }
}

// MARK: position products

// m_p[t, begin ..< end] = v_p[t, :] · u_p[:, begin ..< end] for the 36 positions p: u_p is in
// ck_gemm_pack's panels, so each position is one ck_gemm_packed call. sgemm would pack its B
// operand on every call: with few tiles per block (a 16×16 map has 16) that was most of its time.
void ck_winograd_products(const float *v, size_t count, size_t in_channels, const float *u, size_t out_channels,
                          size_t begin, size_t end, float *m, size_t ldm) {
    const size_t plane = ck_gemm_packed_count(out_channels, in_channels);
    for (size_t p = 0; p < 36; p++)
        ck_gemm_packed(v + p * count * in_channels, count, in_channels, in_channels, u + p * plane, begin, end, NULL,
                       m + p * count * ldm, ldm, 0);
}

// MARK: input transform

// Bᵀ · (d0..d5), one column of six vectors.
#define CK_WINOGRAD_BT(d, s, r)                                           \
    do {                                                                 \
        r[0] = 4 * d[0 * s] - 5 * d[2 * s] + d[4 * s];                    \
        r[1] = -4 * d[1 * s] - 4 * d[2 * s] + d[3 * s] + d[4 * s];        \
        r[2] = 4 * d[1 * s] - 4 * d[2 * s] - d[3 * s] + d[4 * s];         \
        r[3] = -2 * d[1 * s] - d[2 * s] + 2 * d[3 * s] + d[4 * s];        \
        r[4] = 2 * d[1 * s] - d[2 * s] - 2 * d[3 * s] + d[4 * s];         \
        r[5] = 4 * d[1 * s] - 5 * d[3 * s] + d[5 * s];                    \
    } while (0)

static inline __attribute__((always_inline)) void winograd_input_body(
    const float *x, size_t height, size_t width, size_t channels, size_t tiles_x, size_t first, size_t count, float *v) {
    const size_t plane = count * channels, per_image = tiles_x * ((height + 3) / 4);
    for (size_t t = 0; t < count; t++) {
        const size_t tile = (first + t) % per_image, y0 = (tile / tiles_x) * 4, x0 = (tile % tiles_x) * 4;
        const float *image = x + (first + t) / per_image * height * width * channels;
        for (size_t c = 0; c < channels; c += 16) {
            const size_t n = channels - c < 16 ? channels - c : 16;
            ck_v16 d[36], rows[36];
            for (int r = 0; r < 6; r++) {
                const long iy = (long)y0 + r - 1;
                for (int q = 0; q < 6; q++) {
                    const long ix = (long)x0 + q - 1;
                    const int inside = iy >= 0 && iy < (long)height && ix >= 0 && ix < (long)width;
                    d[r * 6 + q] = inside ? ck_load16(image + ((size_t)iy * width + (size_t)ix) * channels + c, n) : (ck_v16){0};
                }
            }
            for (int q = 0; q < 6; q++) {  // columns: rows = Bᵀ d
                ck_v16 r[6];
                CK_WINOGRAD_BT((d + q), 6, r);
                for (int k = 0; k < 6; k++) rows[k * 6 + q] = r[k];
            }
            for (int k = 0; k < 6; k++) {  // rows: (Bᵀ d) B
                ck_v16 r[6];
                CK_WINOGRAD_BT((rows + k * 6), 1, r);
                for (int q = 0; q < 6; q++) ck_store16(v + (size_t)(k * 6 + q) * plane + t * channels + c, r[q], n);
            }
        }
    }
}

// MARK: output transform

// Aᵀ · (m0..m5), one column of six vectors into four.
#define CK_WINOGRAD_AT(m, s, o)                                           \
    do {                                                                 \
        const ck_v16 a = m[1 * s] + m[2 * s], b = m[1 * s] - m[2 * s];    \
        const ck_v16 e = m[3 * s] + m[4 * s], f = m[3 * s] - m[4 * s];    \
        o[0] = m[0] + a + e;                                             \
        o[1] = b + 2 * f;                                                \
        o[2] = a + 4 * e;                                                \
        o[3] = b + 8 * f + m[5 * s];                                     \
    } while (0)

static inline __attribute__((always_inline)) void winograd_output_body(
    const float *m, size_t ldm, size_t count, size_t first, size_t tiles_x, size_t height, size_t width,
    size_t begin, size_t end, const float *bias, float *y, size_t ldy) {
    const size_t plane = count * ldm, per_image = tiles_x * ((height + 3) / 4);
    for (size_t t = 0; t < count; t++) {
        const size_t tile = (first + t) % per_image, y0 = (tile / tiles_x) * 4, x0 = (tile % tiles_x) * 4;
        float *image = y + (first + t) / per_image * height * width * ldy;
        for (size_t c = begin; c < end; c += 16) {
            const size_t n = end - c < 16 ? end - c : 16;
            ck_v16 s[36], cols[24];
            for (int k = 0; k < 36; k++) s[k] = ck_load16(m + (size_t)k * plane + t * ldm + c, n);
            for (int q = 0; q < 6; q++) {  // Aᵀ s: 4 × 6
                ck_v16 o[4];
                const ck_v16 *col = s + q;
                CK_WINOGRAD_AT(col, 6, o);
                for (int k = 0; k < 4; k++) cols[k * 6 + q] = o[k];
            }
            const ck_v16 shift = bias ? ck_load16(bias + c, n) : (ck_v16){0};
            for (int k = 0; k < 4; k++) {  // (Aᵀ s) A
                if (y0 + k >= height) break;
                ck_v16 o[4];
                const ck_v16 *row = cols + k * 6;
                CK_WINOGRAD_AT(row, 1, o);
                for (int q = 0; q < 4 && x0 + q < width; q++)
                    ck_store16(image + ((y0 + k) * width + x0 + q) * ldy + c, o[q] + shift, n);
            }
        }
    }
}

#if CK_X86
CK_AVX512VNNI static void winograd_input_avx512(const float *x, size_t height, size_t width, size_t channels,
                                                size_t tiles_x, size_t first, size_t count, float *v) {
    winograd_input_body(x, height, width, channels, tiles_x, first, count, v);
}
CK_AVX2 static void winograd_input_avx2(const float *x, size_t height, size_t width, size_t channels,
                                        size_t tiles_x, size_t first, size_t count, float *v) {
    winograd_input_body(x, height, width, channels, tiles_x, first, count, v);
}
CK_AVX512VNNI static void winograd_output_avx512(const float *m, size_t ldm, size_t count, size_t first, size_t tiles_x,
                                                 size_t height, size_t width, size_t begin, size_t end,
                                                 const float *bias, float *y, size_t ldy) {
    winograd_output_body(m, ldm, count, first, tiles_x, height, width, begin, end, bias, y, ldy);
}
CK_AVX2 static void winograd_output_avx2(const float *m, size_t ldm, size_t count, size_t first, size_t tiles_x,
                                         size_t height, size_t width, size_t begin, size_t end,
                                         const float *bias, float *y, size_t ldy) {
    winograd_output_body(m, ldm, count, first, tiles_x, height, width, begin, end, bias, y, ldy);
}
#endif

void ck_winograd_input(const float *x, size_t height, size_t width, size_t channels, size_t tiles_x, size_t first,
                       size_t count, float *v) {
#if CK_X86
    const int level = ck_simd_level();
    if (level >= 2) { winograd_input_avx512(x, height, width, channels, tiles_x, first, count, v); return; }
    if (level >= 1) { winograd_input_avx2(x, height, width, channels, tiles_x, first, count, v); return; }
#endif
    winograd_input_body(x, height, width, channels, tiles_x, first, count, v);
}

void ck_winograd_output(const float *m, size_t ldm, size_t count, size_t first, size_t tiles_x, size_t height,
                        size_t width, size_t begin, size_t end, const float *bias, float *y, size_t ldy) {
#if CK_X86
    const int level = ck_simd_level();
    if (level >= 2) { winograd_output_avx512(m, ldm, count, first, tiles_x, height, width, begin, end, bias, y, ldy); return; }
    if (level >= 1) { winograd_output_avx2(m, ldm, count, first, tiles_x, height, width, begin, end, bias, y, ldy); return; }
#endif
    winograd_output_body(m, ldm, count, first, tiles_x, height, width, begin, end, bias, y, ldy);
}
