/* tokenizer/load_hf_json.c: Hugging Face tokenizer.json for byte-level BPE:
 * model (vocab, merges, options), added_tokens, the pre-tokenizer mapped onto
 * PCRE2 split stages, the decoder and the BOS template. */
#include "tokenizer_internal.h"
#include "util/error.h"
#include "util/mapped_file.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *text;
    size_t len;
    int type;
    uint8_t flags; /* bit 0 lstrip, bit 1 rstrip */
} entry;

static const char *type_of(json_t *obj) { return json_string_value(json_object_get(obj, "type")); }

static bool flag(json_t *obj, const char *key, bool dflt) {
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static int parse_pretok(si_tokenizer *t, json_t *pt, bool *byte_level, int depth) {
    const char *type = type_of(pt);
    if (!type) return si_fail("pre_tokenizer without a type");
    if (*byte_level) return si_fail("pre-tokenizer %s after ByteLevel is not supported", type);
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(pt, "pretokenizers");
        if (!json_is_array(list) || depth > 4) return si_fail("malformed Sequence pre-tokenizer");
        for (size_t i = 0; i < json_array_size(list); i++)
            if (parse_pretok(t, json_array_get(list, i), byte_level, depth + 1) != 0) return -1;
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        /* add_prefix_space would put a space before every piece: no model we
         * target uses it, so refuse rather than encode differently. */
        if (flag(pt, "add_prefix_space", false)) return si_fail("ByteLevel with add_prefix_space is not supported");
        *byte_level = true;
        if (!flag(pt, "use_regex", true)) return 0;
        const char *p = si_pretok_gpt2_pattern();
        return si_pretok_add(&t->pre, p, strlen(p), false, SI_SPLIT_ISOLATED);
    }
    if (strcmp(type, "Digits") == 0) {
        const char *p = si_pretok_digits_pattern(flag(pt, "individual_digits", false));
        return si_pretok_add(&t->pre, p, strlen(p), false, SI_SPLIT_ISOLATED);
    }
    if (strcmp(type, "Split") == 0) {
        json_t *pat = json_object_get(pt, "pattern");
        json_t *re = json_object_get(pat, "Regex"), *lit = json_object_get(pat, "String");
        const char *behavior = json_string_value(json_object_get(pt, "behavior"));
        if ((!json_is_string(re) && !json_is_string(lit)) || !behavior)
            return si_fail("Split pre-tokenizer without a pattern or behavior");
        if (flag(pt, "invert", false)) return si_fail("Split with invert is not supported");
        si_split_behavior b;
        if (strcmp(behavior, "Isolated") == 0) b = SI_SPLIT_ISOLATED;
        else if (strcmp(behavior, "Removed") == 0) b = SI_SPLIT_REMOVED;
        else return si_fail("Split behavior %s is not supported (Isolated, Removed)", behavior);
        json_t *s = json_is_string(re) ? re : lit;
        return si_pretok_add(&t->pre, json_string_value(s), json_string_length(s), !json_is_string(re), b);
    }
    return si_fail("pre-tokenizer %s is not supported", type);
}

static bool decoder_is_byte_level(json_t *d) {
    const char *type = type_of(d);
    if (!type) return false;
    if (strcmp(type, "ByteLevel") == 0) return true;
    json_t *list = json_object_get(d, "decoders");
    if (strcmp(type, "Sequence") != 0 || json_array_size(list) != 1) return false;
    return decoder_is_byte_level(json_array_get(list, 0));
}

static int put_entry(entry *tab, size_t n_tab, json_int_t id, const char *text, size_t len, int type, uint8_t flags) {
    if (id < 0 || (size_t)id >= n_tab) return si_fail("token id %lld out of range", (long long)id);
    entry *e = &tab[id];
    if (e->text && (e->len != len || memcmp(e->text, text, len) != 0))
        return si_fail("token id %lld is both \"%.*s\" and \"%.*s\"", (long long)id, (int)(e->len > 40 ? 40 : e->len),
                       e->text, (int)(len > 40 ? 40 : len), text);
    *e = (entry){text, len, type, flags};
    return 0;
}

