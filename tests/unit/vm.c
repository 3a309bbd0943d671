/* SPDX-License-Identifier: MIT */
/* common/vm.h: opening a VM, the trust rule of DESIGN.md section 3, and
 * the vm_* readers of the layout files (errors name the file, the line
 * and the value). Everything runs in a fresh tree under /tmp (as root). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "util.h"
#include "vm.h"

static struct tu_vm t;

static void setup(void)
{
	tu_vm_make(&t, "vm1");
}

static void teardown(void)
{
	tu_vm_free(&t);
	/* as main() set them, whatever a test that failed left */
	setenv("MICROVM_RUNNER_ROOTS", "/tmp", 1);
	setenv("MICROVM_RUNNER_PINS", TU_NO_PINS, 1);
}

/* a/b in one of a few static buffers: for expected paths. */
static const char *P(const char *a, const char *b)
{
	static char bufs[8][PATH_MAX];
	static unsigned k;
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s/%s", a, b); /* a or b may be an earlier P() */
	char *s = bufs[k++ % 8];
	memcpy(s, tmp, sizeof(tmp));
	return s;
}

/* RUNNER/rel */
static const char *R(const char *rel)
{
	return P(t.runner, rel);
}

static void open_ok(struct vm *v)
{
	struct mvm_error e;
	int r = vm_open(v, t.state, t.name, VM_CURRENT, false, &e);
	ck_assert_msg(r == 0, "vm_open: %s", tu_error_str(&e));
}

/* Call the reader that belongs to rel; free what it returns. */
static int read_any(const struct vm *v, const char *rel, struct mvm_error *e)
{
	int r;
	if (strstr(rel, "macvtap-interfaces")) {
		struct macvtap_list l;
		r = vm_macvtap_interfaces(v, &l, e);
		if (r == 0)
			macvtap_list_free(&l);
	} else if (strstr(rel, "tap-interfaces")) {
		struct ifname_list l;
		r = vm_tap_interfaces(v, &l, e);
		if (r == 0)
			ifname_list_free(&l);
	} else if (strstr(rel, "tap-flags")) {
		unsigned f;
		r = vm_tap_flags(v, &f, e);
	} else if (strstr(rel, "pci-devices")) {
		struct pci_list l;
		r = vm_pci_devices(v, &l, e);
		if (r == 0)
			pci_list_free(&l);
	} else if (strstr(rel, "virtiofs")) {
		struct share_list l;
		r = vm_shares(v, &l, e);
		if (r == 0)
			share_list_free(&l);
	} else {
		char *p;
		r = vm_executable(v, rel, &p, e);
		if (r == 0)
			free(p);
	}
	return r;
}

/* ---- vm_open ---- */

START_TEST(open_current)
{
	struct vm v;
	open_ok(&v);
	ck_assert_str_eq(v.name, "vm1");
	ck_assert_str_eq(v.dir, t.dir);
	ck_assert_str_eq(v.link, P(t.dir, "current"));
	ck_assert_str_eq(v.runner, t.runner);
	ck_assert(!v.allow_untrusted);
	vm_close(&v);
	ck_assert_ptr_null(v.runner);
}
END_TEST

START_TEST(open_booted)
{
	struct vm v;
	struct mvm_error e;
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_BOOTED, false, &e), -ENOENT);
	tu_assert_error(&e, ENOENT, "resolve", P(t.dir, "booted"), 0, "", NULL);
	/* booted may point elsewhere than current, through a chain of links. */
	char *other = tu_path(t.root, "runner2");
	ck_assert_int_eq(mkdir(other, 0755), 0);
	tu_symlink("../../hop", P(t.dir, "booted"));
	tu_symlink(other, P(t.root, "hop"));
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_BOOTED, false, &e), 0);
	ck_assert_str_eq(v.runner, other);
	ck_assert_str_eq(v.link, P(t.dir, "booted"));
	vm_close(&v);
	/* A runner gone since (collected): named with where booted points. */
	ck_assert_int_eq(unlink(P(t.dir, "booted")), 0);
	tu_symlink(P(t.root, "collected"), P(t.dir, "booted"));
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_BOOTED, false, &e), -ENOENT);
	tu_assert_error(&e, ENOENT, "resolve", P(t.dir, "booted"), 0, P(t.root, "collected"), NULL);
	/* ... that target escaped, as every value shown is. */
	ck_assert_int_eq(unlink(P(t.dir, "booted")), 0);
	tu_symlink(P(t.root, "it's\ngone"), P(t.dir, "booted"));
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_BOOTED, false, &e), -ENOENT);
	tu_assert_error(&e, ENOENT, "resolve", P(t.dir, "booted"), 0,
			P(t.root, "it\\'s\\x0agone"), NULL);
	free(other);
}
END_TEST

START_TEST(open_missing)
{
	struct vm v;
	struct mvm_error e;
	ck_assert_int_eq(unlink(P(t.dir, "current")), 0);
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e), -ENOENT);
	tu_assert_error(&e, ENOENT, "resolve", P(t.dir, "current"), 0, "", NULL);
	/* A current pointing nowhere: named with where it points. */
	tu_symlink(P(t.root, "gone"), P(t.dir, "current"));
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e), -ENOENT);
	tu_assert_error(&e, ENOENT, "resolve", P(t.dir, "current"), 0, P(t.root, "gone"), NULL);
	/* No such VM (named so, not by its `current`), no such state dir. */
	ck_assert_int_eq(vm_open(&v, t.state, "vm2", VM_CURRENT, false, &e), -ENOENT);
	tu_assert_error(&e, ENOENT, "find VM", "vm2", 0, "", NULL);
	char *why = xasprintf("no directory '%s'", P(t.state, "vm2"));
	ck_assert_str_eq(mvm_error_reason(&e), why);
	free(why);
	ck_assert_int_eq(vm_open(&v, P(t.root, "nostate"), "vm1", VM_CURRENT, false, &e), -ENOENT);
	tu_assert_error(&e, ENOENT, "open state dir", P(t.root, "nostate"), 0, "", NULL);
}
END_TEST

static const struct {
	const char *name;
	const char *shown; /* escaped, as in the message */
	const char *reason;
} bad_names[] = {
	{"a/b", "a/b", "a name may not contain '/'"},
	{"/vm1", "/vm1", "a name may not contain '/'"},
	{"..", "..", "'.' and '..' are not names"},
	{".", ".", "'.' and '..' are not names"},
	{"", "", "empty name"},
	{"a\x01" "b", "a\\x01b", "a name may not contain control characters"},
	{"vm1\n", "vm1\\x0a", "a name may not contain control characters"},
	{"vm\x7f", "vm\\x7f", "a name may not contain control characters"},
	{"vm1.lock", NULL, "a name may not end in '.lock' (the runtime dir's lock file of another VM)"},
	{".lock", NULL, "a name may not end in '.lock' (the runtime dir's lock file of another VM)"},
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 129 bytes */
	 NULL, "name too long"},
};

START_TEST(open_bad_name)
{
	struct vm v = {0};
	struct mvm_error e;
	const char *name = bad_names[_i].name;
	const char *shown = bad_names[_i].shown ? bad_names[_i].shown : name;
	ck_assert_int_eq(vm_open(&v, t.state, name, VM_CURRENT, false, &e), -EINVAL);
	/* e.path holds the name as it is; it is escaped when shown */
	tu_assert_error(&e, EINVAL, "use VM name", name, 0, "", bad_names[_i].reason);
	char want[512];
	snprintf(want, sizeof(want), "unable to use VM name '%s': %s", shown, bad_names[_i].reason);
	ck_assert_str_eq(tu_error_str(&e), want);
	ck_assert_ptr_null(v.runner);
	ck_assert_int_eq(vm_name_check(name, &e), -EINVAL);
	ck_assert_int_eq(vm_name_check(name, NULL), -EINVAL);
}
END_TEST

START_TEST(open_name_128)
{
	char name[VM_NAME_MAX + 1];
	memset(name, 'a', VM_NAME_MAX);
	name[VM_NAME_MAX] = '\0';
	ck_assert_uint_eq(strlen(name), 128);
	ck_assert_int_eq(mkdir(P(t.state, name), 0755), 0);
	tu_symlink(t.runner, P(P(t.state, name), "current"));
	struct vm v;
	struct mvm_error e;
	ck_assert_int_eq(vm_open(&v, t.state, name, VM_CURRENT, false, &e), 0);
	ck_assert_str_eq(v.name, name);
	vm_close(&v);
	ck_assert_int_eq(vm_name_check("vm-1.test_x@y", &e), 0);
}
END_TEST

/* Only a name that ends in ".lock" is refused (a lock file is NAME.lock,
 * never more after it): ".lock" elsewhere in a name, or a suffix that is
 * not all of it, names a VM as any other. */
START_TEST(lock_elsewhere_is_a_name)
{
	static const char *const ok[] = {"vm1.locked", "vm1.lock.d", "vm1.loc", "vm1.locx",
					 "vm1lock",    "lock",       ".lockx",  "vm1.LOCK"};
	struct mvm_error e;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		ck_assert_msg(vm_name_check(ok[i], &e) == 0, "'%s' refused: %s", ok[i],
			      tu_error_str(&e));
}
END_TEST

/* ---- the readers: good files ---- */

START_TEST(read_every_format)
{
	tu_write(t.runner, "share/microvm/tap-interfaces", "tap0\ntap1\n");
	tu_write(t.runner, "share/microvm/tap-flags", "vnet_hdr multi_queue\n");
	tu_write(t.runner, "share/microvm/macvtap-interfaces",
		 "mv0 02:00:00:00:00:01 eth0 bridge\nmv1 02:00:00:00:00:02 eth0 vepa\n");
	tu_write(t.runner, "share/microvm/pci-devices", "01:00.0\n0000:02:00.1\n");
	tu_write(t.runner, "share/microvm/virtiofs/ro-store/source", "/nix/store\n");
	tu_write(t.runner, "share/microvm/virtiofs/ro-store/socket", "vm1-virtiofs-ro-store.sock\n");
	tu_write(t.runner, "share/microvm/virtiofs/data/source", "data\n");
	tu_write(t.runner, "share/microvm/virtiofs/data/socket", "/run/vm1/data.sock\n");
	struct vm v;
	struct mvm_error e;
	open_ok(&v);

	struct ifname_list tl;
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), 0);
	ck_assert_uint_eq(tl.n, 2);
	ck_assert_str_eq(tl.v[0], "tap0");
	ck_assert_str_eq(tl.v[1], "tap1");
	ifname_list_free(&tl);

	unsigned f;
	ck_assert_int_eq(vm_tap_flags(&v, &f, &e), 0);
	ck_assert_uint_eq(f, TAP_FLAG_VNET_HDR | TAP_FLAG_MULTI_QUEUE);

	struct macvtap_list ml;
	ck_assert_int_eq(vm_macvtap_interfaces(&v, &ml, &e), 0);
	ck_assert_uint_eq(ml.n, 2);
	ck_assert_str_eq(ml.v[0].id, "mv0");
	ck_assert_str_eq(ml.v[0].link, "eth0");
	ck_assert_int_eq(ml.v[0].mode, MACVTAP_BRIDGE);
	ck_assert_uint_eq(ml.v[1].mac[5], 2);
	ck_assert_int_eq(ml.v[1].mode, MACVTAP_VEPA);
	macvtap_list_free(&ml);

	struct pci_list pl;
	ck_assert_int_eq(vm_pci_devices(&v, &pl, &e), 0);
	ck_assert_uint_eq(pl.n, 2);
	ck_assert_str_eq(pl.v[0].str, "0000:01:00.0");
	ck_assert_str_eq(pl.v[1].str, "0000:02:00.1");
	pci_list_free(&pl);

	/* Sorted by tag; relative paths resolved against the VM's state dir. */
	struct share_list sl;
	ck_assert_int_eq(vm_shares(&v, &sl, &e), 0);
	ck_assert_uint_eq(sl.n, 2);
	ck_assert_str_eq(sl.v[0].tag, "data");
	ck_assert_str_eq(sl.v[0].source, P(t.dir, "data"));
	ck_assert_str_eq(sl.v[0].socket, "/run/vm1/data.sock");
	ck_assert_str_eq(sl.v[1].tag, "ro-store");
	ck_assert_str_eq(sl.v[1].source, "/nix/store");
	ck_assert_str_eq(sl.v[1].socket, P(t.dir, "vm1-virtiofs-ro-store.sock"));
	share_list_free(&sl);
	ck_assert_uint_eq(sl.n, 0);

	char *buf;
	size_t len;
	ck_assert_int_eq(vm_read(&v, "share/microvm/tap-interfaces", &buf, &len, &e), 0);
	ck_assert_str_eq(buf, "tap0\ntap1\n");
	ck_assert_uint_eq(len, 10);
	free(buf);
	vm_close(&v);
}
END_TEST

/* The state dir is the VM user's to write: relative share paths resolve
 * against its real path, whatever the path given. */
START_TEST(shares_relative_to_real_state_dir)
{
	tu_write(t.runner, "share/microvm/virtiofs/s/source", "src\n");
	tu_write(t.runner, "share/microvm/virtiofs/s/socket", "sock/s.sock\n");
	tu_symlink(t.state, P(t.root, "state-link"));
	struct vm v;
	struct mvm_error e;
	ck_assert_int_eq(vm_open(&v, P(t.root, "state-link/"), "vm1", VM_CURRENT, false, &e), 0);
	struct share_list sl;
	ck_assert_int_eq(vm_shares(&v, &sl, &e), 0);
	ck_assert_uint_eq(sl.n, 1);
	ck_assert_str_eq(sl.v[0].source, P(t.dir, "src"));
	ck_assert_str_eq(sl.v[0].socket, P(t.dir, "sock/s.sock"));
	share_list_free(&sl);
	vm_close(&v);
}
END_TEST

/* A missing optional file is nothing to do: an empty result and 0. */
START_TEST(missing_files_are_empty)
{
	struct vm v;
	struct mvm_error e;
	open_ok(&v);
	struct ifname_list tl = {.n = 9};
	struct macvtap_list ml = {.n = 9};
	struct pci_list pl = {.n = 9};
	struct share_list sl = {.n = 9};
	unsigned f = 9;
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), 0);
	ck_assert_uint_eq(tl.n, 0);
	ck_assert_int_eq(vm_tap_flags(&v, &f, &e), 0);
	ck_assert_uint_eq(f, 0);
	ck_assert_int_eq(vm_macvtap_interfaces(&v, &ml, &e), 0);
	ck_assert_uint_eq(ml.n, 0);
	ck_assert_int_eq(vm_pci_devices(&v, &pl, &e), 0);
	ck_assert_uint_eq(pl.n, 0);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), 0);
	ck_assert_uint_eq(sl.n, 0);
	char *buf = NULL;
	ck_assert_int_eq(vm_read(&v, "share/microvm/tap-interfaces", &buf, NULL, &e), -ENOENT);
	ck_assert_ptr_null(buf);
	/* share/microvm there but empty: the same. */
	ck_assert_int_eq(mkdir_p(R("share/microvm/virtiofs"), 0755), 0);
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), 0);
	ck_assert_uint_eq(tl.n, 0);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), 0);
	ck_assert_uint_eq(sl.n, 0);
	vm_close(&v);
}
END_TEST

START_TEST(crlf_files)
{
	tu_write(t.runner, "share/microvm/tap-interfaces", "tap0\r\ntap1\r\n");
	tu_write(t.runner, "share/microvm/pci-devices", "01:00.0\r\n");
	tu_write(t.runner, "share/microvm/virtiofs/x/source", "/srv/x\r\n");
	tu_write(t.runner, "share/microvm/virtiofs/x/socket", "x.sock\r\n");
	struct vm v;
	struct mvm_error e;
	open_ok(&v);
	struct ifname_list tl;
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), 0);
	ck_assert_uint_eq(tl.n, 2);
	ck_assert_str_eq(tl.v[1], "tap1");
	ifname_list_free(&tl);
	struct pci_list pl;
	ck_assert_int_eq(vm_pci_devices(&v, &pl, &e), 0);
	ck_assert_uint_eq(pl.n, 1);
	ck_assert_str_eq(pl.v[0].str, "0000:01:00.0");
	pci_list_free(&pl);
	struct share_list sl;
	ck_assert_int_eq(vm_shares(&v, &sl, &e), 0);
	ck_assert_str_eq(sl.v[0].source, "/srv/x");
	ck_assert_str_eq(sl.v[0].socket, P(t.dir, "x.sock"));
	share_list_free(&sl);
	vm_close(&v);
}
END_TEST

/* ---- the readers: bad files name the file, the line and the value ---- */

