/* engine/session.c: sessions — one token stream each, with its own
 * fixed-size StreamingLLM cache — and feeding them through the forward pass. */
#include "engine.h"

#include "../util/error.h"

#include <stdlib.h>
#include <string.h>

si_session_params si_session_default_params(void) {
    si_session_params p = {.sink_tokens = 4, .window = 0, .chunk = 0, .position_offset = 0, .dense = false};
    return p;
}

static size_t cache_bytes(const si_kvcache *c) {
    return 2 * (size_t)c->n_layers * c->slots * c->kv_dim * c->elem_bytes;
}

si_session *si_session_create(si_model *m, const si_session_params *params) {
    si_clear_error();
    si_session_params p = params ? *params : si_session_default_params();
    const si_hparams *hp = &m->llama->hp;
    if (p.window <= 0) {
        int ctx = hp->ctx_train < 2048 ? hp->ctx_train : 2048;
        p.window = ctx - p.sink_tokens > 1 ? ctx - p.sink_tokens : 1;
    }
    if (p.chunk <= 0 || p.chunk > m->max_batch) p.chunk = m->max_batch;
    si_cache_config cfg = {.sinks = p.sink_tokens, .window = p.window, .chunk = p.chunk,
                           .pos_offset = p.position_offset, .no_evict = p.dense};
    if (si_cache_config_check(&cfg)) return NULL;

    si_session *s = si_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->model = m;
    s->params = p;
    si_kvcache *c = &s->cache;
    c->cfg = cfg;
    c->n_layers = hp->n_layers;
    c->kv_dim = hp->n_kv_heads * hp->head_dim;
    c->slots = cfg.sinks + cfg.window + cfg.chunk;
    c->elem_bytes = m->be->kv_elem_bytes;
    size_t half = cache_bytes(c) / 2;
    s->logits = si_malloc((size_t)hp->n_vocab * sizeof(float));
    pthread_mutex_lock(&m->lock);
    int ok = s->logits && m->be->reserve(m->be, hp, m->max_batch, cfg.sinks + cfg.window + 1) == 0;
    if (ok) {
        c->k = m->be->alloc(m->be, half);
        c->v = m->be->alloc(m->be, half);
        ok = c->k && c->v;
    }
    pthread_mutex_unlock(&m->lock);
    if (!ok) {
        si_error_prefix("creating a session (cache of %zu bytes)", cache_bytes(c));
        si_session_free(s);
        return NULL;
    }
    return s;
}

void si_session_free(si_session *s) {
    if (!s) return;
    si_backend *be = s->model->be;
    if (s->cache.k) be->free(be, s->cache.k);
    if (s->cache.v) be->free(be, s->cache.v);
    free(s->logits);
    free(s);
}

void si_session_reset(si_session *s) {
    s->cache.n_seen = 0;
    s->has_logits = false;
}

/* Feeds tokens chunk by chunk; logits for every row when cb is set, else only
 * after the last token; with next set, only the token after the last one:
 * the argmax, or what spec picks (on the backend). */
static int feed(si_session *s, const int32_t *tokens, int64_t n, si_logits_cb cb, void *user, int32_t *next,
                const si_sample_spec *spec) {
    si_clear_error();
    if (n < 0) return si_fail("negative token count");
    si_model *m = s->model;
    int n_vocab = m->llama->hp.n_vocab;
    int64_t done = 0;
    while (done < n) {
        int c = (int)(n - done < s->cache.cfg.chunk ? n - done : s->cache.cfg.chunk);
        bool last = done + c == n;
        pthread_mutex_lock(&m->lock);
        si_attn_run run = {.cache = &s->cache, .t0 = s->cache.n_seen, .first = 0, .n = c};
        int n_logits = 0;
        if (cb) {
            for (int i = 0; i < c; i++) m->rows[n_logits++] = i;
        } else if (last) {
            m->rows[n_logits++] = c - 1;
        }
        si_batch b = {.n = c, .tokens = tokens + done, .runs = &run, .n_runs = 1,
                      .logit_rows = m->rows, .n_logits = n_logits};
        if (next) s->has_logits = false; /* the token paths keep no logits */
        int rc = si_forward_run(m->fwd, &b, m->logits, next && last ? next : NULL, spec);
        if (rc == 0 && n_logits && !next) {
            memcpy(s->logits, m->logits + (size_t)(n_logits - 1) * n_vocab, (size_t)n_vocab * sizeof(float));
            s->has_logits = true;
        }
        pthread_mutex_unlock(&m->lock);
        if (rc) return -1;
        if (cb) {
            for (int i = 0; i < c; i++)
                if (cb(user, done + i, m->logits + (size_t)i * n_vocab, n_vocab)) return si_fail("stopped by the caller");
        }
        done += c;
    }
    return 0;
}

int si_session_feed(si_session *s, const int32_t *tokens, int64_t n) {
    return feed(s, tokens, n, NULL, NULL, NULL, NULL);
}

int si_session_feed_all(si_session *s, const int32_t *tokens, int64_t n, si_logits_cb cb, void *user) {
    if (!cb) return si_fail("si_session_feed_all needs a callback");
    return feed(s, tokens, n, cb, user, NULL, NULL);
}

