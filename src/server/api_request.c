/* server/api_request.c: OpenAI request bodies -> srv_request. Pure functions
 * of (bytes, limits): every field is type- and range-checked, every size is
 * bounded, and each failure names the offending parameter the way OpenAI
 * does. Unknown fields are ignored (as OpenAI ignores them); known features
 * this server does not implement (n > 1, tools, logprobs) are refused rather
 * than silently dropped. */
#include "api.h"

#include "../tokenizer/utf8.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Messages quote the client's bytes (a model name, jansson's "near '...'",
 * a role) cut anywhere by a precision or the buffer's end: invalid UTF-8
 * there made the JSON error unencodable, so the client got a 500 "out of
 * memory" instead of the 400 (found by fuzz_server_request). Every byte that
 * does not begin a whole character becomes '?'. */
static void repair_utf8(char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        int k = si_utf8_scan((const unsigned char *)s + i, n - i);
        if (k > 0) {
            i += (size_t)k;
        } else {
            s[i++] = '?';
        }
    }
}

void srv_error_set(srv_error *e, int status, const char *type, const char *code, const char *param,
                   const char *fmt, ...) {
    e->status = status;
    e->type = type;
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    repair_utf8(e->param);
    repair_utf8(e->message);
}

#define INVALID "invalid_request_error"

static int bad(srv_error *e, const char *code, const char *param, const char *what) {
    srv_error_set(e, 400, INVALID, code, param, "%s", what);
    return -1;
}

void srv_request_free(srv_request *r) {
    if (!r) return;
    for (int i = 0; i < r->n_messages; i++) free(r->messages[i].content);
    free(r->messages);
    free(r->prompt);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->session);
    memset(r, 0, sizeof *r);
}

static char *dup_bytes(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* ---- fields shared by both endpoints ---- */

static int parse_model(json_t *root, const srv_limits *lim, srv_error *e) {
    json_t *v = json_object_get(root, "model");
    if (!v) return bad(e, "missing_required_parameter", "model", "you must provide a model parameter");
    if (!json_is_string(v)) return bad(e, "invalid_type", "model", "'model' must be a string");
    if (strcmp(json_string_value(v), lim->model_id) != 0) {
        srv_error_set(e, 404, INVALID, "model_not_found", "model",
                      "the model '%.80s' does not exist; this server serves '%.80s'", json_string_value(v),
                      lim->model_id);
        return -1;
    }
    return 0;
}

static int get_bool(json_t *root, const char *key, bool *out, srv_error *e) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) {
        srv_error_set(e, 400, INVALID, "invalid_type", key, "'%s' must be a boolean", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* A number in [lo, hi]; *has is set when the field is present and not null. */
static int get_number(json_t *root, const char *key, double lo, double hi, float *out, bool *has, srv_error *e) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) {
        srv_error_set(e, 400, INVALID, "invalid_type", key, "'%s' must be a number", key);
        return -1;
    }
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) {
        srv_error_set(e, 400, INVALID, "invalid_value", key, "'%s' is %g; it must be between %g and %g", key, x, lo,
                      hi);
        return -1;
    }
    *out = (float)x;
    if (has) *has = true;
    return 0;
}

static int get_int(json_t *root, const char *key, json_int_t lo, json_int_t hi, json_int_t *out, bool *has,
                   srv_error *e) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) {
        srv_error_set(e, 400, INVALID, "invalid_type", key, "'%s' must be an integer", key);
        return -1;
    }
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi) {
        srv_error_set(e, 400, INVALID, "invalid_value", key, "'%s' is %lld; it must be between %lld and %lld", key,
                      (long long)x, (long long)lo, (long long)hi);
        return -1;
    }
    *out = x;
    if (has) *has = true;
    return 0;
}

static int parse_stop(json_t *root, srv_request *r, srv_error *e) {
    json_t *v = json_object_get(root, "stop");
    if (!v || json_is_null(v)) return 0;
    json_t *one[1] = {v};
    json_t **items = one;
    size_t n = 1;
    if (json_is_array(v)) {
        n = json_array_size(v);
        if (n > SRV_MAX_STOP) return bad(e, "invalid_value", "stop", "'stop' holds at most 4 sequences");
        items = NULL;
    } else if (!json_is_string(v)) {
        return bad(e, "invalid_type", "stop", "'stop' must be a string or an array of strings");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = items ? items[i] : json_array_get(v, i);
        if (!json_is_string(s)) return bad(e, "invalid_type", "stop", "'stop' must be a string or an array of strings");
        size_t len = json_string_length(s);
        if (len == 0 || len > SRV_MAX_STOP_BYTES)
            return bad(e, "invalid_value", "stop", "each stop sequence must be 1 to 64 bytes long");
        r->stop[r->n_stop] = dup_bytes(json_string_value(s), len);
        if (!r->stop[r->n_stop]) return bad(e, NULL, NULL, "out of memory");
        r->n_stop++;
    }
    return 0;
}