static const struct {
	const char *rel;
	const char *content;
	size_t len; /* 0: strlen */
	unsigned line;
	const char *value;
	const char *reason;
} bad_files[] = {
	{"share/microvm/tap-interfaces", "tap0\nabcdefghijklmnop\n", 0, 2, "abcdefghijklmnop",
	 "interface name of 16 bytes or more"},
	{"share/microvm/tap-interfaces", "tap/0\n", 0, 1, "tap/0", "interface name with '/' or ':'"},
	{"share/microvm/tap-interfaces", "tap0\n\ntap:0\n", 0, 3, "tap:0",
	 "interface name with '/' or ':'"},
	{"share/microvm/tap-interfaces", "..\n", 0, 1, "..", "'.' and '..' are not interface names"},
	{"share/microvm/tap-interfaces", ".\n", 0, 1, ".", "'.' and '..' are not interface names"},
	{"share/microvm/tap-interfaces", "tap0\ntap0\n", 0, 2, "tap0", "duplicate interface name"},
	{"share/microvm/tap-interfaces", "tap\xfe\n", 0, 1, "tap\\xfe",
	 "interface name with white space, a control or non-ASCII byte"},
	{"share/microvm/tap-interfaces", "tap0\0\n", 6, 1, "tap0\\x00", "NUL byte"},
	{"share/microvm/tap-flags", "vnet_hdr\nfast\n", 0, 2, "fast",
	 "unknown flag (known: vnet_hdr, multi_queue)"},
	{"share/microvm/tap-flags", "multi_queue multi_queue\n", 0, 1, "multi_queue",
	 "duplicate flag"},
	{"share/microvm/macvtap-interfaces", "mv0 02:00:00:00:00:1 eth0 bridge\n", 0, 1,
	 "02:00:00:00:00:1", "invalid MAC address (want unicast aa:bb:cc:dd:ee:ff)"},
	{"share/microvm/macvtap-interfaces", "mv0 02:00:00:00:00:01 eth0 bridge\n"
					     "mv1 02:00:00:00:00:02 eth0 switch\n",
	 0, 2, "switch", "unknown mode (known: private, vepa, bridge, passthru, source)"},
	{"share/microvm/macvtap-interfaces", "mv0 02:00:00:00:00:01 eth0 bridge\n"
					     "mv0 02:00:00:00:00:02 eth1 bridge\n",
	 0, 2, "mv0", "duplicate interface name"},
	{"share/microvm/pci-devices", "0000:01:00.0\n0000:01:xx.0\n", 0, 2, "0000:01:xx.0",
	 "invalid PCI address (want DDDD:BB:DD.F or BB:DD.F)"},
	{"share/microvm/pci-devices", "01:00.0\n0000:01:00.0\n", 0, 2, "0000:01:00.0",
	 "duplicate PCI address"},
	{"share/microvm/virtiofs/s/source", "\n", 0, 1, "", "no path"},
	{"share/microvm/virtiofs/s/source", "/a\n/b\n", 0, 2, "/b", "more than one path"},
	{"share/microvm/virtiofs/s/socket", "s\x1b.sock\n", 0, 1, "s\\x1b.sock",
	 "path with a control character"},
	{"share/microvm/virtiofs/s/read-only", "\nyes\n", 0, 2, "yes",
	 "unknown value (known: true, false)"},
	{"share/microvm/virtiofs/s/cache", "auto\r\nnever\r\n", 0, 2, "never",
	 "more than one value"},
	{"share/microvm/virtiofs/s/posix-acl", "", 0, 1, "", "no value"},
	{"share/microvm/virtiofs/s/inode-file-handles", "fallback\n", 0, 1, "fallback",
	 "unknown value (known: never, prefer, mandatory)"},
	{"share/microvm/virtiofs/s/tag", "a/b\n", 0, 1, "a/b", "a name may not contain '/'"},
	{"share/microvm/virtiofs/s/extra-args", "--a\n--b\x7f\n", 0, 2, "--b\\x7f",
	 "an argument with a control character"},
};

START_TEST(bad_file)
{
	const char *rel = bad_files[_i].rel;
	size_t len = bad_files[_i].len ? bad_files[_i].len : strlen(bad_files[_i].content);
	if (strstr(rel, "/virtiofs/")) {
		tu_write(t.runner, "share/microvm/virtiofs/s/source", "/srv\n");
		tu_write(t.runner, "share/microvm/virtiofs/s/socket", "s.sock\n");
	}
	tu_write_n(t.runner, rel, bad_files[_i].content, len);
	struct vm v;
	struct mvm_error e;
	open_ok(&v);
	ck_assert_int_eq(read_any(&v, rel, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "parse", R(rel), bad_files[_i].line, bad_files[_i].value,
			bad_files[_i].reason);
	/* The whole line main() prints. */
	char want[PATH_MAX + 512];
	snprintf(want, sizeof(want), "unable to parse '%s' line %u: %s: '%s'", R(rel),
		 bad_files[_i].line, bad_files[_i].reason, bad_files[_i].value);
	if (!bad_files[_i].value[0])
		snprintf(want, sizeof(want), "unable to parse '%s' line %u: %s", R(rel),
			 bad_files[_i].line, bad_files[_i].reason);
	ck_assert_str_eq(tu_error_str(&e), want);
	vm_close(&v);
}
END_TEST

START_TEST(ifname_15_and_16_bytes)
{
	struct vm v;
	struct mvm_error e;
	struct ifname_list tl;
	tu_write(t.runner, "share/microvm/tap-interfaces", "vm1-tap-abcdefg\n");
	open_ok(&v);
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), 0);
	ck_assert_uint_eq(tl.n, 1);
	ck_assert_str_eq(tl.v[0], "vm1-tap-abcdefg");
	ifname_list_free(&tl);
	tu_write(t.runner, "share/microvm/tap-interfaces", "vm1-tap-abcdefgh\n");
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "parse", R("share/microvm/tap-interfaces"), 1,
			"vm1-tap-abcdefgh", "interface name of 16 bytes or more");
	vm_close(&v);
}
END_TEST

START_TEST(file_is_directory)
{
	const char *rel = "share/microvm/tap-interfaces";
	ck_assert_int_eq(mkdir_p(R(rel), 0755), 0);
	struct vm v;
	struct mvm_error e;
	open_ok(&v);
	struct ifname_list tl = {.n = 7};
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), -EISDIR);
	tu_assert_error(&e, EISDIR, "read", R(rel), 0, "", NULL);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want), "unable to read '%s': Is a directory", R(rel));
	ck_assert_str_eq(tu_error_str(&e), want);
	/* The same for the other readers. */
	ck_assert_int_eq(mkdir_p(R("share/microvm/pci-devices"), 0755), 0);
	struct pci_list pl;
	ck_assert_int_eq(vm_pci_devices(&v, &pl, &e), -EISDIR);
	ck_assert_str_eq(e.path, R("share/microvm/pci-devices"));
	ck_assert_int_eq(mkdir_p(R("share/microvm/virtiofs/s/source"), 0755), 0);
	struct share_list sl;
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EISDIR);
	ck_assert_str_eq(e.path, R("share/microvm/virtiofs/s/source"));
	vm_close(&v);
}
END_TEST

START_TEST(dangling_symlink)
{
	const char *rel = "share/microvm/tap-interfaces";
	ck_assert_int_eq(mkdir_p(R("share/microvm"), 0755), 0);
	tu_symlink(R("share/microvm/nowhere"), R(rel));
	struct vm v;
	struct mvm_error e;
	open_ok(&v);
	struct ifname_list tl;
	/* Not "nothing to do": a link that points nowhere is a broken runner. */
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), -ENOLINK);
	tu_assert_error(&e, ENOLINK, "read", R(rel), 0, "", "dangling symlink");
	ck_assert_int_eq(mkdir_p(R("bin"), 0755), 0);
	tu_symlink("/nonexistent/qemu", R("bin/microvm-run"));
	char *p;
	ck_assert_int_eq(vm_executable(&v, "bin/microvm-run", &p, &e), -ENOLINK);
	tu_assert_error(&e, ENOLINK, "read", R("bin/microvm-run"), 0, "", "dangling symlink");
	vm_close(&v);
}
END_TEST

struct as_nobody {
	const char *state;
	int r_open, r_read, r_exec;
	unsigned n;
	struct mvm_error e_open, e_read, e_exec;
};

static int read_as_nobody(void *arg)
{
	struct as_nobody *s = arg;
	struct vm v;
	s->r_open = vm_open(&v, s->state, "vm1", VM_CURRENT, false, &s->e_open);
	if (s->r_open < 0)
		return 1;
	struct ifname_list l = {0};
	s->r_read = vm_tap_interfaces(&v, &l, &s->e_read);
	s->n = (unsigned)l.n;
	ifname_list_free(&l);
	char *p = NULL;
	s->r_exec = vm_executable(&v, "bin/microvm-run", &p, &s->e_exec);
	free(p);
	vm_close(&v);
	return 0;
}

/* As root everything is readable: read as nobody, with a layout that
 * passes the trust check (all root's, nothing group/other-writable). */
START_TEST(unreadable_file)
{
	const char *rel = "share/microvm/tap-interfaces";
	tu_write(t.runner, rel, "tap0\n");
	tu_write(t.runner, "bin/microvm-run", "#!/bin/sh\n");
	struct as_nobody *s = tu_shared(sizeof(*s));
	s->state = t.state;
	/* Readable by others first: the setup itself is right. */
	tu_chmod(R("bin/microvm-run"), 0755);
	ck_assert_int_eq(tu_fork_call(TU_NOBODY, TU_NOBODY, read_as_nobody, s), 0);
	ck_assert_int_eq(s->r_read, 0);
	ck_assert_uint_eq(s->n, 1);
	ck_assert_int_eq(s->r_exec, 0);
	tu_chmod(R(rel), 0600);
	tu_chmod(R("bin/microvm-run"), 0700);
	ck_assert_int_eq(tu_fork_call(TU_NOBODY, TU_NOBODY, read_as_nobody, s), 0);
	ck_assert_int_eq(s->r_open, 0);
	ck_assert_int_eq(s->r_read, -EACCES);
	tu_assert_error(&s->e_read, EACCES, "read", R(rel), 0, "", NULL);
	ck_assert_int_eq(s->r_exec, -EACCES);
	tu_assert_error(&s->e_exec, EACCES, "execute", R("bin/microvm-run"), 0, "", NULL);
}
END_TEST

START_TEST(file_65k)
{
	const char *rel = "share/microvm/tap-interfaces";
	size_t n = 65 * 1024;
	char *buf = malloc(n);
	ck_assert_ptr_nonnull(buf);
	memset(buf, '\n', n);
	memcpy(buf + n - 5, "tap0\n", 5);
	tu_write_n(t.runner, rel, buf, n);
	struct vm v;
	struct mvm_error e;
	open_ok(&v);
	struct ifname_list tl;
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), -EFBIG);
	tu_assert_error(&e, EFBIG, "read", R(rel), 0, "", NULL);
	ck_assert_str_eq(mvm_error_reason(&e), "a file of 66560 bytes, larger than 64 KiB");
	/* 64 KiB is the limit, inclusive. */
	tu_write_n(t.runner, rel, buf + 1024, LAYOUT_FILE_MAX);
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), 0);
	ck_assert_uint_eq(tl.n, 1);
	ifname_list_free(&tl);
	tu_write_n(t.runner, rel, buf + 1023, LAYOUT_FILE_MAX + 1);
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), -EFBIG);
	free(buf);
	vm_close(&v);
}
END_TEST

START_TEST(fifo_not_regular)
{
	const char *rel = "share/microvm/pci-devices";
	ck_assert_int_eq(mkdir_p(R("share/microvm"), 0755), 0);
	ck_assert_int_eq(mkfifo(R(rel), 0644), 0);
	struct vm v;
	struct mvm_error e;
	open_ok(&v);
	struct pci_list pl;
	ck_assert_int_eq(vm_pci_devices(&v, &pl, &e), -EINVAL); /* and no hang */
	tu_assert_error(&e, EINVAL, "read", R(rel), 0, "", "not a regular file");
	vm_close(&v);
}
END_TEST

/* ---- virtiofs shares ---- */

START_TEST(share_missing_socket)
{
	tu_write(t.runner, "share/microvm/virtiofs/s/source", "/srv\n");
	struct vm v;
	struct mvm_error e;
	open_ok(&v);
	struct share_list sl = {.n = 5};
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -ENOENT);
	tu_assert_error(&e, ENOENT, "read", R("share/microvm/virtiofs/s/socket"), 0, "", NULL);
	ck_assert_uint_eq(sl.n, 0);
	vm_close(&v);
}
END_TEST

START_TEST(share_bad_tag)
{
	struct vm v;
	struct mvm_error e;
	struct share_list sl;
	open_ok(&v);
	tu_write(t.runner, "share/microvm/virtiofs/a\x01" "b/source", "/srv\n");
	tu_write(t.runner, "share/microvm/virtiofs/a\x01" "b/socket", "x.sock\n");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "use virtiofs tag", R("share/microvm/virtiofs"), 0, "a\\x01b",
			"a name may not contain control characters");
	tu_rm_rf(R("share/microvm/virtiofs"));
	/* 36 bytes fit in the virtio-fs tag; 37 do not. */
	const char *t36 = "share/microvm/virtiofs/abcdefghijklmnopqrstuvwxyz0123456789";
	tu_write(t.runner, P(t36, "source"), "/srv\n");
	tu_write(t.runner, P(t36, "socket"), "x.sock\n");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), 0);
	ck_assert_uint_eq(sl.n, 1);
	ck_assert_str_eq(sl.v[0].tag, "abcdefghijklmnopqrstuvwxyz0123456789");
	share_list_free(&sl);
	tu_write(t.runner, "share/microvm/virtiofs/abcdefghijklmnopqrstuvwxyz0123456789X/source",
		 "/srv2\n");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "use virtiofs tag", R("share/microvm/virtiofs"), 0,
			"abcdefghijklmnopqrstuvwxyz0123456789X", "name too long");
	/* e may be NULL. */
	ck_assert_int_eq(vm_shares(&v, &sl, NULL), -EINVAL);
	vm_close(&v);
}
END_TEST

/* The optional setting files beside source and socket. */
START_TEST(share_settings_files)
{
	tu_write(t.runner, "share/microvm/virtiofs/a/source", "/srv/a\n");
	tu_write(t.runner, "share/microvm/virtiofs/a/socket", "a.sock\n");
	tu_write(t.runner, "share/microvm/virtiofs/a/read-only", "true\n");
	tu_write(t.runner, "share/microvm/virtiofs/a/cache", "never\n");
	tu_write(t.runner, "share/microvm/virtiofs/a/posix-acl", "false\n");
	tu_write(t.runner, "share/microvm/virtiofs/a/inode-file-handles", "prefer\n");
	tu_write(t.runner, "share/microvm/virtiofs/a/tag", "crosvm-a\n");
	tu_write(t.runner, "share/microvm/virtiofs/a/extra-args", "--allow-mmap\n--x y\n");
	tu_write(t.runner, "share/microvm/virtiofs/b/source", "/srv/b\n");
	tu_write(t.runner, "share/microvm/virtiofs/b/socket", "b.sock\n");
	struct vm v;
	struct mvm_error e;
	struct share_list sl;
	open_ok(&v);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), 0);
	ck_assert_uint_eq(sl.n, 2);
	const struct share_settings *a = &sl.v[0].set, *b = &sl.v[1].set;
	ck_assert(a->read_only && !a->posix_acl);
	ck_assert_int_eq(a->cache, SHARE_CACHE_NEVER);
	ck_assert_int_eq(a->inode_file_handles, SHARE_IFH_PREFER);
	ck_assert_str_eq(a->tag, "crosvm-a");
	ck_assert_uint_eq(a->n_extra, 2);
	ck_assert_str_eq(a->extra[0], "--allow-mmap");
	ck_assert_str_eq(a->extra[1], "--x y");
	ck_assert_str_eq(sl.v[0].conf, R("share/microvm/virtiofs/a"));
	/* b: the defaults. */
	ck_assert(!b->read_only && b->posix_acl);
	ck_assert_int_eq(b->cache, SHARE_CACHE_UNSET);
	ck_assert_int_eq(b->inode_file_handles, SHARE_IFH_UNSET);
	ck_assert_str_eq(b->tag, "");
	ck_assert_uint_eq(b->n_extra, 0);
	share_list_free(&sl);
	vm_close(&v);
}
END_TEST

/* A runner microvm.nix built alone (`microvm -u`, `microvm -c`) has no
 * setting files: its shares' settings are in the scripts its
 * bin/virtiofsd-run starts (supervisord, its configuration, one script a
 * share), which the helpers replace. Read from there, as microvm.nix
 * 71beea0 writes them, so that a readOnly share stays read-only; a share
 * with setting files of its own keeps them; what cannot be read is an
 * error naming the file and line, never the writable default. */
static const char mnix_script_head[] =
	"#!/nix/store/b-bash/bin/bash\n"
	"if [ $(id -u) = 0 ]; then\n"
	"  OPT_RLIMIT=\"--rlimit-nofile 1048576\"\n"
	"else\n"
	"  OPT_RLIMIT=\"\"\n"
	"fi\n"
	"exec /nix/store/v-virtiofsd/bin/virtiofsd \\\n"
	"  --socket-path='/var/lib/microvms/vm1/vm1-virtiofs-ro.sock' \\\n"
	"  --socket-group=kvm \\\n"
	"  --shared-dir='/srv/net data' \\\n"
	"  $OPT_RLIMIT \\\n"
	"  --thread-pool-size `nproc` \\\n"; /* threadPoolSize's default */

