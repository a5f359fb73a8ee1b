/* thread: thread roles (see thread.h). */
#include "util/thread.h"

#include <stdio.h>
#include <stdlib.h>

static _Thread_local bool on_loop;

void thread_mark_loop(void) { on_loop = true; }
bool thread_is_loop(void) { return on_loop; }

void thread_assert_off_loop(const char *who) {
    if (!on_loop) return;
    fprintf(stderr, "atrium: BUG: %s blocks and was called on an event loop\n", who);
    abort();
}

void thread_assert_on_loop(const char *who) {
    if (on_loop) return;
    fprintf(stderr, "atrium: BUG: %s belongs to an event loop and was called off it\n", who);
    abort();
}
