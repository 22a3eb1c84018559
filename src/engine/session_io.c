/* engine/session_io.c: a session's cache to a file and back, so a server can
 * keep conversations across restarts. The format is versioned and every size
 * is checked against the session it is loaded into:
 *   header (fixed-width fields, native byte order, checked by a marker),
 *   K cache bytes, V cache bytes, then the last logits if there are any.
 * A file for another model, another cache shape, another byte order or of
 * the wrong length is refused with an error; nothing is changed then. */
#include "engine.h"

#include "../util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "SISESS\r\n"
#define VERSION 1
#define BYTE_ORDER_MARK 0x01020304u

typedef struct {
    char magic[8];
    uint32_t version, byte_order, header_bytes;
    uint32_t n_layers, kv_dim, n_vocab, elem_bytes;
    int32_t sinks, window, chunk, slots;
    int32_t dense, has_logits;
    int64_t pos_offset, n_seen;
    uint64_t kv_bytes;    /* of K (and of V) */
    uint64_t total_bytes; /* of the whole file */
} file_header;

static size_t half_bytes(const si_kvcache *c) { return (size_t)c->n_layers * c->slots * c->kv_dim * c->elem_bytes; }

static void describe(const si_session *s, file_header *h) {
    const si_kvcache *c = &s->cache;
    memset(h, 0, sizeof *h);
    memcpy(h->magic, MAGIC, 8);
    h->version = VERSION;
    h->byte_order = BYTE_ORDER_MARK;
    h->header_bytes = sizeof *h;
    h->n_layers = (uint32_t)c->n_layers;
    h->kv_dim = (uint32_t)c->kv_dim;
    h->n_vocab = (uint32_t)s->model->llama->hp.n_vocab;
    h->elem_bytes = (uint32_t)c->elem_bytes;
    h->sinks = c->cfg.sinks;
    h->window = c->cfg.window;
    h->chunk = c->cfg.chunk;
    h->slots = c->slots;
    h->dense = c->cfg.no_evict;
    h->has_logits = s->has_logits;
    h->pos_offset = c->cfg.pos_offset;
    h->n_seen = c->n_seen;
    h->kv_bytes = half_bytes(c);
    h->total_bytes = sizeof *h + 2 * h->kv_bytes + (s->has_logits ? (uint64_t)h->n_vocab * sizeof(float) : 0);
}

int si_session_save(const si_session *s, const char *path) {
    si_clear_error();
    file_header h;
    describe(s, &h);
    size_t half = (size_t)h.kv_bytes;
    char *host = si_malloc(half);
    if (!host) return -1;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        free(host);
        return si_fail("%s: path too long", path);
    }
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(&h, sizeof h, 1, f) == 1;
    si_backend *be = s->model->be;
    const void *parts[2] = {s->cache.k, s->cache.v};
    for (int i = 0; ok && i < 2; i++) {
        pthread_mutex_lock(&s->model->lock);
        be->download(be, host, parts[i], half);
        pthread_mutex_unlock(&s->model->lock);
        ok = fwrite(host, 1, half, f) == half;
    }
    if (ok && s->has_logits) ok = fwrite(s->logits, sizeof(float), h.n_vocab, f) == h.n_vocab;
    free(host);
    if (f && fclose(f) != 0) ok = 0;
    /* Written whole under a temporary name, then renamed: a crash never leaves half a file. */
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return si_fail("%s: cannot write the session", path);
    }
    return 0;
}

static int mismatch(const char *path, const char *what) { return si_fail("%s: %s", path, what); }

int si_session_load(si_session *s, const char *path) {
    si_clear_error();
    FILE *f = fopen(path, "rb");
    if (!f) return si_fail("%s: cannot open", path);
    file_header want, got;
    describe(s, &want);
    int rc = -1;
    char *host = NULL;
    if (fread(&got, sizeof got, 1, f) != 1) {
        mismatch(path, "too short for a session file");
        goto done;
    }
    if (memcmp(got.magic, MAGIC, 8) != 0) {
        mismatch(path, "not a session file");
        goto done;
    }
    if (got.version != VERSION || got.header_bytes != sizeof got) {
        si_set_error("%s: session file version %u, this build reads version %d", path, got.version, VERSION);
        goto done;
    }
    if (got.byte_order != BYTE_ORDER_MARK) {
        mismatch(path, "written on a machine of another byte order");
        goto done;
    }
    if (got.n_layers != want.n_layers || got.kv_dim != want.kv_dim || got.n_vocab != want.n_vocab ||
        got.elem_bytes != want.elem_bytes) {
        mismatch(path, "written for another model");
        goto done;
    }
    if (got.sinks != want.sinks || got.window != want.window || got.chunk != want.chunk || got.slots != want.slots ||
        got.dense != want.dense || got.pos_offset != want.pos_offset || got.kv_bytes != want.kv_bytes) {
        mismatch(path, "written for another cache shape (sinks, window, chunk or position offset differ)");
        goto done;
    }
    uint64_t total = sizeof got + 2 * got.kv_bytes + (got.has_logits ? (uint64_t)got.n_vocab * sizeof(float) : 0);
    if (got.n_seen < 0 || (got.has_logits != 0 && got.has_logits != 1) || got.total_bytes != total ||
        (got.dense && got.n_seen > (int64_t)got.sinks + got.window)) {
        mismatch(path, "inconsistent header");
        goto done;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (uint64_t)ftell(f) != total || fseek(f, (long)sizeof got, SEEK_SET) != 0) {
        mismatch(path, "wrong length (truncated or padded)");
        goto done;
    }
    size_t half = (size_t)got.kv_bytes;
    host = si_malloc(2 * half);
    float *logits = got.has_logits ? si_malloc((size_t)got.n_vocab * sizeof(float)) : NULL;
    if (!host || (got.has_logits && !logits) || fread(host, 1, 2 * half, f) != 2 * half ||
        (logits && fread(logits, sizeof(float), got.n_vocab, f) != got.n_vocab)) {
        free(logits);
        if (host) mismatch(path, "read failed");
        goto done;
    }
    /* Everything is read and checked: only now is the session changed. */
    si_backend *be = s->model->be;
    pthread_mutex_lock(&s->model->lock);
    be->upload(be, s->cache.k, host, half);
    be->upload(be, s->cache.v, host + half, half);
    pthread_mutex_unlock(&s->model->lock);
    s->cache.n_seen = got.n_seen;
    s->has_logits = got.has_logits;
    if (logits) memcpy(s->logits, logits, (size_t)got.n_vocab * sizeof(float));
    free(logits);
    rc = 0;
done:
    free(host);
    fclose(f);
    return rc;
}
