/* SPDX-License-Identifier: MIT */
/* common/procfd.h: the fdinfo parser, and the holder scan against a fake
 * procfs tree (PROCFS/PID/fd/N symlinks to device nodes made here, their
 * fdinfo, ns/net and status files), so each of its decisions can be
 * checked: held, not ours, exited, unreadable (fail closed), excused.
 * The scan against the real /proc is exercised by the tap suite. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/netlink.h>

#include "procfd.h"
#include "seccomp.h"
#include "testutil.h"
#include "util.h"

static const struct {
	const char *text;
	int r;
	const char *name;
} iff_cases[] = {
	{ "pos:\t0\nflags:\t0100002\nmnt_id:\t59\nino:\t105\niff:\tmq0\n", 1, "mq0" },
	{ "pos:\t0\niff:\tvm1-a", 1, "vm1-a" }, /* no newline at the end */
	{ "pos:\t0\niff:\t\n", 1, "" },		 /* attached to nothing */
	{ "pos:\t0\nflags:\t02\n", 0, NULL },	 /* not a tun descriptor */
	{ "", 0, NULL },
	{ "iff: vm1-a\n", 0, NULL },		       /* a space is not the tab */
	{ "xiff:\tvm1-a\n", 0, NULL },
	{ "iff:\t0123456789abcdef\n", -EINVAL, NULL }, /* 16 bytes */
	{ "iff:\t0123456789abcde\n", 1, "0123456789abcde" },
	{ "iff:\ta/b\n", -EINVAL, NULL },
	{ "iff:\ta b\n", -EINVAL, NULL },
	{ "iff:\t..\n", -EINVAL, NULL },
	{ "iff:\tvm1-a\niff:\tvm1-b\n", 1, "vm1-a" },
};

START_TEST(fdinfo_iff_lines)
{
	char name[IFNAMSIZ] = "unchanged";
	const char *t = iff_cases[_i].text;
	ck_assert_int_eq(fdinfo_iff(t, strlen(t), name), iff_cases[_i].r);
	if (iff_cases[_i].name)
		ck_assert_str_eq(name, iff_cases[_i].name);
}
END_TEST

static char *root;

static void setup(void)
{
	root = tu_tmpdir();
}

static void teardown(void)
{
	tu_rm_rf(root);
	free(root);
}

static void node(const char *rel, dev_t devt)
{
	char *p = tu_path(root, rel), *dir = strdup(p);
	*strrchr(dir, '/') = '\0';
	ck_assert_int_eq(mkdir_p(dir, 0755), 0);
	ck_assert_int_eq(mknod(p, S_IFCHR | 0600, devt), 0);
	free(dir);
	free(p);
}

/* ROOT/PID/fd/FD -> ROOT/target, with fdinfo text (NULL: none). */
static void fd_entry(const char *pid, const char *fd, const char *target, const char *fdinfo)
{
	char rel[128];
	snprintf(rel, sizeof(rel), "%s/fd", pid);
	char *dir = tu_path(root, rel), *t = tu_path(root, target);
	ck_assert_int_eq(mkdir_p(dir, 0755), 0);
	char *l = tu_path(dir, fd);
	tu_symlink(t, l);
	if (fdinfo) {
		snprintf(rel, sizeof(rel), "%s/fdinfo/%s", pid, fd);
		tu_write(root, rel, fdinfo);
	}
	free(l);
	free(t);
	free(dir);
}

/* ROOT/PID/ns/net -> ROOT/netns/NS. */
static void netns_of(const char *pid, const char *ns)
{
	char rel[64];
	snprintf(rel, sizeof(rel), "netns/%s", ns);
	char *t = tu_path(root, rel);
	if (access(t, F_OK) < 0)
		tu_write(root, rel, "");
	snprintf(rel, sizeof(rel), "%s/ns", pid);
	char *dir = tu_path(root, rel), *l = tu_path(dir, "net");
	ck_assert_int_eq(mkdir_p(dir, 0755), 0);
	tu_symlink(t, l);
	free(l);
	free(dir);
	free(t);
}

static void status_of(const char *pid, unsigned uid, const char *caps)
{
	char rel[64], text[256];
	snprintf(rel, sizeof(rel), "%s/status", pid);
	snprintf(text, sizeof(text), "Name:\tx\nUid:\t%u\t%u\t%u\t%u\nCapEff:\t%s\n", uid, uid, uid,
		 uid, caps);
	tu_write(root, rel, text);
}

