/* tokenizer/protobuf.h: a bounded reader and a small writer for the protobuf
 * wire format (just what tokenizer.model needs). */
#ifndef SI_TOKENIZER_PROTOBUF_H
#define SI_TOKENIZER_PROTOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { SI_PB_VARINT = 0, SI_PB_FIXED64 = 1, SI_PB_BYTES = 2, SI_PB_FIXED32 = 5 };

/* Reading: every step checks the remaining bytes; errors name the source and
 * the offset from base. */
typedef struct {
    const unsigned char *p, *end, *base;
    const char *source;
} si_pb_reader;

/* 1 at the end of the message, 0 with the next key, -1 on error. */
int si_pb_next(si_pb_reader *r, uint32_t *field, int *wire);
int si_pb_varint(si_pb_reader *r, uint64_t *v);
int si_pb_bytes(si_pb_reader *r, const unsigned char **data, size_t *len);
int si_pb_fixed32(si_pb_reader *r, uint32_t *v);
int si_pb_skip(si_pb_reader *r, int wire);
/* A varint holding an int32 field (negative values come sign-extended to 64 bits). */
int si_pb_int32(si_pb_reader *r, int32_t *v);
float si_pb_float(uint32_t bits);

/* Writing into a growing buffer; failures are sticky (checked once at the end). */
typedef struct {
    unsigned char *data;
    size_t len, cap;
    bool failed;
} si_pb_writer;

void si_pb_put_varint(si_pb_writer *w, uint32_t field, uint64_t v);
void si_pb_put_int32(si_pb_writer *w, uint32_t field, int32_t v);
void si_pb_put_float(si_pb_writer *w, uint32_t field, float v);
void si_pb_put_bytes(si_pb_writer *w, uint32_t field, const void *data, size_t len);
/* A nested message: the writer's content from start on becomes field's payload. */
size_t si_pb_begin(si_pb_writer *w);
void si_pb_end(si_pb_writer *w, uint32_t field, size_t start);
void si_pb_writer_free(si_pb_writer *w);

#endif
