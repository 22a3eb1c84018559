/* fuzz/harness.h: the fuzz harnesses, one per reader of untrusted bytes.
 *
 * Each si_fuzz_<name> feeds one input to the library the way the engine
 * would meet it (a model file, a tokenizer file, a chat, a request body),
 * then checks what came back against the documented limits and invariants.
 * Bad input must give a clean error; a broken invariant is a finding and
 * aborts (si_fuzz_fail). The same bodies are compiled into the libFuzzer
 * targets (fuzz_entry.c, the SI_FUZZ build) and into the test that replays
 * the seed and regression corpora (tests/test_fuzz_regressions.c), so CI
 * runs them under gcc and the ASan build as well. */
#ifndef SI_FUZZ_HARNESS_H
#define SI_FUZZ_HARNESS_H

#include "swiftinfer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int (*si_fuzz_fn)(const uint8_t *data, size_t size);

int si_fuzz_gguf(const uint8_t *data, size_t size);
int si_fuzz_safetensors(const uint8_t *data, size_t size);
int si_fuzz_safetensors_index(const uint8_t *data, size_t size);
int si_fuzz_hf_config(const uint8_t *data, size_t size);
int si_fuzz_tokenizer_json(const uint8_t *data, size_t size);
int si_fuzz_tokenizer_model(const uint8_t *data, size_t size);
int si_fuzz_chat_template(const uint8_t *data, size_t size);
int si_fuzz_tokenize(const uint8_t *data, size_t size);
int si_fuzz_server_request(const uint8_t *data, size_t size);

typedef struct {
    const char *name; /* fuzz/corpus/<name>, fuzz/regressions/<name>, fuzz_<name> */
    si_fuzz_fn fn;
} si_fuzz_harness;

extern const si_fuzz_harness si_fuzz_harnesses[];
extern const int si_fuzz_n_harnesses;

/* ---- shared by the harnesses (fuzz_common.c) ---- */

/* A broken invariant: prints the message (and the input's name, when the
 * replay test set one) and aborts, which libFuzzer records as a crash. */
#if defined(__GNUC__)
#define SI_FUZZ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SI_FUZZ_PRINTF(a, b)
#endif
_Noreturn void si_fuzz_fail(const char *fmt, ...) SI_FUZZ_PRINTF(1, 2);
_Noreturn void si_fuzz_fail_at(const char *file, int line, const char *cond, const char *fmt, ...) SI_FUZZ_PRINTF(4, 5);
/* SI_FUZZ_CHECK(cond, fmt, ...): fails with the condition and the message. */
#define SI_FUZZ_CHECK(cond, ...)                                            \
    do {                                                                    \
        if (!(cond)) si_fuzz_fail_at(__FILE__, __LINE__, #cond, __VA_ARGS__); \
    } while (0)
/* Inputs the reader under test accepted (counted by each harness), so that
 * the replay test can say how many of its seeds really got past parsing. */
extern long si_fuzz_accepted;

/* Names the input being replayed in failure messages (NULL: none). */
void si_fuzz_set_input_name(const char *name);

/* A refused input: the error must name the file (name: the path or name
 * the reader was given). */
void si_fuzz_refused(const char *name);
/* Splits an input at its first NUL byte: returns the length before it; rest
 * and rest_len get the bytes after it (rest NULL when there is no NUL). */
size_t si_fuzz_split(const uint8_t *data, size_t size, const uint8_t **rest, size_t *rest_len);
/* The checks on every tensor of an open safetensors reader; with data, also
 * that each lies inside those size bytes past their 8-byte length prefix. */
typedef struct si_safetensors si_safetensors;
void si_fuzz_check_safetensors(const si_safetensors *s, const uint8_t *data, size_t size);

/* A file holding exactly these bytes, for readers that take a path: one
 * memfd per process, rewritten on each call ("/proc/self/fd/N"). */
const char *si_fuzz_memfile(const void *data, size_t size);
/* A scratch folder of this process (removed at exit), and writing name in it
 * (data NULL: removes it). The path is returned in a buffer reused by the
 * next call. */
const char *si_fuzz_dir(void);
const char *si_fuzz_dir_put(const char *name, const void *data, size_t size);

/* Real tokenizers, loaded once: SmolLM2's byte-level BPE (from the default
 * model), Llama-2's SentencePiece (../shared) and the small Llama-3
 * byte-level BPE with ignore_merges (tests/golden/templates). NULL when the
 * file is absent; si_fuzz_tokenizer_path says where it was looked for. */
typedef enum { SI_FUZZ_TOK_SMOLLM2, SI_FUZZ_TOK_LLAMA2, SI_FUZZ_TOK_LLAMA3, SI_FUZZ_N_TOK } si_fuzz_tok;
const si_tokenizer *si_fuzz_tokenizer(si_fuzz_tok which);
const char *si_fuzz_tokenizer_path(si_fuzz_tok which);

/* ---- tokenizer checks (fuzz_tokenizer_checks.c) ---- */

/* Encodes text and decodes the ids back (whole, cut short, and streamed),
 * checking: the count is the same with any buffer, ids are in the
 * vocabulary, the decoded text is valid UTF-8 and the same whole or
 * streamed, a short buffer gets a NUL-terminated prefix, and, when
 * round_trip, decoding gives the text back. strict: encoding must not fail
 * (a real tokenizer; a fuzzed one may legitimately refuse, e.g. a regex
 * over its match limit). */
void si_fuzz_check_encode(const si_tokenizer *t, const uint8_t *text, size_t n, int enc_flags, int dec_flags,
                          bool strict, bool round_trip);
/* Decodes ids (any values: out of range ones must be refused) whole and
 * streamed, with the same checks. */
void si_fuzz_check_decode(const si_tokenizer *t, const int32_t *ids, int64_t n, int dec_flags);
/* Whether decode(encode(text)) must give text back with this tokenizer
 * and these flags (valid UTF-8 whose every byte the vocabulary can spell,
 * and no special token spelled out on either side). */
bool si_fuzz_round_trips(const si_tokenizer *t, const uint8_t *text, size_t n, int enc_flags, int dec_flags);
/* A loaded (possibly fuzzed) tokenizer put through fixed samples: texts,
 * its own special tokens, ids at both ends of its vocabulary, and its chat
 * template when it names one. */
void si_fuzz_exercise_tokenizer(const si_tokenizer *t);

#endif
