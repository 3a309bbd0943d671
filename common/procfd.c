/* SPDX-License-Identifier: MIT */
#include "procfd.h"
#include "caps.h"
#include "seccomp.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <grp.h>
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

/* Whether PROCFS/rel (a status file) is of a process whose real,
 * effective and saved uids are all 0, and its effective capabilities. */
static bool status_of(int procfd, const char *rel, bool *root, uint64_t *caps)
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
	long real, euid, saved;
	if (!u || !c || sscanf(u + 5, "%ld %ld %ld", &real, &euid, &saved) != 3 ||
	    sscanf(c + 8, "%llx", &v) != 1)
		return false;
	*root = real == 0 && euid == 0 && saved == 0;
	*caps = v;
	return true;
}

/* A process tap-setup cannot read although it holds the capabilities to
 * read any process (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH or
 * CAP_DAC_OVERRIDE), and which runs as root with capabilities tap-setup
 * lacks, is more privileged than tap-setup can be: the machine's own
 * supervisor (a sandbox's init), nothing the VM user can make. Root by
 * its real and saved uids too: a setuid-root program the VM user started
 * acts as root with every capability, and may hold a descriptor it
 * inherited. It is not counted as blind; anything else is. */
static bool excused(const struct scan *x, pid_t pid)
{
	char rel[64];
	bool root;
	uint64_t caps;
	snprintf(rel, sizeof(rel), "%d/status", (int)pid);
	return x->may_excuse && status_of(x->procfd, rel, &root, &caps) && root &&
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
		/* Type and device number only, without asking the file system
		 * of the file: a FUSE file answers a getattr with EACCES to all
		 * but its mounter (unless allow_other), and its daemon may never
		 * answer at all. With no field asked for and AT_STATX_DONT_SYNC,
		 * FUSE (and NFS) answer from what they have, or give st_dev
		 * alone and mode 0: not a character device, so not ours (a
		 * /dev/net/tun or /dev/tapN is never on FUSE: user mounts are
		 * nodev). Device file systems fill in type and rdev whatever
		 * the mask. */
		struct statx stx;
		if (statx(dirfd(d), de->d_name, AT_STATX_DONT_SYNC, 0, &stx) < 0) {
			if (gone(errno))
				continue;
			blind(x, pid, rel, errno);
			break;
		}
		dev_t rdev = makedev(stx.stx_rdev_major, stx.stx_rdev_minor);
		if (S_ISCHR(stx.stx_mode) && rdev == TUN_DEVT)
			tun_fd(x, pid, base, de->d_name);
		else if (S_ISCHR(stx.stx_mode))
			char_fd(x, pid, rdev);
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
	bool root;
	if (status_of(x.procfd, "self/status", &root, &x.our_caps))
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

/* ---- the scan in a process of its own ------------------------------------ */

/* The unprivileged user and group the scanner becomes: the kernel's
 * overflow ids, "nobody" and "nogroup" on Debian and NixOS. */
#define SCANNER_ID 65534

/* The scanner keeps these, the caller drops those. */
#define SCANNER_CAPS (CAP_BIT(CAP_SYS_PTRACE) | CAP_BIT(CAP_DAC_READ_SEARCH))
#define CALLER_DROPS (CAP_BIT(CAP_SYS_PTRACE) | CAP_BIT(CAP_SETUID) | CAP_BIT(CAP_SETGID))

/* The request: n, then per target its name ("" for a device) and devt. */
struct scan_ask {
	char name[IFNAMSIZ];
	uint64_t devt;
};

/* The answer: fd_holders()'s return, its fd_scan, per target pid and err. */
struct scan_answer {
	int32_t r;
	int32_t blind_pid, blind_err, excused_pid;
	char blind_what[64];
};

struct scan_result {
	int32_t pid, err;
};

/* A bound on the targets of one request (a VM's interfaces). */
#define SCAN_MAX 4096

/* How long an answer may take (a pass over /proc takes milliseconds). */
#define SCAN_TIMEOUT_S 30

/* Group SCANNER_ID and no supplementary group (CAP_SETGID). */
static int to_nogroup(void)
{
	const gid_t g = SCANNER_ID;
	return setgroups(0, NULL) < 0 || setresgid(g, g, g) < 0 ? -1 : 0;
}

/* In the child: become the scanner. 0 or -errno; *nobody when it now runs
 * as SCANNER_ID. */
static int scanner_drop(bool *nobody)
{
	struct caps c = { 0 };
	int r = caps_get(&c);
	if (r < 0)
		return r;
	*nobody = false;
	if (getuid() == 0 && (c.eff & CAP_BIT(CAP_SETUID)) && (c.eff & CAP_BIT(CAP_SETGID))) {
		const uid_t u = SCANNER_ID;
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || to_nogroup() < 0 ||
		    setresuid(u, u, u) < 0)
			return -errno;
		*nobody = true;
	}
	/* setresuid() cleared the effective set; the permitted one stays. */
	c.prm &= SCANNER_CAPS;
	c.eff = c.prm;
	c.inh = 0;
	if ((r = caps_set(&c)) < 0)
		return r;
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return seccomp_confine(false);
}

