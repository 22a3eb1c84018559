/* tests/test_tokenizer_bad.c: tiny hand-made tokenizers (tokenizer.model,
 * tokenizer.json, GGUF) checked by hand, and hostile files: missing,
 * truncated, corrupted, malformed, absurd sizes. Every failure must be a
 * clean NULL with a message naming the file, never a crash (run this under
 * SI_SANITIZE=ON too). Needs no model: it makes its own files. */
#include "test_tokenizer_common.h"

#include <sys/stat.h>

/* ---- protobuf writers for hand-made tokenizer.model files ---- */
static void pb_varint(bytes *b, uint64_t v) {
    do {
        unsigned char c = (unsigned char)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        put(b, &c, 1);
        v >>= 7;
    } while (v);
}

static void pb_key(bytes *b, unsigned field, unsigned wire) { pb_varint(b, (uint64_t)field << 3 | wire); }
static void pb_uint(bytes *b, unsigned field, uint64_t v) {
    pb_key(b, field, 0);
    pb_varint(b, v);
}

static void pb_bytes(bytes *b, unsigned field, const void *p, size_t n) {
    pb_key(b, field, 2);
    pb_varint(b, n);
    put(b, p, n);
}

static void pb_message(bytes *b, unsigned field, const bytes *m) { pb_bytes(b, field, m->d, m->n); }

static void pb_piece(bytes *b, const char *text, float score, int type) {
    bytes m = {0};
    pb_bytes(&m, 1, text, strlen(text));
    pb_key(&m, 2, 5);
    put(&m, &score, 4);
    pb_uint(&m, 3, (uint64_t)type);
    pb_message(b, 1, &m);
    free(m.d);
}

/* A tiny SentencePiece BPE model: <unk> <s> </s> ▁ a b ▁a ab [<0x00>..<0xFF>]. */
static bytes tiny_spm(int model_type, int n_byte_pieces) {
    bytes b = {0}, trainer = {0}, norm = {0};
    pb_piece(&b, "<unk>", 0, SI_TOKEN_UNKNOWN);
    pb_piece(&b, "<s>", 0, SI_TOKEN_CONTROL);
    pb_piece(&b, "</s>", 0, SI_TOKEN_CONTROL);
    pb_piece(&b, "\xE2\x96\x81", -1, SI_TOKEN_NORMAL); /* ▁ */
    pb_piece(&b, "a", -2, SI_TOKEN_NORMAL);
    pb_piece(&b, "b", -3, SI_TOKEN_NORMAL);
    pb_piece(&b, "\xE2\x96\x81" "a", -0.5f, SI_TOKEN_NORMAL);
    pb_piece(&b, "ab", -0.2f, SI_TOKEN_NORMAL);
    for (int i = 0; i < n_byte_pieces; i++) {
        char piece[8];
        snprintf(piece, sizeof piece, "<0x%02X>", (unsigned)i & 0xFFu); /* i < 256: the mask only tells the compiler */
        pb_piece(&b, piece, 0, SI_TOKEN_BYTE);
    }
    pb_uint(&trainer, 3, (uint64_t)model_type);
    pb_uint(&trainer, 35, n_byte_pieces > 0); /* byte_fallback */
    pb_message(&b, 2, &trainer);
    pb_bytes(&norm, 1, "identity", 8);
    pb_uint(&norm, 4, 0); /* remove_extra_whitespaces = false */
    pb_message(&b, 3, &norm);
    free(trainer.d);
    free(norm.d);
    return b;
}

static void check_tiny_spm(void) {
    bytes b = tiny_spm(2, 0);
    const char *path = write_tmp("tiny.model", b.d, b.n);
    si_tokenizer *t = si_tokenizer_load(path);
    CHECKF(t != NULL, "%s: %s", path, si_error_message());
    if (t) {
        /* "▁a▁ab": "ab" (-0.2) merges first, then the leftmost "▁a" (-0.5). */
        expect_ids(t, "a ab", 0, 3, 6, 3, 7);
        expect_ids(t, "a cc", 0, 3, 6, 3, 0); /* a run of unknown characters is one <unk> */
        expect_ids(t, "cc d", 0, 4, 3, 0, 3, 0); /* ... but ▁ is not unknown (as sentencepiece) */
        expect_ids(t, "", 0, 0);
        expect_ids(t, "<s>a", SI_ENCODE_SPECIAL | SI_ENCODE_BOS, 3, 1, 1, 6);
        CHECK(si_tokenizer_bos(t) == 1 && si_tokenizer_eos(t) == 2 && si_tokenizer_is_eog(t, 2));
        si_tokenizer_free(t);
    }
    free(b.d);
    b = tiny_spm(2, 256);
    t = si_tokenizer_load(write_tmp("tiny_fallback.model", b.d, b.n));
    CHECK(t != NULL);
    if (t) expect_ids(t, "a cd", 0, 4, 6, 3, 8 + 'c', 8 + 'd'); /* unknown characters become byte pieces */
    si_tokenizer_free(t);
    free(b.d);
}

