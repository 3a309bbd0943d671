/* SPDX-License-Identifier: MIT */
/* runner-notify: a stand-in bin/microvm-run that supports notify sockets,
 * as a QEMU runner does. It says whether it got NOTIFY_SOCKET, waits
 * $RUNNER_NOTIFY_DELAY seconds (whole, 1 when unset; the "boot"), sends
 * READY=1 from its own pid (the unit's main process, since runner-exec
 * execs it in place) and then sleeps until SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"

int main(void)
{
	const char *ns = getenv("NOTIFY_SOCKET"), *d = getenv("RUNNER_NOTIFY_DELAY");
	struct timespec boot = { .tv_sec = d && *d ? atoi(d) : 1 };
	printf("runner-notify: pid %ld, NOTIFY_SOCKET %s, READY=1 in %ld s\n", (long)getpid(),
	       ns ? "set" : "unset", (long)boot.tv_sec);
	fflush(stdout);
	nanosleep(&boot, NULL);
	int r = notify("READY=1");
	printf("runner-notify: READY=1 %s\n", r < 0 ? "failed" : "sent");
	fflush(stdout);
	for (;;)
		pause();
}
