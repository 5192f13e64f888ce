#include "internal.h"
#include <stdatomic.h>

// -1: not probed yet, 0: portable paths, 1: AVX2 paths.
static atomic_int simd_state = -1;
// Per thread, so a test comparing both paths cannot change what other threads compute; pool jobs
// run with their submitter's setting (see ck_parallel_for).
static _Thread_local int simd_disabled = 0;

static int cpu_has_avx2(void) {
#if CK_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
    return 0;
#endif
}

int ck_use_simd(void) {
    int state = atomic_load_explicit(&simd_state, memory_order_relaxed);
    if (state < 0) {
        state = cpu_has_avx2();
        atomic_store(&simd_state, state);
    }
    return state && !simd_disabled;
}

int ck_simd_active(void) { return ck_use_simd(); }

void ck_set_simd_enabled(int enabled) { simd_disabled = enabled ? 0 : 1; }

int ck_simd_enabled(void) { return !simd_disabled; }
