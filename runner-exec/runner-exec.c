/* SPDX-License-Identifier: MIT */
/* runner-exec: the main process of microvm@NAME.service.
 *
 *   start NAME     point `booted` at the runner `current` resolves to, then
 *                  exec bin/microvm-run in place (a chain-loader: the VM
 *                  runner becomes the unit's main process).
 *   stop NAME      run booted/bin/microvm-shutdown and wait for it.
 *   cleanup NAME   remove `booted` (only a symlink).
 *   register NAME, unregister NAME
 *                  run booted/bin/microvm-register $MAINPID (once the main
 *                  process runs the runner) or microvm-unregister, as root
 *                  for machined (microvm.nix's registerWithMachined).
 *   status [NAME...]  current and booted system of each VM, outdated or not.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "spawn.h"
#include "util.h"
#include "vm.h"

struct opts {
	bool json;
};

static int handle_opt(int opt, const char *arg, void *userdata)
{
	struct opts *o = userdata;
	(void)arg;
	if (opt == 'j') {
		o->json = true;
		return 0;
	}
	return -EINVAL;
}

static struct opts opts;

static const struct option long_options[] = {
	{ "json", no_argument, NULL, 'j' },
	{ 0 },
};

static const struct cli_tool tool = {
	.name = "runner-exec",
	.synopsis = "[OPTIONS] start|stop|cleanup|register|unregister NAME\n"
		    "       runner-exec [OPTIONS] status [NAME...]",
	.summary = "Start, stop and inspect a MicroVM runner (microvm@NAME.service).",
	.help = "Verbs:\n"
		"  start NAME         point 'booted' at the runner of 'current' and exec\n"
		"                     its bin/microvm-run in place (argv[0] microvm@NAME)\n"
		"  stop NAME          run booted/bin/microvm-shutdown and wait for it\n"
		"  cleanup NAME       remove the 'booted' symlink\n"
		"  register NAME      run booted/bin/microvm-register $MAINPID, once the\n"
		"                     main process runs the runner (if the runner has one)\n"
		"  unregister NAME    run booted/bin/microvm-unregister (if it has one)\n"
		"  status [NAME...]   booted and current system of each VM (default: all)\n"
		"\nOptions:\n"
		"  --json               status as a JSON array\n",
	.exit_status = "start: 126 when bin/microvm-run\n"
		       "could not be executed, 127 when it (or its interpreter) was not found",
	.flags = CLI_UNTRUSTED | CLI_PROCFS,
	.options = long_options,
	.handle = handle_opt,
	.userdata = &opts,
};

/* ---- start ------------------------------------------------------------ */

/* dir/booted -> target, atomically: a symlink at a temporary name renamed
 * over the old one, so there is never a moment without a `booted`. */
static int point_booted(const char *dir, const char *target, struct mvm_error *e)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return mvm_error_set(e, errno, "open", dir, NULL);
	char tmp[64];
	snprintf(tmp, sizeof(tmp), ".booted.%ld", (long)getpid());
	_cleanup_free_ char *tmp_path = path_join(dir, tmp);
	_cleanup_free_ char *booted = path_join(dir, "booted");
	if (!tmp_path || !booted)
		return mvm_error_set(e, ENOMEM, "link", dir, NULL);
	/* A leftover of a crashed start with our pid: replace it. */
	if (unlinkat(dfd, tmp, 0) < 0 && errno != ENOENT)
		return mvm_error_set(e, errno, "remove", tmp_path, NULL);
	if (symlinkat(target, dfd, tmp) < 0)
		return mvm_error_set(e, errno, "create symlink", tmp_path, NULL);
	if (renameat(dfd, tmp, dfd, "booted") < 0) {
		int err = errno;
		unlinkat(dfd, tmp, 0);
		return mvm_error_set(e, err, "replace", booted,
				     err == EISDIR ? "'booted' is a directory" : NULL);
	}
	return 0;
}

