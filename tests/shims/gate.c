/* SPDX-License-Identifier: MIT */
/* gate.so: an LD_PRELOAD shim that holds the program at chosen calls
 * while a file exists, so a test can order two runs exactly (one paused
 * between what it read and what it does next) without timing. No test
 * hooks in the product code: the program runs unchanged.
 *
 *   GATE_FILE=PATH   where to hold: create PATH.reached, then wait while
 *                    PATH exists
 *   GATE_AT=POINT[,POINT...]   where, each point in turn: at the first
 *                    call that matches the first point (on GATE_FILE),
 *                    then at the first call after it that matches the
 *                    second (on GATE_FILE.2, GATE_FILE.2.reached), and so
 *                    on; a point whose file is not there is passed (its
 *                    .reached made all the same), so that a later one can
 *                    be a later call of the same kind. Points:
 *     flock          before a flock() of a directory (the default)
 *     unlink:NAME    before an unlinkat() of a file NAME
 *     rename:NAME    before a renameat() or rename() to a file NAME
 *     mkdir:NAME     before a mkdirat() or mkdir() of a directory NAME
 *     chmod          after a chmod() (of a path), once it is done
 *     xattr:NAME     after an lremovexattr() of a path whose last component
 *                    is NAME, once it is done (errno kept)
 *     ioctl:HEX      after an ioctl() of request number HEX (lower-case
 *                    hex, no 0x: TUNSETGROUP is 400454ce), once it is
 *                    done
 *     resolve:NAME   after the first look-up of a path whose last
 *                    component is NAME, once it is done: open(),
 *                    openat(), stat(), lstat(), statfs(), statx() (so a
 *                    test can swap what the path names between the
 *                    program's first look at it and any later one)
 *
 * Put it before pcisim.so in LD_PRELOAD. Built without sanitizers. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "openmode.h"

static int next; /* the point held at next, from 0 */

/* Point k of GATE_AT (from 0) into buf: "" when there is none. */
static const char *point(int k, char *buf, size_t size)
{
	const char *a = getenv("GATE_AT");
	if (!a || !*a)
		a = "flock";
	for (; k > 0 && a; k--)
		if ((a = strchr(a, ',')))
			a++;
	snprintf(buf, size, "%.*s", a ? (int)strcspn(a, ",") : 0, a ? a : "");
	return buf;
}

/* The call kind (of a file name, or NULL): held there when it is the
 * next point. */
static void gate(const char *kind, const char *name)
{
	char p[512];
	size_t n = strlen(kind);
	point(next, p, sizeof(p));
	if (strncmp(p, kind, n) != 0 || (p[n] && (p[n] != ':' || !name)))
		return;
	if (p[n] == ':') {
		const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
		if (strcmp(p + n + 1, base) != 0)
			return;
	}
	const char *g = getenv("GATE_FILE");
	if (!g || !*g)
		return;
	char file[4096], reached[4200];
	if (next++ == 0)
		snprintf(file, sizeof(file), "%s", g);
	else
		snprintf(file, sizeof(file), "%s.%d", g, next);
	snprintf(reached, sizeof(reached), "%s.reached", file);
	int r = open(reached, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (r >= 0)
		close(r);
	while (access(file, F_OK) == 0)
		usleep(5000);
}

int flock(int fd, int op)
{
	static int (*real)(int, int);
	if (!real)
		real = (int (*)(int, int))dlsym(RTLD_NEXT, "flock");
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
		gate("flock", NULL);
	return real(fd, op);
}

int unlinkat(int dfd, const char *name, int flags)
{
	static int (*real)(int, const char *, int);
	if (!real)
		real = (int (*)(int, const char *, int))dlsym(RTLD_NEXT, "unlinkat");
	gate("unlink", name);
	return real(dfd, name, flags);
}

int renameat(int odfd, const char *old, int ndfd, const char *name)
{
	static int (*real)(int, const char *, int, const char *);
	if (!real)
		real = (int (*)(int, const char *, int, const char *))dlsym(RTLD_NEXT, "renameat");
	gate("rename", name);
	return real(odfd, old, ndfd, name);
}

int rename(const char *old, const char *name)
{
	static int (*real)(const char *, const char *);
	if (!real)
		real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	gate("rename", name);
	return real(old, name);
}

int mkdirat(int dfd, const char *name, mode_t mode)
{
	static int (*real)(int, const char *, mode_t);
	if (!real)
		real = (int (*)(int, const char *, mode_t))dlsym(RTLD_NEXT, "mkdirat");
	gate("mkdir", name);
	return real(dfd, name, mode);
}

int mkdir(const char *name, mode_t mode)
{
	static int (*real)(const char *, mode_t);
	if (!real)
		real = (int (*)(const char *, mode_t))dlsym(RTLD_NEXT, "mkdir");
	gate("mkdir", name);
	return real(name, mode);
}

int chmod(const char *path, mode_t mode)
{
	static int (*real)(const char *, mode_t);
	if (!real)
		real = (int (*)(const char *, mode_t))dlsym(RTLD_NEXT, "chmod");
	int r = real(path, mode), err = errno;
	gate("chmod", NULL);
	errno = err;
	return r;
}

int lremovexattr(const char *path, const char *name)
{
	static int (*real)(const char *, const char *);
	if (!real)
		real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "lremovexattr");
	int r = real(path, name), err = errno;
	gate("xattr", path);
	errno = err;
	return r;
}

int ioctl(int fd, unsigned long req, ...)
{
	static int (*real)(int, unsigned long, ...);
	if (!real)
		real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	int r = real(fd, req, arg), err = errno;
	char hex[24];
	snprintf(hex, sizeof(hex), "%lx", req);
	gate("ioctl", hex);
	errno = err;
	return r;
}

/* ---- resolve:NAME (after the call, errno kept) ---- */

#define AFTER(call, name)                \
	({                               \
		__auto_type r_ = (call); \
		int err_ = errno;        \
		gate("resolve", name);   \
		errno = err_;            \
		r_;                      \
	})

int open(const char *p, int fl, ...)
{
	static int (*real)(const char *, int, ...);
	if (!real)
		real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	mode_t m = OPEN_MODE(fl);
	return AFTER(real(p, fl, m), p);
}

int openat(int dfd, const char *p, int fl, ...)
{
	static int (*real)(int, const char *, int, ...);
	if (!real)
		real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
	mode_t m = OPEN_MODE(fl);
	return AFTER(real(dfd, p, fl, m), p);
}

int stat(const char *p, struct stat *st)
{
	static int (*real)(const char *, struct stat *);
	if (!real)
		real = (int (*)(const char *, struct stat *))dlsym(RTLD_NEXT, "stat");
	return AFTER(real(p, st), p);
}

int lstat(const char *p, struct stat *st)
{
	static int (*real)(const char *, struct stat *);
	if (!real)
		real = (int (*)(const char *, struct stat *))dlsym(RTLD_NEXT, "lstat");
	return AFTER(real(p, st), p);
}

int statfs(const char *p, struct statfs *sf)
{
	static int (*real)(const char *, struct statfs *);
	if (!real)
		real = (int (*)(const char *, struct statfs *))dlsym(RTLD_NEXT, "statfs");
	return AFTER(real(p, sf), p);
}

int statx(int dfd, const char *p, int fl, unsigned mask, struct statx *stx)
{
	static int (*real)(int, const char *, int, unsigned, struct statx *);
	if (!real)
		real = (int (*)(int, const char *, int, unsigned, struct statx *))dlsym(RTLD_NEXT,
											"statx");
	return AFTER(real(dfd, p, fl, mask, stx), p);
}

