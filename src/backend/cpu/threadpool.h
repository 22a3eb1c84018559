/* backend/cpu/threadpool.h: a fixed pool of worker threads for parallel-for.
 *
 * A decode step is hundreds of small operations a few microseconds apart, so
 * idle workers spin (with a pause instruction) rather than sleep between
 * them; only after a long quiet spell do they block on a condition variable,
 * so an idle engine does not burn the processor. */
#ifndef SI_BACKEND_CPU_THREADPOOL_H
#define SI_BACKEND_CPU_THREADPOOL_H

typedef void (*si_task_fn)(void *ctx, int task, int thread);

typedef struct si_pool si_pool;

/* n_threads counts the calling thread, which also runs tasks. */
si_pool *si_pool_create(int n_threads);
void si_pool_destroy(si_pool *p);
int si_pool_threads(const si_pool *p);
/* Runs fn(ctx, task, thread) for task = 0..n_tasks-1 over all threads; returns when all are done. */
void si_pool_run(si_pool *p, si_task_fn fn, void *ctx, int n_tasks);

#endif
