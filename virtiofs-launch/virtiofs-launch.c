/* SPDX-License-Identifier: MIT */
/* virtiofs-launch: one supervised virtiofsd per virtiofs share of a VM,
 * the main process of microvm-virtiofsd@NAME.service (Type=notify).
 *
 * One process, one loop (after s6-supervise): signals arrive through a
 * signalfd; the directories of the sockets are watched with inotify, and
 * whether a socket listens is read from PROCFS/net/unix, never learnt by
 * connecting (virtiofsd serves one client and exits when it leaves).
 * READY=1 goes out when every socket has listened. Each child writes its
 * stdout and stderr into a pipe of its own, whose lines are logged with
 * the share's tag. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "log.h"
#include "notify.h"
#include "spawn.h"
#include "util.h"
#include "vm.h"

static const char help_text[] =
	"Starts one virtiofsd per share/microvm/virtiofs/TAG of the VM's runner\n"
	"package (STATE_DIR/NAME/current), restarts it when it exits, and tells\n"
	"systemd READY=1 once every socket listens. SIGHUP re-reads the shares,\n"
	"SIGTERM stops every daemon.\n"
	"\n"
	"Options:\n"
	"  --virtiofsd PATH        the daemon (default: virtiofsd on $PATH, then\n"
	"                          /usr/libexec/virtiofsd, /usr/lib/qemu/virtiofsd)\n"
	"  --virtiofsd-dialect D   its command line: rust or c (default: told from\n"
	"                          its --help)\n"
	"  --thread-pool-size N    threads a daemon (default: the number of CPUs)\n"
	"  --rlimit-nofile N       a daemon's open file limit (default: its own)\n"
	"  --extra-arg ARG         one more argument for every daemon; repeatable\n"
	"  --timeout TIME          a share must listen within this (default 10s)\n"
	"  --max-failures N        quick failures in a row before giving up (default 5)\n"
	"  --min-uptime TIME       a failure sooner after the start is quick (default 10s)\n"
	"  --restart-delay TIME    wait before the 2nd quick restart, doubling each\n"
	"                          time (default 100ms; the 1st is at once)\n"
	"  --grace TIME            on stop, SIGKILL what is left after this (default 5s)\n"
	"TIME is seconds, or a number with ms, s or min.\n"
	"--user is accepted and ignored: the daemons run as root; --group names the\n"
	"group of the sockets (a name: virtiofsd resolves it itself).\n";

enum dialect {
	DIALECT_AUTO,
	DIALECT_RUST, /* virtiofsd 1.x (Rust; NixOS, Debian 13) */
	DIALECT_C,    /* QEMU's tools/virtiofsd (Debian 12) */
};

enum {
	OPT_VIRTIOFSD = CLI_TOOL_OPT,
	OPT_DIALECT,
	OPT_THREADS,
	OPT_RLIMIT,
	OPT_EXTRA,
	OPT_TIMEOUT,
	OPT_MAX_FAILURES,
	OPT_MIN_UPTIME,
	OPT_RESTART_DELAY,
	OPT_GRACE,
};

static const struct option options[] = {
	{"virtiofsd", required_argument, NULL, OPT_VIRTIOFSD},
	{"virtiofsd-dialect", required_argument, NULL, OPT_DIALECT},
	{"thread-pool-size", required_argument, NULL, OPT_THREADS},
	{"rlimit-nofile", required_argument, NULL, OPT_RLIMIT},
	{"extra-arg", required_argument, NULL, OPT_EXTRA},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"max-failures", required_argument, NULL, OPT_MAX_FAILURES},
	{"min-uptime", required_argument, NULL, OPT_MIN_UPTIME},
	{"restart-delay", required_argument, NULL, OPT_RESTART_DELAY},
	{"grace", required_argument, NULL, OPT_GRACE},
	{0},
};

struct settings {
	const char *virtiofsd;
	enum dialect dialect;
	long threads, rlimit; /* -1: not given */
	const char **extra;
	size_t n_extra;
	long long timeout, min_uptime, restart_delay, grace; /* ms */
	unsigned long max_failures;
};

static int handle(int opt, const char *arg, void *userdata);

static const struct cli_tool tool = {
	.name = "virtiofs-launch",
	.synopsis = "[OPTIONS] NAME",
	.summary = "Run and supervise one virtiofsd per virtiofs share of VM NAME.",
	.help = help_text,
	.flags = CLI_IDS | CLI_PROCFS | CLI_UNTRUSTED,
	.options = options,
	.handle = handle,
};

/* The longest back-off between two restarts. */
#define RESTART_DELAY_MAX 30000LL
/* How often a starting share's socket is looked up at most, when no
 * inotify event came (bind() makes one, listen() none). */
#define RECHECK_MAX 100LL

/* "10", "10s", "500ms", "2min" in milliseconds, at most a day. */
static int parse_time(const char *s, long long *ms)
{
	size_t n = strspn(s, "0123456789");
	const char *unit = s + n;
	long long mult;
	if (!*unit || strcmp(unit, "s") == 0)
		mult = 1000;
	else if (strcmp(unit, "ms") == 0)
		mult = 1;
	else if (strcmp(unit, "min") == 0)
		mult = 60000;
	else
		return -EINVAL;
	char num[16];
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	unsigned long v;
	int r = parse_uint(num, (unsigned long)(86400000LL / mult), &v);
	if (r < 0)
		return r;
	*ms = (long long)v * mult;
	return 0;
}

