/* tests/test_tokenizer.c: our encoder against the reference libraries'
 * golden ids (scripts/make_tokenizer_golden.py): SmolLM2 from its GGUF,
 * Llama-2 from tokenizer.model, Llama-3's pre-tokenizer on SmolLM2's
 * vocabulary; decode round trips; whole books (count + hash); special tokens;
 * and the Hugging Face export loaded back. */
#include "test_tokenizer_common.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>

static const char LLAMA3_REGEX[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static void show_mismatch(const char *label, const golden_case *g, const int32_t *ids, int64_t n) {
    int64_t i = 0;
    while (i < n && i < g->n_ids && ids[i] == g->ids[i]) i++;
    fprintf(stderr, "%s: mismatch on \"%.60s\" (special=%d): %lld ids vs %lld golden, first difference at %lld",
            label, g->text, g->special, (long long)n, (long long)g->n_ids, (long long)i);
    if (i < n && i < g->n_ids) fprintf(stderr, ": got %d, golden %d", ids[i], g->ids[i]);
    fprintf(stderr, "\n");
}

/* decode(encode(x)) == x. SentencePiece cannot give back U+2581 (it is its
 * space mark), nor the extra dummy prefix of text after a special token. */
static bool round_trips(const si_tokenizer *t, const golden_case *g, const int32_t *ids, int64_t n) {
    int64_t len = si_tokenizer_decode(t, ids, n, SI_DECODE_SPECIAL, NULL, 0);
    char *out = malloc((size_t)len + 1);
    int64_t again = si_tokenizer_decode(t, ids, n, SI_DECODE_SPECIAL, out, (size_t)len + 1);
    bool same = again == len && (size_t)len == g->len && memcmp(out, g->text, g->len) == 0;
    if (!same) fprintf(stderr, "round trip of \"%.60s\" gave \"%.60s\"\n", g->text, out);
    free(out);
    return same;
}

static void check_golden(const si_tokenizer *t, const char *label, const char *name, bool round_trip) {
    bool spm = si_tokenizer_get_kind(t) == SI_TOKENIZER_SPM;
    golden_set s = golden_load(name);
    size_t exact = 0, rt_ok = 0, rt_n = 0;
    int shown = 0;
    for (size_t i = 0; i < s.n; i++) {
        const golden_case *g = &s.c[i];
        int64_t n;
        int32_t *ids = encode_all(t, g->text, g->len, g->special ? SI_ENCODE_SPECIAL : 0, &n);
        CHECKF(ids != NULL, "%s: encoding failed: %s", label, si_error_message());
        if (!ids) continue;
        if (n == g->n_ids && memcmp(ids, g->ids, sizeof(int32_t) * (size_t)n) == 0)
            exact++;
        else if (shown++ < 5)
            show_mismatch(label, g, ids, n);
        if (round_trip && !g->is_hex && !(spm && (g->special || strstr(g->text, "\xE2\x96\x81")))) {
            rt_n++;
            rt_ok += round_trips(t, g, ids, n);
        }
        free(ids);
    }
    printf("%s: %zu/%zu exact\n", label, exact, s.n);
    if (round_trip) printf("%s: decode(encode(x)) == x for %zu/%zu texts\n", label, rt_ok, rt_n);
    CHECK(exact == s.n);
    CHECK(rt_ok == rt_n);
    golden_free(&s);
}

static uint64_t fnv1a64_ids(const int32_t *ids, int64_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t i = 0; i < n; i++)
        for (int b = 0; b < 4; b++) {
            h ^= ((uint32_t)ids[i] >> (8 * b)) & 0xFF;
            h *= 0x100000001b3ull;
        }
    return h;
}

/* Whole books: the id count and hash of the reference's ids; prints the speed. */
static void check_books(const si_tokenizer *t, const char *label) {
    const char *path = si_test_source_path("tests/golden/tokenizer_books.jsonl");
    json_error_t err;
    FILE *f = fopen(path, "r");
    CHECKF(f != NULL, "cannot open %s", path);
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, &err);
        const char *tok = json_string_value(json_object_get(o, "tokenizer"));
        const char *file = json_string_value(json_object_get(o, "file"));
        const char *hash = json_string_value(json_object_get(o, "fnv1a64"));
        CHECKF(tok && file && hash, "%s: bad line", path);
        char rel[256];
        snprintf(rel, sizeof rel, "data/%s", file ? file : "");
        const char *book = tok && file && hash && strcmp(tok, label) == 0 ? si_test_shared_path(rel) : NULL;
        size_t len = 0;
        char *text = book ? si_read_file(book, 64u << 20, &len) : NULL;
        if (text) {
            /* Timed: one whole encoding (the counting pass), CPU time so
             * that a busy machine does not distort it. */
            struct timespec a, b;
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
            int64_t n_count = si_tokenizer_encode(t, text, len, 0, NULL, 0);
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
            double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
            int64_t n;
            int32_t *ids = encode_all(t, text, len, 0, &n);
            CHECK(n_count == n);
            char got[17];
            snprintf(got, sizeof got, "%016llx", (unsigned long long)fnv1a64_ids(ids, n));
            int64_t want = json_integer_value(json_object_get(o, "n_ids"));
            printf("%s: %s: %lld tokens (reference %lld), hash %s; %.2f MB encoded in %.3f s CPU\n", label, file,
                   (long long)n, (long long)want, strcmp(got, hash) == 0 ? "equal" : "DIFFERENT", (double)len / 1e6, s);
            CHECK(n == want);
            CHECK(strcmp(got, hash) == 0);
            free(ids);
            free(text);
        }
        json_decref(o);
    }
    if (f) fclose(f);
}

