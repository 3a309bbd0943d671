/* SPDX-License-Identifier: MIT */
/* runner-exec register|unregister NAME: microvm@'s ExecStartPost=+ and
 * ExecStopPost=+ lines, run as root. They run bin/microvm-register
 * $MAINPID and bin/microvm-unregister of the runner `current` names (a
 * runner built with microvm.nix's registerWithMachined), as microvm.nix's
 * unit does, only when root made that link and the runner passes the
 * trust rule, and do nothing when it has none. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "util.h"

/* What the register scripts saw, one "key=value" a line, in $REG_OUT. */
static const char reg_script[] =
	"#!/bin/sh\n"
	"{ echo \"uid=$(id -u)\"; echo \"args=$#\"; echo \"arg1=${1-}\";"
	" echo \"notify=${NOTIFY_SOCKET-unset}\"; echo \"cwd=$(pwd -P)\";"
	" echo \"exe=$(readlink /proc/${1:-self}/exe)\"; } > \"$REG_OUT\"\n"
	"exit ${REG_EXIT:-0}\n";

static void put_exec(const char *dir, const char *rel, const char *content, mode_t mode)
{
	tu_write(dir, rel, content);
	char *p = tu_path(dir, rel);
	tu_chmod(p, mode);
	free(p);
}

/* STATE/NAME/current -> target, made by root */
static void point_current(const struct tu_vm *t, const char *target)
{
	char *b = tu_path(t->dir, "current");
	unlink(b);
	tu_symlink(target, b);
	free(b);
}

/* A process that is not runner-exec, waiting in dir. */
static pid_t start_main_in(const char *dir)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (chdir(dir) < 0)
			_exit(99);
		for (;;)
			pause();
	}
	return pid;
}

/* ... in the VM's directory: the VM's main process once `runner-exec
 * start` has exec'd the runner. */
static pid_t start_main(const struct tu_vm *t)
{
	return start_main_in(t->dir);
}

static void end_main(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* runner-exec --state-dir STATE VERB NAME with MAINPID=mainpid (NULL:
 * unset), REG_OUT=ROOT/reg.out and a NOTIFY_SOCKET the script must not
 * get. */
static void run_reg(struct tu_run *r, const struct tu_vm *t, const char *verb,
		    const char *mainpid)
{
	char *bin = tu_bin("runner-exec");
	char *out = tu_path(t->root, "reg.out");
	char *env_out = xasprintf("REG_OUT=%s", out);
	char *env_pid = mainpid ? xasprintf("MAINPID=%s", mainpid) : NULL;
	const char *env[] = { env_out, "NOTIFY_SOCKET=/run/mvm-test-notify.sock", env_pid, NULL };
	const char *argv[] = { bin, "--state-dir", t->state, verb, t->name, NULL };
	tu_run_env(r, argv, env);
	free(env_pid);
	free(env_out);
	free(out);
	free(bin);
}

/* The value of key= in ROOT/reg.out, or NULL (no such file or key). */
static char *reg_value(const struct tu_vm *t, const char *key)
{
	char *out = tu_path(t->root, "reg.out");
	char *buf, *res = NULL;
	size_t len, kl = strlen(key);
	if (read_file(out, 65536, &buf, &len) == 0) {
		for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
			if (strncmp(l, key, kl) == 0 && l[kl] == '=') {
				res = strdup(l + kl + 1);
				break;
			}
		free(buf);
	}
	free(out);
	return res;
}

static bool reg_ran(const struct tu_vm *t)
{
	char *out = tu_path(t->root, "reg.out");
	bool r = access(out, F_OK) == 0;
	free(out);
	return r;
}

/* Attack: the VM user owns STATE/NAME and re-points `current` at a runner
 * package of its own (here a link root made, so that the runner's own
 * rule is what refuses it) whose bin/microvm-register is
 * its own script. microvm.nix's unit runs that as root:
 *   ExecStartPost=+sh -c 'if [ -x STATE/%i/current/bin/microvm-register ];
 *                         then STATE/%i/current/bin/microvm-register $MAINPID; fi'
 * runner-exec must refuse it, naming the path, and run nothing. The same
 * for a root-owned runner whose script the VM user's group may write, and
 * for unregister. */
START_TEST(register_untrusted_refused)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *evil = tu_path(t.root, "evil");
	put_exec(evil, "bin/microvm-register", reg_script, 0755);
	put_exec(evil, "bin/microvm-unregister", reg_script, 0755);
	char *sbin = tu_path(evil, "bin");
	char *reg = tu_path(sbin, "microvm-register");
	char *unreg = tu_path(sbin, "microvm-unregister");
	tu_chown(evil, TU_NOBODY, TU_NOBODY);
	tu_chown(sbin, TU_NOBODY, TU_NOBODY);
	tu_chown(reg, TU_NOBODY, TU_NOBODY);
	tu_chown(unreg, TU_NOBODY, TU_NOBODY);
	point_current(&t, evil);
	pid_t main_pid = start_main(&t);
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)main_pid);

	struct tu_run r;
	run_reg(&r, &t, "register", pid);
	ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
	char *want = xasprintf("runner-exec: alpha: unable to trust '%s': not owned by root", evil);
	ck_assert_msg(strstr(r.err, want), "stderr: %s", r.err);
	free(want);
	ck_assert_msg(!reg_ran(&t), "the VM user's script ran");
	tu_run_free(&r);
	run_reg(&r, &t, "unregister", NULL);
	ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, "not owned by root"), "stderr: %s", r.err);
	ck_assert_msg(!reg_ran(&t), "the VM user's script ran");
	tu_run_free(&r);

	/* Root's runner, but a script the group may write. */
	put_exec(t.runner, "bin/microvm-register", reg_script, 0775);
	point_current(&t, t.runner);
	run_reg(&r, &t, "register", pid);
	ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
	char *p = tu_path(t.runner, "bin/microvm-register");
	want = xasprintf("unable to trust '%s': writable by group or others", p);
	ck_assert_msg(strstr(r.err, want), "stderr: %s", r.err);
	ck_assert_msg(!reg_ran(&t), "a group-writable script ran");
	tu_run_free(&r);
	free(want);
	free(p);
	end_main(main_pid);
	free(unreg);
	free(reg);
	free(sbin);
	free(evil);
	tu_vm_free(&t);
}
END_TEST

