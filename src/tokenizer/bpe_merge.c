/* tokenizer/bpe_merge.c: the merge loop shared by byte-level BPE and
 * SentencePiece BPE: symbols in a linked list, candidate pairs in a binary
 * heap, stale candidates dropped when they surface (O(n log n) per chunk). */
#include "tokenizer_internal.h"
#include "util/error.h"

#include <stdlib.h>

int si_bpe_reserve(si_bpe_work *w, size_t n_sym) {
    /* n symbols give n-1 first candidates and each merge adds at most two. */
    size_t n_heap = 3 * n_sym + 1;
    if (n_sym > w->cap_sym) {
        si_bpe_sym *p = realloc(w->sym, n_sym * sizeof *p);
        if (!p) return si_fail("out of memory for %zu BPE symbols", n_sym);
        w->sym = p;
        w->cap_sym = n_sym;
    }
    if (n_heap > w->cap_heap) {
        si_bpe_cand *p = realloc(w->heap, n_heap * sizeof *p);
        if (!p) return si_fail("out of memory for %zu BPE candidates", n_heap);
        w->heap = p;
        w->cap_heap = n_heap;
    }
    return 0;
}

void si_bpe_work_free(si_bpe_work *w) {
    free(w->sym);
    free(w->heap);
    w->sym = NULL;
    w->heap = NULL;
    w->cap_sym = w->cap_heap = w->n_sym = w->n_heap = 0;
}

/* Higher priority first; on equal priority the leftmost pair. */
static bool before(const si_bpe_cand *a, const si_bpe_cand *b) {
    return a->prio > b->prio || (a->prio == b->prio && a->left < b->left);
}

static void heap_push(si_bpe_work *w, si_bpe_cand c) {
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&c, &w->heap[parent])) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = c;
}

static si_bpe_cand heap_pop(si_bpe_work *w) {
    si_bpe_cand top = w->heap[0];
    si_bpe_cand last = w->heap[--w->n_heap];
    size_t n = w->n_heap, i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && before(&w->heap[child + 1], &w->heap[child])) child++;
        if (!before(&w->heap[child], &last)) break;
        w->heap[i] = w->heap[child];
        i = child;
    }
    if (n) w->heap[i] = last;
    return top;
}

static void consider(const si_merge_map *m, si_bpe_work *w, int32_t left) {
    if (left < 0) return;
    const si_bpe_sym *l = &w->sym[left];
    if (l->next < 0) return;
    const si_bpe_sym *r = &w->sym[l->next];
    if (l->id < 0 || r->id < 0 || l->frozen || r->frozen) return;
    const si_merge_entry *e = si_merge_map_get(m, l->id, r->id);
    if (!e) return;
    heap_push(w, (si_bpe_cand){e->prio, left, l->next, l->id, r->id});
}

void si_bpe_merge(const si_merge_map *m, si_bpe_work *w, si_bpe_merge_hook hook, void *hook_ctx) {
    w->n_heap = 0;
    for (size_t i = 0; i + 1 < w->n_sym; i++) consider(m, w, (int32_t)i);
    while (w->n_heap) {
        si_bpe_cand c = heap_pop(w);
        si_bpe_sym *l = &w->sym[c.left];
        /* Stale if either side has merged since: a merge always changes the
         * left symbol's id (a longer text) and kills the right one. */
        if (l->id != c.left_id || l->next != c.right || w->sym[c.right].id != c.right_id) continue;
        si_bpe_sym *r = &w->sym[c.right];
        const si_merge_entry *e = si_merge_map_get(m, c.left_id, c.right_id);
        if (hook) hook(hook_ctx, e->result, c.left_id, c.right_id);
        l->id = e->result;
        l->len += r->len;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = c.left;
        r->id = -2;
        consider(m, w, l->prev);
        consider(m, w, c.left);
    }
}
