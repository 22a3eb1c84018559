#include "name_index.h"

#include "../util/error.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a: simple, and good enough for the short dotted names of model files. */
static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int si_name_index_init(si_name_index *ix, size_t n) {
    /* At most half full, so that linear probing stays short. */
    size_t cap = 8;
    while (cap < 2 * n) cap *= 2;
    ix->slots = si_calloc(cap, sizeof *ix->slots);
    ix->mask = cap - 1;
    return ix->slots ? 0 : -1;
}

static size_t probe(const si_name_index *ix, const char *name) {
    size_t i = (size_t)hash_name(name) & ix->mask;
    while (ix->slots[i].name && strcmp(ix->slots[i].name, name) != 0) i = (i + 1) & ix->mask;
    return i;
}

int si_name_index_add(si_name_index *ix, const char *name, int64_t id, int64_t *existing) {
    size_t i = probe(ix, name);
    if (ix->slots[i].name) {
        *existing = ix->slots[i].id;
        return 1;
    }
    ix->slots[i].name = name;
    ix->slots[i].id = id;
    return 0;
}

int64_t si_name_index_find(const si_name_index *ix, const char *name) {
    if (!ix->slots) return -1;
    size_t i = probe(ix, name);
    return ix->slots[i].name ? ix->slots[i].id : -1;
}

void si_name_index_free(si_name_index *ix) {
    free(ix->slots);
    ix->slots = NULL;
    ix->mask = 0;
}
