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
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "procfd.h"
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

START_TEST(scan_without_procfs)
{
	struct fd_target t[] = { { .name = "vm1-a" } };
	struct fd_scan s;
	char *p = tu_path(root, "nothing");
	ck_assert_int_eq(fd_holders(p, t, 1, &s), -ENOENT);
	free(p);
}
END_TEST

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
	tu_add_loop_test_if(sc, scan_blind_or_excused, 0, 4, why);
	tu_add_test_if(sc, scan_blind_on_a_descriptor_it_cannot_stat, why);
	tcase_add_test(sc, scan_without_procfs);
	suite_add_tcase(s, sc);
	return s;
}
