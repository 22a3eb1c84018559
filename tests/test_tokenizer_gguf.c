/* tests/test_tokenizer_gguf.c: tokenizers from hand-made GGUF metadata
 * ("gpt2" and "llama" models, checked by hand) and hostile metadata: every
 * problem is a clean error naming the file. Needs no model. */
#include "test_tokenizer_common.h"

#include "format/gguf.h"

#include <limits.h>

static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }

static void put_string(bytes *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

/* One GGUF file being built: key/value pairs counted as they are added. */
typedef struct {
    bytes kv;
    uint64_t n_kv;
} gguf_builder;

static void key(gguf_builder *g, const char *k, si_gguf_type type) {
    put_string(&g->kv, k);
    put_u32(&g->kv, (uint32_t)type);
    g->n_kv++;
}

static void kv_str(gguf_builder *g, const char *k, const char *v) {
    key(g, k, SI_GGUF_STRING);
    put_string(&g->kv, v);
}

static void kv_u32(gguf_builder *g, const char *k, uint32_t v) {
    key(g, k, SI_GGUF_UINT32);
    put_u32(&g->kv, v);
}

static void kv_bool(gguf_builder *g, const char *k, bool v) {
    key(g, k, SI_GGUF_BOOL);
    put(&g->kv, &(uint8_t){v}, 1);
}

static void kv_strs(gguf_builder *g, const char *k, const char *const *v, int n) {
    key(g, k, SI_GGUF_ARRAY);
    put_u32(&g->kv, SI_GGUF_STRING);
    put_u64(&g->kv, (uint64_t)n);
    for (int i = 0; i < n; i++) put_string(&g->kv, v[i]);
}

static void kv_nums(gguf_builder *g, const char *k, si_gguf_type type, const void *v, int n) {
    key(g, k, SI_GGUF_ARRAY);
    put_u32(&g->kv, (uint32_t)type);
    put_u64(&g->kv, (uint64_t)n);
    put(&g->kv, v, 4 * (size_t)n);
}

static const char *finish(gguf_builder *g, const char *name) {
    bytes f = {0};
    put(&f, "GGUF", 4);
    put_u32(&f, 3);
    put_u64(&f, 0); /* no tensors */
    put_u64(&f, g->n_kv);
    put(&f, g->kv.d, g->kv.n);
    const char *path = write_tmp(name, f.d, f.n);
    free(f.d);
    free(g->kv.d);
    *g = (gguf_builder){0};
    return path;
}

/* Byte-level: a b ab Ġ <|im_end|>, merge "a b". Parts can be left out or spoiled. */
enum { NO_TOKENS = 1, INT_TOKENS = 2, SHORT_TYPES = 4, BAD_MERGE = 8, BAD_TYPE = 16 };

static const char *gpt2_file(const char *name, const char *model, const char *pre, uint32_t eos, int spoil) {
    gguf_builder g = {0};
    static const char *const tokens[] = {"a", "b", "ab", "\xC4\xA0", "<|im_end|>"};
    int32_t types[] = {1, 1, 1, 1, 3};
    if (spoil & BAD_TYPE) types[1] = 9;
    const char *merges[] = {spoil & BAD_MERGE ? "a c" : "a b"};
    kv_str(&g, "tokenizer.ggml.model", model);
    if (pre) kv_str(&g, "tokenizer.ggml.pre", pre);
    if (spoil & INT_TOKENS) kv_nums(&g, "tokenizer.ggml.tokens", SI_GGUF_INT32, types, 5);
    else if (!(spoil & NO_TOKENS)) kv_strs(&g, "tokenizer.ggml.tokens", tokens, 5);
    kv_nums(&g, "tokenizer.ggml.token_type", SI_GGUF_INT32, types, spoil & SHORT_TYPES ? 4 : 5);
    kv_strs(&g, "tokenizer.ggml.merges", merges, 1);
    kv_u32(&g, "tokenizer.ggml.eos_token_id", eos);
    kv_str(&g, "tokenizer.chat_template", "{{ messages }}");
    return finish(&g, name);
}

/* SentencePiece: <unk> <s> </s> ▁ a b ▁a ab with scores. */
enum { NO_UNK_ID = 1, NO_UNK_PIECE = 2 };
static const char *llama_file(const char *name, bool space_prefix, int spoil) {
    gguf_builder g = {0};
    static const char *const tokens[] = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "\xE2\x96\x81\x61", "ab"}; /* "▁a": \x61 is "a" */
    int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1};
    if (spoil & NO_UNK_PIECE) types[0] = 3;
    static const float scores[] = {0, 0, 0, -1, -2, -3, -0.5f, -0.2f};
    kv_str(&g, "tokenizer.ggml.model", "llama");
    kv_strs(&g, "tokenizer.ggml.tokens", tokens, 8);
    kv_nums(&g, "tokenizer.ggml.token_type", SI_GGUF_INT32, types, 8);
    kv_nums(&g, "tokenizer.ggml.scores", SI_GGUF_FLOAT32, scores, 8);
    kv_u32(&g, "tokenizer.ggml.bos_token_id", 1);
    kv_u32(&g, "tokenizer.ggml.eos_token_id", 2);
    if (!(spoil & NO_UNK_ID)) kv_u32(&g, "tokenizer.ggml.unknown_token_id", 0);
    kv_bool(&g, "tokenizer.ggml.add_space_prefix", space_prefix);
    return finish(&g, name);
}

