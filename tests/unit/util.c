/* SPDX-License-Identifier: MIT */
/* common/util.h, error.h, log.h and spawn.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "spawn.h"
#include "testutil.h"
#include "util.h"

static char *root;

static void setup(void)
{
	root = tu_tmpdir();
}

static void teardown(void)
{
	tu_rm_rf(root);
	free(root);
	root = NULL;
}

/* ---- paths and names ---- */

START_TEST(path_join_cases)
{
	static const char *const cases[][3] = {
		{"/a", "b", "/a/b"},	   {"/a/", "b", "/a/b"},   {"/a//", "b/c", "/a/b/c"},
		{"/a", "/b", "/b"},	   {"", "b", "b"},	   {"/", "b", "/b"},
		{"rel", "b", "rel/b"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *p = path_join(cases[i][0], cases[i][1]);
		ck_assert_str_eq(p, cases[i][2]);
		free(p);
	}
	char *p = path_join(NULL, "x");
	ck_assert_str_eq(p, "x");
	free(p);
	p = xasprintf("%s-%d", "a", 7);
	ck_assert_str_eq(p, "a-7");
	free(p);
}
END_TEST

START_TEST(escape_values)
{
	char buf[128];
	ck_assert_str_eq(escape_value("tap0", 4, buf, sizeof(buf)), "tap0");
	ck_assert_str_eq(escape_value("a\\b", 3, buf, sizeof(buf)), "a\\\\b");
	ck_assert_str_eq(escape_value("a\0b\n\xff", 5, buf, sizeof(buf)), "a\\x00b\\x0a\\xff");
	ck_assert_str_eq(escape_value("", 0, buf, sizeof(buf)), "");
	/* No room at all: nothing written, nothing read past the buffer
	 * (which holds no NUL; ASan sees a read past it). */
	char none[2] = { 'x', 'y' };
	escape_value("abc", 3, none, 0);
	ck_assert_msg(none[0] == 'x' && none[1] == 'y', "escape_value into 0 bytes wrote");
	/* Only n bytes. */
	ck_assert_str_eq(escape_value("abcdef", 3, buf, sizeof(buf)), "abc");
	/* Cut with "..." when too long; never past the buffer. */
	char small[8];
	ck_assert_str_eq(escape_value("abcdefghij", 10, small, sizeof(small)), "abcd...");
	ck_assert_str_eq(escape_value("abcdefgh", 8, small, sizeof(small)), "abcd...");
	/* What fits is not cut. */
	ck_assert_str_eq(escape_value("abcdefg", 7, small, sizeof(small)), "abcdefg");
	ck_assert_str_eq(escape_value("abc\x01", 4, small, sizeof(small)), "abc\\x01");
	ck_assert_str_eq(escape_value("abc\x01d", 5, small, sizeof(small)), "abc...");
	ck_assert_str_eq(escape_value("abcde\\", 6, small, sizeof(small)), "abcde\\\\");
	ck_assert_str_eq(escape_value("\x01\x02\x03", 3, small, sizeof(small)), "\\x01...");
	char tiny[3];
	ck_assert_str_eq(escape_value("abc", 3, tiny, sizeof(tiny)), "");
	/* A value is quoted in a line ('%s'): a quote in it as \', so that
	 * "a' b" does not read as a value "a" that ends there and text of
	 * the line after it. escape_text() escapes it the same way. */
	ck_assert_str_eq(escape_value("a' b", 4, buf, sizeof(buf)), "a\\' b");
	ck_assert_str_eq(escape_value("\\'", 2, buf, sizeof(buf)), "\\\\\\'");
	ck_assert_str_eq(escape_value("abcde'", 6, small, sizeof(small)), "abcde\\'");
	ck_assert_str_eq(escape_value("abcdef'", 7, small, sizeof(small)), "abcd...");
	/* A value reads one way wherever it is shown: printable UTF-8 kept,
	 * as escape_text() (ESC()) keeps it, so that a tag "t\u00e4g" is not
	 * "t\\xc3\\xa4g" in an error's value and "t\u00e4g" in its path; what
	 * shows nothing or reorders the line (a bidi override) stays
	 * escaped; a cut never splits a character. */
	ck_assert_str_eq(escape_value("t\xc3\xa4g", 4, buf, sizeof(buf)), "t\xc3\xa4g");
	ck_assert_str_eq(escape_value("t\xc3\xa4g", 4, buf, sizeof(buf)),
			 escape_text("t\xc3\xa4g", small, sizeof(small)));
	ck_assert_str_eq(escape_value("evil\xe2\x80\xaegpj", 10, buf, sizeof(buf)),
			 "evil\\xe2\\x80\\xaegpj");
	ck_assert_str_eq(escape_value("\xc2\x85\xc3", 3, buf, sizeof(buf)), "\\xc2\\x85\\xc3");
	/* a lead byte with no continuation byte after it: escaped alone */
	ck_assert_str_eq(escape_value("\xc3" "A", 2, buf, sizeof(buf)), "\\xc3A");
	ck_assert_str_eq(escape_value("\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4", 8, small, sizeof(small)),
			 "\xc3\xa4\xc3\xa4...");
	ck_assert_str_eq(escape_text("a' b", buf, sizeof(buf)), "a\\' b");
	ck_assert_str_eq(escape_text("\\'\xc3\xa4'", buf, sizeof(buf)), "\\\\\\'\xc3\xa4\\'");
	ck_assert_str_eq(ESC("it's"), "it\\'s");
	/* A value whose escape is longer than ESC()'s buffer is cut, at an
	 * escape, and ends in "..." (as escape_value()'s does): quoted, it
	 * must not read as the whole value. 2999 quotes are 5998 bytes
	 * escaped; one that fits is not marked. */
	char many[3000];
	memset(many, '\'', sizeof(many) - 1);
	many[sizeof(many) - 1] = '\0';
	const char *cut = ESC(many);
	ck_assert_uint_lt(strlen(cut), ESC_MAX);
	ck_assert_uint_gt(strlen(cut), ESC_MAX - 8);
	ck_assert_str_eq(cut + strlen(cut) - 5, "\\'...");
	many[(ESC_MAX - 1) / 2] = '\0';
	cut = ESC(many);
	ck_assert_uint_eq(strlen(cut), ESC_MAX - 2);
	ck_assert_str_eq(cut + strlen(cut) - 2, "\\'");
	/* Escaped text cut where "..." fits, never inside an escape (of
	 * escape_line()'s or of a value's in it) or a character. */
	char t[32] = "ab\\x5cdef";
	ck_assert_str_eq(escaped_cut(t, 8), "ab...");
	strcpy(t, "a\\\\bcdef");
	ck_assert_str_eq(escaped_cut(t, 7), "a\\\\...");
	strcpy(t, "a\xc3\xa4\xc3\xa4");
	ck_assert_str_eq(escaped_cut(t, 7), "a\xc3\xa4...");
	ck_assert_str_eq(escaped_cut(t, 3), "");
	ck_assert_str_eq(escape_line_cut("a\nbc\x01d", buf, 9), "a\\nbc...");
	ck_assert_str_eq(escape_line_cut("a\nbc\x01", buf, 11), "a\\nbc\\x01");
	/* ... but not the line's own quotes, which escape_line() keeps. */
	ck_assert_str_eq(escape_line("'a' b", buf, sizeof(buf)), "'a' b");
}
END_TEST

static const struct {
	const char *s;
	size_t n;
	const char *why; /* NULL: valid */
} ifnames[] = {
	{"eth0", 4, NULL},
	{"abcdefghijklmno", 15, NULL},
	{"a", 1, NULL},
	{"...", 3, NULL},
	{"vm-1_x.y@z", 10, NULL},
	{"", 0, "empty interface name"},
	{"abcdefghijklmnop", 16, "interface name of 16 bytes or more"},
	{".", 1, "'.' and '..' are not interface names"},
	{"..", 2, "'.' and '..' are not interface names"},
	{"a/b", 3, "interface name with '/' or ':'"},
	{"a:b", 3, "interface name with '/' or ':'"},
	{"a%d", 3, "interface name with '%' (the kernel's name template)"},
	{"a%", 2, "interface name with '%' (the kernel's name template)"},
	{"a b", 3, "interface name with white space, a control or non-ASCII byte"},
	{"a\tb", 3, "interface name with white space, a control or non-ASCII byte"},
	{"a\nb", 3, "interface name with white space, a control or non-ASCII byte"},
	{"\xff", 1, "interface name with white space, a control or non-ASCII byte"},
	{"a\0b", 3, "NUL byte"},
};

START_TEST(ifname_rules)
{
	const char *why = ifname_invalid(ifnames[_i].s, ifnames[_i].n);
	if (ifnames[_i].why)
		ck_assert_str_eq(why ? why : "(valid)", ifnames[_i].why);
	else
		ck_assert_msg(!why, "'%s' refused: %s", ifnames[_i].s, why);
}
END_TEST

START_TEST(component_rules)
{
	ck_assert_ptr_null(component_invalid("vm1", 3));
	ck_assert_str_eq(component_invalid("vm1", 2), "name too long");
	ck_assert_ptr_null(component_invalid("...", 128));
	ck_assert_ptr_null(component_invalid("a b\xc3\xa4", 128)); /* space and UTF-8 are fine */
	ck_assert_str_eq(component_invalid("", 128), "empty name");
	ck_assert_str_eq(component_invalid(".", 128), "'.' and '..' are not names");
	ck_assert_str_eq(component_invalid("..", 128), "'.' and '..' are not names");
	ck_assert_str_eq(component_invalid("a/b", 128), "a name may not contain '/'");
	ck_assert_str_eq(component_invalid("a\tb", 128),
			 "a name may not contain control characters");
	ck_assert_str_eq(component_invalid("\x7f", 128),
			 "a name may not contain control characters");
	/* C1 controls too (U+0085, found by an audit: a tag 't' U+0085 'g'
	 * passed) */
	ck_assert_str_eq(component_invalid("t\xc2\x85g", 128),
			 "a name may not contain control characters");
	ck_assert_str_eq(component_invalid("t\xc2\x9fg", 128),
			 "a name may not contain control characters");
	ck_assert_ptr_null(component_invalid("t\xc2\xa0g", 128)); /* U+00A0 is no control */
}
END_TEST

START_TEST(lines_iterate)
{
	const char buf[] = "a\r\nbb\n\n c \nd";
	struct lines l;
	const char *s;
	size_t n;
	static const char *const want[] = {"a", "bb", "", " c ", "d"};
	lines_init(&l, buf, sizeof(buf) - 1);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		ck_assert(lines_next(&l, &s, &n));
		ck_assert_uint_eq(l.lineno, i + 1);
		ck_assert_uint_eq(n, strlen(want[i]));
		ck_assert_int_eq(memcmp(s, want[i], n), 0);
	}
	ck_assert(!lines_next(&l, &s, &n));
	lines_init(&l, "", 0);
	ck_assert(!lines_next(&l, &s, &n));
	lines_init(&l, "\n", 1);
	ck_assert(lines_next(&l, &s, &n));
	ck_assert_uint_eq(n, 0);
	ck_assert(!lines_next(&l, &s, &n));
}
END_TEST