static int handle(int opt, const char *arg, void *userdata)
{
	struct settings *s = userdata;
	unsigned long v;
	const char **x;
	switch (opt) {
	case OPT_VIRTIOFSD:
		s->virtiofsd = arg;
		return 0;
	case OPT_DIALECT:
		if (strcmp(arg, "rust") == 0)
			s->dialect = DIALECT_RUST;
		else if (strcmp(arg, "c") == 0)
			s->dialect = DIALECT_C;
		else
			break;
		return 0;
	case OPT_THREADS:
	case OPT_RLIMIT:
		if (parse_uint(arg, opt == OPT_THREADS ? 1024 : 1UL << 30, &v) < 0)
			break;
		*(opt == OPT_THREADS ? &s->threads : &s->rlimit) = (long)v;
		return 0;
	case OPT_MAX_FAILURES:
		if (parse_uint(arg, 1000, &v) < 0 || v == 0)
			break;
		s->max_failures = v;
		return 0;
	case OPT_EXTRA:
		x = realloc(s->extra, (s->n_extra + 1) * sizeof(*x));
		if (!x) {
			log_err("unable to parse the command line: %s", strerror(ENOMEM));
			return -ENOMEM;
		}
		x[s->n_extra++] = arg;
		s->extra = x;
		return 0;
	case OPT_TIMEOUT:
	case OPT_MIN_UPTIME:
	case OPT_RESTART_DELAY:
	case OPT_GRACE:
		if (parse_time(arg, opt == OPT_TIMEOUT	       ? &s->timeout
				    : opt == OPT_MIN_UPTIME    ? &s->min_uptime
				    : opt == OPT_RESTART_DELAY ? &s->restart_delay
							       : &s->grace) < 0)
			break;
		return 0;
	default:
		return -EINVAL;
	}
	for (const struct option *o = options; o->name; o++)
		if (o->val == opt)
			cli_usage_error(&tool, "invalid value for --%s: '%s'", o->name, arg);
	return -EINVAL;
}

/* "1500ms", "2s" for messages. */
static const char *time_str(long long ms, char *buf, size_t size)
{
	if (ms % 1000 == 0)
		snprintf(buf, size, "%llds", ms / 1000);
	else
		snprintf(buf, size, "%lldms", ms);
	return buf;
}

/* ---- the supervisor's state ---- */

enum state {
	ST_WAIT,     /* to be started at start_at */
	ST_STARTING, /* started; its socket does not listen yet */
	ST_UP,	     /* its socket listened (it may be serving a VM now) */
	ST_STOPPING, /* SIGTERM sent; SIGKILL at kill_at */
	ST_DOWN,     /* stopped for good (the launcher is stopping) */
};

struct child {
	struct share sh; /* tag, source, socket (owned) */
	enum state st;
	pid_t pid;     /* 0: not running */
	int out;       /* read end of its stdout and stderr, -1: none */
	bool removed;  /* dropped by a reload: forgotten once it exited */
	bool killed;   /* SIGKILL sent */
	unsigned failures;   /* quick failures in a row */
	long long started;   /* its last start */
	long long down_since;/* since when it should have been listening */
	long long start_at, kill_at;
	size_t llen;
	char line[256]; /* a partial line of its output */
};

static struct {
	struct cli c;
	struct settings set;
	const char *name;
	struct vm vm;
	char *virtiofsd;
	enum dialect dialect;
	char *group;	  /* name of the sockets' group */
	char *unix_path;  /* PROCFS/net/unix */
	char *state_real; /* realpath of the state dir ("" for /) */
	int state_fd;	  /* it, O_PATH */
	int sfd, ifd;	  /* signalfd, inotify */
	struct child **v;
	size_t n;
	bool stopping, fatal, ready_pending;
	long long recheck_at, recheck_step;
	size_t status_up, status_total; /* what STATUS= said last */
	bool status_sent;
} S = {.sfd = -1, .ifd = -1, .state_fd = -1};

static const char *const no_notify[] = {"NOTIFY_SOCKET", NULL};

static void child_free(struct child *ch)
{
	if (!ch)
		return;
	if (ch->out >= 0)
		close(ch->out);
	free(ch->sh.tag);
	free(ch->sh.source);
	free(ch->sh.socket);
	free(ch);
}

/* Take over the strings of *sh. */
static struct child *child_add(struct share *sh, long long now)
{
	struct child **v = realloc(S.v, (S.n + 1) * sizeof(*v));
	struct child *ch = calloc(1, sizeof(*ch));
	if (v)
		S.v = v;
	if (!v || !ch) {
		free(ch);
		return NULL;
	}
	ch->sh = *sh;
	*sh = (struct share){0};
	ch->out = -1;
	ch->st = ST_WAIT;
	ch->start_at = now;
	ch->down_since = now;
	S.v[S.n++] = ch;
	return ch;
}

static void child_remove(size_t i)
{
	child_free(S.v[i]);
	memmove(&S.v[i], &S.v[i + 1], (S.n - i - 1) * sizeof(*S.v));
	S.n--;
}

/* ---- which sockets listen: PROCFS/net/unix ----
 * "Num RefCount Protocol Flags Type St Inode Path", a line a socket; a
 * listening socket has __SO_ACCEPTCON (0x10000) in Flags. The path is the
 * rest of the line (it may hold spaces). */
#define SO_ACCEPTCON_FLAG 0x10000UL

typedef void listener_fn(const char *path, void *ud);