/* Attack (found in review after issue 17): `booted` (now `current`) at a
 * root-owned sticky directory (as /tmp), where the VM user made bin/ and
 * in it a link named microvm-unregister to a program of root's (here one
 * that notes it ran; on a host, poweroff). The sticky directory passed as
 * a runner and the link's target as root's, so root ran the program the
 * VM user chose. Refused now, naming the directory, and nothing runs. */
START_TEST(register_sticky_runner_refused)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *prog = tu_path(t.root, "rootprog");
	put_exec(prog, "bin/any", reg_script, 0755);
	char *any = tu_path(prog, "bin/any");
	char *sticky = tu_path(t.root, "tmp");
	char *sbin = tu_path(sticky, "bin");
	ck_assert_int_eq(mkdir_p(sbin, 0755), 0);
	tu_chmod(sticky, 01777);
	tu_chown(sbin, TU_NOBODY, TU_NOBODY);
	char *reg = tu_path(sbin, "microvm-register");
	char *unreg = tu_path(sbin, "microvm-unregister");
	tu_symlink(any, reg);
	tu_symlink(any, unreg);
	point_current(&t, sticky);
	pid_t main_pid = start_main(&t);
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)main_pid);

	char *want = xasprintf("unable to trust '%s': writable by group or others", sticky);
	struct tu_run r;
	run_reg(&r, &t, "unregister", NULL);
	ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, want), "stderr: %s", r.err);
	ck_assert_msg(!reg_ran(&t), "the program the VM user chose ran as root");
	tu_run_free(&r);
	run_reg(&r, &t, "register", pid);
	ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, want), "stderr: %s", r.err);
	ck_assert_msg(!reg_ran(&t), "the program the VM user chose ran as root");
	tu_run_free(&r);
	end_main(main_pid);
	free(want);
	free(unreg);
	free(reg);
	free(sbin);
	free(sticky);
	free(any);
	free(prog);
	tu_vm_free(&t);
}
END_TEST

/* Attack: the VM user, which owns STATE/NAME, points `current` and
 * `booted` at a runner that passes every rule of the runner itself:
 * root's all along, below a runner root. On a NixOS host any user the Nix
 * daemon lets in (everyone by default) can add one to /nix/store; here
 * root made it, as the daemon would. Its bin/microvm-register and
 * microvm-unregister are the VM user's scripts, and register and
 * unregister run as root. Refused: only a `current` root made names the
 * runner whose programs root runs. */
static int user_points_links(void *arg)
{
	const struct tu_vm *t = arg;
	char *added = tu_path(t->root, "nix-added");
	char *cur = tu_path(t->dir, "current");
	char *b = tu_path(t->dir, "booted");
	int r = unlink(cur) < 0 || symlink(added, cur) < 0 || symlink(added, b) < 0;
	free(b);
	free(cur);
	free(added);
	return r;
}

START_TEST(register_user_named_runner_refused)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *added = tu_path(t.root, "nix-added");
	put_exec(added, "bin/microvm-register", reg_script, 0755);
	put_exec(added, "bin/microvm-unregister", reg_script, 0755);
	tu_chown(t.dir, TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(tu_fork_call(TU_NOBODY, TU_NOBODY, user_points_links, &t), 0);
	pid_t main_pid = start_main(&t);
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)main_pid);
	char *cur = tu_path(t.dir, "current");
	char *want = xasprintf("runner-exec: alpha: unable to trust '%s': a link not made by "
			       "root: 'uid %u' (only root points a VM's `current` at a runner; "
			       "--allow-untrusted overrides)\n",
			       cur, (unsigned)TU_NOBODY);
	struct tu_run r;
	run_reg(&r, &t, "register", pid);
	ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
	ck_assert_msg(!strcmp(r.err, want), "stderr: %s", r.err);
	ck_assert_msg(!reg_ran(&t), "the VM user's script ran as root");
	tu_run_free(&r);
	run_reg(&r, &t, "unregister", NULL);
	ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
	ck_assert_msg(!strcmp(r.err, want), "stderr: %s", r.err);
	ck_assert_msg(!reg_ran(&t), "the VM user's script ran as root");
	tu_run_free(&r);

	/* The same runner, named by root: its script runs, as root. */
	tu_chown(cur, 0, 0);
	run_reg(&r, &t, "unregister", NULL);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	char *v = reg_value(&t, "uid");
	ck_assert_str_eq(v ? v : "(none)", "0");
	free(v);
	tu_run_free(&r);
	end_main(main_pid);
	free(want);
	free(cur);
	free(added);
	tu_vm_free(&t);
}
END_TEST

/* Attack (red team, runner-exec stop): `booted` is the VM user's link
 * (runner-exec start makes it as that user), so only stop, as that user,
 * was to run a program from it; but stop never asked who runs it. An
 * admin's `runner-exec stop NAME` by hand, as root, ran the
 * bin/microvm-shutdown of whatever runner the VM user pointed `booted`
 * at (one it added to the store: root's, below a runner root), as root,
 * in the VM user's directory. Run as root, stop takes only a `booted`
 * that root made (the rule of a `current` without a pin); the VM user's
 * is refused, naming it, and nothing runs. Run as the VM user, as
 * microvm@'s ExecStop= does, it runs. */
static int user_points_booted(void *arg)
{
	const struct tu_vm *t = arg;
	char *added = tu_path(t->root, "nix-added");
	char *b = tu_path(t->dir, "booted");
	int r = symlink(added, b) < 0;
	free(b);
	free(added);
	return r;
}

/* runner-exec stop as the VM user (nobody), in a child: its exit code. */
static int user_stops(void *arg)
{
	const struct tu_vm *t = arg;
	char *bin = tu_bin("runner-exec");
	char *out = tu_path(t->root, "reg.out");
	setenv("REG_OUT", out, 1);
	execl(bin, bin, "--state-dir", t->state, "stop", t->name, (char *)NULL);
	return 99;
}

