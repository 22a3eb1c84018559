/* fuzz/seeds/make_seeds_text.c: chat, tokenize and server seeds made of
 * MT-Bench questions (data/mt_bench.jsonl), in each harness's input layout
 * (see the harness files and fuzz/README.md). */
#include "make_seeds.h"

#include "swiftinfer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_QUESTIONS 6

static char *turns[N_QUESTIONS][2];

static void load_mt_bench(void) {
    FILE *f = fopen(SI_FUZZ_SOURCE_DIR "/data/mt_bench.jsonl", "r");
    if (!f) seed_die("no data/mt_bench.jsonl");
    char line[8192];
    /* Spread over the categories: every 13th question. */
    for (int i = 0, q = 0; q < N_QUESTIONS && fgets(line, sizeof line, f); i++) {
        if (i % 13) continue;
        json_error_t je;
        json_t *o = json_loads(line, 0, &je), *t = json_object_get(o, "turns");
        if (!o || json_array_size(t) < 2) seed_die("mt_bench.jsonl line %d", i + 1);
        for (int k = 0; k < 2; k++) turns[q][k] = strdup(json_string_value(json_array_get(t, (size_t)k)));
        json_decref(o);
        q++;
    }
    fclose(f);
}

/* ---- chat_template: template, tokenizer and flag bytes, then role-prefixed NUL-separated parts ---- */

static void part(seed_buf *b, char role, const char *text) {
    seed_put_byte(b, (uint8_t)role);
    seed_puts(b, text);
    seed_put_byte(b, 0);
}

static void chat_seed(const char *name, uint8_t tpl, uint8_t tok, uint8_t flags, const char *jinja, const char *system,
                      int q) {
    seed_buf b = {0};
    seed_put_byte(&b, tpl), seed_put_byte(&b, tok), seed_put_byte(&b, flags);
    if (jinja) seed_puts(&b, jinja), seed_put_byte(&b, 0);
    if (system) part(&b, 's', system);
    part(&b, 'u', turns[q][0]);
    part(&b, 'a', " Sure, here it is.\n\nFirst point; second point. ");
    part(&b, 'u', turns[q][1]);
    seed_write_buf("chat_template", name, &b);
}

static void chat_seeds(void) {
    si_tokenizer *t = si_tokenizer_load(seed_model_path());
    const char *jinja = t ? si_tokenizer_template(t) : NULL;
    if (!jinja) seed_die("the default model has no chat template");
    chat_seed("chatml_smollm2", 0, 0, 1, NULL, "You are a concise assistant.", 0);
    chat_seed("chatml_jinja_default_system", 0, 0, 3, jinja, NULL, 1);
    chat_seed("llama2_system", 1, 1, 1, NULL, "Answer in English.", 2);
    chat_seed("vicuna", 2, 1, 1, NULL, NULL, 3);
    chat_seed("llama3_padded", 3, 2, 1, NULL, "  Be brief.  ", 4);
    chat_seed("llama3_on_smollm2_vocab", 3, 0, 0, NULL, NULL, 5);
    si_tokenizer_free(t);
    /* Odd role orders that must be refused: two users in a row, an unknown role. */
    seed_buf b = {0};
    seed_put_byte(&b, 0), seed_put_byte(&b, 0), seed_put_byte(&b, 0);
    part(&b, 'u', "hi"), part(&b, 'u', "again"), part(&b, 't', "tool output"), part(&b, 'a', "ok");
    seed_write_buf("chat_template", "bad_roles", &b);
}

/* ---- tokenize: a flag byte, then text or 16-bit ids ---- */

static void tok_seed(const char *name, uint8_t flags, const void *text, size_t n) {
    seed_buf b = {0};
    seed_put_byte(&b, flags);
    seed_put(&b, text, n);
    seed_write_buf("tokenize", name, &b);
}

