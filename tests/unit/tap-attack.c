/* SPDX-License-Identifier: MIT */
/* tap-setup against a VM user who races it, and against kills (issue 11
 * points 1, 2, 3, 6, 9; issue 16). Each test names the attack; each failed
 * on the tap-setup before these fixes. In a network namespace each test
 * makes (tapkit.h). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h> /* before the linux/ headers */
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_arp.h>
#include <linux/if_tun.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tapkit.h"
#include "testutil.h"
#include "util.h"

#define MAC_LIST                                                                           \
	"mvt0 02:11:22:33:44:55 lower0 bridge\nmvt1 02:11:22:33:44:56 lower0 private\n"     \
	"mvt2 02:11:22:33:44:57 lower0 vepa\n"

/* Nothing left in dir but names ending in .lock (the VMs' lock files
 * stay): "" when so, else the first other name (static buffer). */
static const char *left_in(const char *dir)
{
	static char name[256];
	DIR *d = opendir(dir);
	name[0] = '\0';
	if (!d)
		return name;
	for (struct dirent *de; (de = readdir(d));) {
		size_t n = strlen(de->d_name);
		if (de->d_name[0] == '.' || (n > 5 && !strcmp(de->d_name + n - 5, ".lock")))
			continue;
		snprintf(name, sizeof(name), "%s", de->d_name);
		break;
	}
	closedir(d);
	return name;
}

/* ---- 9 (and 1): killed at every step ------------------------------------ */

/* Attack (issue 11, points 1 and 9): `up` killed (SIGKILL, SIGTERM alike)
 * while it made 300 TAPs left persistent TAPs of the VM user, up, that no
 * record named; `down` then exited 0 and left them. Here `up` runs with
 * tests/shims/killat.so, which kills it just before its Nth call that can
 * change the host, for N = 1, 2, ... until a run completes; after each,
 * `down` must leave the namespace as it was before `up`: the same links,
 * no record, no device node. _i: 0 TAPs, 1 TAPs replacing an earlier
 * up's, 2 macvtaps (device nodes made with mknod: the devfs is a plain
 * directory), 3 macvtaps replacing an earlier up's. */
START_TEST(killed_up_then_down_leaves_nothing)
{
	bool mac = _i >= 2, earlier = _i % 2;
	struct tu_vm t;
	tu_vm_make(&t, "vm1");
	char *dev = tu_path(t.root, "dev");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	const char *tap_extra[] = { "--bridge", "br0", "--mtu", "1400", NULL };
	const char *mac_extra[] = { "--macvtap", "--devfs", dev, NULL };
	const char *const *extra = mac ? mac_extra : tap_extra;
	if (mac) {
		make_veth("lower0");
		tu_write(t.runner, "share/microvm/macvtap-interfaces", MAC_LIST);
	} else {
		make_bridge("br0");
		tu_write(t.runner, "share/microvm/tap-interfaces", "vm1-a\nvm1-b\nvm1-c\n");
		tu_write(t.runner, "share/microvm/tap-flags", "vnet_hdr multi_queue\n");
	}
	char *before = links_now(), *vmrun = tu_path(t.runtime, "vm1");
	char *shim = tu_bin("tests/shims/killat.so");
	char *preload = xasprintf("LD_PRELOAD=%s", shim);
	int n = 1;
	for (bool done = false; !done; n++) {
		ck_assert_msg(n < 2000, "up never completed");
		if (earlier)
			tap_ok(&t, "up", extra);
		char killat[32];
		snprintf(killat, sizeof(killat), "KILLAT=%d", n);
		const char *env[] = { preload, killat, NULL };
		struct tu_run r;
		tap_run_env(&r, &t, "up", extra, env);
		done = r.status == 0;
		ck_assert_msg(done || r.status == 128 + SIGKILL, "up, KILLAT=%d: exit %d: %s", n,
			      r.status, r.err);
		tu_run_free(&r);
		tap_run(&r, &t, "down", extra);
		ck_assert_msg(r.status == 0, "down after up killed at call %d: %s", n, r.err);
		tu_run_free(&r);
		char *now = links_now();
		ck_assert_msg(!strcmp(now, before),
			      "up killed before its call %d, then down: links '%s', before up '%s'", n,
			      now, before);
		free(now);
		ck_assert_msg(!*left_in(vmrun) && (access(vmrun, F_OK) < 0 || !*left_in(t.runtime)),
			      "up killed before its call %d, then down: '%s' left in %s", n,
			      left_in(vmrun), vmrun);
		ck_assert_msg(!*left_in(dev), "up killed before its call %d, then down: %s/%s left",
			      n, dev, left_in(dev));
	}
	fprintf(stderr, "tap: up %s killed at each of its %d changing calls, then down: clean\n",
		mac ? "--macvtap" : "(TAPs)", n - 2);
	free(preload);
	free(shim);
	free(vmrun);
	free(before);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

/* ---- 9, the other half: a step that fails is rolled back ----------------- */

/* What a user would check of the namespace with `ip link`: each link's
 * name, flags, MTU, group and master (the bridge and the macvtaps' lower
 * link among them), one a line. */
static char *links_state(void)
{
	char *names = links_now(), *out = NULL;
	size_t len;
	FILE *f = open_memstream(&out, &len);
	ck_assert_ptr_nonnull(f);
	for (char *save = NULL, *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save)) {
		char *flags = sysattr(n, "flags"), *master = NULL, p[256];
		snprintf(p, sizeof(p), "/sys/class/net/%s/master", n);
		if (read_link_base(p, &master) < 0)
			master = NULL;
		fprintf(f, "%s flags %s mtu %lu group %lu master %s\n", n, flags, sysnum(n, "mtu"),
			sysnum(n, "netdev_group"), master ? master : "-");
		free(master);
		free(flags);
	}
	ck_assert_int_eq(fclose(f), 0);
	free(names);
	return out;
}

/* The other half of point 9: `up` whose Nth call that can change the host
 * fails (tests/shims/failat.so: the call is not made, it returns an
 * errno, and up goes on), for every N of a clean run in turn, must exit 1
 * with one error line naming what failed, and leave the namespace as it
 * was before: the same links as `ip link` shows them, no record, no device
 * node; without a `down`. _i: 0 three TAPs with vnet_hdr and multi_queue,
 * enslaved to a bridge, MTU 1400; 1 three macvtaps (nodes made with
 * mknod, given to the VM user). */
