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
    // Squares in float summed in double, as ggml does: the sum is then independent of the order.
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)(x[i] * x[i]);
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
    float s = ck_exp_sum256(x, n);
    size_t i;
    __m256 inv = _mm256_set1_ps(1.0f / s);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] *= 1.0f / s;
}

// SiLU as ggml computes it (ggml_v_silu over ggml_v_expf, Arm's optimized-routines expf, in its
// AVX-512 and AVX2 forms), so a gated MLP rounds as llama.cpp's CPU backend does on the same CPU:
// a last-bit difference here moves quantized models' near-tied greedy tokens.

// gate·sigmoid(gate)·up, `width` lanes at a time with that width's expf, the rest with libm's; one
// body for both instruction sets (vector-extension arithmetic is the same IEEE lane operations).
#define CK_SILU_MUL(name, target, vec, width, expf_v)                                          \
    target static void name(const float *gate, const float *up, float *out, size_t n) {        \
        size_t i = 0;                                                                          \
        for (; i + width <= n; i += width) {                                                   \
            vec g, u;                                                                          \
            __builtin_memcpy(&g, gate + i, sizeof g);                                          \
            __builtin_memcpy(&u, up + i, sizeof u);                                            \
            vec r = g / (1.0f + expf_v(0.0f - g)) * u;                                         \
            __builtin_memcpy(out + i, &r, sizeof r);                                           \
        }                                                                                      \
        for (; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];                 \
    }
CK_SILU_MUL(silu_mul_avx2, CK_AVX2, __m256, 8, ggml_expf256)
CK_SILU_MUL(silu_mul_avx512, CK_AVX512VNNI, __m512, 16, ggml_expf512)
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

// MARK: attention with an online softmax

#if CK_X86
/// ggml_vec_dot_f32 in its AVX-512 form: four 16-lane accumulators per 64 elements, folded
/// pairwise, then _mm512_reduce_add_ps's halving order; leftovers added one at a time.
CK_AVX512VNNI static float dot_ggml_avx512(const float *x, const float *y, size_t n) {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    size_t np = n & ~(size_t)63;
    for (size_t i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++) acc[j] = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16 * j), _mm512_loadu_ps(y + i + 16 * j), acc[j]);
    acc[0] = _mm512_add_ps(acc[0], acc[2]);
    acc[1] = _mm512_add_ps(acc[1], acc[3]);
    acc[0] = _mm512_add_ps(acc[0], acc[1]);
    __m256 h = _mm256_add_ps(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[0]), 1)), _mm512_castps512_ps256(acc[0]));
    __m128 q = _mm_add_ps(_mm256_extractf128_ps(h, 1), _mm256_castps256_ps128(h));
    __m128 p = _mm_add_ps(q, _mm_shuffle_ps(q, q, _MM_SHUFFLE(1, 0, 3, 2)));
    float sum = _mm_cvtss_f32(p) + _mm_cvtss_f32(_mm_shuffle_ps(p, p, 1));
    for (size_t i = np; i < n; i++) sum = fmaf(x[i], y[i], sum);
    return sum;
}
#endif

/// x rounded through float16 (round to nearest even), as ggml stores a float16 tensor.
static inline float round_f16(float x) { return ck_f16_to_f32_scalar(ck_f32_to_f16_scalar(x)); }

#if CK_X86
/// y = round16(y * a) (ggml_vec_scale_f16) or y = round16(fma(x, a, y)) (ggml_vec_mad_f16), 16 lanes at a time.
CK_AVX512VNNI static void f16_update_avx512(float *y, const float *x, float a, size_t d) {
    const __m512 va = _mm512_set1_ps(a);
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        __m512 vy = _mm512_loadu_ps(y + i);
        vy = x ? _mm512_fmadd_ps(_mm512_loadu_ps(x + i), va, vy) : _mm512_mul_ps(vy, va);
        _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm512_cvtps_ph(vy, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    }
    for (; i < d; i++) y[i] = round_f16(x ? fmaf(x[i], a, y[i]) : y[i] * a);
}

/// n floats rounded through float16 into `out`.
CK_AVX512VNNI static void round_f16_avx512(const float *x, float *out, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    for (; i < n; i++) out[i] = round_f16(x[i]);
}
#endif

static void f16_update(float *y, const float *x, float a, size_t d) {
#if CK_X86
    if (ck_simd_level() >= 2) { f16_update_avx512(y, x, a, d); return; }
#endif
    for (size_t i = 0; i < d; i++) y[i] = round_f16(x ? fmaf(x[i], a, y[i]) : y[i] * a);
}

static void round_f16_row(const float *x, float *out, size_t n) {
#if CK_X86
    if (ck_simd_level() >= 2) { round_f16_avx512(x, out, n); return; }
#endif
    for (size_t i = 0; i < n; i++) out[i] = round_f16(x[i]);
}

void ck_attention_online(const float *q, const float *keys, const float *values, size_t n, size_t stride, size_t d,
                         float scale, float *m, float *s, float *acc, int half) {
    float max = *m, sum = *s;
    // llama.cpp casts a float32 KV cache to float16 for its flash attention: queries, keys, values
    // and the running output are float16 numbers there (the products and sums float32).
    float qh[d], kh[d], vh[d];
    if (half) round_f16_row(q, qh, d);
    const float *query = half ? qh : q;
    for (size_t j = 0; j < n; j++) {
        const float *k = keys + j * stride, *v = values + j * stride;
        if (half) {
            round_f16_row(k, kh, d);
            round_f16_row(v, vh, d);
            k = kh;
            v = vh;
        }
#if CK_X86
        float score = (ck_simd_level() >= 2 ? dot_ggml_avx512(k, query, d) : ck_dot(k, query, d)) * scale;
#else
        float score = ck_dot(k, query, d) * scale;
#endif
        float ms = 1.0f, vs = 1.0f;
        if (score > max) {
            float old = max;
            max = score;
            ms = expf(old - max);
            if (half) f16_update(acc, NULL, ms, d); else ck_scale(acc, ms, d);
        } else {
            vs = expf(score - max);
        }
        if (half) f16_update(acc, v, vs, d); else ck_axpy(acc, vs, v, d);
        sum = fmaf(sum, ms, vs);
    }
    *m = max;
    *s = sum;
}

void ck_silu_mul(const float *gate, const float *up, float *out, size_t n) {
#if CK_X86
    if (ck_simd_level() >= 2) { silu_mul_avx512(gate, up, out, n); return; }
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
                   const float *sin_table, int flags) {
    size_t half = head_dim / 2;
    // Pair i is (v[i], v[i + half]) in the half-split layout, (v[2i], v[2i + 1]) interleaved.
    size_t step = (flags & CK_ROPE_INTERLEAVED) ? 2 : 1, partner = (flags & CK_ROPE_INTERLEAVED) ? 1 : half;
    for (size_t h = 0; h < heads; h++) {
        float *v = x + h * head_stride;
        for (size_t i = 0; i < half; i++) {
            float *a = v + i * step, *b = a + partner;
            float x1 = *a, x2 = *b;
            if (flags & CK_ROPE_FUSED) {
                *a = fmaf(x1, cos_table[i], -(x2 * sin_table[i]));
                *b = fmaf(x1, sin_table[i], x2 * cos_table[i]);
            } else {
                *a = x1 * cos_table[i] - x2 * sin_table[i];
                *b = x2 * cos_table[i] + x1 * sin_table[i];
            }
        }
    }
}
