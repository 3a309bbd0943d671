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
	ck_assert_uint_eq(st.st_mode & 07777, 0711); /* RUNTIME_DIR_MODE */
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
	tu_list_dir(vmdir, names, sizeof(names));
	ck_assert_str_eq(names, "tap");

	/* An empty record is a record. */
	ck_assert_int_eq(record_write(run, "vm1", "pci", "", &e), 0);
	ck_assert_int_eq(record_read(run, "vm1", "pci", &text, &e), 0);
	ck_assert_str_eq(text, "");
	free(text);
	tu_list_dir(vmdir, names, sizeof(names));
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
	/* The VM's dir, made for a record whose temp file cannot be made
	 * (a name too long), goes with it. */
	ck_assert_int_eq(unlink(run), 0);
	char kind[300];
	memset(kind, 'k', sizeof(kind) - 1);
	kind[sizeof(kind) - 1] = '\0';
	ck_assert_int_eq(record_write(run, "vm1", kind, "x", &e), -ENAMETOOLONG);
	ck_assert_int_eq(access(vmdir, F_OK), -1);
}
END_TEST

/* A record is 0644 whatever the umask of the tool that writes it (a
 * reader of another user must read it, e.g. a VM user's runner-exec). */
START_TEST(record_mode_whatever_the_umask)
{
	struct mvm_error e;
	mode_t old = umask(077);
	int r = record_write(run, "vm1", "tap", "group 1\n", &e);
	umask(old);
	ck_assert_int_eq(r, 0);
	char *file = tu_path(vmdir, "tap");
	struct stat st;
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
	free(file);
}
END_TEST

/* Attack (issue 11, point 6): anything but a regular file in place of a
 * record is refused at once (a FIFO hung the helpers in open()), with the
 * record's path; a symlink is not followed, not even for RUNTIME/VM. */