START_TEST(failed_up_rolls_back)
{
	bool mac = _i == 1;
	struct tu_vm t;
	tu_vm_make(&t, "vm1");
	char *dev = tu_path(t.root, "dev");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	const char *tap_extra[] = { "--bridge", "br0", "--mtu", "1400", NULL };
	const char *mac_extra[] = { "--macvtap", "--devfs", dev, NULL };
	const char *const *extra = mac ? mac_extra : tap_extra;
	if (mac) {
		make_veth("lower0");
		tu_write(t.runner, "share/microvm/macvtap-interfaces", MAC_LIST);
	} else {
		make_bridge("br0");
		tu_write(t.runner, "share/microvm/tap-interfaces", "vm1-a\nvm1-b\nvm1-c\n");
		tu_write(t.runner, "share/microvm/tap-flags", "vnet_hdr multi_queue\n");
	}
	char *before = links_state(), *vmrun = tu_path(t.runtime, "vm1");
	struct tu_failat f;
	tu_failat_init(&f, t.root);
	const char *count_env[] = { f.preload, f.logenv, NULL };
	struct tu_run r;
	tap_run_env(&r, &t, "up", extra, count_env);
	ck_assert_msg(r.status == 0, "up, counting: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	long calls = tu_failat_calls(f.log);
	ck_assert_int_gt(calls, 10);
	tap_ok(&t, "down", extra);
	for (long n = 1; n <= calls; n++) {
		const char *const *errs = tu_failat_errnos(n);
		for (size_t k = 0; errs[k]; k++) {
			char line[1024];
			tu_failat_at(&f, n, errs[k]);
			const char *env[] = { f.preload, f.at, f.err, "JOURNAL_STREAM=", NULL };
			tap_run_env(&r, &t, "up", extra, env);
			const char *what = tu_error_line(r.err, line, sizeof(line));
			ck_assert_msg(r.status == 1, "up, call %ld of %ld failing (%s): exit %d: %s", n,
				      calls, errs[k], r.status, r.err);
			ck_assert_msg(what && !strncmp(what, "tap-setup: vm1: unable to ", 26),
				      "up, call %ld failing (%s): not one error line: %s", n, errs[k],
				      r.err);
			ck_assert_msg(strstr(what, tu_failat_cause(errs[k])),
				      "up, call %ld failing (%s): the error does not say why: %s", n,
				      errs[k], what);
			tu_run_free(&r);
			char *now = links_state();
			ck_assert_msg(!strcmp(now, before),
				      "up, call %ld failing (%s: '%s'): links\n%s, before up\n%s", n,
				      errs[k], what, now, before);
			free(now);
			ck_assert_msg(!*left_in(vmrun) && (access(vmrun, F_OK) < 0 || !*left_in(t.runtime)),
				      "up, call %ld failing (%s: '%s'): '%s' left in %s", n, errs[k],
				      what, left_in(vmrun), vmrun);
			ck_assert_msg(!*left_in(dev), "up, call %ld failing (%s: '%s'): %s/%s left", n,
				      errs[k], what, dev, left_in(dev));
		}
	}
	fprintf(stderr, "tap: up %s failed at each of its %ld changing calls: rolled back\n",
		mac ? "--macvtap" : "(TAPs)", calls);
	tu_failat_free(&f);
	free(vmrun);
	free(before);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

/* A failed up whose rollback fails too (failat.so's FAILAT=N+: the
 * record's last write of a clean up, and every call after it, fail): the
 * first line up prints is the error that made it roll back, as pci-bind
 * says it, and then the rollback's own; the record left lets a clean down
 * delete every TAP. */
START_TEST(failed_rollback_says_the_error_first)
{
	struct tu_vm t;
	tu_vm_make(&t, "vm1");
	tu_write(t.runner, "share/microvm/tap-interfaces", "vm1-a\nvm1-b\nvm1-c\n");
	char *before = links_now();
	struct tu_failat f;
	tu_failat_init(&f, t.root);
	const char *count_env[] = { f.preload, f.logenv, NULL };
	struct tu_run r;
	tap_run_env(&r, &t, "up", NULL, count_env);
	ck_assert_msg(r.status == 0, "up, counting: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	long calls = tu_failat_calls(f.log);
	tap_ok(&t, "down", NULL);
	tu_failat_from(&f, calls, "EIO");
	const char *env[] = { f.preload, f.at, f.err, "JOURNAL_STREAM=", NULL };
	tap_run_env(&r, &t, "up", NULL, env);
	for (char *p = r.err; (p = strchr(p, '\n'));)
		*p = '|'; /* (one line in Check's log) */
	ck_assert_msg(r.status == 1, "up, calls %ld+ failing: exit %d: %s", calls, r.status, r.err);
	ck_assert_msg(!strncmp(r.err, "<3>tap-setup: vm1: unable to ", 29),
		      "up, calls %ld+ failing: the first line is not the error: %s", calls, r.err);
	ck_assert_msg(strstr(r.err, "|<4>tap-setup: vm1: unable to delete 'vm1-c' again"),
		      "up, calls %ld+ failing: the rollback did not fail as the test wants: %s",
		      calls, r.err);
	tu_run_free(&r);
	tap_ok(&t, "down", NULL);
	char *now = links_now();
	ck_assert_str_eq(now, before);
	free(now);
	free(before);
	tu_failat_free(&f);
	tu_vm_free(&t);
}
END_TEST

/* Does the record of t name each of the n interfaces names[] that is
 * there now, and, unless stale (the record itself could not be
 * rewritten), none that is gone? ("" when so, else the first that is not
 * as it should be; static buffer.) */
static const char *record_off(const struct tu_vm *t, const char *kind, const char *const *names,
			      int n, bool stale)
{
	static char what[64];
	char *rec = record_of(t, kind);
	what[0] = '\0';
	for (int i = 0; i < n && !what[0]; i++) {
		char line[32];
		snprintf(line, sizeof(line), "\n%s ", names[i]);
		bool named = rec && strstr(rec, line), there = ifindex(names[i]) > 0;
		if (there ? !named : named && !stale)
			snprintf(what, sizeof(what), "%s %s", names[i],
				 there ? "there, not in the record" : "gone, in the record");
	}
	free(rec);
	return what;
}

/* down whose Nth call that can change the host fails (failat.so), for
 * every N of a clean down: it exits 0, or 1 with one error line; either
 * way the record names every interface that is still there, and none
 * that is gone unless the error is the record's own (what the next down
 * deletes, and what it says it left), and the next down leaves the
 * namespace as it was before up. _i: 0 three TAPs, 1 three macvtaps. */
START_TEST(failed_down_records_what_is_left)
{
	bool mac = _i == 1;
	struct tu_vm t;
	tu_vm_make(&t, "vm1");
	char *dev = tu_path(t.root, "dev");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	const char *mac_extra[] = { "--macvtap", "--devfs", dev, NULL };
	const char *const *extra = mac ? mac_extra : NULL;
	const char *taps[] = { "vm1-a", "vm1-b", "vm1-c" }, *mvts[] = { "mvt0", "mvt1", "mvt2" };
	const char *const *names = mac ? mvts : taps;
	if (mac) {
		make_veth("lower0");
		tu_write(t.runner, "share/microvm/macvtap-interfaces", MAC_LIST);
	} else {
		tu_write(t.runner, "share/microvm/tap-interfaces", "vm1-a\nvm1-b\nvm1-c\n");
	}
	char *before = links_now(), *vmrun = tu_path(t.runtime, "vm1");
	struct tu_failat f;
	tu_failat_init(&f, t.root);
	const char *count_env[] = { f.preload, f.logenv, NULL };
	struct tu_run r;
	tap_ok(&t, "up", extra);
	tap_run_env(&r, &t, "down", extra, count_env);
	ck_assert_msg(r.status == 0, "down, counting: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	long calls = tu_failat_calls(f.log);
	ck_assert_int_gt(calls, 1);
	for (long n = 1; n <= calls; n++) {
		const char *const *errs = tu_failat_errnos(n);
		for (size_t k = 0; errs[k]; k++) {
			char line[1024];
			tu_failat_at(&f, n, errs[k]);
			const char *env[] = { f.preload, f.at, f.err, "JOURNAL_STREAM=", NULL };
			tap_ok(&t, "up", extra);
			tap_run_env(&r, &t, "down", extra, env);
			const char *what = tu_error_line(r.err, line, sizeof(line));
			ck_assert_msg(r.status == 0 || r.status == 1,
				      "down, call %ld of %ld failing (%s): exit %d: %s", n, calls,
				      errs[k], r.status, r.err);
			ck_assert_msg(r.status == 0 ||
					      (what && !strncmp(what, "tap-setup: vm1: unable to ", 26)),
				      "down, call %ld failing (%s): not one error line: %s", n, errs[k],
				      r.err);
			ck_assert_msg(r.status == 0 || strstr(what, tu_failat_cause(errs[k])),
				      "down, call %ld failing (%s): the error does not say why: %s", n,
				      errs[k], what);
			bool stale = what && strstr(what, vmrun);
			const char *off = record_off(&t, mac ? "macvtap" : "tap", names, 3, stale);
			ck_assert_msg(!*off, "down, call %ld failing (%s), exit %d ('%s'): %s", n,
				      errs[k], r.status, r.status ? what : "", off);
			tu_run_free(&r);
			tap_ok(&t, "down", extra);
			char *now = links_now();
			ck_assert_msg(!strcmp(now, before),
				      "down, call %ld failing (%s), then down: links '%s', before up '%s'",
				      n, errs[k], now, before);
			free(now);
			ck_assert_msg(!*left_in(vmrun) && (access(vmrun, F_OK) < 0 || !*left_in(t.runtime)),
				      "down, call %ld failing (%s), then down: '%s' left in %s", n,
				      errs[k], left_in(vmrun), vmrun);
			ck_assert_msg(!*left_in(dev), "down, call %ld failing (%s), then down: %s/%s left",
				      n, errs[k], dev, left_in(dev));
		}
	}
	fprintf(stderr, "tap: down %s failed at each of its %ld changing calls: recorded what is left\n",
		mac ? "--macvtap" : "(TAPs)", calls);
	tu_failat_free(&f);
	free(vmrun);
	free(before);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

/* ---- 2: two runs at once ------------------------------------------------ */

/* tap-setup VERB of t in the background, its stderr into errfile. */
static pid_t spawn_tap(const struct tu_vm *t, const char *verb, const char *errfile)
{
	char *bin = tu_bin("tap-setup");
	const char *argv[] = { bin, "--state-dir", t->state, "--runtime-dir", t->runtime,
			       "--user", "990", "--group", "78", verb, t->name, NULL };
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	free(bin);
	return pid;
}

static int wait_status(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Does the record name each of the n TAPs tN with the index it has now? */
static void record_matches(const struct tu_vm *t, int n, int round)
{
	char *rec = record_of(t, "tap");
	ck_assert_msg(rec, "round %d: no record", round);
	for (int i = 0; i < n; i++) {
		char name[16], want[48];
		snprintf(name, sizeof(name), "t%d", i);
		int ifx = ifindex(name);
		ck_assert_msg(ifx > 0, "round %d: both ups exited 0, but TAP %s is missing", round,
			      name);
		snprintf(want, sizeof(want), "\n%s %d\n", name, ifx);
		ck_assert_msg(strstr(rec, want), "round %d: the record does not name %s (index %d): %s",
			      round, name, ifx, rec);
	}
	free(rec);
}

/* Attack (issue 11, point 2): two `up` of one VM at once (8 TAPs). One run
 * exited 0 while only some of its 8 TAPs existed: the other took its fresh
 * TAPs for stale ones and replaced them, and the record named indexes
 * that were gone. Now the second run waits for the first (the VM's lock):
 * both succeed, and the 8 TAPs exist with the indexes the record names. */
START_TEST(concurrent_ups_one_vm)
{
	struct tu_vm t;
	vm_taps(&t, "t0 t1 t2 t3\nt4 t5 t6 t7\n", "vnet_hdr\n");
	char *ea = tu_path(t.root, "a.err"), *eb = tu_path(t.root, "b.err");
	for (int round = 1; round <= 60; round++) {
		pid_t a = spawn_tap(&t, "up", ea), b = spawn_tap(&t, "up", eb);
		int sa = wait_status(a), sb = wait_status(b);
		char *ta = NULL, *tb = NULL;
		read_file(ea, 1 << 16, &ta, NULL);
		read_file(eb, 1 << 16, &tb, NULL);
		ck_assert_msg(sa == 0 && sb == 0, "round %d: exit %d and %d: %s%s", round, sa, sb,
			      ta ? ta : "", tb ? tb : "");
		free(ta);
		free(tb);
		record_matches(&t, 8, round);
	}
	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("t0"), 0);
	free(ea);
	free(eb);
	tu_vm_free(&t);
}
END_TEST

/* A second VM, vm2, in t's state and runtime dirs, with TAP vm2-a. */
static struct tu_vm second_vm(const struct tu_vm *t)
{
	struct tu_vm v = *t;
	v.name = "vm2";
	tu_write(t->root, "runner2/share/microvm/tap-interfaces", "vm2-a\n");
	char *dir = tu_path(t->state, "vm2"), *cur = tu_path(dir, "current");
	char *runner = tu_path(t->root, "runner2");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	tu_symlink(runner, cur);
	free(runner);
	free(cur);
	free(dir);
	return v;
}

/* Issue 11, point 2: runs for one VM are serialized by RUNTIME/NAME.lock.
 * With the lock held (here by the test), a run waits MICROVM_LOCK_TIMEOUT
 * seconds, then fails with one line that names the lock, changing nothing;
 * --dry-run waits too; a run for another VM is not held up. Before, every
 * run went ahead at once. */
START_TEST(lock_held_bounded_wait)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", NULL);
	ck_assert_int_eq(mkdir(t.runtime, 0755), 0);
	char *lock = tu_path(t.runtime, "vm1.lock");
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	const char *env[] = { "MICROVM_LOCK_TIMEOUT=1", NULL };
	static const char *const verbs[][2] = { { "up", NULL }, { "up", "--dry-run" }, { "down", NULL } };
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		const char *extra[] = { verbs[i][1], NULL };
		struct tu_run r;
		long long t0 = now_ms();
		tap_run_env(&r, &t, verbs[i][0], extra, env);
		long long ms = now_ms() - t0;
		ck_assert_msg(r.status == 1, "%s %s with the lock held: exit %d: %s", verbs[i][0],
			      verbs[i][1] ? verbs[i][1] : "", r.status, r.err);
		ck_assert_msg(ms >= 900 && ms < 10000, "waited %lld ms, not about 1 s", ms);
		char *want = xasprintf("tap-setup: vm1: unable to lock '%s': another run holds the VM",
				       lock);
		ck_assert_msg(!strncmp(r.err, want, strlen(want)) &&
				      strchr(r.err, '\n') == r.err + strlen(r.err) - 1,
			      "stderr: %s", r.err);
		free(want);
		ck_assert_str_eq(r.out, "");
		tu_run_free(&r);
	}
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_ptr_null(record_of(&t, "tap"));

	/* vm2 with a long timeout: had it waited for vm1's lock (still held),
	 * it would take 30 s, far from the bound, however loaded the machine. */
	struct tu_vm v = second_vm(&t);
	const char *env2[] = { "MICROVM_LOCK_TIMEOUT=30", NULL };
	long long t0 = now_ms();
	struct tu_run r;
	tap_run_env(&r, &v, "up", NULL, env2);
	long long ms = now_ms() - t0;
	ck_assert_msg(r.status == 0, "vm2: %s", r.err);
	ck_assert_msg(ms < 10000, "vm2 waited for vm1's lock (%lld ms)", ms);
	tu_run_free(&r);
	ck_assert_int_gt(ifindex("vm2-a"), 0);
	tap_ok(&v, "down", NULL);

	close(fd);
	tap_ok(&t, "up", NULL);
	ck_assert_int_gt(ifindex("vm1-a"), 0);
	tap_ok(&t, "down", NULL);
	free(lock);
	tu_vm_free(&t);
}
END_TEST

/* Red team B: a VM user (who may point `current` at any runner in the
 * store) names another VM's TAP in its own runner. vm2's TAPs are up and
 * recorded, its VM not started yet (nothing holds vm2-a): vm1's up took
 * vm2-a for a stale TAP of its own, deleted it and made its own, in vm1's
 * link group (on vm1's bridge), recorded by vm1; vm2's record named an
 * index that was gone, and vm1's down deleted the TAP vm2's VM uses. A
 * link another VM's record names (as its down would delete it) is that
 * VM's: up refuses it in one line naming it and that VM, and changes
 * nothing. _i: 0 TAPs, 1 macvtaps (nodes made with mknod). */
START_TEST(tap_of_another_vm_refused)
{
	struct tu_vm t;
	bool mac = _i == 1;
	vm_taps(&t, "vm1-a\nvm2-a\n", NULL);
	struct tu_vm v = second_vm(&t);
	char *dev = tu_path(t.root, "dev");
	const char *extra[] = { "--macvtap", "--devfs", dev, NULL }, *const *ex = mac ? extra : NULL;
	const char *kind = mac ? "macvtap" : "tap";
	if (mac) {
		make_veth("lower0");
		ck_assert_int_eq(mkdir(dev, 0755), 0);
		tu_write(t.runner, "share/microvm/macvtap-interfaces",
			 "vm1-a 02:11:22:33:44:01 lower0 bridge\n"
			 "vm2-a 02:11:22:33:44:02 lower0 bridge\n");
		tu_write(t.root, "runner2/share/microvm/macvtap-interfaces",
			 "vm2-a 02:11:22:33:44:02 lower0 bridge\n");
	}
	tap_ok(&v, "up", ex);
	int before = ifindex("vm2-a");
	ck_assert_int_gt(before, 0);
	char *rec2 = record_of(&v, kind), line[1024];
	ck_assert_ptr_nonnull(rec2);
	struct tu_run r;
	tap_run_env(&r, &t, "up", ex, (const char *const[]){ "JOURNAL_STREAM=", NULL });
	ck_assert_msg(r.status == 1, "vm1 up with vm2's %s named: exit %d: %s", kind, r.status,
		      r.err);
	const char *what = tu_error_line(r.err, line, sizeof(line));
	ck_assert_msg(what && !strcmp(what, "tap-setup: vm1: unable to replace 'vm2-a': "
					    "the record of VM 'vm2' names it"),
		      "stderr: %s", r.err);
	tu_run_free(&r);
	ck_assert_msg(ifindex("vm2-a") == before, "vm1's up replaced vm2's %s vm2-a (index %d, now %d)",
		      kind, before, ifindex("vm2-a"));
	ck_assert_msg(ifindex("vm1-a") == 0, "vm1's up failed, but left vm1-a");
	ck_assert_ptr_null(record_of(&t, kind));
	char *now2 = record_of(&v, kind);
	ck_assert_str_eq(now2, rec2);
	tap_ok(&t, "down", ex);
	ck_assert_int_eq(ifindex("vm2-a"), before);
	tap_ok(&v, "down", ex);
	ck_assert_int_eq(ifindex("vm2-a"), 0);
	free(now2);
	free(rec2);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

/* What another VM's record names is what its down would delete: a made
 * entry by index AND name. vm2's TAP renamed by an admin (vm2-a to vm1-a,
 * the name vm1 wants) is no longer vm2's (vm2's down leaves it, and says
 * so): vm1's up replaces it as any unheld TAP of its name. Before, the
 * index alone matched, and up refused "the record of VM 'vm2' names it". */
START_TEST(renamed_tap_of_another_vm_is_not_its)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", NULL);
	struct tu_vm v = second_vm(&t);
	tap_ok(&v, "up", NULL);
	int was = ifindex("vm2-a");
	ck_assert_int_gt(was, 0);
	const char *down[] = { "/usr/sbin/ip", "link", "set", "dev", "vm2-a", "down", NULL };
	const char *ren[] = { "/usr/sbin/ip", "link", "set", "dev", "vm2-a", "name", "vm1-a", NULL };
	struct tu_run r;
	for (int k = 0; k < 2; k++) {
		tu_run(&r, k ? ren : down);
		ck_assert_msg(r.status == 0, "%s: %s", k ? "ip link set name" : "ip link set down",
			      r.err);
		tu_run_free(&r);
	}
	ck_assert_int_eq(ifindex("vm1-a"), was);
	tap_run(&r, &t, "up", NULL);
	ck_assert_msg(r.status == 0, "vm1 up with vm1-a (once vm2-a, renamed): exit %d: %s",
		      r.status, r.err);
	tu_run_free(&r);
	int now = ifindex("vm1-a");
	ck_assert_msg(now > 0 && now != was, "vm1-a not replaced (index %d, was %d)", now, was);
	tap_ok(&t, "down", NULL);
	tap_ok(&v, "down", NULL);
	tu_vm_free(&t);
}
END_TEST

static void ip_ok(const char *const argv[])
{
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 0, "%s %s %s: exit %d: %s", argv[1], argv[2], argv[3], r.status,
		      r.err);
	tu_run_free(&r);
}

/* Another VM's record names a link as its down would match it: a made
 * entry by index and name, a pending one by name in the record's group.
 * A TAP vm2-a that is not the one vm2's record names is no longer vm2's:
 * vm1's up, whose runner names vm2-a, replaces it as any unheld TAP of
 * its name; the one the record names is refused. _i 0: vm2's TAP deleted
 * and made again by an admin (same name, another index); 1: a pending
 * entry of vm2's, the TAP in another group; 2: in its group (refused). */
START_TEST(other_vms_record_names_by_index_and_group)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm2-a\n", NULL);
	struct tu_vm v = second_vm(&t);
	const char *add[] = { "/usr/sbin/ip", "tuntap", "add", "dev", "vm2-a", "mode", "tap", NULL };
	if (_i == 0) {
		tap_ok(&v, "up", NULL);
		const char *del[] = { "/usr/sbin/ip", "link", "del", "dev", "vm2-a", NULL };
		ip_ok(del);
	} else {
		char *dir = tu_path(t.runtime, "vm2");
		ck_assert_int_eq(mkdir_p(dir, 0755), 0);
		ck_assert_int_eq(chmod(dir, 0755), 0);
		tu_write(dir, "tap", "# tap-setup record 2\ngroup 4242\nvm2-a pending\n");
		free(dir);
	}
	ip_ok(add);
	if (_i == 2) {
		const char *grp[] = { "/usr/sbin/ip", "link", "set", "dev", "vm2-a", "group", "4242",
				      NULL };
		ip_ok(grp);
	}
	int before = ifindex("vm2-a");
	ck_assert_int_gt(before, 0);
	struct tu_run r;
	tap_run_env(&r, &t, "up", NULL, (const char *const[]){ "JOURNAL_STREAM=", NULL });
	if (_i < 2) {
		ck_assert_msg(r.status == 0, "case %d: vm1 up with a vm2-a not vm2's: exit %d: %s",
			      _i, r.status, r.err);
		int now = ifindex("vm2-a");
		ck_assert_msg(now > 0 && now != before, "case %d: vm2-a not replaced (index %d, was %d)",
			      _i, now, before);
		tu_run_free(&r);
		tap_ok(&t, "down", NULL);
	} else {
		char line[1024];
		const char *what = tu_error_line(r.err, line, sizeof(line));
		ck_assert_msg(r.status == 1 && what &&
				      !strcmp(what, "tap-setup: vm1: unable to replace 'vm2-a': the "
						    "record of VM 'vm2' names it"),
			      "case 2: vm1 up with vm2's pending vm2-a: exit %d: %s", r.status, r.err);
		ck_assert_int_eq(ifindex("vm2-a"), before);
		tu_run_free(&r);
	}
	tu_vm_free(&t);
}
END_TEST

/* Another VM's record that cannot be read: which links it names is not
 * known, so up replaces none (vm1-a, an admin's unheld TAP of vm1's
 * name, stays), in one line naming the record, and saying why that
 * stops the run. */
START_TEST(unreadable_record_of_another_vm)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", NULL);
	char *dir = tu_path(t.runtime, "vm2"), *rec = tu_path(dir, "tap");
	ck_assert_int_eq(mkdir_p(dir, 0755), 0);
	ck_assert_int_eq(chmod(dir, 0755), 0);
	tu_write(dir, "tap", "# tap-setup record 2\nvm2-a twelve\n");
	const char *add[] = { "/usr/sbin/ip", "tuntap", "add", "dev", "vm1-a", "mode", "tap", NULL };
	ip_ok(add);
	int before = ifindex("vm1-a");
	struct tu_run r;
	tap_run_env(&r, &t, "up", NULL, (const char *const[]){ "JOURNAL_STREAM=", NULL });
	char line[1024];
	const char *what = tu_error_line(r.err, line, sizeof(line));
	ck_assert_msg(r.status == 1 && what && strstr(what, rec) &&
			      strstr(what, " (another VM's record: the interfaces it holds are "
					   "unknown)"),
		      "vm1 up, vm2's record unreadable: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	ck_assert_int_eq(ifindex("vm1-a"), before);
	ck_assert_ptr_null(record_of(&t, "tap"));
	free(rec);
	free(dir);
	tu_vm_free(&t);
}
END_TEST

/* Red team B: a runner of vm1 names vm2's TAP as the LINK of a macvtap.
 * up made the macvtap on vm2-a and gave its node to vm1's user, who then
 * saw what vm2's guest sends (passthru: all of it, vm2-a made
 * promiscuous). A link another VM's record names is that VM's, no host
 * link: refused in one line naming it, that VM and the macvtap; nothing
 * made, no record. */
START_TEST(macvtap_on_another_vms_tap_refused)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", NULL);
	struct tu_vm v = second_vm(&t);
	char *dev = tu_path(t.root, "dev"), line[1024];
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	tu_write(t.runner, "share/microvm/macvtap-interfaces",
		 "vm1-mv 02:11:22:33:44:01 vm2-a passthru\n");
	tap_ok(&v, "up", NULL);
	int before = ifindex("vm2-a");
	ck_assert_int_gt(before, 0);
	unsigned long flags = sysnum("vm2-a", "flags");
	const char *extra[] = { "--macvtap", "--devfs", dev, NULL };
	struct tu_run r;
	tap_run_env(&r, &t, "up", extra, (const char *const[]){ "JOURNAL_STREAM=", NULL });
	ck_assert_msg(r.status == 1, "macvtap on vm2's TAP: exit %d: %s (links: %s)", r.status,
		      r.err, links_now());
	const char *what = tu_error_line(r.err, line, sizeof(line));
	ck_assert_msg(what && !strcmp(what, "tap-setup: vm1: unable to use 'vm2-a' as a macvtap's "
					    "link: the record of VM 'vm2' names it: no host link "
					    "(the LINK of 'vm1-mv')"),
		      "stderr: %s", r.err);
	tu_run_free(&r);
	ck_assert_msg(ifindex("vm1-mv") == 0, "up made vm1-mv on vm2's TAP");
	ck_assert_ptr_null(record_of(&t, "macvtap"));
	ck_assert_int_eq(ifindex("vm2-a"), before);
	ck_assert_uint_eq(sysnum("vm2-a", "flags"), flags);
	tap_ok(&v, "down", NULL);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

/* ---- 3 and issue 16: held means open ------------------------------------ */

/* vm1-a and vm1-b up (tap-flags flags), vm1-b held by a tap-holder with
 * args: up and down refuse it, naming the holder (or, want not NULL,
 * saying want), and leave it (down deletes vm1-a); once the holder is
 * gone, down deletes it. */
static void held_refused_saying(const char *flags, const char *const args[], bool carrier_off,
				const char *want)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\n", flags);
	tap_ok(&t, "up", NULL);
	int before = ifindex("vm1-b");
	pid_t h = holder_start(&t, UID, GID, args);
	if (carrier_off)
		ck_assert_uint_eq(sysnum("vm1-b", "carrier"), 0);
	char pid[32];
	snprintf(pid, sizeof(pid), "process %d ", (int)h);
	static const char *const verbs[] = { "up", "down" };
	for (size_t v = 0; v < ARRAY_SIZE(verbs); v++) {
		struct tu_run r;
		tap_run(&r, &t, verbs[v], NULL);
		ck_assert_msg(r.status == 1, "%s: exit %d: %s", verbs[v], r.status, r.err);
		ck_assert_msg(strstr(r.err, "'vm1-b'") && strstr(r.err, want ? want : pid),
			      "%s: stderr: %s", verbs[v], r.err);
		ck_assert_int_eq(ifindex("vm1-b"), before);
		tu_run_free(&r);
	}
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	holder_stop(h);
	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1-b"), 0);
	ck_assert_ptr_null(record_of(&t, "tap"));
	tu_vm_free(&t);
}

