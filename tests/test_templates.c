/* tests/test_templates.c: 3-round conversations against Hugging Face's
 * apply_chat_template (tests/golden/templates, made by
 * scripts/make_template_golden.py) for ChatML, Llama-2, Vicuna and Llama-3:
 * si_chat_render must give the same ids; so must the piecewise functions a
 * live conversation uses, except where a reply starts with whitespace (its
 * prompt was tokenized before the reply existed, see swiftinfer.h). */
#include "swiftinfer.h"
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define CAP 8192

static si_tokenizer *tokenizer_for(const char *source) {
    const char *path = NULL;
    if (!strcmp(source, "smollm2-gguf")) path = si_test_model_path();
    else if (!strcmp(source, "llama2-shared")) path = si_test_shared_path("tokenizers/llama2/tokenizer.model");
    else path = si_test_source_path("tests/golden/templates/llama3_tokenizer.json");
    if (!path) return NULL;
    si_tokenizer *t = si_tokenizer_load(path);
    CHECKF(t != NULL, "%s: %s", path, si_last_error());
    return t;
}

/* Appends one piece; returns the new length or -1. */
static int64_t append(int64_t n, int64_t got) { return got < 0 || n < 0 ? -1 : n + got; }

static int64_t build_piecewise(const si_tokenizer *t, si_template tpl, const char *system, json_t *messages, int32_t *ids) {
    int64_t n = si_chat_begin(t, tpl, system, ids, CAP);
    bool first = true;
    for (size_t i = 0; i < json_array_size(messages) && n >= 0; i++) {
        json_t *m = json_array_get(messages, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *content = json_string_value(json_object_get(m, "content"));
        if (!strcmp(role, "user")) {
            n = append(n, si_chat_user_turn(t, tpl, system, content, first, ids + n, CAP - n));
            first = false;
        } else if (!strcmp(role, "assistant")) {
            n = append(n, si_chat_assistant_turn(t, tpl, content, ids + n, CAP - n));
        }
    }
    return n;
}

static int64_t build_render(const si_tokenizer *t, si_template tpl, json_t *messages, int32_t *ids) {
    si_chat_message msgs[16];
    int n = 0;
    for (size_t i = 0; i < json_array_size(messages) && n < 16; i++, n++) {
        json_t *m = json_array_get(messages, i);
        msgs[n].role = json_string_value(json_object_get(m, "role"));
        msgs[n].content = json_string_value(json_object_get(m, "content"));
    }
    return si_chat_render(t, tpl, msgs, n, true, ids, CAP);
}

static bool reply_starts_with_space(json_t *messages) {
    for (size_t i = 0; i < json_array_size(messages); i++) {
        json_t *m = json_array_get(messages, i);
        const char *c = json_string_value(json_object_get(m, "content"));
        if (!strcmp(json_string_value(json_object_get(m, "role")), "assistant") && strchr(" \t\n", c[0])) return true;
    }
    return false;
}

/* Compares with the reference ids; prints the first difference. */
static bool same_ids(const int32_t *ids, int64_t n, json_t *want) {
    if (n != (int64_t)json_array_size(want)) {
        fprintf(stderr, "  %lld ids, reference %zu\n", (long long)n, json_array_size(want));
        return false;
    }
    for (int64_t i = 0; i < n; i++)
        if (ids[i] != json_integer_value(json_array_get(want, (size_t)i))) {
            fprintf(stderr, "  first difference at %lld: ours %d, reference %lld\n", (long long)i, ids[i],
                    (long long)json_integer_value(json_array_get(want, (size_t)i)));
            return false;
        }
    return true;
}

int main(void) {
    json_error_t err;
    FILE *f = fopen(si_test_source_path("tests/golden/templates/conversations.jsonl"), "r");
    CHECK(f != NULL);
    if (!f) return si_test_finish("test_templates");
    char *line = NULL;
    size_t cap = 0;
    int32_t *ids = malloc(sizeof(int32_t) * CAP);
    int total = 0, same = 0, same_piecewise = 0, skipped = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *row = json_loads(line, 0, &err);
        CHECKF(row != NULL, "%s", err.text);
        if (!row) continue;
        const char *name = json_string_value(json_object_get(row, "template"));
        si_tokenizer *t = tokenizer_for(json_string_value(json_object_get(row, "tokenizer")));
        if (!t) {
            skipped++;
            json_decref(row);
            continue;
        }
        si_template tpl;
        CHECK(si_template_parse(name, &tpl) == 0);
        json_t *sys = json_object_get(row, "system");
        json_t *messages = json_object_get(row, "messages");
        /* the system message is passed to si_chat_*, not as a message */
        json_t *rest = json_array();
        for (size_t i = 0; i < json_array_size(messages); i++) {
            json_t *m = json_array_get(messages, i);
            if (strcmp(json_string_value(json_object_get(m, "role")), "system")) json_array_append(rest, m);
        }
        json_t *want = json_object_get(row, "ids");
        bool rendered = same_ids(ids, build_render(t, tpl, messages, ids), want);
        int64_t n = build_piecewise(t, tpl, json_is_string(sys) ? json_string_value(sys) : NULL, rest, ids);
        bool piecewise = same_ids(ids, n, want);
        bool piecewise_expected = !reply_starts_with_space(messages);
        total++;
        same += rendered;
        same_piecewise += piecewise;
        printf("%-7s %-14s: render %s, piecewise %s%s\n", name, json_is_string(sys) ? "with system" : "default system",
               rendered ? "identical" : "DIFFERENT", piecewise ? "identical" : "different",
               piecewise || piecewise_expected ? "" : " (a reply starts with whitespace: expected)");
        CHECKF(rendered, "%s: si_chat_render differs from apply_chat_template", name);
        CHECKF(piecewise || !piecewise_expected, "%s: piecewise conversation differs from apply_chat_template", name);
        json_decref(rest);
        json_decref(row);
        si_tokenizer_free(t);
    }
    printf("chat templates: %d/%d conversations rendered identical to apply_chat_template, %d/%d piecewise (%d skipped: tokenizer absent)\n",
           same, total, same_piecewise, total, skipped);
    free(line);
    free(ids);
    fclose(f);
    return si_test_finish("test_templates");
}
