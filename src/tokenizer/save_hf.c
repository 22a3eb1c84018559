/* tokenizer/save_hf.c: si_tokenizer_save_hf: a Hugging Face folder's
 * tokenizer files: tokenizer.json (byte-level BPE) or tokenizer.model
 * (SentencePiece, see save_spm_model.c), and tokenizer_config.json. */
#include "tokenizer_internal.h"
#include "util/error.h"
#include "util/mapped_file.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>


static json_t *token_json(const si_tokenizer *t, int32_t id) {
    if (id < 0) return json_null();
    size_t len;
    const char *s = si_vocab_text(&t->vocab, id, &len);
    return json_stringn(s, len); /* NULL if not valid UTF-8 */
}

static json_t *byte_level(bool use_regex, bool decoder) {
    return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", decoder, "trim_offsets", true,
                     "use_regex", use_regex);
}

/* Each split stage in Hugging Face terms: GPT-2's regex as the last stage is
 * ByteLevel's own regex, \p{N} is Digits; the rest are Split(Regex). */
static json_t *pre_tokenizer_json(const si_tokenizer *t) {
    json_t *list = json_array();
    bool regex_in_byte_level = false;
    for (int i = 0; i < t->pre.n; i++) {
        const si_pretok_stage *st = &t->pre.st[i];
        const char *p = st->pattern;
        bool isolated = st->behavior == SI_SPLIT_ISOLATED;
        if (isolated && i == t->pre.n - 1 && strcmp(p, si_pretok_gpt2_pattern()) == 0) {
            regex_in_byte_level = true;
        } else if (isolated && strcmp(p, si_pretok_digits_pattern(true)) == 0) {
            json_array_append_new(list, json_pack("{s:s, s:b}", "type", "Digits", "individual_digits", true));
        } else if (isolated && strcmp(p, si_pretok_digits_pattern(false)) == 0) {
            json_array_append_new(list, json_pack("{s:s, s:b}", "type", "Digits", "individual_digits", false));
        } else {
            json_array_append_new(list, json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern", "Regex", p,
                                                  "behavior", isolated ? "Isolated" : "Removed", "invert", false));
        }
    }
    json_array_append_new(list, byte_level(regex_in_byte_level, false));
    if (json_array_size(list) == 1) {
        json_t *only = json_incref(json_array_get(list, 0));
        json_decref(list);
        return only;
    }
    return json_pack("{s:s, s:o}", "type", "Sequence", "pretokenizers", list);
}

static json_t *bos_template(const si_tokenizer *t) {
    if (!t->add_bos || t->bos < 0) return json_null();
    json_t *bos = token_json(t, t->bos);
    if (!bos) return NULL;
    const char *b = json_string_value(bos);
    json_t *r = json_pack("{s:s, s:[{s:{s:s,s:i}}, {s:{s:s,s:i}}], s:[{s:{s:s,s:i}}, {s:{s:s,s:i}}, {s:{s:s,s:i}}, "
                          "{s:{s:s,s:i}}], s:{s:{s:s, s:[i], s:[s]}}}",
                          "type", "TemplateProcessing", "single", "SpecialToken", "id", b, "type_id", 0, "Sequence",
                          "id", "A", "type_id", 0, "pair", "SpecialToken", "id", b, "type_id", 0, "Sequence", "id", "A",
                          "type_id", 0, "SpecialToken", "id", b, "type_id", 1, "Sequence", "id", "B", "type_id", 1,
                          "special_tokens", b, "id", b, "ids", t->bos, "tokens", b);
    json_decref(bos);
    return r;
}

static int fill_vocab_and_added(const si_tokenizer *t, json_t *vocab, json_t *added) {
    for (int32_t id = 0; id < t->vocab.n; id++) {
        json_t *s = token_json(t, id);
        if (!s) return si_fail("token %d is not valid UTF-8 and cannot be written to JSON", id);
        const char *text = json_string_value(s);
        size_t len = json_string_length(s);
        if (si_vocab_find(&t->vocab, text, len) == id) json_object_setn_new(vocab, text, len, json_integer(id));
        int type = t->vocab.tok[id].type;
        if (type == SI_TOKEN_CONTROL || type == SI_TOKEN_USER_DEFINED || type == SI_TOKEN_UNKNOWN) {
            uint8_t f = t->added_flags ? t->added_flags[id] : 0;
            bool special = type != SI_TOKEN_USER_DEFINED;
            json_array_append_new(added, json_pack("{s:i, s:O, s:b, s:b, s:b, s:b, s:b}", "id", id, "content", s,
                                                   "single_word", false, "lstrip", (f & 1) != 0, "rstrip",
                                                   (f & 2) != 0, "normalized", !special, "special", special));
        }
        json_decref(s);
    }
    return 0;
}