static int do_start(const struct cli *c, const char *name)
{
	struct mvm_error e = { 0 };
	struct vm vm = { 0 };
	_cleanup_free_ char *run = NULL;
	int r = vm_open(&vm, c->state_dir, name, VM_CURRENT, c->allow_untrusted, &e);
	if (r >= 0)
		r = vm_executable(&vm, "bin/microvm-run", &run, &e);
	if (r < 0) {
		log_error_info(&e);
		goto out;
	}
	/* The runner's relative paths (sockets, volumes) resolve here. */
	if (chdir(vm.dir) < 0) {
		r = log_fail(-errno, "enter", vm.dir);
		goto out;
	}
	char argv0[sizeof("microvm@") + VM_NAME_MAX];
	snprintf(argv0, sizeof(argv0), "microvm@%s", name);
	if (c->dry_run) {
		log_action("point %s/booted at %s", vm.dir, vm.runner);
		log_action("exec %s as %s", run, argv0);
		goto out;
	}
	r = point_booted(vm.dir, vm.runner, &e);
	if (r < 0) {
		log_error_info(&e);
		goto out;
	}
	log_debug("booted -> %s; exec %s", vm.runner, run);
	/* In place: same pid, same environment (NOTIFY_SOCKET stays, for
	 * runners that notify systemd themselves), same descriptors. */
	char *const argv[] = { argv0, NULL };
	execv(run, argv);
	int err = errno;
	log_fail(-err, "execute", run);
	vm_close(&vm);
	return err == ENOENT ? 127 : 126;
out:
	vm_close(&vm);
	return r < 0 ? 1 : 0;
}

/* ---- stop, register, unregister ------------------------------------- */

/* A program of the runner `booted` names, run to its end: microvm-shutdown
 * (stop), microvm-register and microvm-unregister (microvm@'s
 * ExecStartPost=+ and ExecStopPost=+, as root). Only `booted` counts, never
 * `current`, and only under the trust rule; a missing `booted` or program
 * is nothing to do. */
struct booted_program {
	const char *rel;  /* bin/microvm-shutdown */
	const char *none; /* the info line when the runner has none */
	const char *arg;  /* one argument, or NULL */
	bool in_vm_dir;	  /* run in the VM's directory, else in / */
};

static int run_booted(const struct cli *c, const char *name, const struct booted_program *p)
{
	struct mvm_error e = { 0 };
	struct vm vm = { 0 };
	_cleanup_free_ char *prog = NULL;
	int r = vm_open(&vm, c->state_dir, name, VM_BOOTED, c->allow_untrusted, &e);
	if (r == -ENOENT) {
		/* Never booted, already cleaned up, or its runner is gone. */
		log_info("no booted runner, nothing to do");
		r = 0;
		goto out;
	}
	if (r >= 0)
		r = vm_executable(&vm, p->rel, &prog, &e);
	if (r == -ENOENT) {
		log_info("runner has no %s, %s", p->rel, p->none);
		r = 0;
		goto out;
	}
	if (r < 0) {
		log_error_info(&e);
		goto out;
	}
	const char *cwd = p->in_vm_dir ? vm.dir : "/";
	if (c->dry_run) {
		log_action("run %s%s%s in %s", prog, p->arg ? " " : "", p->arg ? p->arg : "", cwd);
		goto out;
	}
	static const char *const unset[] = { "NOTIFY_SOCKET", NULL };
	struct spawn_opts so = SPAWN_OPTS_INIT;
	so.cwd = cwd;
	so.unset_env = unset;
	char *const argv[] = { prog, (char *)p->arg, NULL };
	pid_t pid = spawn(argv, &so, &e);
	if (pid < 0) {
		r = pid;
		log_error_info(&e);
		goto out;
	}
	r = spawn_wait(pid);
	if (r < 0) {
		log_fail(r, "wait for", prog);
	} else if (r > 0) {
		log_err("unable to run '%s': exit status %d", prog, r);
		r = -EIO;
	}
out:
	vm_close(&vm);
	return r < 0 ? 1 : 0;
}

static int do_stop(const struct cli *c, const char *name)
{
	static const struct booted_program p = {
		.rel = "bin/microvm-shutdown",
		.none = "systemd's SIGTERM stops the VM",
		.in_vm_dir = true,
	};
	return run_booted(c, name, &p);
}