static void mnix_runner(const char *store, const char *ro_tail, const char *rw_tail)
{
	char *conf = tu_path(store, "c-host-virtiofsd-supervisord.conf");
	char *run = xasprintf("#!/nix/store/b-bash/bin/bash\n"
			      "exec /nix/store/s-supervisor/bin/supervisord --configuration %s \"$@\"\n",
			      conf);
	tu_write(t.runner, "bin/virtiofsd-run", run);
	char *ini = xasprintf("[eventlistener:notify]\nbuffer_size=48\ncommand=/nix/store/e-handler\n"
			      "events=PROCESS_STATE\n\n"
			      "[program:virtiofsd-ro]\ncommand=%s/r-virtiofsd-ro\nstderr_syslog=true\n\n"
			      "[program:virtiofsd-rw]\ncommand=%s/w-virtiofsd-rw\nstderr_syslog=true\n\n"
			      "[supervisord]\nnodaemon=true\nuser=root\n",
			      store, store);
	tu_write(store, "c-host-virtiofsd-supervisord.conf", ini);
	char *ro = xasprintf("%s%s", mnix_script_head, ro_tail);
	char *rw = xasprintf("%s%s", mnix_script_head, rw_tail);
	tu_write(store, "r-virtiofsd-ro", ro);
	tu_write(store, "w-virtiofsd-rw", rw);
	free(conf);
	free(run);
	free(ini);
	free(ro);
	free(rw);
}

/* The runner's shares ro and rw, with a source and a socket and no
 * setting file: their settings are in microvm.nix's scripts. */
static void mnix_shares(void)
{
	for (const char *const *tag = (const char *const[]){"ro", "rw", NULL}; *tag; tag++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "share/microvm/virtiofs/%s/source", *tag);
		tu_write(t.runner, rel, "/srv/x\n");
		snprintf(rel, sizeof(rel), "share/microvm/virtiofs/%s/socket", *tag);
		tu_write(t.runner, rel, *tag);
	}
}

START_TEST(share_settings_of_microvm_nix)
{
	char *store = tu_path(t.root, "store");
	mnix_shares();
	mnix_runner(store,
		    "  --cache=auto \\\n  --inode-file-handles=prefer \\\n   \\\n  --readonly \\\n"
		    "  --xattrmap=:map::user.virtiofs.: --allow-mmap\n",
		    "  --posix-acl --xattr \\\n  --cache=never \\\n   \\\n   \\\n   \\\n  \n");
	struct vm v;
	struct mvm_error e;
	struct share_list sl;
	open_ok(&v);
	int r = vm_shares(&v, &sl, &e);
	ck_assert_msg(r == 0, "vm_shares: %s", tu_error_str(&e));
	ck_assert_uint_eq(sl.n, 2);
	const struct share_settings *ro = &sl.v[0].set, *rw = &sl.v[1].set;
	ck_assert_msg(ro->read_only, "share ro of microvm.nix's runner is not read-only");
	ck_assert(!ro->posix_acl);
	ck_assert_int_eq(ro->cache, SHARE_CACHE_AUTO);
	ck_assert_int_eq(ro->inode_file_handles, SHARE_IFH_PREFER);
	ck_assert_uint_eq(ro->n_extra, 2);
	ck_assert_str_eq(ro->extra[0], "--xattrmap=:map::user.virtiofs.:");
	ck_assert_str_eq(ro->extra[1], "--allow-mmap");
	ck_assert(!rw->read_only && rw->posix_acl);
	ck_assert_int_eq(rw->cache, SHARE_CACHE_NEVER);
	ck_assert_int_eq(rw->inode_file_handles, SHARE_IFH_UNSET);
	ck_assert_uint_eq(rw->n_extra, 0);
	share_list_free(&sl);

	/* A share with a setting file of its own: its files alone. */
	tu_write(t.runner, "share/microvm/virtiofs/ro/cache", "never\n");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), 0);
	ck_assert(!sl.v[0].set.read_only && sl.v[0].set.posix_acl);
	ck_assert_int_eq(sl.v[0].set.cache, SHARE_CACHE_NEVER);
	share_list_free(&sl);
	tu_rm_rf(R("share/microvm/virtiofs/ro/cache"));

	/* Shell the parser does not read: an error naming script and line. */
	char *script = tu_path(store, "r-virtiofsd-ro");
	mnix_runner(store, "  --readonly \\\n  \"$EXTRA\"\n", "\n");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "parse", script, 14, "\"$EXTRA\"",
			"shell syntax microvm.nix's scripts do not write");
	/* A script the VM user could change: not trusted. */
	mnix_runner(store, "  --readonly\n", "\n");
	tu_chown(script, TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", script, 0, "uid 65534", "not owned by root");
	tu_chown(script, 0, 0);
	/* No program of that share in the configuration. */
	char *conf = tu_path(store, "c-host-virtiofsd-supervisord.conf");
	tu_write(store, "c-host-virtiofsd-supervisord.conf", "[program:virtiofsd-rw]\ncommand=/x\n");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "parse", conf, 0, "[program:virtiofsd-ro]",
			"no command= in the share's program section");
	/* A configuration that is gone. */
	tu_rm_rf(conf);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -ENOENT);
	ck_assert_str_eq(e.path, conf);
	/* A bin/virtiofsd-run that is not microvm.nix's: an error naming it. */
	tu_write(t.runner, "bin/virtiofsd-run", "#!/bin/sh\nsupervisord -c /nix/store/c.conf\n");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "parse", R("bin/virtiofsd-run"), 0, "",
			"no `exec` line: not microvm.nix's virtiofsd-run");
	/* No bin/virtiofsd-run: the defaults, as before. */
	tu_rm_rf(R("bin/virtiofsd-run"));
	ck_assert_int_eq(vm_shares(&v, &sl, &e), 0);
	ck_assert(!sl.v[0].set.read_only && sl.v[0].set.posix_acl);
	share_list_free(&sl);
	vm_close(&v);
	free(conf);
	free(script);
	free(store);
}
END_TEST

/* The configuration and scripts bin/virtiofsd-run names are trusted as a
 * runner is: root's all the way and below a runner root
 * ($MICROVM_RUNNER_ROOTS); one elsewhere, root's or not, is refused,
 * naming it, never read for the settings. */
START_TEST(share_script_outside_runner_roots)
{
	char *store = tu_tmpdir(); /* beside ROOT, not below it */
	mnix_shares();
	mnix_runner(store, "  --readonly\n", "\n");
	char *conf = tu_path(store, "c-host-virtiofsd-supervisord.conf");
	setenv("MICROVM_RUNNER_ROOTS", t.root, 1); /* the runner's, not the scripts' */
	struct vm v;
	struct mvm_error e;
	struct share_list sl;
	open_ok(&v);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", conf, 0, t.root, "not below a runner root");
	vm_close(&v);
	setenv("MICROVM_RUNNER_ROOTS", "/tmp", 1); /* as main() set it */
	tu_rm_rf(store);
	free(conf);
	free(store);
}
END_TEST

/* A store path bin/virtiofsd-run names may be root's symlink (a file of
 * one derivation linked into another): followed, trusted or with
 * --allow-untrusted alike, and the share's settings read through it. */
START_TEST(share_script_through_a_symlink)
{
	char *store = tu_path(t.root, "store");
	mnix_shares();
	mnix_runner(store, "  --readonly\n", "\n");
	char *conf = tu_path(store, "c-host-virtiofsd-supervisord.conf");
	char *real = tu_path(store, "c-real.conf");
	ck_assert_int_eq(rename(conf, real), 0);
	ck_assert_int_eq(symlink(real, conf), 0);
	for (int untrusted = 0; untrusted < 2; untrusted++) {
		struct vm v;
		struct mvm_error e;
		struct share_list sl;
		int r = vm_open(&v, t.state, t.name, VM_CURRENT, untrusted, &e);
		ck_assert_msg(r == 0, "vm_open: %s", tu_error_str(&e));
		r = vm_shares(&v, &sl, &e);
		ck_assert_msg(r == 0, "allow_untrusted %d: %s", untrusted, tu_error_str(&e));
		ck_assert_msg(sl.v[0].set.read_only, "share ro is not read-only");
		share_list_free(&sl);
		vm_close(&v);
	}
	free(real);
	free(conf);
	free(store);
}
END_TEST

/* A file that is no setting (a typo, a directory): an error naming it,
 * not a setting silently left out. */
START_TEST(share_unknown_setting_file)
{
	static const char *const names[] = {"readonly", "read_only", "Cache", ".hidden"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		tu_rm_rf(R("share/microvm/virtiofs"));
		tu_write(t.runner, "share/microvm/virtiofs/s/source", "/srv\n");
		tu_write(t.runner, "share/microvm/virtiofs/s/socket", "s.sock\n");
		tu_write(t.runner, P("share/microvm/virtiofs/s", names[i]), "true\n");
		struct vm v;
		struct mvm_error e;
		struct share_list sl;
		open_ok(&v);
		ck_assert_int_eq(vm_shares(&v, &sl, &e), -EINVAL);
		char want[PATH_MAX + 256];
		snprintf(want, sizeof(want),
			 "unable to use '%s': not a share setting (known: source, socket, "
			 "read-only, cache, posix-acl, inode-file-handles, tag, extra-args)",
			 R(P("share/microvm/virtiofs/s", names[i])));
		ck_assert_str_eq(tu_error_str(&e), want);
		vm_close(&v);
	}
	/* A directory of a setting's name is no file. */
	tu_rm_rf(R("share/microvm/virtiofs"));
	tu_write(t.runner, "share/microvm/virtiofs/s/source", "/srv\n");
	tu_write(t.runner, "share/microvm/virtiofs/s/socket", "s.sock\n");
	ck_assert_int_eq(mkdir_p(R("share/microvm/virtiofs/s/tag"), 0755), 0);
	struct vm v;
	struct mvm_error e;
	struct share_list sl;
	open_ok(&v);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EISDIR);
	ck_assert_str_eq(e.path, R("share/microvm/virtiofs/s/tag"));
	vm_close(&v);
}
END_TEST

/* A share's files are read from its directory's descriptor; one that is
 * a symlink is resolved and trust-checked as any file of the runner: into
 * the runner it is fine, out to a file another user owns it is not. */
START_TEST(share_file_symlinks)
{
	tu_write(t.runner, "share/microvm/virtiofs/s/socket", "s.sock\n");
	tu_write(t.runner, "share/e2e/src", "/srv/x\n");
	tu_symlink("../../../e2e/src", R("share/microvm/virtiofs/s/source"));
	char *evil = tu_tmpdir();
	tu_write(evil, "ro", "false\n");
	tu_chown(P(evil, "ro"), TU_NOBODY, TU_NOBODY);
	tu_symlink(P(evil, "ro"), R("share/microvm/virtiofs/s/read-only"));
	struct vm v;
	struct mvm_error e;
	struct share_list sl;
	open_ok(&v);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EPERM);
	ck_assert_str_eq(e.path, P(evil, "ro"));
	ck_assert_str_eq(e.reason, "not owned by root");
	tu_chown(P(evil, "ro"), 0, 0);
	tu_rm_rf(R("share/microvm/virtiofs/s/read-only"));
	ck_assert_int_eq(vm_shares(&v, &sl, &e), 0);
	ck_assert_str_eq(sl.v[0].source, "/srv/x");
	share_list_free(&sl);
	vm_close(&v);
	tu_rm_rf(evil);
	free(evil);
}
END_TEST

/* A setting file is trust-checked as every file read from the runner. */
START_TEST(share_setting_untrusted)
{
	tu_write(t.runner, "share/microvm/virtiofs/s/source", "/srv\n");
	tu_write(t.runner, "share/microvm/virtiofs/s/socket", "s.sock\n");
	tu_write(t.runner, "share/microvm/virtiofs/s/read-only", "false\n");
	tu_chown(R("share/microvm/virtiofs/s/read-only"), TU_NOBODY, TU_NOBODY);
	struct vm v;
	struct mvm_error e;
	struct share_list sl;
	open_ok(&v);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EPERM);
	ck_assert_str_eq(e.path, R("share/microvm/virtiofs/s/read-only"));
	ck_assert_str_eq(e.reason, "not owned by root");
	vm_close(&v);
}
END_TEST

/* A share's directory (share/microvm/virtiofs/TAG) is trust-checked as
 * every step below the runner: not root's, or writable by group or
 * others, it is refused by name, nothing read from it; a link of root's
 * inside the runner leads to its target, which is checked in turn. */
START_TEST(share_dir_untrusted)
{
	tu_write(t.runner, "share/microvm/virtiofs/s/source", "/srv/s\n");
	tu_write(t.runner, "share/microvm/virtiofs/s/socket", "s.sock\n");
	struct vm v;
	struct mvm_error e;
	struct share_list sl;
	open_ok(&v);
	tu_chown(R("share/microvm/virtiofs/s"), TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EPERM);
	ck_assert_str_eq(e.path, R("share/microvm/virtiofs/s"));
	ck_assert_str_eq(e.reason, "not owned by root");
	tu_chown(R("share/microvm/virtiofs/s"), 0, 0);
	ck_assert_int_eq(chmod(R("share/microvm/virtiofs/s"), 0775), 0);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EPERM);
	ck_assert_str_eq(e.path, R("share/microvm/virtiofs/s"));
	ck_assert_str_eq(e.reason, "writable by group or others");
	ck_assert_str_eq(e.value, "mode 0775");
	ck_assert_int_eq(chmod(R("share/microvm/virtiofs/s"), 0755), 0);
	/* a link of root's to a directory in the runner: followed */
	tu_write(t.runner, "share/elsewhere/t/source", "/srv/t\n");
	tu_write(t.runner, "share/elsewhere/t/socket", "t.sock\n");
	tu_symlink("../../elsewhere/t", R("share/microvm/virtiofs/t"));
	int r = vm_shares(&v, &sl, &e);
	ck_assert_msg(r == 0, "%d: %s %s %s", r, e.verb, e.path, e.why);
	ck_assert_uint_eq(sl.n, 2);
	ck_assert_str_eq(sl.v[1].tag, "t");
	ck_assert_str_eq(sl.v[1].source, "/srv/t");
	share_list_free(&sl);
	/* and its target is checked as one */
	tu_chown(R("share/elsewhere/t"), TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EPERM);
	ck_assert_str_eq(e.path, R("share/elsewhere/t"));
	ck_assert_str_eq(e.reason, "not owned by root");
	vm_close(&v);
}
END_TEST

/* Is path (as an error names it) the very directory want? */
static bool same_file(const char *path, const char *want)
{
	struct stat a, b;
	return stat(path, &a) == 0 && stat(want, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* A share's directory reached through a link of root's on the way: `share`
 * (_i 0), `share/microvm` (1) or `share/microvm/virtiofs` (2) linked to a
 * directory elsewhere in the runner, or `share` to one in a store beside
 * it (3: a root-owned sticky directory above it, as /nix/store). vm_shares()
 * opens the share's directory in the virtiofs directory it resolved and
 * checks it alone: the share read through the link; the share's
 * directory not root's, or the directory the link leads to writable by
 * group, still refused, naming that directory. (Before 128302b each
 * share's path was resolved and checked whole.) */
START_TEST(share_dir_through_linked_steps)
{
	static const char *const linked[] = { "share", "share/microvm", "share/microvm/virtiofs",
					      "share" };
	static const char *const below[] = { "microvm/virtiofs/s", "virtiofs/s", "s",
					     "microvm/virtiofs/s" };
	char *store = tu_path(t.root, "store");
	char *top = _i == 3 ? tu_path(store, "abc-share") : strdup(R("real"));
	char *tag = tu_path(top, below[_i]);
	tu_write(tag, "source", "/srv/s\n");
	tu_write(tag, "socket", "s.sock\n");
	if (_i == 3) {
		tu_chmod(store, 01775); /* as /nix/store, root:nixbld */
		tu_chown(store, 0, 30000);
	}
	char *dir = strdup(R(linked[_i]));
	char *up = strdup(dir);
	*strrchr(up, '/') = '\0';
	ck_assert_int_eq(mkdir_p(up, 0755), 0);
	tu_symlink(top, dir);
	struct vm v;
	struct mvm_error e;
	struct share_list sl;
	open_ok(&v);
	int r = vm_shares(&v, &sl, &e);
	ck_assert_msg(r == 0, "case %d: %s", _i, tu_error_str(&e));
	ck_assert_uint_eq(sl.n, 1);
	ck_assert_str_eq(sl.v[0].tag, "s");
	ck_assert_str_eq(sl.v[0].source, "/srv/s");
	share_list_free(&sl);
	/* the share's directory not root's */
	tu_chown(tag, TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EPERM);
	ck_assert_msg(!strcmp(e.reason, "not owned by root") && same_file(e.path, tag),
		      "case %d: %s", _i, tu_error_str(&e));
	tu_chown(tag, 0, 0);
	/* ... nor writable by group */
	tu_chmod(tag, 0775);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EPERM);
	ck_assert_msg(!strcmp(e.reason, "writable by group or others") && same_file(e.path, tag),
		      "case %d: %s", _i, tu_error_str(&e));
	tu_chmod(tag, 0755);
	/* where the link leads, writable by group */
	tu_chmod(top, 0775);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EPERM);
	ck_assert_msg(!strcmp(e.reason, "writable by group or others") && same_file(e.path, top),
		      "case %d: %s", _i, tu_error_str(&e));
	tu_chmod(top, 0755);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), 0);
	share_list_free(&sl);
	vm_close(&v);
	free(up);
	free(dir);
	free(tag);
	free(top);
	free(store);
}
END_TEST

