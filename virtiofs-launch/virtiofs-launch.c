/* SPDX-License-Identifier: MIT */
/* virtiofs-launch: one supervised virtiofsd per virtiofs share of a VM,
 * the main process of microvm-virtiofsd@NAME.service (Type=notify).
 * This file: the command line, the set-up and main(); launch.h lists the
 * others. Nothing the VM user does to paths in its directory, before or
 * after READY=1, changes what is exported or what the launcher writes:
 * paths are walked without symlinks the VM user could plant (path.c),
 * the daemons serve pinned mounts (pin.c) and take listening sockets the
 * launcher made (sock.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch.h"
#include "log.h"
#include "spawn.h"
#include "util.h"

struct launcher L = {
	.sfd = -1, .rt_fd = -1, .host_rt = -1, .host_ns = -1, .root_fd = -1, .cwd_fd = -1,
	.state_fd = -1};

static const char help_text[] =
	"Starts one virtiofsd per share/microvm/virtiofs/TAG of the VM's runner\n"
	"package (root's pin /etc/microvm/runners/NAME, else STATE_DIR/NAME/current)\n"
	"on a socket it listens on itself, restarts a daemon that fails (backing\n"
	"off; after --max-failures it gives up: exits 1, or drops that share alone\n"
	"if a reload added it), starts one whose VM left again when the next\n"
	"client comes, and tells systemd READY=1 once every socket listens (a VM\n"
	"that connects before its daemon runs waits in the backlog). SIGHUP\n"
	"re-reads the shares, SIGTERM stops every daemon.\n"
	"\n"
	"Options:\n"
	"  --virtiofsd PATH        the daemon (default: virtiofsd on $PATH, then\n"
	"                          /usr/libexec/virtiofsd, /usr/lib/qemu/virtiofsd)\n"
	"  --virtiofsd-dialect D   its command line: rust or c (default: told from\n"
	"                          the binary's strings, else its --help)\n"
	"  --thread-pool-size N    threads a daemon, 0 to 1024 (default: the number\n"
	"                          of CPUs)\n"
	"  --rlimit-nofile N       a daemon's open file limit (default: its own)\n"
	"  --extra-arg ARG         one more argument for every daemon; repeatable\n"
	"  --timeout TIME          a share may be down this long (default 10s)\n"
	"  --max-failures N        quick failures in a row before giving up, 1 to\n"
	"                          1000 (default 5)\n"
	"  --min-uptime TIME       a failure sooner after the start is quick (default 10s)\n"
	"  --restart-delay TIME    wait before the 2nd quick restart, doubling each\n"
	"                          time (default 100ms; the 1st is at once)\n"
	"  --grace TIME            on stop, SIGKILL what is left after this (default 5s)\n"
	"TIME is seconds, or a number with ms, s or min; at most a day.\n"
	"--user is accepted and ignored: the daemons run as root; --group is the\n"
	"group of the sockets (a number, or a name from /etc/group).\n";

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

static int handle(int opt, const char *arg, void *userdata);

static const struct cli_tool tool = {
	.name = "virtiofs-launch",
	.synopsis = "[OPTIONS] NAME",
	.summary = "Run and supervise one virtiofsd per virtiofs share of VM NAME.",
	.help = help_text,
	.runtime_dir_help = "a tmpfs mounted on it in the launcher's own mount\n"
			    "namespace: the sources mounted for the daemons,\n"
			    "NAME/virtiofs/TAG, and the chroot trees their sockets\n"
			    "are bound in, .root/N; in the host's directory below\n"
			    "it, the writable sources served, for the other VMs'\n"
			    "launchers: NAME/virtiofs-writable",
	.flags = CLI_IDS | CLI_UNTRUSTED | CLI_RUNTIME | CLI_ROOT,
	.options = options,
	.handle = handle,
};

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
	const char *valid = "(seconds, or a number with ms, s or min; at most a day)";
	switch (opt) {
	case OPT_VIRTIOFSD:
		s->virtiofsd = arg;
		return 0;
	case OPT_DIALECT:
		if (strcmp(arg, "rust") == 0)
			s->dialect = DIALECT_RUST;
		else if (strcmp(arg, "c") == 0)
			s->dialect = DIALECT_C;
		else {
			valid = "(rust or c)";
			break;
		}
		return 0;
	case OPT_THREADS:
	case OPT_RLIMIT:
		if (parse_uint(arg, opt == OPT_THREADS ? 1024 : 1UL << 30, &v) < 0) {
			valid = opt == OPT_THREADS ? "(a number from 0 to 1024)"
						   : "(a number from 0 to 1073741824)";
			break;
		}
		*(opt == OPT_THREADS ? &s->threads : &s->rlimit) = (long)v;
		return 0;
	case OPT_MAX_FAILURES:
		if (parse_uint(arg, 1000, &v) < 0 || v == 0) {
			valid = "(a number from 1 to 1000)";
			break;
		}
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
			cli_usage_error(&tool, "invalid value for --%s: '%s' %s", o->name, ESC(arg),
					valid);
	return -EINVAL;
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

/* path made absolute against the working directory (not resolved). */
static char *absolute(const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	return path_join(cwd, path);
}

