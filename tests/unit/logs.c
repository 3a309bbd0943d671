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

/* STATE/vm1/current -> ROOT/sticky/NAME, owned by nobody. */
static void forged_vm_named(struct tu_vm *t, const char *name)
{
	tu_vm_make(t, "vm1");
	char *sticky = tu_path(t->root, "sticky");
	ck_assert_int_eq(mkdir(sticky, 0755), 0);
	tu_chmod(sticky, 01777);
	char *evil = tu_path(sticky, name);
	ck_assert_int_eq(mkdir(evil, 0755), 0);
	tu_chown(evil, TU_NOBODY, TU_NOBODY);
	char *cur = tu_path(t->dir, "current");
	ck_assert_int_eq(unlink(cur), 0);
	tu_symlink(evil, cur);
	free(cur);
	free(evil);
	free(sticky);
}

/* STATE/vm1/current -> ROOT/sticky/x\n<0>forged, owned by nobody. */
static void forged_vm(struct tu_vm *t)
{
	forged_vm_named(t, forged);
}

static const char *const tools[] = { "tap-setup", "pci-bind", "virtiofs-launch",
				     "runner-exec" };

/* Run tool on vm1 of t (its runner refused), JOURNAL_STREAM empty; r
 * has what it wrote. */
static void run_refused(struct tu_vm *t, const char *tool, struct tu_run *r)
{
	char *bin = tu_bin(tool);
	const char *argv[16];
	size_t n = 0;
	argv[n++] = bin;
	argv[n++] = "--state-dir";
	argv[n++] = t->state;
	if (strcmp(tool, "runner-exec") == 0) {
		argv[n++] = "start";
	} else if (strcmp(tool, "virtiofs-launch") == 0) {
		argv[n++] = "--group";
		argv[n++] = "root";
	} else {
		argv[n++] = "--runtime-dir";
		argv[n++] = t->runtime;
		argv[n++] = "--user";
		argv[n++] = "0";
		argv[n++] = "--group";
		argv[n++] = "0";
		argv[n++] = strcmp(tool, "tap-setup") == 0 ? "up" : "bind";
	}
	argv[n++] = "vm1";
	argv[n] = NULL;
	const char *env[] = { "JOURNAL_STREAM=", NULL };
	tu_run_env(r, argv, env);
	free(bin);
}

START_TEST(forged_line_is_escaped)
{
	struct tu_vm t;
	forged_vm(&t);
	const char *tool = tools[_i];
	struct tu_run r;
	run_refused(&t, tool, &r);
	ck_assert_msg(r.status == 1, "%s: exit %d: %s", tool, r.status, r.err);
	const char *nl = strchr(r.err, '\n');
	ck_assert_msg(nl && nl[1] == '\0', "%s: not one line: %s", tool, r.err);
	ck_assert_msg(strncmp(r.err, "<3>", 3) == 0, "%s: not at priority err: %s", tool, r.err);
	ck_assert_msg(strstr(r.err, "x\\n<0>forged") || strstr(r.err, "x\\x0a<0>forged"),
		      "%s: the path is not named escaped: %s", tool, r.err);
	tu_run_free(&r);
	tu_vm_free(&t);
}
END_TEST

/* The path is quoted in the line ('PATH'): a quote in it does not end it.
 * The VM user names the directory "x': trusted ('", which, unescaped, made
 * the line read "unable to use '.../x': trusted ('': ...", a path ".../x"
 * and a reason of the VM user's words. Shown as \' (a backslash of the
 * path as \\), the quote cannot be taken for the end of the path. */
START_TEST(quote_in_path_is_escaped)
{
	struct tu_vm t;
	forged_vm_named(&t, "x': trusted ('");
	const char *tool = tools[_i];
	struct tu_run r;
	run_refused(&t, tool, &r);
	ck_assert_msg(r.status == 1, "%s: exit %d: %s", tool, r.status, r.err);
	const char *nl = strchr(r.err, '\n');
	ck_assert_msg(nl && nl[1] == '\0', "%s: not one line: %s", tool, r.err);
	ck_assert_msg(strstr(r.err, "/sticky/x\\': trusted (\\''"),
		      "%s: the quote in the path is not escaped: %s", tool, r.err);
	ck_assert_msg(!strstr(r.err, "/sticky/x': trusted"), "%s: a bare quote: %s", tool,
		      r.err);
	tu_run_free(&r);
	tu_vm_free(&t);
}
END_TEST

