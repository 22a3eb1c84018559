/* server/handlers.c: the endpoints. Generation requests are parsed, queued
 * to the scheduler and waited for on this connection's own thread: a whole
 * reply for stream=false, server-sent events for stream=true. While
 * waiting, the thread watches its socket, so a client that leaves cancels
 * its job and frees the slot within a tenth of a second. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

typedef enum { UNTIL_STARTED, UNTIL_MORE, UNTIL_DONE } wait_for;

/* With j->mu held: waits for the condition; false if the client left first. */
static bool wait_locked(req_ctx *r, srv_job *j, wait_for w) {
    for (;;) {
        if (j->done || (w == UNTIL_STARTED && j->started) || (w == UNTIL_MORE && j->len > r->text_seen)) return true;
        struct timespec ts;
        srv_deadline_in(&ts, 100);
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        if (!j->done && srv_client_gone(r->conn ? r->conn->fd : -1)) return false;
    }
}

/* Appends a malloc'd piece to the request's pending output (and frees it). */
static int out_append(req_ctx *r, char *piece) {
    if (!piece) return -1;
    size_t n = strlen(piece);
    char *grown = realloc(r->out, r->out_len + n + 1);
    if (!grown) {
        free(piece);
        return -1;
    }
    memcpy(grown + r->out_len, piece, n + 1);
    r->out = grown;
    r->out_len += n;
    free(piece);
    return 0;
}

/* Formats the next events of the stream into r->out; -1 if the client left. */
static int refill(req_ctx *r) {
    free(r->out);
    r->out = NULL;
    r->out_len = r->out_pos = 0;
    if (!r->sent_role) {
        r->sent_role = true;
        if (r->meta.kind == SRV_CHAT) return out_append(r, srv_format_chunk(&r->meta, "assistant", "", 0, NULL));
    }
    srv_job *j = r->job;
    pthread_mutex_lock(&j->mu);
    if (!wait_locked(r, j, UNTIL_MORE)) {
        pthread_mutex_unlock(&j->mu);
        return -1;
    }
    size_t from = r->text_seen, n = j->len - from;
    char *piece = n ? malloc(n) : NULL;
    if (piece) memcpy(piece, j->text + from, n);
    r->text_seen = j->len;
    bool done = j->done, failed = j->failed;
    srv_error err = j->err;
    srv_usage usage = j->usage;
    const char *finish = j->finish;
    pthread_mutex_unlock(&j->mu);
    int rc = 0;
    if (piece) rc |= out_append(r, srv_format_chunk(&r->meta, NULL, piece, n, NULL));
    free(piece);
    if (done) {
        if (failed) {
            /* A failure after the stream began goes out as an error event. */
            rc |= out_append(r, strdup("data: "));
            rc |= out_append(r, srv_format_error(&err));
            rc |= out_append(r, strdup("\n\n"));
        } else {
            rc |= out_append(r, srv_format_chunk(&r->meta, NULL, NULL, 0, finish ? finish : "stop"));
            if (r->job->req.include_usage) rc |= out_append(r, srv_format_usage_chunk(&r->meta, &usage));
        }
        rc |= out_append(r, strdup(SRV_SSE_DONE));
        r->stream_ended = true;
    }
    return rc ? -1 : 0;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    req_ctx *r = cls;
    while (r->out_pos >= r->out_len) {
        if (r->stream_ended) return MHD_CONTENT_READER_END_OF_STREAM;
        if (refill(r)) {
            srv_job_cancel(r->job);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = r->out_len - r->out_pos < max ? r->out_len - r->out_pos : max;
    memcpy(buf, r->out + r->out_pos, n);
    r->out_pos += n;
    return (ssize_t)n;
}

static void make_id(char *out, size_t cap, const char *prefix) {
    unsigned long long x = 0;
    if (getrandom(&x, sizeof x, 0) != (ssize_t)sizeof x) x = (unsigned long long)srv_now() * 1000003ull;
    snprintf(out, cap, "%s%016llx", prefix, x);
}

enum MHD_Result srv_handle_generate(srv_server *s, struct MHD_Connection *c, req_ctx *r) {
    srv_request req;
    srv_error e;
    bool chat = r->ep == SRV_EP_CHAT;
    int rc = chat ? srv_parse_chat_request(r->body, r->len, &s->limits, &req, &e)
                  : srv_parse_completion_request(r->body, r->len, &s->limits, &req, &e);
    if (rc) return srv_reply_error(c, r, &e);
    srv_job *j = srv_job_create(&req, srv_now());
    if (!j) {
        srv_request_free(&req);
        srv_error_set(&e, 500, "server_error", NULL, NULL, "out of memory");
        return srv_reply_error(c, r, &e);
    }
    r->job = j;
    if (srv_sched_submit(s->sched, j, &e)) return srv_reply_error(c, r, &e);
    make_id(r->id, sizeof r->id, chat ? "chatcmpl-" : "cmpl-");
    r->meta = (srv_reply_meta){.id = r->id, .model = s->model_id, .created = (int64_t)time(NULL),
                               .kind = chat ? SRV_CHAT : SRV_COMPLETION};
    bool stream = j->req.stream;
    pthread_mutex_lock(&j->mu);
    if (!wait_locked(r, j, stream ? UNTIL_STARTED : UNTIL_DONE)) {
        pthread_mutex_unlock(&j->mu);
        srv_job_cancel(j);
        return MHD_NO; /* the client is gone: close */
    }
    if (j->failed) {
        e = j->err;
        pthread_mutex_unlock(&j->mu);
        return srv_reply_error(c, r, &e);
    }
    if (!stream) {
        char *body = srv_format_reply(&r->meta, j->text, j->len, j->finish ? j->finish : "stop", &j->usage);
        pthread_mutex_unlock(&j->mu);
        return srv_reply(c, r, 200, body, "application/json");
    }
    pthread_mutex_unlock(&j->mu);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, r, NULL);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    r->status = 200;
    if (r->conn) r->conn->busy = true;
    enum MHD_Result q = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return q;
}

enum MHD_Result srv_handle_models(srv_server *s, struct MHD_Connection *c, req_ctx *r) {
    return srv_reply(c, r, 200, srv_format_models(s->model_id, s->created), "application/json");
}

enum MHD_Result srv_handle_health(srv_server *s, struct MHD_Connection *c, req_ctx *r) {
    (void)s;
    return srv_reply(c, r, 200, strdup("{\"status\":\"ok\"}"), "application/json");
}

enum MHD_Result srv_handle_metrics(srv_server *s, struct MHD_Connection *c, req_ctx *r) {
    return srv_reply(c, r, 200, srv_metrics_render(s->metrics), "text/plain; version=0.0.4");
}

void srv_request_done(req_ctx *r) {
    srv_job_release(r->job);
    free(r->body);
    free(r->out);
    free(r);
}
