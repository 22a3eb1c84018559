/* model/forward.c: the transformer forward pass, top to bottom.
 *
 *   x = embed(tokens)
 *   for each layer:
 *       h = rmsnorm(x) ;  q, k, v = Wq h, Wk h, Wv h
 *       x = x + Wo · attention(RoPE(q), RoPE(k), v)      (over the StreamingLLM cache)
 *       h = rmsnorm(x)
 *       x = x + Wdown · (silu(Wgate h) * (Wup h))
 *   logits = Wout · rmsnorm(x)                           (only for the rows asked for)
 */
#include "forward.h"

#include "../util/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct si_forward {
    const si_llama *m;
    si_backend *be;
    int max_tokens, max_logits;
    /* backend buffers, [max_tokens][width] */
    float *x, *h, *q, *k, *v, *att, *gate, *up;
    double *rope;       /* [max_tokens][3][head_dim] */
    int32_t *tok;       /* [max_tokens] */
    float *logits;      /* [max_logits][n_vocab] */
    int32_t *ids;       /* [max_logits]: the token picked from each logit row */
    si_sample_spec *specs; /* [max_logits]: how (sample op) */
    /* host staging (the backend's host memory: page-locked for CUDA) */
    double *rope_host;
    int32_t *tok_host, *ids_host;
    si_sample_spec *specs_host;
};

static void *host_alloc(si_backend *be, size_t bytes) {
    return be->host_alloc ? be->host_alloc(be, bytes) : si_malloc(bytes);
}

static void host_free(si_backend *be, void *p) {
    if (!p) return;
    if (be->host_free)
        be->host_free(be, p);
    else
        free(p);
}

static void free_buffers(si_forward *f) {
    void *bufs[] = {f->x, f->h, f->q, f->k, f->v, f->att, f->gate, f->up, f->rope, f->tok, f->logits, f->ids, f->specs};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) f->be->free(f->be, bufs[i]);
    host_free(f->be, f->rope_host);
    host_free(f->be, f->tok_host);
    host_free(f->be, f->ids_host);
    host_free(f->be, f->specs_host);
}

si_forward *si_forward_create(const si_llama *m, si_backend *be, int max_tokens, int max_logits) {
    /* 65535: the CUDA attention launch puts a pass's rows in gridDim.z */
    if (max_tokens < 1 || max_tokens > 65535 || max_logits < 1 || max_logits > max_tokens) {
        si_set_error("batch size %d / logit rows %d out of range", max_tokens, max_logits);
        return NULL;
    }
    si_forward *f = si_calloc(1, sizeof *f);
    if (!f) return NULL;
    f->m = m;
    f->be = be;
    f->max_tokens = max_tokens;
    f->max_logits = max_logits;
    const si_hparams *hp = &m->hp;
    size_t n = (size_t)max_tokens, q_dim = (size_t)hp->n_heads * hp->head_dim;
    size_t kv_dim = (size_t)hp->n_kv_heads * hp->head_dim;
    size_t wide = (size_t)hp->dim > q_dim ? (size_t)hp->dim : q_dim;
    size_t rope_bytes = n * 3 * hp->head_dim * sizeof(double);
    f->x = be->alloc(be, n * hp->dim * sizeof(float));
    f->h = be->alloc(be, n * wide * sizeof(float));
    f->q = be->alloc(be, n * q_dim * sizeof(float));
    f->k = be->alloc(be, n * kv_dim * sizeof(float));
    f->v = be->alloc(be, n * kv_dim * sizeof(float));
    f->att = be->alloc(be, n * q_dim * sizeof(float));
    f->gate = be->alloc(be, n * hp->ffn_dim * sizeof(float));
    f->up = be->alloc(be, n * hp->ffn_dim * sizeof(float));
    f->rope = be->alloc(be, rope_bytes);
    f->tok = be->alloc(be, n * sizeof(int32_t));
    f->logits = be->alloc(be, (size_t)max_logits * hp->n_vocab * sizeof(float));
    f->ids = be->alloc(be, (size_t)max_logits * sizeof(int32_t));
    f->specs = be->alloc(be, (size_t)max_logits * sizeof(si_sample_spec));
    f->rope_host = host_alloc(be, rope_bytes);
    f->tok_host = host_alloc(be, n * sizeof(int32_t));
    f->ids_host = host_alloc(be, (size_t)max_logits * sizeof(int32_t));
    f->specs_host = host_alloc(be, (size_t)max_logits * sizeof(si_sample_spec));
    if (!f->x || !f->h || !f->q || !f->k || !f->v || !f->att || !f->gate || !f->up || !f->rope || !f->tok ||
        !f->logits || !f->ids || !f->specs || !f->rope_host || !f->tok_host || !f->ids_host || !f->specs_host ||
        be->reserve(be, hp, max_tokens, 1)) {
        si_forward_free(f);
        return NULL;
    }
    return f;
}