static void held_refused(const char *flags, const char *const args[], bool carrier_off)
{
	held_refused_saying(flags, args, carrier_off, NULL);
}

/* Attack (issue 11, point 3): a VM that turned its TAP's carrier off
 * (TUNSETCARRIER), or detached its queue (TUNSETQUEUE, multi-queue), lost
 * the TAP: up deleted it and made a new one, the VM's descriptor was
 * dead. A TAP that a process has open is held, whatever its carrier: up
 * and down refuse it, naming the process, and leave it. _i: 0 carrier off,
 * 1 multi-queue with the queue detached. */
START_TEST(held_tap_carrier_off)
{
	const char *a0[] = { "--vnet-hdr", "--carrier-off", "vm1-b", NULL };
	const char *a1[] = { "--multi-queue", "--detach", "vm1-b", NULL };
	held_refused(_i ? "multi_queue\n" : "vnet_hdr\n", _i ? a1 : a0, _i == 0);
}
END_TEST

/* Attack (found in review after issue 16): a process that holds its TAP
 * from a thread whose descriptor table /proc/PID/fd does not show: _i 0,
 * the main thread has ended (pthread_exit; the process lives on, and
 * /proc/PID/fd lists nothing); _i 1, the thread took a table of its own
 * (unshare CLONE_FILES; only /proc/PID/task/TID/fd lists it). up replaced
 * the TAP and down deleted it from under the process. Held either way. */
