/* SPDX-License-Identifier: MIT */
/* runner-exec: start (exec in place), stop, cleanup, status. The runner's
 * bin/microvm-run is tests/helpers/runner-probe, which writes what it was
 * handed (argv[0], cwd, NOTIFY_SOCKET, pid) to $RUNNER_PROBE_OUT. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "util.h"

#define NOTIFY "/run/mvm-test-notify.sock"

/* The probe, copied into the runner as rel (root's, 0755, so the runner
 * passes the trust check). */
static void install_probe_as(const char *runner, const char *rel)
{
	char *src = tu_bin("tests/helpers/runner-probe");
	char *buf;
	size_t len;
	ck_assert_msg(read_file(src, 16 << 20, &buf, &len) == 0, "read %s", src);
	tu_write_n(runner, rel, buf, len);
	char *dst = tu_path(runner, rel);
	ck_assert_int_eq(chmod(dst, 0755), 0);
	free(dst);
	free(buf);
	free(src);
}

static void install_probe(const char *runner)
{
	install_probe_as(runner, "bin/microvm-run");
}

static void write_exec(const char *dir, const char *rel, const char *content, mode_t mode)
{
	tu_write(dir, rel, content);
	char *p = tu_path(dir, rel);
	ck_assert_int_eq(chmod(p, mode), 0);
	free(p);
}

/* The value of "key=" in the probe's output, or NULL. */
static char *probe_value(const char *out, const char *key)
{
	char *buf;
	size_t len;
	if (read_file(out, 65536, &buf, &len) < 0)
		return NULL;
	char *res = NULL;
	size_t kl = strlen(key);
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		if (strncmp(line, key, kl) == 0 && line[kl] == '=') {
			res = strdup(line + kl + 1);
			break;
		}
	free(buf);
	return res;
}

static char *link_target(const char *dir, const char *rel)
{
	char *p = tu_path(dir, rel);
	char *t = NULL;
	int r = read_link(p, &t);
	free(p);
	return r < 0 ? NULL : t;
}

static bool exists(const char *dir, const char *rel)
{
	char *p = tu_path(dir, rel);
	struct stat st;
	bool r = lstat(p, &st) == 0;
	free(p);
	return r;
}

/* runner-exec --state-dir STATE VERB NAME, with the probe's environment. */
/* The same with more environment (NULL-terminated "K=V", or NULL). */
static void run_verb_env(struct tu_run *r, const struct tu_vm *t, const char *verb,
			 const char *extra, const char *const more[])
{
	char *bin = tu_bin("runner-exec");
	char *out = tu_path(t->root, "probe.out");
	char *env_out = xasprintf("RUNNER_PROBE_OUT=%s", out);
	const char *env[16] = { env_out, "NOTIFY_SOCKET=" NOTIFY };
	for (size_t i = 0, k = 2; more && more[i] && k < 15; i++)
		env[k++] = more[i];
	const char *argv[8];
	size_t n = 0;
	argv[n++] = bin;
	argv[n++] = "--state-dir";
	argv[n++] = t->state;
	if (extra)
		argv[n++] = extra;
	argv[n++] = verb;
	argv[n++] = t->name;
	argv[n] = NULL;
	tu_run_env(r, argv, env);
	free(env_out);
	free(out);
	free(bin);
}

static void run_verb(struct tu_run *r, const struct tu_vm *t, const char *verb, const char *extra)
{
	run_verb_env(r, t, verb, extra, NULL);
}

START_TEST(start_execs_in_place)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	install_probe(t.runner);
	char *bin = tu_bin("runner-exec");
	char *out = tu_path(t.root, "probe.out");

	/* Fork and exec runner-exec ourselves: the probe must report the
	 * very pid we started (exec in place, no fork in between). */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("RUNNER_PROBE_OUT", out, 1);
		setenv("NOTIFY_SOCKET", NOTIFY, 1);
		execl(bin, bin, "--state-dir", t.state, "start", "alpha", (char *)NULL);
		_exit(99);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);

	char *v = probe_value(out, "pid");
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(atol(v), pid);
	free(v);
	v = probe_value(out, "argv0");
	ck_assert_str_eq(v, "microvm@alpha");
	free(v);
	v = probe_value(out, "cwd");
	ck_assert_str_eq(v, t.dir);
	free(v);
	v = probe_value(out, "notify");
	ck_assert_str_eq(v, NOTIFY);
	free(v);
	v = probe_value(out, "argc");
	ck_assert_str_eq(v, "1");
	free(v);

	char *b = link_target(t.dir, "booted");
	ck_assert_str_eq(b, t.runner);
	free(b);
	free(out);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* An old `booted` is replaced, through a temporary name that does not
 * stay behind; `booted` names the resolved runner, not `current`'s text. */
START_TEST(start_replaces_booted)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	install_probe(t.runner);
	char *old = tu_path(t.dir, "booted");
	ck_assert_int_eq(symlink("/nonexistent/old-runner", old), 0);
	/* current -> a link to the runner: booted gets the runner itself. */
	char *hop = tu_path(t.root, "hop");
	ck_assert_int_eq(symlink(t.runner, hop), 0);
	char *cur = tu_path(t.dir, "current");
	ck_assert_int_eq(unlink(cur), 0);
	ck_assert_int_eq(symlink(hop, cur), 0);

	struct tu_run r;
	run_verb(&r, &t, "start", NULL);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	char *b = link_target(t.dir, "booted");
	ck_assert_str_eq(b, t.runner);
	free(b);

	/* Only current and booted: the temporary link did not stay. */
	DIR *d = opendir(t.dir);
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		ck_assert_msg(strcmp(de->d_name, "current") == 0 ||
				      strcmp(de->d_name, "booted") == 0,
			      "left behind: %s", de->d_name);
		n++;
	}
	closedir(d);
	ck_assert_int_eq(n, 2);
	tu_run_free(&r);
	free(cur);
	free(hop);
	free(old);
	tu_vm_free(&t);
}
END_TEST

START_TEST(start_booted_directory_refused)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	install_probe(t.runner);
	char *bd = tu_path(t.dir, "booted");
	ck_assert_int_eq(mkdir(bd, 0755), 0);
	struct tu_run r;
	run_verb(&r, &t, "start", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "booted"));
	ck_assert(!exists(t.root, "probe.out"));
	struct stat st;
	ck_assert_int_eq(lstat(bd, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	tu_run_free(&r);
	free(bd);
	tu_vm_free(&t);
}
END_TEST

START_TEST(start_missing_run)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	struct tu_run r;
	run_verb(&r, &t, "start", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "runner-exec: alpha: unable to find '") &&
			      strstr(r.err, "bin/microvm-run': No such file or directory"),
		      "stderr: %s", r.err);
	ck_assert(!exists(t.dir, "booted"));
	tu_run_free(&r);
	tu_vm_free(&t);
}
END_TEST

START_TEST(start_not_executable)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	write_exec(t.runner, "bin/microvm-run", "#!/bin/sh\nexit 0\n", 0644);
	struct tu_run r;
	run_verb(&r, &t, "start", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "bin/microvm-run': Permission denied"), "stderr: %s", r.err);
	ck_assert(!exists(t.dir, "booted"));
	tu_run_free(&r);
	tu_vm_free(&t);
}
END_TEST

START_TEST(start_no_current)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *cur = tu_path(t.dir, "current");
	ck_assert_int_eq(unlink(cur), 0);
	struct tu_run r;
	run_verb(&r, &t, "start", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "current'"), "stderr: %s", r.err);
	tu_run_free(&r);
	free(cur);
	tu_vm_free(&t);
}
END_TEST

/* A runner the VM user could have written (group-writable, or not
 * root's) is refused by name; --allow-untrusted is the explicit way out. */
START_TEST(start_untrusted)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	install_probe(t.runner);
	ck_assert_int_eq(chmod(t.runner, 0775), 0);
	struct tu_run r;
	run_verb(&r, &t, "start", NULL);
	ck_assert_int_eq(r.status, 1);
	char *want = xasprintf("unable to trust '%s': writable by group or others", t.runner);
	ck_assert_msg(strstr(r.err, want), "stderr: %s", r.err);
	free(want);
	ck_assert(!exists(t.dir, "booted"));
	ck_assert(!exists(t.root, "probe.out"));
	tu_run_free(&r);

	ck_assert_int_eq(chmod(t.runner, 0755), 0);
	char *run = tu_path(t.runner, "bin/microvm-run");
	ck_assert_int_eq(chown(run, 1234, 0), 0);
	run_verb(&r, &t, "start", NULL);
	ck_assert_int_eq(r.status, 1);
	want = xasprintf("unable to trust '%s': not owned by root", run);
	ck_assert_msg(strstr(r.err, want), "stderr: %s", r.err);
	free(want);
	ck_assert(!exists(t.dir, "booted"));
	tu_run_free(&r);

	run_verb(&r, &t, "start", "--allow-untrusted");
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert(exists(t.dir, "booted"));
	ck_assert(exists(t.root, "probe.out"));
	tu_run_free(&r);
	free(run);
	tu_vm_free(&t);
}
END_TEST

