/* bench/bench_kernels.c: times the CPU matrix kernels (backend/cpu/dot.h) at
 * every SIMD level this processor has, on one thread, for the matrix shapes
 * of the default model (SmolLM2-135M: dim 576, KV dim 192, FFN 1536, vocab
 * 49152).
 *
 * Usage: bench_kernels [level ...]   (default: every available level)
 *
 * How to read the numbers. Each line is one weight matrix "cols x rows"
 * (input length x outputs) of one dtype, called as matmul.c calls it: tasks
 * of 64 weight rows, each over every input row.
 *  - gemv: one input row (a decode step). Memory-bound: the weights are
 *    streamed from a pool of copies larger than the last-level cache, so
 *    GB/s is the weight bytes read per second from DRAM. Compare with the
 *    machine's read bandwidth per core (the decode step is about the whole
 *    model's weights per token, so tokens/s <= bandwidth / model bytes).
 *  - gemm: 256 input rows (prompt processing). Compute-bound: GFLOP/s counts
 *    2 * rows * cols * 256 (one multiply-add = 2), the weights stay in cache.
 * Activation quantization (done once per matmul, shared by all tasks) is not
 * included; its own line gives its rate. Times are the best of 8 batches
 * of calls (see time_job): the machine may be shared. */
#include "backend/cpu/dot.h"
#include "util/half.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TASK_ROWS 64
#define GEMM_TOKENS 256
#define POOL_BYTES ((size_t)256 << 20) /* far beyond the 32 MB L3 */
#define BATCHES 8
#define BATCH_SECONDS 0.04

/* This thread's CPU time: time the scheduler gives to other processes on a
 * shared machine is not counted (their cache and memory traffic still is). */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Plausible weights: random codes, small positive and negative f16 scales. */
static void fill_matrix(si_dtype t, uint8_t *w, size_t bytes) {
    for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)next_u32();
    size_t bb = si_dtype_block_bytes(t);
    uint16_t h;
    for (size_t off = 0; off + bb <= bytes; off += bb) {
        float v = ((float)(next_u32() % 2001) - 1000.0f) * 1e-5f;
        switch (t) {
        case SI_DTYPE_F32: memcpy(w + off, &v, 4); continue;
        case SI_DTYPE_BF16: h = si_f32_to_bf16(v * 100); memcpy(w + off, &h, 2); continue;
        case SI_DTYPE_F16: h = si_f32_to_f16(v * 100); break;
        default: h = si_f32_to_f16(v); break;
        }
        memcpy(w + off, &h, 2);
        if (t == SI_DTYPE_Q4_1) memcpy(w + off + 2, &h, 2);
    }
}

typedef struct {
    const si_cpu_kernels *k;
    si_dtype t;
    int rows, cols, n_tok;
    size_t row_bytes;
    const si_block_q8x *qx;
    const float *x;
    float *out;
} job;

/* One matmul, cut into tasks of TASK_ROWS rows like matmul.c. */
static void run(const job *j, const uint8_t *w) {
    for (int r0 = 0; r0 < j->rows; r0 += TASK_ROWS) {
        int nr = j->rows - r0 < TASK_ROWS ? j->rows - r0 : TASK_ROWS;
        const uint8_t *wr = w + (size_t)r0 * j->row_bytes;
        if (si_dtype_is_quantized(j->t))
            j->k->gemm_q(j->t, wr, j->row_bytes, nr, j->qx, j->cols / SI_QBLOCK, j->n_tok, j->out + r0, j->rows);
        else
            j->k->gemm_f(j->t, wr, j->row_bytes, nr, j->x, j->cols, j->n_tok, j->out + r0, j->rows);
    }
}

/* Seconds per call: the best of BATCHES batches of calls, each batch at
 * least BATCH_SECONDS long, after a warm-up call. The best, not the mean,
 * because other processes on the machine only ever add time. The weights
 * rotate through n_copies copies. */
static double time_job(const job *j, const uint8_t *pool, size_t n_copies) {
    size_t mat = (size_t)j->rows * j->row_bytes, calls = 0;
    double best = 1e30;
    run(j, pool);
    for (int b = 0; b < BATCHES; b++) {
        size_t n = 0;
        double t0 = now(), t;
        do {
            run(j, pool + (calls++ % n_copies) * mat);
            n++;
        } while ((t = now() - t0) < BATCH_SECONDS);
        if (t / (double)n < best) best = t / (double)n;
    }
    return best;
}

