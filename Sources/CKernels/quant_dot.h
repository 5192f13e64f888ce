// SIMD dot products of quantized weight blocks with 8-bit activation blocks, included by
// quant_simd.c once per instruction set with QD_TARGET (a target attribute), QD_NAME(x) (a name
// suffix) and QD_DOT(acc, u, s) (acc + Σ u8·s8 over each 4 bytes, per int32 lane) defined.

QD_TARGET static inline float QD_NAME(hsum)(__m256 v) { return ck_hsum256(v); }

QD_TARGET static inline __m256 QD_NAME(scale)(uint16_t d, float dy) {
    return _mm256_set1_ps(_cvtsh_ss(d) * dy);
}

QD_TARGET static float QD_NAME(dot_q8_0)(size_t n, const void *w, const void *act) {
    const blk_q8_0 *x = w;
    const act_q8_32 *y = act;
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < n / QK32; i++) {
        __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i p = QD_DOT(_mm256_setzero_si256(), _mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx));
        acc = _mm256_fmadd_ps(QD_NAME(scale)(x[i].d, y[i].d), _mm256_cvtepi32_ps(p), acc);
    }
    return QD_NAME(hsum)(acc);
}

/// 32 nibbles of a 16-byte block, low halves first (ggml's element order).
QD_TARGET static inline __m256i QD_NAME(nibbles)(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

QD_TARGET static float QD_NAME(dot_q4_0)(size_t n, const void *w, const void *act) {
    const blk_q4_0 *x = w;
    const act_q8_32 *y = act;
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < n / QK32; i++) {
        __m256i qx = _mm256_sub_epi8(QD_NAME(nibbles)(x[i].qs), _mm256_set1_epi8(8));
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i p = QD_DOT(_mm256_setzero_si256(), _mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx));
        acc = _mm256_fmadd_ps(QD_NAME(scale)(x[i].d, y[i].d), _mm256_cvtepi32_ps(p), acc);
    }
    return QD_NAME(hsum)(acc);
}

QD_TARGET static float QD_NAME(dot_q4_1)(size_t n, const void *w, const void *act) {
    const blk_q4_1 *x = w;
    const act_q8_32 *y = act;
    __m256 acc = _mm256_setzero_ps();
    float offsets = 0;
    for (size_t i = 0; i < n / QK32; i++) {
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i p = QD_DOT(_mm256_setzero_si256(), QD_NAME(nibbles)(x[i].qs), qy);
        acc = _mm256_fmadd_ps(QD_NAME(scale)(x[i].d, y[i].d), _mm256_cvtepi32_ps(p), acc);
        offsets += _cvtsh_ss(x[i].m) * y[i].s;
    }
    return QD_NAME(hsum)(acc) + offsets;
}

// One weight row against four activation rows (`stride` bytes apart), for prefill: each weight
// block is loaded and unpacked once for the four. Per row the arithmetic is the one-row dot's, in
// the same order, so the results are identical.

// One block of signed 8-bit weights `qx` (scale `d`) against block `i` of four activation rows.
QD_TARGET static inline void QD_NAME(accumulate4)(__m256i qx, uint16_t d, const void *act, size_t stride, size_t i, __m256 acc[4]) {
    __m256i ax = _mm256_sign_epi8(qx, qx);
    for (int r = 0; r < 4; r++) {
        const act_q8_32 *y = (const act_q8_32 *)((const char *)act + r * stride) + i;
        __m256i p = QD_DOT(_mm256_setzero_si256(), ax, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y->qs), qx));
        acc[r] = _mm256_fmadd_ps(QD_NAME(scale)(d, y->d), _mm256_cvtepi32_ps(p), acc[r]);
    }
}

QD_TARGET static void QD_NAME(dot4_q8_0)(size_t n, const void *w, const void *act, size_t stride, float *out) {
    const blk_q8_0 *x = w;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (size_t i = 0; i < n / QK32; i++) {
        __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        QD_NAME(accumulate4)(qx, x[i].d, act, stride, i, acc);
    }
    for (int r = 0; r < 4; r++) out[r] = QD_NAME(hsum)(acc[r]);
}

QD_TARGET static void QD_NAME(dot4_q4_0)(size_t n, const void *w, const void *act, size_t stride, float *out) {
    const blk_q4_0 *x = w;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (size_t i = 0; i < n / QK32; i++) {
        __m256i qx = _mm256_sub_epi8(QD_NAME(nibbles)(x[i].qs), _mm256_set1_epi8(8));
        QD_NAME(accumulate4)(qx, x[i].d, act, stride, i, acc);
    }
    for (int r = 0; r < 4; r++) out[r] = QD_NAME(hsum)(acc[r]);
}