/* Attack (red team, runner-exec start run as root): the runner works in
 * the VM's directory (its relative paths, volumes and sockets, resolve
 * there: microvm.nix makes a missing volume image with mkfs), and that
 * directory is the VM user's. An admin's `runner-exec start NAME` by
 * hand, as root, ran root's runner, as root, where the VM user had put
 * var.img -> a file of root's: the runner wrote root's file. Run as root,
 * start now takes only a VM directory of root's, unwritable by anyone
 * else, entered by the descriptor it checked (the state dir is the VM
 * user's, who could rename another in its place); the VM user's is
 * refused, naming it and its owner, nothing changed. */
static int user_plants_volume(void *arg)
{
	const struct tu_vm *t = arg;
	char *img = tu_path(t->dir, "var.img");
	char *victim = tu_path(t->root, "victim");
	int r = symlink(victim, img) < 0;
	free(victim);
	free(img);
	return r;
}

START_TEST(start_as_root_in_users_dir_refused)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	write_exec(t.runner, "bin/microvm-run", "#!/bin/sh\necho \"uid $(id -u)\" >> var.img\n",
		   0755);
	tu_write(t.root, "victim", "root's\n");
	tu_chown(t.dir, TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(tu_fork_call(TU_NOBODY, TU_NOBODY, user_plants_volume, &t), 0);
	char *victim = tu_path(t.root, "victim");
	char *want = xasprintf("runner-exec: alpha: unable to enter '%s' as root: not owned by "
			       "root: 'uid %u' (run as root, the runner would open what the VM "
			       "user's links there name; run start as the VM user, as microvm@'s "
			       "ExecStart= does; --allow-untrusted overrides)\n",
			       t.dir, (unsigned)TU_NOBODY);
	struct tu_run r;
	run_verb(&r, &t, "start", NULL);
	char *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(read_file(victim, 4096, &buf, &len), 0);
	ck_assert_msg(!strcmp(buf, "root's\n"), "root's file written by the runner, run as "
		      "root in the VM user's directory: '%s' (exit %d: %s)", buf, r.status, r.err);
	free(buf);
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want), "exit %d: %s", r.status, r.err);
	ck_assert(!exists(t.dir, "booted"));
	tu_run_free(&r);
	/* Root's directory, but writable by the VM user's group: the same. */
	tu_chown(t.dir, 0, TU_NOBODY);
	tu_chmod(t.dir, 0775);
	run_verb(&r, &t, "start", NULL);
	ck_assert_msg(r.status == 1 && strstr(r.err, "writable by group or others: 'mode 0775'"),
		      "exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	/* Root's and unwritable by others: it runs, there. */
	tu_chmod(t.dir, 0755);
	char *img = tu_path(t.dir, "var.img");
	ck_assert_int_eq(unlink(img), 0);
	run_verb(&r, &t, "start", NULL);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	ck_assert_int_eq(read_file(img, 4096, &buf, &len), 0);
	ck_assert_str_eq(buf, "uid 0\n");
	free(img);
	free(buf);
	tu_run_free(&r);
	/* Reached through a link in the state dir (with root's pin, which
	 * does not ask for `current` in the VM's own directory): a link the
	 * VM user could point anywhere, as another's directory of root's. */
	char *real = tu_path(t.state, "elsewhere");
	char *pins = tu_path(t.root, "pins");
	char *pin = tu_path(pins, "alpha");
	ck_assert_int_eq(rename(t.dir, real), 0);
	tu_symlink(real, t.dir);
	ck_assert_int_eq(mkdir(pins, 0755), 0);
	tu_symlink(t.runner, pin);
	char *env_pins = xasprintf("MICROVM_RUNNER_PINS=%s", pins);
	const char *const more[] = { env_pins, NULL };
	char *booted = tu_path(real, "booted");
	ck_assert_int_eq(unlink(booted), 0);
	run_verb_env(&r, &t, "start", NULL, more);
	ck_assert_msg(r.status == 1 && strstr(r.err, "not a directory (run as root, a symlink is "
						     "not followed)"),
		      "exit %d: %s", r.status, r.err);
	ck_assert_msg(!exists(real, "booted"), "start as root went through the link %s", t.dir);
	tu_run_free(&r);
	free(booted);
	free(env_pins);
	free(pin);
	free(pins);
	free(real);
	free(want);
	free(victim);
	tu_vm_free(&t);
}
END_TEST

/* Attack: run as root (an admin's start by hand), start checked the VM's
 * directory vm_open() had opened, then opened STATE/NAME again by path to
 * enter it. The state dir is the VM user's too (NixOS: 0775 microvm:kvm),
 * and that user renamed NAME's directory away and another VM's, root's
 * too, into its place in between (here, held there by gate.so after
 * start's first look-up of NAME): NAME's runner ran as root in the other
 * VM's directory, and `booted` was pointed there. Wanted: the runner runs
 * in the directory vm_open() checked, whatever its name now, and the other
 * VM's directory is left as it was. */
static int user_swaps_dirs(void *arg)
{
	char *const *p = arg; /* NAME's directory, where it goes, the other's */
	return rename(p[0], p[1]) < 0 || rename(p[2], p[0]) < 0;
}

START_TEST(start_dir_swapped_after_open)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	install_probe(t.runner);
	char *beta = tu_path(t.state, "beta"), *moved = tu_path(t.state, "alpha.moved");
	char *out = tu_path(t.root, "probe.out");
	ck_assert_int_eq(mkdir(beta, 0755), 0);
	tu_chown(t.state, 0, TU_NOBODY); /* (the VM user's group's, as on NixOS) */
	tu_chmod(t.state, 0775);
	char *gate = tu_path(t.root, "gate"), *reached = tu_path(t.root, "gate.reached");
	tu_write(t.root, "gate", "");
	char *gshim = tu_bin("tests/shims/gate.so");
	char *preload = xasprintf("LD_PRELOAD=%s", gshim), *genv = xasprintf("GATE_FILE=%s", gate);
	const char *const more[] = { preload, genv, "GATE_AT=resolve:alpha", NULL };
	pid_t user = fork();
	ck_assert_int_ge(user, 0);
	if (user == 0) {
		int held = 0;
		for (int i = 0; i < 1000 && !(held = access(reached, F_OK) == 0); i++)
			usleep(10000);
		char *dirs[] = { t.dir, moved, beta };
		int swapped = held && tu_fork_call(TU_NOBODY, TU_NOBODY, user_swaps_dirs, dirs) == 0;
		unlink(gate);
		_exit(held ? swapped ? 0 : 2 : 1);
	}
	struct tu_run r;
	run_verb_env(&r, &t, "start", NULL, more);
	int st = 0;
	ck_assert_int_eq(waitpid(user, &st, 0), user);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "start was %s; exit %d: %s",
		      WIFEXITED(st) && WEXITSTATUS(st) == 1 ? "never held after a look-up of alpha"
							     : "held, but the VM user's renames failed",
		      r.status, r.err);
	char *cwd = probe_value(out, "cwd");
	ck_assert_msg(r.status == 0 && cwd && !strcmp(cwd, moved),
		      "alpha's runner ran as root in %s, not in alpha's directory (now %s); exit "
		      "%d: %s",
		      cwd ? cwd : "(none)", moved, r.status, r.err);
	ck_assert_msg(!exists(t.dir, "booted"), "`booted` pointed in beta's directory");
	ck_assert_msg(exists(moved, "booted"), "`booted` not pointed in alpha's directory");
	free(cwd);
	tu_run_free(&r);
	free(genv);
	free(preload);
	free(gshim);
	free(reached);
	free(gate);
	free(out);
	free(moved);
	free(beta);
	tu_vm_free(&t);
}
END_TEST

/* exec itself fails after the checks: 127 when the program (here its
 * interpreter) is missing, 126 when it cannot be executed. */
/* A start whose exec fails leaves `booted` as it found it: absent, or
 * naming the runner it named (no runner started, none is booted). */
