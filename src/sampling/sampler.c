/* sampling/sampler.c: the next token from logits — repetition penalty, then
 * greedy or top-k, temperature, top-p and a seeded random draw. */
#include "swiftinfer.h"

#include "../util/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HISTORY 4096

typedef struct {
    int32_t id;
    float logit;
} candidate;

struct si_sampler {
    si_sampler_params p;
    uint64_t rng;
    int32_t history[MAX_HISTORY]; /* ring of the last repeat_last_n tokens */
    int n_history, history_pos;
    candidate *cand;
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

int32_t si_sampler_sample(si_sampler *s, const float *logits, int n_vocab) {
    if (n_vocab <= 0) return -1;
    if (n_vocab > s->cand_cap) {
        candidate *c = realloc(s->cand, (size_t)n_vocab * sizeof *c);
        if (!c) {
            si_set_error("out of memory for %d sampling candidates", n_vocab);
            return -1;
        }
        s->cand = c;
        s->cand_cap = n_vocab;
    }
    candidate *c = s->cand;
    for (int i = 0; i < n_vocab; i++) c[i] = (candidate){i, logits[i]};
    if (s->p.repeat_penalty != 1.0f) {
        for (int h = 0; h < s->n_history; h++) {
            int32_t id = s->history[h];
            if (id < 0 || id >= n_vocab) continue;
            /* Applied once per distinct token: skip if seen earlier in the ring. */
            int dup = 0;
            for (int g = 0; g < h && !dup; g++) dup = s->history[g] == id;
            if (dup) continue;
            float l = c[id].logit;
            c[id].logit = l > 0 ? l / s->p.repeat_penalty : l * s->p.repeat_penalty;
        }
    }
    int32_t chosen;
    if (s->p.temperature <= 0) {
        int best = 0;
        for (int i = 1; i < n_vocab; i++)
            if (c[i].logit > c[best].logit) best = i;
        chosen = c[best].id;
    } else {
        int n = n_vocab;
        if (s->p.top_k > 0 && s->p.top_k < n) {
            keep_top_k(c, n, s->p.top_k);
            n = s->p.top_k;
        } else if (s->p.top_p < 1.0f) {
            qsort(c, (size_t)n, sizeof *c, by_logit_desc);
        }
        float mx = -INFINITY;
        for (int i = 0; i < n; i++) mx = fmaxf(mx, c[i].logit);
        double sum = 0;
        for (int i = 0; i < n; i++) {
            c[i].logit = expf((c[i].logit - mx) / s->p.temperature); /* now an unnormalized probability */
            sum += c[i].logit;
        }
        if (s->p.top_p < 1.0f) {
            double cum = 0;
            int keep = n;
            for (int i = 0; i < n; i++) {
                cum += c[i].logit / sum;
                if (cum >= s->p.top_p) {
                    keep = i + 1;
                    break;
                }
            }
            n = keep;
            sum = 0;
            for (int i = 0; i < n; i++) sum += c[i].logit;
        }
        double r = next_uniform(s) * sum, acc = 0;
        chosen = c[n - 1].id;
        for (int i = 0; i < n; i++) {
            acc += c[i].logit;
            if (r < acc) {
                chosen = c[i].id;
                break;
            }
        }
    }
    si_sampler_accept(s, chosen);
    return chosen;
}