START_TEST(parse_uint_cases)
{
	unsigned long v = 7;
	ck_assert_int_eq(parse_uint("0", 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_uint("4294967294", 0xfffffffeUL, &v), 0);
	ck_assert_uint_eq(v, 4294967294UL);
	ck_assert_int_eq(parse_uint("4294967295", 0xfffffffeUL, &v), -ERANGE);
	ck_assert_int_eq(parse_uint("99999999999999999999999", ~0UL, &v), -ERANGE);
	ck_assert_int_eq(parse_uint("-1", ~0UL, &v), -EINVAL);
	ck_assert_int_eq(parse_uint("+1", ~0UL, &v), -EINVAL);
	ck_assert_int_eq(parse_uint(" 1", ~0UL, &v), -EINVAL);
	ck_assert_int_eq(parse_uint("1 ", ~0UL, &v), -EINVAL);
	ck_assert_int_eq(parse_uint("12a", ~0UL, &v), -EINVAL);
	ck_assert_int_eq(parse_uint("", ~0UL, &v), -EINVAL);
	ck_assert_int_eq(parse_uint(NULL, ~0UL, &v), -EINVAL);
	ck_assert_uint_eq(v, 4294967294UL);
}
END_TEST

/* ---- files ---- */

/* plural(): the noun a count takes ("1 TAP", "0 TAPs", "2 TAPs"). */
START_TEST(plural_cases)
{
	ck_assert_str_eq(plural(1, "TAP", "TAPs"), "TAP");
	ck_assert_str_eq(plural(0, "TAP", "TAPs"), "TAPs");
	ck_assert_str_eq(plural(2, "TAP", "TAPs"), "TAPs");
	ck_assert_str_eq(plural(1ULL << 32 | 1, "TAP", "TAPs"), "TAPs");
}
END_TEST

START_TEST(mkdir_p_cases)
{
	char *p = tu_path(root, "a/b/c");
	ck_assert_int_eq(mkdir_p(p, 0750), 0);
	struct stat st;
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0750);
	ck_assert_int_eq(mkdir_p(p, 0750), 0); /* existing: fine */
	free(p);
	p = tu_path(root, "d/e/");
	ck_assert_int_eq(mkdir_p(p, 0755), 0);
	free(p);
	tu_write(root, "file", "x");
	p = tu_path(root, "file");
	ck_assert_int_eq(mkdir_p(p, 0755), -ENOTDIR);
	free(p);
	p = tu_path(root, "file/sub");
	ck_assert_int_eq(mkdir_p(p, 0755), -ENOTDIR);
	free(p);
}
END_TEST

