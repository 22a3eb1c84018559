/* sampling/sampler.c: the next token from logits — repetition penalty, then
 * greedy or top-k, temperature, top-p and a seeded random draw. The sampler
 * keeps the state (settings, random stream, recent tokens); one decision is
 * an si_sample_spec (sample_spec.h), carried out here by si_sample_row or on
 * a backend. */
#include "sample_spec.h"
#include "swiftinfer.h"

#include "../util/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HISTORY SI_SAMPLE_MAX_PENALIZED

typedef si_sample_candidate candidate;

struct si_sampler {
    si_sampler_params p;
    uint64_t rng;
    int32_t history[MAX_HISTORY]; /* ring of the last repeat_last_n tokens */
    int n_history, history_pos;
    si_sample_spec spec; /* the decision being made */
    candidate *cand;     /* [cand_cap] */
    float *weights;      /* [cand_cap] */
    int cand_cap;
};

si_sampler_params si_sampler_default_params(void) {
    si_sampler_params p = {.temperature = 0.7f, .top_k = 40, .top_p = 0.95f, .repeat_penalty = 1.1f,
                           .repeat_last_n = 64, .seed = 0xC0FFEE};
    return p;
}

si_sampler *si_sampler_create(const si_sampler_params *params) {
    si_clear_error();
    si_sampler_params p = params ? *params : si_sampler_default_params();
    if (!(p.temperature >= 0) || p.temperature > 100) {
        si_set_error("temperature %g out of range (0..100)", p.temperature);
        return NULL;
    }
    if (!(p.top_p > 0 && p.top_p <= 1)) {
        si_set_error("top_p %g out of range (0 < top_p <= 1)", p.top_p);
        return NULL;
    }
    if (p.top_k < 0) {
        si_set_error("top_k %d must not be negative", p.top_k);
        return NULL;
    }
    if (!(p.repeat_penalty > 0) || p.repeat_penalty > 100) {
        si_set_error("repeat penalty %g out of range (0..100]", p.repeat_penalty);
        return NULL;
    }
    if (p.repeat_last_n < 0 || p.repeat_last_n > MAX_HISTORY) {
        si_set_error("repeat_last_n %d out of range (0..%d)", p.repeat_last_n, MAX_HISTORY);
        return NULL;
    }
    si_sampler *s = si_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = p;
    si_sampler_reset(s);
    return s;
}

void si_sampler_free(si_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->weights);
    free(s);
}

void si_sampler_reset(si_sampler *s) {
    s->rng = s->p.seed ^ 0x9E3779B97F4A7C15ull;
    s->n_history = 0;
    s->history_pos = 0;
}

void si_sampler_accept(si_sampler *s, int32_t token) {
    if (s->p.repeat_last_n == 0) return;
    s->history[s->history_pos] = token;
    s->history_pos = (s->history_pos + 1) % s->p.repeat_last_n;
    if (s->n_history < s->p.repeat_last_n) s->n_history++;
}