static void unix_line(const char *l, listener_fn *fn, void *ud)
{
	unsigned long flags = 0;
	/* Seven fields, each after blanks; Flags is the fourth. */
	for (int f = 0; f < 7; f++) {
		l += strspn(l, " ");
		const char *end = l + strcspn(l, " ");
		if (end == l)
			return;
		if (f == 3)
			flags = strtoul(l, NULL, 16);
		l = end;
	}
	if ((flags & SO_ACCEPTCON_FLAG) && l[0] == ' ')
		fn(l + 1, ud);
}

static int unix_listeners(listener_fn *fn, void *ud)
{
	int fd = open(S.unix_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[4096];
	size_t len = 0;
	bool header = true, skip = false;
	int r = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
		char *p = buf, *nl;
		while ((nl = memchr(p, '\n', (size_t)(buf + len - p)))) {
			*nl = '\0';
			if (!header && !skip)
				unix_line(p, fn, ud);
			header = skip = false;
			p = nl + 1;
		}
		if (n == 0) {
			if (p < buf + len && !header && !skip)
				unix_line(p, fn, ud);
			break;
		}
		len -= (size_t)(p - buf);
		memmove(buf, p, len);
		if (len == sizeof(buf) - 1) { /* longer than any socket's line */
			skip = true;
			len = 0;
		}
	}
	close(fd);
	return r;
}

static void match_one(const char *path, void *ud)
{
	const char **want = ud;
	if (*want && strcmp(path, *want) == 0)
		*want = NULL;
}

/* 1 when a socket listens on path, 0 when none does, or -errno. */
static int listening(const char *path)
{
	const char *want = path;
	int r = unix_listeners(match_one, &want);
	return r < 0 ? r : want == NULL;
}

static void mark_up(const char *path, void *ud)
{
	long long now = *(long long *)ud;
	for (size_t i = 0; i < S.n; i++) {
		struct child *ch = S.v[i];
		if (ch->st == ST_STARTING && strcmp(path, ch->sh.socket) == 0) {
			ch->st = ST_UP;
			log_debug("share '%s': listening, %lld ms after its start", ch->sh.tag,
				  now - ch->started);
		}
	}
}

static bool any_starting(void)
{
	for (size_t i = 0; i < S.n; i++)
		if (S.v[i]->st == ST_STARTING)
			return true;
	return false;
}

/* Look for the sockets of the starting shares. */
static void scan(void)
{
	if (!any_starting())
		return;
	long long now = now_ms();
	int r = unix_listeners(mark_up, &now);
	if (r < 0)
		log_debug("unable to read '%s': %s", S.unix_path, strerror(-r));
}

/* Look again soon (a socket is bound before it listens). */
static void recheck_soon(void)
{
	S.recheck_step = 1;
	S.recheck_at = now_ms() + 1;
}

/* ---- the daemon's command line ---- */

/* "source=" + path, with ',' and '\' escaped for the C dialect's -o
 * option list (fuse_opt). */
static char *c_source_opt(const char *path)
{
	size_t n = strlen("source=") + 2 * strlen(path) + 1;
	char *s = malloc(n), *d;
	if (!s)
		return NULL;
	d = stpcpy(s, "source=");
	for (const char *p = path; *p; p++) {
		if (*p == ',' || *p == '\\')
			*d++ = '\\';
		*d++ = *p;
	}
	*d = '\0';
	return s;
}

static void argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

static char **make_argv(const struct share *sh)
{
	size_t max = 16 + S.set.n_extra, n = 0;
	char **a = calloc(max, sizeof(*a));
	if (!a)
		return NULL;
	bool ok = true;
#define ADD(expr)                              \
	do {                                   \
		if (ok && !(a[n++] = (expr))) \
			ok = false;           \
	} while (0)
	ADD(strdup(S.virtiofsd));
	ADD(xasprintf("--socket-path=%s", sh->socket));
	ADD(xasprintf("--socket-group=%s", S.group));
	if (S.dialect == DIALECT_RUST) {
		ADD(xasprintf("--shared-dir=%s", sh->source));
		ADD(xasprintf("--thread-pool-size=%ld", S.set.threads));
		ADD(strdup("--posix-acl"));
		ADD(strdup("--xattr"));
	} else {
		ADD(strdup("-o"));
		ADD(c_source_opt(sh->source));
		ADD(xasprintf("--thread-pool-size=%ld", S.set.threads));
		ADD(strdup("-o"));
		ADD(strdup("xattr"));
		ADD(strdup("-o"));
		ADD(strdup("posix_acl"));
	}
	if (S.set.rlimit >= 0)
		ADD(xasprintf("--rlimit-nofile=%ld", S.set.rlimit));
	for (size_t i = 0; i < S.set.n_extra; i++)
		ADD(strdup(S.set.extra[i]));
#undef ADD
	if (!ok) {
		argv_free(a);
		return NULL;
	}
	return a;
}

/* argv as a shell would need it quoted, for messages only. */
static void argv_str(char *const *argv, char *buf, size_t size)
{
	size_t k = 0;
	buf[0] = '\0';
	for (size_t i = 0; argv[i] && k + 1 < size; i++) {
		const char *s = argv[i];
		bool plain = s[0] && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					       "0123456789_./=:,@+-%") == strlen(s);
		if (i)
			buf[k++] = ' ';
		if (!plain && k + 1 < size)
			buf[k++] = '\'';
		for (; *s && k + 5 < size; s++) {
			if (*s == '\'' && !plain) {
				memcpy(buf + k, "'\\''", 4);
				k += 4;
			} else {
				buf[k++] = *s;
			}
		}
		if (!plain && k + 1 < size)
			buf[k++] = '\'';
		buf[k] = '\0';
	}
}