/* session_id (ours) or user (OpenAI's end-user id) names a conversation. */
static int parse_session(json_t *root, srv_request *r, srv_error *e) {
    const char *keys[2] = {"session_id", "user"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(root, keys[i]);
        if (!v || json_is_null(v)) continue;
        if (!json_is_string(v)) {
            srv_error_set(e, 400, INVALID, "invalid_type", keys[i], "'%s' must be a string", keys[i]);
            return -1;
        }
        size_t len = json_string_length(v);
        if (len > SRV_MAX_NAME_BYTES) {
            srv_error_set(e, 400, INVALID, "string_above_max_length", keys[i], "'%s' is longer than %d bytes",
                          keys[i], SRV_MAX_NAME_BYTES);
            return -1;
        }
        if (!r->session && len > 0) {
            r->session = dup_bytes(json_string_value(v), len);
            if (!r->session) return bad(e, NULL, NULL, "out of memory");
        }
    }
    return 0;
}

static int parse_common(json_t *root, const srv_limits *lim, srv_request *r, srv_error *e) {
    if (parse_model(root, lim, e) || get_bool(root, "stream", &r->stream, e)) return -1;
    if (get_number(root, "temperature", 0, 2, &r->temperature, &r->has_temperature, e)) return -1;
    if (get_number(root, "top_p", 0, 1, &r->top_p, &r->has_top_p, e)) return -1;
    if (r->has_top_p && r->top_p <= 0) return bad(e, "invalid_value", "top_p", "'top_p' must be greater than 0");
    json_int_t x = 0;
    bool has = false;
    /* max_completion_tokens is the newer name; either may be given. */
    if (get_int(root, "max_tokens", 1, lim->max_tokens, &x, &has, e)) return -1;
    if (get_int(root, "max_completion_tokens", 1, lim->max_tokens, &x, &has, e)) return -1;
    r->max_tokens = has ? (int)x : 0;
    has = false;
    if (get_int(root, "seed", INT64_MIN, INT64_MAX, &x, &has, e)) return -1;
    r->has_seed = has;
    r->seed = (uint64_t)x;
    if (get_int(root, "n", 1, 1, &x, NULL, e)) {
        e->code = "unsupported_value";
        snprintf(e->message, sizeof e->message, "this server generates one choice per request ('n' must be 1)");
        return -1;
    }
    float pen = 0;
    if (get_number(root, "frequency_penalty", 0, 0, &pen, NULL, e) ||
        get_number(root, "presence_penalty", 0, 0, &pen, NULL, e)) {
        e->code = "unsupported_value";
        snprintf(e->message, sizeof e->message, "'%s' is not supported (only 0)", e->param);
        return -1;
    }
    bool logprobs = false;
    if (get_bool(root, "logprobs", &logprobs, e)) return -1;
    if (logprobs) return bad(e, "unsupported_value", "logprobs", "logprobs are not supported");
    json_t *so = json_object_get(root, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) return bad(e, "invalid_type", "stream_options", "'stream_options' must be an object");
        if (!r->stream)
            return bad(e, "invalid_value", "stream_options", "'stream_options' is only allowed when 'stream' is true");
        if (get_bool(so, "include_usage", &r->include_usage, e)) return -1;
    }
    return parse_stop(root, r, e) || parse_session(root, r, e) ? -1 : 0;
}

/* Loads the body as one JSON object. */
static json_t *load_object(const char *body, size_t len, srv_error *e) {
    if (!body || len == 0) {
        bad(e, "invalid_json", NULL, "the request body is empty; expected a JSON object");
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        srv_error_set(e, 400, INVALID, "invalid_json", NULL, "the body is not valid JSON: %.120s (line %d, column %d)",
                      je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        bad(e, "invalid_json", NULL, "the body must be a JSON object");
        return NULL;
    }
    return root;
}

/* ---- chat messages ---- */

static int parse_role(const char *s, srv_role *out) {
    if (!strcmp(s, "system") || !strcmp(s, "developer")) *out = SRV_ROLE_SYSTEM;
    else if (!strcmp(s, "user")) *out = SRV_ROLE_USER;
    else if (!strcmp(s, "assistant")) *out = SRV_ROLE_ASSISTANT;
    else return -1;
    return 0;
}

/* content: a string, or an array of {"type": "text", "text": ...} parts
 * (joined); other part types (images, audio) are refused. */
static int parse_content(json_t *v, size_t max, char **out, size_t *out_len, const char *param, srv_error *e) {
    if (json_is_string(v)) {
        size_t len = json_string_length(v);
        if (len > max) {
            srv_error_set(e, 400, INVALID, "string_above_max_length", param, "message content is %zu bytes; the limit is %zu",
                          len, max);
            return -1;
        }
        *out = dup_bytes(json_string_value(v), len);
        *out_len = len;
        return *out ? 0 : bad(e, NULL, param, "out of memory");
    }
    if (!json_is_array(v)) {
        srv_error_set(e, 400, INVALID, "invalid_type", param, "message content must be a string or an array of text parts");
        return -1;
    }
    size_t total = 0, n = json_array_size(v);
    for (size_t i = 0; i < n; i++) {
        json_t *part = json_array_get(v, i), *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(type) || strcmp(json_string_value(type), "text") != 0 ||
            !json_is_string(text)) {
            srv_error_set(e, 400, INVALID, "invalid_type", param, "only text content parts ({\"type\": \"text\", \"text\": ...}) are supported");
            return -1;
        }
        total += json_string_length(text);
        if (total > max) {
            srv_error_set(e, 400, INVALID, "string_above_max_length", param, "message content is over the limit of %zu bytes", max);
            return -1;
        }
    }
    char *buf = malloc(total + 1);
    if (!buf) return bad(e, NULL, param, "out of memory");
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *text = json_object_get(json_array_get(v, i), "text");
        memcpy(buf + at, json_string_value(text), json_string_length(text));
        at += json_string_length(text);
    }
    buf[at] = '\0';
    *out = buf;
    *out_len = at;
    return 0;
}

