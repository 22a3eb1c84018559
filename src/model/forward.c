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
    double *rope_host;
    float *logits;      /* [max_logits][n_vocab] */
};

static void free_buffers(si_forward *f) {
    void *bufs[] = {f->x, f->h, f->q, f->k, f->v, f->att, f->gate, f->up, f->rope, f->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) f->be->free(f->be, bufs[i]);
}

si_forward *si_forward_create(const si_llama *m, si_backend *be, int max_tokens, int max_logits) {
    if (max_tokens < 1 || max_tokens > 65536 || max_logits < 1 || max_logits > max_tokens) {
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
    f->x = be->alloc(be, n * hp->dim * sizeof(float));
    f->h = be->alloc(be, n * wide * sizeof(float));
    f->q = be->alloc(be, n * q_dim * sizeof(float));
    f->k = be->alloc(be, n * kv_dim * sizeof(float));
    f->v = be->alloc(be, n * kv_dim * sizeof(float));
    f->att = be->alloc(be, n * q_dim * sizeof(float));
    f->gate = be->alloc(be, n * hp->ffn_dim * sizeof(float));
    f->up = be->alloc(be, n * hp->ffn_dim * sizeof(float));
    f->rope = be->alloc(be, n * 3 * hp->head_dim * sizeof(double));
    f->logits = be->alloc(be, (size_t)max_logits * hp->n_vocab * sizeof(float));
    f->rope_host = si_malloc(n * 3 * hp->head_dim * sizeof(double));
    if (!f->x || !f->h || !f->q || !f->k || !f->v || !f->att || !f->gate || !f->up || !f->rope || !f->logits ||
        !f->rope_host || be->reserve(be, hp, max_tokens, 1)) {
        si_forward_free(f);
        return NULL;
    }
    return f;
}

void si_forward_free(si_forward *f) {
    if (!f) return;
    free_buffers(f);
    free(f->rope_host);
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

int si_forward_run(si_forward *f, const si_batch *b, float *logits) {
    if (check_batch(f, b)) return -1;
    const si_llama *m = f->m;
    const si_hparams *hp = &m->hp;
    si_backend *be = f->be;
    int n = b->n, dim = hp->dim, ffn = hp->ffn_dim;
    int max_visible = 1;
    for (int r = 0; r < b->n_runs; r++) {
        int vis = b->runs[r].cache->cfg.sinks + b->runs[r].cache->cfg.window + 1;
        if (vis > max_visible) max_visible = vis;
    }
    if (be->reserve(be, hp, n, max_visible)) return -1;
    fill_rope_table(f, b);

    be->embed(be, f->x, m->tok_embd, b->tokens, n);
    for (int l = 0; l < hp->n_layers; l++) {
        const si_layer_weights *w = &m->layers[l];

        be->rmsnorm(be, f->h, f->x, w->attn_norm, n, dim, hp->norm_eps);
        float *qkv_out[3] = {f->q, f->k, f->v};
        const si_tensor *qkv_w[3] = {w->wq, w->wk, w->wv};
        be->matmul(be, 3, qkv_out, qkv_w, f->h, n);
        si_attn_args a = {.layer = l, .n_tokens = n, .q = f->q, .k = f->k, .v = f->v, .out = f->att,
                          .rope = f->rope, .runs = b->runs, .n_runs = b->n_runs};
        be->attention(be, hp, &a);
        be->matmul(be, 1, &f->h, &w->wo, f->att, n);
        be->add(be, f->x, f->h, (size_t)n * dim);

        be->rmsnorm(be, f->h, f->x, w->ffn_norm, n, dim, hp->norm_eps);
        float *ffn_out[2] = {f->gate, f->up};
        const si_tensor *ffn_w[2] = {w->w_gate, w->w_up};
        be->matmul(be, 2, ffn_out, ffn_w, f->h, n);
        be->swiglu(be, f->gate, f->up, (size_t)n * ffn);
        be->matmul(be, 1, &f->h, &w->w_down, f->gate, n);
        be->add(be, f->x, f->h, (size_t)n * dim);
    }
    for (int r = 0; r < b->n_runs; r++) b->runs[r].cache->n_seen += b->runs[r].n;

    if (b->n_logits > 0) {
        /* Gather the wanted rows first: the output head is the largest matrix. */
        for (int i = 0; i < b->n_logits; i++)
            if (b->logit_rows[i] != i)
                be->copy(be, f->x + (size_t)i * dim, f->x + (size_t)b->logit_rows[i] * dim, (size_t)dim * sizeof(float));
        be->rmsnorm(be, f->h, f->x, m->out_norm, b->n_logits, dim, hp->norm_eps);
        be->matmul(be, 1, &f->logits, &m->output, f->h, b->n_logits);
        be->download(be, logits, f->logits, (size_t)b->n_logits * hp->n_vocab * sizeof(float));
    }
    be->sync(be);
    return 0;
}
