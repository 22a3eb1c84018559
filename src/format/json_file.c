#include "json_file.h"

#include "../util/error.h"
#include "../util/mapped_file.h"

#include <stdlib.h>

json_t *si_json_load_file(const char *path, size_t max_bytes) {
    size_t size;
    char *text = si_read_file(path, max_bytes, &size);
    if (!text) return NULL;
    json_error_t err;
    json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &err);
    free(text);
    if (!root) si_set_error("%s: invalid JSON: %s (line %d, column %d)", path, err.text, err.line, err.column);
    return root;
}
