// The UNet's linear layers, y = x · Wᵀ + b on `images` images of M rows each, timed both ways in one
// process, alternating: OpenBLAS sgemm image by image followed by the bias add (the path before the
// packed GEMM) and ck_gemm_packed on weights packed once, all rows in one call, bias fused; one
// thread, CPU time of the calling thread (other processes on a shared machine do not count), median
// of the rounds after a warm-up, with the max abs difference between the two. Built from the
// repository's kernel sources:
//
//   clang -O3 -I Sources/CKernels/include -I /usr/include/x86_64-linux-gnu/openblas-pthread scripts/bench/gemm_packed.c \
//       Sources/CKernels/*.c -lopenblas -lm -lpthread -o /tmp/gemm_packed
//   /tmp/gemm_packed M K N [rounds] [images]
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

static int cmp(const void *a, const void *b) { return *(const double *)a < *(const double *)b ? -1 : 1; }

static float uniform(void) { return (float)rand() / (float)RAND_MAX * 2 - 1; }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s M K N [rounds] [images]\n", argv[0]); return 2; }
    const long M = atol(argv[1]), K = atol(argv[2]), N = atol(argv[3]);
    const int rounds = argc > 4 ? atoi(argv[4]) : 3, images = argc > 5 ? atoi(argv[5]) : 1;
    const long rows = M * images;
    openblas_set_num_threads(1);
    srand(1);
    float *x = malloc(sizeof(float) * rows * K), *w = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N);
    float *y1 = malloc(sizeof(float) * rows * N), *y2 = malloc(sizeof(float) * rows * N);
    float *packed = malloc(sizeof(float) * ck_gemm_packed_count(N, K));
    for (long i = 0; i < rows * K; i++) x[i] = uniform();
    for (long i = 0; i < N * K; i++) w[i] = uniform() / sqrtf((float)K);
    for (long i = 0; i < N; i++) b[i] = uniform();
    ck_gemm_pack(w, N, K, packed);
    double t_sgemm[64], t_packed[64];
    for (int r = 0; r <= rounds && r < 64; r++) {  // round 0 warms up
        double t0 = now();
        for (int i = 0; i < images; i++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, x + i * M * K, K, w, K, 0, y1 + i * M * N, N);
            for (long p = i * M; p < (i + 1) * M; p++) ck_add(y1 + p * N, b, N);
        }
        double t1 = now();
        ck_gemm_packed(x, rows, K, K, packed, 0, N, b, y2, N, 0);
        double t2 = now();
        if (r > 0) { t_sgemm[r - 1] = t1 - t0; t_packed[r - 1] = t2 - t1; }
    }
    qsort(t_sgemm, rounds, sizeof(double), cmp);
    qsort(t_packed, rounds, sizeof(double), cmp);
    double diff = 0;
    for (long i = 0; i < rows * N; i++) diff = fmax(diff, fabs(y1[i] - y2[i]));
    const double gflop = 2.0 * rows * N * K / 1e9, a = t_sgemm[rounds / 2], c = t_packed[rounds / 2];
    printf("%d × %ld rows, %ld -> %ld: sgemm %.2f ms (%.0f GFLOP/s), packed %.2f ms (%.0f GFLOP/s), %.2fx, max abs diff %.1e\n",
           images, M, K, N, a * 1e3, gflop / a, c * 1e3, gflop / c, a / c, diff);
    return 0;
}
