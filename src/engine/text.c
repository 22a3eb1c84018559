/* engine/text.c: the public tokenizer functions and the streaming text
 * output, on top of tokenizer/. */
#include "engine.h"

#include "../util/error.h"

#include <stdlib.h>

int64_t si_tokenize(const si_tokenizer *t, const char *text, size_t len, int flags, int32_t *out, int64_t cap) {
    si_clear_error();
    return si_tokenizer_encode(t, text, len, flags, out, cap);
}

int64_t si_detokenize(const si_tokenizer *t, const int32_t *ids, int64_t n, int flags, char *out, size_t cap) {
    si_clear_error();
    return si_tokenizer_decode(t, ids, n, flags, out, cap);
}

int32_t si_token_bos(const si_tokenizer *t) { return si_tokenizer_bos(t); }
int32_t si_token_eos(const si_tokenizer *t) { return si_tokenizer_eos(t); }
bool si_token_is_eog(const si_tokenizer *t, int32_t id) { return si_tokenizer_is_eog(t, id); }
int32_t si_token_find(const si_tokenizer *t, const char *text) { return si_tokenizer_find(t, text); }
const char *si_tokenizer_template(const si_tokenizer *t) { return si_tokenizer_chat_template(t); }
bool si_tokenizer_wants_bos(const si_tokenizer *t) { return si_tokenizer_add_bos(t); }

struct si_streamer {
    const si_tokenizer *tok;
    si_detok_state st;
    char buf[SI_DETOK_MIN_CAP];
};

si_streamer *si_streamer_create(const si_tokenizer *t, int flags) {
    si_streamer *s = si_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->tok = t;
    si_detok_init(&s->st, flags);
    return s;
}

void si_streamer_free(si_streamer *s) { free(s); }

const char *si_streamer_push(si_streamer *s, int32_t id) {
    si_detok_push(s->tok, &s->st, id, s->buf, sizeof s->buf);
    return s->buf;
}

const char *si_streamer_flush(si_streamer *s) {
    si_detok_flush(&s->st, s->buf, sizeof s->buf);
    return s->buf;
}