void si_forward_free(si_forward *f) {
    if (!f) return;
    free_buffers(f);
    free(f);
}

int si_forward_max_tokens(const si_forward *f) { return f->max_tokens; }

void si_rope_table_row(double *cs, double pos, const long double *inv_freq, int half) {
    for (int i = 0; i < half; i++) {
        long double angle = (long double)pos * inv_freq[i];
        cs[i] = (double)cosl(angle);
        cs[half + i] = (double)sinl(angle);
    }
}

/* Cos/sin of the three rotations of every row (kvcache.h says which positions). */
static void fill_rope_table(si_forward *f, const si_batch *b) {
    int hd = f->m->hp.head_dim, half = hd / 2;
    for (int r = 0; r < b->n_runs; r++) {
        const si_attn_run *run = &b->runs[r];
        for (int i = 0; i < run->n; i++) {
            int64_t t = run->t0 + i;
            double *row = f->rope_host + (size_t)(run->first + i) * 3 * hd;
            si_rope_table_row(row, si_cache_key_pos(run->cache, t), f->m->inv_freq, half);
            si_rope_table_row(row + hd, si_cache_query_window_pos(run->cache, t), f->m->inv_freq, half);
            si_rope_table_row(row + 2 * hd, si_cache_query_sink_pos(run->cache, t), f->m->inv_freq, half);
        }
    }
    f->be->upload(f->be, f->rope, f->rope_host, (size_t)b->n * 3 * hd * sizeof(double));
}

static int check_batch(const si_forward *f, const si_batch *b) {
    if (b->n < 1 || b->n > f->max_tokens) return si_fail("batch of %d rows (limit %d)", b->n, f->max_tokens);
    if (b->n_logits < 0 || b->n_logits > f->max_logits)
        return si_fail("%d logit rows requested (limit %d)", b->n_logits, f->max_logits);
    int row = 0;
    for (int r = 0; r < b->n_runs; r++) {
        const si_attn_run *run = &b->runs[r];
        if (run->first != row || run->n < 1) return si_fail("batch runs do not cover the rows in order");
        if (run->cache->n_seen != run->t0) return si_fail("run %d starts at %lld but its cache holds %lld tokens", r, (long long)run->t0, (long long)run->cache->n_seen);
        if (run->n > run->cache->cfg.chunk)
            return si_fail("run of %d tokens exceeds the cache's chunk size %d", run->n, run->cache->cfg.chunk);
        if (run->cache->cfg.no_evict && run->t0 + run->n > (int64_t)run->cache->cfg.sinks + run->cache->cfg.window)
            return si_fail("context full: %lld tokens exceed the cache capacity %d", (long long)(run->t0 + run->n), run->cache->cfg.sinks + run->cache->cfg.window);
        row += run->n;
    }
    if (row != b->n) return si_fail("batch runs cover %d of %d rows", row, b->n);
    for (int i = 0; i < b->n; i++)
        if (b->tokens[i] < 0 || b->tokens[i] >= f->m->hp.n_vocab)
            return si_fail("token id %d out of range (vocabulary %d)", b->tokens[i], f->m->hp.n_vocab);
    for (int i = 0; i < b->n_logits; i++)
        if (b->logit_rows[i] < 0 || b->logit_rows[i] >= b->n || (i && b->logit_rows[i] <= b->logit_rows[i - 1]))
            return si_fail("logit rows must be ascending rows of the batch");
    return 0;
}