/* Every truncation and many bit flips of a model file: each either fails
 * with a message naming the file or loads a tokenizer that works. (A cut
 * between two top-level fields can leave a valid model: protobuf has no end
 * marker.) */
static void check_damaged_spm(const unsigned char *data, size_t n, size_t step, const char *name) {
    size_t refused = 0, loaded = 0, silent = 0;
    unsigned char *copy = malloc(n);
    uint32_t state = 12345;
    for (size_t k = 0; k < n / step + 300; k++) {
        size_t len = n;
        memcpy(copy, data, n);
        if (k < n / step) {
            len = k * step;
        } else {
            for (size_t j = 0; j < 1 + k % 4; j++) {
                state = state * 1103515245u + 12345u;
                copy[(state >> 8) % n] ^= (unsigned char)(1u << (state % 8));
            }
        }
        si_clear_error();
        si_tokenizer *t = si_tokenizer_load(write_tmp(name, copy, len));
        int32_t ids[256];
        if (t) {
            loaded++;
            CHECK(si_tokenizer_encode(t, "a b c hello", 11, SI_ENCODE_SPECIAL, ids, 256) >= 0);
        } else if (strstr(si_error_message(), name)) {
            refused++;
        } else {
            silent++;
            fprintf(stderr, "%s: error without the file name: %s\n", name, si_error_message());
        }
        si_tokenizer_free(t);
    }
    printf("%s: %zu damaged copies refused with a message, %zu still loaded and encode\n", name, refused, loaded);
    CHECK(silent == 0);
    CHECK(refused > 0);
    free(copy);
}

static void check_hostile_spm(void) {
    bytes b = {0};
    expect_fail(write_tmp("empty.model", "", 0), "empty");
    pb_key(&b, 1, 2);
    pb_varint(&b, (uint64_t)1 << 62); /* a piece claiming 2^62 bytes */
    expect_fail(write_tmp("huge.model", b.d, b.n), "runs past the end");
    b.n = 0;
    for (int i = 0; i < 11; i++) put(&b, "\xFF", 1); /* an endless varint */
    expect_fail(write_tmp("varint.model", b.d, b.n), "varint");
    b.n = 0;
    pb_piece(&b, "x", 0, 99);
    expect_fail(write_tmp("type.model", b.d, b.n), "unknown type 99");
    b.n = 0;
    pb_key(&b, 7, 3); /* a group: a wire type protobuf 3 does not use */
    expect_fail(write_tmp("group.model", b.d, b.n), "wire type");
    free(b.d);
    b = tiny_spm(1, 0);
    expect_fail(write_tmp("unigram.model", b.d, b.n), "unigram");
    free(b.d);
    bytes sub = {0};
    b = tiny_spm(2, 0);
    pb_bytes(&sub, 2, "\x01\x02", 2); /* a precompiled character map (NFKC rules) */
    pb_message(&b, 3, &sub);
    expect_fail(write_tmp("nfkc.model", b.d, b.n), "precompiled character map");
    free(b.d);
    b = tiny_spm(2, 0);
    sub.n = 0;
    pb_uint(&sub, 40, 999999); /* unk_id outside the pieces */
    pb_message(&b, 2, &sub);
    expect_fail(write_tmp("unk.model", b.d, b.n), "unk id 999999");
    free(b.d);
    free(sub.d);
    b = tiny_spm(2, 255);
    expect_fail(write_tmp("bytes.model", b.d, b.n), "piece <0xFF> is missing");
    free(b.d);
    b = tiny_spm(2, 256);
    check_damaged_spm(b.d, b.n, 4, "tiny_damaged.model");
    free(b.d);
    const char *llama = si_test_shared_path("tokenizers/llama2/tokenizer.model");
    size_t n;
    char *data = llama ? si_read_file(llama, 1 << 24, &n) : NULL;
    if (data) check_damaged_spm((unsigned char *)data, n, n / 97, "llama2_damaged.model");
    free(data);
}

/* ---- tokenizer.json ---- */
static const char *TINY_JSON =
    "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"\xC4\xA0\": 3, \"<x>\": 4},"
    " \"merges\": [\"a b\"]}, \"added_tokens\": [{\"id\": 4, \"content\": \"<x>\", \"special\": true}],"
    " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"decoder\": {\"type\": \"ByteLevel\"}}";

static const char *json_with(const char *from, const char *to) {
    static char buf[4096];
    const char *at = strstr(TINY_JSON, from);
    CHECK(at != NULL);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - TINY_JSON), TINY_JSON, to, at + strlen(from));
    return buf;
}

static void expect_json_fail(const char *json, const char *needle) {
    expect_fail(write_tmp("bad_tokenizer.json", json, strlen(json)), needle);
}

