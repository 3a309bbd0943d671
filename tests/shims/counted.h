/* SPDX-License-Identifier: MIT */
/* The calls that killat.so and failat.so count: the libc calls through
 * which a program can change the host. Each shim defines, before it
 * includes this file,
 *
 *   SHIM      its name and the prefix of its variables: "killat" reads
 *             KILLAT and KILLAT_LOG, "failat" FAILAT and FAILAT_LOG
 *   VAR(x)    KILLAT##x, FAILAT##x (so VAR() is the name of N)
 *   HERE      what the log says of the Nth call: " (killed here)"
 *
 * and after it the function that stands in for the Nth call:
 *
 *   static int at_nth(long n, const char *call);
 *
 * which returns -1 with errno set (the call is then not made, and fails
 * with that errno) or does not return.
 *
 *   VAR()=N        the Nth counted call is the one; unset or 0: count only
 *   VAR()=N+       the Nth and every one after it (failat: a failure and
 *                  then the rollback's calls failing too)
 *   VAR(_LOG)=PATH append "N CALL" for every counted call
 *
 * Counted: ioctl, sendmsg, sendto (netlink requests, sd_notify), write
 * and writev to a descriptor above 2 (files, sysfs; not the log on
 * stderr), mknod, mknodat, chown, lchown, fchown, fchownat, chmod,
 * fchmod, fchmodat, rename, renameat, renameat2, mkdirat, symlinkat,
 * unlinkat, bind of an AF_UNIX socket to a path (it makes a file), listen
 * (others may connect from then on), fork (a process starts: a daemon of
 * virtiofs-launch), and module loading through syscall(). unlink,
 * symlink, mkdir and rmdir are not: tests/shims/pcisim.so calls them to
 * play the kernel, and those calls must not count as the program's (it
 * makes no *at call, nor listen or fork).
 *
 * Only the process the shim was loaded into counts, and the variables are
 * taken out of its environment at load: a forked child (tap-setup's scan
 * of /proc) and a program it executes (a virtiofsd, microvm-run) run
 * untouched, so one run sees one Nth call. So the variables go to the
 * program under test itself: a wrapper started with them (timeout(1))
 * would take them away from the program it runs.
 *
 * Put the shim first in LD_PRELOAD (before pcisim.so), so the program's
 * calls reach it first. Built without sanitizers. */
#pragma once

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define STR_(x) #x
#define STR(x) STR_(x)

static long limit, count;
static bool onward; /* VAR() was N+ */
static pid_t self;
static int log_fd = -1;

static int at_nth(long n, const char *call);

static void *next(const char *sym)
{
	void *p = dlsym(RTLD_NEXT, sym);
	if (!p) {
		fprintf(stderr, SHIM ": no next %s\n", sym);
		abort();
	}
	return p;
}

/* At load: N, and the log opened, kept here and taken out of the
 * environment (a program this one runs is not the run under test). The
 * log stays open, close-on-exec, far above the program's descriptors: a
 * path opened at each call would not be found from a chroot
 * (virtiofs-launch binds its sockets in one), and those calls would go
 * unlogged while counted. */
__attribute__((constructor)) static void counted_init(void)
{
	const char *n = getenv(STR(VAR()));
	const char *log = getenv(STR(VAR(_LOG)));
	char *end = NULL;
	limit = n ? strtol(n, &end, 10) : 0;
	onward = end && *end == '+';
	if (log) {
		int fd = (int)syscall(SYS_openat, AT_FDCWD, log,
				      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int high = fd >= 0 ? (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 900) : -1;
		if (high >= 0) {
			syscall(SYS_close, fd);
			fd = high;
		}
		log_fd = fd;
	}
	self = getpid();
	unsetenv(STR(VAR()));
	unsetenv(STR(VAR(_LOG)));
}

/* One counted call: log it; the Nth goes to at_nth(). 0: make the call,
 * else -1 with errno: fail it. */
static int step(const char *call)
{
	if (getpid() != self)
		return 0; /* a forked child: not counted */
	count++;
	bool hit = limit > 0 && (count == limit || (onward && count > limit));
	if (log_fd >= 0) {
		char line[128];
		int n = snprintf(line, sizeof(line), "%ld %s%s\n", count, call, hit ? HERE : "");
		syscall(SYS_write, log_fd, line, (size_t)n);
	}
	return hit ? at_nth(count, call) : 0;
}

#define REAL(ret, name, ...)                                                               \
	static ret (*real)(__VA_ARGS__);                                                   \
	if (!real)                                                                         \
		real = next(name)

int ioctl(int fd, unsigned long req, ...);
int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	REAL(int, "ioctl", int, unsigned long, ...);
	if (step("ioctl") < 0)
		return -1;
	return real(fd, req, arg);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	REAL(ssize_t, "sendmsg", int, const struct msghdr *, int);
	if (step("sendmsg") < 0)
		return -1;
	return real(fd, m, flags);
}

