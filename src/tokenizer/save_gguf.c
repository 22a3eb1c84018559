/* tokenizer/save_gguf.c: si_tokenizer_write_gguf_meta: the vocabulary,
 * token types, scores (SentencePiece) or merges and pre-tokenizer name
 * (byte-level BPE), special ids, flags and chat template as the GGUF keys
 * load_gguf.c reads back. */
#include "save_gguf.h"

#include "format/gguf_writer.h"
#include "tokenizer_internal.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

static int write_tokens(const si_tokenizer *t, si_gguf_writer *w) {
    const si_vocab *v = &t->vocab;
    if (si_gguf_writer_begin_arr(w, "tokenizer.ggml.tokens", SI_GGUF_STRING, (uint64_t)v->n)) return -1;
    for (int32_t id = 0; id < v->n; id++) {
        size_t len;
        const char *s = si_vocab_text(v, id, &len);
        if (si_gguf_writer_arr_str(w, s, len)) return -1;
    }
    if (si_gguf_writer_begin_arr(w, "tokenizer.ggml.token_type", SI_GGUF_INT32, (uint64_t)v->n)) return -1;
    for (int32_t id = 0; id < v->n; id++)
        if (si_gguf_writer_arr_values(w, &v->tok[id].type, 1)) return -1;
    /* Byte-level BPE ranks by merges; its scores carry nothing. */
    if (t->kind != SI_TOKENIZER_SPM) return 0;
    if (si_gguf_writer_begin_arr(w, "tokenizer.ggml.scores", SI_GGUF_FLOAT32, (uint64_t)v->n)) return -1;
    for (int32_t id = 0; id < v->n; id++)
        if (si_gguf_writer_arr_values(w, &v->tok[id].score, 1)) return -1;
    return 0;
}

/* Merges as "left right" texts, in rank order. */
static int write_merges(const si_tokenizer *t, si_gguf_writer *w) {
    if (si_gguf_writer_begin_arr(w, "tokenizer.ggml.merges", SI_GGUF_STRING, (uint64_t)t->n_merges)) return -1;
    char joined[2 * SI_TOKEN_MAX_BYTES + 1];
    for (int64_t i = 0; i < t->n_merges; i++) {
        size_t la, lb;
        const char *a = si_vocab_text(&t->vocab, t->merges[i][0], &la);
        const char *b = si_vocab_text(&t->vocab, t->merges[i][1], &lb);
        if (!a || !b || la + lb + 1 > sizeof joined) return si_fail("merge %lld is not two tokens", (long long)i);
        memcpy(joined, a, la);
        joined[la] = ' ';
        memcpy(joined + la + 1, b, lb);
        if (si_gguf_writer_arr_str(w, joined, la + lb + 1)) return -1;
    }
    return 0;
}

/* GGUF names the pre-tokenizer, and the name implies ignore_merges: both
 * must say what this tokenizer does, or the file would encode differently. */
static int write_pre(const si_tokenizer *t, si_gguf_writer *w) {
    const char *name = t->pre.name;
    si_pretok known = {0};
    bool ignore_merges = false;
    int rc = si_pretok_set_known(&known, name, strlen(name), &ignore_merges);
    si_pretok_free(&known);
    if (rc)
        return si_fail("%s: the pre-tokenizer is not one GGUF can name (gpt2, smollm, llama-bpe)", t->source);
    if (ignore_merges != t->ignore_merges)
        return si_fail("%s: ignore_merges = %d differs from what GGUF's pre-tokenizer '%s' implies", t->source,
                       t->ignore_merges, name);
    return si_gguf_writer_set_str(w, "tokenizer.ggml.pre", name, strlen(name));
}

static int write_id(si_gguf_writer *w, const char *key, int32_t id) {
    return id < 0 ? 0 : si_gguf_writer_set_u32(w, key, (uint32_t)id);
}

static int write_settings(const si_tokenizer *t, si_gguf_writer *w) {
    bool spm = t->kind == SI_TOKENIZER_SPM;
    if (write_id(w, "tokenizer.ggml.bos_token_id", t->bos) || write_id(w, "tokenizer.ggml.eos_token_id", t->eos) ||
        write_id(w, "tokenizer.ggml.unknown_token_id", t->unk) ||
        write_id(w, "tokenizer.ggml.padding_token_id", t->pad) || write_id(w, "tokenizer.ggml.eot_token_id", t->eot) ||
        write_id(w, "tokenizer.ggml.eom_token_id", t->eom) ||
        si_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", t->add_bos) ||
        si_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", spm && t->add_dummy_prefix))
        return -1;
    if (spm && t->remove_extra_whitespaces &&
        si_gguf_writer_set_bool(w, "tokenizer.ggml.remove_extra_whitespaces", true))
        return -1;
    if (t->chat_template &&
        si_gguf_writer_set_str(w, "tokenizer.chat_template", t->chat_template, strlen(t->chat_template)))
        return -1;
    return 0;
}

/* SentencePiece settings that GGUF leaves implicit: the reader assumes
 * escaped whitespace, and byte fallback exactly when byte pieces exist. */
static int check_spm_implicit(const si_tokenizer *t) {
    if (!t->escape_whitespaces) return si_fail("%s: unescaped whitespace cannot be stored in GGUF", t->source);
    bool has_bytes = false;
    for (int32_t id = 0; id < t->vocab.n && !has_bytes; id++) has_bytes = t->vocab.tok[id].type == SI_TOKEN_BYTE;
    if (has_bytes != t->byte_fallback)
        return si_fail("%s: byte_fallback = %d with%s byte pieces cannot be stored in GGUF", t->source,
                       t->byte_fallback, has_bytes ? "" : "out");
    return 0;
}

int si_tokenizer_write_gguf_meta(const si_tokenizer *t, si_gguf_writer *w) {
    bool spm = t->kind == SI_TOKENIZER_SPM;
    if (spm && check_spm_implicit(t)) return -1;
    const char *model = spm ? "llama" : "gpt2";
    if (si_gguf_writer_set_str(w, "tokenizer.ggml.model", model, strlen(model))) return -1;
    if (!spm && write_pre(t, w)) return -1;
    if (write_tokens(t, w) || (!spm && write_merges(t, w)) || write_settings(t, w)) return -1;
    return 0;
}
