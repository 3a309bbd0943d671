/* SPDX-License-Identifier: MIT */
/* What the root helpers write to the journal. Attack (issue 11, point 7):
 * the VM user, who owns the VM's directory, points `current` at a
 * directory of theirs named "x\n<0>forged" (in a world-writable sticky
 * directory). Each helper refuses that runner with an error naming the
 * path; unescaped, the newline started a line of its own that journald
 * took at priority 0 (emerg). Every helper must write one line, at
 * priority err, with the newline shown as \n. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "util.h"

static const char forged[] = "x\n<0>forged";

/* STATE/vm1/current -> ROOT/sticky/x\n<0>forged, owned by nobody. */
static void forged_vm(struct tu_vm *t)
{
	tu_vm_make(t, "vm1");
	char *sticky = tu_path(t->root, "sticky");
	ck_assert_int_eq(mkdir(sticky, 0755), 0);
	tu_chmod(sticky, 01777);
	char *evil = tu_path(sticky, forged);
	ck_assert_int_eq(mkdir(evil, 0755), 0);
	tu_chown(evil, TU_NOBODY, TU_NOBODY);
	char *cur = tu_path(t->dir, "current");
	ck_assert_int_eq(unlink(cur), 0);
	tu_symlink(evil, cur);
	free(cur);
	free(evil);
	free(sticky);
}

static const char *const tools[] = { "tap-setup", "pci-bind", "virtiofs-launch",
				     "runner-exec" };

START_TEST(forged_line_is_escaped)
{
	struct tu_vm t;
	forged_vm(&t);
	const char *tool = tools[_i];
	char *bin = tu_bin(tool);
	const char *argv[16];
	size_t n = 0;
	argv[n++] = bin;
	argv[n++] = "--state-dir";
	argv[n++] = t.state;
	if (strcmp(tool, "runner-exec") == 0) {
		argv[n++] = "start";
	} else if (strcmp(tool, "virtiofs-launch") == 0) {
		argv[n++] = "--group";
		argv[n++] = "root";
	} else {
		argv[n++] = "--runtime-dir";
		argv[n++] = t.runtime;
		argv[n++] = "--user";
		argv[n++] = "0";
		argv[n++] = "--group";
		argv[n++] = "0";
		argv[n++] = strcmp(tool, "tap-setup") == 0 ? "up" : "bind";
	}
	argv[n++] = "vm1";
	argv[n] = NULL;
	const char *env[] = { "JOURNAL_STREAM=", NULL };
	struct tu_run r;
	tu_run_env(&r, argv, env);
	ck_assert_msg(r.status == 1, "%s: exit %d: %s", tool, r.status, r.err);
	const char *nl = strchr(r.err, '\n');
	ck_assert_msg(nl && nl[1] == '\0', "%s: not one line: %s", tool, r.err);
	ck_assert_msg(strncmp(r.err, "<3>", 3) == 0, "%s: not at priority err: %s", tool, r.err);
	ck_assert_msg(strstr(r.err, "x\\n<0>forged") || strstr(r.err, "x\\x0a<0>forged"),
		      "%s: the path is not named escaped: %s", tool, r.err);
	tu_run_free(&r);
	free(bin);
	tu_vm_free(&t);
}
END_TEST

START_TEST(escape_line_cases)
{
	char buf[64];
	ck_assert_str_eq(escape_line("plain text", buf, sizeof(buf)), "plain text");
	ck_assert_str_eq(escape_line("a\nb\tc\rd", buf, sizeof(buf)), "a\\nb\\tc\\rd");
	ck_assert_str_eq(escape_line("\x1b[31mred", buf, sizeof(buf)), "\\x1b[31mred");
	ck_assert_str_eq(escape_line("del\x7f", buf, sizeof(buf)), "del\\x7f");
	/* UTF-8 stays readable; C1 controls and broken sequences do not. */
	ck_assert_str_eq(escape_line("caf\xc3\xa9", buf, sizeof(buf)), "caf\xc3\xa9");
	ck_assert_str_eq(escape_line("c1\xc2\x9b", buf, sizeof(buf)), "c1\\xc2\\x9b");
	ck_assert_str_eq(escape_line("bad\xff\xc3", buf, sizeof(buf)), "bad\\xff\\xc3");
	ck_assert_str_eq(escape_line("\xe2\x82", buf, sizeof(buf)), "\\xe2\\x82");
	ck_assert_str_eq(escape_line("\xe2\x82\xac", buf, sizeof(buf)), "\xe2\x82\xac");
	/* Format controls that reorder or hide what a terminal shows (bidi
	 * overrides and isolates, line and paragraph separators, zero-width
	 * marks) are escaped: "evil\u202egpj.sh" must not read "evilhs.jpg". */
	ck_assert_str_eq(escape_line("evil\xe2\x80\xaegpj", buf, sizeof(buf)), "evil\\xe2\\x80\\xaegpj");
	ck_assert_str_eq(escape_line("a\xe2\x81\xa6" "b\xe2\x81\xa9", buf, sizeof(buf)),
			 "a\\xe2\\x81\\xa6b\\xe2\\x81\\xa9");
	ck_assert_str_eq(escape_line("l\xe2\x80\xa8p\xe2\x80\xa9", buf, sizeof(buf)),
			 "l\\xe2\\x80\\xa8p\\xe2\\x80\\xa9");
	ck_assert_str_eq(escape_line("z\xe2\x80\x8bw\xef\xbb\xbf\xd8\x9c", buf, sizeof(buf)),
			 "z\\xe2\\x80\\x8bw\\xef\\xbb\\xbf\\xd8\\x9c");
	/* ... but their neighbours stay: a dash, a quote, the euro sign. */
	ck_assert_str_eq(escape_line("\xe2\x80\x94\xe2\x80\x9c\xe2\x82\xac", buf, sizeof(buf)),
			 "\xe2\x80\x94\xe2\x80\x9c\xe2\x82\xac");
	/* Backslashes are kept: values escaped before stay as they were. */
	ck_assert_str_eq(escape_line("a\\x0ab", buf, sizeof(buf)), "a\\x0ab");
	/* Cut, never in the middle of an escape. */
	char small[5];
	ck_assert_str_eq(escape_line("ab\ncd", small, sizeof(small)), "ab\\n");
	ck_assert_str_eq(escape_line("abc\n", small, sizeof(small)), "abc");
}
END_TEST

Suite *logs_suite(void)
{
	Suite *s = suite_create("logs");
	TCase *tc = tcase_create("escape");
	tcase_add_test(tc, escape_line_cases);
	tu_add_loop_test_if(tc, forged_line_is_escaped, 0, (int)ARRAY_SIZE(tools), tu_need_root());
	suite_add_tcase(s, tc);
	return s;
}
