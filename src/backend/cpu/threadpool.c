#include "threadpool.h"

#include "../../util/error.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* About a millisecond of spinning before a worker goes to sleep. */
#define SPIN_BEFORE_SLEEP 20000
/* After this many spins a waiting thread also yields the processor: when
 * more threads want to run than there are cores (other programs, tests in
 * parallel), pure spinning would starve the very thread it waits for. */
#define SPIN_BEFORE_YIELD 2000

typedef struct {
    si_pool *pool;
    int index;
} worker_arg;

struct si_pool {
    int n_threads;
    pthread_t *threads;
    worker_arg *args;
    atomic_uint_fast64_t generation; /* bumped once per si_pool_run */
    atomic_int next_task;
    atomic_int workers_done;
    atomic_int stop;
    atomic_int sleeping;
    si_task_fn fn;
    void *ctx;
    int n_tasks;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void run_tasks(si_pool *p, int thread) {
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next_task, 1, memory_order_relaxed);
        if (t >= p->n_tasks) break;
        p->fn(p->ctx, t, thread);
    }
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    si_pool *p = wa->pool;
    uint_fast64_t seen = 0;
    for (;;) {
        int spins = 0;
        uint_fast64_t g;
        while ((g = atomic_load(&p->generation)) == seen && !atomic_load(&p->stop)) {
            if (++spins < SPIN_BEFORE_SLEEP) {
                if (spins < SPIN_BEFORE_YIELD)
                    cpu_relax();
                else
                    sched_yield();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleeping, 1);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleeping, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load(&p->stop)) break;
        seen = g;
        run_tasks(p, wa->index);
        atomic_fetch_add_explicit(&p->workers_done, 1, memory_order_release);
    }
    return NULL;
}

si_pool *si_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    si_pool *p = si_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = n_threads;
    atomic_init(&p->generation, 0);
    atomic_init(&p->next_task, 0);
    atomic_init(&p->workers_done, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->sleeping, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = si_calloc((size_t)n_threads, sizeof *p->threads);
    p->args = si_calloc((size_t)n_threads, sizeof *p->args);
    if (!p->threads || !p->args) {
        si_pool_destroy(p);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        p->args[i].pool = p;
        p->args[i].index = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->args[i]) != 0) {
            p->n_threads = i;
            si_set_error("cannot start worker thread %d", i);
            si_pool_destroy(p);
            return NULL;
        }
    }
    return p;
}

void si_pool_destroy(si_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++)
        if (p->threads) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p->args);
    free(p);
}

int si_pool_threads(const si_pool *p) { return p->n_threads; }

void si_pool_run(si_pool *p, si_task_fn fn, void *ctx, int n_tasks) {
    if (n_tasks <= 0) return;
    if (p->n_threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next_task, 0);
    atomic_store(&p->workers_done, 0);
    atomic_fetch_add(&p->generation, 1);
    if (atomic_load(&p->sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    run_tasks(p, 0);
    for (int spins = 0; atomic_load_explicit(&p->workers_done, memory_order_acquire) < p->n_threads - 1; spins++) {
        if (spins < SPIN_BEFORE_YIELD)
            cpu_relax();
        else
            sched_yield();
    }
}
