/* SPDX-License-Identifier: MIT */
#include "procfd.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <linux/kcmp.h>

/* /dev/net/tun: the misc device TUN_MINOR. */
#define TUN_DEVT makedev(10, 200)

int fdinfo_iff(const char *buf, size_t len, char name[IFNAMSIZ])
{
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		if (e - p >= 5 && !memcmp(p, "iff:\t", 5)) {
			size_t n = (size_t)(e - p - 5);
			const char *s = p + 5;
			if (n >= IFNAMSIZ || (n == 1 && s[0] == '.') ||
			    (n == 2 && s[0] == '.' && s[1] == '.'))
				return -EINVAL;
			for (size_t i = 0; i < n; i++)
				if (s[i] == '/' || s[i] == ':' || s[i] == '\0' ||
				    isspace((unsigned char)s[i]))
					return -EINVAL;
			memcpy(name, s, n);
			name[n] = '\0';
			return 1;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

struct scan {
	int procfd;
	bool may_excuse;   /* we hold CAP_SYS_PTRACE and a DAC read capability */
	uint64_t our_caps; /* our effective capabilities */
	struct fd_target *t;
	size_t n, found;
	struct fd_scan *s;
	bool ns_known; /* our network namespace, to compare a holder's with */
	dev_t ns_dev;
	ino_t ns_ino;
};

static bool gone(int err)
{
	return err == ENOENT || err == ESRCH;
}

/* Effective uid and capabilities of PROCFS/rel (a status file). */
static bool status_of(int procfd, const char *rel, long *euid, uint64_t *caps)
{
	char buf[4096];
	int fd = openat(procfd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t k = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (k <= 0)
		return false;
	buf[k] = '\0';
	const char *u = strstr(buf, "\nUid:"), *c = strstr(buf, "\nCapEff:");
	unsigned long long v;
	long real;
	if (!u || !c || sscanf(u + 5, "%ld %ld", &real, euid) != 2 || sscanf(c + 8, "%llx", &v) != 1)
		return false;
	*caps = v;
	return true;
}

/* A process tap-setup cannot read although it holds the capabilities to
 * read any process (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH or
 * CAP_DAC_OVERRIDE), and which runs as root with capabilities tap-setup
 * lacks, is more privileged than tap-setup can be: the machine's own
 * supervisor (a sandbox's init), nothing the VM user can make. It is not
 * counted as blind; anything else is. */
static bool excused(const struct scan *x, pid_t pid)
{
	char rel[64];
	long euid;
	uint64_t caps;
	snprintf(rel, sizeof(rel), "%d/status", (int)pid);
	return x->may_excuse && status_of(x->procfd, rel, &euid, &caps) && euid == 0 &&
	       (caps & ~x->our_caps) != 0;
}

static void blind(struct scan *x, pid_t pid, const char *rel, int err)
{
	if (x->s->blind_pid || x->s->excused_pid == pid)
		return;
	if (excused(x, pid)) {
		x->s->excused_pid = pid;
		return;
	}
	x->s->blind_pid = pid;
	x->s->blind_err = err;
	snprintf(x->s->blind_what, sizeof(x->s->blind_what), "%s", rel);
}

static bool ns_ours(const struct scan *x, const struct stat *st)
{
	return x->ns_known && st->st_dev == x->ns_dev && st->st_ino == x->ns_ino;
}

/* Is the TAP that descriptor fdnum of pid is attached to in our network
 * namespace? 1 yes, 0 no, -errno when it cannot be told. First the
 * process's namespace (a VM's TAP is almost always in it); else the TAP's
 * own, through a copy of the descriptor (pidfd_getfd, CAP_SYS_PTRACE) and
 * TUNGETDEVNETNS. */
static int tun_ours(const struct scan *x, pid_t pid, const char *base, int fdnum)
{
	char rel[64];
	struct stat st;
	snprintf(rel, sizeof(rel), "%s/ns/net", base);
	if (fstatat(x->procfd, rel, &st, 0) == 0 && ns_ours(x, &st))
		return 1;
	if (!x->ns_known)
		return -ENOENT;
	if (strchr(base, '/'))
		return -EXDEV; /* a thread's own table: pidfd_getfd sees the process's */
	int pfd = pidfd_open(pid, 0);
	if (pfd < 0)
		return -errno;
	int fd = pidfd_getfd(pfd, fdnum, 0), err = errno;
	close(pfd);
	if (fd < 0)
		return -err;
	int nsfd = ioctl(fd, TUNGETDEVNETNS);
	err = errno;
	close(fd);
	if (nsfd < 0)
		return -err;
	int r = fstat(nsfd, &st) < 0 ? -errno : ns_ours(x, &st);
	close(nsfd);
	return r;
}

static void held(struct scan *x, struct fd_target *t, pid_t pid, int err)
{
	t->pid = pid;
	t->err = err;
	x->found++;
}

/* A /dev/net/tun descriptor of pid (in base, "PID" or "PID/task/TID"):
 * which TAP (fdinfo), and is it ours? */
static void tun_fd(struct scan *x, pid_t pid, const char *base, const char *fdname)
{
	char rel[96], buf[4096], name[IFNAMSIZ];
	snprintf(rel, sizeof(rel), "%s/fdinfo/%s", base, fdname);
	int fd = openat(x->procfd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (!gone(errno))
			blind(x, pid, rel, errno);
		return;
	}
	ssize_t k = read(fd, buf, sizeof(buf));
	int err = errno;
	close(fd);
	if (k < 0) {
		if (!gone(err))
			blind(x, pid, rel, err);
		return;
	}
	if (fdinfo_iff(buf, (size_t)k, name) != 1 || !name[0])
		return; /* attached to nothing: holds nothing */
	for (size_t i = 0; i < x->n; i++) {
		struct fd_target *t = &x->t[i];
		if (t->pid || !t->name || strcmp(t->name, name) != 0)
			continue;
		int r = tun_ours(x, pid, base, atoi(fdname));
		if (r != 0)
			held(x, t, pid, r < 0 ? -r : 0);
	}
}

static void char_fd(struct scan *x, pid_t pid, dev_t devt)
{
	for (size_t i = 0; i < x->n; i++)
		if (!x->t[i].pid && !x->t[i].name && x->t[i].devt == devt)
			held(x, &x->t[i], pid, 0);
}

/* The number a /proc entry is named (a PID, a TID), or 0. */
static long number_of(const char *name)
{
	char *end;
	long n = strtol(name, &end, 10);
	return isdigit((unsigned char)name[0]) && !*end && n > 0 ? n : 0;
}

/* PROCFS/rel (of pid) as a directory; NULL, blind unless it is gone. */
static DIR *open_dir(struct scan *x, pid_t pid, const char *rel)
{
	int fd = openat(x->procfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		if (!gone(err))
			blind(x, pid, rel, err);
	}
	return d;
}

/* The next entry of d (PROCFS/rel) but . and ..; NULL at the end, blind
 * on an error. */
static struct dirent *next_entry(struct scan *x, pid_t pid, const char *rel, DIR *d)
{
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de && errno && !gone(errno))
			blind(x, pid, rel, errno);
		if (!de || de->d_name[0] != '.')
			return de;
	}
}

/* The descriptor table in base ("PID" or "PID/task/TID") of pid. */
static void scan_fds(struct scan *x, pid_t pid, const char *base)
{
	char rel[96];
	snprintf(rel, sizeof(rel), "%s/fd", base);
	DIR *d = open_dir(x, pid, rel);
	if (!d)
		return;
	struct dirent *de;
	while ((de = next_entry(x, pid, rel, d))) {
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0) {
			if (gone(errno))
				continue;
			blind(x, pid, rel, errno);
			break;
		}
		if (S_ISCHR(st.st_mode) && st.st_rdev == TUN_DEVT)
			tun_fd(x, pid, base, de->d_name);
		else if (S_ISCHR(st.st_mode))
			char_fd(x, pid, st.st_rdev);
	}
	closedir(d);
}

