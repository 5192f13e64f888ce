#include "internal.h"
#include <string.h>

// Kernels of the convolutional (diffusion) models. Feature maps are channels-last:
// pixel p = y * width + x holds its `channels` floats contiguously.

// MARK: convolution input gathering

void ck_im2col(const float *x, size_t height, size_t width, size_t channels, size_t kernel, size_t stride,
               size_t pad_top, size_t pad_left, size_t out_width, size_t first, size_t count, float *col) {
    const size_t k2 = kernel * kernel, row_len = channels * k2;
    for (size_t i = 0; i < count; i++) {
        const size_t p = first + i, oy = p / out_width, ox = p % out_width;
        float *dst = col + i * row_len;
        for (size_t ky = 0; ky < kernel; ky++) {
            const long iy = (long)(oy * stride + ky) - (long)pad_top;
            for (size_t kx = 0; kx < kernel; kx++) {
                const long ix = (long)(ox * stride + kx) - (long)pad_left;
                float *d = dst + ky * kernel + kx;  // element (c, ky, kx) sits at c * k2 + ky * kernel + kx
                if (iy < 0 || iy >= (long)height || ix < 0 || ix >= (long)width) {
                    for (size_t c = 0; c < channels; c++) d[c * k2] = 0;
                } else {
                    const float *s = x + ((size_t)iy * width + (size_t)ix) * channels;
                    for (size_t c = 0; c < channels; c++) d[c * k2] = s[c];
                }
            }
        }
    }
}

// MARK: group normalisation

void ck_channel_sums(const float *x, size_t pixels, size_t channels, double *sum, double *sum_sq) {
    memset(sum, 0, channels * sizeof(double));
    memset(sum_sq, 0, channels * sizeof(double));
    for (size_t p = 0; p < pixels; p++) {
        const float *row = x + p * channels;
        for (size_t c = 0; c < channels; c++) {
            const double v = row[c];
            sum[c] += v;
            sum_sq[c] += v * v;
        }
    }
}

#if CK_X86
CK_AVX2 static void scale_shift_silu_avx2(const float *x, float *out, size_t pixels, size_t channels,
                                          const float *scale, const float *shift) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (size_t p = 0; p < pixels; p++) {
        const float *row = x + p * channels;
        float *o = out + p * channels;
        size_t c = 0;
        for (; c + 8 <= channels; c += 8) {
            __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(row + c), _mm256_loadu_ps(scale + c)), _mm256_loadu_ps(shift + c));
            v = _mm256_div_ps(v, _mm256_add_ps(one, ck_exp256(_mm256_sub_ps(zero, v))));
            _mm256_storeu_ps(o + c, v);
        }
        for (; c < channels; c++) {
            const float v = row[c] * scale[c] + shift[c];
            o[c] = v / (1.0f + expf(-v));
        }
    }
}
#endif

void ck_scale_shift(const float *x, float *out, size_t pixels, size_t channels, const float *scale,
                    const float *shift, int silu) {
#if CK_X86
    if (silu && ck_use_simd()) { scale_shift_silu_avx2(x, out, pixels, channels, scale, shift); return; }
#endif
    for (size_t p = 0; p < pixels; p++) {
        const float *row = x + p * channels;
        float *o = out + p * channels;
        for (size_t c = 0; c < channels; c++) {
            const float v = row[c] * scale[c] + shift[c];
            o[c] = silu ? v / (1.0f + expf(-v)) : v;
        }
    }
}

// MARK: activations

#if CK_X86
CK_AVX2 static void silu_avx2(float *x, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, ck_exp256(_mm256_sub_ps(zero, v)))));
    }
    for (; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}
#endif

void ck_silu(float *x, size_t n) {
#if CK_X86
    if (ck_use_simd()) { silu_avx2(x, n); return; }
#endif
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

#if CK_X86
/// erf for 8 lanes: 1 − erfc with Numerical Recipes' Chebyshev fit of erfc (fractional error below
/// 1.2e-7 everywhere), sign restored; torch's vectorised erf differs from libm's by a similar amount.
CK_AVX2 static inline __m256 erf256(__m256 x) {
    const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
    const __m256 z = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(0.5f), z, _mm256_set1_ps(1.0f)));
    static const float c[10] = {-1.26551223f, 1.00002368f, 0.37409196f, 0.09678418f, -0.18628806f,
                                0.27886807f, -1.13520398f, 1.48851587f, -0.82215223f, 0.17087277f};
    __m256 p = _mm256_set1_ps(c[9]);
    for (int i = 8; i >= 0; i--) p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(c[i]));
    const __m256 erfc = _mm256_mul_ps(t, ck_exp256(_mm256_sub_ps(p, _mm256_mul_ps(z, z))));
    return _mm256_or_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), erfc), sign);
}

CK_AVX2 static void geglu_avx2(const float *x, size_t rows, size_t inner, float *out) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), rsqrt2 = _mm256_set1_ps(0.70710678118654752f);
    for (size_t r = 0; r < rows; r++) {
        const float *hidden = x + r * 2 * inner, *gate = hidden + inner;
        float *o = out + r * inner;
        size_t j = 0;
        for (; j + 8 <= inner; j += 8) {
            const __m256 g = _mm256_loadu_ps(gate + j);
            const __m256 gelu = _mm256_mul_ps(_mm256_mul_ps(half, g), _mm256_add_ps(one, erf256(_mm256_mul_ps(g, rsqrt2))));
            _mm256_storeu_ps(o + j, _mm256_mul_ps(_mm256_loadu_ps(hidden + j), gelu));
        }
        for (; j < inner; j++) o[j] = hidden[j] * (0.5f * gate[j] * (1.0f + erff(gate[j] * 0.70710678118654752f)));
    }
}
#endif

void ck_geglu(const float *x, size_t rows, size_t inner, float *out) {
#if CK_X86
    if (ck_use_simd()) { geglu_avx2(x, rows, inner, out); return; }
#endif
    for (size_t r = 0; r < rows; r++) {
        const float *hidden = x + r * 2 * inner, *gate = hidden + inner;
        float *o = out + r * inner;
        for (size_t j = 0; j < inner; j++) {
            const float g = gate[j];
            o[j] = hidden[j] * (0.5f * g * (1.0f + erff(g * 0.70710678118654752f)));
        }
    }
}

// MARK: resampling

void ck_upsample_nearest2x(const float *x, size_t height, size_t width, size_t channels, size_t first_row,
                           size_t rows, float *out) {
    const size_t bytes = channels * sizeof(float);
    for (size_t y = first_row; y < first_row + rows; y++) {
        for (size_t dy = 0; dy < 2; dy++) {
            float *o = out + ((2 * y + dy) * 2 * width) * channels;
            for (size_t x0 = 0; x0 < width; x0++) {
                const float *s = x + (y * width + x0) * channels;
                memcpy(o + 2 * x0 * channels, s, bytes);
                memcpy(o + (2 * x0 + 1) * channels, s, bytes);
            }
        }
    }
}