/* The state dir, walked as the shares' paths will be: its identity, and
 * the directories above it (state_dir_note()). */
static int state_dir_identity(struct mvm_error *e)
{
	_cleanup_free_ char *abs = absolute(L.c.state_dir);
	if (!abs)
		return mvm_error_set(e, errno ? errno : ENOMEM, "open state dir", L.c.state_dir,
				     NULL);
	return state_dir_note(abs, e);
}

/* What a start of each share would do, and its daemon's command line. */
static int dry_run(const struct share_list *l, struct mvm_error *e)
{
	/* The runtime dir as a start takes it (root's all the way), making
	 * nothing: a refusal shows here too. */
	int rt = walk_dir(L.runtime, WALK_ROOTS, "use runtime dir", e);
	if (rt == -ENOENT)
		log_action("create runtime dir '%s'", ESC(L.runtime));
	else if (rt < 0)
		return rt;
	else
		close(rt);
	for (size_t i = 0; i < l->n; i++) {
		const struct share *sh = &l->v[i];
		struct listener sock = LISTENER_INIT;
		int r = sock_open(&sock, sh->socket, true, share_verb(sh, "socket"), e);
		if (r < 0)
			return r;
		int src = walk_dir(sh->source, 0, share_verb(sh, "source"), e);
		if (src == -ENOENT)
			log_action("create directory '%s'", ESC(sh->source));
		else if (src < 0)
			return src;
		else
			close(src);
		_cleanup_free_ char *pin = pin_path(sh->tag), *cmd = NULL;
		char **argv = pin ? make_argv(sh, pin) : NULL;
		if (argv)
			cmd = argv_str(argv);
		argv_free(argv);
		if (!cmd)
			return mvm_error_set(e, ENOMEM, "start", L.virtiofsd, NULL);
		log_action("mount '%s' on '%s'%s", ESC(sh->source), ESC(pin),
			   sh->set.read_only ? " read-only" : "");
		log_action("start share '%s': %s", ESC(sh->tag), cmd);
	}
	return 0;
}

/* Everything before the first daemon that can fail on bad input: the
 * VM, its shares and their settings, the daemon and its dialect. */
static int setup(struct share_list *l, struct mvm_error *e)
{
	int r = group_lookup(L.c.group, &L.gid, e);
	if (r < 0)
		return r;
	L.runtime = absolute(L.c.runtime_dir);
	if (!L.runtime)
		return mvm_error_set(e, ENOMEM, "start", L.name, NULL);
	r = state_dir_identity(e);
	if (r == 0)
		r = vm_open(&L.vm, L.c.state_dir, L.name, VM_CURRENT, L.c.allow_untrusted, e);
	if (r == 0)
		r = vm_shares(&L.vm, l, e);
	if (r < 0)
		return r;
	/* Before any other walk: one through a writable share's source (of
	 * this VM or another), by whatever name, follows no link the guest
	 * made there. */
	if ((r = writable_note(l, -1, e)) < 0 || (r = others_note(e)) < 0 ||
	    (r = vm_dirs_refuse(l, e)) < 0)
		return r;
	L.virtiofsd = find_virtiofsd(L.set.virtiofsd);
	/* (a name given without a slash is looked up on $PATH alone) */
	if (!L.virtiofsd && L.set.virtiofsd)
		return mvm_error_set(e, ENOENT, "find", L.set.virtiofsd, "not on $PATH");
	if (!L.virtiofsd)
		return mvm_error_set(e, ENOENT, "find", "virtiofsd",
				     "not on $PATH nor in /usr/libexec or /usr/lib/qemu; use "
				     "--virtiofsd");
	L.dialect = L.set.dialect;
	if (L.dialect == DIALECT_AUTO && (r = detect_dialect(e)) < 0)
		return r;
	for (size_t k = 0; k < l->n; k++)
		if ((r = check_share(&l->v[k], e)) < 0)
			return r;
	return 0;
}

