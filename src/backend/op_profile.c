/* backend/op_profile.c: the per-operation time table (op_profile.h). */
#include "op_profile.h"

#include "../util/error.h"

#include <stdlib.h>
#include <string.h>

#define OTHER "(other operations)"

typedef struct {
    char label[SI_OP_PROFILE_LABEL_LEN];
    double seconds;
    long calls;
} entry;

typedef struct {
    entry e[SI_OP_PROFILE_LABELS + 1]; /* the last is OTHER, once the others are taken */
    int n;
    long passes;
    double pass_seconds;
} kind_table;

struct si_op_profile {
    kind_table k[SI_OP_KINDS];
};

static const char *const kind_names[SI_OP_KINDS] = {"decode passes (1-8 rows)", "prefill passes (more rows)"};

si_op_profile *si_op_profile_create(void) { return si_calloc(1, sizeof(si_op_profile)); }

void si_op_profile_free(si_op_profile *p) { free(p); }

static entry *find(const kind_table *t, const char *label) {
    for (int i = 0; i < t->n; i++)
        if (strncmp(t->e[i].label, label, SI_OP_PROFILE_LABEL_LEN - 1) == 0) return (entry *)&t->e[i];
    return NULL;
}

/* A new label once the table is full goes to OTHER, the one extra entry. */
static entry *find_or_add(kind_table *t, const char *label) {
    entry *e = find(t, label);
    if (e) return e;
    if (t->n >= SI_OP_PROFILE_LABELS && (e = find(t, label = OTHER))) return e;
    e = &t->e[t->n++];
    snprintf(e->label, sizeof e->label, "%s", label);
    return e;
}

void si_op_profile_add(si_op_profile *p, si_op_kind kind, const char *label, double seconds) {
    if (!p || kind < 0 || kind >= SI_OP_KINDS) return;
    entry *e = find_or_add(&p->k[kind], label);
    e->seconds += seconds;
    e->calls++;
}

void si_op_profile_pass(si_op_profile *p, si_op_kind kind, double seconds) {
    if (!p || kind < 0 || kind >= SI_OP_KINDS) return;
    p->k[kind].passes++;
    p->k[kind].pass_seconds += seconds;
}

double si_op_profile_seconds(const si_op_profile *p, si_op_kind kind, const char *label, long *calls) {
    entry *e = p && kind >= 0 && kind < SI_OP_KINDS ? find(&p->k[kind], label) : NULL;
    if (calls) *calls = e ? e->calls : 0;
    return e ? e->seconds : 0.0;
}

static int by_time(const void *a, const void *b) {
    double x = ((const entry *)a)->seconds, y = ((const entry *)b)->seconds;
    return x < y ? 1 : x > y ? -1 : 0;
}

void si_op_profile_print(const si_op_profile *p, FILE *f) {
    if (!p) return;
    for (int k = 0; k < SI_OP_KINDS; k++) {
        const kind_table *t = &p->k[k];
        if (t->passes == 0) continue;
        entry sorted[SI_OP_PROFILE_LABELS + 1];
        memcpy(sorted, t->e, (size_t)t->n * sizeof(entry));
        qsort(sorted, (size_t)t->n, sizeof(entry), by_time);
        double per_pass = t->pass_seconds / (double)t->passes, sum = 0;
        for (int i = 0; i < t->n; i++) sum += sorted[i].seconds;
        fprintf(f, "%s: %ld, %.1f us each (operations: %.1f us)\n", kind_names[k], t->passes, per_pass * 1e6,
                sum / (double)t->passes * 1e6);
        fprintf(f, "  %10s %10s %6s  %s\n", "us/pass", "calls/pass", "share", "operation");
        for (int i = 0; i < t->n; i++) {
            const entry *e = &sorted[i];
            fprintf(f, "  %10.1f %10.2f %5.1f%%  %s\n", e->seconds / (double)t->passes * 1e6,
                    (double)e->calls / (double)t->passes, sum > 0 ? 100.0 * e->seconds / sum : 0.0, e->label);
        }
    }
}
