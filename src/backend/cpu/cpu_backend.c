/* backend/cpu/cpu_backend.c: the CPU backend's element-wise operations and
 * its memory; matrix products are in matmul.c, attention in attention.c. */
#include "cpu_backend.h"

#include "../../util/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *cpu_alloc(si_backend *be, size_t bytes) {
    (void)be;
    /* 64-byte alignment keeps SIMD rows on cache-line boundaries. */
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) si_set_error("out of memory allocating %zu bytes", bytes);
    return p;
}

static void cpu_free(si_backend *be, void *p) {
    (void)be;
    free(p);
}

static void cpu_copy(si_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    memcpy(dst, src, bytes);
}

static int cpu_sync(si_backend *be) {
    (void)be;
    return 0;
}

static int grow(void **buf, size_t *cap, size_t want, size_t elem_bytes) {
    if (want <= *cap) return 0;
    void *p = aligned_alloc(64, ((want * elem_bytes) + 63) & ~(size_t)63);
    if (!p) return si_fail("out of memory reserving %zu bytes of scratch", want * elem_bytes);
    free(*buf);
    *buf = p;
    *cap = want;
    return 0;
}

static int cpu_reserve(si_backend *be, const si_hparams *hp, int max_tokens, int max_visible) {
    si_cpu_backend *c = (si_cpu_backend *)be;
    int widest = hp->dim > hp->ffn_dim ? hp->dim : hp->ffn_dim;
    if (hp->n_heads * hp->head_dim > widest) widest = hp->n_heads * hp->head_dim;
    size_t threads = (size_t)be->n_threads;
    size_t scores_cap = c->scores_cap, qrot_cap = c->qrot_cap;
    if (grow((void **)&c->qx, &c->qx_cap, (size_t)max_tokens * (widest / SI_QBLOCK), sizeof(si_block_q8x)))
        return -1;
    if (c->kern->gemm_bf16 && grow((void **)&c->xbf, &c->xbf_cap, (size_t)max_tokens * widest, sizeof(uint16_t)))
        return -1;
    size_t group = (size_t)(hp->n_heads / hp->n_kv_heads);
    if (group * SI_ATTN_PART > scores_cap) {
        size_t total = 0;
        if (grow((void **)&c->scores, &total, threads * group * SI_ATTN_PART, sizeof(float))) return -1;
        c->scores_cap = group * SI_ATTN_PART;
    }
    if (2 * group * hp->head_dim > qrot_cap) {
        size_t total = 0;
        if (grow((void **)&c->qrot, &total, threads * 2 * group * hp->head_dim, sizeof(float))) return -1;
        c->qrot_cap = 2 * group * hp->head_dim;
    }
    size_t partial = (size_t)max_tokens * hp->n_heads * si_attn_parts(max_visible) * (hp->head_dim + 2);
    if (grow((void **)&c->partial, &c->partial_cap, partial, sizeof(float))) return -1;
    if (grow((void **)&c->cand, &c->cand_cap, (size_t)hp->n_vocab, sizeof(si_sample_candidate))) return -1;
    if (grow((void **)&c->weights, &c->weights_cap, (size_t)hp->n_vocab, sizeof(float))) return -1;
    return 0;
}

static int cpu_prepare_model(si_backend *be, const si_llama *m) {
    si_cpu_backend *c = (si_cpu_backend *)be;
    c->head = m->output;
    /* The cache in f16 halves what attention reads. Float32 weights keep a
     * float32 cache (full precision was asked for: the transformers oracle
     * holds them to 1e-3), and so does the precise mode (the exactness tests
     * compare against a float32 reference). SWIFTINFER_CPU_KV=f32|f16 overrides. */
    const char *kv = getenv("SWIFTINFER_CPU_KV");
    bool f32 = c->precise || m->layers[0].wq->dtype == SI_DTYPE_F32;
    if (kv && *kv) f32 = strcmp(kv, "f16") != 0;
    be->kv_elem_bytes = f32 ? 4 : 2;
    return 0;
}

typedef struct {
    float *x;
    const si_tensor *emb;
    const int32_t *tokens;
    size_t row_bytes;
} embed_ctx;

static void embed_task(void *p, int i, int thread) {
    (void)thread;
    embed_ctx *c = p;
    int64_t dim = c->emb->ne[0];
    si_dequantize_row(c->emb->dtype, (const char *)c->emb->data + (size_t)c->tokens[i] * c->row_bytes, c->x + i * dim, dim);
}

static void cpu_embed(si_backend *be, float *x, const si_tensor *emb, const int32_t *tokens, int n) {
    embed_ctx c = {x, emb, tokens, si_dtype_row_bytes(emb->dtype, emb->ne[0])};
    si_pool_run(((si_cpu_backend *)be)->pool, embed_task, &c, n);
}

typedef struct {
    float *out;
    const float *in;
    const si_tensor *w;
    int dim;
    float eps;
} rmsnorm_ctx;

static float weight_at(const si_tensor *w, int i) {
    float f;
    si_dequantize_row(w->dtype, (const char *)w->data + si_dtype_row_bytes(w->dtype, 1) * i, &f, 1);
    return f;
}

