// The quantized dot products of quant_dot.h, built for AVX2 (maddubs + madd) and for AVX-512
// VNNI (vpdpbusd on 256-bit registers); quant.c picks one per call from the thread's level.
#include "quant.h"
#include <string.h>

#if CK_X86
#define QD_TARGET CK_AVX2
#define QD_NAME(x) x##_avx2_
#define QD_DOT(acc, u, s) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#include "quant_dot.h"
q_dot_fn ck_q_dot_avx2(ck_dtype dtype) { return ck_q_dot_avx2_(dtype); }
q_dot4_fn ck_q_dot4_avx2(ck_dtype dtype) { return ck_q_dot4_avx2_(dtype); }
q_x8_fn ck_q4_0_x8_avx2(void) { return q4_0_x8_avx2_; }
#undef QD_TARGET
#undef QD_NAME
#undef QD_DOT

#define QD_TARGET CK_AVX512VNNI
#define QD_NAME(x) x##_vnni_
#define QD_DOT(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#define QD_TILE
#include "quant_dot.h"
q_tile_fn ck_q_tile_vnni(ck_dtype dtype) { return ck_q_tile_vnni_(dtype); }
q_dot_fn ck_q_dot_vnni(ck_dtype dtype) { return ck_q_dot_vnni_(dtype); }
q_dot4_fn ck_q_dot4_vnni(ck_dtype dtype) { return ck_q_dot4_vnni_(dtype); }
q_x8_fn ck_q4_0_x8_vnni(void) { return q4_0_x8_vnni_; }
#endif