START_TEST(start_exec_failure_status)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	write_exec(t.runner, "bin/microvm-run", "#!/nonexistent/interpreter\n", 0755);
	struct tu_run r;
	run_verb(&r, &t, "start", NULL);
	ck_assert_int_eq(r.status, 127);
	/* The file is there: "No such file or directory" alone sent an admin
	 * looking for bin/microvm-run, not for the #! line's program. */
	ck_assert_msg(strstr(r.err, "unable to execute '") &&
			      strstr(r.err, "bin/microvm-run': not found: its interpreter (#! "
					    "line) or ELF loader\n"),
		      "stderr: %s", r.err);
	ck_assert_msg(!exists(t.dir, "booted"), "a failed start left 'booted'");
	tu_run_free(&r);

	char *booted = tu_path(t.dir, "booted");
	ck_assert_int_eq(symlink("/nix/store/old-runner", booted), 0);
	write_exec(t.runner, "bin/microvm-run", "\x01\x02 not a program\n", 0755);
	run_verb(&r, &t, "start", NULL);
	ck_assert_int_eq(r.status, 126);
	ck_assert_msg(strstr(r.err, "Exec format error"), "stderr: %s", r.err);
	char target[PATH_MAX];
	ssize_t n = readlink(booted, target, sizeof(target) - 1);
	ck_assert_msg(n > 0, "a failed start removed 'booted'");
	target[n] = '\0';
	ck_assert_str_eq(target, "/nix/store/old-runner");
	tu_run_free(&r);
	free(booted);
	tu_vm_free(&t);
}
END_TEST

/* What a user would check of a VM's directory: where `booted` points
 * (or that there is none), and every other name in it. */
static char *vm_dir_state(const struct tu_vm *t)
{
	char *out = NULL, *b = link_target(t->dir, "booted");
	size_t len;
	FILE *f = open_memstream(&out, &len);
	ck_assert_ptr_nonnull(f);
	fprintf(f, "booted -> %s;", b ? b : "(none)");
	DIR *d = opendir(t->dir);
	ck_assert_ptr_nonnull(d);
	for (struct dirent *de; (de = readdir(d));)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "booted"))
			fprintf(f, " %s", de->d_name);
	closedir(d);
	ck_assert_int_eq(fclose(f), 0);
	free(b);
	return out;
}

/* start whose Nth call that can change the host fails (tests/shims/
 * failat.so: the call is not made, it returns an errno, start goes on),
 * for every N of a clean start in turn: exit 1, one error line naming
 * what failed, the runner not started, and `booted` as it was (none, _i
 * 0; an older runner's, _i 1), no temporary link left. */
START_TEST(start_failed_step_leaves_booted)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	install_probe(t.runner);
	char *booted = tu_path(t.dir, "booted"), *out = tu_path(t.root, "probe.out");
	struct tu_failat f;
	tu_failat_init(&f, t.root);
	if (_i)
		ck_assert_int_eq(symlink("/nix/store/old-runner", booted), 0);
	char *before = vm_dir_state(&t);
	struct tu_run r;
	run_verb_env(&r, &t, "start", NULL, (const char *const[]){ f.preload, f.logenv, NULL });
	ck_assert_msg(r.status == 0, "start, counting: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	long calls = tu_failat_calls(f.log);
	ck_assert_int_ge(calls, 2); /* the link, its rename */
	for (long n = 1; n <= calls; n++) {
		const char *const *errs = tu_failat_errnos(n);
		for (size_t k = 0; errs[k]; k++) {
			char line[1024];
			tu_failat_at(&f, n, errs[k]);
			unlink(booted);
			if (_i)
				ck_assert_int_eq(symlink("/nix/store/old-runner", booted), 0);
			unlink(out);
			const char *env[] = { f.preload, f.at, f.err, "JOURNAL_STREAM=", NULL };
			run_verb_env(&r, &t, "start", NULL, env);
			const char *what = tu_error_line(r.err, line, sizeof(line));
			ck_assert_msg(r.status == 1, "start, call %ld of %ld failing (%s): exit %d: %s",
				      n, calls, errs[k], r.status, r.err);
			ck_assert_msg(what && !strncmp(what, "runner-exec: alpha: unable to ", 30),
				      "start, call %ld failing (%s): not one error line: %s", n,
				      errs[k], r.err);
			ck_assert_msg(access(out, F_OK) < 0, "start, call %ld failing: the runner ran",
				      n);
			tu_run_free(&r);
			char *now = vm_dir_state(&t);
			ck_assert_msg(!strcmp(now, before),
				      "start, call %ld failing (%s: '%s'): %s, before: %s", n, errs[k],
				      what, now, before);
			free(now);
		}
	}
	free(before);
	tu_failat_free(&f);
	free(out);
	free(booted);
	tu_vm_free(&t);
}
END_TEST

/* A start whose exec fails and whose putting `booted` back fails too (the
 * calls after the exec fail, tests/shims/failat.so) says both: first
 * that `booted` could not be put back (it names a runner that never
 * started), then why the exec failed, exit 127. _i 0: there was no
 * `booted` (it is removed again); _i 1: it named an older runner. */
START_TEST(start_failed_restore_is_said)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	install_probe(t.runner);
	char *booted = tu_path(t.dir, "booted");
	struct tu_failat f;
	tu_failat_init(&f, t.root);
	if (_i)
		tu_symlink("/nix/store/old-runner", booted);
	struct tu_run r;
	run_verb_env(&r, &t, "start", NULL, (const char *const[]){ f.preload, f.logenv, NULL });
	ck_assert_msg(r.status == 0, "start, counting: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	long calls = tu_failat_calls(f.log); /* those of pointing `booted` */
	unlink(booted);
	if (_i)
		tu_symlink("/nix/store/old-runner", booted);
	write_exec(t.runner, "bin/microvm-run", "#!/nonexistent/interpreter\n", 0755);
	tu_failat_from(&f, calls + 1, "EIO");
	run_verb_env(&r, &t, "start", NULL, (const char *const[]){ f.preload, f.at, f.err, NULL });
	const char *nl = strchr(r.err, '\n');
	/* (_i 0: `booted` named whole, as every path in an error is) */
	char *first = _i ? xasprintf("runner-exec: alpha: unable to remove '%s/.booted.", t.dir)
			 : xasprintf("runner-exec: alpha: unable to remove '%s/booted': ", t.dir);
	ck_assert_msg(r.status == 127 && !strncmp(r.err, first, strlen(first)) &&
			      strstr(r.err, "Input/output error\n") == nl - 18 &&
			      !strncmp(nl + 1, "runner-exec: alpha: unable to execute '", 39) &&
			      strchr(nl + 1, '\n')[1] == '\0',
		      "start, its exec and putting 'booted' back failing: exit %d: %s", r.status,
		      r.err);
	free(first);
	tu_run_free(&r);
	tu_failat_free(&f);
	free(booted);
	tu_vm_free(&t);
}
END_TEST

/* A start that was killed between its temporary link and the rename left
 * .booted.PID behind; a later start that gets the same pid (pids are
 * reused, a container's are few) still starts, and leaves only `booted`.
 * Here the test's child makes that link with its own pid, then execs
 * start, which keeps the pid. */
START_TEST(start_replaces_leftover_temp_link)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	install_probe(t.runner);
	char *bin = tu_bin("runner-exec");
	char *out = tu_path(t.root, "probe.out");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char tmp[64];
		snprintf(tmp, sizeof(tmp), ".booted.%ld", (long)getpid());
		char *stale = tu_path(t.dir, tmp);
		if (symlink("/nix/store/stale-runner", stale) < 0)
			_exit(98);
		setenv("RUNNER_PROBE_OUT", out, 1);
		execl(bin, bin, "--state-dir", t.state, "start", "alpha", (char *)NULL);
		_exit(99);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "start with a leftover .booted.%ld: wait status 0x%x", (long)pid, st);
	ck_assert_msg(exists(t.root, "probe.out"), "the runner did not run");
	char *now = vm_dir_state(&t);
	char *want = xasprintf("booted -> %s; current", t.runner);
	ck_assert_str_eq(now, want);
	free(want);
	free(now);
	free(out);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

START_TEST(start_dry_run)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	install_probe(t.runner);
	struct tu_run r;
	run_verb(&r, &t, "start", "--dry-run");
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.out, "would point ") && strstr(r.out, "would exec "), "stdout: %s",
		      r.out);
	ck_assert(!exists(t.dir, "booted"));
	ck_assert(!exists(t.root, "probe.out"));
	tu_run_free(&r);
	tu_vm_free(&t);
}
END_TEST

/* What start, stop and cleanup print with --dry-run names each path
 * escaped as an error names one (escape_text()): a backslash in the
 * state dir (the command line's) and in the runner's path (where
 * `current` points) doubled, the escape character in them as \x1b; so
 * that "state\x41" (a backslash, x, 4, 1) does not read as the escape of
 * "stateA", nor a path holding "\x1b" as one holding the character.
 * (Noticed at the last review: only the line's escape went over them,
 * which keeps a backslash.) */
