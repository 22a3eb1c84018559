/* tests/test_server_api.c: the server's wire format without a model —
 * request parsing and validation (valid requests and every hostile case the
 * HTTP tests also send), error/reply/SSE formatting checked by parsing the
 * output back, the stop-sequence scan, and the keyed hash chain that
 * matches a request to a cached conversation (SipHash-2-4 test vector). */
#include "server/api.h"
#include "server/sessions.h"
#include "testutil.h"

#include <jansson.h>
#include <string.h>

#define MODEL "test-model"

static const srv_limits lim = {.model_id = MODEL, .max_messages = 8, .max_message_bytes = 64, .max_tokens = 100};

/* Parses body as a chat request; returns the status (200 when accepted). */
static int chat_status(const char *body, srv_error *e) {
    srv_request r;
    int rc = srv_parse_chat_request(body, strlen(body), &lim, &r, e);
    srv_request_free(&r);
    return rc ? e->status : 200;
}

typedef struct {
    const char *body;
    int status;
    const char *code; /* expected error code, NULL = any */
} hostile;

#define MSG "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static const hostile chat_cases[] = {
    {"", 400, "invalid_json"},
    {"{", 400, "invalid_json"},
    {"not json", 400, "invalid_json"},
    {"[1,2]", 400, "invalid_json"},
    {"\"string\"", 400, "invalid_json"},
    {"{\"model\":\"" MODEL "\"," MSG "} trailing", 400, "invalid_json"},
    {"{\"model\":\"" MODEL "\",\"model\":\"x\"," MSG "}", 400, "invalid_json"}, /* duplicate key */
    {"{" MSG "}", 400, "missing_required_parameter"},
    {"{\"model\":42," MSG "}", 400, "invalid_type"},
    {"{\"model\":\"gpt-4\"," MSG "}", 404, "model_not_found"},
    {"{\"model\":\"" MODEL "\"}", 400, "missing_required_parameter"},
    {"{\"model\":\"" MODEL "\",\"messages\":{}}", 400, "invalid_type"},
    {"{\"model\":\"" MODEL "\",\"messages\":[]}", 400, "empty_array"},
    {"{\"model\":\"" MODEL "\",\"messages\":[1]}", 400, "invalid_type"},
    {"{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", 400, "invalid_value"},
    {"{\"model\":\"" MODEL "\",\"messages\":[{\"role\":7,\"content\":\"x\"}]}", 400, "invalid_value"},
    {"{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\"}]}", 400, "missing_required_parameter"},
    {"{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":null}]}", 400, "missing_required_parameter"},
    {"{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400, "invalid_type"},
    {"{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}", 400, "invalid_value"},
    {"{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":"
     "\"0123456789012345678901234567890123456789012345678901234567890123456789\"}]}",
     400, "string_above_max_length"},
    {"{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}", 400,
     "invalid_type"},
    {"{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}", 400, "invalid_json"},
    {"{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"assistant\",\"content\":\"x\"},{\"role\":\"user\",\"content\":\"y\"}]}", 400,
     "invalid_value"},
    {"{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"system\",\"content\":\"y\"},"
     "{\"role\":\"user\",\"content\":\"z\"}]}",
     400, "invalid_value"},
    {"{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":\"y\"}]}", 400,
     "invalid_value"},
    {"{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":\"1\"},{\"role\":\"user\",\"content\":\"2\"},"
     "{\"role\":\"user\",\"content\":\"3\"},{\"role\":\"user\",\"content\":\"4\"},{\"role\":\"user\",\"content\":\"5\"},"
     "{\"role\":\"user\",\"content\":\"6\"},{\"role\":\"user\",\"content\":\"7\"},{\"role\":\"user\",\"content\":\"8\"},"
     "{\"role\":\"user\",\"content\":\"9\"}]}",
     400, "array_above_max_length"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"temperature\":\"hot\"}", 400, "invalid_type"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"temperature\":2.5}", 400, "invalid_value"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"temperature\":-1}", 400, "invalid_value"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"top_p\":0}", 400, "invalid_value"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"top_p\":1.5}", 400, "invalid_value"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"max_tokens\":0}", 400, "invalid_value"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"max_tokens\":-5}", 400, "invalid_value"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"max_tokens\":101}", 400, "invalid_value"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"max_tokens\":1e300}", 400, "invalid_type"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"max_tokens\":99999999999999999999999}", 400, "invalid_json"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"max_tokens\":\"10\"}", 400, "invalid_type"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"max_completion_tokens\":1000}", 400, "invalid_value"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"n\":2}", 400, "unsupported_value"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"stream\":\"yes\"}", 400, "invalid_type"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"stream_options\":{\"include_usage\":true}}", 400, "invalid_value"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"stream\":true,\"stream_options\":5}", 400, "invalid_type"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"stop\":7}", 400, "invalid_type"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "invalid_value"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"stop\":[\"a\",3]}", 400, "invalid_type"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"stop\":\"\"}", 400, "invalid_value"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"seed\":1.5}", 400, "invalid_type"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"user\":[]}", 400, "invalid_type"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"session_id\":{}}", 400, "invalid_type"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"logprobs\":true}", 400, "unsupported_value"},
    {"{\"model\":\"" MODEL "\"," MSG ",\"frequency_penalty\":0.5}", 400, "unsupported_value"},
    /* accepted */
    {"{\"model\":\"" MODEL "\"," MSG "}", 200, NULL},
    {"{\"model\":\"" MODEL "\"," MSG ",\"temperature\":null,\"stop\":null,\"unknown_field\":[1,{}]}", 200, NULL},
    {"{\"model\":\"" MODEL "\"," MSG ",\"frequency_penalty\":0,\"n\":1,\"logprobs\":false}", 200, NULL},
    {"{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}]}",
     200, NULL},
    {"{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":\"1\"},{\"role\":\"user\",\"content\":\"2\"}]}", 200, NULL},
};

