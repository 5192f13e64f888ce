// A persistent worker pool. Tasks are claimed one at a time from a shared counter, so a worker
// that the OS has descheduled (the cores are shared) holds back at most the task it claimed: the
// caller takes the rest. Workers spin briefly between jobs (decode issues many small jobs per
// token, where a sleep/wake round trip would cost more than the work), then sleep.
#include "internal.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CK_MAX_THREADS 256
#define CK_SPIN_LIMIT 20000
#define CK_COMPUTE_NICE 5
#define CK_JOB_CLOSED UINT32_MAX  // next-task index of a finished job: above any count

static inline void cpu_relax(void) {
#if CK_X86
    _mm_pause();
#endif
}

// state = generation << 32 | next task index. Claiming is a CAS on the whole word, so a worker
// still holding an old generation can never claim a task of a newer job.
static inline uint64_t make_state(uint32_t generation, uint32_t next) { return (uint64_t)generation << 32 | next; }
static inline uint32_t state_generation(uint64_t s) { return (uint32_t)(s >> 32); }
static inline uint32_t state_next(uint64_t s) { return (uint32_t)s; }

static struct {
    pthread_mutex_t submit_lock;   // one job at a time; contenders run inline
    pthread_mutex_t sleep_lock;
    pthread_cond_t wake;
    _Atomic uint64_t state;
    atomic_int count;
    atomic_int done;
    atomic_int sleeping;
    atomic_int quit;
    ck_task_fn _Atomic fn;
    void *_Atomic context;
    atomic_int simd;               // the submitter's ck_set_simd_level setting
    int workers;                   // threads besides the caller
    pthread_t threads[CK_MAX_THREADS];
} pool = {
    .submit_lock = PTHREAD_MUTEX_INITIALIZER,
    .sleep_lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

static atomic_int requested_threads = 0;  // 0: not configured yet
static _Thread_local int background_thread = 0;  // set by ck_thread_set_background

/// Claims and runs tasks of `generation` until none are left (or a newer job replaced it).
static void run_tasks(uint32_t generation) {
    for (;;) {
        uint64_t s = atomic_load(&pool.state);
        if (state_generation(s) != generation) return;
        // While this generation's job has an unclaimed task, its count/fn/context are still current.
        int count = atomic_load(&pool.count);
        uint32_t index = state_next(s);
        if (index >= (uint32_t)count) return;
        if (!atomic_compare_exchange_weak(&pool.state, &s, make_state(generation, index + 1))) continue;
        ck_task_fn fn = atomic_load(&pool.fn);
        int own = ck_simd_enabled();
        ck_set_simd_level(atomic_load(&pool.simd));
        fn(atomic_load(&pool.context), (int)index, count);
        ck_set_simd_level(own);
        atomic_fetch_add(&pool.done, 1);
    }
}

static void *worker_main(void *arg) {
    (void)arg;
    ck_thread_set_compute();
    uint32_t seen = state_generation(atomic_load(&pool.state));
    for (;;) {
        uint32_t current;
        int spins = 0;
        while ((current = state_generation(atomic_load(&pool.state))) == seen) {
            if (atomic_load(&pool.quit)) return NULL;
            if (++spins < CK_SPIN_LIMIT) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&pool.sleep_lock);
            atomic_fetch_add(&pool.sleeping, 1);
            while (state_generation(atomic_load(&pool.state)) == seen && !atomic_load(&pool.quit))
                pthread_cond_wait(&pool.wake, &pool.sleep_lock);
            atomic_fetch_sub(&pool.sleeping, 1);
            pthread_mutex_unlock(&pool.sleep_lock);
            spins = 0;
        }
        seen = current;
        run_tasks(current);
    }
}

static void wake_sleepers(void) {
    if (atomic_load(&pool.sleeping) > 0) {
        pthread_mutex_lock(&pool.sleep_lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.sleep_lock);
    }
}

static int default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > CK_MAX_THREADS ? CK_MAX_THREADS : (int)n);
}

/// Restarts the workers so that `threads` (caller included) run jobs; call with submit_lock held.
static void resize_locked(int threads) {
    if (pool.workers == threads - 1) return;
    if (pool.workers > 0) {
        pthread_mutex_lock(&pool.sleep_lock);
        atomic_store(&pool.quit, 1);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.sleep_lock);
        for (int i = 0; i < pool.workers; i++) pthread_join(pool.threads[i], NULL);
        atomic_store(&pool.quit, 0);
        pool.workers = 0;
    }
    for (int i = 0; i < threads - 1; i++) {
        if (pthread_create(&pool.threads[i], NULL, worker_main, NULL) != 0) break;
        pool.workers = i + 1;
    }
}

void ck_pool_set_threads(int threads) {
    if (threads < 1) threads = 1;
    if (threads > CK_MAX_THREADS) threads = CK_MAX_THREADS;
    atomic_store(&requested_threads, threads);
    pthread_mutex_lock(&pool.submit_lock);
    resize_locked(threads);
    pthread_mutex_unlock(&pool.submit_lock);
}

int ck_pool_threads(void) {
    int n = atomic_load(&requested_threads);
    return n > 0 ? n : default_threads();
}

void ck_parallel_for(ck_task_fn fn, void *context, int count) {
    if (count <= 0) return;
    int threads = ck_pool_threads();
    if (count == 1 || threads == 1 || background_thread || pthread_mutex_trylock(&pool.submit_lock) != 0) {
        for (int i = 0; i < count; i++) fn(context, i, count);
        return;
    }
    resize_locked(threads);
    atomic_store(&pool.fn, fn);
    atomic_store(&pool.context, context);
    atomic_store(&pool.simd, ck_simd_enabled());
    atomic_store(&pool.count, count);
    atomic_store(&pool.done, 0);
    uint32_t generation = state_generation(atomic_load(&pool.state)) + 1;
    atomic_store(&pool.state, make_state(generation, 0));
    wake_sleepers();
    run_tasks(generation);
    int spins = 0;
    while (atomic_load(&pool.done) < count) {
        if (++spins < CK_SPIN_LIMIT) cpu_relax();
        else sched_yield();
    }
    // Close the job before the next submitter changes `count`: a worker that read this job's
    // state (all tasks claimed) and then the next job's larger count would otherwise claim a task
    // that does not exist, run it with whichever context it finds and count it done for the next job.
    atomic_store(&pool.state, make_state(generation, CK_JOB_CLOSED));
    pthread_mutex_unlock(&pool.submit_lock);
}

int ck_thread_set_compute(void) {
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), CK_COMPUTE_NICE);
}

int ck_thread_set_background(void) {
    background_thread = 1;
    // Linux applies a nice value to one thread when given its thread id.
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
}
