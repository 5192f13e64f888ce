// A persistent worker pool: workers spin briefly on a generation counter (decode issues many
// small jobs per token, where a sleep/wake round trip would cost more than the work), then sleep.
#include "internal.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sched.h>
#include <unistd.h>

#define CK_MAX_THREADS 256
#define CK_SPIN_LIMIT 20000

static inline void cpu_relax(void) {
#if CK_X86
    _mm_pause();
#endif
}

static struct {
    pthread_mutex_t submit_lock;   // one job at a time; contenders run inline
    pthread_mutex_t config_lock;   // guards thread start/stop
    pthread_mutex_t sleep_lock;
    pthread_cond_t wake;
    atomic_uint generation;
    atomic_int sleeping;
    atomic_int next_task;
    atomic_int pending_workers;    // workers still touching the current job
    atomic_int quit;
    ck_task_fn fn;
    void *context;
    int count;
    int workers;                   // threads besides the caller
    pthread_t threads[CK_MAX_THREADS];
} pool = {
    .submit_lock = PTHREAD_MUTEX_INITIALIZER,
    .config_lock = PTHREAD_MUTEX_INITIALIZER,
    .sleep_lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

static atomic_int requested_threads = 0;  // 0: not configured yet

static void run_tasks(void) {
    int i;
    while ((i = atomic_fetch_add(&pool.next_task, 1)) < pool.count) pool.fn(pool.context, i, pool.count);
}

static void *worker_main(void *arg) {
    // The generation at creation, so a job published before this thread first runs is not missed.
    unsigned seen = (unsigned)(uintptr_t)arg;
    for (;;) {
        unsigned current;
        int spins = 0;
        while ((current = atomic_load(&pool.generation)) == seen) {
            if (++spins < CK_SPIN_LIMIT) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&pool.sleep_lock);
            atomic_fetch_add(&pool.sleeping, 1);
            while (atomic_load(&pool.generation) == seen) pthread_cond_wait(&pool.wake, &pool.sleep_lock);
            atomic_fetch_sub(&pool.sleeping, 1);
            pthread_mutex_unlock(&pool.sleep_lock);
            spins = 0;
        }
        seen = current;
        if (atomic_load(&pool.quit)) {
            atomic_fetch_sub(&pool.pending_workers, 1);
            return NULL;
        }
        run_tasks();
        atomic_fetch_sub(&pool.pending_workers, 1);
    }
}

static void publish(void) {
    atomic_fetch_add(&pool.generation, 1);
    if (atomic_load(&pool.sleeping) > 0) {
        pthread_mutex_lock(&pool.sleep_lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.sleep_lock);
    }
}

static void wait_for_workers(void) {
    int spins = 0;
    while (atomic_load(&pool.pending_workers) > 0) {
        if (++spins < CK_SPIN_LIMIT) cpu_relax();
        else sched_yield();
    }
}

static void stop_workers(void) {
    if (pool.workers == 0) return;
    atomic_store(&pool.quit, 1);
    atomic_store(&pool.pending_workers, pool.workers);
    publish();
    for (int i = 0; i < pool.workers; i++) pthread_join(pool.threads[i], NULL);
    atomic_store(&pool.quit, 0);
    pool.workers = 0;
}

static int default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > CK_MAX_THREADS ? CK_MAX_THREADS : (int)n);
}

/// Starts workers so that `threads` (caller included) run jobs; call with submit_lock held.
static void resize_locked(int threads) {
    pthread_mutex_lock(&pool.config_lock);
    if (pool.workers != threads - 1) {
        stop_workers();
        void *start = (void *)(uintptr_t)atomic_load(&pool.generation);
        for (int i = 0; i < threads - 1; i++) {
            if (pthread_create(&pool.threads[i], NULL, worker_main, start) != 0) break;
            pool.workers = i + 1;
        }
    }
    pthread_mutex_unlock(&pool.config_lock);
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
    if (count == 1 || threads == 1 || pthread_mutex_trylock(&pool.submit_lock) != 0) {
        for (int i = 0; i < count; i++) fn(context, i, count);
        return;
    }
    if (pool.workers != threads - 1) resize_locked(threads);
    if (pool.workers == 0) {
        pthread_mutex_unlock(&pool.submit_lock);
        for (int i = 0; i < count; i++) fn(context, i, count);
        return;
    }
    pool.fn = fn;
    pool.context = context;
    pool.count = count;
    atomic_store(&pool.next_task, 0);
    atomic_store(&pool.pending_workers, pool.workers);
    publish();
    run_tasks();
    wait_for_workers();
    pthread_mutex_unlock(&pool.submit_lock);
}