/* An error's line keeps its reason when its path is long: the path is
 * cut, marked "...", and the reason after it stays (mvm_error_format()).
 * Here --state-dir is ROOT/ and 11 directories (not there) of 200 quotes
 * each: 4400 bytes escaped (\'), more than a line of 4096 could hold.
 * (Found in review: the error was formatted for 4608 bytes, the line cut
 * it at 4096, in an escape, and the reason was gone.) */
START_TEST(long_path_keeps_the_reason)
{
	struct tu_vm t;
	tu_vm_make(&t, "vm1");
	const char *tool = tools[_i];
	char quotes[201];
	memset(quotes, '\'', 200);
	quotes[200] = '\0';
	free(t.state);
	t.state = tu_path(t.root, quotes);
	for (int i = 1; i < 11; i++) {
		char *deeper = tu_path(t.state, quotes);
		free(t.state);
		t.state = deeper;
	}
	struct tu_run r;
	run_refused(&t, tool, &r);
	ck_assert_msg(r.status == 1, "%s: exit %d: %.200s", tool, r.status, r.err);
	const char *nl = strchr(r.err, '\n');
	ck_assert_msg(nl && nl[1] == '\0', "%s: not one line: %.200s", tool, r.err);
	const char *want = "\\'...': No such file or directory\n";
	ck_assert_msg(strlen(r.err) > strlen(want) &&
			      !strcmp(r.err + strlen(r.err) - strlen(want), want),
		      "%s: the reason is not at the end: ...%s", tool,
		      r.err + (strlen(r.err) > 200 ? strlen(r.err) - 200 : 0));
	tu_run_free(&r);
	tu_vm_free(&t);
}
END_TEST

/* A usage error quotes the argument it refuses escaped as a value is
 * (escape_text()): "b\x41" (a backslash, x, 4, 1) must not read as the
 * escape of "bA". (Noticed at the last review: only the line's escape
 * went over it, which keeps a backslash.) Nor does a quote in it end it. */
START_TEST(usage_error_argument_is_escaped)
{
	const char *tool = tools[_i];
	char *bin = tu_bin(tool);
	const char *argv[8] = { bin, "b\\x41\x1b' c", "vm1", NULL };
	const char *want = "unknown verb 'b\\\\x41\\x1b\\' c'";
	if (strcmp(tool, "virtiofs-launch") == 0) {
		argv[1] = "--timeout";
		argv[2] = "b\\x41\x1b' c";
		argv[3] = "vm1";
		argv[4] = NULL;
		want = "invalid value for --timeout: 'b\\\\x41\\x1b\\' c'";
	}
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 2 && strstr(r.err, want), "%s: exit %d; want %s in: %s", tool,
		      r.status, want, r.err);
	tu_run_free(&r);
	free(bin);
}
END_TEST

/* A reason built at run time (struct mvm_error's why, 1280 bytes) that
 * is too long is cut at an escape, never inside one, and marked "...".
 * runner-exec status of a VM whose state dir (not there) is 4 directories
 * of 200 quotes: "no directory '...'" escapes them (\'), 1600 bytes and
 * more. Before, the line ended in "\'\'" or, a byte further, "\'\", with
 * no mark. (_i: a path a byte longer, to meet each half of \'.) */
