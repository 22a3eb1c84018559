/* backend/cuda/cuda_profile.c: SWIFTINFER_CUDA_PROFILE=1, where a pass's GPU
 * time goes. Every operation records an event once it is queued
 * (si_cu_check calls si_cu_profile_mark), and pass_begin records one first;
 * when the next pass begins (or the backend is destroyed), the intervals
 * between consecutive events go to an op_profile.h table, which destroy
 * prints to stderr.
 *
 * An interval is the GPU time from the end of one operation to the end of
 * the next: the operation's kernels and any wait for the host to queue them.
 * Events between kernels cut programmatic dependent launch's overlap, and
 * profiling turns CUDA graphs off, so the intervals add up to more than a
 * pass takes in a normal run; the difference is what graphs and PDL save.
 * Memory: PROFILE_MARKS events and labels (~300 KB), only when asked. */
#include "cuda_backend.h"

#include "../../util/error.h"

#include <stdlib.h>
#include <string.h>

#define PROFILE_MARKS 4096 /* events per pass; later operations of a long pass go uncounted */

struct si_cu_profiler {
    si_op_profile *table;
    int n;       /* events recorded in the open pass (0: none open) */
    int created; /* events created so far (lazily) */
    si_op_kind kind;
    long dropped; /* operations past PROFILE_MARKS */
    char detail[SI_OP_PROFILE_LABEL_LEN / 2];
    cudaEvent_t ev[PROFILE_MARKS];
    char label[PROFILE_MARKS][SI_OP_PROFILE_LABEL_LEN];
};

si_cu_profiler *si_cu_profiler_create(void) {
    si_cu_profiler *p = si_calloc(1, sizeof *p);
    if (p && !(p->table = si_op_profile_create())) {
        free(p);
        return NULL;
    }
    return p;
}

/* Records the next event of the open pass (counted as dropped when there
 * is no room or CUDA refuses: profiling must not fail the run). */
static void record(si_cu_backend *cb, const char *what) {
    si_cu_profiler *p = cb->prof;
    bool room = p->n < PROFILE_MARKS;
    if (room && p->n == p->created) {
        room = cudaEventCreate(&p->ev[p->n]) == cudaSuccess;
        if (room) p->created++;
    }
    if (!room || cudaEventRecord(p->ev[p->n], cb->stream) != cudaSuccess) {
        cudaGetLastError();
        p->dropped++;
        return;
    }
    if (p->detail[0])
        snprintf(p->label[p->n], SI_OP_PROFILE_LABEL_LEN, "%s [%s]", what, p->detail);
    else
        snprintf(p->label[p->n], SI_OP_PROFILE_LABEL_LEN, "%s", what);
    p->n++;
}

void si_cu_profile_mark(si_cu_backend *cb, const char *what) {
    si_cu_profiler *p = cb->prof;
    if (!p || cb->capturing || p->n == 0) return; /* outside a pass: weights, reserve */
    record(cb, what);
    p->detail[0] = '\0';
}

void si_cu_profile_detail(si_cu_backend *cb, const si_cu_matrix *const *mats, int count) {
    si_cu_profiler *p = cb->prof;
    if (!p || count < 1) return;
    int64_t rows = 0;
    for (int j = 0; j < count; j++) rows += mats[j]->rows;
    snprintf(p->detail, sizeof p->detail, "%lldx%lld %s", (long long)rows, (long long)mats[0]->cols,
             si_dtype_name(mats[0]->dtype));
}

/* The open pass's intervals into the table. */
static void close_pass(si_cu_backend *cb) {
    si_cu_profiler *p = cb->prof;
    int n = p->n;
    p->n = 0;
    if (n < 2 || cudaEventSynchronize(p->ev[n - 1]) != cudaSuccess) {
        cudaGetLastError();
        return;
    }
    float ms = 0;
    for (int i = 1; i < n; i++)
        if (cudaEventElapsedTime(&ms, p->ev[i - 1], p->ev[i]) == cudaSuccess)
            si_op_profile_add(p->table, p->kind, p->label[i], ms * 1e-3);
    if (cudaEventElapsedTime(&ms, p->ev[0], p->ev[n - 1]) == cudaSuccess) si_op_profile_pass(p->table, p->kind, ms * 1e-3);
    cudaGetLastError();
}

void si_cu_profile_pass(si_cu_backend *cb, int rows) {
    si_cu_profiler *p = cb->prof;
    if (!p) return;
    close_pass(cb);
    p->kind = rows > SI_CU_GRAPH_MAX_TOKENS ? SI_OP_PREFILL : SI_OP_DECODE;
    p->detail[0] = '\0';
    record(cb, "pass start");
}

void si_cu_profiler_finish(si_cu_backend *cb) {
    si_cu_profiler *p = cb->prof;
    if (!p) return;
    close_pass(cb);
    fprintf(stderr,
            "swiftinfer: CUDA profile (SWIFTINFER_CUDA_PROFILE=1: graphs off, each operation timed from the end of the "
            "one before, so no overlap between them)\n");
    si_op_profile_print(p->table, stderr);
    if (p->dropped) fprintf(stderr, "  (%ld operations not timed: more than %d in a pass)\n", p->dropped, PROFILE_MARKS);
    for (int i = 0; i < p->created; i++) cudaEventDestroy(p->ev[i]);
    si_op_profile_free(p->table);
    free(p);
    cb->prof = NULL;
}
