/* format/gguf_writer.h: writer for GGUF v3 files that si_gguf_open reads back.
 *
 * Metadata and tensor declarations are collected first (metadata is small and
 * kept in memory); si_gguf_writer_begin_data then writes the header, the
 * metadata, the tensor table and general.alignment = 32, and the tensors'
 * bytes are streamed through in declaration order, in pieces of any size:
 * a multi-GB model never has to be in memory. Every limit of the reader
 * (gguf.h) is enforced when a value is added, so a file that was written
 * always opens. Errors name the file; a file that is not finished, or whose
 * finish fails, is removed. */
#ifndef SI_FORMAT_GGUF_WRITER_H
#define SI_FORMAT_GGUF_WRITER_H

#include "gguf.h"

#define SI_GGUF_WRITER_ALIGNMENT 32

typedef struct si_gguf_writer si_gguf_writer;

/* Creates (truncates) path; NULL with an error naming it. */
si_gguf_writer *si_gguf_writer_create(const char *path);
const char *si_gguf_writer_path(const si_gguf_writer *w);

/* Scalar metadata. Keys are 1..SI_GGUF_MAX_NAME bytes and unique;
 * general.alignment is the writer's own. 0 or -1. */
int si_gguf_writer_set_u8(si_gguf_writer *w, const char *key, uint8_t v);
int si_gguf_writer_set_i8(si_gguf_writer *w, const char *key, int8_t v);
int si_gguf_writer_set_u16(si_gguf_writer *w, const char *key, uint16_t v);
int si_gguf_writer_set_i16(si_gguf_writer *w, const char *key, int16_t v);
int si_gguf_writer_set_u32(si_gguf_writer *w, const char *key, uint32_t v);
int si_gguf_writer_set_i32(si_gguf_writer *w, const char *key, int32_t v);
int si_gguf_writer_set_u64(si_gguf_writer *w, const char *key, uint64_t v);
int si_gguf_writer_set_i64(si_gguf_writer *w, const char *key, int64_t v);
int si_gguf_writer_set_f32(si_gguf_writer *w, const char *key, float v);
int si_gguf_writer_set_f64(si_gguf_writer *w, const char *key, double v);
int si_gguf_writer_set_bool(si_gguf_writer *w, const char *key, bool v);
/* A string of len bytes (any bytes; at most SI_GGUF_MAX_STRING). */
int si_gguf_writer_set_str(si_gguf_writer *w, const char *key, const char *s, size_t len);

/* Arrays: begin with the element type (a numeric type, bool or string) and
 * the count (at most SI_GGUF_MAX_ARRAY), then append exactly that many
 * elements before anything else is added. Numeric elements are given in the
 * host's layout (n packed values of the element type) and stored little-endian. */
int si_gguf_writer_begin_arr(si_gguf_writer *w, const char *key, si_gguf_type elem_type, uint64_t count);
int si_gguf_writer_arr_values(si_gguf_writer *w, const void *values, uint64_t n);
int si_gguf_writer_arr_str(si_gguf_writer *w, const char *s, size_t len);
/* A whole numeric array in one call. */
int si_gguf_writer_set_arr(si_gguf_writer *w, const char *key, si_gguf_type elem_type, const void *values,
                           uint64_t count);

/* Declares a tensor: ne[0] is the row length (a multiple of the dtype's block),
 * n_dims 1..SI_MAX_DIMS, every ne[d] 1..SI_GGUF_MAX_DIM. Names are unique. */
int si_gguf_writer_add_tensor(si_gguf_writer *w, const char *name, si_dtype dtype, int n_dims, const int64_t *ne);

/* After all metadata and tensors: writes everything before the data section. */
int si_gguf_writer_begin_data(si_gguf_writer *w);
/* The tensors' bytes, in declaration order, as one stream; the padding
 * between tensors is inserted by the writer. */
int si_gguf_writer_write(si_gguf_writer *w, const void *data, size_t nbytes);
/* Checks that every declared byte was written, closes the file and frees the
 * writer; on any failure the file is removed. 0 or -1. */
int si_gguf_writer_finish(si_gguf_writer *w);
/* Gives up: closes and removes the file and frees the writer, leaving the
 * current error message as it is. NULL is ignored. */
void si_gguf_writer_discard(si_gguf_writer *w);

#endif