/* A file system mounted on a share's directory, FUSE, showing everything
 * as root's (bindfs here; root's own mount, as nobody else mounts in the
 * runner): the share's directory opened in the virtiofs directory and
 * checked alone is refused as on FUSE, nothing read from it. */
START_TEST(share_dir_on_fuse)
{
	char *src = tu_path(t.root, "userdir");
	tu_write(src, "source", "/srv/s\n");
	tu_write(src, "socket", "s.sock\n");
	char *mnt = strdup(R("share/microvm/virtiofs/s"));
	ck_assert_int_eq(mkdir_p(mnt, 0755), 0);
	pid_t fs = tu_bindfs_as_roots(src, mnt, "source");
	struct vm v;
	struct mvm_error e;
	struct share_list sl;
	open_ok(&v);
	int r = vm_shares(&v, &sl, &e);
	if (r == 0)
		share_list_free(&sl);
	vm_close(&v);
	tu_bindfs_stop(fs, mnt);
	ck_assert_msg(r == -EPERM, "a share's directory on FUSE read: %d", r);
	tu_assert_error(&e, EPERM, "trust", mnt, 0, "fuse",
			"on a FUSE mount (its owners are whatever its daemon says)");
	free(mnt);
	free(src);
}
END_TEST

/* A file of a share's directory that is a mount of its own, a file on
 * FUSE (bindfs showing it as root's) bound onto `source`: refused as on
 * FUSE, though the directory it lies in passed (its mount is not the
 * directory's, so its file system is asked about). */
START_TEST(share_file_on_fuse)
{
	char *src = tu_path(t.root, "userdir"), *fmnt = tu_path(t.root, "fuse");
	tu_write(src, "source", "/srv/s\n");
	ck_assert_int_eq(mkdir_p(fmnt, 0755), 0);
	tu_write(t.runner, "share/microvm/virtiofs/s/source", "/srv/t\n");
	tu_write(t.runner, "share/microvm/virtiofs/s/socket", "s.sock\n");
	char *file = strdup(R("share/microvm/virtiofs/s/source"));
	pid_t fs = tu_bindfs_as_roots(src, fmnt, "source");
	char *shown = tu_path(fmnt, "source");
	int m = mount(shown, file, NULL, MS_BIND, NULL);
	int merr = errno;
	struct vm v;
	struct mvm_error e;
	struct share_list sl;
	int r = -1;
	if (m == 0) {
		open_ok(&v);
		r = vm_shares(&v, &sl, &e);
		if (r == 0)
			share_list_free(&sl);
		vm_close(&v);
		umount2(file, MNT_DETACH);
	}
	tu_bindfs_stop(fs, fmnt);
	ck_assert_msg(m == 0, "bind mount of %s on %s: %s", shown, file, strerror(merr));
	ck_assert_msg(r == -EPERM, "a share's file on FUSE read: %d", r);
	tu_assert_error(&e, EPERM, "trust", file, 0, "fuse",
			"on a FUSE mount (its owners are whatever its daemon says)");
	free(shown);
	free(file);
	free(fmnt);
	free(src);
}
END_TEST

/* How sockets are compared: as written ("" and "." skipped, ".." back one)
 * for the duplicate check and a reload's wait; plainly (no ".." step, a
 * name at the end) for a reload that keeps or hands a socket over. */
START_TEST(socket_paths_compared)
{
	ck_assert(path_same_as_written("/a/./x.sock", "/a/x.sock"));
	ck_assert(path_same_as_written("/a//b/../x.sock", "/a/x.sock"));
	ck_assert(!path_same_as_written("/a/y.sock", "/a/x.sock"));
	ck_assert(path_same_plain("/a/x.sock", "/a/x.sock"));
	ck_assert(path_same_plain("/a/./x.sock", "/a//x.sock"));
	ck_assert(!path_same_plain("/a/b/../x.sock", "/a/x.sock"));
	ck_assert(!path_same_plain("/a/x.sock/", "/a/x.sock"));
	ck_assert(!path_same_plain("/a/x.sock/.", "/a/x.sock"));
	ck_assert(!path_same_plain("/a/y.sock", "/a/x.sock"));
}
END_TEST

START_TEST(share_same_socket)
{
	tu_write(t.runner, "share/microvm/virtiofs/a/source", "/srv/a\n");
	tu_write(t.runner, "share/microvm/virtiofs/a/socket", "s.sock\n");
	tu_write(t.runner, "share/microvm/virtiofs/b/source", "/srv/b\n");
	tu_write(t.runner, "share/microvm/virtiofs/b/socket", P(t.dir, "s.sock"));
	struct vm v;
	struct mvm_error e;
	struct share_list sl;
	open_ok(&v);
	char *file = tu_path(t.runner, "share/microvm/virtiofs/b/socket");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "use", file, 0, P(t.dir, "s.sock"), NULL);
	ck_assert_str_eq(mvm_error_reason(&e), "the socket of share 'a' too");
	ck_assert_int_eq(vm_shares(&v, &sl, NULL), -EINVAL);
	/* the same file, however written */
	tu_write(t.runner, "share/microvm/virtiofs/b/socket", "./x/../s.sock\n");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EINVAL);
	ck_assert_str_eq(mvm_error_reason(&e), "the socket of share 'a' too");
	/* the value escaped: a quote cannot end it early */
	tu_write(t.runner, "share/microvm/virtiofs/a/socket", "it's.sock\n");
	tu_write(t.runner, "share/microvm/virtiofs/b/socket", "it's.sock\n");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "use", file, 0, P(t.dir, "it\\'s.sock"), NULL);
	free(file);
	vm_close(&v);
}
END_TEST

/* Attack (red team, 2026-12-01): a share's source (or socket) inside the
 * source of a writable share of the same VM. Its guest's root makes
 * directories and links there as host uid 0, which pass as root's: it
 * replaced the inner source with a link to /etc, and the launcher served
 * the host's /etc. Refused, naming the path and the writable share; a
 * read-only outer share, the same source twice, and a path that only
 * looks inside (..) are fine. */
START_TEST(share_inside_writable_share)
{
	tu_write(t.runner, "share/microvm/virtiofs/data/source", "/srv/vm-a\n");
	tu_write(t.runner, "share/microvm/virtiofs/data/socket", "data.sock\n");
	tu_write(t.runner, "share/microvm/virtiofs/media/source", "/srv/vm-a//./media\n");
	tu_write(t.runner, "share/microvm/virtiofs/media/socket", "media.sock\n");
	tu_write(t.runner, "share/microvm/virtiofs/media/read-only", "true\n");
	struct vm v;
	struct mvm_error e;
	struct share_list sl;
	open_ok(&v);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "use", "/srv/vm-a//./media", 0, "media", NULL);
	ck_assert_str_eq(mvm_error_reason(&e), "inside the source of writable share 'data', "
					       "whose guest could make it lead anywhere");
	/* the socket, inside it */
	tu_write(t.runner, "share/microvm/virtiofs/media/source", "/srv/vm-a/../media\n");
	tu_write(t.runner, "share/microvm/virtiofs/media/socket", "/srv/vm-a/socks/media.sock\n");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "use", "/srv/vm-a/socks/media.sock", 0, "media", NULL);
	ck_assert_str_eq(mvm_error_reason(&e), "inside the source of writable share 'data', "
					       "whose guest could make it lead anywhere");
	/* a path that only passes through the share (x/../..): the walk goes
	 * through x, which the guest could have made a link to anywhere */
	tu_write(t.runner, "share/microvm/virtiofs/media/socket", "media.sock\n");
	tu_write(t.runner, "share/microvm/virtiofs/media/source", "/srv/vm-a/x/../../etc\n");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "use", "/srv/vm-a/x/../../etc", 0, "media", NULL);
	/* a share's own socket inside its own writable source */
	tu_write(t.runner, "share/microvm/virtiofs/media/source", "/srv/vm-b\n");
	tu_write(t.runner, "share/microvm/virtiofs/data/socket", "/srv/vm-a/data.sock\n");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "use", "/srv/vm-a/data.sock", 0, "data", NULL);
	tu_write(t.runner, "share/microvm/virtiofs/data/socket", "data.sock\n");
	/* A relative source that, under the VM's directory, goes past
	 * PATH_MAX: the walk cannot tell, so it is taken as inside (found by
	 * a fuzz run's read: a step that did not fit was dropped). */
	char *longsrc = malloc(PATH_MAX + 8);
	size_t o = 0;
	while (o + 9 < PATH_MAX - 4)
		o += (size_t)sprintf(longsrc + o, "%s", "aaaaaaaa/");
	sprintf(longsrc + o, "b\n");
	tu_write(t.runner, "share/microvm/virtiofs/media/source", longsrc);
	free(longsrc);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -ENAMETOOLONG);
	ck_assert_str_eq(mvm_error_reason(&e),
			 "too long to tell whether it lies inside writable share 'data'");
	/* A long path that is plainly inside it before it gets too long is
	 * said to be inside (found in review: the message went by length). */
	longsrc = malloc(PATH_MAX + 64);
	o = 0;
	while (o + 2 < PATH_MAX - 200) /* relative: longer than PATH_MAX once joined */
		o += (size_t)sprintf(longsrc + o, "./");
	for (int k = 0; k < 40; k++) /* up to / from the VM's directory */
		o += (size_t)sprintf(longsrc + o, "../");
	sprintf(longsrc + o, "srv/vm-a/x\n");
	tu_write(t.runner, "share/microvm/virtiofs/media/source", longsrc);
	free(longsrc);
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EINVAL);
	ck_assert_str_eq(mvm_error_reason(&e), "inside the source of writable share 'data', "
					       "whose guest could make it lead anywhere");
	tu_write(t.runner, "share/microvm/virtiofs/media/source", "/srv/vm-a/../media\n");
	/* ../media is beside it, the same source twice is no nesting, and
	 * inside a read-only share is fine */
	ck_assert_int_eq(vm_shares(&v, &sl, &e), 0);
	share_list_free(&sl);
	tu_write(t.runner, "share/microvm/virtiofs/media/source", "/srv/vm-a\n");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), 0);
	share_list_free(&sl);
	/* a name that only starts like the share's is beside it too */
	tu_write(t.runner, "share/microvm/virtiofs/media/source", "/srv/vm-a2/media\n");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), 0);
	share_list_free(&sl);
	tu_write(t.runner, "share/microvm/virtiofs/media/source", "/srv/vm-a/media\n");
	tu_write(t.runner, "share/microvm/virtiofs/data/read-only", "true\n");
	ck_assert_int_eq(vm_shares(&v, &sl, &e), 0);
	share_list_free(&sl);
	vm_close(&v);
}
END_TEST

/* ---- bin/microvm-run, bin/microvm-shutdown, share/microvm/system ---- */

START_TEST(executables)
{
	struct vm v;
	struct mvm_error e;
	char *p = NULL;
	tu_write(t.runner, "bin/microvm-run", "#!/bin/sh\nexit 0\n");
	tu_chmod(R("bin/microvm-run"), 0755);
	open_ok(&v);
	ck_assert_int_eq(vm_executable(&v, "bin/microvm-run", &p, &e), 0);
	ck_assert_str_eq(p, R("bin/microvm-run"));
	free(p);
	/* microvm-shutdown is optional: the caller sees ENOENT naming it. */
	ck_assert_int_eq(vm_executable(&v, "bin/microvm-shutdown", &p, &e), -ENOENT);
	tu_assert_error(&e, ENOENT, "find", R("bin/microvm-shutdown"), 0, "", NULL);
	tu_write(t.runner, "bin/microvm-shutdown", "#!/bin/sh\n");
	ck_assert_int_eq(vm_executable(&v, "bin/microvm-shutdown", &p, &e), -EACCES);
	tu_assert_error(&e, EACCES, "execute", R("bin/microvm-shutdown"), 0, "", NULL);
	ck_assert_int_eq(unlink(R("bin/microvm-shutdown")), 0);
	ck_assert_int_eq(mkdir(R("bin/microvm-shutdown"), 0755), 0);
	ck_assert_int_eq(vm_executable(&v, "bin/microvm-shutdown", &p, &e), -EACCES);
	tu_assert_error(&e, EACCES, "execute", R("bin/microvm-shutdown"), 0, "",
			"not a regular file");
	/* A link to the real program (as Nix makes them): its resolved path. */
	tu_write(t.root, "store/qemu/bin/run", "#!/bin/sh\n");
	tu_chmod(P(t.root, "store/qemu/bin/run"), 0555);
	ck_assert_int_eq(unlink(R("bin/microvm-run")), 0);
	tu_symlink("../../store/qemu/bin/run", R("bin/microvm-run"));
	ck_assert_int_eq(vm_executable(&v, "bin/microvm-run", &p, &e), 0);
	ck_assert_str_eq(p, P(t.root, "store/qemu/bin/run"));
	free(p);
	vm_close(&v);
}
END_TEST

START_TEST(system_link)
{
	struct vm v;
	struct mvm_error e;
	char *p = NULL;
	open_ok(&v);
	ck_assert_int_eq(vm_system(&v, &p, &e), -ENOENT);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(mkdir_p(R("share/microvm"), 0755), 0);
	/* The toplevel need not exist here: it is compared, not read. */
	tu_symlink("/nix/store/abc-nixos-system-vm1", R("share/microvm/system"));
	ck_assert_int_eq(vm_system(&v, &p, &e), 0);
	ck_assert_str_eq(p, "/nix/store/abc-nixos-system-vm1");
	free(p);
	ck_assert_int_eq(unlink(R("share/microvm/system")), 0);
	ck_assert_int_eq(mkdir(R("share/microvm/system"), 0755), 0);
	ck_assert_int_eq(vm_system(&v, &p, &e), 0);
	ck_assert_str_eq(p, R("share/microvm/system"));
	free(p);
	vm_close(&v);
}
END_TEST

/* ---- trust (DESIGN.md section 3) ---- */

static const char *const hint =
	"the runner package and the path to it must be root's; --allow-untrusted overrides";

START_TEST(trust_group_writable_dir)
{
	tu_write(t.runner, "share/microvm/tap-interfaces", "tap0\n");
	tu_chmod(t.root, 0775);
	struct vm v;
	struct mvm_error e;
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", t.root, 0, "mode 0775", "writable by group or others");
	ck_assert_str_eq(e.hint, hint);
	char want[PATH_MAX + 256];
	snprintf(want, sizeof(want),
		 "unable to trust '%s': writable by group or others: 'mode 0775' (%s)", t.root,
		 hint);
	ck_assert_str_eq(tu_error_str(&e), want);
	/* --allow-untrusted lifts it, for the runner and its files. */
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, true, &e), 0);
	ck_assert(v.allow_untrusted);
	struct ifname_list tl;
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), 0);
	ck_assert_uint_eq(tl.n, 1);
	ifname_list_free(&tl);
	vm_close(&v);
	/* World-writable runner itself. */
	tu_chmod(t.root, 0755);
	tu_chmod(t.runner, 0757);
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", t.runner, 0, "mode 0757", "writable by group or others");
}
END_TEST

START_TEST(trust_dir_inside_runner)
{
	tu_write(t.runner, "share/microvm/tap-interfaces", "tap0\n");
	tu_chmod(R("share"), 0775);
	struct vm v;
	struct mvm_error e;
	open_ok(&v);
	struct ifname_list tl;
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", R("share"), 0, "mode 0775", "writable by group or others");
	vm_close(&v);
}
END_TEST