static void tokenize_seeds(void) {
    static const char *const tok_names[] = {"smollm2", "llama2", "llama3"};
    char name[64];
    for (uint8_t k = 0; k < 3; k++) {
        snprintf(name, sizeof name, "%s_text", tok_names[k]);
        tok_seed(name, k, turns[k][0], strlen(turns[k][0]));
        snprintf(name, sizeof name, "%s_invalid_utf8", tok_names[k]);
        const char bad[] = "caf\xC3\xA9 \xC3 \xFF\xFE\xE2\x82 \xF0\x9F\x90\xA0 \xED\xA0\x80 \xF4\x90\x80\x80 end\n";
        tok_seed(name, (uint8_t)(k | 32), bad, sizeof bad - 1);
    }
    const char chatml[] = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n";
    tok_seed("smollm2_special", 0 | 8 | 32, chatml, sizeof chatml - 1);
    const char inst[] = "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST] Hello!</s>";
    tok_seed("llama2_bos_special", 1 | 4 | 8, inst, sizeof inst - 1);
    const char cont[] = "  continued\ttext \xE2\x96\x81 with a U+2581 mark";
    tok_seed("llama2_continue", 1 | 16, cont, sizeof cont - 1);
    const char l3[] = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n  hi  <|eot_id|>";
    tok_seed("llama3_special", 2 | 8 | 32, l3, sizeof l3 - 1);
    uint8_t ids[64];
    for (int i = 0; i < 32; i++) {
        uint16_t id = (uint16_t)(i * 1543 + 3);
        ids[2 * i] = (uint8_t)id, ids[2 * i + 1] = (uint8_t)(id >> 8);
    }
    tok_seed("smollm2_ids", 0 | 64, ids, sizeof ids);
    tok_seed("llama2_ids_special_past_end", 1 | 32 | 64 | 128, ids, sizeof ids);
}

/* ---- server_request: endpoint/model byte, then the body ---- */

static void body_seed(const char *name, uint8_t sel, json_t *body) {
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    seed_buf b = {0};
    seed_put_byte(&b, sel);
    seed_puts(&b, text);
    free(text);
    seed_write_buf("server_request", name, &b);
}

static json_t *msg(const char *role, const char *content) {
    return json_pack("{s:s, s:s}", "role", role, "content", content);
}

static void server_seeds(void) {
    const char *model = "SmolLM2-135M-Instruct";
    body_seed("chat_basic", 0, json_pack("{s:s, s:[o]}", "model", model, "messages", msg("user", turns[0][0])));
    body_seed("chat_full_stream", 0,
              json_pack("{s:s, s:[o,o,o,o], s:b, s:{s:b}, s:f, s:f, s:i, s:i, s:[s,s], s:s}", "model", model, "messages",
                        msg("system", "You are a helpful assistant."), msg("user", turns[1][0]),
                        msg("assistant", "Here is a first answer."), msg("user", turns[1][1]), "stream", 1,
                        "stream_options", "include_usage", 1, "temperature", 0.7, "top_p", 0.9, "max_tokens", 64,
                        "seed", 42, "stop", "\n\n", "END", "session_id", "conversation-1"));
    json_t *parts = json_pack("[{s:s, s:s}, {s:s, s:s}]", "type", "text", "text", turns[2][0], "type", "text", "text",
                              " (answer briefly)");
    body_seed("chat_parts_llama2", 2,
              json_pack("{s:s, s:[o, {s:s, s:o}], s:i, s:s, s:n}", "model", model, "messages",
                        msg("developer", "Answer in English."), "role", "user", "content", parts,
                        "max_completion_tokens", 32, "user", "user-7", "n"));
    body_seed("chat_vicuna", 4,
              json_pack("{s:s, s:[o,o,o], s:f}", "model", model, "messages", msg("user", turns[3][0]),
                        msg("assistant", "A reply."), msg("user", turns[3][1]), "temperature", 0.0));
    body_seed("chat_llama3", 6,
              json_pack("{s:s, s:[o,o], s:s}", "model", model, "messages", msg("system", "  Be brief. "),
                        msg("user", turns[4][0]), "stop", "\xE2\x80\x94"));
    body_seed("completion", 1,
              json_pack("{s:s, s:s, s:i, s:s, s:b}", "model", model, "prompt", turns[5][0], "max_tokens", 16, "stop",
                        ".", "stream", 0));
    body_seed("completion_array_llama2", 3,
              json_pack("{s:s, s:[s], s:b, s:f}", "model", model, "prompt", turns[5][1], "echo", 0, "top_p", 1.0));
    body_seed("unknown_model", 0,
              json_pack("{s:s, s:[o]}", "model", "mod\xC3\xA8le-\xE6\x97\xA5\xE6\x9C\xAC", "messages", msg("user", "hi")));
}

void seeds_text(void) {
    load_mt_bench();
    chat_seeds();
    tokenize_seeds();
    server_seeds();
    for (int q = 0; q < N_QUESTIONS; q++) free(turns[q][0]), free(turns[q][1]);
}