/* Vocabulary and added tokens into one dense id-ordered table. */
static int load_vocab(si_tokenizer *t, json_t *vocab, json_t *added) {
    json_int_t max_id = -1;
    const char *key;
    json_t *val;
    if (!json_is_object(vocab)) return si_fail("model.vocab is not an object");
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val)) return si_fail("vocab entry \"%.40s\" has no integer id", key);
        if (json_integer_value(val) > max_id) max_id = json_integer_value(val);
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *id = json_object_get(json_array_get(added, i), "id");
        if (!json_is_integer(id)) return si_fail("added_tokens[%zu] has no integer id", i);
        if (json_integer_value(id) > max_id) max_id = json_integer_value(id);
    }
    if (max_id >= SI_TOKENIZER_MAX_VOCAB) return si_fail("token id %lld is too large", (long long)max_id);
    size_t n = (size_t)(max_id + 1);
    /* Ids must be 0..n-1 with none missing (checked below): a largest id
     * beyond the number of entries is refused before the table is made, so
     * that a few bytes cannot claim a table of 2^22 entries. */
    if (n > json_object_size(vocab) + json_array_size(added))
        return si_fail("token id %lld, but only %zu vocabulary entries and added tokens: ids are not 0..n-1",
                       (long long)max_id, json_object_size(vocab) + json_array_size(added));
    entry *tab = si_calloc(n, sizeof *tab);
    if (!tab) return -1;
    int rc = 0;
    json_object_foreach(vocab, key, val) {
        if ((rc = put_entry(tab, n, json_integer_value(val), key, strlen(key), SI_TOKEN_NORMAL, 0)) != 0) break;
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i), *content = json_object_get(a, "content");
        if (!json_is_string(content)) {
            rc = si_fail("added_tokens[%zu] has no content", i);
            break;
        }
        int type = flag(a, "special", false) ? SI_TOKEN_CONTROL : SI_TOKEN_USER_DEFINED;
        uint8_t f = (uint8_t)(flag(a, "lstrip", false) | flag(a, "rstrip", false) << 1);
        rc = put_entry(tab, n, json_integer_value(json_object_get(a, "id")), json_string_value(content),
                       json_string_length(content), type, f);
        if (rc == 0 && f && !t->added_flags && !(t->added_flags = si_calloc(n, 1))) rc = -1;
        if (rc == 0 && f) t->added_flags[json_integer_value(json_object_get(a, "id"))] = f;
    }
    for (size_t id = 0; rc == 0 && id < n; id++) {
        if (!tab[id].text) rc = si_fail("token id %zu is missing from the vocabulary", id);
        else if (si_vocab_add(&t->vocab, tab[id].text, tab[id].len, 0, tab[id].type) < 0) rc = -1;
    }
    free(tab);
    return rc;
}

static int load_merges(si_tokenizer *t, json_t *merges) {
    size_t n = json_array_size(merges);
    if (si_tokenizer_reserve_merges(t, n) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(merges, i), *a = json_array_get(m, 0), *b = json_array_get(m, 1);
        int rc;
        if (json_is_string(m)) { /* the older "left right" spelling */
            size_t la, len = json_string_length(m);
            const char *s = json_string_value(m);
            rc = si_split_merge_text(s, len, &la) || si_tokenizer_add_merge(t, s, la, s + la + 1, len - la - 1);
        } else if (json_array_size(m) == 2 && json_is_string(a) && json_is_string(b)) {
            rc = si_tokenizer_add_merge(t, json_string_value(a), json_string_length(a), json_string_value(b),
                                        json_string_length(b));
        } else {
            rc = si_fail("merge %zu is neither \"a b\" nor [a, b]", i);
        }
        if (rc != 0) return -1;
    }
    return 0;
}

