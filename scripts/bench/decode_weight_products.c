// The weight products of one decode token through CKernels alone, for the 125M bench Llama of
// make_bench_model.py (hidden 768, 12 layers, 4 KV heads of 64, intermediate 2048, an untied
// 32000-row output head) or SmolLM2-135M (576, 30 layers, 3 KV heads of 64, 1536, a tied 49152-row
// head): every projection once against one activation row, 1 thread, best of ROUNDS. Subtracted
// from a whole-model decode step it gives the time spent outside the weight products.
//   built and run by scripts/bench/decode_weight_products.sh MODEL LAYER_TYPE HEAD_TYPE [ROUNDS]
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct { ck_dtype type; int rows, k; unsigned char *w; void *packed; } product;

static ck_dtype parse_type(const char *name) {
    const char *names[] = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K"};
    for (int i = 0; i < 9; i++)
        if (!strcmp(name, names[i])) return (ck_dtype)i;
    fprintf(stderr, "unknown type %s\n", name);
    exit(2);
}

/// Random bytes with a small float16 scale in every block (or every element of a float16 matrix),
/// and Q4_0's interleaved copy as WeightMatrix makes it at load.
static void make(product *p, ck_dtype type, int rows, int k) {
    size_t block = ck_block_bytes(type), bytes = (size_t)rows * k / ck_block_elements(type) * block;
    p->type = type, p->rows = rows, p->k = k, p->w = malloc(bytes), p->packed = NULL;
    for (size_t i = 0; i < bytes; i++) p->w[i] = (unsigned char)rand();
    uint16_t scale = ck_f32_to_f16_scalar(1e-3f);
    size_t offset = type == CK_Q6_K ? 208 : 0, step = type == CK_F32 ? 0 : block;
    for (size_t o = 0; step && o < bytes; o += step) memcpy(p->w + o + offset, &scale, 2);
    if (type == CK_Q4_0 && rows >= 8) {
        p->packed = aligned_alloc(64, (ck_q4_0_x8_bytes(rows, k) + 63) / 64 * 64);
        ck_q4_0_x8_pack(p->w, rows, k, p->packed);
    }
}

static void run(const product *p, const float *x, float *y) {
    if (ck_block_elements(p->type) == 1) ck_matvec_parallel(p->type, p->w, p->k, p->rows, p->k, x, p->k, 1, y, p->rows, 0);
    else ck_qmatmul_parallel(p->type, p->w, p->packed, p->rows, p->k, x, p->k, 1, y, p->rows, 0);
}

int main(int argc, char **argv) {
    if (argc < 4) return fprintf(stderr, "usage: %s llama125m|smollm2 LAYER_TYPE HEAD_TYPE [ROUNDS]\n", argv[0]), 2;
    int smol = !strcmp(argv[1], "smollm2");
    int layers = smol ? 30 : 12, hidden = smol ? 576 : 768, kv = smol ? 192 : 256, ffn = smol ? 1536 : 2048;
    int vocab = smol ? 49152 : 32000, rounds = argc > 4 ? atoi(argv[4]) : 20;
    ck_dtype type = parse_type(argv[2]), head_type = parse_type(argv[3]);
    ck_pool_set_threads(1);
    const int shapes[7][2] = {{hidden, hidden}, {kv, hidden}, {kv, hidden}, {hidden, hidden}, {ffn, hidden}, {ffn, hidden}, {hidden, ffn}};
    product *p = calloc((size_t)layers * 7 + 1, sizeof *p);
    for (int l = 0; l < layers; l++)
        for (int s = 0; s < 7; s++) make(&p[l * 7 + s], type, shapes[s][0], shapes[s][1]);
    make(&p[layers * 7], head_type, vocab, hidden);
    float *x = calloc(ffn, sizeof *x), *y = calloc(vocab, sizeof *y);
    for (int i = 0; i < ffn; i++) x[i] = (float)(i % 13 - 6);
    double best_layers = 1e9, best_head = 1e9;
    for (int r = 0; r < rounds; r++) {
        double a = now();
        for (int i = 0; i < layers * 7; i++) run(&p[i], x, y);
        double b = now();
        run(&p[layers * 7], x, y);
        double c = now();
        if (b - a < best_layers) best_layers = b - a;
        if (c - b < best_head) best_head = c - b;
    }
    printf("%s %s layers + %s head: %.2f ms + %.2f ms = %.2f ms per token\n", argv[1], argv[2], argv[3],
           best_layers * 1e3, best_head * 1e3, (best_layers + best_head) * 1e3);
    return 0;
}