START_TEST(stop_as_root_users_booted_refused)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *added = tu_path(t.root, "nix-added");
	put_exec(added, "bin/microvm-shutdown", reg_script, 0755);
	tu_chown(t.dir, TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(tu_fork_call(TU_NOBODY, TU_NOBODY, user_points_booted, &t), 0);
	char *booted = tu_path(t.dir, "booted");
	char *want = xasprintf("runner-exec: alpha: unable to trust '%s': a link not made by "
			       "root: 'uid %u' (run as root, stop runs only what a `booted` of "
			       "root's names; run it as the VM user, as microvm@'s ExecStop= "
			       "does; --allow-untrusted overrides)\n",
			       booted, (unsigned)TU_NOBODY);
	struct tu_run r;
	run_reg(&r, &t, "stop", NULL);
	char *v = reg_value(&t, "uid");
	ck_assert_msg(!v, "the VM user's microvm-shutdown ran as uid %s (exit %d: %s)", v,
		      r.status, r.err);
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want), "exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	/* The same `booted`, with a second name: not root's naming either. */
	tu_chown(booted, 0, 0);
	char *second = tu_path(t.root, "second");
	ck_assert_int_eq(link(booted, second), 0);
	run_reg(&r, &t, "stop", NULL);
	ck_assert_msg(r.status == 1 && strstr(r.err, "a link with more than one name"),
		      "exit %d: %s", r.status, r.err);
	ck_assert_msg(!reg_ran(&t), "microvm-shutdown of a twice-named `booted` ran as root");
	tu_run_free(&r);
	ck_assert_int_eq(unlink(second), 0);
	/* Made by root, in the VM user's directory: microvm-shutdown would
	 * work there as root (its socket the VM user's link to any other):
	 * refused, naming the directory. */
	char *want_dir = xasprintf("runner-exec: alpha: unable to enter '%s' as root: not owned "
				   "by root: 'uid %u' (run as root, the runner would open what the "
				   "VM user's links there name; run stop as the VM user, as "
				   "microvm@'s ExecStop= does; --allow-untrusted overrides)\n",
				   t.dir, (unsigned)TU_NOBODY);
	run_reg(&r, &t, "stop", NULL);
	ck_assert_msg(!reg_ran(&t), "microvm-shutdown ran as root in the VM user's directory");
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want_dir), "exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	free(want_dir);
	/* Made by root (root's runner-exec start), in root's directory: it
	 * runs, as root, there. */
	tu_chown(t.dir, 0, 0);
	run_reg(&r, &t, "stop", NULL);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	v = reg_value(&t, "uid");
	ck_assert_str_eq(v ? v : "(none)", "0");
	free(v);
	v = reg_value(&t, "cwd");
	ck_assert_str_eq(v ? v : "(none)", t.dir);
	free(v);
	tu_run_free(&r);
	/* The VM user's own, run as that user (microvm@'s ExecStop=): runs. */
	tu_chown(t.dir, TU_NOBODY, TU_NOBODY);
	char *out = tu_path(t.root, "reg.out");
	ck_assert_int_eq(unlink(out), 0);
	tu_write(t.root, "reg.out", ""); /* for the script, as nobody */
	tu_chown(out, TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(unlink(booted), 0);
	ck_assert_int_eq(tu_fork_call(TU_NOBODY, TU_NOBODY, user_points_booted, &t), 0);
	ck_assert_int_eq(tu_fork_call(TU_NOBODY, TU_NOBODY, user_stops, &t), 0);
	v = reg_value(&t, "uid");
	char uid[32];
	snprintf(uid, sizeof(uid), "%u", (unsigned)TU_NOBODY);
	ck_assert_str_eq(v ? v : "(none)", uid);
	free(v);
	free(out);
	free(second);
	free(want);
	free(booted);
	free(added);
	tu_vm_free(&t);
}
END_TEST

/* Attack (red team): root's `current` with an absolute target that leads
 * through the VM user's directory (STATE/NAME/result, as `nix build`
 * names its output, or a profile of the VM user's): owned by root, one
 * name, absolute, so it passed as root's naming, but the VM user
 * re-points `result` at a runner it added to the store, and unregister
 * ran that runner's program as root. A relative target is refused for
 * this reason; an absolute one is now resolved as root's pin is, only
 * through root's directories and links, and refused otherwise, naming
 * the VM user's directory on the way. */
static int user_points_result(void *arg)
{
	const struct tu_vm *t = arg;
	char *added = tu_path(t->root, "nix-added");
	char *res = tu_path(t->dir, "result");
	int r = symlink(added, res) < 0;
	free(res);
	free(added);
	return r;
}

START_TEST(unregister_current_through_users_link_refused)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *added = tu_path(t.root, "nix-added");
	put_exec(added, "bin/microvm-unregister", reg_script, 0755);
	put_exec(t.runner, "bin/microvm-unregister", "#!/bin/sh\necho who=root > \"$REG_OUT\"\n",
		 0755);
	char *res = tu_path(t.dir, "result");
	point_current(&t, res); /* root's link, absolute, into the VM's directory */
	tu_chown(t.dir, TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(tu_fork_call(TU_NOBODY, TU_NOBODY, user_points_result, &t), 0);
	char *want = xasprintf("runner-exec: alpha: unable to trust '%s': not owned by root: "
			       "'uid %u' (the runner package and the path to it must be root's; "
			       "--allow-untrusted overrides)\n",
			       t.dir, (unsigned)TU_NOBODY);
	struct tu_run r;
	run_reg(&r, &t, "unregister", NULL);
	char *v = reg_value(&t, "uid");
	ck_assert_msg(!v, "the VM user's microvm-unregister ran as uid %s (exit %d: %s)", v,
		      r.status, r.err);
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want), "exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	/* Through the VM user's directory to a link of root's there: refused
	 * too (the VM user could put its own in its place). */
	ck_assert_int_eq(unlink(res), 0);
	tu_symlink(t.runner, res);
	run_reg(&r, &t, "unregister", NULL);
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want), "exit %d: %s", r.status, r.err);
	ck_assert_msg(!reg_ran(&t), "a runner named through the VM user's directory ran");
	tu_run_free(&r);
	/* Root's link straight to the runner: runs. */
	point_current(&t, t.runner);
	run_reg(&r, &t, "unregister", NULL);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	v = reg_value(&t, "who");
	ck_assert_str_eq(v ? v : "(none)", "root");
	free(v);
	tu_run_free(&r);
	free(want);
	free(res);
	free(added);
	tu_vm_free(&t);
}
END_TEST