START_TEST(trust_file_other_owner)
{
	const char *rel = "share/microvm/tap-interfaces";
	tu_write(t.runner, rel, "tap0\n");
	tu_chown(R(rel), TU_NOBODY, TU_NOBODY);
	struct vm v;
	struct mvm_error e;
	open_ok(&v);
	struct ifname_list tl = {.n = 3};
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", R(rel), 0, "uid 65534", "not owned by root");
	ck_assert_uint_eq(tl.n, 0);
	/* Root's but group-writable. */
	tu_chown(R(rel), 0, 0);
	tu_chmod(R(rel), 0664);
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", R(rel), 0, "mode 0664", "writable by group or others");
	/* The executable too. */
	tu_write(t.runner, "bin/microvm-run", "#!/bin/sh\n");
	tu_chmod(R("bin/microvm-run"), 0755);
	tu_chown(R("bin/microvm-run"), TU_NOBODY, 0);
	char *p;
	ck_assert_int_eq(vm_executable(&v, "bin/microvm-run", &p, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", R("bin/microvm-run"), 0, "uid 65534",
			"not owned by root");
	vm_close(&v);
	/* The runner itself, re-pointed by the VM user at its own package. */
	tu_chown(t.runner, TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", t.runner, 0, "uid 65534", "not owned by root");
}
END_TEST

/* A symlink inside a trusted runner must not lead the reader to a file
 * that the VM user controls. */
START_TEST(trust_symlink_escape)
{
	const char *rel = "share/microvm/tap-interfaces";
	char *evil = tu_path(t.root, "evil");
	tu_write(evil, "tap-interfaces", "eth0\n");
	tu_chmod(evil, 0777);
	ck_assert_int_eq(mkdir_p(R("share/microvm"), 0755), 0);
	tu_symlink("../../../evil/tap-interfaces", R(rel));
	struct vm v;
	struct mvm_error e;
	open_ok(&v);
	struct ifname_list tl;
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", evil, 0, "mode 0777", "writable by group or others");
	/* A trusted dir, but the file is someone else's. */
	tu_chmod(evil, 0755);
	tu_chown(P(evil, "tap-interfaces"), TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", P(evil, "tap-interfaces"), 0, "uid 65534",
			"not owned by root");
	/* Root's all the way: a link is fine. */
	tu_chown(P(evil, "tap-interfaces"), 0, 0);
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), 0);
	ck_assert_str_eq(tl.v[0], "eth0");
	ifname_list_free(&tl);
	/* A whole directory linked out: virtiofs, and bin. */
	tu_chmod(evil, 0777);
	tu_write(evil, "vfs/x/source", "/\n");
	tu_write(evil, "vfs/x/socket", "x.sock\n");
	tu_symlink(P(evil, "vfs"), R("share/microvm/virtiofs"));
	struct share_list sl;
	ck_assert_int_eq(vm_shares(&v, &sl, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", evil, 0, "mode 0777", "writable by group or others");
	tu_write(evil, "bin/microvm-run", "#!/bin/sh\n");
	tu_chmod(P(evil, "bin/microvm-run"), 0755);
	tu_symlink(P(evil, "bin"), R("bin"));
	char *p;
	ck_assert_int_eq(vm_executable(&v, "bin/microvm-run", &p, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", evil, 0, "mode 0777", "writable by group or others");
	vm_close(&v);
	/* current itself pointing into the VM user's space. */
	ck_assert_int_eq(unlink(P(t.dir, "current")), 0);
	ck_assert_int_eq(mkdir(P(evil, "runner"), 0755), 0);
	tu_symlink(P(evil, "runner"), P(t.dir, "current"));
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", evil, 0, "mode 0777", "writable by group or others");
	free(evil);
}
END_TEST

/* A link inside the runner to another place inside it (share/microvm ->
 * ../other/dir): the resolved path is checked below the runner too, so
 * a directory there that group and others can write (or another user
 * owns) is refused, by the reader and by `tap-setup -n up`, which says so
 * and changes nothing; root's 0755, the link is fine. */
START_TEST(trust_link_within_runner)
{
	ck_assert_int_eq(mkdir_p(R("other/dir"), 0755), 0);
	tu_write(t.runner, "other/dir/tap-interfaces", "tap0\n");
	ck_assert_int_eq(mkdir_p(R("share"), 0755), 0);
	tu_symlink("../other/dir", R("share/microvm"));
	tu_chmod(R("other"), 0777);
	struct vm v;
	struct mvm_error e;
	open_ok(&v);
	struct ifname_list tl = {.n = 3};
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", R("other"), 0, "mode 0777", "writable by group or others");
	ck_assert_uint_eq(tl.n, 0);
	/* What the administrator sees. */
	char *bin = tu_bin("tap-setup");
	const char *argv[] = {bin, "--state-dir", t.state, "--runtime-dir", t.runtime,
			      "--user", "990", "--group", "78", "-n", "up", "vm1", NULL};
	struct tu_run r;
	tu_run(&r, argv);
	char want[PATH_MAX + 128];
	snprintf(want, sizeof(want),
		 "tap-setup: vm1: unable to trust '%s': writable by group or others: 'mode 0777'",
		 R("other"));
	ck_assert_msg(r.status == 1 && strstr(r.err, want) && !strstr(r.out, "would"),
		      "exit %d\nstdout: %s\nstderr: %s", r.status, r.out, r.err);
	tu_run_free(&r);
	ck_assert_int_ne(access(t.runtime, F_OK), 0);
	/* Root's mode, another user's. */
	tu_chmod(R("other"), 0755);
	tu_chown(R("other"), TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", R("other"), 0, "uid 65534", "not owned by root");
	/* Root's and sticky, as /tmp: still refused inside the runner (the
	 * sticky exception holds only above it). */
	tu_chown(R("other"), 0, 0);
	tu_chmod(R("other"), 01777);
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", R("other"), 0, "mode 1777", "writable by group or others");
	/* Root's: the link is followed. */
	tu_chmod(R("other"), 0755);
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), 0);
	ck_assert_uint_eq(tl.n, 1);
	ck_assert_str_eq(tl.v[0], "tap0");
	ifname_list_free(&tl);
	vm_close(&v);
	free(bin);
}
END_TEST

/* A root-owned sticky directory (/tmp 1777, /nix/store 1775) is fine. */
START_TEST(trust_sticky_dir)
{
	char *sticky = tu_path(t.root, "store");
	char *runner = tu_path(sticky, "abc-microvm-vm1");
	ck_assert_int_eq(mkdir_p(runner, 0755), 0);
	tu_chmod(sticky, 01777);
	tu_write(runner, "share/microvm/tap-interfaces", "tap0\n");
	ck_assert_int_eq(unlink(P(t.dir, "current")), 0);
	tu_symlink(runner, P(t.dir, "current"));
	struct vm v;
	struct mvm_error e;
	open_ok(&v);
	ck_assert_str_eq(v.runner, runner);
	struct ifname_list tl;
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), 0);
	ck_assert_uint_eq(tl.n, 1);
	ifname_list_free(&tl);
	vm_close(&v);
	tu_chmod(sticky, 01775); /* as /nix/store, root:nixbld */
	tu_chown(sticky, 0, 30000);
	open_ok(&v);
	vm_close(&v);
	/* Not root's: refused, sticky or not. */
	tu_chown(sticky, TU_NOBODY, 0);
	tu_chmod(sticky, 01777);
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", sticky, 0, "uid 65534", "not owned by root");
	/* Root's, world-writable, not sticky: refused. */
	tu_chown(sticky, 0, 0);
	tu_chmod(sticky, 0777);
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", sticky, 0, "mode 0777", "writable by group or others");
	/* The sticky exception is for directories: a sticky group-writable
	 * file is still refused. */
	tu_chmod(sticky, 01777);
	tu_chmod(P(runner, "share/microvm/tap-interfaces"), 01666);
	open_ok(&v);
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), -EPERM);
	ck_assert_str_eq(e.path, P(runner, "share/microvm/tap-interfaces"));
	vm_close(&v);
	free(runner);
	free(sticky);
}
END_TEST

/* A runner root names by a target with '..' in it, through `current`
 * (_i 0) or a pin (_i 1): resolved as the kernel would, every directory
 * the way enters checked, and the runner itself checked alone after
 * (vm_open() since 25e3691, not every prefix again by path): a root-owned
 * sticky directory the way passed through ("TMP/sub/..") is still refused
 * as the runner, and a group-writable one the way went through and out of
 * again ("GW/x/../../runner") is refused, though no prefix of the runner. */
START_TEST(trust_runner_through_dotdot)
{
	char *pins = tu_path(t.root, "pins");
	char *link = _i == 0 ? strdup(P(t.dir, "current")) : tu_path(pins, "vm1");
	if (_i == 1) {
		ck_assert_int_eq(mkdir(pins, 0755), 0);
		setenv("MICROVM_RUNNER_PINS", pins, 1);
	}
	char *sticky = tu_path(t.root, "tmp"), *gw = tu_path(t.root, "gw");
	ck_assert_int_eq(mkdir_p(P(sticky, "sub"), 0755), 0);
	ck_assert_int_eq(mkdir_p(P(gw, "x"), 0755), 0);
	ck_assert_int_eq(mkdir_p(R("bin"), 0755), 0);
	tu_chmod(sticky, 01777);
	tu_chmod(gw, 0775);
	struct vm v;
	struct mvm_error e;
	char *target = xasprintf("%s/bin/..", t.runner);
	unlink(link);
	tu_symlink(target, link);
	int r = vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e);
	ck_assert_msg(r == 0, "case %d: %s", _i, tu_error_str(&e));
	ck_assert_str_eq(v.runner, t.runner);
	ck_assert_str_eq(v.link, link);
	vm_close(&v);
	free(target);
	target = xasprintf("%s/sub/..", sticky);
	ck_assert_int_eq(unlink(link), 0);
	tu_symlink(target, link);
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", sticky, 0, "mode 1777", "writable by group or others");
	free(target);
	target = xasprintf("%s/x/../../runner", gw);
	ck_assert_int_eq(unlink(link), 0);
	tu_symlink(target, link);
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", gw, 0, "mode 0775", "writable by group or others");
	tu_chmod(gw, 0755);
	r = vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e);
	ck_assert_msg(r == 0, "case %d: %s", _i, tu_error_str(&e));
	ck_assert_str_eq(v.runner, t.runner);
	vm_close(&v);
	free(target);
	free(gw);
	free(sticky);
	free(link);
	free(pins);
}
END_TEST

/* Attack (found in review after issue 17): the VM user points current (or
 * booted) at a root-owned sticky directory such as /tmp itself. It passed
 * as a runner (the sticky exception), and a bin/ of the VM user's in it,
 * with a link to any root-owned program, made `runner-exec unregister`
 * run that program as root; the same way pci-bind read a root-only file
 * of the VM user's choosing. The runner, and everything below it on the
 * way to a file, must be root's and unwritable by anyone else: the sticky
 * exception holds only above the runner. A link inside it that is not
 * root's, or in a directory that is not, is refused before it is
 * followed. */
