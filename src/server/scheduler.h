/* server/scheduler.h: the thread that owns the model. HTTP threads submit
 * jobs to a bounded queue and wait on the job; the scheduler admits queued
 * jobs into a fixed number of slots, prefills them chunk by chunk between
 * decode steps, and advances every decoding slot by one token per batched
 * forward pass (continuous batching: a new job joins at the next step). */
#ifndef SI_SERVER_SCHEDULER_H
#define SI_SERVER_SCHEDULER_H

#include "api.h"
#include "metrics.h"
#include "sessions.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

/* One request in flight. The HTTP side reads the fields under mu. */
typedef struct srv_job {
    srv_request req;
    double t_arrival;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *text; /* content released so far (after stop-sequence hold-back) */
    size_t len, cap;
    bool started;       /* the first token is out, or the job ended */
    bool done;          /* finished, failed or cancelled */
    const char *finish; /* "stop" or "length" when done without failure */
    bool failed;
    srv_error err;
    srv_usage usage;
    int refs;
    atomic_bool cancelled; /* set by the HTTP side when the client left */
} srv_job;

/* Takes ownership of *req (which is left empty). NULL when out of memory. */
srv_job *srv_job_create(srv_request *req, double now);
/* Drops one reference (the creator holds one, the scheduler one while queued or running). */
void srv_job_release(srv_job *j);
void srv_job_cancel(srv_job *j);

typedef struct {
    int parallel;           /* slots: requests prefilled or decoded at once */
    int max_queue;          /* jobs waiting for a slot; more are refused (429) */
    int prefill_chunk;      /* prompt tokens per forward pass between decode steps */
    int default_max_tokens; /* when a request names none */
    si_sampler_params sampling; /* defaults that requests override */
    si_template tpl;
} srv_sched_config;

typedef struct srv_sched srv_sched;

/* The scheduler takes over the store (sessions) and frees it. */
srv_sched *srv_sched_create(si_model *m, srv_store *store, srv_metrics *metrics, const srv_sched_config *cfg);
int srv_sched_start(srv_sched *s);
/* Stops the thread and fails every job still queued or running (503);
 * later submissions get 503. */
void srv_sched_stop(srv_sched *s);
void srv_sched_free(srv_sched *s);
/* The session store it owns (to save it once stopped). */
srv_store *srv_sched_store(srv_sched *s);
/* Queues a job. 0, or -1 with *err (429 when the queue is full, 503 when stopping). */
int srv_sched_submit(srv_sched *s, srv_job *j, srv_error *err);

double srv_now(void);
/* *ts = now + ms on the realtime clock (what pthread_cond_timedwait takes). */
void srv_deadline_in(struct timespec *ts, long ms);

#endif
