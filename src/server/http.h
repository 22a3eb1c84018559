/* server/http.h: what the libmicrohttpd glue (http.c) and the endpoint
 * handlers (handlers.c) share: the server object, the per-connection and
 * per-request records, and the reply helpers. */
#ifndef SI_SERVER_HTTP_H
#define SI_SERVER_HTTP_H

#include "api.h"
#include "metrics.h"
#include "scheduler.h"
#include "server.h"

#include <microhttpd.h>
#include <pthread.h>
#include <sys/socket.h>

/* One TCP connection (MHD's socket context); in the server's list while open. */
typedef struct conn_rec {
    int fd;
    double phase_start; /* when it began waiting for its current request */
    bool busy;          /* a whole request arrived and is being answered */
    bool over_limit;    /* accepted beyond --max-connections: gets 503 */
    bool killed;        /* timed out by the watchdog */
    struct conn_rec *prev, *next;
} conn_rec;

/* One HTTP request (MHD's con_cls). */
typedef struct {
    srv_endpoint ep;
    conn_rec *conn;
    char *body;
    size_t len, cap;
    bool too_large;
    int status; /* for the metrics, recorded when the request completes */
    /* streaming */
    srv_job *job;
    srv_reply_meta meta;
    char id[40];
    char *out; /* formatted bytes not yet handed to MHD */
    size_t out_len, out_pos;
    size_t text_seen; /* bytes of job->text already sent */
    bool sent_role, stream_ended;
} req_ctx;

struct srv_server {
    srv_config cfg;
    si_model *model;
    srv_metrics *metrics;
    srv_sched *sched;
    struct MHD_Daemon *daemon;
    srv_limits limits;
    char model_id[256];
    int64_t created;
    int port;

    pthread_mutex_t conn_mu;
    conn_rec *conns;
    int n_conns;
    pthread_t watchdog;
    bool watchdog_running, stopping;
    pthread_cond_t stop_cv;
};

/* Queues a reply (takes ownership of the malloc'd body). */
enum MHD_Result srv_reply(struct MHD_Connection *c, req_ctx *r, int status, char *body, const char *content_type);
enum MHD_Result srv_reply_error(struct MHD_Connection *c, req_ctx *r, const srv_error *e);

/* Endpoint handlers, called once the whole request is in. */
enum MHD_Result srv_handle_generate(srv_server *s, struct MHD_Connection *c, req_ctx *r);
enum MHD_Result srv_handle_models(srv_server *s, struct MHD_Connection *c, req_ctx *r);
enum MHD_Result srv_handle_health(srv_server *s, struct MHD_Connection *c, req_ctx *r);
enum MHD_Result srv_handle_metrics(srv_server *s, struct MHD_Connection *c, req_ctx *r);
/* Frees a request's state; cancels its job when the client left early. */
void srv_request_done(req_ctx *r);

/* Daemon life (http.c). */
int srv_http_start(srv_server *s, const struct sockaddr *addr, bool ipv6);
void srv_http_quiesce(srv_server *s); /* stop accepting */
void srv_http_stop(srv_server *s);    /* close everything, join the threads */

/* Whether the peer of fd has closed or reset the connection. */
bool srv_client_gone(int fd);

#endif
