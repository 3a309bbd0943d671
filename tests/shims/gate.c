/* SPDX-License-Identifier: MIT */
/* gate.so: an LD_PRELOAD shim that holds the program before its first
 * flock() of a directory while a file exists, so a test can order two
 * runs exactly (one paused between what it read and the lock it takes)
 * without timing. No test hooks in the product code: the program runs
 * unchanged.
 *
 *   GATE_FILE=PATH   before flock() on a directory descriptor: create
 *                    PATH.reached, then wait while PATH exists
 *
 * Put it before pcisim.so in LD_PRELOAD. Built without sanitizers. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int flock(int fd, int op)
{
	static int (*real)(int, int);
	if (!real)
		real = (int (*)(int, int))dlsym(RTLD_NEXT, "flock");
	const char *gate = getenv("GATE_FILE");
	struct stat st;
	if (gate && *gate && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		char reached[4096];
		snprintf(reached, sizeof(reached), "%s.reached", gate);
		int r = open(reached, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (r >= 0)
			close(r);
		while (access(gate, F_OK) == 0)
			usleep(5000);
	}
	return real(fd, op);
}
