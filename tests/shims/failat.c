/* SPDX-License-Identifier: MIT */
/* failat.so: an LD_PRELOAD shim that makes the program's Nth call that
 * can change the host fail, as the kernel would fail it, while the program
 * goes on: a test can fail each step of a root helper in turn and check
 * that the run says so and rolls back what it did. No test hooks in the
 * product code: the program runs unchanged.
 *
 *   FAILAT=N   the Nth counted call is not made: it returns -1 with
 *              errno FAILAT_ERRNO; every other call goes through; unset
 *              or 0: count only
 *   FAILAT=N+  the Nth and every later counted call fails so (the
 *              rollback of a failed step failing too)
 *   FAILAT_ERRNO=NAME   EIO (default), ENOSPC, ENOMEM, EPERM, ... or a
 *              number
 *   FAILAT_LOG=PATH     append "N CALL" for every counted call
 *   FAILAT_OPEN=PATH    every open() of PATH (that very string) fails so
 *              too, with or without FAILAT; not counted (an open
 *              changes nothing), it reaches the step just after a
 *              change the counted calls do not see: the open of a
 *              mount point that a mount made through syscall() covers
 *   FAILAT_FSYNC=1      every fsync() fails so too, with or without FAILAT;
 *              not counted (it changes nothing): a record that cannot be
 *              made durable must fail the run before the change it is for
 *   FAILAT_PIDFD=1      every pidfd_open() fails so too, with or without
 *              FAILAT; not counted (it changes nothing): a process that
 *              cannot be held must not be acted on as if it were
 *   FAILAT_SYSCALL=NR   every syscall(NR) (libc's syscall(), which
 *              virtiofs-launch makes its mount calls by) fails so too,
 *              with or without FAILAT; not counted: a kernel without that
 *              call (mount_setattr(2) before Linux 5.12, open_tree(2)
 *              after it) must not make a step be skipped
 *
 * Nothing is written to stderr: what the program says there is its own.
 * The counted calls, and what counts them, are those of counted.h (shared
 * with killat.so, which kills the program instead). Put it first in
 * LD_PRELOAD (before pcisim.so). Built without sanitizers. */
#define SHIM "failat"
#define VAR(x) FAILAT##x
#define HERE " (failed here)"
static int syscall_fails(long nr);
#define SYSCALL_FAILS(nr) syscall_fails(nr)
#include "counted.h"
#include "openmode.h"

#include <sys/pidfd.h>

static const struct {
	const char *name;
	int no;
} errnos[] = {
	{ "EIO", EIO },	      { "ENOSPC", ENOSPC }, { "ENOMEM", ENOMEM }, { "EPERM", EPERM },
	{ "EACCES", EACCES }, { "EBUSY", EBUSY },   { "EINVAL", EINVAL }, { "ENODEV", ENODEV },
	{ "ENOENT", ENOENT }, { "EEXIST", EEXIST }, { "EAGAIN", EAGAIN }, { "EINTR", EINTR },
	{ "EDQUOT", EDQUOT }, { "EROFS", EROFS },   { "ENOBUFS", ENOBUFS }, { "EMFILE", EMFILE },
};

/* FAILAT_ERRNO, read when the call fails (the variable stays in the
 * environment: it does nothing without FAILAT or FAILAT_OPEN). A name this does not know
 * is the test's mistake: abort. */
static int at_nth(long n, const char *call)
{
	const char *s = getenv("FAILAT_ERRNO");
	int e = EIO;
	if (s && *s) {
		char *end;
		long v = strtol(s, &end, 10);
		e = 0;
		if (!*end && v > 0)
			e = (int)v;
		for (size_t i = 0; !e && i < sizeof(errnos) / sizeof(errnos[0]); i++)
			if (!strcmp(s, errnos[i].name))
				e = errnos[i].no;
		if (!e) {
			fprintf(stderr, "failat: unknown FAILAT_ERRNO '%s'\n", s);
			abort();
		}
	}
	(void)n;
	(void)call;
	errno = e;
	return -1;
}

/* FAILAT_OPEN, taken out of the environment at load as the others are. */
static char *open_path;

__attribute__((constructor)) static void failat_open_init(void)
{
	const char *p = getenv("FAILAT_OPEN");
	if (p && *p)
		open_path = strdup(p);
	unsetenv("FAILAT_OPEN");
}

int open(const char *p, int fl, ...)
{
	REAL(int, "open", const char *, int, ...);
	mode_t m = OPEN_MODE(fl);
	if (open_path && getpid() == self && strcmp(p, open_path) == 0)
		return at_nth(0, "open");
	return real(p, fl, m);
}

/* FAILAT_FSYNC, taken out of the environment at load as the others are. */
static bool fsync_fails;

__attribute__((constructor)) static void failat_fsync_init(void)
{
	const char *v = getenv("FAILAT_FSYNC");
	fsync_fails = v && !strcmp(v, "1");
	unsetenv("FAILAT_FSYNC");
}

int fsync(int fd)
{
	REAL(int, "fsync", int);
	if (fsync_fails && getpid() == self)
		return at_nth(0, "fsync");
	return real(fd);
}

/* FAILAT_PIDFD, taken out of the environment at load as the others are. */
static bool pidfd_fails;

__attribute__((constructor)) static void failat_pidfd_init(void)
{
	const char *v = getenv("FAILAT_PIDFD");
	pidfd_fails = v && !strcmp(v, "1");
	unsetenv("FAILAT_PIDFD");
}

int pidfd_open(pid_t pid, unsigned int flags)
{
	REAL(int, "pidfd_open", pid_t, unsigned int);
	if (pidfd_fails && getpid() == self)
		return at_nth(0, "pidfd_open");
	return real(pid, flags);
}

/* FAILAT_SYSCALL, taken out of the environment at load as the others are. */
static long syscall_nr = -1;

__attribute__((constructor)) static void failat_syscall_init(void)
{
	const char *v = getenv("FAILAT_SYSCALL");
	char *end;
	long n = v && *v ? strtol(v, &end, 10) : -1;
	syscall_nr = v && *v && !*end ? n : -1;
	unsetenv("FAILAT_SYSCALL");
}

static int syscall_fails(long nr)
{
	if (syscall_nr < 0 || nr != syscall_nr || getpid() != self)
		return 0;
	at_nth(0, "syscall");
	return 1;
}