#define ALL_CAPS "000001ffffffffff"
#define TUN makedev(10, 200)
#define MVT makedev(250, 3)

/* The tree: this process ("self") in netns A with every capability;
 * 100 holds TAP vm1-a (netns A), 200 the macvtap device, 400 exited (no
 * fd dir), 999999999 holds a TAP named vm1-b in netns B and is no real
 * process (so which namespace its TAP is in cannot be told), 700 a tun
 * descriptor attached to nothing. */
static void tree(void)
{
	node("nodes/tun", TUN);
	node("nodes/mvt", MVT);
	tu_write(root, "nodes/file", "");
	status_of("self", 0, ALL_CAPS);
	netns_of("self", "A");
	fd_entry("100", "5", "nodes/tun", "pos:\t0\niff:\tvm1-a\n");
	fd_entry("100", "6", "nodes/file", NULL);
	netns_of("100", "A");
	fd_entry("200", "7", "nodes/mvt", NULL);
	tu_write(root, "400/status", "");
	fd_entry("999999999", "1", "nodes/tun", "iff:\tvm1-b\n");
	netns_of("999999999", "B");
	fd_entry("700", "3", "nodes/tun", "iff:\t\n");
}

START_TEST(scan_finds_holders)
{
	tree();
	struct fd_target t[] = { { .name = "vm1-a" }, { .devt = MVT }, { .name = "vm1-b" },
				 { .name = "vm1-c" }, { .devt = makedev(250, 4) } };
	struct fd_scan s;
	ck_assert_int_eq(fd_holders(root, t, ARRAY_SIZE(t), &s), 0);
	ck_assert_int_eq(t[0].pid, 100);
	ck_assert_int_eq(t[0].err, 0);
	ck_assert_int_eq(t[1].pid, 200);
	ck_assert_int_eq(t[2].pid, 999999999); /* fails closed: held ... */
	ck_assert_int_ne(t[2].err, 0);	       /* ... and says why */
	ck_assert_int_eq(t[3].pid, 0);
	ck_assert_int_eq(t[4].pid, 0);
	ck_assert_int_eq(s.blind_pid, 0);
	ck_assert_int_eq(s.excused_pid, 0);
}
END_TEST

/* The scanning process's own descriptors are no holder's: tap-setup
 * holds the TAPs it makes while it checks others (here the tree lists
 * this process by its number, holding vm1-c, as /proc would). */
START_TEST(scan_skips_its_own_process)
{
	tree();
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	fd_entry(pid, "4", "nodes/tun", "iff:\tvm1-c\n");
	netns_of(pid, "A");
	status_of(pid, 0, ALL_CAPS);
	struct fd_target t[] = { { .name = "vm1-c" }, { .name = "vm1-a" } };
	struct fd_scan s;
	ck_assert_int_eq(fd_holders(root, t, ARRAY_SIZE(t), &s), 0);
	ck_assert_msg(t[0].pid == 0, "the scan counted its own process %d as holding vm1-c",
		      (int)t[0].pid);
	ck_assert_int_eq(t[1].pid, 100);
	ck_assert_int_eq(s.blind_pid, 0);
}
END_TEST

/* A process whose fd directory cannot be read makes the scan blind (the
 * caller refuses), unless it runs as root with capabilities the scan
 * lacks while the scan could read any process: then it is excused. _i: 0
 * the VM user's process; 1 root's with fewer capabilities than ours; 2
 * root's with more (excused); 3 the same, but the scan lacks
 * CAP_DAC_READ_SEARCH and CAP_DAC_OVERRIDE (blind again). */
START_TEST(scan_blind_or_excused)
{
	tree();
	tu_write(root, "600/fd", "not a directory\n");
	status_of("600", _i == 0 ? 990 : 0, _i == 1 ? "0000000000000001" : "000003ffffffffff");
	if (_i == 3)
		status_of("self", 0, "000001fffffffff9");
	struct fd_target t[] = { { .name = "vm1-c" } };
	struct fd_scan s;
	ck_assert_int_eq(fd_holders(root, t, 1, &s), 0);
	ck_assert_int_eq(t[0].pid, 0);
	if (_i == 2) {
		ck_assert_int_eq(s.blind_pid, 0);
		ck_assert_int_eq(s.excused_pid, 600);
	} else {
		ck_assert_int_eq(s.blind_pid, 600);
		ck_assert_int_eq(s.blind_err, ENOTDIR);
		ck_assert_str_eq(s.blind_what, "600/fd");
	}
}
END_TEST