/* With root's pin (MICROVM_RUNNER_PINS/NAME), unregister runs the pinned
 * runner's program, whatever `current` names: here a link of the guest's
 * root (uid 0, through a share) that the VM user moved in. */
START_TEST(unregister_pinned_runner)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *added = tu_path(t.root, "nix-added");
	put_exec(added, "bin/microvm-unregister", "#!/bin/sh\necho who=added > \"$REG_OUT\"\n",
		 0755);
	put_exec(t.runner, "bin/microvm-unregister", reg_script, 0755);
	point_current(&t, added); /* uid 0, as the guest's root made it */
	char *pins = tu_path(t.root, "pins");
	char *pin = tu_path(pins, "alpha");
	ck_assert_int_eq(mkdir_p(pins, 0755), 0);
	tu_symlink(t.runner, pin);
	setenv("MICROVM_RUNNER_PINS", pins, 1);
	struct tu_run r;
	run_reg(&r, &t, "unregister", NULL);
	setenv("MICROVM_RUNNER_PINS", TU_NO_PINS, 1);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	char *v = reg_value(&t, "who");
	ck_assert_msg(!v, "the program of the runner `current` names ran");
	v = reg_value(&t, "uid");
	ck_assert_str_eq(v ? v : "(none)", "0");
	free(v);
	tu_run_free(&r);
	free(pin);
	free(pins);
	free(added);
	tu_vm_free(&t);
}
END_TEST

/* register runs current/bin/microvm-register with argv [script, MAINPID],
 * as root, in /, without NOTIFY_SOCKET; a failing script fails the verb. */
START_TEST(register_runs_script)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	put_exec(t.runner, "bin/microvm-register", reg_script, 0755);
	point_current(&t, t.runner);
	pid_t main_pid = start_main(&t);
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)main_pid);

	struct tu_run r;
	run_reg(&r, &t, "register", pid);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	char *v = reg_value(&t, "uid");
	ck_assert_str_eq(v ? v : "(none)", "0");
	free(v);
	v = reg_value(&t, "args");
	ck_assert_str_eq(v ? v : "(none)", "1");
	free(v);
	v = reg_value(&t, "arg1");
	ck_assert_str_eq(v ? v : "(none)", pid);
	free(v);
	v = reg_value(&t, "notify");
	ck_assert_str_eq(v ? v : "(none)", "unset");
	free(v);
	v = reg_value(&t, "cwd");
	ck_assert_str_eq(v ? v : "(none)", "/");
	free(v);
	tu_run_free(&r);

	/* `current` is what counts, as in microvm.nix's unit, not `booted`: a
	 * newer runner root put there is run. */
	char *newer = tu_path(t.root, "newer");
	put_exec(newer, "bin/microvm-register", "#!/bin/sh\necho who=newer > \"$REG_OUT\"\n",
		 0755);
	char *booted = tu_path(t.dir, "booted");
	tu_symlink(t.runner, booted);
	free(booted);
	point_current(&t, newer);
	run_reg(&r, &t, "register", pid);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	v = reg_value(&t, "who");
	ck_assert_str_eq(v ? v : "(none)", "newer");
	free(v);
	tu_run_free(&r);
	point_current(&t, t.runner);

	char *env_exit = "REG_EXIT=3";
	char *bin = tu_bin("runner-exec");
	char *out = tu_path(t.root, "reg.out");
	char *env_out = xasprintf("REG_OUT=%s", out);
	char *env_pid = xasprintf("MAINPID=%s", pid);
	const char *env[] = { env_out, env_pid, env_exit, NULL };
	const char *argv[] = { bin, "--state-dir", t.state, "register", "alpha", NULL };
	tu_run_env(&r, argv, env);
	ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, "bin/microvm-register': exit status 3"), "stderr: %s", r.err);
	tu_run_free(&r);
	free(env_pid);
	free(env_out);
	free(out);
	free(bin);
	free(newer);
	end_main(main_pid);
	tu_vm_free(&t);
}
END_TEST

/* Attack (audit of 2026-12-01, confirmed with a real guest): a guest's
 * root writes through a virtiofs share as host uid 0 (virtiofsd runs as
 * root and keeps the guest's owners, and chowns the share's own
 * directory too). In a writable share below root's directories
 * (/srv/vm-data, a ReadWritePaths= of the virtiofsd unit) it builds
 * R/bin/microvm-unregister, root's and mode 0755 all along; the VM user
 * points `booted` (now: root points `current`) at R and kills its QEMU,
 * and systemd runs `+runner-exec unregister` as root: the guest's program ran as host root. Only a
 * runner below a runner root ($MICROVM_RUNNER_ROOTS; /nix/store on a
 * host) is trusted now: refused, naming the runner and the roots, and
 * nothing runs; the same script in a runner below the root runs. */
START_TEST(unregister_share_runner_refused)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *store = tu_path(t.root, "store");
	char *good = tu_path(store, "runner-alpha");
	char *share = tu_path(t.root, "srv/vm-data/R");
	put_exec(good, "bin/microvm-unregister", reg_script, 0755);
	put_exec(share, "bin/microvm-unregister", reg_script, 0755);
	setenv("MICROVM_RUNNER_ROOTS", store, 1);

	point_current(&t, share);
	struct tu_run r;
	run_reg(&r, &t, "unregister", NULL);
	ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
	char *want = xasprintf("runner-exec: alpha: unable to trust '%s': not below a runner "
			       "root: '%s' ($MICROVM_RUNNER_ROOTS, by default /nix/store, lists "
			       "where runners may lie; --allow-untrusted overrides)\n",
			       share, store);
	ck_assert_msg(!strcmp(r.err, want), "stderr: %s", r.err);
	ck_assert_msg(!reg_ran(&t), "the guest's script ran as root");
	tu_run_free(&r);

	point_current(&t, good);
	run_reg(&r, &t, "unregister", NULL);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	char *v = reg_value(&t, "uid");
	ck_assert_str_eq(v ? v : "(none)", "0");
	free(v);
	tu_run_free(&r);
	free(want);
	free(share);
	free(good);
	free(store);
	setenv("MICROVM_RUNNER_ROOTS", "/tmp", 1); /* as main() set it */
	tu_vm_free(&t);
}
END_TEST