/* PROCFS/PID/fd is the main thread's descriptor table. Another thread may
 * have one of its own (unshare CLONE_FILES), or be all that is left of the
 * process (the main thread ended: its table is gone): each thread whose
 * table is not the main thread's, as kcmp(2) tells (or cannot), is
 * looked through too. */
static void scan_pid(struct scan *x, pid_t pid)
{
	char task[64], base[96];
	snprintf(base, sizeof(base), "%d", (int)pid);
	scan_fds(x, pid, base);
	if (x->s->excused_pid == pid || x->found == x->n)
		return; /* its threads are no more readable; or all found */
	snprintf(task, sizeof(task), "%d/task", (int)pid);
	struct stat st; /* a link a thread, and 2: one thread, nothing more */
	if (fstatat(x->procfd, task, &st, 0) == 0 && st.st_nlink <= 3)
		return;
	DIR *d = open_dir(x, pid, task);
	if (!d)
		return;
	struct dirent *de;
	while ((de = next_entry(x, pid, task, d))) {
		long tid = number_of(de->d_name);
		if (!tid || tid == pid)
			continue;
		if (syscall(SYS_kcmp, (pid_t)pid, (pid_t)tid, KCMP_FILES, 0UL, 0UL) == 0)
			continue; /* the main thread's table: seen */
		snprintf(base, sizeof(base), "%s/%ld", task, tid);
		scan_fds(x, pid, base);
	}
	closedir(d);
}

int fd_holders(const char *procfs, struct fd_target *t, size_t n, struct fd_scan *s)
{
	struct scan x = { .t = t, .n = n, .s = s };
	struct stat st;
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < n; i++)
		t[i].pid = 0, t[i].err = 0;
	x.procfd = open(procfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (x.procfd < 0)
		return -errno;
	DIR *d = fdopendir(x.procfd);
	if (!d) {
		int err = errno;
		close(x.procfd);
		return -err;
	}
	long euid;
	if (status_of(x.procfd, "self/status", &euid, &x.our_caps))
		x.may_excuse = (x.our_caps >> CAP_SYS_PTRACE & 1) &&
			       (x.our_caps >> CAP_DAC_READ_SEARCH & 1 || x.our_caps >> CAP_DAC_OVERRIDE & 1);
	if (fstatat(x.procfd, "self/ns/net", &st, 0) == 0) {
		x.ns_known = true;
		x.ns_dev = st.st_dev;
		x.ns_ino = st.st_ino;
	}
	pid_t self = getpid();
	int r = 0;
	/* All found held: the rest cannot change the answer. */
	while (x.found < n) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		long pid = number_of(de->d_name);
		if (!pid || pid == self)
			continue;
		scan_pid(&x, (pid_t)pid);
	}
	closedir(d);
	return r;
}