START_TEST(read_refuses_what_is_not_a_record)
{
	struct mvm_error e;
	char *text = NULL, *file = tu_path(vmdir, "tap");
	ck_assert_int_eq(mkdir_p(vmdir, 0755), 0);
	ck_assert_int_eq(mkfifo(file, 0644), 0);
	ck_assert_int_eq(record_read(run, "vm1", "tap", &text, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "read", file, 0, "", "not a regular file");
	ck_assert_int_eq(unlink(file), 0);
	tu_write(root, "elsewhere", "group 1\n");
	char *other = tu_path(root, "elsewhere");
	tu_symlink(other, file);
	ck_assert_int_eq(record_read(run, "vm1", "tap", &text, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "read", file, 0, "", "not a regular file");
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(mkdir(file, 0755), 0);
	ck_assert_int_eq(record_read(run, "vm1", "tap", &text, &e), -EINVAL);
	ck_assert_int_eq(rmdir(file), 0);
	/* larger than 1 MiB */
	char *big = malloc(RECORD_MAX + 2);
	memset(big, 'a', RECORD_MAX + 1);
	big[RECORD_MAX + 1] = '\0';
	tu_write(vmdir, "tap", big);
	free(big);
	ck_assert_int_eq(record_read(run, "vm1", "tap", &text, &e), -EFBIG);
	tu_assert_error(&e, EFBIG, "read", file, 0, "", "larger than 1 MiB");
	/* RUNTIME/VM itself a symlink: not followed (nor taken for "none") */
	char *real = tu_path(root, "realvm");
	tu_write(real, "tap", "group 1\n");
	char *vm2 = tu_path(run, "vm2");
	tu_symlink(real, vm2);
	ck_assert_int_eq(record_read(run, "vm2", "tap", &text, &e), -ENOTDIR);
	tu_assert_error(&e, ENOTDIR, "open", vm2, 0, "", "not a directory (a symlink is not followed)");
	ck_assert_int_eq(record_write(run, "vm2", "tap", "x\n", &e), -ENOTDIR);
	ck_assert_int_eq(record_remove(run, "vm2", "tap", &e), -ENOTDIR);
	ck_assert_int_eq(access(real, F_OK), 0);
	ck_assert_ptr_null(text);
	free(vm2);
	free(real);
	free(other);
	free(file);
}
END_TEST

/* A write killed after its temporary file was made leaves KIND.tmp;
 * the next write replaces it, record_remove() removes it with the dir. */
START_TEST(temp_file_of_a_killed_write)
{
	struct mvm_error e;
	tu_write(vmdir, "pci.tmp", "half a rec");
	ck_assert_int_eq(record_remove(run, "vm1", "pci", &e), 0);
	ck_assert_int_eq(access(vmdir, F_OK), -1);
	tu_write(vmdir, "pci.tmp", "half a record that is longer\n");
	ck_assert_int_eq(record_write(run, "vm1", "pci", "new\n", &e), 0);
	char names[64], *text;
	tu_list_dir(vmdir, names, sizeof(names));
	ck_assert_str_eq(names, "pci");
	ck_assert_int_eq(record_read(run, "vm1", "pci", &text, &e), 0);
	ck_assert_str_eq(text, "new\n");
	free(text);
	char *p = NULL;
	ck_assert_int_eq(record_path(run, "vm1", "pci", &p, &e), 0);
	char *want = tu_path(vmdir, "pci");
	ck_assert_str_eq(p, want);
	free(want);
	free(p);
	ck_assert_int_eq(record_path(run, "a/b", "pci", &p, &e), -EINVAL);
	/* KIND.tmp a symlink: not written through (the file it names keeps
	 * what it had), and no record made. */
	ck_assert_int_eq(record_remove(run, "vm1", "pci", &e), 0);
	ck_assert_int_eq(mkdir_p(vmdir, 0755), 0);
	tu_write(root, "victim", "keep\n");
	char *victim = tu_path(root, "victim"), *tmp = tu_path(vmdir, "tap.tmp");
	tu_symlink(victim, tmp);
	ck_assert_int_eq(record_write(run, "vm1", "tap", "group 1\n", &e), -ELOOP);
	ck_assert_int_eq(read_file(victim, 64, &text, NULL), 0);
	ck_assert_str_eq(text, "keep\n");
	free(text);
	ck_assert_int_eq(record_read(run, "vm1", "tap", &text, &e), -ENOENT);
	free(tmp);
	free(victim);
}
END_TEST

/* ---- tap-setup's record ---- */

START_TEST(tap_record_round_trip)
{
	struct tap_record r = { .group = 65537 }, back;
	struct mvm_error e;
	ck_assert_int_eq(tap_record_add(&r, "vm1-a", 12, NULL), 0);
	ck_assert_int_eq(tap_record_add(&r, "mvt0", 14, "/dev/tap14"), 0);
	ck_assert_int_eq(tap_record_add(&r, "vm1-b", 0, NULL), 0);
	char *t = tap_record_text(&r);
	ck_assert_str_eq(t, "# tap-setup record 2\ngroup 65537\nvm1-a 12\nmvt0 14 /dev/tap14\n"
			    "vm1-b pending\n");
	ck_assert_int_eq(tap_record_parse(t, strlen(t), &back, &e), 0);
	ck_assert_uint_eq(back.group, 65537);
	ck_assert_uint_eq(back.n, 3);
	ck_assert_str_eq(back.v[1].name, "mvt0");
	ck_assert_int_eq(back.v[1].ifindex, 14);
	ck_assert_str_eq(back.v[1].node, "/dev/tap14");
	ck_assert_int_eq(back.v[2].ifindex, 0);
	ck_assert_ptr_null(back.v[2].node);
	free(t);
	tap_record_free(&back);
	tap_record_free(&r);

	/* version 1 (tap-setup 0.1.0), as down must still read it */
	const char *v1 = "group 70000\nvm1-a 5\nmvt0 6 /tmp/x/dev/tap6\n";
	ck_assert_int_eq(tap_record_parse(v1, strlen(v1), &back, &e), 0);
	ck_assert_uint_eq(back.group, 70000);
	ck_assert_uint_eq(back.n, 2);
	ck_assert_str_eq(back.v[1].node, "/tmp/x/dev/tap6");
	tap_record_free(&back);
}
END_TEST

#define NOT_GROUP "not the group line that follows the header ('group GID', GID above 0)"
static const struct {
	const char *text;
	unsigned line;
	const char *value;
	const char *reason; /* NULL: "not a line of a tap-setup record" */
} bad_tap[] = {
	{ "# tap-setup record 2\nvm1-a 5\n", 2, "vm1-a 5", NOT_GROUP }, /* no group line */
	{ "# tap-setup record 2\n", 1, "# tap-setup record 2", /* ... at all */
	  "the header without the group line that follows it" },
	{ "# tap-setup record 2\ngroup 0\nvm1-a pending\n", 2, "group 0", NOT_GROUP },
	{ "# tap-setup record 2\ngroup x\n", 2, "group x", NOT_GROUP },
	{ "vm1-a pending\n", 1, "vm1-a pending", NULL }, /* pending: version 2 */
	{ "# tap-setup record 2\ngroup 9\nvm1-a pending /dev/tap3\n", 3,
	  "vm1-a pending /dev/tap3", NULL },
	{ "group 1\nvm1-a 0\n", 2, "vm1-a 0", NULL },
	{ "group 1\nvm1-a 2147483648\n", 2, "vm1-a 2147483648", NULL },
	{ "group 1\nvm1-a -3\n", 2, "vm1-a -3", NULL },
	{ "group 1\nvm1/a 3\n", 2, "vm1/a 3", NULL },
	{ "group 1\nvm1-a-very-long-name 3\n", 2, "vm1-a-very-long-name 3", NULL },
	{ "group 1\nvm1-a 3 /dev/sda\n", 2, "vm1-a 3 /dev/sda", NULL }, /* not a tapN node */
	/* ... though as long as one, and ending in digits: down would have
	 * removed the terminal's character device */
	{ "group 1\nvm1-a 3 /dev/tty1\n", 2, "vm1-a 3 /dev/tty1", NULL },
	{ "group 1\nvm1-a 3 dev/tap3\n", 2, "vm1-a 3 dev/tap3", NULL }, /* not absolute */
	/* a control byte in its directory: the path down would log and unlink */
	{ "group 1\nvm1-a 3 /dev/\x1b[2J/tap3\n", 2, "vm1-a 3 /dev/\\x1b[2J/tap3", NULL },
	{ "group 1\nvm1-a  3\n", 2, "vm1-a  3", NULL },
	{ "group x\n", 1, "group x", NULL },
	{ "group 4294967296\n", 1, "group 4294967296", NULL },
	{ "group 1\nvm1-a\n", 2, "vm1-a", NULL },
	{ "group 1\nvm1-a 3\x01\n", 2, "vm1-a 3\\x01", NULL },
};

START_TEST(tap_record_bad_lines)
{
	struct tap_record r;
	struct mvm_error e;
	const char *t = bad_tap[_i].text;
	ck_assert_int_eq(tap_record_parse(t, strlen(t), &r, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "parse", "", bad_tap[_i].line, bad_tap[_i].value,
			bad_tap[_i].reason ? bad_tap[_i].reason : "not a line of a tap-setup record");
}
END_TEST

/* tap_record_load() names the file in its error, and an absent record is
 * an empty one. */
START_TEST(tap_record_load_names_file)
{
	struct tap_record r;
	struct mvm_error e;
	ck_assert_int_eq(tap_record_load(run, "vm1", "macvtap", &r, &e), 0);
	ck_assert_uint_eq(r.n, 0);
	tu_write(vmdir, "macvtap", "group 1\nbad line here\n");
	ck_assert_int_eq(tap_record_load(run, "vm1", "macvtap", &r, &e), -EINVAL);
	char *file = tu_path(vmdir, "macvtap");
	ck_assert_str_eq(e.path, file);
	ck_assert_uint_eq(e.line, 2);
	free(file);
}
END_TEST

/* ---- pci-bind's record ---- */

START_TEST(pci_record_round_trip)
{
	struct pci_record r = { 0 }, back;
	struct mvm_error e;
	const char *t = "# pci-bind: ADDRESS PREVIOUS-DRIVER listed|group\n"
			"0000:01:00.0 e1000e listed\n02:00.0 - group\n\n"
			"0000:01:00.0 other listed\n";
	ck_assert_int_eq(pci_record_parse(t, strlen(t), &r, &e), 0);
	ck_assert_uint_eq(r.n, 2); /* the second 01:00.0 counts once */
	ck_assert_str_eq(r.v[0].prev, "e1000e");
	ck_assert_str_eq(r.v[1].addr, "0000:02:00.0");
	ck_assert_str_eq(r.v[1].prev, "");
	ck_assert(r.v[1].by_group);
	char *text = pci_record_text(&r);
	ck_assert_str_eq(text, "# pci-bind record 3\n"
			       "# ADDRESS PREVIOUS-DRIVER listed|group PREVIOUS-OVERRIDE\n"
			       "# node GROUP UID GID MODE\n"
			       "0000:01:00.0 e1000e listed -\n0000:02:00.0 - group -\n");
	ck_assert_int_eq(pci_record_parse(text, strlen(text), &back, &e), 0);
	ck_assert_uint_eq(back.n, 2);
	free(text);
	pci_record_free(&back);
	pci_record_free(&r);
	static const char *const bad[] = { "0000:01:00.0 e1000e\n", "zz e1000e listed\n",
					   "0000:01:00.0 e1000e listed extra\n",
					   "0000:01:00.0 e1/000e listed\n",
					   "0000:01:00.0 e1000e sideways\n",
					   /* a driver name too long for its field, run
					    * into the next one (not read as two) */
					   "0000:01:00.0 "
					   "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
					   "listed\n" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ck_assert_int_eq(pci_record_parse(bad[i], strlen(bad[i]), &r, &e), -EINVAL);
		ck_assert_uint_eq(e.line, 1);
		ck_assert_str_eq(e.reason, "not a line of a pci-bind record");
	}
}
END_TEST

/* Version 2 keeps each device's driver_override from before bind (the
 * fourth field, "-" for none); a record of version 1 (no header, three
 * fields) still loads, with no override; both are written back as 3, and
 * the version read is said (pci-bind takes back the nodes of an earlier
 * version's groups). */
START_TEST(pci_record_version_2)
{
	struct pci_record r;
	struct mvm_error e;
	const char *v2 = "# pci-bind record 2\n"
			 "# ADDRESS PREVIOUS-DRIVER listed|group PREVIOUS-OVERRIDE\n"
			 "0000:01:00.0 e1000e listed pci-stub\n0000:02:00.0 - group -\n";
	ck_assert_int_eq(pci_record_parse(v2, strlen(v2), &r, &e), 0);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_int_eq(r.version, 2);
	char *text = pci_record_text(&r);
	ck_assert_str_eq(text, "# pci-bind record 3\n"
			       "# ADDRESS PREVIOUS-DRIVER listed|group PREVIOUS-OVERRIDE\n"
			       "# node GROUP UID GID MODE\n"
			       "0000:01:00.0 e1000e listed pci-stub\n0000:02:00.0 - group -\n");
	free(text);
	pci_record_free(&r);
	const char *v1 = "# pci-bind: ADDRESS PREVIOUS-DRIVER listed|group\n"
			 "0000:01:00.0 e1000e listed\n";
	ck_assert_int_eq(pci_record_parse(v1, strlen(v1), &r, &e), 0);
	ck_assert_int_eq(r.version, 1);
	text = pci_record_text(&r);
	ck_assert_str_eq(text, "# pci-bind record 3\n"
			       "# ADDRESS PREVIOUS-DRIVER listed|group PREVIOUS-OVERRIDE\n"
			       "# node GROUP UID GID MODE\n"
			       "0000:01:00.0 e1000e listed -\n");
	free(text);
	pci_record_free(&r);
	static const char *const bad[] = {
		/* version 2 lines have four fields, version 1 lines three */
		"# pci-bind record 2\n0000:01:00.0 e1000e listed\n",
		"# pci-bind record 2\n0000:01:00.0 e1000e listed - x\n",
		"# pci-bind record 2\n0000:01:00.0 e1000e listed pci/stub\n",
		"0000:01:00.0 e1000e listed pci-stub\n",
		/* the header counts on the first line that is not blank alone */
		"# pci-bind: ADDRESS PREVIOUS-DRIVER listed|group\n# pci-bind record 2\n"
		"0000:01:00.0 e1000e listed pci-stub\n",
		/* node lines and claims are of version 3 */
		"# pci-bind record 2\nnode 5 0 36 0660\n",
		"# pci-bind record 2\n0000:01:00.0 ? listed ?\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ck_assert_msg(pci_record_parse(bad[i], strlen(bad[i]), &r, &e) == -EINVAL, "%s",
			      bad[i]);
		ck_assert_str_eq(e.reason, "not a line of a pci-bind record");
	}
}
END_TEST

/* Version 3 adds a line for each group's node that bind changed: what it
 * was before (owner, group, octal mode), which unbind puts back (a group
 * named twice counts once, its first line); and devices claimed, "?" for
 * what they had, which bind has not read again yet. */
START_TEST(pci_record_version_3)
{
	struct pci_record r;
	struct mvm_error e;
	const char *v3 = "# pci-bind record 3\n"
			 "# ADDRESS PREVIOUS-DRIVER listed|group PREVIOUS-OVERRIDE\n"
			 "# node GROUP UID GID MODE\n"
			 "0000:01:00.0 e1000e listed -\n"
			 "node 5 0 36 0660\n"
			 "node 0 4294967294 0 0600\n";
	ck_assert_int_eq(pci_record_parse(v3, strlen(v3), &r, &e), 0);
	ck_assert_int_eq(r.version, 3);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.nn, 2);
	ck_assert_str_eq(r.nodes[0].group, "5");
	ck_assert_uint_eq(r.nodes[0].uid, 0);
	ck_assert_uint_eq(r.nodes[0].gid, 36);
	ck_assert_uint_eq(r.nodes[0].mode, 0660);
	ck_assert_uint_eq(r.nodes[1].uid, 4294967294u);
	char *text = pci_record_text(&r);
	ck_assert_str_eq(text, v3);
	free(text);
	pci_record_free(&r);
	/* a device claimed, what it had not read yet */
	const char *claim = "# pci-bind record 3\n"
			    "# ADDRESS PREVIOUS-DRIVER listed|group PREVIOUS-OVERRIDE\n"
			    "# node GROUP UID GID MODE\n"
			    "0000:01:00.0 ? group ?\n";
	ck_assert_int_eq(pci_record_parse(claim, strlen(claim), &r, &e), 0);
	ck_assert(r.v[0].claimed && r.v[0].by_group);
	ck_assert_str_eq(r.v[0].prev, "");
	ck_assert_str_eq(r.v[0].override, "");
	text = pci_record_text(&r);
	ck_assert_str_eq(text, claim);
	free(text);
	pci_record_free(&r);
	const char *twice = "# pci-bind record 3\nnode 5 0 36 0660\nnode 5 990 78 0660\n";
	ck_assert_int_eq(pci_record_parse(twice, strlen(twice), &r, &e), 0);
	ck_assert_uint_eq(r.nn, 1);
	ck_assert_uint_eq(r.nodes[0].uid, 0);
	pci_record_free(&r);
	static const char *const bad[] = {
		"node 5 0 36\n",
		"node 5 0 36 0660 x\n",
		"node x 0 36 0660\n",
		"node 05 0 36 0660\n",
		"node 5/6 0 36 0660\n",
		"node 5 -1 36 0660\n",
		/* (uid_t)-1 and (gid_t)-1 are no owner: chown(2) leaves it */
		"node 5 4294967295 36 0660\n",
		"node 5 0 4294967295 0660\n",
		"node 5 0 36 0680\n",
		"node 5 0 36 10000\n",
		"nodes 5 0 36 0660\n",
		"node 1234567890123456 0 36 0660\n",
		/* "?" is no driver name: both fields, or neither */
		"0000:01:00.0 ? listed -\n",
		"0000:01:00.0 e1000e listed ?\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *t = xasprintf("# pci-bind record 3\n%s", bad[i]);
		ck_assert_msg(pci_record_parse(t, strlen(t), &r, &e) == -EINVAL, "%s", bad[i]);
		ck_assert_uint_eq(e.line, 2);
		ck_assert_str_eq(e.reason, "not a line of a pci-bind record");
		free(t);
	}
}
END_TEST

/* Found in review: a record cut short (a partial copy, a file written
 * other than by record_write()) whose last line still parses was read as
 * whole: "node 5 0 36 0660" cut to "node 5 0 36 06" made unbind give
 * /dev/vfio/5 mode 0006, to everyone; "pci-stub" cut to "pci-st" an
 * override no one set. Every version's writer ends each line with a
 * newline: a last line without one is refused, on its line. */
START_TEST(pci_record_cut_short)
{
	static const char *const cut[] = {
		"# pci-bind record 3\n0000:01:00.0 e1000e listed -\nnode 5 0 36 06",
		"# pci-bind record 3\n0000:01:00.0 e1000e listed pci-st",
		"# pci-bind record 2\n0000:01:00.0 e1000e listed pci-st",
		"0000:01:00.0 e1000e listed\n0000:02:00.0 - listed",
	};
	for (size_t i = 0; i < ARRAY_SIZE(cut); i++) {
		struct pci_record r;
		struct mvm_error e;
		size_t lines = 1;
		for (const char *c = cut[i]; *c; c++)
			lines += *c == '\n';
		int rc = pci_record_parse(cut[i], strlen(cut[i]), &r, &e);
		if (rc == 0) {
			char mode[32] = "";
			if (r.nn)
				snprintf(mode, sizeof(mode), ", mode %04o", (unsigned)r.nodes[0].mode);
			ck_abort_msg("a record cut short was read as whole (%zu devices, %zu nodes%s): "
				     "%s",
				     r.n, r.nn, mode, cut[i]);
		}
		ck_assert_int_eq(rc, -EINVAL);
		ck_assert_uint_eq(e.line, lines);
		ck_assert_str_eq(e.reason, "its last line is cut short (no newline at its end)");
	}
}
END_TEST

/* A NUL byte in a record (a damaged file) is an error on its line, not
 * the end of the record: what follows it is still to be taken back. */
START_TEST(record_with_a_nul_is_refused)
{
	static const char tap[] = "# tap-setup record 2\ngroup 5\nvm-a 12\0\nvm-b 13\nvm-c 14\n";
	static const char pci[] = "# x\0\n0000:01:00.0 - listed\n";
	struct tap_record r;
	struct pci_record p;
	struct mvm_error e;
	tu_write_n(vmdir, "tap", tap, sizeof(tap) - 1);
	ck_assert_int_eq(tap_record_load(run, "vm1", "tap", &r, &e), -EINVAL);
	ck_assert_uint_eq(e.line, 3);
	ck_assert_str_eq(e.value, "vm-a 12\\x00");
	tu_write_n(vmdir, "pci", pci, sizeof(pci) - 1);
	ck_assert_int_eq(pci_record_load(run, "vm1", &p, &e), -EINVAL);
	ck_assert_uint_eq(e.line, 1);
	ck_assert_str_eq(e.value, "# x\\x00");
}
END_TEST

/* ---- record_each_other_vm() ---- */

struct others_seen {
	char names[256];
	int calls, stop_at, ret;
};

static int others_collect(const char *other, void *arg)
{
	struct others_seen *o = arg;
	o->calls++;
	size_t n = strlen(o->names);
	snprintf(o->names + n, sizeof(o->names) - n, "%s%s", n ? " " : "", other);
	return o->calls == o->stop_at ? o->ret : 0;
}

/* The names seen, sorted: readdir() gives them in no set order. */
static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}
static void sort_names(char *s)
{
	char *v[16], *save = NULL, buf[256];
	size_t n = 0;
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *w = strtok_r(buf, " ", &save); w && n < 16; w = strtok_r(NULL, " ", &save))
		v[n++] = w;
	qsort(v, n, sizeof(*v), name_cmp);
	char out[256] = "";
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? " " : "", v[i]);
	strcpy(s, out);
}

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* The walk over the other VMs' record directories that pci-bind (which
 * devices another VM holds) and tap-setup (which links another VM's
 * record names) share: only directories of root's, unwritable by group
 * and others, named as a VM is, other than self; it stops at the first
 * non-zero return of fn (else a later VM's 0 would hide an earlier VM's
 * hold), and leaves no descriptor open. */