START_TEST(held_from_another_thread)
{
	const char *a0[] = { "--vnet-hdr", "--thread", "vm1-b", NULL };
	const char *a1[] = { "--vnet-hdr", "--thread", "--own-files", "vm1-b", NULL };
	held_refused("vnet_hdr\n", _i ? a1 : a0, false);
}
END_TEST

/* Attack: a VM that holds its multi_queue TAP only through a descriptor
 * in flight (sent to itself over a socket pair with SCM_RIGHTS, then
 * closed: the unread message keeps the queue) shows it in no
 * /proc/PID/fd. up replaced the TAP and down deleted it from under the
 * VM. The kernel counts a multi_queue TAP's queues (IFLA_TUN_NUM_QUEUES,
 * IFLA_TUN_NUM_DISABLED_QUEUES): held. _i: 0 attached, 1 detached first
 * (TUNSETQUEUE IFF_DETACH_QUEUE). */
START_TEST(held_tap_in_flight)
{
	const char *a0[] = { "--multi-queue", "--in-flight", "vm1-b", NULL };
	const char *a1[] = { "--multi-queue", "--detach", "--in-flight", "vm1-b", NULL };
	held_refused_saying("multi_queue\n", _i ? a1 : a0, false,
			    _i ? "the kernel counts 1 queue attached to it (1 disabled), "
				 "in no process that /proc shows"
			       : "the kernel counts 1 queue attached to it, "
				 "in no process that /proc shows");
}
END_TEST

/* tap-setup [--macvtap --devfs DEV] VERB of t under `setpriv
 * --bounding-set -dac_read_search,-dac_override`: root that cannot read
 * another user's /proc/PID/fd. dev NULL: TAPs. */
static void run_without_dac(struct tu_run *r, const struct tu_vm *t, const char *dev,
			    const char *verb)
{
	char *bin = tu_bin("tap-setup");
	const char *argv[20] = { "/usr/bin/setpriv", "--bounding-set", "-dac_read_search,-dac_override",
				 "--", bin, "--state-dir", t->state, "--runtime-dir", t->runtime,
				 "--user", "990", "--group", "78" };
	size_t n = 13;
	if (dev) {
		argv[n++] = "--macvtap";
		argv[n++] = "--devfs";
		argv[n++] = dev;
	}
	argv[n++] = verb;
	argv[n++] = t->name;
	argv[n] = NULL;
	tu_run(r, argv);
	free(bin);
}

/* down of vm1's two TAPs (tap-flags flags, up before) under `setpriv
 * --bounding-set -dac_read_search,-dac_override`, while a process of
 * another user runs, whose /proc/PID/fd the scan cannot read then: the
 * kernel counts no queue of a multi_queue TAP, and down deletes them
 * without a scan (_i 0); a TAP without multi_queue has no count, and
 * the check fails closed, naming the process it could not read (_i 1). */
START_TEST(unheld_multi_queue_needs_no_scan)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\n", _i ? "vnet_hdr\n" : "multi_queue\n");
	tap_ok(&t, "up", NULL);
	int a = ifindex("vm1-a");
	pid_t h = holder_start(&t, UID, GID, (const char *const[]){ "/dev/null", NULL });
	struct tu_run r;
	run_without_dac(&r, &t, NULL, "down");
	if (_i == 0) {
		ck_assert_msg(r.status == 0, "down: exit %d: %s", r.status, r.err);
		ck_assert_int_eq(ifindex("vm1-a"), 0);
		ck_assert_int_eq(ifindex("vm1-b"), 0);
		ck_assert_ptr_null(record_of(&t, "tap"));
	} else {
		ck_assert_msg(r.status == 1, "down: exit %d: %s", r.status, r.err);
		ck_assert_msg(strstr(r.err, "cannot tell whether a process holds it open") &&
				      strstr(r.err, strerror(EACCES)),
			      "stderr: %s", r.err);
		ck_assert_int_eq(ifindex("vm1-a"), a);
	}
	tu_run_free(&r);
	holder_stop(h);
	if (_i)
		tap_ok(&t, "down", NULL);
	tu_vm_free(&t);
}
END_TEST

/* A multi_queue TAP that the kernel counts held, whose holder the scan
 * cannot read (a process of another user, tap-setup without
 * CAP_DAC_READ_SEARCH): the error said "in no process that /proc shows
 * (a descriptor sent in a message?)", pointing away from the process it
 * could not read. It names that instead; down deletes vm1-a, which the
 * kernel counts free, and keeps vm1-b. */
START_TEST(held_multi_queue_blind_scan_says_so)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\n", "multi_queue\n");
	tap_ok(&t, "up", NULL);
	int b = ifindex("vm1-b");
	pid_t h = holder_start(&t, UID, GID, (const char *const[]){ "--multi-queue", "vm1-b", NULL });
	struct tu_run r;
	run_without_dac(&r, &t, NULL, "down");
	ck_assert_msg(r.status == 1, "down: exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, "'vm1-b': the kernel counts 1 queue attached to it, and which "
				    "process holds it cannot be told: unable to read '") &&
			      strstr(r.err, strerror(EACCES)) && !strstr(r.err, "in a message"),
		      "stderr: %s", r.err);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_int_eq(ifindex("vm1-b"), b);
	tu_run_free(&r);
	holder_stop(h);
	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1-b"), 0);
	tu_vm_free(&t);
}
END_TEST

/* Attack (issue 16): under the macvtap unit's capabilities (no
 * CAP_DAC_READ_SEARCH) tap-setup could not list the VM user's
 * /proc/PID/fd, counted that as "not held", and `down` (a restart of the
 * unit) deleted the macvtap under the running VM. The check fails closed:
 * when it cannot read a process's descriptors it refuses, naming the PID
 * and the reason; with the rights it names the holder. */
START_TEST(held_check_fails_closed)
{
	struct tu_vm t;
	tu_vm_make(&t, "vm2");
	make_veth("lower0");
	tu_write(t.runner, "share/microvm/macvtap-interfaces", "mvt0 02:11:22:33:44:55 lower0 bridge\n");
	char *dev = tu_path(t.root, "dev");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	const char *extra[] = { "--macvtap", "--devfs", dev, NULL };
	tap_ok(&t, "up", extra);
	int before = ifindex("mvt0");
	char rel[32];
	snprintf(rel, sizeof(rel), "tap%d", before);
	char *node = tu_path(dev, rel);
	pid_t h = holder_start(&t, UID, GID, (const char *const[]){ node, NULL });

	static const char *const verbs[] = { "down", "up" };
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		struct tu_run r;
		run_without_dac(&r, &t, dev, verbs[i]);
		ck_assert_msg(r.status == 1, "%s without CAP_DAC_READ_SEARCH: exit %d: %s", verbs[i],
			      r.status, r.err);
		ck_assert_msg(strstr(r.err, "'mvt0'") && strstr(r.err, "/fd") &&
				      strstr(r.err, strerror(EACCES)),
			      "stderr: %s", r.err);
		ck_assert_int_eq(ifindex("mvt0"), before);
		tu_run_free(&r);
	}
	char pid[32];
	snprintf(pid, sizeof(pid), "process %d ", (int)h);
	struct tu_run r;
	tap_run(&r, &t, "down", extra);
	ck_assert_msg(r.status == 1 && strstr(r.err, pid), "down: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	ck_assert_int_eq(ifindex("mvt0"), before);
	holder_stop(h);
	tap_ok(&t, "down", extra);
	ck_assert_int_eq(ifindex("mvt0"), 0);
	free(node);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

/* Issue 16: processes that exit while tap-setup scans /proc are not an
 * error. A child keeps starting processes that exit at once while `up`
 * (which replaces the last up's TAPs, so it scans) and `down` run. */
START_TEST(scan_with_exiting_processes)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\n", NULL);
	pid_t churn = fork();
	ck_assert_int_ge(churn, 0);
	if (churn == 0) {
		for (;;) {
			pid_t p = fork();
			if (p == 0)
				_exit(0);
			if (p > 0)
				waitpid(p, NULL, 0);
		}
	}
	for (int i = 0; i < 15; i++) {
		tap_ok(&t, "up", NULL);
		tap_ok(&t, "up", NULL);
		tap_ok(&t, "down", NULL);
	}
	kill(churn, SIGKILL);
	waitpid(churn, NULL, 0);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	tu_vm_free(&t);
}
END_TEST

/* Issue 16: `-v up --macvtap` printed nothing of the macvtaps it made,
 * though the man page says -v prints each interface created. */
START_TEST(verbose_macvtap_prints_each)
{
	struct tu_vm t;
	tu_vm_make(&t, "vm2");
	make_veth("lower0");
	tu_write(t.runner, "share/microvm/macvtap-interfaces", MAC_LIST);
	char *dev = tu_path(t.root, "dev");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	const char *extra[] = { "-v", "--macvtap", "--devfs", dev, NULL };
	struct tu_run r;
	tap_run(&r, &t, "up", extra);
	ck_assert_msg(r.status == 0, "%s", r.err);
	static const char *const names[] = { "mvt0", "mvt1", "mvt2" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char want[64];
		snprintf(want, sizeof(want), "created macvtap %s (index %d) on lower0", names[i],
			 ifindex(names[i]));
		ck_assert_msg(strstr(r.err, want), "no '%s' in: %s", want, r.err);
	}
	tu_run_free(&r);
	tap_ok(&t, "down", extra);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

/* ---- 6: records that are not regular files ------------------------------ */

/* Attack (issue 11, point 6): a FIFO in place of the record hung `up`
 * and `down` for ever (a root helper stuck in open()). A record that is
 * not a regular file is refused at once with one line naming it; nothing
 * changes. _i: 0 up, 1 down, 2 --macvtap down. (Run under timeout(1), so
 * that the old hang fails the test instead of stopping it.) */
START_TEST(fifo_record_refused)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", NULL);
	const char *kind = _i == 2 ? "macvtap" : "tap";
	char rel[32];
	snprintf(rel, sizeof(rel), "vm1/%s", kind);
	char *dir = tu_path(t.runtime, "vm1"), *fifo = tu_path(t.runtime, rel);
	ck_assert_int_eq(mkdir_p(dir, 0755), 0);
	ck_assert_int_eq(mkfifo(fifo, 0644), 0);
	char *bin = tu_bin("tap-setup");
	const char *argv[] = { "/usr/bin/timeout", "10", bin, "--state-dir", t.state,
			       "--runtime-dir", t.runtime, "--user", "990", "--group", "78",
			       _i == 2 ? "--macvtap" : "-v", _i == 0 ? "up" : "down", "vm1", NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status != 124, "tap-setup hung on the FIFO %s", fifo);
	ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
	char *want = xasprintf("unable to read '%s': not a regular file\n", fifo);
	ck_assert_msg(strstr(r.err, want), "stderr: %s", r.err);
	free(want);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	tu_run_free(&r);
	free(bin);
	free(fifo);
	free(dir);
	tu_vm_free(&t);
}
END_TEST

/* ---- a hijacked tap-setup and CAP_SYS_PTRACE ----------------------------- */

/* The TAP unit's capability bounding set, for setpriv --bounding-set. */
#define UNIT_CAPS "-all,+net_admin,+dac_read_search,+sys_ptrace,+setuid,+setgid"