/* dir_names(): every name but "." and "..", sorted, from the start of
 * the directory whatever was read of it before; 500 names of 45 bytes
 * (about 35 KiB of entries: more than one getdents64() of 16 KiB); an
 * empty directory; not a directory. */
START_TEST(dir_names_cases)
{
	char *d = tu_path(root, "names");
	ck_assert_int_eq(mkdir_p(d, 0755), 0);
	for (int i = 499; i >= 0; i--) {
		char n[64];
		snprintf(n, sizeof(n), "%s%03d-%040d", i % 2 ? "b" : "a", i, 0);
		tu_write(d, n, "");
	}
	int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	for (int pass = 0; pass < 2; pass++) { /* (the second from the end of the first) */
		char **v;
		size_t n;
		ck_assert_int_eq(dir_names(fd, &v, &n), 0);
		ck_assert_uint_eq(n, 500);
		ck_assert_int_eq(strncmp(v[0], "a000-", 5), 0);
		ck_assert_int_eq(strncmp(v[249], "a498-", 5), 0);
		ck_assert_int_eq(strncmp(v[250], "b001-", 5), 0);
		ck_assert_int_eq(strncmp(v[499], "b499-", 5), 0);
		ck_assert_uint_eq(strlen(v[499]), 45);
		for (size_t i = 1; i < n; i++)
			ck_assert_int_lt(strcmp(v[i - 1], v[i]), 0);
		names_free(v, n);
	}
	close(fd);
	char *e = tu_path(root, "empty");
	ck_assert_int_eq(mkdir_p(e, 0755), 0);
	fd = open(e, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char **v = (char **)1;
	size_t n = 7;
	ck_assert_int_eq(dir_names(fd, &v, &n), 0);
	ck_assert_uint_eq(n, 0);
	names_free(v, n);
	close(fd);
	tu_write(root, "plain", "x");
	char *f = tu_path(root, "plain");
	fd = open(f, O_RDONLY | O_CLOEXEC);
	ck_assert_int_eq(dir_names(fd, &v, &n), -ENOTDIR);
	close(fd);
	free(f);
	free(e);
	free(d);
}
END_TEST

START_TEST(read_write_files)
{
	char *p = tu_path(root, "f");
	char *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(read_file(p, 100, &buf, &len), -ENOENT);
	/* write_file never creates (sysfs attributes exist or not). */
	ck_assert_int_eq(write_str(p, "x"), -ENOENT);
	ck_assert_int_eq(access(p, F_OK), -1);
	tu_write(root, "f", "");
	ck_assert_int_eq(write_str(p, "value\n"), 0);
	ck_assert_int_eq(read_file(p, 100, &buf, &len), 0);
	ck_assert_str_eq(buf, "value\n");
	ck_assert_uint_eq(len, 6);
	free(buf);
	char *line;
	ck_assert_int_eq(read_line(p, &line), 0);
	ck_assert_str_eq(line, "value");
	free(line);
	tu_write(root, "crlf", "v\r\n");
	char *q = tu_path(root, "crlf");
	ck_assert_int_eq(read_line(q, &line), 0);
	ck_assert_str_eq(line, "v");
	free(line);
	free(q);
	/* The limit is inclusive; the buffer grows past its first 4 KiB. */
	ck_assert_int_eq(read_file(p, 6, &buf, &len), 0);
	free(buf);
	buf = NULL;
	ck_assert_int_eq(read_file(p, 5, &buf, &len), -EFBIG);
	ck_assert_ptr_null(buf);
	char big[10000];
	memset(big, 'z', sizeof(big));
	tu_write_n(root, "big", big, sizeof(big));
	q = tu_path(root, "big");
	ck_assert_int_eq(read_file(q, 10000, &buf, &len), 0);
	ck_assert_uint_eq(len, 10000);
	ck_assert_uint_eq(strlen(buf), 10000);
	free(buf);
	free(q);
	ck_assert_int_eq(read_file(root, 100, &buf, &len), -EISDIR);
	/* A file whose size says nothing (/proc, as /proc/self/mountinfo) is
	 * held to the limit by what it holds. */
	buf = NULL;
	ck_assert_int_eq(read_file("/proc/self/status", 100, &buf, &len), -EFBIG);
	ck_assert_ptr_null(buf);
	/* Not a regular file: refused without reading (a FIFO without a
	 * writer would block open() for ever), a symlink not followed. */
	ck_assert_int_eq(read_file("/dev/zero", 5000, &buf, &len), -EINVAL);
	q = tu_path(root, "fifo");
	ck_assert_int_eq(mkfifo(q, 0644), 0);
	ck_assert_int_eq(read_file(q, 5000, &buf, &len), -EINVAL);
	free(q);
	q = tu_path(root, "link");
	tu_symlink(p, q);
	ck_assert_int_eq(read_file(q, 5000, &buf, &len), -ELOOP);
	ck_assert_int_eq(read_line(q, &line), -ELOOP);
	free(q);
	free(p);
}
END_TEST

START_TEST(links)
{
	char *l = tu_path(root, "driver");
	char *out = NULL;
	ck_assert_int_eq(read_link(l, &out), -ENOENT);
	ck_assert_int_eq(read_link_base(l, &out), -ENOENT);
	tu_symlink("../../../bus/pci/drivers/vfio-pci", l);
	ck_assert_int_eq(read_link(l, &out), 0);
	ck_assert_str_eq(out, "../../../bus/pci/drivers/vfio-pci");
	free(out);
	ck_assert_int_eq(read_link_base(l, &out), 0);
	ck_assert_str_eq(out, "vfio-pci");
	free(out);
	ck_assert_int_eq(read_link(root, &out), -EINVAL);
	free(l);
	l = tu_path(root, "plain");
	tu_symlink("e1000e", l);
	ck_assert_int_eq(read_link_base(l, &out), 0);
	ck_assert_str_eq(out, "e1000e");
	free(out);
	free(l);
}
END_TEST

START_TEST(monotonic_clock)
{
	long long a = now_ms();
	struct timespec ts = {.tv_nsec = 20 * 1000000};
	nanosleep(&ts, NULL);
	long long b = now_ms();
	ck_assert_int_ge(b - a, 20);
	ck_assert_int_lt(b - a, 2000);
}
END_TEST

/* ---- struct mvm_error ---- */

START_TEST(error_format)
{
	struct mvm_error e;
	ck_assert_int_eq(mvm_error_set(&e, -ENOENT, "open", "/x", NULL), -ENOENT);
	ck_assert_int_eq(e.err, ENOENT);
	ck_assert_str_eq(tu_error_str(&e), "unable to open '/x': No such file or directory");
	ck_assert_int_eq(mvm_error_set(&e, EACCES, "read", "/y", "custom reason"), -EACCES);
	ck_assert_str_eq(tu_error_str(&e), "unable to read '/y': custom reason");
	ck_assert_int_eq(mvm_error_set(&e, 0, NULL, NULL, NULL), -EINVAL);
	ck_assert_str_eq(tu_error_str(&e), "unable to handle '': Invalid argument");
	ck_assert_int_eq(mvm_error_set(NULL, EPERM, "x", "y", NULL), -EPERM);
	mvm_error_set(&e, EINVAL, "parse", "/r/share/microvm/pci-devices", "bad");
	e.line = 12;
	snprintf(e.value, sizeof(e.value), "%s", "zz:00.0");
	ck_assert_str_eq(tu_error_str(&e),
			 "unable to parse '/r/share/microvm/pci-devices' line 12: bad: 'zz:00.0'");
	e.hint = "try this";
	ck_assert_str_eq(tu_error_str(&e),
			 "unable to parse '/r/share/microvm/pci-devices' line 12: bad: 'zz:00.0' "
			 "(try this)");
	char small[20];
	mvm_error_format(&e, small, sizeof(small));
	ck_assert_str_eq(small, "unable to parse ..."); /* cut, and marked */
	/* A path with an ESC and one with the text of its escape read apart
	 * (found by an audit: both printed 'read\x1b[1monly'), as values do. */
	mvm_error_set(&e, EINVAL, "use", "/v/read\x1b[1monly", "not a share setting");
	char esc[256];
	escape_line(tu_error_str(&e), esc, sizeof(esc));
	ck_assert_str_eq(esc, "unable to use '/v/read\\x1b[1monly': not a share setting");
	mvm_error_set(&e, EINVAL, "use", "/v/read\\x1b[1monly", "not a share setting");
	escape_line(tu_error_str(&e), esc, sizeof(esc));
	ck_assert_str_eq(esc, "unable to use '/v/read\\\\x1b[1monly': not a share setting");
	mvm_error_set(&e, EINVAL, "use", "/v/d\xc3\xa4ta", "x");
	ck_assert_str_eq(tu_error_str(&e), "unable to use '/v/d\xc3\xa4ta': x");
	/* A quote in the path, or in the value, does not end it: the path
	 * "/v/a': fine ('" must not read as the object "/v/a" with the
	 * reason "fine". */
	mvm_error_set(&e, EINVAL, "use", "/v/a': fine ('", "not a share setting");
	escape_value("b'", 2, e.value, sizeof(e.value));
	ck_assert_str_eq(tu_error_str(&e),
			 "unable to use '/v/a\\': fine (\\'': not a share setting: 'b\\''");
	/* A long path of escapes is cut, marked with "...", and the reason,
	 * value and hint after it stay in the line (found in review). */
	char longp[2001];
	memset(longp, 0x1b, 2000);
	longp[2000] = '\0';
	mvm_error_set(&e, EINVAL, "use", longp, "not a share setting");
	snprintf(e.value, sizeof(e.value), "v");
	e.hint = "a hint";
	char line[PATH_MAX + 512];
	mvm_error_format(&e, line, sizeof(line));
	ck_assert_uint_lt(strlen(line), sizeof(line));
	const char *tail = "...': not a share setting: 'v' (a hint)";
	ck_assert_msg(strlen(line) > strlen(tail) &&
			      !strcmp(line + strlen(line) - strlen(tail), tail),
		      "%s", line + strlen(line) - 60);
	ck_assert_int_eq(strncmp(line, "unable to use '\\x1b\\x1b", 23), 0);
}
END_TEST

START_TEST(error_setf)
{
	struct mvm_error e, copy;
	ck_assert_int_eq(mvm_error_setf(&e, EBUSY, "delete", "tap0", "pid %d holds it", 42), -EBUSY);
	copy = e; /* a copy keeps its reason */
	mvm_error_setf(&e, EEXIST, "create", "tap1", "kind %s", "veth");
	ck_assert_str_eq(tu_error_str(&copy), "unable to delete 'tap0': pid 42 holds it");
	ck_assert_str_eq(tu_error_str(&e), "unable to create 'tap1': kind veth");
	ck_assert_str_eq(mvm_error_reason(&e), "kind veth");
	mvm_error_set(&e, ENOENT, "open", "/x", NULL); /* a later set clears it */
	ck_assert_str_eq(mvm_error_reason(&e), "No such file or directory");
	ck_assert_int_eq(mvm_error_setf(NULL, 0, "x", "y", "z"), -EINVAL);
	/* A reason too long for why is cut at an escape of a value in it,
	 * never inside one, and marked "..."; so is a text after the object
	 * (lead: 0 to 3 bytes, so that the cut meets every byte of \x01). */
	char ctl[1500];
	memset(ctl, 1, sizeof(ctl) - 1);
	ctl[sizeof(ctl) - 1] = '\0';
	for (int lead = 0; lead < 4; lead++) {
		mvm_error_setf(&e, EINVAL, "use", "/x", "%.*sno directory '%s'", lead, "abc",
			       ESC(ctl));
		const char *w = e.why;
		ck_assert_uint_lt(strlen(w), sizeof(e.why));
		ck_assert_uint_gt(strlen(w), sizeof(e.why) - 8);
		ck_assert_msg(!strcmp(w + strlen(w) - 7, "\\x01..."), "lead %d: ...%s", lead,
			      w + strlen(w) - 12);
		char verb[sizeof(e.verb) + 8];
		snprintf(verb, sizeof(verb), "%.*suse %s", lead, "abc", ESC(ctl));
		mvm_error_set(&e, EINVAL, verb, "/x", NULL);
		ck_assert_msg(!strcmp(e.verb + strlen(e.verb) - 7, "\\x01..."), "verb, lead %d: %s",
			      lead, e.verb);
		mvm_error_after(&e, "%.*s to %s", lead, "abc", ESC(ctl));
		w = e.after;
		ck_assert_uint_gt(strlen(w), sizeof(e.after) - 8);
		ck_assert_msg(!strcmp(w + strlen(w) - 7, "\\x01..."), "after, lead %d: ...%s", lead,
			      w + strlen(w) - 12);
	}
}
END_TEST

/* The messages that do not end at the object: a verb built at run time
 * (copied: the buffer it came from may be gone), a text after the object,
 * a reason longer than a line of a terminal. */
START_TEST(error_verb_after_long)
{
	struct mvm_error e, copy;
	char verb[32];
	snprintf(verb, sizeof(verb), "use IOMMU group %d of", 5);
	char names[1100] = "";
	for (int i = 0; i < 36; i++)
		snprintf(names + strlen(names), sizeof(names) - strlen(names),
			 "%s0000:01:00.%d (driver snd)", i ? ", " : "", i);
	ck_assert_uint_gt(strlen(names), 900);
	ck_assert_int_eq(mvm_error_setf(&e, EBUSY, verb, "0000:01:00.0", "the group is not viable, "
						     "it also holds %s; unbind them", names),
			 -EBUSY);
	memset(verb, 'x', sizeof(verb) - 1);
	copy = e;
	memset(&e, 0, sizeof(e));
	const char *s = tu_error_str(&copy);
	ck_assert_msg(!strncmp(s, "unable to use IOMMU group 5 of '0000:01:00.0': the group is not "
				  "viable, it also holds 0000:01:00.0 (driver snd), ", 99), "%s", s);
	const char *end = "0000:01:00.35 (driver snd); unbind them"; /* not cut */
	ck_assert_msg(!strcmp(s + strlen(s) - strlen(end), end), "the end: %s", s);
	mvm_error_setf(&e, EIO, "bind", "0000:02:00.0", "the driver did not take it (driver now: %s)",
		       "none");
	mvm_error_after(&e, " to %s", "vfio-pci");
	ck_assert_str_eq(tu_error_str(&e), "unable to bind '0000:02:00.0' to vfio-pci: the driver "
					   "did not take it (driver now: none)");
	mvm_error_after(NULL, "x"); /* no error to fill: nothing */
	mvm_error_set(&e, ENOENT, "open", "/x", NULL); /* a later set clears it */
	ck_assert_str_eq(tu_error_str(&e), "unable to open '/x': No such file or directory");
	ck_assert(!e.reported);
}
END_TEST

/* ---- log ---- */

/* Run the logging calls with stderr captured; returns what was written. */
static char *logged(void (*fn)(void))
{
	struct tu_capture c;
	tu_capture_start(&c, 2);
	fn();
	return tu_capture_end(&c);
}

static void log_some(void)
{
	log_err("unable to create '%s': %s", "tap0", strerror(EPERM));
	log_warn("w");
	log_notice("n");
	log_info("i");
	log_debug("d");
}

START_TEST(log_plain)
{
	unsetenv("JOURNAL_STREAM");
	log_open("/usr/bin/tap-setup");
	ck_assert_str_eq(log_prog(), "tap-setup");
	log_set_subject("vm1");
	log_set_verbose(0);
	char *s = logged(log_some);
	ck_assert_str_eq(s, "tap-setup: vm1: unable to create 'tap0': Operation not permitted\n"
			    "tap-setup: vm1: w\ntap-setup: vm1: n\ntap-setup: vm1: i\n");
	free(s);
	log_set_verbose(1);
	ck_assert_int_eq(log_get_verbose(), 1);
	log_set_subject(NULL);
	s = logged(log_some);
	ck_assert_str_eq(s, "tap-setup: unable to create 'tap0': Operation not permitted\n"
			    "tap-setup: w\ntap-setup: n\ntap-setup: i\ntap-setup: d\n");
	free(s);
}
END_TEST

/* Under systemd, stderr is $JOURNAL_STREAM ("DEV:INO"): <N> prefixes. */
static void log_journal_open(void)
{
	struct stat st;
	ck_assert_int_eq(fstat(2, &st), 0);
	char js[64];
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_open("pci-bind");
	log_set_subject("vm1");
	log_set_verbose(1);
	log_some();
	/* Another stream than stderr: no prefixes. */
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", js, 1);
	log_open("pci-bind");
	log_err("plain");
	/* ... or on another device, its inode number the same. */
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev + 1,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_open("pci-bind");
	log_err("plain");
	setenv("JOURNAL_STREAM", "garbage", 1);
	log_open("pci-bind");
	log_err("plain");
	unsetenv("JOURNAL_STREAM");
}

START_TEST(log_journal)
{
	char *s = logged(log_journal_open);
	ck_assert_str_eq(s, "<3>pci-bind: vm1: unable to create 'tap0': Operation not permitted\n"
			    "<4>pci-bind: vm1: w\n<5>pci-bind: vm1: n\n<6>pci-bind: vm1: i\n"
			    "<7>pci-bind: vm1: d\n"
			    "pci-bind: vm1: plain\npci-bind: vm1: plain\npci-bind: vm1: plain\n");
	free(s);
}
END_TEST

static void log_errors(void)
{
	struct mvm_error e;
	log_open("virtiofs-launch");
	log_set_subject("vm1");
	ck_assert_int_eq(mvm_error_set(&e, -ENOENT, "open", "/x", NULL), -ENOENT);
	log_error_info(&e);
	ck_assert_int_eq(mvm_error_set(&e, EBUSY, "unbind", "0000:01:00.0", NULL), -EBUSY);
	log_error_info(&e);
	mvm_error_set(&e, EINVAL, "parse", "/r/share/microvm/tap-interfaces", "duplicate");
	e.line = 2;
	snprintf(e.value, sizeof(e.value), "tap0");
	ck_assert(!e.reported);
	log_error_info(&e);
	/* Logged once: where a loop went on, not again at the run's end. */
	ck_assert(e.reported);
	log_error_info(&e);
	/* A very long message is cut but still one line. */
	char big[6000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_err("%s", big);
}

START_TEST(log_message_shape)
{
	unsetenv("JOURNAL_STREAM");
	char *s = logged(log_errors);
	const char *want =
		"virtiofs-launch: vm1: unable to open '/x': No such file or directory\n"
		"virtiofs-launch: vm1: unable to unbind '0000:01:00.0': Device or resource busy\n"
		"virtiofs-launch: vm1: unable to parse '/r/share/microvm/tap-interfaces' line 2: "
		"duplicate: 'tap0'\n";
	ck_assert_int_eq(strncmp(s, want, strlen(want)), 0);
	const char *last = s + strlen(want);
	ck_assert_int_eq(strncmp(last, "virtiofs-launch: vm1: xxxx", 26), 0);
	ck_assert_ptr_eq(strchr(last, '\n'), s + strlen(s) - 1);
	ck_assert_uint_gt(strlen(last), 4000);
	/* ... and marked so, as ESC() marks a value it cuts. */
	ck_assert_uint_le(strlen(last), 4096);
	ck_assert_str_eq(last + strlen(last) - 5, "x...\n");
	free(s);
}
END_TEST

/* An error logged after a lead ("share 'TAG': ", virtiofs-launch's, up
 * to 160 bytes) keeps its reason at the end however long its path: the
 * path is cut to the room the lead leaves, not the line at 4096 bytes
 * (which would drop the reason). */
static void log_long_error_after_lead(void)
{
	struct mvm_error e;
	char path[4000], lead[161];
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	memset(lead, 'l', sizeof(lead) - 1);
	memcpy(lead + sizeof(lead) - 3, ": ", 3);
	log_open("virtiofs-launch");
	log_set_subject("vm1");
	mvm_error_set(&e, ENOENT, "open", path, NULL);
	log_error_as(LOG_ERR, &e, lead);
}

START_TEST(log_error_after_lead_keeps_the_reason)
{
	unsetenv("JOURNAL_STREAM");
	char *s = logged(log_long_error_after_lead);
	const char *want = "...': No such file or directory\n";
	ck_assert_msg(strncmp(s, "virtiofs-launch: vm1: llll", 26) == 0, "%.60s", s);
	ck_assert_msg(strchr(s, '\n') == s + strlen(s) - 1, "not one line");
	ck_assert_msg(strlen(s) > strlen(want) && !strcmp(s + strlen(s) - strlen(want), want),
		      "the reason is not at the end (%zu bytes): ...%s", strlen(s),
		      s + (strlen(s) > 80 ? strlen(s) - 80 : 0));
	free(s);
}
END_TEST

/* A line too long for its 4096 bytes is cut at a character or escape,
 * never inside one, and marked "...": the escapes of its values (ESC():
 * \x01), its own (escape_line(): \x01 of a byte in the format's text)
 * and UTF-8 characters; with a lead of 0 to 3 bytes, so that the cut
 * meets every byte of an escape. (Before, the line ended "\x0", "\x" or
 * "\", or whole escapes and characters, with no mark.) A line that fits
 * is not marked. */
static int cut_lead;

static void log_long_lines(void)
{
	log_open("pci-bind");
	log_set_subject("vm1");
	char ctl[3000], utf[6001];
	memset(ctl, 1, sizeof(ctl) - 1);
	ctl[sizeof(ctl) - 1] = '\0';
	for (size_t i = 0; i + 1 < sizeof(utf); i += 2)
		memcpy(utf + i, "\xc3\xa4", 2);
	utf[sizeof(utf) - 1] = '\0';
	log_err("%.*s'%s'", cut_lead, "abc", ESC(ctl));
	log_err("%.*s%s", cut_lead, "abc", ctl);
	log_err("%.*s%s", cut_lead, "abc", utf);
	/* An error too long for its line for its after-text and reason, not
	 * its path: cut by mvm_error_format(), and marked the same way. */
	struct mvm_error e;
	char ctl2[701];
	memcpy(ctl2, ctl, sizeof(ctl2) - 1);
	ctl2[sizeof(ctl2) - 1] = '\0';
	mvm_error_setf(&e, EINVAL, "use", "/x", "no directory '%s'", ESC(ctl));
	mvm_error_after(&e, "%.*s in '%s'", cut_lead, "abc", ESC(ctl2));
	log_error_info(&e);
	/* "pci-bind: vm1: " and 4080 bytes: 4095, whole. */
	char fits[4081];
	memset(fits, 'y', sizeof(fits) - 1);
	fits[sizeof(fits) - 1] = '\0';
	log_err("%s", fits);
}

START_TEST(log_cut_at_escape)
{
	unsetenv("JOURNAL_STREAM");
	cut_lead = _i;
	char *s = logged(log_long_lines);
	const char *ends[] = {"\\x01...", "\\x01...", "\xc3\xa4...", "\\x01..."};
	char *p = s;
	for (size_t i = 0; i < ARRAY_SIZE(ends); i++) {
		char *nl = strchr(p, '\n');
		ck_assert_ptr_nonnull(nl);
		*nl = '\0';
		ck_assert_msg(strlen(p) <= 4095 && strlen(p) > 4080, "line %zu: %zu bytes", i,
			      strlen(p));
		ck_assert_msg(!strcmp(p + strlen(p) - strlen(ends[i]), ends[i]),
			      "line %zu, lead %d: ends ...%s", i, _i, p + strlen(p) - 12);
		p = nl + 1;
	}
	ck_assert_uint_eq(strlen(p), 4096);
	ck_assert_str_eq(p + 4090, "yyyyy\n");
	free(s);
}
END_TEST

/* --dry-run lines are printed whole (some are for pasting into a shell:
 * virtiofs-launch's daemon command line), however long. */
START_TEST(log_action_whole)
{
	log_open("virtiofs-launch");
	log_set_subject("vm1");
	char big[9001];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct tu_capture c;
	tu_capture_start(&c, 1);
	log_action("start %s", big);
	char *s = tu_capture_end(&c);
	log_set_subject(NULL);
	ck_assert_uint_eq(strlen(s), strlen("virtiofs-launch: vm1: would start ") + 9000 + 1);
	ck_assert_str_eq(s + strlen(s) - 3, "zz\n");
	free(s);
}
END_TEST

START_TEST(log_dry_run_action)
{
	log_open("tap-setup");
	log_set_subject("vm1");
	struct tu_capture c;
	tu_capture_start(&c, 1);
	log_action("create %s flags %s owner %u:%u", "tap0", "vnet_hdr", 990u, 78u);
	log_set_subject(NULL);
	log_action("nothing");
	/* A value a caller did not escape: still one line, its own. */
	log_action("create %s", "tap0\n<3>tap-setup: forged");
	char *s = tu_capture_end(&c);
	ck_assert_str_eq(s, "tap-setup: vm1: would create tap0 flags vnet_hdr owner 990:78\n"
			    "tap-setup: would nothing\n"
			    "tap-setup: would create tap0\\n<3>tap-setup: forged\n");
	free(s);
}
END_TEST

/* The VM's name (from the command line: a backslash is a valid character
 * of it) in every line, escaped as an error's path is: "vm\x41" (a
 * backslash, x, 4, 1) must not read as the escape of "vmA", nor a control
 * character in it (a name not yet refused) pass as one. So must a value
 * put in a line with ESC(). */
static void log_odd_subject(void)
{
	log_open("pci-bind");
	log_set_subject("vm\\x41\x1b");
	log_set_verbose(1);
	log_err("e");
	log_debug("d '%s'", ESC("/r\\x41\x1b"));
	log_set_subject(NULL);
}

START_TEST(log_subject_escaped)
{
	unsetenv("JOURNAL_STREAM");
	char *s = logged(log_odd_subject);
	ck_assert_str_eq(s, "pci-bind: vm\\\\x41\\x1b: e\n"
			    "pci-bind: vm\\\\x41\\x1b: d '/r\\\\x41\\x1b'\n");
	free(s);
	log_open("tap-setup");
	log_set_subject("vm\\x41");
	struct tu_capture c;
	tu_capture_start(&c, 1);
	log_action("create %s", ESC("tap\\x41"));
	s = tu_capture_end(&c);
	log_set_subject(NULL);
	ck_assert_str_eq(s, "tap-setup: vm\\\\x41: would create tap\\\\x41\n");
	free(s);
}
END_TEST

/* ---- spawn ---- */

/* Run argv with stdout into a pipe; returns the output, *status the exit. */
static char *spawn_out(char *const argv[], struct spawn_opts *o, int *status)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	o->stdout_fd = p[1];
	struct mvm_error e;
	pid_t pid = spawn(argv, o, &e);
	ck_assert_msg(pid > 0, "spawn: %s", tu_error_str(&e));
	close(p[1]);
	char *buf = calloc(1, 65536);
	ck_assert_ptr_nonnull(buf);
	size_t n = 0;
	ssize_t k;
	while ((k = read(p[0], buf + n, 65535 - n)) > 0)
		n += (size_t)k;
	close(p[0]);
	*status = spawn_wait(pid);
	return buf;
}

START_TEST(spawn_missing)
{
	struct mvm_error e;
	char *argv[] = {(char *)"/nonexistent/microvm-run", NULL};
	ck_assert_int_eq(spawn(argv, NULL, &e), -ENOENT);
	tu_assert_error(&e, ENOENT, "start", "/nonexistent/microvm-run", 0, "", NULL);
	/* No PATH search. */
	char *argv2[] = {(char *)"sh", NULL};
	ck_assert_int_eq(spawn(argv2, NULL, &e), -ENOENT);
	/* Not executable. */
	tu_write(root, "script", "#!/bin/sh\n");
	char *p = tu_path(root, "script");
	char *argv3[] = {p, NULL};
	ck_assert_int_eq(spawn(argv3, NULL, &e), -EACCES);
	tu_assert_error(&e, EACCES, "start", p, 0, "", NULL);
	/* A bad cwd is reported too. */
	struct spawn_opts o = SPAWN_OPTS_INIT;
	o.cwd = "/nonexistent";
	char *argv4[] = {(char *)"/bin/true", NULL};
	ck_assert_int_eq(spawn(argv4, &o, &e), -ENOENT);
	/* (the program is there, but not its missing interpreter: no reason
	 * but strerror()'s) */
	tu_assert_error(&e, ENOENT, "start", "/bin/true", 0, "", NULL);
	/* A relative name is not looked up where the caller is: here "script"
	 * is an executable of the caller's directory, missing in the child's
	 * ("/"), and not said to lack an interpreter. */
	ck_assert_int_eq(chmod(p, 0755), 0);
	int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(cwd, 0);
	ck_assert_int_eq(chdir(root), 0);
	o.cwd = "/";
	char *argv5[] = {(char *)"script", NULL};
	int r5 = spawn(argv5, &o, &e);
	ck_assert_int_eq(fchdir(cwd), 0);
	close(cwd);
	ck_assert_int_eq(r5, -ENOENT);
	tu_assert_error(&e, ENOENT, "start", "script", 0, "", NULL);
	free(p);
	/* A start that failed leaves no child behind, not even a zombie (a
	 * supervisor that starts again and again would fill the process
	 * table). */
	pid_t left = waitpid(-1, NULL, WNOHANG);
	ck_assert_msg(left < 0 && errno == ECHILD,
		      "a failed start left its child %ld unreaped", (long)left);
}
END_TEST

START_TEST(spawn_exit_status)
{
	struct mvm_error e;
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)"exit 3", NULL};
	pid_t pid = spawn(argv, NULL, &e);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(spawn_wait(pid), 3);
	char *argv2[] = {(char *)"/bin/sh", (char *)"-c", (char *)"kill -9 $$", NULL};
	pid = spawn(argv2, NULL, &e);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(spawn_wait(pid), 128 + SIGKILL);
	ck_assert_int_eq(spawn_wait(pid), -ECHILD);
}
END_TEST

