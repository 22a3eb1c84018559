/* fuzz/harness_safetensors.c: one .safetensors file's bytes (8-byte header
 * length, JSON header, data), opened from memory so that ASan sees reads
 * against the input's exact end; every tensor accepted must have a dtype,
 * shape and byte range that agree and lie inside the file. The per-tensor
 * checks serve the index harness too. */
#include "harness.h"

#include "format/safetensors.h"

void si_fuzz_check_safetensors(const si_safetensors *s, const uint8_t *data, size_t size) {
    int64_t n = si_safetensors_n_tensors(s);
    SI_FUZZ_CHECK(n >= 0 && n <= SI_SAFETENSORS_MAX_TENSORS, "%lld tensors", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        const si_tensor *t = si_safetensors_tensor(s, i);
        SI_FUZZ_CHECK(t && t->name && si_safetensors_find(s, t->name) == t, "tensor %lld lookup", (long long)i);
        SI_FUZZ_CHECK(t->dtype == SI_DTYPE_F32 || t->dtype == SI_DTYPE_F16 || t->dtype == SI_DTYPE_BF16,
                      "tensor '%s' dtype %d", t->name, (int)t->dtype);
        SI_FUZZ_CHECK(t->n_dims >= 0 && t->n_dims <= SI_MAX_DIMS, "%d dims", t->n_dims);
        for (int d = 0; d < SI_MAX_DIMS; d++)
            SI_FUZZ_CHECK(t->ne[d] >= 1 && t->ne[d] <= SI_SAFETENSORS_MAX_DIM, "dimension %lld", (long long)t->ne[d]);
        SI_FUZZ_CHECK(t->nbytes == (size_t)si_tensor_nelems(t) * si_dtype_block_bytes(t->dtype), "tensor '%s' size",
                      t->name);
        const uint8_t *p = t->data;
        if (data)
            SI_FUZZ_CHECK(p >= data + 8 && (size_t)(p - data) <= size && t->nbytes <= size - (size_t)(p - data),
                          "tensor '%s' (%zu bytes) outside the file", t->name, t->nbytes);
        volatile uint8_t first = p[0], last = p[t->nbytes - 1];
        (void)first, (void)last;
    }
    SI_FUZZ_CHECK(si_safetensors_tensor(s, n) == NULL, "tensor past the end");
}

int si_fuzz_safetensors(const uint8_t *data, size_t size) {
    si_safetensors *s = si_safetensors_open_memory(data, size, "fuzz.safetensors");
    if (!s) {
        si_fuzz_refused("fuzz.safetensors");
        return 0;
    }
    si_fuzz_accepted++;
    si_fuzz_check_safetensors(s, data, size);
    si_safetensors_close(s);
    return 0;
}
