/* tokenizer/protobuf.c: bounded protobuf wire-format reading and writing. */
#include "protobuf.h"

#include "util/error.h"

#include <stdlib.h>
#include <string.h>

static int fail_at(const si_pb_reader *r, const char *what) {
    return si_fail("%s: %s at byte %zu", r->source, what, (size_t)(r->p - r->base));
}

int si_pb_varint(si_pb_reader *r, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) return fail_at(r, "truncated varint");
        unsigned char b = *r->p++;
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return fail_at(r, "varint longer than 10 bytes");
}

int si_pb_next(si_pb_reader *r, uint32_t *field, int *wire) {
    if (r->p >= r->end) return 1;
    uint64_t key = 0;
    if (si_pb_varint(r, &key) != 0) return -1;
    if ((key >> 3) == 0 || (key >> 3) > 0x1FFFFFFF) return fail_at(r, "invalid field number");
    *field = (uint32_t)(key >> 3);
    *wire = (int)(key & 7);
    return 0;
}

int si_pb_bytes(si_pb_reader *r, const unsigned char **data, size_t *len) {
    uint64_t n = 0;
    if (si_pb_varint(r, &n) != 0) return -1;
    if (n > (uint64_t)(r->end - r->p)) return fail_at(r, "length runs past the end of its message");
    *data = r->p;
    *len = (size_t)n;
    r->p += n;
    return 0;
}

int si_pb_fixed32(si_pb_reader *r, uint32_t *v) {
    if (r->end - r->p < 4) return fail_at(r, "truncated 32-bit value");
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    r->p += 4;
    return 0;
}

int si_pb_skip(si_pb_reader *r, int wire) {
    uint64_t v;
    uint32_t v32;
    const unsigned char *d;
    size_t n;
    switch (wire) {
    case SI_PB_VARINT: return si_pb_varint(r, &v);
    case SI_PB_FIXED64:
        if (r->end - r->p < 8) return fail_at(r, "truncated 64-bit value");
        r->p += 8;
        return 0;
    case SI_PB_BYTES: return si_pb_bytes(r, &d, &n);
    case SI_PB_FIXED32: return si_pb_fixed32(r, &v32);
    default: return fail_at(r, "unsupported wire type");
    }
}

int si_pb_int32(si_pb_reader *r, int32_t *v) {
    uint64_t x = 0;
    if (si_pb_varint(r, &x) != 0) return -1;
    int64_t s = (int64_t)x;
    if (s < INT32_MIN || s > INT32_MAX) return fail_at(r, "int32 field out of range");
    *v = (int32_t)s;
    return 0;
}

float si_pb_float(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void put_raw(si_pb_writer *w, const void *p, size_t n) {
    if (w->failed) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n) cap *= 2;
        unsigned char *d = realloc(w->data, cap);
        if (!d) {
            w->failed = true;
            return;
        }
        w->data = d;
        w->cap = cap;
    }
    if (n) memcpy(w->data + w->len, p, n);
    w->len += n;
}

static size_t encode_varint(uint64_t v, unsigned char *out) {
    size_t n = 0;
    do {
        out[n] = (unsigned char)(v & 0x7F);
        v >>= 7;
        if (v) out[n] |= 0x80;
        n++;
    } while (v);
    return n;
}

static void put_key(si_pb_writer *w, uint32_t field, int wire) {
    unsigned char b[10];
    put_raw(w, b, encode_varint((uint64_t)field << 3 | (uint64_t)wire, b));
}

void si_pb_put_varint(si_pb_writer *w, uint32_t field, uint64_t v) {
    unsigned char b[10];
    put_key(w, field, SI_PB_VARINT);
    put_raw(w, b, encode_varint(v, b));
}

void si_pb_put_int32(si_pb_writer *w, uint32_t field, int32_t v) {
    si_pb_put_varint(w, field, (uint64_t)(int64_t)v); /* negative: sign-extended, 10 bytes */
}

void si_pb_put_float(si_pb_writer *w, uint32_t field, float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    unsigned char b[4] = {(unsigned char)bits, (unsigned char)(bits >> 8), (unsigned char)(bits >> 16),
                          (unsigned char)(bits >> 24)};
    put_key(w, field, SI_PB_FIXED32);
    put_raw(w, b, 4);
}

void si_pb_put_bytes(si_pb_writer *w, uint32_t field, const void *data, size_t len) {
    unsigned char b[10];
    put_key(w, field, SI_PB_BYTES);
    put_raw(w, b, encode_varint(len, b));
    put_raw(w, data, len);
}

size_t si_pb_begin(si_pb_writer *w) { return w->len; }

void si_pb_end(si_pb_writer *w, uint32_t field, size_t start) {
    if (w->failed) return;
    size_t payload = w->len - start;
    unsigned char head[20];
    size_t h = encode_varint((uint64_t)field << 3 | SI_PB_BYTES, head);
    h += encode_varint(payload, head + h);
    put_raw(w, head, h); /* grow by the header's size, then shift the payload behind it */
    if (w->failed) return;
    memmove(w->data + start + h, w->data + start, payload);
    memcpy(w->data + start, head, h);
}

void si_pb_writer_free(si_pb_writer *w) {
    free(w->data);
    memset(w, 0, sizeof *w);
}