static json_t *model_json(const si_tokenizer *t) {
    json_t *merges = json_array();
    for (int64_t i = 0; i < t->n_merges; i++) {
        json_t *a = token_json(t, t->merges[i][0]), *b = token_json(t, t->merges[i][1]);
        if (!a || !b || json_array_append_new(merges, json_pack("[o, o]", a, b)) != 0) {
            if (!a || !b) {
                json_decref(a);
                json_decref(b);
            }
            json_decref(merges);
            return NULL;
        }
    }
    return json_pack("{s:s, s:n, s:o, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout", "unk_token",
                     token_json(t, t->unk), "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", t->fuse_unk,
                     "byte_fallback", false, "ignore_merges", t->ignore_merges, "vocab", json_object(), "merges",
                     merges);
}

static int write_json(json_t *root, const char *path) {
    if (json_dump_file(root, path, JSON_INDENT(2)) != 0) return si_fail("%s: cannot write", path);
    return 0;
}

static int save_tokenizer_json(const si_tokenizer *t, const char *path) {
    json_t *added = json_array(), *model = model_json(t);
    json_t *root = NULL;
    int rc = -1;
    if (!model) {
        si_set_error("%s: cannot build the BPE model (a token is not valid UTF-8)", path);
        goto done;
    }
    if (fill_vocab_and_added(t, json_object_get(model, "vocab"), added) != 0) {
        si_error_prefix("%s", path);
        goto done;
    }
    json_t *post = bos_template(t);
    root = json_pack("{s:s, s:n, s:n, s:O, s:n, s:o, s:o, s:o, s:O}", "version", "1.0", "truncation", "padding",
                     "added_tokens", added, "normalizer", "pre_tokenizer", pre_tokenizer_json(t), "post_processor",
                     post, "decoder", byte_level(true, true), "model", model);
    if (!root) {
        si_set_error("%s: cannot build tokenizer.json", path);
        goto done;
    }
    rc = write_json(root, path);
done:
    json_decref(root);
    json_decref(model);
    json_decref(added);
    return rc;
}

static int save_config(const si_tokenizer *t, const char *path) {
    bool spm = t->kind == SI_TOKENIZER_SPM;
    json_t *root = json_pack("{s:b, s:b, s:o, s:o, s:o, s:b, s:s}", "add_bos_token", t->add_bos, "add_eos_token",
                             false, "bos_token", token_json(t, t->bos), "eos_token", token_json(t, t->eos), "unk_token",
                             token_json(t, t->unk), "clean_up_tokenization_spaces", false, "tokenizer_class",
                             spm ? "LlamaTokenizer" : "PreTrainedTokenizerFast");
    if (!root) return si_fail("%s: a special token is not valid UTF-8", path);
    if (t->pad >= 0) json_object_set_new(root, "pad_token", token_json(t, t->pad));
    if (t->chat_template) json_object_set_new(root, "chat_template", json_string(t->chat_template));
    if (spm) {
        /* legacy: every piece of text between special tokens gets the dummy
         * prefix, as our encoder does; no extra spaces around specials. */
        json_object_set_new(root, "legacy", json_true());
        json_object_set_new(root, "spaces_between_special_tokens", json_false());
    }
    int rc = write_json(root, path);
    json_decref(root);
    return rc;
}

int si_tokenizer_save_hf(const si_tokenizer *t, const char *dir) {
    if (!t || !dir) return si_fail("si_tokenizer_save_hf: bad arguments");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return si_fail("%s: cannot create: %s", dir, strerror(errno));
    char path[PATH_MAX];
    bool spm = t->kind == SI_TOKENIZER_SPM;
    if (snprintf(path, sizeof path, "%s/%s", dir, spm ? "tokenizer.model" : "tokenizer.json") >= (int)sizeof path)
        return si_fail("%s: path too long", dir);
    if ((spm ? si_tokenizer_save_spm_model(t, path) : save_tokenizer_json(t, path)) != 0) return -1;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    return save_config(t, path);
}