/* unregister runs current/bin/microvm-unregister with no argument; it needs
 * no MAINPID (ExecStopPost= runs after the main process is gone). */
START_TEST(unregister_runs_script)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	put_exec(t.runner, "bin/microvm-unregister", reg_script, 0755);
	point_current(&t, t.runner);
	struct tu_run r;
	run_reg(&r, &t, "unregister", NULL);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	char *v = reg_value(&t, "args");
	ck_assert_str_eq(v ? v : "(none)", "0");
	free(v);
	v = reg_value(&t, "uid");
	ck_assert_str_eq(v ? v : "(none)", "0");
	free(v);
	tu_run_free(&r);
	tu_vm_free(&t);
}
END_TEST

/* Nothing to do, exit 0: no `current`, a runner without the script (not
 * built with registerWithMachined), a main process already gone. */
START_TEST(register_nothing_to_do)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	pid_t main_pid = start_main(&t);
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)main_pid);
	char *cur = tu_path(t.dir, "current");
	ck_assert_int_eq(unlink(cur), 0);
	free(cur);
	struct tu_run r;
	run_reg(&r, &t, "register", pid); /* no current */
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	run_reg(&r, &t, "unregister", NULL);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	tu_run_free(&r);

	point_current(&t, t.runner);
	run_reg(&r, &t, "register", pid);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, "no bin/microvm-register"), "stderr: %s", r.err);
	tu_run_free(&r);
	run_reg(&r, &t, "unregister", NULL);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, "no bin/microvm-unregister"), "stderr: %s", r.err);
	tu_run_free(&r);

	put_exec(t.runner, "bin/microvm-register", reg_script, 0755);
	end_main(main_pid); /* the VM died at once: nothing to register */
	run_reg(&r, &t, "register", pid);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, "is gone"), "stderr: %s", r.err);
	ck_assert(!reg_ran(&t));
	tu_run_free(&r);
	ck_assert(!reg_ran(&t));
	tu_vm_free(&t);
}
END_TEST

/* MAINPID comes from systemd; without it, or with a value that is not a
 * process ID, register fails naming it and runs nothing. */
START_TEST(register_mainpid_checked)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	put_exec(t.runner, "bin/microvm-register", reg_script, 0755);
	point_current(&t, t.runner);
	struct tu_run r;
	run_reg(&r, &t, "register", NULL);
	ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, "runner-exec: alpha: unable to read 'MAINPID': not set"),
		      "stderr: %s", r.err);
	tu_run_free(&r);
	static const char *const bad[] = { "", "12x", "0", "-5", "99999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		run_reg(&r, &t, "register", bad[i]);
		ck_assert_msg(r.status == 1, "'%s': exit %d: %s", bad[i], r.status, r.err);
		char *want = xasprintf("unable to read 'MAINPID': not a process ID: '%s'", bad[i]);
		ck_assert_msg(strstr(r.err, want), "stderr: %s", r.err);
		free(want);
		tu_run_free(&r);
	}
	/* The environment's value is quoted escaped, as every value is
	 * (escape_text()): a backslash, a quote and a newline in it can make
	 * the line say no more than that. */
	run_reg(&r, &t, "register", "1\\x41' 2\n<0>x");
	const char *nl = strchr(r.err, '\n');
	ck_assert_msg(r.status == 1 && nl && nl[1] == '\0' &&
			      strstr(r.err, "unable to read 'MAINPID': not a process ID: "
					    "'1\\\\x41\\' 2\\x0a<0>x'\n"),
		      "exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	ck_assert(!reg_ran(&t));
	tu_vm_free(&t);
}
END_TEST

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Let traced process pid run until its chdir() (or fchdir()) has
 * returned, and hold it there (ptrace syscall stops). */
static void run_past_chdir(pid_t pid)
{
	ck_assert_int_eq(ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)PTRACE_O_TRACESYSGOOD), 0);
	bool in_chdir = false;
	for (int n = 0; n < 100000; n++) {
		int st;
		ck_assert_int_eq(ptrace(PTRACE_SYSCALL, pid, NULL, NULL), 0);
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFSTOPPED(st), "start ended before its chdir: status 0x%x", st);
		if (WSTOPSIG(st) != (SIGTRAP | 0x80))
			continue;
		struct __ptrace_syscall_info si;
		ck_assert_int_gt(ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof(si), &si), 0);
		if (si.op == PTRACE_SYSCALL_INFO_ENTRY) {
			/* (fchdir: start enters the directory it checked) */
			in_chdir = si.entry.nr == SYS_chdir || si.entry.nr == SYS_fchdir;
		} else if (si.op == PTRACE_SYSCALL_INFO_EXIT && in_chdir) {
			ck_assert_msg(si.exit.rval == 0, "start's chdir: %lld", (long long)si.exit.rval);
			return;
		}
	}
	ck_abort_msg("start made no chdir");
}

/* The race of a Type=simple unit: systemd starts ExecStartPost= as soon as
 * it has forked the main process, while that is still runner-exec start,
 * before it runs the runner. register must wait until the main process
 * has exec'd the runner, then run the script (of the runner `current`
 * names). The main process is held (ptrace) right after its exec of
 * runner-exec (_i 0), or once it has changed into the VM's directory, as
 * the runner will be (_i 1): runner-exec there is not the runner yet. */
