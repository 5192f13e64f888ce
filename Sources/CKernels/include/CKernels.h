#ifndef TESSERA_CKERNELS_H
#define TESSERA_CKERNELS_H
/// Hot numerical loops for Tessera. Every kernel has a portable C path and, where it pays off,
/// an AVX2/FMA/F16C path chosen at run time; nothing in this header depends on SIMD types.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Storage type of a weight row: float types, or GGUF's quantized blocks (32 or 256 elements per block).
typedef enum {
    CK_F32 = 0, CK_F16 = 1, CK_BF16 = 2,
    CK_Q8_0 = 3, CK_Q4_0 = 4, CK_Q4_1 = 5, CK_Q4_K = 6, CK_Q5_K = 7, CK_Q6_K = 8,
} ck_dtype;

// MARK: CPU dispatch

/// 1 when the AVX2/FMA/F16C paths are in use.
int ck_simd_active(void);
/// Forces the portable paths (0) or re-enables the SIMD paths when the CPU has them (1), for the
/// calling thread and the pool jobs it submits.
void ck_set_simd_enabled(int enabled);
/// Caps the calling thread's kernel paths (and its pool jobs'): 0 portable, 1 AVX2/FMA, 2 AVX-512 VNNI.
void ck_set_simd_level(int level);
/// The best level this CPU supports (0, 1 or 2).
int ck_simd_best_level(void);

// MARK: Thread pool

/// A unit of parallel work: called once per `index` in 0 ..< `count`.
typedef void (*ck_task_fn)(void *context, int index, int count);
/// Sets the number of threads (caller included) used by `ck_parallel_for`; at least 1.
void ck_pool_set_threads(int threads);
int ck_pool_threads(void);
/// Runs `fn(context, i, count)` for every i in 0 ..< count on the pool and returns when all are done.
/// Runs inline when the pool is busy (nested or concurrent calls), so it never deadlocks.
void ck_parallel_for(ck_task_fn fn, void *context, int count);
/// Makes the calling thread a background thread for good: its `ck_parallel_for` calls run inline,
/// leaving the pool to foreground callers, and the OS runs it at the lowest priority (nice 19), so it
/// only takes CPU time the foreground threads leave. Returns 0, or -1 when the priority could not be set.
int ck_thread_set_background(void);
/// Runs the calling thread at the compute priority of the pool's workers (nice 5): threads left at
/// the default priority (HTTP, streaming, the clients on the same machine) then preempt kernels as
/// soon as they wake, so a sampled token is sent while the next step computes rather than after
/// it. Returns 0, or -1 when the priority could not be set.
int ck_thread_set_compute(void);

// MARK: Conversion

float ck_f16_to_f32_scalar(uint16_t h);
float ck_bf16_to_f32_scalar(uint16_t h);
uint16_t ck_f32_to_f16_scalar(float f);
uint16_t ck_f32_to_bf16_scalar(float f);
/// Widens `n` elements of `dtype` at `src` to float32.
void ck_convert_to_f32(ck_dtype dtype, const void *src, float *dst, size_t n);

// MARK: Matrix-vector

/// y[v*ldy + r] (+)= sum_c W[r*ldw + c] * x[v*ldx + c] for rows r in [row_begin, row_end) and v < nvec.
/// Reads W in its storage type and widens in registers (decode is bound by weight bytes).
void ck_matvec(ck_dtype dtype, const void *w, size_t ldw, size_t k,
               const float *x, size_t ldx, size_t nvec,
               float *y, size_t ldy, size_t row_begin, size_t row_end, int accumulate);
/// `ck_matvec` over all `rows`, split across the thread pool.
void ck_matvec_parallel(ck_dtype dtype, const void *w, size_t ldw, size_t rows, size_t k,
                        const float *x, size_t ldx, size_t nvec,
                        float *y, size_t ldy, int accumulate);
/// One dense product of a group: y[v*rows + r] (+)= W[r*k + ...] · x[v*k + ...].
typedef struct {
    ck_dtype dtype;
    const void *w;
    size_t rows, k;
    const float *x;
    float *y;
    int accumulate;
} ck_matvec_item;
/// Several `ck_matvec` products (e.g. q, k and v) in one pool job, each with `nvec` input vectors,
/// so decode pays one dispatch instead of one per matrix.
void ck_matvec_group_parallel(const ck_matvec_item *items, int count, size_t nvec);
/// Widens a rows × k matrix (leading dimension ldw) to a dense float32 matrix, split across the pool.
void ck_convert_matrix_parallel(ck_dtype dtype, const void *w, size_t ldw, size_t rows, size_t k, float *dst);

// MARK: Quantized blocks (GGUF layouts)

