/* tests/test_cuda_kernels.c: every CUDA backend operation against its
 * reference — the CPU backend, or for matrix products a float64 product of
 * the dequantized weights (the CPU's quantized path rounds activations to 8
 * bits, the GPU's does not) — on random data, for every weight type, row
 * counts on both sides of the cuBLAS threshold, both RoPE pairings, f32 and
 * f16 caches, several sessions in one pass, each attention kernel. Then
 * times the decode kernels on Llama-2-7B shapes (GB/s), attention with
 * Llama-3-8B's grouped heads, and the attention of a 512-row prefill chunk.
 * Skips (77) without a CUDA device. */
#include "backend/backend.h"
#include "engine/engine.h"
#include "testutil.h"
#include "util/half.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#ifndef SI_HAVE_CUDA
int main(void) { si_test_skip("built without the CUDA backend"); }
#else

#define rnd si_test_rand
#define rel_err si_test_rel_err
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() % 1000001) / 1000000.0f; }
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- host tensors ---- */

static si_tensor *matrix(si_dtype t, int64_t rows, int64_t cols) {
    si_tensor *m = calloc(1, sizeof *m);
    size_t rb = si_dtype_row_bytes(t, cols), bytes = rb * rows;
    unsigned char *d = malloc(bytes);
    *m = (si_tensor){.name = si_dtype_name(t), .dtype = t, .n_dims = 2, .ne = {cols, rows, 1, 1}, .data = d, .nbytes = bytes};
    if (t == SI_DTYPE_F32 || t == SI_DTYPE_F16 || t == SI_DTYPE_BF16) {
        for (int64_t i = 0; i < rows * cols; i++) {
            float v = frand(-0.1f, 0.1f);
            if (t == SI_DTYPE_F32) memcpy(d + 4 * i, &v, 4);
            uint16_t h = t == SI_DTYPE_F16 ? si_f32_to_f16(v) : si_f32_to_bf16(v);
            if (t != SI_DTYPE_F32) memcpy(d + 2 * i, &h, 2);
        }
        return m;
    }
    size_t bb = si_dtype_block_bytes(t);
    for (size_t b = 0; b < bytes / bb; b++) {
        unsigned char *blk = d + b * bb;
        for (size_t i = 0; i < bb; i++) blk[i] = (unsigned char)rnd();
        uint16_t sc = si_f32_to_f16(frand(0.001f, 0.01f)), mn = si_f32_to_f16(frand(-0.08f, 0.0f));
        /* the f16 fields: d first (Q6_K: last), then m (Q4_K/Q5_K: dmin, whose offsets are -dmin * mn) */
        memcpy(blk + (t == SI_DTYPE_Q6_K ? bb - 2 : 0), &sc, 2);
        if (t == SI_DTYPE_Q4_K || t == SI_DTYPE_Q5_K) mn = si_f32_to_f16(frand(0.0f, 0.0015f));
        if (t == SI_DTYPE_Q4_1 || t == SI_DTYPE_Q5_1 || t == SI_DTYPE_Q4_K || t == SI_DTYPE_Q5_K) memcpy(blk + 2, &mn, 2);
    }
    return m;
}

static si_tensor *vector(int64_t n) {
    si_tensor *v = calloc(1, sizeof *v);
    float *d = malloc(n * sizeof(float));
    for (int64_t i = 0; i < n; i++) d[i] = frand(0.5f, 1.5f);
    *v = (si_tensor){.name = "norm", .dtype = SI_DTYPE_F32, .n_dims = 1, .ne = {n, 1, 1, 1}, .data = d, .nbytes = n * 4};
    return v;
}

static void free_tensor(const si_tensor *t) {
    if (!t) return;
    free((void *)t->data);
    free((void *)t);
}

/* One layer per weight type, so that prepare_model uploads them all. */
static si_llama *fake_model(int n_layers, const si_dtype *types, int dim, int n_heads, int n_kv, int hd, int ffn,
                            int vocab, si_dtype emb_type) {
    si_llama *m = calloc(1, sizeof *m);
    snprintf(m->path, sizeof m->path, "fake");
    m->hp = (si_hparams){.n_vocab = vocab, .dim = dim, .n_layers = n_layers, .n_heads = n_heads, .n_kv_heads = n_kv,
                         .head_dim = hd, .ffn_dim = ffn, .ctx_train = 4096, .norm_eps = 1e-5f, .rope_theta = 10000.0f,
                         .rope_linear_scale = 1.0f, .rope_style = SI_ROPE_HALF};
    m->tok_embd = matrix(emb_type, vocab, dim);
    m->output = matrix(SI_DTYPE_F16, vocab, dim);
    m->out_norm = vector(dim);
    m->layers = calloc(n_layers, sizeof *m->layers);
    for (int l = 0; l < n_layers; l++) {
        si_layer_weights *w = &m->layers[l];
        si_dtype t = types[l];
        w->attn_norm = vector(dim);
        w->ffn_norm = vector(dim);
        w->wq = matrix(t, n_heads * hd, dim);
        w->wk = matrix(t, n_kv * hd, dim);
        w->wv = matrix(t, n_kv * hd, dim);
        w->wo = matrix(t, dim, n_heads * hd);
        w->w_gate = matrix(t, ffn, dim);
        w->w_up = matrix(t, ffn, dim);
        w->w_down = matrix(t, dim, ffn);
    }
    return m;
}