/* splitmix64: small, fast and good enough for sampling; reproducible per seed. */
static double next_uniform(si_sampler *s) {
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static int by_logit_desc(const void *a, const void *b) {
    float x = ((const candidate *)a)->logit, y = ((const candidate *)b)->logit;
    if (x != y) return x < y ? 1 : -1;
    return ((const candidate *)a)->id - ((const candidate *)b)->id;
}

/* Moves the k largest candidates to the front (in descending order). */
static void keep_top_k(candidate *c, int n, int k) {
    /* A min-heap of the best k seen so far: O(n log k), k is small. */
    for (int i = 0; i < k; i++) {
        for (int j = i; j > 0;) {
            int parent = (j - 1) / 2;
            if (by_logit_desc(&c[parent], &c[j]) >= 0) break;
            candidate t = c[parent];
            c[parent] = c[j];
            c[j] = t;
            j = parent;
        }
    }
    for (int i = k; i < n; i++) {
        if (by_logit_desc(&c[i], &c[0]) >= 0) continue;
        c[0] = c[i];
        for (int j = 0;;) {
            int l = 2 * j + 1, r = l + 1, m = j;
            if (l < k && by_logit_desc(&c[l], &c[m]) > 0) m = l;
            if (r < k && by_logit_desc(&c[r], &c[m]) > 0) m = r;
            if (m == j) break;
            candidate t = c[m];
            c[m] = c[j];
            c[j] = t;
            j = m;
        }
    }
    qsort(c, (size_t)k, sizeof *c, by_logit_desc);
}

/* Rules 1 and 2 of sample_spec.h: the candidates, penalized, NaN as -inf. */
static void fill_candidates(const si_sample_spec *sp, const float *logits, int n_vocab, candidate *c) {
    for (int i = 0; i < n_vocab; i++) c[i] = (candidate){i, logits[i]};
    if (sp->repeat_penalty != 1.0f) {
        for (int h = 0; h < sp->n_penalized; h++) {
            int32_t id = sp->penalized[h];
            if (id < 0 || id >= n_vocab) continue;
            float l = c[id].logit;
            c[id].logit = l > 0 ? l / sp->repeat_penalty : l * sp->repeat_penalty;
        }
    }
    for (int i = 0; i < n_vocab; i++)
        if (c[i].logit != c[i].logit) c[i].logit = -INFINITY;
}

int32_t si_sample_row(const si_sample_spec *sp, const float *logits, int n_vocab, candidate *c, float *w) {
    if (n_vocab <= 0) return -1;
    fill_candidates(sp, logits, n_vocab, c);
    if (sp->temperature <= 0) {
        int best = 0;
        for (int i = 1; i < n_vocab; i++)
            if (c[i].logit > c[best].logit) best = i;
        return c[best].id;
    }
    int n = n_vocab;
    if (sp->top_k > 0 && sp->top_k < n) {
        keep_top_k(c, n, sp->top_k);
        n = sp->top_k;
    } else if (sp->top_p < 1.0f) {
        qsort(c, (size_t)n, sizeof *c, by_logit_desc);
    }
    for (int i = 0; i < n; i++) w[i] = c[i].logit;
    return c[si_sample_tail(w, n, sp->temperature, sp->top_p, sp->u)].id;
}

/* Rule 1 needs each recent id once: the ring's distinct ids. */
void si_sampler_next_spec(si_sampler *s, si_sample_spec *sp) {
    sp->temperature = s->p.temperature;
    sp->top_k = s->p.top_k;
    sp->top_p = s->p.top_p;
    sp->repeat_penalty = s->p.repeat_penalty;
    sp->n_penalized = 0;
    if (s->p.repeat_penalty != 1.0f) {
        for (int h = 0; h < s->n_history; h++) {
            int32_t id = s->history[h];
            bool dup = false;
            for (int g = 0; g < sp->n_penalized && !dup; g++) dup = sp->penalized[g] == id;
            if (!dup) sp->penalized[sp->n_penalized++] = id;
        }
    }
    sp->u = s->p.temperature > 0 ? next_uniform(s) : 0;
}

int32_t si_sampler_apply(si_sampler *s, const si_sample_spec *sp, const float *logits, int n_vocab) {
    if (n_vocab <= 0) return si_fail("no logits to sample from");
    if (n_vocab > s->cand_cap) {
        candidate *c = realloc(s->cand, (size_t)n_vocab * sizeof *c);
        if (c) s->cand = c;
        float *w = c ? realloc(s->weights, (size_t)n_vocab * sizeof *w) : NULL;
        if (!w) return si_fail("out of memory for %d sampling candidates", n_vocab);
        s->weights = w;
        s->cand_cap = n_vocab;
    }
    return si_sample_row(sp, logits, n_vocab, s->cand, s->weights);
}

int32_t si_sampler_pick(si_sampler *s, const float *logits, int n_vocab) {
    if (!logits) return si_fail("no logits to sample from");
    si_sampler_next_spec(s, &s->spec);
    return si_sampler_apply(s, &s->spec, logits, n_vocab);
}

int32_t si_sampler_sample(si_sampler *s, const float *logits, int n_vocab) {
    int32_t chosen = si_sampler_pick(s, logits, n_vocab);
    if (chosen >= 0) si_sampler_accept(s, chosen);
    return chosen;
}