int32_t si_session_feed_greedy(si_session *s, const int32_t *tokens, int64_t n) {
    if (n < 1) return si_fail("si_session_feed_greedy needs at least one token");
    int32_t next = -1;
    return feed(s, tokens, n, NULL, NULL, &next, NULL) ? -1 : next;
}

int32_t si_session_feed_pick(si_session *s, const int32_t *tokens, int64_t n, si_sampler *smp) {
    if (n < 1) return si_fail("feeding and sampling needs at least one token");
    if (!smp) return si_fail("feeding and sampling needs a sampler");
    si_backend *be = s->model->be;
    int n_vocab = s->model->llama->hp.n_vocab;
    si_sampler_next_spec(smp, &s->spec);
    if (be->sample && si_sample_spec_fits(&s->spec, n_vocab, be->sample_top_k_max)) {
        int32_t next = -1;
        return feed(s, tokens, n, NULL, NULL, &next, &s->spec) ? -1 : next;
    }
    /* settings the backend cannot take: the logits come to the host */
    if (feed(s, tokens, n, NULL, NULL, NULL, NULL)) return -1;
    return si_sampler_apply(smp, &s->spec, s->logits, n_vocab);
}

int32_t si_session_feed_sample(si_session *s, const int32_t *tokens, int64_t n, si_sampler *smp) {
    int32_t next = si_session_feed_pick(s, tokens, n, smp);
    if (next >= 0) si_sampler_accept(smp, next);
    return next;
}

const float *si_session_logits(const si_session *s) { return s->has_logits ? s->logits : NULL; }

/* Decode steps in passes of up to max_batch sessions. With samplers, each
 * session's next token goes to next[i]: picked on the backend when it takes
 * every decision of the pass (no logits kept), else from the logits here. */
static int decode_batch(si_model *m, si_session *const *sessions, const int32_t *tokens, int n,
                        si_sampler *const *samplers, int32_t *next) {
    si_clear_error();
    if (n < 0) return si_fail("negative session count");
    for (int i = 0; i < n; i++) {
        if (sessions[i]->model != m) return si_fail("session %d belongs to another model", i);
        for (int j = 0; j < i; j++)
            if (sessions[j] == sessions[i]) return si_fail("session %d appears twice in one batch", i);
        if (samplers && !samplers[i]) return si_fail("session %d has no sampler", i);
    }
    si_backend *be = m->be;
    int n_vocab = m->llama->hp.n_vocab;
    for (int done = 0; done < n;) {
        int c = n - done < m->max_batch ? n - done : m->max_batch;
        pthread_mutex_lock(&m->lock);
        bool on_backend = samplers && be->sample;
        for (int i = 0; i < c; i++) {
            si_session *s = sessions[done + i];
            m->runs[i] = (si_attn_run){.cache = &s->cache, .t0 = s->cache.n_seen, .first = i, .n = 1};
            m->rows[i] = i;
            if (samplers) {
                si_sampler_next_spec(samplers[done + i], &m->specs[i]);
                on_backend &= si_sample_spec_fits(&m->specs[i], n_vocab, be->sample_top_k_max) != 0;
            }
        }
        si_batch b = {.n = c, .tokens = tokens + done, .runs = m->runs, .n_runs = c, .logit_rows = m->rows, .n_logits = c};
        int rc = si_forward_run(m->fwd, &b, m->logits, on_backend ? next + done : NULL, on_backend ? m->specs : NULL);
        for (int i = 0; rc == 0 && i < c; i++) {
            si_session *s = sessions[done + i];
            s->has_logits = !on_backend;
            if (on_backend) continue;
            memcpy(s->logits, m->logits + (size_t)i * n_vocab, (size_t)n_vocab * sizeof(float));
            if (samplers) {
                next[done + i] = si_sampler_apply(samplers[done + i], &m->specs[i], s->logits, n_vocab);
                if (next[done + i] < 0) rc = -1;
            }
        }
        pthread_mutex_unlock(&m->lock);
        if (rc) return -1;
        if (samplers)
            for (int i = 0; i < c; i++) si_sampler_accept(samplers[done + i], next[done + i]);
        done += c;
    }
    return 0;
}

int si_decode_batch(si_model *m, si_session *const *sessions, const int32_t *tokens, int n) {
    return decode_batch(m, sessions, tokens, n, NULL, NULL);
}

int si_decode_batch_sample(si_model *m, si_session *const *sessions, const int32_t *tokens, int n,
                           si_sampler *const *samplers, int32_t *next) {
    if (!samplers || !next) return si_fail("si_decode_batch_sample needs samplers and room for the tokens");
    return decode_batch(m, sessions, tokens, n, samplers, next);
}

void si_session_get_stats(const si_session *s, si_session_stats *st) {
    st->n_seen = s->cache.n_seen;
    st->occupancy = si_cache_occupancy(&s->cache);
    st->evicted = si_cache_evicted(&s->cache);
    st->sink_tokens = s->cache.cfg.sinks;
    st->window = s->cache.cfg.window;
    st->cache_bytes = cache_bytes(&s->cache);
}
