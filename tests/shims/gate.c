/* SPDX-License-Identifier: MIT */
/* gate.so: an LD_PRELOAD shim that holds the program at a chosen call
 * while a file exists, so a test can order two runs exactly (one paused
 * between what it read and what it does next) without timing. No test
 * hooks in the product code: the program runs unchanged.
 *
 *   GATE_FILE=PATH   where to hold: create PATH.reached, then wait while
 *                    PATH exists
 *   GATE_AT=flock    before the first flock() of a directory (default)
 *   GATE_AT=unlink:NAME   before the first unlinkat() of a file NAME
 *   GATE_AT=chmod    after the first chmod() (of a path), once it is done
 *
 * Put it before pcisim.so in LD_PRELOAD. Built without sanitizers. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int held;

static void hold(void)
{
	const char *gate = getenv("GATE_FILE");
	if (held++ || !gate || !*gate)
		return;
	char reached[4096];
	snprintf(reached, sizeof(reached), "%s.reached", gate);
	int r = open(reached, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (r >= 0)
		close(r);
	while (access(gate, F_OK) == 0)
		usleep(5000);
}

static const char *at(void)
{
	const char *a = getenv("GATE_AT");
	return a && *a ? a : "flock";
}

int flock(int fd, int op)
{
	static int (*real)(int, int);
	if (!real)
		real = (int (*)(int, int))dlsym(RTLD_NEXT, "flock");
	struct stat st;
	if (!strcmp(at(), "flock") && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
		hold();
	return real(fd, op);
}

int unlinkat(int dfd, const char *name, int flags)
{
	static int (*real)(int, const char *, int);
	if (!real)
		real = (int (*)(int, const char *, int))dlsym(RTLD_NEXT, "unlinkat");
	const char *a = at();
	if (!strncmp(a, "unlink:", 7) && !strcmp(name, a + 7))
		hold();
	return real(dfd, name, flags);
}

int chmod(const char *path, mode_t mode)
{
	static int (*real)(const char *, mode_t);
	if (!real)
		real = (int (*)(const char *, mode_t))dlsym(RTLD_NEXT, "chmod");
	int r = real(path, mode), err = errno;
	if (!strcmp(at(), "chmod"))
		hold();
	errno = err;
	return r;
}