/* The text of a small file (malloc'ed), NULL when it cannot be read. */
static char *file_text(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *buf = calloc(1, 8192);
	size_t k = buf ? fread(buf, 1, 8191, f) : 0;
	fclose(f);
	if (buf && k == 0) {
		free(buf);
		buf = NULL;
	}
	return buf;
}

/* The text of path once it holds a (and b, unless NULL), within about 10 s:
 * malloc'ed, NULL when it never did. */
static char *await_text(const char *path, const char *a, const char *b)
{
	for (int k = 0; k < 1000; k++) {
		char *text = file_text(path);
		if (text && strstr(text, a) && (!b || strstr(text, b)))
			return text;
		free(text);
		usleep(10000);
	}
	return NULL;
}

/* "HIJACK key value" of hijack.so in err: the value (static), or "". */
static const char *hijacked(const char *err, const char *key)
{
	static char v[64];
	char pat[64];
	snprintf(pat, sizeof(pat), "HIJACK %s ", key);
	const char *p = strstr(err, pat);
	v[0] = '\0';
	if (p)
		sscanf(p + strlen(pat), "%63s", v);
	return v;
}

/* Attack (found after issue 16): someone who made tap-setup run their code
 * (tests/shims/hijack.so, at its lock) went through another process to get
 * past tap-setup's sandbox. Under its unit tap-setup is root with
 * CAP_SYS_PTRACE (to read the VM user's /proc/PID/fd): that let it write
 * into any process's memory (process_vm_writev, /proc/PID/mem), and
 * create files as root through /proc/PID/root, which leads out of any
 * mount namespace. Without CAP_SYS_PTRACE, a root process that has no
 * capability tap-setup lacks (Debian's systemd-localed: root, none at
 * all) was still open to it, uid and gid being the same. Here tap-setup
 * runs with the unit's capabilities (setpriv) and the victim is this test
 * (root with every capability) or a root process with none. Now the scan
 * of /proc runs in a child that is nobody, with CAP_SYS_PTRACE and
 * CAP_DAC_READ_SEARCH alone, no_new_privs and a seccomp filter; and
 * tap-setup itself holds neither CAP_SYS_PTRACE nor CAP_SETUID/SETGID, and
 * runs with gid nogroup, from before it reads anything. _i: bit 0 down
 * (else up), bit 1 the victim without capabilities. */
