// Read bandwidth from DRAM, the ceiling of a decode step that reads every weight once: sums a
// 1 GiB buffer (far larger than the 32 MiB L3) with T threads, best of 5 passes, prints GB/s.
//   cc -O3 -march=native -fopenmp read_bandwidth.c -o read_bandwidth && ./read_bandwidth T
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    size_t bytes = (size_t)1 << 30, count = bytes / sizeof(__m256i);
    __m256i *buffer = aligned_alloc(64, bytes);
    memset(buffer, 1, bytes);
    double best = 0;
    long long sink = 0;
    for (int pass = 0; pass < 5; pass++) {
        double start = omp_get_wtime();
        long long total = 0;
#pragma omp parallel for num_threads(threads) reduction(+ : total)
        for (size_t i = 0; i < count; i += 4) {
            __m256i a = _mm256_add_epi64(_mm256_load_si256(buffer + i), _mm256_load_si256(buffer + i + 1));
            __m256i b = _mm256_add_epi64(_mm256_load_si256(buffer + i + 2), _mm256_load_si256(buffer + i + 3));
            __m256i s = _mm256_add_epi64(a, b);
            total += _mm256_extract_epi64(s, 0) + _mm256_extract_epi64(s, 3);
        }
        double rate = bytes / (omp_get_wtime() - start) / 1e9;
        if (rate > best) best = rate;
        sink += total;
    }
    printf("%.1f\n", best + (sink == 42 ? 1e-9 : 0));
    return 0;
}