static void cleanup(struct share_list *l)
{
	share_list_free(l);
	for (size_t k = 0; k < L.n; k++)
		child_free(L.v[k]);
	free(L.v);
	vm_close(&L.vm);
	free(L.virtiofsd);
	free(L.runtime);
	free(L.set.extra);
	free(L.writable);
	free(L.above);
	served_free();
	int *fds[] = {&L.sfd, &L.rt_fd, &L.host_rt, &L.host_ns, &L.root_fd, &L.cwd_fd, &L.state_fd};
	for (size_t k = 0; k < ARRAY_SIZE(fds); k++)
		if (*fds[k] >= 0)
			close(*fds[k]);
}

/* The start is over: done (failed false), or given up, before its first
 * READY=1 or in its set-up (failed true: after READY=1 L.start_made is
 * empty). One that gives up leaves the host as it found it: the
 * directories it made that are still empty go, deepest first, the runtime
 * dir among them once the tmpfs is off it (run by hand with a
 * --runtime-dir that was not there; under systemd RuntimeDirectory= makes
 * it first). */
static void end_start(bool failed)
{
	L.made = NULL;
	if (!failed) {
		made_dirs_forget(&L.start_made);
		return;
	}
	if (L.start_made.n)
		pin_teardown();
	made_dirs_undo(&L.start_made);
}

/* A child for each share (taking the shares over). */
static int add_children(struct share_list *l, struct mvm_error *e)
{
	long long now = now_ms();
	for (size_t k = 0; k < l->n; k++)
		if (!child_add(&l->v[k], now))
			return mvm_error_set(e, ENOMEM, "start", L.name, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	struct mvm_error e = {0};
	struct share_list l = {0};
	int st;
	/* SIGHUP (systemctl reload) may come at any time after the start: held
	 * from now on, it is a reload once the loop's signalfd reads it, not
	 * the end of a launcher still setting up. (SIGTERM and SIGINT keep
	 * their default until then: no daemon and no socket is made before
	 * the loop; a runtime dir made by hand stays, as after any stop.
	 * Children start with an empty mask: spawn.c.) */
	sigset_t hup;
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	sigprocmask(SIG_BLOCK, &hup, NULL);
	L.set = (struct settings){
		.threads = -1,
		.rlimit = -1,
		.timeout = 10000,
		.min_uptime = 10000,
		.restart_delay = 100,
		.grace = 5000,
		.max_failures = 5,
	};
	struct cli_tool t = tool;
	t.userdata = &L.set;
	int i = cli_parse(&t, argc, argv, &L.c, &st);
	if (i < 0) {
		free(L.set.extra);
		return st;
	}
	if (argc - i != 1) {
		free(L.set.extra);
		return argc == i ? cli_usage_error(&tool, "the VM NAME is missing")
				 : cli_usage_stray(&tool, argv[i + 1]);
	}
	L.name = argv[i];
	int r = vm_name_check(L.name, &e); /* before it is in every line */
	if (r < 0) { /* a usage error */
		log_error_info(&e);
		cleanup(&l);
		return 2;
	}
	log_set_subject(L.name);
	if (L.set.threads < 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		L.set.threads = n > 0 ? n : 1;
	}
	if ((r = setup(&l, &e)) < 0)
		goto out;
	if (L.c.dry_run) {
		r = dry_run(&l, &e);
		goto out;
	}
	L.made = &L.start_made;
	if ((r = pin_setup(&e)) < 0 || (r = setup_events(&e)) < 0 ||
	    (r = add_children(&l, &e)) < 0)
		goto out;
	L.ready_pending = true;
	r = run(&e);
out:
	if (r < 0)
		log_error_info(&e); /* unless the supervisor logged it as it gave up */
	end_start(r < 0);
	cleanup(&l);
	return r < 0 ? 1 : 0;
}