QD_TARGET static void QD_NAME(dot4_q4_1)(size_t n, const void *w, const void *act, size_t stride, float *out) {
    const blk_q4_1 *x = w;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float offsets[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n / QK32; i++) {
        __m256i qx = QD_NAME(nibbles)(x[i].qs);
        float m = _cvtsh_ss(x[i].m);
        for (int r = 0; r < 4; r++) {
            const act_q8_32 *y = (const act_q8_32 *)((const char *)act + r * stride) + i;
            __m256i p = QD_DOT(_mm256_setzero_si256(), qx, _mm256_loadu_si256((const __m256i *)y->qs));
            acc[r] = _mm256_fmadd_ps(QD_NAME(scale)(x[i].d, y->d), _mm256_cvtepi32_ps(p), acc[r]);
            offsets[r] += m * y->s;
        }
    }
    for (int r = 0; r < 4; r++) out[r] = QD_NAME(hsum)(acc[r]) + offsets[r];
}

// Q4_0 in the interleaved layout of ck_q4_0_x8_pack, for decode and prefill alike: one int32 lane
// per weight row, so a block column of 8 rows costs 8 byte dot products against broadcast groups
// of 4 activations, one float16 → float conversion of the 8 scales and one fused multiply-add,
// with no horizontal sums. (q − 8)·a is formed exactly as q·a − 8·Σa (Σa kept with the activation
// block); per row the float arithmetic is sum = fma(s, d·d_a, sum) block after block, whatever
// `count` is, so prefill and decode results are equal bit for bit.
QD_TARGET static inline __attribute__((always_inline)) void QD_NAME(q4_0_x8_rows)(int count, size_t n, const uint8_t *g,
                                                                                const char *act, size_t stride, float *out) {
    const __m256i low = _mm256_set1_epi8(0x0F);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (size_t i = 0; i < n / QK32; i++, g += Q4_0_X8_BLOCK) {
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
        __m256i q[8];
        for (int j = 0; j < 4; j++) {
            __m256i b = _mm256_loadu_si256((const __m256i *)(g + 16 + 32 * j));
            q[2 * j] = _mm256_and_si256(b, low);
            q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(b, 4), low);
        }
        for (int c = 0; c < count; c++) {
            const act_q8_32 *y = (const act_q8_32 *)(act + c * stride) + i;
            __m256i p = _mm256_set1_epi32(-8 * y->sum);
            for (int e = 0; e < 8; e++) {
                int32_t four;
                memcpy(&four, y->qs + 4 * e, 4);
                p = QD_DOT(p, q[e], _mm256_set1_epi32(four));
            }
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dw, _mm256_set1_ps(y->d)), acc[c]);
        }
    }
    for (int c = 0; c < count; c++) _mm256_storeu_ps(out + 8 * c, acc[c]);
}

QD_TARGET static void QD_NAME(q4_0_x8)(size_t n, const void *group, const void *act, size_t stride, int count, float *out) {
    if (count == 4) QD_NAME(q4_0_x8_rows)(4, n, group, act, stride, out);
    else
        for (int c = 0; c < count; c++) QD_NAME(q4_0_x8_rows)(1, n, group, (const char *)act + c * stride, stride, out + 8 * c);
}

