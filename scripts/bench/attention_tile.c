// Full attention of T queries over S keys, H heads of d dimensions, one thread, timed both ways in
// one process, alternating: SGEMM QKᵀ + softmax + SGEMM PV per head × 128 queries (the path
// before register tiles, and the one heads above 80 dimensions still take) and ck_attention_tile
// over keys packed once per call; CPU time of the calling thread, with the max abs difference.
//
//   clang -O3 -I Sources/CKernels/include -I /usr/include/x86_64-linux-gnu/openblas-pthread scripts/bench/attention_tile.c \
//       Sources/CKernels/{attention_tile,vector,cpu,convert,quant,quant_simd,pool}.c -lopenblas -lm -lpthread -o /tmp/attention_tile
//   /tmp/attention_tile 4096 4096 8 40 [rounds]
#include "CKernels.h"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s T S H d [rounds]\n", argv[0]); return 2; }
    const int T = atoi(argv[1]), S = atoi(argv[2]), H = atoi(argv[3]), d = atoi(argv[4]), rounds = argc > 5 ? atoi(argv[5]) : 3;
    const int D = H * d, B = 128;
    openblas_set_num_threads(1);
    srand(1);
    float *q = malloc(4L * T * D), *k = malloc(4L * S * D), *v = malloc(4L * S * D), *o1 = malloc(4L * T * D), *o2 = malloc(4L * T * D);
    float *scores = malloc(4L * B * S), *scratch = malloc(4L * ck_attention_tile_scratch(B)), *kt = malloc(4L * ck_attention_tile_keys(S, H, d));
    for (long i = 0; i < (long)T * D; i++) q[i] = (rand() / (float)RAND_MAX - 0.5f) * 4;
    for (long i = 0; i < (long)S * D; i++) k[i] = (rand() / (float)RAND_MAX - 0.5f) * 4, v[i] = rand() / (float)RAND_MAX - 0.5f;
    const float scale = 1 / sqrtf(d);
    const double gflop = 4.0 * T * S * d * H / 1e9;
    for (int r = 0; r <= rounds; r++) {  // round 0 warms up
        double t0 = now();
        for (int h = 0; h < H; h++)
            for (int f = 0; f < T; f += B) {
                int m = T - f < B ? T - f : B;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, S, d, scale, q + (long)f * D + h * d, D, k + h * d, D, 0, scores, S);
                for (int i = 0; i < m; i++) ck_softmax(scores + (long)i * S, S);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, d, S, 1, scores, S, v + h * d, D, 0, o1 + (long)f * D + h * d, D);
            }
        double t1 = now();
        ck_attention_pack_keys(k, D, S, H, d, kt);
        for (int h = 0; h < H; h++)
            for (int f = 0; f < T; f += B) {
                int m = T - f < B ? T - f : B;
                ck_attention_tile(q + (long)f * D + h * d, D, m, kt + h * ck_attention_tile_keys(S, 1, d), v + h * d, D, S, d, scale,
                                  o2 + (long)f * D + h * d, D, scratch);
            }
        double t2 = now(), diff = 0;
        for (long i = 0; i < (long)T * D; i++) diff = fmax(diff, fabs(o1[i] - o2[i]));
        if (r > 0)
            printf("T=%d S=%d H=%d d=%d: sgemm %.3f s (%.0f GFLOP/s), tiles %.3f s (%.0f GFLOP/s), %.2fx, max abs diff %.1e\n", T, S, H,
                   d, t1 - t0, gflop / (t1 - t0), t2 - t1, gflop / (t2 - t1), (t1 - t0) / (t2 - t1), diff);
    }
    return 0;
}