START_TEST(spawn_unset_env)
{
	setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
	setenv("NOTIFY_SOCKET_X", "kept", 1);
	setenv("MVM_TEST_VAR", "kept too", 1);
	struct spawn_opts o = SPAWN_OPTS_INIT;
	static const char *const unset[] = {"NOTIFY_SOCKET", NULL};
	o.unset_env = unset;
	char *argv[] = {(char *)"/usr/bin/env", NULL};
	int st;
	char *out = spawn_out(argv, &o, &st);
	ck_assert_int_eq(st, 0);
	ck_assert_ptr_null(strstr(out, "NOTIFY_SOCKET=/"));
	ck_assert_ptr_nonnull(strstr(out, "\nNOTIFY_SOCKET_X=kept\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nMVM_TEST_VAR=kept too\n"));
	free(out);
	/* Without unset_env it is passed on (the test can fail). */
	o.unset_env = NULL;
	out = spawn_out(argv, &o, &st);
	ck_assert_ptr_nonnull(strstr(out, "NOTIFY_SOCKET=/run/systemd/notify\n"));
	free(out);
	/* Our own environment is untouched. */
	ck_assert_str_eq(getenv("NOTIFY_SOCKET"), "/run/systemd/notify");
}
END_TEST

/* The child gets 0, 1 and 2 only, even when we leak descriptors. */
START_TEST(spawn_only_std_fds)
{
	int fd = open("/dev/null", O_RDONLY); /* no O_CLOEXEC, on purpose */
	ck_assert_int_ge(fd, 3);
	ck_assert_int_eq(dup2(fd, 40), 40);
	ck_assert_int_eq(dup2(fd, 1000), 1000);
	struct spawn_opts o = SPAWN_OPTS_INIT;
	/* ls runs in a child of the shell and lists the shell's fds. */
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)"ls /proc/$$/fd; true", NULL};
	int st;
	char *out = spawn_out(argv, &o, &st);
	ck_assert_int_eq(st, 0);
	ck_assert_str_eq(out, "0\n1\n2\n");
	free(out);
	close(fd);
	close(40);
	close(1000);
}
END_TEST