START_TEST(long_reason_cut_marked)
{
	struct tu_vm t;
	tu_vm_make(&t, "vm1");
	char quotes[201];
	memset(quotes, '\'', 200);
	quotes[200] = '\0';
	char *state = tu_path(t.root, _i ? "ab" : "a");
	for (int i = 0; i < 4; i++) {
		char *deeper = tu_path(state, quotes);
		free(state);
		state = deeper;
	}
	char *bin = tu_bin("runner-exec");
	const char *argv[] = { bin, "--state-dir", state, "status", "vm1", NULL };
	const char *env[] = { "JOURNAL_STREAM=", NULL };
	struct tu_run r;
	tu_run_env(&r, argv, env);
	ck_assert_msg(r.status == 1, "exit %d: %.200s", r.status, r.err);
	const char *nl = strchr(r.err, '\n');
	ck_assert_msg(nl && nl[1] == '\0', "not one line: %.200s", r.err);
	const char *want = "no directory '";
	ck_assert_msg(strstr(r.err, want), "%.300s", r.err);
	const char *end = "\\'...\n";
	ck_assert_msg(!strcmp(r.err + strlen(r.err) - strlen(end), end), "the end: ...%s",
		      r.err + strlen(r.err) - 20);
	tu_run_free(&r);
	free(bin);
	free(state);
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
	/* So is every other character that shows nothing, or a blank: the
	 * rest of Unicode's format characters and default-ignorable code
	 * points (soft hyphen, Mongolian vowel separator, variation selector,
	 * interlinear annotation, musical format, the tags: "web" with them
	 * reads "web"), Hangul fillers, spaces other than ASCII's, private
	 * use and noncharacters. One case each, tried alone. */
	static const char *const hidden[] = {
		"\xc2\xad",	      /* U+00AD soft hyphen */
		"\xcd\x8f",	      /* U+034F combining grapheme joiner */
		"\xe1\x85\x9f",     /* U+115F Hangul choseong filler */
		"\xe1\x9e\xb4",     /* U+17B4 Khmer vowel inherent aq */
		"\xe1\xa0\x8e",     /* U+180E Mongolian vowel separator */
		"\xe2\x81\xaa",     /* U+206A inhibit symmetric swapping */
		"\xe3\x85\xa4",     /* U+3164 Hangul filler */
		"\xe2\xa0\x80",     /* U+2800 braille pattern blank */
		"\xf0\x9d\x85\x99", /* U+1D159 musical symbol null notehead */
		"\xf0\x96\xbf\xa4", /* U+16FE4 Khitan small script filler */
		"\xef\xb8\x8f",     /* U+FE0F variation selector 16 */
		"\xef\xbe\xa0",     /* U+FFA0 halfwidth Hangul filler */
		"\xef\xbf\xb9",     /* U+FFF9 interlinear annotation anchor */
		"\xef\xbf\xbe",     /* U+FFFE a noncharacter */
		"\xef\xb7\x90",     /* U+FDD0 a noncharacter */
		"\xc2\xa0",	      /* U+00A0 no-break space */
		"\xe2\x80\x80",     /* U+2000 en quad */
		"\xe3\x80\x80",     /* U+3000 ideographic space */
		"\xee\x80\x80",     /* U+E000 private use */
		"\xf0\x9d\x85\xb3", /* U+1D173 musical symbol begin beam */
		"\xf0\x93\x90\xb0", /* U+13430 Egyptian hieroglyph vertical joiner */
		"\xf3\xa0\x80\x81", /* U+E0001 language tag */
		"\xf3\xa0\x81\xa1", /* U+E0061 tag latin small letter a */
		"\xf3\xa0\x84\x80", /* U+E0100 variation selector 17 */
		"\xf3\xb0\x80\x80", /* U+F0000 private use */
	};
	for (size_t i = 0; i < ARRAY_SIZE(hidden); i++) {
		char in[16], want[40], *w = want;
		snprintf(in, sizeof(in), "web%s", hidden[i]);
		w += sprintf(w, "web");
		for (const unsigned char *c = (const unsigned char *)hidden[i]; *c; c++)
			w += sprintf(w, "\\x%02x", *c);
		ck_assert_str_eq(escape_line(in, buf, sizeof(buf)), want);
	}
	/* ... but their neighbours stay: a dash, a quote, the euro sign. */
	ck_assert_str_eq(escape_line("\xe2\x80\x94\xe2\x80\x9c\xe2\x82\xac", buf, sizeof(buf)),
			 "\xe2\x80\x94\xe2\x80\x9c\xe2\x82\xac");
	/* ... letters of other scripts, an emoji, a CJK ideograph. */
	ck_assert_str_eq(escape_line("\xd0\x96\xce\xbb\xf0\x9f\x98\x80\xe4\xb8\xad", buf,
				     sizeof(buf)),
			 "\xd0\x96\xce\xbb\xf0\x9f\x98\x80\xe4\xb8\xad");
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
	TCase *tc = tu_tcase_create("escape");
	tcase_add_test(tc, escape_line_cases);
	tu_add_loop_test_if(tc, forged_line_is_escaped, 0, (int)ARRAY_SIZE(tools), tu_need_root());
	tu_add_loop_test_if(tc, quote_in_path_is_escaped, 0, (int)ARRAY_SIZE(tools),
			    tu_need_root());
	tu_add_loop_test_if(tc, long_path_keeps_the_reason, 0, (int)ARRAY_SIZE(tools),
			    tu_need_root());
	tcase_add_loop_test(tc, usage_error_argument_is_escaped, 0, (int)ARRAY_SIZE(tools));
	tu_add_loop_test_if(tc, long_reason_cut_marked, 0, 2, tu_need_root());
	suite_add_tcase(s, tc);
	return s;
}
