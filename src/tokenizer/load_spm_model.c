/* tokenizer/load_spm_model.c: SentencePiece tokenizer.model (a ModelProto):
 * pieces, trainer_spec (model type, byte fallback, special ids) and
 * normalizer_spec, read with the bounded protobuf reader. */
#include "protobuf.h"
#include "tokenizer_internal.h"
#include "utf8.h"
#include "util/error.h"
#include "util/mapped_file.h"

#include <stdlib.h>
#include <string.h>

/* Field numbers of sentencepiece_model.proto. */
enum { MODEL_PIECES = 1, MODEL_TRAINER = 2, MODEL_NORMALIZER = 3, MODEL_DENORMALIZER = 5 };
enum { PIECE_TEXT = 1, PIECE_SCORE = 2, PIECE_TYPE = 3 };
enum {
    TRAINER_MODEL_TYPE = 3,
    TRAINER_WS_SUFFIX = 24,
    TRAINER_BYTE_FALLBACK = 35,
    TRAINER_UNK_ID = 40,
    TRAINER_BOS_ID = 41,
    TRAINER_EOS_ID = 42,
    TRAINER_PAD_ID = 43,
    TRAINER_UNK_SURFACE = 44,
};
enum { NORM_NAME = 1, NORM_CHARSMAP = 2, NORM_DUMMY_PREFIX = 3, NORM_REMOVE_WS = 4, NORM_ESCAPE_WS = 5 };
enum { MODEL_TYPE_UNIGRAM = 1, MODEL_TYPE_BPE = 2 };

#define MAX_UNK_SURFACE 64

static si_pb_reader sub_reader(const si_pb_reader *r, const unsigned char *d, size_t n) {
    return (si_pb_reader){d, d + n, r->base, r->source};
}

static int read_bool(si_pb_reader *r, bool *out) {
    uint64_t v;
    if (si_pb_varint(r, &v) != 0) return -1;
    *out = v != 0;
    return 0;
}

static int read_piece(si_tokenizer *t, si_pb_reader *r) {
    const unsigned char *text = NULL;
    size_t len = 0;
    float score = 0;
    uint64_t type = SI_TOKEN_NORMAL;
    uint32_t field, bits = 0;
    int wire, rc;
    while ((rc = si_pb_next(r, &field, &wire)) == 0) {
        if (field == PIECE_TEXT && wire == SI_PB_BYTES) {
            rc = si_pb_bytes(r, &text, &len);
        } else if (field == PIECE_SCORE && wire == SI_PB_FIXED32) {
            rc = si_pb_fixed32(r, &bits);
            score = si_pb_float(bits);
        } else if (field == PIECE_TYPE && wire == SI_PB_VARINT) {
            rc = si_pb_varint(r, &type);
        } else {
            rc = si_pb_skip(r, wire);
        }
        if (rc != 0) return -1;
    }
    if (rc < 0) return -1;
    int32_t id = t->vocab.n;
    if (!text || len == 0) return si_fail("%s: piece %d has no text", t->source, id);
    if (si_utf8_valid_run(text, len) != len) return si_fail("%s: piece %d is not valid UTF-8", t->source, id);
    if (type < SI_TOKEN_NORMAL || type > SI_TOKEN_BYTE)
        return si_fail("%s: piece %d has unknown type %llu", t->source, id, (unsigned long long)type);
    if (si_vocab_add(&t->vocab, (const char *)text, len, score, (int)type) < 0) {
        si_error_prefix("%s", t->source);
        return -1;
    }
    return 0;
}

typedef struct {
    int32_t model_type, unk, bos, eos, pad;
} trainer_spec;

static int read_trainer(si_tokenizer *t, si_pb_reader *r, trainer_spec *ts) {
    uint32_t field;
    int wire, rc;
    while ((rc = si_pb_next(r, &field, &wire)) == 0) {
        bool suffix = false;
        const unsigned char *d;
        size_t n;
        if (wire != SI_PB_VARINT && field != TRAINER_UNK_SURFACE) {
            rc = si_pb_skip(r, wire);
        } else if (field == TRAINER_MODEL_TYPE) {
            rc = si_pb_int32(r, &ts->model_type);
        } else if (field == TRAINER_WS_SUFFIX) {
            rc = read_bool(r, &suffix);
            if (rc == 0 && suffix) return si_fail("%s: treat_whitespace_as_suffix is not supported", t->source);
        } else if (field == TRAINER_BYTE_FALLBACK) {
            rc = read_bool(r, &t->byte_fallback);
        } else if (field == TRAINER_UNK_ID) {
            rc = si_pb_int32(r, &ts->unk);
        } else if (field == TRAINER_BOS_ID) {
            rc = si_pb_int32(r, &ts->bos);
        } else if (field == TRAINER_EOS_ID) {
            rc = si_pb_int32(r, &ts->eos);
        } else if (field == TRAINER_PAD_ID) {
            rc = si_pb_int32(r, &ts->pad);
        } else if (field == TRAINER_UNK_SURFACE && wire == SI_PB_BYTES) {
            if (si_pb_bytes(r, &d, &n) != 0) return -1;
            if (n > MAX_UNK_SURFACE)
                return si_fail("%s: unk_surface longer than %d bytes", t->source, MAX_UNK_SURFACE);
            free(t->unk_surface);
            if (!(t->unk_surface = si_strndup((const char *)d, n))) return -1;
        } else {
            rc = si_pb_skip(r, wire);
        }
        if (rc != 0) return -1;
    }
    return rc < 0 ? -1 : 0;
}

