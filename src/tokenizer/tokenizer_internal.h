/* tokenizer/tokenizer_internal.h: the private layout of si_tokenizer and the
 * pieces its files share (vocabulary, merge table, pre-tokenizer, BPE engine,
 * encode context). Not part of the public interface. */
#ifndef SI_TOKENIZER_INTERNAL_H
#define SI_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"

#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits a hostile file cannot push past. A real vocabulary entry is at most a
 * few hundred bytes; 1 KiB keeps one decoded token inside SI_DETOK_MIN_CAP. */
#define SI_TOKEN_MAX_BYTES 1024
#define SI_TOKENIZER_MAX_MERGES (1 << 24) /* ranks stay exact in a float */
#define SI_TOKENIZER_MAX_FILE ((size_t)512 << 20)
#define SI_PRETOK_MAX_STAGES 8
#define SI_MAX_EOG 16

/* ---- vocab.c: token table and text -> id hash map ---- */
typedef struct {
    uint32_t off; /* into si_vocab.text; every entry is NUL-terminated there */
    uint32_t len;
    float score;
    int32_t type; /* si_token_type */
} si_token;

typedef struct {
    si_token *tok;
    int32_t n, cap;
    char *text;
    size_t text_len, text_cap;
    int32_t *slot; /* open addressing, -1 = empty */
    size_t slot_mask;
    int32_t n_duplicates; /* entries whose text an earlier id already has */
} si_vocab;

/* Appends a token and returns its id, or -1 with an error. A text seen before
 * still gets its own id, but lookups keep answering the first id. */
int32_t si_vocab_add(si_vocab *v, const char *s, size_t len, float score, int type);
int32_t si_vocab_find(const si_vocab *v, const char *s, size_t len);
const char *si_vocab_text(const si_vocab *v, int32_t id, size_t *len);
void si_vocab_free(si_vocab *v);

/* ---- merge_map.c: (left id, right id) -> (priority, merged id) ---- */
typedef struct {
    uint64_t key; /* (left << 32 | right) + 1; 0 marks an empty slot */
    float prio;   /* higher merges first: -rank for BPE merges, the score for SentencePiece */
    int32_t result;
} si_merge_entry;

typedef struct {
    si_merge_entry *e;
    size_t mask, used;
} si_merge_map;

/* Inserts or overwrites (a later duplicate wins, as in a Hugging Face map). */
int si_merge_map_put(si_merge_map *m, int32_t left, int32_t right, float prio, int32_t result);
const si_merge_entry *si_merge_map_get(const si_merge_map *m, int32_t left, int32_t right);
void si_merge_map_free(si_merge_map *m);

/* ---- pretok.c: regex pre-tokenizer (a list of PCRE2 split stages) ---- */
typedef enum { SI_SPLIT_ISOLATED, SI_SPLIT_REMOVED } si_split_behavior;

typedef struct {
    char *pattern; /* PCRE2 source */
    pcre2_code *re;
    si_split_behavior behavior;
} si_pretok_stage;

typedef struct {
    char name[32]; /* a known name ("gpt2", "smollm", "llama-bpe") or "custom" */
    int n;
    si_pretok_stage st[SI_PRETOK_MAX_STAGES];
} si_pretok;

/* Appends a stage; literal = the pattern is a plain string, not a regex. */
int si_pretok_add(si_pretok *p, const char *pattern, size_t len, bool literal, si_split_behavior b);
/* Fills p from the table of known names; *ignore_merges tells whether that
 * tokenizer looks a whole pre-token up before merging. -1 if the name is unknown. */
int si_pretok_set_known(si_pretok *p, const char *name, size_t len, bool *ignore_merges);
/* Names p after the known entry with exactly its stages, else "custom". */
void si_pretok_detect_name(si_pretok *p);
/* The patterns of the GPT-2 ByteLevel regex and of Digits (for tokenizer.json). */
const char *si_pretok_gpt2_pattern(void);
const char *si_pretok_digits_pattern(bool individual);
void si_pretok_free(si_pretok *p);

typedef int (*si_chunk_fn)(void *ctx, const unsigned char *s, size_t n);
/* Splits valid UTF-8 text through every stage and calls fn on each final
 * chunk in order. md holds one match-data block per stage. */
int si_pretok_split(const si_pretok *p, pcre2_match_data **md, const unsigned char *s, size_t n, si_chunk_fn fn,
                    void *ctx);

/* ---- bpe_merge.c: the pair-merging engine both algorithms share ---- */
typedef struct {
    int32_t id;         /* -1: not a vocabulary entry (never merges), -2: merged away */
    int32_t prev, next; /* neighbours in the linked list, -1 at the ends */
    uint32_t start, len; /* bytes of the input this symbol covers */
    bool frozen;        /* never merges (user-defined pieces, unknown tokens) */
} si_bpe_sym;

typedef struct {
    float prio;
    int32_t left, right, left_id, right_id;
} si_bpe_cand;

typedef struct {
    si_bpe_sym *sym;
    size_t n_sym, cap_sym;
    si_bpe_cand *heap;
    size_t n_heap, cap_heap;
} si_bpe_work;

typedef void (*si_bpe_merge_hook)(void *ctx, int32_t result, int32_t left_id, int32_t right_id);