/* ---- paths in the state dir ----
 * STATE/NAME belongs to the VM user (microvm), who can replace any
 * directory in it by a symlink (to / say) and then make the guest
 * disconnect, so that the next start of virtiofsd, as root, would export
 * the symlink's target. A source or socket directory in the state dir is
 * therefore made and opened one component at a time from a descriptor of
 * the state dir (root's), and a symlink anywhere below it is refused.
 * Paths outside the state dir are the administrator's choice and are
 * used as they are. */

static const char symlink_reason[] =
	"a symlink in the VM's directory (refused: the VM user could point it anywhere)";

/* path relative to the state dir when it lies in it, else NULL. */
static const char *in_state_dir(const char *path)
{
	size_t n = strlen(S.state_real);
	if (strncmp(path, S.state_real, n) != 0 || path[n] != '/')
		return NULL;
	const char *rel = path + n + strspn(path + n, "/");
	return *rel ? rel : NULL;
}

/* The directory name in dfd, never through a symlink. */
static int open_dir_at(int dfd, const char *name)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dfd, name, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS) /* Linux < 5.6; one component: as safe */
		fd = openat(dfd, name, (int)how.flags);
	return (int)fd;
}

/* rel (in the state dir) as an O_PATH descriptor, its missing components
 * made when create. Without create, -ENOENT (e untouched) when one is
 * missing. Otherwise -errno with e filled: verb, path (the whole path). */