/* Excused is a process that runs as root, not one that only acts as
 * root: a setuid-root program the VM user started (real uid 990, the
 * effective and saved 0, every capability) may hold a descriptor it
 * inherited from that user. Unreadable, it makes the scan blind. */
START_TEST(scan_blind_on_a_setuid_program_of_another_user)
{
	tree();
	tu_write(root, "600/fd", "not a directory\n");
	tu_write(root, "600/status", "Name:\tsu\nUid:\t990\t0\t0\t0\nCapEff:\t000003ffffffffff\n");
	struct fd_target t[] = { { .name = "vm1-c" } };
	struct fd_scan s;
	ck_assert_int_eq(fd_holders(root, t, 1, &s), 0);
	ck_assert_msg(s.excused_pid == 0 && s.blind_pid == 600,
		      "a setuid-root process of uid 990 excused (excused %d, blind %d)",
		      (int)s.excused_pid, (int)s.blind_pid);
	ck_assert_int_eq(s.blind_err, ENOTDIR);
}
END_TEST

/* A descriptor the scan cannot stat (a link that loops, ELOOP) could be
 * a TAP's: the scan is blind, naming the table, so the caller refuses. */
START_TEST(scan_blind_on_a_descriptor_it_cannot_stat)
{
	tree();
	status_of("800", 990, "0000000000000000");
	char *dir = tu_path(root, "800/fd"), *fd = tu_path(dir, "4");
	ck_assert_int_eq(mkdir_p(dir, 0755), 0);
	tu_symlink(fd, fd);
	struct fd_target t[] = { { .name = "vm1-c" } };
	struct fd_scan s;
	ck_assert_int_eq(fd_holders(root, t, 1, &s), 0);
	ck_assert_int_eq(t[0].pid, 0);
	ck_assert_int_eq(s.blind_pid, 800);
	ck_assert_int_eq(s.blind_err, ELOOP);
	ck_assert_str_eq(s.blind_what, "800/fd");
	free(fd);
	free(dir);
}
END_TEST

/* A TAP descriptor whose fdinfo cannot be read (here its fdinfo is no
 * directory: ENOTDIR) could be any TAP's: the scan is blind, naming the
 * file, so the caller refuses. */
START_TEST(scan_blind_on_fdinfo_it_cannot_read)
{
	tree();
	status_of("810", 990, "0000000000000000");
	fd_entry("810", "3", "nodes/tun", NULL);
	tu_write(root, "810/fdinfo", "not a directory\n");
	struct fd_target t[] = { { .name = "vm1-c" } };
	struct fd_scan s;
	ck_assert_int_eq(fd_holders(root, t, 1, &s), 0);
	ck_assert_int_eq(t[0].pid, 0);
	ck_assert_int_eq(s.blind_pid, 810);
	ck_assert_int_eq(s.blind_err, ENOTDIR);
	ck_assert_str_eq(s.blind_what, "810/fdinfo/3");
}
END_TEST

/* When the scan cannot tell its own network namespace (no self/ns/net),
 * no TAP can be told to be in it or not: one a process holds counts as
 * held, and says why (fails closed). */
START_TEST(scan_without_its_namespace_fails_closed)
{
	tree();
	char *ns = tu_path(root, "self/ns/net");
	ck_assert_int_eq(unlink(ns), 0);
	struct fd_target t[] = { { .name = "vm1-a" } };
	struct fd_scan s;
	ck_assert_int_eq(fd_holders(root, t, 1, &s), 0);
	ck_assert_int_eq(t[0].pid, 100);
	ck_assert_int_eq(t[0].err, ENOENT);
	free(ns);
}
END_TEST

/* A thread with a table of its own (PID/task/TID/fd) that holds a TAP,
 * in a namespace other than ours as its ns/net says: which TAP's
 * namespace cannot be told from there (pidfd_getfd sees the process's
 * table), so it counts as held, saying why (fails closed). The pid is
 * none of this machine's: kcmp() cannot say the tables are the same. */
