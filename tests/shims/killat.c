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
 * Counted: ioctl, sendmsg, sendto (netlink requests), write and writev to
 * a descriptor above 2 (files, sysfs; not the log on stderr), mknod,
 * mknodat, chown, lchown, fchown, fchownat, chmod, fchmod, fchmodat,
 * rename, renameat, renameat2, and module loading through syscall().
 * unlink, symlink and mkdir are not: tests/shims/pcisim.so calls them to
 * play the kernel, and those calls must not count as the program's.
 *
 * Put it first in LD_PRELOAD (before pcisim.so), so the program's calls
 * reach it first. Built without sanitizers. */
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static long limit = -1, count;
static ssize_t (*real_write)(int, const void *, size_t);

static void *next(const char *sym)
{
	void *p = dlsym(RTLD_NEXT, sym);
	if (!p) {
		fprintf(stderr, "killat: no next %s\n", sym);
		abort();
	}
	return p;
}

/* One counted call: log it, and die before it when it is the Nth. */
static void step(const char *call)
{
	if (limit < 0) {
		const char *s = getenv("KILLAT");
		limit = s ? strtol(s, NULL, 10) : 0;
		real_write = next("write");
	}
	count++;
	const char *log = getenv("KILLAT_LOG");
	char line[128];
	int n = snprintf(line, sizeof(line), "%ld %s%s\n", count, call,
			 count == limit ? " (killed here)" : "");
	if (log && *log) {
		int fd = (int)syscall(SYS_openat, AT_FDCWD, log,
				      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			real_write(fd, line, (size_t)n);
			syscall(SYS_close, fd);
		}
	}
	if (count == limit) {
		n = snprintf(line, sizeof(line), "killat: killed before call %ld (%s)\n", count, call);
		real_write(2, line, (size_t)n);
		raise(SIGKILL);
	}
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
	step("ioctl");
	return real(fd, req, arg);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	REAL(ssize_t, "sendmsg", int, const struct msghdr *, int);
	step("sendmsg");
	return real(fd, m, flags);
}

ssize_t sendto(int fd, const void *b, size_t n, int flags, const struct sockaddr *a, socklen_t al)
{
	REAL(ssize_t, "sendto", int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	step("sendto");
	return real(fd, b, n, flags, a, al);
}

ssize_t write(int fd, const void *b, size_t n)
{
	REAL(ssize_t, "write", int, const void *, size_t);
	if (fd > 2)
		step("write");
	return real(fd, b, n);
}

ssize_t writev(int fd, const struct iovec *v, int n)
{
	REAL(ssize_t, "writev", int, const struct iovec *, int);
	if (fd > 2)
		step("writev");
	return real(fd, v, n);
}

int mknod(const char *p, mode_t m, dev_t d)
{
	REAL(int, "mknod", const char *, mode_t, dev_t);
	step("mknod");
	return real(p, m, d);
}

int mknodat(int dfd, const char *p, mode_t m, dev_t d)
{
	REAL(int, "mknodat", int, const char *, mode_t, dev_t);
	step("mknodat");
	return real(dfd, p, m, d);
}

int chown(const char *p, uid_t u, gid_t g)
{
	REAL(int, "chown", const char *, uid_t, gid_t);
	step("chown");
	return real(p, u, g);
}

int lchown(const char *p, uid_t u, gid_t g)
{
	REAL(int, "lchown", const char *, uid_t, gid_t);
	step("lchown");
	return real(p, u, g);
}

int fchown(int fd, uid_t u, gid_t g)
{
	REAL(int, "fchown", int, uid_t, gid_t);
	step("fchown");
	return real(fd, u, g);
}

int fchownat(int dfd, const char *p, uid_t u, gid_t g, int fl)
{
	REAL(int, "fchownat", int, const char *, uid_t, gid_t, int);
	step("fchownat");
	return real(dfd, p, u, g, fl);
}

int chmod(const char *p, mode_t m)
{
	REAL(int, "chmod", const char *, mode_t);
	step("chmod");
	return real(p, m);
}

int fchmod(int fd, mode_t m)
{
	REAL(int, "fchmod", int, mode_t);
	step("fchmod");
	return real(fd, m);
}

int fchmodat(int dfd, const char *p, mode_t m, int fl)
{
	REAL(int, "fchmodat", int, const char *, mode_t, int);
	step("fchmodat");
	return real(dfd, p, m, fl);
}

int rename(const char *a, const char *b)
{
	REAL(int, "rename", const char *, const char *);
	step("rename");
	return real(a, b);
}

int renameat(int da, const char *a, int db, const char *b)
{
	REAL(int, "renameat", int, const char *, int, const char *);
	step("renameat");
	return real(da, a, db, b);
}

int renameat2(int da, const char *a, int db, const char *b, unsigned fl)
{
	REAL(int, "renameat2", int, const char *, int, const char *, unsigned);
	step("renameat2");
	return real(da, a, db, b, fl);
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
	if (nr == SYS_init_module || nr == SYS_finit_module || nr == SYS_delete_module)
		step("syscall(module)");
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