static int open_in_state_dir(const char *rel, bool create, const char *verb, const char *path,
			     struct mvm_error *e)
{
	int dfd = -1; /* -1: S.state_fd */
	int err = 0;
	const char *reason = NULL;
	char comp[NAME_MAX + 1];
	for (const char *p = rel;;) {
		p += strspn(p, "/");
		size_t n = strcspn(p, "/");
		if (n == 0)
			break;
		if (n > NAME_MAX) {
			err = ENAMETOOLONG;
			break;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			err = EINVAL;
			reason = "'..' in a path in the VM's directory";
			break;
		}
		int at = dfd >= 0 ? dfd : S.state_fd;
		if (create && mkdirat(at, comp, 0755) < 0 && errno != EEXIST) {
			err = errno;
			break;
		}
		int nfd = open_dir_at(at, comp);
		if (nfd < 0) {
			err = errno;
			struct stat st;
			if (fstatat(at, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				reason = symlink_reason;
			break;
		}
		if (dfd >= 0)
			close(dfd);
		dfd = nfd;
	}
	if (!err && dfd < 0 && (dfd = fcntl(S.state_fd, F_DUPFD_CLOEXEC, 3)) < 0)
		err = errno;
	if (!err)
		return dfd;
	if (dfd >= 0)
		close(dfd);
	if (!create && err == ENOENT)
		return -ENOENT;
	return mvm_error_set(e, err, verb, path, reason);
}

/* ---- starting a share ---- */

/* Source directory, socket directory (watched), stale socket. With
 * dry_run, only say what would be done. 0, or -errno with e filled (its
 * verb names the share: a static buffer, valid until the next call). */
static int prepare(const struct share *sh, bool dry_run, struct mvm_error *e)
{
	static char vsrc[NAME_MAX + 32], vsock[NAME_MAX + 32];
	snprintf(vsrc, sizeof(vsrc), "use share '%s' source", sh->tag);
	snprintf(vsock, sizeof(vsock), "use share '%s' socket", sh->tag);
	struct stat st;
	int r;
	if (strlen(sh->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return mvm_error_set(e, ENAMETOOLONG, vsock, sh->socket, NULL);
	const char *rel = in_state_dir(sh->source);
	if (rel) {
		r = open_in_state_dir(rel, !dry_run, vsrc, sh->source, e);
		if (dry_run && r == -ENOENT)
			log_action("create directory '%s'", sh->source);
		else if (r < 0)
			return r;
		else
			close(r);
	} else if (dry_run) {
		if (stat(sh->source, &st) < 0)
			log_action("create directory '%s'", sh->source);
	} else if ((r = mkdir_p(sh->source, 0755)) < 0) {
		return mvm_error_set(e, -r, vsrc, sh->source, NULL);
	}
	/* The socket's directory: in the state dir, a descriptor of it. */
	const char *slash = strrchr(sh->socket, '/'), *base = slash + 1;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%.*s", slash == sh->socket ? 1 : (int)(slash - sh->socket),
		 sh->socket);
	int dfd = AT_FDCWD;
	rel = in_state_dir(dir);
	if (rel) {
		r = open_in_state_dir(rel, !dry_run, vsock, sh->socket, e);
		if (dry_run && r == -ENOENT)
			return 0; /* (dry run) no directory, no stale socket */
		if (r < 0)
			return r;
		dfd = r;
	} else {
		base = sh->socket;
		if (!dry_run && (r = mkdir_p(dir, 0755)) < 0)
			return mvm_error_set(e, -r, vsock, dir, NULL);
	}
	r = 0;
	if (!dry_run && inotify_add_watch(S.ifd, dir,
					  IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR |
						  IN_DONT_FOLLOW) < 0) {
		r = mvm_error_set(e, errno, "watch", dir, NULL);
		goto out;
	}
	/* A stale socket: never through a symlink (fstatat, unlinkat). */
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			r = mvm_error_set(e, errno, vsock, sh->socket, NULL);
		goto out;
	}
	if (!S_ISSOCK(st.st_mode)) {
		r = mvm_error_set(e, EEXIST, vsock, sh->socket, "it exists and is not a socket");
		goto out;
	}
	r = listening(sh->socket);
	if (r < 0) {
		r = mvm_error_set(e, -r, "read", S.unix_path, NULL);
		goto out;
	}
	if (r > 0) {
		r = mvm_error_set(e, EADDRINUSE, vsock, sh->socket,
				  "another process listens on it");
		goto out;
	}
	if (dry_run) {
		log_action("remove stale socket '%s'", sh->socket);
		goto out;
	}
	if (unlinkat(dfd, base, 0) < 0 && errno != ENOENT) {
		r = mvm_error_set(e, errno, "remove stale socket", sh->socket, NULL);
		goto out;
	}
	log_debug("share '%s': removed stale socket '%s'", sh->tag, sh->socket);
out:
	if (dfd >= 0)
		close(dfd);
	return r;
}

static void begin_shutdown(bool fatal);

/* A start that failed or a daemon that did not stay: restart it, at once
 * the first time, with a doubling back-off after that; give up after
 * max_failures quick ones in a row. */
static void failed(struct child *ch, long long now)
{
	ch->st = ST_WAIT;
	ch->failures = now - ch->started < S.set.min_uptime ? ch->failures + 1 : 1;
	if (ch->failures >= S.set.max_failures) {
		log_err("unable to start share '%s': it failed %u times in a row", ch->sh.tag,
			ch->failures);
		notifyf("STATUS=share '%s' failed %u times in a row", ch->sh.tag, ch->failures);
		begin_shutdown(true);
		return;
	}
	long long delay = 0;
	if (ch->failures > 1) {
		delay = S.set.restart_delay;
		for (unsigned k = 2; k < ch->failures && delay < RESTART_DELAY_MAX; k++)
			delay *= 2;
		if (delay > RESTART_DELAY_MAX)
			delay = RESTART_DELAY_MAX;
	}
	ch->start_at = now + delay;
	if (delay) {
		char t[32];
		log_info("share '%s': starting again in %s", ch->sh.tag,
			 time_str(delay, t, sizeof(t)));
	}
}

static void start(struct child *ch)
{
	struct mvm_error e = {0};
	char msg[PATH_MAX + 512];
	long long now = now_ms();
	ch->started = now;
	char **argv = NULL;
	int p[2] = {-1, -1};
	int r = prepare(&ch->sh, false, &e);
	bool named = r < 0; /* prepare's messages name the share */
	if (r == 0 && !(argv = make_argv(&ch->sh)))
		r = mvm_error_set(&e, ENOMEM, "start", S.virtiofsd, NULL);
	if (r == 0 && pipe2(p, O_CLOEXEC) < 0)
		r = mvm_error_set(&e, errno, "start", S.virtiofsd, NULL);
	if (r == 0) {
		struct spawn_opts o = SPAWN_OPTS_INIT;
		o.stdout_fd = p[1];
		o.stderr_fd = p[1];
		o.pdeathsig = true;
		o.unset_env = no_notify;
		pid_t pid = spawn(argv, &o, &e);
		if (pid < 0) {
			r = pid;
		} else {
			ch->pid = pid;
			ch->out = p[0];
			p[0] = -1;
			fcntl(ch->out, F_SETFL, O_NONBLOCK);
			ch->st = ST_STARTING;
			ch->killed = false;
			ch->llen = 0;
			if (log_get_verbose() > 0) {
				argv_str(argv, msg, sizeof(msg));
				log_debug("share '%s': started pid %d: %s", ch->sh.tag, pid, msg);
			}
			recheck_soon();
		}
	}
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	argv_free(argv);
	if (r < 0) {
		if (named) {
			log_error_info(&e);
		} else {
			mvm_error_format(&e, msg, sizeof(msg));
			log_err("share '%s': %s", ch->sh.tag, msg);
		}
		failed(ch, now);
	}
}

static void stop(struct child *ch, long long now)
{
	if (ch->pid > 0)
		kill(ch->pid, SIGTERM);
	ch->st = ST_STOPPING;
	ch->kill_at = now + S.set.grace;
	ch->killed = false;
}

static void begin_shutdown(bool fatal)
{
	S.fatal |= fatal;
	if (S.stopping)
		return;
	S.stopping = true;
	notify(fatal ? "STOPPING=1" : "STOPPING=1\nSTATUS=stopping");
	long long now = now_ms();
	for (size_t i = 0; i < S.n; i++) {
		struct child *ch = S.v[i];
		if (ch->pid > 0)
			stop(ch, now);
		else
			ch->st = ST_DOWN;
	}
}

/* ---- the children's output, a line at a time with the tag ---- */

static void flush_line(struct child *ch)
{
	if (ch->llen == 0)
		return;
	size_t n = ch->llen;
	if (ch->line[n - 1] == '\r')
		n--;
	log_info("%s: %.*s", ch->sh.tag, (int)n, ch->line);
	ch->llen = 0;
}

/* Read what is there (all of it when all), log complete lines. */
static void read_output(struct child *ch, bool all)
{
	char buf[1024];
	while (ch->out >= 0) {
		ssize_t n = read(ch->out, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			flush_line(ch);
			close(ch->out);
			ch->out = -1;
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				flush_line(ch);
				continue;
			}
			ch->line[ch->llen++] = buf[i];
			if (ch->llen == sizeof(ch->line))
				flush_line(ch);
		}
		if (!all)
			return;
	}
}

/* ---- readiness ---- */

static void update_status(void)
{
	if (S.stopping)
		return;
	size_t up = 0, total = 0;
	bool leaving = false;
	for (size_t i = 0; i < S.n; i++) {
		if (S.v[i]->removed) {
			leaving = true;
			continue;
		}
		total++;
		up += S.v[i]->st == ST_UP;
	}
	if (S.ready_pending && up == total && !leaving) {
		S.ready_pending = false;
		notifyf("READY=1\nSTATUS=%zu of %zu shares up", up, total);
		log_debug("ready: %zu shares up", up);
	} else if (S.status_sent && up == S.status_up && total == S.status_total) {
		return;
	} else {
		notifyf("STATUS=%zu of %zu shares up", up, total);
	}
	S.status_sent = true;
	S.status_up = up;
	S.status_total = total;
}

/* ---- events ---- */

static void describe_exit(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "was killed by signal %d (SIG%s)", WTERMSIG(status),
			 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
	else
		snprintf(buf, size, "ended (wait status 0x%x)", (unsigned)status);
}

static void child_exited(size_t i, int status)
{
	struct child *ch = S.v[i];
	pid_t pid = ch->pid;
	long long now = now_ms();
	char why[96];
	read_output(ch, true);
	if (ch->out >= 0) { /* a grandchild holds the pipe: let it go */
		close(ch->out);
		ch->out = -1;
	}
	ch->pid = 0;
	describe_exit(status, why, sizeof(why));
	if (ch->removed) {
		log_debug("share '%s': virtiofsd (pid %d) %s", ch->sh.tag, pid, why);
		child_remove(i);
		return;
	}
	if (S.stopping) {
		log_debug("share '%s': virtiofsd (pid %d) %s", ch->sh.tag, pid, why);
		ch->st = ST_DOWN;
		return;
	}
	bool was_up = ch->st == ST_UP;
	if (was_up)
		ch->down_since = now;
	if (was_up && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		/* Its VM disconnected (stopped or rebooting): be there for the next. */
		log_info("share '%s': virtiofsd (pid %d) exited, its client left; starting it again",
			 ch->sh.tag, pid);
		ch->failures = 0;
		ch->st = ST_WAIT;
		ch->start_at = now;
		return;
	}
	log_warn("share '%s': virtiofsd (pid %d) %s", ch->sh.tag, pid, why);
	failed(ch, now);
}

static void reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < S.n; i++)
			if (S.v[i]->pid == pid) {
				child_exited(i, status);
				break;
			}
	}
}