/* $MAINPID, which systemd sets for ExecStartPost=: 0, or -EINVAL logged. */
static int main_pid(pid_t *out)
{
	const char *s = getenv("MAINPID");
	unsigned long v;
	if (!s) {
		log_err("unable to read 'MAINPID': not set (systemd sets it for ExecStartPost=)");
		return -EINVAL;
	}
	if (parse_uint(s, INT_MAX, &v) < 0 || v == 0) {
		log_err("unable to read 'MAINPID': not a process ID: '%s'", s);
		return -EINVAL;
	}
	*out = (pid_t)v;
	return 0;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Wait until the main process pid runs the runner: a program other than
 * this one, in the VM's directory (`runner-exec start` changes into it,
 * points `booted`, then executes the runner). In a Type=simple unit systemd
 * starts ExecStartPost= as soon as it has forked the main process, which
 * may still be systemd's child (systemd's program or systemd-executor) or
 * runner-exec start, with `booted` missing or left from a previous boot.
 * 0 when the process is gone; 1 when it runs the runner, or after 10 s
 * (then with a warning: a runner that left the directory at once must not
 * fail the unit). */
static int wait_runner(const struct cli *c, const char *name, pid_t pid)
{
	char rel[2][48];
	snprintf(rel[0], sizeof(rel[0]), "%ld/exe", (long)pid);
	snprintf(rel[1], sizeof(rel[1]), "%ld/cwd", (long)pid);
	_cleanup_free_ char *self = path_join(c->procfs, "self/exe");
	_cleanup_free_ char *exe = path_join(c->procfs, rel[0]);
	_cleanup_free_ char *cwd = path_join(c->procfs, rel[1]);
	_cleanup_free_ char *dir = path_join(c->state_dir, name);
	struct stat me, vmdir, st;
	if (!self || !exe || !cwd || !dir)
		return log_fail(-ENOMEM, "inspect", "MAINPID");
	if (stat(self, &me) < 0)
		return log_fail(-errno, "inspect", self);
	if (stat(dir, &vmdir) < 0)
		return 1; /* no VM directory, no `booted`: run_booted() says so */
	for (int i = 0; i < 1000; i++) {
		if (stat(exe, &st) < 0) {
			if (errno == ENOENT || errno == ESRCH)
				return 0;
		} else if (!same_file(&st, &me) && stat(cwd, &st) == 0 && same_file(&st, &vmdir)) {
			return 1;
		}
		usleep(10 * 1000);
	}
	log_warn("main process %ld does not run the runner in '%s' after 10 s: going on with "
		 "'booted' as it is",
		 (long)pid, dir);
	return 1;
}

static int do_register(const struct cli *c, const char *name)
{
	pid_t pid;
	if (main_pid(&pid) < 0)
		return 1;
	int r = wait_runner(c, name, pid);
	if (r < 0)
		return 1;
	if (r == 0) {
		log_info("main process %ld is gone, nothing to register", (long)pid);
		return 0;
	}
	char arg[32];
	snprintf(arg, sizeof(arg), "%ld", (long)pid);
	const struct booted_program p = {
		.rel = "bin/microvm-register",
		.none = "nothing to register",
		.arg = arg,
	};
	return run_booted(c, name, &p);
}

static int do_unregister(const struct cli *c, const char *name)
{
	static const struct booted_program p = {
		.rel = "bin/microvm-unregister",
		.none = "nothing to unregister",
	};
	return run_booted(c, name, &p);
}

/* ---- cleanup ---------------------------------------------------------- */

/* NAME was checked by main(). */
static int do_cleanup(const struct cli *c, const char *name)
{
	_cleanup_free_ char *dir = path_join(c->state_dir, name);
	_cleanup_free_ char *booted = dir ? path_join(dir, "booted") : NULL;
	struct stat st;
	int r = 0;
	if (!booted)
		r = log_fail(-ENOMEM, "remove", "booted");
	else if (lstat(booted, &st) < 0)
		r = errno == ENOENT || errno == ENOTDIR ? 0 : log_fail(-errno, "inspect", booted);
	else if (!S_ISLNK(st.st_mode)) {
		log_err("unable to remove '%s': not a symlink, left alone", booted);
		r = -EEXIST;
	} else if (c->dry_run)
		log_action("remove %s", booted);
	else if (unlink(booted) < 0 && errno != ENOENT)
		r = log_fail(-errno, "remove", booted);
	return r < 0 ? 1 : 0;
}

