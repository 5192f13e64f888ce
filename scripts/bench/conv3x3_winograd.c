// One 3×3 stride-1 padding-1 convolution of a channels-last H×W×C map to K channels, timed both
// ways in one process, alternating: im2col (tiles of 128 pixels) + sgemm, the path before
// Winograd, and Winograd F(4×4, 3×3) (tiles of 128, 36 position products on packed weights), one thread each, with
// the max abs difference between them; CPU time of the calling thread, so other processes on a
// shared machine do not count. Built from the repository's kernel sources:
//
//   clang -O3 -I Sources/CKernels/include -I /usr/include/x86_64-linux-gnu/openblas-pthread scripts/bench/conv3x3_winograd.c \
//       Sources/CKernels/*.c -lopenblas -lm -lpthread -o /tmp/conv3x3
//   /tmp/conv3x3 64 64 320 320 [rounds] [images]
//
// With IMAGES > 1 the map holds that many H×W images (a batch of UNet rows): im2col runs image by
// image, as the engine does, and the Winograd tile blocks span images, so the products share one
// pass over the transformed weights.
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

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s H W C K [rounds] [images]\n", argv[0]); return 2; }
    const int H = atoi(argv[1]), W = atoi(argv[2]), C = atoi(argv[3]), K = atoi(argv[4]);
    const int rounds = argc > 5 ? atoi(argv[5]) : 3, images = argc > 6 ? atoi(argv[6]) : 1, block = 128;
    openblas_set_num_threads(1);
    srand(1);
    float *x = malloc(sizeof(float) * images * H * W * C), *w = malloc(sizeof(float) * K * C * 9), *b = malloc(sizeof(float) * K);
    for (long i = 0; i < (long)images * H * W * C; i++) x[i] = (float)rand() / (float)RAND_MAX * 2 - 1;
    for (long i = 0; i < (long)K * C * 9; i++) w[i] = ((float)rand() / (float)RAND_MAX * 2 - 1) / sqrtf(9.0f * C);
    for (int i = 0; i < K; i++) b[i] = (float)rand() / (float)RAND_MAX * 2 - 1;
    float *y1 = malloc(sizeof(float) * images * H * W * K), *y2 = malloc(sizeof(float) * images * H * W * K);
    float *col = malloc(sizeof(float) * block * C * 9), *u = malloc(sizeof(float) * ck_winograd_weights_count(K, C));
    float *v = malloc(sizeof(float) * 36 * block * C), *m = malloc(sizeof(float) * 36 * block * K);
    ck_winograd_weights(w, K, C, u);
    const int tiles_x = (W + 3) / 4, tiles = images * tiles_x * ((H + 3) / 4);
    double t_im2col[64], t_winograd[64];
    for (int r = 0; r <= rounds && r < 64; r++) {  // round 0 warms up
        double t0 = now();
        for (int i = 0; i < images; i++)
        for (int first = 0; first < H * W; first += block) {
            const int count = H * W - first < block ? H * W - first : block;
            ck_im2col(x + (long)i * H * W * C, H, W, C, 3, 1, 1, 1, W, first, count, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, count, K, C * 9, 1, col, C * 9, w, C * 9, 0, y1 + ((long)i * H * W + first) * K, K);
            for (int p = first; p < first + count; p++) ck_add(y1 + ((long)i * H * W + p) * K, b, K);
        }
        double t1 = now();
        for (int first = 0; first < tiles; first += block) {
            const int count = tiles - first < block ? tiles - first : block;
            ck_winograd_input(x, H, W, C, tiles_x, first, count, v);
            ck_winograd_products(v, count, C, u, K, 0, K, m, K);
            ck_winograd_output(m, K, count, first, tiles_x, H, W, 0, K, b, y2, K);
        }
        double t2 = now();
        if (r > 0) { t_im2col[r - 1] = t1 - t0; t_winograd[r - 1] = t2 - t1; }
    }
    qsort(t_im2col, rounds, sizeof(double), cmp);
    qsort(t_winograd, rounds, sizeof(double), cmp);
    double diff = 0;
    for (long i = 0; i < (long)images * H * W * K; i++) diff = fmax(diff, fabs(y1[i] - y2[i]));
    const double gflop = 2.0 * images * H * W * K * C * 9 / 1e9, a = t_im2col[rounds / 2], c = t_winograd[rounds / 2];
    printf("%d × %dx%d %d->%d: im2col %.1f ms (%.0f GFLOP/s), winograd %.1f ms (%.0f effective GFLOP/s), %.2fx, max abs diff %.1e\n",
           images, H, W, C, K, a * 1e3, gflop / a, c * 1e3, gflop / c, a / c, diff);
    return 0;
}
