#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_value(const arg_spec *s, const char *v) {
    char *end;
    errno = 0;
    switch (s->kind) {
    case ARG_STR: *(const char **)s->dest = v; return 0;
    case ARG_INT: {
        long x = strtol(v, &end, 10);
        if (errno || *end || end == v || x < -2147483647L || x > 2147483647L) break;
        *(int *)s->dest = (int)x;
        return 0;
    }
    case ARG_I64: {
        long long x = strtoll(v, &end, 10);
        if (errno || *end || end == v) break;
        *(int64_t *)s->dest = (int64_t)x;
        return 0;
    }
    case ARG_FLOAT: {
        float x = strtof(v, &end);
        if (errno || *end || end == v) break;
        *(float *)s->dest = x;
        return 0;
    }
    case ARG_FLAG: return 0;
    }
    fprintf(stderr, "swiftinfer: %s expects a number, got '%s'\n", s->name, v);
    return -1;
}

int args_parse(int argc, char **argv, int first, const arg_spec *specs, int n_specs) {
    for (int i = first; i < argc; i++) {
        const arg_spec *s = NULL;
        for (int j = 0; j < n_specs && !s; j++)
            if (strcmp(argv[i], specs[j].name) == 0) s = &specs[j];
        if (!s) {
            fprintf(stderr, "swiftinfer: unknown option '%s' (see --help)\n", argv[i]);
            return -1;
        }
        if (s->kind == ARG_FLAG) {
            *(bool *)s->dest = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "swiftinfer: %s needs a value\n", s->name);
            return -1;
        }
        if (parse_value(s, argv[++i])) return -1;
    }
    return 0;
}

void args_usage(const char *command, const char *synopsis, const arg_spec *specs, int n_specs) {
    printf("usage: swiftinfer %s %s\n\noptions:\n", command, synopsis);
    for (int j = 0; j < n_specs; j++) {
        const char *v = specs[j].kind == ARG_FLAG ? "" : specs[j].kind == ARG_STR ? " TEXT" : " N";
        char left[64];
        snprintf(left, sizeof left, "%s%s", specs[j].name, v);
        printf("  %-26s %s\n", left, specs[j].help);
    }
}
