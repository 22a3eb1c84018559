/* fuzz/harness_safetensors_index.c: model.safetensors.index.json of sharded
 * weights. The input is the index, optionally followed by a NUL byte and the
 * bytes of a shard c.safetensors; beside them lie two fixed valid shards
 * (a.safetensors: x, y; b.safetensors: z) that the index may name. The folder
 * is opened as the engine opens a Hugging Face model folder. */
#include "harness.h"

#include "format/safetensors.h"

#include <stdlib.h>
#include <string.h>

static void write_shard(const char *name, const char *const *tensors, const si_dtype *dtypes, int n) {
    const char *path = si_fuzz_dir_put(name, "", 0);
    si_safetensors_writer *w = si_safetensors_writer_create(path);
    int64_t shape[2] = {2, 3};
    size_t bytes = 0;
    for (int i = 0; w && i < n; i++) {
        if (si_safetensors_writer_add(w, tensors[i], dtypes[i], 2, shape)) si_fuzz_fail("shard: %s", si_last_error());
        bytes += 6 * si_dtype_block_bytes(dtypes[i]);
    }
    unsigned char zeros[64] = {0};
    if (!w || si_safetensors_writer_begin_data(w) || si_safetensors_writer_write(w, zeros, bytes) ||
        si_safetensors_writer_finish(w))
        si_fuzz_fail("cannot write the fixed shard %s: %s", name, si_last_error());
}

static void make_fixed_shards(void) {
    static bool done;
    if (done) return;
    done = true;
    const char *a[] = {"x", "y"}, *b[] = {"z"};
    const si_dtype ad[] = {SI_DTYPE_F32, SI_DTYPE_F16}, bd[] = {SI_DTYPE_BF16};
    write_shard("a.safetensors", a, ad, 2);
    write_shard("b.safetensors", b, bd, 1);
}

int si_fuzz_safetensors_index(const uint8_t *data, size_t size) {
    make_fixed_shards();
    const uint8_t *nul = memchr(data, 0, size);
    size_t index_len = nul ? (size_t)(nul - data) : size;
    si_fuzz_dir_put("model.safetensors.index.json", data, index_len);
    si_fuzz_dir_put("c.safetensors", nul ? nul + 1 : NULL, nul ? size - index_len - 1 : 0);
    si_safetensors *s = si_safetensors_open(si_fuzz_dir());
    if (!s) {
        SI_FUZZ_CHECK(strstr(si_last_error(), si_fuzz_dir()) != NULL,
                      "error does not name the file: %s", si_last_error());
        return 0;
    }
    si_fuzz_accepted++;
    int64_t n = si_safetensors_n_tensors(s);
    SI_FUZZ_CHECK(n >= 0 && n <= SI_SAFETENSORS_MAX_TENSORS, "%lld tensors", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        const si_tensor *t = si_safetensors_tensor(s, i);
        SI_FUZZ_CHECK(t && si_safetensors_find(s, t->name) == t, "tensor %lld lookup", (long long)i);
        SI_FUZZ_CHECK(t->nbytes == (size_t)si_tensor_nelems(t) * si_dtype_block_bytes(t->dtype), "tensor '%s' size",
                      t->name);
        volatile uint8_t first = ((const uint8_t *)t->data)[0], last = ((const uint8_t *)t->data)[t->nbytes - 1];
        (void)first, (void)last;
    }
    si_safetensors_close(s);
    return 0;
}
