// GGUF's quantized block layouts (ggml's block_q8_0 … block_q6_K) and the 8-bit activation blocks
// the integer dot products read (ggml's block_q8_0/q8_1 and block_q8_K). Internal to CKernels.
#ifndef TESSERA_CKERNELS_QUANT_H
#define TESSERA_CKERNELS_QUANT_H
#include "internal.h"

#define QK32 32
#define QK256 256

typedef struct { uint16_t d; int8_t qs[32]; } blk_q8_0;
typedef struct { uint16_t d; uint8_t qs[16]; } blk_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[16]; } blk_q4_1;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } blk_q4_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } blk_q5_K;
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } blk_q6_K;

/// 32 activations: d is rounded through float16 as ggml stores it; s = d · Σqs (for Q4_1's offset);
/// sum = Σqs exactly (for Q4_0's −8 offset in the interleaved kernel).
typedef struct { float d, s; int32_t sum; int8_t qs[32]; } act_q8_32;
/// 256 activations with the sums of each 16 (for the K-quants' minimums).
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } act_q8_256;

_Static_assert(sizeof(blk_q8_0) == 34, "block_q8_0");
_Static_assert(sizeof(blk_q4_0) == 18, "block_q4_0");
_Static_assert(sizeof(blk_q4_1) == 20, "block_q4_1");
_Static_assert(sizeof(blk_q4_K) == 144, "block_q4_K");
_Static_assert(sizeof(blk_q5_K) == 176, "block_q5_K");
_Static_assert(sizeof(blk_q6_K) == 210, "block_q6_K");

/// The 6-bit scale and minimum of sub-block j (0..7) of a Q4_K/Q5_K block.
static inline void k_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/// Dot product of one quantized weight row (n elements) with its quantized activations.
typedef float (*q_dot_fn)(size_t n, const void *w, const void *act);
/// One weight row against four activation rows `stride` bytes apart: out[0..3], each equal to q_dot_fn's.
typedef void (*q_dot4_fn)(size_t n, const void *w, const void *act, size_t stride, float *out);

/// Four weight rows (`w_stride` bytes apart) against four activation rows (`act_stride` apart):
/// out[4·r + c] for weight row r and activation row c, each equal to q_dot_fn's.
typedef void (*q_tile_fn)(size_t n, const void *w, size_t w_stride, const void *act, size_t act_stride, float *out);

/// Bytes of one block column of a Q4_0 row group (8 rows interleaved, see ck_q4_0_x8_pack).
#define Q4_0_X8_BLOCK (8 * sizeof(blk_q4_0))

/// A group of 8 interleaved Q4_0 rows (Q4_0_X8_BLOCK bytes per block column) against `count` (1…4)
/// activation rows `stride` bytes apart: out[8·c + r] for activation row c and weight row r.
typedef void (*q_x8_fn)(size_t n, const void *group, const void *act, size_t stride, int count, float *out);

#if CK_X86
q_x8_fn ck_q4_0_x8_avx2(void);
q_x8_fn ck_q4_0_x8_vnni(void);
q_tile_fn ck_q_tile_vnni(ck_dtype dtype);
q_dot_fn ck_q_dot_avx2(ck_dtype dtype);
q_dot_fn ck_q_dot_vnni(ck_dtype dtype);
q_dot4_fn ck_q_dot4_avx2(ck_dtype dtype);
q_dot4_fn ck_q_dot4_vnni(ck_dtype dtype);
#endif

#endif