/* x += W · in, fused where the backend can. */
static void residual_matmul(si_forward *f, const si_tensor *w, const float *in, int n) {
    si_backend *be = f->be;
    if (be->matmul_add) {
        be->matmul_add(be, f->x, w, in, n);
        return;
    }
    be->matmul(be, 1, &f->h, &w, in, n);
    be->add(be, f->x, f->h, (size_t)n * f->m->hp.dim);
}

/* outs = W · rmsnorm(x) (with swiglu: gate = silu(Wg ·) * (Wu ·)), the norm
 * folded into the products where the backend can. */
static void normed_products(si_forward *f, int count, float *const *outs, const si_tensor *const *ws,
                            const si_tensor *norm, int n, bool swiglu) {
    si_backend *be = f->be;
    const si_hparams *hp = &f->m->hp;
    if (be->norm_matmul && be->norm_matmul(be, count, outs, ws, f->x, norm, n, hp->dim, hp->norm_eps, swiglu)) return;
    be->rmsnorm(be, f->h, f->x, norm, n, hp->dim, hp->norm_eps);
    if (!swiglu) {
        be->matmul(be, count, outs, ws, f->h, n);
    } else if (be->matmul_swiglu) {
        be->matmul_swiglu(be, outs[0], ws[0], ws[1], f->h, n);
    } else {
        be->matmul(be, 2, outs, ws, f->h, n);
        be->swiglu(be, outs[0], outs[1], (size_t)n * hp->ffn_dim);
    }
}

static void layers(si_forward *f, const si_batch *b) {
    const si_llama *m = f->m;
    const si_hparams *hp = &m->hp;
    si_backend *be = f->be;
    int n = b->n;
    be->embed(be, f->x, m->tok_embd, f->tok, n);
    for (int l = 0; l < hp->n_layers; l++) {
        const si_layer_weights *w = &m->layers[l];

        float *qkv_out[3] = {f->q, f->k, f->v};
        const si_tensor *qkv_w[3] = {w->wq, w->wk, w->wv};
        normed_products(f, 3, qkv_out, qkv_w, w->attn_norm, n, false);
        si_attn_args a = {.layer = l, .n_tokens = n, .q = f->q, .k = f->k, .v = f->v, .out = f->att,
                          .rope = f->rope, .runs = b->runs, .n_runs = b->n_runs};
        be->attention(be, hp, &a);
        residual_matmul(f, w->wo, f->att, n);

        float *ffn_out[2] = {f->gate, f->up};
        const si_tensor *ffn_w[2] = {w->w_gate, w->w_up};
        normed_products(f, 2, ffn_out, ffn_w, w->ffn_norm, n, true);
        residual_matmul(f, w->w_down, f->gate, n);
    }
}

/* Final norm and output head on the rows that want logits (gathered first:
 * the output head is the largest matrix), then their tokens if asked:
 * the argmax, or what the sampling specs pick. */
static void head(si_forward *f, const si_batch *b, bool argmax, bool sample) {
    const si_llama *m = f->m;
    si_backend *be = f->be;
    int dim = m->hp.dim;
    for (int i = 0; i < b->n_logits; i++)
        if (b->logit_rows[i] != i)
            be->copy(be, f->x + (size_t)i * dim, f->x + (size_t)b->logit_rows[i] * dim, (size_t)dim * sizeof(float));
    normed_products(f, 1, &f->logits, &m->output, m->out_norm, b->n_logits, false);
    if (sample)
        be->sample(be, f->ids, f->logits, b->n_logits, m->hp.n_vocab, f->specs);
    else if (argmax)
        be->argmax(be, f->ids, f->logits, b->n_logits, m->hp.n_vocab);
}

