/* server/sessions.c: session caches kept between requests — matching a
 * request to the session holding its conversation, and LRU eviction. */
#include "sessions.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* ---- SipHash-2-4 (Aumasson & Bernstein), written from the paper ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4]) {
    v[0] += v[1];
    v[1] = ROTL(v[1], 13);
    v[1] ^= v[0];
    v[0] = ROTL(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = ROTL(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = ROTL(v[1], 17);
    v[1] ^= v[2];
    v[2] = ROTL(v[2], 32);
}

static uint64_t load_le64(const unsigned char *p) {
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) x = (x << 8) | p[i];
    return x;
}

uint64_t srv_siphash(const srv_hash_key *k, const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t v[4] = {k->k0 ^ 0x736f6d6570736575ull, k->k1 ^ 0x646f72616e646f6dull, k->k0 ^ 0x6c7967656e657261ull,
                     k->k1 ^ 0x7465646279746573ull};
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load_le64(p + i);
        v[3] ^= m;
        sip_round(v);
        sip_round(v);
        v[0] ^= m;
    }
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t i = 0; i < len % 8; i++) last |= (uint64_t)p[whole + i] << (8 * i);
    v[3] ^= last;
    sip_round(v);
    sip_round(v);
    v[0] ^= last;
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++) sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

uint64_t srv_chain_next(const srv_hash_key *k, uint64_t prev, const srv_message *m) {
    /* link = previous hash, role, hash of the content */
    unsigned char link[17];
    uint64_t body = srv_siphash(k, m->content, m->len);
    for (int b = 0; b < 8; b++) {
        link[b] = (unsigned char)(prev >> (8 * b));
        link[9 + b] = (unsigned char)(body >> (8 * b));
    }
    link[8] = (unsigned char)m->role;
    return srv_siphash(k, link, sizeof link);
}

void srv_chain_hashes(const srv_hash_key *k, const srv_message *messages, int n, uint64_t *out) {
    out[0] = srv_siphash(k, "", 0);
    for (int i = 0; i < n; i++) out[i + 1] = srv_chain_next(k, out[i], &messages[i]);
}

/* ---- the store ---- */

void srv_sess_forget(srv_sess *s) {
    si_session_reset(s->s);
    s->n_msgs = 0;
    s->chain = 0;
    s->name[0] = '\0';
    s->had_user = s->reply_open = false;
    s->tail_token = -1;
    s->kv_evicted = 0;
}

static int add_session(srv_store *st) {
    si_session *s = si_session_create(st->model, &st->params);
    if (!s) return -1;
    srv_sess *x = &st->items[st->n++];
    memset(x, 0, sizeof *x);
    x->s = s;
    x->tail_token = -1;
    return 0;
}

int srv_store_init(srv_store *st, si_model *m, const si_session_params *p, int max_sessions, size_t budget_bytes) {
    memset(st, 0, sizeof *st);
    st->model = m;
    st->params = *p;
    /* A secret key, so that hashes cannot be predicted by clients. */
    if (getrandom(&st->key, sizeof st->key, 0) != (ssize_t)sizeof st->key) return -1;
    st->max = 1;
    st->items = calloc(1, sizeof *st->items);
    if (!st->items || add_session(st)) return -1;
    si_session_stats ss;
    si_session_get_stats(st->items[0].s, &ss);
    st->cache_bytes = ss.cache_bytes;
    size_t by_budget = ss.cache_bytes ? budget_bytes / ss.cache_bytes : (size_t)max_sessions;
    int max = max_sessions < 1 ? 1 : max_sessions;
    if ((size_t)max > by_budget) max = by_budget < 1 ? 1 : (int)by_budget;
    srv_sess *grown = realloc(st->items, (size_t)max * sizeof *grown);
    if (!grown) return -1;
    st->items = grown;
    st->max = max;
    return 0;
}

void srv_store_free(srv_store *st) {
    for (int i = 0; i < st->n; i++) si_session_free(st->items[i].s);
    free(st->items);
    memset(st, 0, sizeof *st);
}

static bool name_fits(const srv_sess *s, const char *name) {
    return !name || !s->name[0] || strcmp(s->name, name) == 0;
}

static srv_sess *take(srv_store *st, srv_sess *s, const char *name, bool reset) {
    if (reset) srv_sess_forget(s);
    if (name && !s->name[0]) {
        strncpy(s->name, name, SRV_MAX_NAME_BYTES);
        s->name[SRV_MAX_NAME_BYTES] = '\0';
    }
    s->busy = true;
    s->last_used = ++st->tick;
    return s;
}

/* An idle session to overwrite: an empty one, a new one, else the least
 * recently used (an eviction). */
static srv_sess *free_slot(srv_store *st) {
    for (int i = 0; i < st->n; i++)
        if (!st->items[i].busy && st->items[i].n_msgs == 0) return &st->items[i];
    if (st->n < st->max && add_session(st) == 0) return &st->items[st->n - 1];
    srv_sess *lru = NULL;
    for (int i = 0; i < st->n; i++)
        if (!st->items[i].busy && (!lru || st->items[i].last_used < lru->last_used)) lru = &st->items[i];
    if (lru) st->evictions++;
    return lru;
}

srv_sess *srv_store_acquire(srv_store *st, const uint64_t *chain, int n_msgs, const char *name, int *matched) {
    *matched = 0;
    srv_sess *best = NULL;
    for (int i = 0; i < st->n; i++) {
        srv_sess *s = &st->items[i];
        if (s->busy) continue;
        if (s->n_msgs > 0 && s->n_msgs < n_msgs && chain[s->n_msgs] == s->chain && name_fits(s, name) &&
            (!best || s->n_msgs > best->n_msgs))
            best = s;
    }
    if (best) {
        *matched = best->n_msgs;
        return take(st, best, name, false);
    }
    /* No match (a new, edited or evicted conversation): a fresh cache. An
     * older session of the same name is left to age out, since one user may
     * hold several conversations. */
    srv_sess *s = free_slot(st);
    return s ? take(st, s, name, true) : NULL;
}

srv_sess *srv_store_acquire_empty(srv_store *st) {
    srv_sess *s = free_slot(st);
    return s ? take(st, s, NULL, true) : NULL;
}

void srv_store_release(srv_store *st, srv_sess *s, bool keep) {
    if (!keep) srv_sess_forget(s);
    s->busy = false;
    s->last_used = ++st->tick;
}

int srv_store_live(const srv_store *st) {
    int n = 0;
    for (int i = 0; i < st->n; i++) n += st->items[i].busy || st->items[i].n_msgs > 0;
    return n;
}
