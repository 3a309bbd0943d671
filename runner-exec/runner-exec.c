/* SPDX-License-Identifier: MIT */
/* runner-exec: the main process of microvm@NAME.service.
 *
 *   start NAME     point `booted` at the runner (root's pin, else `current`), then
 *                  exec bin/microvm-run in place (a chain-loader: the VM
 *                  runner becomes the unit's main process).
 *   stop NAME      run booted/bin/microvm-shutdown and wait for it.
 *   cleanup NAME   remove `booted` (only a symlink).
 *   register NAME, unregister NAME
 *                  run current/bin/microvm-register $MAINPID (once the main
 *                  process runs the runner) or microvm-unregister, as root
 *                  for machined (microvm.nix's registerWithMachined), from
 *                  root's pin, else a `current` root made.
 *   status [NAME...]  current and booted system of each VM, outdated or not.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
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
		"  start NAME         point 'booted' at the runner (root's pin, else 'current')\n"
		"                     and exec its bin/microvm-run in place (argv[0]\n"
		"                     microvm@NAME)\n"
		"  stop NAME          run booted/bin/microvm-shutdown and wait for it\n"
		"  cleanup NAME       remove the 'booted' symlink\n"
		"  register NAME      run bin/microvm-register $MAINPID of that runner, once the\n"
		"                     main process runs the runner (if the runner has one)\n"
		"  unregister NAME    run its bin/microvm-unregister (if it has one)\n"
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

/* Every verb returns 0, or -errno (or start's codes below) with e
 * filled, and main() logs it once (common/error.h); status logs the VMs
 * it cannot show where it goes on with the others. */

/* start's exec failed: exit 126, or 127 when bin/microvm-run (or its
 * interpreter) was not found, as a shell would. Beyond any -errno. */
enum { START_EXEC_FAILED = -1126, START_EXEC_NOT_FOUND = -1127 };

/* ---- start ------------------------------------------------------------ */

/* dir/booted -> target (dir open as dfd), atomically: a symlink at a
 * temporary name renamed over the old one, so there is never a moment
 * without a `booted`. */