static bool socket_busy(const struct child *ch)
{
	for (size_t i = 0; i < S.n; i++)
		if (S.v[i] != ch && S.v[i]->pid > 0 && strcmp(S.v[i]->sh.socket, ch->sh.socket) == 0)
			return true;
	return false;
}

/* SIGHUP: the runner behind `current` may have changed. Shares with the
 * same tag, source and socket keep their daemon. */
static void reload(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	notifyf("RELOADING=1\nMONOTONIC_USEC=%llu",
		(unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	struct mvm_error e = {0};
	struct vm nv;
	struct share_list l = {0};
	int r = vm_open(&nv, S.c.state_dir, S.name, VM_CURRENT, S.c.allow_untrusted, &e);
	if (r == 0) {
		r = vm_shares(&nv, &l, &e);
		if (r < 0)
			vm_close(&nv);
	}
	S.ready_pending = true;
	if (r < 0) {
		log_error_info(&e);
		log_err("unable to reload: the shares stay as they were");
		return;
	}
	vm_close(&S.vm);
	S.vm = nv;
	long long now = now_ms();
	for (size_t i = 0; i < S.n;) {
		struct child *ch = S.v[i];
		struct share *keep = NULL;
		for (size_t j = 0; j < l.n && !ch->removed; j++)
			if (l.v[j].tag && strcmp(l.v[j].tag, ch->sh.tag) == 0 &&
			    strcmp(l.v[j].source, ch->sh.source) == 0 &&
			    strcmp(l.v[j].socket, ch->sh.socket) == 0)
				keep = &l.v[j];
		if (keep) {
			free(keep->tag);
			free(keep->source);
			free(keep->socket);
			*keep = (struct share){0};
			i++;
			continue;
		}
		if (!ch->removed)
			log_info("share '%s': removed or changed, stopping it", ch->sh.tag);
		ch->removed = true;
		if (ch->pid > 0) {
			if (ch->st != ST_STOPPING)
				stop(ch, now);
			i++;
		} else {
			child_remove(i);
		}
	}
	for (size_t j = 0; j < l.n; j++) {
		if (!l.v[j].tag)
			continue;
		log_info("share '%s': new", l.v[j].tag);
		if (!child_add(&l.v[j], now)) {
			log_err("unable to reload: %s", strerror(ENOMEM));
			begin_shutdown(true);
			break;
		}
	}
	share_list_free(&l);
}

static void on_signals(void)
{
	struct signalfd_siginfo si;
	bool chld = false;
	while (read(S.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			chld = true;
			break;
		case SIGTERM:
		case SIGINT:
			log_debug("signal %u: stopping", si.ssi_signo);
			begin_shutdown(false);
			break;
		case SIGHUP:
			if (!S.stopping)
				reload();
			break;
		default:
			break;
		}
	}
	if (chld)
		reap();
}

/* Run what is due; returns the next deadline (LLONG_MAX: none). */
static long long timers(void)
{
	long long now = now_ms(), next = LLONG_MAX;
	char t[32];
	for (size_t i = 0; i < S.n; i++) {
		struct child *ch = S.v[i];
		if (ch->st == ST_WAIT && !S.stopping && !ch->removed) {
			if (now >= ch->start_at && !socket_busy(ch))
				start(ch);
			/* (a failed start may be due again at once) */
			if (ch->st == ST_WAIT && !S.stopping && !socket_busy(ch) &&
			    ch->start_at < next)
				next = ch->start_at;
		}
		if (ch->st == ST_STOPPING && ch->pid > 0 && !ch->killed) {
			if (now >= ch->kill_at) {
				log_warn("share '%s': virtiofsd (pid %d) still there after %s, killing it",
					 ch->sh.tag, ch->pid, time_str(S.set.grace, t, sizeof(t)));
				kill(ch->pid, SIGKILL);
				ch->killed = true;
			} else if (ch->kill_at < next) {
				next = ch->kill_at;
			}
		}
		if ((ch->st == ST_WAIT || ch->st == ST_STARTING) && !S.stopping && !ch->removed) {
			long long deadline = ch->down_since + S.set.timeout;
			if (now >= deadline) {
				log_err("unable to start share '%s': socket '%s' not listening within %s",
					ch->sh.tag, ch->sh.socket, time_str(S.set.timeout, t, sizeof(t)));
				notifyf("STATUS=share '%s' not listening", ch->sh.tag);
				begin_shutdown(true);
			} else if (deadline < next) {
				next = deadline;
			}
		}
	}
	if (any_starting() && !S.stopping) {
		if (now >= S.recheck_at) {
			scan();
			S.recheck_step = S.recheck_step * 2 > RECHECK_MAX ? RECHECK_MAX
									   : S.recheck_step * 2;
			S.recheck_at = now + S.recheck_step;
		}
		if (any_starting() && S.recheck_at < next)
			next = S.recheck_at;
	}
	return next;
}

static bool any_running(void)
{
	for (size_t i = 0; i < S.n; i++)
		if (S.v[i]->pid > 0)
			return true;
	return false;
}

static int run(void)
{
	struct pollfd *pfd = NULL;
	struct child **pch = NULL;
	size_t cap = 0;
	int ret = 0;
	for (;;) {
		long long next = timers();
		update_status();
		if (S.stopping && !any_running())
			break;
		if (!pfd || !pch || cap < S.n + 2) {
			cap = S.n + 8;
			struct pollfd *np = realloc(pfd, cap * sizeof(*np));
			if (np)
				pfd = np;
			struct child **nc = realloc(pch, cap * sizeof(*nc));
			if (nc)
				pch = nc;
			if (!np || !nc) {
				log_err("unable to supervise: %s", strerror(ENOMEM));
				ret = 1;
				break;
			}
		}
		size_t k = 0;
		pfd[k++] = (struct pollfd){.fd = S.sfd, .events = POLLIN};
		pfd[k++] = (struct pollfd){.fd = S.ifd, .events = POLLIN};
		for (size_t i = 0; i < S.n; i++)
			if (S.v[i]->out >= 0) {
				pch[k] = S.v[i];
				pfd[k++] = (struct pollfd){.fd = S.v[i]->out, .events = POLLIN};
			}
		int timeout = -1;
		if (next != LLONG_MAX) {
			long long d = next - now_ms();
			timeout = d < 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
		}
		if (poll(pfd, k, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_fail(-errno, "wait for", "events");
			ret = 1;
			break;
		}
		for (size_t i = 2; i < k; i++)
			if (pfd[i].revents)
				read_output(pch[i], false);
		if (pfd[1].revents) {
			char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
			while (read(S.ifd, buf, sizeof(buf)) > 0)
				;
			scan();
			recheck_soon();
		}
		if (pfd[0].revents)
			on_signals();
	}
	free(pfd);
	free(pch);
	if (ret)
		return ret;
	return S.fatal ? 1 : 0;
}

/* ---- set-up ---- */

static char *find_virtiofsd(const char *opt)
{
	if (opt)
		return strchr(opt, '/') ? strdup(opt) : find_in_path(opt);
	char *p = find_in_path("virtiofsd");
	if (p)
		return p;
	static const char *const known[] = {"/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd"};
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (access(known[i], X_OK) == 0)
			return strdup(known[i]);
	return NULL;
}

/* Which command line the binary takes, from its --help: the Rust one
 * documents --shared-dir, QEMU's C one "-o source=PATH". */
static int detect_dialect(struct mvm_error *e)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return mvm_error_set(e, errno, "run", S.virtiofsd, NULL);
	char *argv[] = {S.virtiofsd, (char *)"--help", NULL};
	struct spawn_opts o = SPAWN_OPTS_INIT;
	o.stdout_fd = p[1];
	o.stderr_fd = p[1];
	o.pdeathsig = true;
	o.unset_env = no_notify;
	pid_t pid = spawn(argv, &o, e);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return pid;
	}
	char buf[16384];
	size_t len = 0;
	long long deadline = now_ms() + S.set.timeout;
	while (len < sizeof(buf)) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		long long d = deadline - now_ms();
		if (d <= 0 || poll(&pf, 1, (int)d) == 0)
			break;
		ssize_t n = read(p[0], buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(p[0]);
	kill(pid, SIGKILL); /* done with it, whatever it still does */
	spawn_wait(pid);
	if (memmem(buf, len, "--shared-dir", 12))
		S.dialect = DIALECT_RUST;
	else if (memmem(buf, len, "source=", 7))
		S.dialect = DIALECT_C;
	else
		return mvm_error_set(e, EINVAL, "tell the dialect of", S.virtiofsd,
				     "its --help names neither --shared-dir nor -o source=; "
				     "use --virtiofsd-dialect");
	log_debug("'%s' takes the %s command line", S.virtiofsd,
		  S.dialect == DIALECT_RUST ? "rust" : "c");
	return 0;
}

static int dry_run(const struct share_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct mvm_error e = {0};
		char msg[PATH_MAX + 512];
		if (prepare(&l->v[i], true, &e) < 0) {
			log_error_info(&e);
			return 1;
		}
		char **argv = make_argv(&l->v[i]);
		if (!argv) {
			log_fail(-ENOMEM, "start", S.virtiofsd);
			return 1;
		}
		argv_str(argv, msg, sizeof(msg));
		log_action("start share '%s': %s", l->v[i].tag, msg);
		argv_free(argv);
	}
	return 0;
}

static int setup_events(void)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return log_fail(-errno, "block", "signals");
	signal(SIGPIPE, SIG_IGN);
	S.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (S.sfd < 0)
		return log_fail(-errno, "create", "signalfd");
	S.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (S.ifd < 0)
		return log_fail(-errno, "create", "inotify");
	return 0;
}

