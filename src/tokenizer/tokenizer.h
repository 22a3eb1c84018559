/* tokenizer/tokenizer.h: text <-> token ids, exactly as the reference libraries do it.
 *
 * Two algorithms behind one type:
 *  - SentencePiece BPE (Llama-2, Vicuna, Mistral): pieces with scores, the
 *    dummy-prefix space, byte fallback; loaded from tokenizer.model (protobuf)
 *    or GGUF metadata (tokenizer.ggml.model = "llama").
 *  - Byte-level BPE (GPT-2 style: SmolLM2, Llama-3): a pre-tokenizer regex
 *    (PCRE2), byte-to-unicode mapping, merges by rank; loaded from
 *    tokenizer.json or GGUF metadata (tokenizer.ggml.model = "gpt2").
 * Special (added/control) tokens, BOS/EOS and the chat template come from the
 * same metadata (plus tokenizer_config.json in a Hugging Face folder). */
#ifndef SI_TOKENIZER_TOKENIZER_H
#define SI_TOKENIZER_TOKENIZER_H

#include "swiftinfer.h" /* SI_ENCODE_* and SI_DECODE_* flags */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct si_gguf si_gguf;
typedef struct si_tokenizer si_tokenizer;

typedef enum { SI_TOKENIZER_SPM = 1, SI_TOKENIZER_BPE = 2 } si_tokenizer_kind;

/* Token attributes, numbered as GGUF's tokenizer.ggml.token_type. */
typedef enum {
    SI_TOKEN_NORMAL = 1,
    SI_TOKEN_UNKNOWN = 2,
    SI_TOKEN_CONTROL = 3,
    SI_TOKEN_USER_DEFINED = 4,
    SI_TOKEN_UNUSED = 5,
    SI_TOKEN_BYTE = 6,
} si_token_type;

#define SI_TOKENIZER_MAX_VOCAB (1 << 22)

/* From an open GGUF's metadata; NULL with an error naming the file and problem. */
si_tokenizer *si_tokenizer_from_gguf(const si_gguf *g);
/* path: tokenizer.json, tokenizer.model, a .gguf file, or a Hugging Face folder
 * (tokenizer.json preferred, else tokenizer.model; tokenizer_config.json, if
 * present, supplies BOS/EOS, add_bos_token and the chat template). */
si_tokenizer *si_tokenizer_load(const char *path);
void si_tokenizer_free(si_tokenizer *t);

si_tokenizer_kind si_tokenizer_get_kind(const si_tokenizer *t);
int32_t si_tokenizer_n_vocab(const si_tokenizer *t);
int32_t si_tokenizer_bos(const si_tokenizer *t); /* -1 if none */
int32_t si_tokenizer_eos(const si_tokenizer *t); /* -1 if none */
/* Whether the model's own metadata asks for BOS at the start of a sequence. */
bool si_tokenizer_add_bos(const si_tokenizer *t);
/* Tokens that end a generation: EOS plus end-of-turn tokens the vocabulary
 * defines (<|im_end|>, <|eot_id|>, <|end_of_text|>, </s>, ...). */
bool si_tokenizer_is_eog(const si_tokenizer *t, int32_t id);
si_token_type si_tokenizer_token_type(const si_tokenizer *t, int32_t id);
/* The vocabulary entry as stored (e.g. "▁the", "Ġthe", "<0x0A>"); NULL if out of range. */
const char *si_tokenizer_token_text(const si_tokenizer *t, int32_t id);
/* Id of an exact vocabulary entry (special tokens such as "<|im_start|>"), or -1. */
int32_t si_tokenizer_find(const si_tokenizer *t, const char *text);
/* The Jinja chat template from the metadata, or NULL. */
const char *si_tokenizer_chat_template(const si_tokenizer *t);

/* Encodes len bytes of text (any bytes, invalid UTF-8 included). Writes up to
 * cap ids and returns the total number of ids (which may exceed cap: call again
 * with a larger buffer), or -1 on error. Safe to call from several threads.
 * With SI_ENCODE_SPECIAL, control and user-defined tokens (and SentencePiece's
 * <unk>) are matched leftmost-longest, as Hugging Face matches added tokens;
 * without it no token text is special (Hugging Face would still split its
 * non-special added tokens). SentencePiece normalizes each piece of text
 * between special tokens on its own, dummy prefix included (Hugging Face's
 * legacy Llama behaviour). Invalid UTF-8: SentencePiece turns each bad byte
 * into U+FFFD (as sentencepiece does); byte-level BPE makes each bad byte a
 * pre-token of its own (Hugging Face cannot take such input). */
int64_t si_tokenizer_encode(const si_tokenizer *t, const char *text, size_t len, int flags, int32_t *out,
                            int64_t cap);

/* Decodes a whole sequence as the reference libraries do (SentencePiece drops
 * the leading dummy-prefix space). Writes up to cap-1 bytes plus a NUL; returns
 * the full byte length, or -1 on error. */
int64_t si_tokenizer_decode(const si_tokenizer *t, const int32_t *ids, int64_t n, int flags, char *out,
                            size_t cap);

/* Streaming decoder: feed ids one at a time, get only whole UTF-8 characters
 * back (a multi-byte character split across tokens is held until complete;
 * invalid bytes become U+FFFD). */
typedef struct {
    unsigned char pending[8];
    int n_pending;
    bool at_start; /* true before the first emitted byte (SentencePiece's leading space rule) */
    int flags;
    int repair; /* how invalid bytes become U+FFFD (set from the tokenizer on each push) */
} si_detok_state;

/* Enough room for whatever one si_detok_push can write: a vocabulary entry is
 * at most 1 KiB, and every byte of it (plus 3 pending) could become U+FFFD. */
#define SI_DETOK_MIN_CAP 4096

void si_detok_init(si_detok_state *st, int flags);
/* Appends the text completed by token id to out (at most cap bytes, NUL-terminated
 * when cap > 0); returns the number of bytes written. cap >= SI_DETOK_MIN_CAP is
 * always enough; with less, a longer piece is cut at a character boundary and
 * the rest is lost (real vocabularies need a few hundred bytes at most). */
size_t si_detok_push(const si_tokenizer *t, si_detok_state *st, int32_t id, char *out, size_t cap);
/* Emits what is still pending (as U+FFFD when incomplete). */
size_t si_detok_flush(si_detok_state *st, char *out, size_t cap);

/* Writes the tokenizer files of a Hugging Face folder into dir: tokenizer.json
 * for byte-level BPE, tokenizer.model for SentencePiece, and
 * tokenizer_config.json (BOS/EOS, add_bos_token, chat template) for both. */
int si_tokenizer_save_hf(const si_tokenizer *t, const char *dir);

#endif
