/* tokenizer/load.c: si_tokenizer_load: picks the loader for a path (a
 * Hugging Face folder, tokenizer.json, tokenizer.model or a .gguf file) and
 * applies the folder's tokenizer_config.json. */
#include "format/gguf.h"
#include "tokenizer_internal.h"
#include "util/error.h"
#include "util/mapped_file.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static int join(char *out, const char *dir, const char *name) {
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
    return n > 0 && n < PATH_MAX ? 0 : si_fail("%s: path too long", dir);
}

static si_tokenizer *with_config(si_tokenizer *t, const char *dir) {
    char config[PATH_MAX];
    if (!t || join(config, dir, "tokenizer_config.json") != 0 || !si_path_exists(config)) return t;
    if (si_tokenizer_apply_hf_config(t, config) == 0) return t;
    si_tokenizer_free(t);
    return NULL;
}

static si_tokenizer *load_folder(const char *dir) {
    char json[PATH_MAX], model[PATH_MAX];
    if (join(json, dir, "tokenizer.json") != 0 || join(model, dir, "tokenizer.model") != 0) return NULL;
    si_tokenizer *t = NULL;
    if (si_path_exists(json)) {
        bool not_byte_level = false;
        t = si_tokenizer_load_hf_json(json, &not_byte_level);
        /* SentencePiece models ship a tokenizer.json that re-expresses the
         * model with normalizers; the tokenizer.model beside it is exact. */
        if (!t && not_byte_level && si_path_exists(model)) t = si_tokenizer_load_spm_model(model);
    } else if (si_path_exists(model)) {
        t = si_tokenizer_load_spm_model(model);
    } else {
        si_set_error("%s: no tokenizer.json or tokenizer.model in this folder", dir);
    }
    return with_config(t, dir);
}

static si_tokenizer *load_gguf(const char *path) {
    si_gguf *g = si_gguf_open(path);
    if (!g) return NULL;
    si_tokenizer *t = si_tokenizer_from_gguf(g);
    si_gguf_close(g);
    return t;
}

si_tokenizer *si_tokenizer_load(const char *path) {
    if (!path) {
        si_set_error("si_tokenizer_load: no path");
        return NULL;
    }
    if (si_path_is_dir(path)) return load_folder(path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        si_set_error("%s: cannot open", path);
        return NULL;
    }
    unsigned char head[4] = {0};
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (n == 4 && memcmp(head, "GGUF", 4) == 0) return load_gguf(path);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    /* A protobuf model starts with the key of field 1 (0x0A), JSON with '{'. */
    size_t len = strlen(path);
    bool json_name = len >= 5 && strcmp(path + len - 5, ".json") == 0;
    if (json_name || (n > 0 && head[0] == '{')) return with_config(si_tokenizer_load_hf_json(path, NULL), dir);
    return with_config(si_tokenizer_load_spm_model(path), dir);
}