static void check_special_chatml(const si_tokenizer *t) {
    const char *text = "<|im_start|>user\nhi<|im_end|>";
    int32_t start = si_tokenizer_find(t, "<|im_start|>"), end = si_tokenizer_find(t, "<|im_end|>");
    CHECK(start >= 0 && end >= 0);
    int32_t ids[64];
    int64_t n = si_tokenizer_encode(t, text, strlen(text), SI_ENCODE_SPECIAL, ids, 64);
    CHECKF(n >= 3 && ids[0] == start && ids[n - 1] == end, "special ids not recognised (n=%lld)", (long long)n);
    n = si_tokenizer_encode(t, text, strlen(text), 0, ids, 64);
    for (int64_t i = 0; i < n; i++) CHECK(ids[i] != start && ids[i] != end);
    n = si_tokenizer_encode(t, "hi", 2, SI_ENCODE_BOS, ids, 64);
    CHECK(n >= 2 && ids[0] == si_tokenizer_bos(t));
    CHECK(si_tokenizer_is_eog(t, end));
    CHECK(si_tokenizer_is_eog(t, si_tokenizer_find(t, "<|endoftext|>")));
    CHECK(!si_tokenizer_is_eog(t, start));
    CHECK(si_tokenizer_token_type(t, start) == SI_TOKEN_CONTROL);
    CHECK(!si_tokenizer_add_bos(t));
    CHECK(si_tokenizer_chat_template(t) && strstr(si_tokenizer_chat_template(t), "<|im_start|>"));
}

/* Writes the Hugging Face files (into $SI_TOKENIZER_EXPORT/<sub> if set, for
 * make_tokenizer_golden.py --verify-export) and loads them back. */
static si_tokenizer *export_and_reload(const si_tokenizer *t, const char *sub, char *dir) {
    const char *base = getenv("SI_TOKENIZER_EXPORT");
    if (base && *base) mkdir(base, 0755);
    snprintf(dir, PATH_MAX, "%s/%s", base && *base ? base : si_test_tmpdir(), sub);
    int rc = si_tokenizer_save_hf(t, dir);
    CHECKF(rc == 0, "saving %s: %s", dir, si_error_message());
    si_tokenizer *r = rc == 0 ? si_tokenizer_load(dir) : NULL;
    CHECKF(r != NULL, "loading the export %s: %s", dir, si_error_message());
    if (!r) return NULL;
    CHECK(si_tokenizer_n_vocab(r) == si_tokenizer_n_vocab(t));
    CHECK(si_tokenizer_bos(r) == si_tokenizer_bos(t));
    CHECK(si_tokenizer_eos(r) == si_tokenizer_eos(t));
    CHECK(si_tokenizer_add_bos(r) == si_tokenizer_add_bos(t));
    const char *a = si_tokenizer_chat_template(t), *b = si_tokenizer_chat_template(r);
    CHECK((!a && !b) || (a && b && strcmp(a, b) == 0));
    for (int32_t id = 0; id < si_tokenizer_n_vocab(t); id++) {
        if (si_tokenizer_token_type(r, id) != si_tokenizer_token_type(t, id) ||
            strcmp(si_tokenizer_token_text(r, id), si_tokenizer_token_text(t, id)) != 0) {
            CHECKF(0, "exported token %d differs", id);
            break;
        }
    }
    printf("exported and reloaded %s\n", dir);
    return r;
}

/* Llama-2's tokenizer.model with a normalizer_spec appended (protobuf merges
 * a repeated message): the same bytes make_tokenizer_golden.py appends. */
static void check_spm_variant(const char *name, const char *extra, size_t n_extra, bool round_trip) {
    const char *path = si_test_shared_path("tokenizers/llama2/tokenizer.model");
    size_t n;
    char *data = path ? si_read_file(path, 1 << 24, &n) : NULL;
    if (!data) return;
    data = realloc(data, n + n_extra);
    memcpy(data + n, extra, n_extra);
    char file[64];
    snprintf(file, sizeof file, "%s.model", name);
    si_tokenizer *t = si_tokenizer_load(write_tmp(file, data, n + n_extra));
    CHECKF(t != NULL, "%s: %s", name, si_error_message());
    if (t) check_golden(t, name, name, round_trip);
    si_tokenizer_free(t);
    free(data);
}

