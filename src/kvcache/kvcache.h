/* kvcache/kvcache.h: the StreamingLLM cache policy — attention sinks plus a
 * rolling window — and where every token's key lives and at which position
 * it is rotated.
 *
 * Semantics (equal to the original StreamingLLM, Xiao et al.):
 *  - The cache keeps the first S tokens ever seen (the sinks) and the most
 *    recent W tokens; each token attends to the sinks, the W tokens before it
 *    and itself. Older tokens are evicted, O(1) each.
 *  - Positions are assigned inside the cache ("pos shift"): with L keys
 *    visible, they sit at positions 0..L-1 in cache order and the query at L-1.
 *
 * How that is done without re-rotating anything: RoPE scores depend only on
 * the distance between query and key. For a window key, the distance in the
 * cache equals the distance in the text, so window keys are rotated once, at
 * their absolute position (offset + stream index, computed in double), and the
 * query is rotated at its own absolute position. Only the sinks move: they are
 * rotated at their cache positions 0..S-1, and the query gets a second
 * rotation, at its cache position L-1, used against the sinks alone.
 *
 * Storage per layer: S sink slots, then a ring of W + C slots, where C is the
 * largest chunk of tokens one forward pass writes: all of a chunk's keys are
 * written before its attention runs, and the slack C guarantees that no key a
 * query of the chunk still needs is overwritten (a banded causal mask over a
 * prompt longer than the window gives the same result as token-by-token). */
#ifndef SI_KVCACHE_KVCACHE_H
#define SI_KVCACHE_KVCACHE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int sinks;          /* S: first tokens kept forever (0 = plain window attention) */
    int window;         /* W: most recent tokens kept */
    int chunk;          /* C: most tokens written by one forward pass */
    int64_t pos_offset; /* absolute position of stream index 0 (tests use 10^10) */
    bool no_evict;      /* dense mode: feeding past S + W is an error, not an eviction */
} si_cache_config;

typedef struct si_kvcache {
    si_cache_config cfg;
    int n_layers;
    int kv_dim;       /* n_kv_heads * head_dim */
    int slots;        /* S + W + C */
    int elem_bytes;   /* 4 (f32) */
    int64_t n_seen;   /* tokens stored so far = stream index of the next token */
    void *k, *v;      /* backend memory: [layer][slot][kv_dim] */
} si_kvcache;

/* Ring capacity behind the sinks. */
static inline int si_cache_ring(const si_kvcache *c) { return c->slots - c->cfg.sinks; }

/* Slot of the token at stream index t. */
static inline int si_cache_slot(const si_kvcache *c, int64_t t) {
    int S = c->cfg.sinks;
    return t < S ? (int)t : S + (int)((t - S) % si_cache_ring(c));
}

/* Keys visible to the query at stream index t: sinks 0..n_sinks-1 and the
 * window tokens with stream indices window_begin..t. */
static inline int si_cache_visible_sinks(const si_kvcache *c, int64_t t) {
    return t + 1 < c->cfg.sinks ? (int)(t + 1) : c->cfg.sinks;
}
static inline int64_t si_cache_window_begin(const si_kvcache *c, int64_t t) {
    int64_t b = t - c->cfg.window;
    return b > c->cfg.sinks ? b : c->cfg.sinks;
}

/* Rotation positions (see the header comment). */
static inline double si_cache_key_pos(const si_kvcache *c, int64_t t) {
    return t < c->cfg.sinks ? (double)t : (double)c->cfg.pos_offset + (double)t;
}
static inline double si_cache_query_window_pos(const si_kvcache *c, int64_t t) {
    return (double)c->cfg.pos_offset + (double)t;
}
static inline double si_cache_query_sink_pos(const si_kvcache *c, int64_t t) {
    int64_t last = (int64_t)c->cfg.sinks + c->cfg.window;
    return (double)(t < last ? t : last);
}

/* Tokens evicted so far. */
static inline int64_t si_cache_evicted(const si_kvcache *c) {
    int64_t kept = (int64_t)c->cfg.sinks + c->cfg.window;
    return c->n_seen > kept ? c->n_seen - kept : 0;
}
/* Tokens currently held. */
static inline int64_t si_cache_occupancy(const si_kvcache *c) {
    int64_t kept = (int64_t)c->cfg.sinks + c->cfg.window;
    return c->n_seen < kept ? c->n_seen : kept;
}

/* Checks a configuration; 0 or -1 with an error. */
int si_cache_config_check(const si_cache_config *cfg);

#endif
