/* SPDX-License-Identifier: MIT */
/* killat.so: an LD_PRELOAD shim that kills the program at its Nth call
 * that can change the host, so a test can stop a root helper at every
 * step in turn and check what is left (issue 11, point 9). No test hooks
 * in the product code: the program runs unchanged.
 *
 *   KILLAT=N   raise SIGKILL just before the Nth counted call (that call
 *              does not happen); unset or 0: count only
 *   KILLAT_LOG=PATH   append "N CALL" for every counted call (debugging)
 *
 * The counted calls, and what counts them, are those of counted.h (shared
 * with failat.so, which fails the call instead). Put it first in
 * LD_PRELOAD (before pcisim.so). Built without sanitizers. */
#include <signal.h>

#define SHIM "killat"
#define VAR(x) KILLAT##x
#define HERE " (killed here)"
#include "counted.h"

static int at_nth(long n, const char *call)
{
	char line[128];
	int k = snprintf(line, sizeof(line), "killat: killed before call %ld (%s)\n", n, call);
	syscall(SYS_write, 2, line, (size_t)k);
	raise(SIGKILL);
	return -1;
}