#ifdef QD_TILE
// Four weight rows × four activation rows, for prefill: each weight block is unpacked and each
// activation block loaded once for the sixteen products held in registers. vpdpbusd multiplies
// unsigned by signed bytes into int32 without saturating, so the signed products are formed
// exactly in integers: Q8_0's x·a as (a + 128)·x − 128·x, Q4_0's (q − 8)·a as q·a − 8·a, lane by
// lane (the lane sums equal the one-row dot's). Per pair the float arithmetic is then the one-row
// dot's in its order, so every result equals q_dot_fn's bit for bit.
QD_TARGET static inline __attribute__((always_inline)) void QD_NAME(tile4x4)(ck_dtype dtype, size_t n, const void *w, size_t w_stride,
                                                                           const void *act, size_t a_stride, float *out) {
    const size_t block = dtype == CK_Q8_0 ? sizeof(blk_q8_0) : dtype == CK_Q4_0 ? sizeof(blk_q4_0) : sizeof(blk_q4_1);
    const __m256i eight = _mm256_set1_epi8(8), bias = _mm256_set1_epi8((char)0x80), zero = _mm256_setzero_si256();
    __m256 acc[4][4];
    float offsets[4][4];
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) { acc[r][c] = _mm256_setzero_ps(); offsets[r][c] = 0; }
    for (size_t i = 0; i < n / QK32; i++) {
        __m256i a[4], base[4];
        float da[4], sa[4];
        for (int c = 0; c < 4; c++) {
            const act_q8_32 *y = (const act_q8_32 *)((const char *)act + c * a_stride) + i;
            a[c] = _mm256_loadu_si256((const __m256i *)y->qs);
            da[c] = y->d;
            sa[c] = y->s;
            if (dtype == CK_Q4_0) base[c] = _mm256_sub_epi32(zero, QD_DOT(zero, eight, a[c]));
            if (dtype == CK_Q8_0) a[c] = _mm256_xor_si256(a[c], bias);
        }
        for (int r = 0; r < 4; r++) {
            const char *b = (const char *)w + r * w_stride + i * block;
            float dw = _cvtsh_ss(*(const uint16_t *)b);
            __m256i q, init = zero;
            float m = 0;
            if (dtype == CK_Q8_0) {
                q = _mm256_loadu_si256((const __m256i *)((const blk_q8_0 *)b)->qs);
                init = _mm256_sub_epi32(zero, QD_DOT(zero, bias, q));
            } else if (dtype == CK_Q4_0) {
                q = QD_NAME(nibbles)(((const blk_q4_0 *)b)->qs);
            } else {
                q = QD_NAME(nibbles)(((const blk_q4_1 *)b)->qs);
                m = _cvtsh_ss(((const blk_q4_1 *)b)->m);
            }
            for (int c = 0; c < 4; c++) {
                __m256i p = dtype == CK_Q8_0 ? QD_DOT(init, a[c], q) : QD_DOT(dtype == CK_Q4_0 ? base[c] : zero, q, a[c]);
                acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * da[c]), _mm256_cvtepi32_ps(p), acc[r][c]);
                if (dtype == CK_Q4_1) offsets[r][c] += m * sa[c];
            }
        }
    }
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            out[r * 4 + c] = dtype == CK_Q4_1 ? QD_NAME(hsum)(acc[r][c]) + offsets[r][c] : QD_NAME(hsum)(acc[r][c]);
}

QD_TARGET static void QD_NAME(tile_q8_0)(size_t n, const void *w, size_t ws, const void *act, size_t as, float *out) {
    QD_NAME(tile4x4)(CK_Q8_0, n, w, ws, act, as, out);
}
QD_TARGET static void QD_NAME(tile_q4_0)(size_t n, const void *w, size_t ws, const void *act, size_t as, float *out) {
    QD_NAME(tile4x4)(CK_Q4_0, n, w, ws, act, as, out);
}
QD_TARGET static void QD_NAME(tile_q4_1)(size_t n, const void *w, size_t ws, const void *act, size_t as, float *out) {
    QD_NAME(tile4x4)(CK_Q4_1, n, w, ws, act, as, out);
}

q_tile_fn QD_NAME(ck_q_tile)(ck_dtype dtype) {
    switch (dtype) {
    case CK_Q8_0: return QD_NAME(tile_q8_0);
    case CK_Q4_0: return QD_NAME(tile_q4_0);
    case CK_Q4_1: return QD_NAME(tile_q4_1);
    default: return NULL;
    }
}
#endif

/// Σ m_j · (sum of sub-block j's activations) for a Q4_K/Q5_K block.
static inline int QD_NAME(k_mins)(const uint8_t *scales, const int16_t *bsums, uint8_t *sc) {
    int mins = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t m;
        k_scale_min(j, scales, &sc[j], &m);
        mins += m * (bsums[2 * j] + bsums[2 * j + 1]);
    }
    return mins;
}

