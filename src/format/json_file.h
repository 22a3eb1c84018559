/* format/json_file.h: reading a whole JSON file (config.json, a safetensors
 * index) with a size bound, duplicate keys refused. */
#ifndef SI_FORMAT_JSON_FILE_H
#define SI_FORMAT_JSON_FILE_H

#include <jansson.h>
#include <stddef.h>

/* The parsed document (json_decref it), or NULL with an error naming the path. */
json_t *si_json_load_file(const char *path, size_t max_bytes);

#endif