static int point_booted(int dfd, const char *dir, const char *target, struct mvm_error *e)
{
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

/* The target of booted in the directory dfd (malloc'd), or NULL when
 * there is none. */
static char *booted_target(int dfd)
{
	char buf[PATH_MAX];
	ssize_t n = readlinkat(dfd, "booted", buf, sizeof(buf) - 1);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

/* After an exec that failed: `booted` as it was before (old, or none), so
 * that no runner that never started counts as booted. Logged, not fatal:
 * the exec's error is the one to report. */
static void restore_booted(int dfd, const char *dir, const char *old)
{
	struct mvm_error e2 = { 0 };
	int r = 0;
	if (old) {
		r = point_booted(dfd, dir, old, &e2);
	} else {
		if (unlinkat(dfd, "booted", 0) < 0 && errno != ENOENT) {
			int err = errno;
			_cleanup_free_ char *booted = path_join(dir, "booted");
			r = mvm_error_set(&e2, err, "remove", booted ? booted : "booted", NULL);
		}
	}
	if (r < 0)
		log_error_info(&e2);
}

/* Enter the VM's directory, where the runner's relative paths resolve
 * (start's runner, stop's microvm-shutdown): its descriptor
 * (close-on-exec), or -errno with e filled. Run as root (an admin's
 * start or stop by hand), only a directory of root's, unwritable by
 * anyone else, not reached through a link: in the VM user's, the runner,
 * as root, would open whatever that user's links there name (a volume
 * image linked to a disk of the host, which microvm.nix's runner formats
 * when it is missing). Entered by the descriptor vm_open() opened, and
 * checked here: the state dir is the VM user's too, who could rename
 * another directory in its place since. */
static int vm_dir_enter(const struct cli *c, const struct vm *vm, bool stop,
			struct mvm_error *e)
{
	bool as_root = geteuid() == 0 && !c->allow_untrusted;
	if (as_root && vm->dir_link)
		return mvm_error_set(e, ENOTDIR, "enter", vm->dir,
				     "not a directory (run as root, a symlink is not followed)");
	/* (the directory vm_open() opened and checked, not STATE/NAME again) */
	int dfd = openat(vm->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	if (dfd < 0 || fstat(dfd, &st) < 0) {
		int err = errno;
		if (dfd >= 0)
			close(dfd);
		return mvm_error_set(e, err, "enter", vm->dir, NULL);
	}
	const char *why = NULL;
	if (as_root && st.st_uid != 0)
		why = "not owned by root";
	else if (as_root && (st.st_mode & 022))
		why = "writable by group or others";
	if (why) {
		close(dfd);
		int r = mvm_error_set(e, EPERM, "enter", vm->dir, why);
		if (e) {
			mvm_error_after(e, " as root");
			if (st.st_uid != 0)
				snprintf(e->value, sizeof(e->value), "uid %lu",
					 (unsigned long)st.st_uid);
			else
				snprintf(e->value, sizeof(e->value), "mode %04lo",
					 (unsigned long)(st.st_mode & 07777));
			e->hint = stop ? "run as root, the runner would open what the VM user's "
					 "links there name; run stop as the VM user, as microvm@'s "
					 "ExecStop= does; --allow-untrusted overrides"
				       : "run as root, the runner would open what the VM user's "
					 "links there name; run start as the VM user, as microvm@'s "
					 "ExecStart= does; --allow-untrusted overrides";
		}
		return r;
	}
	if (fchdir(dfd) < 0) {
		int err = errno;
		close(dfd);
		return mvm_error_set(e, err, "enter", vm->dir, NULL);
	}
	return dfd;
}

static int do_start(const struct cli *c, const char *name, struct mvm_error *e)
{
	_cleanup_close_ int dfd = -1;
	struct vm vm = { 0 };
	_cleanup_free_ char *run = NULL, *old = NULL;
	int r = vm_open(&vm, c->state_dir, name, VM_CURRENT, c->allow_untrusted, e);
	if (r >= 0)
		r = vm_executable(&vm, "bin/microvm-run", &run, e);
	if (r < 0)
		goto out;
	/* The runner's relative paths (sockets, volumes) resolve here. */
	dfd = vm_dir_enter(c, &vm, false, e);
	if (dfd < 0) {
		r = dfd;
		goto out;
	}
	char argv0[sizeof("microvm@") + VM_NAME_MAX];
	snprintf(argv0, sizeof(argv0), "microvm@%s", name);
	if (c->dry_run) {
		log_action("point %s/booted at %s", ESC(vm.dir), ESC(vm.runner));
		log_action("exec %s as %s", ESC(run), ESC(argv0));
		goto out;
	}
	old = booted_target(dfd);
	r = point_booted(dfd, vm.dir, vm.runner, e);
	if (r < 0)
		goto out;
	log_debug("booted -> %s; exec %s", ESC(vm.runner), ESC(run));
	/* In place: same pid, same environment (NOTIFY_SOCKET stays, for
	 * runners that notify systemd themselves), same descriptors. */
	char *const argv[] = { argv0, NULL };
	execv(run, argv);
	int err = errno;
	restore_booted(dfd, vm.dir, old);
	mvm_error_set(e, err, "execute", run, spawn_exec_reason(err, run, NULL));
	r = err == ENOENT ? START_EXEC_NOT_FOUND : START_EXEC_FAILED;
out:
	vm_close(&vm);
	return r;
}

/* ---- stop, register, unregister ------------------------------------- */

/* A program of a VM's runner, run to its end: microvm-shutdown of the
 * runner `booted` names (stop, as the VM user: `booted` is that user's
 * link), microvm-register and microvm-unregister of the one `current`
 * names (microvm@'s ExecStartPost=+ and ExecStopPost=+, as root, as
 * microvm.nix runs them: only root's pin, else a `current` that root
 * made, vm_open() says why). Under the trust rule; a missing link or program is nothing to
 * do. */
struct runner_program {
	enum vm_link link;
	const char *rel;  /* bin/microvm-shutdown */
	const char *none; /* the info line when the runner has none */
	const char *arg;  /* one argument, or NULL */
	bool in_vm_dir;	  /* run in the VM's directory, else in / */
};

/* The program p names in the VM's runner: 0 with vm open and *prog set,
 * 1 when there is none (said), or an error. */
static int find_program(const struct cli *c, const char *name, const struct runner_program *p,
			struct vm *vm, char **prog, struct mvm_error *e)
{
	int r = vm_open(vm, c->state_dir, name, p->link, c->allow_untrusted, e);
	if (r == -ENOENT) {
		/* Never booted, already cleaned up, or its runner is gone. */
		log_info("no %s runner, nothing to do", vm_link_name(p->link));
		return 1;
	}
	if (r >= 0)
		r = vm_executable(vm, p->rel, prog, e);
	if (r == -ENOENT) {
		log_info("runner has no %s, %s", p->rel, p->none);
		return 1;
	}
	return r < 0 ? r : 0;
}

/* Run prog, which find_program() found in vm, to its end. */
static int run_found(const struct cli *c, const struct vm *vm, const struct runner_program *p,
		     const char *prog, struct mvm_error *e)
{
	const char *cwd = p->in_vm_dir ? vm->dir : "/";
	/* (the VM's directory entered here, checked, and inherited) */
	_cleanup_close_ int dfd = p->in_vm_dir ? vm_dir_enter(c, vm, true, e) : -1;
	if (p->in_vm_dir && dfd < 0)
		return dfd;
	if (c->dry_run) {
		log_action("run %s%s%s in %s", ESC(prog), p->arg ? " " : "", p->arg ? p->arg : "",
			   ESC(cwd));
		return 0;
	}
	static const char *const unset[] = { "NOTIFY_SOCKET", NULL };
	struct spawn_opts so = SPAWN_OPTS_INIT;
	so.cwd = p->in_vm_dir ? NULL : cwd;
	so.unset_env = unset;
	char *const argv[] = { (char *)prog, (char *)p->arg, NULL };
	pid_t pid = spawn(argv, &so, e);
	if (pid < 0)
		return pid;
	int r = spawn_wait(pid);
	if (r < 0)
		mvm_error_set(e, r, "wait for", prog, NULL);
	else if (r > 0)
		r = mvm_error_setf(e, EIO, "run", prog, "exit status %d", r);
	return r;
}

static int run_program(const struct cli *c, const char *name, const struct runner_program *p,
		       struct mvm_error *e)
{
	struct vm vm = { 0 };
	_cleanup_free_ char *prog = NULL;
	int r = find_program(c, name, p, &vm, &prog, e);
	if (r == 0)
		r = run_found(c, &vm, p, prog, e);
	vm_close(&vm);
	return r < 0 ? r : 0;
}

/* As the VM user (microvm@'s ExecStop=), from the `booted` that user
 * made; run as root (an admin's stop by hand), only from a `booted` root
 * made: the VM user's would have root run a program it chose, in its
 * directory. */
static int do_stop(const struct cli *c, const char *name, struct mvm_error *e)
{
	const struct runner_program p = {
		.link = geteuid() == 0 ? VM_BOOTED_BY_ROOT : VM_BOOTED,
		.rel = "bin/microvm-shutdown",
		.none = "systemd's SIGTERM stops the VM",
		.in_vm_dir = true,
	};
	return run_program(c, name, &p, e);
}

/* $MAINPID, which systemd sets for ExecStartPost=. */
static int main_pid(pid_t *out, struct mvm_error *e)
{
	const char *s = getenv("MAINPID");
	unsigned long v;
	if (!s)
		return mvm_error_set(e, EINVAL, "read", "MAINPID",
				     "not set (systemd sets it for ExecStartPost=)");
	if (parse_uint(s, INT_MAX, &v) < 0 || v == 0)
		return mvm_error_setf(e, EINVAL, "read", "MAINPID", "not a process ID: '%s'",
				      ESC(s));
	*out = (pid_t)v;
	return 0;
}

/* The device and inode of path (fd "" when path is NULL), asked of no
 * FUSE daemon: statx() with AT_STATX_DONT_SYNC takes what the kernel
 * has (a FUSE inode's attributes as last cached), and /proc/PID/exe and
 * cwd jump to their file without a look-up. The main process is the VM
 * user's, who can have it run a program from, or work in, a FUSE mount of
 * its own (allow_other) whose daemon would keep root waiting on stat(). */
struct file_id {
	unsigned maj, min;
	unsigned long long ino;
};

static int file_id(int fd, const char *path, struct file_id *id)
{
	struct statx x;
	if (statx(path ? AT_FDCWD : fd, path ? path : "",
		  (path ? 0 : AT_EMPTY_PATH) | AT_STATX_DONT_SYNC, STATX_INO, &x) < 0)
		return -errno;
	id->maj = x.stx_dev_major;
	id->min = x.stx_dev_minor;
	id->ino = x.stx_ino;
	return 0;
}

static bool same_file(const struct file_id *a, const struct file_id *b)
{
	return a->maj == b->maj && a->min == b->min && a->ino == b->ino;
}

/* Has the process of pidfd pfd exited (poll()ed for up to ms)? A pidfd
 * stays that process's: its ID, once free, may be another's, whose /proc
 * entries would answer for it. */
static bool exited(int pfd, int ms)
{
	struct pollfd p = { .fd = pfd, .events = POLLIN };
	int n;
	while ((n = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	return n > 0;
}

/* Wait until the main process pid runs the runner: a program other than
 * this one, in the VM's directory (`runner-exec start` changes into it,
 * points `booted`, then executes the runner), so that the script registers
 * the VM's process. In a Type=simple unit systemd starts ExecStartPost= as
 * soon as it has forked the main process, which may still be systemd's
 * child (systemd's program or systemd-executor) or runner-exec start.
 * 0 when the process is gone; 1 when it runs the runner, or after 10 s
 * (then with a warning: a runner that left the directory at once must not
 * fail the unit). The process is held by a pidfd from the start: once it
 * has exited, its ID may be another process's (the VM user can kill its
 * main process, and hold this look at /proc up meanwhile), which is never
 * registered; what /proc says counts only while that process still runs.
 * (Between this and the script's own use of the ID, it can still exit:
 * the script takes a number.) */
static int wait_runner(const struct cli *c, const struct vm *vm, pid_t pid, struct mvm_error *e)
{
	char rel[2][48];
	snprintf(rel[0], sizeof(rel[0]), "%ld/exe", (long)pid);
	snprintf(rel[1], sizeof(rel[1]), "%ld/cwd", (long)pid);
	_cleanup_free_ char *self = path_join(c->procfs, "self/exe");
	_cleanup_free_ char *exe = path_join(c->procfs, rel[0]);
	_cleanup_free_ char *cwd = path_join(c->procfs, rel[1]);
	const char *dir = vm->dir;
	struct file_id me = { 0 }, vmdir = { 0 }, st = { 0 };
	if (!self || !exe || !cwd)
		return mvm_error_set(e, ENOMEM, "inspect", "MAINPID", NULL);
	_cleanup_close_ int pfd = pidfd_open(pid, 0);
	if (pfd < 0 && errno == ESRCH)
		return 0;
	if (pfd < 0) {
		int err = errno;
		return mvm_error_setf(e, err, "inspect", "MAINPID", "process %ld: %s", (long)pid,
				      strerror(err));
	}
	int r = file_id(-1, self, &me);
	if (r < 0)
		return mvm_error_set(e, -r, "inspect", self, NULL);
	/* (the directory vm_open() opened: no FUSE mount) */
	if (file_id(vm->dfd, NULL, &vmdir) < 0)
		return mvm_error_set(e, errno, "inspect", dir, NULL);
	for (int i = 0; i < 1000; i++) {
		bool runs = false;
		if ((r = file_id(-1, exe, &st)) < 0) {
			if (r == -ENOENT || r == -ESRCH)
				return 0;
		} else if (!same_file(&st, &me) && file_id(-1, cwd, &st) == 0 &&
			   same_file(&st, &vmdir)) {
			runs = true;
		}
		/* (an exit meanwhile: what /proc said may be another's) */
		if (exited(pfd, runs ? 0 : 10))
			return 0;
		if (runs)
			return 1;
	}
	if (exited(pfd, 0))
		return 0;
	log_warn("main process %ld does not run the runner in '%s' after 10 s: going on",
		 (long)pid, ESC(dir));
	return 1;
}

static int do_register(const struct cli *c, const char *name, struct mvm_error *e)
{
	pid_t pid = 0;
	int r = main_pid(&pid, e);
	if (r < 0)
		return r;
	char arg[32];
	snprintf(arg, sizeof(arg), "%ld", (long)pid);
	const struct runner_program p = {
		.link = VM_CURRENT,
		.rel = "bin/microvm-register",
		.none = "nothing to register",
		.arg = arg,
	};
	/* The program first: a runner without one (microvm.nix's without
	 * registerWithMachined) has nothing to wait for. */
	struct vm vm = { 0 };
	_cleanup_free_ char *prog = NULL;
	r = find_program(c, name, &p, &vm, &prog, e);
	if (r == 0) {
		r = wait_runner(c, &vm, pid, e);
		if (r == 0)
			log_info("main process %ld is gone, nothing to register", (long)pid);
		else if (r > 0)
			r = run_found(c, &vm, &p, prog, e);
	}
	vm_close(&vm);
	return r < 0 ? r : 0;
}

static int do_unregister(const struct cli *c, const char *name, struct mvm_error *e)
{
	static const struct runner_program p = {
		.link = VM_CURRENT,
		.rel = "bin/microvm-unregister",
		.none = "nothing to unregister",
	};
	return run_program(c, name, &p, e);
}

/* ---- cleanup ---------------------------------------------------------- */

/* NAME was checked by main(). The VM's directory is opened once, as
 * vm_open() opens it (vm_dir(): nothing looked up on a FUSE mount or
 * asked of one, a VM user's daemon that answers nothing could keep root
 * waiting), and `booted` looked at (cached attributes: it can be such a
 * mount's root) and removed in it. Run as root (by hand), not through a
 * link in the VM directory's place (the state dir is the VM user's, who
 * could point one at any directory with a `booted` in it). */
static int do_cleanup(const struct cli *c, const char *name, struct mvm_error *e)
{
	_cleanup_free_ char *dir = path_join(c->state_dir, name);
	_cleanup_free_ char *booted = dir ? path_join(dir, "booted") : NULL;
	if (!booted)
		return mvm_error_set(e, ENOMEM, "remove", "booted", NULL);
	bool as_root = geteuid() == 0 && !c->allow_untrusted;
	struct mvm_error e1 = { 0 };
	_cleanup_close_ int dfd = vm_dir(c->state_dir, name, !as_root, NULL, &e1);
	if (dfd == -ENOENT || dfd == -ENOTDIR) /* (no VM directory: no `booted`) */
		return 0;
	if (dfd < 0) {
		if (e)
			*e = e1;
		return dfd;
	}
	struct statx x;
	if (statx(dfd, "booted", AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_DONT_SYNC,
		  STATX_TYPE, &x) < 0) {
		if (errno == ENOENT)
			return 0;
		return mvm_error_set(e, errno, "inspect", booted, NULL);
	}
	if (!S_ISLNK(x.stx_mode))
		return mvm_error_set(e, EEXIST, "remove", booted, "not a symlink, left alone");
	if (c->dry_run)
		log_action("remove %s", ESC(booted));
	else if (unlinkat(dfd, "booted", 0) < 0 && errno != ENOENT)
		return mvm_error_set(e, errno, "remove", booted, NULL);
	return 0;
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

/* What status could not look at, in VM name's row, and why. */
static void row_unknown(const char *name, const struct mvm_error *e)
{
	char lead[4 * VM_NAME_MAX + 64];
	snprintf(lead, sizeof(lead), "VM '%s' (what its row shows as '-'): ", ESC(name));
	log_error_as(LOG_WARNING, e, lead);
}

/* Read-only: status acts on nothing, so it shows untrusted runners too.
 * dfd: the VM's directory (vm_dir()). Nothing on a FUSE mount is asked
 * (the VM user's, whose daemon could keep root waiting): what lies there
 * is unknown, and said so. */
static void row_fill(const struct cli *c, struct row *w, int dfd)
{
	struct stat st;
	w->booted = mount_point_on_fuse(dfd, dfd, "booted") == 0 &&
		    fstatat(dfd, "booted", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
	for (enum vm_link l = VM_CURRENT; l <= VM_BOOTED; l++) {
		struct mvm_error e = { 0 };
		struct vm vm = { 0 };
		if (vm_open(&vm, c->state_dir, w->name, l, true, &e) < 0) {
			/* (EPERM: a FUSE mount on the way, the one refusal
			 * allow_untrusted leaves) */
			if (e.err == EPERM)
				row_unknown(w->name, &e);
			else if (e.err != ENOENT)
				log_debug("%s: %s", ESC(w->name), mvm_error_reason(&e));
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

static void json_str(const char *s)
{
	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), k;
	for (size_t i = 0; i < n; i += k) {
		k = 1;
		if (p[i] == '"' || p[i] == '\\')
			printf("\\%c", p[i]);
		else if (p[i] < 0x20 || p[i] == 0x7f)
			printf("\\u%04x", p[i]);
		else if (p[i] < 0x80)
			putchar(p[i]);
		else if ((k = utf8_printable(p + i, n - i)) > 0)
			fwrite(p + i, 1, k, stdout);
		else { /* not UTF-8 (JSON is), or not to be shown: each byte */
			fputs("\\ufffd", stdout);
			k = 1;
		}
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

/* A field of the table: a space as \x20 and a backslash as \x5c, then
 * escape_line(), so that a name or target with spaces ("web ", "web  yes
 * no  /nix/store/...") or with the text of an escape ("web\x20") neither
 * reads as another nor makes columns of its own; a field cut to size (at
 * a character, never in an escape, its own \x20 and \x5c too:
 * escape_line_cut()) ends in "...". */
static void table_field(const char *s, char *out, size_t size)
{
	size_t n = strlen(s), o = 0;
	_cleanup_free_ char *pre = malloc(4 * n + 1);
	if (!pre) {
		snprintf(out, size, "?");
		return;
	}
	for (const char *p = s; *p; p++) {
		const char *w = *p == ' ' ? "\\x20" : *p == '\\' ? "\\x5c" : NULL;
		if (w) {
			memcpy(pre + o, w, 4);
			o += 4;
		} else {
			pre[o++] = *p;
		}
	}
	pre[o] = '\0';
	escape_line_cut(pre, out, size);
}

/* The table is for a terminal: every field is escaped (table_field), since
 * names and link targets are the VM user's to choose; --json escapes the
 * JSON way. */
static int print_table(const struct row *rows, size_t n, struct mvm_error *e)
{
	static const char *const outdated[] = { "no", "yes" };
	char(*f)[3][PATH_MAX] = calloc(n ? n : 1, sizeof(*f));
	if (!f)
		return mvm_error_set(e, ENOMEM, "print", "status", NULL);
	int wn = 2, wc = 14;
	for (size_t i = 0; i < n; i++) {
		table_field(rows[i].name, f[i][0], sizeof(f[i][0]));
		table_field(or_dash(rows[i].system[VM_CURRENT]), f[i][1], sizeof(f[i][1]));
		table_field(or_dash(rows[i].system[VM_BOOTED]), f[i][2], sizeof(f[i][2]));
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
	return 0;
}

/* The row of VM name: 0, or -errno with e filled (a bad name, no
 * directory). */
static int row_of(const struct cli *c, const char *name, struct row *w, struct mvm_error *e)
{
	int r = vm_name_check(name, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = path_join(c->state_dir, name);
	struct mvm_error e1 = { 0 };
	_cleanup_close_ int dfd = vm_dir(c->state_dir, name, true, NULL, &e1);
	if (!dir || dfd == -ENOENT || dfd == -ENOTDIR) {
		char esc[PATH_MAX];
		const char *d = dir ? dir : name;
		return mvm_error_setf(e, ENOENT, "find VM", name, "no directory '%s'",
				      escape_value(d, strlen(d), esc, sizeof(esc)));
	}
	if (!(w->name = strdup(name)))
		return mvm_error_set(e, ENOMEM, "read", name, NULL);
	w->outdated = -1;
	if (dfd < 0) /* (on FUSE, say: its row, all unknown) */
		row_unknown(name, &e1);
	else
		row_fill(c, w, dfd);
	return 0;
}

/* status [NAME...]: a VM that cannot be shown is logged where the others
 * go on; the result is its error then (reported), or the output's. When
 * no VM named can be shown, nothing is printed but the errors: no table
 * header, no "[]" (an empty state dir, listed, is still a table). */
static int do_status(const struct cli *c, char **names, size_t n, struct mvm_error *e)
{
	char **all = NULL;
	int r = 0;
	bool listed = n == 0;
	if (listed) {
		r = vm_list(c->state_dir, &all, &n);
		if (r < 0)
			return mvm_error_set(e, r, "read", c->state_dir, NULL);
		names = all;
	}
	struct row *rows = calloc(n ? n : 1, sizeof(*rows));
	size_t k = 0;
	if (!rows)
		r = mvm_error_set(e, ENOMEM, "read", c->state_dir, NULL);
	for (size_t i = 0; rows && i < n; i++) {
		struct mvm_error e1;
		int r1 = row_of(c, names[i], &rows[k], &e1);
		if (r1 == 0) {
			k++;
			continue;
		}
		log_error_info(&e1);
		if (r == 0) {
			*e = e1;
			r = r1;
		}
	}
	bool print = rows && (k > 0 || listed);
	if (print && opts.json)
		print_json(rows, k);
	int p = print && !opts.json ? print_table(rows, k, e) : 0;
	for (size_t i = 0; i < k; i++)
		row_free(&rows[i]);
	free(rows);
	for (size_t i = 0; all && i < n; i++)
		free(all[i]);
	free(all);
	if (p < 0)
		return p;
	if (fflush(stdout) != 0)
		return mvm_error_set(e, errno, "write", "stdout", NULL);
	return r;
}

/* The exit status for a verb's result r: its error logged here, unless
 * the verb logged it already (common/error.h). */
static int exit_status(int r, struct mvm_error *e)
{
	if (r == 0)
		return 0;
	log_error_info(e);
	return r == START_EXEC_NOT_FOUND ? 127 : r == START_EXEC_FAILED ? 126 : 1;
}

int main(int argc, char **argv)
{
	struct cli c;
	struct mvm_error e = { 0 };
	int st;
	int i = cli_parse(&tool, argc, argv, &c, &st);
	if (i < 0)
		return st;
	/* actions[v] is the verb verbs[v]'s; status, last, takes names of its own. */
	static const char *const verbs[] = { "start", "stop", "cleanup", "register", "unregister",
					     "status", NULL };
	static int (*const actions[])(const struct cli *, const char *, struct mvm_error *) = {
		do_start, do_stop, do_cleanup, do_register, do_unregister,
	};
	int v = cli_verb(&tool, argc, argv, i++, verbs, &st);
	if (v < 0)
		return st;
	if (strcmp(verbs[v], "status") == 0)
		return exit_status(do_status(&c, argv + i, (size_t)(argc - i), &e), &e);
	if (opts.json)
		return cli_usage_error(&tool, "--json goes with status only");
	const char *name = cli_vm_operand(&tool, argc, argv, i, verbs[v], &st);
	if (!name)
		return st;
	if (vm_name_check(name, &e) < 0) { /* before it is in every line; a usage error */
		log_error_info(&e);
		return 2;
	}
	log_set_subject(name);
	return exit_status(actions[v](&c, name, &e), &e);
}