static int load_model(si_tokenizer *t, json_t *model) {
    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    if (flag(model, "byte_fallback", false)) return si_fail("BPE byte_fallback with ByteLevel is not supported");
    const char *prefix = json_string_value(json_object_get(model, "continuing_subword_prefix"));
    const char *suffix = json_string_value(json_object_get(model, "end_of_word_suffix"));
    if ((prefix && *prefix) || (suffix && *suffix))
        return si_fail("BPE continuing_subword_prefix/end_of_word_suffix are not supported");
    /* dropout only matters when training; encoding here is deterministic. */
    t->fuse_unk = flag(model, "fuse_unk", false);
    t->ignore_merges = flag(model, "ignore_merges", false);
    json_t *merges = json_object_get(model, "merges");
    if (!json_is_array(merges)) return si_fail("model.merges is not an array");
    if (load_merges(t, merges) != 0) return -1;
    if (unk && (t->unk = si_vocab_find(&t->vocab, unk, strlen(unk))) < 0)
        return si_fail("unk_token \"%.40s\" is not in the vocabulary", unk);
    return 0;
}

/* TemplateProcessing whose single-sequence template starts with a special
 * token: that token is BOS and is added. */
static void read_post_processor(si_tokenizer *t, json_t *pp) {
    const char *type = type_of(pp);
    if (!type) return;
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(pp, "processors");
        for (size_t i = 0; i < json_array_size(list); i++) read_post_processor(t, json_array_get(list, i));
        return;
    }
    if (strcmp(type, "TemplateProcessing") != 0) return;
    json_t *first = json_object_get(json_array_get(json_object_get(pp, "single"), 0), "SpecialToken");
    const char *bos = json_string_value(json_object_get(first, "id"));
    if (!bos) return;
    int32_t id = si_vocab_find(&t->vocab, bos, strlen(bos));
    if (id < 0) return;
    t->bos = id;
    t->add_bos = true;
}

static int load_root(si_tokenizer *t, json_t *root, bool *not_byte_level) {
    json_t *model = json_object_get(root, "model");
    const char *mtype = type_of(model);
    if (!json_is_object(model)) return si_fail("no model object");
    if (mtype ? strcmp(mtype, "BPE") != 0 : !json_object_get(model, "merges")) {
        *not_byte_level = true;
        return si_fail("model type %s is not supported (byte-level BPE only)", mtype ? mtype : "(none)");
    }
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm)) {
        *not_byte_level = true; /* SentencePiece-style tokenizer.json files normalize */
        return si_fail("normalizer %s is not supported", type_of(norm) ? type_of(norm) : "(untyped)");
    }
    json_t *pre = json_object_get(root, "pre_tokenizer");
    bool byte_level = false;
    if (pre && !json_is_null(pre) && parse_pretok(t, pre, &byte_level, 0) != 0) return -1;
    if (!byte_level || !decoder_is_byte_level(json_object_get(root, "decoder"))) {
        *not_byte_level = true;
        return si_fail("not a byte-level BPE tokenizer (needs ByteLevel pre-tokenizer and decoder)");
    }
    si_pretok_detect_name(&t->pre);
    json_t *added = json_object_get(root, "added_tokens");
    if (load_vocab(t, json_object_get(model, "vocab"), json_is_array(added) ? added : NULL) != 0) return -1;
    if (load_model(t, model) != 0) return -1;
    read_post_processor(t, json_object_get(root, "post_processor"));
    return 0;
}

si_tokenizer *si_tokenizer_load_hf_json(const char *path, bool *not_byte_level) {
    bool nbl = false;
    size_t size;
    char *text = si_read_file(path, SI_TOKENIZER_MAX_FILE, &size);
    if (!text) return NULL;
    json_error_t err;
    json_t *root = json_loadb(text, size, 0, &err);
    free(text);
    if (!root) {
        si_set_error("%s: line %d, column %d: %s", path, err.line, err.column, err.text);
        return NULL;
    }
    si_tokenizer *t = si_tokenizer_alloc(SI_TOKENIZER_BPE, path);
    int rc = t ? load_root(t, root, &nbl) : -1;
    json_decref(root);
    if (t && rc != 0) si_error_prefix("%s", path);
    if (rc == 0 && si_tokenizer_finish(t) == 0) return t;
    if (not_byte_level) *not_byte_level = nbl;
    si_tokenizer_free(t);
    return NULL;
}