START_TEST(dry_run_lines_are_escaped)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *state = tu_path(t.root, "state\\x41\x1b");
	ck_assert_int_eq(rename(t.state, state), 0);
	free(t.state);
	t.state = state;
	free(t.dir);
	t.dir = tu_path(state, "alpha");
	char *runner = tu_path(t.root, "runner\\x41\x1b");
	ck_assert_int_eq(rename(t.runner, runner), 0);
	free(t.runner);
	t.runner = runner;
	char *cur = tu_path(t.dir, "current"), *booted = tu_path(t.dir, "booted");
	ck_assert_int_eq(unlink(cur), 0);
	tu_symlink(runner, cur);
	tu_symlink(runner, booted);
	install_probe(runner);
	write_exec(runner, "bin/microvm-shutdown", "#!/bin/sh\nexit 0\n", 0755);
	/* (the temp dir's own name is plain) */
	char *dir = xasprintf("%s/state\\\\x41\\x1b/alpha", t.root);
	char *run = xasprintf("%s/runner\\\\x41\\x1b", t.root);
	static const char *const verbs[] = { "start", "stop", "cleanup" };
	char *want[] = {
		xasprintf("runner-exec: alpha: would point %s/booted at %s\n"
			  "runner-exec: alpha: would exec %s/bin/microvm-run as microvm@alpha\n",
			  dir, run, run),
		xasprintf("runner-exec: alpha: would run %s/bin/microvm-shutdown in %s\n", run,
			  dir),
		xasprintf("runner-exec: alpha: would remove %s/booted\n", dir),
	};
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		struct tu_run r;
		run_verb(&r, &t, verbs[i], "--dry-run");
		ck_assert_msg(r.status == 0 && !strcmp(r.out, want[i]),
			      "%s: exit %d; want:\n%sstdout:\n%sstderr:\n%s", verbs[i], r.status,
			      want[i], r.out, r.err);
		tu_run_free(&r);
		free(want[i]);
		/* and nothing changed: `booted` is where it was */
		char *b = link_target(t.dir, "booted");
		ck_assert_msg(b && !strcmp(b, runner), "%s --dry-run: booted -> %s", verbs[i],
			      b ? b : "(none)");
		free(b);
	}
	ck_assert(!exists(t.root, "probe.out"));
	/* ... and so does --verbose's line of a start, before its exec. */
	struct tu_run r;
	run_verb(&r, &t, "start", "--verbose");
	char *line = xasprintf("booted -> %s; exec %s/bin/microvm-run\n", run, run);
	ck_assert_msg(r.status == 0 && strstr(r.err, line),
		      "start --verbose: exit %d; want: %sstderr:\n%s", r.status, line, r.err);
	ck_assert(exists(t.root, "probe.out"));
	free(line);
	tu_run_free(&r);
	free(run);
	free(dir);
	free(booted);
	free(cur);
	tu_vm_free(&t);
}
END_TEST

static const char shutdown_script[] = "#!/bin/sh\n"
				      "{ echo \"cwd=$(pwd -P)\"; echo \"notify=${NOTIFY_SOCKET-}\";"
				      " echo \"args=$#\"; } > \"$RUNNER_PROBE_OUT\"\n"
				      "exit ${SHUTDOWN_EXIT:-0}\n";

/* stop runs booted/bin/microvm-shutdown in the VM dir, without our
 * NOTIFY_SOCKET, even after `current` was re-pointed. */
START_TEST(stop_runs_shutdown)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	write_exec(t.runner, "bin/microvm-shutdown", shutdown_script, 0755);
	char *booted = tu_path(t.dir, "booted");
	ck_assert_int_eq(symlink(t.runner, booted), 0);
	/* current now names a newer runner without a shutdown script. */
	char *newer = tu_path(t.root, "newer");
	ck_assert_int_eq(mkdir(newer, 0755), 0);
	char *cur = tu_path(t.dir, "current");
	ck_assert_int_eq(unlink(cur), 0);
	ck_assert_int_eq(symlink(newer, cur), 0);

	struct tu_run r;
	run_verb(&r, &t, "stop", NULL);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	char *out = tu_path(t.root, "probe.out");
	char *v = probe_value(out, "cwd");
	ck_assert_str_eq(v, t.dir);
	free(v);
	v = probe_value(out, "notify");
	ck_assert_str_eq(v, "");
	free(v);
	/* stop leaves `booted` to cleanup (ExecStopPost). */
	ck_assert(exists(t.dir, "booted"));
	tu_run_free(&r);
	free(out);
	free(cur);
	free(newer);
	free(booted);
	tu_vm_free(&t);
}
END_TEST

/* A parent that ignores SIGCHLD passes that on through exec (a script
 * that wants no zombies, an admin's supervisor): the kernel then reaps
 * the children itself and waitpid() finds none. stop's shutdown script
 * succeeds and so does stop, and its failure is still told. Found by a
 * helper after the same in virtiofs-launch; before: "unable to wait for
 * '.../bin/microvm-shutdown': No child processes", exit 1. */
START_TEST(stop_with_sigchld_ignored)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	write_exec(t.runner, "bin/microvm-shutdown", shutdown_script, 0755);
	char *booted = tu_path(t.dir, "booted");
	ck_assert_int_eq(symlink(t.runner, booted), 0);
	const char *const ign[] = {"SIGCHLD=ignored", NULL};
	const char *const ign3[] = {"SIGCHLD=ignored", "SHUTDOWN_EXIT=3", NULL};
	struct tu_run r;
	run_verb_env(&r, &t, "stop", NULL, ign);
	ck_assert_msg(r.status == 0 && !strcmp(r.err, ""), "status %d: %s", r.status, r.err);
	tu_run_free(&r);
	run_verb_env(&r, &t, "stop", NULL, ign3);
	ck_assert_msg(r.status == 1 && strstr(r.err, "bin/microvm-shutdown': exit status 3"),
		      "status %d: %s", r.status, r.err);
	tu_run_free(&r);
	free(booted);
	tu_vm_free(&t);
}
END_TEST

/* microvm-shutdown starts as a program expects, whatever runner-exec stop
 * was handed (here SIGCHLD and SIGPIPE ignored, as systemd ignores SIGPIPE
 * for a service, and a descriptor not close-on-exec):
 * no signal ignored, no descriptor but 0, 1 and 2 (DESIGN.md: children
 * get every descriptor close-on-exec and reset signals). */
START_TEST(stop_shutdown_gets_a_clean_start)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	install_probe_as(t.runner, "bin/microvm-shutdown");
	char *booted = tu_path(t.dir, "booted");
	ck_assert_int_eq(symlink(t.runner, booted), 0);
	int fd = open("/dev/null", O_RDONLY); /* handed on to runner-exec */
	ck_assert_int_ge(fd, 3);
	const char *const ign[] = { "SIGCHLD=ignored", "SIGPIPE=ignored", NULL };
	struct tu_run r;
	run_verb_env(&r, &t, "stop", NULL, ign);
	close(fd);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	char *out = tu_path(t.root, "probe.out");
	char *v = probe_value(out, "sigign");
	ck_assert_msg(v && strspn(v, "0") == strlen(v) && *v,
		      "microvm-shutdown started with signals ignored: SigIgn %s", v ? v : "(none)");
	free(v);
	v = probe_value(out, "fds");
	ck_assert_msg(v && !strcmp(v, ""), "microvm-shutdown was handed descriptors %s",
		      v ? v : "(none)");
	free(v);
	tu_run_free(&r);
	free(out);
	free(booted);
	tu_vm_free(&t);
}
END_TEST

START_TEST(stop_shutdown_fails)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	write_exec(t.runner, "bin/microvm-shutdown", "#!/bin/sh\nexit 3\n", 0755);
	char *booted = tu_path(t.dir, "booted");
	ck_assert_int_eq(symlink(t.runner, booted), 0);
	struct tu_run r;
	run_verb(&r, &t, "stop", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "bin/microvm-shutdown': exit status 3"), "stderr: %s", r.err);
	tu_run_free(&r);
	/* Any status but 0 is a failure, 1 too (a shell's "false"). */
	write_exec(t.runner, "bin/microvm-shutdown", "#!/bin/sh\nexit 1\n", 0755);
	run_verb(&r, &t, "stop", NULL);
	ck_assert_msg(r.status == 1 && strstr(r.err, "bin/microvm-shutdown': exit status 1"),
		      "stop, microvm-shutdown exit 1: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	/* Killed by a signal is no success either (128 + the signal, as a
	 * shell says it). */
	write_exec(t.runner, "bin/microvm-shutdown", "#!/bin/sh\nkill -KILL $$\n", 0755);
	run_verb(&r, &t, "stop", NULL);
	ck_assert_msg(r.status == 1, "stop, microvm-shutdown killed: exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, "bin/microvm-shutdown': exit status 137"), "stderr: %s", r.err);
	tu_run_free(&r);
	/* One that cannot be executed (its interpreter is missing): why. */
	write_exec(t.runner, "bin/microvm-shutdown", "#!/nonexistent/interpreter\n", 0755);
	run_verb(&r, &t, "stop", NULL);
	ck_assert_msg(r.status == 1 && strstr(r.err, "unable to start '") &&
			      strstr(r.err, "bin/microvm-shutdown': not found: its interpreter "
					    "(#! line) or ELF loader\n"),
		      "stop, microvm-shutdown not executable: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	free(booted);
	tu_vm_free(&t);
}
END_TEST

/* Nothing to run: no shutdown script, no `booted`, or a `booted` whose
 * runner is gone. All succeed: systemd's SIGTERM does the rest. */
START_TEST(stop_without_shutdown)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	install_probe(t.runner);
	struct tu_run r;
	run_verb(&r, &t, "stop", NULL); /* no booted */
	ck_assert_msg(r.status == 0 && strstr(r.err, "alpha: no booted runner, nothing to do\n"),
		      "stop without 'booted': status %d: %s", r.status, r.err);
	tu_run_free(&r);

	char *booted = tu_path(t.dir, "booted");
	ck_assert_int_eq(symlink(t.runner, booted), 0);
	run_verb(&r, &t, "stop", NULL); /* runner without microvm-shutdown */
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "no bin/microvm-shutdown"));
	tu_run_free(&r);

	ck_assert_int_eq(unlink(booted), 0);
	ck_assert_int_eq(symlink("/nonexistent/garbage-collected", booted), 0);
	run_verb(&r, &t, "stop", NULL);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	tu_run_free(&r);
	ck_assert(!exists(t.root, "probe.out"));
	free(booted);
	tu_vm_free(&t);
}
END_TEST