static int read_normalizer(si_tokenizer *t, si_pb_reader *r, bool denormalizer) {
    uint32_t field;
    int wire, rc;
    while ((rc = si_pb_next(r, &field, &wire)) == 0) {
        const unsigned char *d;
        size_t n;
        if (field == NORM_CHARSMAP && wire == SI_PB_BYTES) {
            rc = si_pb_bytes(r, &d, &n);
            /* A precompiled character map means NFKC-style rules we do not implement. */
            if (rc == 0 && n > 0)
                return si_fail("%s: the %s has a precompiled character map (e.g. nmt_nfkc); only the identity "
                               "normalization is supported",
                               t->source, denormalizer ? "denormalizer" : "normalizer");
        } else if (denormalizer || wire != SI_PB_VARINT) {
            rc = si_pb_skip(r, wire);
        } else if (field == NORM_DUMMY_PREFIX) {
            rc = read_bool(r, &t->add_dummy_prefix);
        } else if (field == NORM_REMOVE_WS) {
            rc = read_bool(r, &t->remove_extra_whitespaces);
        } else if (field == NORM_ESCAPE_WS) {
            rc = read_bool(r, &t->escape_whitespaces);
        } else {
            rc = si_pb_skip(r, wire);
        }
        if (rc != 0) return -1;
    }
    return rc < 0 ? -1 : 0;
}

static int parse_model(si_tokenizer *t, si_pb_reader *r, trainer_spec *ts) {
    uint32_t field;
    int wire, rc;
    while ((rc = si_pb_next(r, &field, &wire)) == 0) {
        const unsigned char *d;
        size_t n;
        if (wire != SI_PB_BYTES || (field != MODEL_PIECES && field != MODEL_TRAINER && field != MODEL_NORMALIZER &&
                                    field != MODEL_DENORMALIZER)) {
            if (si_pb_skip(r, wire) != 0) return -1;
            continue;
        }
        if (si_pb_bytes(r, &d, &n) != 0) return -1;
        si_pb_reader sub = sub_reader(r, d, n);
        if (field == MODEL_PIECES) rc = read_piece(t, &sub);
        else if (field == MODEL_TRAINER) rc = read_trainer(t, &sub, ts);
        else rc = read_normalizer(t, &sub, field == MODEL_DENORMALIZER);
        if (rc != 0) return -1;
    }
    return rc < 0 ? -1 : 0;
}

static int checked_id(const si_tokenizer *t, int32_t id, const char *what, bool required, int32_t *out) {
    if ((id >= 0 && id < t->vocab.n) || (id < 0 && !required)) {
        *out = id < 0 ? -1 : id;
        return 0;
    }
    return si_fail("%s: %s id %d is not a piece (%d pieces)", t->source, what, id, t->vocab.n);
}

si_tokenizer *si_tokenizer_from_spm_bytes(const unsigned char *data, size_t size, const char *source) {
    si_tokenizer *t = si_tokenizer_alloc(SI_TOKENIZER_SPM, source);
    if (!t) return NULL;
    /* Protobuf defaults where a field is absent. */
    t->add_dummy_prefix = t->remove_extra_whitespaces = t->escape_whitespaces = true;
    trainer_spec ts = {MODEL_TYPE_UNIGRAM, 0, 1, 2, -1};
    si_pb_reader r = {data, data + size, data, t->source};
    if (size == 0) {
        si_set_error("%s: empty file", source);
        goto fail;
    }
    if (parse_model(t, &r, &ts) != 0) goto fail;
    if (t->vocab.n == 0) {
        si_set_error("%s: no pieces (not a SentencePiece model?)", source);
        goto fail;
    }
    if (ts.model_type != MODEL_TYPE_BPE) {
        si_set_error("%s: model_type %d is not supported (only BPE, type 2; %s)", source, ts.model_type,
                     ts.model_type == MODEL_TYPE_UNIGRAM ? "this is a unigram model" : "unknown type");
        goto fail;
    }
    if (checked_id(t, ts.unk, "unk", true, &t->unk) || checked_id(t, ts.bos, "bos", false, &t->bos) ||
        checked_id(t, ts.eos, "eos", false, &t->eos) || checked_id(t, ts.pad, "pad", false, &t->pad))
        goto fail;
    /* A tokenizer.model says nothing about BOS; SentencePiece models (Llama,
     * Mistral, Vicuna) are used with it, as their configs say. */
    t->add_bos = true;
    if (si_tokenizer_finish(t) != 0) goto fail;
    for (int b = 0; b < 256 && t->byte_fallback; b++) {
        if (t->byte_token[b] >= 0) continue;
        /* sentencepiece refuses such a model too */
        si_set_error("%s: byte_fallback is set but piece <0x%02X> is missing (all 256 byte pieces are needed)", source, b);
        goto fail;
    }
    return t;
fail:
    si_tokenizer_free(t);
    return NULL;
}

si_tokenizer *si_tokenizer_load_spm_model(const char *path) {
    si_mapped_file m;
    if (si_map_file(path, &m) != 0) return NULL;
    si_tokenizer *t = si_tokenizer_from_spm_bytes(m.data, m.size, path);
    si_unmap_file(&m);
    return t;
}
