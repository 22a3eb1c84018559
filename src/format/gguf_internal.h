/* format/gguf_internal.h: the parsed form of a GGUF file, shared by the
 * reader's parts (gguf.c: header and lifetime; gguf_kv.c: metadata;
 * gguf_tensors.c: the tensor table). Not part of the public interface. */
#ifndef SI_FORMAT_GGUF_INTERNAL_H
#define SI_FORMAT_GGUF_INTERNAL_H

#include "byte_cursor.h"
#include "gguf.h"
#include "name_index.h"

#include "../util/mapped_file.h"

/* Deeper nesting than this is refused: real files use flat arrays only. */
#define SI_GGUF_MAX_NESTING 8

typedef struct {
    char *key; /* NUL-terminated copy */
    si_gguf_type type;
    si_gguf_type elem_type; /* arrays only */
    uint64_t count;         /* strings: bytes; arrays: elements */
    /* Scalars: the value's bytes; strings: the first byte; arrays: the first element. */
    const unsigned char *value;
    /* String arrays: the file offset of each element's length prefix, so
     * that element i is found in O(1). */
    size_t *str_offsets;
} si_gguf_kv;

struct si_gguf {
    char *path;
    si_mapped_file map;
    bool borrowed; /* map is the caller's memory (si_gguf_open_memory): never unmapped */
    uint32_t version;
    size_t alignment;
    size_t data_start; /* file offset of the aligned tensor data section */
    int64_t n_kv;
    si_gguf_kv *kv;
    si_name_index kv_index;
    int64_t n_tensors;
    si_tensor *tensors;
    si_name_index tensor_index;
};

/* A string: u64 length (at most max_len) and bytes, all inside the file. */
int si_gguf_read_string(si_cursor *c, uint64_t max_len, const unsigned char **s, uint64_t *len);
/* A copy of a key or tensor name: 1..SI_GGUF_MAX_NAME bytes, no NUL inside. */
char *si_gguf_read_name(si_cursor *c);

/* Ends the parse of entry i of a table (kind: "metadata key" or "tensor"):
 * a failed parse (parse_rc != 0) gets the entry named in its error; a parsed
 * one is added to the index, and a name already there refused. */
int si_gguf_index_entry(si_name_index *ix, const char *kind, const char *name, int64_t i, int parse_rc);

/* Parses n_kv metadata entries at the cursor into g->kv and g->kv_index. */
int si_gguf_parse_kv(si_gguf *g, si_cursor *c);
void si_gguf_free_kv(si_gguf *g);
/* Sets g->alignment from general.alignment (default 32). */
int si_gguf_read_alignment(si_gguf *g);

/* Parses the tensor table; then, once data_start is known, places each tensor. */
int si_gguf_parse_tensor_table(si_gguf *g, si_cursor *c, uint64_t *offsets);
int si_gguf_place_tensors(si_gguf *g, const uint64_t *offsets);
void si_gguf_free_tensors(si_gguf *g);

/* The ggml name of a tensor type id ("Q6_K"), or "unknown". */
const char *si_ggml_type_name(uint32_t type);

#endif