/* Attack (red team, runner-exec cleanup run as root): the state dir is
 * the VM user's, who can put a link in place of its VM's directory; an
 * admin's cleanup by hand, as root, followed it and removed a `booted`
 * of root's elsewhere (any symlink of that name the VM user can point
 * at). Run as root, cleanup does not follow a link in the VM's place:
 * refused, naming it, nothing removed. (As the VM user, as microvm@'s
 * ExecStopPost= runs it, it acts on what that user may change anyway.) */
START_TEST(cleanup_as_root_through_link_refused)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *elsewhere = tu_path(t.root, "roots-own");
	ck_assert_int_eq(mkdir(elsewhere, 0755), 0);
	char *theirs = tu_path(elsewhere, "booted");
	tu_symlink("/nix/store/roots-own", theirs);
	char *moved = tu_path(t.state, "alpha.moved");
	ck_assert_int_eq(rename(t.dir, moved), 0);
	tu_symlink(elsewhere, t.dir);
	struct tu_run r;
	run_verb(&r, &t, "cleanup", NULL);
	ck_assert_msg(exists(elsewhere, "booted"),
		      "cleanup as root removed %s, through the link %s (exit %d: %s)", theirs,
		      t.dir, r.status, r.err);
	/* as start says it: the link, and where it leads */
	char *want = xasprintf("runner-exec: alpha: unable to trust '%s': a symlink in the state "
			       "dir (refused: the VM user could point it anywhere): '%s' (a VM's "
			       "directory is a directory of the state dir, not a link; "
			       "--allow-untrusted overrides)\n",
			       t.dir, elsewhere);
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want), "exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	/* ... and --allow-untrusted overrides, as it says: the link followed
	 * (as the VM user's cleanup follows it), the `booted` there removed */
	run_verb(&r, &t, "cleanup", "--allow-untrusted");
	ck_assert_msg(r.status == 0 && !exists(elsewhere, "booted"),
		      "cleanup --allow-untrusted through the link %s: exit %d: %s", t.dir, r.status,
		      r.err);
	tu_run_free(&r);
	free(want);
	free(moved);
	free(theirs);
	free(elsewhere);
	tu_vm_free(&t);
}
END_TEST

/* Attack (cleanup run as root, by hand): the VM user mounts a FUSE file
 * system of its own (with allow_other, where /etc/fuse.conf lets it)
 * whose daemon answers nothing (stopped), on its VM's directory (case
 * 0) or on a directory `booted` in it (case 1). cleanup opened
 * STATE/NAME by path and stat()ed `booted`, each a question to that
 * daemon, and root's shell waited for ever. Wanted: cleanup finishes
 * without asking it; case 0 refused, naming the mount and FUSE; case 1
 * "not a symlink, left alone", as any directory there. */
START_TEST(cleanup_beside_stalled_fuse)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *bin = tu_bin("runner-exec");
	char *src = tu_path(t.root, "userdir");
	char *mnt = _i == 0 ? strdup(t.dir) : tu_path(t.dir, "booted");
	tu_write(src, "probe", "the VM user's\n");
	tu_write(src, "booted/.keep", "");
	if (_i == 0) {
		tu_rm_rf(t.dir);
		ck_assert_int_eq(mkdir(t.dir, 0755), 0);
	} else {
		ck_assert_int_eq(mkdir(mnt, 0755), 0);
	}
	tu_chown(mnt, TU_NOBODY, TU_NOBODY);
	pid_t fs = tu_bindfs_as_roots(src, mnt, "probe");
	ck_assert_int_eq(kill(fs, SIGSTOP), 0);
	usleep(1500 * 1000); /* (what the mount told of itself no longer cached: 1 s) */
	const char *argv[] = { "/usr/bin/timeout", "-s", "KILL", "5", bin, "--state-dir",
			       t.state, "cleanup", "alpha", NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_int_eq(kill(fs, SIGCONT), 0);
	tu_bindfs_stop(fs, mnt);
	ck_assert_msg(r.status != 137, "case %d: cleanup waited on the stopped FUSE daemon on %s",
		      _i, mnt);
	if (_i == 0)
		ck_assert_msg(r.status == 1 && strstr(r.err, t.dir) && strstr(r.err, "FUSE") &&
				      !strchr(r.err, '\n')[1],
			      "case 0: exit %d: %s", r.status, r.err);
	else
		ck_assert_msg(r.status == 1 && strstr(r.err, "booted': not a symlink, left alone"),
			      "case 1: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	free(mnt);
	free(src);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

START_TEST(cleanup_removes_symlink_only)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *booted = tu_path(t.dir, "booted");
	ck_assert_int_eq(symlink(t.runner, booted), 0);
	struct tu_run r;
	run_verb(&r, &t, "cleanup", NULL);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert(!exists(t.dir, "booted"));
	ck_assert(exists(t.dir, "current"));
	tu_run_free(&r);

	run_verb(&r, &t, "cleanup", NULL); /* again: nothing to do */
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	tu_run_free(&r);

	tu_write(t.dir, "booted", "not a link\n");
	run_verb(&r, &t, "cleanup", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "booted': not a symlink"), "stderr: %s", r.err);
	char *buf;
	size_t len;
	ck_assert_int_eq(read_file(booted, 100, &buf, &len), 0);
	ck_assert_str_eq(buf, "not a link\n");
	free(buf);
	tu_run_free(&r);

	/* No VM directory at all (removed while the VM ran; here a file in
	 * its place): no `booted` either, nothing to do. */
	char *other = tu_path(t.root, "other-state");
	ck_assert_int_eq(mkdir(other, 0755), 0);
	tu_write(other, "alpha", "not a directory\n");
	char *bin = tu_bin("runner-exec");
	const char *argv[] = { bin, "--state-dir", other, "cleanup", "alpha", NULL };
	tu_run(&r, argv);
	ck_assert_msg(r.status == 0 && !strcmp(r.err, ""),
		      "cleanup, no VM directory: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	free(bin);
	free(other);
	free(booted);
	tu_vm_free(&t);
}
END_TEST

/* ROOT/rel: a runner package whose share/microvm/system -> system. */
static char *make_runner(const struct tu_vm *t, const char *rel, const char *system)
{
	char *runner = tu_path(t->root, rel);
	char *share = tu_path(runner, "share/microvm");
	ck_assert_int_eq(mkdir_p(share, 0755), 0);
	char *sys = tu_path(share, "system");
	ck_assert_int_eq(symlink(system, sys), 0);
	free(sys);
	free(share);
	return runner;
}

/* Another VM in t's state dir: current's runner has current_sys; with
 * booted_sys, a `booted` runner with that system. */
static void add_vm(const struct tu_vm *t, const char *name, const char *current_sys,
		   const char *booted_sys)
{
	char *dir = tu_path(t->state, name);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	char *rel = xasprintf("runner-%s-current", name);
	char *runner = make_runner(t, rel, current_sys);
	char *link = tu_path(dir, "current");
	ck_assert_int_eq(symlink(runner, link), 0);
	free(link);
	free(runner);
	free(rel);
	if (booted_sys) {
		rel = xasprintf("runner-%s-booted", name);
		runner = make_runner(t, rel, booted_sys);
		link = tu_path(dir, "booted");
		ck_assert_int_eq(symlink(runner, link), 0);
		free(link);
		free(runner);
		free(rel);
	}
	free(dir);
}

/* The line of the table that starts with name, split into words. */
static int table_row(const char *out, const char *name, char words[5][256])
{
	char *copy = strdup(out);
	int n = -1;
	for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
		size_t l = strlen(name);
		if (strncmp(line, name, l) != 0 || line[l] != ' ')
			continue;
		n = sscanf(line, "%255s %255s %255s %255s %255s", words[0], words[1], words[2],
			   words[3], words[4]);
		break;
	}
	free(copy);
	return n;
}