static void rmsnorm_task(void *p, int i, int thread) {
    (void)thread;
    rmsnorm_ctx *c = p;
    const float *x = c->in + (size_t)i * c->dim;
    float *y = c->out + (size_t)i * c->dim;
    double ss = 0;
    for (int j = 0; j < c->dim; j++) ss += (double)x[j] * x[j];
    float scale = 1.0f / sqrtf((float)(ss / c->dim) + c->eps);
    if (c->w->dtype == SI_DTYPE_F32) {
        const float *w = c->w->data;
        for (int j = 0; j < c->dim; j++) y[j] = x[j] * scale * w[j];
    } else {
        for (int j = 0; j < c->dim; j++) y[j] = x[j] * scale * weight_at(c->w, j);
    }
}

static void cpu_rmsnorm(si_backend *be, float *out, const float *in, const si_tensor *w, int n, int dim, float eps) {
    rmsnorm_ctx c = {out, in, w, dim, eps};
    si_pool_run(((si_cpu_backend *)be)->pool, rmsnorm_task, &c, n);
}

/* Element-wise operations on a prompt's activations (hundreds of thousands
 * of elements; swiglu has an expf each) are split over the threads in runs
 * of this many elements; a decode step's few thousand stay on one thread. */
#define ELEMWISE_CHUNK 16384

typedef struct {
    float *x;
    const float *y;
    size_t count;
} elemwise_ctx;

static void swiglu_range(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

static void add_range(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

static size_t chunk_len(const elemwise_ctx *c, int task) {
    size_t start = (size_t)task * ELEMWISE_CHUNK;
    return c->count - start < ELEMWISE_CHUNK ? c->count - start : ELEMWISE_CHUNK;
}

static void swiglu_task(void *p, int task, int thread) {
    (void)thread;
    elemwise_ctx *c = p;
    size_t start = (size_t)task * ELEMWISE_CHUNK;
    swiglu_range(c->x + start, c->y + start, chunk_len(c, task));
}

static void add_task(void *p, int task, int thread) {
    (void)thread;
    elemwise_ctx *c = p;
    size_t start = (size_t)task * ELEMWISE_CHUNK;
    add_range(c->x + start, c->y + start, chunk_len(c, task));
}

static void cpu_swiglu(si_backend *be, float *gate, const float *up, size_t count) {
    elemwise_ctx c = {gate, up, count};
    si_pool_run(((si_cpu_backend *)be)->pool, swiglu_task, &c, (int)((count + ELEMWISE_CHUNK - 1) / ELEMWISE_CHUNK));
}

static void cpu_add(si_backend *be, float *x, const float *y, size_t count) {
    elemwise_ctx c = {x, y, count};
    si_pool_run(((si_cpu_backend *)be)->pool, add_task, &c, (int)((count + ELEMWISE_CHUNK - 1) / ELEMWISE_CHUNK));
}

static void cpu_argmax(si_backend *be, int32_t *ids, const float *logits, int n, int n_vocab) {
    (void)be;
    for (int i = 0; i < n; i++) {
        const float *row = logits + (size_t)i * n_vocab;
        int best = -1;
        for (int j = 0; j < n_vocab; j++)
            if (best < 0 ? row[j] == row[j] : row[j] > row[best]) best = j; /* NaN never wins */
        ids[i] = best < 0 ? 0 : best;
    }
}

/* The reference rules themselves (sampling/sampler.c), row by row. */
static void cpu_sample(si_backend *be, int32_t *ids, float *logits, int n, int n_vocab, const si_sample_spec *specs) {
    si_cpu_backend *c = (si_cpu_backend *)be;
    for (int i = 0; i < n; i++)
        ids[i] = si_sample_row(&specs[i], logits + (size_t)i * n_vocab, n_vocab, c->cand, c->weights);
}

static void cpu_destroy(si_backend *be) {
    si_cpu_backend *c = (si_cpu_backend *)be;
    si_pool_destroy(c->pool);
    free(c->qx);
    free(c->xbf);
    free(c->scores);
    free(c->qrot);
    free(c->partial);
    free(c->cand);
    free(c->weights);
    free(c);
}

si_backend *si_backend_cpu_create(int n_threads, bool precise) {
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    if (n_threads > 256) n_threads = 256;
    si_cpu_backend *c = si_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->pool = si_pool_create(n_threads);
    if (!c->pool) {
        free(c);
        return NULL;
    }
    c->kern = si_cpu_kernels_get();
    c->precise = precise;
    si_backend *b = &c->base;
    b->name = "cpu";
    b->n_threads = n_threads;
    b->kv_elem_bytes = 4; /* until prepare_model sees the weights */
    b->destroy = cpu_destroy;
    b->prepare_model = cpu_prepare_model;
    b->reserve = cpu_reserve;
    b->alloc = cpu_alloc;
    b->free = cpu_free;
    b->upload = cpu_copy;
    b->download = cpu_copy;
    b->copy = cpu_copy;
    b->embed = cpu_embed;
    b->rmsnorm = cpu_rmsnorm;
    b->matmul = si_cpu_matmul;
    b->attention = si_cpu_attention;
    b->swiglu = cpu_swiglu;
    b->add = cpu_add;
    b->argmax = cpu_argmax;
    b->sample = cpu_sample;
    b->sample_top_k_max = SI_SAMPLE_ANY_K;
    b->sync = cpu_sync;
    return b;
}