static void check_json(void) {
    si_tokenizer *t = si_tokenizer_load(write_tmp("tokenizer.json", TINY_JSON, strlen(TINY_JSON)));
    CHECKF(t != NULL, "tiny tokenizer.json: %s", si_error_message());
    if (t) {
        expect_ids(t, "ab ab", 0, 3, 2, 3, 2); /* "Ġab" is not a token: Ġ then ab */
        expect_ids(t, "abc", 0, 1, 2);         /* c is not in the vocabulary and there is no unk: dropped */
        expect_ids(t, "a<x>b", SI_ENCODE_SPECIAL, 3, 0, 4, 1);
        si_tokenizer_free(t);
    }
    expect_json_fail("{", "line 1");
    expect_json_fail("[]", "no model");
    expect_json_fail("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "Unigram");
    expect_json_fail(json_with("\"a b\"", "\"a c\""), "not in the vocabulary");
    expect_json_fail(json_with("\"a b\"", "\"ab\""), "not two tokens");
    expect_json_fail(json_with("\"b\": 1", "\"b\": 1000000000000"), "too large");
    expect_json_fail(json_with("\"b\": 1", "\"b\": -5"), "out of range");
    expect_json_fail(json_with("\"b\": 1", "\"b\": 5"), "token id 1 is missing");
    /* An id past the number of entries is refused before a table for it is made. */
    expect_json_fail(json_with("\"b\": 1", "\"b\": 9"), "ids are not 0..n-1");
    expect_json_fail(json_with("\"b\": 1", "\"b\": 4194303"), "ids are not 0..n-1");
    expect_json_fail(json_with("\"id\": 4, \"content\": \"<x>\"", "\"id\": 4, \"content\": \"<y>\""), "is both");
    expect_json_fail(json_with("{\"type\": \"ByteLevel\"}, \"decoder\"", "{\"type\": \"Metaspace\"}, \"decoder\""),
                     "Metaspace");
    expect_json_fail(json_with("{\"type\": \"ByteLevel\"}, \"decoder\"",
                               "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}, "
                               "\"decoder\""),
                     "does not compile");
    expect_json_fail(json_with("{\"type\": \"ByteLevel\"}, \"decoder\"",
                               "{\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, \"behavior\": \"Merged\"}, "
                               "\"decoder\""),
                     "not supported");
    expect_json_fail(json_with(", \"decoder\": {\"type\": \"ByteLevel\"}", ""), "not a byte-level");
    expect_json_fail(json_with("\"model\"", "\"normalizer\": {\"type\": \"NFC\"}, \"model\""), "NFC");
    char long_token[2200];
    snprintf(long_token, sizeof long_token, "\"%02000d\": 1", 0);
    expect_json_fail(json_with("\"b\": 1", long_token), "bytes long");
}

static void check_folder(void) {
    char dir[4200], file[4300];
    snprintf(dir, sizeof dir, "%s/folder", si_test_tmpdir());
    expect_fail(dir, "cannot open");
    mkdir(dir, 0755);
    expect_fail(dir, "no tokenizer.json or tokenizer.model");
    snprintf(file, sizeof file, "%s/tokenizer.json", dir);
    CHECK(si_test_write_file(file, TINY_JSON, strlen(TINY_JSON)) == 0);
    const char *config = "{\"bos_token\": {\"content\": \"<x>\"}, \"eos_token\": \"<x>\", \"add_bos_token\": true,"
                         " \"chat_template\": [{\"name\": \"default\", \"template\": \"T\"}]}";
    snprintf(file, sizeof file, "%s/tokenizer_config.json", dir);
    CHECK(si_test_write_file(file, config, strlen(config)) == 0);
    si_tokenizer *t = si_tokenizer_load(dir);
    CHECKF(t != NULL, "%s: %s", dir, si_error_message());
    if (t) {
        CHECK(si_tokenizer_bos(t) == 4 && si_tokenizer_eos(t) == 4 && si_tokenizer_add_bos(t));
        CHECK(si_tokenizer_is_eog(t, 4));
        CHECK(si_tokenizer_chat_template(t) && strcmp(si_tokenizer_chat_template(t), "T") == 0);
        expect_ids(t, "ab", SI_ENCODE_BOS, 2, 4, 2);
        si_tokenizer_free(t);
    }
    CHECK(si_test_write_file(file, "{\"eos_token\": \"<nope>\"}", 23) == 0);
    expect_fail(dir, "tokenizer_config.json: eos_token \"<nope>\" is not in the vocabulary");
    CHECK(si_test_write_file(file, "{\"eos_token\": ", 14) == 0);
    expect_fail(dir, "tokenizer_config.json: line 1");
}

int main(void) {
    expect_fail("/nonexistent/tokenizer.model", "/nonexistent/tokenizer.model");
    check_tiny_spm();
    check_hostile_spm();
    check_json();
    check_folder();
    int32_t ids[4];
    CHECK(si_tokenizer_encode(NULL, "a", 1, 0, ids, 4) == -1);
    return si_test_finish("test_tokenizer_bad");
}