START_TEST(trust_sticky_runner)
{
	struct vm v;
	struct mvm_error e;
	char *p;
	char *sticky = tu_path(t.root, "tmp");
	ck_assert_int_eq(mkdir_p(P(sticky, "bin"), 0755), 0);
	tu_chmod(sticky, 01777);
	tu_chown(P(sticky, "bin"), TU_NOBODY, TU_NOBODY);
	tu_symlink("/bin/true", P(sticky, "bin/microvm-run"));
	ck_assert_int_eq(unlink(P(t.dir, "current")), 0);
	tu_symlink(sticky, P(t.dir, "current"));
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", sticky, 0, "mode 1777", "writable by group or others");
	ck_assert_int_eq(unlink(P(t.dir, "current")), 0);
	tu_symlink(t.runner, P(t.dir, "current"));

	/* In a runner of root's: bin/ of the VM user's, a link to a program
	 * of root's in it. */
	ck_assert_int_eq(mkdir(R("bin"), 0755), 0);
	tu_chown(R("bin"), TU_NOBODY, TU_NOBODY);
	tu_symlink("/bin/true", R("bin/microvm-run"));
	open_ok(&v);
	ck_assert_int_eq(vm_executable(&v, "bin/microvm-run", &p, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", R("bin"), 0, "uid 65534", "not owned by root");
	/* bin/ of root's but sticky and world-writable, as /tmp. */
	tu_chown(R("bin"), 0, 0);
	tu_chmod(R("bin"), 01777);
	ck_assert_int_eq(vm_executable(&v, "bin/microvm-run", &p, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", R("bin"), 0, "mode 1777", "writable by group or others");
	/* The link itself not root's. */
	tu_chmod(R("bin"), 0755);
	ck_assert_int_eq(lchown(R("bin/microvm-run"), TU_NOBODY, TU_NOBODY), 0);
	ck_assert_int_eq(vm_executable(&v, "bin/microvm-run", &p, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", R("bin/microvm-run"), 0, "uid 65534",
			"not owned by root");
	/* Root's all the way: a link out of the runner is fine. */
	ck_assert_int_eq(lchown(R("bin/microvm-run"), 0, 0), 0);
	ck_assert_int_eq(vm_executable(&v, "bin/microvm-run", &p, &e), 0);
	free(p);
	vm_close(&v);
	free(sticky);
}
END_TEST

/* Attack (found in review after issue 17): where /etc/fuse.conf has
 * user_allow_other, the VM user mounts a FUSE file system of its own (here
 * bindfs, showing the VM user's files as root's) and points current at it:
 * every file in it looked root's and unwritable, so the VM user's runner
 * passed, and register/unregister ran its program as root. Nothing on
 * FUSE is trusted. The mount is made in a mount namespace of this test's
 * own, by a bindfs that dies with the test. */
START_TEST(trust_fuse_mount)
{
	char *src = tu_path(t.root, "userpkg"), *mnt = tu_path(t.root, "fuse");
	tu_write(src, "share/microvm/tap-interfaces", "tap0\n");
	tu_chown(src, TU_NOBODY, TU_NOBODY);
	tu_chown(P(src, "share"), TU_NOBODY, TU_NOBODY);
	tu_chown(P(src, "share/microvm"), TU_NOBODY, TU_NOBODY);
	tu_chown(P(src, "share/microvm/tap-interfaces"), TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(mkdir(mnt, 0755), 0);
	pid_t fs = tu_bindfs_as_roots(src, mnt, "share");
	ck_assert_int_eq(unlink(P(t.dir, "current")), 0);
	tu_symlink(mnt, P(t.dir, "current"));
	struct vm v;
	struct mvm_error e;
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", mnt, 0, "fuse",
			"on a FUSE mount (its owners are whatever its daemon says)");
	/* A file of a trusted runner that is a link into it: the same. */
	ck_assert_int_eq(unlink(P(t.dir, "current")), 0);
	tu_symlink(t.runner, P(t.dir, "current"));
	ck_assert_int_eq(mkdir_p(R("share"), 0755), 0);
	tu_symlink(P(mnt, "share/microvm"), R("share/microvm"));
	open_ok(&v);
	struct ifname_list tl;
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), -EPERM);
	ck_assert_msg(strstr(tu_error_str(&e), "on a FUSE mount"), "%s", tu_error_str(&e));
	vm_close(&v);
	tu_bindfs_stop(fs, mnt);
	free(mnt);
	free(src);
}
END_TEST

/* Attack (audit of runner-exec, 2026-12-02): the same FUSE mount, on the
 * VM's directory, which the VM user owns (fusermount mounts on a
 * directory of one's own; here the VM user's files are bindfs'd there).
 * In it `current`, the VM user's link to a runner it added to the store,
 * looked root's (owner 0, one name, an absolute target): root's naming,
 * so register and unregister ran that runner's programs as root, and the
 * root helpers took its layout. A link on FUSE is not root's. */
START_TEST(trust_fuse_current)
{
	char *added = tu_path(t.root, "nix-added");
	char *src = tu_path(t.root, "userdir");
	tu_write(added, "share/microvm/tap-interfaces", "eth0\n");
	ck_assert_int_eq(mkdir(src, 0755), 0);
	tu_symlink(added, P(src, "current"));
	tu_chown(P(src, "current"), TU_NOBODY, TU_NOBODY);
	tu_chown(src, TU_NOBODY, TU_NOBODY);
	tu_chown(t.dir, TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(unlink(P(t.dir, "current")), 0); /* (a mount point must be empty) */
	pid_t fs = tu_bindfs_as_roots(src, t.dir, "current");
	struct vm v;
	struct mvm_error e;
	int r = vm_open(&v, t.state, t.name, VM_CURRENT, false, &e);
	if (r == 0)
		vm_close(&v);
	ck_assert_msg(r == -EPERM, "vm_open: %d, the VM user's link taken as root's", r);
	/* (the VM's directory is the mount: refused before its link is read) */
	tu_assert_error(&e, EPERM, "trust", t.dir, 0, "fuse",
			"on a FUSE mount (its owners are whatever its daemon says)");
	tu_bindfs_stop(fs, t.dir);
	free(src);
	free(added);
}
END_TEST

/* The child c waited for up to 3 s while the bindfs fs is stopped, then
 * fs let go on: did c end in time? Its status in *status. */
static bool ended_in_time(pid_t c, pid_t fs, int *status)
{
	int waited = 0;
	while (waited < 3000 && waitpid(c, status, WNOHANG) == 0) {
		usleep(10 * 1000);
		waited += 10;
	}
	ck_assert_int_eq(kill(fs, SIGCONT), 0);
	if (waited >= 3000)
		waitpid(c, status, 0);
	return waited < 3000;
}

/* The VM user's FUSE mount on the VM's directory, or on a directory it
 * named `current` there, whose daemon answers nothing (stopped): vm_open()
 * of `current` (the name another VM's launcher reads too) is refused
 * without waiting on it. Before, fstat() of the directory (case 0) or of
 * `current` (case 1) waited until the daemon answered; and so did, on
 * the directory, the look for it beside root's pin (case 2: stat() by
 * path in pinned(), which every root helper and runner-exec start
 * reach), and the resolution of `current` that allow_untrusted takes
 * (case 3: realpath(), as runner-exec status run as root does). */
START_TEST(stalled_fuse_not_asked)
{
	char *src = tu_path(t.root, "userdir");
	char *mnt = _i != 1 ? strdup(t.dir) : tu_path(t.dir, "current");
	char *pins = tu_path(t.root, "pins");
	if (_i == 2) {
		ck_assert_int_eq(mkdir(pins, 0755), 0);
		tu_symlink(t.runner, P(pins, "vm1"));
		setenv("MICROVM_RUNNER_PINS", pins, 1);
	}
	ck_assert_int_eq(mkdir(src, 0755), 0);
	tu_write(src, "probe", "the VM user's\n");
	ck_assert_int_eq(unlink(P(t.dir, "current")), 0);
	if (_i == 1)
		ck_assert_int_eq(mkdir(mnt, 0755), 0);
	tu_chown(t.dir, TU_NOBODY, TU_NOBODY);
	pid_t fs = tu_bindfs_as_roots(src, mnt, "probe");
	ck_assert_int_eq(kill(fs, SIGSTOP), 0);
	usleep(1500 * 1000); /* (what the mount told of itself no longer cached: 1 s) */
	pid_t c = fork();
	ck_assert_int_ge(c, 0);
	if (c == 0) {
		struct vm v;
		struct mvm_error e;
		int r = vm_open(&v, t.state, t.name, VM_CURRENT, _i == 3, &e);
		_exit(r == -EPERM || r == -EINVAL ? 0 : 1);
	}
	int status = -1;
	bool in_time = ended_in_time(c, fs, &status);
	tu_bindfs_stop(fs, mnt);
	ck_assert_msg(in_time, "case %d: vm_open() waited on the stopped FUSE daemon on %s",
		      _i, mnt);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "case %d: vm_open() not refused (status %d)", _i, status);
	free(pins);
	free(mnt);
	free(src);
}
END_TEST

/* The VM user's stopped FUSE mount where root's `current` leads: its
 * target (_i 0), or a directory on the way to it (_i 1). resolve_rooted()
 * lstat()ed each step by path, asking the mount's daemon (and a mount
 * made on a step after its check was asked all the same); now each step
 * is opened from the one before and a FUSE mount refused unasked, with
 * the error a FUSE mount had before. _i 2: root's pin leads onto it,
 * resolved as it is (allow_untrusted, as runner-exec status run as root
 * does): realpath() of the pin asked the daemon; refused unasked too. */
START_TEST(stalled_fuse_target_not_asked)
{
	char *src = tu_path(t.root, "userpkg"), *mnt = tu_path(t.root, "fuse");
	char *pins = tu_path(t.root, "pins");
	tu_write(src, "share/microvm/tap-interfaces", "tap0\n");
	ck_assert_int_eq(mkdir(mnt, 0755), 0);
	pid_t fs = tu_bindfs_as_roots(src, mnt, "share");
	ck_assert_int_eq(unlink(P(t.dir, "current")), 0);
	if (_i == 2) {
		ck_assert_int_eq(mkdir(pins, 0755), 0);
		tu_symlink(P(mnt, "share"), P(pins, "vm1"));
		setenv("MICROVM_RUNNER_PINS", pins, 1);
	} else {
		tu_symlink(_i == 0 ? mnt : P(mnt, "share"), P(t.dir, "current"));
	}
	ck_assert_int_eq(kill(fs, SIGSTOP), 0);
	usleep(1500 * 1000); /* (what the mount told of itself no longer cached: 1 s) */
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t c = fork();
	ck_assert_int_ge(c, 0);
	if (c == 0) {
		struct vm v;
		struct mvm_error e;
		close(pfd[0]);
		int r = vm_open(&v, t.state, t.name, VM_CURRENT, _i == 2, &e);
		const char *msg = r < 0 ? tu_error_str(&e) : "opened";
		(void)!write(pfd[1], msg, strlen(msg));
		_exit(r == -EPERM && e.err == EPERM && strcmp(e.value, "fuse") == 0 ? 0 : 1);
	}
	close(pfd[1]);
	int status = -1;
	bool in_time = ended_in_time(c, fs, &status);
	char msg[4096] = "";
	ssize_t n = read(pfd[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	tu_bindfs_stop(fs, mnt);
	ck_assert_msg(in_time, "case %d: vm_open() waited on the stopped FUSE daemon on %s",
		      _i, mnt);
	char *want = xasprintf(_i == 2 ? "'%s': on a FUSE mount (not looked into"
				       : "'%s': on a FUSE mount (its owners are whatever its daemon says)",
			       mnt);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0 && strstr(msg, want),
		      "case %d: vm_open() not refused as on FUSE (status %d): %s", _i, status, msg);
	free(want);
	free(pins);
	free(mnt);
	free(src);
}
END_TEST

/* ---- virtiofs told from FUSE: the mount table ---- */

/* mountinfo_fstype() on tables as /proc/self/mountinfo has them (proc(5):
 * ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - TYPE SOURCE
 * SUPER-OPTIONS), and on what the kernel never prints: those are errors,
 * which on_fuse() takes as FUSE (fail closed). */
#define ROOT_LINE "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
static const struct {
	const char *text;
	size_t len; /* 0: strlen(text) */
	unsigned long long id;
	int r;
	const char *type;
} mountinfo_cases[] = {
	/* a nested host's store on a virtiofs share */
	{ ROOT_LINE "98 22 0:45 / /nix/.ro-store rw,relatime shared:40 - virtiofs ro-store rw\n", 0,
	  98, 1, "virtiofs" },
	/* the VM user's FUSE (fusermount gives "fuse.SUBTYPE", "fuse" or "fuseblk") */
	{ ROOT_LINE "99 22 0:46 / /var/lib/microvms/vm1 rw,nosuid,nodev shared:41 - fuse.bindfs "
		    "bindfs rw,user_id=0,group_id=0,allow_other\n",
	  0, 99, 1, "fuse.bindfs" },
	{ ROOT_LINE "99 22 0:46 / /mnt rw - fuse.virtiofs virtiofs rw\n", 0, 99, 1, "fuse.virtiofs" },
	{ ROOT_LINE "99 22 0:46 / /mnt rw - fuse sshfs rw\n", 0, 99, 1, "fuse" },
	/* no such ID (an ID is the whole first field: 9 is not 98) */
	{ ROOT_LINE "98 22 0:45 / /nix/.ro-store rw - virtiofs ro-store rw\n", 0, 9, 0, NULL },
	{ ROOT_LINE "98 22 0:45 / /nix/.ro-store rw - virtiofs ro-store rw\n", 0, 980, 0, NULL },
	{ "", 0, 98, 0, NULL },
	/* escaped white space in the paths and the source; a " - " there
	 * (\040-\040) is no separator */
	{ ROOT_LINE "98 22 0:45 /a\\040-\\040b /srv/my\\040share\\011x rw,relatime master:3 - "
		    "virtiofs my\\040tag rw\n",
	  0, 98, 1, "virtiofs" },
	/* several optional fields; the last line without its newline */
	{ ROOT_LINE "98 22 0:45 / /mnt rw shared:2 master:1 propagate_from:1 unbindable - virtiofs "
		    "t rw",
	  0, 98, 1, "virtiofs" },
	/* malformed: no separator; one too early (a mount point "-", the
	 * options "-"); no type; an empty type; nothing after the type */
	{ ROOT_LINE "98 22 0:45 / /mnt rw virtiofs ro-store rw\n", 0, 98, -EINVAL, NULL },
	{ ROOT_LINE "98 22 0:45 / - virtiofs ro-store rw\n", 0, 98, -EINVAL, NULL },
	{ ROOT_LINE "98 22 0:45 / /mnt - virtiofs ro-store rw\n", 0, 98, -EINVAL, NULL },
	{ ROOT_LINE "98 22 0:45 / /mnt rw -\n", 0, 98, -EINVAL, NULL },
	{ ROOT_LINE "98 22 0:45 / /mnt rw -  ro-store rw\n", 0, 98, -EINVAL, NULL },
	{ ROOT_LINE "98 22 0:45 / /mnt rw - virtiofs\n", 0, 98, -EINVAL, NULL },
	/* malformed elsewhere: an ID that is no number, a blank line, an ID
	 * with no space after it, an ID too large, a NUL byte: the table is
	 * not the kernel's */
	{ "x 1 0:21 / / rw - ext4 /dev/vda1 rw\n"
	  "98 22 0:45 / /mnt rw - virtiofs ro-store rw\n",
	  0, 98, -EINVAL, NULL },
	{ ROOT_LINE "\n98 22 0:45 / /mnt rw - virtiofs ro-store rw\n", 0, 98, -EINVAL, NULL },
	{ ROOT_LINE "98x 22 0:45 / /mnt rw - virtiofs ro-store rw\n", 0, 98, -EINVAL, NULL },
	{ "-98 22 0:45 / /mnt rw - virtiofs ro-store rw\n", 0, 98, -EINVAL, NULL },
	{ "123456789012345678901234567890 1 0:21 / / rw - ext4 a rw\n"
	  "98 22 0:45 / /mnt rw - virtiofs ro-store rw\n",
	  0, 98, -EINVAL, NULL },
	{ "98 22 0:45 / /mnt rw - virtiofs ro-store rw\n\0" ROOT_LINE, sizeof(ROOT_LINE) + 44, 98,
	  -EINVAL, NULL },
	/* one ID twice */
	{ ROOT_LINE "98 22 0:45 / /a rw - virtiofs s rw\n98 22 0:46 / /b rw - fuse s rw\n", 0, 98,
	  -EINVAL, NULL },
	/* a type longer than the buffer */
	{ ROOT_LINE "98 22 0:45 / /mnt rw - fuse.a-very-long-subtype-of-its-own s rw\n", 0, 98,
	  -ENAMETOOLONG, NULL },
};

START_TEST(mountinfo_types)
{
	const char *text = mountinfo_cases[_i].text;
	size_t len = mountinfo_cases[_i].len ? mountinfo_cases[_i].len : strlen(text);
	char type[32];
	memset(type, 'x', sizeof(type));
	type[sizeof(type) - 1] = '\0';
	int r = mountinfo_fstype(text, len, mountinfo_cases[_i].id, type, sizeof(type));
	ck_assert_msg(r == mountinfo_cases[_i].r, "case %d: %d, not %d", _i, r,
		      mountinfo_cases[_i].r);
	if (mountinfo_cases[_i].type)
		ck_assert_str_eq(type, mountinfo_cases[_i].type);
	else /* (untouched) */
		ck_assert_uint_eq(strspn(type, "x"), sizeof(type) - 1);
}
END_TEST

/* A host that is itself a MicroVM, with its store on a virtiofs share:
 * virtiofs has FUSE's magic number, and everything on it was refused as
 * the VM user's FUSE. A mount whose type is "virtiofs" in the mount table
 * is root's (no user namespace can mount one; fusermount's are "fuse" or
 * "fuse.SUBTYPE"), and is trusted as any other file system: here
 * `runner-exec unregister` runs a runner's bin/microvm-unregister from
 * it. No virtiofs mount can be made on this machine (no VM: virtiofs is a
 * guest's side of a share), so the runner is on a bindfs mount, which
 * the program is shown as "virtiofs" by tests/shims/mountinfo.so; with
 * the real table (bindfs's own type, "fuse..."), or one that says
 * "fuse.virtiofs" (a FUSE subtype anyone can give), it stays refused. */
START_TEST(trust_virtiofs_by_mount_type)
{
	char *src = tu_path(t.root, "store"), *mnt = tu_path(t.root, "virtiofs");
	char *ran = tu_path(t.root, "ran"), *script = xasprintf("#!/bin/sh\n: >'%s'\n", ran);
	tu_write(src, "bin/microvm-unregister", script);
	tu_chmod(P(src, "bin/microvm-unregister"), 0755);
	ck_assert_int_eq(mkdir(mnt, 0755), 0);
	pid_t fs = tu_bindfs_as_roots(src, mnt, "bin");
	ck_assert_int_eq(unlink(P(t.dir, "current")), 0);
	tu_symlink(mnt, P(t.dir, "current"));

	/* The real table: the mount is FUSE, and says so. */
	struct statx stx;
	ck_assert_int_eq(statx(AT_FDCWD, mnt, AT_STATX_DONT_SYNC, 0, &stx), 0);
	ck_assert(stx.stx_mask & STATX_MNT_ID);
	char *table, type[64];
	size_t len;
	ck_assert_int_eq(read_file("/proc/self/mountinfo", 1 << 24, &table, &len), 0);
	ck_assert_int_eq(mountinfo_fstype(table, len, stx.stx_mnt_id, type, sizeof(type)), 1);
	free(table);
	ck_assert_msg(strncmp(type, "fuse", 4) == 0, "bindfs's mount is '%s'", type);
	ck_assert_int_eq(on_fuse(mnt, -1), 1);
	/* fail closed: a path that cannot be looked up is an error, not "no FUSE" */
	ck_assert_int_eq(on_fuse(P(t.root, "missing"), -1), -ENOENT);
	struct vm v;
	struct mvm_error e;
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", mnt, 0, "fuse",
			"on a FUSE mount (its owners are whatever its daemon says)");

	char *bin = tu_bin("runner-exec");
	const char *argv[] = {bin, "--state-dir", t.state, "unregister", "vm1", NULL};
	static const char *const types[] = {NULL, "fuse.virtiofs", "virtiofs"};
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		struct tu_mountinfo m = {0};
		if (types[i])
			tu_mountinfo_init(&m, mnt, types[i]);
		struct tu_run r;
		tu_run_env(&r, argv, m.env);
		if (types[i] && strcmp(types[i], "virtiofs") == 0) {
			ck_assert_msg(r.status == 0 && access(ran, F_OK) == 0,
				      "on virtiofs: exit %d, %s; stderr: %s", r.status,
				      access(ran, F_OK) == 0 ? "ran" : "did not run", r.err);
		} else {
			char *want = xasprintf("runner-exec: vm1: unable to trust '%s': on a FUSE "
					       "mount (its owners are whatever its daemon says)",
					       mnt);
			ck_assert_msg(r.status == 1 && strstr(r.err, want) && access(ran, F_OK) < 0,
				      "%s: exit %d; stderr: %s", types[i] ? types[i] : "fuse",
				      r.status, r.err);
			free(want);
		}
		tu_run_free(&r);
		tu_mountinfo_free(&m);
	}
	free(bin);
	tu_bindfs_stop(fs, mnt);
	free(script);
	free(ran);
	free(mnt);
	free(src);
}
END_TEST

/* One of common/vm.h's checks of path (tests/helpers/trust-probe: "fuse"
 * or "check"), run with gate.so (and mountinfo.so showing shown_at as
 * "virtiofs", when given) and held after its first look-up of path; there
 * the VM user swaps what path names: the FUSE mount on it comes off
 * (fusermount -uz) and the directory is exchanged with path.next, a link
 * the VM user made. Its output, "RESULT\nERROR\n" (free it). */
static char *probe_swapped(const char *what, const char *path, const char *shown_at)
{
	char *gate = xasprintf("%s.gate", path), *reached = xasprintf("%s.reached", gate);
	char *next = xasprintf("%s.next", path);
	char *gshim = tu_bin("tests/shims/gate.so"), *mshim = tu_bin("tests/shims/mountinfo.so");
	char *preload = xasprintf("LD_PRELOAD=%s %s", gshim, mshim);
	char *genv = xasprintf("GATE_FILE=%s", gate);
	const char *slash = strrchr(path, '/');
	char *at = xasprintf("GATE_AT=resolve:%s", slash + 1);
	char *mat = xasprintf("MOUNTINFO_AT=%s", shown_at ? shown_at : "");
	const char *const env[] = {preload, genv, at, mat, "MOUNTINFO_TYPE=virtiofs", NULL};
	int fd = open(gate, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	pid_t vmuser = fork();
	ck_assert_int_ge(vmuser, 0);
	if (vmuser == 0) {
		int held = 0;
		for (int i = 0; i < 1000 && !(held = access(reached, F_OK) == 0); i++)
			usleep(10000);
		int swapped = held && umount2(path, MNT_DETACH) == 0 &&
			      renameat2(AT_FDCWD, next, AT_FDCWD, path, RENAME_EXCHANGE) == 0;
		unlink(gate);
		_exit(held ? swapped ? 0 : 2 : 1);
	}
	char *bin = tu_bin("tests/helpers/trust-probe");
	const char *argv[] = {bin, what, path, NULL};
	struct tu_run r;
	tu_run_env(&r, argv, env);
	int st = 0;
	ck_assert_int_eq(waitpid(vmuser, &st, 0), vmuser);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "the probe was %s; stdout: %s; stderr: %s",
		      WIFEXITED(st) && WEXITSTATUS(st) == 1 ? "never held after a look-up of it"
							     : "held, but the swap failed",
		      r.out, r.err);
	ck_assert_msg(r.status == 0, "trust-probe: exit %d: %s", r.status, r.err);
	char *out = r.out;
	r.out = NULL;
	tu_run_free(&r);
	free(bin);
	free(mat);
	free(at);
	free(genv);
	free(preload);
	free(mshim);
	free(gshim);
	free(next);
	free(reached);
	free(gate);
	return out;
}

/* A root-owned sticky directory (as /tmp) with the VM user's FUSE mount
 * shown as root's at STICKY/mnt (its source in *src, the daemon's pid
 * returned), and STICKY/mnt.next, the VM user's link to target. */
static pid_t fuse_in_sticky(const char *target, char **sticky, char **src, char **mnt)
{
	*sticky = tu_path(t.root, "sticky");
	*src = tu_path(t.root, "userdir");
	*mnt = tu_path(*sticky, "mnt");
	ck_assert_int_eq(mkdir(*sticky, 01777), 0);
	tu_chmod(*sticky, 01777);
	ck_assert_int_eq(mkdir(*src, 0755), 0);
	ck_assert_int_eq(mkdir(P(*src, "sub"), 0755), 0);
	tu_chown(P(*src, "sub"), TU_NOBODY, TU_NOBODY);
	tu_chown(*src, TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(mkdir(*mnt, 0755), 0);
	tu_chown(*mnt, TU_NOBODY, TU_NOBODY);
	tu_symlink(target, P(*sticky, "mnt.next"));
	return tu_bindfs_as_roots(*src, *mnt, "sub");
}

/* Attack (second read of on_fuse(), 2026-12-02): on_fuse(path, -1) asked
 * statfs(path), and on FUSE's magic number opened path again for the
 * mount's type: two look-ups. The VM user's FUSE daemon holds a request
 * as long as it likes; meanwhile the VM user takes its mount off a
 * directory of its own (here in a sticky one) and puts a link there, to a
 * mount whose type is "virtiofs": the FUSE mount statfs() saw was then
 * judged by the virtiofs one. One look-up, one object. */
START_TEST(on_fuse_path_looked_up_once)
{
	char *vsrc = tu_path(t.root, "store"), *vmnt = tu_path(t.root, "virtiofs");
	tu_write(vsrc, "probe", "x\n");
	ck_assert_int_eq(mkdir(vmnt, 0755), 0);
	pid_t vfs = tu_bindfs_as_roots(vsrc, vmnt, "probe");
	char *sticky, *src, *mnt;
	pid_t fs = fuse_in_sticky(vmnt, &sticky, &src, &mnt);
	char *out = probe_swapped("fuse", mnt, vmnt);
	ck_assert_msg(strcmp(out, "1\n\n") == 0 || strcmp(out, "1\n") == 0,
		      "on_fuse() of the VM user's FUSE mount, swapped for a link to virtiofs "
		      "between its look-ups: %s",
		      out);
	free(out);
	tu_bindfs_stop(fs, P(sticky, "mnt.next"));
	tu_bindfs_stop(vfs, vmnt);
	free(mnt);
	free(src);
	free(sticky);
	free(vmnt);
	free(vsrc);
}
END_TEST

/* Attack (the same read): trust_check() took a path's owner from lstat()
 * and its file system from on_fuse(), each a look-up of its own. The VM
 * user's FUSE mount in a sticky directory showed root's directory to the
 * lstat(), and was swapped for a link to a directory of root's before
 * the statfs(): the FUSE directory passed as root's. Owner and file
 * system now come from one descriptor. */
START_TEST(trust_path_looked_up_once)
{
	char *real = tu_path(t.root, "rootsdir");
	ck_assert_int_eq(mkdir(real, 0755), 0);
	char *sticky, *src, *mnt;
	pid_t fs = fuse_in_sticky(real, &sticky, &src, &mnt);
	char *out = probe_swapped("check", mnt, NULL);
	char *want = xasprintf("-1\nunable to trust '%s': on a FUSE mount", mnt);
	ck_assert_msg(strncmp(out, want, strlen(want)) == 0,
		      "trust_check() of the VM user's FUSE mount, swapped for a link to root's "
		      "directory between its look-ups: %s",
		      out);
	free(want);
	free(out);
	tu_bindfs_stop(fs, P(sticky, "mnt.next"));
	free(mnt);
	free(src);
	free(sticky);
	free(real);
}
END_TEST

/* The state dir is the VM user's: it is not part of the check. */
START_TEST(trust_state_dir_not_checked)
{
	tu_chown(t.dir, TU_NOBODY, TU_NOBODY);
	tu_chmod(t.state, 0777);
	struct vm v;
	open_ok(&v);
	vm_close(&v);
}
END_TEST

START_TEST(allow_untrusted_lifts_all)
{
	const char *rel = "share/microvm/tap-interfaces";
	tu_write(t.runner, rel, "tap0\n");
	tu_chown(t.runner, TU_NOBODY, TU_NOBODY);
	tu_chown(R(rel), TU_NOBODY, TU_NOBODY);
	tu_chmod(R(rel), 0666);
	tu_chmod(t.root, 0777);
	struct vm v;
	struct mvm_error e;
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, false, &e), -EPERM);
	ck_assert_int_eq(vm_open(&v, t.state, "vm1", VM_CURRENT, true, &e), 0);
	struct ifname_list tl;
	ck_assert_int_eq(vm_tap_interfaces(&v, &tl, &e), 0);
	ck_assert_str_eq(tl.v[0], "tap0");
	ifname_list_free(&tl);
	vm_close(&v);
}
END_TEST

/* The runner roots ($MICROVM_RUNNER_ROOTS): the default, a list with
 * entries that are not absolute (ignored), a root that is a prefix of
 * the runner's path but not a directory above it, and "/". */
START_TEST(trust_runner_roots)
{
	struct vm v;
	struct mvm_error e;
	unsetenv("MICROVM_RUNNER_ROOTS");
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", t.runner, 0, "/nix/store", "not below a runner root");
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, true, &e), 0);
	vm_close(&v);

	char *list = xasprintf("relative::%s:/nonexistent", t.root);
	setenv("MICROVM_RUNNER_ROOTS", list, 1);
	open_ok(&v);
	vm_close(&v);
	/* ROOT/run is a prefix of ROOT/runner, not above it */
	setenv("MICROVM_RUNNER_ROOTS", t.runtime, 1);
	ck_assert_int_eq(mkdir_p(t.runtime, 0755), 0);
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", t.runner, 0, t.runtime, "not below a runner root");
	/* a root is not below itself */
	setenv("MICROVM_RUNNER_ROOTS", t.runner, 1);
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	setenv("MICROVM_RUNNER_ROOTS", "/", 1);
	open_ok(&v);
	vm_close(&v);
	/* A relative entry is ignored even where it would resolve (from the
	 * working directory, which is no promise of root's). */
	char cwd[PATH_MAX];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir(t.root), 0);
	setenv("MICROVM_RUNNER_ROOTS", ".", 1);
	int r = vm_open(&v, t.state, t.name, VM_CURRENT, false, &e);
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_int_eq(r, -EPERM);
	tu_assert_error(&e, EPERM, "trust", t.runner, 0, ".", "not below a runner root");
	/* Set but empty (Environment=MICROVM_RUNNER_ROOTS=): the default. */
	setenv("MICROVM_RUNNER_ROOTS", "", 1);
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", t.runner, 0, "/nix/store", "not below a runner root");
	free(list);
	setenv("MICROVM_RUNNER_ROOTS", "/tmp", 1); /* as main() set it */
}
END_TEST

