/* server/state.c: --state-dir. At shutdown every cached conversation is
 * written (its cache through si_session_save, and what the store knows of
 * it in index.json, with the hash key, so that the same histories match
 * after a restart); at start they are loaded back. The key makes the hashes
 * unguessable, so index.json is created readable by its owner only. A file
 * that does not load (another model or cache shape, damage) is skipped with
 * a warning: that conversation is simply rebuilt when it comes back. */
#include "state.h"

#include "../format/json_file.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_VERSION 1
#define MAX_INDEX_BYTES (4u << 20)

static void session_path(char *out, size_t cap, const char *dir, int i) {
    snprintf(out, cap, "%s/session-%d.bin", dir, i);
}

int srv_state_save(const srv_store *st, const char *dir) {
    json_t *list = json_array();
    char path[4096], hex[40];
    int saved = 0;
    for (int i = 0; i < st->n && list; i++) {
        const srv_sess *x = &st->items[i];
        if (x->busy || x->n_msgs == 0) continue;
        session_path(path, sizeof path, dir, saved);
        if (si_session_save(x->s, path)) {
            fprintf(stderr, "swiftinfer serve: state: %s\n", si_last_error());
            continue;
        }
        snprintf(hex, sizeof hex, "%016" PRIx64, x->chain);
        json_array_append_new(list, json_pack("{s:i, s:i, s:s, s:s, s:b, s:b, s:i}", "file", saved, "n_msgs", x->n_msgs,
                                              "chain", hex, "name", x->name, "had_user", x->had_user, "reply_open",
                                              x->reply_open, "tail_token", x->tail_token));
        saved++;
    }
    snprintf(hex, sizeof hex, "%016" PRIx64 "%016" PRIx64, st->key.k0, st->key.k1);
    json_t *root = list ? json_pack("{s:i, s:s, s:o}", "version", STATE_VERSION, "key", hex, "sessions", list) : NULL;
    snprintf(path, sizeof path, "%s/index.json", dir);
    int fd = root ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int rc = f && json_dumpf(root, f, JSON_INDENT(1)) == 0 ? 0 : -1;
    if (f) rc |= fclose(f) != 0 ? -1 : 0;
    else if (fd >= 0) close(fd);
    json_decref(root);
    if (rc) fprintf(stderr, "swiftinfer serve: state: cannot write %s\n", path);
    else fprintf(stderr, "swiftinfer serve: state: saved %d conversation(s) to %s\n", saved, dir);
    return rc;
}

static int parse_hex64(const char *s, uint64_t *out) {
    char *end;
    if (!s || strlen(s) != 16) return -1;
    *out = strtoull(s, &end, 16);
    return *end ? -1 : 0;
}

int srv_state_load(srv_store *st, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/index.json", dir);
    if (access(path, F_OK) != 0) return 0; /* nothing saved yet */
    json_t *root = si_json_load_file(path, MAX_INDEX_BYTES);
    const char *key = root ? json_string_value(json_object_get(root, "key")) : NULL;
    json_t *list = root ? json_object_get(root, "sessions") : NULL;
    srv_hash_key k;
    if (!root || json_integer_value(json_object_get(root, "version")) != STATE_VERSION || !key || strlen(key) != 32 ||
        !json_is_array(list)) {
        fprintf(stderr, "swiftinfer serve: state: %s is not a state index of this version; ignored\n", path);
        json_decref(root);
        return 0;
    }
    char half[17] = {0};
    memcpy(half, key, 16);
    int bad = parse_hex64(half, &k.k0);
    bad |= parse_hex64(key + 16, &k.k1);
    if (bad) {
        json_decref(root);
        return 0;
    }
    st->key = k;
    int loaded = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        json_int_t file = json_integer_value(json_object_get(e, "file"));
        json_int_t n_msgs = json_integer_value(json_object_get(e, "n_msgs"));
        json_int_t tail = json_integer_value(json_object_get(e, "tail_token"));
        const char *name = json_string_value(json_object_get(e, "name"));
        uint64_t chain;
        if (file < 0 || file > 1000000 || n_msgs < 1 || n_msgs > 1000000000 || !name ||
            strlen(name) > SRV_MAX_NAME_BYTES || tail < -1 || tail >= si_model_n_vocab(st->model) ||
            parse_hex64(json_string_value(json_object_get(e, "chain")), &chain))
            continue;
        srv_sess *x = srv_store_acquire_empty(st);
        if (!x) break; /* fewer sessions allowed now than were saved */
        session_path(path, sizeof path, dir, (int)file);
        if (si_session_load(x->s, path)) {
            fprintf(stderr, "swiftinfer serve: state: skipped: %s\n", si_last_error());
            srv_store_release(st, x, false);
            continue;
        }
        x->n_msgs = (int)n_msgs;
        x->chain = chain;
        snprintf(x->name, sizeof x->name, "%s", name);
        x->had_user = json_is_true(json_object_get(e, "had_user"));
        x->reply_open = json_is_true(json_object_get(e, "reply_open"));
        x->tail_token = (int32_t)tail;
        si_session_stats ss;
        si_session_get_stats(x->s, &ss);
        x->kv_evicted = ss.evicted; /* evictions before the restart were counted then */
        srv_store_release(st, x, true);
        loaded++;
    }
    json_decref(root);
    fprintf(stderr, "swiftinfer serve: state: restored %d conversation(s) from %s\n", loaded, dir);
    return loaded;
}
