/* tests/streaming_ref.c: the original StreamingLLM's cache, naively.
 *
 * Keys are cached WITHOUT rotary embedding. At every step the new token's
 * key and value are appended, the whole cache is re-rotated to positions
 * 0..L-1 in cache order, the query is rotated to position L-1, attention runs
 * over all L keys, and then, if the cache holds more than S + W tokens, the
 * oldest window token is evicted by copying the rest down (torch.cat of the
 * first S and the last W entries). Slow on purpose: nothing clever to get wrong. */
#include "streaming_ref.h"

#include "backend/cpu/cpu_backend.h"
#include "model/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct streaming_ref {
    const si_llama *m;
    si_backend *be;
    int sinks, window, len;
    float *k, *v; /* [layer][S + W + 1][kv_dim], keys unrotated */
    float *x, *h, *q, *kn, *vn, *att, *gate, *up, *rot;
};

streaming_ref *streaming_ref_create(const si_llama *m, si_backend *be, int sinks, int window) {
    streaming_ref *r = calloc(1, sizeof *r);
    const si_hparams *hp = &m->hp;
    int kv_dim = hp->n_kv_heads * hp->head_dim, q_dim = hp->n_heads * hp->head_dim;
    int cap = sinks + window + 1;
    r->m = m;
    r->be = be;
    r->sinks = sinks;
    r->window = window;
    r->k = calloc((size_t)hp->n_layers * cap * kv_dim, sizeof(float));
    r->v = calloc((size_t)hp->n_layers * cap * kv_dim, sizeof(float));
    r->x = calloc((size_t)hp->dim, sizeof(float));
    r->h = calloc((size_t)(hp->dim > q_dim ? hp->dim : q_dim), sizeof(float));
    r->q = calloc((size_t)q_dim, sizeof(float));
    r->kn = calloc((size_t)kv_dim, sizeof(float));
    r->vn = calloc((size_t)kv_dim, sizeof(float));
    r->att = calloc((size_t)q_dim, sizeof(float));
    r->gate = calloc((size_t)hp->ffn_dim, sizeof(float));
    r->up = calloc((size_t)hp->ffn_dim, sizeof(float));
    r->rot = calloc((size_t)hp->head_dim, sizeof(float));
    return r;
}

void streaming_ref_free(streaming_ref *r) {
    float *bufs[] = {r->k, r->v, r->x, r->h, r->q, r->kn, r->vn, r->att, r->gate, r->up, r->rot};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(r);
}

static void rotate_at(const si_llama *m, float *dst, const float *src, double pos) {
    int hd = m->hp.head_dim, half = hd / 2;
    double cs[1024];
    si_rope_table_row(cs, pos, m->inv_freq, half);
    si_rope_rotate(dst, src, cs, hd, m->hp.rope_style);
}

static void attention(streaming_ref *r, int layer) {
    const si_hparams *hp = &r->m->hp;
    int hd = hp->head_dim, kv_dim = hp->n_kv_heads * hd, L = r->len;
    int cap = r->sinks + r->window + 1;
    float *K = r->k + (size_t)layer * cap * kv_dim, *V = r->v + (size_t)layer * cap * kv_dim;
    /* re-rotate the whole cache to positions 0..L-1 */
    float *rotated = malloc((size_t)L * kv_dim * sizeof(float));
    for (int j = 0; j < L; j++)
        for (int h = 0; h < hp->n_kv_heads; h++) rotate_at(r->m, rotated + j * kv_dim + h * hd, K + j * kv_dim + h * hd, j);
    float *scores = malloc((size_t)L * sizeof(float));
    for (int h = 0; h < hp->n_heads; h++) {
        int kvh = h / (hp->n_heads / hp->n_kv_heads);
        rotate_at(r->m, r->rot, r->q + h * hd, L - 1);
        float mx = -INFINITY;
        for (int j = 0; j < L; j++) {
            float s = 0;
            for (int d = 0; d < hd; d++) s += r->rot[d] * rotated[j * kv_dim + kvh * hd + d];
            scores[j] = s / sqrtf((float)hd);
            if (scores[j] > mx) mx = scores[j];
        }
        float sum = 0;
        for (int j = 0; j < L; j++) sum += scores[j] = expf(scores[j] - mx);
        for (int d = 0; d < hd; d++) {
            float o = 0;
            for (int j = 0; j < L; j++) o += scores[j] / sum * V[j * kv_dim + kvh * hd + d];
            r->att[h * hd + d] = o;
        }
    }
    free(scores);
    free(rotated);
}

void streaming_ref_step(streaming_ref *r, int32_t token, float *logits) {
    const si_llama *m = r->m;
    const si_hparams *hp = &m->hp;
    si_backend *be = r->be;
    int kv_dim = hp->n_kv_heads * hp->head_dim, cap = r->sinks + r->window + 1;
    be->embed(be, r->x, m->tok_embd, &token, 1);
    r->len++; /* the new token joins the cache in every layer */
    for (int l = 0; l < hp->n_layers; l++) {
        const si_layer_weights *w = &m->layers[l];
        be->rmsnorm(be, r->h, r->x, w->attn_norm, 1, hp->dim, hp->norm_eps);
        float *outs[3] = {r->q, r->kn, r->vn};
        const si_tensor *ws[3] = {w->wq, w->wk, w->wv};
        be->matmul(be, 3, outs, ws, r->h, 1);
        memcpy(r->k + ((size_t)l * cap + r->len - 1) * kv_dim, r->kn, (size_t)kv_dim * sizeof(float));
        memcpy(r->v + ((size_t)l * cap + r->len - 1) * kv_dim, r->vn, (size_t)kv_dim * sizeof(float));
        attention(r, l);
        be->matmul(be, 1, &r->h, &w->wo, r->att, 1);
        be->add(be, r->x, r->h, (size_t)hp->dim);
        be->rmsnorm(be, r->h, r->x, w->ffn_norm, 1, hp->dim, hp->norm_eps);
        float *fo[2] = {r->gate, r->up};
        const si_tensor *fw[2] = {w->w_gate, w->w_up};
        be->matmul(be, 2, fo, fw, r->h, 1);
        be->swiglu(be, r->gate, r->up, (size_t)hp->ffn_dim);
        be->matmul(be, 1, &r->h, &w->w_down, r->gate, 1);
        be->add(be, r->x, r->h, (size_t)hp->dim);
    }
    be->rmsnorm(be, r->h, r->x, m->out_norm, 1, hp->dim, hp->norm_eps);
    be->matmul(be, 1, &logits, &m->output, r->h, 1);
    /* evict: keep the first S and the last W entries */
    if (r->len > r->sinks + r->window) {
        for (int l = 0; l < hp->n_layers; l++) {
            float *K = r->k + (size_t)l * cap * kv_dim, *V = r->v + (size_t)l * cap * kv_dim;
            memmove(K + (size_t)r->sinks * kv_dim, K + (size_t)(r->sinks + 1) * kv_dim, (size_t)r->window * kv_dim * sizeof(float));
            memmove(V + (size_t)r->sinks * kv_dim, V + (size_t)(r->sinks + 1) * kv_dim, (size_t)r->window * kv_dim * sizeof(float));
        }
        r->len--;
    }
}
