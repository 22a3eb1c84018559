/* format/hf_config.c: config.json of a Llama-family Hugging Face model.
 * Absent optional fields take LlamaConfig's defaults; the core sizes have
 * no default here (LlamaConfig's are Llama-7B's, wrong for any other model,
 * and Mistral's differ), so a config without them is refused. */
#include "hf_config.h"

#include "json_file.h"

#include "../util/error.h"

#include <stdio.h>
#include <string.h>

#define MAX_CONFIG_BYTES (16u << 20)
#define MAX_SIZE (1 << 20)         /* hidden, intermediate, layers, heads, head_dim */
#define MAX_VOCAB (1 << 22)
#define MAX_POSITIONS (1 << 24)    /* some long-context fine-tunes claim 1M+ */

typedef struct {
    const char *path;
    const json_t *obj;
    const char *prefix; /* "" or "rope_scaling." for error messages */
} fields;

static int bad(const fields *f, const char *key, const char *problem) {
    return si_fail("%s: field '%s%s' %s", f->path, f->prefix, key, problem);
}

/* Each reader: 1 when the field is absent or null (out untouched), 0 when read, -1 on error. */
static int read_int(const fields *f, const char *key, long long lo, long long hi, int *out) {
    const json_t *v = json_object_get(f->obj, key);
    if (!v || json_is_null(v)) return 1;
    if (!json_is_integer(v)) return bad(f, key, "must be an integer");
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "is %lld, outside %lld..%lld", (long long)x, lo, hi);
        return bad(f, key, msg);
    }
    *out = (int)x;
    return 0;
}

static int need_int(const fields *f, const char *key, long long lo, long long hi, int *out) {
    int rc = read_int(f, key, lo, hi, out);
    return rc == 1 ? bad(f, key, "is missing") : rc;
}

/* Numbers must be finite and inside (lo, hi]: every float here is a positive scale. */
static int read_float(const fields *f, const char *key, double lo, double hi, float *out) {
    const json_t *v = json_object_get(f->obj, key);
    if (!v || json_is_null(v)) return 1;
    if (!json_is_number(v)) return bad(f, key, "must be a number");
    double x = json_number_value(v);
    char msg[96];
    if (!(x > lo && x <= hi)) {
        snprintf(msg, sizeof msg, "is %g, outside (%g, %g]", x, lo, hi);
        return bad(f, key, msg);
    }
    /* Found by fuzzing: a tiny value (rms_norm_eps 1e-50) passed the check
     * as a double and became 0 as a float, breaking "positive". */
    if (!((float)x > lo)) {
        snprintf(msg, sizeof msg, "is %g, which is 0 as a 32-bit float", x);
        return bad(f, key, msg);
    }
    *out = (float)x;
    return 0;
}

static int need_float(const fields *f, const char *key, double lo, double hi, float *out) {
    int rc = read_float(f, key, lo, hi, out);
    return rc == 1 ? bad(f, key, "is missing") : rc;
}

static int read_string(const fields *f, const char *key, char *out, size_t cap) {
    const json_t *v = json_object_get(f->obj, key);
    if (!v || json_is_null(v)) return 1;
    if (!json_is_string(v)) return bad(f, key, "must be a string");
    if (json_string_length(v) >= cap) return bad(f, key, "is too long");
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int read_bool(const fields *f, const char *key, bool *out) {
    const json_t *v = json_object_get(f->obj, key);
    if (!v || json_is_null(v)) return 1;
    if (!json_is_boolean(v)) return bad(f, key, "must be true or false");
    *out = json_is_true(v);
    return 0;
}

static int read_architecture(const fields *f, si_hf_config *c) {
    const json_t *v = json_object_get(f->obj, "architectures");
    if (!v || json_is_null(v)) return 0;
    const json_t *first = json_array_get(v, 0);
    if (!json_is_array(v) || !json_is_string(first))
        return bad(f, "architectures", "must be a non-empty list of strings");
    if (json_string_length(first) >= sizeof c->architecture) return bad(f, "architectures", "has a name too long");
    memcpy(c->architecture, json_string_value(first), json_string_length(first) + 1);
    return 0;
}

static int read_eos(const fields *f, si_hf_config *c) {
    const json_t *v = json_object_get(f->obj, "eos_token_id");
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) {
        c->n_eos_token_ids = 1;
        return read_int(f, "eos_token_id", 0, c->vocab_size - 1, &c->eos_token_ids[0]) < 0 ? -1 : 0;
    }
    if (!json_is_array(v)) return bad(f, "eos_token_id", "must be an integer or a list of integers");
    if (json_array_size(v) > sizeof c->eos_token_ids / sizeof c->eos_token_ids[0])
        return bad(f, "eos_token_id", "lists more than 8 ids");
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *id = json_array_get(v, i);
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= c->vocab_size)
            return bad(f, "eos_token_id", "holds an entry that is not a token id below vocab_size");
        c->eos_token_ids[c->n_eos_token_ids++] = (int)json_integer_value(id);
    }
    return 0;
}