START_TEST(status_table_and_json)
{
	struct tu_vm t;
	tu_vm_make(&t, "zeta"); /* current without a system, not booted */
	add_vm(&t, "alpha", "/nix/store/aaa-nixos-system-alpha", "/nix/store/aaa-nixos-system-alpha");
	add_vm(&t, "beta", "/nix/store/bbb2-nixos-system-beta", "/nix/store/bbb1-nixos-system-beta");
	tu_write(t.state, "not-a-vm", "a file is not a VM\n");
	/* A link in the state dir, even to a VM's directory, is no VM of its
	 * own (no second row for alpha). */
	char *alias = tu_path(t.state, "alias"), *alpha = tu_path(t.state, "alpha");
	tu_symlink(alpha, alias);
	free(alpha);
	free(alias);

	char *bin = tu_bin("runner-exec");
	const char *argv[] = { bin, "--state-dir", t.state, "status", NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	char w[5][256];
	ck_assert_msg(strncmp(r.out, "VM ", 3) == 0, "stdout: %s", r.out);
	ck_assert_int_eq(table_row(r.out, "alpha", w), 5);
	ck_assert_str_eq(w[1], "yes");
	ck_assert_str_eq(w[2], "no");
	ck_assert_str_eq(w[3], "/nix/store/aaa-nixos-system-alpha");
	ck_assert_int_eq(table_row(r.out, "beta", w), 5);
	ck_assert_str_eq(w[1], "yes");
	ck_assert_str_eq(w[2], "yes");
	ck_assert_str_eq(w[3], "/nix/store/bbb2-nixos-system-beta");
	ck_assert_str_eq(w[4], "/nix/store/bbb1-nixos-system-beta");
	ck_assert_int_eq(table_row(r.out, "zeta", w), 5);
	ck_assert_str_eq(w[1], "no");
	ck_assert_str_eq(w[2], "-");
	ck_assert_int_eq(table_row(r.out, "not-a-vm", w), -1);
	ck_assert_msg(table_row(r.out, "alias", w) == -1, "a link listed as a VM: %s", r.out);
	/* Sorted by name. */
	const char *pa = strstr(r.out, "\nalpha"), *pb = strstr(r.out, "\nbeta");
	const char *pz = strstr(r.out, "\nzeta");
	ck_assert(pa && pb && pz && pa < pb && pb < pz);
	tu_run_free(&r);

	const char *jargv[] = { bin, "--state-dir", t.state, "status", "--json", "beta", "alpha",
				NULL };
	tu_run(&r, jargv);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.out, "{\"name\": \"beta\", \"booted\": true, \"outdated\": true,") &&
			      strstr(r.out, "\"current_system\": \"/nix/store/bbb2-nixos-system-beta\""
					    ", \"booted_system\": "
					    "\"/nix/store/bbb1-nixos-system-beta\"}"),
		      "stdout: %s", r.out);
	ck_assert_msg(strstr(r.out, "{\"name\": \"alpha\", \"booted\": true, \"outdated\": false,"),
		      "stdout: %s", r.out);
	ck_assert_ptr_null(strstr(r.out, "zeta"));
	ck_assert(r.out[0] == '[' && strstr(r.out, "\n]\n"));
	tu_run_free(&r);

	const char *zargv[] = { bin, "--state-dir", t.state, "status", "--json", "zeta", NULL };
	tu_run(&r, zargv);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.out, "\"booted\": false, \"outdated\": null, \"current_runner\": \"") &&
			      strstr(r.out, "\"booted_runner\": null, \"current_system\": null"),
		      "stdout: %s", r.out);
	tu_run_free(&r);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* A runner without share/microvm/system (not built by microvm.nix, or an
 * older one): OUTDATED compares the runner packages `current` and
 * `booted` name. A `booted` that is no symlink (a directory the user
 * made; start refuses to replace it) is not a booted runner. */
START_TEST(status_without_system)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha"); /* its runner has no system */
	char *bin = tu_bin("runner-exec");
	const char *argv[] = { bin, "--state-dir", t.state, "status", "alpha", NULL };
	char *booted = tu_path(t.dir, "booted");
	char w[5][256];
	struct tu_run r;
	tu_symlink(t.runner, booted);
	tu_run(&r, argv);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_int_eq(table_row(r.out, "alpha", w), 5);
	ck_assert_msg(!strcmp(w[1], "yes") && !strcmp(w[2], "no"),
		      "booted the runner current names: BOOTED %s, OUTDATED %s", w[1], w[2]);
	tu_run_free(&r);

	char *other = tu_path(t.root, "other-runner");
	ck_assert_int_eq(mkdir(other, 0755), 0);
	ck_assert_int_eq(unlink(booted), 0);
	tu_symlink(other, booted);
	tu_run(&r, argv);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_int_eq(table_row(r.out, "alpha", w), 5);
	ck_assert_msg(!strcmp(w[1], "yes") && !strcmp(w[2], "yes"),
		      "booted another runner: BOOTED %s, OUTDATED %s", w[1], w[2]);
	tu_run_free(&r);

	/* A `booted` whose runner is gone (garbage-collected): booted, and
	 * not the runner `current` names, so outdated. */
	ck_assert_int_eq(unlink(booted), 0);
	tu_symlink("/nonexistent/garbage-collected", booted);
	tu_run(&r, argv);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_int_eq(table_row(r.out, "alpha", w), 5);
	ck_assert_msg(!strcmp(w[1], "yes") && !strcmp(w[2], "yes"),
		      "booted a runner that is gone: BOOTED %s, OUTDATED %s", w[1], w[2]);
	tu_run_free(&r);

	ck_assert_int_eq(unlink(booted), 0);
	ck_assert_int_eq(mkdir(booted, 0755), 0);
	tu_run(&r, argv);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_int_eq(table_row(r.out, "alpha", w), 5);
	ck_assert_msg(!strcmp(w[1], "no") && !strcmp(w[2], "-"),
		      "'booted' a directory: BOOTED %s, OUTDATED %s", w[1], w[2]);
	tu_run_free(&r);
	free(other);
	free(booted);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* Attack: status is an administrator's, run as root; `booted` is the VM
 * user's. A `booted` that names a FIFO, or a runner of the VM user's whose
 * share/microvm/system is a FIFO, must not keep status waiting for a
 * writer: status reads links and names, and opens nothing they lead to. */
START_TEST(status_opens_nothing_booted_names)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *bin = tu_bin("runner-exec");
	char *booted = tu_path(t.dir, "booted"), *fifo = tu_path(t.dir, "fifo");
	char *mine = tu_path(t.dir, "mine"), *sys = tu_path(mine, "share/microvm/system");
	const char *table[] = { "/usr/bin/timeout", "10", bin, "--state-dir", t.state, "status", NULL };
	const char *json[] = { "/usr/bin/timeout", "10", bin, "--state-dir", t.state, "status", "--json",
			       "alpha", NULL };
	char w[5][256];
	struct tu_run r;
	ck_assert_int_eq(mkfifo(fifo, 0644), 0);
	tu_symlink(fifo, booted);
	tu_write(mine, "share/microvm/.keep", "");
	ck_assert_int_eq(mkfifo(sys, 0644), 0);
	for (int k = 0; k < 2; k++) {
		tu_run(&r, table);
		ck_assert_msg(r.status == 0, "booted -> %s: exit %d: %s", k ? "runner" : "FIFO",
			      r.status, r.err);
		ck_assert_int_eq(table_row(r.out, "alpha", w), 5);
		ck_assert_msg(!strcmp(w[1], "yes") && !strcmp(w[2], "yes"),
			      "booted -> %s: BOOTED %s, OUTDATED %s", k ? "runner" : "FIFO", w[1],
			      w[2]);
		tu_run_free(&r);
		tu_run(&r, json);
		ck_assert_msg(r.status == 0 && strstr(r.out, "\"booted\": true"),
			      "booted -> %s: --json exit %d: %s%s", k ? "runner" : "FIFO", r.status,
			      r.out, r.err);
		tu_run_free(&r);
		ck_assert_int_eq(unlink(booted), 0);
		tu_symlink(mine, booted);
	}
	free(sys);
	free(mine);
	free(fifo);
	free(booted);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* Attack: status is an administrator's, run as root, and reads every VM's
 * directory and links. The VM user can mount a FUSE file system of its
 * own (with allow_other, where /etc/fuse.conf lets it) whose daemon
 * answers nothing (stopped): on its VM's directory (case 0; case 3 with
 * the VM named), or on a directory elsewhere that its `current` (case 1)
 * or `booted` (case 2) leads onto. status waited on that daemon, showing
 * no VM. Wanted: status finishes, shows that VM's row with what is
 * unknown as unknown and says why (FUSE), and shows the other VM's row as
 * ever. */
