/* server/state.h: saving the session store to --state-dir at shutdown and
 * restoring it at start. */
#ifndef SI_SERVER_STATE_H
#define SI_SERVER_STATE_H

#include "sessions.h"

/* Writes every idle cached conversation and index.json into dir. 0 or -1. */
int srv_state_save(const srv_store *st, const char *dir);
/* Loads what srv_state_save wrote (nothing if dir holds no index): the
 * number of conversations restored. Damaged or foreign files are skipped. */
int srv_state_load(srv_store *st, const char *dir);

#endif
