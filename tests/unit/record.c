/* SPDX-License-Identifier: MIT */
/* common/record.h: the runtime records of DESIGN.md section 4. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "record.h"
#include "testutil.h"
#include "util.h"

static char *root, *run, *vmdir;

static void setup(void)
{
	root = tu_tmpdir();
	run = tu_path(root, "run/microvm"); /* not there yet */
	vmdir = tu_path(run, "vm1");
}

static void teardown(void)
{
	tu_rm_rf(root);
	free(root);
	free(run);
	free(vmdir);
}

/* The names in dir, sorted, joined by ' '. */
static void list_dir(const char *dir, char *buf, size_t size)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	ck_assert_msg(n >= 0, "scandir %s: %s", dir, strerror(errno));
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, ".."))
			snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? " " : "",
				 ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
}

START_TEST(round_trip)
{
	struct mvm_error e;
	char *text = NULL;
	ck_assert_int_eq(record_read(run, "vm1", "tap", &text, &e), -ENOENT);
	char *file = tu_path(vmdir, "tap");
	tu_assert_error(&e, ENOENT, "read", file, 0, "", NULL);
	ck_assert_ptr_null(text);

	ck_assert_int_eq(record_write(run, "vm1", "tap", "tap0\ntap1\n", &e), 0);
	struct stat st;
	ck_assert_int_eq(stat(vmdir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0755);
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
	ck_assert_int_eq(record_read(run, "vm1", "tap", &text, &e), 0);
	ck_assert_str_eq(text, "tap0\ntap1\n");
	free(text);

	/* Replaced, not appended; no temp file left. */
	ck_assert_int_eq(record_write(run, "vm1", "tap", "tap2\n", &e), 0);
	ck_assert_int_eq(record_read(run, "vm1", "tap", &text, &e), 0);
	ck_assert_str_eq(text, "tap2\n");
	free(text);
	char names[256];
	list_dir(vmdir, names, sizeof(names));
	ck_assert_str_eq(names, "tap");

	/* An empty record is a record. */
	ck_assert_int_eq(record_write(run, "vm1", "pci", "", &e), 0);
	ck_assert_int_eq(record_read(run, "vm1", "pci", &text, &e), 0);
	ck_assert_str_eq(text, "");
	free(text);
	list_dir(vmdir, names, sizeof(names));
	ck_assert_str_eq(names, "pci tap");
	free(file);
}
END_TEST

/* The rename is what makes it atomic: a reader holding the old file
 * still sees the old content, the path shows the new one at once. */
START_TEST(atomic_replace)
{
	struct mvm_error e;
	ck_assert_int_eq(record_write(run, "vm1", "tap", "old\n", &e), 0);
	char *file = tu_path(vmdir, "tap");
	struct stat before, after;
	ck_assert_int_eq(stat(file, &before), 0);
	FILE *f = fopen(file, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(record_write(run, "vm1", "tap", "new\n", &e), 0);
	char buf[16] = "";
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	ck_assert_str_eq(buf, "old\n");
	fclose(f);
	ck_assert_int_eq(stat(file, &after), 0);
	ck_assert_uint_ne(before.st_ino, after.st_ino); /* a new file renamed over */
	char *text;
	ck_assert_int_eq(record_read(run, "vm1", "tap", &text, &e), 0);
	ck_assert_str_eq(text, "new\n");
	free(text);
	free(file);
}
END_TEST

START_TEST(remove_records)
{
	struct mvm_error e;
	/* Nothing there at all: fine. */
	ck_assert_int_eq(record_remove(run, "vm1", "tap", &e), 0);
	ck_assert_int_eq(record_write(run, "vm1", "tap", "tap0\n", &e), 0);
	ck_assert_int_eq(record_write(run, "vm1", "pci", "0000:01:00.0 e1000e\n", &e), 0);
	ck_assert_int_eq(record_write(run, "vm2", "tap", "tap9\n", &e), 0);
	ck_assert_int_eq(record_remove(run, "vm1", "tap", &e), 0);
	char *text;
	ck_assert_int_eq(record_read(run, "vm1", "tap", &text, &e), -ENOENT);
	/* The VM's dir stays while a record of another kind is in it. */
	ck_assert_int_eq(access(vmdir, F_OK), 0);
	ck_assert_int_eq(record_read(run, "vm1", "pci", &text, &e), 0);
	ck_assert_str_eq(text, "0000:01:00.0 e1000e\n");
	free(text);
	/* Removing it twice is fine. */
	ck_assert_int_eq(record_remove(run, "vm1", "tap", &e), 0);
	/* The last one takes the dir with it; other VMs are untouched. */
	ck_assert_int_eq(record_remove(run, "vm1", "pci", &e), 0);
	ck_assert_int_eq(access(vmdir, F_OK), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(record_read(run, "vm2", "tap", &text, &e), 0);
	ck_assert_str_eq(text, "tap9\n");
	free(text);
	ck_assert_int_eq(access(run, F_OK), 0);
}
END_TEST

START_TEST(bad_vm_name)
{
	struct mvm_error e;
	char *text;
	ck_assert_int_eq(record_write(run, "../etc", "tap", "x", &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "use VM name", "../etc", 0, "", "a name may not contain '/'");
	ck_assert_int_eq(record_read(run, "..", "tap", &text, &e), -EINVAL);
	ck_assert_int_eq(record_remove(run, "", "tap", &e), -EINVAL);
	ck_assert_int_eq(access(run, F_OK), -1); /* nothing made */
}
END_TEST

START_TEST(write_fails)
{
	struct mvm_error e;
	/* The runtime dir is a file: the error names the dir to create. */
	tu_write(root, "run/microvm", "not a dir\n");
	ck_assert_int_eq(record_write(run, "vm1", "tap", "x", &e), -ENOTDIR);
	tu_assert_error(&e, ENOTDIR, "create", vmdir, 0, "", NULL);
}
END_TEST

Suite *record_suite(void)
{
	Suite *s = suite_create("record");
	TCase *tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, atomic_replace);
	tcase_add_test(tc, remove_records);
	tcase_add_test(tc, bad_vm_name);
	tcase_add_test(tc, write_fails);
	suite_add_tcase(s, tc);
	return s;
}