int si_bpe_reserve(si_bpe_work *w, size_t n_sym);
/* Repeatedly merges the adjacent pair with the highest priority (leftmost on
 * ties) until no adjacent pair is in the map. hook (may be NULL) sees each merge. */
void si_bpe_merge(const si_merge_map *m, si_bpe_work *w, si_bpe_merge_hook hook, void *hook_ctx);
void si_bpe_work_free(si_bpe_work *w);

/* ---- the tokenizer ---- */
typedef struct {
    int32_t id;
    uint32_t len;
    bool lstrip, rstrip; /* absorb whitespace before/after (Hugging Face added tokens) */
} si_special;

struct si_tokenizer {
    si_tokenizer_kind kind;
    char *source; /* the file it came from, for messages */
    si_vocab vocab;
    int32_t bos, eos, unk, pad, eot, eom;
    bool add_bos;
    char *chat_template;
    int32_t eog[SI_MAX_EOG];
    int n_eog;
    int32_t max_token_bytes;

    /* Strings recognised with SI_ENCODE_SPECIAL, sorted by first byte then
     * longest first; special_start[b]..special_start[b+1] are those starting with b. */
    si_special *special;
    int32_t n_special;
    int32_t special_start[257];
    uint8_t *added_flags; /* per id, from tokenizer.json: bit 0 lstrip, bit 1 rstrip; may be NULL */

    si_merge_map pairs; /* BPE: merges by rank; SentencePiece: every split of every piece */
    int32_t byte_token[256]; /* BPE: id of each byte's mapped character; SPM: the <0xXX> pieces */

    /* byte-level BPE */
    int32_t (*merges)[2]; /* in rank order, kept for saving */
    int64_t n_merges;
    si_pretok pre;
    bool ignore_merges, fuse_unk;

    /* SentencePiece */
    bool add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces, byte_fallback;
    bool has_unused;
    bool has_user_defined;
    bool spm_word_split; /* no piece has a whitespace mark after another character */
    char *unk_surface;
};

/* tokenizer.c */
si_tokenizer *si_tokenizer_alloc(si_tokenizer_kind kind, const char *source);
/* After a loader filled the vocabulary and settings: validates ids, builds the
 * byte tables, the SentencePiece pair table, the special-string index and the
 * end-of-generation set. -1 with an error naming the source. */
int si_tokenizer_finish(si_tokenizer *t);
/* EOS, end-of-turn ids and the known end-of-turn control tokens. */
void si_tokenizer_rebuild_eog(si_tokenizer *t);
char *si_strndup(const char *s, size_t n);
bool si_token_is_piece(int type); /* a SentencePiece piece that merging can produce */

/* load_hf_json.c, load_spm_model.c, load_hf_config.c */
si_tokenizer *si_tokenizer_load_hf_json(const char *path, bool *not_byte_level);
si_tokenizer *si_tokenizer_load_spm_model(const char *path);
si_tokenizer *si_tokenizer_from_spm_bytes(const unsigned char *data, size_t size, const char *source);
int si_tokenizer_apply_hf_config(si_tokenizer *t, const char *path);
/* save_spm_model.c */
int si_tokenizer_save_spm_model(const si_tokenizer *t, const char *path);

/* bpe_merges.c: filling the byte-level merge list (loaders) */
int si_tokenizer_reserve_merges(si_tokenizer *t, uint64_t n);
/* Appends the next-ranked merge a + b; all three must be vocabulary entries. */
int si_tokenizer_add_merge(si_tokenizer *t, const char *a, size_t la, const char *b, size_t lb);
/* "left right" with exactly one space: the length of left. */
int si_split_merge_text(const char *s, size_t len, size_t *left_len);

/* bpe_bytelevel.c: GPT-2's reversible byte <-> printable character mapping */
uint32_t si_bytelevel_char(unsigned char b);
int si_bytelevel_byte(uint32_t cp); /* -1 if cp is not one of the 256 mapped characters */

/* ---- encoding ---- */
typedef struct {
    int32_t *out;
    int64_t cap, n;
} si_emit;

static inline void si_emit_id(si_emit *e, int32_t id) {
    if (e->n < e->cap) e->out[e->n] = id;
    e->n++;
}

typedef struct {
    int32_t result, left, right;
} si_merge_record;

typedef struct {
    const si_tokenizer *t;
    int flags; /* SI_ENCODE_* */
    si_emit emit;
    si_bpe_work bpe;
    pcre2_match_data *md[SI_PRETOK_MAX_STAGES];
    unsigned char *buf; /* scratch: normalized text or a mapped chunk */
    size_t buf_cap;
    si_merge_record *merged; /* SentencePiece: how unused pieces were formed */
    size_t n_merged, cap_merged;
} si_encode_ctx;

int si_encode_reserve_buf(si_encode_ctx *c, size_t n);
int si_bytelevel_encode(si_encode_ctx *c, const unsigned char *s, size_t n);
int si_spm_encode(si_encode_ctx *c, const unsigned char *s, size_t n);

/* ---- decoding (decode.c) ---- */
/* The raw bytes token id stands for (before UTF-8 repair); *at_start is the
 * SentencePiece leading-space state. Returns the length (<= SI_TOKEN_MAX_BYTES). */
size_t si_token_bytes(const si_tokenizer *t, int32_t id, int flags, bool *at_start, unsigned char *out);

#endif
