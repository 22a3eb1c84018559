/* server/sessions.h: the store of session caches. A session holds one
 * conversation's StreamingLLM cache between requests. It does not keep the
 * conversation's text: it keeps a keyed hash chained over the messages it
 * has absorbed, so its memory stays constant however long the chat goes on,
 * and a request continues it when the hash of the request's first k
 * messages equals it. Idle sessions are evicted least recently used when
 * --max-sessions or the memory budget is reached. Only the scheduler thread
 * touches the store, so it has no lock. */
#ifndef SI_SERVER_SESSIONS_H
#define SI_SERVER_SESSIONS_H

#include "api.h"
#include "swiftinfer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t k0, k1;
} srv_hash_key;

/* SipHash-2-4: a keyed hash, so clients cannot craft collisions to reach
 * another conversation's cache. */
uint64_t srv_siphash(const srv_hash_key *k, const void *data, size_t len);
/* The hash of a conversation extended by one message. */
uint64_t srv_chain_next(const srv_hash_key *k, uint64_t prev, const srv_message *m);
/* out[i] (0 <= i <= n) identifies messages[0..i); out[0] is the empty conversation. */
void srv_chain_hashes(const srv_hash_key *k, const srv_message *messages, int n, uint64_t *out);

typedef struct {
    si_session *s;
    int n_msgs;          /* messages absorbed; 0 = empty */
    uint64_t chain;      /* srv_chain_hashes(...)[n_msgs] */
    char name[SRV_MAX_NAME_BYTES + 1]; /* session_id / user, "" if none */
    bool busy;           /* owned by a request */
    bool had_user;       /* a user turn is in the cache (Llama-2 puts the system message in the first) */
    bool reply_open;     /* the last reply lacks its closing tokens (end of turn, template tail) */
    int32_t tail_token;  /* a sampled token of that reply not yet fed, or -1 */
    uint64_t last_used;
    int64_t kv_evicted;  /* si_session_stats.evicted when last looked at */
} srv_sess;

typedef struct {
    si_model *model;
    si_session_params params;
    srv_sess *items; /* [max]; the first n have a session */
    int n, max;
    size_t cache_bytes; /* per session */
    uint64_t tick;
    srv_hash_key key;
    int64_t evictions;
} srv_store;

/* Creates the first session (to learn its size) and sizes the store: at most
 * max_sessions and at most budget_bytes of caches (always at least one). */
int srv_store_init(srv_store *st, si_model *m, const si_session_params *p, int max_sessions, size_t budget_bytes);
void srv_store_free(srv_store *st);

/* A session for a request whose message prefixes hash to chain[0..n_msgs].
 * Prefers the idle session that holds the longest proper prefix (*matched =
 * its message count); else an empty one, a new one, or the least recently
 * used idle one, reset (*matched = 0). name (may be NULL) restricts matches
 * to sessions of that name or of none (a match needs the whole history
 * anyway, so nothing is shared that the client did not send). NULL when
 * every session is busy. */
srv_sess *srv_store_acquire(srv_store *st, const uint64_t *chain, int n_msgs, const char *name, int *matched);
/* An empty session, for a request that will not be continued (completions). */
srv_sess *srv_store_acquire_empty(srv_store *st);
/* Gives the session back; keep = false forgets its conversation. */
void srv_store_release(srv_store *st, srv_sess *s, bool keep);
void srv_sess_forget(srv_sess *s);
/* Sessions that hold a conversation (busy or not). */
int srv_store_live(const srv_store *st);

#endif
