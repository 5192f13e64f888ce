#include "internal.h"
#include <string.h>

float ck_f16_to_f32_scalar(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        // Subnormal half: normalise the mantissa.
        int shift = 0;
        while (!(mant & 0x400)) { mant <<= 1; shift++; }
        mant &= 0x3ff;
        bits = sign | ((uint32_t)(113 - shift) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float ck_bf16_to_f32_scalar(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t ck_f32_to_bf16_scalar(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40);  // quiet NaN
    bits += 0x7fffu + ((bits >> 16) & 1);  // round to nearest even
    return (uint16_t)(bits >> 16);
}

uint16_t ck_f32_to_f16_scalar(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    uint32_t absb = bits & 0x7fffffffu;
    if (absb > 0x7f800000u) return sign | 0x7e00;
    if (absb >= 0x477ff000u) return sign | 0x7c00;  // rounds to infinity
    if (absb < 0x38800000u) {
        // Result is subnormal or zero: scale into the half subnormal grid with round-to-nearest-even.
        float a;
        memcpy(&a, &absb, 4);
        float scaled = a * 16777216.0f;  // 2^24: one half-subnormal ulp becomes 1
        uint32_t m = (uint32_t)nearbyintf(scaled);
        return sign | (uint16_t)m;
    }
    uint32_t rounded = absb + 0xfffu + ((absb >> 13) & 1);
    return sign | (uint16_t)((rounded - 0x38000000u) >> 13);
}

#if CK_X86
CK_AVX2 static void convert_f16_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, ck_load8_f16(src + i));
    for (; i < n; i++) dst[i] = ck_f16_to_f32_scalar(src[i]);
}
CK_AVX2 static void convert_bf16_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, ck_load8_bf16(src + i));
    for (; i < n; i++) dst[i] = ck_bf16_to_f32_scalar(src[i]);
}
#endif

void ck_convert_to_f32(ck_dtype dtype, const void *src, float *dst, size_t n) {
    switch (dtype) {
    case CK_F32:
        memcpy(dst, src, n * sizeof(float));
        return;
    case CK_F16:
#if CK_X86
        if (ck_use_simd()) { convert_f16_avx2(src, dst, n); return; }
#endif
        for (size_t i = 0; i < n; i++) dst[i] = ck_f16_to_f32_scalar(((const uint16_t *)src)[i]);
        return;
    case CK_BF16:
#if CK_X86
        if (ck_use_simd()) { convert_bf16_avx2(src, dst, n); return; }
#endif
        for (size_t i = 0; i < n; i++) dst[i] = ck_bf16_to_f32_scalar(((const uint16_t *)src)[i]);
        return;
    default:
        ck_dequantize_row(dtype, src, dst, n);
        return;
    }
}

typedef struct {
    ck_dtype dtype;
    const char *w;
    size_t ldw, rows, k;
    float *dst;
} convert_job;

static void convert_task(void *context, int index, int count) {
    const convert_job *job = context;
    size_t begin = job->rows * (size_t)index / (size_t)count;
    size_t end = job->rows * (size_t)(index + 1) / (size_t)count;
    size_t row_bytes = job->ldw / ck_block_elements(job->dtype) * ck_block_bytes(job->dtype);
    for (size_t r = begin; r < end; r++)
        ck_convert_to_f32(job->dtype, job->w + r * row_bytes, job->dst + r * job->k, job->k);
}

void ck_convert_matrix_parallel(ck_dtype dtype, const void *w, size_t ldw, size_t rows, size_t k, float *dst) {
    convert_job job = {dtype, w, ldw, rows, k, dst};
    int tasks = ck_pool_threads();
    if ((size_t)tasks > rows) tasks = rows ? (int)rows : 1;
    ck_parallel_for(convert_task, &job, tasks);
}
