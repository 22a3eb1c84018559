/* tokenizer/save_spm_model.c: writes a SentencePiece tokenizer.model
 * (ModelProto: pieces, a BPE trainer_spec with the special ids, and the
 * identity normalizer_spec with our whitespace settings). */
#include "protobuf.h"
#include "tokenizer_internal.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>


/* Field numbers of sentencepiece_model.proto (see load_spm_model.c). */
enum { MODEL_PIECES = 1, MODEL_TRAINER = 2, MODEL_NORMALIZER = 3 };

static void put_token_text(si_pb_writer *w, uint32_t field, const si_tokenizer *t, int32_t id) {
    if (id < 0) return;
    size_t len;
    const char *s = si_vocab_text(&t->vocab, id, &len);
    si_pb_put_bytes(w, field, s, len);
}

static void put_trainer(si_pb_writer *w, const si_tokenizer *t) {
    size_t start = si_pb_begin(w);
    si_pb_put_varint(w, 3, 2); /* model_type = BPE */
    si_pb_put_int32(w, 4, t->vocab.n);
    si_pb_put_varint(w, 35, t->byte_fallback);
    si_pb_put_int32(w, 40, t->unk);
    si_pb_put_int32(w, 41, t->bos);
    si_pb_put_int32(w, 42, t->eos);
    si_pb_put_int32(w, 43, t->pad);
    si_pb_put_bytes(w, 44, t->unk_surface, strlen(t->unk_surface));
    put_token_text(w, 45, t, t->unk);
    put_token_text(w, 46, t, t->bos);
    put_token_text(w, 47, t, t->eos);
    put_token_text(w, 48, t, t->pad);
    si_pb_end(w, MODEL_TRAINER, start);
}

static void put_normalizer(si_pb_writer *w, const si_tokenizer *t) {
    size_t start = si_pb_begin(w);
    si_pb_put_bytes(w, 1, "identity", 8);
    si_pb_put_varint(w, 3, t->add_dummy_prefix);
    si_pb_put_varint(w, 4, t->remove_extra_whitespaces);
    si_pb_put_varint(w, 5, t->escape_whitespaces);
    si_pb_end(w, MODEL_NORMALIZER, start);
}

int si_tokenizer_save_spm_model(const si_tokenizer *t, const char *path) {
    if (t->vocab.n_duplicates)
        return si_fail("%s: %d pieces repeat an earlier piece; SentencePiece requires unique pieces", path,
                       t->vocab.n_duplicates);
    if (t->unk < 0) return si_fail("%s: SentencePiece requires an unknown piece", path);
    si_pb_writer w = {0};
    for (int32_t id = 0; id < t->vocab.n; id++) {
        size_t start = si_pb_begin(&w);
        put_token_text(&w, 1, t, id);
        si_pb_put_float(&w, 2, t->vocab.tok[id].score);
        si_pb_put_varint(&w, 3, (uint64_t)t->vocab.tok[id].type);
        si_pb_end(&w, MODEL_PIECES, start);
    }
    put_trainer(&w, t);
    put_normalizer(&w, t);
    if (w.failed) {
        si_pb_writer_free(&w);
        return si_fail("%s: out of memory", path);
    }
    FILE *f = fopen(path, "wb");
    int rc = 0;
    if (!f || fwrite(w.data, 1, w.len, f) != w.len) rc = si_fail("%s: cannot write: %s", path, strerror(errno));
    if (f && fclose(f) != 0 && rc == 0) rc = si_fail("%s: cannot write: %s", path, strerror(errno));
    si_pb_writer_free(&w);
    return rc;
}