/* The specs go up like the tokens: into fixed buffers, so a recorded pass
 * replays with the new ones. Only each spec's used bytes travel. */
static int upload_specs(si_forward *f, const si_batch *b, const si_sample_spec *specs) {
    si_backend *be = f->be;
    if (!be->sample) return si_fail("backend %s cannot sample", be->name);
    for (int i = 0; i < b->n_logits; i++) {
        const si_sample_spec *sp = &specs[i];
        if (sp->n_penalized < 0 || sp->n_penalized > SI_SAMPLE_MAX_PENALIZED)
            return si_fail("sampling spec with %d penalized ids", sp->n_penalized);
        if (!si_sample_spec_fits(sp, f->m->hp.n_vocab, be->sample_top_k_max))
            return si_fail("backend %s samples with top_k 1..%d, not %d", be->name, be->sample_top_k_max, sp->top_k);
        size_t bytes = SI_SAMPLE_SPEC_BYTES(sp);
        memcpy(&f->specs_host[i], sp, bytes);
        be->upload(be, &f->specs[i], &f->specs_host[i], bytes);
    }
    return 0;
}

int si_forward_run(si_forward *f, const si_batch *b, float *logits, int32_t *ids, const si_sample_spec *specs) {
    if (check_batch(f, b)) return -1;
    bool argmax = ids != NULL && b->n_logits > 0, sample = argmax && specs != NULL, recordable = true;
    if (sample && upload_specs(f, b, specs)) return -1;
    const si_hparams *hp = &f->m->hp;
    si_backend *be = f->be;
    int n = b->n;
    int max_visible = 1;
    for (int r = 0; r < b->n_runs; r++) {
        int vis = b->runs[r].cache->cfg.sinks + b->runs[r].cache->cfg.window + 1;
        if (vis > max_visible) max_visible = vis;
    }
    if (be->reserve(be, hp, n, max_visible)) return -1;
    fill_rope_table(f, b);
    memcpy(f->tok_host, b->tokens, (size_t)n * sizeof(int32_t));
    be->upload(be, f->tok, f->tok_host, (size_t)n * sizeof(int32_t));

    for (int i = 0; i < b->n_logits; i++) recordable &= b->logit_rows[i] == i;
    si_pass pass = {.n_tokens = n, .runs = b->runs, .n_runs = b->n_runs, .max_visible = max_visible,
                    .n_logits = b->n_logits, .argmax = argmax, .sample = sample,
                    .recordable = recordable};
    int replayed = be->pass_begin ? be->pass_begin(be, &pass) : 0;
    for (int attempt = 0; replayed == 0 && attempt < 2; attempt++) {
        layers(f, b);
        if (b->n_logits > 0) head(f, b, argmax, sample);
        int end = be->pass_end ? be->pass_end(be) : 0;
        if (end < 0) replayed = -1;
        if (end <= 0) break; /* 1: the recording failed, nothing ran: issue the operations again */
    }
    if (replayed < 0) {
        be->sync(be); /* let queued copies finish before the staging is reused; the first error stands */
        return -1;
    }
    if (argmax) {
        be->download(be, f->ids_host, f->ids, (size_t)b->n_logits * sizeof(int32_t));
    } else if (b->n_logits > 0) {
        be->download(be, logits, f->logits, (size_t)b->n_logits * hp->n_vocab * sizeof(float));
    }
    if (be->sync(be)) return -1;
    if (argmax) memcpy(ids, f->ids_host, (size_t)b->n_logits * sizeof(int32_t));
    for (int r = 0; r < b->n_runs; r++) b->runs[r].cache->n_seen += b->runs[r].n;
    return 0;
}
