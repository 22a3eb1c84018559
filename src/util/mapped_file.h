/* util/mapped_file.h: read-only memory mapping of a whole file (model weights
 * are used in place, never copied), and reading small files into memory. */
#ifndef SI_UTIL_MAPPED_FILE_H
#define SI_UTIL_MAPPED_FILE_H

#include <stddef.h>

typedef struct {
    const unsigned char *data;
    size_t size;
} si_mapped_file;

/* 0 on success; on failure -1 with an error naming the path. An empty file maps to size 0. */
int si_map_file(const char *path, si_mapped_file *out);
void si_unmap_file(si_mapped_file *m);

/* Reads a whole file into a NUL-terminated heap buffer; refuses files over max_bytes. */
char *si_read_file(const char *path, size_t max_bytes, size_t *size_out);

int si_path_is_dir(const char *path);
int si_path_exists(const char *path);

#endif