START_TEST(scan_thread_table_fails_closed)
{
	tree();
	status_of("999999998", 990, "0000000000000000");
	char *d = tu_path(root, "999999998/fd");
	ck_assert_int_eq(mkdir_p(d, 0755), 0);
	free(d);
	fd_entry("999999998/task/999999998", "0", "nodes/file", NULL);
	fd_entry("999999998/task/999999997", "4", "nodes/tun", "iff:\tvm1-t\n");
	netns_of("999999998/task/999999997", "B");
	struct fd_target t[] = { { .name = "vm1-t" } };
	struct fd_scan s;
	ck_assert_int_eq(fd_holders(root, t, 1, &s), 0);
	ck_assert_int_eq(t[0].pid, 999999998);
	ck_assert_int_eq(t[0].err, EXDEV);
	ck_assert_int_eq(s.blind_pid, 0);
}
END_TEST

/* The same targets scanned again (the scanner process answers one
 * request after another with one array): what was held before and is not
 * now is not reported held. */
START_TEST(scan_again_forgets_the_last)
{
	tree();
	struct fd_target t[] = { { .name = "vm1-a" } };
	struct fd_scan s;
	ck_assert_int_eq(fd_holders(root, t, 1, &s), 0);
	ck_assert_int_eq(t[0].pid, 100);
	char *fd = tu_path(root, "100/fd/5");
	ck_assert_int_eq(unlink(fd), 0);
	free(fd);
	ck_assert_int_eq(fd_holders(root, t, 1, &s), 0);
	ck_assert_int_eq(t[0].pid, 0);
	ck_assert_int_eq(t[0].err, 0);
}
END_TEST

START_TEST(scan_without_procfs)
{
	struct fd_target t[] = { { .name = "vm1-a" } };
	struct fd_scan s;
	char *p = tu_path(root, "nothing");
	ck_assert_int_eq(fd_holders(p, t, 1, &s), -ENOENT);
	free(p);
}
END_TEST

/* ---- the system call filter (common/seccomp.h) --------------------------- */

/* "ok" or the errno's name of a call returning r (-1 and errno). */
static const char *outcome(long r, int err)
{
	return r >= 0 ? "ok" : err == EPERM ? "EPERM" : strerror(err);
}

static const char *sock_outcome(int domain, int type, int proto)
{
	int fd = socket(domain, type | SOCK_CLOEXEC, proto), err = errno;
	if (fd >= 0)
		close(fd);
	return outcome(fd, err);
}

#if defined(__x86_64__)
/* getpid() as an i386 program calls it (int $0x80, number 20): another
 * ABI, whose numbers name other calls. */
static long i386_getpid(void)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
	return r;
}

/* Can this kernel run an i386 system call at all (IA32 emulation)? Tried
 * in a child: without it, int $0x80 kills the caller. */
static bool i386_calls_work(void)
{
	pid_t p = fork();
	ck_assert_int_ge(p, 0);
	if (p == 0)
		_exit(i386_getpid() == (long)getpid() ? 0 : 1);
	int st;
	ck_assert_int_eq(waitpid(p, &st, 0), p);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}
#endif

/* What the calls the filter is about give in a child confined by
 * seccomp_confine(route_only): one line, "name=ok|EPERM|reason" each. */