/* Byte-level input that is not UTF-8: each invalid byte is its byte token;
 * decoding repairs them as from_utf8_lossy (one U+FFFD per maximal subpart).
 * Bytes that never occur in UTF-8 (C0, C1, F5..FF) have no token in
 * SmolLM2's vocabulary: they become the unknown token, <|endoftext|>. */
static void check_invalid_utf8_bytelevel(const si_tokenizer *t) {
    static const struct {
        const char *in, *out;
        int64_t n_ids;
    } cases[] = {{"a\xFF" "b", "a<|endoftext|>b", 3},
                 {"\xE6\x97", "\xEF\xBF\xBD", 2},
                 {"caf\xC3\xA9 \xBF\xBF", "caf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD", -1},
                 {"\xF0\x9F\x98" "a", "\xEF\xBF\xBD" "a", 4}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t n;
        int32_t *ids = encode_all(t, cases[i].in, strlen(cases[i].in), 0, &n);
        char out[64];
        int64_t len = ids ? si_tokenizer_decode(t, ids, n, SI_DECODE_SPECIAL, out, sizeof out) : -1;
        CHECKF(len >= 0 && strcmp(out, cases[i].out) == 0, "invalid UTF-8 case %zu gave \"%s\"", i, out);
        CHECKF(cases[i].n_ids < 0 || n == cases[i].n_ids, "invalid UTF-8 case %zu: %lld ids", i, (long long)n);
        free(ids);
    }
}

/* SmolLM2's vocabulary with Llama-3's pre-tokenizer, as a tokenizer.json. */
static si_tokenizer *llama3_variant(const char *smollm2_dir) {
    char src[PATH_MAX + 32], dir[PATH_MAX], dst[PATH_MAX + 32];
    snprintf(src, sizeof src, "%s/tokenizer.json", smollm2_dir);
    snprintf(dir, sizeof dir, "%s/llama3regex", si_test_tmpdir());
    snprintf(dst, sizeof dst, "%s/tokenizer.json", dir);
    mkdir(dir, 0755);
    json_error_t err;
    json_t *root = json_load_file(src, 0, &err);
    CHECKF(root != NULL, "%s: %s", src, err.text);
    if (!root) return NULL;
    json_object_set_new(root, "pre_tokenizer",
                        json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b, s:b}]}", "type", "Sequence",
                                  "pretokenizers", "type", "Split", "pattern", "Regex", LLAMA3_REGEX, "behavior",
                                  "Isolated", "invert", 0, "type", "ByteLevel", "add_prefix_space", 0,
                                  "trim_offsets", 1, "use_regex", 0));
    json_object_set_new(json_object_get(root, "model"), "ignore_merges", json_true());
    CHECK(json_dump_file(root, dst, 0) == 0);
    json_decref(root);
    si_tokenizer *t = si_tokenizer_load(dst);
    CHECKF(t != NULL, "%s: %s", dst, si_error_message());
    return t;
}

int main(void) {
    si_tokenizer *smol = load_smollm2(), *llama = load_llama2();
    if (!smol && !llama) si_test_skip("neither the default model nor ../shared/tokenizers/llama2 is present");
    char dir[PATH_MAX];
    if (smol) {
        check_golden(smol, "smollm2", "smollm2", true);
        check_books(smol, "smollm2");
        check_special_chatml(smol);
        check_invalid_utf8_bytelevel(smol);
        si_tokenizer *r = export_and_reload(smol, "smollm2", dir);
        if (r) check_golden(r, "smollm2 (exported tokenizer.json)", "smollm2", true);
        si_tokenizer *l3 = r ? llama3_variant(dir) : NULL;
        if (l3) check_golden(l3, "llama3 regex on smollm2 vocabulary", "llama3regex", true);
        si_tokenizer_free(l3);
        si_tokenizer_free(r);
    }
    if (llama) {
        check_golden(llama, "llama2", "llama2", true);
        check_books(llama, "llama2");
        CHECK(si_tokenizer_add_bos(llama) && si_tokenizer_bos(llama) == 1 && si_tokenizer_eos(llama) == 2);
        CHECK(si_tokenizer_is_eog(llama, 2));
        check_spm_variant("llama2_rmws", "\x1a\x02\x20\x01", 4, false); /* remove_extra_whitespaces */
        check_spm_variant("llama2_noprefix", "\x1a\x02\x18\x00", 4, true); /* no add_dummy_prefix */
        si_tokenizer *r = export_and_reload(llama, "llama2", dir);
        if (r) check_golden(r, "llama2 (exported tokenizer.model)", "llama2", true);
        si_tokenizer_free(r);
    }
    si_tokenizer_free(smol);
    si_tokenizer_free(llama);
    return si_test_finish("test_tokenizer");
}
