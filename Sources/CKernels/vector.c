#include "internal.h"

// MARK: dot / axpy / scale / add

#if CK_X86
CK_AVX2 static float dot_avx2(const float *a, const float *b, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
    float s = ck_hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
CK_AVX2 static void axpy_avx2(float *y, float a, const float *x, size_t n) {
    __m256 av = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}
#endif

float ck_dot(const float *a, const float *b, size_t n) {
#if CK_X86
    if (ck_use_simd()) return dot_avx2(a, b, n);
#endif
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

void ck_axpy(float *y, float a, const float *x, size_t n) {
#if CK_X86
    if (ck_use_simd()) { axpy_avx2(y, a, x, n); return; }
#endif
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

// Element-wise loops that the compiler vectorises on its own at -O3.
void ck_scale(float *x, float a, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] *= a;
}

void ck_add(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

// MARK: normalisation

void ck_rmsnorm(const float *x, const float *weight, float *out, size_t n, float eps) {
    // Sum of squares in double: independent of the summation order, so both paths agree.
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)x[i] * (double)x[i];
    float variance = (float)(ss / (double)n);
    float r = 1.0f / sqrtf(variance + eps);
    for (size_t i = 0; i < n; i++) out[i] = weight[i] * (x[i] * r);
}

void ck_layernorm(const float *x, const float *weight, const float *bias, float *out, size_t n, float eps) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    float mean = (float)(sum / (double)n);
    double var = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - mean;
        var += d * d;
    }
    float r = 1.0f / sqrtf((float)(var / (double)n) + eps);
    for (size_t i = 0; i < n; i++) {
        float v = (x[i] - mean) * r;
        if (weight) v *= weight[i];
        if (bias) v += bias[i];
        out[i] = v;
    }
}

// MARK: softmax and activations

#if CK_X86
CK_AVX2 static void softmax_avx2(float *x, size_t n) {
    __m256 mv = _mm256_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    float m = ck_hmax256(mv);
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    __m256 mb = _mm256_set1_ps(m), sv = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = ck_exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb));
        _mm256_storeu_ps(x + i, e);
        sv = _mm256_add_ps(sv, e);
    }
    float s = ck_hsum256(sv);
    for (; i < n; i++) {
        x[i] = expf(x[i] - m);
        s += x[i];
    }
    __m256 inv = _mm256_set1_ps(1.0f / s);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] *= 1.0f / s;
}

CK_AVX2 static void silu_mul_avx2(const float *gate, const float *up, float *out, size_t n) {
    __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, ck_exp256(_mm256_sub_ps(zero, g))));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}
#endif

void ck_softmax(float *x, size_t n) {
    if (n == 0) return;
#if CK_X86
    if (ck_use_simd()) { softmax_avx2(x, n); return; }
#endif
    float m = x[0];
    for (size_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    float s = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        s += x[i];
    }
    float inv = 1.0f / s;
    for (size_t i = 0; i < n; i++) x[i] *= inv;
}

void ck_silu_mul(const float *gate, const float *up, float *out, size_t n) {
#if CK_X86
    if (ck_use_simd()) { silu_mul_avx2(gate, up, out, n); return; }
#endif
    for (size_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void ck_gelu_erf(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void ck_gelu_tanh(float *x, size_t n) {
    const float k = 0.79788456080286536f;  // sqrt(2 / pi)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

// MARK: rotary embedding

void ck_rope_apply(float *x, size_t heads, size_t head_stride, size_t head_dim, const float *cos_table,
                   const float *sin_table) {
    size_t half = head_dim / 2;
    for (size_t h = 0; h < heads; h++) {
        float *v = x + h * head_stride;
        for (size_t i = 0; i < half; i++) {
            float x1 = v[i], x2 = v[i + half];
            v[i] = x1 * cos_table[i] - x2 * sin_table[i];
            v[i + half] = x2 * cos_table[i] + x1 * sin_table[i];
        }
    }
}