/* pass_fd: the child reads it as its fd 3, whether the caller's was 3
 * already (dup2 onto itself would leave it close-on-exec) or another.
 * The caller's fd 3 (Check's own, maybe) is put back before any assert. */
START_TEST(spawn_pass_fd)
{
	char got[2][64] = { "", "" };
	int st[2] = { -1, -1 };
	int flags3 = fcntl(3, F_GETFD), saved = flags3 < 0 ? -1 : fcntl(3, F_DUPFD_CLOEXEC, 10);
	for (int i = 0; i < 2; i++) {
		int p[2], fd = i == 0 ? 3 : 7;
		if (pipe2(p, O_CLOEXEC) < 0 || write(p[1], "handed", 6) != 6 ||
		    dup3(p[0], fd, O_CLOEXEC) != fd) {
			snprintf(got[i], sizeof(got[i]), "(set-up: %s)", strerror(errno));
			continue;
		}
		close(p[1]);
		close(p[0]);
		struct spawn_opts o = SPAWN_OPTS_INIT;
		o.pass_fd = fd;
		char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)"cat <&3", NULL};
		char *out = spawn_out(argv, &o, &st[i]);
		snprintf(got[i], sizeof(got[i]), "%s", out);
		free(out);
		close(fd);
	}
	if (saved >= 0) {
		dup3(saved, 3, flags3 & FD_CLOEXEC ? O_CLOEXEC : 0);
		close(saved);
	}
	ck_assert_msg(flags3 < 0 || saved >= 0, "unable to keep fd 3 aside");
	for (int i = 0; i < 2; i++)
		ck_assert_msg(st[i] == 0 && strcmp(got[i], "handed") == 0,
			      "pass_fd %d: the child read '%s' from its fd 3, exit %d", i == 0 ? 3 : 7,
			      got[i], st[i]);
}
END_TEST