// Q4_K and Q5_K in one body: Q5_K's fifth bits (qh) are or-ed onto Q4_K's nibbles; `five` is a
// constant at each call, so each type compiles to its own loop without the other's work.
QD_TARGET static inline __attribute__((always_inline)) float QD_NAME(dot_k45)(int five, size_t n, const void *w, const void *act) {
    const size_t block = five ? sizeof(blk_q5_K) : sizeof(blk_q4_K);
    const act_q8_256 *y = act;
    __m256 acc = _mm256_setzero_ps();
    float mins_total = 0;
    const __m256i low = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (size_t i = 0; i < n / QK256; i++) {
        const blk_q4_K *x4 = (const blk_q4_K *)((const char *)w + i * block);
        const blk_q5_K *x5 = (const blk_q5_K *)x4;  // d, dmin and scales lie alike in both
        const uint8_t *qs = five ? x5->qs : x4->qs;
        uint8_t sc[8];
        int mins = QD_NAME(k_mins)(x4->scales, y[i].bsums, sc);
        __m256i qh = five ? _mm256_loadu_si256((const __m256i *)x5->qh) : _mm256_setzero_si256();
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            __m256i lo = _mm256_and_si256(q, low), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
            if (five) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), one), 4));
            }
            __m256i p0 = QD_DOT(_mm256_setzero_si256(), lo, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j)));
            __m256i p1 = QD_DOT(_mm256_setzero_si256(), hi, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j + 32)));
            sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(p0, _mm256_set1_epi32(sc[2 * j])));
            sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(p1, _mm256_set1_epi32(sc[2 * j + 1])));
        }
        acc = _mm256_fmadd_ps(QD_NAME(scale)(x4->d, y[i].d), _mm256_cvtepi32_ps(sumi), acc);
        mins_total += _cvtsh_ss(x4->dmin) * y[i].d * mins;
    }
    return QD_NAME(hsum)(acc) - mins_total;
}

QD_TARGET static float QD_NAME(dot_q4_K)(size_t n, const void *w, const void *act) { return QD_NAME(dot_k45)(0, n, w, act); }
QD_TARGET static float QD_NAME(dot_q5_K)(size_t n, const void *w, const void *act) { return QD_NAME(dot_k45)(1, n, w, act); }

QD_TARGET static float QD_NAME(dot_q6_K)(size_t n, const void *w, const void *act) {
    const blk_q6_K *x = w;
    const act_q8_256 *y = act;
    __m256 acc = _mm256_setzero_ps();
    const __m256i low = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3), m32 = _mm256_set1_epi8(32);
    for (size_t i = 0; i < n / QK256; i++) {
        __m256i sumi = _mm256_setzero_si256();
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = x[i].ql + 64 * half, *qh = x[i].qh + 32 * half;
            const int8_t *sc = x[i].scales + 8 * half, *a = y[i].qs + 128 * half;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i h = _mm256_loadu_si256((const __m256i *)qh);
            __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_slli_epi16(_mm256_and_si256(h, three), 4)),
                _mm256_or_si256(_mm256_and_si256(l1, low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), three), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), three), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), three), 4)),
            };
            for (int g = 0; g < 4; g++) {
                __m256i av = _mm256_loadu_si256((const __m256i *)(a + 32 * g));
                __m256i p = _mm256_sub_epi32(QD_DOT(_mm256_setzero_si256(), q[g], av), QD_DOT(_mm256_setzero_si256(), m32, av));
                __m256i scales = _mm256_setr_epi32(sc[2 * g], sc[2 * g], sc[2 * g], sc[2 * g],
                                                   sc[2 * g + 1], sc[2 * g + 1], sc[2 * g + 1], sc[2 * g + 1]);
                sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(p, scales));
            }
        }
        acc = _mm256_fmadd_ps(QD_NAME(scale)(x[i].d, y[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return QD_NAME(hsum)(acc);
}

q_dot_fn QD_NAME(ck_q_dot)(ck_dtype dtype) {
    switch (dtype) {
    case CK_Q8_0: return QD_NAME(dot_q8_0);
    case CK_Q4_0: return QD_NAME(dot_q4_0);
    case CK_Q4_1: return QD_NAME(dot_q4_1);
    case CK_Q4_K: return QD_NAME(dot_q4_K);
    case CK_Q5_K: return QD_NAME(dot_q5_K);
    case CK_Q6_K: return QD_NAME(dot_q6_K);
    default: return NULL;
    }
}

q_dot4_fn QD_NAME(ck_q_dot4)(ck_dtype dtype) {
    switch (dtype) {
    case CK_Q8_0: return QD_NAME(dot4_q8_0);
    case CK_Q4_0: return QD_NAME(dot4_q4_0);
    case CK_Q4_1: return QD_NAME(dot4_q4_1);
    default: return NULL;
    }
}
