/* tokenizer/merge_map.c: hash map from a pair of token ids to the merge it
 * allows (priority and resulting id). */
#include "tokenizer_internal.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

static uint64_t pair_key(int32_t left, int32_t right) {
    return (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
}

static size_t slot_of(uint64_t key, size_t mask) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
}

static int grow(si_merge_map *m) {
    size_t n = m->e ? (m->mask + 1) * 2 : 4096;
    si_merge_entry *e = si_calloc(n, sizeof *e);
    if (!e) return -1;
    for (size_t i = 0; m->e && i <= m->mask; i++) {
        if (!m->e[i].key) continue;
        size_t j = slot_of(m->e[i].key, n - 1);
        while (e[j].key) j = (j + 1) & (n - 1);
        e[j] = m->e[i];
    }
    free(m->e);
    m->e = e;
    m->mask = n - 1;
    return 0;
}

int si_merge_map_put(si_merge_map *m, int32_t left, int32_t right, float prio, int32_t result) {
    if ((!m->e || (m->used + 1) * 2 > m->mask + 1) && grow(m) != 0) return -1;
    uint64_t key = pair_key(left, right);
    size_t i = slot_of(key, m->mask);
    while (m->e[i].key && m->e[i].key != key) i = (i + 1) & m->mask;
    if (!m->e[i].key) m->used++;
    m->e[i].key = key;
    m->e[i].prio = prio;
    m->e[i].result = result;
    return 0;
}

const si_merge_entry *si_merge_map_get(const si_merge_map *m, int32_t left, int32_t right) {
    if (!m->e) return NULL;
    uint64_t key = pair_key(left, right);
    size_t i = slot_of(key, m->mask);
    while (m->e[i].key) {
        if (m->e[i].key == key) return &m->e[i];
        i = (i + 1) & m->mask;
    }
    return NULL;
}

void si_merge_map_free(si_merge_map *m) {
    free(m->e);
    memset(m, 0, sizeof *m);
}
