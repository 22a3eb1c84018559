/* fuzz/seeds/make_seeds.h: the seed-corpus generator (si_fuzz_make_seeds),
 * which writes fuzz/corpus/<harness>/ from real files: the default model's
 * metadata, Llama-2's tokenizer.model, the Llama-3 test tokenizer and
 * MT-Bench. Run by hand when a format or a harness's input layout changes;
 * the seeds it writes are committed. */
#ifndef SI_FUZZ_MAKE_SEEDS_H
#define SI_FUZZ_MAKE_SEEDS_H

#include <stddef.h>
#include <stdint.h>

/* A growing byte buffer; out of memory ends the program (a tool, not the library). */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} seed_buf;

void seed_put(seed_buf *b, const void *data, size_t n);
void seed_puts(seed_buf *b, const char *s); /* without the NUL */
void seed_put_byte(seed_buf *b, uint8_t c);
/* Writes corpus/<harness>/<name> and frees nothing; the program's exit status records failures. */
void seed_write(const char *harness, const char *name, const void *data, size_t n);
void seed_write_buf(const char *harness, const char *name, seed_buf *b); /* and frees b */
/* A whole file into b (NUL appended past b->n); -1 if absent. */
int seed_read(const char *path, seed_buf *b);
_Noreturn void seed_die(const char *fmt, ...);

/* The real tokenizer files (NULL when absent). */
const char *seed_model_path(void);
const char *seed_llama2_path(void);

/* make_seeds_files.c: the binary and file-format seeds. */
void seeds_gguf_and_tokenizers(const char *out_tmp);
void seeds_safetensors(const char *out_tmp);
/* make_seeds_text.c: chat, tokenize and server seeds from MT-Bench. */
void seeds_text(void);

#endif