static void test_chat_cases(void) {
    for (size_t i = 0; i < sizeof chat_cases / sizeof chat_cases[0]; i++) {
        srv_error e = {0};
        int st = chat_status(chat_cases[i].body, &e);
        CHECKF(st == chat_cases[i].status, "case %zu: %s -> %d (%s)", i, chat_cases[i].body, st, e.message);
        if (chat_cases[i].code && st != 200)
            CHECKF(e.code && strcmp(e.code, chat_cases[i].code) == 0, "case %zu: code %s, expected %s (%s)", i,
                   e.code ? e.code : "null", chat_cases[i].code, e.message);
    }
}

static void test_hostile_bytes(void) {
    srv_error e;
    /* Invalid UTF-8 inside a string. */
    const char bad_utf8[] = "{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}";
    CHECK(chat_status(bad_utf8, &e) == 400);
    /* A NUL byte in the body (the length, not the NUL, ends it). */
    const char with_nul[] = "{\"model\":\"" MODEL "\",\0\"messages\":[]}";
    srv_request r;
    CHECK(srv_parse_chat_request(with_nul, sizeof with_nul - 1, &lim, &r, &e) == -1 && e.status == 400);
    /* Deep nesting. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    CHECK(chat_status(deep, &e) == 400);
    free(deep);
    /* Errors that quote the client's bytes cut inside a character still
     * format as JSON (found by fuzzing: a 500 instead of the 400/404). */
    const char *cut_quotes[] = {
        "{\"model\":\"S\",\"prompt\":[\"s to\\udd2\xc7\xa3udc20 illustrate them.\"]}",
        "{\"model\":\"" "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5"
        "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5"
        "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5"
        "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\",\"prompt\":\"x\"}",
    };
    for (size_t i = 0; i < sizeof cut_quotes / sizeof cut_quotes[0]; i++) {
        CHECK(srv_parse_completion_request(cut_quotes[i], strlen(cut_quotes[i]), &lim, &r, &e) == -1);
        CHECKF(e.status == (i ? 404 : 400), "case %zu: %d", i, e.status);
        char *s = srv_format_error(&e);
        CHECKF(s != NULL, "error %zu does not format: %s", i, e.message);
        free(s);
    }
    /* No body at all. */
    CHECK(srv_parse_chat_request(NULL, 0, &lim, &r, &e) == -1 && e.status == 400);
    /* The parser reads exactly len bytes: a truncated copy of a valid body fails. */
    const char *ok = "{\"model\":\"" MODEL "\"," MSG "}";
    char *cut = malloc(20);
    memcpy(cut, ok, 20);
    CHECK(srv_parse_chat_request(cut, 20, &lim, &r, &e) == -1);
    free(cut);
}