/* The child's loop: one request, one answer, until the caller closes. */
static _Noreturn void scanner_serve(int sock, const char *procfs)
{
	size_t max = sizeof(uint32_t) + SCAN_MAX * sizeof(struct scan_ask);
	char *in = malloc(max), (*names)[IFNAMSIZ] = calloc(SCAN_MAX, IFNAMSIZ);
	struct fd_target *t = calloc(SCAN_MAX, sizeof(*t));
	char *out = malloc(sizeof(struct scan_answer) + SCAN_MAX * sizeof(struct scan_result));
	if (!in || !names || !t || !out)
		_exit(1);
	for (;;) {
		ssize_t k = recv(sock, in, max, MSG_TRUNC);
		if (k <= 0)
			_exit(k < 0);
		uint32_t n;
		if ((size_t)k < sizeof(n))
			_exit(1);
		memcpy(&n, in, sizeof(n));
		if (n > SCAN_MAX || (size_t)k != sizeof(n) + n * sizeof(struct scan_ask))
			_exit(1);
		for (uint32_t i = 0; i < n; i++) {
			struct scan_ask a;
			memcpy(&a, in + sizeof(n) + i * sizeof(a), sizeof(a));
			memcpy(names[i], a.name, IFNAMSIZ);
			names[i][IFNAMSIZ - 1] = '\0';
			t[i].name = names[i][0] ? names[i] : NULL;
			t[i].devt = (dev_t)a.devt;
		}
		struct fd_scan s;
		struct scan_answer ans = { .r = fd_holders(procfs, t, n, &s) };
		if (ans.r == 0) {
			ans.blind_pid = s.blind_pid;
			ans.blind_err = s.blind_err;
			ans.excused_pid = s.excused_pid;
			memcpy(ans.blind_what, s.blind_what, sizeof(ans.blind_what));
		}
		memcpy(out, &ans, sizeof(ans));
		for (uint32_t i = 0; i < n; i++) {
			struct scan_result x = { .pid = t[i].pid, .err = t[i].err };
			memcpy(out + sizeof(ans) + i * sizeof(x), &x, sizeof(x));
		}
		if (send(sock, out, sizeof(ans) + n * sizeof(struct scan_result), MSG_NOSIGNAL) < 0)
			_exit(1);
	}
}

/* In the caller: first gid nogroup and no supplementary groups (while
 * CAP_SETGID lasts). Without CAP_SYS_PTRACE, /proc/PID/root and
 * /proc/PID/mem of a process are still open to the caller when that
 * process has the same uid and gid and no capability the caller lacks: a
 * root process that runs with none (Debian's systemd-localed; /etc is
 * writable in its mount namespace). With another gid they are not. Then
 * drop CALLER_DROPS from every set, and set no_new_privs (as root, an exec
 * would otherwise be given the bounding set again). */
static int caller_drop(struct mvm_error *e)
{
	struct caps c = { 0 };
	int r = caps_get(&c);
	if (r == 0 && (c.eff & CAP_BIT(CAP_SETGID)) && to_nogroup() < 0)
		return mvm_error_set(e, errno, "drop", "group root", NULL);
	if (r == 0) {
		c.eff &= ~CALLER_DROPS;
		c.prm &= ~CALLER_DROPS;
		c.inh &= ~CALLER_DROPS;
		r = caps_set(&c);
	}
	/* Not dumpable: another process of the same uid and gid (a run of
	 * another helper unit) needs CAP_SYS_PTRACE to reach into this one. */
	if (r == 0 && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		       prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0))
		r = -errno;
	if (r < 0)
		return mvm_error_set(e, -r, "drop", "CAP_SYS_PTRACE, CAP_SETUID and CAP_SETGID", NULL);
	return 0;
}