START_TEST(hijacked_tap_setup_cannot_reach_other_processes)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", NULL);
	if (_i & 1)
		tap_ok(&t, "up", NULL);
	char *bin = tu_bin("tap-setup"), *shim = tu_bin("tests/shims/hijack.so");
	char *file = tu_path(t.root, "hijacked"), *preload = xasprintf("LD_PRELOAD=%s", shim);
	pid_t capless = 0;
	if (_i & 2) {
		capless = fork();
		ck_assert_int_ge(capless, 0);
		if (capless == 0) {
			execl("/usr/bin/setpriv", "setpriv", "--bounding-set", "-all", "--inh-caps",
			      "-all", "--", "/bin/sleep", "60", (char *)NULL);
			_exit(127);
		}
		/* until it runs sleep with no capabilities */
		char st[64];
		snprintf(st, sizeof(st), "/proc/%d/status", (int)capless);
		char *caps = await_text(st, "Name:\tsleep", "CapPrm:\t0000000000000000");
		ck_assert_msg(caps, "the victim %d never ran sleep without capabilities", (int)capless);
		free(caps);
	}
	char *victim = xasprintf("HIJACK_VICTIM=%d", capless ? (int)capless : (int)getpid());
	char *target = xasprintf("HIJACK_FILE=%s", file);
	const char *argv[] = { "/usr/bin/setpriv", "--bounding-set",
			       UNIT_CAPS,
			       "--no-new-privs", "--", "/usr/bin/env", preload, victim, target, bin,
			       "--state-dir", t.state, "--runtime-dir", t.runtime, "--user", "990",
			       "--group", "78", _i & 1 ? "down" : "up", t.name, NULL };
	struct tu_run r;
	tu_run(&r, argv);
	if (capless) {
		kill(capless, SIGKILL);
		waitpid(capless, NULL, 0);
	}
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, "HIJACK root_write"), "the shim did not run: %s", r.err);
	ck_assert_msg(access(file, F_OK) < 0, "created %s through /proc/%d/root", file,
		      capless ? (int)capless : (int)getpid());
	ck_assert_str_eq(hijacked(r.err, "root_write"), "no");
	ck_assert_str_eq(hijacked(r.err, "mem_open"), "no");
	ck_assert_str_eq(hijacked(r.err, "vm_writev"), "no");
	ck_assert_str_eq(hijacked(r.err, "uevent"), "no");
	ck_assert_str_eq(hijacked(r.err, "inet"), "no");
	unsigned long long caps = strtoull(hijacked(r.err, "self_caps"), NULL, 16);
	ck_assert_msg(!(caps & (1ULL << 19 | 1ULL << 7 | 1ULL << 6)),
		      "tap-setup kept CAP_SYS_PTRACE, CAP_SETUID or CAP_SETGID: CapPrm %llx", caps);
	ck_assert_str_eq(hijacked(r.err, "self_nnp"), "1");
	ck_assert_str_eq(hijacked(r.err, "scanner_uid"), "65534");
	ck_assert_str_eq(hijacked(r.err, "scanner_caps"), "0000000000080004");
	ck_assert_str_eq(hijacked(r.err, "scanner_seccomp"), "2");
	ck_assert_str_eq(hijacked(r.err, "scanner_nnp"), "1");
	ck_assert_int_eq(ifindex("vm1-a") > 0, !(_i & 1));
	tu_run_free(&r);
	if (!(_i & 1))
		tap_ok(&t, "down", NULL);
	free(target);
	free(victim);
	free(preload);
	free(file);
	free(shim);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* grant runs as the unit's privileged step (ExecStartPost=+: root with
 * every capability, outside the sandbox) and reads the VM's record and
 * runner, which a VM user may shape: code it was made to run (hijack.so,
 * at the VM's lock) holds CAP_CHOWN and CAP_DAC_READ_SEARCH alone, with
 * no_new_privs and the system call filter of up and down, so it cannot
 * reach into another process, send a udev event or make a socket but
 * rtnetlink. Here grant has
 * nothing to give (no up ran): it refuses, as it would without the shim. */
START_TEST(hijacked_grant_keeps_chown_alone)
{
	struct tu_vm t;
	tu_vm_make(&t, "vm2");
	tu_write(t.runner, "share/microvm/macvtap-interfaces", "mvt0 02:11:22:33:44:55 lower0 bridge\n");
	char *dev = tu_path(t.root, "dev");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	char *bin = tu_bin("tap-setup"), *shim = tu_bin("tests/shims/hijack.so");
	char *file = tu_path(t.root, "hijacked"), *preload = xasprintf("LD_PRELOAD=%s", shim);
	char *victim = xasprintf("HIJACK_VICTIM=%d", (int)getpid());
	char *target = xasprintf("HIJACK_FILE=%s", file);
	const char *argv[] = { "/usr/bin/env", preload, victim, target, bin, "--state-dir", t.state,
			       "--runtime-dir", t.runtime, "--devfs", dev, "--user", "990", "--group",
			       "78", "--macvtap", "grant", t.name, NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(strstr(r.err, "HIJACK root_write"), "the shim did not run: %s", r.err);
	ck_assert_msg(r.status == 1 && strstr(r.err, "unable to give 'mvt0' to the VM user: not made"),
		      "grant of nothing made: exit %d: %s", r.status, r.err);
	ck_assert_msg(access(file, F_OK) < 0, "created %s through /proc/%d/root", file, (int)getpid());
	ck_assert_str_eq(hijacked(r.err, "root_write"), "no");
	ck_assert_str_eq(hijacked(r.err, "mem_open"), "no");
	ck_assert_str_eq(hijacked(r.err, "vm_writev"), "no");
	ck_assert_str_eq(hijacked(r.err, "uevent"), "no");
	ck_assert_str_eq(hijacked(r.err, "inet"), "no");
	ck_assert_str_eq(hijacked(r.err, "systemd_private"), "no");
	ck_assert_str_eq(hijacked(r.err, "self_caps"), "0000000000000005"); /* CHOWN, DAC_READ_SEARCH */
	ck_assert_str_eq(hijacked(r.err, "self_nnp"), "1");
	tu_run_free(&r);
	free(target);
	free(victim);
	free(preload);
	free(file);
	free(shim);
	free(bin);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

/* The held check still sees the VM user's processes from the child, with
 * the unit's capabilities: a held TAP is refused, naming its holder. */
START_TEST(held_seen_with_the_units_capabilities)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", NULL);
	tap_ok(&t, "up", NULL);
	int before = ifindex("vm1-a");
	pid_t h = holder_start(&t, UID, GID, (const char *const[]){ "--vnet-hdr", "vm1-a", NULL });
	char *bin = tu_bin("tap-setup");
	const char *argv[] = { "/usr/bin/setpriv", "--bounding-set",
			       UNIT_CAPS,
			       "--no-new-privs", "--", bin, "--state-dir", t.state, "--runtime-dir",
			       t.runtime, "down", t.name, NULL };
	struct tu_run r;
	tu_run(&r, argv);
	char pid[32];
	snprintf(pid, sizeof(pid), "process %d ", (int)h);
	ck_assert_msg(r.status == 1 && strstr(r.err, "'vm1-a'") && strstr(r.err, pid),
		      "down of a held TAP: exit %d: %s", r.status, r.err);
	ck_assert_int_eq(ifindex("vm1-a"), before);
	tu_run_free(&r);
	holder_stop(h);
	tap_ok(&t, "down", NULL);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* Attack (review of the scan's move into a child): the child runs as
 * nobody, so any other process of nobody's may stop it (SIGSTOP), and
 * tap-setup waited for its answer for ever: a unit that never finishes
 * starting. Now no answer in 30 s fails the check closed, and a stopped
 * child dies with tap-setup. Here the test (root) stops it while
 * tap-setup waits for the VM's lock; `down` must then exit 1 within about
 * 30 s, saying why, and leave the TAP. */
START_TEST(stopped_scan_fails_closed)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", NULL);
	tap_ok(&t, "up", NULL);
	int before = ifindex("vm1-a");
	char *lock = tu_path(t.runtime, "vm1.lock"), *errf = tu_path(t.root, "down.err");
	int fd = open(lock, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	pid_t pid = spawn_tap(&t, "down", errf);
	/* Until the child is up: tap-setup sets no_new_privs once it answered. */
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	char *status = await_text(path, "NoNewPrivs:\t1", NULL);
	ck_assert_msg(status, "tap-setup did not start its scan");
	free(status);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	char *kids = file_text(path);
	ck_assert_msg(kids && atoi(kids) > 0, "tap-setup has no child (its scan)");
	pid_t scan = atoi(kids);
	free(kids);
	ck_assert_int_eq(kill(scan, SIGSTOP), 0);
	long long t0 = now_ms();
	close(fd); /* the lock: tap-setup goes on, to its scan */
	int st = wait_status(pid);
	long long ms = now_ms() - t0;
	char *err = file_text(errf);
	ck_assert_msg(st == 1, "down with its scan stopped: exit %d: %s", st, err ? err : "");
	ck_assert_msg(ms >= 25000 && ms < 60000, "gave up after %lld ms, not about 30 s", ms);
	ck_assert_msg(err && strstr(err, "'vm1-a'") && strstr(err, strerror(ETIMEDOUT)), "stderr: %s",
		      err ? err : "");
	ck_assert_int_eq(ifindex("vm1-a"), before);
	/* the stopped child died with tap-setup (gone, or a zombie) */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)scan);
	bool dead = false;
	for (int k = 0; k < 200 && !dead; k++) {
		char *stat = file_text(path), *paren = stat ? strrchr(stat, ')') : NULL;
		dead = !stat || (paren && paren[1] == ' ' && paren[2] == 'Z');
		free(stat);
		if (!dead)
			usleep(10000);
	}
	ck_assert_msg(dead, "the stopped scan %d outlived tap-setup", (int)scan);
	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	free(err);
	free(errf);
	free(lock);
	tu_vm_free(&t);
}
END_TEST

/* ---- F1 of the TAP audit: a queue attached before the owner is set ------ */

/* The uid of the attacker: neither root nor the VM user, unused here. */
#define FOREIGN 65533

/* `ip -d link show dev NAME` (malloc'ed stdout), NULL when there is no such
 * link: what a user looks at (tun type, queues, owner, link type). */
static char *ip_details(const char *name)
{
	const char *argv[] = { "/usr/sbin/ip", "-d", "link", "show", "dev", name, NULL };
	struct tu_run r;
	tu_run(&r, argv);
	char *out = r.status == 0 ? r.out : NULL;
	if (out)
		r.out = NULL;
	tu_run_free(&r);
	return out;
}

/* What the attacker did, in memory shared with the test. */
struct attacker {
	volatile int stop;	   /* set by the test: leave */
	volatile int attached;	   /* TUNSETIFF succeeded this many times */
	volatile int relinked;	   /* TUNSETLINK ARPHRD_NONE succeeded */
	volatile int try_takeover; /* set by the test: TUNSETOWNER now */
	volatile int took_over;	   /* 1: TUNSETOWNER succeeded, -1: it failed */
	volatile int last_err;	   /* errno of the last failed TUNSETIFF */
	volatile unsigned long tries;
};

/* The attacker of the audit (poc-attach.c): a process of uid FOREIGN that
 * spins on TUNSETIFF of name (IFF_TAP|IFF_NO_PI|IFF_MULTI_QUEUE) through
 * tun (mode 0666, as /dev/net/tun is on a normal host). Relink: on a win,
 * TUNSETLINK ARPHRD_NONE at once and close; else hold the queue, and
 * when asked try to take the TAP (TUNSETOWNER FOREIGN). */
static pid_t attacker_start(struct attacker *a, const char *tun, const char *name, bool relink)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		return pid;
	if (setgroups(0, NULL) < 0 || setresgid(FOREIGN, FOREIGN, FOREIGN) < 0 ||
	    setresuid(FOREIGN, FOREIGN, FOREIGN) < 0)
		_exit(125);
	int fd = open(tun, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		_exit(126);
	while (!a->stop) {
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		a->tries++;
		if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
			a->last_err = errno;
			continue;
		}
		if (relink) {
			a->relinked = ioctl(fd, TUNSETLINK, (unsigned long)ARPHRD_NONE) == 0;
			__sync_fetch_and_add(&a->attached, 1);
			close(fd);
			_exit(0);
		}
		__sync_fetch_and_add(&a->attached, 1);
		while (!a->try_takeover && !a->stop)
			usleep(1000);
		a->took_over = ioctl(fd, TUNSETOWNER, (unsigned long)FOREIGN) == 0 ? 1 : -1;
		while (!a->stop)
			usleep(1000);
		_exit(0);
	}
	_exit(0);
}

static void attacker_stop(struct attacker *a, pid_t pid)
{
	a->stop = 1;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Up to this many ups race the attacker before the test gives up on it. */
#define RACE_ROUNDS 200

/* One up of t (TAP vm1-a, multi_queue) while the attacker spins: did it
 * win (attach) in it? A win shows in its count only once the attacker,
 * back from its ioctl, has counted it: on a loaded machine that can be a
 * while after up saw the queue, so a failed up looks again for up to 5 s
 * (a clean up does not wait). */
static int race_up(struct tu_run *r, const struct tu_vm *t, const struct attacker *a,
		   const char *const *extra)
{
	tap_run(r, t, "up", extra);
	for (int k = 0; k < 500 && !a->attached && r->status != 0; k++)
		usleep(10000);
	return a->attached;
}

/* A user's checks of vm1-a after an up the attacker did not win: up
 * succeeded, the TAP is the VM user's, persistent, an Ethernet link, and
 * nobody holds a queue of it. */
static void assert_clean_tap(const struct tu_run *r, int round)
{
	ck_assert_msg(r->status == 0, "round %d: up: exit %d: %s", round, r->status, r->err);
	char *d = ip_details("vm1-a");
	ck_assert_msg(d && strstr(d, "link/ether") && strstr(d, "tun type tap") &&
			      strstr(d, " numqueues 0 numdisabled 0 persist on user 990 group 78"),
		      "round %d: vm1-a after up: %s", round, d ? d : "(none)");
	free(d);
}

/* After an up the attacker won: up failed with one line that names vm1-a
 * and says why (containing why), and left no TAP and no record. */
static void assert_won_up_refused(const struct tu_vm *t, const struct tu_run *r,
				  const struct attacker *a, int round, const char *why)
{
	char *d = ip_details("vm1-a"), *rec = record_of(t, "tap");
	ck_assert_msg(r->status == 1,
		      "round %d: uid %d attached a queue to vm1-a during up (after %lu tries), "
		      "but up exited %d; the TAP now: %s",
		      round, FOREIGN, a->tries, r->status, d ? d : "(none)");
	ck_assert_msg(strstr(r->err, "unable to create 'vm1-a': another process ") &&
			      strstr(r->err, why) &&
			      strchr(r->err, '\n') == r->err + strlen(r->err) - 1,
		      "round %d: stderr: %s", round, r->err);
	ck_assert_msg(!d, "round %d: up failed, but left vm1-a: %s", round, d);
	ck_assert_msg(!rec, "round %d: up failed, but left a record: %s", round, rec);
}

/* Attack (audit F1, 2a): while `up` creates a multi_queue TAP, before
 * TUNSETOWNER, any local user can attach a queue to it (tun_not_capable()
 * lets anyone attach to a TAP without owner and group), keep it, and
 * later make itself the owner: the VM's TAP, up, in its link group and on
 * its bridge, is then the attacker's, and `down` refuses it as held. Here
 * the attacker (uid 65533) spins while `up` and `down` alternate until it
 * wins once (at most RACE_ROUNDS ups); then up must have failed naming
 * the attach, with no TAP and no record left, and the attacker's
 * TUNSETOWNER must fail. Each up it did not win must leave a clean TAP
 * (and its TUNSETIFF failed: it holds nothing). */
START_TEST(mq_attach_race_refused)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", "multi_queue\n");
	char *tun = tun_node(&t);
	struct attacker *a = tu_shared(sizeof(*a));
	pid_t pid = attacker_start(a, tun, "vm1-a", false);
	int round = 1, won = 0;
	for (; round <= RACE_ROUNDS && !won; round++) {
		struct tu_run r;
		won = race_up(&r, &t, a, NULL);
		if (won) {
			a->try_takeover = 1;
			for (int k = 0; k < 10000 && !a->took_over; k++) /* 10 s */
				usleep(1000);
			assert_won_up_refused(&t, &r, a, round,
					      "attached to it before its owner was set");
			ck_assert_msg(a->took_over == -1,
				      "round %d: the attacker's queue made uid %d the TAP's owner",
				      round, FOREIGN);
		} else {
			assert_clean_tap(&r, round);
			tap_ok(&t, "down", NULL);
		}
		tu_run_free(&r);
	}
	unsigned long tries = a->tries;
	int last = a->last_err;
	attacker_stop(a, pid);
	struct tu_run r;
	tap_run(&r, &t, "down", NULL); /* whatever is left */
	tu_run_free(&r);
	if (!won) {
		char why[160];
		snprintf(why, sizeof(why),
			 "uid %d never attached within %d ups (%lu tries, last: %s)", FOREIGN,
			 RACE_ROUNDS, tries, strerror(last));
		tu_skip_now(mq_attach_race_refused, 0, why);
	} else {
		fprintf(stderr, "tap: the attacker won up %d of %d (%lu tries): up refused it\n",
			round - 1, RACE_ROUNDS, tries);
	}
	free(tun);
	tu_vm_free(&t);
}
END_TEST

/* Attack (audit F1, 2b): the attacker attaches in the same window, turns
 * the TAP into ARPHRD_NONE (TUNSETLINK; allowed while it is down) and
 * closes. `up` went on and made it persistent; `down` took it for a TUN,
 * "left alone", exited 0 and removed the record: a persistent TAP of the
 * VM user for good, and the next up refused the name. Now, once the
 * attacker won: up failed as above, or the TAP it left is an Ethernet
 * TAP; and down leaves no TAP and no record either way. _i 1: with
 * --bridge (2c: the changed type made the enslave fail, after which
 * nothing recorded the TAP). */
START_TEST(mq_attach_relink_refused)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", "multi_queue\n");
	const char *bridge[] = { "--bridge", "br0", NULL }, *const *extra = _i ? bridge : NULL;
	if (_i)
		make_bridge("br0");
	char *tun = tun_node(&t);
	struct attacker *a = tu_shared(sizeof(*a));
	pid_t pid = attacker_start(a, tun, "vm1-a", true);
	int round = 1, won = 0;
	for (; round <= RACE_ROUNDS && !won; round++) {
		struct tu_run r;
		won = race_up(&r, &t, a, extra);
		if (!won) {
			assert_clean_tap(&r, round);
			tap_ok(&t, "down", extra);
		} else if (r.status != 0) {
			/* attached, or (its queue gone) changed the link type */
			assert_won_up_refused(&t, &r, a, round, "before its owner was set");
		} else {
			/* its queue gone before the check: only a clean TAP may stay */
			char *d = ip_details("vm1-a");
			ck_assert_msg(d && strstr(d, "link/ether"),
				      "round %d: uid %d relinked vm1-a (%s) during up; up exited 0 "
				      "and left: %s",
				      round, FOREIGN, a->relinked ? "TUNSETLINK ok" : "TUNSETLINK failed",
				      d ? d : "(none)");
			free(d);
		}
		tu_run_free(&r);
	}
	unsigned long tries = a->tries;
	attacker_stop(a, pid);
	struct tu_run r;
	tap_run(&r, &t, "down", extra);
	char *d = ip_details("vm1-a"), *rec = record_of(&t, "tap");
	ck_assert_msg(r.status == 0 && !d && !rec, "down: exit %d (%s); vm1-a: %s; record: %s",
		      r.status, r.err, d ? d : "(none)", rec ? rec : "(none)");
	tu_run_free(&r);
	if (!won) {
		char why[160];
		snprintf(why, sizeof(why), "uid %d never attached within %d ups (%lu tries)", FOREIGN,
			 RACE_ROUNDS, tries);
		tu_skip_now(mq_attach_relink_refused, _i, why);
	} else {
		fprintf(stderr, "tap: the relinking attacker won up %d of %d (%lu tries): handled\n",
			round - 1, RACE_ROUNDS, tries);
	}
	free(tun);
	tu_vm_free(&t);
}
END_TEST

/* What a queue attached before TUNSETOWNER can do to the TAP after up
 * set owner and group, and then leave (its queue gone, the count of
 * queues back to up's one): _i 0 give it another group (TUNSETGROUP), 1
 * make it persistent (TUNSETPERSIST). The attacker here is root, at a
 * gate.so point right after up's TUNSETGROUP: the end state of the race
 * of mq_attach_race_refused, without the race. */
struct late_change {
	const char *tun, *gate;
	int what;
};

static int late_change(void *arg)
{
	const struct late_change *c = arg;
	char reached[4200];
	snprintf(reached, sizeof(reached), "%s.reached", c->gate);
	for (int k = 0; k < 1000 && access(reached, F_OK) < 0; k++) /* 10 s */
		usleep(10000);
	int err = access(reached, F_OK) < 0 ? ETIMEDOUT : 0, fd = -1;
	if (!err && (fd = open(c->tun, O_RDWR | O_CLOEXEC)) < 0)
		err = errno;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "vm1-a");
	if (!err && ioctl(fd, TUNSETIFF, &ifr) < 0)
		err = errno;
	if (!err && c->what == 0 && ioctl(fd, TUNSETGROUP, (unsigned long)FOREIGN) < 0)
		err = errno;
	if (!err && c->what == 1 && ioctl(fd, TUNSETPERSIST, 1UL) < 0)
		err = errno;
	if (fd >= 0)
		close(fd);
	unlink(c->gate); /* up goes on, whatever happened here */
	return err;
}

