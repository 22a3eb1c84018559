/* format/gguf_tensors.c: the GGUF tensor table: names, shapes and ggml types
 * checked entry by entry, then every tensor's bytes placed inside the file. */
#include "gguf_internal.h"

#include <stdlib.h>

static const char *const ggml_type_names[] = {
    [0] = "F32",      [1] = "F16",      [2] = "Q4_0",     [3] = "Q4_1",    [6] = "Q5_0",     [7] = "Q5_1",
    [8] = "Q8_0",     [9] = "Q8_1",     [10] = "Q2_K",    [11] = "Q3_K",   [12] = "Q4_K",    [13] = "Q5_K",
    [14] = "Q6_K",    [15] = "Q8_K",    [16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S",
    [20] = "IQ4_NL",  [21] = "IQ3_S",   [22] = "IQ2_S",   [23] = "IQ4_XS", [24] = "I8",      [25] = "I16",
    [26] = "I32",     [27] = "I64",     [28] = "F64",     [29] = "IQ1_M",  [30] = "BF16",    [34] = "TQ1_0",
    [35] = "TQ2_0",   [39] = "MXFP4",
};

const char *si_ggml_type_name(uint32_t type) {
    const size_t n = sizeof ggml_type_names / sizeof ggml_type_names[0];
    return type < n && ggml_type_names[type] ? ggml_type_names[type] : "unknown";
}

static int dtype_of_ggml(uint32_t type, si_dtype *out) {
    switch (type) {
    case 0: *out = SI_DTYPE_F32; return 0;
    case 1: *out = SI_DTYPE_F16; return 0;
    case 2: *out = SI_DTYPE_Q4_0; return 0;
    case 3: *out = SI_DTYPE_Q4_1; return 0;
    case 6: *out = SI_DTYPE_Q5_0; return 0;
    case 7: *out = SI_DTYPE_Q5_1; return 0;
    case 8: *out = SI_DTYPE_Q8_0; return 0;
    case 12: *out = SI_DTYPE_Q4_K; return 0;
    case 13: *out = SI_DTYPE_Q5_K; return 0;
    case 14: *out = SI_DTYPE_Q6_K; return 0;
    case 30: *out = SI_DTYPE_BF16; return 0;
    default: return si_fail("unsupported type %u (%s)", type, si_ggml_type_name(type));
    }
}

static int read_shape(si_cursor *c, si_tensor *t) {
    uint32_t n_dims;
    if (si_cursor_u32(c, &n_dims)) return -1;
    if (n_dims < 1 || n_dims > SI_MAX_DIMS) return si_fail("%u dimensions (1 to %d supported)", n_dims, SI_MAX_DIMS);
    t->n_dims = (int)n_dims;
    int64_t total = 1;
    for (int d = 0; d < SI_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if ((uint32_t)d < n_dims && si_cursor_u64(c, &ne)) return -1;
        if (ne < 1 || ne > (uint64_t)SI_GGUF_MAX_DIM)
            return si_fail("dimension %d is %llu (must be 1 to 2^40)", d, (unsigned long long)ne);
        if ((int64_t)ne > INT64_MAX / total) return si_fail("element count overflows");
        t->ne[d] = (int64_t)ne;
        total *= (int64_t)ne;
    }
    return 0;
}

static int parse_tensor_info(si_cursor *c, si_tensor *t, uint64_t *offset) {
    if (!(t->name = si_gguf_read_name(c)) || read_shape(c, t)) return -1;
    uint32_t type;
    if (si_cursor_u32(c, &type) || dtype_of_ggml(type, &t->dtype) || si_cursor_u64(c, offset)) return -1;
    size_t row_bytes = si_dtype_row_bytes(t->dtype, t->ne[0]);
    if (row_bytes == 0)
        return si_fail("row length %lld is not a multiple of the %s block size %d", (long long)t->ne[0],
                       si_dtype_name(t->dtype), si_dtype_block_elems(t->dtype));
    /* Rows were bounded with the element count, the bytes are not. */
    if (si_mul_overflows(row_bytes, (size_t)(t->ne[1] * t->ne[2] * t->ne[3]), &t->nbytes)) return -1;
    return 0;
}

int si_gguf_parse_tensor_table(si_gguf *g, si_cursor *c, uint64_t *offsets) {
    g->tensors = si_calloc((size_t)g->n_tensors, sizeof *g->tensors);
    if (!g->tensors || si_name_index_init(&g->tensor_index, (size_t)g->n_tensors)) return -1;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        si_tensor *t = &g->tensors[i];
        int rc = parse_tensor_info(c, t, &offsets[i]);
        if (si_gguf_index_entry(&g->tensor_index, "tensor", t->name, i, rc)) return -1;
    }
    return 0;
}

int si_gguf_place_tensors(si_gguf *g, const uint64_t *offsets) {
    size_t section = g->map.size - g->data_start;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        si_tensor *t = &g->tensors[i];
        if (offsets[i] % g->alignment)
            return si_fail("tensor '%s': data offset %llu is not a multiple of the alignment %zu", t->name,
                           (unsigned long long)offsets[i], g->alignment);
        if (offsets[i] > section || t->nbytes > section - offsets[i])
            return si_fail("tensor '%s': %zu bytes at data offset %llu go past the end of the file "
                           "(data section holds %zu bytes)",
                           t->name, t->nbytes, (unsigned long long)offsets[i], section);
        t->data = g->map.data + g->data_start + offsets[i];
    }
    return 0;
}

void si_gguf_free_tensors(si_gguf *g) {
    for (int64_t i = 0; g->tensors && i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->tensors);
    g->tensors = NULL;
    si_name_index_free(&g->tensor_index);
}
