/* tokenizer/tokenizer.c: the si_tokenizer object: allocation, the tables
 * built once after loading (byte tokens, SentencePiece pairs, special
 * strings, end-of-generation set), accessors and freeing. */
#include "tokenizer_internal.h"
#include "utf8.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *si_strndup(const char *s, size_t n) {
    char *p = si_malloc(n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

bool si_token_is_piece(int type) {
    /* SentencePiece merges only into these; control, unknown and byte
     * pieces are never the result of a merge. */
    return type == SI_TOKEN_NORMAL || type == SI_TOKEN_USER_DEFINED || type == SI_TOKEN_UNUSED;
}

si_tokenizer *si_tokenizer_alloc(si_tokenizer_kind kind, const char *source) {
    si_tokenizer *t = si_calloc(1, sizeof *t);
    if (!t) return NULL;
    t->kind = kind;
    t->bos = t->eos = t->unk = t->pad = t->eot = t->eom = -1;
    t->source = si_strndup(source, strlen(source));
    if (!t->source) {
        free(t);
        return NULL;
    }
    snprintf(t->pre.name, sizeof t->pre.name, "custom");
    return t;
}

void si_tokenizer_free(si_tokenizer *t) {
    if (!t) return;
    si_vocab_free(&t->vocab);
    si_merge_map_free(&t->pairs);
    si_pretok_free(&t->pre);
    free(t->merges);
    free(t->special);
    free(t->added_flags);
    free(t->chat_template);
    free(t->unk_surface);
    free(t->source);
    free(t);
}

static int check_id(const si_tokenizer *t, int32_t id, const char *what) {
    if (id >= -1 && id < t->vocab.n) return 0;
    return si_fail("%s: %s token id %d is outside the vocabulary (%d tokens)", t->source, what, id, t->vocab.n);
}

static void build_byte_tokens(si_tokenizer *t) {
    for (int b = 0; b < 256; b++) {
        char text[8];
        int len;
        int32_t id;
        if (t->kind == SI_TOKENIZER_BPE) {
            len = si_utf8_encode(si_bytelevel_char((unsigned char)b), (unsigned char *)text);
            id = si_vocab_find(&t->vocab, text, (size_t)len);
        } else {
            len = snprintf(text, sizeof text, "<0x%02X>", b);
            id = si_vocab_find(&t->vocab, text, (size_t)len);
            if (id >= 0 && t->vocab.tok[id].type != SI_TOKEN_BYTE) id = -1;
        }
        t->byte_token[b] = id;
    }
}

/* Whether the piece has the whitespace mark right after a character that is
 * not one (such a piece could join the end of a word to the next word). */
static bool joins_words(const si_tokenizer *t, const char *p, size_t len) {
    const char *ws = t->escape_whitespaces ? "\xE2\x96\x81" : " ";
    size_t w = strlen(ws);
    for (size_t i = 1; i + w <= len; i++) {
        if (memcmp(p + i, ws, w) != 0) continue;
        if (i < w || memcmp(p + i - w, ws, w) != 0) return true;
    }
    return false;
}

/* SentencePiece merges two adjacent symbols whenever their concatenation is a
 * piece, with that piece's score: every way of cutting every piece in two is
 * a possible merge. */
static int build_spm_pairs(si_tokenizer *t) {
    const si_vocab *v = &t->vocab;
    t->spm_word_split = true;
    for (int32_t id = 0; id < v->n; id++) {
        int type = v->tok[id].type;
        if (type == SI_TOKEN_UNUSED) t->has_unused = true;
        if (type == SI_TOKEN_USER_DEFINED) t->has_user_defined = true;
        if (!si_token_is_piece(type)) continue;
        size_t len;
        const char *p = si_vocab_text(v, id, &len);
        if (si_vocab_find(v, p, len) != id) continue; /* a duplicate: the first id owns the text */
        if (joins_words(t, p, len)) t->spm_word_split = false;
        for (size_t cut = 1; cut < len; cut++) {
            if (((unsigned char)p[cut] & 0xC0) == 0x80) continue; /* inside a character */
            int32_t left = si_vocab_find(v, p, cut), right = si_vocab_find(v, p + cut, len - cut);
            if (left < 0 || right < 0) continue;
            if (!si_token_is_piece(v->tok[left].type) || !si_token_is_piece(v->tok[right].type)) continue;
            if (si_merge_map_put(&t->pairs, left, right, v->tok[id].score, id) != 0) return -1;
        }
    }
    return 0;
}

static int special_cmp(const void *a, const void *b, void *vocab) {
    const si_special *x = a, *y = b;
    const si_vocab *v = vocab;
    unsigned char cx = (unsigned char)v->text[v->tok[x->id].off], cy = (unsigned char)v->text[v->tok[y->id].off];
    if (cx != cy) return cx < cy ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1; /* longest first: leftmost-longest matching */
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool is_special_type(const si_tokenizer *t, int type) {
    if (type == SI_TOKEN_CONTROL || type == SI_TOKEN_USER_DEFINED) return true;
    return type == SI_TOKEN_UNKNOWN && t->kind == SI_TOKENIZER_SPM;
}

static int build_specials(si_tokenizer *t) {
    const si_vocab *v = &t->vocab;
    int32_t n = 0;
    for (int32_t id = 0; id < v->n; id++) n += is_special_type(t, v->tok[id].type) && v->tok[id].len > 0;
    t->special = si_calloc((size_t)n, sizeof *t->special);
    if (!t->special) return -1;
    for (int32_t id = 0; id < v->n; id++) {
        if (!is_special_type(t, v->tok[id].type) || v->tok[id].len == 0) continue;
        uint8_t f = t->added_flags ? t->added_flags[id] : 0;
        t->special[t->n_special++] = (si_special){id, v->tok[id].len, (f & 1) != 0, (f & 2) != 0};
    }
    qsort_r(t->special, (size_t)t->n_special, sizeof *t->special, special_cmp, &t->vocab);
    int32_t j = 0;
    for (int b = 0; b <= 256; b++) {
        while (j < t->n_special && (unsigned char)v->text[v->tok[t->special[j].id].off] < b) j++;
        t->special_start[b] = j;
    }
    return 0;
}

static void add_eog(si_tokenizer *t, int32_t id) {
    if (id < 0 || t->n_eog == SI_MAX_EOG) return;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return;
    t->eog[t->n_eog++] = id;
}

void si_tokenizer_rebuild_eog(si_tokenizer *t) {
    static const char *const END_OF_TURN[] = {"<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>",
                                              "</s>",       "<|eom_id|>", "<end_of_turn>"};
    t->n_eog = 0;
    add_eog(t, t->eos);
    add_eog(t, t->eot);
    add_eog(t, t->eom);
    for (size_t i = 0; i < sizeof END_OF_TURN / sizeof *END_OF_TURN; i++) {
        int32_t id = si_vocab_find(&t->vocab, END_OF_TURN[i], strlen(END_OF_TURN[i]));
        if (id >= 0 && t->vocab.tok[id].type == SI_TOKEN_CONTROL) add_eog(t, id);
    }
}

int si_tokenizer_finish(si_tokenizer *t) {
    if (t->vocab.n == 0) return si_fail("%s: empty vocabulary", t->source);
    if (check_id(t, t->bos, "BOS") || check_id(t, t->eos, "EOS") || check_id(t, t->unk, "unknown") ||
        check_id(t, t->pad, "padding") || check_id(t, t->eot, "end-of-turn") || check_id(t, t->eom, "end-of-message"))
        return -1;
    for (int32_t id = 0; id < t->vocab.n; id++) {
        int type = t->vocab.tok[id].type;
        if (type < SI_TOKEN_NORMAL || type > SI_TOKEN_BYTE)
            return si_fail("%s: token %d has invalid type %d", t->source, id, type);
        if ((int32_t)t->vocab.tok[id].len > t->max_token_bytes) t->max_token_bytes = (int32_t)t->vocab.tok[id].len;
    }
    build_byte_tokens(t);
    /* SentencePiece turns text no piece covers (and, with byte fallback, a
     * byte without its <0xXX> piece) into the unknown piece: without one the
     * encoder would emit id -1 (found by fuzz_gguf: a GGUF vocabulary whose
     * unknown_token_id was missing). */
    if (t->kind == SI_TOKENIZER_SPM && t->unk < 0)
        return si_fail("%s: SentencePiece vocabulary without an unknown piece (no unknown token id, no piece of "
                       "type UNKNOWN)", t->source);
    if (t->kind == SI_TOKENIZER_SPM) {
        if (!t->unk_surface && !(t->unk_surface = si_strndup(" \xE2\x81\x87 ", 5))) return -1;
        if (build_spm_pairs(t) != 0) return -1;
    } else if (t->pre.n == 0) {
        return si_fail("%s: byte-level BPE without a pre-tokenizer", t->source);
    }
    if (build_specials(t) != 0) return -1;
    si_tokenizer_rebuild_eog(t);
    return 0;
}

si_tokenizer_kind si_tokenizer_get_kind(const si_tokenizer *t) { return t->kind; }
int32_t si_tokenizer_n_vocab(const si_tokenizer *t) { return t->vocab.n; }
int32_t si_tokenizer_bos(const si_tokenizer *t) { return t->bos; }
int32_t si_tokenizer_eos(const si_tokenizer *t) { return t->eos; }
bool si_tokenizer_add_bos(const si_tokenizer *t) { return t->add_bos && t->bos >= 0; }
const char *si_tokenizer_chat_template(const si_tokenizer *t) { return t->chat_template; }

bool si_tokenizer_is_eog(const si_tokenizer *t, int32_t id) {
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return true;
    return false;
}

si_token_type si_tokenizer_token_type(const si_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->vocab.n) return (si_token_type)0; /* not a token */
    return (si_token_type)t->vocab.tok[id].type;
}

const char *si_tokenizer_token_text(const si_tokenizer *t, int32_t id) { return si_vocab_text(&t->vocab, id, NULL); }

int32_t si_tokenizer_find(const si_tokenizer *t, const char *text) {
    return si_vocab_find(&t->vocab, text, strlen(text));
}