/* The order the chat templates can express: an optional system message
 * first; an assistant message only right after a user message; the last
 * message from the user. */
static int check_order(const srv_request *r, srv_error *e) {
    char param[64];
    for (int i = 0; i < r->n_messages; i++) {
        const srv_message *m = &r->messages[i];
        snprintf(param, sizeof param, "messages[%d]", i);
        if (m->role == SRV_ROLE_SYSTEM && i > 0)
            return bad(e, "invalid_value", param, "a system message is only supported as the first message");
        if (m->role == SRV_ROLE_ASSISTANT && (i == 0 || r->messages[i - 1].role != SRV_ROLE_USER))
            return bad(e, "invalid_value", param, "an assistant message must follow a user message");
        if (m->role != SRV_ROLE_ASSISTANT && m->len == 0)
            return bad(e, "invalid_value", param, "message content must not be empty");
    }
    if (r->messages[r->n_messages - 1].role != SRV_ROLE_USER)
        return bad(e, "invalid_value", "messages", "the last message must be from the user");
    return 0;
}

static int parse_messages(json_t *root, const srv_limits *lim, srv_request *r, srv_error *e) {
    json_t *msgs = json_object_get(root, "messages");
    if (!msgs) return bad(e, "missing_required_parameter", "messages", "you must provide a messages parameter");
    if (!json_is_array(msgs)) return bad(e, "invalid_type", "messages", "'messages' must be an array");
    size_t n = json_array_size(msgs);
    if (n == 0) return bad(e, "empty_array", "messages", "'messages' must hold at least one message");
    if (n > (size_t)lim->max_messages) {
        srv_error_set(e, 400, INVALID, "array_above_max_length", "messages", "'messages' holds %zu messages; the limit is %d",
                      n, lim->max_messages);
        return -1;
    }
    r->messages = calloc(n, sizeof *r->messages);
    if (!r->messages) return bad(e, NULL, NULL, "out of memory");
    char param[64];
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(m)) return bad(e, "invalid_type", param, "each message must be an object");
        json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
        srv_role ro;
        if (!json_is_string(role) || parse_role(json_string_value(role), &ro))
            return bad(e, "invalid_value", param, "message role must be 'system', 'developer', 'user' or 'assistant'");
        if (!content || json_is_null(content))
            return bad(e, "missing_required_parameter", param, "each message needs a content");
        srv_message *out = &r->messages[r->n_messages];
        if (parse_content(content, lim->max_message_bytes, &out->content, &out->len, param, e)) return -1;
        out->role = ro;
        r->n_messages++;
    }
    return check_order(r, e);
}

int srv_parse_chat_request(const char *body, size_t len, const srv_limits *lim, srv_request *out, srv_error *err) {
    memset(out, 0, sizeof *out);
    out->kind = SRV_CHAT;
    json_t *root = load_object(body, len, err);
    if (!root) return -1;
    int rc = parse_common(root, lim, out, err) || parse_messages(root, lim, out, err) ? -1 : 0;
    json_decref(root);
    if (rc) srv_request_free(out);
    return rc;
}

int srv_parse_completion_request(const char *body, size_t len, const srv_limits *lim, srv_request *out,
                                 srv_error *err) {
    memset(out, 0, sizeof *out);
    out->kind = SRV_COMPLETION;
    json_t *root = load_object(body, len, err);
    if (!root) return -1;
    int rc = parse_common(root, lim, out, err);
    json_t *p = json_object_get(root, "prompt");
    /* A one-element array of strings is what some clients send for one prompt. */
    if (!rc && json_is_array(p) && json_array_size(p) == 1) p = json_array_get(p, 0);
    bool echo = false;
    if (!rc && get_bool(root, "echo", &echo, err)) rc = -1;
    if (!rc && echo) rc = bad(err, "unsupported_value", "echo", "echo is not supported");
    if (!rc && !p) rc = bad(err, "missing_required_parameter", "prompt", "you must provide a prompt parameter");
    if (!rc && !json_is_string(p)) rc = bad(err, "invalid_type", "prompt", "'prompt' must be a string (or an array of one string)");
    if (!rc && json_string_length(p) == 0) rc = bad(err, "invalid_value", "prompt", "'prompt' must not be empty");
    if (!rc && parse_content(p, lim->max_message_bytes, &out->prompt, &out->prompt_len, "prompt", err)) rc = -1;
    json_decref(root);
    if (rc) srv_request_free(out);
    return rc;
}