START_TEST(status_beside_stalled_fuse)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	add_vm(&t, "beta", "/nix/store/bbb-nixos-system-beta", NULL);
	char *bin = tu_bin("runner-exec");
	char *beta = tu_path(t.state, "beta"), *src = tu_path(t.root, "userdir");
	char *mnt = _i == 0 || _i == 3 ? strdup(beta) : tu_path(t.root, "fuse");
	char *via = tu_path(mnt, "runner-beta-current");
	tu_write(src, "probe", "the VM user's\n");
	tu_write(src, "runner-beta-current/share/microvm/.keep", "");
	if (_i == 0 || _i == 3) {
		tu_rm_rf(beta);
		ck_assert_int_eq(mkdir(beta, 0755), 0);
	} else {
		ck_assert_int_eq(mkdir(mnt, 0755), 0);
		char *l = tu_path(beta, _i == 1 ? "current" : "booted");
		unlink(l);
		tu_symlink(via, l);
		free(l);
	}
	tu_chown(mnt, TU_NOBODY, TU_NOBODY);
	pid_t fs = tu_bindfs_as_roots(src, mnt, "probe");
	ck_assert_int_eq(kill(fs, SIGSTOP), 0);
	usleep(1500 * 1000); /* (what the mount told of itself no longer cached: 1 s) */
	const char *table[] = { "/usr/bin/timeout", "-s", "KILL", "5", bin, "--state-dir",
				t.state, "status", _i == 3 ? "alpha" : NULL, "beta", NULL };
	const char *json[] = { "/usr/bin/timeout", "-s", "KILL", "5", bin, "--state-dir",
			       t.state, "status", "--json", NULL };
	struct tu_run r, rj;
	tu_run(&r, table);
	tu_run(&rj, json);
	ck_assert_int_eq(kill(fs, SIGCONT), 0);
	tu_bindfs_stop(fs, mnt);
	ck_assert_msg(r.status == 0, "case %d: status waited on the stopped FUSE daemon on %s "
		      "(exit %d): %s%s", _i, mnt, r.status, r.out, r.err);
	char w[5][256];
	ck_assert_msg(table_row(r.out, "alpha", w) == 5 && !strcmp(w[3], "-"),
		      "case %d: alpha's row: %s", _i, r.out);
	int n = table_row(r.out, "beta", w);
	ck_assert_msg(n == 5, "case %d: beta's row: %s", _i, r.out);
	ck_assert_msg(!strcmp(w[1], _i == 2 ? "yes" : "no") &&
			      !strcmp(w[2], _i == 2 ? "yes" : "-") &&
			      !strcmp(w[3], _i == 2 ? "/nix/store/bbb-nixos-system-beta" : "-") &&
			      !strcmp(w[4], "-"),
		      "case %d: beta's row: %s %s %s %s", _i, w[1], w[2], w[3], w[4]);
	ck_assert_msg(strstr(r.err, "beta") && strstr(r.err, "FUSE"),
		      "case %d: nothing said of beta's FUSE mount: %s", _i, r.err);
	ck_assert_msg(rj.status == 0 && strstr(rj.out, "{\"name\": \"alpha\"") &&
			      strstr(rj.out, "{\"name\": \"beta\""),
		      "case %d: --json: exit %d: %s%s", _i, rj.status, rj.out, rj.err);
	tu_run_free(&rj);
	tu_run_free(&r);
	free(via);
	free(mnt);
	free(src);
	free(beta);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* Attack (issue 11, point 8): the VM user's runner names a system whose
 * link target holds an escape sequence and a newline followed by a forged
 * row. The table must show it escaped on the VM's own row: no raw control
 * character reaches the terminal and no row "vm9" appears. */
