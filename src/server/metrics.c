/* server/metrics.c: the server's numbers and their Prometheus rendering. One
 * mutex guards everything: recording is a few additions, far cheaper than
 * the forward pass that happens between records. */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int status_codes[] = {200, 400, 401, 404, 405, 408, 413, 429, 500, 503};
#define N_STATUS (int)(sizeof status_codes / sizeof status_codes[0])
static const char *const endpoint_names[SRV_EP_COUNT] = {"/v1/chat/completions", "/v1/completions", "/v1/models",
                                                          "/health", "/metrics", "other"};

#define N_BUCKETS 14
static const double ttft_bounds[N_BUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128};
static const double token_bounds[N_BUCKETS] = {0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5};

typedef struct {
    uint64_t counts[N_BUCKETS]; /* not cumulative; summed when rendered */
    uint64_t total;
    double sum;
} histogram;

struct srv_metrics {
    pthread_mutex_t mu;
    uint64_t requests[SRV_EP_COUNT][N_STATUS + 1]; /* last column: any other status */
    int64_t counters[SRV_C_COUNT];
    int64_t gauges[SRV_G_COUNT];
    histogram hist[SRV_H_COUNT];
};

const char *srv_endpoint_name(srv_endpoint ep) { return (unsigned)ep < SRV_EP_COUNT ? endpoint_names[ep] : "other"; }

srv_metrics *srv_metrics_create(void) {
    srv_metrics *m = calloc(1, sizeof *m);
    if (m) pthread_mutex_init(&m->mu, NULL);
    return m;
}

void srv_metrics_free(srv_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void srv_metrics_request(srv_metrics *m, srv_endpoint ep, int status) {
    int col = N_STATUS;
    for (int i = 0; i < N_STATUS; i++)
        if (status_codes[i] == status) col = i;
    pthread_mutex_lock(&m->mu);
    m->requests[ep][col]++;
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_add(srv_metrics *m, srv_counter c, int64_t n) {
    pthread_mutex_lock(&m->mu);
    m->counters[c] += n;
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_set(srv_metrics *m, srv_gauge g, int64_t v) {
    pthread_mutex_lock(&m->mu);
    m->gauges[g] = v;
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_gauge_add(srv_metrics *m, srv_gauge g, int64_t d) {
    pthread_mutex_lock(&m->mu);
    m->gauges[g] += d;
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_observe(srv_metrics *m, srv_histogram h, double seconds) {
    const double *b = h == SRV_H_TTFT ? ttft_bounds : token_bounds;
    pthread_mutex_lock(&m->mu);
    histogram *x = &m->hist[h];
    for (int i = 0; i < N_BUCKETS; i++)
        if (seconds <= b[i]) {
            x->counts[i]++;
            break;
        }
    x->total++;
    x->sum += seconds;
    pthread_mutex_unlock(&m->mu);
}

/* ---- rendering ---- */

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *fmt, ...) {
    for (int tries = 0; tries < 2 && !t->failed; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) break;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *grown = realloc(t->buf, cap);
        if (!grown) break;
        t->buf = grown;
        t->cap = cap;
    }
    t->failed = 1;
}

static void family(text *t, const char *name, const char *type, const char *help) {
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_histogram(text *t, const char *name, const char *help, const histogram *h, const double *b) {
    family(t, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i < N_BUCKETS; i++) {
        cum += h->counts[i];
        put(t, "%s_bucket{le=\"%g\"} %llu\n", name, b[i], (unsigned long long)cum);
    }
    put(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, (unsigned long long)h->total, name, h->sum,
        name, (unsigned long long)h->total);
}

static const struct {
    const char *name, *help;
} counter_info[SRV_C_COUNT] = {
    {"swiftinfer_prompt_tokens_total", "Prompt tokens prefilled (fed through the model)."},
    {"swiftinfer_prompt_tokens_cached_total", "Prompt tokens reused from a cached conversation instead of prefilled."},
    {"swiftinfer_completion_tokens_total", "Tokens generated."},
    {"swiftinfer_session_evictions_total", "Cached conversations evicted (least recently used, under --max-sessions and the memory budget)."},
    {"swiftinfer_session_hits_total", "Requests that continued a cached conversation."},
    {"swiftinfer_kv_tokens_evicted_total", "Tokens that left a StreamingLLM window (sinks + rolling window)."},
    {"swiftinfer_decode_steps_total", "Batched decode forward passes."},
    {"swiftinfer_decode_rows_total", "Streams summed over batched decode passes (rows / steps = mean batch)."},
};

static const struct {
    const char *name, *help;
} gauge_info[SRV_G_COUNT] = {
    {"swiftinfer_active_requests", "Requests being prefilled or decoded."},
    {"swiftinfer_queue_length", "Requests waiting for a slot."},
    {"swiftinfer_sessions", "Session caches allocated (busy or cached)."},
    {"swiftinfer_session_cache_bytes", "Bytes held by session caches."},
    {"swiftinfer_open_connections", "Open HTTP connections."},
};

char *srv_metrics_render(srv_metrics *m) {
    text t = {malloc(4096), 0, 4096, 0};
    if (!t.buf) return NULL;
    pthread_mutex_lock(&m->mu);
    family(&t, "swiftinfer_requests_total", "counter", "HTTP requests by endpoint and status.");
    for (int e = 0; e < SRV_EP_COUNT; e++)
        for (int s = 0; s <= N_STATUS; s++)
            if (m->requests[e][s]) {
                char code[8];
                snprintf(code, sizeof code, "%d", s < N_STATUS ? status_codes[s] : 0);
                put(&t, "swiftinfer_requests_total{endpoint=\"%s\",status=\"%s\"} %llu\n", endpoint_names[e],
                    s < N_STATUS ? code : "other", (unsigned long long)m->requests[e][s]);
            }
    for (int c = 0; c < SRV_C_COUNT; c++) {
        family(&t, counter_info[c].name, "counter", counter_info[c].help);
        put(&t, "%s %lld\n", counter_info[c].name, (long long)m->counters[c]);
    }
    for (int g = 0; g < SRV_G_COUNT; g++) {
        family(&t, gauge_info[g].name, "gauge", gauge_info[g].help);
        put(&t, "%s %lld\n", gauge_info[g].name, (long long)m->gauges[g]);
    }
    render_histogram(&t, "swiftinfer_time_to_first_token_seconds", "Time from arrival to the first generated token.",
                     &m->hist[SRV_H_TTFT], ttft_bounds);
    render_histogram(&t, "swiftinfer_inter_token_latency_seconds", "Time between consecutive generated tokens of a stream.",
                     &m->hist[SRV_H_TOKEN], token_bounds);
    pthread_mutex_unlock(&m->mu);
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}