/* Attack: a VM user, who owns its directory, points `current` at a
 * runner of its own that passes every rule of the runner itself: root's
 * all along and below a runner root. On a NixOS host any user the Nix
 * daemon lets in (everyone by default) can add such a path to /nix/store;
 * here root made it, as the daemon would. Only a `current` that root
 * made names a runner for the root helpers; the VM user's is refused,
 * naming the link and its owner. `booted` is the VM user's to make
 * (runner-exec start runs as that user; only `stop` reads it, as that
 * user). */
static int user_points_current(void *arg)
{
	const char *target = arg;
	const char *link = P(t.dir, "current");
	if (unlink(link) < 0 || symlink(target, link) < 0)
		return 1;
	unlink(P(t.dir, "booted"));
	return symlink(target, P(t.dir, "booted")) < 0;
}

START_TEST(trust_current_named_by_root)
{
	tu_chown(t.dir, TU_NOBODY, TU_NOBODY);
	char *added = tu_path(t.root, "nix-added");
	tu_write(added, "share/microvm/tap-interfaces", "eth0\n");
	ck_assert_int_eq(tu_fork_call(TU_NOBODY, TU_NOBODY, user_points_current, added), 0);

	struct vm v;
	struct mvm_error e;
	char uid[32];
	snprintf(uid, sizeof(uid), "uid %u", (unsigned)TU_NOBODY);
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", P(t.dir, "current"), 0, uid, "a link not made by root");
	ck_assert_ptr_nonnull(strstr(e.hint, "only root points"));
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, true, &e), 0);
	ck_assert_str_eq(v.runner, added);
	vm_close(&v);
	/* The VM user's `booted`: for runner-exec stop, run as that user. */
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_BOOTED, false, &e), 0);
	ck_assert_str_eq(v.runner, added);
	vm_close(&v);
	/* The same link, root's: the runner it names is trusted. */
	tu_chown(P(t.dir, "current"), 0, 0);
	open_ok(&v);
	ck_assert_str_eq(v.runner, added);
	vm_close(&v);
	/* A second name of root's link (a hard link, were
	 * fs.protected_hardlinks off for the VM user): not root's naming. */
	ck_assert_int_eq(link(P(t.dir, "current"), P(t.root, "second")), 0);
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", P(t.dir, "current"), 0, "",
			"a link with more than one name");
	ck_assert_int_eq(unlink(P(t.root, "second")), 0);
	/* A relative target of root's: it resolves through the VM user's
	 * directory, where the user could put a link of its own. */
	ck_assert_int_eq(unlink(P(t.dir, "current")), 0);
	tu_symlink("../../nix-added", P(t.dir, "current"));
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", P(t.dir, "current"), 0, "../../nix-added",
			"a relative link (through the VM user's directory)");
	ck_assert_int_eq(unlink(P(t.dir, "current")), 0);
	tu_symlink("../it's\nadded", P(t.dir, "current")); /* shown escaped */
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", P(t.dir, "current"), 0, "../it\\'s\\x0aadded",
			"a relative link (through the VM user's directory)");
	/* No link at all: a directory of the VM user's making. */
	ck_assert_int_eq(unlink(P(t.dir, "current")), 0);
	ck_assert_int_eq(mkdir(P(t.dir, "current"), 0755), 0);
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "resolve", P(t.dir, "current"), 0, "", "not a symlink");
	free(added);
}
END_TEST

/* Attack (audit of the module, 2026-12-01): a guest's root writes through
 * a virtiofs share as host uid 0, links too. In a share on the state
 * dir's file system (microvm.nix's docs put volumes and shares in the
 * VM's directory) it makes a link to a runner the VM user added to the
 * store, and the VM user renames it to `current`: owned by root, one
 * name, an absolute target, so it passed as root's naming. Root's pin
 * (MICROVM_RUNNER_PINS/NAME, which the NixOS module writes for each VM
 * whose runner it declares) names the runner instead, and `current` is
 * not read. */
static int user_moves_link(void *arg)
{
	(void)arg;
	return rename(P(t.dir, "storage/l"), P(t.dir, "current")) < 0;
}

START_TEST(trust_pin_over_guest_link)
{
	char *added = tu_path(t.root, "nix-added");
	ck_assert_int_eq(mkdir_p(added, 0755), 0);
	char *pins = tu_path(t.root, "pins");
	ck_assert_int_eq(mkdir_p(pins, 0755), 0);
	tu_symlink(t.runner, P(pins, "vm1"));
	ck_assert_int_eq(mkdir_p(P(t.dir, "storage"), 0755), 0);
	tu_chown(P(t.dir, "storage"), TU_NOBODY, TU_NOBODY);
	tu_chown(t.dir, TU_NOBODY, TU_NOBODY);
	tu_symlink(added, P(t.dir, "storage/l")); /* the guest's root, through virtiofsd */
	ck_assert_int_eq(tu_fork_call(TU_NOBODY, TU_NOBODY, user_moves_link, NULL), 0);

	setenv("MICROVM_RUNNER_PINS", pins, 1);
	struct vm v;
	struct mvm_error e;
	open_ok(&v);
	ck_assert_str_eq(v.runner, t.runner);
	ck_assert_str_eq(v.link, P(pins, "vm1"));
	vm_close(&v);
	/* `booted` is what runs, whatever the pin says (runner-exec stop). */
	tu_symlink(added, P(t.dir, "booted"));
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_BOOTED, false, &e), 0);
	ck_assert_str_eq(v.runner, added);
	ck_assert_str_eq(v.link, P(t.dir, "booted"));
	vm_close(&v);
	/* A relative pin (ln -s ../runner): from the pin directory, ".."
	 * one step up. */
	ck_assert_int_eq(unlink(P(pins, "vm1")), 0);
	tu_symlink("../runner", P(pins, "vm1"));
	open_ok(&v);
	ck_assert_str_eq(v.runner, t.runner);
	vm_close(&v);
	ck_assert_int_eq(unlink(P(pins, "vm1")), 0);
	tu_symlink(t.runner, P(pins, "vm1"));
	/* ... also for what does not check trust (runner-exec status). */
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, true, &e), 0);
	ck_assert_str_eq(v.runner, t.runner);
	vm_close(&v);

	/* A pin directory of someone else's: its owner could remove the pin
	 * (and `current` would be read), so it is refused, pin or none. */
	tu_chown(pins, TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(rename(P(pins, "vm1"), P(t.root, "vm1.pin")), 0);
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", pins, 0, "uid 65534", "not owned by root");
	ck_assert_int_eq(rename(P(t.root, "vm1.pin"), P(pins, "vm1")), 0);
	tu_chown(pins, 0, 0);
	/* A pin of a VM with no directory: no such VM, as without a pin. */
	tu_symlink(t.runner, P(pins, "vm9"));
	ck_assert_int_eq(vm_open(&v, t.state, "vm9", VM_CURRENT, false, &e), -ENOENT);
	tu_assert_error(&e, ENOENT, "find VM", "vm9", 0, "", NULL);
	/* A pin that leads nowhere is an error, not "no pin". */
	ck_assert_int_eq(unlink(P(pins, "vm1")), 0);
	tu_symlink(P(t.root, "gone"), P(pins, "vm1"));
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -ENOLINK);
	tu_assert_error(&e, ENOLINK, "resolve", P(pins, "vm1"), 0, P(t.root, "gone"),
			"dangling symlink");
	/* A pin not root's, a pin directory others may write: refused. */
	ck_assert_int_eq(unlink(P(pins, "vm1")), 0);
	tu_symlink(t.runner, P(pins, "vm1"));
	tu_chown(P(pins, "vm1"), TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", P(pins, "vm1"), 0, "uid 65534",
			"a link not made by root");
	tu_chown(P(pins, "vm1"), 0, 0);
	/* A pin whose chain runs through a link of the VM user's (`current`
	 * here) or through its directory: the VM user would choose. */
	ck_assert_int_eq(unlink(P(pins, "vm1")), 0);
	tu_symlink(P(t.dir, "current"), P(pins, "vm1"));
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", t.dir, 0, "uid 65534", "not owned by root");
	tu_chown(t.dir, 0, 0); /* a root's directory, the VM user's link */
	tu_chown(P(t.dir, "current"), TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", P(t.dir, "current"), 0, "uid 65534",
			"a link not made by root");
	tu_chown(t.dir, TU_NOBODY, TU_NOBODY);
	/* The pin directory reached through a link in a directory others may
	 * write: whoever can replace that link chooses the pins. */
	ck_assert_int_eq(unlink(P(pins, "vm1")), 0);
	tu_symlink(t.runner, P(pins, "vm1"));
	char *open_dir = tu_path(t.root, "w");
	ck_assert_int_eq(mkdir(open_dir, 0777), 0);
	tu_chmod(open_dir, 0777);
	tu_symlink(pins, P(open_dir, "pins"));
	setenv("MICROVM_RUNNER_PINS", P(open_dir, "pins"), 1);
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", open_dir, 0, "mode 0777", "writable by group or others");
	/* --allow-untrusted: the pin as it is. */
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, true, &e), 0);
	ck_assert_str_eq(v.runner, t.runner);
	vm_close(&v);
	/* ... and whoever removes that link does not switch the pins off
	 * (`current` would be read): refused the same. */
	ck_assert_int_eq(unlink(P(open_dir, "pins")), 0);
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", open_dir, 0, "mode 0777", "writable by group or others");
	/* A step that is no directory is an error, as for the kernel (a file
	 * in a sticky directory, which its owner could turn into a link). */
	setenv("MICROVM_RUNNER_PINS", pins, 1);
	char *sticky = tu_path(t.root, "sticky");
	ck_assert_int_eq(mkdir(sticky, 0755), 0);
	tu_chmod(sticky, 01777);
	tu_write(sticky, "f", "");
	tu_chown(P(sticky, "f"), TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(unlink(P(pins, "vm1")), 0);
	tu_symlink(P(sticky, "f/../../runner"), P(pins, "vm1"));
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -ENOTDIR);
	tu_assert_error(&e, ENOTDIR, "trust", P(sticky, "f"), 0, "", NULL);
	ck_assert_int_eq(unlink(P(pins, "vm1")), 0);
	tu_symlink(t.runner, P(pins, "vm1"));
	free(sticky);
	free(open_dir);
	tu_chmod(pins, 0775);
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", pins, 0, "mode 0775", "writable by group or others");
	tu_chmod(pins, 0755);
	/* No pin of this VM: `current` as root made it, or nothing. */
	ck_assert_int_eq(unlink(P(pins, "vm1")), 0);
	tu_symlink(added, P(pins, "vm2"));
	tu_chown(P(t.dir, "current"), TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EPERM);
	tu_assert_error(&e, EPERM, "trust", P(t.dir, "current"), 0, "uid 65534",
			"a link not made by root");
	setenv("MICROVM_RUNNER_PINS", "relative/pins", 1);
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, false, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "read", "MICROVM_RUNNER_PINS", 0, "relative/pins",
			"not an absolute path");
	setenv("MICROVM_RUNNER_PINS", TU_NO_PINS, 1);
	free(pins);
	free(added);
}
END_TEST

