/* backend/op_profile.h: where a backend's time goes, operation by operation.
 *
 * A backend that times its operations (the CUDA backend with
 * SWIFTINFER_CUDA_PROFILE=1: an event after each operation) hands each
 * interval here with a label and the kind of pass it belonged to; the table
 * sums them per (kind, label) and prints, per kind, the time per pass of
 * each label, its calls per pass and its share. Plain C, no device: the
 * arithmetic is tested without a GPU. Memory is fixed at creation: at most
 * SI_OP_PROFILE_LABELS distinct labels per kind, later ones count as
 * "(other operations)". */
#ifndef SI_BACKEND_OP_PROFILE_H
#define SI_BACKEND_OP_PROFILE_H

#include <stdio.h>

#define SI_OP_PROFILE_LABELS 48
#define SI_OP_PROFILE_LABEL_LEN 72

typedef enum { SI_OP_DECODE, SI_OP_PREFILL, SI_OP_KINDS } si_op_kind;

typedef struct si_op_profile si_op_profile;

si_op_profile *si_op_profile_create(void); /* NULL with an error when out of memory */
void si_op_profile_free(si_op_profile *p);

/* One operation's interval; the label is copied (truncated to fit). */
void si_op_profile_add(si_op_profile *p, si_op_kind kind, const char *label, double seconds);
/* One whole pass: its time from start to its last operation's end. */
void si_op_profile_pass(si_op_profile *p, si_op_kind kind, double seconds);

/* Per kind with passes: passes, time per pass, then labels by time, most
 * first. Nothing when no pass was recorded. */
void si_op_profile_print(const si_op_profile *p, FILE *f);

/* For tests: totals of one label (0 when absent). */
double si_op_profile_seconds(const si_op_profile *p, si_op_kind kind, const char *label, long *calls);

#endif
