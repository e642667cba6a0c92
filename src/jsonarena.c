/* SPDX-License-Identifier: MIT
 * jsonarena.c - cJSON allocation hooks with a per-thread arena. */
#include "jsonarena.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include <cJSON.h>

#include "util.h"

#define CHUNK_SIZE ((size_t)64 << 10)

struct chunk {
    struct chunk *next;
    size_t size, used;
    max_align_t data[];
};

static _Thread_local struct chunk *arena;
static _Thread_local bool active;
static pthread_once_t installed = PTHREAD_ONCE_INIT;

static void *hook_malloc(size_t n)
{
    struct chunk *c = arena;

    if (!active)
        return malloc(n);
    n = (n + 15) & ~(size_t)15;
    if (c == NULL || c->size - c->used < n) {
        size_t size = n > CHUNK_SIZE ? n : CHUNK_SIZE;

        c = pe_xmalloc(sizeof(*c) + size);
        c->size = size;
        c->used = 0;
        c->next = arena;
        arena = c;
    }
    c->used += n;
    return (char *)c->data + c->used - n;
}

static void hook_free(void *p)
{
    if (!active)
        free(p);
    /* else: it goes with the window, in pe_json_arena_end */
}

static void install(void)
{
    cJSON_Hooks h = {hook_malloc, hook_free};

    cJSON_InitHooks(&h);
}

void pe_json_arena_install(void)
{
    pthread_once(&installed, install);
}

void pe_json_arena_begin(void)
{
    pe_json_arena_install();
    active = true;
}

void pe_json_arena_end(void)
{
    active = false;
    if (arena == NULL)
        return;
    /* Keep the newest chunk if it has the usual size (one made for a huge
     * value is not kept), free the others. */
    while (arena->next != NULL) {
        struct chunk *old = arena->next;

        arena->next = old->next;
        free(old);
    }
    if (arena->size > CHUNK_SIZE) {
        free(arena);
        arena = NULL;
        return;
    }
    arena->used = 0;
}

void pe_json_arena_release(void)
{
    pe_json_arena_end();
    free(arena);
    arena = NULL;
}
