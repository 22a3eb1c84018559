/* format/gguf_writer_internal.h: the writer's state, shared by its parts
 * (gguf_writer.c: tensors, layout and data; gguf_writer_kv.c: metadata).
 * Not part of the public interface. */
#ifndef SI_FORMAT_GGUF_WRITER_INTERNAL_H
#define SI_FORMAT_GGUF_WRITER_INTERNAL_H

#include "gguf_writer.h"

#include "../util/error.h"

#include <stdio.h>

/* A growable byte buffer of little-endian encodings. */
typedef struct {
    unsigned char *p;
    size_t n, cap;
} si_wbuf;

int si_wbuf_put(si_wbuf *b, const void *data, size_t n);
int si_wbuf_le(si_wbuf *b, uint64_t v, size_t size); /* the low size bytes of v, little-endian */
int si_wbuf_str(si_wbuf *b, const char *s, size_t len); /* u64 length, then the bytes */
void si_wbuf_free(si_wbuf *b);

typedef struct {
    char *name;
    si_dtype dtype;
    int n_dims;
    int64_t ne[SI_MAX_DIMS];
    size_t nbytes;
    uint64_t offset; /* inside the data section, aligned */
} si_gguf_wtensor;

struct si_gguf_writer {
    char *path;
    FILE *f;

    si_wbuf meta;    /* encoded key/value entries, in the order added */
    char **keys;     /* copies, for the duplicate check at begin_data */
    int64_t n_kv, cap_kv;
    uint64_t arr_left; /* elements still owed to the open array */
    si_gguf_type arr_type;

    si_gguf_wtensor *tensors;
    int64_t n_tensors, cap_tensors;
    uint64_t data_size; /* the data section with padding */
    uint64_t payload;   /* the tensors' own bytes, without padding */

    bool writing;
    bool failed;         /* a write failed: the file is not usable */
    uint64_t payload_written;
    int64_t cur;         /* tensor being streamed */
    size_t cur_written;  /* its bytes written so far */
};

/* A name usable as a key or tensor name (1..SI_GGUF_MAX_NAME bytes); what: "key" or "tensor name". */
int si_gguf_writer_check_name(const char *name, const char *what);
/* Fails when an array is still owed elements (nothing else may be added then). */
int si_gguf_writer_check_no_open_array(const si_gguf_writer *w);
/* Prefixes the current error with the file's path (and returns -1). */
int si_gguf_writer_fail_here(const si_gguf_writer *w);

#endif
