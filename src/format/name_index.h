/* format/name_index.h: a hash index from NUL-terminated names to their
 * position in a table (metadata keys, tensor names). The names are not copied:
 * they must outlive the index. Sized once for a known count, never grows. */
#ifndef SI_FORMAT_NAME_INDEX_H
#define SI_FORMAT_NAME_INDEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;
    int64_t id;
} si_name_slot;

typedef struct {
    si_name_slot *slots;
    size_t mask; /* slot count - 1 (a power of two) */
} si_name_index;

/* Room for n names; -1 (error set) when out of memory. */
int si_name_index_init(si_name_index *ix, size_t n);
/* 0 when added; 1 when the name is already there (its id in *existing). */
int si_name_index_add(si_name_index *ix, const char *name, int64_t id, int64_t *existing);
/* The id of name, or -1. */
int64_t si_name_index_find(const si_name_index *ix, const char *name);
void si_name_index_free(si_name_index *ix);

#endif
