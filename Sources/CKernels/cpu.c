#include "internal.h"
#include <stdatomic.h>

// -1: not probed yet, 0: portable paths, 1: AVX2 paths.
static atomic_int simd_state = -1;
static atomic_int simd_disabled = 0;

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
    return state && !atomic_load_explicit(&simd_disabled, memory_order_relaxed);
}

int ck_simd_active(void) { return ck_use_simd(); }

void ck_set_simd_enabled(int enabled) { atomic_store(&simd_disabled, enabled ? 0 : 1); }