static void test_chat_fields(void) {
    const char *body = "{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"developer\",\"content\":\"be brief\"},"
                       "{\"role\":\"user\",\"content\":\"hello\"},{\"role\":\"assistant\",\"content\":\"\"},"
                       "{\"role\":\"user\",\"content\":\"again\"}],\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                       "\"temperature\":0.5,\"top_p\":0.9,\"max_tokens\":42,\"stop\":[\"\\n\\n\",\"END\"],\"seed\":-1,"
                       "\"user\":\"alice\",\"session_id\":\"conv-1\"}";
    srv_request r;
    srv_error e;
    CHECKF(srv_parse_chat_request(body, strlen(body), &lim, &r, &e) == 0, "%s", e.message);
    CHECK(r.kind == SRV_CHAT && r.n_messages == 4);
    CHECK(r.messages[0].role == SRV_ROLE_SYSTEM && strcmp(r.messages[0].content, "be brief") == 0);
    CHECK(r.messages[2].role == SRV_ROLE_ASSISTANT && r.messages[2].len == 0);
    CHECK(r.stream && r.include_usage && r.has_temperature && r.temperature == 0.5f && r.has_top_p);
    CHECK(r.max_tokens == 42 && r.n_stop == 2 && strcmp(r.stop[0], "\n\n") == 0 && strcmp(r.stop[1], "END") == 0);
    CHECK(r.has_seed && r.seed == UINT64_MAX);
    CHECK(r.session && strcmp(r.session, "conv-1") == 0); /* session_id wins over user */
    srv_request_free(&r);
}

