/* tokenizer/save_gguf.h: a tokenizer as GGUF metadata (tokenizer.ggml.* and
 * tokenizer.chat_template), the inverse of si_tokenizer_from_gguf. */
#ifndef SI_TOKENIZER_SAVE_GGUF_H
#define SI_TOKENIZER_SAVE_GGUF_H

#include "tokenizer.h"

typedef struct si_gguf_writer si_gguf_writer;

/* Adds the tokenizer's keys to w (before its data begins). -1 with an error
 * when the tokenizer has settings GGUF cannot express (a byte-level BPE whose
 * pre-tokenizer is not one of the named ones). */
int si_tokenizer_write_gguf_meta(const si_tokenizer *t, si_gguf_writer *w);

#endif