START_TEST(register_waits_for_exec)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	put_exec(t.runner, "bin/microvm-run", "#!/bin/sh\nexec sleep 30\n", 0755);
	put_exec(t.runner, "bin/microvm-register", reg_script, 0755);
	char *bin = tu_bin("runner-exec");
	pid_t main_pid = fork();
	ck_assert_int_ge(main_pid, 0);
	if (main_pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
			_exit(99);
		execl(bin, bin, "--state-dir", t.state, "start", "alpha", (char *)NULL);
		_exit(98);
	}
	int st;
	ck_assert_int_eq(waitpid(main_pid, &st, 0), main_pid);
	ck_assert_msg(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP, "status 0x%x", st);
	if (_i)
		run_past_chdir(main_pid);

	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)main_pid);
	pid_t reg = fork();
	ck_assert_int_ge(reg, 0);
	if (reg == 0) {
		char *out = tu_path(t.root, "reg.out");
		setenv("REG_OUT", out, 1);
		setenv("MAINPID", pid, 1);
		execl(bin, bin, "--state-dir", t.state, "register", "alpha", (char *)NULL);
		_exit(97);
	}
	usleep(300 * 1000);
	ck_assert_msg(!reg_ran(&t), "registered while the main process was runner-exec start%s",
		      _i ? ", in the VM's directory" : "");
	ck_assert_int_eq(waitpid(reg, &st, WNOHANG), 0); /* still waiting */
	char *booted = tu_path(t.dir, "booted");
	struct stat sb;
	ck_assert_int_ne(lstat(booted, &sb), 0);

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(ptrace(PTRACE_DETACH, main_pid, NULL, NULL), 0);
	ck_assert_int_eq(waitpid(reg, &st, 0), reg);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "register status 0x%x", st);
	ck_assert_msg(ms_since(&t0) < 5000, "register took %ld ms", ms_since(&t0));
	char *v = reg_value(&t, "arg1");
	ck_assert_str_eq(v ? v : "(none)", pid);
	free(v);
	ck_assert_int_eq(lstat(booted, &sb), 0);
	end_main(main_pid);
	free(booted);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* The same race, a step earlier: the main process is still the child
 * systemd forked (its program is systemd's, or systemd-executor's), not yet
 * runner-exec. register must not register that process before it runs
 * the runner: it waits until the main process runs the runner in the VM's
 * directory. Here the main process is this test's child for 300 ms, then
 * runner-exec start; the script notes what MAINPID runs. */
START_TEST(register_waits_for_start_itself)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	put_exec(t.runner, "bin/microvm-run", "#!/bin/sh\nexec sleep 30\n", 0755);
	put_exec(t.runner, "bin/microvm-register", reg_script, 0755);
	char *bin = tu_bin("runner-exec");
	pid_t main_pid = fork();
	ck_assert_int_ge(main_pid, 0);
	if (main_pid == 0) {
		usleep(300 * 1000);
		execl(bin, bin, "--state-dir", t.state, "start", "alpha", (char *)NULL);
		_exit(98);
	}
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)main_pid);
	struct tu_run r;
	run_reg(&r, &t, "register", pid);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	char *v = reg_value(&t, "arg1");
	ck_assert_str_eq(v ? v : "(none)", pid);
	free(v);
	v = reg_value(&t, "exe");
	ck_assert_msg(v && *v && !strstr(v, "check-runner") && !strstr(v, "runner-exec"),
		      "registered before the main process ran the runner: it ran %s",
		      v ? v : "(none)");
	free(v);
	tu_run_free(&r);
	end_main(main_pid);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* A main process that never runs in the VM's directory (a runner that
 * changed directory at once): after 10 s register goes on, with a
 * warning, and does not fail the unit. The warning names the directory
 * escaped, as every value is (escape_text()): here a state dir with a
 * backslash and the escape character in its name. */
START_TEST(register_goes_on_after_10s)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *state = tu_path(t.root, "state\\x41\x1b");
	ck_assert_int_eq(rename(t.state, state), 0);
	free(t.state);
	t.state = state;
	free(t.dir);
	t.dir = tu_path(state, "alpha");
	put_exec(t.runner, "bin/microvm-register", reg_script, 0755);
	point_current(&t, t.runner);
	pid_t main_pid = start_main_in("/");
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)main_pid);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct tu_run r;
	run_reg(&r, &t, "register", pid);
	long ms = ms_since(&t0);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	ck_assert_msg(ms >= 9500 && ms < 20000, "took %ld ms", ms);
	char *want = xasprintf("main process %s does not run the runner in "
			       "'%s/state\\\\x41\\x1b/alpha' after 10 s: going on\n",
			       pid, t.root);
	ck_assert_msg(strstr(r.err, want), "stderr: %s", r.err);
	free(want);
	char *v = reg_value(&t, "arg1");
	ck_assert_str_eq(v ? v : "(none)", pid);
	free(v);
	tu_run_free(&r);
	end_main(main_pid);
	tu_vm_free(&t);
}
END_TEST

/* A runner with no bin/microvm-register (microvm.nix's without
 * registerWithMachined, most of them): nothing to register, said at once,
 * without waiting for the main process to run the runner first. Before,
 * register waited for it all the same: by hand, with a MAINPID that never
 * runs it, 10 s and "going on"; under systemd, up to a poll of 10 ms
 * more before each VM's unit was active. */
START_TEST(register_without_script_waits_for_nothing)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	point_current(&t, t.runner);
	pid_t main_pid = start_main_in("/");
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)main_pid);
	struct tu_run r;
	run_reg(&r, &t, "register", pid);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, "no bin/microvm-register, nothing to register"),
		      "stderr: %s", r.err);
	ck_assert_msg(!strstr(r.err, "going on"), "waited for the runner: %s", r.err);
	tu_run_free(&r);
	end_main(main_pid);
	tu_vm_free(&t);
}
END_TEST

/* register that cannot hold the main process by a pidfd (pidfd_open()
 * fails: out of descriptors, or a kernel without it) fails, naming the
 * process and why, and runs nothing as root: without the pidfd it could
 * not tell the main process from one that has its ID by then. Here
 * tests/shims/failat.so makes pidfd_open() fail with EMFILE. */