/// Elements per block of `dtype` (1 for the float types).
size_t ck_block_elements(ck_dtype dtype);
/// Bytes per block of `dtype` (the element size for the float types).
size_t ck_block_bytes(ck_dtype dtype);
/// Quantizes `n` floats (a multiple of 32) to Q8_0 or Q4_0 blocks as ggml's reference quantizer does.
void ck_quantize_row(ck_dtype dtype, const float *src, void *dst, size_t n);
/// y[v*ldy + r] (+)= row r of quantized W · x[v*ldx ...] for all `rows`, split across the pool.
/// Activations are quantized to 8-bit blocks first (as llama.cpp does) and the products are
/// integer dot products on the blocks; `k` must be a multiple of the block size. `packed` is
/// NULL or, for Q4_0, W's interleaved copy from ck_q4_0_x8_pack, which the SIMD paths then read
/// for its whole groups of 8 rows (the rest of W, and the portable path, read `w`).
void ck_qmatmul_parallel(ck_dtype dtype, const void *w, const void *packed, size_t rows, size_t k,
                         const float *x, size_t ldx, size_t nvec, float *y, size_t ldy, int accumulate);
/// Bytes of the interleaved copy of a rows × k Q4_0 matrix: its whole groups of 8 rows, as many
/// bytes as those rows take in `w` (0 when rows < 8).
size_t ck_q4_0_x8_bytes(size_t rows, size_t k);
/// Writes the interleaved copy of a Q4_0 matrix (like llama.cpp's repacked block_q4_0x8, in a
/// layout of our own): per group of 8 rows and block column, the 8 rows' float16 scales, then 128
/// bytes of 4-bit values in which each 32-bit lane holds 8 values of one row, so the AVX2/AVX-512
/// kernels keep one int32 lane per row and need no horizontal sums. Rows after the last whole
/// group are not copied.
void ck_q4_0_x8_pack(const void *w, size_t rows, size_t k, void *packed);

// MARK: Vector helpers

float ck_dot(const float *a, const float *b, size_t n);
/// y += a * x
void ck_axpy(float *y, float a, const float *x, size_t n);
/// x *= a
void ck_scale(float *x, float a, size_t n);
/// y += x
void ck_add(float *y, const float *x, size_t n);

// MARK: Normalisation and activations

/// out = weight * (x * rsqrt(mean(x^2) + eps)); `out` may alias `x`.
void ck_rmsnorm(const float *x, const float *weight, float *out, size_t n, float eps);
/// out = (x - mean) * rsqrt(var + eps) * weight + bias; weight/bias may be NULL.
void ck_layernorm(const float *x, const float *weight, const float *bias, float *out, size_t n, float eps);
/// In-place numerically stable softmax over n elements.
void ck_softmax(float *x, size_t n);
/// Non-zero when ck_attention_tile runs its AVX-512 register tiles (else it is a slow portable loop).
int ck_attention_tile_available(void);
/// Every head's keys (n rows at k_stride, heads × d columns) transposed into panels of 32 keys
/// for ck_attention_tile: ck_attention_tile_keys(n, heads, d) floats, head h at h · that / heads.
void ck_attention_pack_keys(const float *k, size_t k_stride, size_t n, size_t heads, size_t d, float *kt);
size_t ck_attention_tile_keys(size_t n, size_t heads, size_t d);
/// One head, m queries over n keys: out (m × d, row stride out_stride) = softmax(scale · q kᵀ) v,
/// q and v rows at their strides, kt that head's packed keys; scratch: ck_attention_tile_scratch(m) floats.
void ck_attention_tile(const float *q, size_t q_stride, size_t m, const float *kt, const float *v, size_t v_stride, size_t n,
                       size_t d, float scale, float *out, size_t out_stride, float *scratch);
/// The scratch ck_attention_tile needs for m queries, in floats (whatever the number of keys).
size_t ck_attention_tile_scratch(size_t m);
/// One query row against `n` keys and values (rows `stride` floats apart, `d` wide) with an online
/// softmax, in ggml's flash-attention order (ggml_compute_forward_flash_attn_ext_f16_one_chunk):
/// running maximum `*m` (start at -INFINITY), sum `*s` (start at 0) and unnormalised output `acc`
/// (d floats, start at 0) carry across calls; divide `acc` by `*s` after the last. With `half`,
/// queries, keys, values and `acc` are rounded through float16 as llama.cpp's flash attention holds
/// them (it casts a float32 KV cache to float16 before the kernel).
void ck_attention_online(const float *q, const float *keys, const float *values, size_t n, size_t stride, size_t d,
                         float scale, float *m, float *s, float *acc, int half);
/// out = silu(gate) * up, with silu(g) = g / (1 + exp(-g)).
void ck_silu_mul(const float *gate, const float *up, float *out, size_t n);
/// In-place GELU, exact erf form: 0.5 x (1 + erf(x / sqrt 2)).
void ck_gelu_erf(float *x, size_t n);
/// In-place GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
void ck_gelu_tanh(float *x, size_t n);

// MARK: Rotary position embedding

/// `ck_rope_apply` flags. FUSED rounds as ggml's compiled rope does: fma(x1, cos, -(x2 sin)) and
/// fma(x1, sin, x2 cos). INTERLEAVED pairs adjacent elements (x[2i], x[2i+1]), the layout of
/// llama.cpp's `llama` GGUF q/k rows, instead of transformers' halves (x[i], x[i + head_dim/2]).
enum { CK_ROPE_FUSED = 1, CK_ROPE_INTERLEAVED = 2 };