/* Attack (review): the VM user exchanges root's `current` with a link of
 * its own and back, again and again (renameat2 RENAME_EXCHANGE keeps each
 * inode), so that a check of the owner by name and a read of the text by
 * name can see two different links. Here for 2 s of vm_open() calls: the
 * VM user's runner never comes back. (With the owner and the text taken
 * by name, a run of 200,000 calls returned it 11 to 32 times.) */
static int exchange_loop(void *arg)
{
	const char *dir = arg;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return 1;
	for (;;)
		if (renameat2(dfd, "current", dfd, "mine", RENAME_EXCHANGE) < 0)
			return 2;
}

START_TEST(trust_current_exchange_race)
{
	char *added = tu_path(t.root, "nix-added");
	ck_assert_int_eq(mkdir_p(added, 0755), 0);
	tu_chown(t.dir, TU_NOBODY, TU_NOBODY);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The VM user's own link beside root's, then the exchanges. */
		if (setgroups(0, NULL) < 0 || setresgid(TU_NOBODY, TU_NOBODY, TU_NOBODY) < 0 ||
		    setresuid(TU_NOBODY, TU_NOBODY, TU_NOBODY) < 0 ||
		    symlink(added, P(t.dir, "mine")) < 0)
			_exit(3);
		_exit(exchange_loop(t.dir));
	}
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long calls = 0, theirs = 0, ours = 0;
	do {
		struct vm v;
		struct mvm_error e;
		if (vm_open(&v, t.state, t.name, VM_CURRENT, false, &e) == 0) {
			if (strcmp(v.runner, added) == 0)
				theirs++;
			else
				ours++;
			vm_close(&v);
		}
		calls++;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - t0.tv_sec < 2);
	kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, 0);
	ck_assert_msg(WIFSIGNALED(st), "the exchanges stopped: status 0x%x", st);
	ck_assert_msg(ours > 0, "root's runner never opened in %ld calls", calls);
	ck_assert_msg(theirs == 0, "the VM user's runner trusted %ld times in %ld calls", theirs,
		      calls);
	free(added);
}
END_TEST

/* Attack (audit of virtiofs-launch, hR): the state dir is the VM user's
 * (the NixOS module makes it 0775 microvm:kvm), so the VM's directory is
 * a name the VM user can replace, by a symlink to a directory that holds
 * a `current` link root owns, one name, an absolute target: on a NixOS
 * host a path the VM user added to /nix/store through the Nix daemon
 * (`nix-store --add` of a directory holding that link), which the daemon
 * makes root's. That passed as root's naming: the root helpers took the
 * VM user's runner (virtiofs-launch then served what its shares name,
 * the host's / say). Here root made that directory, as the daemon would.
 * Wanted: the VM's directory opened without following a symlink, the
 * link refused with its target named, root's runner never replaced. */
static int user_links_vm_dir(void *arg)
{
	const char *target = arg;
	return rename(t.dir, P(t.state, "vm1.orig")) < 0 || symlink(target, t.dir) < 0;
}

START_TEST(trust_vm_dir_symlink_refused)
{
	char *evil = tu_path(t.root, "nix-added-runner");
	tu_write(evil, "share/microvm/virtiofs/root/source", "/\n");
	tu_write(evil, "share/microvm/virtiofs/root/socket", "root.sock\n");
	char *holder = tu_path(t.root, "nix-added-dir");
	ck_assert_int_eq(mkdir(holder, 0755), 0);
	tu_symlink(evil, P(holder, "current")); /* root's, as in the store */
	tu_chown(t.state, TU_NOBODY, TU_NOBODY);
	tu_chmod(t.state, 0775);
	tu_chown(t.dir, TU_NOBODY, TU_NOBODY);
	ck_assert_int_eq(tu_fork_call(TU_NOBODY, TU_NOBODY, user_links_vm_dir, holder), 0);

	struct vm v;
	struct mvm_error e;
	int r = vm_open(&v, t.state, t.name, VM_CURRENT, false, &e);
	ck_assert_msg(r != 0 || strcmp(v.runner, evil) != 0,
		      "the VM user's runner %s trusted, through its link %s", evil, t.dir);
	if (r == 0)
		vm_close(&v);
	ck_assert_int_eq(r, -EPERM);
	tu_assert_error(&e, EPERM, "trust", t.dir, 0, holder,
			"a symlink in the state dir (refused: the VM user could point it "
			"anywhere)");
	/* --allow-untrusted: as it is. */
	ck_assert_int_eq(vm_open(&v, t.state, t.name, VM_CURRENT, true, &e), 0);
	ck_assert_str_eq(v.runner, evil);
	vm_close(&v);
	/* Root's own directory back: root's runner. */
	ck_assert_int_eq(unlink(t.dir), 0);
	ck_assert_int_eq(rename(P(t.state, "vm1.orig"), t.dir), 0);
	open_ok(&v);
	ck_assert_str_eq(v.runner, t.runner);
	vm_close(&v);
	free(holder);
	free(evil);
}
END_TEST

START_TEST(trust_check_direct)
{
	struct mvm_error e;
	ck_assert_int_eq(trust_check(t.runner, &e), 0);
	ck_assert_int_eq(trust_check("/", &e), 0);
	ck_assert_int_eq(trust_check("relative/path", &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "trust", "relative/path", 0, "", "not an absolute path");
	ck_assert_int_eq(trust_check(P(t.root, "missing/x"), &e), -ENOENT);
	tu_assert_error(&e, ENOENT, "trust", P(t.root, "missing"), 0, "", NULL);
	/* The path must be resolved: a link on it is refused. */
	tu_symlink(t.runner, P(t.root, "link"));
	ck_assert_int_eq(trust_check(P(t.root, "link"), &e), -ELOOP);
	tu_assert_error(&e, ELOOP, "trust", P(t.root, "link"), 0, "", "a symlink in a resolved path");
	tu_chmod(t.runner, 0775);
	ck_assert_int_eq(trust_check(P(t.runner, "x"), NULL), -EPERM);
}
END_TEST

/* vm_scan_open(), which takes the state dir, the pins' directory and the
 * directories the runners lie in once for many VMs, says of each VM what
 * vm_open() says, in the same words: the runner, or the refusal. The VMs
 * take turns between good and refused directories, so that a directory
 * looked at for one VM is met again by the next: a runner in a
 * group-writable directory, or in another user's, or through another
 * user's link, is refused however many VMs before it lay there. Three
 * rounds: with root's pins' directory, with none, and with one that is
 * group-writable (every VM refused, not read from `current`). */
START_TEST(scan_says_what_open_says)
{
	char *store = tu_path(t.root, "store"), *gw = tu_path(t.root, "gw");
	char *theirs = tu_path(t.root, "theirs"), *pins = tu_path(t.root, "pins");
	const char *dirs[] = {store, gw, theirs, pins};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		ck_assert_int_eq(mkdir_p(dirs[i], 0755), 0);
	const char *runners[] = {"a", "b", "c"};
	for (size_t i = 0; i < ARRAY_SIZE(runners); i++) {
		ck_assert_int_eq(mkdir_p(P(store, runners[i]), 0755), 0);
		ck_assert_int_eq(mkdir_p(P(gw, runners[i]), 0755), 0);
		ck_assert_int_eq(mkdir_p(P(theirs, runners[i]), 0755), 0);
	}
	tu_chmod(gw, 0775);
	tu_chown(theirs, TU_NOBODY, TU_NOBODY);
	tu_symlink(store, P(t.root, "store-link"));
	tu_symlink(P(store, "a"), P(store, "users-link"));
	ck_assert_int_eq(lchown(P(store, "users-link"), TU_NOBODY, TU_NOBODY), 0);
	tu_symlink(P(store, "b"), P(pins, "pinned"));
	tu_symlink("../store/a", P(store, "rel"));
	static const struct {
		const char *name, *dir, *runner; /* current: ROOT/dir/runner */
		int want;
	} vms[] = {
		{"v01", "store", "a", 0},
		{"v02", "gw", "a", -EPERM},
		{"v03", "store", "b", 0},
		{"v04", "gw", "b", -EPERM},
		{"v05", "theirs", "a", -EPERM},
		{"v06", "store", "c", 0},
		{"v07", "theirs", "b", -EPERM},
		{"v08", "store", "users-link", -EPERM},
		{"v09", "store-link", "a", 0},
		{"v10", "store", "missing", -ENOENT},
		{"v11", "gw", "c", -EPERM},
		{"v12", "store", "..", 0},      /* (ROOT itself: a last step "..") */
		{"v14", "store", "rel", 0},     /* (a relative link, "..": store/a) */
		{"pinned", "gw", "a", 0},       /* (the pin, not `current`) */
		{"v13", "store", "c", 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(vms); i++) {
		ck_assert_int_eq(mkdir_p(P(t.state, vms[i].name), 0755), 0);
		tu_symlink(P(P(t.root, vms[i].dir), vms[i].runner), P(P(t.state, vms[i].name), "current"));
	}
	char *missing = tu_path(t.root, "no-pins");
	for (int round = 0; round < 3; round++) {
		if (round == 2)
			tu_chmod(pins, 0775);
		setenv("MICROVM_RUNNER_PINS", round == 1 ? missing : pins, 1);
		struct vm_scan scan = {.state_dir = t.state};
		for (size_t i = 0; i < ARRAY_SIZE(vms); i++) {
			struct vm a, b;
			struct mvm_error ea = {0}, eb = {0};
			int ra = vm_open(&a, t.state, vms[i].name, VM_CURRENT, false, &ea);
			int rb = vm_scan_open(&scan, &b, vms[i].name, &eb);
			/* (without pins, "pinned" is read from `current`: gw/a) */
			int want = round == 2 ? -EPERM
				   : round == 1 && strcmp(vms[i].name, "pinned") == 0 ? -EPERM
				   : vms[i].want;
			ck_assert_msg(ra == want, "round %d, %s: vm_open %d, wanted %d (%s)", round,
				      vms[i].name, ra, want, ra < 0 ? tu_error_str(&ea) : a.runner);
			ck_assert_msg(rb == ra, "round %d, %s: vm_scan_open %d (%s), vm_open %d (%s)",
				      round, vms[i].name, rb, rb < 0 ? tu_error_str(&eb) : b.runner,
				      ra, ra < 0 ? tu_error_str(&ea) : a.runner);
			if (ra == 0) {
				ck_assert_str_eq(b.runner, a.runner);
				ck_assert_str_eq(b.link, a.link);
				vm_close(&a);
				vm_close(&b);
			} else {
				char sa[2 * PATH_MAX];
				snprintf(sa, sizeof(sa), "%s", tu_error_str(&ea));
				ck_assert_str_eq(tu_error_str(&eb), sa);
			}
		}
		vm_scan_free(&scan);
	}
	free(missing);
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		free((char *)dirs[i]);
}
END_TEST

Suite *vm_suite(void)
{
	Suite *s = suite_create("vm");
	TCase *tc;

	tc = tu_tcase_create("open");
	tcase_add_checked_fixture(tc, setup, teardown);
	tu_add_test_if(tc, open_current, tu_need_root());
	tu_add_test_if(tc, open_booted, tu_need_root());
	tcase_add_test(tc, open_missing);
	tcase_add_loop_test(tc, open_bad_name, 0, ARRAY_SIZE(bad_names));
	tu_add_test_if(tc, open_name_128, tu_need_root());
	tcase_add_test(tc, lock_elsewhere_is_a_name);
	suite_add_tcase(s, tc);

	tc = tu_tcase_create("read");
	tcase_add_checked_fixture(tc, setup, teardown);
	tu_add_test_if(tc, read_every_format, tu_need_root());
	tu_add_test_if(tc, shares_relative_to_real_state_dir, tu_need_root());
	tu_add_test_if(tc, missing_files_are_empty, tu_need_root());
	tu_add_test_if(tc, crlf_files, tu_need_root());
	tu_add_loop_test_if(tc, bad_file, 0, ARRAY_SIZE(bad_files), tu_need_root());
	tu_add_test_if(tc, ifname_15_and_16_bytes, tu_need_root());
	tu_add_test_if(tc, file_is_directory, tu_need_root());
	tu_add_test_if(tc, dangling_symlink, tu_need_root());
	tu_add_test_if(tc, unreadable_file, tu_need_root());
	tu_add_test_if(tc, file_65k, tu_need_root());
	tu_add_test_if(tc, fifo_not_regular, tu_need_root());
	tu_add_test_if(tc, share_missing_socket, tu_need_root());
	tu_add_test_if(tc, share_bad_tag, tu_need_root());
	tu_add_test_if(tc, share_same_socket, tu_need_root());
	tcase_add_test(tc, socket_paths_compared);
	tu_add_test_if(tc, share_inside_writable_share, tu_need_root());
	tu_add_test_if(tc, share_settings_files, tu_need_root());
	tu_add_test_if(tc, share_settings_of_microvm_nix, tu_need_root());
	tu_add_test_if(tc, share_script_outside_runner_roots, tu_need_root());
	tu_add_test_if(tc, share_script_through_a_symlink, tu_need_root());
	tu_add_test_if(tc, share_unknown_setting_file, tu_need_root());
	tu_add_test_if(tc, share_setting_untrusted, tu_need_root());
	tu_add_test_if(tc, share_dir_untrusted, tu_need_root());
	tu_add_loop_test_if(tc, share_dir_through_linked_steps, 0, 4, tu_need_root());
	tu_add_test_if(tc, share_dir_on_fuse, tu_need_bindfs());
	tu_add_test_if(tc, share_file_on_fuse, tu_need_bindfs());
	tu_add_test_if(tc, share_file_symlinks, tu_need_root());
	tu_add_test_if(tc, executables, tu_need_root());
	tu_add_test_if(tc, system_link, tu_need_root());
	suite_add_tcase(s, tc);

	tc = tu_tcase_create("mountinfo");
	tcase_add_loop_test(tc, mountinfo_types, 0, ARRAY_SIZE(mountinfo_cases));
	suite_add_tcase(s, tc);

	tc = tu_tcase_create("trust");
	tcase_add_checked_fixture(tc, setup, teardown);
	/* Check's default is 4 s a test: trust_current_exchange_race runs 2 s
	 * of calls, trust_fuse_mount waits up to 5 s for bindfs. */
	tcase_set_timeout(tc, 30);
	tu_add_test_if(tc, trust_group_writable_dir, tu_need_root());
	tu_add_test_if(tc, trust_dir_inside_runner, tu_need_root());
	tu_add_test_if(tc, trust_file_other_owner, tu_need_root());
	tu_add_test_if(tc, trust_symlink_escape, tu_need_root());
	tu_add_test_if(tc, trust_link_within_runner, tu_need_root());
	tu_add_test_if(tc, trust_sticky_dir, tu_need_root());
	tu_add_test_if(tc, trust_sticky_runner, tu_need_root());
	tu_add_loop_test_if(tc, trust_runner_through_dotdot, 0, 2, tu_need_root());
	tu_add_test_if(tc, trust_fuse_mount, tu_need_bindfs());
	tu_add_test_if(tc, trust_fuse_current, tu_need_bindfs());
	tu_add_loop_test_if(tc, stalled_fuse_not_asked, 0, 4, tu_need_bindfs());
	tu_add_loop_test_if(tc, stalled_fuse_target_not_asked, 0, 3, tu_need_bindfs());
	tu_add_test_if(tc, trust_virtiofs_by_mount_type, tu_need_bindfs());
	tu_add_test_if(tc, on_fuse_path_looked_up_once, tu_need_bindfs());
	tu_add_test_if(tc, trust_path_looked_up_once, tu_need_bindfs());
	tu_add_test_if(tc, trust_state_dir_not_checked, tu_need_root());
	tcase_add_test(tc, allow_untrusted_lifts_all);
	tu_add_test_if(tc, trust_check_direct, tu_need_root());
	tu_add_test_if(tc, trust_runner_roots, tu_need_root());
	tu_add_test_if(tc, trust_current_named_by_root, tu_need_root());
	tu_add_test_if(tc, trust_current_exchange_race, tu_need_root());
	tu_add_test_if(tc, trust_pin_over_guest_link, tu_need_root());
	tu_add_test_if(tc, trust_vm_dir_symlink_refused, tu_need_root());
	tu_add_test_if(tc, scan_says_what_open_says, tu_need_root());
	suite_add_tcase(s, tc);
	return s;
}
