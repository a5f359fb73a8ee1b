/* thread: the role of the calling thread, so that code which blocks can
 * check it never runs on an event loop (a blocked loop stalls every
 * connection it serves). net/ marks its loop threads; functions that wait
 * (fsync, joins, condition variables, Argon2id) call ASSERT_OFF_LOOP(),
 * which aborts with the function's name in checked builds (make asan,
 * make tsan) and costs nothing otherwise. Any thread may call these. */
#ifndef ATRIUM_UTIL_THREAD_H
#define ATRIUM_UTIL_THREAD_H
#include <stdbool.h>

/* Marks the calling thread as an event loop, for its whole life. */
void thread_mark_loop(void);
bool thread_is_loop(void);
/* Abort (after saying who) if the calling thread is / is not a loop. */
void thread_assert_off_loop(const char *who);
void thread_assert_on_loop(const char *who);

#ifdef ATRIUM_THREAD_CHECKS
#define ASSERT_OFF_LOOP() thread_assert_off_loop(__func__)
#define ASSERT_ON_LOOP() thread_assert_on_loop(__func__)
#else
#define ASSERT_OFF_LOOP() ((void)0)
#define ASSERT_ON_LOOP() ((void)0)
#endif

#endif