START_TEST(spawn_signals_reset)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, &set, NULL), 0);
	signal(SIGUSR2, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGRTMIN + 2, SIG_IGN); /* a real-time signal too (34 and up) */
	struct spawn_opts o = SPAWN_OPTS_INIT;
	char *argv[] = {(char *)"/bin/grep", (char *)"-E", (char *)"^Sig(Blk|Ign)",
			(char *)"/proc/self/status", NULL};
	int st;
	char *out = spawn_out(argv, &o, &st);
	ck_assert_int_eq(st, 0);
	/* Signals 32 and 33 are glibc's own (SIGCANCEL, SIGSETXID): signal()
	 * refuses them, so a child keeps whatever our parent left there (some
	 * sandboxes ignore them). Every other signal must be reset. */
	unsigned long long blk, ign;
	ck_assert_int_eq(sscanf(out, "SigBlk:\t%llx\nSigIgn:\t%llx\n", &blk, &ign), 2);
	ck_assert_uint_eq(blk, 0);
	ck_assert_uint_eq(ign & ~0x180000000ULL, 0);
	free(out);
}
END_TEST

START_TEST(spawn_stdin_cwd_pgroup)
{
	struct spawn_opts o = SPAWN_OPTS_INIT;
	int st;
	/* stdin is /dev/null unless given: cat ends at once. */
	char *cat[] = {(char *)"/bin/cat", NULL};
	char *out = spawn_out(cat, &o, &st);
	ck_assert_int_eq(st, 0);
	ck_assert_str_eq(out, "");
	free(out);
	int in[2];
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	ck_assert_int_eq(write(in[1], "abc", 3), 3);
	close(in[1]);
	o.stdin_fd = in[0];
	out = spawn_out(cat, &o, &st);
	ck_assert_str_eq(out, "abc");
	free(out);
	close(in[0]);
	o = (struct spawn_opts)SPAWN_OPTS_INIT;
	o.cwd = root;
	char *pwd[] = {(char *)"/bin/pwd", (char *)"-P", NULL};
	out = spawn_out(pwd, &o, &st);
	char want[PATH_MAX + 2];
	snprintf(want, sizeof(want), "%s\n", root);
	ck_assert_str_eq(out, want);
	free(out);
	/* A process group of its own. */
	o = (struct spawn_opts)SPAWN_OPTS_INIT;
	o.new_pgroup = true;
	char *sleeper[] = {(char *)"/bin/sleep", (char *)"30", NULL};
	struct mvm_error e;
	pid_t pid = spawn(sleeper, &o, &e);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(getpgid(pid), pid);
	kill(pid, SIGTERM);
	ck_assert_int_eq(spawn_wait(pid), 128 + SIGTERM);
	o.new_pgroup = false;
	pid = spawn(sleeper, &o, &e);
	ck_assert_int_eq(getpgid(pid), getpgid(0));
	kill(pid, SIGTERM);
	spawn_wait(pid);
}
END_TEST

