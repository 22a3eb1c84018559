/* tokenizer/load_hf_config.c: tokenizer_config.json of a Hugging Face
 * folder: BOS/EOS tokens, add_bos_token and the chat template. */
#include "tokenizer_internal.h"
#include "util/error.h"
#include "util/mapped_file.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONFIG_BYTES ((size_t)64 << 20)

/* A token is written either as its text or as an AddedToken object. */
static int token_field(const si_tokenizer *t, json_t *root, const char *key, int32_t *out) {
    json_t *v = json_object_get(root, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return si_fail("%s is neither a string nor a token object", key);
    int32_t id = si_vocab_find(&t->vocab, json_string_value(v), json_string_length(v));
    if (id < 0) return si_fail("%s \"%.40s\" is not in the vocabulary", key, json_string_value(v));
    *out = id;
    return 0;
}

/* chat_template is a string, or a list of {name, template}: take "default". */
static const char *chat_template(json_t *root) {
    json_t *v = json_object_get(root, "chat_template");
    if (json_is_string(v)) return json_string_value(v);
    const char *first = NULL;
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *tmpl = json_string_value(json_object_get(e, "template"));
        if (!tmpl) continue;
        if (name && strcmp(name, "default") == 0) return tmpl;
        if (!first) first = tmpl;
    }
    return first;
}

static int apply(si_tokenizer *t, json_t *root) {
    if (!json_is_object(root)) return si_fail("not a JSON object");
    if (token_field(t, root, "bos_token", &t->bos) != 0 || token_field(t, root, "eos_token", &t->eos) != 0 ||
        token_field(t, root, "unk_token", &t->unk) != 0)
        return -1;
    json_t *add_bos = json_object_get(root, "add_bos_token");
    if (json_is_boolean(add_bos)) t->add_bos = json_is_true(add_bos);
    const char *tmpl = chat_template(root);
    if (tmpl) {
        free(t->chat_template);
        if (!(t->chat_template = si_strndup(tmpl, strlen(tmpl)))) return -1;
    }
    return 0;
}

int si_tokenizer_apply_hf_config(si_tokenizer *t, const char *path) {
    size_t size;
    char *text = si_read_file(path, MAX_CONFIG_BYTES, &size);
    if (!text) return -1;
    json_error_t err;
    json_t *root = json_loadb(text, size, 0, &err);
    free(text);
    if (!root) return si_fail("%s: line %d, column %d: %s", path, err.line, err.column, err.text);
    int rc = apply(t, root);
    json_decref(root);
    if (rc != 0) {
        si_error_prefix("%s", path);
        return -1;
    }
    si_tokenizer_rebuild_eog(t);
    return 0;
}
