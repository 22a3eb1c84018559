/* server/scheduler.c: the continuous-batching loop. One thread owns the
 * model and the session store. Each turn of the loop it
 *   1. admits queued jobs into free slots (finding or freeing a session and
 *      building the tokens to feed),
 *   2. feeds one prefill chunk of one prefilling slot (round robin), so a
 *      long prompt delays running streams by one chunk per step at most,
 *   3. runs one si_decode_batch over every decoding slot — one forward pass,
 *      the weights read once for all of them — and samples each slot's next
 *      token.
 * Jobs whose client left are dropped at the next turn and their session
 * freed. Text goes to the waiting HTTP thread through the job's buffer. */
#include "scheduler.h"

#include "prompt.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void srv_deadline_in(struct timespec *ts, long ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* ---- jobs ---- */

srv_job *srv_job_create(srv_request *req, double now) {
    srv_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->req = *req;
    memset(req, 0, sizeof *req);
    j->t_arrival = now;
    j->refs = 1;
    atomic_init(&j->cancelled, false);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    return j;
}

void srv_job_release(srv_job *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left) return;
    srv_request_free(&j->req);
    free(j->text);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

void srv_job_cancel(srv_job *j) { atomic_store(&j->cancelled, true); }

/* Appends released text; the HTTP thread is woken. */
static void job_emit(srv_job *j, const char *text, size_t n) {
    pthread_mutex_lock(&j->mu);
    if (n && j->len + n + 1 > j->cap) {
        size_t cap = (j->len + n + 1) * 2;
        char *grown = realloc(j->text, cap);
        if (grown) {
            j->text = grown;
            j->cap = cap;
        } else {
            n = 0; /* out of memory: the text is cut, the job still ends cleanly */
        }
    }
    if (n) {
        memcpy(j->text + j->len, text, n);
        j->len += n;
        j->text[j->len] = '\0';
    }
    j->started = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static void job_end(srv_job *j, const char *finish, const srv_error *err) {
    pthread_mutex_lock(&j->mu);
    j->done = j->started = true;
    j->finish = finish;
    if (err) {
        j->failed = true;
        j->err = *err;
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* ---- the scheduler ---- */

typedef enum { SLOT_FREE, SLOT_PREFILL, SLOT_DECODE } slot_state;

typedef struct {
    slot_state state;
    srv_job *job;
    srv_sess *sess;
    srv_tokens feed;
    int64_t fed;
    si_sampler *smp;
    si_streamer *st;
    char *gen; /* all generated text, for the stop-sequence scan */
    size_t gen_len, gen_cap, sent;
    int32_t pending; /* sampled, to be fed at the next decode step */
    int n_out, max_tokens;
    double t_last;
} slot;

struct srv_sched {
    si_model *model;
    const si_tokenizer *tok;
    srv_store store;
    srv_metrics *metrics;
    srv_sched_config cfg;
    int n_vocab;
    int32_t end_of_turn;
    int64_t capacity; /* sinks + window */
    slot *slots;
    int n_active;
    int prefill_next; /* round-robin position */

    pthread_t thread;
    bool running;
    pthread_mutex_t mu; /* guards the queue and stopping */
    pthread_cond_t cv;
    srv_job **queue; /* ring of max_queue */
    int q_head, q_len;
    bool stopping;

    si_session **batch_sessions; /* [parallel] scratch */
    int32_t *batch_tokens, *batch_next;
    si_sampler **batch_samplers;
    int *batch_slots;
};

srv_sched *srv_sched_create(si_model *m, srv_store *store, srv_metrics *metrics, const srv_sched_config *cfg) {
    srv_sched *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->model = m;
    s->tok = si_model_tokenizer(m);
    s->store = *store;
    memset(store, 0, sizeof *store);
    s->metrics = metrics;
    s->cfg = *cfg;
    if (s->cfg.parallel > s->store.max) s->cfg.parallel = s->store.max;
    s->n_vocab = si_model_n_vocab(m);
    s->end_of_turn = cfg->tpl != SI_TEMPLATE_AUTO ? si_chat_end_of_turn(s->tok, cfg->tpl) : -1;
    si_session_stats st;
    si_session_get_stats(s->store.items[0].s, &st); /* the window as the engine resolved it */
    s->capacity = (int64_t)st.sink_tokens + st.window;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    int p = s->cfg.parallel;
    s->slots = calloc((size_t)p, sizeof *s->slots);
    s->queue = calloc((size_t)s->cfg.max_queue, sizeof *s->queue);
    s->batch_sessions = calloc((size_t)p, sizeof *s->batch_sessions);
    s->batch_tokens = calloc((size_t)p, sizeof *s->batch_tokens);
    s->batch_slots = calloc((size_t)p, sizeof *s->batch_slots);
    s->batch_next = calloc((size_t)p, sizeof *s->batch_next);
    s->batch_samplers = calloc((size_t)p, sizeof *s->batch_samplers);
    if (!s->slots || !s->queue || !s->batch_sessions || !s->batch_tokens || !s->batch_slots || !s->batch_next ||
        !s->batch_samplers) {
        srv_sched_free(s);
        return NULL;
    }
    srv_metrics_set(metrics, SRV_G_SESSIONS, s->store.n);
    srv_metrics_set(metrics, SRV_G_SESSION_BYTES, (int64_t)(s->store.n * s->store.cache_bytes));
    return s;
}

int srv_sched_submit(srv_sched *s, srv_job *j, srv_error *err) {
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->stopping) {
        srv_error_set(err, 503, "server_error", "server_shutting_down", NULL, "the server is shutting down");
        rc = -1;
    } else if (s->q_len >= s->cfg.max_queue) {
        srv_error_set(err, 429, "rate_limit_error", "queue_full",
                      NULL, "the server is at capacity (%d requests queued); retry later", s->q_len);
        rc = -1;
    } else {
        pthread_mutex_lock(&j->mu);
        j->refs++;
        pthread_mutex_unlock(&j->mu);
        s->queue[(s->q_head + s->q_len++) % s->cfg.max_queue] = j;
        srv_metrics_set(s->metrics, SRV_G_QUEUED, s->q_len);
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static srv_job *queue_pop(srv_sched *s) {
    pthread_mutex_lock(&s->mu);
    srv_job *j = NULL;
    if (s->q_len) {
        j = s->queue[s->q_head];
        s->q_head = (s->q_head + 1) % s->cfg.max_queue;
        s->q_len--;
        srv_metrics_set(s->metrics, SRV_G_QUEUED, s->q_len);
    }
    pthread_mutex_unlock(&s->mu);
    return j;
}

/* Puts a job that found no session back at the head of the queue. */
static void queue_unpop(srv_sched *s, srv_job *j) {
    pthread_mutex_lock(&s->mu);
    s->q_head = (s->q_head + s->cfg.max_queue - 1) % s->cfg.max_queue;
    s->queue[s->q_head] = j;
    s->q_len++;
    srv_metrics_set(s->metrics, SRV_G_QUEUED, s->q_len);
    pthread_mutex_unlock(&s->mu);
}

static void fail_job(srv_job *j, int status, const char *type, const char *code, const char *what) {
    srv_error e;
    srv_error_set(&e, status, type, code, NULL, "%.240s", what);
    job_end(j, NULL, &e);
}

/* Folds a session's StreamingLLM evictions into the metric. */
static void count_kv_evictions(srv_sched *s, srv_sess *x) {
    si_session_stats st;
    si_session_get_stats(x->s, &st);
    if (st.evicted > x->kv_evicted) srv_metrics_add(s->metrics, SRV_C_KV_EVICTED, st.evicted - x->kv_evicted);
    x->kv_evicted = st.evicted;
}

/* Ends the job in slot i and frees the slot. keep: the session's cache now
 * holds the conversation the client will send back (see srv_sess). */
static void slot_finish(srv_sched *s, int i, const char *finish, const srv_error *err, bool keep) {
    slot *sl = &s->slots[i];
    srv_job *j = sl->job;
    if (sl->sess) {
        count_kv_evictions(s, sl->sess);
        srv_store_release(&s->store, sl->sess, keep);
    }
    if (!err && finish && sl->gen_len > sl->sent) job_emit(j, sl->gen + sl->sent, sl->gen_len - sl->sent);
    pthread_mutex_lock(&j->mu);
    j->usage.completion_tokens = sl->n_out;
    pthread_mutex_unlock(&j->mu);
    job_end(j, finish, err);
    srv_job_release(j);
    si_sampler_free(sl->smp);
    si_streamer_free(sl->st);
    srv_tokens_free(&sl->feed);
    free(sl->gen);
    memset(sl, 0, sizeof *sl);
    s->n_active--;
    srv_metrics_set(s->metrics, SRV_G_ACTIVE, s->n_active);
    srv_metrics_set(s->metrics, SRV_G_SESSIONS, srv_store_live(&s->store));
    srv_metrics_set(s->metrics, SRV_G_SESSION_BYTES, (int64_t)(s->store.n * s->store.cache_bytes));
}

static si_sampler *make_sampler(const srv_sched *s, const srv_request *r) {
    si_sampler_params p = s->cfg.sampling;
    if (r->has_temperature) p.temperature = r->temperature;
    if (r->has_top_p) p.top_p = r->top_p;
    if (r->has_seed) {
        p.seed = r->seed;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        p.seed ^= (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec;
    }
    return si_sampler_create(&p);
}

/* Admits one job into slot i: 1 when no session is free (the job goes back
 * to the queue), 0 otherwise (started, or already ended with an error). */
static int admit(srv_sched *s, int i, srv_job *j) {
    slot *sl = &s->slots[i];
    srv_request *r = &j->req;
    srv_error err;
    int matched = 0;
    srv_sess *x;
    if (r->kind == SRV_CHAT) {
        uint64_t *chain = malloc(sizeof(uint64_t) * (size_t)(r->n_messages + 1));
        if (!chain) {
            fail_job(j, 500, "server_error", NULL, "out of memory");
            srv_job_release(j);
            return 0;
        }
        srv_chain_hashes(&s->store.key, r->messages, r->n_messages, chain);
        int64_t evictions = s->store.evictions;
        x = srv_store_acquire(&s->store, chain, r->n_messages, r->session, &matched);
        if (x) {
            /* What the session will hold once the reply is done (the reply is added then). */
            x->chain = chain[r->n_messages];
            x->n_msgs = r->n_messages;
        }
        free(chain);
        srv_metrics_add(s->metrics, SRV_C_SESSION_EVICTIONS, s->store.evictions - evictions);
    } else {
        int64_t evictions = s->store.evictions;
        x = srv_store_acquire_empty(&s->store);
        srv_metrics_add(s->metrics, SRV_C_SESSION_EVICTIONS, s->store.evictions - evictions);
    }
    if (!x) return 1;
    si_session_stats st;
    si_session_get_stats(x->s, &st);
    int64_t cached = st.n_seen;
    int rc = r->kind == SRV_CHAT
                 ? srv_prompt_chat(s->tok, s->cfg.tpl, r, x, matched, s->capacity, &sl->feed, &err)
                 : srv_prompt_completion(s->tok, r, s->capacity, &sl->feed, &err);
    s->n_active++;
    sl->job = j;
    sl->sess = x;
    sl->state = SLOT_PREFILL;
    if (rc) {
        slot_finish(s, i, NULL, &err, false);
        return 0;
    }
    x->had_user = true;
    x->reply_open = false;
    x->tail_token = -1;
    sl->smp = make_sampler(s, r);
    sl->st = si_streamer_create(s->tok, 0);
    if (!sl->smp || !sl->st) {
        srv_error_set(&err, 500, "server_error", NULL, NULL, "%.200s", si_last_error());
        slot_finish(s, i, NULL, &err, false);
        return 0;
    }
    sl->max_tokens = r->max_tokens > 0 ? r->max_tokens : s->cfg.default_max_tokens;
    pthread_mutex_lock(&j->mu);
    j->usage.cached_tokens = cached;
    j->usage.prompt_tokens = cached + sl->feed.n;
    pthread_mutex_unlock(&j->mu);
    if (matched) srv_metrics_add(s->metrics, SRV_C_SESSION_HITS, 1);
    srv_metrics_add(s->metrics, SRV_C_CACHED_TOKENS, cached);
    srv_metrics_set(s->metrics, SRV_G_ACTIVE, s->n_active);
    return 0;
}

static void admit_queued(srv_sched *s) {
    for (int i = 0; i < s->cfg.parallel; i++) {
        if (s->slots[i].state != SLOT_FREE) continue;
        srv_job *j = queue_pop(s);
        if (!j) return;
        if (atomic_load(&j->cancelled)) {
            fail_job(j, 499, "invalid_request_error", "client_closed_request", "the client closed the connection");
            srv_job_release(j);
            i--;
            continue;
        }
        if (admit(s, i, j) == 1) {
            queue_unpop(s, j);
            return;
        }
    }
}

static int grow_gen(slot *sl, size_t extra) {
    if (sl->gen_len + extra + 1 <= sl->gen_cap) return 0;
    size_t cap = (sl->gen_len + extra + 1) * 2;
    char *g = realloc(sl->gen, cap);
    if (!g) return -1;
    sl->gen = g;
    sl->gen_cap = cap;
    return 0;
}

static void append_gen(slot *sl, const char *text) {
    size_t n = strlen(text);
    if (n && grow_gen(sl, n) == 0) {
        memcpy(sl->gen + sl->gen_len, text, n);
        sl->gen_len += n;
        sl->gen[sl->gen_len] = '\0';
    }
}

/* Ends the reply; keep: the reply becomes part of the session's conversation. */
static void end_reply(srv_sched *s, int i, const char *finish, bool keep) {
    slot *sl = &s->slots[i];
    if (keep) {
        srv_message reply = {SRV_ROLE_ASSISTANT, sl->gen ? sl->gen : "", sl->gen_len};
        sl->sess->chain = srv_chain_next(&s->store.key, sl->sess->chain, &reply);
        sl->sess->n_msgs++;
    }
    slot_finish(s, i, finish, NULL, keep);
}

/* A sampled token: it ends the reply, or its text is released (what a stop
 * sequence cannot claim) and it waits to be fed at the next decode step. */
static void take_token(srv_sched *s, int i, int32_t tok) {
    slot *sl = &s->slots[i];
    srv_job *j = sl->job;
    double now = srv_now();
    srv_metrics_observe(s->metrics, sl->n_out == 0 ? SRV_H_TTFT : SRV_H_TOKEN,
                        now - (sl->n_out == 0 ? j->t_arrival : sl->t_last));
    sl->t_last = now;
    if (tok < 0) {
        srv_error e;
        srv_error_set(&e, 500, "server_error", NULL, NULL, "sampling: %.200s", si_last_error());
        slot_finish(s, i, NULL, &e, false);
        return;
    }
    bool chat = j->req.kind == SRV_CHAT;
    bool eog = si_token_is_eog(s->tok, tok) || (chat && tok == s->end_of_turn);
    if (!eog) {
        sl->n_out++;
        srv_metrics_add(s->metrics, SRV_C_COMPLETION_TOKENS, 1);
        append_gen(sl, si_streamer_push(sl->st, tok));
    }
    bool last = eog || sl->n_out >= sl->max_tokens;
    if (last) append_gen(sl, si_streamer_flush(sl->st));
    bool stopped;
    size_t rel = srv_stop_scan(sl->gen, sl->gen_len, sl->sent, j->req.stop, j->req.n_stop, &stopped);
    if (stopped) {
        /* The cache holds text past the stop sequence that the client never
         * sees, so this conversation cannot be continued from the cache. */
        sl->gen_len = rel;
        end_reply(s, i, "stop", false);
        return;
    }
    if (last) {
        /* The cache holds the reply except its last token (at a length
         * limit) and its closing: the next request of the conversation
         * feeds those first. */
        sl->sess->reply_open = chat;
        sl->sess->tail_token = chat && !eog ? tok : -1;
        end_reply(s, i, eog ? "stop" : "length", chat);
        return;
    }
    if (rel > sl->sent || sl->n_out == 1) {
        job_emit(j, sl->gen + sl->sent, rel - sl->sent);
        sl->sent = rel;
    }
    sl->pending = tok;
    sl->state = SLOT_DECODE;
}

/* One chunk of one prefilling slot; the first token is sampled after the last chunk. */
static void prefill_step(srv_sched *s) {
    int p = s->cfg.parallel;
    for (int k = 0; k < p; k++) {
        int i = (s->prefill_next + k) % p;
        slot *sl = &s->slots[i];
        if (sl->state != SLOT_PREFILL) continue;
        s->prefill_next = (i + 1) % p;
        int64_t n = sl->feed.n - sl->fed;
        if (n > s->cfg.prefill_chunk) n = s->cfg.prefill_chunk;
        bool last = sl->fed + n == sl->feed.n;
        /* the last chunk's pass also samples the first token (on a GPU only
         * its id comes back); with nothing left to feed, the kept logits */
        int32_t first = -1;
        int rc = 0;
        if (last && n > 0) {
            first = si_session_feed_sample(sl->sess->s, sl->feed.ids + sl->fed, n, sl->smp);
            rc = first < 0 ? -1 : 0;
        } else if (n > 0) {
            rc = si_session_feed(sl->sess->s, sl->feed.ids + sl->fed, n);
        }
        if (rc) {
            srv_error e;
            srv_error_set(&e, 500, "server_error", NULL, NULL, "prefill: %.200s", si_last_error());
            slot_finish(s, i, NULL, &e, false);
            return;
        }
        sl->fed += n;
        srv_metrics_add(s->metrics, SRV_C_PROMPT_TOKENS, n);
        if (last && n == 0) {
            const float *logits = si_session_logits(sl->sess->s);
            first = logits ? si_sampler_sample(sl->smp, logits, s->n_vocab) : -1;
        }
        if (last) take_token(s, i, first);
        return;
    }
}

/* One batched forward pass over every decoding slot, each slot's next token
 * sampled with its own settings (on the GPU where it can: ids only). */
static void decode_step(srv_sched *s) {
    int n = 0;
    for (int i = 0; i < s->cfg.parallel; i++)
        if (s->slots[i].state == SLOT_DECODE) {
            s->batch_sessions[n] = s->slots[i].sess->s;
            s->batch_tokens[n] = s->slots[i].pending;
            s->batch_samplers[n] = s->slots[i].smp;
            s->batch_slots[n++] = i;
        }
    if (!n) return;
    int rc = si_decode_batch_sample(s->model, s->batch_sessions, s->batch_tokens, n, s->batch_samplers, s->batch_next);
    srv_metrics_add(s->metrics, SRV_C_DECODE_STEPS, 1);
    srv_metrics_add(s->metrics, SRV_C_DECODE_ROWS, n);
    for (int k = 0; k < n; k++) {
        int i = s->batch_slots[k];
        if (rc) {
            srv_error e;
            srv_error_set(&e, 500, "server_error", NULL, NULL, "decode: %.200s", si_last_error());
            slot_finish(s, i, NULL, &e, false);
            continue;
        }
        take_token(s, i, s->batch_next[k]);
    }
}

static void drop_cancelled(srv_sched *s) {
    for (int i = 0; i < s->cfg.parallel; i++)
        if (s->slots[i].state != SLOT_FREE && atomic_load(&s->slots[i].job->cancelled)) {
            srv_error e;
            srv_error_set(&e, 499, "invalid_request_error", "client_closed_request", NULL, "the client closed the connection");
            slot_finish(s, i, NULL, &e, false);
        }
}

static void *loop(void *arg) {
    srv_sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stopping && s->q_len == 0 && s->n_active == 0) pthread_cond_wait(&s->cv, &s->mu);
        bool stop = s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (stop) break;
        drop_cancelled(s);
        admit_queued(s);
        prefill_step(s);
        decode_step(s);
    }
    return NULL;
}

int srv_sched_start(srv_sched *s) {
    if (pthread_create(&s->thread, NULL, loop, s)) return -1;
    s->running = true;
    return 0;
}

void srv_sched_stop(srv_sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    bool was = s->stopping;
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (was) return;
    if (s->running) pthread_join(s->thread, NULL);
    s->running = false;
    srv_error e;
    srv_error_set(&e, 503, "server_error", "server_shutting_down", NULL, "the server is shutting down");
    for (int i = 0; s->slots && i < s->cfg.parallel; i++)
        if (s->slots[i].state != SLOT_FREE) slot_finish(s, i, NULL, &e, false);
    for (srv_job *j; s->queue && (j = queue_pop(s));) {
        job_end(j, NULL, &e);
        srv_job_release(j);
    }
}

srv_store *srv_sched_store(srv_sched *s) { return &s->store; }

void srv_sched_free(srv_sched *s) {
    if (!s) return;
    srv_sched_stop(s);
    srv_store_free(&s->store);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->slots);
    free(s->queue);
    free(s->batch_sessions);
    free(s->batch_tokens);
    free(s->batch_slots);
    free(s->batch_next);
    free(s->batch_samplers);
    free(s);
}