/// Rotates `heads` vectors of `head_dim` floats (the i-th head at x + i*head_stride), pair i by
/// angle i: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), with cos/sin of length head_dim/2.
void ck_rope_apply(float *x, size_t heads, size_t head_stride, size_t head_dim,
                   const float *cos_table, const float *sin_table, int flags);

// MARK: Convolutional models (feature maps channels-last: pixel y*width+x holds `channels` floats)

/// Writes `count` rows of the im2col matrix, output pixels first ..< first+count (row-major in an
/// output of width `out_width`): row i holds channels × kernel × kernel values in the (c, ky, kx)
/// order of a PyTorch conv weight [out, in, kh, kw], zeros where the window leaves the input.
void ck_im2col(const float *x, size_t height, size_t width, size_t channels, size_t kernel, size_t stride,
               size_t pad_top, size_t pad_left, size_t out_width, size_t first, size_t count, float *col);
/// Floats of a weight packed by ck_gemm_pack: k × n rounded up to whole panels of 16 columns.
size_t ck_gemm_packed_count(size_t n, size_t k);
/// Packs B = wᵀ for ck_gemm_packed, from a row-major n × k `w` (a PyTorch linear weight [out, in]):
/// panels of 16 columns, k × 16 floats each, the last one zero-padded.
void ck_gemm_pack(const float *w, size_t n, size_t k, float *packed);
/// C[m × (begin ..< end)] = A[m × k] · B[:, begin ..< end] + bias[begin ..< end] (C + A · B + bias when
/// `accumulate`) on B packed by ck_gemm_pack; `bias` may be NULL, `begin` a multiple of 16, row
/// strides lda and ldc. A row's result is bit-identical whatever the other rows of the call.
void ck_gemm_packed(const float *a, size_t m, size_t k, size_t lda, const float *b, size_t begin, size_t end,
                    const float *bias, float *c, size_t ldc, int accumulate);
/// Winograd F(4×4, 3×3) weight transform of a PyTorch 3×3 weight [out, in, 3, 3]: writes the B
/// operands of the 36 position GEMMs, position-major, each packed as ck_gemm_pack packs an
/// out × in matrix: ck_winograd_weights_count(out, in) floats.
void ck_winograd_weights(const float *w, size_t out_channels, size_t in_channels, float *u);
size_t ck_winograd_weights_count(size_t out_channels, size_t in_channels);
/// The 36 position GEMMs of a block of `count` tiles: m_p[t, begin ..< end] = v_p[t, :] · u_p[:, begin ..< end]
/// (v: 36 matrices count × in_channels from ck_winograd_input; u from ck_winograd_weights; m: 36
/// matrices count × ldm); `begin` a multiple of 16.
void ck_winograd_products(const float *v, size_t count, size_t in_channels, const float *u, size_t out_channels,
                          size_t begin, size_t end, float *m, size_t ldm);
/// Winograd input transform of tiles first ..< first+count (4×4 output tiles, row-major over a
/// grid `tiles_x` wide, image after image when `x` holds several height × width images) of a
/// channels-last map with one pixel of zero padding: writes 36 matrices count × channels
/// (position-major), the A operands of the position GEMMs.
void ck_winograd_input(const float *x, size_t height, size_t width, size_t channels, size_t tiles_x, size_t first,
                       size_t count, float *v);
/// Winograd output transform: from 36 matrices count × ldm (the position GEMMs' products), writes
/// channels begin ..< end of the tiles' output pixels (clipped to height × width; tiles numbered as
/// in ck_winograd_input) into the channels-last map `y` (row stride ldy), plus `bias` (may be NULL).
void ck_winograd_output(const float *m, size_t ldm, size_t count, size_t first, size_t tiles_x, size_t height,
                        size_t width, size_t begin, size_t end, const float *bias, float *y, size_t ldy);
/// Per-channel sum and sum of squares (in double) over `pixels` rows of `channels` floats.
void ck_channel_sums(const float *x, size_t pixels, size_t channels, double *sum, double *sum_sq);
/// out[p, c] = x[p, c] * scale[c] + shift[c], then SiLU when `silu`; `out` may alias `x`.
void ck_scale_shift(const float *x, float *out, size_t pixels, size_t channels, const float *scale,
                    const float *shift, int silu);
/// In-place SiLU: x / (1 + exp(-x)).
void ck_silu(float *x, size_t n);
/// GEGLU of `rows` rows of 2·inner floats (hidden first, gate second): out = hidden · gelu(gate), exact erf GELU.
void ck_geglu(const float *x, size_t rows, size_t inner, float *out);
/// Nearest-neighbour 2× upsampling of input rows first_row ..< first_row+rows into `out` (2h × 2w).
void ck_upsample_nearest2x(const float *x, size_t height, size_t width, size_t channels, size_t first_row,
                           size_t rows, float *out);

#ifdef __cplusplus
}
#endif
#endif