static void test_completion(void) {
    srv_request r;
    srv_error e;
    const char *ok = "{\"model\":\"" MODEL "\",\"prompt\":[\"Once upon\"],\"max_tokens\":5}";
    CHECKF(srv_parse_completion_request(ok, strlen(ok), &lim, &r, &e) == 0, "%s", e.message);
    CHECK(r.kind == SRV_COMPLETION && r.prompt && strcmp(r.prompt, "Once upon") == 0 && r.max_tokens == 5);
    srv_request_free(&r);
    const char *bad[] = {"{\"model\":\"" MODEL "\"}", "{\"model\":\"" MODEL "\",\"prompt\":\"\"}",
                         "{\"model\":\"" MODEL "\",\"prompt\":[\"a\",\"b\"]}", "{\"model\":\"" MODEL "\",\"prompt\":3}",
                         "{\"model\":\"" MODEL "\",\"prompt\":\"x\",\"echo\":true}", "{\"model\":\"other\",\"prompt\":\"x\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(srv_parse_completion_request(bad[i], strlen(bad[i]), &lim, &r, &e) == -1 && e.status >= 400, "%s", bad[i]);
}

/* ---- formatting ---- */

static json_t *parse(const char *s) {
    json_error_t je;
    json_t *j = s ? json_loads(s, 0, &je) : NULL;
    CHECKF(j != NULL, "not JSON: %s", s ? s : "(null)");
    return j;
}

static json_t *parse_event(const char *ev) {
    size_t n = ev ? strlen(ev) : 0;
    CHECKF(n > 8 && strncmp(ev, "data: ", 6) == 0 && strcmp(ev + n - 2, "\n\n") == 0, "not an SSE event: %s", ev);
    if (n <= 8) return NULL;
    json_error_t je;
    json_t *j = json_loadb(ev + 6, n - 8, 0, &je);
    CHECKF(j != NULL, "event is not JSON: %s", ev);
    return j;
}

static void test_format(void) {
    srv_error e;
    srv_error_set(&e, 400, "invalid_request_error", "invalid_value", "messages[0]", "bad \"quote\" \n and newline");
    char *s = srv_format_error(&e);
    json_t *j = parse(s), *err = json_object_get(j, "error");
    CHECK(json_is_object(err));
    CHECK(strcmp(json_string_value(json_object_get(err, "message")), "bad \"quote\" \n and newline") == 0);
    CHECK(strcmp(json_string_value(json_object_get(err, "type")), "invalid_request_error") == 0);
    CHECK(strcmp(json_string_value(json_object_get(err, "param")), "messages[0]") == 0);
    CHECK(strcmp(json_string_value(json_object_get(err, "code")), "invalid_value") == 0);
    json_decref(j);
    free(s);
    srv_error_set(&e, 500, "server_error", NULL, NULL, "x");
    s = srv_format_error(&e);
    j = parse(s);
    CHECK(json_is_null(json_object_get(json_object_get(j, "error"), "param")));
    CHECK(json_is_null(json_object_get(json_object_get(j, "error"), "code")));
    json_decref(j);
    free(s);

    srv_reply_meta m = {.id = "chatcmpl-1", .model = MODEL, .created = 1700000000, .kind = SRV_CHAT};
    srv_usage u = {.prompt_tokens = 30, .cached_tokens = 20, .completion_tokens = 5};
    s = srv_format_reply(&m, "Hi \xe2\x98\x83", 6, "stop", &u);
    j = parse(s);
    CHECK(strcmp(json_string_value(json_object_get(j, "object")), "chat.completion") == 0);
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(ch, "message"), "content")), "Hi \xe2\x98\x83") == 0);
    CHECK(strcmp(json_string_value(json_object_get(ch, "finish_reason")), "stop") == 0);
    json_t *usage = json_object_get(j, "usage");
    CHECK(json_integer_value(json_object_get(usage, "total_tokens")) == 35);
    CHECK(json_integer_value(json_object_get(json_object_get(usage, "prompt_tokens_details"), "cached_tokens")) == 20);
    json_decref(j);
    free(s);

    s = srv_format_chunk(&m, "assistant", "", 0, NULL);
    j = parse_event(s);
    ch = json_array_get(json_object_get(j, "choices"), 0);
    CHECK(strcmp(json_string_value(json_object_get(j, "object")), "chat.completion.chunk") == 0);
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(ch, "delta"), "role")), "assistant") == 0);
    CHECK(json_is_null(json_object_get(ch, "finish_reason")));
    CHECK(json_integer_value(json_object_get(ch, "index")) == 0);
    json_decref(j);
    free(s);
    s = srv_format_chunk(&m, NULL, "line\n\"two\"", 10, NULL);
    j = parse_event(s);
    ch = json_array_get(json_object_get(j, "choices"), 0);
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(ch, "delta"), "content")), "line\n\"two\"") == 0);
    CHECK(json_object_get(json_object_get(ch, "delta"), "role") == NULL);
    json_decref(j);
    free(s);
    s = srv_format_chunk(&m, NULL, NULL, 0, "length");
    j = parse_event(s);
    ch = json_array_get(json_object_get(j, "choices"), 0);
    CHECK(json_object_size(json_object_get(ch, "delta")) == 0);
    CHECK(strcmp(json_string_value(json_object_get(ch, "finish_reason")), "length") == 0);
    json_decref(j);
    free(s);
    s = srv_format_usage_chunk(&m, &u);
    j = parse_event(s);
    CHECK(json_array_size(json_object_get(j, "choices")) == 0);
    CHECK(json_integer_value(json_object_get(json_object_get(j, "usage"), "completion_tokens")) == 5);
    json_decref(j);
    free(s);
    /* Invalid UTF-8 never yields invalid JSON. */
    s = srv_format_chunk(&m, NULL, "\xff", 1, NULL);
    json_decref(parse_event(s));
    free(s);

    m.kind = SRV_COMPLETION;
    m.id = "cmpl-1";
    s = srv_format_chunk(&m, NULL, "abc", 3, NULL);
    j = parse_event(s);
    CHECK(strcmp(json_string_value(json_object_get(j, "object")), "text_completion") == 0);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text")), "abc") == 0);
    json_decref(j);
    free(s);

    s = srv_format_models(MODEL, 1);
    j = parse(s);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "id")), MODEL) == 0);
    json_decref(j);
    free(s);
}