static char *confined_calls(bool route_only, bool i386)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t p = fork();
	ck_assert_int_ge(p, 0);
	if (p == 0) {
		close(pfd[0]);
		char out[512];
		int r = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : seccomp_confine(route_only);
		if (r < 0) {
			snprintf(out, sizeof(out), "seccomp_confine: %s", strerror(-r));
		} else {
			char a[8] = "abcdefg", b[8] = "";
			struct iovec lv = { a, sizeof(a) }, rv = { b, sizeof(b) };
			long w = process_vm_writev(getpid(), &lv, 1, &rv, 1, 0);
			int werr = errno;
			long rd = process_vm_readv(getpid(), &rv, 1, &lv, 1, 0);
			int rerr = errno;
			long pt = ptrace(PTRACE_PEEKUSER, getppid(), 0, 0);
			int perr = errno;
			int n = snprintf(out, sizeof(out),
					 "process_vm_writev=%s process_vm_readv=%s ptrace=%s inet=%s "
					 "unix=%s uevent=%s route=%s",
					 outcome(w, werr), outcome(rd, rerr),
					 perr == EPERM ? "EPERM" : "ok", /* not traced: ESRCH */
					 sock_outcome(AF_INET, SOCK_DGRAM, 0),
					 sock_outcome(AF_UNIX, SOCK_DGRAM, 0),
					 sock_outcome(AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT),
					 sock_outcome(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
			(void)pt;
#if defined(__x86_64__)
			if (i386) {
				long g = i386_getpid();
				snprintf(out + n, sizeof(out) - (size_t)n, " i386_getpid=%s",
					 g == -EPERM ? "EPERM" : g == (long)getpid() ? "ok" : "?");
			}
#else
			(void)n;
			(void)i386;
#endif
		}
		ssize_t k = write(pfd[1], out, strlen(out));
		_exit(k < 0);
	}
	close(pfd[1]);
	char *text = NULL;
	size_t len = 0;
	ck_assert_int_eq(read_fd(pfd[0], 4096, &text, &len), 0);
	close(pfd[0]);
	int st;
	ck_assert_int_eq(waitpid(p, &st, 0), p);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the confined child: status %d", st);
	return text;
}

#ifdef __SANITIZE_ADDRESS__
#define PTRACE_CONFINED "ok" /* LeakSanitizer needs it */
#else
#define PTRACE_CONFINED "EPERM"
#endif

/* The filter a helper sets on itself (tap-setup, _i 0) and on its scan of
 * /proc (_i 1): reaching into another process's memory is refused, and so
 * is every call of another ABI, which names calls by other numbers; with
 * netlink_route_only (tap-setup) every socket but rtnetlink too
 * (NETLINK_KOBJECT_UEVENT would send udev's events, AF_INET anything). */
START_TEST(seccomp_filter_refuses)
{
	bool route_only = _i == 0;
	char *got = confined_calls(route_only, false);
	char want[512];
	snprintf(want, sizeof(want),
		 "process_vm_writev=EPERM process_vm_readv=EPERM ptrace=%s inet=%s unix=%s "
		 "uevent=%s route=ok",
		 PTRACE_CONFINED, route_only ? "EPERM" : "ok", route_only ? "EPERM" : "ok",
		 route_only ? "EPERM" : "ok");
	ck_assert_str_eq(got, want);
	free(got);
}
END_TEST

#if defined(__x86_64__)
/* A call of the i386 ABI (int $0x80) is refused whatever its number: 20
 * is i386's getpid, harmless, but its numbers name other calls than
 * x86_64's (process_vm_writev is 348 there), which the filter does not
 * know by them. */
START_TEST(seccomp_filter_refuses_other_abis)
{
	if (!i386_calls_work()) {
		tu_skip_now(seccomp_filter_refuses_other_abis, _i,
			    "no i386 system calls on this kernel (IA32 emulation)");
		return;
	}
	char *got = confined_calls(_i == 0, true);
	const char *tail = strrchr(got, ' ');
	ck_assert_msg(tail, "%s", got);
	ck_assert_str_eq(tail, " i386_getpid=EPERM");
	free(got);
}
END_TEST
#endif

Suite *procfd_suite(void)
{
	Suite *s = suite_create("procfd");
	TCase *tc = tu_tcase_create("fdinfo");
	tcase_add_loop_test(tc, fdinfo_iff_lines, 0, (int)ARRAY_SIZE(iff_cases));
	suite_add_tcase(s, tc);
	TCase *sc = tu_tcase_create("scan");
	const char *why = tu_need_root(); /* mknod of the device nodes */
	tcase_add_checked_fixture(sc, setup, teardown);
	tu_add_test_if(sc, scan_finds_holders, why);
	tu_add_test_if(sc, scan_skips_its_own_process, why);
	tu_add_test_if(sc, scan_blind_on_a_setuid_program_of_another_user, why);
	tu_add_loop_test_if(sc, scan_blind_or_excused, 0, 4, why);
	tu_add_test_if(sc, scan_blind_on_a_descriptor_it_cannot_stat, why);
	tu_add_test_if(sc, scan_blind_on_fdinfo_it_cannot_read, why);
	tu_add_test_if(sc, scan_without_its_namespace_fails_closed, why);
	tu_add_test_if(sc, scan_thread_table_fails_closed, why);
	tu_add_test_if(sc, scan_again_forgets_the_last, why);
	tcase_add_test(sc, scan_without_procfs);
	suite_add_tcase(s, sc);
	TCase *cf = tu_tcase_create("confine");
#if defined(__x86_64__) || defined(__aarch64__)
	tcase_add_loop_test(cf, seccomp_filter_refuses, 0, 2);
#endif
#if defined(__x86_64__)
	tu_add_loop_test_if(cf, seccomp_filter_refuses_other_abis, 0, 2, NULL);
#endif
	suite_add_tcase(s, cf);
	return s;
}
