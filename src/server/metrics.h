/* server/metrics.h: counters, gauges and histograms of the server, rendered
 * in the Prometheus text exposition format for GET /metrics. Thread-safe:
 * HTTP threads and the scheduler both record. */
#ifndef SI_SERVER_METRICS_H
#define SI_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct srv_metrics srv_metrics;

typedef enum {
    SRV_EP_CHAT,
    SRV_EP_COMPLETIONS,
    SRV_EP_MODELS,
    SRV_EP_HEALTH,
    SRV_EP_METRICS,
    SRV_EP_OTHER,
    SRV_EP_COUNT
} srv_endpoint;

typedef enum {
    SRV_C_PROMPT_TOKENS,     /* tokens prefilled (fed to the model as prompt) */
    SRV_C_CACHED_TOKENS,     /* prompt tokens reused from a session's cache instead */
    SRV_C_COMPLETION_TOKENS, /* tokens generated */
    SRV_C_SESSION_EVICTIONS, /* cached conversations dropped (LRU or budget) */
    SRV_C_SESSION_HITS,      /* requests that continued a cached conversation */
    SRV_C_KV_EVICTED,        /* tokens that left a StreamingLLM window */
    SRV_C_DECODE_STEPS,      /* batched decode forward passes */
    SRV_C_DECODE_ROWS,       /* sessions summed over those passes */
    SRV_C_COUNT
} srv_counter;

typedef enum { SRV_G_ACTIVE, SRV_G_QUEUED, SRV_G_SESSIONS, SRV_G_SESSION_BYTES, SRV_G_CONNECTIONS, SRV_G_COUNT } srv_gauge;

typedef enum { SRV_H_TTFT, SRV_H_TOKEN, SRV_H_COUNT } srv_histogram;

const char *srv_endpoint_name(srv_endpoint ep);
srv_metrics *srv_metrics_create(void);
void srv_metrics_free(srv_metrics *m);
void srv_metrics_request(srv_metrics *m, srv_endpoint ep, int status);
void srv_metrics_add(srv_metrics *m, srv_counter c, int64_t n);
void srv_metrics_set(srv_metrics *m, srv_gauge g, int64_t v);
void srv_metrics_gauge_add(srv_metrics *m, srv_gauge g, int64_t d);
void srv_metrics_observe(srv_metrics *m, srv_histogram h, double seconds);
/* The exposition text (malloc'd). */
char *srv_metrics_render(srv_metrics *m);

#endif