/* pdeathsig: the child dies with the process that spawned it. We are a
 * subreaper, so the orphan comes to us and we see how it ended. */
static int spawn_and_exit(void *arg)
{
	pid_t *shared = arg;
	struct spawn_opts o = SPAWN_OPTS_INIT;
	o.pdeathsig = shared[1] != 0;
	char *argv[] = {(char *)"/bin/sleep", (char *)"30", NULL};
	shared[0] = spawn(argv, &o, NULL);
	return shared[0] > 0 ? 0 : 1;
}

static int reap_within(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFSIGNALED(st) ? WTERMSIG(st) : 1000 + WEXITSTATUS(st);
		struct timespec ts = {.tv_nsec = 10 * 1000000};
		nanosleep(&ts, NULL);
	}
	return -1; /* still running */
}

START_TEST(spawn_pdeathsig)
{
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	pid_t *shared = tu_shared(2 * sizeof(pid_t));
	shared[1] = 1;
	ck_assert_int_eq(tu_fork_call((uid_t)-1, 0, spawn_and_exit, shared), 0);
	ck_assert_int_gt(shared[0], 0);
	ck_assert_int_eq(reap_within(shared[0], 5000), SIGKILL);
	/* Without it the child outlives its parent. */
	shared[1] = 0;
	ck_assert_int_eq(tu_fork_call((uid_t)-1, 0, spawn_and_exit, shared), 0);
	ck_assert_int_eq(reap_within(shared[0], 300), -1);
	kill(shared[0], SIGKILL);
	ck_assert_int_eq(reap_within(shared[0], 5000), SIGKILL);
}
END_TEST

