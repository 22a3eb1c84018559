/* format/byte_cursor.h: bounds-checked little-endian reads from a mapped file.
 * Every read first checks that the bytes lie inside the buffer; a failed read
 * sets an error saying where the file ended, and the caller adds context. */
#ifndef SI_FORMAT_BYTE_CURSOR_H
#define SI_FORMAT_BYTE_CURSOR_H

#include "../util/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t pos;
} si_cursor;

/* Assembled byte by byte so that the reads are valid at any alignment. */
static inline uint32_t si_load_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t si_load_le64(const unsigned char *p) {
    return (uint64_t)si_load_le32(p) | (uint64_t)si_load_le32(p + 4) << 32;
}

static inline size_t si_cursor_left(const si_cursor *c) { return c->size - c->pos; }

static inline int si_cursor_need(const si_cursor *c, uint64_t n) {
    if (n > si_cursor_left(c))
        return si_fail("unexpected end of file at byte %zu (need %llu bytes, %zu left)", c->pos,
                       (unsigned long long)n, si_cursor_left(c));
    return 0;
}

static inline int si_cursor_skip(si_cursor *c, uint64_t n) {
    if (si_cursor_need(c, n)) return -1;
    c->pos += (size_t)n;
    return 0;
}

static inline int si_cursor_u32(si_cursor *c, uint32_t *v) {
    if (si_cursor_need(c, 4)) return -1;
    *v = si_load_le32(c->data + c->pos);
    c->pos += 4;
    return 0;
}

static inline int si_cursor_u64(si_cursor *c, uint64_t *v) {
    if (si_cursor_need(c, 8)) return -1;
    *v = si_load_le64(c->data + c->pos);
    c->pos += 8;
    return 0;
}

#endif
