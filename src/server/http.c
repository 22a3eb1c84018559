/* server/http.c: the libmicrohttpd glue — listening, one thread per
 * connection, routing, API-key checks, request-body limits, the connection
 * limit and the watchdog that times out clients that send slowly.
 *
 * Limits, and why each is where it is:
 *  - connections: MHD refuses connections past a hard limit silently, so the
 *    soft limit (--max-connections) is ours: connections accepted past it
 *    get a 503 JSON error instead of a reset;
 *  - body: a Content-Length over --max-body gets 413 before any of it is
 *    read; a chunked body that grows past it is discarded and gets 413;
 *  - slow clients: MHD's timeout only measures inactivity, which a client
 *    dribbling a byte a second never trips, so a watchdog gives every
 *    request --timeout seconds to arrive whole, then answers 408 and closes. */
#include "http.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

bool srv_client_gone(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

enum MHD_Result srv_reply(struct MHD_Connection *c, req_ctx *r, int status, char *body, const char *content_type) {
    if (!body) {
        status = 500;
        body = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
        if (!body) return MHD_NO;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == 405) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->ep == SRV_EP_CHAT || r->ep == SRV_EP_COMPLETIONS ? "POST" : "GET");
    if (status == 429 || status == 503) MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    /* An error answered before the body was read leaves it unread: close. */
    if (status >= 400 && status != 404) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = status;
    if (r->conn) r->conn->busy = true;
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

enum MHD_Result srv_reply_error(struct MHD_Connection *c, req_ctx *r, const srv_error *e) {
    return srv_reply(c, r, e->status, srv_format_error(e), "application/json");
}

static srv_endpoint route(const char *url) {
    static const struct {
        const char *path;
        srv_endpoint ep;
    } routes[] = {{"/v1/chat/completions", SRV_EP_CHAT}, {"/v1/completions", SRV_EP_COMPLETIONS},
                  {"/v1/models", SRV_EP_MODELS},         {"/health", SRV_EP_HEALTH},
                  {"/metrics", SRV_EP_METRICS}};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (strcmp(url, routes[i].path) == 0) return routes[i].ep;
    return SRV_EP_OTHER;
}

/* Compares in time independent of where the strings differ. */
static bool same_secret(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la; i++) d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

static bool authorized(srv_server *s, struct MHD_Connection *c) {
    if (!s->cfg.api_key || !*s->cfg.api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncmp(h, "Bearer ", 7) != 0) return false;
    return same_secret(h + 7, s->cfg.api_key);
}

/* The checks made as soon as the headers are in. */
static enum MHD_Result check_headers(srv_server *s, struct MHD_Connection *c, req_ctx *r, const char *method) {
    srv_error e;
    if (r->conn && r->conn->over_limit) {
        srv_error_set(&e, 503, "server_error", "too_many_connections", NULL,
                      "too many open connections (the limit is %d); retry later", s->cfg.max_connections);
        return srv_reply_error(c, r, &e);
    }
    if (r->ep == SRV_EP_OTHER) {
        srv_error_set(&e, 404, "invalid_request_error", "not_found", NULL, "no such endpoint");
        return srv_reply_error(c, r, &e);
    }
    bool post = r->ep == SRV_EP_CHAT || r->ep == SRV_EP_COMPLETIONS;
    if (strcmp(method, post ? "POST" : "GET") != 0) {
        srv_error_set(&e, 405, "invalid_request_error", "method_not_allowed", NULL, "this endpoint takes %s",
                      post ? "POST" : "GET");
        return srv_reply_error(c, r, &e);
    }
    if (r->ep != SRV_EP_HEALTH && !authorized(s, c)) {
        srv_error_set(&e, 401, "invalid_request_error", "invalid_api_key", NULL,
                      "missing or incorrect API key: send the header 'Authorization: Bearer KEY'");
        return srv_reply_error(c, r, &e);
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body) {
        srv_error_set(&e, 413, "invalid_request_error", "request_too_large", NULL,
                      "the request body is over the limit of %zu bytes", s->cfg.max_body);
        return srv_reply_error(c, r, &e);
    }
    return MHD_YES;
}

static void append_body(srv_server *s, req_ctx *r, const char *data, size_t n) {
    if (r->too_large) return;
    if (r->len + n > s->cfg.max_body) {
        r->too_large = true; /* the rest is read and dropped; 413 once it has arrived */
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1) cap *= 2;
        if (cap > s->cfg.max_body + 1) cap = s->cfg.max_body + 1;
        char *b = realloc(r->body, cap);
        if (!b) {
            r->too_large = true;
            return;
        }
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    srv_server *s = cls;
    req_ctx *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        *con_cls = r;
        r->ep = route(url);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->conn = ci ? (conn_rec *)ci->socket_context : NULL;
        return check_headers(s, c, r, method);
    }
    if (*upload_size) {
        append_body(s, r, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->conn) {
        pthread_mutex_lock(&s->conn_mu);
        r->conn->busy = true;
        pthread_mutex_unlock(&s->conn_mu);
    }
    if (r->too_large) {
        srv_error e;
        srv_error_set(&e, 413, "invalid_request_error", "request_too_large", NULL,
                      "the request body is over the limit of %zu bytes", s->cfg.max_body);
        return srv_reply_error(c, r, &e);
    }
    switch (r->ep) {
    case SRV_EP_CHAT:
    case SRV_EP_COMPLETIONS: return srv_handle_generate(s, c, r);
    case SRV_EP_MODELS: return srv_handle_models(s, c, r);
    case SRV_EP_HEALTH: return srv_handle_health(s, c, r);
    case SRV_EP_METRICS: return srv_handle_metrics(s, c, r);
    default: return MHD_NO;
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c;
    srv_server *s = cls;
    req_ctx *r = *con_cls;
    if (!r) return;
    if (r->status) srv_metrics_request(s->metrics, r->ep, r->status);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->job) srv_job_cancel(r->job);
    if (r->conn) {
        pthread_mutex_lock(&s->conn_mu);
        r->conn->busy = false;
        r->conn->phase_start = srv_now(); /* a kept-alive connection waits for its next request */
        pthread_mutex_unlock(&s->conn_mu);
    }
    bool routine = r->status == 200 && (r->ep == SRV_EP_HEALTH || r->ep == SRV_EP_METRICS);
    if (s->cfg.quiet == 0 && r->status && !routine)
        fprintf(stderr, "swiftinfer serve: %d %s%s\n", r->status, srv_endpoint_name(r->ep),
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
    srv_request_done(r);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    srv_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_rec *cr = calloc(1, sizeof *cr);
        if (!cr) return;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        cr->fd = ci ? ci->connect_fd : -1;
        cr->phase_start = srv_now();
        pthread_mutex_lock(&s->conn_mu);
        cr->over_limit = s->n_conns >= s->cfg.max_connections;
        cr->next = s->conns;
        if (s->conns) s->conns->prev = cr;
        s->conns = cr;
        s->n_conns++;
        srv_metrics_set(s->metrics, SRV_G_CONNECTIONS, s->n_conns);
        pthread_mutex_unlock(&s->conn_mu);
        *socket_context = cr;
    } else {
        conn_rec *cr = *socket_context;
        if (!cr) return;
        /* MHD closes the socket only after this returns, so the watchdog,
         * which holds the same lock, never touches a reused descriptor. */
        pthread_mutex_lock(&s->conn_mu);
        if (cr->prev) cr->prev->next = cr->next;
        else s->conns = cr->next;
        if (cr->next) cr->next->prev = cr->prev;
        s->n_conns--;
        srv_metrics_set(s->metrics, SRV_G_CONNECTIONS, s->n_conns);
        pthread_mutex_unlock(&s->conn_mu);
        free(cr);
        *socket_context = NULL;
    }
}

/* Answers 408 on a connection whose request has not arrived in time and
 * shuts it down; MHD's thread then sees the end of the stream and closes it. */
static void time_out(srv_server *s, conn_rec *cr) {
    srv_error e;
    srv_error_set(&e, 408, "invalid_request_error", "request_timeout", NULL,
                  "the request did not arrive within %d seconds", s->cfg.timeout_s);
    char *body = srv_format_error(&e);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     body ? strlen(body) : 0);
    if (send(cr->fd, head, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n && body)
        (void)!send(cr->fd, body, strlen(body), MSG_NOSIGNAL | MSG_DONTWAIT);
    free(body);
    shutdown(cr->fd, SHUT_RDWR);
    cr->killed = true;
    srv_metrics_request(s->metrics, SRV_EP_OTHER, 408);
}

static void *watchdog(void *arg) {
    srv_server *s = arg;
    pthread_mutex_lock(&s->conn_mu);
    while (!s->stopping) {
        struct timespec ts;
        srv_deadline_in(&ts, 250);
        pthread_cond_timedwait(&s->stop_cv, &s->conn_mu, &ts);
        double now = srv_now();
        for (conn_rec *cr = s->conns; cr; cr = cr->next)
            if (!cr->busy && !cr->killed && cr->fd >= 0 && now - cr->phase_start > s->cfg.timeout_s) time_out(s, cr);
    }
    pthread_mutex_unlock(&s->conn_mu);
    return NULL;
}

int srv_http_start(srv_server *s, const struct sockaddr *addr, bool ipv6) {
    pthread_mutex_init(&s->conn_mu, NULL);
    pthread_cond_init(&s->stop_cv, NULL);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
    if (ipv6) flags |= MHD_USE_IPv6;
    /* The hard limit leaves room to answer the connections past the soft one. */
    unsigned hard = (unsigned)s->cfg.max_connections + 16;
    s->daemon = MHD_start_daemon(flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, addr,
                                 MHD_OPTION_CONNECTION_LIMIT, hard,
                                 /* later than the watchdog, which answers 408 first */
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.timeout_s + 2,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        fprintf(stderr, "swiftinfer serve: cannot listen on %s port %d (in use, or not an address of this machine?)\n",
                s->cfg.host, s->cfg.port);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->cfg.port;
    if (pthread_create(&s->watchdog, NULL, watchdog, s) == 0) s->watchdog_running = true;
    return 0;
}

void srv_http_quiesce(srv_server *s) {
    if (s->daemon) MHD_quiesce_daemon(s->daemon);
}

void srv_http_stop(srv_server *s) {
    if (s->daemon) MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    pthread_mutex_lock(&s->conn_mu);
    s->stopping = true;
    pthread_cond_signal(&s->stop_cv);
    pthread_mutex_unlock(&s->conn_mu);
    if (s->watchdog_running) pthread_join(s->watchdog, NULL);
    s->watchdog_running = false;
    pthread_mutex_destroy(&s->conn_mu);
    pthread_cond_destroy(&s->stop_cv);
}