/* ---- status ----------------------------------------------------------- */

struct row {
	char *name;
	bool booted;		       /* a `booted` symlink exists */
	char *runner[2];	       /* [VM_CURRENT], [VM_BOOTED]: resolved */
	char *system[2];	       /* target of share/microvm/system */
	int outdated;		       /* 1, 0, or -1 when not booted */
};

static void row_free(struct row *w)
{
	free(w->name);
	for (int i = 0; i < 2; i++) {
		free(w->runner[i]);
		free(w->system[i]);
	}
}

/* Read-only: status acts on nothing, so it shows untrusted runners too. */
static void row_fill(const struct cli *c, struct row *w)
{
	_cleanup_free_ char *dir = path_join(c->state_dir, w->name);
	_cleanup_free_ char *bl = dir ? path_join(dir, "booted") : NULL;
	struct stat st;
	w->booted = bl && lstat(bl, &st) == 0 && S_ISLNK(st.st_mode);
	for (enum vm_link l = VM_CURRENT; l <= VM_BOOTED; l++) {
		struct mvm_error e = { 0 };
		struct vm vm = { 0 };
		if (vm_open(&vm, c->state_dir, w->name, l, true, &e) < 0) {
			if (e.err != ENOENT)
				log_debug("%s: %s", w->name, e.reason ? e.reason : strerror(e.err));
			continue;
		}
		w->runner[l] = strdup(vm.runner);
		if (vm_system(&vm, &w->system[l], &e) < 0)
			w->system[l] = NULL;
		vm_close(&vm);
	}
	w->outdated = -1;
	if (w->booted) {
		/* Compare the systems; without them, the runner packages. */
		const char *a = w->system[VM_CURRENT], *b = w->system[VM_BOOTED];
		if (!a || !b) {
			a = w->runner[VM_CURRENT];
			b = w->runner[VM_BOOTED];
		}
		w->outdated = !a || !b || strcmp(a, b) != 0;
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every directory in the state dir, sorted: the VMs. */
static int list_vms(const char *state_dir, char ***names, size_t *n)
{
	DIR *d = opendir(state_dir);
	if (!d)
		return -errno;
	char **v = NULL;
	size_t k = 0, cap = 0;
	int r = 0;
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		if (k == cap) {
			cap = cap ? cap * 2 : 16;
			char **nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			v = nv;
		}
		if (!(v[k] = strdup(de->d_name))) {
			r = -ENOMEM;
			break;
		}
		k++;
	}
	if (!de && errno && r == 0)
		r = -errno;
	closedir(d);
	if (r < 0) {
		while (k)
			free(v[--k]);
		free(v);
		return r;
	}
	if (k)
		qsort(v, k, sizeof(*v), cmp_str);
	*names = v;
	*n = k;
	return 0;
}

static void json_str(const char *s)
{
	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void print_json(const struct row *rows, size_t n)
{
	static const char *const outdated[] = { "false", "true" };
	fputs("[", stdout);
	for (size_t i = 0; i < n; i++) {
		const struct row *w = &rows[i];
		printf("%s\n  {\"name\": ", i ? "," : "");
		json_str(w->name);
		printf(", \"booted\": %s, \"outdated\": %s", w->booted ? "true" : "false",
		       w->outdated < 0 ? "null" : outdated[w->outdated]);
		fputs(", \"current_runner\": ", stdout);
		json_str(w->runner[VM_CURRENT]);
		fputs(", \"booted_runner\": ", stdout);
		json_str(w->runner[VM_BOOTED]);
		fputs(", \"current_system\": ", stdout);
		json_str(w->system[VM_CURRENT]);
		fputs(", \"booted_system\": ", stdout);
		json_str(w->system[VM_BOOTED]);
		fputs("}", stdout);
	}
	fputs(n ? "\n]\n" : "]\n", stdout);
}

static const char *or_dash(const char *s)
{
	return s ? s : "-";
}

/* The table is for a terminal: every field is escaped (escape_line), since
 * names and link targets are the VM user's to choose; --json escapes the
 * JSON way. */
static void print_table(const struct row *rows, size_t n)
{
	static const char *const outdated[] = { "no", "yes" };
	char(*f)[3][PATH_MAX] = calloc(n ? n : 1, sizeof(*f));
	if (!f) {
		log_fail(-ENOMEM, "print", "status");
		return;
	}
	int wn = 2, wc = 14;
	for (size_t i = 0; i < n; i++) {
		escape_line(rows[i].name, f[i][0], sizeof(f[i][0]));
		escape_line(or_dash(rows[i].system[VM_CURRENT]), f[i][1], sizeof(f[i][1]));
		escape_line(or_dash(rows[i].system[VM_BOOTED]), f[i][2], sizeof(f[i][2]));
		int l = (int)strlen(f[i][0]);
		wn = l > wn ? l : wn;
		l = (int)strlen(f[i][1]);
		wc = l > wc ? l : wc;
	}
	printf("%-*s  %-6s  %-8s  %-*s  %s\n", wn, "VM", "BOOTED", "OUTDATED", wc,
	       "CURRENT-SYSTEM", "BOOTED-SYSTEM");
	for (size_t i = 0; i < n; i++) {
		const struct row *w = &rows[i];
		printf("%-*s  %-6s  %-8s  %-*s  %s\n", wn, f[i][0], w->booted ? "yes" : "no",
		       w->outdated < 0 ? "-" : outdated[w->outdated], wc, f[i][1], f[i][2]);
	}
	free(f);
}

static int do_status(const struct cli *c, char **names, size_t n)
{
	char **all = NULL;
	int failed = 0;
	if (n == 0) {
		int r = list_vms(c->state_dir, &all, &n);
		if (r < 0) {
			log_fail(r, "read", c->state_dir);
			return 1;
		}
		names = all;
	}
	struct row *rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows) {
		log_fail(-ENOMEM, "read", c->state_dir);
		return 1;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct mvm_error e = { 0 };
		if (vm_name_check(names[i], &e) < 0) {
			log_error_info(&e);
			failed = 1;
			continue;
		}
		_cleanup_free_ char *dir = path_join(c->state_dir, names[i]);
		struct stat st;
		if (!dir || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			log_err("unable to find VM '%s': no directory '%s'", names[i],
				dir ? dir : names[i]);
			failed = 1;
			continue;
		}
		rows[k].name = strdup(names[i]);
		if (!rows[k].name) {
			failed = 1;
			break;
		}
		row_fill(c, &rows[k++]);
	}
	if (opts.json)
		print_json(rows, k);
	else
		print_table(rows, k);
	for (size_t i = 0; i < k; i++)
		row_free(&rows[i]);
	free(rows);
	for (size_t i = 0; all && i < n; i++)
		free(all[i]);
	free(all);
	if (fflush(stdout) != 0) {
		log_fail(-errno, "write", "stdout");
		return 1;
	}
	return failed;
}

int main(int argc, char **argv)
{
	struct cli c;
	int st;
	int i = cli_parse(&tool, argc, argv, &c, &st);
	if (i < 0)
		return st;
	if (i >= argc)
		return cli_usage_error(&tool, "missing verb");
	const char *verb = argv[i++];
	if (strcmp(verb, "status") == 0)
		return do_status(&c, argv + i, (size_t)(argc - i));
	if (opts.json)
		return cli_usage_error(&tool, "--json goes with status only");
	int (*action)(const struct cli *, const char *);
	if (strcmp(verb, "start") == 0)
		action = do_start;
	else if (strcmp(verb, "stop") == 0)
		action = do_stop;
	else if (strcmp(verb, "cleanup") == 0)
		action = do_cleanup;
	else if (strcmp(verb, "register") == 0)
		action = do_register;
	else if (strcmp(verb, "unregister") == 0)
		action = do_unregister;
	else
		return cli_usage_error(&tool, "unknown verb '%s'", verb);
	if (argc - i != 1)
		return cli_usage_error(&tool, "%s takes exactly one NAME", verb);
	struct mvm_error e = { 0 };
	if (vm_name_check(argv[i], &e) < 0) { /* before it is in every line */
		log_error_info(&e);
		return 1;
	}
	log_set_subject(argv[i]);
	return action(&c, argv[i]);
}
