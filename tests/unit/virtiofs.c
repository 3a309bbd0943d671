/* SPDX-License-Identifier: MIT */
/* virtiofs-launch against the real virtiofsd in both dialects: QEMU's C
 * one (Debian 12's) and the Rust one (Debian 13's, fetched by
 * tests/rust-virtiofsd.sh; its tests are skipped without it), and against
 * tests/helpers/vfs-fake-virtiofsd for exact command lines and for
 * failures the real ones cannot be made to show. Tests of the real
 * daemons are loop tests: index 0 is the C one, 1 the Rust one.
 *
 * Each test runs the launcher with NOTIFY_SOCKET pointing at a datagram
 * socket of its own. Every datagram is recorded with the time it came and
 * with how many of the shares' sockets listened at that moment, read from
 * /proc/net/unix by a parser of the test's own (so READY=1 can be checked
 * to come only after every socket listens). The test process is a child
 * subreaper, so daemons orphaned by a killed launcher come back to it and
 * can be checked for and reaped. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "elf-here.h"
#include "testutil.h"
#include "util.h"

#define VIRTIOFSD "/usr/lib/qemu/virtiofsd"
#define RUST_VIRTIOFSD_DEFAULT "/var/cache/microvm-host-helpers-rust-virtiofsd/virtiofsd"
#define MAX_MSGS 128
#define MAX_SOCKS 20

struct msg {
	long long at_us;    /* since the launcher was started */
	unsigned listening; /* how many of the shares' sockets listened then */
	char text[512];
};

/* A launcher under test. */
struct lt {
	struct tu_vm vm;
	char *notify_path, *err_path, *fake, *fake_dir;
	int nfd;
	pid_t pid;
	int pidfd;
	long long t0_us;
	const char *group;
	gid_t gid;
	char *sock[MAX_SOCKS]; /* absolute socket paths, for the oracle */
	char *tag[MAX_SOCKS];
	size_t nsock;
	struct msg msgs[MAX_MSGS];
	size_t nmsg;
	const char *bin;	/* the launcher, below BUILD_DIR; NULL: virtiofs-launch */
	const char *const *env; /* more "K=V" for it; NULL: none */
	bool chld_ignored;	/* started with SIGCHLD ignored, as a parent may leave it */
	bool beside;		/* another VM's, in the temp dir of another (lt_init_beside()) */
};

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Tests of the real C daemon need root and Debian's virtiofsd. */
static const char *need_real(void)
{
	if (!tu_is_root())
		return "needs root";
	if (access(VIRTIOFSD, X_OK) < 0)
		return "needs " VIRTIOFSD " (Debian package qemu-system-common)";
	return NULL;
}

/* The Rust virtiofsd: $MVM_RUST_VIRTIOFSD, or where tests/deps.sh puts it. */
static const char *rust_bin(void)
{
	const char *p = getenv("MVM_RUST_VIRTIOFSD");
	return p && *p ? p : RUST_VIRTIOFSD_DEFAULT;
}

/* bin --version: does it say "virtiofsd 1."? (No ck_assert here: this
 * runs when the suite is built, outside any test.) */
static bool runs_as_rust_virtiofsd(const char *bin)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return false;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		execl(bin, bin, "--version", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char buf[256];
	ssize_t n = pid > 0 ? read(p[0], buf, sizeof(buf) - 1) : -1;
	close(p[0]);
	int st = -1;
	if (pid > 0)
		waitpid(pid, &st, 0);
	buf[n > 0 ? n : 0] = '\0';
	return st == 0 && strncmp(buf, "virtiofsd 1.", 12) == 0;
}

static const char *need_rust(void)
{
	static char why[512];
	if (!tu_is_root())
		return "needs root";
	const char *bin = rust_bin();
	if (access(bin, X_OK) < 0)
		snprintf(why, sizeof(why),
			 "needs the Rust virtiofsd at %s (tests/rust-virtiofsd.sh, run by "
			 "tests/deps.sh as root, fetches it from Debian 13)",
			 bin);
	else if (!runs_as_rust_virtiofsd(bin))
		snprintf(why, sizeof(why), "the Rust virtiofsd at %s does not run", bin);
	else
		return NULL;
	return why;
}

/* The real daemon of loop index i: the C one (found by the launcher
 * itself: NULL), or the Rust one. */
static const char *real_bin(int i)
{
	return i == 0 ? NULL : rust_bin();
}

/* Register a test of the real daemons, once for each dialect. */
#define add_real_test(tc, tf)                                          \
	do {                                                           \
		tu_add_loop_test_if((tc), (tf), 0, 1, need_real());    \
		tu_add_loop_test_if((tc), (tf), 1, 2, need_rust());    \
	} while (0)

/* The oracle: does a socket listen on path? Parsed here on its own:
 * "Num RefCount Protocol Flags Type St Inode Path", Flags 0x10000 is
 * __SO_ACCEPTCON. */
static bool oracle_listening(const char *path)
{
	FILE *f = fopen("/proc/net/unix", "re");
	ck_assert_ptr_nonnull(f);
	char line[1024];
	bool found = false;
	if (fgets(line, sizeof(line), f)) /* header */
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			unsigned flags;
			int pos = 0;
			if (sscanf(line, "%*s %*s %*s %x %*s %*s %*s %n", &flags, &pos) == 1 &&
			    pos > 0 && (flags & 0x10000) && strcmp(line + pos, path) == 0)
				found = true;
		}
	fclose(f);
	return found;
}

static unsigned listening_count(const struct lt *t)
{
	unsigned n = 0;
	for (size_t i = 0; i < t->nsock; i++)
		n += oracle_listening(t->sock[i]);
	return n;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

static void lt_init(struct lt *t)
{
	memset(t, 0, sizeof(*t));
	t->nfd = t->pidfd = -1;
	tu_vm_make(&t->vm, "vm1");
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	struct group *g = getgrnam("kvm");
	if (!g)
		g = getgrnam("users");
	ck_assert_msg(g != NULL, "no group 'kvm' or 'users' to own the sockets");
	t->group = g->gr_name;
	t->gid = g->gr_gid;
	t->notify_path = tu_path(t->vm.root, "notify.sock");
	t->err_path = tu_path(t->vm.root, "launcher.log");
	t->fake = tu_bin("tests/helpers/vfs-fake-virtiofsd");
	t->fake_dir = tu_path(t->vm.root, "fake");
	ck_assert_int_eq(mkdir(t->fake_dir, 0755), 0);
	t->nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(t->nfd, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t->notify_path);
	ck_assert_int_eq(bind(t->nfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

/* share/microvm/virtiofs/TAG/{source,socket}; socket relative to the
 * VM's state dir (as microvm.nix writes it). */
static void lt_share(struct lt *t, const char *tag, const char *source, const char *socket)
{
	char rel[256];
	snprintf(rel, sizeof(rel), "share/microvm/virtiofs/%s/source", tag);
	char *v = xasprintf("%s\n", source);
	tu_write(t->vm.runner, rel, v);
	free(v);
	snprintf(rel, sizeof(rel), "share/microvm/virtiofs/%s/socket", tag);
	v = xasprintf("%s\n", socket);
	tu_write(t->vm.runner, rel, v);
	free(v);
	ck_assert_uint_lt(t->nsock, MAX_SOCKS);
	t->tag[t->nsock] = strdup(tag);
	t->sock[t->nsock++] = tu_path(t->vm.dir, socket);
}

/* The socket of tag, absolute. */
static const char *sock_of(const struct lt *t, const char *tag)
{
	for (size_t i = 0; i < t->nsock; i++)
		if (strcmp(t->tag[i], tag) == 0)
			return t->sock[i];
	ck_abort_msg("no share %s", tag);
	return NULL;
}

static void lt_forget_share(struct lt *t, const char *tag)
{
	for (size_t i = 0; i < t->nsock; i++)
		if (strcmp(t->tag[i], tag) == 0) {
			free(t->tag[i]);
			free(t->sock[i]);
			t->nsock--;
			t->tag[i] = t->tag[t->nsock];
			t->sock[i] = t->sock[t->nsock];
			return;
		}
}

/* Start the launcher (t->bin, with t->env): virtiofsd NULL for the real
 * one (found by the launcher itself), extra options before NAME. */
static void lt_start(struct lt *t, const char *virtiofsd, const char *const extra[])
{
	char *bin = tu_bin(t->bin ? t->bin : "virtiofs-launch");
	const char *argv[48];
	size_t n = 0;
	argv[n++] = bin;
	argv[n++] = "--state-dir";
	argv[n++] = t->vm.state;
	argv[n++] = "--group";
	argv[n++] = t->group;
	argv[n++] = "--timeout";
	argv[n++] = "5";
	argv[n++] = "--runtime-dir";
	argv[n++] = t->vm.runtime;
	if (virtiofsd) {
		argv[n++] = "--virtiofsd";
		argv[n++] = virtiofsd;
	}
	for (size_t i = 0; extra && extra[i]; i++)
		argv[n++] = extra[i];
	argv[n++] = t->vm.name;
	argv[n] = NULL;
	int fd = open(t->err_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	t->t0_us = now_us();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		setenv("NOTIFY_SOCKET", t->notify_path, 1);
		setenv("VFS_FAKE_DIR", t->fake_dir, 1);
		unsetenv("JOURNAL_STREAM");
		for (size_t i = 0; t->env && t->env[i]; i++)
			putenv((char *)t->env[i]);
		if (t->chld_ignored) /* (kept through exec, as SIG_IGN is) */
			signal(SIGCHLD, SIG_IGN);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fd);
	free(bin);
	t->pid = pid;
	t->pidfd = pidfd_open(pid, 0);
	ck_assert_int_ge(t->pidfd, 0);
}

static void lt_recv_all(struct lt *t)
{
	char buf[sizeof(t->msgs[0].text)];
	ssize_t n;
	while ((n = recv(t->nfd, buf, sizeof(buf) - 1, 0)) >= 0) {
		long long at = now_us() - t->t0_us;
		unsigned l = listening_count(t);
		buf[n] = '\0';
		ck_assert_uint_lt(t->nmsg, MAX_MSGS);
		struct msg *m = &t->msgs[t->nmsg++];
		m->at_us = at;
		m->listening = l;
		memcpy(m->text, buf, (size_t)n + 1);
	}
}

/* Index of the first datagram from `from` on with the line, waiting up
 * to timeout_ms for it; -1 when none came. */
static int lt_wait_msg(struct lt *t, size_t from, const char *line, int timeout_ms)
{
	long long end = now_us() + timeout_ms * 1000LL;
	for (;;) {
		for (size_t i = from; i < t->nmsg; i++)
			if (has_line(t->msgs[i].text, line))
				return (int)i;
		long long d = end - now_us();
		if (d <= 0)
			return -1;
		struct pollfd p = {.fd = t->nfd, .events = POLLIN};
		if (poll(&p, 1, (int)(d / 1000) + 1) > 0)
			lt_recv_all(t);
	}
}

/* Its exit status (128+signal when killed), or -1 if still running
 * after timeout_ms. */
static int lt_wait_exit(struct lt *t, int timeout_ms)
{
	struct pollfd p = {.fd = t->pidfd, .events = POLLIN};
	if (poll(&p, 1, timeout_ms) <= 0)
		return -1;
	int st;
	ck_assert_int_eq(waitpid(t->pid, &st, 0), t->pid);
	t->pid = 0;
	close(t->pidfd);
	t->pidfd = -1;
	lt_recv_all(t);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Until READY=1 came or the launcher exited (not reaped: lt_wait_exit()
 * tells its status), at most timeout_ms. */
static void lt_wait_ready_or_exit(struct lt *t, int timeout_ms)
{
	long long end = now_us() + timeout_ms * 1000LL;
	while (lt_wait_msg(t, 0, "READY=1", 20) < 0 && now_us() < end) {
		struct pollfd p = {.fd = t->pidfd, .events = POLLIN};
		if (poll(&p, 1, 0) > 0)
			return;
	}
}

static char *lt_log(const struct lt *t)
{
	char *buf = NULL;
	size_t len;
	ck_assert_int_eq(read_file(t->err_path, 1 << 20, &buf, &len), 0);
	return buf;
}

/* What a failed wait shows: the launcher's log, then each datagram it
 * sent, with its time (ms since the start), one per line. */
static char *lt_story(const struct lt *t)
{
	char *log = lt_log(t), *out = NULL;
	size_t len;
	FILE *f = open_memstream(&out, &len);
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%s--- notifications:", log);
	free(log);
	for (size_t i = 0; i < t->nmsg; i++) {
		fprintf(f, "\n%lld ms: ", t->msgs[i].at_us / 1000);
		for (const char *c = t->msgs[i].text; *c; c++)
			fputc(*c == '\n' ? '|' : *c, f);
	}
	ck_assert_int_eq(fclose(f), 0);
	return out;
}

/* How many times s occurs in log. */
static unsigned occurrences(const char *log, const char *s)
{
	unsigned n = 0;
	for (const char *p = log; (p = strstr(p, s)); p += strlen(s))
		n++;
	return n;
}

/* Entries in dir (not . and ..). */
static size_t dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* Does a line of log match the (basic) regular expression re? */
static bool log_matches(const char *log, const char *re)
{
	regex_t r;
	ck_assert_int_eq(regcomp(&r, re, REG_NOSUB | REG_NEWLINE), 0);
	bool yes = regexec(&r, log, 0, NULL, 0) == 0;
	regfree(&r);
	return yes;
}

/* /proc/PID/stat: state and parent; false when gone. */
static bool proc_stat(pid_t pid, char *state, pid_t *ppid)
{
	char p[64], buf[1024];
	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char *r = strrchr(buf, ')');
	int pp;
	if (!r || sscanf(r + 1, " %c %d", state, &pp) != 2)
		return false;
	*ppid = pp;
	return true;
}

static bool alive(pid_t pid)
{
	char st;
	pid_t pp;
	return proc_stat(pid, &st, &pp) && st != 'Z';
}

/* Does a process's command line hold an argument with sub in it? */
static bool cmdline_has(pid_t pid, const char *sub, bool whole)
{
	char p[64], buf[8192];
	snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *a = buf; a < buf + n; a += strlen(a) + 1)
		if (whole ? strcmp(a, sub) == 0 : strstr(a, sub) != NULL)
			return true;
	return false;
}

/* Live processes: with parent (0: any) whose argv has sub (whole arg or
 * substring). Fills pids, returns the count. */
static size_t find_procs(pid_t parent, const char *sub, bool whole, pid_t *pids, size_t max)
{
	DIR *d = opendir("/proc");
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	size_t n = 0;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		char st;
		pid_t pp;
		if (*end || pid <= 0 || pid == getpid() || !proc_stat((pid_t)pid, &st, &pp) ||
		    st == 'Z' || (parent && pp != parent))
			continue;
		if (cmdline_has((pid_t)pid, sub, whole) && n < max)
			pids[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

/* Where the launcher mounts the source of tag for its daemon (in its own
 * mount namespace): RUNTIME/NAME/virtiofs/TAG. */
static char *pin_of(const struct lt *t, const char *tag)
{
	return xasprintf("%s/%s/virtiofs/%s", t->vm.runtime, t->vm.name, tag);
}

/* The C dialect's -o list escapes ',' and '\\' with a '\\'. */
static void unescape(const char *in, char *out, size_t size)
{
	size_t k = 0;
	for (const char *c = in; *c && k + 1 < size; c++) {
		if (*c == '\\' && c[1])
			c++;
		out[k++] = *c;
	}
	out[k] = '\0';
}

/* Is arg how a daemon is told to serve the pin of tag, in either dialect? */
static bool serves_arg(const struct lt *t, const char *tag, const char *arg)
{
	char *pin = pin_of(t, tag), src[PATH_MAX];
	bool yes = false;
	if (strncmp(arg, "source=", 7) == 0) {
		unescape(arg + 7, src, sizeof(src));
		yes = strcmp(src, pin) == 0;
	} else if (strncmp(arg, "--shared-dir=", 13) == 0) {
		yes = strcmp(arg + 13, pin) == 0;
	}
	free(pin);
	return yes;
}

/* Is pid in a PID namespace below ours (/proc/PID/status has more than
 * one NSpid)? Both virtiofsd fork their sandbox into one. */
static bool in_sandbox(pid_t pid)
{
	char p[64], *buf;
	size_t len;
	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	if (read_file(p, 65536, &buf, &len) < 0)
		return false;
	char *l = strstr(buf, "\nNSpid:");
	int n = 0, k;
	long v;
	for (l = l ? l + 7 : NULL; l && sscanf(l, " %ld%n", &v, &k) == 1 && *l != '\n'; l += k)
		n++;
	free(buf);
	return n > 1;
}

/* The launcher's virtiofsd for a share, 0 when none runs. */
static pid_t daemon_of_now(const struct lt *t, const char *tag)
{
	char *pin = pin_of(t, tag);
	pid_t pids[8], found = 0;
	size_t n = find_procs(t->pid, pin, false, pids, 8), k = 0;
	free(pin);
	for (size_t i = 0; i < n; i++) {
		char p[64], buf[8192];
		if (in_sandbox(pids[i]))
			continue; /* (a daemon's own process, orphaned a moment) */
		snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)pids[i]);
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		for (char *a = buf; a < buf + len; a += strlen(a) + 1)
			if (serves_arg(t, tag, a)) {
				found = pids[i];
				k++;
				break;
			}
	}
	ck_assert_uint_le(k, 1);
	return found;
}

/* The same, waiting up to 2 s for one (READY=1 comes just before the
 * daemons are forked, and a forked one runs virtiofsd a moment later). */
static pid_t daemon_of(const struct lt *t, const char *tag)
{
	long long end = now_us() + 2000000;
	pid_t p;
	while (!(p = daemon_of_now(t, tag)) && now_us() < end)
		sleep_ms(2);
	return p;
}

/* Does what the launcher pinned for tag (what its daemon serves) hold
 * file? Seen through the launcher's own mount namespace. */
static bool pinned_has(const struct lt *t, const char *tag, const char *file)
{
	char *p = xasprintf("/proc/%d/root%s/%s/virtiofs/%s/%s", (int)t->pid, t->vm.runtime,
			    t->vm.name, tag, file);
	bool yes = access(p, F_OK) == 0;
	free(p);
	return yes;
}

/* The socket file of tag: root's, the group's, mode 0660, listening;
 * its inode in *ino. */
static void check_socket(const struct lt *t, const char *tag, ino_t *ino)
{
	struct stat st;
	ck_assert_msg(lstat(sock_of(t, tag), &st) == 0, "no socket %s", sock_of(t, tag));
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_uid, 0);
	ck_assert_uint_eq(st.st_gid, t->gid);
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
	ck_assert_msg(oracle_listening(sock_of(t, tag)), "%s does not listen", sock_of(t, tag));
	if (ino)
		*ino = st.st_ino;
}

/* Processes (not zombies) still naming the test's temp dir. */
static size_t leftovers(const struct lt *t)
{
	pid_t pids[64];
	return find_procs(0, t->vm.root, false, pids, 64);
}

static void reap_orphans(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void lt_free(struct lt *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
	}
	/* (what is left in the temp dir goes with its owner's lt_free()) */
	pid_t pids[64];
	size_t n = t->beside ? 0 : find_procs(0, t->vm.root, false, pids, 64);
	for (size_t i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	sleep_ms(n ? 50 : 0);
	reap_orphans();
	if (t->nfd >= 0)
		close(t->nfd);
	if (t->pidfd >= 0)
		close(t->pidfd);
	for (size_t i = 0; i < t->nsock; i++) {
		free(t->sock[i]);
		free(t->tag[i]);
	}
	free(t->notify_path);
	free(t->err_path);
	free(t->fake);
	free(t->fake_dir);
	if (!t->beside) {
		tu_vm_free(&t->vm);
		return;
	}
	free(t->vm.root);
	free(t->vm.state);
	free(t->vm.runtime);
	free(t->vm.runner);
	free(t->vm.dir);
}

/* The launcher of another VM, name, beside t's: the same state dir and
 * runtime dir, its runner ROOT/runner-NAME (STATE/NAME/current, root's,
 * leads there), its own notify socket, log and fake daemons' directory
 * (ROOT/notify-NAME.sock, launcher-NAME.log, fake-NAME). lt_free() it
 * before t. */
static void lt_init_beside(struct lt *t2, const struct lt *t, const char *name)
{
	memset(t2, 0, sizeof(*t2));
	t2->nfd = t2->pidfd = -1;
	t2->beside = true;
	t2->vm.name = name;
	t2->vm.root = strdup(t->vm.root);
	t2->vm.state = strdup(t->vm.state);
	t2->vm.runtime = strdup(t->vm.runtime);
	t2->vm.runner = xasprintf("%s/runner-%s", t->vm.root, name);
	t2->vm.dir = tu_path(t->vm.state, name);
	ck_assert_int_eq(mkdir_p(t2->vm.dir, 0755), 0);
	ck_assert_int_eq(mkdir_p(t2->vm.runner, 0755), 0);
	char *cur = tu_path(t2->vm.dir, "current");
	tu_symlink(t2->vm.runner, cur);
	free(cur);
	t2->group = t->group;
	t2->gid = t->gid;
	t2->notify_path = xasprintf("%s/notify-%s.sock", t->vm.root, name);
	t2->err_path = xasprintf("%s/launcher-%s.log", t->vm.root, name);
	t2->fake = tu_bin("tests/helpers/vfs-fake-virtiofsd");
	t2->fake_dir = xasprintf("%s/fake-%s", t->vm.root, name);
	ck_assert_int_eq(mkdir(t2->fake_dir, 0755), 0);
	t2->nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(t2->nfd, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t2->notify_path);
	ck_assert_int_eq(bind(t2->nfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

/* Wait up to timeout_ms until the daemon of tag differs from old, runs and
 * its socket listens; returns it (0 on timeout). */
static pid_t wait_new_daemon(const struct lt *t, const char *tag, pid_t old, int timeout_ms)
{
	long long end = now_us() + timeout_ms * 1000LL;
	while (now_us() < end) {
		pid_t p = daemon_of_now(t, tag);
		if (p && p != old && oracle_listening(sock_of(t, tag)))
			return p;
		sleep_ms(2);
	}
	return 0;
}

/* A running launcher with the real virtiofsd (loop index i) and three
 * shares a, b, c, READY=1 received. */
static void three_up_with(struct lt *t, int i, const char *const extra[])
{
	lt_init(t);
	lt_share(t, "a", "data dir's", "vm1-virtiofs-a.sock");
	lt_share(t, "b", "plain/sub", "vm1-virtiofs-b.sock");
	/* c's source: absolute, with a ',' (escaped in -o source=). */
	char *src = xasprintf("%s/odd,name", t->vm.dir);
	lt_share(t, "c", src, "vm1-virtiofs-c.sock");
	free(src);
	tu_write(t->vm.dir, "data dir's/in-a", "a\n");
	tu_write(t->vm.dir, "odd,name/in-c", "c\n");
	lt_start(t, real_bin(i), extra);
	int r = lt_wait_msg(t, 0, "READY=1", 5000);
	if (r < 0) {
		char *log = lt_log(t);
		ck_abort_msg("no READY=1; log:\n%s", log);
	}
}

static void three_up(struct lt *t, int i)
{
	three_up_with(t, i, NULL);
}

START_TEST(three_shares_ready_after_all_listen)
{
	struct lt t;
	three_up(&t, _i);
	int r = lt_wait_msg(&t, 0, "READY=1", 0);
	/* READY=1 came when all three listened, and nothing said it before. */
	ck_assert_uint_eq(t.msgs[r].listening, 3);
	for (int i = 0; i < r; i++)
		ck_assert_msg(!has_line(t.msgs[i].text, "READY=1"), "early READY=1");
	ck_assert_msg(has_line(t.msgs[r].text, "STATUS=3 of 3 shares up"), "status: %s",
		      t.msgs[r].text);
	fprintf(stderr, "virtiofs: 3 shares (%s): READY=1 %lld us after start\n",
		_i ? "rust" : "c", t.msgs[r].at_us);
	/* Sockets: the launcher's, the group's, 0660; sources made (mkdir -p,
	 * odd names) and pinned for the daemons. */
	for (size_t i = 0; i < t.nsock; i++)
		check_socket(&t, t.tag[i], NULL);
	const char *srcs[] = {"data dir's", "plain/sub", "odd,name"};
	for (size_t i = 0; i < ARRAY_SIZE(srcs); i++) {
		char *p = tu_path(t.vm.dir, srcs[i]);
		struct stat st;
		ck_assert_msg(stat(p, &st) == 0 && S_ISDIR(st.st_mode), "%s not made", p);
		free(p);
	}
	ck_assert(pinned_has(&t, "a", "in-a") && pinned_has(&t, "c", "in-c"));
	ck_assert(!pinned_has(&t, "b", "in-a"));
	/* The daemons' argv: the listening socket as fd 3, the pin; no
	 * NOTIFY_SOCKET. */
	pid_t pa = daemon_of(&t, "a"), pc = daemon_of(&t, "c");
	ck_assert(pa > 0 && pc > 0);
	ck_assert(cmdline_has(pa, "--fd=3", true));
	if (_i == 0)
		ck_assert(cmdline_has(pa, "posix_acl", true) && cmdline_has(pa, "xattr", true));
	else
		ck_assert(cmdline_has(pa, "--posix-acl", true) && cmdline_has(pa, "--xattr", true));
	ck_assert(!cmdline_has(pa, "--socket-path", false));
	char envp[64], *env = NULL;
	size_t len;
	snprintf(envp, sizeof(envp), "/proc/%d/environ", (int)pa);
	ck_assert_int_eq(read_file(envp, 1 << 20, &env, &len), 0);
	for (char *e = env; e < env + len; e += strlen(e) + 1)
		ck_assert_msg(strncmp(e, "NOTIFY_SOCKET=", 14) != 0, "daemon has %s", e);
	free(env);
	/* fd 3 of the C daemon is the listening socket (until it accepted a
	 * client; the Rust one moves it into its sandbox's process). */
	char fd3[64], lnk[64];
	snprintf(fd3, sizeof(fd3), "/proc/%d/fd/3", (int)pa);
	ssize_t ln = readlink(fd3, lnk, sizeof(lnk) - 1);
	ck_assert(_i == 1 || ln > 0);
	lnk[ln > 0 ? ln : 0] = '\0';
	ck_assert_msg(_i == 1 || strncmp(lnk, "socket:", 7) == 0, "fd 3: %s", lnk);
	/* Its output reached the log with the tag. */
	long long end = now_us() + 2000000;
	const char *want = "virtiofs-launch: vm1: a: .*Waiting for vhost-user socket connection";
	char *log = lt_log(&t);
	while (!log_matches(log, want) && now_us() < end) {
		free(log);
		sleep_ms(10);
		log = lt_log(&t);
	}
	ck_assert_msg(log_matches(log, want), "log:\n%s", log);
	free(log);
	/* Stopped: no socket left behind. */
	ck_assert_int_eq(kill(t.pid, SIGTERM), 0);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 0);
	for (size_t i = 0; i < t.nsock; i++)
		ck_assert_msg(access(t.sock[i], F_OK) < 0, "%s left behind", t.sock[i]);
	lt_free(&t);
}
END_TEST

START_TEST(killed_daemon_comes_back_others_stay)
{
	struct lt t;
	three_up(&t, _i);
	pid_t pa = daemon_of(&t, "a"), pb = daemon_of(&t, "b"), pc = daemon_of(&t, "c");
	ck_assert(pa && pb && pc);
	ino_t ino, ino2;
	check_socket(&t, "b", &ino);
	ck_assert_int_eq(kill(pb, SIGKILL), 0);
	pid_t nb = wait_new_daemon(&t, "b", pb, 3000);
	ck_assert_msg(nb > 0, "b did not come back");
	ck_assert_int_eq(daemon_of(&t, "a"), pa);
	ck_assert_int_eq(daemon_of(&t, "c"), pc);
	ck_assert_int_eq(lt_wait_exit(&t, 0), -1); /* the launcher stays */
	/* The socket was not made again: the launcher's, all along. */
	check_socket(&t, "b", &ino2);
	ck_assert_uint_eq(ino, ino2);
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, "share 'b': virtiofsd") && strstr(log, "SIGKILL"), "log:\n%s",
		      log);
	free(log);
	lt_free(&t);
}
END_TEST

START_TEST(source_is_a_file_fails_in_time)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "good", "good", "vm1-virtiofs-good.sock");
	lt_share(&t, "zbad", "afile", "vm1-virtiofs-zbad.sock");
	tu_write(t.vm.dir, "afile", "not a directory\n");
	const char *const extra[] = {"--timeout", "3", NULL};
	lt_start(&t, NULL, extra);
	/* Given up on after its quick failures (0.7 s here), or at the latest
	 * after the --timeout of 3 s: not a launcher that waits for ever
	 * (the bound leaves room for a loaded machine). */
	int st = lt_wait_exit(&t, 8000);
	ck_assert_msg(st == 1, "exit %d", st);
	long long took = now_us() - t.t0_us;
	ck_assert_int_lt(took, 6000000);
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, "unable to start share 'zbad'"), "log:\n%s", log);
	ck_assert_msg(strstr(log, "afile': Not a directory"), "log:\n%s", log);
	free(log);
	ck_assert_int_lt(lt_wait_msg(&t, 0, "READY=1", 0), 0);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "STOPPING=1", 0), 0);
	ck_assert_uint_eq(leftovers(&t), 0);
	/* The file is still a file. */
	struct stat sb;
	char *p = tu_path(t.vm.dir, "afile");
	ck_assert(stat(p, &sb) == 0 && S_ISREG(sb.st_mode));
	free(p);
	fprintf(stderr, "virtiofs: a share that cannot start: exit 1 after %lld ms\n",
		took / 1000);
	lt_free(&t);
}
END_TEST

START_TEST(sigterm_stops_all)
{
	struct lt t;
	/* A grace far longer than the wait: a stop that waited it out
	 * fails, however loaded the machine (the bench measures the time). */
	const char *const extra[] = {"--grace", "30s", NULL};
	three_up_with(&t, _i, extra);
	pid_t p[3] = {daemon_of(&t, "a"), daemon_of(&t, "b"), daemon_of(&t, "c")};
	ck_assert(p[0] && p[1] && p[2]);
	size_t from = t.nmsg;
	long long t0 = now_us();
	ck_assert_int_eq(kill(t.pid, SIGTERM), 0);
	int st = lt_wait_exit(&t, 10000);
	long long took = now_us() - t0;
	ck_assert_int_eq(st, 0);
	ck_assert_int_ge(lt_wait_msg(&t, from, "STOPPING=1", 0), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(!alive(p[i]), "pid %d still there", p[i]);
	ck_assert_uint_eq(leftovers(&t), 0);
	ck_assert_int_lt(took, 10000000);
	fprintf(stderr, "virtiofs: SIGTERM to exit with 3 daemons: %lld us\n", took);
	lt_free(&t);
}
END_TEST

/* Connect to a socket as a VM would; the descriptor, or -1
 * (errno connect's). */
static int vm_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

START_TEST(sigkill_of_launcher_leaves_no_daemon)
{
	struct lt t;
	three_up(&t, _i);
	pid_t p[3] = {daemon_of(&t, "a"), daemon_of(&t, "b"), daemon_of(&t, "c")};
	ck_assert(p[0] && p[1] && p[2]);
	/* a serves a client: the C virtiofsd has forked its sandbox. */
	int fd = vm_connect(sock_of(&t, "a"));
	ck_assert_int_ge(fd, 0);
	sleep_ms(100);
	ck_assert_int_eq(kill(t.pid, SIGKILL), 0);
	ck_assert_int_eq(lt_wait_exit(&t, 2000), 128 + SIGKILL);
	/* PR_SET_PDEATHSIG: they die with it (orphans come to us, the
	 * subreaper, as zombies). */
	long long end = now_us() + 2000000;
	while (now_us() < end && (leftovers(&t) > 0 || alive(p[0]) || alive(p[1]) || alive(p[2])))
		sleep_ms(5); /* (an exiting process has no cmdline left, but is no zombie yet) */
	for (int i = 0; i < 3; i++)
		ck_assert_msg(!alive(p[i]), "pid %d outlived the launcher", p[i]);
	ck_assert_uint_eq(leftovers(&t), 0);
	close(fd);
	reap_orphans();
	lt_free(&t);
}
END_TEST

START_TEST(sighup_adds_removes_keeps)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "keep", "keep", "vm1-virtiofs-keep.sock");
	lt_share(&t, "gone", "gone", "vm1-virtiofs-gone.sock");
	lt_share(&t, "chg", "old", "vm1-virtiofs-chg.sock");
	tu_write(t.vm.dir, "old/in-old", "x\n");
	tu_write(t.vm.dir, "new source/in-new", "x\n");
	lt_start(&t, real_bin(_i), NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	pid_t pk = daemon_of(&t, "keep"), pg = daemon_of(&t, "gone"), pc = daemon_of(&t, "chg");
	ck_assert(pk && pg && pc);
	ino_t chg_ino, ino;
	check_socket(&t, "chg", &chg_ino);
	char *gone_sock = strdup(sock_of(&t, "gone"));
	/* The runner changes: "gone" removed, "new" added. */
	char *d = tu_path(t.vm.runner, "share/microvm/virtiofs/gone");
	tu_rm_rf(d);
	free(d);
	lt_forget_share(&t, "gone");
	lt_share(&t, "new", "new dir", "vm1-virtiofs-new.sock");
	/* "chg": same tag and socket, another source: a new daemon, started
	 * once the old one is gone, on the same socket. */
	tu_write(t.vm.runner, "share/microvm/virtiofs/chg/source", "new source\n");
	size_t from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
	ck_assert_int_ge(rl, 0);
	/* READY=1 once chg's old daemon is gone. This failed now and then,
	 * in CI too: the reload came while that daemon was still starting,
	 * and it waited in accept() for the whole --grace of 5 s; then the
	 * launcher gave up on chg (reload_signal_before_accept_is_sent_again,
	 * reload_timeout_counts_after_the_old_daemon). The wait stays longer
	 * than the grace, for a daemon slow to go on a busy machine. */
	int rd = lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 12000);
	if (rd <= rl) {
		char *story = lt_story(&t);
		ck_abort_msg("no READY=1 after RELOADING=1; log:\n%s", story);
	}
	ck_assert_uint_eq(t.msgs[rd].listening, 3); /* keep, chg and new */
	ck_assert_int_eq(daemon_of(&t, "keep"), pk);
	ck_assert_int_gt(daemon_of(&t, "new"), 0);
	ck_assert_msg(!alive(pg), "removed share's daemon %d still there", pg);
	ck_assert_msg(access(gone_sock, F_OK) < 0, "removed share's socket left behind");
	/* (the Rust daemon's sandbox may outlive it for a moment, with the
	 * socket: nobody can reach it by its path any more) */
	long long end = now_us() + 1000000;
	while (oracle_listening(gone_sock) && now_us() < end)
		sleep_ms(5);
	ck_assert(!oracle_listening(gone_sock));
	ck_assert(oracle_listening(sock_of(&t, "keep")));
	pid_t nc = daemon_of(&t, "chg");
	ck_assert(nc > 0 && nc != pc && !alive(pc));
	ck_assert(pinned_has(&t, "chg", "in-new") && !pinned_has(&t, "chg", "in-old"));
	check_socket(&t, "chg", &ino);
	ck_assert_uint_eq(ino, chg_ino);
	free(gone_sock);

	/* A runner that cannot be read: the shares stay as they were. */
	tu_write(t.vm.runner, "share/microvm/virtiofs/broken/source", "x\n");
	from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
	ck_assert_int_ge(rl, 0);
	ck_assert_int_gt(lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 3000), rl);
	ck_assert_int_eq(daemon_of(&t, "keep"), pk);
	ck_assert_int_eq(daemon_of(&t, "chg"), nc);
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, "unable to reload: the shares stay as they were"), "log:\n%s",
		      log);
	free(log);
	ck_assert_int_eq(lt_wait_exit(&t, 0), -1);
	lt_free(&t);
}
END_TEST

/* A reload that removes a share and adds one on its socket, written
 * another way ("./x.sock" for "x.sock"): the new share takes the socket
 * over, as for the same text (found in review: the launcher compared the
 * text, and the new share got a socket of its own, made anew). Then a
 * reload that writes the socket back as "x.sock": the same share, its
 * daemon kept. */
START_TEST(reload_socket_written_another_way)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "old", "old", "vm1-x.sock");
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	ck_assert_int_gt(daemon_of(&t, "old"), 0);
	char *sock = strdup(sock_of(&t, "old"));
	ino_t ino0;
	check_socket(&t, "old", &ino0);
	char *d = tu_path(t.vm.runner, "share/microvm/virtiofs/old");
	tu_rm_rf(d);
	free(d);
	lt_forget_share(&t, "old");
	lt_share(&t, "nu", "nu", "./vm1-x.sock");
	size_t from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
	ck_assert_int_ge(rl, 0);
	int rd = lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 12000);
	if (rd <= rl) {
		char *story = lt_story(&t);
		ck_abort_msg("no READY=1 after RELOADING=1; log:\n%s", story);
	}
	ck_assert_int_gt(daemon_of(&t, "nu"), 0);
	struct stat st;
	ck_assert_int_eq(lstat(sock, &st), 0);
	ck_assert_uint_eq(st.st_ino, ino0);
	ck_assert(oracle_listening(sock));
	pid_t nu = daemon_of(&t, "nu");
	tu_write(t.vm.runner, "share/microvm/virtiofs/nu/socket", "vm1-x.sock\n");
	from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
	ck_assert_int_ge(rl, 0);
	ck_assert_int_gt(lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 12000), rl);
	ck_assert_int_eq(daemon_of(&t, "nu"), nu);
	ck_assert_int_eq(lstat(sock, &st), 0);
	ck_assert_uint_eq(st.st_ino, ino0);
	char *log = lt_log(&t);
	ck_assert_msg(!strstr(log, "unable"), "log:\n%s", log);
	free(log);
	ck_assert_int_eq(lt_wait_exit(&t, 0), -1);
	free(sock);
	lt_free(&t);
}
END_TEST

/* A reload that removes a share and adds one on its socket written with a
 * '..' step ("socks/sub/../x.sock" for "socks/x.sock", in a directory of
 * root's, where the walk takes '..'): not the same path plainly, so the
 * socket is not handed over; the old share stops, and the new one makes
 * the socket anew once the old daemon is gone (blocker()). Found by a
 * mutation test: with prepare_new() opening a socket that a share still
 * there listens on, the reload was refused ("another process listens on
 * it"), and no test saw it. */
START_TEST(reload_socket_with_a_dotdot_step_made_anew)
{
	struct lt t;
	lt_init(&t);
	char *sub = tu_path(t.vm.root, "socks/sub");
	ck_assert_int_eq(mkdir_p(sub, 0755), 0);
	free(sub);
	char *x = tu_path(t.vm.root, "socks/x.sock"), *y = tu_path(t.vm.root, "socks/sub/../x.sock");
	lt_share(&t, "old", "old", x);
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	ck_assert_int_gt(daemon_of(&t, "old"), 0);
	check_socket(&t, "old", NULL);
	char *d = tu_path(t.vm.runner, "share/microvm/virtiofs/old");
	tu_rm_rf(d);
	free(d);
	lt_forget_share(&t, "old");
	lt_share(&t, "nu", "nu", y);
	size_t from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
	ck_assert_int_ge(rl, 0);
	int rd = lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 12000);
	bool up = false;
	for (int i = 0; i < 500 && !up; i++, sleep_ms(10))
		up = daemon_of_now(&t, "nu") > 0;
	char *story = lt_story(&t);
	ck_assert_msg(rd > rl && up && !strstr(story, "unable"), "log:\n%s", story);
	free(story);
	check_socket(&t, "nu", NULL);
	ck_assert_int_eq(lt_wait_exit(&t, 0), -1);
	free(y);
	free(x);
	lt_free(&t);
}
END_TEST

/* A socket's path with '..' steps above / (legal: the kernel, and the
 * walk, stay at / there), as a broken runner may write it. The tree in
 * which the socket is bound (RUNTIME/.root/N) was made by following those
 * steps in the tmpfs, up out of it: the launcher made directories on the
 * host next to the runtime dir (and took off whatever was mounted where
 * they led, in its namespace), and the bind, in the chroot where '..'
 * stays at its root, found no directory: the share failed (found by an
 * audit). Wanted: '..' stays at the tree's top as at the chroot's root,
 * the socket listens in the directory the walk reached, nothing is made
 * outside the tmpfs. */
START_TEST(socket_dotdot_above_root_stays_in_the_tmpfs)
{
	struct lt t;
	lt_init(&t);
	char *socks = tu_path(t.vm.root, "socks");
	ck_assert_int_eq(mkdir(socks, 0755), 0);
	char *written = xasprintf("/../../..%s/x.sock", socks);
	lt_share(&t, "a", "a", written);
	const char *const once[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, once);
	lt_wait_ready_or_exit(&t, 5000);
	char *outside = tu_path(t.vm.root, "tmp"); /* ROOT/run/.root/0/../../.. is ROOT */
	struct stat st;
	ck_assert_msg(lstat(outside, &st) < 0 && errno == ENOENT,
		      "the launcher made %s, outside its tmpfs", outside);
	char *story = lt_story(&t);
	ck_assert_msg(lt_wait_msg(&t, 0, "READY=1", 0) >= 0 && daemon_of(&t, "a") > 0,
		      "log:\n%s", story);
	free(story);
	check_socket(&t, "a", NULL); /* (bound as written: /proc/net/unix names it so) */
	char *real = tu_path(socks, "x.sock");
	ck_assert_int_eq(lstat(real, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 5000), 0);
	ck_assert(lstat(real, &st) < 0 && errno == ENOENT);
	free(real);
	free(outside);
	free(written);
	free(socks);
	lt_free(&t);
}
END_TEST

/* The same in the VM's directory, where the walk refuses a '..' step:
 * the new share's socket can never be made, so the reload is refused as
 * a whole and the old share serves on, as for any new share that cannot
 * be prepared. Found by a mutation test (the socket of a share still
 * there is not made at the reload, and so was not looked at): the reload
 * was taken, the old share stopped, and the new one failed at each start
 * until it was given up; the VM lost the share. */
START_TEST(reload_socket_never_usable_refused)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "old", "old", "vm1-x.sock");
	char *sub = tu_path(t.vm.dir, "sub");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	free(sub);
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	pid_t po = daemon_of(&t, "old");
	ck_assert_int_gt(po, 0);
	ino_t ino, ino2;
	check_socket(&t, "old", &ino);
	char *d = tu_path(t.vm.runner, "share/microvm/virtiofs/old");
	tu_rm_rf(d); /* (its socket still known to t: the old share stays) */
	free(d);
	lt_share(&t, "nu", "nu", "sub/../vm1-x.sock");
	size_t from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
	ck_assert_int_ge(rl, 0);
	int rd = lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 3000);
	/* (time for a stop of the old share that should not come) */
	int st = lt_wait_exit(&t, 500);
	char *story = lt_story(&t);
	char *want = xasprintf("virtiofs-launch: vm1: unable to use share 'nu' socket "
			       "'%s/sub/../vm1-x.sock': '..' in a path in the VM's directory\n"
			       "virtiofs-launch: vm1: unable to reload: the shares stay as they "
			       "were\n",
			       t.vm.dir);
	ck_assert_msg(rd > rl && st == -1 && strstr(story, want), "want:\n%slog:\n%s", want,
		      story);
	ck_assert_msg(!strstr(story, "stopping it") && !strstr(story, "unable to start"),
		      "log:\n%s", story);
	free(want);
	free(story);
	ck_assert_int_eq(daemon_of_now(&t, "old"), po);
	check_socket(&t, "old", &ino2);
	ck_assert_uint_eq(ino, ino2);
	ck_assert_int_eq(daemon_of_now(&t, "nu"), 0);
	lt_free(&t);
}
END_TEST

/* Connect to sock and send VHOST_USER_GET_FEATURES (what QEMU sends
 * first); true when a daemon answers it within timeout_ms. *fd stays
 * connected (the caller closes it). */
static bool features_answered(const char *sock, int timeout_ms, int *fd)
{
	*fd = vm_connect(sock);
	ck_assert_msg(*fd >= 0, "connect to %s: %s", sock, strerror(errno));
	uint32_t req[3] = {1 /* VHOST_USER_GET_FEATURES */, 0x1 /* version */, 0};
	ck_assert_int_eq(write(*fd, req, sizeof(req)), (ssize_t)sizeof(req));
	struct pollfd p = {.fd = *fd, .events = POLLIN};
	uint32_t hdr[3];
	return poll(&p, 1, timeout_ms) == 1 && read(*fd, hdr, sizeof(hdr)) == (ssize_t)sizeof(hdr) &&
	       hdr[0] == 1;
}

/* A VM that stops: its daemon exits, and no other starts until a client
 * connects again (a host stopping all its VMs would otherwise start a
 * daemon per share only to stop it); one that connects is served. */
START_TEST(client_leaves_daemon_starts_on_next_client)
{
	struct lt t;
	three_up(&t, _i);
	pid_t pa = daemon_of(&t, "a"), pb = daemon_of(&t, "b");
	int fd;
	ck_assert_msg(features_answered(sock_of(&t, "a"), 3000, &fd), "a's daemon did not answer");
	sleep_ms(20); /* as a VM that stops */
	close(fd);
	long long end = now_us() + 3000000;
	while (alive(pa) && now_us() < end)
		sleep_ms(2);
	ck_assert_msg(!alive(pa), "a's daemon stayed after its client left");
	sleep_ms(300);
	ck_assert_msg(daemon_of_now(&t, "a") == 0, "a daemon was started with no client");
	ck_assert_msg(oracle_listening(sock_of(&t, "a")), "a's socket stopped listening");
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, "its client left; starting it again when a client connects"),
		      "log:\n%s", log);
	free(log);
	long long t0 = now_us();
	ck_assert_msg(features_answered(sock_of(&t, "a"), 3000, &fd),
		      "the next client of a was not served");
	long long took = now_us() - t0;
	pid_t na = daemon_of_now(&t, "a");
	ck_assert(na > 0 && na != pa);
	close(fd);
	ck_assert_int_eq(daemon_of(&t, "b"), pb);
	fprintf(stderr, "virtiofs: client left, the next one served after %lld us\n", took);
	lt_free(&t);
}
END_TEST

/* A reload's share with the socket a removed share's daemon still holds,
 * whose directory the VM user removed meanwhile: the directory is made
 * again at the reload, the socket once that daemon is gone. */
START_TEST(reload_held_socket_dir_made_again)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "x", "x", "sd/s.sock");
	const char *const extra[] = {"--grace", "5s", NULL};
	lt_start(&t, t.fake, extra);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	pid_t px = daemon_of(&t, "x");
	ck_assert(px > 0);
	ck_assert_int_eq(kill(px, SIGSTOP), 0); /* a daemon slow to go */
	char *d = tu_path(t.vm.runner, "share/microvm/virtiofs/x");
	tu_rm_rf(d);
	free(d);
	lt_forget_share(&t, "x");
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, 0, "STATUS=0 of 0 shares up", 3000);
	ck_assert_int_ge(rl, 0);
	char *sd = tu_path(t.vm.dir, "sd");
	tu_rm_rf(sd);
	ck_assert_msg(alive(px), "x's daemon left before its grace was over");
	lt_share(&t, "y", "y", "sd/s.sock");
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl2 = lt_wait_msg(&t, (size_t)rl + 1, "RELOADING=1", 3000);
	ck_assert_int_gt(rl2, rl);
	ck_assert_int_gt(lt_wait_msg(&t, (size_t)rl2 + 1, "READY=1", 10000), rl2);
	char *log = lt_log(&t);
	ck_assert_msg(daemon_of(&t, "y") > 0 && !strstr(log, "unable to"),
		      "no daemon for y; log:\n%s", log);
	free(log);
	check_socket(&t, "y", NULL);
	ck_assert_int_eq(lt_wait_exit(&t, 0), -1);
	free(sd);
	lt_free(&t);
}
END_TEST

/* The VM user puts a file of its own where the socket was (the socket
 * moved aside): a stop leaves it, removing only the file it made. */
START_TEST(stop_leaves_a_file_put_at_the_socket_path)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "a", "a.sock");
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	const char *sock = sock_of(&t, "a");
	char *aside = xasprintf("%s.aside", sock);
	ck_assert_int_eq(rename(sock, aside), 0);
	tu_write(t.vm.dir, "a.sock", "the VM user's\n");
	tu_chown(sock, TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(kill(t.pid, SIGTERM), 0);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 0);
	struct stat st;
	ck_assert_msg(lstat(sock, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == TU_NOBODY,
		      "the VM user's %s removed by the stop", sock);
	free(aside);
	lt_free(&t);
}
END_TEST

/* Found in review: a share removed by one reload, its daemon still within
 * its --grace (here: SIGSTOPped, so its SIGTERM waits), has its socket shut
 * down; a second reload that brought a share with that socket back (a
 * runner switched away and back) gave the new share that shut-down socket:
 * every connect was refused, each daemon's accept() failed (EINVAL) and
 * the launcher gave up on the share. The new share is served once the old
 * daemon is gone, on a socket file the old one's cleanup left alone. */
START_TEST(sighup_socket_back_while_old_daemon_stops)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "x", "x", "vm1-virtiofs-s.sock");
	const char *const extra[] = {"--grace", "5s", NULL};
	lt_start(&t, real_bin(_i), extra);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	pid_t px = daemon_of(&t, "x");
	ck_assert(px > 0);
	char *sock = strdup(sock_of(&t, "x"));
	ck_assert_int_eq(kill(px, SIGSTOP), 0); /* a daemon slow to go */
	/* Reload 1: x removed. */
	char *d = tu_path(t.vm.runner, "share/microvm/virtiofs/x");
	tu_rm_rf(d);
	free(d);
	lt_forget_share(&t, "x");
	size_t from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
	ck_assert_int_ge(rl, 0);
	rl = lt_wait_msg(&t, (size_t)rl, "STATUS=0 of 0 shares up", 3000); /* (reloaded) */
	ck_assert_int_ge(rl, 0);
	ck_assert_msg(alive(px), "x's daemon left before its grace was over");
	/* Reload 2, x's daemon still there: y with x's socket. */
	lt_share(&t, "y", "y", "vm1-virtiofs-s.sock");
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl2 = lt_wait_msg(&t, (size_t)rl + 1, "RELOADING=1", 3000);
	ck_assert_int_gt(rl2, rl);
	ck_assert_int_gt(lt_wait_msg(&t, (size_t)rl2 + 1, "READY=1", 10000), rl2);
	ck_assert_msg(!alive(px), "x's daemon %d still there", px);
	ck_assert_int_gt(daemon_of(&t, "y"), 0);
	/* The socket file is there, and y's client is served. */
	check_socket(&t, "y", NULL);
	int fd;
	ck_assert_msg(features_answered(sock, 3000, &fd), "y's daemon did not answer");
	close(fd);
	ck_assert_int_eq(lt_wait_exit(&t, 0), -1);
	free(sock);
	lt_free(&t);
}
END_TEST

/* The NUL-separated argv the fake recorded for a start of tag's daemon
 * (the last one read), and how many starts it had; NULL when none. */
static char *fake_argv_now(const struct lt *t, const char *tag, size_t *len, size_t *starts)
{
	DIR *d = opendir(t->fake_dir);
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	char *found = NULL;
	*starts = 0;
	while ((de = readdir(d))) {
		if (!strstr(de->d_name, ".argv"))
			continue;
		char *p = tu_path(t->fake_dir, de->d_name), *buf;
		size_t n;
		ck_assert_int_eq(read_file(p, 65536, &buf, &n), 0);
		free(p);
		bool mine = false;
		for (char *a = buf; a < buf + n; a += strlen(a) + 1)
			mine |= serves_arg(t, tag, a);
		if (mine) { /* (pids grow: the last one read is not the last start) */
			(*starts)++;
			free(found);
			found = buf;
			*len = n;
		} else {
			free(buf);
		}
	}
	closedir(d);
	return found;
}

/* The same, waiting up to 2 s for one: READY=1 comes once the daemons
 * were started, maybe before the fake wrote its file. */
static char *fake_argv(const struct lt *t, const char *tag, size_t *len, size_t *starts)
{
	long long end = now_us() + 2000000;
	char *got;
	while (!(got = fake_argv_now(t, tag, len, starts)) && now_us() < end)
		sleep_ms(5);
	return got;
}

static void check_argv(const char *got, size_t len, const char *const want[])
{
	size_t i = 0;
	for (const char *a = got; a < got + len; a += strlen(a) + 1, i++) {
		ck_assert_msg(want[i] != NULL, "extra argument '%s'", a);
		ck_assert_str_eq(a, want[i]);
	}
	ck_assert_msg(want[i] == NULL, "missing argument '%s'", want[i]);
}

/* A share's setting file, as microvm.nix's module writes it. */
static void lt_setting(struct lt *t, const char *tag, const char *name, const char *value)
{
	char rel[256];
	snprintf(rel, sizeof(rel), "share/microvm/virtiofs/%s/%s", tag, name);
	tu_write(t->vm.runner, rel, value);
}

/* The pin of tag is a read-only mount (what the daemon gets). */
static bool pin_read_only(const struct lt *t, const char *tag)
{
	char *p = xasprintf("/proc/%d/root%s/vm1/virtiofs/%s/.probe", (int)t->pid,
			    t->vm.runtime, tag);
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	int err = errno;
	if (fd >= 0) {
		close(fd);
		unlink(p);
	}
	free(p);
	ck_assert_msg(fd >= 0 || err == EROFS, "probe of %s: %s", tag, strerror(err));
	return fd < 0;
}

/* Every setting file, in the Rust command line; none: the defaults. */
START_TEST(rust_dialect_argv)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "home", "my home's dir", "vm1-virtiofs-home.sock");
	lt_setting(&t, "home", "read-only", "true\n");
	lt_setting(&t, "home", "cache", "metadata\n");
	lt_setting(&t, "home", "posix-acl", "false\r\n");
	lt_setting(&t, "home", "inode-file-handles", "\nprefer\n");
	lt_setting(&t, "home", "tag", "crosvm-home\n");
	lt_setting(&t, "home", "extra-args", "--allow-mmap\n\n--xattrmap=:map::user.a b:\n");
	lt_share(&t, "plain", "plain", "vm1-virtiofs-plain.sock");
	const char *const extra[] = {"--thread-pool-size", "3", "--rlimit-nofile", "4096",
				     "--extra-arg", "--log-level=debug", NULL};
	lt_start(&t, t.fake, extra);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	size_t len, starts;
	char *got = fake_argv(&t, "home", &len, &starts);
	ck_assert_ptr_nonnull(got);
	char *pin = pin_of(&t, "home"), *a1 = xasprintf("--shared-dir=%s", pin);
	const char *const want[] = {t.fake,
				    "--fd=3",
				    a1,
				    "--thread-pool-size=3",
				    "--readonly",
				    "--cache=metadata",
				    "--inode-file-handles=prefer",
				    "--tag=crosvm-home",
				    "--rlimit-nofile=4096",
				    "--log-level=debug",
				    "--allow-mmap",
				    "--xattrmap=:map::user.a b:",
				    NULL};
	check_argv(got, len, want);
	free(got);
	free(pin);
	free(a1);
	got = fake_argv(&t, "plain", &len, &starts);
	ck_assert_ptr_nonnull(got);
	pin = pin_of(&t, "plain");
	a1 = xasprintf("--shared-dir=%s", pin);
	const char *const want2[] = {t.fake,	    "--fd=3", a1, "--thread-pool-size=3",
				     "--posix-acl", "--xattr", "--rlimit-nofile=4096",
				     "--log-level=debug", NULL};
	check_argv(got, len, want2);
	free(got);
	free(pin);
	free(a1);
	/* read-only is a read-only mount too, for any daemon. */
	ck_assert(pin_read_only(&t, "home"));
	ck_assert(!pin_read_only(&t, "plain"));
	ck_assert_int_eq(kill(t.pid, SIGTERM), 0);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 0);
	lt_free(&t);
}
END_TEST

/* The C command line, told from the daemon's --help; its settings. */
START_TEST(c_dialect_argv_and_detection)
{
	struct lt t;
	lt_init(&t);
	/* A runtime dir with a ',' and a '\\': escaped in -o source=. */
	free(t.vm.runtime);
	t.vm.runtime = tu_path(t.vm.root, "run,x\\y");
	lt_share(&t, "s", "a,b\\c", "vm1-virtiofs-s.sock");
	lt_setting(&t, "s", "read-only", "true\n");
	lt_setting(&t, "s", "cache", "never\n");
	lt_setting(&t, "s", "inode-file-handles", "prefer\n");
	lt_share(&t, "t", "t", "vm1-virtiofs-t.sock");
	lt_setting(&t, "t", "cache", "always\n");
	lt_setting(&t, "t", "posix-acl", "false\n");
	lt_setting(&t, "t", "extra-args", "-o\nannounce_submounts\n");
	setenv("VFS_FAKE_HELP", "c", 1);
	/* (0s passed on as given: to the Rust one, --rlimit-nofile=0 means
	 * its limit is left as it is) */
	const char *const extra[] = {"--thread-pool-size", "0", "--rlimit-nofile", "0", NULL};
	lt_start(&t, t.fake, extra);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	size_t len, starts;
	char *got = fake_argv(&t, "s", &len, &starts);
	ck_assert_ptr_nonnull(got);
	char *a3 = xasprintf("source=%s/run\\,x\\\\y/vm1/virtiofs/s", t.vm.root);
	const char *const want[] = {t.fake, "--fd=3", "-o", a3, "--thread-pool-size=0", "-o",
				    "cache=none", "-o", "xattr", "-o", "posix_acl", "--rlimit-nofile=0",
				    NULL};
	check_argv(got, len, want);
	free(got);
	free(a3);
	got = fake_argv(&t, "t", &len, &starts);
	ck_assert_ptr_nonnull(got);
	a3 = xasprintf("source=%s/run\\,x\\\\y/vm1/virtiofs/t", t.vm.root);
	const char *const want2[] = {t.fake, "--fd=3", "-o", a3, "--thread-pool-size=0", "-o",
				     "cache=always", "--rlimit-nofile=0", "-o", "announce_submounts",
				     NULL};
	check_argv(got, len, want2);
	free(got);
	free(a3);
	/* QEMU's virtiofsd has no --readonly: the mount is read-only. */
	ck_assert(pin_read_only(&t, "s"));
	ck_assert(!pin_read_only(&t, "t"));
	unsetenv("VFS_FAKE_HELP");
	lt_free(&t);
}
END_TEST

/* A made-up ELF file of this machine's class and byte order, for the
 * launcher's look at a daemon's strings: pad bytes of "filler" (holding
 * `outside` at its start), then a .rodata section holding `rodata`, a
 * .shstrtab and the section headers. `bad` spoils one thing of the
 * headers (the look must then read the whole file): 0 none, 1 the
 * headers running past the end, 2 the names' index out of range, 3
 * .rodata running past the end, 4 no sections, 5 .rodata's name out of
 * the names, 6 the section named .rodata.cst16, not .rodata. */
static char *fake_elf(const struct lt *t, const char *name, size_t pad, const char *outside,
		      const char *rodata, int bad)
{
	static const char names[] = "\0.rodata\0.shstrtab\0.rodata.cst16";
	size_t ro_off = sizeof(Ehdr) + pad, ro_len = strlen(rodata);
	size_t nm_off = ro_off + ro_len, sh_off = (nm_off + sizeof(names) + 7) & ~(size_t)7;
	size_t size = sh_off + 3 * sizeof(Shdr);
	unsigned char *f = calloc(1, size);
	ck_assert_ptr_nonnull(f);
	Ehdr *eh = (Ehdr *)f;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS_HERE;
	eh->e_ident[EI_DATA] = ELFDATA_HERE;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_DYN;
	eh->e_version = EV_CURRENT;
	eh->e_ehsize = sizeof(Ehdr);
	eh->e_shoff = bad == 1 ? size - sizeof(Shdr) : sh_off;
	eh->e_shentsize = sizeof(Shdr);
	eh->e_shnum = bad == 4 ? 0 : 3;
	eh->e_shstrndx = bad == 2 ? 3 : 2;
	memcpy(f + sizeof(Ehdr), outside, strlen(outside));
	memcpy(f + ro_off, rodata, ro_len);
	memcpy(f + nm_off, names, sizeof(names));
	Shdr sh[3] = {{0},
		      {.sh_name = bad == 5 ? 4096 : bad == 6 ? 19 : 1,
		       .sh_type = SHT_PROGBITS,
		       .sh_flags = SHF_ALLOC,
		       .sh_offset = ro_off,
		       .sh_size = bad == 3 ? size : ro_len},
		      {.sh_name = 9, .sh_type = SHT_STRTAB, .sh_offset = nm_off,
		       .sh_size = sizeof(names)}};
	memcpy(f + sh_off, sh, sizeof(sh));
	char *path = tu_path(t->vm.root, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, f, size), (ssize_t)size);
	close(fd);
	free(f);
	return path;
}

/* Which command line the launcher's dry run would give bin's daemons:
 * 'r' (--shared-dir=), 'c' (-o source=), or 0 (none: it failed); its
 * log in *log. */
static char dry_dialect(struct lt *t, const char *bin, char **log)
{
	const char *const dry[] = {"-n", NULL};
	unlink(t->err_path);
	lt_start(t, bin, dry);
	int st = lt_wait_exit(t, 5000);
	*log = lt_log(t);
	return st != 0				? 0
	       : strstr(*log, " --shared-dir=") ? 'r'
	       : strstr(*log, " -o source=")    ? 'c'
						: 0;
}

/* bin's dialect is d, or the test fails showing the launcher's log. */
static void want_dialect(struct lt *t, const char *bin, char d, const char *what)
{
	char *log;
	char got = dry_dialect(t, bin, &log);
	ck_assert_msg(got == d, "%s: got '%c', want '%c'; log:\n%s", what, got ? got : '-', d,
		      log);
	free(log);
}

/* The daemon's command line told from the strings of its binary: those
 * of its .rodata (where a daemon keeps its option names) decide, wherever
 * in the file that lies; headers that do not add up are no error (the
 * whole file is read then); the rest of the file decides only when
 * .rodata names neither. Nothing of it runs the binary (it could not). */
START_TEST(dialect_from_the_binarys_strings)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "s", "s", "vm1-virtiofs-s.sock");
	enum { MiB = 1 << 20 };
	char *bin = fake_elf(&t, "rust", 3 * MiB, "", "usage: --shared-dir=DIR", 0);
	want_dialect(&t, bin, 'r', "Rust, 3 MiB in");
	free(bin);
	bin = fake_elf(&t, "c", 1 * MiB, "", "virtio_session_mount -o source=PATH", 0);
	want_dialect(&t, bin, 'c', "C, 1 MiB in");
	free(bin);
	/* .rodata says C: what lies elsewhere (a symbol, debug info) does not
	 * count. */
	bin = fake_elf(&t, "c2", 4096, "shared-dir", "-o source=PATH", 0);
	want_dialect(&t, bin, 'c', ".rodata says C, the rest Rust");
	free(bin);
	/* .rodata says nothing: the rest of the file does. */
	bin = fake_elf(&t, "elsewhere", 4096, "--shared-dir", "nothing here", 0);
	want_dialect(&t, bin, 'r', "only outside .rodata");
	free(bin);
	/* Read a piece at a time: a name across two pieces is still seen
	 * (no sections: the whole file, from its start). */
	bin = fake_elf(&t, "split", 16384 - 4 - sizeof(Ehdr), "", "--shared-dir=DIR", 4);
	want_dialect(&t, bin, 'r', "--shared-dir across the first 16 KiB read's end");
	free(bin);
	for (int bad = 1; bad <= 6; bad++) {
		char name[16], what[64];
		snprintf(name, sizeof(name), "bad%d", bad);
		snprintf(what, sizeof(what), "headers spoilt (%d): the whole file", bad);
		bin = fake_elf(&t, name, 64 * 1024, "--shared-dir", "-o source=PATH", bad);
		want_dialect(&t, bin, 'r', what);
		free(bin);
	}
	lt_free(&t);
}
END_TEST

/* What QEMU's virtiofsd cannot honour is an error naming the share, the
 * setting's file and line, before anything is started or made (and not
 * dropped). */
START_TEST(c_dialect_refuses_what_it_cannot_honour)
{
	static const struct {
		const char *file, *value;
		unsigned line;
		const char *why;
	} cases[] = {
		{"cache", "metadata\n", 1,
		 "has no such cache mode (only auto, always, never): 'metadata'"},
		{"inode-file-handles", "\n  \nmandatory\n", 3,
		 "has no file handles (only never; prefer means never there): 'mandatory'"},
		{"tag", "\nfs0\n\n", 2,
		 "cannot announce a tag (the hypervisor's device sets it): 'fs0'"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct lt t;
		lt_init(&t);
		lt_share(&t, "ok", "ok", "vm1-virtiofs-ok.sock");
		lt_share(&t, "zz", "zz", "vm1-virtiofs-zz.sock");
		lt_setting(&t, "zz", cases[i].file, cases[i].value);
		const char *const extra[] = {"--virtiofsd-dialect", "c", NULL};
		lt_start(&t, t.fake, extra);
		ck_assert_int_eq(lt_wait_exit(&t, 3000), 1);
		char *want = xasprintf("virtiofs-launch: vm1: unable to use share 'zz' setting "
				       "'%s/share/microvm/virtiofs/zz/%s' line %u: QEMU's C "
				       "virtiofsd (dialect c) %s\n",
				       t.vm.runner, cases[i].file, cases[i].line, cases[i].why);
		char *log = lt_log(&t);
		ck_assert_msg(strcmp(log, want) == 0, "want:\n%slog:\n%s", want, log);
		free(log);
		free(want);
		ck_assert_uint_eq(dir_entries(t.fake_dir), 0);
		ck_assert_uint_eq(dir_entries(t.vm.dir), 1); /* current: nothing made */
		ck_assert_uint_eq(t.nmsg, 0);
		lt_free(&t);
	}
}
END_TEST

/* A setting file with a bad value, or a file that is no setting (a typo
 * must not leave a share writable): an error naming file, line and
 * value; at start nothing starts, at a reload the shares stay. */
START_TEST(bad_setting_files)
{
	static const struct {
		const char *file, *content, *msg;
	} cases[] = {
		{"read-only", "yes\n", "line 1: unknown value (known: true, false): 'yes'"},
		{"cache", "\nauto\nnever\n", "line 3: more than one value: 'never'"},
		{"posix-acl", "true\0\n", "line 1: NUL byte: 'true\\x00'"},
		{"readonly", "true\n",
		 ": not a share setting (known: source, socket, read-only, cache, posix-acl, "
		 "inode-file-handles, tag, extra-args)"},
		{"extra-args", "--a\n--b\tc\n", "line 2: an argument with a control character: "
						  "'--b\\x09c'"},
		{"tag", "a/b\n", "line 1: a name may not contain '/': 'a/b'"},
		/* found before anything is made: the source is not there */
		{"socket",
		 "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
		 "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk.sock\n",
		 "bytes from the VM's directory, longer than the 107 a unix socket's address takes: 'kkkkk"},
		{"source", " /srv/x \n", "line 1: path with a space at its start or end: ' /srv/x '"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct lt t;
		lt_init(&t);
		lt_share(&t, "s", "s", "vm1-virtiofs-s.sock");
		char rel[128];
		snprintf(rel, sizeof(rel), "share/microvm/virtiofs/s/%s", cases[i].file);
		tu_write_n(t.vm.runner, rel, cases[i].content,
			   strlen(cases[i].content) + (strstr(cases[i].file, "posix") ? 2 : 0));
		lt_start(&t, t.fake, NULL);
		ck_assert_int_eq(lt_wait_exit(&t, 3000), 1);
		char *path = tu_path(t.vm.runner, rel);
		char *log = lt_log(&t);
		ck_assert_msg(strstr(log, path) && strstr(log, cases[i].msg), "case %zu: log:\n%s",
			      i, log);
		ck_assert_msg(!strchr(log, '\n') || strchr(log, '\n') == log + strlen(log) - 1,
			      "more than one line:\n%s", log);
		free(log);
		free(path);
		ck_assert_uint_eq(dir_entries(t.fake_dir), 0);
		ck_assert_uint_eq(dir_entries(t.vm.dir), 1);
		lt_free(&t);
	}
	/* At a reload: refused, the share keeps its daemon and settings. */
	struct lt t;
	lt_init(&t);
	lt_share(&t, "s", "s", "vm1-virtiofs-s.sock");
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	pid_t d = daemon_of(&t, "s");
	lt_setting(&t, "s", "read-only", "ture\n");
	size_t from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
	ck_assert_int_gt(lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 3000), rl);
	ck_assert_int_eq(daemon_of(&t, "s"), d);
	ck_assert(!pin_read_only(&t, "s"));
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, "read-only' line 1: unknown value (known: true, false): 'ture'") &&
			      strstr(log, "unable to reload: the shares stay as they were"),
		      "log:\n%s", log);
	free(log);
	lt_free(&t);
}
END_TEST

/* Two shares of a VM on one socket, however each writes its path, or
 * with one tag: refused, naming the second share's file, before anything
 * is made. */
START_TEST(two_shares_one_socket_or_tag)
{
	static const struct {
		const char *socket_b, *tag_a, *tag_b, *file, *msg;
	} cases[] = {
		{"./x.sock", NULL, NULL, "b/socket", "the socket of share 'a' too: "},
		{"sub/../x.sock", NULL, NULL, "b/socket", "the socket of share 'a' too: "},
		{"y.sock", "same", "same", "b/tag", "the tag of share 'a' too: 'same'"},
		{"y.sock", "b", NULL, "b", "the tag of share 'a' too: 'b'"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct lt t;
		lt_init(&t);
		lt_share(&t, "a", "a", "x.sock");
		lt_share(&t, "b", "b", cases[i].socket_b);
		if (cases[i].tag_a)
			lt_setting(&t, "a", "tag", cases[i].tag_a);
		if (cases[i].tag_b)
			lt_setting(&t, "b", "tag", cases[i].tag_b);
		lt_start(&t, t.fake, NULL);
		ck_assert_int_eq(lt_wait_exit(&t, 3000), 1);
		char *path = xasprintf("%s/share/microvm/virtiofs/%s'", t.vm.runner, cases[i].file);
		char *log = lt_log(&t);
		ck_assert_msg(strstr(log, path) && strstr(log, cases[i].msg), "case %zu: log:\n%s", i,
			      log);
		ck_assert_msg(strchr(log, '\n') == log + strlen(log) - 1, "case %zu: not one line:\n%s",
			      i, log);
		free(log);
		free(path);
		ck_assert_uint_eq(dir_entries(t.fake_dir), 0);
		ck_assert_uint_eq(dir_entries(t.vm.dir), 1);
		lt_free(&t);
	}
}
END_TEST

/* A tag reads one way in every part of a message: "a\u00e4" (UTF-8,
 * printable) is shown as it is in the path (escape_text()), and was
 * "a\\xc3\\xa4" in the reason and the value (escape_value(), which
 * escaped every byte that is not ASCII). */
START_TEST(tag_shown_one_way)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a\xc3\xa4", "a", "x.sock");
	lt_share(&t, "b\xc3\xa4", "b", "y.sock");
	lt_setting(&t, "b\xc3\xa4", "tag", "a\xc3\xa4");
	lt_start(&t, t.fake, NULL);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 1);
	char *log = lt_log(&t);
	char *want = xasprintf("unable to use '%s/share/microvm/virtiofs/b\xc3\xa4/tag': the tag of "
			       "share 'a\xc3\xa4' too: 'a\xc3\xa4'\n",
			       t.vm.runner);
	ck_assert_msg(strstr(log, want), "want:\n%s\nlog:\n%s", want, log);
	free(want);
	free(log);
	lt_free(&t);
}
END_TEST

/* A changed setting is a changed share at a reload: its daemon is started
 * again with it, on the same socket, which listens all along. */
START_TEST(reload_applies_settings)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "s", "s", "vm1-virtiofs-s.sock");
	lt_share(&t, "u", "u", "vm1-virtiofs-u.sock");
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	pid_t ds = daemon_of(&t, "s"), du = daemon_of(&t, "u");
	ino_t ino, ino2;
	check_socket(&t, "s", &ino);
	ck_assert(!pin_read_only(&t, "s"));
	lt_setting(&t, "s", "read-only", "true\n");
	size_t from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
	ck_assert_int_gt(lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 3000), rl);
	pid_t ns = daemon_of(&t, "s");
	ck_assert(ns > 0 && ns != ds && !alive(ds));
	ck_assert_int_eq(daemon_of(&t, "u"), du);
	ck_assert(cmdline_has(ns, "--readonly", true));
	ck_assert(pin_read_only(&t, "s"));
	check_socket(&t, "s", &ino2);
	ck_assert_uint_eq(ino, ino2);
	lt_free(&t);
}
END_TEST

static size_t mounts_naming(pid_t pid, const char *path);

/* Is a mount of the launcher's on the pin of tag (its mount namespace)? */
static bool pin_mounted(const struct lt *t, const char *tag)
{
	char *pin = pin_of(t, tag), *want = xasprintf(" %s ", pin);
	bool yes = mounts_naming(t->pid, want) > 0;
	free(want);
	free(pin);
	return yes;
}

/* A reload whose new share cannot be prepared (case 0: its source is below
 * a file; 1: its socket's path is a file) is refused as a whole: one line
 * naming the share and the path, the old share serves on (the same daemon,
 * the same socket), the launcher goes on and says READY=1 again, and
 * nothing the reload made is left (the socket of the good new share b,
 * prepared first; no pin). Found by an audit: the new share went through
 * the restarts of a share that fails, and the launcher gave up on it,
 * stopping every share and exiting 1. A later reload without the bad share
 * adds b. */
START_TEST(reload_bad_new_share_refused)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "a", "vm1-virtiofs-a.sock");
	const char *const extra[] = {"--max-failures", "3", NULL};
	lt_start(&t, t.fake, extra);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	pid_t pa = daemon_of(&t, "a");
	ck_assert_int_gt(pa, 0);
	ino_t ino, ino2;
	check_socket(&t, "a", &ino);
	tu_write(t.vm.dir, "afile", "not a directory\n");
	char *pre = tu_path(t.vm.dir, "pre");
	ck_assert_int_eq(mkdir(pre, 0755), 0);
	lt_share(&t, "b", "pre/bsrc/deep", "bsock/in/vm1-virtiofs-b.sock");
	if (_i == 0)
		lt_share(&t, "z", "afile/sub", "vm1-virtiofs-z.sock");
	else
		lt_share(&t, "z", "zsrc", "afile");
	char *bad = tu_path(t.vm.dir, _i == 0 ? "afile/sub" : "afile");
	char *want = xasprintf("virtiofs-launch: vm1: unable to use share 'z' %s '%s': %s",
			       _i == 0 ? "source" : "socket", bad,
			       _i == 0 ? "Not a directory" : "it exists and is not a socket");
	size_t from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
	ck_assert_int_ge(rl, 0);
	int rd = lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 3000);
	/* (time for the restarts that gave up: 3 in 0.3 s) */
	int st = lt_wait_exit(&t, 1000);
	if (rd <= rl || st != -1) {
		char *story = lt_story(&t);
		ck_abort_msg("case %d: no READY=1 after RELOADING=1, or exit %d; log:\n%s", _i, st,
			     story);
	}
	ck_assert_int_eq(daemon_of(&t, "a"), pa);
	check_socket(&t, "a", &ino2);
	ck_assert_uint_eq(ino, ino2);
	ck_assert_msg(access(sock_of(&t, "b"), F_OK) < 0, "b's socket left behind");
	/* The directories the reload made for b are gone; the one that was
	 * there before stays. */
	ck_assert_uint_eq(dir_entries(pre), 0);
	char *bsock = tu_path(t.vm.dir, "bsock");
	ck_assert_msg(access(bsock, F_OK) < 0, "%s left behind", bsock);
	free(bsock);
	if (_i == 1) {
		char *zsrc = tu_path(t.vm.dir, "zsrc");
		ck_assert_msg(access(zsrc, F_OK) < 0, "%s left behind", zsrc);
		free(zsrc);
	}
	ck_assert_msg(access(sock_of(&t, "z"), F_OK) < 0 || _i == 1, "z's socket left behind");
	ck_assert(!pin_mounted(&t, "b") && !pin_mounted(&t, "z"));
	ck_assert_int_eq(daemon_of_now(&t, "b"), 0);
	ck_assert_uint_eq(listening_count(&t), 1);
	char *log = lt_log(&t);
	ck_assert_msg(has_line(log, want), "case %d: want %s; log:\n%s", _i, want, log);
	ck_assert_msg(has_line(log, "virtiofs-launch: vm1: unable to reload: the shares stay as "
				    "they were"),
		      "log:\n%s", log);
	ck_assert_msg(!strstr(log, "unable to start share"), "log:\n%s", log);
	free(log);
	/* The runner without z: b comes up, a stays. */
	char *d = tu_path(t.vm.runner, "share/microvm/virtiofs/z");
	tu_rm_rf(d);
	free(d);
	lt_forget_share(&t, "z");
	from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
	ck_assert_int_ge(rl, 0);
	ck_assert_int_gt(lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 3000), rl);
	ck_assert_int_gt(daemon_of(&t, "b"), 0);
	check_socket(&t, "b", NULL);
	ck_assert_int_eq(daemon_of(&t, "a"), pa);
	ck_assert_int_eq(lt_wait_exit(&t, 0), -1);
	free(want);
	free(bad);
	free(pre);
	lt_free(&t);
}
END_TEST

/* Wait up to timeout_ms until s is in the launcher's log n times, or the
 * launcher exited (not reaped: lt_wait_exit() tells its status): is it? */
static bool lt_wait_log(const struct lt *t, const char *s, unsigned n, int timeout_ms)
{
	long long end = now_us() + timeout_ms * 1000LL;
	for (;;) {
		char *log = lt_log(t);
		unsigned k = occurrences(log, s);
		free(log);
		if (k >= n)
			return true;
		struct pollfd p = {.fd = t->pidfd, .events = POLLIN};
		if (now_us() >= end || poll(&p, 1, 0) > 0)
			return false;
		sleep_ms(10);
	}
}

/* A share that a reload adds once the launcher was ready, whose daemon
 * keeps failing (an extra-args setting the daemon refuses), is given up
 * alone (case 0: after --max-failures quick failures; 1: no daemon up for
 * --timeout; 2: as 0, a share there at the start that the reload changed,
 * its socket taken over from its old daemon): one line naming it, its
 * socket and pin gone, STATUS= counts the shares left; the share the VM
 * runs with keeps its daemon and socket and the launcher goes on. Found by
 * a review: the launcher gave up on every share and exited 1, and under
 * systemd the running VM was restarted for a share it did not use yet.
 * The next reload tries the share again (it was forgotten): the same
 * runner fails again, alone; the runner fixed brings it up. */
START_TEST(reload_failing_new_share_given_up_alone)
{
	static const char *const extra[][7] = {
		{"--max-failures", "3", "--restart-delay", "20ms", NULL},
		{"--max-failures", "100", "--restart-delay", "20ms", "--timeout", "500ms", NULL},
		{"--max-failures", "3", "--restart-delay", "20ms", NULL},
	};
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "a", "vm1-virtiofs-a.sock");
	if (_i == 2)
		lt_share(&t, "b", "b", "vm1-virtiofs-b.sock");
	lt_start(&t, t.fake, extra[_i]);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	pid_t pa = daemon_of(&t, "a");
	ck_assert_int_gt(pa, 0);
	ino_t ino, ino2;
	size_t len, starts;
	if (_i == 2) { /* (its argv written: it is not stopped before) */
		ck_assert_int_gt(daemon_of(&t, "b"), 0);
		free(fake_argv(&t, "b", &len, &starts));
		ck_assert_uint_eq(starts, 1);
	}
	check_socket(&t, "a", &ino);
	if (_i != 2)
		lt_share(&t, "b", "b", "vm1-virtiofs-b.sock");
	lt_setting(&t, "b", "extra-args", "--fake-refuse\n");
	char *want = xasprintf("virtiofs-launch: vm1: unable to start share 'b': %s; the other "
			       "shares serve on (fix the runner, then reload)",
			       _i != 1 ? "it failed 3 times in a row"
				       : "no daemon stayed up in 500ms");
	for (unsigned round = 1; round <= 2; round++) {
		size_t from = t.nmsg;
		ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
		int rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
		ck_assert_int_ge(rl, 0);
		int rd = lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 3000);
		bool said = lt_wait_log(&t, "unable to start share 'b'", round, 3000);
		/* (time for a restart or an exit that should not come) */
		int st = lt_wait_exit(&t, 200);
		if (rd <= rl || !said || st != -1) {
			char *story = lt_story(&t);
			ck_abort_msg("case %d, round %u: READY=1 %d after %d, said %d, exit %d; "
				     "log:\n%s",
				     _i, round, rd, rl, said, st, story);
		}
		ck_assert_int_eq(daemon_of(&t, "a"), pa);
		check_socket(&t, "a", &ino2);
		ck_assert_uint_eq(ino, ino2);
		ck_assert_msg(access(sock_of(&t, "b"), F_OK) < 0, "b's socket left behind");
		ck_assert(!pin_mounted(&t, "b"));
		ck_assert_int_eq(daemon_of_now(&t, "b"), 0);
		ck_assert_uint_eq(listening_count(&t), 1);
		free(fake_argv(&t, "b", &len, &starts));
		if (_i != 1) /* (and b's daemon from the start, in case 2) */
			ck_assert_uint_eq(starts, 3 * round + (_i == 2));
		char *log = lt_log(&t);
		ck_assert_msg(has_line(log, want), "want %s; log:\n%s", want, log);
		ck_assert_msg(occurrences(log, "unable to") == round, "log:\n%s", log);
		/* (the daemon's words escaped as a value is: its quotes as \') */
		ck_assert_msg(strstr(log, "b: fake: unknown argument \\'--fake-refuse\\'"),
			      "log:\n%s", log);
		free(log);
		ck_assert_int_gt(lt_wait_msg(&t, (size_t)rd, "STATUS=1 of 1 share up", 1000), rd);
		ck_assert_int_lt(lt_wait_msg(&t, from, "STOPPING=1", 0), 0);
	}
	/* The runner fixed: b comes up, a stays. */
	char *x = tu_path(t.vm.runner, "share/microvm/virtiofs/b/extra-args");
	ck_assert_int_eq(unlink(x), 0);
	free(x);
	size_t from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
	ck_assert_int_ge(rl, 0);
	ck_assert_int_gt(lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 3000), rl);
	pid_t pb = daemon_of(&t, "b");
	ck_assert_int_gt(pb, 0);
	check_socket(&t, "b", NULL);
	ck_assert_int_eq(lt_wait_exit(&t, 200), -1);
	ck_assert_int_eq(daemon_of_now(&t, "b"), pb);
	ck_assert_int_eq(daemon_of(&t, "a"), pa);
	ck_assert_uint_eq(listening_count(&t), 2);
	free(want);
	lt_free(&t);
}
END_TEST

/* A share that a reload adds before the launcher was ever ready is one
 * the VM starts with (it is there at the first READY=1): when it keeps
 * failing, the launcher gives up on every share and exits 1, as for a
 * share of the start, instead of dropping it alone and leaving the VM to
 * boot without it. Here w cannot be prepared at first (its socket's path
 * is a file), so READY=1 waits; the reload adds b, whose daemon refuses
 * its extra argument; then w's path is freed and w comes up. Found by a
 * mutation test: with every reload's share taken as late, b was dropped
 * alone and no test saw it. */
START_TEST(reload_before_ready_failing_share_gives_up)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "a", "vm1-virtiofs-a.sock");
	lt_share(&t, "w", "w", "wfile");
	tu_write(t.vm.dir, "wfile", "not a socket\n");
	const char *const extra[] = {"--max-failures", "4", "--restart-delay", "1s", NULL};
	lt_start(&t, t.fake, extra);
	/* w failed twice (its third try in 1 s): not ready */
	bool waiting = lt_wait_log(&t, "share 'w': starting again in 1s", 1, 3000);
	lt_share(&t, "b", "b", "vm1-virtiofs-b.sock");
	lt_setting(&t, "b", "extra-args", "--fake-refuse\n");
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, 0, "RELOADING=1", 3000);
	char *wfile = tu_path(t.vm.dir, "wfile");
	ck_assert_int_eq(unlink(wfile), 0);
	free(wfile);
	int st = lt_wait_exit(&t, 8000);
	int rd = lt_wait_msg(&t, 0, "READY=1", 0);
	char *story = lt_story(&t);
	ck_assert_msg(waiting && rl >= 0 && (rd < 0 || rd > rl),
		      "not a reload before READY=1; log:\n%s", story);
	ck_assert_msg(st == 1, "exit %d; log:\n%s", st, story);
	ck_assert_msg(strstr(story, "virtiofs-launch: vm1: unable to start share 'b': it failed 4 "
				    "times in a row\n"),
		      "log:\n%s", story);
	free(story);
	lt_free(&t);
}
END_TEST

/* A start that gives up removes the directories it made for the shares
 * (sources, socket directories, deepest first), when they are still
 * empty; not one that was there before. Here share a's are made, a's
 * socket made in one of them, and z fails for good: its socket's path is
 * a file. Found by an audit: they were left, root's, in the VM's
 * directory. */
START_TEST(start_given_up_removes_its_directories)
{
	struct lt t;
	lt_init(&t);
	char *pre = tu_path(t.vm.dir, "pre");
	ck_assert_int_eq(mkdir(pre, 0755), 0);
	lt_share(&t, "a", "made/deep/src", "made/deep/a.sock");
	lt_share(&t, "b", "pre/new", "pre/b.sock");
	lt_share(&t, "z", "zsrc", "zfile");
	tu_write(t.vm.dir, "zfile", "not a socket\n");
	const char *const extra[] = {"--max-failures", "2", NULL};
	lt_start(&t, t.fake, extra);
	int st = lt_wait_exit(&t, 4000);
	ck_assert_msg(st == 1, "exit %d", st);
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, "unable to start share 'z': it failed 2 times in a row"),
		      "log:\n%s", log);
	free(log);
	/* Left: pre (empty again), zfile, the launcher's files. */
	ck_assert_uint_eq(dir_entries(pre), 0);
	const char *gone[] = {"made", "zsrc"};
	for (size_t i = 0; i < ARRAY_SIZE(gone); i++) {
		char *p = tu_path(t.vm.dir, gone[i]);
		ck_assert_msg(access(p, F_OK) < 0, "%s left behind", p);
		free(p);
	}
	char *z = tu_path(t.vm.dir, "zfile");
	struct stat sb;
	ck_assert(stat(z, &sb) == 0 && S_ISREG(sb.st_mode));
	free(z);
	free(pre);
	lt_free(&t);
}
END_TEST

/* Directories that a reload before the first READY=1 made for a share it
 * added belong to the start: when the start then gives up, they go with
 * the start's own. Here w holds READY=1 back (its socket's path is a
 * file) until the launcher gives up on it, and the reload meanwhile adds
 * b, with a source and a socket directory that are not there. (Noticed
 * at the last stop; a reload before READY=1 is reached as in
 * reload_before_ready_failing_share_gives_up. The reload forgot them.) */
START_TEST(reload_before_ready_dirs_go_with_the_start)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "a", "vm1-virtiofs-a.sock");
	lt_share(&t, "w", "w", "wfile");
	tu_write(t.vm.dir, "wfile", "not a socket\n");
	const char *const extra[] = {"--max-failures", "4", "--restart-delay", "1s", NULL};
	lt_start(&t, t.fake, extra);
	bool waiting = lt_wait_log(&t, "share 'w': starting again in 1s", 1, 3000);
	lt_share(&t, "b", "bmade/src", "bsock/b.sock");
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, 0, "RELOADING=1", 3000);
	char *bsrc = tu_path(t.vm.dir, "bmade/src");
	for (int i = 0; i < 300 && access(bsrc, F_OK) < 0; i++)
		usleep(10000);
	bool made = access(bsrc, F_OK) == 0;
	free(bsrc);
	int st = lt_wait_exit(&t, 8000);
	int rd = lt_wait_msg(&t, 0, "READY=1", 0);
	char *story = lt_story(&t);
	ck_assert_msg(waiting && rl >= 0 && made && rd < 0,
		      "not a reload before READY=1 that made b's source; log:\n%s", story);
	ck_assert_msg(st == 1 && strstr(story, "unable to start share 'w'"), "exit %d; log:\n%s",
		      st, story);
	const char *gone[] = {"bmade", "bsock"};
	for (size_t i = 0; i < ARRAY_SIZE(gone); i++) {
		char *p = tu_path(t.vm.dir, gone[i]);
		ck_assert_msg(access(p, F_OK) < 0, "%s left behind; log:\n%s", p, story);
		free(p);
	}
	free(story);
	lt_free(&t);
}
END_TEST

/* A directory the start made, that the VM user removed and made anew
 * (its own now, in the VM's directory it may write) before the start gave
 * up, is left: removed is only the very directory made (its inode). Found
 * by a mutation test: with the inode not compared, the user's directory
 * went. */
START_TEST(start_given_up_leaves_a_directory_made_anew)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "msrc", "vm1-virtiofs-a.sock");
	lt_share(&t, "z", "zsrc", "zfile");
	tu_write(t.vm.dir, "zfile", "not a socket\n");
	const char *const extra[] = {"--max-failures", "3", "--restart-delay", "1s", NULL};
	lt_start(&t, t.fake, extra);
	/* z failed twice, its last try in 1 s: msrc is made */
	bool waiting = lt_wait_log(&t, "share 'z': starting again in 1s", 1, 3000);
	char *msrc = tu_path(t.vm.dir, "msrc");
	int gone = rmdir(msrc), made = mkdir(msrc, 0755), owned = chown(msrc, 990, 78);
	int st = lt_wait_exit(&t, 5000);
	char *story = lt_story(&t);
	ck_assert_msg(waiting, "z never waited to start again; log:\n%s", story);
	ck_assert_int_eq(gone, 0);
	ck_assert_int_eq(made, 0);
	ck_assert_int_eq(owned, 0);
	ck_assert_msg(st == 1, "exit %d; log:\n%s", st, story);
	ck_assert_msg(strstr(story, "unable to start share 'z': it failed 3 times in a row"),
		      "log:\n%s", story);
	struct stat sb;
	ck_assert_msg(stat(msrc, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == 990,
		      "the VM user's %s removed", msrc);
	char *zsrc = tu_path(t.vm.dir, "zsrc");
	ck_assert_msg(access(zsrc, F_OK) < 0, "%s left behind", zsrc);
	free(zsrc);
	free(story);
	free(msrc);
	lt_free(&t);
}
END_TEST

/* Run by hand where mounts do not propagate (the test's own mount
 * namespace with / private, as `unshare -m` makes one, or a host without
 * shared propagation), a mount that someone makes on a directory the start
 * made, once the launcher is in its own namespace, is not seen there. A
 * start that gives up leaves such a directory, and the mount on it, and
 * -v says why; it removes the others it made. Here the runtime dir and
 * share a's source get a tmpfs each, with a file in it, while z fails for
 * good. (Left alone at the last stop: removed from the launcher's
 * namespace, where they were not mount points, the directories went, and
 * the kernel detached the mounts on them in every namespace.) */
START_TEST(start_given_up_leaves_a_mount_it_cannot_see)
{
	struct lt t;
	lt_init(&t);
	ck_assert_int_eq(unshare(CLONE_NEWNS), 0); /* (this test's process alone) */
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	lt_share(&t, "a", "asrc", "vm1-virtiofs-a.sock");
	lt_share(&t, "z", "zsrc", "zfile");
	tu_write(t.vm.dir, "zfile", "not a socket\n");
	const char *const extra[] = {"--max-failures", "3", "--restart-delay", "1s", "-v", NULL};
	lt_start(&t, t.fake, extra);
	/* z failed twice, its last try in 1 s: the directories are made */
	bool waiting = lt_wait_log(&t, "share 'z': starting again in 1s", 1, 3000);
	char *asrc = tu_path(t.vm.dir, "asrc");
	const char *const theirs[] = {t.vm.runtime, asrc};
	int mounted[ARRAY_SIZE(theirs)];
	for (size_t i = 0; i < ARRAY_SIZE(theirs); i++) {
		mounted[i] = mount("someone", theirs[i], "tmpfs", 0, "size=64k");
		if (mounted[i] == 0)
			tu_write(theirs[i], "file", "theirs\n");
	}
	int st = lt_wait_exit(&t, 5000);
	char *story = lt_story(&t);
	ck_assert_msg(waiting && mounted[0] == 0 && mounted[1] == 0,
		      "z never waited to start again, or no mount made; log:\n%s", story);
	ck_assert_msg(st == 1 && strstr(story, "unable to start share 'z': it failed 3 times "
					       "in a row"),
		      "exit %d; log:\n%s", st, story);
	for (size_t i = 0; i < ARRAY_SIZE(theirs); i++) {
		char *file = tu_path(theirs[i], "file"), *text = NULL;
		size_t len;
		bool kept = read_file(file, 4096, &text, &len) == 0 && strcmp(text, "theirs\n") == 0;
		char *said = xasprintf("left directory '%s' it made: %s\n", theirs[i],
				       strerror(EBUSY));
		ck_assert_msg(kept, "someone's mount on %s detached; log:\n%s", theirs[i], story);
		ck_assert_msg(strstr(story, said), "want:\n%slog:\n%s", said, story);
		free(said);
		free(text);
		free(file);
		ck_assert_int_eq(umount(theirs[i]), 0);
	}
	char *zsrc = tu_path(t.vm.dir, "zsrc");
	ck_assert_msg(access(zsrc, F_OK) < 0, "%s left behind; log:\n%s", zsrc, story);
	free(zsrc);
	free(story);
	free(asrc);
	lt_free(&t);
}
END_TEST

/* Found by a mutation test: a directory that another process made between
 * the walk's look and its mkdirat() (EEXIST) is not one the start made,
 * and no test had one. Here share a's source, outside the state dir, is
 * missing, and made by another process, as another VM's launcher makes a
 * source both VMs share, while the launcher is held (gate.so) before its
 * mkdirat() of it; then the start gives up (z's socket path is a file).
 * With the directory noted as made, the start that gave up removed it,
 * empty, from under the other VM that served it. */
START_TEST(start_given_up_leaves_a_directory_another_made)
{
	struct lt t;
	lt_init(&t);
	char *srv = tu_path(t.vm.root, "srv"), *shared = tu_path(srv, "shared");
	ck_assert_int_eq(mkdir(srv, 0755), 0);
	lt_share(&t, "a", shared, "vm1-virtiofs-a.sock");
	lt_share(&t, "z", "zsrc", "zfile");
	tu_write(t.vm.dir, "zfile", "not a socket\n");
	char *gate = tu_path(t.vm.root, "gate"), *reached = tu_path(t.vm.root, "gate.reached");
	char *shim = tu_bin("tests/shims/gate.so");
	char *preload = xasprintf("LD_PRELOAD=%s", shim), *genv = xasprintf("GATE_FILE=%s", gate);
	const char *const env[] = {preload, genv, "GATE_AT=mkdir:shared", NULL};
	tu_write(t.vm.root, "gate", "");
	t.bin = "tests/virtiofs-launch"; /* (dynamically linked: the shim is loaded) */
	t.env = env;
	const char *const extra[] = {"--max-failures", "2", NULL};
	lt_start(&t, t.fake, extra);
	bool held = false;
	for (int i = 0; i < 1000 && !(held = access(reached, F_OK) == 0); i++)
		usleep(10000);
	int made = held ? mkdir(shared, 0755) : -1;
	ck_assert_int_eq(unlink(gate), 0);
	int st = lt_wait_exit(&t, 5000);
	char *story = lt_story(&t);
	ck_assert_msg(held, "the launcher never came to its mkdirat() of %s; log:\n%s", shared,
		      story);
	ck_assert_int_eq(made, 0);
	ck_assert_msg(st == 1, "exit %d; log:\n%s", st, story);
	ck_assert_msg(strstr(story, "unable to start share 'z': it failed 2 times in a row"),
		      "log:\n%s", story);
	struct stat sb;
	ck_assert_msg(stat(shared, &sb) == 0 && S_ISDIR(sb.st_mode),
		      "%s, made by another, removed by the start that gave up; log:\n%s", shared,
		      story);
	char *zsrc = tu_path(t.vm.dir, "zsrc");
	ck_assert_msg(access(zsrc, F_OK) < 0, "%s left behind", zsrc);
	free(zsrc);
	free(story);
	free(genv);
	free(preload);
	free(shim);
	free(reached);
	free(gate);
	free(shared);
	free(srv);
	lt_free(&t);
}
END_TEST

/* The SigBlk line of /proc/PID/status ("" when gone). */
static void sigblk_of(pid_t pid, char *buf, size_t size)
{
	char p[64], *st;
	size_t len;
	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	buf[0] = '\0';
	if (read_file(p, 65536, &st, &len) < 0)
		return;
	char *l = strstr(st, "\nSigBlk:");
	if (l)
		snprintf(buf, size, "%.*s", (int)strcspn(l + 1, "\n"), l + 1);
	free(st);
}

/* A SIGHUP while the launcher sets up (here while the fake's --help, run
 * to tell the dialect, takes 300 ms) is a reload once the loop runs; the
 * children still start with no signal blocked. Found by an audit: SIGHUP
 * was blocked only when the loop's signalfd was made, and one that came
 * before killed the launcher ("Hangup", status 129). */
START_TEST(early_sighup_is_a_reload)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "s", "s", "vm1-virtiofs-s.sock");
	setenv("VFS_FAKE_HELP_SLEEP_MS", "300", 1);
	lt_start(&t, t.fake, NULL);
	unsetenv("VFS_FAKE_HELP_SLEEP_MS");
	/* Once the --help run has begun (it notes its mask, then sleeps
	 * 300 ms): the launcher is in its set-up, past main()'s start, however
	 * slow the machine (a fixed delay could land before main()). */
	char *p = tu_path(t.fake_dir, "help.sigblk");
	for (int i = 0; i < 1000 && access(p, F_OK) < 0; i++)
		sleep_ms(5);
	ck_assert_msg(access(p, F_OK) == 0, "the --help run never started");
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	lt_wait_ready_or_exit(&t, 5000);
	int st = lt_wait_exit(&t, 0);
	if (st != -1) {
		char *story = lt_story(&t);
		ck_abort_msg("exit %d (129: SIGHUP); log:\n%s", st, story);
	}
	int rd = lt_wait_msg(&t, 0, "READY=1", 0);
	ck_assert_int_ge(rd, 0);
	/* The SIGHUP waited for the loop: a reload, READY=1 after it. */
	int rl = lt_wait_msg(&t, 0, "RELOADING=1", 3000);
	ck_assert_int_ge(rl, 0);
	ck_assert_int_gt(lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 3000), rl);
	pid_t d = daemon_of(&t, "s");
	ck_assert_int_gt(d, 0);
	check_socket(&t, "s", NULL);
	char blk[128], *help = NULL;
	size_t len;
	sigblk_of(d, blk, sizeof(blk));
	ck_assert_str_eq(blk, "SigBlk:\t0000000000000000");
	ck_assert_int_eq(read_file(p, 4096, &help, &len), 0);
	ck_assert_str_eq(help, "SigBlk:\t0000000000000000\n");
	free(help);
	free(p);
	lt_free(&t);
}
END_TEST

START_TEST(unknown_dialect_is_an_error)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "s", "s", "vm1-virtiofs-s.sock");
	setenv("VFS_FAKE_HELP", "none", 1);
	lt_start(&t, t.fake, NULL);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 1);
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, "--virtiofsd-dialect"), "log:\n%s", log);
	free(log);
	unsetenv("VFS_FAKE_HELP");
	/* The --help run gets no NOTIFY_SOCKET, as no daemon does. */
	char *hn = tu_path(t.fake_dir, "help.notify");
	ck_assert_msg(access(hn, F_OK) != 0, "virtiofsd --help ran with NOTIFY_SOCKET");
	free(hn);
	/* A --help that says nothing within --timeout is not waited for
	 * (here it would print the Rust help 8 s on). */
	const char *const soon[] = {"--timeout", "1s", NULL};
	setenv("VFS_FAKE_HELP_SLEEP_MS", "8000", 1);
	unlink(t.err_path);
	long long t0 = now_ms();
	lt_start(&t, t.fake, soon);
	unsetenv("VFS_FAKE_HELP_SLEEP_MS");
	int st = lt_wait_exit(&t, 5000);
	log = lt_log(&t);
	ck_assert_msg(st == 1 && strstr(log, "its --help names neither"),
		      "exit %d %lld ms on (--timeout 1s, --help silent for 8 s); log:\n%s", st,
		      now_ms() - t0, log);
	free(log);
	/* Said explicitly, it works. */
	const char *const extra[] = {"--virtiofsd-dialect", "rust", NULL};
	lt_start(&t, t.fake, extra);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	lt_free(&t);
}
END_TEST

/* --virtiofsd NAME without a slash is looked up on $PATH alone, and one
 * not found there is named so: not as the default's search ("nor in
 * /usr/libexec or /usr/lib/qemu; use --virtiofsd"), which was never made
 * and would send the admin to the option they gave (found by the docs
 * audit). Nothing starts. */
START_TEST(virtiofsd_name_not_on_path_said_so)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "s", "s", "vm1-virtiofs-s.sock");
	lt_start(&t, "no-such-virtiofsd", NULL);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 1);
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, "virtiofs-launch: vm1: unable to find 'no-such-virtiofsd': not "
				  "on $PATH\n"),
		      "log:\n%s", log);
	ck_assert_msg(!strstr(log, "/usr/libexec") && !strstr(log, "use --virtiofsd"), "log:\n%s",
		      log);
	free(log);
	ck_assert_int_lt(lt_wait_msg(&t, 0, "READY=1", 0), 0);
	ck_assert_uint_eq(dir_entries(t.fake_dir), 0);
	lt_free(&t);
}
END_TEST

/* A daemon that keeps failing: restarted at once, then after a back-off;
 * the launcher gives up after --max-failures, saying which share, and
 * leaves nothing behind. READY=1 came before (the sockets listened and
 * every daemon had been started), so the unit fails after it was active. */
START_TEST(quick_failures_give_up)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "ok", "ok", "vm1-virtiofs-ok.sock");
	lt_share(&t, "bad", "bad", "vm1-virtiofs-bad.sock");
	tu_write(t.vm.dir, "bad/.fake-fail", "");
	const char *const extra[] = {"--max-failures", "3", "--restart-delay", "100ms", NULL};
	lt_start(&t, t.fake, extra);
	int st = lt_wait_exit(&t, 4000);
	long long took = now_us() - t.t0_us;
	ck_assert_int_eq(st, 1);
	/* Starts at 0, at once, after 100 ms: the third failure gives up,
	 * long before --timeout (5 s, lt_start()). */
	ck_assert_int_ge(took, 100000);
	ck_assert_int_lt(took, 4000000);
	size_t len, starts;
	free(fake_argv(&t, "bad", &len, &starts));
	ck_assert_uint_eq(starts, 3);
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, "unable to start share 'bad': it failed 3 times in a row"),
		      "log:\n%s", log);
	/* Logged once, as the launcher gave up, not again at its exit. */
	ck_assert_msg(occurrences(log, "unable to") == 1, "log:\n%s", log);
	ck_assert_msg(strstr(log, "bad: fake: failing"), "log:\n%s", log);
	free(log);
	int ready = lt_wait_msg(&t, 0, "READY=1", 0);
	int status = lt_wait_msg(&t, 0, "STATUS=share 'bad' failed 3 times in a row", 0);
	int stopping = lt_wait_msg(&t, 0, "STOPPING=1", 0);
	ck_assert(ready >= 0 && status > ready && stopping > ready);
	/* While bad waited to start again, systemctl status said so. */
	ck_assert_msg(lt_wait_msg(&t, (size_t)ready, "STATUS=1 of 2 shares up", 0) > ready,
		      "%s", lt_story(&t));
	/* What systemctl status shows last is why (no STATUS= after it). */
	for (size_t i = (size_t)status + 1; i < t.nmsg; i++)
		ck_assert_msg(!strstr(t.msgs[i].text, "STATUS="), "STATUS after the failure's: %s",
			      lt_story(&t));
	ck_assert_uint_eq(leftovers(&t), 0);
	for (size_t i = 0; i < t.nsock; i++)
		ck_assert_msg(access(t.sock[i], F_OK) < 0, "%s left behind", t.sock[i]);
	/* ok's source, which the launcher made: its start was done (READY=1),
	 * so a give-up after it leaves the directory (found by a mutation
	 * test: the directories made at the start were removed then too) */
	char *ok = tu_path(t.vm.dir, "ok");
	struct stat sb;
	ck_assert_msg(stat(ok, &sb) == 0 && S_ISDIR(sb.st_mode), "%s removed", ok);
	free(ok);
	lt_free(&t);
}
END_TEST

/* What a daemon prints reaches the launcher's log a line at a time, with
 * its share's tag: a line ended by "\r\n" without its '\r', a line longer
 * than the launcher reads at once in pieces with nothing lost, and a last
 * line with no newline, printed just before the daemon exits. */
START_TEST(daemon_output_relayed_line_by_line)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "talk", "talk", "vm1-virtiofs-talk.sock");
	tu_write(t.vm.dir, "talk/.fake-talk", "");
	const char *const extra[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, extra);
	ck_assert_int_eq(lt_wait_exit(&t, 4000), 1);
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, ": talk: fake: one\n"), "log:\n%s", log);
	ck_assert_msg(strstr(log, ": talk: fake: last words\n"), "log:\n%s", log);
	/* The 300 'x' and "END", over as many lines as it takes. */
	size_t xs = 0, ends = 0;
	for (const char *p = log; (p = strstr(p, ": talk: x")); p += 8) {
		size_t n = strspn(p + 8, "x");
		xs += n;
		ends += strncmp(p + 8 + n, "END\n", 4) == 0;
	}
	ck_assert_msg(xs == 300 && ends == 1, "%zu 'x', %zu END; log:\n%s", xs, ends, log);
	free(log);
	lt_free(&t);
}
END_TEST

/* A share that has no daemon that stays up for --timeout (here: its
 * source cannot be opened, with --max-failures out of the way): given up. */
START_TEST(down_too_long_times_out)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "ok", "ok", "vm1-virtiofs-ok.sock");
	lt_share(&t, "slow", "slow", "vm1-virtiofs-slow.sock");
	tu_write(t.vm.dir, "slow/.fake-fail", "");
	const char *const extra[] = {"--timeout", "500ms", "--max-failures", "100",
				     "--restart-delay", "50ms", NULL};
	lt_start(&t, t.fake, extra);
	int st = lt_wait_exit(&t, 5000);
	long long took = now_us() - t.t0_us;
	ck_assert_int_eq(st, 1);
	ck_assert_int_ge(took, 500000);
	/* From READY=1, sent as the timeout starts to run: the start of a
	 * sanitized launcher on a loaded machine is not the launcher's
	 * timeout. */
	int ready = lt_wait_msg(&t, 0, "READY=1", 0);
	ck_assert_int_ge(ready, 0);
	ck_assert_int_lt(took - t.msgs[ready].at_us, 1500000);
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, "unable to start share 'slow': no daemon stayed up in 500ms"),
		      "log:\n%s", log);
	ck_assert_msg(occurrences(log, "no daemon stayed up") == 1, "log:\n%s", log);
	free(log);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "STATUS=share 'slow' not up in 500ms", 0), 0);
	ck_assert_uint_eq(leftovers(&t), 0);
	lt_free(&t);
}
END_TEST

/* A share's tag is the name of its directory in the runner: one path
 * component with no control character (so no newline, below), but a
 * backslash, a quote and a bidi override are allowed. Where a line or the
 * STATUS= (what systemctl status shows) names a share, its tag is escaped
 * as every value is (escape_text()): "b\x41'" then U+202E must not read
 * as "bA", end the quoted tag early, nor turn what follows around. */
static const char odd_tag[] = "b\\x41'\xe2\x80\xae";
static const char odd_tag_shown[] = "b\\\\x41\\'\\xe2\\x80\\xae";

START_TEST(status_names_the_tag_escaped)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, odd_tag, "bad", "vm1-virtiofs-bad.sock");
	tu_write(t.vm.dir, "bad/.fake-fail", "");
	const char *const extra[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, extra);
	int st = lt_wait_exit(&t, 4000);
	char *status = xasprintf("STATUS=share '%s' failed 1 time in a row", odd_tag_shown);
	char *want = xasprintf("virtiofs-launch: vm1: unable to start share '%s': it failed 1 "
			       "time in a row\n",
			       odd_tag_shown);
	char *log = lt_log(&t);
	if (st != 1 || lt_wait_msg(&t, 0, status, 0) < 0 || !strstr(log, want))
		ck_abort_msg("exit %d; want %s and %s; got:\n%s", st, status, want, lt_story(&t));
	free(log);
	free(want);
	free(status);
	lt_free(&t);
}
END_TEST

/* A tag with a newline ("b\nREADY=1") would, in the STATUS= line, be a
 * field of its own that says the launcher is ready: it is refused before
 * any notification is sent (escaped, it could not split a line either). */
START_TEST(newline_tag_refused_before_any_notification)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "ok", "ok", "vm1-virtiofs-ok.sock");
	lt_share(&t, "b\nREADY=1", "b", "vm1-virtiofs-b.sock");
	lt_start(&t, t.fake, NULL);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 1);
	char *log = lt_log(&t);
	const char *nl = strchr(log, '\n');
	ck_assert_msg(nl && nl[1] == '\0', "not one line:\n%s", log);
	ck_assert_msg(strstr(log, "unable to use virtiofs tag '") &&
			      strstr(log, "a name may not contain control characters: "
					  "'b\\x0aREADY=1'"),
		      "log:\n%s", log);
	free(log);
	ck_assert_uint_eq(t.nmsg, 0);
	ck_assert_uint_eq(dir_entries(t.fake_dir), 0);
	lt_free(&t);
}
END_TEST

/* Its notify socket gone, as if systemd lost it. At the start READY=1
 * cannot be sent: the service manager would wait for it until its start
 * timeout, so the launcher gives up at once, exit 1, nothing left. After
 * a reload the shares serve on as they were, the journal says why. */
START_TEST(lost_ready_gives_up_at_start_not_after_a_reload)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "a", "vm1-virtiofs-a.sock");
	close(t.nfd);
	t.nfd = -1;
	ck_assert_int_eq(unlink(t.notify_path), 0);
	lt_start(&t, t.fake, NULL);
	int st = lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	ck_assert_msg(st == 1 && strstr(log, "unable to send READY=1 to"), "exit %d; log:\n%s", st,
		      log);
	free(log);
	ck_assert_uint_eq(leftovers(&t), 0);
	ck_assert_msg(access(sock_of(&t, "a"), F_OK) < 0, "a's socket left behind");
	lt_free(&t);

	lt_init(&t);
	lt_share(&t, "a", "a", "vm1-virtiofs-a.sock");
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	pid_t p = daemon_of(&t, "a");
	ck_assert_int_gt(p, 0);
	close(t.nfd);
	t.nfd = -1;
	ck_assert_int_eq(unlink(t.notify_path), 0);
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	ck_assert(lt_wait_log(&t, "unable to send READY=1 to", 1, 3000));
	st = lt_wait_exit(&t, 500);
	ck_assert_msg(st == -1, "exit %d after a reload; log:\n%s", st, lt_log(&t));
	ck_assert_int_eq(daemon_of(&t, "a"), p);
	check_socket(&t, "a", NULL);
	lt_free(&t);
}
END_TEST

/* READY=1 once the sockets listen and the daemons run: a VM that connects
 * then waits in the socket's backlog until its daemon accepts (this one
 * never does), it is not refused. */
START_TEST(ready_before_daemon_accepts)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "slow", "slow", "vm1-virtiofs-slow.sock");
	tu_write(t.vm.dir, "slow/.fake-nolisten", "");
	lt_start(&t, t.fake, NULL);
	int r = lt_wait_msg(&t, 0, "READY=1", 3000);
	ck_assert_int_ge(r, 0);
	ck_assert_uint_eq(t.msgs[r].listening, 1);
	int fd = vm_connect(sock_of(&t, "slow"));
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(lt_wait_exit(&t, 200), -1);
	lt_free(&t);
}
END_TEST

/* A file of the fake's named NAME in its directory, waiting up to 5 s for
 * one: its pid, 0 when none came. */
static pid_t fake_mark(const struct lt *t, const char *name)
{
	long long end = now_us() + 5000000;
	do {
		DIR *d = opendir(t->fake_dir);
		ck_assert_ptr_nonnull(d);
		struct dirent *de;
		pid_t pid = 0;
		while ((de = readdir(d)) && !pid) {
			const char *dot = strchr(de->d_name, '.');
			if (dot && strcmp(dot + 1, name) == 0)
				pid = (pid_t)atoi(de->d_name);
		}
		closedir(d);
		if (pid)
			return pid;
		sleep_ms(5);
	} while (now_us() < end);
	return 0;
}

/* Share chg on "old", whose fake daemon does what the file marker
 * (.fake-*) there says, under a launcher with the extra options: up, and
 * the fake's pid once it wrote its file mark (the point from which it may
 * be signalled). */
static pid_t chg_up(struct lt *t, const char *marker, const char *mark,
		    const char *const extra[])
{
	lt_init(t);
	lt_share(t, "chg", "old", "vm1-virtiofs-chg.sock");
	char *m = xasprintf("old/%s", marker);
	tu_write(t->vm.dir, m, "");
	free(m);
	tu_write(t->vm.dir, "new/in-new", "");
	lt_start(t, t->fake, extra);
	ck_assert_int_ge(lt_wait_msg(t, 0, "READY=1", 5000), 0);
	pid_t old = fake_mark(t, mark);
	ck_assert_msg(old > 0, "the fake never started");
	return old;
}

/* chg's source changed to "new", and SIGHUP: READY=1 must follow
 * RELOADING=1. The launcher's story (lt_story()), for more checks. */
static char *chg_reload(struct lt *t)
{
	tu_write(t->vm.runner, "share/microvm/virtiofs/chg/source", "new\n");
	size_t from = t->nmsg;
	ck_assert_int_eq(kill(t->pid, SIGHUP), 0);
	int rl = lt_wait_msg(t, from, "RELOADING=1", 3000);
	ck_assert_int_ge(rl, 0);
	int rd = lt_wait_msg(t, (size_t)rl + 1, "READY=1", 8000);
	char *story = lt_story(t);
	ck_assert_msg(rd > rl, "no READY=1 after RELOADING=1; log:\n%s", story);
	return story;
}

/* The old daemon is gone; a new one serves chg, from "new". */
static void chg_replaced(const struct lt *t, pid_t old)
{
	ck_assert(!alive(old));
	ck_assert(pinned_has(t, "chg", "in-new"));
	pid_t now = daemon_of(t, "chg");
	ck_assert(now > 0 && now != old);
}

/* Found by CI: a reload right after the start (READY=1 comes before the
 * daemons are forked) sent SIGTERM to the changed share's daemon while it
 * was still starting. The C virtiofsd had set its handler, which only
 * notes the signal, and went on into accept(), where it waited for a
 * client: its socket goes on to the new daemon, so it is not shut down.
 * The old daemon stayed for the whole --grace, and the new share waited.
 * SIGTERM again interrupts that accept(): the share is back long before
 * the grace is over. */
START_TEST(reload_signal_before_accept_is_sent_again)
{
	struct lt t;
	const char *const extra[] = {"--grace", "10s", NULL};
	pid_t old = chg_up(&t, ".fake-term-late", "starting", extra); /* its handler is set */
	long long t0 = now_us();
	char *story = chg_reload(&t);
	long long took = now_us() - t0;
	ck_assert_msg(strstr(story, "fake: SIGTERM noted while starting"),
		      "the old daemon never noted SIGTERM; log:\n%s", story);
	ck_assert_msg(!strstr(story, "killing it"), "the old daemon was killed; log:\n%s", story);
	ck_assert_msg(took < 5000000, "the share was back after %lld ms (grace 10 s); log:\n%s",
		      took / 1000, story);
	free(story);
	chg_replaced(&t, old);
	ck_assert_int_eq(lt_wait_exit(&t, 0), -1);
	lt_free(&t);
}
END_TEST

/* The same with a daemon that is still starting when the second SIGTERM
 * comes (it notes that one too): SIGTERM keeps coming, at doubling gaps,
 * until one reaches its accept(); the share is back long before the
 * grace is over, the old daemon not killed. */
START_TEST(reload_signal_sent_until_the_daemon_goes)
{
	struct lt t;
	const char *const extra[] = {"--grace", "10s", NULL};
	pid_t old = chg_up(&t, ".fake-term-late", "starting", extra);
	tu_write(t.vm.dir, "old/.fake-term-slow", "");
	long long t0 = now_us();
	char *story = chg_reload(&t);
	long long took = now_us() - t0;
	ck_assert_msg(strstr(story, "fake: started"), "the old daemon never went on; log:\n%s",
		      story);
	ck_assert_msg(!strstr(story, "killing it"), "the old daemon was killed; log:\n%s", story);
	ck_assert_msg(took < 5000000, "the share was back after %lld ms (grace 10 s); log:\n%s",
		      took / 1000, story);
	free(story);
	chg_replaced(&t, old);
	ck_assert_int_eq(lt_wait_exit(&t, 0), -1);
	lt_free(&t);
}
END_TEST

/* Found with the test above: the new share's --timeout ran from the
 * reload, while it waited for the old daemon's --grace: with a grace as
 * long as the timeout, a changed share whose old daemon needed all of it
 * made the launcher give up ("no daemon stayed up"), and the VM's unit
 * failed. The timeout runs once the old daemon is gone. */
START_TEST(reload_timeout_counts_after_the_old_daemon)
{
	struct lt t;
	const char *const extra[] = {"--grace", "1500ms", "--timeout", "1s", NULL};
	/* (not before its file: SIGTERM would end it) */
	pid_t old = chg_up(&t, ".fake-term-ignore", "ignoring", extra);
	char *story = chg_reload(&t);
	ck_assert_msg(strstr(story, "still there after 1500ms, killing it"), "log:\n%s", story);
	free(story);
	chg_replaced(&t, old);
	ck_assert_int_eq(lt_wait_exit(&t, 1500), -1);
	lt_free(&t);
}
END_TEST

/* A stop (SIGTERM) while a reload's old daemon, which ignores SIGTERM, is
 * within its --grace: that grace runs on, not again from the stop, so the
 * launcher is gone --grace after the reload, within the service manager's
 * stop timeout, its daemon killed and nothing left. */
START_TEST(stop_during_a_reloads_grace_keeps_its_end)
{
	struct lt t;
	const char *const extra[] = {"--grace", "6s", NULL};
	pid_t old = chg_up(&t, ".fake-term-ignore", "ignoring", extra);
	tu_write(t.vm.runner, "share/microvm/virtiofs/chg/source", "new\n");
	size_t from = t.nmsg;
	long long t0 = now_us();
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	ck_assert_int_ge(lt_wait_msg(&t, from, "RELOADING=1", 3000), 0);
	sleep_ms(3000);
	ck_assert_int_eq(kill(t.pid, SIGTERM), 0);
	int st = lt_wait_exit(&t, 12000);
	long long took = now_us() - t0;
	char *story = lt_story(&t);
	/* (the grace again from the stop would end 9 s after the reload) */
	ck_assert_msg(st == 0 && took < 7500000, "exit %d %lld ms after the reload (grace 6 s); "
		      "log:\n%s", st, took / 1000, story);
	ck_assert_msg(occurrences(story, "still there after 6s, killing it") == 1, "log:\n%s",
		      story);
	free(story);
	ck_assert(!alive(old));
	ck_assert_uint_eq(leftovers(&t), 0);
	lt_free(&t);
}
END_TEST

/* The unit's TimeoutStopSec= in seconds (a number, with s or min or
 * without), or -1 when it sets none. */
static long unit_stop_timeout_s(void)
{
	char *path = xasprintf("%s/units/microvm-virtiofsd@.service", SRC_DIR);
	char *text = NULL;
	size_t len;
	ck_assert_msg(read_file(path, 1 << 20, &text, &len) == 0, "read %s", path);
	long s = -1;
	for (char *l = text, *nl; l && *l; l = (nl = strchr(l, '\n')) ? nl + 1 : NULL) {
		if (strncmp(l, "TimeoutStopSec=", 15) != 0)
			continue;
		char *end;
		s = strtol(l + 15, &end, 10);
		if (strncmp(end, "min", 3) == 0) {
			s *= 60;
			end += 3;
		} else if (*end == 's') {
			end++;
		}
		ck_assert_msg(end > l + 15 && (*end == '\n' || !*end) && s > 0,
			      "%s: TimeoutStopSec= not in seconds or minutes: %.40s", path, l);
	}
	free(text);
	free(path);
	return s;
}

/* The stop under the unit: systemd gives it TimeoutStopSec= before it
 * SIGKILLs the launcher and what is left (KillMode=mixed), the unit then
 * failed (result 'timeout', OnFailure= run) and the sockets left behind.
 * The launcher's own stop, with the unit's command line (no --grace: 5 s),
 * a daemon that ignores SIGTERM killed once the grace is over and the
 * sockets removed, must end well within it (here with 5 s to spare for a
 * loaded host); and the unit must set it, not leave it to the host's
 * DefaultTimeoutStopSec=, which may be shorter than the grace. */
START_TEST(stop_ends_within_the_units_stop_timeout)
{
	long limit_s = unit_stop_timeout_s();
	ck_assert_msg(limit_s > 0, "units/microvm-virtiofsd@.service sets no TimeoutStopSec=: "
		      "the host's DefaultTimeoutStopSec= would bound the launcher's stop");
	struct lt t;
	pid_t d = chg_up(&t, ".fake-term-ignore", "ignoring", NULL);
	/* A VM on it: the daemon serves, where its socket shut down does not
	 * end it (one in accept() would go at once). */
	int vm = vm_connect(sock_of(&t, "chg"));
	ck_assert_int_ge(vm, 0);
	ck_assert_int_eq(fake_mark(&t, "serving"), d);
	/* (waited for at most 20 s: the TCase's timeout is 30 s) */
	long wait_ms = limit_s * 1000 - 5000;
	if (wait_ms > 20000)
		wait_ms = 20000;
	long long t0 = now_us();
	ck_assert_int_eq(kill(t.pid, SIGTERM), 0);
	int st = lt_wait_exit(&t, wait_ms > 0 ? (int)wait_ms : 0);
	long long took_ms = (now_us() - t0) / 1000;
	char *story = lt_story(&t);
	ck_assert_msg(st == 0, "exit %d after %lld ms (-1: still there; TimeoutStopSec=%ld); "
		      "log:\n%s", st, took_ms, limit_s, story);
	ck_assert_msg(occurrences(story, "still there after 5s, killing it") == 1, "log:\n%s",
		      story);
	ck_assert_msg(took_ms + 5000 <= limit_s * 1000,
		      "the launcher's stop took %lld ms, the unit's TimeoutStopSec=%ld leaves "
		      "less than 5 s to spare; log:\n%s", took_ms, limit_s, story);
	free(story);
	ck_assert(!alive(d));
	ck_assert_uint_eq(leftovers(&t), 0);
	for (size_t i = 0; i < t.nsock; i++)
		ck_assert_msg(access(t.sock[i], F_OK) < 0, "%s left behind", t.sock[i]);
	close(vm);
	lt_free(&t);
}
END_TEST

/* A --grace longer than the unit's TimeoutStopSec= (30 s): systemd would
 * SIGKILL the launcher and its daemons before the launcher does so itself,
 * the unit failed (result 'timeout') and the sockets left behind. The stop
 * asks systemd for the grace and 5 s more (EXTEND_TIMEOUT_USEC=, systemd
 * 236, which never shortens the unit's own timeout), in its STOPPING=1. */
START_TEST(stop_asks_systemd_for_its_grace)
{
	static const char *const graces[][2] = { { "40s", "45000000" }, { "2min", "125000000" } };
	struct lt t;
	lt_init(&t);
	lt_share(&t, "s", "s", "vm1-virtiofs-s.sock");
	const char *extra[] = { "--grace", graces[_i][0], NULL };
	lt_start(&t, t.fake, extra);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	size_t from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGTERM), 0);
	int st = lt_wait_exit(&t, 10000);
	char *story = lt_story(&t);
	ck_assert_msg(st == 0, "exit %d; log:\n%s", st, story);
	int i = lt_wait_msg(&t, from, "STOPPING=1", 1000);
	ck_assert_msg(i >= 0, "no STOPPING=1; log:\n%s", story);
	char *want = xasprintf("EXTEND_TIMEOUT_USEC=%s", graces[_i][1]);
	ck_assert_msg(has_line(t.msgs[i].text, want),
		      "--grace %s: the stop's message asks systemd for no more time than its "
		      "TimeoutStopSec= (wanted %s): '%s'",
		      graces[_i][0], want, t.msgs[i].text);
	free(want);
	free(story);
	lt_free(&t);
}
END_TEST

/* The same for a stop of the launcher's own, when it gives up on a share
 * (fatal): its STOPPING=1 puts a running unit into systemd's stop, with
 * TimeoutStopSec= from then, and asks for the grace and 5 s more alike. */
START_TEST(give_up_asks_systemd_for_its_grace)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "ok", "ok", "vm1-virtiofs-ok.sock");
	lt_share(&t, "bad", "bad", "vm1-virtiofs-bad.sock");
	tu_write(t.vm.dir, "bad/.fake-fail", "");
	const char *const extra[] = { "--max-failures", "1", "--grace", "40s", NULL };
	lt_start(&t, t.fake, extra);
	int st = lt_wait_exit(&t, 10000);
	char *story = lt_story(&t);
	ck_assert_msg(st == 1, "exit %d; log:\n%s", st, story);
	int i = lt_wait_msg(&t, 0, "STOPPING=1", 1000);
	ck_assert_msg(i >= 0, "no STOPPING=1; log:\n%s", story);
	ck_assert_msg(has_line(t.msgs[i].text, "EXTEND_TIMEOUT_USEC=45000000"),
		      "the give-up's message asks systemd for no more time than its "
		      "TimeoutStopSec= (wanted EXTEND_TIMEOUT_USEC=45000000): '%s'",
		      t.msgs[i].text);
	free(story);
	lt_free(&t);
}
END_TEST

/* A share a reload removes, whose daemon waits for a client and does not
 * stop on SIGTERM: its socket is shut down, which ends that wait, so the
 * daemon goes at once (not killed after --grace), READY=1 follows the
 * reload at once, and the socket is gone. */
START_TEST(removed_share_waiting_daemon_goes_at_once)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "keep", "keep", "vm1-virtiofs-keep.sock");
	lt_share(&t, "gone", "gone", "vm1-virtiofs-gone.sock");
	tu_write(t.vm.dir, "gone/.fake-term-ignore", "");
	lt_start(&t, t.fake, NULL); /* (--grace 5 s) */
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	pid_t pg = fake_mark(&t, "ignoring");
	ck_assert_int_gt(pg, 0);
	ck_assert(lt_wait_log(&t, "gone: fake: accepting on fd", 1, 3000));
	char *gone_sock = strdup(sock_of(&t, "gone"));
	char *d = tu_path(t.vm.runner, "share/microvm/virtiofs/gone");
	tu_rm_rf(d);
	free(d);
	lt_forget_share(&t, "gone");
	size_t from = t.nmsg;
	long long t0 = now_us();
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
	ck_assert_int_ge(rl, 0);
	int rd = lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 8000);
	long long took = now_us() - t0;
	char *story = lt_story(&t);
	ck_assert_msg(rd > rl && took < 4000000 && !strstr(story, "killing it"),
		      "READY=1 %lld ms after the reload (grace 5 s); log:\n%s", took / 1000, story);
	free(story);
	ck_assert(!alive(pg));
	ck_assert_msg(access(gone_sock, F_OK) < 0, "removed share's socket left behind");
	free(gone_sock);
	ck_assert_int_eq(lt_wait_exit(&t, 0), -1);
	lt_free(&t);
}
END_TEST

/* A reload that gives a socket to a share of another tag (the old share
 * removed): the socket never stops listening, and the new share's daemon
 * starts only once the old one, which ignores SIGTERM, is gone (killed
 * after --grace): never two daemons taking clients off one socket. */
START_TEST(socket_to_another_tag_waits_for_the_old_daemon)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "one", "old", "vm1-virtiofs-s.sock");
	tu_write(t.vm.dir, "old/.fake-term-ignore", "");
	tu_write(t.vm.dir, "new/in-new", "");
	const char *const extra[] = {"--grace", "4s", NULL};
	lt_start(&t, t.fake, extra);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	pid_t old = fake_mark(&t, "ignoring");
	ck_assert_int_gt(old, 0);
	ino_t ino0, ino;
	check_socket(&t, "one", &ino0);
	char *d = tu_path(t.vm.runner, "share/microvm/virtiofs/one");
	tu_rm_rf(d);
	free(d);
	lt_forget_share(&t, "one");
	lt_share(&t, "two", "new", "vm1-virtiofs-s.sock");
	size_t from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
	ck_assert_int_ge(rl, 0);
	sleep_ms(500);
	ck_assert_msg(alive(old), "the old daemon went before its --grace");
	pid_t early = daemon_of_now(&t, "two");
	ck_assert_msg(early == 0, "two's daemon %d started while %d, the old, still runs",
		      (int)early, (int)old);
	ck_assert(oracle_listening(sock_of(&t, "two")));
	int rd = lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 8000);
	ck_assert_msg(rd > rl, "no READY=1 after RELOADING=1; log:\n%s", lt_story(&t));
	ck_assert(!alive(old));
	ck_assert_int_gt(daemon_of(&t, "two"), 0);
	ck_assert(pinned_has(&t, "two", "in-new"));
	check_socket(&t, "two", &ino);
	ck_assert_uint_eq(ino, ino0);
	ck_assert_int_eq(lt_wait_exit(&t, 0), -1);
	lt_free(&t);
}
END_TEST

/* Found in review: a daemon that exits 0 without taking the client it was
 * started for (a broken daemon, or --virtiofsd /bin/true) was taken for
 * one whose client left: the share went idle, the client still in the
 * backlog started the next daemon at once, and so on, a fork and exec in
 * a tight loop with no back-off, the client never served. Such an exit
 * is a failure now: logged, restarted with the back-off, given up on
 * after --max-failures. The first daemon, started with no client, exits
 * 0 too: that one leaves the share idle, as one whose client left. */
START_TEST(exit_0_with_client_waiting_fails)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "bad", "bad", "vm1-virtiofs-bad.sock");
	tu_write(t.vm.dir, "bad/.fake-exit0", "");
	const char *const extra[] = {"--max-failures", "3", "--restart-delay", "100ms", NULL};
	lt_start(&t, t.fake, extra);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	char *log;
	long long end = now_us() + 3000000;
	while (!strstr(log = lt_log(&t), "its client left") && now_us() < end) {
		free(log);
		sleep_ms(5);
	}
	ck_assert_msg(strstr(log, "share 'bad': virtiofsd (pid "), "log:\n%s", log);
	ck_assert_msg(strstr(log, "its client left"), "no client, yet not idle; log:\n%s", log);
	free(log);
	int fd = vm_connect(sock_of(&t, "bad"));
	ck_assert_int_ge(fd, 0);
	long long t0 = now_us();
	/* Starts with it: at once, at once, after 100 ms; the third gives up
	 * (a loop with no back-off never would: it fails the count). */
	int st = lt_wait_exit(&t, 10000);
	long long took = now_us() - t0;
	close(fd);
	size_t len, starts;
	free(fake_argv_now(&t, "bad", &len, &starts));
	ck_assert_msg(starts == 4, "%zu daemons started (4 wanted) in %lld ms", starts,
		      took / 1000);
	ck_assert_int_eq(st, 1);
	ck_assert_int_ge(took, 100000);
	log = lt_log(&t);
	ck_assert_msg(occurrences(log, "exited with status 0, a client still waiting") == 3,
		      "log:\n%s", log);
	ck_assert_msg(log_matches(log, "share 'bad': virtiofsd (pid [0-9]*) exited with status 0, "
				       "a client still waiting"),
		      "log:\n%s", log);
	ck_assert_msg(strstr(log, "bad: fake: exiting without a client"), "log:\n%s", log);
	ck_assert_msg(strstr(log, "unable to start share 'bad': it failed 3 times in a row"),
		      "log:\n%s", log);
	ck_assert_msg(occurrences(log, "unable to") == 1, "log:\n%s", log);
	free(log);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "STATUS=share 'bad' failed 3 times in a row", 0), 0);
	ck_assert_uint_eq(leftovers(&t), 0);
	lt_free(&t);
}
END_TEST

/* --max-failures counts quick failures in a row: a daemon that stayed up
 * longer than --min-uptime before it died starts the count again, so one
 * that dies now and then is restarted each time, never given up. */
START_TEST(failure_after_min_uptime_starts_the_count_again)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "a", "vm1-virtiofs-a.sock");
	const char *const extra[] = {"--max-failures", "2", "--min-uptime", "300ms", NULL};
	lt_start(&t, t.fake, extra);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	pid_t p = daemon_of(&t, "a");
	ck_assert_int_gt(p, 0);
	for (int round = 0; round < 3; round++) {
		sleep_ms(400);
		ck_assert_int_eq(kill(p, SIGKILL), 0);
		pid_t np = wait_new_daemon(&t, "a", p, 3000);
		if (!np)
			ck_abort_msg("round %d: no daemon after the kill, exit %d; log:\n%s", round,
				     lt_wait_exit(&t, 0), lt_story(&t));
		p = np;
	}
	ck_assert_int_eq(lt_wait_exit(&t, 0), -1);
	lt_free(&t);
}
END_TEST

/* A daemon whose client left (the VM stopped or rebooted) did not fail:
 * the quick failures before it are forgotten, and one more after the next
 * client's daemon starts is the first in a row, not the --max-failures'th. */
START_TEST(client_leaving_starts_the_count_again)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "a", "vm1-virtiofs-a.sock");
	const char *const extra[] = {"--max-failures", "2", NULL};
	lt_start(&t, t.fake, extra);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	pid_t p1 = daemon_of(&t, "a");
	ck_assert_int_gt(p1, 0);
	ck_assert_int_eq(kill(p1, SIGKILL), 0); /* a quick failure: one in a row */
	pid_t p2 = wait_new_daemon(&t, "a", p1, 3000);
	ck_assert_int_gt(p2, 0);
	int fd = vm_connect(sock_of(&t, "a"));
	ck_assert_int_ge(fd, 0);
	close(fd); /* its client comes and goes */
	char *log;
	long long end = now_us() + 3000000;
	while (!strstr(log = lt_log(&t), "its client left") && now_us() < end) {
		free(log);
		sleep_ms(5);
	}
	ck_assert_msg(strstr(log, "its client left"), "log:\n%s", log);
	free(log);
	fd = vm_connect(sock_of(&t, "a"));
	ck_assert_int_ge(fd, 0);
	pid_t p3 = wait_new_daemon(&t, "a", p2, 3000);
	ck_assert_int_gt(p3, 0);
	ck_assert_int_eq(kill(p3, SIGKILL), 0); /* quick again: the first in a row */
	pid_t p4 = wait_new_daemon(&t, "a", p3, 3000);
	close(fd);
	if (!p4)
		ck_abort_msg("no daemon after the kill, exit %d; log:\n%s", lt_wait_exit(&t, 0),
			     lt_story(&t));
	ck_assert_int_eq(lt_wait_exit(&t, 0), -1);
	lt_free(&t);
}
END_TEST

/* A launcher started with SIGCHLD ignored (SIG_IGN outlives exec: a
 * supervisor or script that ignores it to leave no zombies passes it on)
 * sees its daemons exit all the same: the daemon whose client left is
 * idle, and SIGTERM ends the launcher at once. (Found in review: the
 * kernel reaped each daemon itself and sent no SIGCHLD, so the launcher
 * never learnt of an exit; its stop then waited out --grace, sent SIGKILL
 * to a pid long gone, and waited for it for ever.) */
START_TEST(sigchld_ignored_at_start_still_reaps)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "asrc", "vm1-virtiofs-a.sock");
	t.chld_ignored = true;
	const char *const extra[] = {"--grace", "1s", NULL};
	lt_start(&t, t.fake, extra);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	int fd = vm_connect(sock_of(&t, "a"));
	ck_assert_int_ge(fd, 0);
	ck_assert(lt_wait_log(&t, "a: fake: accepting on fd 3", 1, 3000));
	close(fd);
	bool idle = lt_wait_log(&t, "exited, its client left", 1, 3000);
	kill(t.pid, SIGTERM);
	int st = lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	ck_assert_msg(idle, "the daemon's exit never seen; log:\n%s", log);
	ck_assert_msg(st == 0, "exit %d after SIGTERM; log:\n%s", st, log);
	free(log);
	ck_assert_uint_eq(leftovers(&t), 0);
	lt_free(&t);
}
END_TEST

/* A socket file at path that nobody listens on (a crash left it): its
 * address in *sa. */
static void stale_socket(const char *path, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
	close(fd); /* the file stays */
}

/* Attack (found in review after issue 12): /proc/net/unix is text that
 * anyone can add lines to, since an abstract socket's name may hold a
 * newline. Any local user listens on an abstract socket whose name forges a
 * line for a listener at the VM's socket path; with a stale socket file
 * there (after a crash), the launcher refused it as in use, for ever, for
 * any VM. Whether a socket listens is connect(2)'s answer, not the text's. */
START_TEST(attack_forged_unix_line)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "a", "a.sock");
	struct sockaddr_un sa;
	stale_socket(sock_of(&t, "a"), &sa);
	ck_assert(!oracle_listening(sa.sun_path));

	/* The forger: no file, no permission needed. */
	struct sockaddr_un ab = {.sun_family = AF_UNIX};
	int n = snprintf(ab.sun_path + 1, sizeof(ab.sun_path) - 1,
			 "x\n0000000000000000: 00000002 00000000 00010000 0001 01 4242 %s", sa.sun_path);
	ck_assert(n > 0 && (size_t)n < sizeof(ab.sun_path) - 1);
	int forger = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(forger, (struct sockaddr *)&ab,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)),
			 0);
	ck_assert_int_eq(listen(forger, 1), 0);
	ck_assert_msg(oracle_listening(sa.sun_path), "the forged line does not show");

	const char *const verbose[] = {"-v", "--max-failures", "1", NULL};
	lt_start(&t, t.fake, verbose);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 0);
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, "removed stale socket '"), "log:\n%s", log);
	ck_assert_msg(!strstr(log, "another process listens"), "log:\n%s", log);
	free(log);
	close(forger);
	lt_free(&t);
}
END_TEST

/* Found in review: /proc/net/unix lists only the sockets of the reader's
 * network namespace, and the launcher's unit has one of its own
 * (PrivateNetwork=yes). A socket that a process in another namespace
 * listens on (another VM's launcher, whose runner names the same path)
 * looked stale: it was removed, and this launcher's bound in its place.
 * connect(2) reaches it from any namespace: refused, left as it is. */
START_TEST(attack_listener_in_other_netns)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "a", "a.sock");
	const char *path = sock_of(&t, "a");
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0); /* of the new namespace */
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	char c;
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	struct stat before;
	ck_assert_int_eq(stat(path, &before), 0);
	ck_assert_msg(!oracle_listening(path), "the listener shows in this namespace");

	const char *const once[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, once);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 1);
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, "another process listens on it"), "log:\n%s", log);
	free(log);
	struct stat after;
	ck_assert_int_eq(stat(path, &after), 0);
	ck_assert_uint_eq(before.st_ino, after.st_ino);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	lt_free(&t);
}
END_TEST

/* A socket file nobody listens on: removed. One somebody listens on, or a
 * file that is not a socket: left alone, the share fails. */
START_TEST(stale_sockets)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "a", "a.sock");
	struct sockaddr_un sa;
	stale_socket(sock_of(&t, "a"), &sa);
	const char *const dry[] = {"--dry-run", NULL};
	lt_start(&t, t.fake, dry);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 0);
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, "would remove stale socket"), "log:\n%s", log);
	free(log);
	const char *const verbose[] = {"-v", NULL};
	lt_start(&t, t.fake, verbose);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 0);
	log = lt_log(&t);
	ck_assert_msg(strstr(log, "removed stale socket '"), "log:\n%s", log);
	free(log);

	/* In use: the test listens on it. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(sa.sun_path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	const char *const once[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, once);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 1);
	log = lt_log(&t);
	ck_assert_msg(strstr(log, "another process listens on it"), "log:\n%s", log);
	free(log);
	ck_assert(oracle_listening(sa.sun_path));
	close(fd);

	/* In use, its queue full (clients nobody accepted yet): a connect()
	 * to it would wait; still in use, said at once. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(sa.sun_path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 0), 0);
	int queued[16];
	size_t nq = 0;
	for (bool full = false; !full && nq < ARRAY_SIZE(queued); nq++) {
		queued[nq] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		ck_assert_int_ge(queued[nq], 0);
		full = connect(queued[nq], (struct sockaddr *)&sa, sizeof(sa)) < 0;
		ck_assert(!full || errno == EAGAIN);
	}
	ck_assert_msg(nq < ARRAY_SIZE(queued), "the queue of %s never filled", sa.sun_path);
	unlink(t.err_path);
	lt_start(&t, t.fake, once);
	int qst = lt_wait_exit(&t, 3000);
	log = lt_log(&t);
	ck_assert_msg(qst == 1 && strstr(log, "another process listens on it"),
		      "queue full: exit %d; log:\n%s", qst, log);
	free(log);
	ck_assert(oracle_listening(sa.sun_path));
	while (nq > 0)
		close(queued[--nq]);
	close(fd);

	/* In use by another launcher for the same VM: its sockets are bound
	 * by their real path (through its chroot), so /proc/net/unix names
	 * them as any other; a second one leaves them alone. */
	unlink(sa.sun_path);
	size_t from = t.nmsg;
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, from, "READY=1", 5000), 0);
	ck_assert(oracle_listening(sa.sun_path));
	pid_t first = t.pid, first_fd = t.pidfd;
	t.pid = 0;
	t.pidfd = -1;
	ino_t ino;
	check_socket(&t, "a", &ino);
	lt_start(&t, t.fake, once);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 1);
	log = lt_log(&t);
	ck_assert_msg(strstr(log, "another process listens on it"), "log:\n%s", log);
	free(log);
	ino_t ino2;
	check_socket(&t, "a", &ino2);
	ck_assert_uint_eq(ino, ino2);
	t.pid = first;
	t.pidfd = first_fd;
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 0);

	/* Not a socket. */
	unlink(sa.sun_path);
	tu_write(t.vm.dir, "a.sock", "data\n");
	lt_start(&t, t.fake, once);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 1);
	log = lt_log(&t);
	ck_assert_msg(strstr(log, "it exists and is not a socket"), "log:\n%s", log);
	free(log);
	struct stat st;
	ck_assert(lstat(sa.sun_path, &st) == 0 && S_ISREG(st.st_mode));
	lt_free(&t);
}
END_TEST

START_TEST(dry_run_changes_nothing)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "new dir", "sub/a.sock");
	lt_share(&t, "r", "r", "r.sock");
	lt_setting(&t, "r", "read-only", "true\n");
	const char *const dry[] = {"-n", NULL};
	lt_start(&t, t.fake, dry);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 0);
	char *log = lt_log(&t);
	char *pin = pin_of(&t, "a");
	char *want = xasprintf("would start share 'a': %s --fd=3 --shared-dir=%s", t.fake, pin);
	ck_assert_msg(strstr(log, "would create directory '") && strstr(log, want) &&
			      strstr(log, "would listen on socket '") &&
			      strstr(log, "would mount '"),
		      "log:\n%s", log);
	free(want);
	/* the read-only share's mount says so, the other's does not */
	want = xasprintf("' on '%s'\n", pin);
	ck_assert_msg(strstr(log, want), "want:\n%slog:\n%s", want, log);
	free(want);
	free(pin);
	pin = pin_of(&t, "r");
	want = xasprintf("' on '%s' read-only\n", pin);
	ck_assert_msg(strstr(log, want), "want:\n%slog:\n%s", want, log);
	free(want);
	free(pin);
	free(log);
	char *p = tu_path(t.vm.dir, "new dir");
	ck_assert_int_ne(access(p, F_OK), 0);
	free(p);
	p = tu_path(t.vm.dir, "sub");
	ck_assert_int_ne(access(p, F_OK), 0);
	free(p);
	ck_assert_int_ne(access(t.vm.runtime, F_OK), 0);
	ck_assert_uint_eq(t.nmsg, 0);
	lt_free(&t);
}
END_TEST

/* What --dry-run prints names each path escaped as an error names one
 * (escape_text()): a backslash doubled, in the share's tag, source and
 * socket (the runner's) and in the state and runtime dirs (the command
 * line's), and a control character (in those dirs) as \xNN; so that
 * "a\x41" (a backslash, x, 4, 1) does not read as the escape of "aA",
 * nor a path holding "\x1b" as one holding the character. The daemon's
 * command line is one a shell takes back: an argument that is not plain
 * in $'...', escaped so. (Noticed at the last review: only the line's
 * escape went over them, which keeps a backslash.) A quote in the tag is
 * \', in a quoted value and in $'...' alike: one escape, one meaning. */
START_TEST(dry_run_lines_are_escaped)
{
	struct lt t;
	lt_init(&t);
	char *state = tu_path(t.vm.root, "state\\x41\x1b");
	ck_assert_int_eq(rename(t.vm.state, state), 0);
	free(t.vm.state);
	t.vm.state = state;
	free(t.vm.dir);
	t.vm.dir = tu_path(state, "vm1");
	free(t.vm.runtime);
	t.vm.runtime = tu_path(t.vm.root, "r\\x41\x1b");
	lt_share(&t, "t\\x41'", "src\\x41", "s\\x41/a.sock");
	const char *const dry[] = {"--dry-run", NULL};
	lt_start(&t, t.fake, dry);
	int st = lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	/* (the temp dir's own name is plain) */
	char *dir = xasprintf("%s/state\\\\x41\\x1b/vm1", t.vm.root);
	char *pin = xasprintf("%s/r\\\\x41\\x1b/vm1/virtiofs/t\\\\x41\\'", t.vm.root);
	char *want[] = {
		xasprintf("would create directory '%s/s\\\\x41'\n", dir),
		xasprintf("would listen on socket '%s/s\\\\x41/a.sock' (owner root, group %u, "
			  "mode 0660)\n",
			  dir, (unsigned)t.gid),
		xasprintf("would create directory '%s/src\\\\x41'\n", dir),
		xasprintf("would mount '%s/src\\\\x41' on '%s'\n", dir, pin),
		xasprintf("would start share 't\\\\x41\\'': %s --fd=3 $'--shared-dir=%s' ", t.fake,
			  pin),
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		char *w = xasprintf("virtiofs-launch: vm1: %s", want[i]);
		ck_assert_msg(st == 0 && strstr(log, w), "exit %d; want:\n%s\nlog:\n%s", st, w,
			      log);
		free(w);
		free(want[i]);
	}
	free(pin);
	free(dir);
	free(log);
	ck_assert_int_ne(access(t.vm.runtime, F_OK), 0);
	lt_free(&t);
}
END_TEST

/* The daemon's command line in a --dry-run line is for pasting into a
 * shell: it is printed whole, however long, never cut (a cut in $'...'
 * reads as an unfinished quote, or, with a mark, as another argument).
 * Here an extra argument of 5204 bytes, 7804 escaped: its line was cut
 * at 4096 bytes, inside the $'...'. bash reads the line back to the
 * argument. */
START_TEST(dry_run_long_command_whole)
{
	if (access("/bin/bash", X_OK) != 0) {
		tu_skip_now(dry_run_long_command_whole, _i, "no /bin/bash to read the line back");
		return;
	}
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "a", "a.sock");
	size_t n = 1300;
	char *arg = malloc(4 * n + 5);
	ck_assert_ptr_nonnull(arg);
	strcpy(arg, "--x=");
	for (size_t i = 0; i < n; i++)
		strcat(arg, "b'\\ ");
	/* and after it one of plain characters but a space: quoted too */
	char *line = xasprintf("%s\n--y=c d\n", arg);
	lt_setting(&t, "a", "extra-args", line);
	free(line);
	/* and before them an empty --extra-arg: one argument too ($'') */
	const char *const dry[] = {"--dry-run", "--extra-arg", "", NULL};
	lt_start(&t, t.fake, dry);
	int st = lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	const char *lead = "would start share 'a': ";
	char *cmd = strstr(log, lead);
	ck_assert_msg(st == 0 && cmd, "exit %d; log:\n%.300s", st, log);
	cmd += strlen(lead);
	cmd[strcspn(cmd, "\n")] = '\0';
	ck_assert_msg(strlen(cmd) > 7804, "cut: %zu bytes, ends ...%s", strlen(cmd),
		      cmd + (strlen(cmd) > 40 ? strlen(cmd) - 40 : 0));
	const char *const sh[] = {"/bin/bash", "-c",
				  "eval \"a=($1)\" && printf '[%s]\\n%s\\n%s' \"${a[-3]}\" \"${a[-2]}\" "
				  "\"${a[-1]}\"",
				  "bash", cmd, NULL};
	struct tu_run r;
	tu_run(&r, sh);
	char *both = xasprintf("[]\n%s\n--y=c d", arg);
	ck_assert_msg(r.status == 0 && !strcmp(r.out, both),
		      "bash: exit %d: %s; read back %zu bytes: %.40s...%s", r.status, r.err,
		      strlen(r.out), r.out, r.out + (strlen(r.out) > 40 ? strlen(r.out) - 40 : 0));
	free(both);
	tu_run_free(&r);
	free(log);
	free(arg);
	lt_free(&t);
}
END_TEST

START_TEST(no_shares_ready_at_once)
{
	struct lt t;
	lt_init(&t);
	lt_start(&t, t.fake, NULL);
	int r = lt_wait_msg(&t, 0, "READY=1", 3000);
	ck_assert_int_ge(r, 0);
	ck_assert(has_line(t.msgs[r].text, "STATUS=0 of 0 shares up"));
	kill(t.pid, SIGINT);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 0);
	lt_free(&t);
}
END_TEST

/* The count of shares agrees with its noun, in what systemctl status
 * shows (STATUS=) and in the debug line at READY=1: _i 0, one share:
 * "1 of 1 share up", "ready: 1 share up" (before: "1 of 1 shares up",
 * "ready: 1 shares up"); _i 1, two: "2 of 2 shares up". */
START_TEST(share_count_agrees_with_its_noun)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "a", "vm1-virtiofs-a.sock");
	if (_i == 1)
		lt_share(&t, "b", "b", "vm1-virtiofs-b.sock");
	const char *const extra[] = {"-v", NULL};
	lt_start(&t, t.fake, extra);
	int r = lt_wait_msg(&t, 0, "READY=1", 3000);
	const char *status = _i ? "STATUS=2 of 2 shares up" : "STATUS=1 of 1 share up";
	const char *ready = _i ? "virtiofs-launch: vm1: ready: 2 shares up"
			       : "virtiofs-launch: vm1: ready: 1 share up";
	kill(t.pid, SIGINT);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 0);
	char *log = lt_log(&t);
	if (r < 0 || !has_line(t.msgs[r].text, status) || !has_line(log, ready))
		ck_abort_msg("want %s and %s; got:\n%s", status, ready, lt_story(&t));
	free(log);
	lt_free(&t);
}
END_TEST

START_TEST(usage_errors)
{
	char *bin = tu_bin("virtiofs-launch");
	const char *const cases[][6] = {
		{bin, NULL},
		{bin, "a", "b", NULL},
		{bin, "--virtiofsd-dialect", "go", "vm1", NULL},
		{bin, "--timeout", "5h", "vm1", NULL},
		{bin, "--timeout", "86401s", "vm1", NULL}, /* a day at most */
		{bin, "--grace", "1441min", "vm1", NULL},
		{bin, "--max-failures", "0", "vm1", NULL},
		{bin, "--thread-pool-size", "x", "vm1", NULL},
		{bin, "--bogus", "vm1", NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct tu_run r;
		tu_run(&r, cases[i]);
		ck_assert_msg(r.status == 2, "case %zu: exit %d: %s", i, r.status, r.err);
		ck_assert_msg(strstr(r.err, "usage error"), "case %zu: %s", i, r.err);
		tu_run_free(&r);
	}
	free(bin);
}
END_TEST

/* --group by name: the whole name of a line of /etc/group, never one
 * that only starts with it ("roo" is not root's group). */
START_TEST(group_name_whole)
{
	char *bin = tu_bin("virtiofs-launch");
	const char *const argv[] = {bin, "--group", "roo", "--dry-run", "vm1", NULL};
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 1 &&
			      !strcmp(r.err, "virtiofs-launch: vm1: unable to resolve group 'roo': "
					     "not in /etc/group (give another group by number)\n"),
		      "exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	free(bin);
}
END_TEST

/* ---- the state dir belongs to the VM user: no symlink is followed ---- */


/* The launcher is started on t, refuses share tag's path (source or
 * socket, named by what) for reason, exits 1 and starts no daemon at all. */
static void expect_refused(struct lt *t, const char *tag, const char *what, const char *path,
			   const char *reason)
{
	const char *const once[] = {"--max-failures", "1", NULL};
	lt_start(t, t->fake, once);
	int st = lt_wait_exit(t, 3000);
	char *log = lt_log(t);
	ck_assert_msg(st == 1, "exit %d, not 1; log:\n%s", st, log);
	char *want = xasprintf("virtiofs-launch: vm1: unable to use share '%s' %s '%s': %s\n",
			       tag, what, path, reason);
	ck_assert_msg(strstr(log, want), "want:\n%slog:\n%s", want, log);
	free(log);
	free(want);
	ck_assert_int_lt(lt_wait_msg(t, 0, "READY=1", 0), 0);
	ck_assert_uint_eq(dir_entries(t->fake_dir), 0); /* no daemon ever ran */
	ck_assert_uint_eq(leftovers(t), 0);
}

/* The same for a symlink in the VM's directory. */
static void expect_symlink_refused(struct lt *t, const char *tag, const char *what,
				   const char *path)
{
	expect_refused(t, tag, what, path,
		       "a symlink in the VM's directory (refused: the VM user could point it "
		       "anywhere)");
}

/* The source is a symlink to another directory of the VM's: refused (a
 * real VM user would point it at /), the target untouched; with
 * --dry-run too. */
START_TEST(source_symlink_refused)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "data", "data", "vm1-virtiofs-data.sock");
	char *target = tu_path(t.vm.dir, "target"), *src = tu_path(t.vm.dir, "data");
	ck_assert_int_eq(mkdir(target, 0755), 0);
	tu_write(target, "keep", "x\n");
	ck_assert_int_eq(symlink(target, src), 0);
	const char *const dry[] = {"-n", NULL};
	lt_start(&t, t.fake, dry);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 1);
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, "unable to use share 'data' source '") &&
			      strstr(log, "a symlink in the VM's directory"),
		      "log:\n%s", log);
	free(log);
	expect_symlink_refused(&t, "data", "source", src);
	ck_assert_uint_eq(dir_entries(target), 1);
	struct stat st;
	ck_assert(lstat(src, &st) == 0 && S_ISLNK(st.st_mode));
	free(target);
	free(src);
	lt_free(&t);
}
END_TEST

/* The tag in an error's verb ("use share 'TAG' setting", "use share
 * 'TAG' source"), escaped as the object after it is. */
START_TEST(verbs_name_the_tag_escaped)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, odd_tag, "zz", "vm1-virtiofs-zz.sock");
	lt_setting(&t, odd_tag, "cache", "metadata\n");
	const char *const c[] = {"--virtiofsd-dialect", "c", NULL};
	lt_start(&t, t.fake, c);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 1);
	char *want = xasprintf("virtiofs-launch: vm1: unable to use share '%s' setting "
			       "'%s/share/microvm/virtiofs/%s/cache' line 1: QEMU's C virtiofsd "
			       "(dialect c) has no such cache mode (only auto, always, never): "
			       "'metadata'\n",
			       odd_tag_shown, t.vm.runner, odd_tag_shown);
	char *log = lt_log(&t);
	ck_assert_msg(strcmp(log, want) == 0, "want:\n%slog:\n%s", want, log);
	free(log);
	free(want);
	lt_free(&t);

	lt_init(&t);
	lt_share(&t, odd_tag, "data", "vm1-virtiofs-data.sock");
	char *target = tu_path(t.vm.dir, "target"), *src = tu_path(t.vm.dir, "data");
	ck_assert_int_eq(mkdir(target, 0755), 0);
	ck_assert_int_eq(symlink(target, src), 0);
	expect_symlink_refused(&t, odd_tag_shown, "source", src);
	free(target);
	free(src);
	lt_free(&t);
}
END_TEST

/* A directory on the way to the source is a symlink: the source's parent
 * in the VM's directory, then STATE/NAME itself. */
START_TEST(source_parent_symlink_refused)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "data", "sub/data", "vm1-virtiofs-data.sock");
	char *real = tu_path(t.vm.dir, "real"), *sub = tu_path(t.vm.dir, "sub");
	char *src = tu_path(t.vm.dir, "sub/data");
	ck_assert_int_eq(mkdir(real, 0755), 0);
	ck_assert_int_eq(symlink(real, sub), 0);
	expect_symlink_refused(&t, "data", "source", src);
	ck_assert_uint_eq(dir_entries(real), 0); /* not even data made in it */

	/* STATE/vm1 -> STATE/vm1.real, the share's source a real directory
	 * there: still refused, the link is in the state dir (the VM user's:
	 * refused before any share is read, where `current` is looked for). */
	ck_assert_int_eq(unlink(sub), 0);
	ck_assert_int_eq(rename(real, sub), 0);
	char *moved = xasprintf("%s.real", t.vm.dir);
	ck_assert_int_eq(rename(t.vm.dir, moved), 0);
	ck_assert_int_eq(symlink(moved, t.vm.dir), 0);
	ck_assert_int_eq(unlink(t.err_path), 0);
	lt_start(&t, t.fake, NULL);
	int st = lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	char *want = xasprintf("virtiofs-launch: vm1: unable to trust '%s': a symlink in the "
			       "state dir (refused: the VM user could point it anywhere): '%s'",
			       t.vm.dir, moved);
	ck_assert_msg(st == 1 && strstr(log, want), "exit %d; want:\n%s\nlog:\n%s", st, want,
		      log);
	free(want);
	free(log);
	ck_assert_uint_eq(dir_entries(t.fake_dir), 0);
	ck_assert_int_eq(unlink(t.vm.dir), 0); /* (tu_vm_free removes moved) */
	free(moved);
	free(real);
	free(sub);
	free(src);
	lt_free(&t);
}
END_TEST

/* The socket's directory in the VM's directory is a symlink to where a
 * stale socket lies: refused, that socket left alone. */
START_TEST(socket_dir_symlink_refused)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "a", "socks/a.sock");
	char *elsewhere = tu_path(t.vm.root, "elsewhere"), *socks = tu_path(t.vm.dir, "socks");
	ck_assert_int_eq(mkdir(elsewhere, 0755), 0);
	ck_assert_int_eq(symlink(elsewhere, socks), 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/a.sock", elsewhere);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd); /* stale */
	expect_symlink_refused(&t, "a", "socket", sock_of(&t, "a"));
	struct stat st;
	ck_assert(lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode));
	free(elsewhere);
	free(socks);
	lt_free(&t);
}
END_TEST

/* ---- outside the state dir: symlinks only where no one but root could
 * have made them (virtiofs-launch/path.c) ---- */

#define OTHERS_DIR_LINK                                                                    \
	"a symlink in a directory that a user other than root owns or can write (refused: " \
	"that user could point it anywhere)"
#define FOREIGN_LINK "a symlink not owned by root (refused: its owner could point it anywhere)"

/* Share s through dir/link (-> target, a directory of root's, empty):
 * the source dir/link/data refused for reason, then (the source fine)
 * the socket dir/link/s.sock; nothing made in target either time. */
static void expect_link_refused(struct lt *t, const char *dir, const char *target,
				const char *reason)
{
	char *src = tu_path(dir, "link/data"), *sock = tu_path(dir, "link/s.sock");
	lt_share(t, "s", src, "vm1-virtiofs-s.sock");
	expect_refused(t, "s", "source", src, reason);
	ck_assert_uint_eq(dir_entries(target), 0);
	lt_forget_share(t, "s");
	lt_share(t, "s", "data", sock);
	ck_assert_int_eq(unlink(t->err_path), 0);
	expect_refused(t, "s", "socket", sock, reason);
	ck_assert_uint_eq(dir_entries(target), 0);
	lt_forget_share(t, "s");
	ck_assert_int_eq(unlink(t->err_path), 0);
	free(src);
	free(sock);
}

/* Control: share s through dir/link now passes (a dry run: exit 0, would
 * make the source and listen there), so what was refused was the link's
 * way, nothing else. */
static void expect_link_followed(struct lt *t, const char *dir)
{
	char *src = tu_path(dir, "link/data"), *sock = tu_path(dir, "link/s.sock");
	lt_share(t, "s", src, sock);
	const char *const dry[] = {"-n", NULL};
	lt_start(t, t->fake, dry);
	int st = lt_wait_exit(t, 3000);
	char *log = lt_log(t);
	char *want = xasprintf("would listen on socket '%s'", sock);
	ck_assert_msg(st == 0 && strstr(log, want) && !strstr(log, "unable"),
		      "dry run: exit %d; log:\n%s", st, log);
	free(want);
	free(log);
	lt_forget_share(t, "s");
	free(src);
	free(sock);
}

/* A directory of root's outside the state dir that group (_i 0, mode
 * 0775) or others (_i 1, 0757) can write, or one of another user's (_i 2,
 * nobody's 0755), then root's own symlink in it to root's directory: the
 * link could be that user's doing (replaced since), so the walk refuses
 * it, for a source and for a socket's directory. The same directory as
 * root's 01777 (sticky, as /tmp: nobody can replace root's entries) lets
 * the link be followed. */
START_TEST(symlink_after_others_dir_refused)
{
	static const struct {
		uid_t uid;
		mode_t mode;
	} way[] = {{0, 0775}, {0, 0757}, {TU_NOBODY, 0755}};
	struct lt t;
	lt_init(&t);
	char *dir = tu_path(t.vm.root, "theirs"), *target = tu_path(t.vm.root, "target");
	char *link = tu_path(dir, "link");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(mkdir(target, 0755), 0);
	tu_symlink(target, link); /* root's */
	tu_chown(dir, way[_i].uid, way[_i].uid);
	tu_chmod(dir, way[_i].mode);
	expect_link_refused(&t, dir, target, OTHERS_DIR_LINK);
	tu_chown(dir, 0, 0);
	tu_chmod(dir, 01777);
	expect_link_followed(&t, dir);
	free(link);
	free(target);
	free(dir);
	lt_free(&t);
}
END_TEST

/* In a directory of root's (0755) outside the state dir, a symlink of
 * another user's (nobody's) to root's directory: its owner could point it
 * anywhere, refused for a source and a socket's directory. Made root's,
 * the same link is followed. */
/* The directories a start makes (a source's, a socket's, like mkdir -p)
 * are root's, mode 0755, whatever the umask it was started with (here
 * none: a unit's UMask=0000). */
START_TEST(made_directories_0755_whatever_the_umask)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "new/src", "sockdir/a.sock");
	mode_t old = umask(0);
	lt_start(&t, t.fake, NULL);
	umask(old);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	const char *const made[] = {"new", "new/src", "sockdir"};
	for (size_t i = 0; i < ARRAY_SIZE(made); i++) {
		char *p = tu_path(t.vm.dir, made[i]);
		struct stat st;
		ck_assert_msg(lstat(p, &st) == 0 && S_ISDIR(st.st_mode), "%s not made", p);
		ck_assert_msg(st.st_uid == 0 && (st.st_mode & 07777) == 0755,
			      "%s made owner %u, mode %04o, not root's, 0755", p,
			      (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		free(p);
	}
	check_socket(&t, "a", NULL);
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 0);
	lt_free(&t);
}
END_TEST

/* Root's links that lead back to themselves: refused as the kernel
 * refuses them (40 followed at most), not walked for ever. */
START_TEST(symlink_loop_refused)
{
	struct lt t;
	lt_init(&t);
	char *loop = tu_path(t.vm.root, "loop"), *src = tu_path(loop, "src");
	tu_symlink("loop", loop);
	lt_share(&t, "l", src, "vm1-virtiofs-l.sock");
	expect_refused(&t, "l", "source", src, strerror(ELOOP));
	free(src);
	free(loop);
	lt_free(&t);
}
END_TEST

START_TEST(symlink_not_roots_refused)
{
	struct lt t;
	lt_init(&t);
	char *dir = tu_path(t.vm.root, "links"), *target = tu_path(t.vm.root, "target");
	char *link = tu_path(dir, "link");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(mkdir(target, 0755), 0);
	tu_symlink(target, link);
	tu_chown(link, TU_NOBODY, TU_NOBODY);
	expect_link_refused(&t, dir, target, FOREIGN_LINK);
	tu_chown(link, 0, 0);
	expect_link_followed(&t, dir);
	free(link);
	free(target);
	free(dir);
	lt_free(&t);
}
END_TEST

/* Is the pin of tag the directory path (the same inode)? */
static bool pinned_is(const struct lt *t, const char *tag, const char *path)
{
	char *p = xasprintf("/proc/%d/root%s/%s/virtiofs/%s", (int)t->pid, t->vm.runtime,
			    t->vm.name, tag);
	struct stat a, b;
	bool yes = stat(p, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
		   a.st_ino == b.st_ino;
	free(p);
	return yes;
}

/* Does the launcher's mount namespace have a mount on RUNTIME/.root/N/DIR
 * (N one of the first few trees) of its own? */
static bool own_socket_mount(const struct lt *t, const char *dir)
{
	bool found = false;
	for (int n = 0; n < 8 && !found; n++) {
		char *mp = xasprintf("%s/.root/%d%s ", t->vm.runtime, n, dir);
		found = mounts_naming(t->pid, mp) > 0;
		free(mp);
	}
	return found;
}

/* Found by an audit: a socket directory below another one (sub/b.sock
 * beside a.sock in the VM's directory) was bound through the clone of the
 * VM's directory, by the name "sub", which the VM user could swap for a
 * symlink between the launcher's check and its bind(); its remount went
 * through that name too. Each socket directory is now a mount of its own,
 * in a chroot tree of its own that holds nothing of the VM user's on the
 * way. */
START_TEST(nested_socket_dirs_own_mounts)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "a", "a.sock");
	lt_share(&t, "b", "b", "sub/b.sock");
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	char *sub = tu_path(t.vm.dir, "sub");
	ck_assert_msg(own_socket_mount(&t, t.vm.dir), "no mount of its own for %s", t.vm.dir);
	ck_assert_msg(own_socket_mount(&t, sub), "no mount of its own for %s", sub);
	for (size_t i = 0; i < t.nsock; i++)
		ck_assert_msg(oracle_listening(t.sock[i]), "%s does not listen", t.sock[i]);
	free(sub);
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 6000), 0);
	lt_free(&t);
}
END_TEST

/* Still as before: a missing nested source is made, and pinned; an
 * absolute source outside the state dir is the administrator's: made if
 * missing, through root's own symlink in a root-owned directory; a
 * socket outside the state dir too. */
START_TEST(nested_and_outside_sources)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "n", "a/b/c", "vm1-virtiofs-n.sock");
	char *outside = tu_path(t.vm.root, "outside"), *link = tu_path(t.vm.root, "link");
	char *via = tu_path(t.vm.root, "link/x y"), *out = tu_path(t.vm.root, "outside/x y");
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	tu_symlink("outside", link);
	char *sock = tu_path(t.vm.root, "socks/o.sock");
	lt_share(&t, "o", via, sock);
	lt_start(&t, real_bin(_i), NULL);
	int r = lt_wait_msg(&t, 0, "READY=1", 5000);
	char *log = lt_log(&t);
	ck_assert_msg(r >= 0, "no READY=1; log:\n%s", log);
	free(log);
	ck_assert_uint_eq(t.msgs[r].listening, 2);
	char *nested = tu_path(t.vm.dir, "a/b/c");
	struct stat st;
	ck_assert(stat(nested, &st) == 0 && S_ISDIR(st.st_mode));
	ck_assert(lstat(out, &st) == 0 && S_ISDIR(st.st_mode));
	ck_assert(pinned_is(&t, "n", nested));
	ck_assert(pinned_is(&t, "o", out));
	check_socket(&t, "o", NULL);
	ck_assert(daemon_of(&t, "n") > 0 && daemon_of(&t, "o") > 0);
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 0);
	free(nested);
	free(out);
	free(via);
	free(link);
	free(outside);
	free(sock);
	lt_free(&t);
}
END_TEST

/* ---- attacks by the VM user, who owns STATE/NAME (issue 12) ---- */

/* Processes below pid (its children, theirs, ...): fills out, returns the
 * count. */
static size_t descendants(pid_t top, pid_t *out, size_t max)
{
	size_t n = 0;
	pid_t tree[256];
	size_t nt = 0;
	tree[nt++] = top;
	for (size_t k = 0; k < nt; k++) {
		DIR *d = opendir("/proc");
		ck_assert_ptr_nonnull(d);
		struct dirent *de;
		while ((de = readdir(d))) {
			char *end;
			long pid = strtol(de->d_name, &end, 10);
			char st;
			pid_t pp;
			if (*end || pid <= 0 || !proc_stat((pid_t)pid, &st, &pp) || st == 'Z' ||
			    pp != tree[k] || nt >= ARRAY_SIZE(tree))
				continue;
			tree[nt++] = (pid_t)pid;
			if (n < max)
				out[n++] = (pid_t)pid;
		}
		closedir(d);
	}
	return n;
}

/* Does a process below the launcher see file in its root directory? A
 * virtiofsd that entered its sandbox has the shared directory as its
 * root: what it exports. */
static bool exported(const struct lt *t, const char *file)
{
	pid_t p[64];
	size_t n = descendants(t->pid, p, ARRAY_SIZE(p));
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "/proc/%d/root/%s", (int)p[i], file);
		if (access(path, F_OK) == 0)
			return true;
	}
	return false;
}

/* A root-only host directory with a file in it, what the VM user wants. */
static char *make_secret(const struct lt *t)
{
	char *secret = tu_path(t->vm.root, "secret");
	tu_write(secret, "host-only", "root's\n");
	tu_chmod(secret, 0700);
	return secret;
}

struct swap {
	const char *path, *aside, *target;
};

/* As the VM user: move path aside, put a symlink to target there. */
static int swap_for_symlink(void *arg)
{
	const struct swap *s = arg;
	if (rename(s->path, s->aside) < 0 || symlink(s->target, s->path) < 0) {
		fprintf(stderr, "swap %s: %s\n", s->path, strerror(errno));
		return 1;
	}
	return 0;
}

/* Attack 1: after READY=1 the VM user replaces the checked source by a
 * symlink to a root-only host directory, then its VM connects. QEMU's
 * virtiofsd 7.2 resolved the source path only then, and exported the
 * host directory. Wanted: the directory that was checked is served. */
START_TEST(attack_source_swapped_after_ready)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "data", "data", "vm1-virtiofs-data.sock");
	tu_write(t.vm.dir, "data/mine", "the VM's\n");
	tu_chown(t.vm.dir, TU_NOBODY, t.gid); /* the VM user's directory */
	char *secret = make_secret(&t);
	lt_start(&t, real_bin(_i), NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	char *data = tu_path(t.vm.dir, "data"), *aside = tu_path(t.vm.dir, "data.orig");
	struct swap s = {data, aside, secret};
	ck_assert_int_eq(tu_fork_call(TU_NOBODY, t.gid, swap_for_symlink, &s), 0);
	int fd = vm_connect(sock_of(&t, "data"));
	ck_assert_int_ge(fd, 0);
	long long end = now_us() + 3000000;
	while (now_us() < end && !exported(&t, "mine") && !exported(&t, "host-only"))
		sleep_ms(5);
	ck_assert_msg(!exported(&t, "host-only"), "the host's root-only directory is exported");
	ck_assert_msg(exported(&t, "mine"), "the checked source is not exported");
	close(fd);
	free(data);
	free(aside);
	free(secret);
	lt_free(&t);
}
END_TEST

/* What the VM user's attacker (chown_race) and the test share. */
struct chown_race {
	const char *dir, *sock, *aside, *target;
	int seconds;		/* its bound */
	volatile int ready;	/* watching */
	volatile int stop;	/* the test is done with it */
	volatile int busy;	/* a swap is in place */
	volatile unsigned tries; /* swaps made: the socket was a symlink a moment */
	volatile int won;	/* target's group or mode changed */
};

/* Attack 2, as the VM user: whenever the share's socket is made (inotify
 * on the VM's directory: each start of the launcher binds it anew), move
 * it aside at once and put a symlink to target in its place, hoping that
 * something chowns or chmods the socket by path and follows it; after a
 * while put the socket back. 1 when target's group or mode changed. */
static int chown_race(void *arg)
{
	struct chown_race *r = arg;
	const char *base = strrchr(r->sock, '/') + 1;
	int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ino < 0 || inotify_add_watch(ino, r->dir, IN_CREATE) < 0)
		return 2;
	r->ready = 1;
	long long end = now_us() + r->seconds * 1000000LL;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (!r->stop && now_us() < end) {
		struct pollfd p = {.fd = ino, .events = POLLIN};
		if (poll(&p, 1, 20) <= 0)
			continue;
		ssize_t n = read(ino, buf, sizeof(buf));
		bool made = false;
		for (char *q = buf; n > 0 && q < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)q;
			made |= ev->len && strcmp(ev->name, base) == 0;
			q += sizeof(*ev) + ev->len;
		}
		if (!made)
			continue;
		r->busy = 1;
		if (rename(r->sock, r->aside) == 0) {
			if (symlink(r->target, r->sock) == 0) {
				r->tries++;
				sleep_ms(20);
				struct stat st;
				if (stat(r->target, &st) == 0 &&
				    (st.st_gid != 0 || (st.st_mode & 07777) != 0640))
					r->won = 1;
				unlink(r->sock);
			}
			rename(r->aside, r->sock);
		}
		while (read(ino, buf, sizeof(buf)) > 0)
			; /* our own symlink */
		r->busy = 0;
	}
	return r->won;
}

/* Launcher starts the attacker gets (it needs one socket made). */
#define CHOWN_RACE_STARTS 20

/* Attack 2: virtiofsd bound its socket in the VM's directory and then
 * chown()ed it by path, following a symlink the VM user had put there in
 * the meantime: a root-owned 0640 file got the VM's group. Every start
 * made the socket again, and the VM user could have its daemon restarted
 * at will. Now the launcher binds each socket once per start with its
 * final owner and mode. Here the VM user swaps the socket for a symlink
 * to a root-owned 0640 file each time it is made, while the test starts
 * and stops the launcher (with the real daemons, which start on READY=1)
 * until the attacker has had a few tries. Wanted: the file unchanged, and
 * the socket of a launcher run without the attacker root's, the VM
 * group's, mode 0660. No try within the bound: skipped, not passed. */
START_TEST(attack_socket_chown_symlink)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "data", "data", "vm1-virtiofs-data.sock");
	tu_chown(t.vm.dir, TU_NOBODY, t.gid);
	char *target = tu_path(t.vm.root, "root-file");
	tu_write(t.vm.root, "root-file", "root's\n");
	tu_chmod(target, 0640);
	const char *sock = sock_of(&t, "data");
	char *aside = xasprintf("%s.aside", sock);
	struct chown_race *r = tu_shared(sizeof(*r));
	*r = (struct chown_race){.dir = t.vm.dir, .sock = sock, .aside = aside,
				 .target = target, .seconds = 20};
	fflush(stderr);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(t.gid, t.gid, t.gid) < 0 ||
		    setresuid(TU_NOBODY, TU_NOBODY, TU_NOBODY) < 0)
			_exit(125);
		_exit(chown_race(r));
	}
	long long end = now_us() + 2000000;
	while (!r->ready && now_us() < end && waitpid(pid, NULL, WNOHANG) == 0)
		sleep_ms(1);
	ck_assert_msg(r->ready, "the attacker did not start watching %s", t.vm.dir);
	unsigned starts = 0, refused = 0;
	for (; starts < CHOWN_RACE_STARTS && r->tries < 3 && !r->won; starts++) {
		unsigned before = r->tries;
		t.nmsg = 0;
		ck_assert(unlink(t.err_path) == 0 || errno == ENOENT);
		lt_start(&t, real_bin(_i), NULL);
		/* READY=1 (or an exit: a start that met the symlink may fail;
		 * a SIGTERM before either may come before the launcher handles
		 * it), then until the attacker made its swap and put the
		 * socket back. */
		lt_wait_ready_or_exit(&t, 10000);
		end = now_us() + 500000;
		while ((r->tries == before || r->busy) && now_us() < end)
			sleep_ms(1);
		if (t.pid > 0)
			kill(t.pid, SIGTERM);
		int st = t.pid > 0 ? lt_wait_exit(&t, 6000) : 0;
		char *log = lt_log(&t);
		ck_assert_msg(st == 0 || st == 1, "start %u: the launcher's exit %d; log:\n%s",
			      starts + 1, st, log);
		refused += strstr(log, "unable to use share 'data' socket") != NULL;
		free(log);
		while (r->busy)
			sleep_ms(1);
	}
	r->stop = 1;
	int won;
	ck_assert_int_eq(waitpid(pid, &won, 0), pid);
	won = WIFEXITED(won) ? WEXITSTATUS(won) : 128 + WTERMSIG(won);
	unsigned tries = r->tries;
	fprintf(stderr, "virtiofs: chown race: %u tries in %u starts (%u refused the socket), %s\n",
		tries, starts, refused, won == 1 ? "won" : "lost");
	struct stat st;
	ck_assert_int_eq(stat(target, &st), 0);
	ck_assert_msg(st.st_gid == 0 && (st.st_mode & 07777) == 0640,
		      "the root-owned file got group %u, mode %04o", (unsigned)st.st_gid,
		      (unsigned)(st.st_mode & 07777));
	ck_assert_int_eq(won, 0);
	/* A launcher run on its own: the socket is its, root, the group, rw
	 * for them only, and it listens. */
	ck_assert(lstat(aside, &st) < 0 && errno == ENOENT);
	t.nmsg = 0;
	lt_start(&t, real_bin(_i), NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	check_socket(&t, "data", NULL);
	ck_assert_int_eq(lt_wait_exit(&t, 0), -1); /* still runs */
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 6000), 0);
	free(aside);
	free(target);
	lt_free(&t);
	if (tries == 0) {
		char why[160];
		snprintf(why, sizeof(why),
			 "the VM user never swapped the socket in %u launcher starts", starts);
		tu_skip_now(attack_socket_chown_symlink, _i, why);
	}
}
END_TEST

/* Attack 3: the state dir is reached through a symlink (STATE -> a real
 * directory elsewhere, as /var/lib/microvms -> /srv/microvms on many
 * hosts). An absolute share path written through STATE went through the
 * VM user's symlinks: one exported a root-only directory, another had the
 * launcher make a directory where the VM user pointed. Wanted: "in the
 * state dir" decided on the resolved path; both refused, nothing made. */
START_TEST(attack_state_dir_symlink)
{
	struct lt t;
	lt_init(&t);
	char *real = tu_path(t.vm.root, "real-state");
	ck_assert_int_eq(rename(t.vm.state, real), 0);
	tu_symlink(real, t.vm.state); /* root's, in a root-owned directory */
	char *secret = make_secret(&t), *elsewhere = tu_path(t.vm.root, "elsewhere");
	ck_assert_int_eq(mkdir(elsewhere, 0755), 0);
	char *data = tu_path(t.vm.dir, "data"), *sub = tu_path(t.vm.dir, "sub");
	char *made = tu_path(t.vm.dir, "sub/new");
	tu_chown(t.vm.dir, TU_NOBODY, t.gid);
	/* The VM user's symlinks; the shares' paths are absolute, through STATE. */
	tu_symlink(secret, data);
	tu_symlink(elsewhere, sub);
	lt_share(&t, "a", data, "vm1-virtiofs-a.sock");
	lt_share(&t, "b", made, "vm1-virtiofs-b.sock");
	const char *const once[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, once);
	int st = lt_wait_exit(&t, 3000);
	ck_assert_msg(dir_entries(elsewhere) == 0,
		      "the launcher made a directory through the VM user's symlink");
	ck_assert_msg(dir_entries(t.fake_dir) == 0, "a daemon was started on a symlinked source");
	ck_assert_int_eq(st, 1);
	char *log = lt_log(&t);
	ck_assert_msg(strstr(log, "unable to use share 'a' source '") &&
			      strstr(log, "a symlink in the VM's directory"),
		      "log:\n%s", log);
	free(log);
	ck_assert_int_lt(lt_wait_msg(&t, 0, "READY=1", 0), 0);
	ck_assert_int_eq(unlink(t.vm.state), 0);
	ck_assert_int_eq(rename(real, t.vm.state), 0);
	free(real);
	free(secret);
	free(elsewhere);
	free(data);
	free(sub);
	free(made);
	lt_free(&t);
}
END_TEST

/* The attack tests' end: t's READY=1 waited for (3 s, from message
 * from), whether its share s then serves path (pinned there: what the
 * guest would see), t stopped; *ready the READY=1's index (-1: none),
 * *log t's log (malloc'ed). */
static bool s_serves_then_stop(struct lt *t, size_t from, const char *path, int *ready,
			       char **log)
{
	*ready = lt_wait_msg(t, from, "READY=1", 3000);
	bool served = *ready >= 0 && pinned_is(t, "s", path);
	if (*ready >= 0)
		kill(t->pid, SIGTERM);
	lt_wait_exit(t, 3000);
	*log = lt_log(t);
	return served;
}

/* vm1 given share s of src: at its start, or (by_reload) at a reload once
 * it runs with share a alone (--max-failures 1 both ways); then as
 * s_serves_then_stop(). */
static bool s_given_then_stopped(struct lt *t, const char *src, bool by_reload, const char *path,
				 int *ready, char **log)
{
	const char *const once[] = {"--max-failures", "1", NULL};
	size_t from = 0;
	if (by_reload) {
		lt_share(t, "a", "a", "vm1-virtiofs-a.sock");
		lt_start(t, t->fake, once);
		ck_assert_int_ge(lt_wait_msg(t, 0, "READY=1", 5000), 0);
		from = t->nmsg;
	}
	lt_share(t, "s", src, "vm1-virtiofs-s.sock");
	if (!by_reload)
		lt_start(t, t->fake, once);
	else
		ck_assert_int_eq(kill(t->pid, SIGHUP), 0);
	return s_serves_then_stop(t, from, path, ready, log);
}

/* A guest's root makes directories and links of host uid 0 in its
 * writable share (virtiofsd keeps the guest's owners), and the launcher
 * follows a link of root's in a directory of root's: so a share whose
 * path passes through a writable share's source is refused. That source
 * reached by another name, through a link of the administrator's (ALIAS
 * -> data, as /srv/vm -> /srv/data), is the same directory: the guest's
 * link in it, evil -> a root-only host directory, must not be followed
 * there either. Wanted: share s refused, at the start (case 0) or when a
 * reload brings both shares (case 1), and the secret never served. */
START_TEST(attack_writable_share_through_an_alias)
{
	struct lt t;
	lt_init(&t);
	char *data = tu_path(t.vm.root, "data"), *alias = tu_path(t.vm.root, "alias");
	char *evil = tu_path(data, "evil"), *via = tu_path(alias, "evil");
	char *secret = make_secret(&t);
	ck_assert_int_eq(mkdir(data, 0755), 0);
	tu_symlink("data", alias);    /* the administrator's */
	tu_symlink(secret, evil);     /* the guest's root's, through share w */
	const char *const once[] = {"--max-failures", "1", NULL};
	size_t from = 0;
	if (_i == 1) {
		lt_share(&t, "a", "a", "vm1-virtiofs-a.sock");
		lt_start(&t, t.fake, once);
		ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
		from = t.nmsg;
	}
	lt_share(&t, "s", via, "vm1-virtiofs-s.sock");
	lt_share(&t, "w", data, "vm1-virtiofs-w.sock");
	if (_i == 0)
		lt_start(&t, t.fake, once);
	else
		ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int ready;
	char *log;
	bool served = s_serves_then_stop(&t, from, secret, &ready, &log);
	ck_assert_msg(!served, "case %d: the guest's link was followed: share s serves the "
		      "root-only %s", _i, secret);
	ck_assert_msg(strstr(log, "unable to use share 's' source '") &&
			      strstr(log, "a symlink in the source of a writable share") &&
			      (_i == 0 ? ready < 0 : strstr(log, "unable to reload") != NULL),
		      "case %d: share s not refused; log:\n%s", _i, log);
	free(log);
	free(secret);
	free(via);
	free(evil);
	free(alias);
	free(data);
	lt_free(&t);
}
END_TEST

/* The note of the writable sources walks each as written, making
 * nothing: a source written with a '..' step after a directory the start
 * makes (ROOT/new/../data) was not noted (ENOENT at new), although data
 * is there, with what the guest's root made in it on an earlier run; the
 * share before it, s through ALIAS -> data, was then walked without that
 * taint and the guest's link followed. Wanted: s refused, the secret
 * never served. */
START_TEST(attack_writable_share_noted_past_a_missing_step)
{
	/* (_i 1: two steps below the missing directory, two '..' back) */
	static const char *const spelt[] = {"new/../data", "new/sub/../../data"};
	struct lt t;
	lt_init(&t);
	char *data = tu_path(t.vm.root, "data"), *alias = tu_path(t.vm.root, "alias");
	char *evil = tu_path(data, "evil"), *via = tu_path(alias, "evil");
	char *w = tu_path(t.vm.root, spelt[_i]);
	char *secret = make_secret(&t);
	ck_assert_int_eq(mkdir(data, 0755), 0);
	tu_symlink("data", alias);    /* the administrator's */
	tu_symlink(secret, evil);     /* the guest's root's, through share w, on an earlier run */
	const char *const once[] = {"--max-failures", "1", NULL};
	lt_share(&t, "s", via, "vm1-virtiofs-s.sock");
	lt_share(&t, "w", w, "vm1-virtiofs-w.sock");
	lt_start(&t, t.fake, once);
	int ready;
	char *log;
	bool served = s_serves_then_stop(&t, 0, secret, &ready, &log);
	ck_assert_msg(!served, "w %s: the guest's link was followed: share s serves the root-only %s",
		      spelt[_i], secret);
	ck_assert_msg(ready < 0 && strstr(log, "unable to use share 's' source '") &&
			      strstr(log, "a symlink in the source of a writable share"),
		      "w %s: share s not refused; log:\n%s", spelt[_i], log);
	free(log);
	free(secret);
	free(w);
	free(via);
	free(evil);
	free(alias);
	free(data);
	lt_free(&t);
}
END_TEST

/* A writable share's source that the start makes (missing when the
 * sources were noted) is known from when it is made: the guest's root
 * then makes its links there, and a share through another name of it
 * (ALIAS -> wsrc), walked again when its daemon starts again, follows
 * none. Wanted: s not restarted on the secret, refused. */
START_TEST(attack_writable_source_made_by_the_start)
{
	struct lt t;
	lt_init(&t);
	char *wsrc = tu_path(t.vm.root, "wsrc"), *alias = tu_path(t.vm.root, "alias");
	char *evil = tu_path(wsrc, "evil"), *via = tu_path(alias, "evil");
	char *secret = make_secret(&t);
	tu_symlink("wsrc", alias); /* the administrator's */
	const char *const extra[] = {"--max-failures", "3", "--restart-delay", "100ms", NULL};
	lt_share(&t, "s", via, "vm1-virtiofs-s.sock");
	lt_share(&t, "w", wsrc, "vm1-virtiofs-w.sock");
	lt_start(&t, t.fake, extra);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 3000), 0);
	pid_t d = daemon_of(&t, "s");
	ck_assert_int_gt(d, 0);
	/* the guest's root, through w: evil, made by the start, now its link */
	ck_assert_int_eq(rmdir(evil), 0);
	tu_symlink(secret, evil);
	ck_assert_int_eq(kill(d, SIGKILL), 0);
	bool said = lt_wait_log(&t, "a symlink in the source of a writable share", 1, 3000);
	pid_t again = daemon_of_now(&t, "s");
	bool served = pinned_is(&t, "s", secret);
	kill(t.pid, SIGTERM);
	lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	ck_assert_msg(!served, "the guest's link was followed: share s serves the root-only %s "
		      "(daemon %d); log:\n%s", secret, (int)again, log);
	ck_assert_msg(said && strstr(log, "unable to use share 's' source '"),
		      "share s not refused; log:\n%s", log);
	free(log);
	free(secret);
	free(via);
	free(evil);
	free(alias);
	free(wsrc);
	lt_free(&t);
}
END_TEST

/* A writable share's source that is missing, below a directory that is
 * there (ROOT/wnew, made by the start): what is noted is the source once
 * made, not the directory above it, whose root's links stay followed
 * (ALIAS -> data in ROOT, the path of share s). Wanted: both served. */
START_TEST(writable_source_missing_notes_not_its_parent)
{
	struct lt t;
	lt_init(&t);
	char *data = tu_path(t.vm.root, "data"), *alias = tu_path(t.vm.root, "alias");
	char *wnew = tu_path(t.vm.root, "wnew");
	ck_assert_int_eq(mkdir(data, 0755), 0);
	tu_symlink("data", alias); /* the administrator's, in ROOT */
	lt_share(&t, "s", alias, "vm1-virtiofs-s.sock");
	lt_share(&t, "w", wnew, "vm1-virtiofs-w.sock");
	const char *const once[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, once);
	int ready = lt_wait_msg(&t, 0, "READY=1", 3000);
	bool served = ready >= 0 && pinned_is(&t, "s", data) && pinned_is(&t, "w", wnew);
	if (ready >= 0)
		kill(t.pid, SIGTERM);
	lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	ck_assert_msg(served, "s through ROOT's link, w made in ROOT: not both served; log:\n%s",
		      log);
	free(log);
	free(wnew);
	free(alias);
	free(data);
	lt_free(&t);
}
END_TEST

/* Only the writable shares' sources are noted: a read-only share's
 * source is not the guest's to make links in, and root's link there (the
 * administrator's, data/link -> elsewhere) is followed by a share through
 * it, as anywhere else. Wanted: both served, s on elsewhere. */
START_TEST(read_only_source_not_noted)
{
	struct lt t;
	lt_init(&t);
	char *data = tu_path(t.vm.root, "data"), *elsewhere = tu_path(t.vm.root, "elsewhere");
	char *link = tu_path(data, "link");
	ck_assert_int_eq(mkdir(data, 0755), 0);
	ck_assert_int_eq(mkdir(elsewhere, 0755), 0);
	tu_symlink(elsewhere, link); /* the administrator's */
	lt_share(&t, "r", data, "vm1-virtiofs-r.sock");
	lt_setting(&t, "r", "read-only", "true\n");
	lt_share(&t, "s", link, "vm1-virtiofs-s.sock");
	const char *const once[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, once);
	int ready = lt_wait_msg(&t, 0, "READY=1", 3000);
	bool served = ready >= 0 && pinned_is(&t, "s", elsewhere) && pinned_is(&t, "r", data);
	if (ready >= 0)
		kill(t.pid, SIGTERM);
	lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	ck_assert_msg(served, "s through root's link in read-only r's source: not served; log:\n%s",
		      log);
	free(log);
	free(link);
	free(elsewhere);
	free(data);
	lt_free(&t);
}
END_TEST

/* Another VM, NAME, in t's state dir: STATE/NAME/current -> ROOT/runner-NAME,
 * a runner with one share TAG of source (read-only or writable). */
static void other_vm(const struct lt *t, const char *name, const char *tag, const char *source,
		     bool read_only)
{
	char *runner = xasprintf("%s/runner-%s", t->vm.root, name);
	char *dir = tu_path(t->vm.state, name), *cur = tu_path(dir, "current");
	char rel[256];
	ck_assert_int_eq(mkdir_p(runner, 0755), 0);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	tu_symlink(runner, cur);
	char *v = xasprintf("%s\n", source);
	snprintf(rel, sizeof(rel), "share/microvm/virtiofs/%s/source", tag);
	tu_write(runner, rel, v);
	free(v);
	v = xasprintf("%s-virtiofs-%s.sock\n", name, tag);
	snprintf(rel, sizeof(rel), "share/microvm/virtiofs/%s/socket", tag);
	tu_write(runner, rel, v);
	free(v);
	snprintf(rel, sizeof(rel), "share/microvm/virtiofs/%s/read-only", tag);
	tu_write(runner, rel, read_only ? "true\n" : "false\n");
	free(cur);
	free(dir);
	free(runner);
}

/* A share inside another VM's writable share: vm2's share w serves
 * ROOT/shared, where vm2's guest's root made data -> a root-only host
 * directory (a link of host uid 0, in a directory of root's), and the
 * administrator gave vm1 a share s of ROOT/shared/data, a nesting that
 * vm1's runner does not show. Wanted: s refused, at the start (cases 0
 * and 2) or when a reload brings it (case 1), and the secret never served. */
START_TEST(attack_share_inside_another_vms_writable_share)
{
	struct lt t;
	lt_init(&t);
	char *shared = tu_path(t.vm.root, "shared"), *data = tu_path(shared, "data");
	char *secret = make_secret(&t);
	ck_assert_int_eq(mkdir(shared, 0755), 0);
	tu_symlink(secret, data); /* vm2's guest's root's, through vm2's share w */
	/* (case 2: vm2's source written with a '..' after a directory its
	 * start would make, as ROOT/new/../shared) */
	char *written = _i == 2 ? tu_path(t.vm.root, "new/../shared") : strdup(shared);
	other_vm(&t, "vm2", "w", written, false);
	free(written);
	int ready;
	char *log;
	bool served = s_given_then_stopped(&t, data, _i == 1, secret, &ready, &log);
	ck_assert_msg(!served, "case %d: vm2's guest's link was followed: vm1's share s serves "
		      "the root-only %s", _i, secret);
	ck_assert_msg(strstr(log, "unable to use share 's' source '") &&
			      strstr(log, "a symlink in the source of a writable share") &&
			      (_i != 1 ? ready < 0 : strstr(log, "unable to reload") != NULL),
		      "case %d: share s not refused; log:\n%s", _i, log);
	free(log);
	free(secret);
	free(data);
	free(shared);
	lt_free(&t);
}
END_TEST

/* The socket of a share of vm1's inside vm2's writable share ROOT/shared,
 * where vm2's guest's root made evil -> a root-only host directory.
 * Wanted: the start refused, and no socket bound there. */
START_TEST(attack_socket_inside_another_vms_writable_share)
{
	struct lt t;
	lt_init(&t);
	char *shared = tu_path(t.vm.root, "shared"), *evil = tu_path(shared, "evil");
	char *secret = make_secret(&t), *sock = tu_path(evil, "vm1-virtiofs-a.sock");
	char *bound = tu_path(secret, "vm1-virtiofs-a.sock");
	ck_assert_int_eq(mkdir(shared, 0755), 0);
	tu_symlink(secret, evil); /* vm2's guest's root's, through vm2's share w */
	other_vm(&t, "vm2", "w", shared, false);
	lt_share(&t, "a", "a", sock);
	const char *const once[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, once);
	int ready = lt_wait_msg(&t, 0, "READY=1", 3000);
	struct stat st;
	bool there = lstat(bound, &st) == 0; /* (before the stop removes it) */
	if (ready >= 0)
		kill(t.pid, SIGTERM);
	lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	ck_assert_msg(!there, "a socket was bound in the root-only %s", secret);
	ck_assert_msg(ready < 0 && strstr(log, "a symlink in the source of a writable share"),
		      "the socket's way through vm2's share not refused; log:\n%s", log);
	free(log);
	free(bound);
	free(sock);
	free(secret);
	free(evil);
	free(shared);
	lt_free(&t);
}
END_TEST

/* ---- what the other launchers serve: their records ---- */

/* RUNTIME/NAME/virtiofs-writable, where the launcher of VM name says
 * which writable sources it serves (as the host sees it). */
static char *record_of(const struct lt *t, const char *name)
{
	return xasprintf("%s/%s/virtiofs-writable", t->vm.runtime, name);
}

#define RECORD_HEAD "# virtiofs-launch record 1\n# MAJOR:MINOR INODE SOURCE\n"

/* The line of a record for the directory path, with its newline. */
static char *record_line(const char *path)
{
	struct stat st;
	ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
	return xasprintf("%u:%u %llu %s\n", major(st.st_dev), minor(st.st_dev),
			 (unsigned long long)st.st_ino, path);
}

/* The text of the record of VM name; NULL when there is none. It must
 * be a regular file of root's, mode 0600 (root's alone: a VM user learns
 * nothing from it, and can change nothing). */
static char *record_text(const struct lt *t, const char *name)
{
	char *path = record_of(t, name), *text = NULL;
	struct stat st;
	size_t len;
	if (lstat(path, &st) < 0) {
		ck_assert_int_eq(errno, ENOENT);
		free(path);
		return NULL;
	}
	ck_assert_msg(S_ISREG(st.st_mode) && st.st_uid == 0 && (st.st_mode & 07777) == 0600,
		      "%s: not a regular file of root's, 0600 (mode %o, uid %u)", path,
		      (unsigned)st.st_mode, (unsigned)st.st_uid);
	ck_assert_int_eq(read_file(path, 1 << 20, &text, &len), 0);
	free(path);
	return text;
}

/* Wait up to timeout_ms for VM name's record to be want (NULL: none);
 * what it is then (malloc'ed, NULL for none). */
static char *record_wait(const struct lt *t, const char *name, const char *want, int timeout_ms)
{
	long long end = now_us() + timeout_ms * 1000LL;
	for (;;) {
		char *text = record_text(t, name);
		if ((!text && !want) || (text && want && strcmp(text, want) == 0) ||
		    now_us() >= end)
			return text;
		free(text);
		sleep_ms(5);
	}
}

/* VM name's `current` switched to ROOT/runner-NAME-new, whose one share
 * w has the source source, read-only or not, as an administrator's
 * switch (nixos-rebuild, microvm -u) does it: the running launcher of
 * that VM is not restarted, nor reloaded. */
static void switch_runner(const struct lt *t, const char *name, const char *source,
			  bool read_only)
{
	char *runner = xasprintf("%s/runner-%s-new", t->vm.root, name);
	char *cur = xasprintf("%s/%s/current", t->vm.state, name);
	char *next = xasprintf("%s/%s/current.new", t->vm.state, name);
	char *v = xasprintf("%s\n", source);
	tu_write(runner, "share/microvm/virtiofs/w/source", v);
	free(v);
	v = xasprintf("%s-virtiofs-w.sock\n", name);
	tu_write(runner, "share/microvm/virtiofs/w/socket", v);
	free(v);
	tu_write(runner, "share/microvm/virtiofs/w/read-only", read_only ? "true\n" : "false\n");
	tu_symlink(runner, next);
	ck_assert_int_eq(rename(next, cur), 0);
	free(next);
	free(cur);
	free(runner);
}

/* What another VM's launcher serves can differ from what that VM's
 * runner says now. vm2's launcher was started from a runner in which
 * ROOT/shared is its writable share w; then the administrator switched
 * vm2's `current` to a runner where w is another directory (case 0, 2)
 * or ROOT/shared read-only (case 1), and restarted nothing (microvm.nix
 * restarts no VM on a switch): vm2's guest still writes ROOT/shared, and
 * its root made data -> a root-only host directory there. vm1's launcher
 * read vm2's runner as it is now, did not know ROOT/shared as writable,
 * and followed the link for vm1's share s of ROOT/shared/data (found by
 * a read of others_note(), 2026-12-03). Wanted: s refused at vm1's start
 * (cases 0 and 1) or at the reload that brings it (case 2), the secret
 * never served; vm2's launcher, reloaded by nobody, still serves w. */
START_TEST(attack_share_inside_a_writable_share_another_launcher_serves)
{
	struct lt t, t2;
	lt_init(&t);
	lt_init_beside(&t2, &t, "vm2");
	char *shared = tu_path(t.vm.root, "shared"), *data = tu_path(shared, "data");
	char *other = tu_path(t.vm.root, "other"), *secret = make_secret(&t);
	ck_assert_int_eq(mkdir(shared, 0755), 0);
	ck_assert_int_eq(mkdir(other, 0755), 0);
	lt_share(&t2, "w", shared, "vm2-virtiofs-w.sock");
	lt_start(&t2, t2.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t2, 0, "READY=1", 5000), 0);
	pid_t w = daemon_of(&t2, "w");
	ck_assert_int_gt(w, 0);
	switch_runner(&t, "vm2", _i == 1 ? shared : other, _i == 1);
	tu_symlink(secret, data); /* vm2's guest's root's, through w */
	int ready;
	char *log;
	bool served = s_given_then_stopped(&t, data, _i == 2, secret, &ready, &log);
	ck_assert_msg(daemon_of_now(&t2, "w") == w, "case %d: vm2's daemon of w (%d) is gone", _i,
		      (int)w);
	ck_assert_msg(!served, "case %d: vm2's launcher serves ROOT/shared writable, and its "
		      "guest's link there was followed: vm1's share s serves the root-only %s; "
		      "log:\n%s", _i, secret, log);
	char *want = xasprintf("virtiofs-launch: vm1: unable to use share 's' source '%s': a "
			       "symlink in the source of a writable share (refused: its guest's "
			       "root makes links as host uid 0)\n", data);
	ck_assert_msg(strstr(log, want) &&
			      (_i != 2 ? ready < 0 : strstr(log, "unable to reload") != NULL),
		      "case %d: share s not refused; want:\n%slog:\n%s", _i, want, log);
	free(want);
	free(log);
	lt_free(&t2);
	free(secret);
	free(other);
	free(data);
	free(shared);
	lt_free(&t);
}
END_TEST

/* The record of a launcher: RUNTIME/NAME/virtiofs-writable in the host's
 * runtime dir (not the tmpfs of its own mount namespace: the other
 * launchers read it), root's, 0600, its two head lines, then one line for
 * each writable source it serves (w's, not read-only r's), there when
 * READY=1 comes (which comes before the daemons are forked: none has
 * served the source before it was published); gone after a clean stop,
 * RUNTIME/NAME left (tap-setup and pci-bind keep their records there,
 * under a lock the launcher does not take). */
START_TEST(writable_record_while_served)
{
	struct lt t;
	lt_init(&t);
	char *wsrc = tu_path(t.vm.root, "wsrc"), *rsrc = tu_path(t.vm.root, "rsrc");
	ck_assert_int_eq(mkdir(wsrc, 0755), 0);
	ck_assert_int_eq(mkdir(rsrc, 0755), 0);
	lt_share(&t, "r", rsrc, "vm1-virtiofs-r.sock");
	lt_setting(&t, "r", "read-only", "true\n");
	lt_share(&t, "w", wsrc, "vm1-virtiofs-w.sock");
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	char *text = record_text(&t, "vm1"), *line = record_line(wsrc);
	char *want = xasprintf(RECORD_HEAD "%s", line);
	ck_assert_msg(text && strcmp(text, want) == 0, "at READY=1, the record is:\n%s\nwant:\n%s",
		      text ? text : "(none)", want);
	free(text);
	ck_assert_int_gt(daemon_of(&t, "w"), 0);
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 5000), 0);
	text = record_text(&t, "vm1");
	ck_assert_msg(!text, "after a clean stop, the record is still there:\n%s", text);
	char *rdir = tu_path(t.vm.runtime, "vm1");
	ck_assert_uint_eq(dir_entries(rdir), 0);
	free(rdir);
	free(want);
	free(line);
	free(rsrc);
	free(wsrc);
	lt_free(&t);
}
END_TEST

/* A reload that drops writable share w: while w's daemon is still there
 * (it serves a client and ignores SIGTERM, until --grace is over), the
 * record still says w
 * (its guest still writes there), with a beside it; once the daemon is
 * gone, a alone. A reload that adds writable b: b is in the record when
 * the READY=1 after it comes, before its daemon starts. */
START_TEST(writable_record_follows_a_reload)
{
	struct lt t;
	lt_init(&t);
	char *asrc = tu_path(t.vm.root, "asrc"), *wsrc = tu_path(t.vm.root, "wsrc");
	char *bsrc = tu_path(t.vm.root, "bsrc");
	ck_assert_int_eq(mkdir(asrc, 0755), 0);
	tu_write(wsrc, ".fake-term-ignore", "");
	ck_assert_int_eq(mkdir(bsrc, 0755), 0);
	lt_share(&t, "a", asrc, "vm1-virtiofs-a.sock");
	lt_share(&t, "w", wsrc, "vm1-virtiofs-w.sock");
	const char *const grace[] = {"--grace", "1s", NULL};
	lt_start(&t, t.fake, grace);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	char *la = record_line(asrc), *lw = record_line(wsrc), *lb = record_line(bsrc);
	char *both = xasprintf(RECORD_HEAD "%s%s", la, lw), *alone = xasprintf(RECORD_HEAD "%s", la);
	char *text = record_text(&t, "vm1");
	ck_assert_msg(text && strcmp(text, both) == 0, "record:\n%s\nwant:\n%s",
		      text ? text : "(none)", both);
	free(text);
	pid_t d = daemon_of(&t, "w");
	ck_assert_int_gt(d, 0);
	/* (its client, which keeps it past the shutdown of its socket) */
	int c = vm_connect(sock_of(&t, "w"));
	ck_assert_int_ge(c, 0);
	char *serving = xasprintf("%s/%d.serving", t.fake_dir, (int)d);
	for (int k = 0; k < 400 && access(serving, F_OK) < 0; k++)
		sleep_ms(5);
	ck_assert_int_eq(access(serving, F_OK), 0);
	char *p = tu_path(t.vm.runner, "share/microvm/virtiofs/w");
	tu_rm_rf(p);
	free(p);
	lt_forget_share(&t, "w");
	size_t from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	ck_assert_int_ge(lt_wait_msg(&t, from, "RELOADING=1", 3000), 0);
	sleep_ms(200); /* (the reload taken, w's daemon within its grace) */
	text = record_text(&t, "vm1");
	bool still = alive(d);
	ck_assert_msg(still && text && strcmp(text, both) == 0,
		      "w's daemon %s, the record:\n%s\nwant:\n%s", still ? "runs" : "is gone",
		      text ? text : "(none)", both);
	free(text);
	text = record_wait(&t, "vm1", alone, 3000);
	ck_assert_msg(!alive(d) && text && strcmp(text, alone) == 0,
		      "w's daemon %s; the record:\n%s\nwant:\n%s", alive(d) ? "runs" : "is gone",
		      text ? text : "(none)", alone);
	free(text);
	ck_assert_int_ge(lt_wait_msg(&t, from, "READY=1", 3000), 0); /* (the reload's, w gone) */
	lt_share(&t, "b", bsrc, "vm1-virtiofs-b.sock");
	from = t.nmsg;
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	ck_assert_int_ge(lt_wait_msg(&t, from, "READY=1", 3000), 0);
	char *with_b = xasprintf(RECORD_HEAD "%s%s", la, lb);
	text = record_text(&t, "vm1");
	ck_assert_msg(text && strcmp(text, with_b) == 0, "after adding b, the record:\n%s\nwant:\n%s",
		      text ? text : "(none)", with_b);
	free(text);
	ck_assert_int_gt(daemon_of(&t, "b"), 0);
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 5000), 0);
	ck_assert_ptr_null(record_text(&t, "vm1"));
	close(c);
	free(with_b);
	free(serving);
	free(alone);
	free(both);
	free(lb);
	free(lw);
	free(la);
	free(bsrc);
	free(wsrc);
	free(asrc);
	lt_free(&t);
}
END_TEST

/* Records that are not what a launcher writes, in the runtime dir (root's:
 * only root can have put them there, by hand or by a launcher of another
 * version): each is passed over with one warning naming the file, the
 * line and the value, and the launcher starts; what a record says on its
 * good lines is still noted (noting more only makes the walk stricter).
 *   0: vm2's record with another first line: passed over as a whole
 *   1: vm2's record whose line 3 is ROOT/shared's, where vm2's guest's
 *      link data -> the secret is, and line 4 garbage: line 4 passed over,
 *      share s through ROOT/shared/data refused all the same
 *   2: vm2's record a symlink (to a good record): not a regular file
 *   3: vm1's own record, garbage (left by a launcher of vm1 that was
 *      killed): not read, no warning, replaced by what vm1 serves */
START_TEST(bad_records_passed_over)
{
	struct lt t;
	lt_init(&t);
	char *shared = tu_path(t.vm.root, "shared"), *data = tu_path(shared, "data");
	char *secret = make_secret(&t), *asrc = tu_path(t.vm.root, "asrc");
	ck_assert_int_eq(mkdir(shared, 0755), 0);
	ck_assert_int_eq(mkdir(asrc, 0755), 0);
	tu_symlink(secret, data);
	lt_share(&t, "a", asrc, "vm1-virtiofs-a.sock");
	const char *vm = _i == 3 ? "vm1" : "vm2";
	char *dir = tu_path(t.vm.runtime, vm), *rec = record_of(&t, vm);
	ck_assert_int_eq(mkdir_p(dir, 0711), 0);
	char *ls = record_line(shared), *body = NULL, *want = NULL;
	switch (_i) {
	case 0:
		body = xasprintf("# virtiofs-launch record 2\n%s", ls);
		want = xasprintf("virtiofs-launch: vm1: VM 'vm2' passed over (what its launcher "
				 "serves unknown): unable to parse '%s' line 1: not the first line "
				 "of a record of virtiofs-launch ('# virtiofs-launch record 1'): "
				 "'# virtiofs-launch record 2'\n", rec);
		break;
	case 1:
		body = xasprintf(RECORD_HEAD "%s1:2 x\\y /srv\n", ls);
		lt_share(&t, "s", data, "vm1-virtiofs-s.sock");
		want = xasprintf("virtiofs-launch: vm1: VM 'vm2': 1 line of its launcher's record "
				 "passed over: unable to parse '%s' line 4: not 'MAJOR:MINOR INODE "
				 "SOURCE': '1:2 x\\\\y /srv'\n", rec);
		break;
	case 2: {
		char *good = tu_path(t.vm.root, "good");
		body = xasprintf(RECORD_HEAD "%s", ls);
		tu_write(t.vm.root, "good", body);
		tu_symlink(good, rec);
		free(good);
		want = xasprintf("virtiofs-launch: vm1: VM 'vm2' passed over (what its launcher "
				 "serves unknown): unable to read '%s': not a regular file\n", rec);
		break;
	}
	default:
		body = strdup("garbage\n");
		break;
	}
	if (_i != 2) {
		tu_write(dir, "virtiofs-writable", body);
		tu_chmod(rec, 0600);
	}
	const char *const once[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, once);
	int ready = lt_wait_msg(&t, 0, "READY=1", 3000);
	bool served = ready >= 0 && _i == 1 && pinned_is(&t, "s", secret);
	char *own = ready >= 0 ? record_text(&t, "vm1") : NULL;
	if (ready >= 0)
		kill(t.pid, SIGTERM);
	int st = lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	ck_assert_msg(!served, "case %d: the record's good line not noted: s serves the "
		      "root-only %s; log:\n%s", _i, secret, log);
	if (_i == 1) {
		char *refused = xasprintf("virtiofs-launch: vm1: unable to use share 's' source "
					  "'%s': a symlink in the source of a writable share",
					  data);
		ck_assert_msg(st == 1 && strstr(log, refused), "case 1: s not refused; log:\n%s",
			      log);
		free(refused);
	} else {
		ck_assert_msg(ready >= 0 && st == 0, "case %d: no READY=1, or exit %d; log:\n%s",
			      _i, st, log);
	}
	if (want)
		ck_assert_msg(occurrences(log, want) == 1, "case %d: want once:\n%slog:\n%s", _i,
			      want, log);
	else
		ck_assert_msg(!strstr(log, "passed over"), "case 3: vm1's own record read; log:\n%s",
			      log);
	if (_i == 3) {
		char *la = record_line(asrc), *mine = xasprintf(RECORD_HEAD "%s", la);
		ck_assert_msg(own && strcmp(own, mine) == 0, "case 3: vm1's record:\n%s\nwant:\n%s",
			      own ? own : "(none)", mine);
		free(mine);
		free(la);
	}
	free(own);
	free(log);
	free(want);
	free(body);
	free(ls);
	free(rec);
	free(dir);
	free(asrc);
	free(secret);
	free(data);
	free(shared);
	lt_free(&t);
}
END_TEST

#define BIG_SHARES 270

/* t's notifications read and dropped (more than MAX_MSGS may come: a
 * STATUS= for each share that fails) until READY=1 (unless until_exit),
 * or until t exited and none is left, at most timeout_ms: did READY=1
 * come? */
static bool drain_notify(struct lt *t, bool until_exit, int timeout_ms)
{
	long long end = now_us() + timeout_ms * 1000LL;
	bool ready = false;
	for (;;) {
		char buf[sizeof(t->msgs[0].text)];
		ssize_t n;
		while ((n = recv(t->nfd, buf, sizeof(buf) - 1, 0)) >= 0) {
			buf[n] = '\0';
			ready |= has_line(buf, "READY=1");
		}
		struct pollfd p[2] = {{.fd = t->nfd, .events = POLLIN},
				      {.fd = t->pidfd, .events = POLLIN}};
		long long d = end - now_us();
		if ((ready && !until_exit) || d <= 0)
			return ready;
		if (poll(p, 2, (int)(d / 1000) + 1) > 0 && !(p[0].revents & POLLIN) &&
		    (p[1].revents & POLLIN))
			return ready; /* (exited, nothing left to read) */
	}
}

/* A record larger than the other launchers read (1 MiB) is one they pass
 * over as a whole. vm2's launcher was started from a runner (one its VM
 * user chose, before a pin) with writable share w of ROOT/shared and
 * BIG_SHARES more writable shares, each source about 4 KiB long; then
 * its `current` switched to a runner where w is another directory,
 * nothing restarted; vm2's guest's root made data -> a root-only host
 * directory in ROOT/shared. vm1's launcher, started with share s of
 * ROOT/shared/data, read vm2's runner as it is now, passed over vm2's
 * record ("larger than 1 MiB") and followed the link (found by a review
 * of served.c, 2026-12-03). Wanted: vm2's launcher does not write a
 * record the others cannot read, so it serves none of those shares (its
 * start fails; one line names the record), or vm1's share s is refused. */
START_TEST(attack_record_too_large_for_the_others)
{
	struct lt t, t2;
	lt_init(&t);
	lt_init_beside(&t2, &t, "vm2");
	char *shared = tu_path(t.vm.root, "shared"), *data = tu_path(shared, "data");
	char *other = tu_path(t.vm.root, "other"), *secret = make_secret(&t);
	ck_assert_int_eq(mkdir(shared, 0755), 0);
	ck_assert_int_eq(mkdir(other, 0755), 0);
	lt_share(&t2, "w", shared, "vm2-virtiofs-w.sock");
	/* (ROOT/pad/X.../X..., 16 names of 250 bytes, then dNNN: about 4 KiB) */
	char *deep = tu_path(t.vm.root, "pad"), name[251];
	memset(name, 'x', 250);
	name[250] = '\0';
	for (int k = 0; k < 16; k++) {
		char *p = tu_path(deep, name);
		free(deep);
		deep = p;
	}
	for (int i = 0; i < BIG_SHARES; i++) {
		char rel[64], *src = xasprintf("%s/d%03d", deep, i);
		char *v = xasprintf("%s\n", src);
		snprintf(rel, sizeof(rel), "share/microvm/virtiofs/p%03d/source", i);
		tu_write(t2.vm.runner, rel, v);
		free(v);
		v = xasprintf("vm2-p%03d.sock\n", i);
		snprintf(rel, sizeof(rel), "share/microvm/virtiofs/p%03d/socket", i);
		tu_write(t2.vm.runner, rel, v);
		free(v);
		free(src);
	}
	free(deep);
	const char *const once[] = {"--max-failures", "1", NULL};
	lt_start(&t2, t2.fake, once);
	bool w_served = drain_notify(&t2, false, 30000) && daemon_of(&t2, "w") > 0;
	struct stat st;
	char *rec = record_of(&t, "vm2");
	off_t size = stat(rec, &st) == 0 ? st.st_size : -1;
	switch_runner(&t, "vm2", other, false);
	tu_symlink(secret, data); /* vm2's guest's root's, through w */
	lt_share(&t, "s", data, "vm1-virtiofs-s.sock");
	lt_start(&t, t.fake, once);
	int ready = lt_wait_msg(&t, 0, "READY=1", 10000);
	bool served = ready >= 0 && pinned_is(&t, "s", secret);
	if (ready >= 0)
		kill(t.pid, SIGTERM);
	lt_wait_exit(&t, 5000);
	if (t2.pid > 0)
		kill(t2.pid, SIGTERM);
	drain_notify(&t2, true, 20000);
	int st2 = lt_wait_exit(&t2, 1000);
	char *log = lt_log(&t), *log2 = lt_log(&t2);
	ck_assert_msg(!(w_served && served),
		      "vm2's launcher serves ROOT/shared writable, its record of %lld bytes, and "
		      "vm1's share s serves the root-only %s; vm1's log:\n%s", (long long)size,
		      secret, log);
	ck_assert_msg(!w_served && st2 == 1 && size < 0, "vm2 %s, exit %d, record of %lld bytes",
		      w_served ? "serves w" : "serves nothing", st2, (long long)size);
	char *want = xasprintf("virtiofs-launch: vm2: unable to write '%s': larger than the "
			       "1 MiB the other launchers read\n", rec);
	ck_assert_msg(occurrences(log2, want) == 1, "want once:\n%svm2's log:\n%s", want, log2);
	free(want);
	free(log2);
	free(log);
	free(rec);
	lt_free(&t2);
	free(secret);
	free(other);
	free(data);
	free(shared);
	lt_free(&t);
}
END_TEST

/* A writable share whose source is the state dir, a VM's directory or a
 * directory above them: the guest's root writes there as host uid 0, so it
 * could make a `current` of root's in a VM's directory itself, which the
 * root helpers take for one root made when the VM has no pin. Each
 * spelling below: the directory by its name, through a link of root's to
 * it (the administrator's), or with a '..' step; and one the start would
 * make (a new VM's directory). The sockets, and share a, lie outside
 * ROOT: one in the VM's directory is inside such a source as written,
 * which is refused already (share_inside_writable_share), but not when
 * it is another VM's directory or reached by another name. Wanted: the
 * start refused with one line naming the runner's source file, its line
 * and the value, no daemon started, no READY=1, nothing made. ("/" holds
 * every socket: refused as their share's own, as before.) */
static const struct {
	const char *src; /* R: ROOT, S: STATE; "." and "/" as written */
	const char *link; /* ROOT/alias -> this (R, S as above), or NULL */
	const char *kind; /* in the refusal; NULL: the socket inside w */
} dir_of_vms[] = {
	{"S", NULL, "the state dir"},
	{".", NULL, "a VM's directory"},
	{"S/vm1", NULL, "a VM's directory"},
	{"S/vm2", NULL, "a VM's directory"},
	{"S/vm3", NULL, "a VM's directory"}, /* (missing: the start would make it) */
	{"R", NULL, "a directory above the state dir"},
	{"/", NULL, NULL},
	{"R/alias", "S", "the state dir"},
	{"R/alias", "S/vm2", "a VM's directory"},
	{"R/alias", "R", "a directory above the state dir"},
	{"R/x/../state", NULL, "the state dir"},
	{"R/x/../state/vm2", NULL, "a VM's directory"},
	{"R/x/..", NULL, "a directory above the state dir"},
	{"R/alias/../state/vm1", "R/x", "a VM's directory"},
};

/* s with a leading R or S replaced by ROOT or STATE (malloc'ed). */
static char *spelt_in(const struct lt *t, const char *s)
{
	if (s[0] == 'R' || s[0] == 'S')
		return xasprintf("%s%s", s[0] == 'R' ? t->vm.root : t->vm.state, s + 1);
	return strdup(s);
}

START_TEST(attack_writable_share_of_the_vms_directories)
{
	struct lt t;
	lt_init(&t);
	char *x = tu_path(t.vm.root, "x"), *vm2 = tu_path(t.vm.state, "vm2");
	char *vm3 = tu_path(t.vm.state, "vm3");
	/* The runtime dir outside ROOT: below a writable share's source
	 * (ROOT), its walk would refuse the start for that alone. */
	char *rt = tu_tmpdir();
	free(t.vm.runtime);
	t.vm.runtime = tu_path(rt, "run");
	ck_assert_int_eq(mkdir(x, 0755), 0);
	ck_assert_int_eq(mkdir(vm2, 0755), 0);
	if (dir_of_vms[_i].link) {
		char *alias = tu_path(t.vm.root, "alias");
		char *to = spelt_in(&t, dir_of_vms[_i].link);
		tu_symlink(to, alias); /* the administrator's */
		free(to);
		free(alias);
	}
	char *src = spelt_in(&t, dir_of_vms[_i].src);
	char *a = tu_path(rt, "a"), *a_sock = tu_path(rt, "vm1-virtiofs-a.sock");
	char *w_sock = tu_path(rt, "vm1-virtiofs-w.sock");
	lt_share(&t, "a", a, a_sock);
	lt_share(&t, "w", src, w_sock);
	const char *const once[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, once);
	int ready = lt_wait_msg(&t, 0, "READY=1", 3000);
	if (ready >= 0)
		kill(t.pid, SIGTERM);
	int st = lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	const char *kind = dir_of_vms[_i].kind;
	char *file = kind ? xasprintf("/share/microvm/virtiofs/w/source' line 1: a writable share "
				      "of %s", kind)
			  : strdup("inside the source of writable share 'w'");
	char *value = xasprintf(": '%s' (", src);
	ck_assert_msg(ready < 0 && st == 1, "w %s: started (READY=1 %s, exit %d); log:\n%s", src,
		      ready >= 0 ? "sent" : "not sent", st, log);
	ck_assert_msg(strstr(log, file) &&
			      (!kind || (strstr(log, "virtiofs-launch: vm1: unable to use share "
						    "'w' source '") &&
					 strstr(log, value))),
		      "w %s: not refused as %s; log:\n%s", src, kind ? kind : "holding a socket",
		      log);
	ck_assert_msg(dir_entries(t.fake_dir) == 0, "w %s: a daemon was started", src);
	ck_assert_msg(access(vm3, F_OK) < 0 && access(a, F_OK) < 0,
		      "w %s: %s or %s was made", src, vm3, a);
	ck_assert_msg(access(a_sock, F_OK) < 0 && access(w_sock, F_OK) < 0,
		      "w %s: a socket was made", src);
	free(w_sock);
	free(a_sock);
	free(a);
	free(value);
	free(file);
	free(log);
	free(src);
	free(vm3);
	free(vm2);
	free(x);
	lt_free(&t);
	tu_rm_rf(rt);
	free(rt);
}
END_TEST

/* Such a share brought by a reload (another VM's directory, the socket
 * in this VM's as microvm.nix writes it): the reload refused with that
 * line, the running daemon kept, READY=1 again, nothing of w's made. */
START_TEST(attack_writable_share_of_a_vms_directory_by_a_reload)
{
	struct lt t;
	lt_init(&t);
	char *vm2 = tu_path(t.vm.state, "vm2");
	ck_assert_int_eq(mkdir(vm2, 0755), 0);
	lt_share(&t, "a", "a", "vm1-virtiofs-a.sock");
	const char *const once[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, once);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	pid_t pa = daemon_of(&t, "a");
	ck_assert_int_gt(pa, 0);
	size_t from = t.nmsg;
	lt_share(&t, "w", vm2, "vm1-virtiofs-w.sock");
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, from, "RELOADING=1", 3000);
	ck_assert_int_ge(rl, 0);
	int rd = lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 3000);
	pid_t pw = daemon_of_now(&t, "w");
	bool kept = daemon_of(&t, "a") == pa;
	bool w_sock = access(sock_of(&t, "w"), F_OK) == 0;
	kill(t.pid, SIGTERM);
	lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	ck_assert_msg(pw == 0 && !w_sock, "w (vm2's directory) started by the reload (daemon %d, "
		      "socket %s); log:\n%s", (int)pw, w_sock ? "made" : "not made", log);
	ck_assert_msg(rd > rl && kept, "the reload did not keep share a; log:\n%s", log);
	ck_assert_msg(strstr(log, "/share/microvm/virtiofs/w/source' line 1: a writable share of "
				  "a VM's directory") &&
			      strstr(log, "unable to reload: the shares stay as they were"),
		      "the reload not refused; log:\n%s", log);
	free(log);
	free(vm2);
	lt_free(&t);
}
END_TEST

/* A writable share below a VM's directory, its own (STATE/vm1/data) or
 * another's (STATE/vm2/data, through ROOT/x/..): the guest's root makes
 * its links there, not in a VM's directory. Wanted: served. */
START_TEST(writable_share_below_a_vms_directory_served)
{
	struct lt t;
	lt_init(&t);
	char *x = tu_path(t.vm.root, "x"), *vm2 = tu_path(t.vm.state, "vm2");
	char *d1 = tu_path(t.vm.dir, "data"), *d2 = tu_path(vm2, "data");
	char *via = tu_path(t.vm.root, "x/../state/vm2/data");
	ck_assert_int_eq(mkdir(x, 0755), 0);
	ck_assert_int_eq(mkdir(vm2, 0755), 0);
	lt_share(&t, "v", "data", "vm1-virtiofs-v.sock");
	lt_share(&t, "w", via, "vm1-virtiofs-w.sock");
	const char *const once[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, once);
	int ready = lt_wait_msg(&t, 0, "READY=1", 5000);
	bool served = ready >= 0 && pinned_is(&t, "v", d1) && pinned_is(&t, "w", d2);
	if (ready >= 0)
		kill(t.pid, SIGTERM);
	lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	ck_assert_msg(served, "writable shares below a VM's directory not served; log:\n%s", log);
	free(log);
	free(via);
	free(d2);
	free(d1);
	free(vm2);
	free(x);
	lt_free(&t);
}
END_TEST

/* The same nesting, with vm2's share w read-only (its guest makes no
 * links there: a link in ROOT/shared is the administrator's), and a
 * third directory in the state dir that is no VM (no runner): s is
 * served through the link, and nothing is said of either. */
START_TEST(share_inside_another_vms_read_only_share_served)
{
	struct lt t;
	lt_init(&t);
	char *shared = tu_path(t.vm.root, "shared"), *data = tu_path(shared, "data");
	char *real = tu_path(t.vm.root, "real"), *junk = tu_path(t.vm.state, "junk");
	ck_assert_int_eq(mkdir(shared, 0755), 0);
	ck_assert_int_eq(mkdir(real, 0755), 0);
	ck_assert_int_eq(mkdir(junk, 0755), 0);
	tu_symlink(real, data); /* the administrator's */
	other_vm(&t, "vm2", "w", shared, true);
	lt_share(&t, "s", data, "vm1-virtiofs-s.sock");
	lt_start(&t, t.fake, NULL);
	int ready = lt_wait_msg(&t, 0, "READY=1", 5000);
	bool served = ready >= 0 && pinned_is(&t, "s", real);
	if (ready >= 0)
		kill(t.pid, SIGTERM);
	lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	ck_assert_msg(served, "share s (through the administrator's link) not served; log:\n%s",
		      log);
	ck_assert_msg(!strstr(log, "vm2") && !strstr(log, "junk"),
		      "another VM named without cause; log:\n%s", log);
	free(log);
	free(junk);
	free(real);
	free(data);
	free(shared);
	lt_free(&t);
}
END_TEST

/* vm2's `current` is a link its VM user made (as it may: the directory
 * is its own), so vm2's runner, and with it its writable shares, cannot
 * be read as root's. Wanted: vm1 starts all the same, and says that it
 * passed vm2 over. */
START_TEST(other_vm_unreadable_runner_named)
{
	struct lt t;
	lt_init(&t);
	other_vm(&t, "vm2", "w", t.vm.root, false);
	char *cur = xasprintf("%s/vm2/current", t.vm.state);
	ck_assert_int_eq(lchown(cur, TU_NOBODY, TU_NOBODY), 0);
	lt_share(&t, "a", "a", "vm1-virtiofs-a.sock");
	lt_start(&t, t.fake, NULL);
	int ready = lt_wait_msg(&t, 0, "READY=1", 5000);
	if (ready >= 0)
		kill(t.pid, SIGTERM);
	lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	ck_assert_msg(ready >= 0, "vm1 did not start; log:\n%s", log);
	ck_assert_msg(strstr(log, "VM 'vm2' passed over (its writable shares unknown): ") &&
			      strstr(log, "a link not made by root"),
		      "vm2 passed over silently; log:\n%s", log);
	free(log);
	free(cur);
	lt_free(&t);
}
END_TEST

/* vm1 (one share a) started while a FUSE mount on mnt (which the caller
 * made, the VM user's) answers nothing: bindfs of a directory of its own,
 * stopped, with what it told of itself no longer cached (1 s). Whether
 * READY=1 came within 3 s; the launcher stopped and the mount gone after,
 * the launcher's log in *log. */
static bool ready_beside_stalled_fuse(struct lt *t, const char *mnt, char **log)
{
	char *fuse = tu_tmpdir(); /* (bindfs's own directory outside t->vm.root) */
	char *theirs = tu_path(fuse, "theirs");
	tu_write(theirs, "probe", "the VM user's\n");
	pid_t fs = tu_bindfs_as_roots(theirs, mnt, "probe");
	ck_assert_int_eq(kill(fs, SIGSTOP), 0);
	sleep_ms(1500);
	lt_share(t, "a", "a", "vm1-virtiofs-a.sock");
	lt_start(t, t->fake, NULL);
	int ready = lt_wait_msg(t, 0, "READY=1", 3000);
	ck_assert_int_eq(kill(fs, SIGCONT), 0);
	if (ready < 0)
		lt_wait_msg(t, 0, "READY=1", 3000); /* (to stop it as usual) */
	kill(t->pid, SIGTERM);
	lt_wait_exit(t, 3000);
	tu_bindfs_stop(fs, mnt);
	*log = lt_log(t);
	tu_rm_rf(fuse);
	free(theirs);
	free(fuse);
	return ready >= 0;
}

/* vm2's directory is a FUSE mount of its VM user's (with allow_other,
 * where /etc/fuse.conf lets it), whose daemon answers nothing (stopped).
 * Wanted: vm1's launcher starts without waiting on that daemon, and says
 * that it passed vm2 over. */
START_TEST(other_vm_dir_on_stalled_fuse_passed_over)
{
	struct lt t;
	lt_init(&t);
	char *vm2 = tu_path(t.vm.state, "vm2"), *log;
	ck_assert_int_eq(mkdir(vm2, 0755), 0);
	tu_chown(vm2, TU_NOBODY, TU_NOBODY);
	bool ready = ready_beside_stalled_fuse(&t, vm2, &log);
	ck_assert_msg(ready, "vm1's launcher waited on vm2's stopped FUSE daemon; log:\n%s", log);
	ck_assert_msg(strstr(log, "VM 'vm2' passed over (its writable shares unknown): ") &&
			      strstr(log, "FUSE"),
		      "vm2 passed over silently; log:\n%s", log);
	free(log);
	free(vm2);
	lt_free(&t);
}
END_TEST

/* vm2's writable share has its source in vm2's directory (as microvm.nix
 * makes it), which vm2's VM user made a FUSE mount whose daemon answers
 * nothing. A walk through the state dir follows no link there anyway, so
 * vm1's launcher has no need to know that source. Wanted: it starts
 * without waiting on that daemon, and names nothing of vm2. */
START_TEST(other_vm_source_in_its_dir_not_walked)
{
	struct lt t;
	lt_init(&t);
	char *data = xasprintf("%s/vm2/data", t.vm.state), *log;
	other_vm(&t, "vm2", "w", data, false);
	ck_assert_int_eq(mkdir(data, 0755), 0);
	tu_chown(data, TU_NOBODY, TU_NOBODY);
	bool ready = ready_beside_stalled_fuse(&t, data, &log);
	ck_assert_msg(ready, "vm1's launcher waited on the FUSE daemon in vm2's directory; "
		      "log:\n%s", log);
	ck_assert_msg(!strstr(log, "vm2"), "vm2 named; log:\n%s", log);
	free(log);
	free(data);
	lt_free(&t);
}
END_TEST

/* vm2's directory is a plain one, but its VM user made its `current` a
 * directory and mounted a FUSE file system of its own there (allow_other),
 * whose daemon answers nothing. A mount point is no link root made, so
 * nothing there needs asking. Wanted: vm1's launcher starts without
 * waiting on that daemon, and says that it passed vm2 over. */
START_TEST(other_vm_current_on_stalled_fuse_passed_over)
{
	struct lt t;
	lt_init(&t);
	char *vm2 = tu_path(t.vm.state, "vm2"), *cur = tu_path(vm2, "current"), *log;
	ck_assert_int_eq(mkdir(vm2, 0755), 0);
	ck_assert_int_eq(mkdir(cur, 0755), 0);
	tu_chown(vm2, TU_NOBODY, TU_NOBODY);
	tu_chown(cur, TU_NOBODY, TU_NOBODY);
	bool ready = ready_beside_stalled_fuse(&t, cur, &log);
	ck_assert_msg(ready,
		      "vm1's launcher waited on the stopped FUSE daemon on vm2's `current`; log:\n%s",
		      log);
	ck_assert_msg(strstr(log, "VM 'vm2' passed over (its writable shares unknown): "),
		      "vm2 passed over silently; log:\n%s", log);
	free(log);
	free(cur);
	free(vm2);
	lt_free(&t);
}
END_TEST

/* vm2's writable share has its source outside the state dir, in a
 * directory the administrator gave vm2's VM user, who mounted a FUSE file
 * system of its own there (allow_other), whose daemon answers nothing.
 * Nothing there needs knowing: a walk through a directory of another
 * user's, or on FUSE, follows no link anyway. Wanted: vm1's launcher
 * starts without waiting on that daemon. */
START_TEST(other_vm_source_on_stalled_fuse_not_walked)
{
	struct lt t;
	lt_init(&t);
	char *data = tu_path(t.vm.root, "vm2data"), *log;
	other_vm(&t, "vm2", "w", data, false);
	ck_assert_int_eq(mkdir(data, 0755), 0);
	tu_chown(data, TU_NOBODY, TU_NOBODY);
	bool ready = ready_beside_stalled_fuse(&t, data, &log);
	ck_assert_msg(ready,
		      "vm1's launcher waited on the FUSE daemon on vm2's writable source; log:\n%s",
		      log);
	free(log);
	free(data);
	lt_free(&t);
}
END_TEST

#define FUSE_LINK "a symlink on a FUSE mount (refused: its owners are whatever its daemon says)"

/* Attack 4 (audit of virtiofs-launch, 2026-12-02): where /etc/fuse.conf
 * has user_allow_other, the VM user mounts a FUSE file system of its own,
 * with allow_other, on a directory it owns on a share's way (here vmdata,
 * outside the state dir: one the administrator gave it), whose daemon
 * (bindfs -u 0 here) shows every file as root's. The walk took that
 * directory for root's from fstat() alone and followed the VM user's link
 * in it, shown as root's too, to a root-only host directory: the guest
 * was served that. Wanted: nothing on FUSE counts as root's, so the link
 * is refused, for a source and for a socket's directory (a '..' step
 * there too), and no daemon starts; the FUSE directory itself, reached
 * through root's directories, is still served (what an administrator's
 * FUSE share is; here the VM user's own files, which it could always
 * share). */
START_TEST(attack_fuse_dir_shown_roots)
{
	struct lt t;
	lt_init(&t);
	char *secret = make_secret(&t);
	/* (in a directory of its own: leftovers() looks for processes naming
	 * t.vm.root, and bindfs names its directories) */
	char *fuse = tu_tmpdir();
	char *theirs = tu_path(fuse, "theirs"), *vmdata = tu_path(fuse, "vmdata");
	char *src = tu_path(vmdata, "etc"), *sock = tu_path(vmdata, "etc/a.sock");
	/* The VM user's files, all its own, and its link to the host's
	 * directory. */
	tu_write(theirs, "mine/in-mine", "the VM user's\n");
	char *link = tu_path(theirs, "etc");
	tu_symlink(secret, link);
	const char *const own[] = {"mine/in-mine", "mine", "etc", "."};
	for (size_t i = 0; i < ARRAY_SIZE(own); i++) {
		char *p = tu_path(theirs, own[i]);
		tu_chown(p, TU_NOBODY, TU_NOBODY);
		free(p);
	}
	ck_assert_int_eq(mkdir(vmdata, 0755), 0);
	tu_chown(vmdata, TU_NOBODY, TU_NOBODY);
	pid_t fs = tu_bindfs_as_roots(theirs, vmdata, "etc");

	lt_share(&t, "a", src, "vm1-virtiofs-a.sock");
	const char *const once[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, once);
	int st = lt_wait_exit(&t, 3000);
	ck_assert_msg(st != -1 || !pinned_is(&t, "a", secret),
		      "the guest is served the root-only %s, through the VM user's FUSE link %s",
		      secret, src);
	char *log = lt_log(&t);
	char *want = xasprintf("virtiofs-launch: vm1: unable to use share 'a' source '%s': %s\n",
			       src, FUSE_LINK);
	ck_assert_msg(st == 1 && strstr(log, want), "exit %d; want:\n%slog:\n%s", st, want, log);
	free(want);
	free(log);
	ck_assert_uint_eq(dir_entries(t.fake_dir), 0); /* no daemon ever ran */
	ck_assert_uint_eq(leftovers(&t), 0);

	/* The socket's directory through the same link: refused, nothing
	 * bound in the root-only directory. */
	lt_forget_share(&t, "a");
	lt_share(&t, "a", "data", sock);
	ck_assert_int_eq(unlink(t.err_path), 0);
	expect_refused(&t, "a", "socket", sock, FUSE_LINK);
	ck_assert_uint_eq(dir_entries(secret), 1);

	/* No '..' either, as in the VM user's directories. */
	lt_forget_share(&t, "a");
	char *up = tu_path(vmdata, "mine/../mine");
	lt_share(&t, "a", up, "vm1-virtiofs-a.sock");
	ck_assert_int_eq(unlink(t.err_path), 0);
	expect_refused(&t, "a", "source", up, "'..' in a directory on a FUSE mount");
	free(up);

	/* The FUSE directory as the source, reached through root's: served. */
	lt_forget_share(&t, "a");
	char *mine = tu_path(vmdata, "mine");
	lt_share(&t, "a", mine, "vm1-virtiofs-a.sock");
	ck_assert_int_eq(unlink(t.err_path), 0);
	lt_start(&t, t.fake, NULL);
	int r = lt_wait_msg(&t, 0, "READY=1", 5000);
	log = lt_log(&t);
	ck_assert_msg(r >= 0, "no READY=1; log:\n%s", log);
	free(log);
	ck_assert(pinned_has(&t, "a", "in-mine"));
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 0);

	/* A runtime dir on FUSE is not root's either, however it is shown:
	 * refused, nothing mounted on it. */
	char *runtime = t.vm.runtime;
	t.vm.runtime = tu_path(vmdata, "mine");
	ck_assert_int_eq(unlink(t.err_path), 0);
	lt_start(&t, t.fake, once);
	st = lt_wait_exit(&t, 3000);
	log = lt_log(&t);
	want = xasprintf("virtiofs-launch: vm1: unable to use runtime dir '%s': a directory on "
			 "the way is on FUSE (its owners are whatever its daemon says): '%s'\n",
			 t.vm.runtime, vmdata);
	ck_assert_msg(st == 1 && strstr(log, want), "exit %d; want:\n%slog:\n%s", st, want, log);
	free(want);
	free(log);
	free(t.vm.runtime);
	t.vm.runtime = runtime;

	tu_bindfs_stop(fs, vmdata);
	free(mine);
	free(link);
	free(sock);
	free(src);
	free(vmdata);
	free(theirs);
	tu_rm_rf(fuse);
	free(fuse);
	free(secret);
	lt_free(&t);
}
END_TEST

/* A nested host (itself a MicroVM) shares what lies on its own virtiofs
 * mount, through a link there that the outer host made (its owners are
 * what the outer host's virtiofsd says: root's here). virtiofs has FUSE's
 * magic number, and the walk took it for the VM user's FUSE: the link was
 * refused. A mount whose type is "virtiofs" in the launcher's mount table
 * is root's (no user namespace can mount one): the link is followed and
 * the share served. No virtiofs mount can be made on this machine (no VM:
 * virtiofs is a guest's side of a share), so the directory is a bindfs
 * mount, shown to the launcher (tests/virtiofs-launch) as "virtiofs" by
 * tests/shims/mountinfo.so, in the launcher's own mount namespace (whose
 * mount IDs are not the test's). With the real table (bindfs's "fuse..."),
 * or one that says "fuse.virtiofs" (a subtype any FUSE daemon can give),
 * the link stays refused. */
START_TEST(virtiofs_dir_link_followed)
{
	struct lt t;
	lt_init(&t);
	/* (in a directory of its own: leftovers() looks for processes naming
	 * t.vm.root, and bindfs names its directories) */
	char *dir = tu_tmpdir();
	char *outer = tu_path(dir, "outer"), *mnt = tu_path(dir, "virtiofs");
	char *src = tu_path(mnt, "current");
	tu_write(outer, "data/in-data", "the outer host's\n");
	char *link = tu_path(outer, "current");
	tu_symlink("data", link);
	ck_assert_int_eq(mkdir(mnt, 0755), 0);
	pid_t fs = tu_bindfs_as_roots(outer, mnt, "current");
	lt_share(&t, "a", src, "vm1-virtiofs-a.sock");
	t.bin = "tests/virtiofs-launch";

	expect_refused(&t, "a", "source", src, FUSE_LINK);
	struct tu_mountinfo m;
	tu_mountinfo_init(&m, mnt, "fuse.virtiofs");
	t.env = m.env;
	ck_assert_int_eq(unlink(t.err_path), 0);
	expect_refused(&t, "a", "source", src, FUSE_LINK);
	tu_mountinfo_free(&m);

	tu_mountinfo_init(&m, mnt, "virtiofs");
	t.env = m.env;
	ck_assert_int_eq(unlink(t.err_path), 0);
	lt_start(&t, t.fake, NULL);
	int r = lt_wait_msg(&t, 0, "READY=1", 5000);
	char *log = lt_log(&t);
	ck_assert_msg(r >= 0, "no READY=1; log:\n%s", log);
	free(log);
	ck_assert(pinned_has(&t, "a", "in-data"));
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 0);
	t.env = NULL;
	tu_mountinfo_free(&m);

	tu_bindfs_stop(fs, mnt);
	free(link);
	free(src);
	free(mnt);
	free(outer);
	tu_rm_rf(dir);
	free(dir);
	lt_free(&t);
}
END_TEST

/* read-only: what the daemon serves is a read-only mount of the source,
 * for both dialects (the Rust one is told --readonly too); a share
 * without the file stays writable. */
START_TEST(read_only_share)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "ro", "ro", "vm1-virtiofs-ro.sock");
	lt_setting(&t, "ro", "read-only", "true\n");
	lt_share(&t, "rw", "rw", "vm1-virtiofs-rw.sock");
	lt_setting(&t, "rw", "read-only", "false\n");
	tu_write(t.vm.dir, "ro/file", "x\n");
	lt_start(&t, real_bin(_i), NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	ck_assert(pinned_has(&t, "ro", "file"));
	ck_assert(pin_read_only(&t, "ro"));
	ck_assert(!pin_read_only(&t, "rw"));
	pid_t d = daemon_of(&t, "ro");
	ck_assert(d > 0);
	ck_assert(cmdline_has(d, "--readonly", true) == (_i == 1));
	/* The source itself stays writable for the host. */
	tu_write(t.vm.dir, "ro/host-wrote", "x\n");
	ck_assert(pinned_has(&t, "ro", "host-wrote"));
	lt_free(&t);
}
END_TEST

/* Attack (audit of virtiofs-launch, hR): a read-only share's pin was a
 * read-only clone of the mounts below its source, but still their slave:
 * a mount made on the host below the source once the pin was made (an
 * automount that the guest's own look-up triggers, a disk mounted later,
 * the VM user's FUSE) came into the pin, and into the daemon's view,
 * read-write (mount propagation keeps the mount's own flags): the guest
 * wrote through a read-only share, with the C daemon, which has no
 * --readonly of its own. Here the host's namespace is the test's own,
 * with / shared as systemd makes it. Wanted: nothing mounted later
 * reaches the pin of a read-only share; it is read-only all through. */
START_TEST(attack_read_only_pin_gets_later_mount)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "ro", "ro", "vm1-virtiofs-ro.sock");
	lt_setting(&t, "ro", "read-only", "true\n");
	char *sub = tu_path(t.vm.dir, "ro/sub");
	ck_assert_int_eq(mkdir_p(sub, 0755), 0);
	ck_assert_int_eq(unshare(CLONE_NEWNS), 0); /* (this test's process alone) */
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL), 0);
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	pid_t d = daemon_of(&t, "ro");
	ck_assert_int_gt(d, 0);
	ck_assert(pin_read_only(&t, "ro"));
	ck_assert_int_eq(mount("later", sub, "tmpfs", 0, NULL), 0);
	sleep_ms(50);
	char *p = xasprintf("/proc/%d/root%s/vm1/virtiofs/ro/sub/written", (int)d,
			    t.vm.runtime);
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	int err = errno;
	if (fd >= 0)
		close(fd);
	ck_assert_int_eq(umount2(sub, MNT_DETACH), 0);
	ck_assert_msg(fd < 0, "the daemon of the read-only share could write %s", p);
	ck_assert_msg(err == EROFS, "%s: %s, not EROFS", p, strerror(err));
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 5000), 0);
	free(p);
	free(sub);
	lt_free(&t);
}
END_TEST

/* A file system mounted below a share's source when the launcher starts
 * (a disk on SOURCE/sub) is served with the rest: the daemon sees its
 * files, not the empty directory under it. */
START_TEST(mount_below_source_is_served)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "s", "s", "vm1-virtiofs-s.sock");
	char *sub = tu_path(t.vm.dir, "s/sub");
	ck_assert_int_eq(mkdir_p(sub, 0755), 0);
	ck_assert_int_eq(unshare(CLONE_NEWNS), 0); /* (this test's process alone) */
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_int_eq(mount("disk", sub, "tmpfs", 0, NULL), 0);
	tu_write(sub, "on-the-disk", "x\n");
	/* A read-only share: read-only below too, the mount on its
	 * directory as well. */
	lt_share(&t, "r", "r", "vm1-virtiofs-r.sock");
	lt_setting(&t, "r", "read-only", "true\n");
	char *rsub = tu_path(t.vm.dir, "r/sub");
	ck_assert_int_eq(mkdir_p(rsub, 0755), 0);
	ck_assert_int_eq(mount("disk", rsub, "tmpfs", 0, NULL), 0);
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	bool seen = pinned_has(&t, "s", "sub/on-the-disk");
	bool ro = pin_read_only(&t, "r"), ro_below = pin_read_only(&t, "r/sub");
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 5000), 0);
	ck_assert_int_eq(umount2(sub, MNT_DETACH), 0);
	ck_assert_int_eq(umount2(rsub, MNT_DETACH), 0);
	ck_assert_msg(seen, "the share serves the empty directory under %s, not the mount on it",
		      sub);
	ck_assert_msg(ro && ro_below, "read-only share: its pin %s, the mount on %s in it %s",
		      ro ? "read-only" : "writable", rsub, ro_below ? "read-only" : "writable");
	free(rsub);
	free(sub);
	lt_free(&t);
}
END_TEST

/* The socket in a setgid directory of the VM user's would take that
 * directory's group, not --group's: refused, naming the socket, its
 * group and mode, and removed; no daemon starts on it. */
START_TEST(socket_in_setgid_dir_refused)
{
	struct lt t;
	lt_init(&t);
	ck_assert_uint_ne(t.gid, TU_NOBODY);
	lt_share(&t, "s", "s", "sd/s.sock");
	char *sd = tu_path(t.vm.dir, "sd");
	ck_assert_int_eq(mkdir_p(sd, 0755), 0);
	tu_chown(sd, TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(chmod(sd, 02775), 0);
	char *sock = tu_path(sd, "s.sock");
	char *why = xasprintf("it is owner 0, group %u, mode 0660, not root, %u, 0660 (a setgid "
			      "directory, or its name taken away at once)",
			      (unsigned)TU_NOBODY, (unsigned)t.gid);
	expect_refused(&t, "s", "socket", sock, why);
	ck_assert_msg(access(sock, F_OK) != 0, "%s left behind", sock);
	free(why);
	free(sock);
	free(sd);
	lt_free(&t);
}
END_TEST

/* Lines of /proc/PID/mountinfo that name path. */
static size_t mounts_naming(pid_t pid, const char *path)
{
	char p[64], *buf;
	size_t len, n = 0;
	snprintf(p, sizeof(p), "/proc/%d/mountinfo", (int)pid);
	ck_assert_int_eq(read_file(p, 1 << 20, &buf, &len), 0);
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		char *e = strchr(l, '\n');
		if (e)
			*e = '\0';
		n += strstr(l, path) != NULL;
		if (e)
			*e = '\n';
	}
	free(buf);
	return n;
}

/* The launcher's mounts (its tmpfs, the pins, the socket mirror) stay in
 * its own mount namespace, even started where / is shared (as systemd
 * makes it on a host): the namespace it was started in sees none. */
START_TEST(mounts_stay_in_the_launchers_namespace)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "s", "s", "vm1-virtiofs-s.sock");
	char *bin = tu_bin("virtiofs-launch");
	pid_t host = fork();
	ck_assert_int_ge(host, 0);
	if (host == 0) {
		/* "the host": a mount namespace of its own with / shared */
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL) < 0)
			_exit(2);
		pid_t l = fork();
		if (l == 0) {
			int fd = open(t.err_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
			dup2(fd, 2);
			setenv("NOTIFY_SOCKET", t.notify_path, 1);
			execl(bin, bin, "--state-dir", t.vm.state, "--runtime-dir", t.vm.runtime,
			      "--group", t.group, "--virtiofsd", t.fake, "vm1", (char *)NULL);
			_exit(127);
		}
		int st;
		waitpid(l, &st, 0);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 3);
	}
	int r = lt_wait_msg(&t, 0, "READY=1", 5000);
	char *log = lt_log(&t);
	ck_assert_msg(r >= 0, "no READY=1; log:\n%s", log);
	free(log);
	char p[64], *kids;
	size_t len;
	snprintf(p, sizeof(p), "/proc/%d/task/%d/children", (int)host, (int)host);
	ck_assert_int_eq(read_file(p, 4096, &kids, &len), 0);
	t.pid = (pid_t)strtol(kids, NULL, 10);
	free(kids);
	ck_assert_int_gt(t.pid, 0);
	ck_assert(pinned_has(&t, "s", "."));
	ck_assert_uint_ge(mounts_naming(t.pid, t.vm.runtime), 3); /* tmpfs, pin, mirror */
	ck_assert_uint_eq(mounts_naming(host, t.vm.runtime), 0);
	ck_assert_uint_eq(mounts_naming(getpid(), t.vm.runtime), 0);
	ck_assert_int_eq(kill(t.pid, SIGTERM), 0);
	int st;
	ck_assert_int_eq(waitpid(host, &st, 0), host);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	t.pid = 0;
	free(bin);
	lt_free(&t);
}
END_TEST

/* The runtime dir (where the sources are mounted for the daemons) must be
 * root's all the way: a directory the VM user owns on the way is refused
 * before anything starts. */
START_TEST(runtime_dir_must_be_roots)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "s", "s", "vm1-virtiofs-s.sock");
	char *theirs = tu_path(t.vm.root, "theirs");
	ck_assert_int_eq(mkdir(theirs, 0755), 0);
	tu_chown(theirs, TU_NOBODY, TU_NOBODY);
	free(t.vm.runtime);
	t.vm.runtime = tu_path(theirs, "run");
	lt_start(&t, t.fake, NULL);
	ck_assert_int_eq(lt_wait_exit(&t, 3000), 1);
	/* which directory, so that an admin need not walk the path by hand */
	char *want = xasprintf("virtiofs-launch: vm1: unable to use runtime dir '%s': a directory "
			       "on the way is not root's, or is writable by others: '%s'\n",
			       t.vm.runtime, theirs);
	char *log = lt_log(&t);
	ck_assert_msg(strcmp(log, want) == 0, "want:\n%slog:\n%s", want, log);
	free(log);
	/* A dry run says so too: it promised the mount ("would mount ...
	 * on ...", exit 0) that the start then refused. */
	const char *const dry[] = {"-n", NULL};
	ck_assert_int_eq(unlink(t.err_path), 0);
	lt_start(&t, t.fake, dry);
	int st = lt_wait_exit(&t, 3000);
	log = lt_log(&t);
	ck_assert_msg(st == 1 && strcmp(log, want) == 0, "dry run: exit %d; want:\n%slog:\n%s", st,
		      want, log);
	free(log);
	free(want);
	ck_assert_int_ne(access(t.vm.runtime, F_OK), 0);
	ck_assert_uint_eq(dir_entries(t.fake_dir), 0);
	free(theirs);
	lt_free(&t);
}
END_TEST

/* A runtime dir inside the source of a writable share (known by identity
 * since cbe73a8) is refused, as one below a directory of a user's: its
 * guest's root makes directories and links there as host uid 0. The
 * refusal says why, as for the other directories on the way (07a1735
 * gave WALK_ROOTS a reason per taint, but none for this one: the message
 * was the bare strerror()). */
START_TEST(runtime_dir_in_writable_share_says_why)
{
	struct lt t;
	lt_init(&t);
	char *data = tu_path(t.vm.root, "data");
	ck_assert_int_eq(mkdir(data, 0755), 0);
	lt_share(&t, "w", data, "vm1-virtiofs-w.sock");
	free(t.vm.runtime);
	t.vm.runtime = tu_path(data, "run");
	char *want = xasprintf("virtiofs-launch: vm1: unable to use runtime dir '%s': a directory "
			       "on the way is the source of a writable share (its guest's root "
			       "makes links there as host uid 0): '%s'\n",
			       t.vm.runtime, data);
	const char *const dry[] = {"-n", NULL};
	lt_start(&t, t.fake, dry);
	int st = lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	ck_assert_msg(st == 1 && strcmp(log, want) == 0, "dry run: exit %d; want:\n%slog:\n%s", st,
		      want, log);
	free(log);
	ck_assert_int_eq(unlink(t.err_path), 0);
	lt_start(&t, t.fake, NULL);
	st = lt_wait_exit(&t, 3000);
	log = lt_log(&t);
	ck_assert_msg(st == 1 && strcmp(log, want) == 0, "start: exit %d; want:\n%slog:\n%s", st,
		      want, log);
	free(log);
	free(want);
	ck_assert_int_ne(access(t.vm.runtime, F_OK), 0);
	ck_assert_uint_eq(dir_entries(t.fake_dir), 0);
	free(data);
	lt_free(&t);
}
END_TEST

/* A virtiofsd whose #! interpreter is missing: its share's failure says
 * so, as runner-exec's does for a runner (23a1308), not "No such file or
 * directory" of a virtiofsd that is there. */
START_TEST(virtiofsd_missing_interpreter_named)
{
	struct lt t;
	lt_init(&t);
	tu_write(t.vm.root, "bin/virtiofsd", "#!/nonexistent/interpreter\n");
	char *fake = tu_path(t.vm.root, "bin/virtiofsd");
	ck_assert_int_eq(chmod(fake, 0755), 0);
	lt_share(&t, "a", "a", "vm1-virtiofs-a.sock");
	const char *const extra[] = {"--virtiofsd-dialect", "rust", "--max-failures", "1", NULL};
	lt_start(&t, fake, extra);
	int st = lt_wait_exit(&t, 5000);
	char *log = lt_log(&t);
	char *want = xasprintf("share 'a': unable to start '%s': not found: its interpreter (#! "
			       "line) or ELF loader\n",
			       fake);
	ck_assert_msg(st == 1 && strstr(log, want), "exit %d; want ...%slog:\n%s", st, want, log);
	free(want);
	free(log);
	free(fake);
	lt_free(&t);
}
END_TEST

static long vmhwm_kb(pid_t pid)
{
	char p[64], *buf;
	size_t len;
	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	ck_assert_int_eq(read_file(p, 65536, &buf, &len), 0);
	char *l = strstr(buf, "VmHWM:");
	long kb = l ? strtol(l + 6, NULL, 10) : -1;
	free(buf);
	return kb;
}

static bool dynamically_linked(pid_t pid)
{
	char p[64], *buf;
	size_t len;
	snprintf(p, sizeof(p), "/proc/%d/maps", (int)pid);
	ck_assert_int_eq(read_file(p, 1 << 20, &buf, &len), 0);
	bool dyn = strstr(buf, "/ld-linux") != NULL;
	free(buf);
	return dyn;
}

/* The numbers of the issue: start to READY=1 for 1 and 16 shares, stop
 * of 16, peak RSS. Bounds are loose (shared CI machines, sanitizers);
 * the measured values are printed. */
START_TEST(speed_and_memory)
{
	long long ready_us[2] = {0, 0};
	const int counts[2] = {1, 16};
	for (int k = 0; k < 2; k++) {
		struct lt t;
		lt_init(&t);
		for (int i = 0; i < counts[k]; i++) {
			char tag[16], sock[64];
			snprintf(tag, sizeof(tag), "s%02d", i);
			snprintf(sock, sizeof(sock), "vm1-virtiofs-%s.sock", tag);
			lt_share(&t, tag, tag, sock);
		}
		const char *const extra[] = {"--grace", "30s", NULL}; /* (stop: below) */
		lt_start(&t, NULL, extra);
		int r = lt_wait_msg(&t, 0, "READY=1", 5000);
		ck_assert_int_ge(r, 0);
		ck_assert_uint_eq(t.msgs[r].listening, (unsigned)counts[k]);
		ready_us[k] = t.msgs[r].at_us;
		if (counts[k] == 16) {
			long hwm = vmhwm_kb(t.pid);
			bool dyn = dynamically_linked(t.pid);
			long long t0 = now_us();
			kill(t.pid, SIGTERM);
			ck_assert_int_eq(lt_wait_exit(&t, 10000), 0);
			long long stop_us = now_us() - t0;
			fprintf(stderr,
				"virtiofs: READY=1 after %lld us (1 share), %lld us (16 shares); "
				"stop of 16: %lld us; VmHWM %ld kB (%s)\n",
				ready_us[0], ready_us[1], stop_us, hwm,
				dyn ? "dynamically linked" : "static");
			ck_assert_uint_eq(leftovers(&t), 0);
			ck_assert_int_lt(stop_us, 10000000); /* (not the grace) */
#if !defined(__SANITIZE_ADDRESS__)
			/* The target, 1.5 MiB, holds for a static build; glibc's
			 * shared pages alone are ~1.1-1.8 MiB for any dynamic one. */
			ck_assert_int_lt(hwm, dyn ? 2560 : 1536);
#endif
		}
		lt_free(&t);
	}
	ck_assert_int_lt(ready_us[0], 1000000);
	ck_assert_int_lt(ready_us[1], 2000000);
}
END_TEST

/* A VM name with a control character is refused in one line of its own
 * (it was put into the line, unescaped, before it was checked). */
START_TEST(bad_name_one_error_line)
{
	char *bin = tu_bin("virtiofs-launch");
	const char *argv[] = { bin, "a\nb", NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 2, "exit %d: %s", r.status, r.err);
	ck_assert_msg(!strcmp(r.err, "virtiofs-launch: unable to use VM name 'a\\x0ab': a name may not "
				     "contain control characters\n"),
		      "stderr: %s", r.err);
	tu_run_free(&r);
	free(bin);
}
END_TEST

/* ---- a call that fails (tests/shims/failat.so) ---- */

/* The test's tree as `ls -lR` shows it: each entry's path (below the temp
 * dir), type, owner and mode, one a line, sorted; without what the test
 * itself writes there (the launcher's log, the notify socket, the shim's
 * log, the fake daemons' files). */
static char **listing_v;
static size_t listing_n, listing_skip;

static int list_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	static const char *const test_own[] = {"/launcher.log", "/notify.sock", "/failat.log"};
	const char *rel = path + listing_skip;
	(void)flag;
	(void)ftw;
	for (size_t i = 0; i < ARRAY_SIZE(test_own); i++)
		if (strcmp(rel, test_own[i]) == 0)
			return 0;
	if (strncmp(rel, "/fake/", 6) == 0)
		return 0;
	char type = S_ISDIR(st->st_mode) ? 'd' : S_ISSOCK(st->st_mode) ? 's'
		    : S_ISLNK(st->st_mode) ? 'l' : S_ISREG(st->st_mode) ? 'f' : '?';
	listing_v = realloc(listing_v, (listing_n + 1) * sizeof(*listing_v));
	ck_assert_ptr_nonnull(listing_v);
	listing_v[listing_n++] = xasprintf("%s %c %u:%u %04o", *rel ? rel : "/", type,
					   (unsigned)st->st_uid, (unsigned)st->st_gid,
					   (unsigned)(st->st_mode & 07777));
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *tree_listing(const struct lt *t)
{
	listing_v = NULL;
	listing_n = 0;
	listing_skip = strlen(t->vm.root);
	ck_assert_int_eq(nftw(t->vm.root, list_one, 32, FTW_PHYS), 0);
	qsort(listing_v, listing_n, sizeof(*listing_v), cmp_str);
	char *out = NULL;
	size_t len;
	FILE *f = open_memstream(&out, &len);
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < listing_n; i++) {
		fprintf(f, "%s\n", listing_v[i]);
		free(listing_v[i]);
	}
	ck_assert_int_eq(fclose(f), 0);
	free(listing_v);
	return out;
}

/* The call the shim failed, from its log ("N CALL (failed here)"), into
 * buf ("?" when none); the log removed, for the next run. */
static const char *failed_call(const char *log, char *buf, size_t size)
{
	char *text = NULL;
	size_t len;
	snprintf(buf, size, "?");
	if (read_file(log, 1 << 20, &text, &len) < 0)
		return buf;
	char *here = strstr(text, " (failed here)");
	if (here) {
		*here = '\0';
		char *line = strrchr(text, '\n') ? strrchr(text, '\n') + 1 : text;
		char *call = strchr(line, ' ');
		snprintf(buf, size, "%s", call ? call + 1 : line);
	}
	free(text);
	ck_assert_int_eq(unlink(log), 0);
	return buf;
}

/* The lines of the launcher's log that say "unable to": how many; the
 * first two in first and second ("" when none). */
static unsigned error_lines(const struct lt *t, char *first, char *second, size_t size)
{
	char *log = lt_log(t);
	unsigned n = 0;
	first[0] = second[0] = '\0';
	for (char *p = log; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		int len = (int)strcspn(p, "\n");
		if (!memmem(p, (size_t)len, ": unable to ", 12))
			continue;
		if (n < 2)
			snprintf(n ? second : first, size, "%.*s", len, p);
		n++;
	}
	free(log);
	return n;
}

/* A run of its own: the launcher's log and datagrams of the last one
 * gone. */
static void lt_fresh(struct lt *t)
{
	unlink(t->err_path);
	lt_recv_all(t);
	t->nmsg = 0;
}

/* Every share's daemon runs and its socket listens (root's, the group's,
 * 0660). */
static void all_up(const struct lt *t, const char *what)
{
	for (size_t i = 0; i < t->nsock; i++) {
		ck_assert_msg(daemon_of(t, t->tag[i]) > 0, "%s: share %s has no daemon", what,
			      t->tag[i]);
		check_socket(t, t->tag[i], NULL);
	}
}

/* Is call one of the list? */
static bool call_in(const char *call, const char *const list[])
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(call, list[i]) == 0)
			return true;
	return false;
}

/* The FAILAT_ERRNO values for call n: tu_failat_errnos()'s, and EPERM
 * for some n too. */
static size_t failat_errnos(long n, const char *out[4])
{
	const char *const *errs = tu_failat_errnos(n);
	size_t k = 0;
	while (errs[k] && k < 3) {
		out[k] = errs[k];
		k++;
	}
	if (n % 5 == 2)
		out[k++] = "EPERM";
	out[k] = NULL;
	return k;
}

/* The shares of the failing-call tests: a's source and socket directory
 * are not there yet, b's are (the socket in the VM's directory), c's
 * source (when with_c) is outside the VM's directory, not there yet, its
 * socket in a's directory. The runtime dir is there, as the unit's
 * RuntimeDirectory= makes it. */
static void failat_shares(struct lt *t, bool with_c)
{
	ck_assert_int_eq(mkdir(t->vm.runtime, 0755), 0);
	char *pre = tu_path(t->vm.dir, "pre");
	ck_assert_int_eq(mkdir(pre, 0755), 0);
	free(pre);
	lt_share(t, "a", "made/asrc", "socks/a.sock");
	lt_share(t, "b", "pre", "vm1-virtiofs-b.sock");
	if (with_c) {
		char *csrc = tu_path(t->vm.root, "outside/csrc");
		lt_share(t, "c", csrc, "socks/c.sock");
		free(csrc);
	}
}

/* What a run that got as far as READY=1 made, and a reload's share d,
 * removed: the tree as before the run. (RUNTIME/vm1, which it made for
 * the record of its writable sources, stays after a clean stop: tap-setup
 * and pci-bind keep their records there, under a lock of their own.) */
static void failat_reset(const struct lt *t, const char *before)
{
	static const char *const made[] = {"state/vm1/made", "state/vm1/socks", "outside",
					   "state/vm1/dmade", "state/vm1/dsocks", "run/vm1"};
	for (size_t i = 0; i < ARRAY_SIZE(made); i++) {
		char *p = tu_path(t->vm.root, made[i]);
		tu_rm_rf(p);
		free(p);
	}
	char *now = tree_listing(t);
	ck_assert_msg(strcmp(now, before) == 0, "not reset:\n%s\nbefore:\n%s", now, before);
	free(now);
}

/* The numbers of the calls named call in a failat.so log, in order (at
 * most max into out): how many there are. The log is left as it is. */
static size_t failat_calls_of(const char *log, const char *call, long *out, size_t max)
{
	char *text = NULL;
	size_t len, n = 0;
	ck_assert_int_eq(read_file(log, 1 << 20, &text, &len), 0);
	for (char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		long k;
		int used = 0;
		if (sscanf(p, "%ld %n", &k, &used) != 1 || used == 0)
			continue;
		size_t cn = strlen(call);
		if (strncmp(p + used, call, cn) == 0 && strchr("\n (", p[used + cn]) && n < max)
			out[n++] = k;
	}
	free(text);
	return n;
}

/* Run by hand, the launcher makes a --runtime-dir that is not there (and
 * the directories up to it); a start that gives up then takes them with
 * it, as it does the shares' directories: the host as it found it. One
 * that was there (the unit's RuntimeDirectory= makes it first) stays.
 * Here share z fails for good (its socket's path is a file), with the
 * runtime dir RUN/rt, then with RUN there, then with RUN/rt there too.
 * (Noticed at the last review: RUN/rt, root's, was left behind.) With
 * -v each directory removed is named by its absolute path, escaped (a
 * backslash in RUN's name). (Found while there: by its name alone.) */
START_TEST(start_given_up_removes_the_runtime_dir_it_made)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "z", "zsrc", "zfile");
	tu_write(t.vm.dir, "zfile", "not a socket\n");
	char *run = tu_path(t.vm.root, "r\\un");
	free(t.vm.runtime);
	t.vm.runtime = tu_path(run, "rt");
	const char *const extra[] = {"--max-failures", "2", "-v", NULL};
	for (int there = 0; there < 3; there++) {
		if (there > 0)
			ck_assert_int_eq(mkdir(there == 1 ? run : t.vm.runtime, 0755), 0);
		char *before = tree_listing(&t);
		lt_fresh(&t);
		lt_start(&t, t.fake, extra);
		int st = lt_wait_exit(&t, 4000);
		char *story = lt_story(&t);
		ck_assert_msg(st == 1 && strstr(story, "unable to start share 'z': it failed 2 "
						       "times in a row"),
			      "exit %d; log:\n%s", st, story);
		ck_assert_msg(lt_wait_msg(&t, 0, "READY=1", 0) < 0, "READY=1 came; log:\n%s",
			      story);
		char *now = tree_listing(&t);
		ck_assert_msg(strcmp(now, before) == 0,
			      "with %s there: left\n%sbefore:\n%slog:\n%s",
			      there == 0 ? "nothing" : there == 1 ? "RUN" : "RUN/rt", now, before,
			      story);
		free(now);
		/* what it made, by absolute paths; escape_text()'s backslash */
		char *zsrc = xasprintf("removed directory '%s/zsrc' it made\n", t.vm.dir);
		char *rt = xasprintf("removed directory '%s/r\\\\un/rt' it made\n", t.vm.root);
		char *r = xasprintf("removed directory '%s/r\\\\un' it made\n", t.vm.root);
		ck_assert_msg(strstr(story, zsrc) && !strstr(story, rt) == (there == 2) &&
				      !strstr(story, r) == (there > 0),
			      "with %s there: want\n%s%s%slog:\n%s",
			      there == 0 ? "nothing" : there == 1 ? "RUN" : "RUN/rt", zsrc,
			      there < 2 ? rt : "", there < 1 ? r : "", story);
		free(zsrc);
		free(rt);
		free(r);
		free(story);
		free(before);
	}
	ck_assert_uint_eq(leftovers(&t), 0);
	free(run);
	lt_free(&t);
}
END_TEST

/* Run by hand with a runtime dir that is not there, the launcher makes
 * it (and the directories up to it) root's alone to read, mode 0711, as
 * the units' RuntimeDirectoryMode= and the other tools make it: no one
 * else may open it, and flock it (pci-bind's lock of all VMs' runs). */
START_TEST(runtime_dir_made_roots_alone_to_read)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "asrc", "a.sock");
	char *run = tu_path(t.vm.root, "made");
	free(t.vm.runtime);
	t.vm.runtime = tu_path(run, "rt");
	lt_start(&t, t.fake, NULL);
	int ready = lt_wait_msg(&t, 0, "READY=1", 4000);
	char *story = lt_story(&t);
	ck_assert_msg(ready >= 0, "no READY=1; log:\n%s", story);
	free(story);
	const char *dirs[] = { run, t.vm.runtime };
	for (size_t i = 0; i < 2; i++) {
		struct stat st;
		ck_assert_int_eq(stat(dirs[i], &st), 0);
		ck_assert_msg(st.st_uid == 0 && (st.st_mode & 07777) == 0711,
			      "%s made %u, mode %04o", dirs[i], (unsigned)st.st_uid,
			      (unsigned)(st.st_mode & 07777));
	}
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 4000), 0);
	free(run);
	lt_free(&t);
}
END_TEST

/* The same when the walk to the runtime dir fails half-way: its mkdirat
 * of RUN/rt, after the one of RUN (failat.so). The launcher exits 1 before
 * anything starts, with one line naming the runtime dir, and RUN, which
 * it made, is gone. (Noticed at the last review: RUN was left.) */
START_TEST(failed_runtime_dir_step_leaves_no_directory)
{
	struct lt t;
	lt_init(&t);
	char *pre = tu_path(t.vm.dir, "pre");
	ck_assert_int_eq(mkdir(pre, 0755), 0);
	free(pre);
	lt_share(&t, "b", "pre", "vm1-virtiofs-b.sock");
	char *run = t.vm.runtime;
	t.vm.runtime = tu_path(run, "rt");
	struct tu_failat f;
	tu_failat_init(&f, t.vm.root);
	t.bin = "tests/virtiofs-launch";
	char *before = tree_listing(&t);
	const char *const count_env[] = {f.preload, f.logenv, NULL};
	t.env = count_env;
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 5000), 0);
	long mk[2];
	ck_assert_uint_eq(failat_calls_of(f.log, "mkdirat", mk, 2), 2);
	tu_failat_calls(f.log);
	tu_rm_rf(run);
	char *now = tree_listing(&t);
	ck_assert_str_eq(now, before);
	free(now);
	tu_failat_at(&f, mk[1], "EIO");
	const char *const env[] = {f.preload, f.logenv, f.at, f.err, NULL};
	t.env = env;
	lt_fresh(&t);
	lt_start(&t, t.fake, NULL);
	int st = lt_wait_exit(&t, 3000);
	char call[32];
	failed_call(f.log, call, sizeof(call));
	char *log = lt_log(&t);
	char *want = xasprintf("virtiofs-launch: vm1: unable to use runtime dir '%s': %s\n",
			       t.vm.runtime, strerror(EIO));
	ck_assert_msg(st == 1 && strcmp(call, "mkdirat") == 0 && strcmp(log, want) == 0,
		      "exit %d, failed %s; want:\n%slog:\n%s", st, call, want, log);
	free(want);
	free(log);
	now = tree_listing(&t);
	ck_assert_msg(strcmp(now, before) == 0, "left\n%sbefore:\n%s", now, before);
	free(now);
	free(before);
	free(run);
	tu_failat_free(&f);
	lt_free(&t);
}
END_TEST

/* A read-only share whose mount cannot be made read-only (a kernel
 * without mount_setattr(2), before Linux 5.12: here failat.so fails it
 * with ENOSYS) is never served writable: the share fails, naming its
 * mount; no daemon runs. */
START_TEST(failed_read_only_mount_serves_nothing)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "ro", "ro", "vm1-virtiofs-ro.sock");
	lt_setting(&t, "ro", "read-only", "true\n");
	struct tu_failat f;
	tu_failat_init(&f, t.vm.root);
	t.bin = "tests/virtiofs-launch";
	char *nr = xasprintf("FAILAT_SYSCALL=%ld", (long)SYS_mount_setattr);
	char *err = xasprintf("FAILAT_ERRNO=%d", ENOSYS);
	const char *const env[] = {f.preload, nr, err, NULL};
	t.env = env;
	const char *const once[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, once);
	int st = lt_wait_exit(&t, 5000);
	char *log = lt_log(&t);
	char *pin = pin_of(&t, "ro");
	char *want = xasprintf("virtiofs-launch: vm1: unable to make read-only '%s': %s\n", pin,
			       strerror(ENOSYS));
	ck_assert_msg(st == 1 && strstr(log, want), "exit %d; want:\n%slog:\n%s", st, want, log);
	ck_assert_uint_eq(dir_entries(t.fake_dir), 0); /* no daemon ever ran */
	free(want);
	free(pin);
	free(log);
	t.env = NULL;
	free(err);
	free(nr);
	tu_failat_free(&f);
	lt_free(&t);
}
END_TEST

/* The same when the tmpfs is mounted on the runtime dir the launcher made
 * but the open of it just after fails (failat.so's FAILAT_OPEN, with
 * ENOMEM, then EMFILE): exit 1, one line naming the runtime dir and why,
 * and the runtime dir is gone. (Left alone at the last stop: the tmpfs
 * stayed on it in the launcher's namespace, and its removal found it
 * busy.) */
START_TEST(failed_runtime_dir_open_leaves_no_directory)
{
	static const struct {
		const char *name;
		int no;
	} errs[] = {{"ENOMEM", ENOMEM}, {"EMFILE", EMFILE}};
	struct lt t;
	lt_init(&t);
	char *pre = tu_path(t.vm.dir, "pre");
	ck_assert_int_eq(mkdir(pre, 0755), 0);
	free(pre);
	lt_share(&t, "b", "pre", "vm1-virtiofs-b.sock");
	struct tu_failat f;
	tu_failat_init(&f, t.vm.root);
	t.bin = "tests/virtiofs-launch";
	char *before = tree_listing(&t);
	char *open_env = xasprintf("FAILAT_OPEN=%s", t.vm.runtime);
	for (size_t k = 0; k < ARRAY_SIZE(errs); k++) {
		char err[48];
		snprintf(err, sizeof(err), "FAILAT_ERRNO=%s", errs[k].name);
		const char *const env[] = {f.preload, open_env, err, NULL};
		t.env = env;
		lt_fresh(&t);
		lt_start(&t, t.fake, NULL);
		int st = lt_wait_exit(&t, 3000);
		char *log = lt_log(&t);
		char *want = xasprintf("virtiofs-launch: vm1: unable to open '%s': %s\n",
				       t.vm.runtime, strerror(errs[k].no));
		ck_assert_msg(st == 1 && strcmp(log, want) == 0, "%s: exit %d; want:\n%slog:\n%s",
			      errs[k].name, st, want, log);
		free(want);
		free(log);
		char *now = tree_listing(&t);
		ck_assert_msg(strcmp(now, before) == 0, "%s: left\n%sbefore:\n%s", errs[k].name,
			      now, before);
		free(now);
	}
	t.env = NULL;
	free(open_env);
	free(before);
	tu_failat_free(&f);
	lt_free(&t);
}
END_TEST

/* The launcher keeps the mount namespace it was started in (the host's),
 * opened before it makes its own, to remove what a start that gives up
 * made (start_given_up_leaves_a_mount_it_cannot_see). When that open fails
 * (failat.so's FAILAT_OPEN, ENOMEM), one line says so, exit 1, and nothing
 * is made: the runtime dir, not there, is not made. */
START_TEST(failed_host_namespace_open_makes_nothing)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "a", "asrc", "vm1-virtiofs-a.sock");
	struct tu_failat f;
	tu_failat_init(&f, t.vm.root);
	t.bin = "tests/virtiofs-launch";
	char *before = tree_listing(&t);
	const char *const env[] = {f.preload, "FAILAT_OPEN=/proc/self/ns/mnt",
				   "FAILAT_ERRNO=ENOMEM", NULL};
	t.env = env;
	lt_start(&t, t.fake, NULL);
	int st = lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	char *want = xasprintf("virtiofs-launch: vm1: unable to open '/proc/self/ns/mnt': %s\n",
			       strerror(ENOMEM));
	ck_assert_msg(st == 1 && strcmp(log, want) == 0, "exit %d; want:\n%slog:\n%s", st, want,
		      log);
	free(want);
	free(log);
	char *now = tree_listing(&t);
	ck_assert_msg(strcmp(now, before) == 0, "left\n%sbefore:\n%s", now, before);
	free(now);
	free(before);
	tu_failat_free(&f);
	lt_free(&t);
}
END_TEST

/* A writable share's source that cannot be noted: realloc() failing in
 * writable_add() (failrealloc.so; no memory). Not noted, it would be
 * walked as any directory, and a symlink its guest's root made there
 * followed as root; the start refuses instead: one line, exit 1, nothing
 * made, no daemon. */
START_TEST(failed_writable_note_refuses_the_start)
{
	struct lt t;
	lt_init(&t);
	lt_share(&t, "w", "wsrc", "vm1-virtiofs-w.sock");
	tu_write(t.vm.dir, "wsrc/in-w", "");
	char *shim = xasprintf("LD_PRELOAD=%s/tests/shims/failrealloc.so", BUILD_DIR);
	char *rlog = tu_path(t.vm.root, "failrealloc.log");
	char *logenv = xasprintf("FAILREALLOC_LOG=%s", rlog);
	const char *const env[] = {shim, "FAILREALLOC_IN=writable_add", logenv, NULL};
	t.bin = "tests/virtiofs-launch"; /* (dynamically linked: the shim is loaded) */
	t.env = env;
	char *before = tree_listing(&t);
	lt_start(&t, t.fake, NULL);
	int st = lt_wait_exit(&t, 3000);
	char *log = lt_log(&t);
	/* (the quote in the object escaped, as any in a quoted value) */
	char *want = xasprintf("virtiofs-launch: vm1: unable to note 'the writable shares\\' "
			       "sources': %s\n", strerror(ENOMEM));
	ck_assert_msg(st == 1 && strcmp(log, want) == 0, "exit %d (-1: still running); want:\n%s"
		      "log:\n%s", st, want, log);
	char *calls = NULL;
	size_t len;
	ck_assert_int_eq(read_file(rlog, 4096, &calls, &len), 0);
	ck_assert_str_eq(calls, "1 writable_add (failed here)\n");
	ck_assert_int_lt(lt_wait_msg(&t, 0, "READY=1", 0), 0);
	ck_assert_uint_eq(dir_entries(t.fake_dir), 0); /* no daemon ever ran */
	ck_assert_int_eq(unlink(rlog), 0);
	char *now = tree_listing(&t);
	ck_assert_msg(strcmp(now, before) == 0, "left\n%sbefore:\n%s", now, before);
	free(now);
	free(before);
	free(calls);
	free(want);
	free(log);
	free(logenv);
	free(rlog);
	free(shim);
	lt_free(&t);
}
END_TEST

/* For the tests of one step of a share's socket: share TAG on socket SOCK
 * (in the VM's dir) of an existing source, the runtime dir there as
 * RuntimeDirectory= makes it; then a clean start and stop of the
 * dynamically linked launcher (t->bin from now on) with failat.so
 * counting into f's log (the fork of its daemon counted before the
 * stop's calls). */
static void failat_counted_run(struct lt *t, struct tu_failat *f, const char *tag,
			       const char *sock)
{
	ck_assert_int_eq(mkdir(t->vm.runtime, 0755), 0); /* (as RuntimeDirectory=) */
	char *pre = tu_path(t->vm.dir, "pre");
	ck_assert_int_eq(mkdir(pre, 0755), 0);
	free(pre);
	lt_share(t, tag, "pre", sock);
	tu_failat_init(f, t->vm.root);
	t->bin = "tests/virtiofs-launch";
	const char *const count_env[] = {f->preload, f->logenv, NULL};
	t->env = count_env;
	lt_start(t, t->fake, NULL);
	ck_assert_int_ge(lt_wait_msg(t, 0, "READY=1", 5000), 0);
	all_up(t, "counting");
	kill(t->pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(t, 5000), 0);
	t->env = NULL; /* (count_env ends here) */
}

/* A share's socket that cannot be removed when the launcher stops (its
 * unlinkat failing, failat.so, with EBUSY, EPERM, EIO): one warning line
 * names it, escaped (a backslash, and a bidi override, in its name), and
 * why; the stop is otherwise clean: exit 0. The socket is left, and the
 * next start takes it as the stale socket it is. (Noticed at the last
 * review: nothing was said.) */
START_TEST(failed_socket_removal_is_said)
{
	static const char *const errs[] = {"EBUSY", "EPERM", "EIO"};
	static const int errnos[] = {EBUSY, EPERM, EIO};
	struct lt t;
	lt_init(&t);
	struct tu_failat f;
	failat_counted_run(&t, &f, "a", "odd\\name\xe2\x80\xae.sock");
	long un[2]; /* (the socket's, then the record's of the writable sources) */
	ck_assert_uint_eq(failat_calls_of(f.log, "unlinkat", un, 2), 2);
	tu_failat_calls(f.log);
	ck_assert(access(sock_of(&t, "a"), F_OK) < 0);
	for (size_t k = 0; k < ARRAY_SIZE(errs); k++) {
		tu_failat_at(&f, un[0], errs[k]);
		const char *const env[] = {f.preload, f.logenv, f.at, f.err, NULL};
		t.env = env;
		lt_fresh(&t);
		lt_start(&t, t.fake, NULL);
		ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
		all_up(&t, errs[k]);
		kill(t.pid, SIGTERM);
		int st = lt_wait_exit(&t, 5000);
		char call[32], what[1024], more[1024];
		failed_call(f.log, call, sizeof(call));
		unsigned e = error_lines(&t, what, more, sizeof(what));
		char *want = xasprintf("virtiofs-launch: vm1: unable to remove socket "
				       "'%s/odd\\\\name\\xe2\\x80\\xae.sock': %s (left behind: "
				       "the next start removes it)",
				       t.vm.dir, strerror(errnos[k]));
		char *log = lt_log(&t);
		ck_assert_msg(st == 0 && strcmp(call, "unlinkat") == 0 && e == 1 &&
				      strcmp(what, want) == 0,
			      "%s: exit %d, failed %s, %u lines; want:\n%s\nlog:\n%s", errs[k], st,
			      call, e, want, log);
		free(log);
		free(want);
		struct stat sb;
		ck_assert(lstat(sock_of(&t, "a"), &sb) == 0 && S_ISSOCK(sb.st_mode));
		ck_assert_int_eq(unlink(sock_of(&t, "a")), 0);
	}
	/* Left again, then started without failat.so: taken as stale. */
	tu_failat_at(&f, un[0], "EBUSY");
	const char *const env[] = {f.preload, f.logenv, f.at, f.err, NULL};
	t.env = env;
	lt_fresh(&t);
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	all_up(&t, "left again");
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 5000), 0);
	ck_assert(access(sock_of(&t, "a"), F_OK) == 0);
	t.env = NULL;
	lt_fresh(&t);
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	check_socket(&t, "a", NULL);
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 5000), 0);
	ck_assert(access(sock_of(&t, "a"), F_OK) < 0);
	ck_assert_uint_eq(leftovers(&t), 0);
	tu_failat_free(&f);
	lt_free(&t);
}
END_TEST

/* A socket made by bind() but found wrong (here its listen() failing) is
 * removed again at once; when that removal fails too (failat.so with
 * FAILAT=N+: the listen and every call after it), one warning line names
 * the socket, escaped (a backslash, and a bidi override, in its name),
 * and why. The start gives up (--max-failures 1): exit 1. The socket is
 * left, and the next start takes it as the stale socket it is. (Noticed
 * at the last review: nothing was said of the file left.) */
START_TEST(failed_removal_of_a_wrong_socket_is_said)
{
	struct lt t;
	lt_init(&t);
	struct tu_failat f;
	failat_counted_run(&t, &f, "a", "odd\\name\xe2\x80\xae.sock");
	long ls[2];
	ck_assert_uint_eq(failat_calls_of(f.log, "listen", ls, 2), 1);
	tu_failat_calls(f.log);
	tu_failat_from(&f, ls[0], "EBUSY");
	const char *const env[] = {f.preload, f.logenv, f.at, f.err, NULL};
	t.env = env;
	lt_fresh(&t);
	const char *const extra[] = {"--max-failures", "1", NULL};
	lt_start(&t, t.fake, extra);
	int st = lt_wait_exit(&t, 5000);
	char call[32];
	failed_call(f.log, call, sizeof(call));
	char *log = lt_log(&t);
	char *want = xasprintf("virtiofs-launch: vm1: unable to remove socket "
			       "'%s/odd\\\\name\\xe2\\x80\\xae.sock': %s (left behind: "
			       "the next start removes it)\n",
			       t.vm.dir, strerror(EBUSY));
	ck_assert_msg(st == 1 && occurrences(log, want) == 1,
		      "exit %d, first failed %s; want once:\n%slog:\n%s", st, call, want, log);
	free(want);
	free(log);
	struct stat sb;
	ck_assert(lstat(sock_of(&t, "a"), &sb) == 0 && S_ISSOCK(sb.st_mode));
	/* Started without failat.so: taken as stale. */
	t.env = NULL;
	lt_fresh(&t);
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	check_socket(&t, "a", NULL);
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 5000), 0);
	ck_assert(access(sock_of(&t, "a"), F_OK) < 0);
	ck_assert_uint_eq(leftovers(&t), 0);
	tu_failat_free(&f);
	lt_free(&t);
}
END_TEST

/* The first thing quoted in line ('...') that is a relative path (holds a
 * '/' but does not start with one), into buf; NULL when none. A user
 * cannot find a path named so: relative to what? */
static const char *relative_path_in(const char *line, char *buf, size_t size)
{
	const char *p = strchr(line, '\'');
	while (p) {
		const char *end = strchr(p + 1, '\'');
		if (!end)
			break;
		size_t n = (size_t)(end - p - 1);
		if (p[1] != '/' && memchr(p + 1, '/', n)) {
			snprintf(buf, size, "%.*s", (int)n, p + 1);
			return buf;
		}
		p = strchr(end + 1, '\'');
	}
	return NULL;
}

/* Without CAP_SYS_CHROOT (a unit's CapabilityBoundingSet=, or a container,
 * that leaves it out: setpriv here) the chroot in which a socket is bound
 * is refused. One line names that chroot's directory, RUNTIME/.root/0,
 * and why; the share fails as one that cannot be prepared does, and the
 * launcher gives up: exit 1, the host as it found it, the runtime dir there
 * as the unit's RuntimeDirectory= makes it. (Found while there: the
 * launcher then tried to leave a chroot it never entered, failed at that
 * too, and aborted: "unable to leave a chroot", exit 134, its runtime dir
 * left behind; the line that was meant named RUNTIME/.root/0 followed by
 * the socket's directory.) Run by hand with no runtime dir, the one it
 * made is left, and -v says why: without CAP_SYS_CHROOT it cannot enter
 * the host's mount namespace, the only one where it can tell whether
 * someone's mount is on it (start_given_up_leaves_a_mount_it_cannot_see). */
START_TEST(chroot_refused_gives_up_cleanly)
{
	struct lt t;
	lt_init(&t);
	char *pre = tu_path(t.vm.dir, "pre");
	ck_assert_int_eq(mkdir(pre, 0755), 0);
	free(pre);
	lt_share(&t, "a", "pre", "vm1-virtiofs-a.sock");
	char *bin = tu_bin("virtiofs-launch");
	const char *const argv[] = {"/usr/bin/setpriv", "--bounding-set", "-sys_chroot",
				    "--inh-caps", "-sys_chroot", "--", bin, "--state-dir",
				    t.vm.state, "--group", t.group, "--runtime-dir", t.vm.runtime,
				    "--virtiofsd", t.fake, "--max-failures", "1", "-v", "vm1", NULL};
	char *fake_env = xasprintf("VFS_FAKE_DIR=%s", t.fake_dir);
	const char *const env[] = {fake_env, "NOTIFY_SOCKET=", NULL};
	char *want = xasprintf("virtiofs-launch: vm1: unable to chroot to '%s/.root/0': %s\n",
			       t.vm.runtime, strerror(EPERM));
	char *left = xasprintf("virtiofs-launch: vm1: left directory '%s' it made: unable to "
			       "enter the host's mount namespace: %s\n",
			       t.vm.runtime, strerror(EPERM));
	for (int by_hand = 1; by_hand >= 0; by_hand--) {
		if (!by_hand)
			ck_assert_int_eq(mkdir(t.vm.runtime, 0755), 0);
		char *before = tree_listing(&t);
		struct tu_run r;
		tu_run_env(&r, argv, env);
		ck_assert_msg(r.status == 1 && strstr(r.err, want) &&
				      strstr(r.err, "unable to start share 'a': it failed 1 time "
						    "in a row"),
			      "exit %d; want:\n%slog:\n%s", r.status, want, r.err);
		ck_assert_msg(!strstr(r.err, left) == !by_hand, "%s:\n%slog:\n%s",
			      by_hand ? "want" : "not wanted", left, r.err);
		struct stat st;
		if (by_hand)
			ck_assert_msg(stat(t.vm.runtime, &st) == 0 && S_ISDIR(st.st_mode) &&
					      st.st_uid == 0 && rmdir(t.vm.runtime) == 0,
				      "no runtime dir left");
		char *now = tree_listing(&t);
		ck_assert_msg(strcmp(now, before) == 0, "left\n%sbefore:\n%s", now, before);
		ck_assert_uint_eq(dir_entries(t.fake_dir), 0);
		free(now);
		free(before);
		tu_run_free(&r);
	}
	free(left);
	free(want);
	free(fake_env);
	free(bin);
	lt_free(&t);
}
END_TEST

/* A failure to make the top of a socket directory's chroot tree in the
 * launcher's tmpfs (RUNTIME/.root/N: its mkdirat of .root or of N
 * failing, failat.so): the line names that directory by its absolute
 * path, and the share is started again. (Noticed at the last review:
 * the line said '.root/0'.) */
START_TEST(failed_chroot_step_names_its_path)
{
	struct lt t;
	lt_init(&t);
	struct tu_failat f;
	failat_counted_run(&t, &f, "b", "vm1-virtiofs-b.sock");
	/* The tree's top is made last, just before the bind. */
	long mk[32], bd[2];
	size_t nmk = failat_calls_of(f.log, "mkdirat", mk, ARRAY_SIZE(mk));
	ck_assert_uint_eq(failat_calls_of(f.log, "bind", bd, 2), 1);
	tu_failat_calls(f.log);
	while (nmk > 0 && mk[nmk - 1] > bd[0])
		nmk--;
	ck_assert_uint_ge(nmk, 2);
	char *want = xasprintf("virtiofs-launch: vm1: unable to make '%s/.root/0': %s",
			       t.vm.runtime, strerror(EIO));
	for (size_t k = nmk - 2; k < nmk; k++) {
		tu_failat_at(&f, mk[k], "EIO");
		const char *const env[] = {f.preload, f.logenv, f.at, f.err, NULL};
		t.env = env;
		lt_fresh(&t);
		lt_start(&t, t.fake, NULL);
		ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
		all_up(&t, "retried");
		char call[32], what[1024], more[1024];
		failed_call(f.log, call, sizeof(call));
		unsigned e = error_lines(&t, what, more, sizeof(what));
		char *log = lt_log(&t);
		ck_assert_msg(strcmp(call, "mkdirat") == 0 && e == 1 && strcmp(what, want) == 0,
			      "call %ld: failed %s, %u lines; want:\n%s\nlog:\n%s", mk[k], call, e,
			      want, log);
		free(log);
		kill(t.pid, SIGTERM);
		ck_assert_int_eq(lt_wait_exit(&t, 5000), 0);
	}
	free(want);
	ck_assert_uint_eq(leftovers(&t), 0);
	tu_failat_free(&f);
	lt_free(&t);
}
END_TEST

/* A start whose Nth call that can change the host fails (failat.so,
 * preloaded into tests/virtiofs-launch: the launcher linked dynamically;
 * the call is not made, it returns an errno, the launcher goes on), for
 * every N of a clean start of three shares (failat_shares()) in turn,
 * up to the forks of their daemons. Either the launcher exits 1 before
 * READY=1, with one line naming what failed, the tree as it was and no
 * daemon left: a call of its set-up (the fork of `virtiofsd --help`, to
 * tell the dialect), or the sending of READY=1 itself; or it retries the
 * share whose start failed, as it does any (virtiofs-launch(8)): a
 * directory made, a socket bound or listening while the share is
 * prepared, the record of the writable sources written (RUNTIME/vm1 made,
 * the file written, renamed) before READY=1, the fork of its daemon just
 * after READY=1. Then one line
 * names what failed, every share comes up as after a clean start and the
 * tree is as a clean start leaves it; after SIGTERM as a clean start and
 * stop leave it (the directories made stay, the sockets go). */
START_TEST(failed_start_step_gives_up_or_retries)
{
	static const char *const gives_up[] = {"fork", "sendto", NULL};
	static const char *const retried[] = {"mkdirat", "bind", "listen", "write", "renameat",
					      "fork", NULL};
	struct lt t;
	lt_init(&t);
	failat_shares(&t, true);
	struct tu_failat f;
	tu_failat_init(&f, t.vm.root);
	t.bin = "tests/virtiofs-launch";
	char *before = tree_listing(&t);
	const char *const count_env[] = {f.preload, f.logenv, NULL};
	t.env = count_env;
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	all_up(&t, "counting");
	long calls = tu_failat_calls(f.log);
	ck_assert_int_gt(calls, 10);
	char *ready = tree_listing(&t);
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 5000), 0);
	char *stopped = tree_listing(&t);
	failat_reset(&t, before);
	unsigned n_gave_up = 0, n_retried = 0;
	for (long n = 1; n <= calls; n++) {
		const char *errs[4];
		failat_errnos(n, errs);
		for (size_t k = 0; errs[k]; k++) {
			char call[32], what[1024], more[1024];
			tu_failat_at(&f, n, errs[k]);
			const char *const env[] = {f.preload, f.logenv, f.at, f.err, NULL};
			t.env = env;
			lt_fresh(&t);
			lt_start(&t, t.fake, NULL);
			lt_wait_ready_or_exit(&t, 3000);
			bool was_ready = lt_wait_msg(&t, 0, "READY=1", 0) >= 0;
			int st = was_ready ? -1 : lt_wait_exit(&t, 1000);
			if (was_ready) /* (a daemon's fork comes after READY=1) */
				all_up(&t, "retried");
			failed_call(f.log, call, sizeof(call));
			if (!was_ready) {
				char *story = lt_story(&t);
				ck_assert_msg(st == 1,
					      "start, call %ld of %ld (%s) failing with %s: exit %d, "
					      "no READY=1; log:\n%s",
					      n, calls, call, errs[k], st, story);
				free(story);
				unsigned e = error_lines(&t, what, more, sizeof(what));
				ck_assert_msg(e == 1 && call_in(call, gives_up) &&
						      !strncmp(what, "virtiofs-launch: vm1: unable to ", 32),
					      "start, call %ld (%s) failing with %s: gave up, with "
					      "%u error lines: '%s' '%s'",
					      n, call, errs[k], e, what, more);
				ck_assert_msg(!relative_path_in(what, more, sizeof(more)),
					      "start, call %ld (%s) failing with %s: '%s' names the "
					      "relative path '%s'",
					      n, call, errs[k], what, more);
				char *now = tree_listing(&t);
				ck_assert_msg(strcmp(now, before) == 0,
					      "start, call %ld (%s) failing with %s ('%s'): left\n%s"
					      "before:\n%s",
					      n, call, errs[k], what, now, before);
				free(now);
				ck_assert_uint_eq(leftovers(&t), 0);
				n_gave_up++;
				continue;
			}
			unsigned e = error_lines(&t, what, more, sizeof(what));
			ck_assert_msg(e == 1 && call_in(call, retried),
				      "start, call %ld (%s) failing with %s: retried, with %u error "
				      "lines: '%s' '%s'",
				      n, call, errs[k], e, what, more);
			ck_assert_msg(!relative_path_in(what, more, sizeof(more)),
				      "start, call %ld (%s) failing with %s: '%s' names the "
				      "relative path '%s'",
				      n, call, errs[k], what, more);
			ck_assert_int_eq(lt_wait_exit(&t, 0), -1);
			char *now = tree_listing(&t);
			ck_assert_msg(strcmp(now, ready) == 0,
				      "start, call %ld (%s) failing with %s ('%s'), retried: "
				      "the tree\n%safter a clean start:\n%s",
				      n, call, errs[k], what, now, ready);
			free(now);
			kill(t.pid, SIGTERM);
			ck_assert_int_eq(lt_wait_exit(&t, 5000), 0);
			now = tree_listing(&t);
			ck_assert_msg(strcmp(now, stopped) == 0,
				      "start, call %ld (%s) failing with %s ('%s'), then stop: "
				      "the tree\n%safter a clean start and stop:\n%s",
				      n, call, errs[k], what, now, stopped);
			free(now);
			ck_assert_uint_eq(leftovers(&t), 0);
			failat_reset(&t, before);
			n_retried++;
		}
	}
	fprintf(stderr,
		"virtiofs: start failed at each of its %ld changing calls: %u runs gave up, "
		"%u retried\n",
		calls, n_gave_up, n_retried);
	free(stopped);
	free(ready);
	free(before);
	tu_failat_free(&f);
	lt_free(&t);
}
END_TEST

/* Add share d to the runner: its source and socket directory not there. */
static void add_d(struct lt *t)
{
	lt_share(t, "d", "dmade/deep", "dsocks/in/d.sock");
}

/* ... and take it away again. */
static void drop_d(struct lt *t)
{
	char *p = tu_path(t->vm.runner, "share/microvm/virtiofs/d");
	tu_rm_rf(p);
	free(p);
	lt_forget_share(t, "d");
}

/* A reload that adds share d (add_d()) to a launcher serving a and b
 * (failat_shares()), whose Nth call that can change the host fails, for
 * every N of a clean reload in turn (as failed_start_step_gives_up_or_
 * retries does for a start). Either the reload is refused as a whole: a
 * line naming what failed, then "unable to reload: the shares stay as
 * they were", READY=1 all the same, a and b served by the same daemons on
 * the same sockets, and the tree as before the reload (nothing of d's
 * left); or the reload is taken and d comes up as in a clean reload, the
 * failed call retried (the pin made at d's start, the record of the
 * writable sources written anew with d's, the fork of its daemon: one
 * line names it), or it was a notification: RELOADING=1 (lost, and
 * nothing else), or READY=1 (lost: one line says so). */
START_TEST(failed_reload_step_refused_or_taken)
{
	static const char *const refused_calls[] = {"mkdirat", "bind", "listen", NULL};
	static const char *const retried[] = {"mkdirat", "write", "renameat", "fork", "sendto",
					      NULL};
	struct lt t;
	lt_init(&t);
	failat_shares(&t, false);
	struct tu_failat f;
	tu_failat_init(&f, t.vm.root);
	t.bin = "tests/virtiofs-launch";
	char *before = tree_listing(&t);
	const char *const count_env[] = {f.preload, f.logenv, NULL};
	t.env = count_env;
	/* The calls of the start alone, then of the start and the reload. */
	lt_start(&t, t.fake, NULL);
	ck_assert_int_ge(lt_wait_msg(&t, 0, "READY=1", 5000), 0);
	all_up(&t, "counting");
	long start_calls = tu_failat_calls(f.log);
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 5000), 0);
	failat_reset(&t, before);
	lt_fresh(&t);
	lt_start(&t, t.fake, NULL);
	int r0 = lt_wait_msg(&t, 0, "READY=1", 5000);
	ck_assert_int_ge(r0, 0);
	all_up(&t, "counting");
	add_d(&t);
	char *before_reload = tree_listing(&t);
	ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
	int rl = lt_wait_msg(&t, (size_t)r0 + 1, "RELOADING=1", 3000);
	ck_assert_int_gt(rl, r0);
	ck_assert_int_gt(lt_wait_msg(&t, (size_t)rl + 1, "READY=1", 3000), rl);
	all_up(&t, "counting");
	long calls = tu_failat_calls(f.log);
	ck_assert_int_gt(calls, start_calls + 5);
	char *reloaded = tree_listing(&t);
	kill(t.pid, SIGTERM);
	ck_assert_int_eq(lt_wait_exit(&t, 5000), 0);
	drop_d(&t);
	failat_reset(&t, before);
	unsigned n_refused = 0, n_taken = 0;
	for (long n = start_calls + 1; n <= calls; n++) {
		const char *errs[4];
		failat_errnos(n, errs);
		for (size_t k = 0; errs[k]; k++) {
			char call[32], what[1024], more[1024];
			tu_failat_at(&f, n, errs[k]);
			const char *const env[] = {f.preload, f.logenv, f.at, f.err, NULL};
			t.env = env;
			lt_fresh(&t);
			lt_start(&t, t.fake, NULL);
			r0 = lt_wait_msg(&t, 0, "READY=1", 5000);
			ck_assert_int_ge(r0, 0);
			all_up(&t, "before the reload");
			pid_t pa = daemon_of(&t, "a"), pb = daemon_of(&t, "b");
			ino_t ia, ib, ia2, ib2;
			check_socket(&t, "a", &ia);
			check_socket(&t, "b", &ib);
			add_d(&t);
			char *now = tree_listing(&t);
			ck_assert_str_eq(now, before_reload);
			free(now);
			ck_assert_int_eq(kill(t.pid, SIGHUP), 0);
			int rd = lt_wait_msg(&t, (size_t)r0 + 1, "READY=1", 3000);
			char *story = lt_story(&t);
			bool refused = strstr(story, "virtiofs-launch: vm1: unable to reload: the "
						     "shares stay as they were\n");
			if (!refused) /* (d's daemon, or a retry of its start, may come last) */
				daemon_of(&t, "d");
			ck_assert_msg(lt_wait_exit(&t, 0) == -1,
				      "reload, call %ld failing with %s: the launcher exited; "
				      "log:\n%s",
				      n, errs[k], story);
			free(story);
			failed_call(f.log, call, sizeof(call));
			unsigned e = error_lines(&t, what, more, sizeof(what));
			char rel[1024];
			ck_assert_msg(!relative_path_in(what, rel, sizeof(rel)) &&
					      !relative_path_in(more, rel, sizeof(rel)),
				      "reload, call %ld (%s) failing with %s: '%s' '%s' name the "
				      "relative path '%s'",
				      n, call, errs[k], what, more, rel);
			ck_assert_int_eq(daemon_of_now(&t, "a"), pa);
			ck_assert_int_eq(daemon_of_now(&t, "b"), pb);
			check_socket(&t, "a", &ia2);
			check_socket(&t, "b", &ib2);
			ck_assert(ia == ia2 && ib == ib2);
			if (refused) {
				ck_assert_msg(rd > r0 && e == 2 && call_in(call, refused_calls),
					      "reload, call %ld (%s) failing with %s: refused, "
					      "READY=1 %d after %d, %u error lines: '%s' '%s'",
					      n, call, errs[k], rd, r0, e, what, more);
				ck_assert_int_eq(daemon_of_now(&t, "d"), 0);
				ck_assert(!oracle_listening(sock_of(&t, "d")));
				now = tree_listing(&t);
				ck_assert_msg(strcmp(now, before_reload) == 0,
					      "reload, call %ld (%s) failing with %s ('%s'), refused: "
					      "left\n%sbefore:\n%s",
					      n, call, errs[k], what, now, before_reload);
				free(now);
				n_refused++;
			} else {
				/* Taken: READY=1 follows, unless that is what was
				 * lost, and then a line says so. */
				bool lost_reloading = e == 0 && strcmp(call, "sendto") == 0;
				ck_assert_msg(lost_reloading || (e == 1 && call_in(call, retried)),
					      "reload, call %ld (%s) failing with %s: taken, %u "
					      "error lines: '%s' '%s'",
					      n, call, errs[k], e, what, more);
				ck_assert_msg(rd > r0 || (e == 1 && strstr(what, "READY=1")),
					      "reload, call %ld (%s) failing with %s: taken, no "
					      "READY=1 after it, and no line says so",
					      n, call, errs[k]);
				all_up(&t, "taken");
				now = tree_listing(&t);
				ck_assert_msg(strcmp(now, reloaded) == 0,
					      "reload, call %ld (%s) failing with %s ('%s'), taken: "
					      "the tree\n%safter a clean reload:\n%s",
					      n, call, errs[k], what, now, reloaded);
				free(now);
				n_taken++;
			}
			kill(t.pid, SIGTERM);
			ck_assert_int_eq(lt_wait_exit(&t, 5000), 0);
			ck_assert_uint_eq(leftovers(&t), 0);
			drop_d(&t);
			failat_reset(&t, before);
		}
	}
	fprintf(stderr,
		"virtiofs: reload failed at each of its %ld changing calls: %u runs refused it, "
		"%u took it\n",
		calls - start_calls, n_refused, n_taken);
	free(reloaded);
	free(before_reload);
	free(before);
	tu_failat_free(&f);
	lt_free(&t);
}
END_TEST

Suite *virtiofs_suite(void)
{
	Suite *s = suite_create("virtiofs");
	TCase *tc = tu_tcase_create("launch");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, usage_errors);
	tcase_add_test(tc, group_name_whole);
	tu_add_test_if(tc, mount_below_source_is_served, tu_need_root());
	tu_add_test_if(tc, socket_in_setgid_dir_refused, tu_need_root());
	tcase_add_test(tc, bad_name_one_error_line);
	add_real_test(tc, three_shares_ready_after_all_listen);
	add_real_test(tc, killed_daemon_comes_back_others_stay);
	tu_add_test_if(tc, source_is_a_file_fails_in_time, need_real());
	add_real_test(tc, sigterm_stops_all);
	add_real_test(tc, sigkill_of_launcher_leaves_no_daemon);
	add_real_test(tc, sighup_adds_removes_keeps);
	add_real_test(tc, client_leaves_daemon_starts_on_next_client);
	add_real_test(tc, sighup_socket_back_while_old_daemon_stops);
	tcase_add_test(tc, reload_held_socket_dir_made_again);
	tcase_add_test(tc, stop_leaves_a_file_put_at_the_socket_path);
	add_real_test(tc, nested_and_outside_sources);
	tu_add_test_if(tc, nested_socket_dirs_own_mounts, tu_need_root());
	add_real_test(tc, read_only_share);
	tu_add_test_if(tc, rust_dialect_argv, tu_need_root());
	tu_add_test_if(tc, c_dialect_argv_and_detection, tu_need_root());
	tu_add_test_if(tc, c_dialect_refuses_what_it_cannot_honour, tu_need_root());
	tu_add_test_if(tc, verbs_name_the_tag_escaped, tu_need_root());
	tu_add_test_if(tc, bad_setting_files, tu_need_root());
	tu_add_test_if(tc, two_shares_one_socket_or_tag, tu_need_root());
	tu_add_test_if(tc, tag_shown_one_way, tu_need_root());
	tu_add_test_if(tc, reload_socket_written_another_way, tu_need_root());
	tu_add_test_if(tc, reload_socket_with_a_dotdot_step_made_anew, tu_need_root());
	tu_add_test_if(tc, socket_dotdot_above_root_stays_in_the_tmpfs, tu_need_root());
	tu_add_test_if(tc, reload_socket_never_usable_refused, tu_need_root());
	tu_add_test_if(tc, reload_applies_settings, tu_need_root());
	tu_add_loop_test_if(tc, reload_bad_new_share_refused, 0, 2, tu_need_root());
	tu_add_loop_test_if(tc, reload_failing_new_share_given_up_alone, 0, 3, tu_need_root());
	tu_add_test_if(tc, reload_before_ready_failing_share_gives_up, tu_need_root());
	tu_add_test_if(tc, reload_before_ready_dirs_go_with_the_start, tu_need_root());
	tu_add_test_if(tc, early_sighup_is_a_reload, tu_need_root());
	tu_add_test_if(tc, start_given_up_removes_its_directories, tu_need_root());
	tu_add_test_if(tc, start_given_up_leaves_a_directory_made_anew, tu_need_root());
	tu_add_test_if(tc, start_given_up_leaves_a_mount_it_cannot_see, tu_need_root());
	tu_add_test_if(tc, start_given_up_leaves_a_directory_another_made, tu_need_root());
	tu_add_test_if(tc, start_given_up_removes_the_runtime_dir_it_made, tu_need_root());
	tu_add_test_if(tc, runtime_dir_made_roots_alone_to_read, tu_need_root());
	tu_add_test_if(tc, chroot_refused_gives_up_cleanly, tu_need_root());
	tu_add_test_if(tc, unknown_dialect_is_an_error, tu_need_root());
	tu_add_test_if(tc, virtiofsd_name_not_on_path_said_so, tu_need_root());
	tu_add_test_if(tc, dialect_from_the_binarys_strings, tu_need_root());
	tu_add_test_if(tc, quick_failures_give_up, tu_need_root());
	tu_add_test_if(tc, daemon_output_relayed_line_by_line, tu_need_root());
	tu_add_test_if(tc, down_too_long_times_out, tu_need_root());
	tu_add_test_if(tc, status_names_the_tag_escaped, tu_need_root());
	tu_add_loop_test_if(tc, share_count_agrees_with_its_noun, 0, 2, tu_need_root());
	tu_add_test_if(tc, newline_tag_refused_before_any_notification, tu_need_root());
	tu_add_test_if(tc, lost_ready_gives_up_at_start_not_after_a_reload, tu_need_root());
	tu_add_test_if(tc, ready_before_daemon_accepts, tu_need_root());
	tu_add_test_if(tc, reload_signal_before_accept_is_sent_again, tu_need_root());
	tu_add_test_if(tc, reload_signal_sent_until_the_daemon_goes, tu_need_root());
	tu_add_test_if(tc, reload_timeout_counts_after_the_old_daemon, tu_need_root());
	tu_add_test_if(tc, stop_during_a_reloads_grace_keeps_its_end, tu_need_root());
	tu_add_test_if(tc, stop_ends_within_the_units_stop_timeout, tu_need_root());
	tu_add_loop_test_if(tc, stop_asks_systemd_for_its_grace, 0, 2, tu_need_root());
	tu_add_test_if(tc, give_up_asks_systemd_for_its_grace, tu_need_root());
	tu_add_test_if(tc, removed_share_waiting_daemon_goes_at_once, tu_need_root());
	tu_add_test_if(tc, socket_to_another_tag_waits_for_the_old_daemon, tu_need_root());
	tu_add_test_if(tc, exit_0_with_client_waiting_fails, tu_need_root());
	tu_add_test_if(tc, failure_after_min_uptime_starts_the_count_again, tu_need_root());
	tu_add_test_if(tc, client_leaving_starts_the_count_again, tu_need_root());
	tu_add_test_if(tc, sigchld_ignored_at_start_still_reaps, tu_need_root());
	tu_add_test_if(tc, stale_sockets, tu_need_root());
	tu_add_test_if(tc, dry_run_changes_nothing, tu_need_root());
	tu_add_test_if(tc, dry_run_lines_are_escaped, tu_need_root());
	tu_add_test_if(tc, dry_run_long_command_whole, tu_need_root());
	tu_add_test_if(tc, no_shares_ready_at_once, tu_need_root());
	tu_add_test_if(tc, source_symlink_refused, tu_need_root());
	tu_add_test_if(tc, source_parent_symlink_refused, tu_need_root());
	tu_add_test_if(tc, socket_dir_symlink_refused, tu_need_root());
	tu_add_loop_test_if(tc, symlink_after_others_dir_refused, 0, 3, tu_need_root());
	tu_add_test_if(tc, symlink_not_roots_refused, tu_need_root());
	tu_add_test_if(tc, symlink_loop_refused, tu_need_root());
	tu_add_test_if(tc, made_directories_0755_whatever_the_umask, tu_need_root());
	tu_add_test_if(tc, runtime_dir_must_be_roots, tu_need_root());
	tu_add_test_if(tc, runtime_dir_in_writable_share_says_why, tu_need_root());
	tu_add_test_if(tc, virtiofsd_missing_interpreter_named, tu_need_root());
	tu_add_test_if(tc, mounts_stay_in_the_launchers_namespace, tu_need_root());
	tu_add_test_if(tc, speed_and_memory, need_real());
	suite_add_tcase(s, tc);
	/* Each call that can change the host failing in turn (failat.so,
	 * preloaded into the launcher built for it: tests/virtiofs-launch). */
	tc = tu_tcase_create("failat");
	tcase_set_timeout(tc, 300);
	tu_add_test_if(tc, failed_start_step_gives_up_or_retries, tu_need_root());
	tu_add_test_if(tc, failed_reload_step_refused_or_taken, tu_need_root());
	tu_add_test_if(tc, failed_runtime_dir_step_leaves_no_directory, tu_need_root());
	tu_add_test_if(tc, failed_runtime_dir_open_leaves_no_directory, tu_need_root());
	tu_add_test_if(tc, failed_read_only_mount_serves_nothing, tu_need_root());
	tu_add_test_if(tc, failed_host_namespace_open_makes_nothing, tu_need_root());
	tu_add_test_if(tc, failed_writable_note_refuses_the_start, tu_need_root());
	tu_add_test_if(tc, failed_socket_removal_is_said, tu_need_root());
	tu_add_test_if(tc, failed_removal_of_a_wrong_socket_is_said, tu_need_root());
	tu_add_test_if(tc, failed_chroot_step_names_its_path, tu_need_root());
	suite_add_tcase(s, tc);
	/* The VM user's attacks: each failed on the code before issue 12. */
	tc = tu_tcase_create("attack");
	tcase_set_timeout(tc, 60);
	add_real_test(tc, attack_source_swapped_after_ready);
	add_real_test(tc, attack_socket_chown_symlink);
	tu_add_test_if(tc, attack_state_dir_symlink, tu_need_root());
	tu_add_test_if(tc, attack_forged_unix_line, tu_need_root());
	tu_add_test_if(tc, attack_listener_in_other_netns, tu_need_root());
	tu_add_test_if(tc, attack_fuse_dir_shown_roots, tu_need_bindfs());
	tu_add_test_if(tc, virtiofs_dir_link_followed, tu_need_bindfs());
	tu_add_test_if(tc, attack_read_only_pin_gets_later_mount, tu_need_root());
	tu_add_loop_test_if(tc, attack_writable_share_through_an_alias, 0, 2, tu_need_root());
	tu_add_loop_test_if(tc, attack_writable_share_noted_past_a_missing_step, 0, 2, tu_need_root());
	tu_add_test_if(tc, attack_writable_source_made_by_the_start, tu_need_root());
	tu_add_test_if(tc, writable_source_missing_notes_not_its_parent, tu_need_root());
	tu_add_test_if(tc, read_only_source_not_noted, tu_need_root());
	tu_add_loop_test_if(tc, attack_share_inside_another_vms_writable_share, 0, 3, tu_need_root());
	tu_add_test_if(tc, attack_socket_inside_another_vms_writable_share, tu_need_root());
	tu_add_test_if(tc, share_inside_another_vms_read_only_share_served, tu_need_root());
	tu_add_test_if(tc, other_vm_unreadable_runner_named, tu_need_root());
	tu_add_test_if(tc, other_vm_dir_on_stalled_fuse_passed_over, tu_need_bindfs());
	tu_add_test_if(tc, other_vm_source_in_its_dir_not_walked, tu_need_bindfs());
	tu_add_test_if(tc, other_vm_current_on_stalled_fuse_passed_over, tu_need_bindfs());
	tu_add_test_if(tc, other_vm_source_on_stalled_fuse_not_walked, tu_need_bindfs());
	suite_add_tcase(s, tc);
	/* What another VM's launcher serves writable, which its runner may no
	 * longer say: the records of served.c. */
	tc = tu_tcase_create("served");
	tcase_set_timeout(tc, 60);
	tu_add_loop_test_if(tc, attack_share_inside_a_writable_share_another_launcher_serves, 0, 3,
			    tu_need_root());
	tu_add_test_if(tc, writable_record_while_served, tu_need_root());
	tu_add_test_if(tc, writable_record_follows_a_reload, tu_need_root());
	tu_add_loop_test_if(tc, bad_records_passed_over, 0, 4, tu_need_root());
	tu_add_test_if(tc, attack_record_too_large_for_the_others, tu_need_root());
	suite_add_tcase(s, tc);
	/* A writable share of the state dir, a VM's directory or one above
	 * them: each started before (READY=1), a guest's root then free to
	 * make a VM's `current` of host uid 0. */
	tc = tu_tcase_create("vmdirs");
	tcase_set_timeout(tc, 60);
	tu_add_loop_test_if(tc, attack_writable_share_of_the_vms_directories, 0,
			    (int)ARRAY_SIZE(dir_of_vms), tu_need_root());
	tu_add_test_if(tc, attack_writable_share_of_a_vms_directory_by_a_reload, tu_need_root());
	tu_add_test_if(tc, writable_share_below_a_vms_directory_served, tu_need_root());
	suite_add_tcase(s, tc);
	return s;
}