/* Audit F1, what tap_not_fresh() checks beyond the queue count: after
 * up's TUNSETGROUP a process that attached a queue earlier changes the
 * TAP's group (_i 0) or makes it persistent (_i 1), and closes its
 * queue. up must see it (the kernel says so when up asks about the TAP),
 * fail with one line naming vm1-a and what was done to it, and leave no
 * TAP and no record. */
START_TEST(changed_after_owner_set_refused)
{
	static const char *const said[] = {
		"another process changed its owner or group before they were set",
		"another process made it persistent before its owner was set",
	};
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", "multi_queue\n");
	char *tun = tun_node(&t), *gate = tu_path(t.root, "gate");
	char *shim = xasprintf("LD_PRELOAD=%s/tests/shims/gate.so", BUILD_DIR);
	char *file = xasprintf("GATE_FILE=%s", gate), at[64];
	snprintf(at, sizeof(at), "GATE_AT=ioctl:%lx", (unsigned long)TUNSETGROUP);
	tu_write(t.root, "gate", "");
	struct late_change c = { .tun = tun, .gate = gate, .what = _i };
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(late_change(&c));
	const char *env[] = { shim, file, at, "JOURNAL_STREAM=", NULL };
	struct tu_run r;
	tap_run_env(&r, &t, "up", NULL, env);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "the change after TUNSETGROUP was not made: %s (up: exit %d: %s)",
		      WIFEXITED(st) ? strerror(WEXITSTATUS(st)) : "killed", r.status, r.err);
	char want[256], line[1024], *d = ip_details("vm1-a"), *rec = record_of(&t, "tap");
	snprintf(want, sizeof(want), "tap-setup: vm1: unable to create 'vm1-a': %s", said[_i]);
	ck_assert_msg(r.status == 1, "up: exit %d: %s; vm1-a now: %s", r.status, r.err,
		      d ? d : "(none)");
	const char *what = tu_error_line(r.err, line, sizeof(line));
	ck_assert_msg(what && !strcmp(what, want), "up: stderr: %s", r.err);
	ck_assert_msg(!d, "up failed, but left vm1-a: %s", d);
	ck_assert_msg(!rec, "up failed, but left a record: %s", rec);
	tu_run_free(&r);
	free(file);
	free(shim);
	free(gate);
	free(tun);
	tu_vm_free(&t);
}
END_TEST

/* While up holds after its TUNSETGROUP of vm1-a, a persistent TAP vm1-b
 * of uid FOREIGN appears (the gate's fork makes it as root could: up's
 * dump said the name was free). */
static int stranger_appears(void *arg)
{
	const struct late_change *c = arg;
	char reached[4200];
	snprintf(reached, sizeof(reached), "%s.reached", c->gate);
	for (int k = 0; k < 1000 && access(reached, F_OK) < 0; k++) /* 10 s */
		usleep(10000);
	int err = access(reached, F_OK) < 0 ? ETIMEDOUT : 0, fd = -1;
	if (!err && (fd = open(c->tun, O_RDWR | O_CLOEXEC)) < 0)
		err = errno;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "vm1-b");
	if (!err && (ioctl(fd, TUNSETIFF, &ifr) < 0 ||
		     ioctl(fd, TUNSETOWNER, (unsigned long)FOREIGN) < 0 ||
		     ioctl(fd, TUNSETPERSIST, 1UL) < 0))
		err = errno;
	if (fd >= 0)
		close(fd);
	unlink(c->gate);
	return err;
}

/* A TAP of a wanted name that appears between up's dump and its
 * TUNSETIFF is another's: up must not attach to it (IFF_TUN_EXCL), so it
 * fails naming vm1-b, and that TAP stays as its maker left it, owner and
 * all; vm1-a, which this run made, goes again, with no record. */
START_TEST(appeared_since_the_dump_left_alone)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\n", NULL);
	char *tun = tun_node(&t), *gate = tu_path(t.root, "gate");
	char *shim = xasprintf("LD_PRELOAD=%s/tests/shims/gate.so", BUILD_DIR);
	char *file = xasprintf("GATE_FILE=%s", gate), at[64];
	snprintf(at, sizeof(at), "GATE_AT=ioctl:%lx", (unsigned long)TUNSETGROUP);
	tu_write(t.root, "gate", "");
	struct late_change c = { .tun = tun, .gate = gate };
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(stranger_appears(&c));
	const char *env[] = { shim, file, at, "JOURNAL_STREAM=", NULL };
	struct tu_run r;
	tap_run_env(&r, &t, "up", NULL, env);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "vm1-b was not made while up waited: %s (up: exit %d: %s)",
		      WIFEXITED(st) ? strerror(WEXITSTATUS(st)) : "killed", r.status, r.err);
	char line[1024], *rec = record_of(&t, "tap");
	ck_assert_msg(r.status == 1, "up: exit %d: %s", r.status, r.err);
	const char *what = tu_error_line(r.err, line, sizeof(line));
	ck_assert_msg(what && !strcmp(what, "tap-setup: vm1: unable to create 'vm1-b': TUNSETIFF: "
					    "Device or resource busy"),
		      "up: stderr: %s", r.err);
	ck_assert_msg(ifindex("vm1-b") > 0, "up deleted vm1-b, which another process made");
	ck_assert_msg(sysnum("vm1-b", "owner") == FOREIGN,
		      "up changed the owner of vm1-b, which another process made, to %lu",
		      sysnum("vm1-b", "owner"));
	ck_assert_msg(ifindex("vm1-a") == 0, "up failed, but left vm1-a");
	ck_assert_msg(!rec, "up failed, but left a record: %s", rec);
	tu_run_free(&r);
	free(file);
	free(shim);
	free(gate);
	free(tun);
	tu_vm_free(&t);
}
END_TEST

/* As uid:gid, attach to TAP name through tun and TUNSETLINK it to
 * ARPHRD_NONE, then close: 0, or the errno of what failed. */
struct relink_args {
	const char *tun, *name;
};

static int relink_as(void *arg)
{
	const struct relink_args *ra = arg;
	int fd = open(ra->tun, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ra->name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETLINK, (unsigned long)ARPHRD_NONE) < 0)
		return errno;
	close(fd);
	return 0;
}

/* Audit F1 (the kind check): the VM user owns its TAP and may change its
 * link type while it is down (TUNSETLINK on its own queue: here the TAP
 * is taken down by the test, as it is before up's IFF_UP). tap-setup
 * told a TAP from a TUN by the link type (ARPHRD_ETHER), so `down` left
 * the recorded TAP "alone" and forgot it, and `up` refused to replace it
 * ("not a TAP"). The kernel's IFLA_TUN_TYPE says what it is: _i 0, down
 * deletes it and removes the record; _i 1, up replaces it with a new
 * Ethernet TAP. */
START_TEST(owner_relinked_tap_still_ours)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", NULL);
	tap_ok(&t, "up", NULL);
	int before = ifindex("vm1-a");
	const char *argv[] = { "/usr/sbin/ip", "link", "set", "dev", "vm1-a", "down", NULL };
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 0, "ip link set down: %s", r.err);
	tu_run_free(&r);
	char *tun = tun_node(&t);
	struct relink_args ra = { tun, "vm1-a" };
	int k = tu_fork_call(UID, GID, relink_as, &ra);
	ck_assert_msg(k == 0, "the VM user could not relink its TAP: %s", strerror(k));
	char *d = ip_details("vm1-a");
	ck_assert_msg(d && strstr(d, "link/none") && strstr(d, "tun type tap"), "vm1-a: %s",
		      d ? d : "(none)");
	free(d);
	tap_run(&r, &t, _i ? "up" : "down", NULL);
	d = ip_details("vm1-a");
	char *rec = record_of(&t, "tap");
	if (_i == 0)
		ck_assert_msg(r.status == 0 && !d && !rec,
			      "down of a relinked TAP: exit %d (%s); vm1-a: %s; record: %s", r.status,
			      r.err, d ? d : "(none)", rec ? rec : "(none)");
	else
		ck_assert_msg(r.status == 0 && d && strstr(d, "link/ether") &&
				      ifindex("vm1-a") != before,
			      "up over a relinked TAP: exit %d (%s); vm1-a: %s", r.status, r.err,
			      d ? d : "(none)");
	tu_run_free(&r);
	free(d);
	free(rec);
	if (_i)
		tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	free(tun);
	tu_vm_free(&t);
}
END_TEST

/* ---- F2 of the TAP audit: a file on a user's FUSE mount ----------------- */

#define BINDFS "/usr/bin/bindfs"
#define FUSERMOUNT "/usr/bin/fusermount"

/* A user fusermount can name (it refuses a uid without a passwd entry):
 * the first one of /etc/passwd that is not root, nobody or the VM user;
 * 0 when there is none. */
static uid_t named_user(gid_t *gid)
{
	uid_t u = 0;
	setpwent();
	for (struct passwd *pw; !u && (pw = getpwent());)
		if (pw->pw_uid >= 1000 && pw->pw_uid != TU_NOBODY && pw->pw_uid != UID &&
		    pw->pw_uid != (uid_t)-1) {
			u = pw->pw_uid;
			*gid = pw->pw_gid;
		}
	endpwent();
	return u;
}

/* The errno of stat(path) (0: it worked), for tu_fork_call. */
static int stat_errno(void *path)
{
	struct stat st;
	return stat(path, &st) < 0 ? errno : 0;
}

/* Exec argv (argv[0] a path), for tu_fork_call. */
static int exec_as(void *arg)
{
	char *const *argv = arg;
	execv(argv[0], argv);
	return 127;
}

/* Attack (audit F2): the held check stat()ed every descriptor of every
 * process; a file on a FUSE mount without allow_other answers EACCES to
 * everyone but its mounter (the scan runs as nobody), and one such error
 * made every TAP count as held: any local user with FUSE (fusermount is
 * setuid) stopped `down` and so the restart of every VM. Here a user
 * (named_user()) mounts bindfs --no-allow-other (through the setuid fusermount, with a
 * /dev/fuse of mode 0666 bind-mounted in the test's own mount namespace,
 * as on a normal host) and holds a file of it open; then `down` must
 * delete both TAPs, and `up` after it must work. */