static void check_gpt2(void) {
    si_tokenizer *t = si_tokenizer_load(gpt2_file("gpt2.gguf", "gpt2", "smollm", 4, 0));
    CHECKF(t != NULL, "tiny gpt2 GGUF: %s", si_error_message());
    if (t) {
        CHECK(si_tokenizer_get_kind(t) == SI_TOKENIZER_BPE && si_tokenizer_n_vocab(t) == 5);
        expect_ids(t, "ab ab", 0, 3, 2, 3, 2);
        expect_ids(t, "ab<|im_end|>", SI_ENCODE_SPECIAL, 2, 2, 4);
        CHECK(si_tokenizer_is_eog(t, 4) && !si_tokenizer_add_bos(t) && si_tokenizer_bos(t) == -1);
        CHECK(strcmp(si_tokenizer_chat_template(t), "{{ messages }}") == 0);
        si_tokenizer_free(t);
    }
    t = si_tokenizer_load(gpt2_file("llama3.gguf", "gpt2", "llama-bpe", 4, 0));
    CHECKF(t != NULL, "gpt2 GGUF with pre llama-bpe: %s", si_error_message());
    si_tokenizer_free(t);
    expect_fail(gpt2_file("qwen9.gguf", "gpt2", "qwen9", 4, 0), "unknown pre-tokenizer \"qwen9\"");
    expect_fail(gpt2_file("bert.gguf", "bert", NULL, 4, 0), "tokenizer model \"bert\" is not supported");
    expect_fail(gpt2_file("notokens.gguf", "gpt2", NULL, 4, NO_TOKENS), "no tokenizer.ggml.tokens");
    expect_fail(gpt2_file("inttokens.gguf", "gpt2", NULL, 4, INT_TOKENS), "not a string array");
    expect_fail(gpt2_file("shorttypes.gguf", "gpt2", NULL, 4, SHORT_TYPES), "has 4 elements for 5 tokens");
    expect_fail(gpt2_file("badmerge.gguf", "gpt2", NULL, 4, BAD_MERGE), "merge 0: right token \"c\" is not in the vocabulary");
    expect_fail(gpt2_file("badtype.gguf", "gpt2", NULL, 4, BAD_TYPE), "invalid type 9");
    expect_fail(gpt2_file("eos.gguf", "gpt2", NULL, 999999, 0), "EOS token id 999999 is outside the vocabulary");
    expect_fail(gpt2_file("eos2.gguf", "gpt2", NULL, 0xFFFFFFFFu, 0), "is not a token id");
}

static void check_llama(void) {
    si_tokenizer *t = si_tokenizer_load(llama_file("llama.gguf", true, 0));
    CHECKF(t != NULL, "tiny llama GGUF: %s", si_error_message());
    if (!t) return;
    expect_ids(t, "a ab", 0, 3, 6, 3, 7); /* "▁a▁ab": ab first, then ▁a */
    CHECK(si_tokenizer_add_bos(t) && si_tokenizer_bos(t) == 1);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/llama_export", si_test_tmpdir());
    CHECKF(si_tokenizer_save_hf(t, dir) == 0, "%s", si_error_message());
    si_tokenizer *r = si_tokenizer_load(dir);
    CHECKF(r != NULL, "reloading %s: %s", dir, si_error_message());
    if (r) expect_ids(r, "a ab", SI_ENCODE_BOS, 4, 1, 6, 3, 7);
    si_tokenizer_free(r);
    si_tokenizer_free(t);
    t = si_tokenizer_load(llama_file("llama_noprefix.gguf", false, 0));
    CHECK(t != NULL);
    if (t) expect_ids(t, "a ab", 0, 3, 4, 3, 7); /* "a▁ab" */
    si_tokenizer_free(t);
    /* Without unknown_token_id the piece typed UNKNOWN is the unknown piece;
     * without either, the vocabulary is refused (an unknown character would
     * have no id). */
    t = si_tokenizer_load(llama_file("llama_no_unk_id.gguf", true, NO_UNK_ID));
    CHECKF(t != NULL, "no unknown_token_id: %s", si_error_message());
    if (t) expect_ids(t, "a c", 0, 3, 6, 3, 0);
    si_tokenizer_free(t);
    expect_fail(llama_file("llama_no_unk.gguf", true, NO_UNK_ID | NO_UNK_PIECE), "without an unknown piece");
}

int main(void) {
    check_gpt2();
    check_llama();
    return si_test_finish("test_tokenizer_gguf");
}