START_TEST(find_in_path_cases)
{
	tu_write(root, "bin1/tool", "not executable");
	tu_write(root, "bin2/tool", "#!/bin/sh\n");
	char *b2 = tu_path(root, "bin2/tool");
	tu_chmod(b2, 0755);
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "/nonexistent::%s/bin1:%s/bin2:/bin", root, root);
	setenv("PATH", path, 1);
	char *p = find_in_path("tool");
	ck_assert_str_eq(p ? p : "(null)", b2);
	free(p);
	p = find_in_path("sh");
	ck_assert_str_eq(p ? p : "(null)", "/bin/sh");
	free(p);
	ck_assert_ptr_null(find_in_path("no-such-tool-mvm"));
	ck_assert_ptr_null(find_in_path("bin2/tool"));
	unsetenv("PATH");
	ck_assert_ptr_null(find_in_path("sh"));
	free(b2);
}
END_TEST

Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc;

	tc = tu_tcase_create("names");
	tcase_add_test(tc, path_join_cases);
	tcase_add_test(tc, escape_values);
	tcase_add_loop_test(tc, ifname_rules, 0, ARRAY_SIZE(ifnames));
	tcase_add_test(tc, component_rules);
	tcase_add_test(tc, lines_iterate);
	tcase_add_test(tc, parse_uint_cases);
	tcase_add_test(tc, plural_cases);
	tcase_add_test(tc, error_format);
	tcase_add_test(tc, error_setf);
	tcase_add_test(tc, error_verb_after_long);
	suite_add_tcase(s, tc);

	tc = tu_tcase_create("files");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, mkdir_p_cases);
	tcase_add_test(tc, read_write_files);
	tcase_add_test(tc, dir_names_cases);
	tcase_add_test(tc, links);
	tcase_add_test(tc, monotonic_clock);
	suite_add_tcase(s, tc);

	tc = tu_tcase_create("log");
	tcase_add_test(tc, log_plain);
	tcase_add_test(tc, log_journal);
	tcase_add_test(tc, log_error_after_lead_keeps_the_reason);
	tcase_add_test(tc, log_message_shape);
	tcase_add_loop_test(tc, log_cut_at_escape, 0, 4);
	tcase_add_test(tc, log_action_whole);
	tcase_add_test(tc, log_dry_run_action);
	tcase_add_test(tc, log_subject_escaped);
	suite_add_tcase(s, tc);

	tc = tu_tcase_create("spawn");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, spawn_missing);
	tcase_add_test(tc, spawn_exit_status);
	tcase_add_test(tc, spawn_unset_env);
	tcase_add_test(tc, spawn_only_std_fds);
	tcase_add_test(tc, spawn_pass_fd);
	tcase_add_test(tc, spawn_signals_reset);
	tcase_add_test(tc, spawn_stdin_cwd_pgroup);
	tcase_add_test(tc, spawn_pdeathsig);
	tcase_add_test(tc, find_in_path_cases);
	suite_add_tcase(s, tc);
	return s;
}
