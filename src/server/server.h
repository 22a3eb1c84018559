/* server/server.h: the OpenAI-compatible HTTP server as a whole — what
 * `swiftinfer serve` starts and stops. Everything else in src/server is
 * internal to it. */
#ifndef SI_SERVER_SERVER_H
#define SI_SERVER_SERVER_H

#include "swiftinfer.h"

#include <stddef.h>

typedef struct {
    const char *model_path;
    const char *model_id;     /* the name clients pass as "model" (default: the file name without .gguf) */
    const char *device;
    int threads, batch;
    const char *host;         /* numeric address to listen on (default 127.0.0.1: loopback only) */
    int port;                 /* 0: any free port (printed at start) */
    const char *api_key;      /* when set, every endpoint but /health wants "Authorization: Bearer KEY" */
    int sink_tokens, window;  /* each session's StreamingLLM cache */
    si_template tpl;
    int max_sessions;         /* cached conversations kept */
    size_t memory_budget;     /* bytes of session caches at most */
    int parallel;             /* requests prefilled/decoded at once (the decode batch) */
    int max_queue;            /* requests waiting for a slot before 429 */
    int prefill_chunk;        /* prompt tokens per forward pass between decode steps */
    int max_connections;      /* open connections before 503 */
    int timeout_s;            /* to receive a whole request, and idle keep-alive time */
    size_t max_body;          /* request body bytes */
    size_t max_message_bytes; /* one message's content */
    int max_messages;         /* per request */
    int max_tokens;           /* the largest max_tokens a request may ask for */
    int default_max_tokens;   /* when it asks for none */
    si_sampler_params sampling;
    const char *state_dir;    /* cached conversations saved here at shutdown, restored at start (NULL: none) */
    int quiet;                /* no access log on stderr */
} srv_config;

void srv_config_defaults(srv_config *c);

typedef struct srv_server srv_server;

/* Loads the model and starts listening; NULL with a message on stderr. */
srv_server *srv_start(const srv_config *c);
/* The port actually bound. */
int srv_port(const srv_server *s);
/* Stops accepting, ends every request in flight (503), frees everything. */
void srv_stop(srv_server *s);

#endif