static int read_rope_scaling(const fields *top, si_hf_config *c) {
    const json_t *v = json_object_get(top->obj, "rope_scaling");
    if (!v || json_is_null(v)) return 0;
    if (!json_is_object(v)) return bad(top, "rope_scaling", "must be an object or null");
    fields f = {top->path, v, "rope_scaling."};
    /* Older configs say "type", newer ones "rope_type". */
    int rc = read_string(&f, "rope_type", c->rope_scaling_type, sizeof c->rope_scaling_type);
    if (rc == 1) rc = read_string(&f, "type", c->rope_scaling_type, sizeof c->rope_scaling_type);
    if (rc < 0) return -1;
    if (rc == 1) return bad(&f, "type", "is missing");
    const char *type = c->rope_scaling_type;
    if (strcmp(type, "default") == 0) {
        c->rope_scaling_type[0] = '\0';
        return 0;
    }
    if (strcmp(type, "linear") && strcmp(type, "llama3") && strcmp(type, "dynamic") && strcmp(type, "yarn") &&
        strcmp(type, "longrope"))
        return bad(&f, "type", "is not one of default, linear, dynamic, yarn, longrope, llama3");
    if (need_float(&f, "factor", 0, 1024, &c->rope_scaling_factor)) return -1;
    if (strcmp(type, "llama3") != 0) return 0;
    if (need_float(&f, "low_freq_factor", 0, 1e6, &c->rope_low_freq_factor) ||
        need_float(&f, "high_freq_factor", 0, 1e6, &c->rope_high_freq_factor) ||
        need_int(&f, "original_max_position_embeddings", 1, MAX_POSITIONS, &c->rope_original_max_position))
        return -1;
    /* llama3 scaling interpolates between the two: they must not cross. */
    if (c->rope_high_freq_factor <= c->rope_low_freq_factor)
        return bad(&f, "high_freq_factor", "must be greater than low_freq_factor");
    return 0;
}

static int read_sizes(const fields *f, si_hf_config *c) {
    if (need_int(f, "hidden_size", 1, MAX_SIZE, &c->hidden_size) ||
        need_int(f, "intermediate_size", 1, MAX_SIZE, &c->intermediate_size) ||
        need_int(f, "num_hidden_layers", 1, MAX_SIZE, &c->num_hidden_layers) ||
        need_int(f, "num_attention_heads", 1, MAX_SIZE, &c->num_attention_heads) ||
        need_int(f, "vocab_size", 1, MAX_VOCAB, &c->vocab_size) ||
        read_int(f, "max_position_embeddings", 1, MAX_POSITIONS, &c->max_position_embeddings) < 0)
        return -1;
    c->num_key_value_heads = c->num_attention_heads;
    if (read_int(f, "num_key_value_heads", 1, MAX_SIZE, &c->num_key_value_heads) < 0) return -1;
    if (c->num_attention_heads % c->num_key_value_heads)
        return bad(f, "num_key_value_heads", "does not divide num_attention_heads");
    int rc = read_int(f, "head_dim", 1, MAX_SIZE, &c->head_dim);
    if (rc < 0) return -1;
    /* An explicit head_dim may differ from hidden/heads (Mistral Nemo, Gemma):
     * the heads only have to divide hidden_size when it is derived. */
    if (rc == 1) {
        if (c->hidden_size % c->num_attention_heads)
            return bad(f, "num_attention_heads", "does not divide hidden_size");
        c->head_dim = c->hidden_size / c->num_attention_heads;
    }
    return 0;
}

static int read_config(const fields *f, si_hf_config *c) {
    memset(c, 0, sizeof *c);
    c->max_position_embeddings = 2048;
    c->rms_norm_eps = 1e-6f;
    c->rope_theta = 10000.0f;
    c->rope_scaling_factor = 1.0f;
    c->bos_token_id = -1;
    if (read_architecture(f, c) || read_string(f, "model_type", c->model_type, sizeof c->model_type) < 0 ||
        read_sizes(f, c) || read_float(f, "rms_norm_eps", 0, 1, &c->rms_norm_eps) < 0 ||
        read_float(f, "rope_theta", 0, 1e12, &c->rope_theta) < 0 || read_rope_scaling(f, c) ||
        read_bool(f, "tie_word_embeddings", &c->tie_word_embeddings) < 0 ||
        read_int(f, "bos_token_id", 0, c->vocab_size - 1, &c->bos_token_id) < 0 || read_eos(f, c) ||
        read_int(f, "sliding_window", 1, MAX_POSITIONS, &c->sliding_window) < 0)
        return -1;
    /* transformers 4.56 renamed torch_dtype to dtype. */
    int rc = read_string(f, "torch_dtype", c->torch_dtype, sizeof c->torch_dtype);
    if (rc == 1) rc = read_string(f, "dtype", c->torch_dtype, sizeof c->torch_dtype);
    return rc < 0 ? -1 : 0;
}

int si_hf_config_load(const char *path, si_hf_config *out) {
    json_t *root = si_json_load_file(path, MAX_CONFIG_BYTES);
    if (!root) return -1;
    int rc = -1;
    if (!json_is_object(root))
        si_set_error("%s: not a JSON object", path);
    else {
        fields f = {path, root, ""};
        rc = read_config(&f, out);
    }
    json_decref(root);
    return rc;
}