static void free_model(si_llama *m) {
    if (!m) return;
    if (m->tok_embd != m->output) free_tensor(m->tok_embd); /* tied: bench_model */
    free_tensor(m->output);
    free_tensor(m->out_norm);
    for (int l = 0; l < m->hp.n_layers; l++) {
        const si_layer_weights *w = &m->layers[l];
        const si_tensor *ts[9] = {w->attn_norm, w->ffn_norm, w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
        for (int i = 0; i < 9; i++) free_tensor(ts[i]);
    }
    free(m->layers);
    free(m);
}

/* ---- device helpers ---- */

static void *to_dev(si_backend *be, const void *h, size_t bytes) {
    void *d = be->alloc(be, bytes);
    be->upload(be, d, h, bytes);
    return d;
}

static float *from_dev(si_backend *be, const void *d, size_t n) {
    float *h = malloc(n * sizeof(float));
    be->download(be, h, d, n * sizeof(float));
    return h;
}

static float *rand_vec(size_t n, float lo, float hi) {
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = frand(lo, hi);
    return v;
}

static void ref_matmul(const si_tensor *w, const float *x, int n, float *y) {
    int64_t rows = w->ne[1], cols = w->ne[0];
    float *row = malloc(cols * sizeof(float));
    size_t rb = si_dtype_row_bytes(w->dtype, cols);
    for (int64_t r = 0; r < rows; r++) {
        si_dequantize_row(w->dtype, (const char *)w->data + r * rb, row, cols);
        for (int t = 0; t < n; t++) {
            double s = 0;
            for (int64_t c = 0; c < cols; c++) s += (double)row[c] * x[t * cols + c];
            y[(size_t)t * rows + r] = (float)s;
        }
    }
    free(row);
}

/* Expected precision of a product of n rows with weights of type t. */
/* GEMV multiplies in f32; cuBLAS (F16/BF16 from 9 rows, quantized weights
 * expanded to f16 from 32: cuda_backend.c's defaults) takes activations
 * rounded to the weights' 16-bit type, f16 for the quantized ones. */
static double matmul_tol(si_dtype t, int n) {
    const bool half = t == SI_DTYPE_F16 || t == SI_DTYPE_BF16;
    if (half ? n < 9 : t == SI_DTYPE_F32 || n < 32) return 1e-5;
    return t == SI_DTYPE_BF16 ? 1.5e-2 : 2e-3;
}

static int quick; /* SI_TEST_QUICK: fewer sizes (for compute-sanitizer) */

static void test_matmul(si_backend *cu, const si_llama *m) {
    const si_hparams *hp = &m->hp;
    /* quick (compute-sanitizer) takes the first three: GEMV, cuBLAS, quantized cuBLAS */
    int ns[] = {1, 9, 33, 3, 2, 5, 8, 17};
    for (int l = 0; l < hp->n_layers; l++) {
        const si_layer_weights *w = &m->layers[l];
        si_dtype t = w->wq->dtype;
        for (size_t k = 0; k < (quick ? 3 : sizeof ns / sizeof ns[0]); k++) {
            int n = ns[k], q = hp->n_heads * hp->head_dim, kv = hp->n_kv_heads * hp->head_dim;
            float *x = rand_vec((size_t)n * hp->dim, -1, 1), *xf = rand_vec((size_t)n * hp->ffn_dim, -1, 1);
            float *dx = to_dev(cu, x, (size_t)n * hp->dim * 4), *dxf = to_dev(cu, xf, (size_t)n * hp->ffn_dim * 4);
            float *dq = cu->alloc(cu, (size_t)n * q * 4), *dk = cu->alloc(cu, (size_t)n * kv * 4),
                  *dv = cu->alloc(cu, (size_t)n * kv * 4), *dg = cu->alloc(cu, (size_t)n * hp->ffn_dim * 4);
            float *base = rand_vec((size_t)n * hp->dim, -1, 1), *dres = to_dev(cu, base, (size_t)n * hp->dim * 4);
            float *outs[3] = {dq, dk, dv};
            const si_tensor *ws[3] = {w->wq, w->wk, w->wv};
            cu->matmul(cu, 3, outs, ws, dx, n);
            cu->matmul_swiglu(cu, dg, w->w_gate, w->w_up, dx, n);
            cu->matmul_add(cu, dres, w->w_down, dxf, n);
            CHECKF(cu->sync(cu) == 0, "%s", si_last_error());
            const si_tensor *chk[3] = {w->wq, w->wk, w->wv};
            float *got[3] = {from_dev(cu, dq, (size_t)n * q), from_dev(cu, dk, (size_t)n * kv), from_dev(cu, dv, (size_t)n * kv)};
            double tol = matmul_tol(t, n), worst = 0;
            for (int j = 0; j < 3; j++) {
                float *ref = malloc((size_t)n * chk[j]->ne[1] * 4);
                ref_matmul(chk[j], x, n, ref);
                double e = rel_err(got[j], ref, (size_t)n * chk[j]->ne[1]);
                worst = e > worst ? e : worst;
                free(ref);
                free(got[j]);
            }
            /* swiglu and add references from the same float64 products */
            float *g = malloc((size_t)n * hp->ffn_dim * 4), *u = malloc((size_t)n * hp->ffn_dim * 4);
            ref_matmul(w->w_gate, x, n, g);
            ref_matmul(w->w_up, x, n, u);
            for (size_t i = 0; i < (size_t)n * hp->ffn_dim; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
            float *gg = from_dev(cu, dg, (size_t)n * hp->ffn_dim);
            double eg = rel_err(gg, g, (size_t)n * hp->ffn_dim);
            float *dn = malloc((size_t)n * hp->dim * 4);
            ref_matmul(w->w_down, xf, n, dn);
            for (size_t i = 0; i < (size_t)n * hp->dim; i++) dn[i] += base[i];
            float *gr = from_dev(cu, dres, (size_t)n * hp->dim);
            double ea = rel_err(gr, dn, (size_t)n * hp->dim);
            printf("matmul %-4s n=%-2d: qkv %.2e  swiglu %.2e  add %.2e  (tolerance %.0e)\n", si_dtype_name(t), n, worst,
                   eg, ea, tol);
            CHECKF(worst <= tol && eg <= 2 * tol && ea <= tol, "%s n=%d", si_dtype_name(t), n);
            void *bufs[] = {dx, dxf, dq, dk, dv, dg, dres};
            for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cu->free(cu, bufs[i]);
            free(x), free(xf), free(base), free(g), free(u), free(gg), free(dn), free(gr);
        }
    }
}

/* SWIFTINFER_CUDA_FUSE_NORM as the backend reads it (gpu-check.sh may set it) */
static bool fuse_norm_on(void) {
    const char *v = getenv("SWIFTINFER_CUDA_FUSE_NORM");
    return !v || !*v || atoi(v) != 0;
}

/* What forward.c does: the folded products, or (norm_matmul false) the
 * norm kernel into h and then the products. *folded says which ran. */
static void normed_products(si_backend *cu, int count, float *const *outs, const si_tensor *const *ws, float *h,
                            const float *x, const si_tensor *nw, int n, int dim, float eps, bool swiglu, bool *folded) {
    *folded = cu->norm_matmul(cu, count, outs, ws, x, nw, n, dim, eps, swiglu);
    if (*folded) return;
    cu->rmsnorm(cu, h, x, nw, n, dim, eps);
    if (swiglu)
        cu->matmul_swiglu(cu, outs[0], ws[0], ws[1], h, n);
    else
        cu->matmul(cu, count, outs, ws, h, n);
}

/* Products of rmsnorm(x) (norm_matmul: for 1-2 rows of F16/BF16 weights
 * the norm is folded into the GEMV, and only there) against float64
 * products of the host-normed rows, every layer type. */
static void test_norm_matmul(si_backend *cu, const si_llama *m, bool fold_expected) {
    const si_hparams *hp = &m->hp;
    int ns[] = {1, 2, 3, 9};
    for (int l = 0; l < hp->n_layers; l++) {
        const si_layer_weights *w = &m->layers[l];
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            int n = ns[k], q = hp->n_heads * hp->head_dim, dim = hp->dim;
            float *x = rand_vec((size_t)n * dim, -2, 2), *xn = malloc((size_t)n * dim * 4);
            const float *g = w->attn_norm->data;
            for (int t = 0; t < n; t++) {
                double ss = 0;
                for (int c = 0; c < dim; c++) ss += (double)x[t * dim + c] * x[t * dim + c];
                float scale = 1.0f / sqrtf((float)(ss / dim) + hp->norm_eps);
                for (int c = 0; c < dim; c++) xn[t * dim + c] = x[t * dim + c] * scale * g[c];
            }
            float *dx = to_dev(cu, x, (size_t)n * dim * 4), *dh = cu->alloc(cu, (size_t)n * dim * 4);
            float *dq = cu->alloc(cu, (size_t)n * q * 4), *dg = cu->alloc(cu, (size_t)n * hp->ffn_dim * 4);
            float *dup = cu->alloc(cu, (size_t)n * hp->ffn_dim * 4);
            float *outs[2] = {dg, dup};
            const si_tensor *ffn[2] = {w->w_gate, w->w_up};
            bool fq, fg, fold = fold_expected && n <= 2 &&
                                (w->wq->dtype == SI_DTYPE_F16 || w->wq->dtype == SI_DTYPE_BF16);
            normed_products(cu, 1, &dq, &w->wq, dh, dx, w->attn_norm, n, dim, hp->norm_eps, false, &fq);
            float *gq = from_dev(cu, dq, (size_t)n * q);
            normed_products(cu, 2, outs, ffn, dh, dx, w->attn_norm, n, dim, hp->norm_eps, true, &fg);
            float *gg = from_dev(cu, dg, (size_t)n * hp->ffn_dim);
            CHECKF(fq == fold && fg == fold, "%s n=%d: norm folded %d/%d, expected %d", si_dtype_name(w->wq->dtype), n,
                   fq, fg, fold);
            CHECKF(cu->sync(cu) == 0, "%s", si_last_error());
            float *rq = malloc((size_t)n * q * 4), *rg = malloc((size_t)n * hp->ffn_dim * 4),
                  *ru = malloc((size_t)n * hp->ffn_dim * 4);
            ref_matmul(w->wq, xn, n, rq);
            ref_matmul(w->w_gate, xn, n, rg);
            ref_matmul(w->w_up, xn, n, ru);
            for (size_t i = 0; i < (size_t)n * hp->ffn_dim; i++) rg[i] = rg[i] / (1.0f + expf(-rg[i])) * ru[i];
            double tol = matmul_tol(w->wq->dtype, n), eq = rel_err(gq, rq, (size_t)n * q),
                   eg = rel_err(gg, rg, (size_t)n * hp->ffn_dim);
            printf("matmul of rmsnorm(x) %-4s n=%d: q %.2e  swiglu %.2e  (tolerance %.0e)\n", si_dtype_name(w->wq->dtype),
                   n, eq, eg, tol);
            CHECKF(eq <= tol && eg <= 2 * tol, "%s n=%d", si_dtype_name(w->wq->dtype), n);
            void *bufs[] = {dx, dh, dq, dg, dup};
            for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cu->free(cu, bufs[i]);
            free(x), free(xn), free(gq), free(gg), free(rq), free(rg), free(ru);
        }
    }
}

/* rmsnorm, embed, swiglu, add, argmax against the CPU backend */
static void test_elementwise(si_backend *cu, si_backend *cpu, const si_llama *m) {
    const si_hparams *hp = &m->hp;
    int n = 7, dim = hp->dim;
    float *x = rand_vec((size_t)n * dim, -3, 3), *y = malloc((size_t)n * dim * 4);
    float *dx = to_dev(cu, x, (size_t)n * dim * 4), *dy = cu->alloc(cu, (size_t)n * dim * 4);
    cu->rmsnorm(cu, dy, dx, m->layers[0].attn_norm, n, dim, hp->norm_eps);
    cpu->rmsnorm(cpu, y, x, m->layers[0].attn_norm, n, dim, hp->norm_eps);
    float *g = from_dev(cu, dy, (size_t)n * dim);
    double e = rel_err(g, y, (size_t)n * dim);
    printf("rmsnorm: %.2e\n", e);
    CHECK(e < 1e-6);
    free(g);

    int32_t tok[7];
    for (int i = 0; i < n; i++) tok[i] = (int32_t)(rnd() % hp->n_vocab);
    int32_t *dtok = to_dev(cu, tok, sizeof tok);
    cu->embed(cu, dy, m->tok_embd, dtok, n);
    cpu->embed(cpu, y, m->tok_embd, tok, n);
    g = from_dev(cu, dy, (size_t)n * dim);
    e = rel_err(g, y, (size_t)n * dim);
    printf("embed (%s): %.2e\n", si_dtype_name(m->tok_embd->dtype), e);
    CHECK(e < 1e-6);
    free(g);

    size_t cnt = (size_t)n * dim;
    float *a = rand_vec(cnt, -6, 6), *b = rand_vec(cnt, -2, 2), *a2 = malloc(cnt * 4);
    memcpy(a2, a, cnt * 4);
    float *da = to_dev(cu, a, cnt * 4), *db = to_dev(cu, b, cnt * 4);
    cu->swiglu(cu, da, db, cnt);
    cpu->swiglu(cpu, a2, b, cnt);
    g = from_dev(cu, da, cnt);
    e = rel_err(g, a2, cnt);
    cu->add(cu, da, db, cnt);
    cpu->add(cpu, a2, b, cnt);
    free(g);
    g = from_dev(cu, da, cnt);
    double e2 = rel_err(g, a2, cnt);
    printf("swiglu: %.2e  add: %.2e\n", e, e2);
    CHECK(e < 1e-6 && e2 < 1e-6);
    free(g);

    /* argmax: random rows with planted ties and NaNs */
    int rows = 5, nv = 50000;
    float *lg = rand_vec((size_t)rows * nv, -10, 10);
    lg[0 * nv + 777] = lg[0 * nv + 40000] = 11.0f;      /* tie: the lower index wins */
    lg[1 * nv + 5] = NAN;                               /* NaN never wins */
    for (int j = 0; j < nv; j++) lg[2 * nv + j] = -INFINITY;
    for (int j = 0; j < nv; j++) lg[3 * nv + j] = NAN;
    int32_t want[5], gotid[5];
    float *dlg = to_dev(cu, lg, (size_t)rows * nv * 4);
    int32_t *dids = cu->alloc(cu, sizeof gotid);
    cu->argmax(cu, dids, dlg, rows, nv);
    cu->download(cu, gotid, dids, sizeof gotid);
    cpu->argmax(cpu, want, lg, rows, nv);
    CHECKF(cu->sync(cu) == 0, "%s", si_last_error());
    for (int i = 0; i < rows; i++) CHECKF(gotid[i] == want[i], "argmax row %d: %d vs %d", i, gotid[i], want[i]);
    CHECK(want[0] == 777 && want[2] == 0 && want[3] == 0);
    void *bufs[] = {dx, dy, dtok, da, db, dlg, dids};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cu->free(cu, bufs[i]);
    free(x), free(y), free(a), free(b), free(a2), free(lg);
}

/* ---- attention ---- */

typedef struct {
    si_kvcache cpu, cuda;
} cache_pair;

static void make_caches(cache_pair *c, si_backend *cpu, si_backend *cu, int sinks, int window, int chunk, int kv_dim) {
    si_cache_config cfg = {.sinks = sinks, .window = window, .chunk = chunk};
    int slots = sinks + window + chunk;
    c->cpu = (si_kvcache){.cfg = cfg, .n_layers = 2, .kv_dim = kv_dim, .slots = slots, .elem_bytes = 4};
    c->cuda = c->cpu;
    c->cuda.elem_bytes = cu->kv_elem_bytes;
    size_t n = 2 * (size_t)slots * kv_dim;
    c->cpu.k = cpu->alloc(cpu, n * 4);
    c->cpu.v = cpu->alloc(cpu, n * 4);
    c->cuda.k = cu->alloc(cu, n * cu->kv_elem_bytes);
    c->cuda.v = cu->alloc(cu, n * cu->kv_elem_bytes);
}

static void rope_row(double *cs, double pos, const si_hparams *hp) {
    int half = hp->head_dim / 2;
    for (int i = 0; i < half; i++) {
        double a = pos * pow(hp->rope_theta, -2.0 * i / hp->head_dim);
        cs[i] = cos(a);
        cs[half + i] = sin(a);
    }
}

/* Passes of random q/k/v through two sessions' caches (one prefilling in
 * chunks, one decoding a token per pass) on both backends. */
static void test_attention(si_backend *cu, si_backend *cpu, si_hparams hp, int sinks, int window, int chunk,
                           double tol) {
    int hd = hp.head_dim, q_dim = hp.n_heads * hd, kv_dim = hp.n_kv_heads * hd;
    cache_pair A, B;
    make_caches(&A, cpu, cu, sinks, window, chunk, kv_dim);
    make_caches(&B, cpu, cu, 2, 9, 1, kv_dim);
    int max_tok = chunk + 1;
    CHECK(cu->reserve(cu, &hp, max_tok, sinks + window + 1) == 0);
    CHECK(cpu->reserve(cpu, &hp, max_tok, sinks + window + 1) == 0);
    double worst = 0;
    int passes = 0;
    for (int64_t done = 0; done < 3 * (sinks + window) + 5; passes++) {
        int na = 1 + (int)(rnd() % chunk), n = na + 1;
        float *q = rand_vec((size_t)n * q_dim, -2, 2), *k = rand_vec((size_t)n * kv_dim, -2, 2),
              *v = rand_vec((size_t)n * kv_dim, -1, 1);
        double *rope = malloc((size_t)n * 3 * hd * sizeof(double));
        float *kc = malloc((size_t)n * kv_dim * 4), *out = malloc((size_t)n * q_dim * 4);
        memcpy(kc, k, (size_t)n * kv_dim * 4);
        for (int i = 0; i < n; i++) {
            const si_kvcache *c = i < na ? &A.cpu : &B.cpu;
            int64_t t = i < na ? A.cpu.n_seen + i : B.cpu.n_seen;
            rope_row(rope + (size_t)i * 3 * hd, si_cache_key_pos(c, t), &hp);
            rope_row(rope + (size_t)i * 3 * hd + hd, si_cache_query_window_pos(c, t), &hp);
            rope_row(rope + (size_t)i * 3 * hd + 2 * hd, si_cache_query_sink_pos(c, t), &hp);
        }
        si_attn_run rc[2] = {{&A.cpu, A.cpu.n_seen, 0, na}, {&B.cpu, B.cpu.n_seen, na, 1}};
        si_attn_run rg[2] = {{&A.cuda, A.cuda.n_seen, 0, na}, {&B.cuda, B.cuda.n_seen, na, 1}};
        si_attn_args a = {.layer = 1, .n_tokens = n, .q = q, .k = kc, .v = v, .out = out, .rope = rope, .runs = rc, .n_runs = 2};
        cpu->attention(cpu, &hp, &a);
        float *dq = to_dev(cu, q, (size_t)n * q_dim * 4), *dk = to_dev(cu, k, (size_t)n * kv_dim * 4),
              *dv = to_dev(cu, v, (size_t)n * kv_dim * 4), *dout = cu->alloc(cu, (size_t)n * q_dim * 4);
        double *drope = to_dev(cu, rope, (size_t)n * 3 * hd * sizeof(double));
        int vis = sinks + window + 1 > 12 ? sinks + window + 1 : 12;
        si_pass pass = {.n_tokens = n, .runs = rg, .n_runs = 2, .max_visible = vis, .recordable = false};
        CHECKF(cu->pass_begin(cu, &pass) == 0, "%s", si_last_error());
        si_attn_args g = {.layer = 1, .n_tokens = n, .q = dq, .k = dk, .v = dv, .out = dout, .rope = drope, .runs = rg, .n_runs = 2};
        cu->attention(cu, &hp, &g);
        CHECKF(cu->pass_end(cu) == 0, "%s", si_last_error());
        float *got = from_dev(cu, dout, (size_t)n * q_dim);
        CHECKF(cu->sync(cu) == 0, "%s", si_last_error());
        double e = rel_err(got, out, (size_t)n * q_dim);
        if (e > worst) worst = e;
        A.cpu.n_seen += na, A.cuda.n_seen += na, B.cpu.n_seen++, B.cuda.n_seen++;
        done += na;
        void *bufs[] = {dq, dk, dv, drope, dout};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cu->free(cu, bufs[i]);
        free(q), free(k), free(v), free(rope), free(kc), free(out), free(got);
    }
    printf("attention hd=%d heads %d/%d %s S=%d W=%d C=%d, %s cache, %d passes: %.2e (tolerance %.0e)\n", hd,
           hp.n_heads, hp.n_kv_heads, hp.rope_style == SI_ROPE_HALF ? "half" : "adjacent", sinks, window, chunk,
           cu->kv_elem_bytes == 2 ? "f16" : "f32", passes, worst, tol);
    CHECK(worst <= tol);
    cache_pair *cs[2] = {&A, &B};
    for (int i = 0; i < 2; i++) {
        cpu->free(cpu, cs[i]->cpu.k), cpu->free(cpu, cs[i]->cpu.v);
        cu->free(cu, cs[i]->cuda.k), cu->free(cu, cs[i]->cuda.v);
    }
}

/* Kernels the caller chose (SWIFTINFER_CUDA_ATTN / SWIFTINFER_CUDA_GEMV set
 * before the test starts, as gpu-check.sh's fallback does): then only those
 * run, every backend here taking them instead of the one asked for, so that
 * a kernel known to fail is left out rather than tested again. */
static char forced_attn[32], forced_gemv[32];
static void read_forced(void) {
    const char *a = getenv("SWIFTINFER_CUDA_ATTN"), *g = getenv("SWIFTINFER_CUDA_GEMV");
    snprintf(forced_attn, sizeof forced_attn, "%s", a ? a : "");
    snprintf(forced_gemv, sizeof forced_gemv, "%s", g ? g : "");
    if (a) printf("attention kernel fixed by SWIFTINFER_CUDA_ATTN: %s\n", a);
    if (g) printf("GEMV kernel fixed by SWIFTINFER_CUDA_GEMV: %s\n", g);
}
/* whether a loop over kernels runs this one */
static bool attn_runs(const char *k) { return !forced_attn[0] || !strcmp(forced_attn, k); }
static bool gemv_runs(const char *k) { return !forced_gemv[0] || !strcmp(forced_gemv, k); }

static void set_or_unset(const char *var, const char *v) {
    if (v[0])
        setenv(var, v, 1);
    else
        unsetenv(var);
}

/* A CUDA backend with this cache type, attention kernel ("warp", "tiled"
 * or "perhead") and F16/BF16 GEMV ("reg", "async" or "wide"). */
static si_backend *cuda_with3(const char *kv, const char *attn, const char *gemv) {
    setenv("SWIFTINFER_CUDA_KV", kv, 1);
    setenv("SWIFTINFER_CUDA_ATTN", forced_attn[0] ? forced_attn : attn, 1);
    setenv("SWIFTINFER_CUDA_GEMV", forced_gemv[0] ? forced_gemv : gemv, 1);
    si_backend *b = si_backend_cuda_create();
    unsetenv("SWIFTINFER_CUDA_KV");
    set_or_unset("SWIFTINFER_CUDA_ATTN", forced_attn);
    set_or_unset("SWIFTINFER_CUDA_GEMV", forced_gemv);
    return b;
}
static si_backend *cuda_with(const char *kv, const char *attn) { return cuda_with3(kv, attn, "reg"); }

/* ---- decode kernel speed on Llama-2-7B shapes ---- */

static double time_op(si_backend *cu, void (*op)(void *), void *ctx, int reps) {
    op(ctx);
    cu->sync(cu);
    double t0 = now();
    for (int i = 0; i < reps; i++) op(ctx);
    cu->sync(cu);
    return (now() - t0) / reps;
}

typedef struct {
    si_backend *cu;
    const si_llama *m;
    float *x, *xf, *q, *k, *v, *g, *logits;
    int32_t *ids;
    si_sample_spec *spec;
    si_attn_args att;
} bench_ctx;

static void op_qkv(void *p) {
    bench_ctx *b = p;
    float *outs[3] = {b->q, b->k, b->v};
    const si_tensor *ws[3] = {b->m->layers[0].wq, b->m->layers[0].wk, b->m->layers[0].wv};
    b->cu->matmul(b->cu, 3, outs, ws, b->x, 1);
}
static void op_gate_up(void *p) {
    bench_ctx *b = p;
    b->cu->matmul_swiglu(b->cu, b->g, b->m->layers[0].w_gate, b->m->layers[0].w_up, b->x, 1);
}
static void op_down(void *p) {
    bench_ctx *b = p;
    b->cu->matmul_add(b->cu, b->x, b->m->layers[0].w_down, b->xf, 1);
}
static void op_head(void *p) {
    bench_ctx *b = p;
    b->cu->matmul(b->cu, 1, &b->logits, &b->m->output, b->x, 1);
}
static void op_argmax(void *p) {
    bench_ctx *b = p;
    b->cu->argmax(b->cu, b->ids, b->logits, 1, 32000);
}
static void op_sample(void *p) {
    bench_ctx *b = p;
    b->cu->sample(b->cu, b->ids, b->logits, 1, 32000, b->spec);
}
static void op_attn(void *p) {
    bench_ctx *b = p;
    b->cu->attention(b->cu, &b->m->hp, &b->att);
}

/* Times the decode kernels: the matrix products (with this GEMV), the
 * attention (with this kernel), or both. kv_heads 32 is Llama-2-7B; 8 gives
 * Llama-3-8B's attention (grouped queries, 4 per KV head). */
/* One layer of Llama-2-7B (kv_heads 32) or Llama-3-8B's attention shape
 * (8), its products of type wt, the embedding table tied to the f16 output
 * head (the benchmarks never read it): kept for the next call with the same
 * shape, since writing ~0.5 GB of random weights takes seconds of the GPU
 * run's few minutes. bench_model(0, 0) frees it. */
static si_llama *bench_model(si_dtype wt, int kv_heads) {
    static si_llama *m;
    static si_dtype m_wt;
    static int m_kv;
    if (m && m_wt == wt && m_kv == kv_heads) return m;
    free_model(m);
    m = NULL;
    if (!kv_heads) return NULL;
    m = fake_model(1, &wt, 4096, 32, kv_heads, 128, 11008, 1, SI_DTYPE_F16);
    free_tensor(m->tok_embd);
    free_tensor(m->output);
    m->hp.n_vocab = 32000;
    m->output = m->tok_embd = matrix(SI_DTYPE_F16, 32000, 4096);
    m_wt = wt;
    m_kv = kv_heads;
    return m;
}

/* what to time: the products, head and sampling; attention; only the layer's three products */
enum { BENCH_GEMV = 1, BENCH_ATTN = 2, BENCH_QGEMV = 4 };
static void bench_7b(const char *attn, const char *gemv, int which, int kv_heads, si_dtype wt) {
    si_backend *cu = cuda_with3("f16", attn, gemv);
    si_llama *m = bench_model(wt, kv_heads);
    const int kv_dim = kv_heads * 128;
    if (cu->prepare_model(cu, m)) {
        printf("bench: %s\n", si_last_error());
        CHECK(0);
        return;
    }
    const si_hparams *hp = &m->hp;
    bench_ctx b = {.cu = cu, .m = m};
    float *x = rand_vec(11008, -1, 1);
    b.x = to_dev(cu, x, 4096 * 4);
    b.xf = to_dev(cu, x, 11008 * 4);
    /* q, k, v hold values before any product writes them: the attention-only runs read them as they are */
    b.q = to_dev(cu, x, 4096 * 4), b.k = to_dev(cu, x + 2048, 4096 * 4), b.v = to_dev(cu, x + 4096, 4096 * 4);
    b.g = cu->alloc(cu, 11008 * 4);
    float *logits = rand_vec(32000, -10, 10);
    b.logits = to_dev(cu, logits, 32000 * 4);
    free(logits);
    /* the default sampler's decision: penalty over 64 recent ids, top-k 40, top-p 0.95 */
    si_sample_spec *spec = calloc(1, sizeof *spec);
    *spec = (si_sample_spec){.temperature = 0.7f, .top_p = 0.95f, .repeat_penalty = 1.1f, .top_k = 40, .u = 0.5,
                             .n_penalized = 64};
    for (int i = 0; i < 64; i++) spec->penalized[i] = i * 499;
    b.spec = to_dev(cu, spec, sizeof *spec);
    free(spec);
    b.ids = cu->alloc(cu, 4 * sizeof(int32_t));
    /* a full window of 2048 + 1024 - 4 keys, as the 1024-token benchmark reaches */
    cache_pair c;
    si_backend *cpu = si_backend_cpu_create(1, false);
    int S = 4, W = 3068;
    make_caches(&c, cpu, cu, S, W, 1, kv_dim);
    size_t cache_elems = 2 * (size_t)c.cuda.slots * kv_dim; /* random keys and values, never zeros */
    uint16_t *kv = malloc(cache_elems * 2);
    for (size_t i = 0; i < cache_elems; i++) kv[i] = si_f32_to_f16(frand(-1, 1));
    cu->upload(cu, c.cuda.k, kv, cache_elems * 2);
    cu->upload(cu, c.cuda.v, kv, cache_elems * 2);
    free(kv);
    cu->reserve(cu, hp, 1, S + W + 1);
    c.cuda.n_seen = 100000;
    si_attn_run run = {&c.cuda, c.cuda.n_seen, 0, 1};
    double rope[3 * 128];
    rope_row(rope, 100000, hp);
    rope_row(rope + 128, 100000, hp);
    rope_row(rope + 256, 3072, hp);
    double *drope = to_dev(cu, rope, sizeof rope);
    float *dout = cu->alloc(cu, 4096 * 4);
    si_pass pass = {.n_tokens = 1, .runs = &run, .n_runs = 1, .max_visible = S + W + 1, .recordable = false};
    cu->pass_begin(cu, &pass);
    b.att = (si_attn_args){.layer = 0, .n_tokens = 1, .q = b.q, .k = b.k, .v = b.v, .out = dout, .rope = drope, .runs = &run, .n_runs = 1};
    char attn_what[64], qkv[64], gate_up[64], down[64];
    snprintf(attn_what, sizeof attn_what, "attention 3073 keys x %d/%d heads, f16 KV", hp->n_heads, kv_heads);
    const char *tn = si_dtype_name(wt);
    snprintf(qkv, sizeof qkv, "q,k,v 3x4096x4096 %s", tn);
    snprintf(gate_up, sizeof gate_up, "gate+up 2x11008x4096 %s, silu", tn);
    snprintf(down, sizeof down, "down 4096x11008 %s, +=", tn);
    /* bytes read: the weights as the file holds them (the planar copy adds only padding) */
    const double row4096 = (double)si_dtype_row_bytes(wt, 4096), row11008 = (double)si_dtype_row_bytes(wt, 11008);
    struct {
        const char *what;
        void (*op)(void *);
        double bytes;
    } ops[] = {
        {qkv, op_qkv, 3.0 * 4096 * row4096},
        {gate_up, op_gate_up, 2.0 * 11008 * row4096},
        {down, op_down, 4096.0 * row11008},
        {"output head 32000x4096 f16", op_head, 32000.0 * 4096 * 2},
        {"argmax, 32000 logits", op_argmax, 32000.0 * 4},
        {"sampling, 32000 logits, top-k 40", op_sample, 32000.0 * 4},
        {attn_what, op_attn, 3073.0 * kv_dim * 2 * 2},
    };
    const size_t n_ops = sizeof ops / sizeof ops[0];
    for (size_t i = 0; i < n_ops; i++) {
        const bool want = i == n_ops - 1 ? which & BENCH_ATTN : (which & BENCH_GEMV) || (i < 3 && (which & BENCH_QGEMV));
        if (!want) continue;
        if (i == 0) printf("  (%s GEMV kernel)\n", gemv);
        if (i == n_ops - 1) printf("  (%s attention kernel)\n", attn);
        double t = time_op(cu, ops[i].op, &b, 50);
        printf("  %-40s %8.1f us  %7.0f GB/s\n", ops[i].what, t * 1e6, ops[i].bytes / t / 1e9);
    }
    CHECKF(cu->pass_end(cu) == 0 && cu->sync(cu) == 0, "%s", si_last_error());
    void *bufs[] = {b.x, b.xf, b.q, b.k, b.v, b.g, b.logits, b.ids, b.spec, drope, dout, c.cuda.k, c.cuda.v};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cu->free(cu, bufs[i]);
    cpu->free(cpu, c.cpu.k);
    cpu->free(cpu, c.cpu.v);
    cu->destroy(cu);
    cpu->destroy(cpu);
    free(x);
}

/* Times the attention of one 512-row prefill chunk after a full window
 * (sink 4, window 2044: every row sees 2048 keys), Llama-2-7B's heads, or
 * Llama-3-8B's with kv_heads 8; reports query-key pairs per second. */
typedef struct {
    si_backend *cu;
    si_hparams hp;
    si_attn_args att;
} prefill_ctx;
static void op_prefill_attn(void *p) {
    prefill_ctx *b = p;
    b->cu->attention(b->cu, &b->hp, &b->att);
}
static void bench_prefill_attn(const char *attn, int kv_heads) {
    enum { S = 4, W = 2044, C = 512, HD = 128 };
    si_backend *cu = cuda_with("f16", attn);
    prefill_ctx b = {.cu = cu,
                     .hp = {.dim = 4096, .n_layers = 1, .n_heads = 32, .n_kv_heads = kv_heads, .head_dim = HD,
                            .ffn_dim = 11008, .rope_theta = 10000.0f, .rope_linear_scale = 1.0f, .rope_style = SI_ROPE_HALF}};
    const int kv_dim = kv_heads * HD, q_dim = 32 * HD;
    si_kvcache c = {.cfg = {.sinks = S, .window = W, .chunk = C}, .n_layers = 1, .kv_dim = kv_dim, .slots = S + W + C,
                    .elem_bytes = 2, .n_seen = 100000};
    size_t elems = (size_t)c.slots * kv_dim;
    uint16_t *kv = malloc(elems * 2);
    for (size_t i = 0; i < elems; i++) kv[i] = si_f32_to_f16(frand(-1, 1));
    c.k = to_dev(cu, kv, elems * 2);
    c.v = to_dev(cu, kv, elems * 2);
    free(kv);
    CHECKF(cu->reserve(cu, &b.hp, C, S + W + 1) == 0, "%s", si_last_error());
    double *rope = malloc((size_t)C * 3 * HD * sizeof(double));
    for (int i = 0; i < C; i++) {
        int64_t t = c.n_seen + i;
        rope_row(rope + (size_t)i * 3 * HD, si_cache_key_pos(&c, t), &b.hp);
        rope_row(rope + (size_t)i * 3 * HD + HD, si_cache_query_window_pos(&c, t), &b.hp);
        rope_row(rope + (size_t)i * 3 * HD + 2 * HD, si_cache_query_sink_pos(&c, t), &b.hp);
    }
    float *q = rand_vec((size_t)C * q_dim, -1, 1);
    float *dq = to_dev(cu, q, (size_t)C * q_dim * 4), *dk = to_dev(cu, q, (size_t)C * kv_dim * 4),
          *dv = to_dev(cu, q, (size_t)C * kv_dim * 4), *dout = cu->alloc(cu, (size_t)C * q_dim * 4);
    double *drope = to_dev(cu, rope, (size_t)C * 3 * HD * sizeof(double));
    si_attn_run run = {&c, c.n_seen, 0, C};
    si_pass pass = {.n_tokens = C, .runs = &run, .n_runs = 1, .max_visible = S + W + 1, .recordable = false};
    CHECKF(cu->pass_begin(cu, &pass) == 0, "%s", si_last_error());
    b.att = (si_attn_args){.layer = 0, .n_tokens = C, .q = dq, .k = dk, .v = dv, .out = dout, .rope = drope,
                           .runs = &run, .n_runs = 1};
    double t = time_op(cu, op_prefill_attn, &b, 10);
    CHECKF(cu->pass_end(cu) == 0 && cu->sync(cu) == 0, "%s", si_last_error());
    printf("  %-8s 512 rows x 2048 keys x 32/%-2d heads: %8.1f us  %6.1f G query-key pairs/s\n", attn, kv_heads,
           t * 1e6, (double)C * (S + W) * 32 / t / 1e9);
    void *bufs[] = {dq, dk, dv, dout, drope, c.k, c.v};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cu->free(cu, bufs[i]);
    free(q);
    free(rope);
    cu->destroy(cu);
}

int main(void) {
    quick = getenv("SI_TEST_QUICK") && atoi(getenv("SI_TEST_QUICK"));
    read_forced();
    si_backend *cu = cuda_with("f32", "warp");
    if (!cu) {
        if (strstr(si_last_error(), "no CUDA device")) si_test_skip(si_last_error());
        fprintf(stderr, "%s\n", si_last_error());
        return 1;
    }
    si_backend *cpu = si_backend_cpu_create(2, false);
    si_dtype types[6] = {SI_DTYPE_F32, SI_DTYPE_F16, SI_DTYPE_BF16, SI_DTYPE_Q8_0, SI_DTYPE_Q4_0, SI_DTYPE_Q4_1};
    si_llama *m = fake_model(6, types, 256, 4, 2, 64, 704, 3000, SI_DTYPE_Q4_1);
    CHECKF(cu->prepare_model(cu, m) == 0, "%s", si_last_error());
    /* the cuBLAS path needs the scratch that reserve sizes (as a forward pass would) */
    CHECKF(cu->reserve(cu, &m->hp, 33, 1) == 0, "%s", si_last_error());
    test_matmul(cu, m);
    test_norm_matmul(cu, m, fuse_norm_on());
    test_elementwise(cu, cpu, m);
    cu->destroy(cu);
    /* quantized products of 33 rows again, expanded to f16 a few rows at a
     * time (slices of 37 rows of 256 columns, 13 of 704: ends mid-matrix) */
    printf("-- cuBLAS for quantized weights, in slices\n");
    setenv("SI_CUDA_DEQ_BYTES", "18944", 1);
    cu = cuda_with("f32", "warp");
    CHECKF(cu && cu->prepare_model(cu, m) == 0 && cu->reserve(cu, &m->hp, 33, 1) == 0, "%s", si_last_error());
    unsetenv("SI_CUDA_DEQ_BYTES");
    if (cu) {
        test_matmul(cu, m);
        cu->destroy(cu);
    }
    /* the Q5 and K block types (rows of whole super-blocks of 256) */
    printf("-- Q5_0, Q5_1, Q4_K, Q5_K and Q6_K layers\n");
    si_dtype blocks[5] = {SI_DTYPE_Q5_0, SI_DTYPE_Q5_1, SI_DTYPE_Q4_K, SI_DTYPE_Q5_K, SI_DTYPE_Q6_K};
    si_llama *mk = fake_model(5, blocks, 256, 4, 2, 64, 768, 3000, SI_DTYPE_Q6_K);
    cu = cuda_with("f32", "warp");
    CHECKF(cu && cu->prepare_model(cu, mk) == 0 && cu->reserve(cu, &mk->hp, 33, 1) == 0, "%s", si_last_error());
    if (cu) {
        test_matmul(cu, mk);
        cu->destroy(cu);
    }
    free_model(mk);
    const char *gemvs[2] = {"async", "wide"};
    for (int g = 0; g < 2; g++) {
        if (!gemv_runs(gemvs[g])) continue;
        printf("-- %s GEMV (F16/BF16 layers)\n", gemvs[g]);
        cu = cuda_with3("f32", "warp", gemvs[g]);
        CHECKF(cu && cu->prepare_model(cu, m) == 0 && cu->reserve(cu, &m->hp, 33, 1) == 0, "%s", si_last_error());
        if (cu) {
            test_matmul(cu, m);
            /* the cp.async kernel has no folded form */
            test_norm_matmul(cu, m, g == 1 && fuse_norm_on());
            cu->destroy(cu);
        }
    }

    /* each attention kernel against the CPU */
    const char *kernels[3] = {"warp", "tiled", "perhead"}; /* warp serves GQA heads in one block */
    for (int kn = 0; kn < 3; kn++) {
        if (!attn_runs(kernels[kn])) continue;
        printf("-- %s attention kernel\n", kernels[kn]);
        cu = cuda_with("f32", kernels[kn]);
        si_hparams hp = m->hp;
        for (int style = 0; style < 2; style++) {
            hp.rope_style = style ? SI_ROPE_HALF : SI_ROPE_ADJACENT;
            hp.head_dim = 64, hp.n_heads = 6, hp.n_kv_heads = 2;
            test_attention(cu, cpu, hp, 4, 64, 7, 2e-5);
            if (!quick) test_attention(cu, cpu, hp, 0, 300, 33, 2e-5);
            hp.head_dim = 128, hp.n_heads = 4, hp.n_kv_heads = 4;
            test_attention(cu, cpu, hp, 4, quick ? 200 : 1500, 64, 2e-5);
            hp.n_heads = 8, hp.n_kv_heads = 1; /* 8 query heads per KV head */
            test_attention(cu, cpu, hp, 4, 300, 5, 2e-5);
        }
        cu->destroy(cu);
        cu = cuda_with("f16", kernels[kn]);
        hp.rope_style = SI_ROPE_HALF;
        test_attention(cu, cpu, hp, 4, 64, 7, 3e-3);
        hp.head_dim = 64, hp.n_heads = 6, hp.n_kv_heads = 2;
        if (!quick) test_attention(cu, cpu, hp, 4, 700, 16, 3e-3);
        cu->destroy(cu);
    }
    cpu->destroy(cpu);
    free_model(m);
    if (!getenv("SI_CUDA_NO_BENCH")) {
        printf("\ndecode kernels on Llama-2-7B shapes (one token; time per call, bytes read / time):\n");
        bench_7b("warp", "reg", BENCH_GEMV | BENCH_ATTN, 32, SI_DTYPE_F16);
        bench_7b("tiled", "reg", BENCH_ATTN, 32, SI_DTYPE_F16);
        bench_7b("warp", "async", BENCH_GEMV, 32, SI_DTYPE_F16);
        bench_7b("warp", "wide", BENCH_GEMV, 32, SI_DTYPE_F16);
        printf("\nquantized GEMV on the same shapes (bytes: the GGUF blocks read):\n");
        bench_7b("warp", "reg", BENCH_QGEMV, 32, SI_DTYPE_Q8_0);
        bench_7b("warp", "reg", BENCH_QGEMV, 32, SI_DTYPE_Q4_K);
        bench_7b("warp", "reg", BENCH_QGEMV, 32, SI_DTYPE_Q6_K);
        printf("\nattention with 4 query heads per KV head (Llama-3-8B: 32 query, 8 KV heads):\n");
        bench_7b("warp", "reg", BENCH_ATTN, 8, SI_DTYPE_F16);
        bench_7b("perhead", "reg", BENCH_ATTN, 8, SI_DTYPE_F16);
        printf("\nprefill attention (warp: rows of a chunk in groups; perhead: a block per row and head):\n");
        for (int kv = 32; kv >= 8; kv -= 24) {
            bench_prefill_attn("warp", kv);
            bench_prefill_attn("perhead", kv);
        }
        bench_model(0, 0);
    }
    return si_test_finish("test_cuda_kernels");
}

#endif