START_TEST(register_fails_closed_without_a_pidfd)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	put_exec(t.runner, "bin/microvm-register", reg_script, 0755);
	point_current(&t, t.runner);
	pid_t main_pid = start_main(&t);
	struct tu_failat f;
	tu_failat_init(&f, t.root);
	char *bin = tu_bin("runner-exec");
	char *out = tu_path(t.root, "reg.out");
	char *env_out = xasprintf("REG_OUT=%s", out);
	char *env_pid = xasprintf("MAINPID=%ld", (long)main_pid);
	const char *env[] = { env_out, env_pid, f.preload, "FAILAT_PIDFD=1", "FAILAT_ERRNO=EMFILE",
			      NULL };
	const char *argv[] = { bin, "--state-dir", t.state, "register", "alpha", NULL };
	struct tu_run r;
	tu_run_env(&r, argv, env);
	char *want = xasprintf("runner-exec: alpha: unable to inspect 'MAINPID': process %ld: Too "
			       "many open files\n",
			       (long)main_pid);
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want), "exit %d: %s", r.status, r.err);
	ck_assert_msg(!reg_ran(&t), "registered a process it could not hold");
	free(want);
	tu_run_free(&r);
	free(env_pid);
	free(env_out);
	free(out);
	free(bin);
	tu_failat_free(&f);
	end_main(main_pid);
	tu_vm_free(&t);
}
END_TEST

/* A procfs of the test's, ROOT/proc: PID/exe -> exe and PID/cwd -> cwd,
 * which stay there whatever the real process does; self -> /proc/self
 * unless !self. */
static char *fake_procfs(const struct tu_vm *t, pid_t pid, const char *exe, const char *cwd,
			 bool self)
{
	char *procfs = tu_path(t->root, "proc");
	char *rel = xasprintf("%ld/x", (long)pid);
	tu_write(procfs, rel, ""); /* PROCFS/PID/ */
	free(rel);
	char *p = tu_path(procfs, "self");
	if (self)
		tu_symlink("/proc/self", p);
	free(p);
	p = xasprintf("%s/%ld/exe", procfs, (long)pid);
	tu_symlink(exe, p);
	free(p);
	p = xasprintf("%s/%ld/cwd", procfs, (long)pid);
	tu_symlink(cwd, p);
	free(p);
	return procfs;
}

/* runner-exec --state-dir STATE --procfs PROCFS register NAME, MAINPID=pid. */
static void run_reg_procfs(struct tu_run *r, const struct tu_vm *t, const char *procfs,
			   const char *pid)
{
	char *bin = tu_bin("runner-exec");
	char *out = tu_path(t->root, "reg.out");
	char *env_out = xasprintf("REG_OUT=%s", out);
	char *env_pid = xasprintf("MAINPID=%s", pid);
	const char *env[] = { env_out, env_pid, NULL };
	const char *argv[] = { bin, "--state-dir", t->state, "--procfs", procfs, "register",
			       t->name, NULL };
	tu_run_env(r, argv, env);
	free(env_pid);
	free(env_out);
	free(out);
	free(bin);
}

/* Attack: the VM user's main process dies while register waits for it to
 * run the runner, and its process ID goes to another process, of another
 * unit or user (the VM user stalls register's look at /proc/PID/exe, an
 * executable on a FUSE mount of its own with allow_other, while it runs
 * through the process IDs). register waited its 10 s, then ran
 * microvm-register with that ID: machined took another process's unit
 * for the VM's, which `machinectl kill` and the unregister's
 * TerminateMachine act on. The reuse is made with a procfs of the test's
 * (--procfs): PID/exe and PID/cwd, of a process not in the VM's
 * directory, stay there once the real process has exited. register must
 * see that the process it was given is gone (it holds it by a pidfd), and
 * register nothing. */
START_TEST(register_main_pid_reused)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	put_exec(t.runner, "bin/microvm-register", reg_script, 0755);
	point_current(&t, t.runner);
	pid_t main_pid = fork();
	ck_assert_int_ge(main_pid, 0);
	if (main_pid == 0) {
		usleep(300 * 1000);
		_exit(0);
	}
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)main_pid);
	char *procfs = fake_procfs(&t, main_pid, "/bin/sh", "/", true); /* the other process */
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct tu_run r;
	run_reg_procfs(&r, &t, procfs, pid);
	long ms = ms_since(&t0);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	char *v = reg_value(&t, "arg1");
	ck_assert_msg(!reg_ran(&t), "registered process %s, which is not the VM's main process "
				    "any more (after %ld ms): %s",
		      v ? v : "(none)", ms, r.err);
	ck_assert_msg(strstr(r.err, "main process " ) && strstr(r.err, "is gone"), "stderr: %s",
		      r.err);
	ck_assert_msg(ms < 5000, "took %ld ms", ms);
	free(v);
	tu_run_free(&r);
	waitpid(main_pid, NULL, 0);
	free(procfs);
	tu_vm_free(&t);
}
END_TEST

/* The same attack, where the process that has the ID by then runs in
 * the VM's directory (the VM user's own, started there): what /proc says
 * would pass for the runner. Here the main process has exited before
 * register looks (a zombie: its pidfd says it exited), and the procfs of
 * the test shows PID/exe and PID/cwd of another program in the VM's
 * directory. register must take the pidfd's word over /proc's, and
 * register nothing. */
START_TEST(register_main_pid_reused_in_vm_dir)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	put_exec(t.runner, "bin/microvm-register", reg_script, 0755);
	point_current(&t, t.runner);
	pid_t main_pid = fork();
	ck_assert_int_ge(main_pid, 0);
	if (main_pid == 0)
		_exit(0);
	siginfo_t si;
	ck_assert_int_eq(waitid(P_PID, (id_t)main_pid, &si, WEXITED | WNOWAIT), 0);
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)main_pid);
	char *procfs = fake_procfs(&t, main_pid, "/bin/sh", t.dir, true);
	struct tu_run r;
	run_reg_procfs(&r, &t, procfs, pid);
	char *v = reg_value(&t, "arg1");
	ck_assert_msg(r.status == 0 && !reg_ran(&t),
		      "exit %d; registered process %s, which had exited: %s", r.status,
		      v ? v : "(none)", r.err);
	ck_assert_msg(strstr(r.err, "is gone"), "stderr: %s", r.err);
	free(v);
	tu_run_free(&r);
	waitpid(main_pid, NULL, 0);
	free(procfs);
	tu_vm_free(&t);
}
END_TEST