static void bench_shape(const si_cpu_kernels *k, si_dtype t, int cols, int rows, uint8_t *pool, const float *x,
                        const si_block_q8x *qx, float *out) {
    job j = {.k = k, .t = t, .rows = rows, .cols = cols, .qx = qx, .x = x, .out = out};
    j.row_bytes = si_dtype_row_bytes(t, cols);
    size_t mat = (size_t)rows * j.row_bytes;
    size_t n_copies = POOL_BYTES / mat;
    fill_matrix(t, pool, mat);
    for (size_t c = 1; c < n_copies; c++) memcpy(pool + c * mat, pool, mat);

    j.n_tok = 1;
    double tv = time_job(&j, pool, n_copies);
    j.n_tok = GEMM_TOKENS;
    double tm = time_job(&j, pool, 1);
    double flop = 2.0 * rows * cols;
    printf("%-7s %-5s %5d x %-6d  gemv %8.1f us %6.1f GB/s %6.1f GFLOP/s   gemm(%d) %9.1f us %6.1f GFLOP/s\n", k->name,
           si_dtype_name(t), cols, rows, tv * 1e6, (double)mat / tv * 1e-9, flop / tv * 1e-9, GEMM_TOKENS, tm * 1e6,
           flop * GEMM_TOKENS / tm * 1e-9);
    fflush(stdout);
}

int main(int argc, char **argv) {
    static const char *all[] = {"scalar", "avx2", "avx512"};
    const char *const *levels = argc > 1 ? (const char *const *)(argv + 1) : all;
    int n_levels = argc > 1 ? argc - 1 : 3;
    enum { MAX_COLS = 1536, MAX_ROWS = 49152 };
    uint8_t *pool = malloc(POOL_BYTES);
    float *x = malloc((size_t)GEMM_TOKENS * MAX_COLS * sizeof(float));
    si_block_q8x *qx = malloc((size_t)GEMM_TOKENS * (MAX_COLS / SI_QBLOCK) * sizeof *qx);
    float *out = malloc((size_t)GEMM_TOKENS * MAX_ROWS * sizeof(float));
    if (!pool || !x || !qx || !out) return 1;
    for (size_t i = 0; i < (size_t)GEMM_TOKENS * MAX_COLS; i++) x[i] = (float)((int)(next_u32() % 2001) - 1000) * 1e-3f;

    /* The model's matmuls (cols x rows): Q, O; K, V; gate, up; down; the
     * tied output head (Q8_0); then one shape in every other dtype (compare
     * the K types with Q4_1's line of the same shape, 1536 x 576). */
    static const struct {
        si_dtype t;
        int cols, rows;
    } shapes[] = {
        {SI_DTYPE_Q4_1, 576, 576},  {SI_DTYPE_Q4_1, 576, 192},  {SI_DTYPE_Q4_1, 576, 1536},
        {SI_DTYPE_Q4_1, 1536, 576}, {SI_DTYPE_Q8_0, 576, 49152}, {SI_DTYPE_Q4_0, 576, 1536},
        {SI_DTYPE_Q8_0, 576, 1536}, {SI_DTYPE_F16, 576, 1536},  {SI_DTYPE_BF16, 576, 1536},
        {SI_DTYPE_F32, 576, 1536},  {SI_DTYPE_Q5_0, 576, 1536}, {SI_DTYPE_Q5_1, 576, 1536},
        /* the K types need rows of whole 256-blocks: the down projection's shape */
        {SI_DTYPE_Q4_K, 1536, 576}, {SI_DTYPE_Q5_K, 1536, 576}, {SI_DTYPE_Q6_K, 1536, 576},
    };
    for (int l = 0; l < n_levels; l++) {
        const si_cpu_kernels *k = si_cpu_kernels_for(levels[l]);
        if (!k) {
            printf("%s: not available here\n", levels[l]);
            continue;
        }
        /* Quantizing the activations: once per matmul in matmul.c. */
        int n = GEMM_TOKENS * MAX_COLS;
        double best = 1e30;
        for (int b = 0; b < BATCHES; b++) {
            double t0 = now();
            k->quantize_q8x(x, qx, n);
            double t = now() - t0;
            if (t < best) best = t;
        }
        printf("%-7s quantize_q8x %6.2f ns per block of 32\n", k->name, best / (n / SI_QBLOCK) * 1e9);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            bench_shape(k, shapes[s].t, shapes[s].cols, shapes[s].rows, pool, x, qx, out);
    }
    free(pool);
    free(x);
    free(qx);
    free(out);
    return 0;
}