START_TEST(status_table_escapes)
{
	struct tu_vm t;
	tu_vm_make(&t, "zeta");
	add_vm(&t, "alpha", "/nix/store/x\x1b[31m-red\nvm9  yes     no        /forged", NULL);
	/* Found by an audit: "web" and "web " read the same in the table, and
	 * a name with spaces could make columns of its own. A space in a
	 * field is \x20. */
	add_vm(&t, "web", "/nix/store/w-nixos-system-web", NULL);
	add_vm(&t, "web ", "/nix/store/w-nixos-system-web yes", NULL);
	/* ... and so could the text of that escape: a backslash is \x5c. */
	add_vm(&t, "web\\x20", "/nix/store/w-nixos-system-web", NULL);
	/* A field cut to size says so. */
	char *longsys = malloc(3000);
	strcpy(longsys, "/nix/store/l-");
	for (int k = 0; k < 900; k++)
		strcat(longsys, "a ");
	add_vm(&t, "long", longsys, NULL);
	free(longsys);
	char *bin = tu_bin("runner-exec");
	const char *argv[] = { bin, "--state-dir", t.state, "status", NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	for (const char *p = r.out; *p; p++)
		ck_assert_msg(*p == '\n' || ((unsigned char)*p >= 0x20 && *p != 0x7f),
			      "raw control character 0x%02x in: %s", (unsigned char)*p, r.out);
	char w[5][256];
	ck_assert_int_eq(table_row(r.out, "vm9", w), -1);
	ck_assert_int_eq(table_row(r.out, "alpha", w), 5);
	/* The forged columns stay in the target's field. */
	ck_assert_str_eq(w[3], "/nix/store/x\\x1b[31m-red\\nvm9\\x20\\x20yes\\x20\\x20\\x20\\x20\\x20no\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20/forged");
	ck_assert_int_eq(table_row(r.out, "web", w), 5);
	ck_assert_str_eq(w[3], "/nix/store/w-nixos-system-web");
	ck_assert_int_eq(table_row(r.out, "web\\x20", w), 5);
	ck_assert_str_eq(w[3], "/nix/store/w-nixos-system-web\\x20yes");
	ck_assert_int_eq(table_row(r.out, "web\\x5cx20", w), 5);
	ck_assert_str_eq(w[3], "/nix/store/w-nixos-system-web");
	const char *lr = strstr(r.out, "\nlong ");
	ck_assert_ptr_nonnull(lr);
	const char *le = strchr(lr + 1, '\n');
	ck_assert_msg(le && le - lr > 4000 && le - lr < 4200 && strncmp(le - 6, "...  -", 6) == 0,
		      "the long row: %.*s", (int)(le ? le - lr : 80), lr);
	/* ... cut at an escape, never inside one (it was "a\x2..."). */
	ck_assert_msg(le[-7] == 'a' || strncmp(le - 10, "\\x20", 4) == 0, "the long row ends: %.20s",
		      le - 20);
	/* Header, alpha, long, web, web\x20, web\x5cx20, zeta: seven lines. */
	size_t lines = 0;
	for (const char *p = r.out; *p; p++)
		lines += *p == '\n';
	ck_assert_uint_eq(lines, 7);
	tu_run_free(&r);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* Found in review: a link target of the VM user's with a byte that is not
 * UTF-8 went raw into `status --json`, which then was no JSON (a decoder
 * of every VM's status failed). It is \ufffd now, and so is a character
 * that would reorder the line (U+202E); UTF-8 that prints stays. */
START_TEST(status_json_is_utf8)
{
	struct tu_vm t;
	tu_vm_make(&t, "zeta");
	add_vm(&t, "alpha", "/nix/store/x\xff-\xe2\x80\xae" "caf\xc3\xa9", NULL);
	char *bin = tu_bin("runner-exec");
	const char *argv[] = { bin, "--state-dir", t.state, "status", "--json", "alpha", NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.out, "\"/nix/store/x\\ufffd-\\ufffd\\ufffd\\ufffdcaf\xc3\xa9\""),
		      "stdout: %s", r.out);
	ck_assert_msg(!strchr(r.out, '\xff') && !strstr(r.out, "\xe2\x80\xae"), "stdout: %s", r.out);
	tu_run_free(&r);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* --json escapes what JSON must have escaped: a quote, a backslash and
 * every control character (0x1f, the last of them, too), so that a link
 * target of the VM user's neither ends the string early nor makes the
 * output no JSON. */
START_TEST(status_json_escapes)
{
	struct tu_vm t;
	tu_vm_make(&t, "zeta");
	add_vm(&t, "alpha", "/nix/store/q\"b\\s\x1f\n\x01-x", NULL);
	char *bin = tu_bin("runner-exec");
	const char *argv[] = { bin, "--state-dir", t.state, "status", "--json", "alpha", NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.out, "\"current_system\": "
				    "\"/nix/store/q\\\"b\\\\s\\u001f\\u000a\\u0001-x\", "),
		      "stdout: %s", r.out);
	tu_run_free(&r);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* status whose output cannot be written (a full disk, a closed pipe)
 * fails, saying so: a table cut short is no success. */
START_TEST(status_write_error)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *bin = tu_bin("runner-exec");
	const char *argv[] = { "/bin/sh", "-c", "exec \"$0\" \"$@\" >/dev/full", bin,
			       "--state-dir", t.state, "status", NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 1 && !strcmp(r.err, "runner-exec: unable to write 'stdout': No "
						      "space left on device\n"),
		      "status into /dev/full: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* --help gives every exit status start can end with (126, 127 too). */
START_TEST(help_lists_exit_statuses)
{
	char *bin = tu_bin("runner-exec");
	const char *argv[] = { bin, "--help", NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_int_eq(r.status, 0);
	const char *x = strstr(r.out, "Exit status: 0 success, 1 failure, 2 usage error");
	ck_assert_msg(x && strstr(x, "126 when") && strstr(x, "127 when"), "stdout: %s", r.out);
	tu_run_free(&r);
	free(bin);
}
END_TEST

START_TEST(status_errors)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *bin = tu_bin("runner-exec");
	const char *argv[] = { bin, "--state-dir", t.state, "status", "alpha", "ghost", NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "unable to find VM 'ghost'"), "stderr: %s", r.err);
	ck_assert_msg(strstr(r.out, "\nalpha "), "stdout: %s", r.out);
	tu_run_free(&r);
	/* A file in the state dir is no VM, named or not. */
	tu_write(t.state, "not-a-vm", "a file is not a VM\n");
	const char *file[] = { bin, "--state-dir", t.state, "status", "not-a-vm", NULL };
	tu_run(&r, file);
	char *want = xasprintf("runner-exec: unable to find VM 'not-a-vm': no directory "
			       "'%s/not-a-vm'\n",
			       t.state);
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want), "exit %d: %s", r.status, r.err);
	ck_assert_msg(!strstr(r.out, "not-a-vm"), "stdout: %s", r.out);
	free(want);
	tu_run_free(&r);

	const char *bad[] = { bin, "--state-dir", t.state, "stop", "--json", "alpha", NULL };
	tu_run(&r, bad);
	ck_assert_int_eq(r.status, 2);
	tu_run_free(&r);
	const char *two[] = { bin, "--state-dir", t.state, "start", "alpha", "beta", NULL };
	tu_run(&r, two);
	ck_assert_int_eq(r.status, 2);
	tu_run_free(&r);
	/* A verb it does not know is named escaped, as every value is: a
	 * backslash doubled, so that "st\x41rt" does not read as "stArt". */
	const char *odd[] = { bin, "--state-dir", t.state, "st\\x41rt\x1b", "alpha", NULL };
	tu_run(&r, odd);
	const char *verb = "runner-exec: usage error: unknown verb 'st\\\\x41rt\\x1b' (";
	ck_assert_msg(r.status == 2 && strstr(r.err, verb), "exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	/* The directory it did not find is named escaped too (the state dir
	 * is the command line's, or $MICROVM_STATE_DIR's). */
	const char *odd_state[] = { bin, "--state-dir", "/nonexistent/st\\x41te\x1b", "status",
				    "ghost", NULL };
	tu_run(&r, odd_state);
	ck_assert_msg(r.status == 1 && !strcmp(r.err, "runner-exec: unable to find VM 'ghost': no "
						      "directory '/nonexistent/st\\\\x41te\\x1b/ghost'\n"),
		      "exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	const char *dots[] = { bin, "--state-dir", t.state, "cleanup", "..", NULL };
	tu_run(&r, dots);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "unable to use VM name"), "stderr: %s", r.err);
	tu_run_free(&r);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* status over several VMs: each one it cannot show is one line, once, in
 * the order given, and the others are shown all the same; exit 1. */
START_TEST(status_each_error_once)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *bin = tu_bin("runner-exec");
	const char *argv[] = { bin, "--state-dir", t.state, "status", "ghost", "alpha", "..",
			       "ghost2", NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_int_eq(r.status, 1);
	char *want = xasprintf("runner-exec: unable to find VM 'ghost': no directory '%s/ghost'\n"
			       "runner-exec: unable to use VM name '..': '.' and '..' are not names\n"
			       "runner-exec: unable to find VM 'ghost2': no directory '%s/ghost2'\n",
			       t.state, t.state);
	ck_assert_str_eq(r.err, want);
	ck_assert_msg(strstr(r.out, "\nalpha ") && !strstr(r.out, "ghost"), "stdout: %s", r.out);
	free(want);
	tu_run_free(&r);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* A VM asked for by name that is not there gives its one error line and
 * nothing on stdout, table or --json: before, an admin's "status web"
 * with a mistyped name printed the table's header (or "[]") and then the
 * error, as if the table were the answer. Exit status 1, as before; a
 * VM that is there, given with it, is shown as ever (status_errors). */
START_TEST(status_missing_vm_prints_only_the_error)
{
	struct tu_vm t;
	tu_vm_make(&t, "alpha");
	char *bin = tu_bin("runner-exec");
	const char *argv[] = { bin, "--state-dir", t.state, "status", "ghost", NULL, NULL };
	if (_i == 1) {
		argv[4] = "--json";
		argv[5] = "ghost";
	}
	struct tu_run r;
	tu_run(&r, argv);
	char *want = xasprintf("runner-exec: unable to find VM 'ghost': no directory '%s/ghost'\n",
			       t.state);
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want), "exit %d: %s", r.status, r.err);
	ck_assert_msg(r.out[0] == '\0', "stdout: %s", r.out);
	free(want);
	tu_run_free(&r);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* A VM name with a control character is refused in one line of its own
 * (it was put into the line, unescaped, before it was checked). */
START_TEST(bad_name_one_error_line)
{
	char *bin = tu_bin("runner-exec");
	const char *argv[] = { bin, "stop", "a\nb", NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 2, "exit %d: %s", r.status, r.err);
	ck_assert_msg(!strcmp(r.err, "runner-exec: unable to use VM name 'a\\x0ab': a name may not "
				     "contain control characters\n"),
		      "stderr: %s", r.err);
	tu_run_free(&r);
	free(bin);
}
END_TEST

Suite *runner_suite(void)
{
	Suite *s = suite_create("runner");
	TCase *tc = tu_tcase_create("runner-exec");
	tcase_set_timeout(tc, 30);
	tu_add_test_if(tc, start_execs_in_place, tu_need_root());
	tu_add_test_if(tc, start_replaces_booted, tu_need_root());
	tu_add_test_if(tc, start_booted_directory_refused, tu_need_root());
	tu_add_test_if(tc, start_missing_run, tu_need_root());
	tu_add_test_if(tc, start_not_executable, tu_need_root());
	tcase_add_test(tc, start_no_current);
	tu_add_test_if(tc, start_as_root_in_users_dir_refused, tu_need_root());
	tu_add_test_if(tc, start_untrusted, tu_need_root());
	tu_add_test_if(tc, start_dir_swapped_after_open, tu_need_root());
	tu_add_test_if(tc, start_exec_failure_status, tu_need_root());
	tu_add_loop_test_if(tc, start_failed_step_leaves_booted, 0, 2, tu_need_root());
	tu_add_loop_test_if(tc, start_failed_restore_is_said, 0, 2, tu_need_root());
	tu_add_test_if(tc, start_replaces_leftover_temp_link, tu_need_root());
	tu_add_test_if(tc, start_dry_run, tu_need_root());
	tu_add_test_if(tc, dry_run_lines_are_escaped, tu_need_root());
	tu_add_test_if(tc, stop_runs_shutdown, tu_need_root());
	tu_add_test_if(tc, stop_with_sigchld_ignored, tu_need_root());
	tu_add_test_if(tc, stop_shutdown_gets_a_clean_start, tu_need_root());
	tu_add_test_if(tc, stop_shutdown_fails, tu_need_root());
	tu_add_test_if(tc, stop_without_shutdown, tu_need_root());
	tcase_add_test(tc, cleanup_removes_symlink_only);
	tu_add_test_if(tc, cleanup_as_root_through_link_refused, tu_need_root());
	tu_add_loop_test_if(tc, cleanup_beside_stalled_fuse, 0, 2, tu_need_bindfs());
	tcase_add_test(tc, status_table_and_json);
	tcase_add_test(tc, status_without_system);
	tcase_add_test(tc, status_opens_nothing_booted_names);
	tcase_add_test(tc, status_json_is_utf8);
	tu_add_loop_test_if(tc, status_beside_stalled_fuse, 0, 4, tu_need_bindfs());
	tcase_add_test(tc, status_table_escapes);
	tcase_add_test(tc, status_json_escapes);
	tcase_add_test(tc, status_write_error);
	tcase_add_test(tc, help_lists_exit_statuses);
	tcase_add_test(tc, status_errors);
	tcase_add_test(tc, status_each_error_once);
	tcase_add_loop_test(tc, status_missing_vm_prints_only_the_error, 0, 2);
	tcase_add_test(tc, bad_name_one_error_line);
	suite_add_tcase(s, tc);
	return s;
}