ssize_t sendto(int fd, const void *b, size_t n, int flags, const struct sockaddr *a, socklen_t al)
{
	REAL(ssize_t, "sendto", int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	if (step("sendto") < 0)
		return -1;
	return real(fd, b, n, flags, a, al);
}

ssize_t write(int fd, const void *b, size_t n)
{
	REAL(ssize_t, "write", int, const void *, size_t);
	if (fd > 2 && step("write") < 0)
		return -1;
	return real(fd, b, n);
}

ssize_t writev(int fd, const struct iovec *v, int n)
{
	REAL(ssize_t, "writev", int, const struct iovec *, int);
	if (fd > 2 && step("writev") < 0)
		return -1;
	return real(fd, v, n);
}

int mknod(const char *p, mode_t m, dev_t d)
{
	REAL(int, "mknod", const char *, mode_t, dev_t);
	if (step("mknod") < 0)
		return -1;
	return real(p, m, d);
}

int mknodat(int dfd, const char *p, mode_t m, dev_t d)
{
	REAL(int, "mknodat", int, const char *, mode_t, dev_t);
	if (step("mknodat") < 0)
		return -1;
	return real(dfd, p, m, d);
}

int chown(const char *p, uid_t u, gid_t g)
{
	REAL(int, "chown", const char *, uid_t, gid_t);
	if (step("chown") < 0)
		return -1;
	return real(p, u, g);
}

int lchown(const char *p, uid_t u, gid_t g)
{
	REAL(int, "lchown", const char *, uid_t, gid_t);
	if (step("lchown") < 0)
		return -1;
	return real(p, u, g);
}

int fchown(int fd, uid_t u, gid_t g)
{
	REAL(int, "fchown", int, uid_t, gid_t);
	if (step("fchown") < 0)
		return -1;
	return real(fd, u, g);
}

int fchownat(int dfd, const char *p, uid_t u, gid_t g, int fl)
{
	REAL(int, "fchownat", int, const char *, uid_t, gid_t, int);
	if (step("fchownat") < 0)
		return -1;
	return real(dfd, p, u, g, fl);
}

int chmod(const char *p, mode_t m)
{
	REAL(int, "chmod", const char *, mode_t);
	if (step("chmod") < 0)
		return -1;
	return real(p, m);
}

int fchmod(int fd, mode_t m)
{
	REAL(int, "fchmod", int, mode_t);
	if (step("fchmod") < 0)
		return -1;
	return real(fd, m);
}

int fchmodat(int dfd, const char *p, mode_t m, int fl)
{
	REAL(int, "fchmodat", int, const char *, mode_t, int);
	if (step("fchmodat") < 0)
		return -1;
	return real(dfd, p, m, fl);
}

int rename(const char *a, const char *b)
{
	REAL(int, "rename", const char *, const char *);
	if (step("rename") < 0)
		return -1;
	return real(a, b);
}

int renameat(int da, const char *a, int db, const char *b)
{
	REAL(int, "renameat", int, const char *, int, const char *);
	if (step("renameat") < 0)
		return -1;
	return real(da, a, db, b);
}

int renameat2(int da, const char *a, int db, const char *b, unsigned fl)
{
	REAL(int, "renameat2", int, const char *, int, const char *, unsigned);
	if (step("renameat2") < 0)
		return -1;
	return real(da, a, db, b, fl);
}

int mkdirat(int dfd, const char *p, mode_t m)
{
	REAL(int, "mkdirat", int, const char *, mode_t);
	if (step("mkdirat") < 0)
		return -1;
	return real(dfd, p, m);
}

int symlinkat(const char *t, int dfd, const char *p)
{
	REAL(int, "symlinkat", const char *, int, const char *);
	if (step("symlinkat") < 0)
		return -1;
	return real(t, dfd, p);
}

int unlinkat(int dfd, const char *p, int fl)
{
	REAL(int, "unlinkat", int, const char *, int);
	if (step("unlinkat") < 0)
		return -1;
	return real(dfd, p, fl);
}

int bind(int fd, const struct sockaddr *a, socklen_t al)
{
	REAL(int, "bind", int, const struct sockaddr *, socklen_t);
	/* A path (not netlink, not an abstract name): a file is made. */
	bool file = a && al > offsetof(struct sockaddr_un, sun_path) && a->sa_family == AF_UNIX &&
		    ((const struct sockaddr_un *)a)->sun_path[0] != '\0';
	if (file && step("bind") < 0)
		return -1;
	return real(fd, a, al);
}

int listen(int fd, int backlog)
{
	REAL(int, "listen", int, int);
	if (step("listen") < 0)
		return -1;
	return real(fd, backlog);
}

pid_t fork(void)
{
	REAL(pid_t, "fork", void);
	if (step("fork") < 0)
		return -1;
	return real();
}

long syscall(long nr, ...);
long syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a[6];
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	REAL(long, "syscall", long, ...);
#ifdef SYSCALL_FAILS /* (the shim's own failures, not counted) */
	if (SYSCALL_FAILS(nr))
		return -1;
#endif
	if ((nr == SYS_init_module || nr == SYS_finit_module || nr == SYS_delete_module) &&
	    step("syscall(module)") < 0)
		return -1;
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