int fd_scanner_start(struct fd_scanner *sc, const char *procfs, struct mvm_error *e)
{
	int sv[2];
	*sc = (struct fd_scanner){ .sock = -1 };
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return mvm_error_set(e, errno, "start", "the scan of /proc", NULL);
	pid_t parent = getpid(), pid = fork();
	if (pid < 0) {
		int err = errno;
		close(sv[0]);
		close(sv[1]);
		return mvm_error_set(e, err, "start", "the scan of /proc", NULL);
	}
	if (pid == 0) {
		close(sv[0]);
		bool nobody = false;
		int32_t st[2] = { scanner_drop(&nobody), 0 };
		st[1] = nobody;
		/* Killed with its caller, even stopped: the caller, root
		 * without CAP_KILL, may not signal it. After the drop, which
		 * clears the death signal. */
		if (st[0] == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent))
			_exit(1);
		if (send(sv[1], st, sizeof(st), MSG_NOSIGNAL) < 0 || st[0] < 0)
			_exit(1);
		scanner_serve(sv[1], procfs);
	}
	close(sv[1]);
	sc->pid = pid;
	sc->sock = sv[0];
	/* A process that runs as nobody too can stop the child with a
	 * signal: then no answer comes, and the scan fails closed. */
	struct timeval tv = { .tv_sec = SCAN_TIMEOUT_S };
	if (setsockopt(sc->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		int err = errno;
		fd_scanner_stop(sc);
		return mvm_error_set(e, err, "start", "the scan of /proc", NULL);
	}
	int32_t st[2];
	ssize_t k = recv(sc->sock, st, sizeof(st), 0);
	int err = k == (ssize_t)sizeof(st) ? -st[0] : k >= 0 ? EPIPE : errno == EAGAIN ? ETIMEDOUT : errno;
	if (err) {
		fd_scanner_stop(sc);
		int r = mvm_error_set(e, err, "start", "the scan of /proc", NULL);
		mvm_error_after(e, " as an unprivileged process of its own");
		return r;
	}
	sc->as_nobody = st[1];
	int r = caller_drop(e);
	if (r < 0)
		fd_scanner_stop(sc);
	return r;
}

int fd_scanner_holders(struct fd_scanner *sc, struct fd_target *t, size_t n, struct fd_scan *s)
{
	memset(s, 0, sizeof(*s));
	if (sc->sock < 0)
		return -EPIPE;
	/* More than one request holds (a runner may ask for that many): in
	 * turns, one pass each; what a pass could not see is the first's. */
	for (size_t i = 0; n > SCAN_MAX && i < n; i += SCAN_MAX) {
		struct fd_scan s1;
		int r = fd_scanner_holders(sc, t + i, n - i < SCAN_MAX ? n - i : SCAN_MAX, &s1);
		if (r < 0)
			return r;
		if (!s->blind_pid) {
			s->blind_pid = s1.blind_pid;
			s->blind_err = s1.blind_err;
			memcpy(s->blind_what, s1.blind_what, sizeof(s->blind_what));
		}
		if (!s->excused_pid)
			s->excused_pid = s1.excused_pid;
	}
	if (n > SCAN_MAX)
		return 0;
	uint32_t n32 = (uint32_t)n;
	size_t qlen = sizeof(n32) + n * sizeof(struct scan_ask);
	size_t alen = sizeof(struct scan_answer) + n * sizeof(struct scan_result);
	char *q = calloc(1, qlen), *a = malloc(alen);
	int r = 0;
	if (!q || !a) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(q, &n32, sizeof(n32));
	for (size_t i = 0; i < n; i++) {
		struct scan_ask x = { .devt = (uint64_t)t[i].devt };
		if (t[i].name)
			snprintf(x.name, sizeof(x.name), "%s", t[i].name);
		memcpy(q + sizeof(n32) + i * sizeof(x), &x, sizeof(x));
	}
	ssize_t k = send(sc->sock, q, qlen, MSG_NOSIGNAL);
	if (k >= 0)
		k = recv(sc->sock, a, alen, MSG_TRUNC);
	if (k < 0 || (size_t)k != alen) { /* no answer after this one: out of step */
		r = k >= 0 ? -EPIPE : errno == EAGAIN ? -ETIMEDOUT : -errno;
		fd_scanner_stop(sc);
		goto out;
	}
	struct scan_answer ans;
	memcpy(&ans, a, sizeof(ans));
	if (ans.r < 0) {
		r = ans.r;
		goto out;
	}
	s->blind_pid = ans.blind_pid;
	s->blind_err = ans.blind_err;
	s->excused_pid = ans.excused_pid;
	memcpy(s->blind_what, ans.blind_what, sizeof(s->blind_what));
	s->blind_what[sizeof(s->blind_what) - 1] = '\0';
	for (size_t i = 0; i < n; i++) {
		struct scan_result x;
		memcpy(&x, a + sizeof(ans) + i * sizeof(x), sizeof(x));
		t[i].pid = x.pid;
		t[i].err = x.err;
	}
out:
	free(q);
	free(a);
	return r;
}

void fd_scanner_stop(struct fd_scanner *sc)
{
	if (sc->sock >= 0)
		close(sc->sock);
	sc->sock = -1;
	/* It exits at the end of its socket; a stopped one is killed when
	 * we exit (its death signal): wait for it 1 s at most. */
	if (sc->pid > 0) {
		int pfd = pidfd_open(sc->pid, 0);
		if (pfd >= 0) {
			struct pollfd p = { .fd = pfd, .events = POLLIN };
			while (poll(&p, 1, 1000) < 0 && errno == EINTR)
				;
			close(pfd);
			waitpid(sc->pid, NULL, WNOHANG);
		} else { /* no pidfd_open (before Linux 5.3): look every ms */
			for (int i = 0; i < 1000 && waitpid(sc->pid, NULL, WNOHANG) == 0; i++)
				usleep(1000);
		}
	}
	sc->pid = 0;
}
