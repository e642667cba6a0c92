/* SPDX-License-Identifier: MIT
 * jsonarena.h - where cJSON's memory comes from, per thread.
 *
 * cJSON allocates a node (and often a string) per value.  A record being
 * encoded, or an answer being parsed, dies all at once, so between
 * pe_json_arena_begin() and pe_json_arena_end() this thread's cJSON
 * allocations come from an arena that pe_json_arena_end() empties in one
 * go; cJSON_Delete() is then free of cost.  Outside such a window, and in
 * other threads, cJSON uses malloc and free as usual.  A tree built inside
 * a window must not outlive it, and one built outside must not be freed
 * inside one. */
#ifndef PINEMIT_JSONARENA_H
#define PINEMIT_JSONARENA_H

/* Installs the hooks (once per process; begin does it too, but call it
 * before starting threads). */
void pe_json_arena_install(void);

/* Opens this thread's window. */
void pe_json_arena_begin(void);

/* Closes it: everything allocated since begin is gone; the arena keeps
 * one chunk for next time. */
void pe_json_arena_end(void);

/* Frees the chunk kept by this thread (at thread exit). */
void pe_json_arena_release(void);

#endif