START_TEST(fuse_file_does_not_blind_held_check)
{
	gid_t g = 0;
	uid_t u = named_user(&g);
	if (!u) {
		tu_skip_now(fuse_file_does_not_blind_held_check, 0,
			    "no user in /etc/passwd but root, nobody and the VM user (fusermount "
			    "wants a name)");
		return;
	}
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\n", NULL);
	tap_ok(&t, "up", NULL);
	char *node = tu_path(t.root, "fuse"), *src = tu_path(t.root, "src");
	char *mnt = tu_path(t.root, "mnt"), *file = tu_path(mnt, "f");
	ck_assert_int_eq(mknod(node, S_IFCHR | 0666, makedev(10, 229)), 0);
	tu_chmod(node, 0666);
	ck_assert_msg(mount(node, "/dev/fuse", NULL, MS_BIND, NULL) == 0, "bind /dev/fuse: %s",
		      strerror(errno));
	tu_write(src, "f", "hi\n");
	ck_assert_int_eq(mkdir(mnt, 0755), 0);
	char *srcf = tu_path(src, "f");
	tu_chown(src, u, g);
	tu_chown(srcf, u, g);
	tu_chown(mnt, u, g);
	char *bindfs[] = { BINDFS, "--no-allow-other", src, mnt, NULL };
	int k = tu_fork_call(u, g, exec_as, bindfs);
	if (k != 0) {
		char why[96];
		snprintf(why, sizeof(why), "bindfs as uid %u failed (exit %d): no FUSE here",
			 (unsigned)u, k);
		tu_skip_now(fuse_file_does_not_blind_held_check, 0, why);
		umount2("/dev/fuse", MNT_DETACH);
		goto out;
	}
	/* the holder: that user, with the file open, sleeping */
	int ready[2];
	ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
	pid_t h = fork();
	ck_assert_int_ge(h, 0);
	if (h == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(g, g, g) < 0 || setresuid(u, u, u) < 0 ||
		    prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) /* after the uid change, which clears it */
			_exit(125);
		int fd = open(file, O_RDONLY); /* kept open */
		if (fd < 0 || write(ready[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	char c = 0;
	ck_assert_msg(read(ready[0], &c, 1) == 1, "uid %u could not open %s", (unsigned)u, file);
	close(ready[0]);
	struct tu_run r = { 0 }, r2 = { 0 };
	int a = 0, b = 0;
	char *rec = NULL;
	k = tu_fork_call(TU_NOBODY, TU_NOBODY, stat_errno, file);
	if (k != EACCES) { /* what the attack needs of FUSE */
		char why[128];
		snprintf(why, sizeof(why), "stat of a file on the FUSE mount as nobody: %s, not EACCES",
			 k ? strerror(k) : "no error");
		tu_skip_now(fuse_file_does_not_blind_held_check, 0, why);
		goto stop;
	}
	tap_run(&r, &t, "down", NULL);
	a = ifindex("vm1-a");
	b = ifindex("vm1-b");
	rec = record_of(&t, "tap");
	if (r.status == 0)
		tap_run(&r2, &t, "up", NULL); /* the VM starts again */
stop: /* the holder and the mount go before any assertion ends the test */
	kill(h, SIGKILL);
	waitpid(h, NULL, 0);
	umount2(mnt, MNT_DETACH); /* bindfs exits */
	umount2("/dev/fuse", MNT_DETACH);
	if (k == EACCES) {
		ck_assert_msg(r.status == 0, "down with a FUSE file open: exit %d: %s", r.status,
			      r.err);
		ck_assert_msg(!a && !b && !rec, "down left vm1-a %d, vm1-b %d, record %s", a, b,
			      rec ? rec : "(none)");
		ck_assert_msg(r2.status == 0, "up after it: exit %d: %s", r2.status, r2.err);
		tap_ok(&t, "down", NULL);
	}
	tu_run_free(&r);
	tu_run_free(&r2);
	free(rec);
out:
	free(srcf);
	free(file);
	free(mnt);
	free(src);
	free(node);
	tu_vm_free(&t);
}
END_TEST

/* ---- the third audit (red team of tap-setup, units, runner-exec) ---------- */

/* Attack (red team, runner values): the kernel takes a name with "%d" as
 * a template and makes the link under the next free name of that form
 * (mv0), for TUNSETIFF and RTM_NEWLINK alike; no link is ever called
 * "mv%d". `--macvtap up` of "mv%d" made macvtap mv0 on the host's link, in
 * the VM's group, then did not find "mv%d", failed and left mv0 behind,
 * in no record: down did not delete it, and the next up of the same MAC on
 * that link failed (EADDRINUSE). Such a name is refused where it is read,
 * with the file and line, and nothing is made. _i: 0 macvtap, 1 TAP. */
START_TEST(name_template_refused)
{
	struct tu_vm t;
	bool mac = _i == 0;
	const char *file = mac ? "macvtap-interfaces" : "tap-interfaces";
	if (mac) {
		tu_vm_make(&t, "vm2");
		tu_write(t.runner, "share/microvm/macvtap-interfaces",
			 "mvt0 02:11:22:33:44:54 lower0 bridge\nmv%d 02:11:22:33:44:55 lower0 bridge\n");
	} else {
		vm_taps(&t, "vm1-a\nvm%d\n", NULL);
	}
	make_veth("lower0");
	char *before = links_now();
	char *dev = tu_path(t.root, "dev");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	const char *mextra[] = { "--macvtap", "--devfs", dev, NULL };
	const char *const *extra = mac ? mextra : NULL;
	struct tu_run r;
	tap_run(&r, &t, "up", extra);
	ck_assert_int_eq(r.status, 1);
	char *now = links_now();
	ck_assert_msg(!strcmp(now, before), "left after up: %s (before: %s)", now, before);
	ck_assert_msg(strstr(r.err, file) && strstr(r.err, "line 2") && strstr(r.err, "%"), "%s",
		      r.err);
	tu_run_free(&r);
	tap_ok(&t, "down", extra);
	free(now);
	now = links_now();
	ck_assert_msg(!strcmp(now, before), "left after down: %s (before: %s)", now, before);
	ck_assert_ptr_null(record_of(&t, mac ? "macvtap" : "tap"));
	free(now);
	free(before);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

/* Attack (red team): a bridge whose MAC address was not set (`ip link add
 * br0 type bridge`, NixOS's scripted bridges) takes the lowest address of
 * its ports, and the kernel gives a new TAP a random one (first byte 02
 * to fe): `up --bridge br0` moved br0's address to the TAP's whenever that
 * sorted below the host's port's, and `down` moved it back (the host's
 * ARP and DHCP peers, its IPv6 addresses see another host). Each TAP now
 * gets fe as its first byte, as libvirt does, so that it does not sort
 * below a port of the host. Here the host's port has fc:00:00:00:00:01,
 * below which 63 of 64 random first bytes fall; four TAPs. */
START_TEST(bridge_keeps_its_mac)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\nvm1-c\nvm1-d\n", NULL);
	make_bridge("br0");
	make_veth("port0");
	set_mac_master("port0", "fc:00:00:00:00:01", "br0");
	char *before = sysattr("br0", "address");
	ck_assert_str_eq(before, "fc:00:00:00:00:01");
	const char *extra[] = { "--bridge", "br0", NULL };
	tap_ok(&t, "up", extra);
	char *after = sysattr("br0", "address");
	ck_assert_msg(!strcmp(after, before), "br0 was %s, is %s after up", before, after);
	for (int k = 0; k < 4; k++) {
		char n[8];
		snprintf(n, sizeof(n), "vm1-%c", 'a' + k);
		char *mac = sysattr(n, "address");
		ck_assert_msg(!strncmp(mac, "fe:", 3), "%s has %s", n, mac);
		free(mac);
	}
	tap_ok(&t, "down", NULL);
	free(after);
	after = sysattr("br0", "address");
	ck_assert_str_eq(after, before);
	free(after);
	free(before);
	tu_vm_free(&t);
}
END_TEST

/* Attack (red team, runner values): the scan of /proc answers for 4096
 * interfaces a request, and refused more (E2BIG) as "held", failing
 * closed. A runner that asks for more TAPs than that (its file may hold
 * 15,000 names) had them all made by up, and down then refused every one
 * ("cannot tell whether a process holds it open"), every time: the
 * record stayed, and the next up refused too. Now the scan takes them in
 * turns; a TAP held in a later turn than the first is still refused. */
START_TEST(more_taps_than_one_scan)
{
	struct tu_vm t;
	vm_n_taps(&t, 4100, NULL);
	tap_ok(&t, "up", NULL);
	int before = ifindex("t4099");
	ck_assert_int_gt(before, 0);
	/* held, and in the second turn: down refuses it and keeps it */
	pid_t h = holder_start(&t, UID, GID, (const char *const[]){ "--vnet-hdr", "t4099", NULL });
	char pid[32];
	snprintf(pid, sizeof(pid), "process %d ", (int)h);
	struct tu_run r;
	tap_run(&r, &t, "down", NULL);
	ck_assert_msg(r.status == 1 && strstr(r.err, "'t4099'") && strstr(r.err, pid),
		      "down of a TAP held in the second turn: exit %d: %s", r.status, r.err);
	ck_assert_int_eq(ifindex("t4099"), before);
	tu_run_free(&r);
	holder_stop(h);
	tap_run(&r, &t, "down", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	tu_run_free(&r);
	ck_assert_int_eq(ifindex("t0"), 0);
	ck_assert_int_eq(ifindex("t4099"), 0);
	ck_assert_ptr_null(record_of(&t, "tap"));
	tu_vm_free(&t);
}
END_TEST

void tap_attack_cases(Suite *s)
{
	const char *why = tu_need_netns();
	TCase *tc = tu_tcase_create("attack");
	tcase_add_checked_fixture(tc, netns_setup, netns_teardown);
	tcase_set_timeout(tc, 240);
	tu_add_loop_test_if(tc, killed_up_then_down_leaves_nothing, 0, 4, why);
	tu_add_loop_test_if(tc, failed_up_rolls_back, 0, 2, why);
	tu_add_test_if(tc, failed_rollback_says_the_error_first, why);
	tu_add_loop_test_if(tc, failed_down_records_what_is_left, 0, 2, why);
	tu_add_test_if(tc, concurrent_ups_one_vm, why);
	tu_add_test_if(tc, lock_held_bounded_wait, why);
	tu_add_loop_test_if(tc, held_tap_carrier_off, 0, 2, why);
	tu_add_loop_test_if(tc, held_from_another_thread, 0, 2, why);
	tu_add_loop_test_if(tc, held_tap_in_flight, 0, 2, why);
	tu_add_loop_test_if(tc, unheld_multi_queue_needs_no_scan, 0, 2, why);
	tu_add_test_if(tc, held_multi_queue_blind_scan_says_so, why);
	tu_add_test_if(tc, held_check_fails_closed, why);
	tu_add_test_if(tc, scan_with_exiting_processes, why);
	tu_add_test_if(tc, verbose_macvtap_prints_each, why);
	tu_add_loop_test_if(tc, fifo_record_refused, 0, 3, why);
	tu_add_loop_test_if(tc, hijacked_tap_setup_cannot_reach_other_processes, 0, 4, why);
	tu_add_test_if(tc, hijacked_grant_keeps_chown_alone, why);
	tu_add_test_if(tc, held_seen_with_the_units_capabilities, why);
	tu_add_test_if(tc, stopped_scan_fails_closed, why);
	suite_add_tcase(s, tc);

	/* audit F1: CK_RUN_CASE=attach */
	tc = tu_tcase_create("attach");
	tcase_add_checked_fixture(tc, netns_setup, netns_teardown);
	tcase_set_timeout(tc, 240);
	tu_add_test_if(tc, mq_attach_race_refused, why);
	tu_add_loop_test_if(tc, mq_attach_relink_refused, 0, 2, why);
	tu_add_loop_test_if(tc, owner_relinked_tap_still_ours, 0, 2, why);
	tu_add_loop_test_if(tc, changed_after_owner_set_refused, 0, 2, why);
	tu_add_test_if(tc, appeared_since_the_dump_left_alone, why);
	suite_add_tcase(s, tc);

	/* audit F2: CK_RUN_CASE=fuse */
	const char *fuse = why                       ? why
			   : access(BINDFS, X_OK) < 0 ? "needs " BINDFS
			   : access(FUSERMOUNT, X_OK) < 0 ? "needs " FUSERMOUNT
							 : NULL;
	tc = tu_tcase_create("fuse");
	tcase_add_checked_fixture(tc, netns_setup, netns_teardown);
	tcase_set_timeout(tc, 120);
	tu_add_test_if(tc, fuse_file_does_not_blind_held_check, fuse);
	suite_add_tcase(s, tc);

	/* the third audit: CK_RUN_CASE=redteam */
	tc = tu_tcase_create("redteam");
	tcase_add_checked_fixture(tc, netns_setup, netns_teardown);
	tcase_set_timeout(tc, 120);
	tu_add_loop_test_if(tc, name_template_refused, 0, 2, why);
	tu_add_test_if(tc, bridge_keeps_its_mac, why);
	tu_add_test_if(tc, more_taps_than_one_scan, why);
	tu_add_loop_test_if(tc, tap_of_another_vm_refused, 0, 2, why);
	tu_add_test_if(tc, macvtap_on_another_vms_tap_refused, why);
	tu_add_test_if(tc, renamed_tap_of_another_vm_is_not_its, why);
	tu_add_loop_test_if(tc, other_vms_record_names_by_index_and_group, 0, 3, why);
	tu_add_test_if(tc, unreadable_record_of_another_vm, why);
	suite_add_tcase(s, tc);
}