int main(int argc, char **argv)
{
	struct mvm_error e = {0};
	struct share_list l = {0};
	int st, ret = 1;
	S.set = (struct settings){
		.threads = -1,
		.rlimit = -1,
		.timeout = 10000,
		.min_uptime = 10000,
		.restart_delay = 100,
		.grace = 5000,
		.max_failures = 5,
	};
	struct cli_tool t = tool;
	t.userdata = &S.set;
	int i = cli_parse(&t, argc, argv, &S.c, &st);
	if (i < 0) {
		free(S.set.extra);
		return st;
	}
	if (argc - i != 1) {
		free(S.set.extra);
		return cli_usage_error(&tool, argc == i ? "the VM NAME is missing"
							: "one VM NAME only");
	}
	S.name = argv[i];
	if (vm_name_check(S.name, &e) < 0) { /* before it is in every line */
		log_error_info(&e);
		goto out;
	}
	log_set_subject(S.name);
	if (S.set.threads < 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		S.set.threads = n > 0 ? n : 1;
	}
	/* virtiofsd looks the socket group up itself, by name only; the
	 * launcher passes it on and so needs no NSS (it links statically). */
	unsigned long num;
	if (parse_uint(S.c.group, ULONG_MAX, &num) == 0) {
		ret = cli_usage_error(&tool, "--group '%s': virtiofsd takes a group name",
				      S.c.group);
		goto out;
	}
	S.group = strdup(S.c.group);
	S.unix_path = path_join(S.c.procfs, "net/unix");
	if (!S.group || !S.unix_path) {
		log_fail(-ENOMEM, "start", S.name);
		goto out;
	}
	if (vm_open(&S.vm, S.c.state_dir, S.name, VM_CURRENT, S.c.allow_untrusted, &e) < 0) {
		log_error_info(&e);
		goto out;
	}
	/* vm.dir is realpath(state dir)/NAME: the state dir is root's. */
	S.state_real = strndup(S.vm.dir, (size_t)(strrchr(S.vm.dir, '/') - S.vm.dir));
	if (!S.state_real) {
		log_fail(-ENOMEM, "start", S.name);
		goto out;
	}
	S.state_fd = open(*S.state_real ? S.state_real : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (S.state_fd < 0) {
		log_fail(-errno, "open state dir", S.state_real);
		goto out;
	}
	if (vm_shares(&S.vm, &l, &e) < 0) {
		log_error_info(&e);
		goto out;
	}
	S.virtiofsd = find_virtiofsd(S.set.virtiofsd);
	if (!S.virtiofsd) {
		log_err("unable to find '%s': %s", S.set.virtiofsd ? S.set.virtiofsd : "virtiofsd",
			"not on $PATH nor in /usr/libexec or /usr/lib/qemu; use --virtiofsd");
		goto out;
	}
	S.dialect = S.set.dialect;
	if (S.dialect == DIALECT_AUTO && detect_dialect(&e) < 0) {
		log_error_info(&e);
		goto out;
	}
	if (S.c.dry_run) {
		ret = dry_run(&l);
		goto out;
	}
	if (setup_events() < 0)
		goto out;
	long long now = now_ms();
	for (size_t k = 0; k < l.n; k++)
		if (!child_add(&l.v[k], now)) {
			log_fail(-ENOMEM, "start", S.name);
			goto out;
		}
	S.ready_pending = true;
	ret = run();
out:
	share_list_free(&l);
	for (size_t k = 0; k < S.n; k++)
		child_free(S.v[k]);
	free(S.v);
	if (S.sfd >= 0)
		close(S.sfd);
	if (S.ifd >= 0)
		close(S.ifd);
	vm_close(&S.vm);
	free(S.virtiofsd);
	free(S.group);
	free(S.unix_path);
	free(S.state_real);
	if (S.state_fd >= 0)
		close(S.state_fd);
	free(S.set.extra);
	return ret;
}