static void test_stop_scan(void) {
    char *stops[2] = {"END", "\n\n"};
    bool stopped;
    const char *t = "hello";
    CHECK(srv_stop_scan(t, 5, 0, stops, 2, &stopped) == 5 && !stopped);
    t = "hello E"; /* "E" may begin "END": held back */
    CHECK(srv_stop_scan(t, 7, 0, stops, 2, &stopped) == 6 && !stopped);
    t = "hello EN";
    CHECK(srv_stop_scan(t, 8, 6, stops, 2, &stopped) == 6 && !stopped);
    t = "hello ENDING";
    CHECK(srv_stop_scan(t, 12, 6, stops, 2, &stopped) == 6 && stopped);
    t = "a\n\nb END";
    CHECK(srv_stop_scan(t, 8, 0, stops, 2, &stopped) == 1 && stopped); /* the earliest match wins */
    t = "hello EX";
    CHECK(srv_stop_scan(t, 8, 6, stops, 2, &stopped) == 8 && !stopped);
    t = "abc\n";
    CHECK(srv_stop_scan(t, 4, 0, stops, 2, &stopped) == 3 && !stopped);
    CHECK(srv_stop_scan(t, 4, 0, NULL, 0, &stopped) == 4 && !stopped);
}

static void test_hash_chain(void) {
    /* The reference test vector of SipHash-2-4: key 00..0f, message 00..0e. */
    srv_hash_key k = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    unsigned char msg[15];
    for (int i = 0; i < 15; i++) msg[i] = (unsigned char)i;
    CHECK(srv_siphash(&k, msg, 15) == 0xa129ca6149be45e5ull);
    CHECK(srv_siphash(&k, msg, 0) == 0x726fdb47dd0e0e31ull);

    srv_message a[3] = {{SRV_ROLE_USER, "hi", 2}, {SRV_ROLE_ASSISTANT, "hello", 5}, {SRV_ROLE_USER, "more", 4}};
    srv_message b[3] = {{SRV_ROLE_USER, "hi", 2}, {SRV_ROLE_ASSISTANT, "hello!", 6}, {SRV_ROLE_USER, "more", 4}};
    srv_message c[2] = {{SRV_ROLE_SYSTEM, "hi", 2}, {SRV_ROLE_ASSISTANT, "hello", 5}};
    uint64_t ha[4], hb[4], hc[3];
    srv_chain_hashes(&k, a, 3, ha);
    srv_chain_hashes(&k, b, 3, hb);
    srv_chain_hashes(&k, c, 2, hc);
    CHECK(ha[0] == hb[0] && ha[1] == hb[1]); /* same prefix, same hashes */
    CHECK(ha[2] != hb[2] && ha[3] != hb[3]); /* an edited reply breaks the chain from there on */
    CHECK(hc[1] != ha[1]);                   /* the role counts */
    CHECK(srv_chain_next(&k, ha[2], &a[2]) == ha[3]);
    srv_hash_key other = {1, 2};
    uint64_t ho[4];
    srv_chain_hashes(&other, a, 3, ho);
    CHECK(ho[3] != ha[3]); /* keyed */
}

int main(void) {
    test_chat_cases();
    test_hostile_bytes();
    test_chat_fields();
    test_completion();
    test_format();
    test_stop_scan();
    test_hash_chain();
    return si_test_finish("test_server_api");
}
