/* server/api.h: the OpenAI-compatible wire format. Requests are parsed and
 * validated into srv_request by pure functions (no model, no globals: the
 * fuzzing work targets srv_parse_chat_request); responses, stream chunks and
 * errors are formatted here too, and so is the stop-sequence scan. */
#ifndef SI_SERVER_API_H
#define SI_SERVER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SRV_ROLE_SYSTEM = 0, SRV_ROLE_USER = 1, SRV_ROLE_ASSISTANT = 2 } srv_role;

typedef struct {
    srv_role role;
    char *content; /* NUL-terminated UTF-8 */
    size_t len;
} srv_message;

typedef enum { SRV_CHAT = 0, SRV_COMPLETION = 1 } srv_kind;

#define SRV_MAX_STOP 4
#define SRV_MAX_STOP_BYTES 64
#define SRV_MAX_NAME_BYTES 128

typedef struct {
    srv_kind kind;
    srv_message *messages; /* chat: validated role order, last one a user message */
    int n_messages;
    char *prompt; /* completion */
    size_t prompt_len;
    bool stream, include_usage;
    bool has_temperature, has_top_p, has_seed;
    float temperature, top_p;
    uint64_t seed;
    int max_tokens; /* 0: the server's default */
    char *stop[SRV_MAX_STOP];
    int n_stop;
    char *session; /* "session_id" (or else "user"): names a cached conversation; NULL if none */
} srv_request;

/* An OpenAI-style error: {"error": {"message", "type", "param", "code"}}. */
typedef struct {
    int status;
    const char *type;  /* "invalid_request_error", "authentication_error", ... */
    const char *code;  /* may be NULL */
    char param[64];    /* "" means null */
    char message[256];
} srv_error;

typedef struct {
    const char *model_id;    /* the one model served */
    int max_messages;        /* per request */
    size_t max_message_bytes;/* per message content (and per completion prompt) */
    int max_tokens;          /* largest max_tokens accepted */
} srv_limits;

void srv_error_set(srv_error *e, int status, const char *type, const char *code, const char *param,
                   const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

/* Parse and validate a body. 0 with *out filled (free with srv_request_free),
 * or -1 with *err filled (status 400 or 404) and *out left empty. */
int srv_parse_chat_request(const char *body, size_t len, const srv_limits *lim, srv_request *out, srv_error *err);
int srv_parse_completion_request(const char *body, size_t len, const srv_limits *lim, srv_request *out,
                                 srv_error *err);
void srv_request_free(srv_request *r);

/* ---- responses (malloc'd NUL-terminated strings; NULL only when out of memory) ---- */

typedef struct {
    int64_t prompt_tokens, cached_tokens, completion_tokens;
} srv_usage;

typedef struct {
    const char *id;    /* "chatcmpl-..." or "cmpl-..." */
    const char *model;
    int64_t created;   /* unix seconds */
    srv_kind kind;
} srv_reply_meta;

char *srv_format_error(const srv_error *e);
/* The whole non-streamed reply: chat.completion or text_completion. */
char *srv_format_reply(const srv_reply_meta *m, const char *text, size_t len, const char *finish,
                       const srv_usage *u);
/* One server-sent event "data: {...}\n\n" with a chunk: for chat, role (if
 * not NULL) and/or content in the delta; finish (if not NULL) as the
 * finish_reason. For completions, text and finish. */
char *srv_format_chunk(const srv_reply_meta *m, const char *role, const char *text, size_t len,
                       const char *finish);
/* The final usage chunk (choices: []) that stream_options.include_usage asks for. */
char *srv_format_usage_chunk(const srv_reply_meta *m, const srv_usage *u);
#define SRV_SSE_DONE "data: [DONE]\n\n"
/* GET /v1/models */
char *srv_format_models(const char *model_id, int64_t created);

/* ---- stop sequences ---- */

/* Scans generated text for stop sequences. text[0..len) is everything
 * generated; bytes before `sent` were already released. Returns how many
 * bytes may be released now (never part of a possible stop match), and sets
 * *stopped when a stop sequence begins at that point (the text ends there). */
size_t srv_stop_scan(const char *text, size_t len, size_t sent, char *const *stops, int n_stops, bool *stopped);

#endif