START_TEST(each_other_vm)
{
	struct mvm_error e;
	struct others_seen o = {0};
	int fds = open_fds();
	ck_assert_int_eq(record_each_other_vm(run, "vm1", others_collect, &o, &e), 0);
	ck_assert_int_eq(o.calls, 0); /* no runtime dir: no other VM */

	const char *dirs[] = {"vm1", "vm2", "vm3", "vm4", "x.lock", "user", "groupw", "otherw"};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		char *p = tu_path(run, dirs[i]);
		ck_assert_int_eq(mkdir_p(p, 0755), 0);
		ck_assert_int_eq(chmod(p, 0755), 0);
		free(p);
	}
	char *p = tu_path(run, "user");
	ck_assert_int_eq(chown(p, 990, 0), 0);
	free(p);
	p = tu_path(run, "groupw");
	ck_assert_int_eq(chmod(p, 0775), 0);
	free(p);
	p = tu_path(run, "otherw");
	ck_assert_int_eq(chmod(p, 0757), 0);
	free(p);
	tu_write(run, "vm2.lock", "");
	tu_write(run, "file", "");
	p = tu_path(run, "link");
	tu_symlink("vm2", p);
	free(p);

	ck_assert_int_eq(record_each_other_vm(run, "vm1", others_collect, &o, &e), 0);
	sort_names(o.names);
	ck_assert_str_eq(o.names, "vm2 vm3 vm4");
	ck_assert_int_eq(o.calls, 3);

	/* Stops at the first that is not 0, whichever it is, and returns it. */
	for (int ret = -EIO; ret <= 1; ret += EIO + 1) {
		for (int at = 1; at <= 3; at++) {
			o = (struct others_seen){.stop_at = at, .ret = ret};
			ck_assert_int_eq(record_each_other_vm(run, "vm1", others_collect, &o, &e), ret);
			ck_assert_msg(o.calls == at, "fn returned %d at call %d, but was called %d times",
				      ret, at, o.calls);
		}
	}
	ck_assert_int_eq(open_fds(), fds);

	/* A runtime dir that cannot be listed: an error naming it. */
	char *file = tu_path(root, "runfile");
	tu_write(root, "runfile", "");
	o = (struct others_seen){0};
	ck_assert_int_eq(record_each_other_vm(file, "vm1", others_collect, &o, &e), -ENOTDIR);
	tu_assert_error(&e, ENOTDIR, "list", file, 0, "", NULL);
	ck_assert_int_eq(o.calls, 0);
	ck_assert_int_eq(open_fds(), fds);
	free(file);
}
END_TEST

Suite *record_suite(void)
{
	Suite *s = suite_create("record");
	TCase *tc = tu_tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, atomic_replace);
	tcase_add_test(tc, remove_records);
	tcase_add_test(tc, bad_vm_name);
	tcase_add_test(tc, write_fails);
	tcase_add_test(tc, record_mode_whatever_the_umask);
	tcase_add_test(tc, read_refuses_what_is_not_a_record);
	tcase_add_test(tc, temp_file_of_a_killed_write);
	tcase_add_test(tc, tap_record_round_trip);
	tcase_add_loop_test(tc, tap_record_bad_lines, 0, (int)ARRAY_SIZE(bad_tap));
	tcase_add_test(tc, tap_record_load_names_file);
	tcase_add_test(tc, pci_record_round_trip);
	tcase_add_test(tc, pci_record_version_2);
	tcase_add_test(tc, pci_record_version_3);
	tcase_add_test(tc, pci_record_cut_short);
	tcase_add_test(tc, record_with_a_nul_is_refused);
	tcase_add_test(tc, each_other_vm);
	suite_add_tcase(s, tc);
	return s;
}