/* register that cannot tell the runner from itself (PROCFS/self/exe is
 * not there to look at: a procfs mounted with subset=pid, or none) fails,
 * naming what it could not read, and runs nothing as root: it never
 * registers a process it could not look at. */
START_TEST(register_fails_closed_when_it_cannot_look)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	put_exec(t.runner, "bin/microvm-register", reg_script, 0755);
	point_current(&t, t.runner);
	pid_t main_pid = start_main(&t);
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)main_pid);
	char *procfs = fake_procfs(&t, main_pid, "/bin/sh", t.dir, false);
	struct tu_run r;
	run_reg_procfs(&r, &t, procfs, pid);
	char *want = xasprintf("runner-exec: alpha: unable to inspect '%s/self/exe': No such file "
			       "or directory\n",
			       procfs);
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want), "exit %d: %s", r.status, r.err);
	ck_assert_msg(!reg_ran(&t), "registered a process it could not look at");
	free(want);
	tu_run_free(&r);
	end_main(main_pid);
	free(procfs);
	tu_vm_free(&t);
}
END_TEST

/* Attack: register runs as root (ExecStartPost=+) and looks at what the
 * VM's main process runs, /proc/PID/exe and /proc/PID/cwd, both of which
 * the VM user can put on a FUSE mount of its own (with allow_other, where
 * /etc/fuse.conf lets it: its process runs a program from there, or is
 * made to), whose daemon answers nothing (stopped). stat() of them asked
 * that daemon and kept register waiting as root, until the unit's timeout.
 * Here a procfs of the test's: PID/exe leads onto that mount, PID/cwd is
 * the VM's directory (the runner's, so register goes on at once once it
 * has looked). Wanted: register looks without asking the daemon, and runs
 * microvm-register. */
START_TEST(register_beside_stalled_fuse)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	put_exec(t.runner, "bin/microvm-register", reg_script, 0755);
	point_current(&t, t.runner);
	char *src = tu_path(t.root, "userdir"), *mnt = tu_path(t.root, "fuse");
	tu_write(src, "probe", "the VM user's\n");
	ck_assert_int_eq(mkdir(mnt, 0755), 0);
	tu_chown(mnt, TU_NOBODY, TU_NOBODY);
	pid_t main_pid = start_main(&t);
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)main_pid);
	char *procfs = fake_procfs(&t, main_pid, mnt, t.dir, true);
	pid_t fs = tu_bindfs_as_roots(src, mnt, "probe");
	ck_assert_int_eq(kill(fs, SIGSTOP), 0);
	usleep(1500 * 1000); /* (what the mount told of itself no longer cached: 1 s) */
	char *bin = tu_bin("runner-exec");
	char *out = tu_path(t.root, "reg.out");
	char *env_out = xasprintf("REG_OUT=%s", out);
	char *env_pid = xasprintf("MAINPID=%s", pid);
	const char *env[] = { env_out, env_pid, NULL };
	const char *argv[] = { "/usr/bin/timeout", "-s", "KILL", "5", bin, "--state-dir", t.state,
			       "--procfs", procfs, "register", t.name, NULL };
	struct tu_run r;
	tu_run_env(&r, argv, env);
	ck_assert_int_eq(kill(fs, SIGCONT), 0);
	tu_bindfs_stop(fs, mnt);
	ck_assert_msg(r.status == 0, "register waited on the stopped FUSE daemon (exit %d): %s",
		      r.status, r.err);
	char *v = reg_value(&t, "arg1");
	ck_assert_msg(v && !strcmp(v, pid), "registered %s, not %s: %s", v ? v : "(none)", pid,
		      r.err);
	free(v);
	tu_run_free(&r);
	free(env_pid);
	free(env_out);
	free(out);
	free(bin);
	end_main(main_pid);
	free(procfs);
	free(mnt);
	free(src);
	tu_vm_free(&t);
}
END_TEST

Suite *register_suite(void)
{
	Suite *s = suite_create("register");
	TCase *tc = tu_tcase_create("register");
	tcase_set_timeout(tc, 30);
	const char *why = tu_need_root();
	tu_add_test_if(tc, register_untrusted_refused, why);
	tu_add_test_if(tc, register_sticky_runner_refused, why);
	tu_add_test_if(tc, register_runs_script, why);
	tu_add_test_if(tc, unregister_runs_script, why);
	tu_add_test_if(tc, unregister_share_runner_refused, why);
	tu_add_test_if(tc, register_user_named_runner_refused, why);
	tu_add_test_if(tc, unregister_pinned_runner, why);
	tu_add_test_if(tc, stop_as_root_users_booted_refused, why);
	tu_add_test_if(tc, unregister_current_through_users_link_refused, why);
	tu_add_test_if(tc, register_nothing_to_do, why);
	tu_add_test_if(tc, register_mainpid_checked, why);
	tu_add_loop_test_if(tc, register_waits_for_exec, 0, 2, why);
	tu_add_test_if(tc, register_waits_for_start_itself, why);
	tu_add_test_if(tc, register_goes_on_after_10s, why);
	tu_add_test_if(tc, register_main_pid_reused, why);
	tu_add_test_if(tc, register_main_pid_reused_in_vm_dir, why);
	tu_add_test_if(tc, register_fails_closed_when_it_cannot_look, why);
	tu_add_test_if(tc, register_fails_closed_without_a_pidfd, why);
	tu_add_test_if(tc, register_without_script_waits_for_nothing, why);
	tu_add_test_if(tc, register_beside_stalled_fuse, tu_need_bindfs());
	suite_add_tcase(s, tc);
	return s;
}
