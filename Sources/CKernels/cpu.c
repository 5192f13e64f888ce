#include "internal.h"
#include <stdatomic.h>

// -1: not probed yet, else the best level the CPU has (0: portable, 1: AVX2, 2: AVX-512 VNNI).
static atomic_int simd_state = -1;
// The highest level this thread may use. Per thread, so a test comparing paths cannot change what
// other threads compute; pool jobs run with their submitter's setting (see ck_parallel_for).
static _Thread_local int simd_cap = 2;

static int cpu_level(void) {
#if CK_X86
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))) return 0;
    int vnni = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512vnni");
    return vnni ? 2 : 1;
#else
    return 0;
#endif
}

static int cpu_best_level(void) {
    int state = atomic_load_explicit(&simd_state, memory_order_relaxed);
    if (state < 0) {
        state = cpu_level();
        atomic_store(&simd_state, state);
    }
    return state;
}

int ck_simd_level(void) {
    int best = cpu_best_level();
    return best < simd_cap ? best : simd_cap;
}

int ck_use_simd(void) { return ck_simd_level() >= 1; }

int ck_simd_active(void) { return ck_use_simd(); }

int ck_simd_best_level(void) { return cpu_best_level(); }

void ck_set_simd_enabled(int enabled) { simd_cap = enabled ? 2 : 0; }

void ck_set_simd_level(int level) { simd_cap = level < 0 ? 0 : level; }

int ck_simd_enabled(void) { return simd_cap; }
