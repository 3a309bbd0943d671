/* SPDX-License-Identifier: MIT */
/* tap-setup, against the kernel: each test forks (Check), then makes its
 * own network and mount namespace and mounts a fresh sysfs on /sys there
 * (tapkit.h), so /sys/class/net shows the test's interfaces and nothing on
 * the host is touched. The attacks of the VM user are in tap-attack.c. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h> /* before the linux/ headers */
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/macvtap.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/qdisc.h>
#include <linux/pkt_sched.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tapkit.h"
#include "testutil.h"
#include "util.h"

/* ---- TAPs ------------------------------------------------------------------ */

static const struct {
	const char *flags;
	unsigned tun_flags;
} flag_cases[] = {
	{ NULL, IFF_TAP | IFF_NO_PI },
	{ "vnet_hdr\n", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR },
	{ "multi_queue\n", IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE },
	{ "vnet_hdr multi_queue\n", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE },
};

START_TEST(up_creates_taps_down_deletes)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\n", flag_cases[_i].flags);
	tap_ok(&t, "up", NULL);
	for (int k = 0; k < 2; k++) {
		const char *n = k ? "vm1-b" : "vm1-a";
		ck_assert_int_gt(ifindex(n), 0);
		ck_assert_uint_eq(sysnum(n, "tun_flags"), flag_cases[_i].tun_flags | IFF_PERSIST);
		ck_assert_uint_eq(sysnum(n, "owner"), UID);
		ck_assert_uint_eq(sysnum(n, "group"), GID);
		ck_assert_uint_ne(sysnum(n, "flags") & IFF_UP, 0);
		ck_assert_uint_ne(sysnum(n, "netdev_group"), 0);
	}
	char *rec = record_of(&t, "tap");
	ck_assert_ptr_nonnull(rec);
	ck_assert_ptr_nonnull(strstr(rec, "vm1-a"));
	free(rec);

	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_int_eq(ifindex("vm1-b"), 0);
	ck_assert_ptr_null(record_of(&t, "tap"));
	tu_vm_free(&t);
}
END_TEST

/* Attach one queue of name as uid/gid; 0 or errno. */
static int attach_as(const char *tun, const char *name, uid_t uid, gid_t gid,
		     unsigned short flags)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(100);
		int fd = open(tun, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			_exit(101);
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = (short)flags;
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		_exit(ioctl(fd, TUNSETIFF, &ifr) < 0 ? errno : 0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

START_TEST(multi_queue_attach_as_vm_user)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-mq\n", "vnet_hdr multi_queue\n");
	/* /dev/net/tun is 0666 on a host (udev) but may be 0600 here: a
	 * re-rooted /dev with a node of its own, which tap-setup uses too. */
	char *dev = tu_path(t.root, "dev"), *net = tu_path(dev, "net"), *tun = tu_path(net, "tun");
	ck_assert_int_eq(mkdir_p(net, 0755), 0);
	ck_assert_int_eq(mknod(tun, S_IFCHR | 0666, makedev(10, 200)), 0);
	ck_assert_int_eq(chmod(tun, 0666), 0);
	const char *extra[] = { "--devfs", dev, NULL };
	tap_ok(&t, "up", extra);
	unsigned short fl = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
	/* The VM user may attach a queue (QEMU opens one per vCPU) ... */
	ck_assert_int_eq(attach_as(tun, "vm1-mq", UID, GID, fl), 0);
	/* ... and another user may not. */
	ck_assert_int_eq(attach_as(tun, "vm1-mq", UID + 1, GID + 1, fl), EPERM);
	tap_ok(&t, "down", extra);
	ck_assert_int_eq(ifindex("vm1-mq"), 0);
	free(tun);
	free(net);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

START_TEST(bridge_and_mtu)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\n", "vnet_hdr\n");
	make_bridge("br0");
	const char *extra[] = { "--bridge", "br0", "--mtu", "1400", NULL };
	tap_ok(&t, "up", extra);
	for (int k = 0; k < 2; k++) {
		const char *n = k ? "vm1-b" : "vm1-a";
		char p[64], *master = NULL;
		snprintf(p, sizeof(p), "/sys/class/net/%s/master", n);
		ck_assert_int_eq(read_link_base(p, &master), 0);
		ck_assert_str_eq(master, "br0");
		free(master);
		ck_assert_uint_eq(sysnum(n, "mtu"), 1400);
		ck_assert_uint_ne(sysnum(n, "flags") & IFF_UP, 0);
	}
	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_int_gt(ifindex("br0"), 0);
	tu_vm_free(&t);
}
END_TEST

/* A request the kernel refuses: the error says why in the kernel's own
 * words (its extended ACK, what `ip link set vm1-a mtu 65535` prints as
 * "Error: mtu greater than device maximum."), and the errno as strerror()
 * says it; up leaves nothing. A TAP's largest MTU is 65535 less its
 * Ethernet header. */
START_TEST(kernel_refusal_says_why)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", NULL);
	const char *extra[] = { "--mtu", "65535", NULL }, *env[] = { "JOURNAL_STREAM=", NULL };
	char *before = links_now(), line[1024];
	struct tu_run r;
	tap_run_env(&r, &t, "up", extra, env);
	ck_assert_msg(r.status == 1, "up with MTU 65535: exit %d: %s", r.status, r.err);
	const char *what = tu_error_line(r.err, line, sizeof(line));
	ck_assert_msg(what && !strcmp(what, "tap-setup: vm1: unable to set up 'vm1-a': Invalid "
					    "argument (the kernel: mtu greater than device maximum)"),
		      "up with MTU 65535: %s", r.err);
	tu_run_free(&r);
	char *now = links_now();
	ck_assert_str_eq(now, before);
	free(now);
	free(before);
	tu_vm_free(&t);
}
END_TEST

START_TEST(bridge_from_environment_and_missing_bridge)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", NULL);
	char *bin = tu_bin("tap-setup");
	const char *argv[] = { bin, "--state-dir", t.state, "--runtime-dir", t.runtime,
			       "--user", "990", "--group", "78", "up", "vm1", NULL };
	const char *env_missing[] = { "MICROVM_TAP_BRIDGE=nobr0", NULL };
	struct tu_run r;
	tu_run_env(&r, argv, env_missing);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "'nobr0'"));
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	tu_run_free(&r);

	make_bridge("br1");
	const char *env[] = { "MICROVM_TAP_BRIDGE=br1", "MICROVM_TAP_MTU=1300", NULL };
	tu_run_env(&r, argv, env);
	ck_assert_msg(r.status == 0, "%s", r.err);
	tu_run_free(&r);
	ck_assert_uint_eq(sysnum("vm1-a", "mtu"), 1300);
	ck_assert_uint_eq(sysnum("vm1-a", "master/ifindex"), (unsigned long)ifindex("br1"));
	free(bin);
	tu_vm_free(&t);
}
END_TEST

/* Two TAPs held by the running VM: up and down each fail with one error
 * line, the first TAP's (the runner's order), naming the process. */
START_TEST(held_error_names_the_first)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\n", NULL);
	tap_ok(&t, "up", NULL);
	pid_t vm = holder_start(&t, UID, GID, (const char *[]){ "vm1-a", "vm1-b", NULL });
	static const char *const verbs[] = { "up", "down" }, *const said[] = { "replace", "delete" };
	for (int k = 0; k < 2; k++) {
		const char *env[] = { "JOURNAL_STREAM=", NULL };
		char want[160], line[1024];
		snprintf(want, sizeof(want),
			 "tap-setup: vm1: unable to %s 'vm1-a': process %d holds it open; is the VM "
			 "running?",
			 said[k], (int)vm);
		struct tu_run r;
		tap_run_env(&r, &t, verbs[k], NULL, env);
		const char *what = tu_error_line(r.err, line, sizeof(line));
		ck_assert_msg(r.status == 1 && what && !strcmp(what, want), "%s: exit %d: %s", verbs[k],
			      r.status, r.err);
		tu_run_free(&r);
		ck_assert_int_gt(ifindex("vm1-a"), 0);
		ck_assert_int_gt(ifindex("vm1-b"), 0);
	}
	holder_stop(vm);
	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	tu_vm_free(&t);
}
END_TEST

/* `ip` as the admin types it; asserting it succeeds. */
static void ip(const char *const *args)
{
	const char *argv[16] = { "/usr/sbin/ip" };
	for (size_t i = 0; args[i] && i < 14; i++)
		argv[i + 1] = args[i];
	struct tu_run r;
	tu_run(&r, argv);
	ck_assert_msg(r.status == 0, "ip %s %s: exit %d: %s", args[0], args[1], r.status, r.err);
	tu_run_free(&r);
}

/* An interface of a wanted name that is not a TAP is left as it is: _i 0
 * a veth, 1 a bridge, 2 a (layer 3) TUN, of kind tun as a TAP is. */
START_TEST(refuses_non_tap)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\n", NULL);
	if (_i == 0)
		make_veth("vm1-b");
	else if (_i == 1)
		make_bridge("vm1-b");
	else
		ip((const char *[]){ "tuntap", "add", "dev", "vm1-b", "mode", "tun", NULL });
	int before = ifindex("vm1-b");
	struct tu_run r;
	tap_run(&r, &t, "up", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "'vm1-b'") && strstr(r.err, "not a TAP"), "%s", r.err);
	ck_assert_int_eq(ifindex("vm1-b"), before);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_ptr_null(record_of(&t, "tap"));
	tu_run_free(&r);
	tu_vm_free(&t);
}
END_TEST

/* A TAP that a process holds (carrier on) is a running VM's: refused. */
START_TEST(refuses_held_tap)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\n", "vnet_hdr\n");
	tap_ok(&t, "up", NULL);
	int before = ifindex("vm1-b");
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "vm1-b");
	ck_assert_int_eq(ioctl(fd, TUNSETIFF, &ifr), 0);

	struct tu_run r;
	tap_run(&r, &t, "up", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "'vm1-b'") && strstr(r.err, "holds"), "%s", r.err);
	ck_assert_int_eq(ifindex("vm1-b"), before);
	tu_run_free(&r);

	/* down leaves it too, keeps it in the record, and fails. */
	tap_run(&r, &t, "down", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_int_eq(ifindex("vm1-b"), before);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	char *rec = record_of(&t, "tap");
	ck_assert_ptr_nonnull(rec);
	ck_assert_ptr_nonnull(strstr(rec, "vm1-b"));
	ck_assert_ptr_null(strstr(rec, "vm1-a"));
	free(rec);
	tu_run_free(&r);

	close(fd);
	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1-b"), 0);
	ck_assert_ptr_null(record_of(&t, "tap"));
	tu_vm_free(&t);
}
END_TEST

START_TEST(bad_name_on_line_3_creates_nothing)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\nbad/name\nvm1-d\n", NULL);
	struct tu_run r;
	tap_run(&r, &t, "up", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "share/microvm/tap-interfaces") && strstr(r.err, "line 3") &&
			      strstr(r.err, "bad/name"),
		      "%s", r.err);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_int_eq(ifindex("vm1-b"), 0);
	ck_assert_ptr_null(record_of(&t, "tap"));
	tu_run_free(&r);
	tu_vm_free(&t);
}
END_TEST

/* The 3rd of 4 creations fails in the kernel (its name is another link's
 * altname, which no dump shows): the first two are removed again. */
START_TEST(rollback_taps)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\nvm1-c\nvm1-d\n", "vnet_hdr\n");
	make_veth("other0");
	add_altname("other0", "vm1-c");
	struct tu_run r;
	tap_run(&r, &t, "up", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "'vm1-c'") && strstr(r.err, "TUNSETIFF"), "%s", r.err);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_int_eq(ifindex("vm1-b"), 0);
	ck_assert_int_eq(ifindex("vm1-d"), 0);
	ck_assert_int_gt(ifindex("other0"), 0);
	ck_assert_ptr_null(record_of(&t, "tap"));
	tu_run_free(&r);
	tu_vm_free(&t);
}
END_TEST

/* A VM's TAPs are in a link group of their own (65536 to 2^31 - 1, from
 * its name): the same on each up (the TAPs it replaces do not make it
 * taken), and another one when another link is in it already. */
START_TEST(link_group_own_and_stable)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\n", NULL);
	tap_ok(&t, "up", NULL);
	unsigned long g = sysnum("vm1-a", "netdev_group");
	ck_assert(g >= 65536 && g < 0x80000000ul);
	tap_ok(&t, "up", NULL);
	ck_assert_uint_eq(sysnum("vm1-a", "netdev_group"), g);
	ck_assert_uint_eq(sysnum("vm1-b", "netdev_group"), g);
	tap_ok(&t, "down", NULL);

	make_veth("other0");
	set_group("other0", (uint32_t)g);
	tap_ok(&t, "up", NULL);
	unsigned long g2 = sysnum("vm1-a", "netdev_group");
	ck_assert_msg(g2 != g && g2 >= 65536 && g2 < 0x80000000ul, "group %lu, other0's %lu", g2, g);
	ck_assert_uint_eq(sysnum("vm1-b", "netdev_group"), g2);
	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_int_gt(ifindex("other0"), 0);
	ck_assert_uint_eq(sysnum("other0", "netdev_group"), g);
	tu_vm_free(&t);
}
END_TEST

START_TEST(idempotent_and_down_without_runner)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\n", "multi_queue\n");
	tap_ok(&t, "up", NULL);
	int first = ifindex("vm1-a");
	tap_ok(&t, "up", NULL); /* replaces the TAPs nobody holds */
	ck_assert_int_gt(ifindex("vm1-a"), 0);
	ck_assert_int_ne(ifindex("vm1-a"), first);
	ck_assert_uint_eq(sysnum("vm1-a", "owner"), UID);

	/* A newer runner drops vm1-b: up again deletes it (it is the last up's). */
	tu_write(t.runner, "share/microvm/tap-interfaces", "vm1-a\n");
	tap_ok(&t, "up", NULL);
	ck_assert_int_gt(ifindex("vm1-a"), 0);
	ck_assert_int_eq(ifindex("vm1-b"), 0);
	char *rec = record_of(&t, "tap");
	ck_assert_ptr_nonnull(rec);
	ck_assert_ptr_null(strstr(rec, "vm1-b"));
	free(rec);
	/* An empty list: nothing is left, and no record. */
	tu_write(t.runner, "share/microvm/tap-interfaces", "\n");
	tap_ok(&t, "up", NULL);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_ptr_null(record_of(&t, "tap"));
	tu_write(t.runner, "share/microvm/tap-interfaces", "vm1-a\nvm1-b\n");
	tap_ok(&t, "up", NULL);

	/* current now points at a runner without TAPs: down uses the record. */
	char *cur = tu_path(t.dir, "current");
	ck_assert_int_eq(unlink(cur), 0);
	ck_assert_int_eq(symlink("/nonexistent", cur), 0);
	free(cur);
	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_int_eq(ifindex("vm1-b"), 0);
	tap_ok(&t, "down", NULL);
	tu_vm_free(&t);
}
END_TEST

START_TEST(dry_run_changes_nothing)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", "vnet_hdr multi_queue\n");
	make_bridge("br0");
	const char *extra[] = { "--dry-run", "--bridge", "br0", NULL };
	struct tu_run r;
	tap_run(&r, &t, "up", extra);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strstr(r.out, "create vm1-a flags vnet_hdr,multi_queue owner 990:78") &&
			      strstr(r.out, "master br0"),
		      "%s", r.out);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_ptr_null(record_of(&t, "tap"));
	tu_run_free(&r);

	tap_ok(&t, "up", NULL);
	const char *dry[] = { "--dry-run", NULL };
	tap_run(&r, &t, "down", dry);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "delete vm1-a"));
	ck_assert_int_gt(ifindex("vm1-a"), 0);
	char *rec = record_of(&t, "tap");
	ck_assert_ptr_nonnull(rec);
	free(rec);
	tu_run_free(&r);
	tu_vm_free(&t);
}
END_TEST

/* What up and down print with --dry-run names each interface and path
 * escaped as an error names one (escape_text()): a backslash doubled in
 * a TAP's and a macvtap's name and LINK (the runner's), in --bridge,
 * --devfs and --runtime-dir (the command line's), and the escape
 * character in those dirs as \x1b; so that "vm1\x41" (a backslash, x, 4,
 * 1: a name the kernel takes) does not read as the escape of "vm1A", nor
 * a path holding "\x1b" as one holding the character. (Noticed at the
 * last review: only the line's escape went over them, which keeps a
 * backslash.) */
START_TEST(dry_run_lines_are_escaped)
{
	struct tu_vm t;
	vm_taps(&t, "vm1\\x41\n", "vnet_hdr\n");
	tu_write(t.runner, "share/microvm/macvtap-interfaces",
		 "mvt\\x41 02:11:22:33:44:55 low\\x41 bridge\n");
	free(t.runtime);
	t.runtime = tu_path(t.root, "run\\x41\x1b");
	char *dev = tu_path(t.root, "dev\\x41\x1b");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	make_bridge("br\\x41");
	make_veth("low\\x41");
	/* (the temp dir's own name is plain) */
	char *run = xasprintf("%s/run\\\\x41\\x1b/vm1", t.root);
	char *taps[] = {
		xasprintf("tap-setup: vm1: would create vm1\\\\x41 flags vnet_hdr owner 990:78\n"),
		xasprintf("tap-setup: vm1: would set the root qdisc of vm1\\\\x41 to noqueue\n"),
		xasprintf("tap-setup: vm1: would set vm1\\\\x41 up group "),
		xasprintf(" master br\\\\x41 address fe:<the kernel's random rest>\n"),
		xasprintf("tap-setup: vm1: would record 1 TAP in %s/tap\n", run),
	};
	const char *dry[] = { "--dry-run", "--bridge", "br\\x41", NULL };
	struct tu_run r;
	tap_run(&r, &t, "up", dry);
	for (size_t i = 0; i < ARRAY_SIZE(taps); i++) {
		ck_assert_msg(r.status == 0 && strstr(r.out, taps[i]),
			      "up: exit %d; want:\n%s\nstdout:\n%sstderr:\n%s", r.status, taps[i],
			      r.out, r.err);
		free(taps[i]);
	}
	tu_run_free(&r);
	ck_assert_int_eq(ifindex("vm1\\x41"), 0);

	char *mvts[] = {
		xasprintf("tap-setup: vm1: would create macvtap mvt\\\\x41 link low\\\\x41 mac "
			  "02:11:22:33:44:55 mode bridge allmulticast group "),
		xasprintf("tap-setup: vm1: would disable IPv6 on mvt\\\\x41\n"),
		xasprintf("tap-setup: vm1: would chown %s/dev\\\\x41\\x1b/tap<index of mvt\\\\x41> "
			  "to 990:78\n",
			  t.root),
		xasprintf("tap-setup: vm1: would set mvt\\\\x41 up\n"),
		xasprintf("tap-setup: vm1: would record 1 macvtap in %s/macvtap\n", run),
	};
	const char *mdry[] = { "--dry-run", "--macvtap", "--devfs", dev, NULL };
	tap_run(&r, &t, "up", mdry);
	for (size_t i = 0; i < ARRAY_SIZE(mvts); i++) {
		ck_assert_msg(r.status == 0 && strstr(r.out, mvts[i]),
			      "up --macvtap: exit %d; want:\n%s\nstdout:\n%sstderr:\n%s", r.status,
			      mvts[i], r.out, r.err);
		free(mvts[i]);
	}
	tu_run_free(&r);
	ck_assert_int_eq(ifindex("mvt\\x41"), 0);

	/* down, of the TAP up made: its name and the record's path. */
	tap_ok(&t, "up", NULL);
	char *down[] = {
		xasprintf("tap-setup: vm1: would delete vm1\\\\x41"),
		xasprintf("tap-setup: vm1: would remove record %s/tap\n", run),
	};
	const char *ddry[] = { "--dry-run", NULL };
	tap_run(&r, &t, "down", ddry);
	for (size_t i = 0; i < ARRAY_SIZE(down); i++) {
		ck_assert_msg(r.status == 0 && strstr(r.out, down[i]),
			      "down: exit %d; want:\n%s\nstdout:\n%sstderr:\n%s", r.status, down[i],
			      r.out, r.err);
		free(down[i]);
	}
	tu_run_free(&r);
	ck_assert_int_gt(ifindex("vm1\\x41"), 0);
	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1\\x41"), 0);
	free(run);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

/* The reasons of errors name the paths of the command line escaped as
 * the object is (escape_text()), though they are no object: --procfs in
 * a scan that could not read a process (here PROCFS/123/fd is a file),
 * --runtime-dir in the record that grant names. "x\x41'" must read as
 * itself: not as "xA", nor as a path "x" that the quote ends. */
START_TEST(reasons_name_paths_escaped)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", NULL);
	tap_ok(&t, "up", NULL);
	char *procfs = tu_path(t.root, "proc\\x41'");
	tu_write(procfs, "123/fd", "");
	const char *scan[] = { "--procfs", procfs, NULL };
	struct tu_run r;
	tap_run(&r, &t, "down", scan);
	char *want = xasprintf("tap-setup: vm1: unable to delete 'vm1-a': cannot tell whether a "
			       "process holds it open: unable to read '%s/proc\\\\x41\\'/123/fd': "
			       "%s\n",
			       t.root, strerror(ENOTDIR));
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want), "exit %d; want:\n%sstderr:\n%s",
		      r.status, want, r.err);
	free(want);
	tu_run_free(&r);
	ck_assert_int_gt(ifindex("vm1-a"), 0);
	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1-a"), 0);

	tu_write(t.runner, "share/microvm/macvtap-interfaces",
		 "mvt0 02:11:22:33:44:55 low0 bridge\n");
	char *dev = tu_path(t.root, "dev");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	free(t.runtime);
	t.runtime = tu_path(t.root, "run\\x41'");
	const char *grant[] = { "--macvtap", "--devfs", dev, NULL };
	tap_run(&r, &t, "grant", grant);
	want = xasprintf("tap-setup: vm1: unable to give 'mvt0' to the VM user: not made: "
			 "%s/run\\\\x41\\'/vm1/macvtap does not name it (run up first)\n",
			 t.root);
	ck_assert_msg(r.status == 1 && !strcmp(r.err, want), "exit %d; want:\n%sstderr:\n%s",
		      r.status, want, r.err);
	free(want);
	tu_run_free(&r);
	free(dev);
	free(procfs);
	tu_vm_free(&t);
}
END_TEST

/* down deletes the group in one request only when the group holds
 * exactly the recorded TAPs; a stranger in the group is left alone. */
START_TEST(down_group_only_when_exact)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\n", NULL);
	tap_ok(&t, "up", NULL);
	unsigned long group = sysnum("vm1-a", "netdev_group");
	make_veth("stranger");
	set_group("stranger", (uint32_t)group);
	const char *v[] = { "-v", NULL };
	struct tu_run r;
	tap_run(&r, &t, "down", v);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_null(strstr(r.err, "with link group"));
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_int_eq(ifindex("vm1-b"), 0);
	ck_assert_int_gt(ifindex("stranger"), 0);
	tu_run_free(&r);

	/* As many links in the group as TAPs to delete, but not the same
	 * ones: vm1-b moved out of it, the stranger in. */
	tap_ok(&t, "up", NULL);
	group = sysnum("vm1-a", "netdev_group");
	set_group("vm1-b", 0);
	set_group("stranger", (uint32_t)group);
	tap_run(&r, &t, "down", v);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_int_gt(ifindex("stranger"), 0);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_int_eq(ifindex("vm1-b"), 0);
	tu_run_free(&r);
	tu_vm_free(&t);
}
END_TEST

/* A recorded index that is now something else is not deleted. */
START_TEST(down_leaves_what_is_no_longer_a_tap)
{
	struct tu_vm t;
	tu_vm_make(&t, "vm1");
	make_veth("vm1-a");
	char rec[128];
	snprintf(rec, sizeof(rec), "group 0\nvm1-a %d\n", ifindex("vm1-a"));
	char rel[64];
	snprintf(rel, sizeof(rel), "%s/tap", t.name);
	tu_write(t.runtime, rel, rec);
	struct tu_run r;
	tap_run(&r, &t, "down", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_int_gt(ifindex("vm1-a"), 0);
	tu_run_free(&r);
	tu_vm_free(&t);
}
END_TEST

/* A TAP that up made and an admin renamed since (the record has the index
 * with the old name) is no longer the one recorded: down says so, leaves
 * it, and removes the record. */
START_TEST(down_leaves_a_renamed_tap)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", NULL);
	tap_ok(&t, "up", NULL);
	int ifx = ifindex("vm1-a");
	ip((const char *[]){ "link", "set", "dev", "vm1-a", "down", NULL });
	ip((const char *[]){ "link", "set", "dev", "vm1-a", "name", "kept0", NULL });
	struct tu_run r;
	tap_run(&r, &t, "down", NULL);
	ck_assert_msg(r.status == 0, "down: exit %d: %s", r.status, r.err);
	char want[160];
	snprintf(want, sizeof(want),
		 "tap-setup: vm1: index %d is now 'kept0' (tun), not the tap 'vm1-a' recorded: "
		 "left alone\n",
		 ifx);
	ck_assert_str_eq(r.err, want);
	tu_run_free(&r);
	ck_assert_int_eq(ifindex("kept0"), ifx);
	ck_assert_ptr_null(record_of(&t, "tap"));
	tu_vm_free(&t);
}
END_TEST

/* A name recorded as pending (up killed before it made it) is deleted by
 * down only when the TAP of that name is in the recorded link group: one
 * outside it was made by someone else since, and stays. */
START_TEST(down_pending_only_in_its_group)
{
	struct tu_vm t;
	tu_vm_make(&t, "vm1");
	char rel[64];
	snprintf(rel, sizeof(rel), "%s/tap", t.name);
	ip((const char *[]){ "tuntap", "add", "dev", "vm1-a", "mode", "tap", NULL });
	int ifx = ifindex("vm1-a");
	ck_assert_int_gt(ifx, 0);
	tu_write(t.runtime, rel, "# tap-setup record 2\ngroup 123456\nvm1-a pending\n");
	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1-a"), ifx);
	ck_assert_ptr_null(record_of(&t, "tap"));

	set_group("vm1-a", 123456);
	tu_write(t.runtime, rel, "# tap-setup record 2\ngroup 123456\nvm1-a pending\n");
	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_ptr_null(record_of(&t, "tap"));
	tu_vm_free(&t);
}
END_TEST

START_TEST(many_taps)
{
	struct tu_vm t;
	size_t n = 256;
	vm_n_taps(&t, n, "vnet_hdr multi_queue\n");
	long long t0 = now_ms();
	tap_ok(&t, "up", NULL);
	long long t1 = now_ms();
	for (size_t i = 0; i < n; i += 51) {
		char nm[16];
		snprintf(nm, sizeof(nm), "t%zu", i);
		ck_assert_int_gt(ifindex(nm), 0);
		ck_assert_uint_ne(sysnum(nm, "flags") & IFF_UP, 0);
	}
	ck_assert_int_gt(ifindex("t255"), 0);
	const char *v[] = { "-v", NULL };
	struct tu_run r;
	tap_run(&r, &t, "down", v);
	long long t2 = now_ms();
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strstr(r.err, "deleted 256 interfaces with link group"), "%s", r.err);
	tu_run_free(&r);
	ck_assert_int_eq(ifindex("t0"), 0);
	ck_assert_int_eq(ifindex("t255"), 0);
	fprintf(stderr, "tap: 256 TAPs: up %lld ms, down %lld ms\n", t1 - t0, t2 - t1);
	tu_vm_free(&t);
}
END_TEST

/* The count of interfaces agrees with its noun, in what up --dry-run
 * prints and in what down -v and grant -v say: _i 0, one of each: "would
 * record 1 TAP", "deleted 1 interface", "would record 1 macvtap", "gave
 * the node of 1 macvtap" (before: "1 TAPs", "1 interfaces", "1 macvtaps",
 * "the nodes of 1 macvtaps"); _i 1, two: the plural. */
START_TEST(interface_count_agrees_with_its_noun)
{
	struct tu_vm t;
	bool two = _i == 1;
	vm_taps(&t, two ? "vm1-a\nvm1-b\n" : "vm1-a\n", NULL);
	const char *dry[] = { "--dry-run", NULL };
	struct tu_run r;
	tap_run(&r, &t, "up", dry);
	char *want = xasprintf("tap-setup: vm1: would record %s in ", two ? "2 TAPs" : "1 TAP");
	ck_assert_msg(r.status == 0 && strstr(r.out, want), "want %s in: %s%s", want, r.out,
		      r.err);
	free(want);
	tu_run_free(&r);
	tap_ok(&t, "up", NULL);
	const char *v[] = { "-v", NULL };
	tap_run(&r, &t, "down", v);
	want = xasprintf("tap-setup: vm1: deleted %s with link group ",
			 two ? "2 interfaces" : "1 interface");
	ck_assert_msg(r.status == 0 && strstr(r.err, want), "want %s in: %s", want, r.err);
	free(want);
	tu_run_free(&r);

	make_veth("lower0");
	tu_write(t.runner, "share/microvm/macvtap-interfaces",
		 two ? "mvt0 02:11:22:33:44:55 lower0 bridge\nmvt1 02:11:22:33:44:56 lower0 bridge\n"
		     : "mvt0 02:11:22:33:44:55 lower0 bridge\n");
	char *dev = tu_path(t.root, "dev");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	const char *mdry[] = { "--macvtap", "--devfs", dev, "--dry-run", NULL };
	tap_run(&r, &t, "up", mdry);
	want = xasprintf("tap-setup: vm1: would record %s in ", two ? "2 macvtaps" : "1 macvtap");
	ck_assert_msg(r.status == 0 && strstr(r.out, want), "want %s in: %s%s", want, r.out,
		      r.err);
	free(want);
	tu_run_free(&r);
	const char *up[] = { "--macvtap", "--devfs", dev, "--no-grant", NULL };
	tap_ok(&t, "up", up);
	const char *grant[] = { "--macvtap", "--devfs", dev, "-v", NULL };
	tap_run(&r, &t, "grant", grant);
	want = xasprintf("tap-setup: vm1: gave %s to ",
			 two ? "the nodes of 2 macvtaps" : "the node of 1 macvtap");
	ck_assert_msg(r.status == 0 && strstr(r.err, want), "want %s in: %s", want, r.err);
	free(want);
	tu_run_free(&r);
	const char *down[] = { "--macvtap", "--devfs", dev, NULL };
	tap_ok(&t, "down", down);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

/* A runner whose list names no interface (an empty file, or none: the
 * admin who forgot --macvtap): up makes nothing and records nothing, and
 * says so; its dry run says the same. Before, the dry run printed "would
 * record 0 TAPs in RUN/vm1/tap", which the real run never wrote, and the
 * real run said nothing, even with -v. _i 0: TAPs; _i 1: macvtaps. */
START_TEST(up_with_no_interfaces_says_so)
{
	struct tu_vm t;
	vm_taps(&t, "\n", NULL);
	if (_i == 1)
		tu_write(t.runner, "share/microvm/macvtap-interfaces", "\n");
	const char *kind = _i ? "macvtap" : "tap";
	char *want = xasprintf("tap-setup: vm1: no interface in the runner's "
			       "share/microvm/%s-interfaces: nothing to create\n",
			       kind);
	const char *dry[] = { "--dry-run", _i ? "--macvtap" : NULL, NULL };
	struct tu_run r;
	tap_run(&r, &t, "up", dry);
	ck_assert_msg(r.status == 0 && !strcmp(r.out, "") && !strcmp(r.err, want),
		      "dry run: exit %d; want no stdout and %sstdout: %sstderr: %s", r.status, want,
		      r.out, r.err);
	tu_run_free(&r);
	const char *real[] = { _i ? "--macvtap" : NULL, NULL };
	tap_run(&r, &t, "up", real);
	ck_assert_msg(r.status == 0 && !strcmp(r.err, want), "up: exit %d; want %sstderr: %s",
		      r.status, want, r.err);
	tu_run_free(&r);
	char *rec = record_of(&t, kind);
	ck_assert_msg(rec == NULL, "up recorded: %s", rec);
	free(want);
	tu_vm_free(&t);
}
END_TEST

/* ---- macvtap ------------------------------------------------------------------ */

/* down must know a macvtap's device number to check that no process
 * holds its node: from SYSFS (here an empty directory, as when sysfs
 * shows another network namespace), else from DEVFS/tapN. _i 0: the node
 * is there, so down deletes the macvtap; _i 1: it is gone too, so down
 * cannot check, refuses, and leaves the macvtap and its record. */
START_TEST(macvtap_devt_from_node_or_refused)
{
	struct tu_vm t;
	tu_vm_make(&t, "vm2");
	make_veth("lower0");
	tu_write(t.runner, "share/microvm/macvtap-interfaces", "mvt0 02:11:22:33:44:55 lower0 bridge\n");
	char *dev = tu_path(t.root, "dev"), *nosys = tu_path(t.root, "nosys");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	ck_assert_int_eq(mkdir(nosys, 0755), 0);
	const char *extra[] = { "--macvtap", "--devfs", dev, "--sysfs", nosys, NULL };
	const char *up[] = { "--macvtap", "--devfs", dev, NULL };
	tap_ok(&t, "up", up);
	int ifx = ifindex("mvt0");
	ck_assert_int_gt(ifx, 0);
	char node[64], want[256], line[1024];
	snprintf(node, sizeof(node), "tap%d", ifx);
	char *path = tu_path(dev, node);
	if (_i == 1)
		ck_assert_int_eq(unlink(path), 0);
	const char *env[] = { "JOURNAL_STREAM=", NULL };
	struct tu_run r;
	tap_run_env(&r, &t, "down", extra, env);
	char *rec = record_of(&t, "macvtap");
	if (_i == 0) {
		ck_assert_msg(r.status == 0, "down: exit %d: %s", r.status, r.err);
		ck_assert_msg(ifindex("mvt0") == 0, "down left mvt0");
		ck_assert_msg(!rec, "down left its record: %s", rec);
	} else {
		snprintf(want, sizeof(want),
			 "tap-setup: vm2: unable to delete 'mvt0': cannot find its /dev/tap%d to check "
			 "that no process holds it",
			 ifx);
		ck_assert_msg(r.status == 1, "down: exit %d: %s (mvt0 %s)", r.status, r.err,
			      ifindex("mvt0") ? "left" : "deleted");
		const char *what = tu_error_line(r.err, line, sizeof(line));
		ck_assert_msg(what && !strcmp(what, want), "down: stderr: %s", r.err);
		ck_assert_msg(ifindex("mvt0") == ifx, "down deleted mvt0, which it could not check");
		ck_assert_msg(rec, "down refused, but removed the record of mvt0");
	}
	free(rec);
	tu_run_free(&r);
	free(path);
	free(nosys);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

START_TEST(macvtap_up_down)
{
	struct tu_vm t;
	tu_vm_make(&t, "vm2");
	make_veth("lower0");
	tu_write(t.runner, "share/microvm/macvtap-interfaces",
		 "mvt0 02:11:22:33:44:55 lower0 bridge\nmvt1 02:11:22:33:44:56 lower0 private\n"
		 "mvt2 02:11:22:33:44:57 lower0 vepa\n");
	char *dev = tu_path(t.root, "dev");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	const char *extra[] = { "--macvtap", "--devfs", dev, NULL };
	tap_ok(&t, "up", extra);

	static const char *names[] = { "mvt0", "mvt1", "mvt2" };
	static const char *macs[] = { "02:11:22:33:44:55", "02:11:22:33:44:56",
				      "02:11:22:33:44:57" };
	static const uint32_t modes[] = { MACVLAN_MODE_BRIDGE, MACVLAN_MODE_PRIVATE,
					  MACVLAN_MODE_VEPA };
	char *nodes[3];
	for (int k = 0; k < 3; k++) {
		const char *n = names[k];
		char *mac = sysattr(n, "address");
		ck_assert_str_eq(mac, macs[k]);
		free(mac);
		unsigned long fl = sysnum(n, "flags");
		ck_assert_uint_ne(fl & IFF_UP, 0);
		ck_assert_uint_ne(fl & IFF_ALLMULTI, 0);
		struct rtnl_link *l = get_link(n);
		ck_assert_str_eq(rtnl_link_get_type(l), "macvtap");
		ck_assert_uint_eq(rtnl_link_macvtap_get_mode(l), modes[k]);
		ck_assert_int_eq(rtnl_link_get_link(l), ifindex("lower0"));
		rtnl_link_put(l);

		char p[128], *v6 = NULL;
		snprintf(p, sizeof(p), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", n);
		if (access(p, F_OK) == 0) {
			ck_assert_int_eq(read_line(p, &v6), 0);
			ck_assert_str_eq(v6, "1");
			free(v6);
		}

		/* DEVFS/tapIFINDEX: the macvtap's char device, the VM user's. */
		int ifx = ifindex(n);
		snprintf(p, sizeof(p), "macvtap/tap%d/dev", ifx);
		char *devt = sysattr(n, p);
		snprintf(p, sizeof(p), "tap%d", ifx);
		nodes[k] = tu_path(dev, p);
		struct stat st;
		ck_assert_int_eq(stat(nodes[k], &st), 0);
		ck_assert(S_ISCHR(st.st_mode));
		snprintf(p, sizeof(p), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
		ck_assert_str_eq(p, devt);
		free(devt);
		ck_assert_uint_eq(st.st_uid, UID);
		ck_assert_uint_eq(st.st_gid, GID);
		/* the VM user's alone: no one else opens the VM's traffic */
		ck_assert_msg((st.st_mode & 07777) == 0600, "%s mode %04o", nodes[k],
			      (unsigned)(st.st_mode & 07777));
	}
	char *rec = record_of(&t, "macvtap");
	ck_assert_ptr_nonnull(rec);
	free(rec);

	/* What is at a recorded node's path when down runs and is no
	 * character device (a file put there since) is not down's to
	 * remove. */
	ck_assert_int_eq(unlink(nodes[2]), 0);
	tu_write(dev, strrchr(nodes[2], '/') + 1, "not a node\n");
	tap_ok(&t, "down", extra);
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(ifindex(names[k]), 0);
		ck_assert_int_ne(access(nodes[k], F_OK), 0);
		free(nodes[k]);
	}
	ck_assert_int_eq(ifindex(names[2]), 0);
	struct stat fst;
	ck_assert_msg(lstat(nodes[2], &fst) == 0 && S_ISREG(fst.st_mode),
		      "down removed the file at %s, which is no node", nodes[2]);
	ck_assert_int_eq(unlink(nodes[2]), 0);
	free(nodes[2]);
	ck_assert_int_gt(ifindex("lower0"), 0);
	ck_assert_ptr_null(record_of(&t, "macvtap"));
	tap_ok(&t, "down", extra);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

/* A node already at DEVFS/tapN (no devtmpfs: one left from before, of
 * another device) is not given to the VM user: up fails naming it, and
 * the node stays root's and as it was. The index the macvtap gets is the
 * next one the kernel hands out in this namespace, found with a probe. */
START_TEST(macvtap_stale_node_refused)
{
	struct tu_vm t;
	tu_vm_make(&t, "vm2");
	make_veth("lower0");
	tu_write(t.runner, "share/microvm/macvtap-interfaces", "mvt0 02:11:22:33:44:55 lower0 bridge\n");
	char *dev = tu_path(t.root, "dev");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	make_veth("probe");
	int a = ifindex("probe"), b = ifindex("probep"), next = (a > b ? a : b) + 1;
	ip((const char *[]){ "link", "del", "probe", NULL });
	char rel[32];
	snprintf(rel, sizeof(rel), "tap%d", next);
	char *node = tu_path(dev, rel);
	ck_assert_int_eq(mknod(node, S_IFCHR | 0600, makedev(1, 3)), 0);
	const char *extra[] = { "--macvtap", "--devfs", dev, NULL };
	struct tu_run r;
	tap_run(&r, &t, "up", extra);
	if (r.status == 0)
		ck_assert_msg(ifindex("mvt0") != next, "up gave the stale %s to the VM user", node);
	ck_assert_msg(r.status == 1, "up: exit %d (mvt0 is index %d, not %d): %s", r.status,
		      ifindex("mvt0"), next, r.err);
	char want[512];
	snprintf(want, sizeof(want),
		 "tap-setup: vm2: unable to chown '%s': a stale node: its device number is not the "
		 "macvtap's\n",
		 node);
	ck_assert_str_eq(r.err, want);
	tu_run_free(&r);
	struct stat st;
	ck_assert_int_eq(lstat(node, &st), 0);
	ck_assert(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	ck_assert_uint_eq(st.st_uid, 0);
	ck_assert_uint_ne(st.st_gid, GID);
	ck_assert_int_eq(ifindex("mvt0"), 0);
	ck_assert_ptr_null(record_of(&t, "macvtap"));
	free(node);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

START_TEST(macvtap_refusals_and_rollback)
{
	struct tu_vm t;
	tu_vm_make(&t, "vm2");
	make_veth("lower0");
	make_veth("lower1");
	char *dev = tu_path(t.root, "dev");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	const char *extra[] = { "--macvtap", "--devfs", dev, NULL };
	struct tu_run r;

	/* A missing LINK. */
	tu_write(t.runner, "share/microvm/macvtap-interfaces",
		 "mvt0 02:11:22:33:44:55 lower0 bridge\nmvt1 02:11:22:33:44:56 nolink bridge\n");
	tap_run(&r, &t, "up", extra);
	ck_assert_int_eq(r.status, 1);
	/* named with the runner's file and line (found by an audit) */
	char *want = xasprintf("unable to find 'nolink': no such link, the LINK of 'mvt1' in "
			       "'%s/share/microvm/macvtap-interfaces' line 2\n",
			       t.runner);
	ck_assert_msg(strstr(r.err, want), "%s", r.err);
	free(want);
	ck_assert_int_eq(ifindex("mvt0"), 0);
	tu_run_free(&r);

	/* A wanted name taken by a non-macvtap. */
	tu_write(t.runner, "share/microvm/macvtap-interfaces",
		 "mvt0 02:11:22:33:44:55 lower0 bridge\nlower1 02:11:22:33:44:56 lower0 bridge\n");
	tap_run(&r, &t, "up", extra);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "'lower1'") && strstr(r.err, "not a macvtap"), "%s", r.err);
	ck_assert_int_eq(ifindex("mvt0"), 0);
	tu_run_free(&r);

	/* The 3rd of 4 fails in the kernel: passthru on a link that already
	 * has a macvlan port. The first two are removed again. The error is
	 * the kernel's errno as strerror() says it: macvlan gives no words
	 * of its own for this refusal (no extended ACK, as `ip link add`
	 * shows: "RTNETLINK answers: Invalid argument"), nor for the others
	 * a runner's list can provoke (a LINK that is no Ethernet link, an
	 * MTU above the LINK's). */
	tu_write(t.runner, "share/microvm/macvtap-interfaces",
		 "mvt0 02:11:22:33:44:55 lower0 bridge\n"
		 "mvt1 02:11:22:33:44:56 lower0 bridge\n"
		 "mvt2 02:11:22:33:44:57 lower0 passthru\n"
		 "mvt3 02:11:22:33:44:58 lower1 bridge\n");
	const char *env[] = { "JOURNAL_STREAM=", NULL };
	char line[1024];
	tap_run_env(&r, &t, "up", extra, env);
	ck_assert_int_eq(r.status, 1);
	const char *what = tu_error_line(r.err, line, sizeof(line));
	ck_assert_msg(what && !strcmp(what, "tap-setup: vm2: unable to create 'mvt2': Invalid "
					    "argument"),
		      "passthru on a link in use: %s", r.err);
	for (int k = 0; k < 4; k++) {
		char n[16];
		snprintf(n, sizeof(n), "mvt%d", k);
		ck_assert_int_eq(ifindex(n), 0);
	}
	ck_assert_ptr_null(record_of(&t, "macvtap"));
	/* ... and so are the device nodes made for them. */
	DIR *d = opendir(dev);
	ck_assert_ptr_nonnull(d);
	for (struct dirent *de; (de = readdir(d));)
		ck_assert_msg(de->d_name[0] == '.', "left behind: %s", de->d_name);
	closedir(d);
	tu_run_free(&r);

	/* A macvtap held open (the VM runs): left alone. */
	tu_write(t.runner, "share/microvm/macvtap-interfaces", "mvt0 02:11:22:33:44:55 lower0 bridge\n");
	tap_ok(&t, "up", extra);
	int before = ifindex("mvt0");
	char p[32];
	snprintf(p, sizeof(p), "tap%d", before);
	char *node = tu_path(dev, p);
	int fd = open(node, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	tap_run(&r, &t, "up", extra);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "holds"), "%s", r.err);
	ck_assert_int_eq(ifindex("mvt0"), before);
	tu_run_free(&r);
	close(fd);
	tap_ok(&t, "up", extra); /* nobody holds it now: replaced */
	ck_assert_int_ne(ifindex("mvt0"), before);
	ck_assert_int_ne(access(node, F_OK), 0); /* the old node went with it */
	tap_ok(&t, "down", extra);
	ck_assert_int_eq(ifindex("mvt0"), 0);
	free(node);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

/* The node of macvtap name in dev (malloc'ed), and its stat. */
static char *macvtap_node_of(const char *dev, const char *name, struct stat *st)
{
	char p[32];
	snprintf(p, sizeof(p), "tap%d", ifindex(name));
	char *node = tu_path(dev, p);
	ck_assert_int_eq(lstat(node, st), 0);
	return node;
}

/* grant refuses, naming why, and no node is the VM user's. */
static void grant_refused(const struct tu_vm *t, const char *const *extra, const char *dev,
			  const char *why)
{
	struct tu_run r;
	tap_run(&r, t, "grant", extra);
	ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, why), "wanted '%s': %s", why, r.err);
	tu_run_free(&r);
	DIR *d = opendir(dev);
	ck_assert_ptr_nonnull(d);
	for (struct dirent *de; (de = readdir(d));) {
		struct stat st;
		char *p = tu_path(dev, de->d_name);
		ck_assert_int_eq(lstat(p, &st), 0);
		ck_assert_msg(st.st_uid == 0 && st.st_gid != GID, "%s given away (%s)", p, why);
		free(p);
	}
	closedir(d);
}

/* up --no-grant, as the unit runs it without CAP_CHOWN, leaves each
 * /dev/tapN root's; grant, its privileged step, gives them to the VM user
 * only when the kernel says the record is right: a record that code in up
 * forged, or a node swapped in /dev, changes nothing. */
START_TEST(macvtap_grant_checks_the_kernel)
{
	struct tu_vm t;
	tu_vm_make(&t, "vm2");
	make_veth("lower0");
	make_veth("lower1");
	const char *list = "mvt0 02:11:22:33:44:55 lower0 bridge\n"
			   "mvt1 02:11:22:33:44:56 lower0 private\n";
	tu_write(t.runner, "share/microvm/macvtap-interfaces", list);
	char *dev = tu_path(t.root, "dev");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	const char *extra[] = { "--macvtap", "--devfs", dev, NULL };
	const char *up_extra[] = { "--macvtap", "--devfs", dev, "--no-grant", NULL };

	/* Nothing recorded yet; a dry run says what it would give. */
	grant_refused(&t, extra, dev, "unable to give 'mvt0' to the VM user: not made:");
	const char *dry[] = { "--macvtap", "--devfs", dev, "--dry-run", NULL };
	struct tu_run dr;
	tap_run(&dr, &t, "grant", dry);
	ck_assert_msg(dr.status == 0, "exit %d: %s", dr.status, dr.err);
	ck_assert_msg(strstr(dr.out, "would chown ") && strstr(dr.out, "/tap<index of mvt1> to 990:78"),
		      "stdout: %s", dr.out);
	tu_run_free(&dr);

	tap_ok(&t, "up", up_extra);
	struct stat st;
	for (int k = 0; k < 2; k++) {
		char *node = macvtap_node_of(dev, k ? "mvt1" : "mvt0", &st);
		ck_assert(S_ISCHR(st.st_mode));
		/* made here (no devtmpfs) by up, whose group is 65534 */
		ck_assert_msg(st.st_uid == 0 && st.st_gid != GID, "%s not root's", node);
		free(node);
	}
	char *real = record_of(&t, "macvtap");
	ck_assert_ptr_nonnull(real);
	char rec[256];

	/* An interface the runner does not name. */
	snprintf(rec, sizeof(rec), "# tap-setup record 2\ngroup 7\nlower1 %d\n", ifindex("lower1"));
	tu_write(t.runtime, "vm2/macvtap", rec);
	grant_refused(&t, extra, dev, "not in the runner's share/microvm/macvtap-interfaces");
	/* A name of the runner's with another macvtap's index. */
	snprintf(rec, sizeof(rec), "# tap-setup record 2\ngroup 7\nmvt0 %d\nmvt1 %d\n",
		 ifindex("mvt1"), ifindex("mvt1"));
	tu_write(t.runtime, "vm2/macvtap", rec);
	grant_refused(&t, extra, dev, "its index now has another name");
	/* One of the runner's twice, the other not at all (found in review). */
	snprintf(rec, sizeof(rec), "# tap-setup record 2\ngroup 7\nmvt0 %d\nmvt0 %d\n",
		 ifindex("mvt0"), ifindex("mvt0"));
	tu_write(t.runtime, "vm2/macvtap", rec);
	grant_refused(&t, extra, dev, "unable to give 'mvt1' to the VM user: not made:");
	/* A name of the runner's that is not a macvtap. */
	tu_write(t.runner, "share/microvm/macvtap-interfaces",
		 "lower1 02:11:22:33:44:57 lower0 bridge\n");
	snprintf(rec, sizeof(rec), "# tap-setup record 2\ngroup 7\nlower1 %d\n", ifindex("lower1"));
	tu_write(t.runtime, "vm2/macvtap", rec);
	grant_refused(&t, extra, dev, "not a macvtap");
	/* The runner's macvtap on another link than it names. */
	tu_write(t.runner, "share/microvm/macvtap-interfaces",
		 "mvt0 02:11:22:33:44:55 lower0 bridge\nmvt1 02:11:22:33:44:56 lower1 private\n");
	tu_write(t.runtime, "vm2/macvtap", real);
	grant_refused(&t, extra, dev, "not on the link that macvtap-interfaces names");
	tu_write(t.runner, "share/microvm/macvtap-interfaces", list);

	/* The node swapped: another device's number, then a link to a file. */
	char *node = macvtap_node_of(dev, "mvt0", &st);
	dev_t devt = st.st_rdev;
	ck_assert_int_eq(unlink(node), 0);
	ck_assert_int_eq(mknod(node, S_IFCHR | 0600, makedev(1, 3)), 0);
	grant_refused(&t, extra, dev, "its device number is not the macvtap's");
	ck_assert_int_eq(unlink(node), 0);
	char *target = tu_path(t.root, "target");
	tu_write(t.root, "target", "x");
	ck_assert_int_eq(symlink(target, node), 0);
	grant_refused(&t, extra, dev, "not a character device");
	ck_assert_int_eq(stat(target, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	/* ... and a link to a node of the macvtap's very number elsewhere:
	 * not followed, that node stays root's. */
	ck_assert_int_eq(unlink(node), 0);
	char *twin = tu_path(t.root, "twin");
	ck_assert_int_eq(mknod(twin, S_IFCHR | 0600, devt), 0);
	ck_assert_int_eq(symlink(twin, node), 0);
	grant_refused(&t, extra, dev, "not a character device");
	ck_assert_int_eq(stat(twin, &st), 0);
	ck_assert_msg(st.st_uid == 0 && st.st_gid != GID, "%s given through the link %s", twin, node);
	free(twin);
	ck_assert_int_eq(unlink(node), 0);
	ck_assert_int_eq(mknod(node, S_IFCHR | 0600, devt), 0);

	/* All as up made it: both given, and nothing else. */
	tap_ok(&t, "grant", extra);
	for (int k = 0; k < 2; k++) {
		free(node);
		node = macvtap_node_of(dev, k ? "mvt1" : "mvt0", &st);
		ck_assert_uint_eq(st.st_uid, UID);
		ck_assert_uint_eq(st.st_gid, GID);
	}
	ck_assert_int_eq(stat(target, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);

	tap_ok(&t, "down", extra);
	ck_assert_int_eq(ifindex("mvt0"), 0);
	ck_assert_int_eq(ifindex("mvt1"), 0);
	free(node);
	free(target);
	free(real);
	free(dev);
	tu_vm_free(&t);
}
END_TEST

/* ---- command line ------------------------------------------------------------- */

START_TEST(usage_errors)
{
	char *bin = tu_bin("tap-setup");
	static const char *const cases[][4] = {
		{ "up", NULL },
		{ "sideways", "vm1", NULL },
		{ "--mtu", "12", "up", "vm1" },
		{ "--bridge", "a/b", "up", "vm1" },
		{ "grant", "vm1", NULL },
		{ "--macvtap", "--no-grant", "down", "vm1" },
		{ "--no-grant", "up", "vm1", NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *argv[6] = { bin };
		for (size_t k = 0; k < 4 && cases[i][k]; k++)
			argv[k + 1] = cases[i][k];
		struct tu_run r;
		tu_run(&r, argv);
		ck_assert_msg(r.status == 2, "case %zu: exit %d: %s", i, r.status, r.err);
		tu_run_free(&r);
	}
	free(bin);
}
END_TEST

/* The root qdisc of ifname as the kernel dumps it (RTM_GETQDISC): its kind,
 * malloc'ed, or NULL when it has none. */
static char *root_qdisc(const char *ifname)
{
	struct nl_sock *s = nl_socket_alloc();
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(nl_connect(s, NETLINK_ROUTE), 0);
	struct nl_cache *cache = NULL;
	ck_assert_int_eq(rtnl_qdisc_alloc_cache(s, &cache), 0);
	struct rtnl_qdisc *q = rtnl_qdisc_get_by_parent(cache, ifindex(ifname), TC_H_ROOT);
	char *kind = q ? strdup(rtnl_tc_get_kind(TC_CAST(q))) : NULL;
	if (q)
		rtnl_qdisc_put(q);
	nl_cache_free(cache);
	nl_socket_free(s);
	return kind;
}

/* A TAP comes up with noqueue as its root qdisc: the kernel's own (an mq
 * root with a pfifo_fast child per possible queue for multi_queue, 6.5 MiB
 * a TAP) holds nothing back for a TAP anyway. --qdisc default, or
 * $MICROVM_TAP_QDISC=default, leaves the kernel's; --qdisc wins over the
 * variable. */
START_TEST(qdisc_noqueue_unless_default)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", "vnet_hdr multi_queue\n");
	tap_ok(&t, "up", NULL);
	char *k = root_qdisc("vm1-a");
	ck_assert_msg(k && strcmp(k, "noqueue") == 0, "root qdisc %s", k ? k : "(none)");
	free(k);
	tap_ok(&t, "down", NULL);

	const char *env_default[] = { "MICROVM_TAP_QDISC=default", NULL };
	struct tu_run r;
	tap_run_env(&r, &t, "up", NULL, env_default);
	ck_assert_msg(r.status == 0, "up: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	k = root_qdisc("vm1-a");
	ck_assert_msg(k && strcmp(k, "mq") == 0, "root qdisc %s", k ? k : "(none)");
	free(k);
	tap_ok(&t, "down", NULL);

	const char *noqueue[] = { "--qdisc", "noqueue", NULL };
	tap_run_env(&r, &t, "up", noqueue, env_default);
	ck_assert_msg(r.status == 0, "up: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	k = root_qdisc("vm1-a");
	ck_assert_msg(k && strcmp(k, "noqueue") == 0, "root qdisc %s", k ? k : "(none)");
	free(k);
	tap_ok(&t, "down", NULL);

	const char *bad[] = { "--qdisc", "fq", NULL };
	tap_run(&r, &t, "up", bad);
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(r.err, "tap-setup: vm1: unable to use qdisc 'fq': not noqueue or default\n");
	tu_run_free(&r);
	const char *env_bad[] = { "MICROVM_TAP_QDISC=pfifo", NULL };
	tap_run_env(&r, &t, "up", NULL, env_bad);
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(r.err, "tap-setup: vm1: unable to use qdisc 'pfifo' of MICROVM_TAP_QDISC: not "
				"noqueue or default\n");
	tu_run_free(&r);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	tu_vm_free(&t);
}
END_TEST

/* A variable set empty (a drop-in's "Environment=MICROVM_TAP_BRIDGE=",
 * which clears one an earlier drop-in set) is as if it were not set: up
 * makes a TAP with no master, the kernel's MTU and the noqueue qdisc. */
START_TEST(empty_environment_is_unset)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", NULL);
	const char *env[] = { "MICROVM_TAP_BRIDGE=", "MICROVM_TAP_MTU=", "MICROVM_TAP_QDISC=", NULL };
	struct tu_run r;
	tap_run_env(&r, &t, "up", NULL, env);
	ck_assert_msg(r.status == 0, "up: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	ck_assert_int_gt(ifindex("vm1-a"), 0);
	ck_assert_uint_eq(sysnum("vm1-a", "mtu"), 1500);
	ck_assert_int_ne(access("/sys/class/net/vm1-a/master", F_OK), 0);
	char *k = root_qdisc("vm1-a");
	ck_assert_msg(k && strcmp(k, "noqueue") == 0, "root qdisc %s", k ? k : "(none)");
	free(k);
	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	tu_vm_free(&t);
}
END_TEST

/* A bad $MICROVM_TAP_MTU is named like every other error of a run for a
 * VM, "tap-setup: vm1: ..." (DESIGN.md section 5; before, without the
 * VM, unlike a bad $MICROVM_LOCK_TIMEOUT), with the variable it came from. */
START_TEST(bad_mtu_from_environment)
{
	char *bin = tu_bin("tap-setup");
	/* (outside a network namespace: a state dir with no VM in it) */
	const char *argv[] = { bin, "--state-dir", "/nonexistent", "up", "vm1", NULL };
	const char *env[] = { "MICROVM_TAP_MTU=abc", NULL };
	struct tu_run r;
	tu_run_env(&r, argv, env);
	ck_assert_msg(r.status == 2, "exit %d: %s", r.status, r.err);
	ck_assert_str_eq(r.err, "tap-setup: vm1: unable to use MTU 'abc' of MICROVM_TAP_MTU: not a "
				"number from 68 to 65535\n");
	tu_run_free(&r);
	free(bin);
}
END_TEST

/* --mtu takes 68 to 65535, the range the man page gives: one less or one
 * more is a usage error that names the value; the bounds themselves pass
 * the check (the run then fails further on, on what this host lacks). */
START_TEST(mtu_bounds)
{
	char *bin = tu_bin("tap-setup");
	static const struct {
		const char *mtu;
		int status;
	} cases[] = { { "67", 2 }, { "68", 1 }, { "65535", 1 }, { "65536", 2 } };
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *argv[] = { bin, "--state-dir", "/nonexistent", "--mtu", cases[i].mtu, "up",
				       "vm1", NULL };
		struct tu_run r;
		tu_run(&r, argv);
		ck_assert_msg(r.status == cases[i].status, "--mtu %s: exit %d: %s", cases[i].mtu,
			      r.status, r.err);
		char want[128];
		snprintf(want, sizeof(want),
			 "tap-setup: vm1: unable to use MTU '%s': not a number from 68 to 65535\n",
			 cases[i].mtu);
		if (cases[i].status == 2)
			ck_assert_str_eq(r.err, want);
		else
			ck_assert_msg(!strstr(r.err, "MTU"), "--mtu %s: %s", cases[i].mtu, r.err);
		tu_run_free(&r);
	}
	free(bin);
}
END_TEST

/* A bad $MICROVM_LOCK_TIMEOUT is a usage error, named in one line. */
START_TEST(bad_lock_timeout_from_environment)
{
	char *bin = tu_bin("tap-setup");
	const char *argv[] = { bin, "--state-dir", "/nonexistent", "down", "vm1", NULL };
	const char *env[] = { "MICROVM_LOCK_TIMEOUT=5s", NULL };
	struct tu_run r;
	tu_run_env(&r, argv, env);
	ck_assert_msg(r.status == 2, "exit %d: %s", r.status, r.err);
	ck_assert_str_eq(r.err, "tap-setup: vm1: unable to use 'MICROVM_LOCK_TIMEOUT': not a number "
				"of seconds from 0 to 3600: '5s'\n");
	tu_run_free(&r);
	free(bin);
}
END_TEST

/* $MICROVM_TAP_BRIDGE, _MTU and _QDISC are defaults of up's options: a
 * value there that is bad, or that does not apply (a bridge for macvtaps),
 * never stands in the way of a down, which takes back what up made (a
 * drop-in changed while the VM ran), nor of a macvtap's up. */
START_TEST(environment_defaults_only_where_they_apply)
{
	const char *bad_env[] = { "MICROVM_TAP_BRIDGE=nobr0", "MICROVM_TAP_MTU=abc",
				  "MICROVM_TAP_QDISC=pfifo", NULL };
	struct tu_vm t;
	vm_taps(&t, "vm1-a\n", NULL);
	tap_ok(&t, "up", NULL);
	struct tu_run r;
	tap_run_env(&r, &t, "down", NULL, bad_env);
	ck_assert_msg(r.status == 0, "down: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_ptr_null(record_of(&t, "tap"));
	/* ... nor as options, which the units give down too */
	tap_ok(&t, "up", NULL);
	const char *bad_opts[] = { "--bridge", "a/b", "--mtu", "abc", "--qdisc", "fq", NULL };
	tap_run(&r, &t, "down", bad_opts);
	ck_assert_msg(r.status == 0, "down with options: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	tap_run(&r, &t, "up", bad_opts);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "unable to use qdisc 'fq'"), "%s", r.err);
	tu_run_free(&r);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	/* an option wins over its variable, which is then not read */
	const char *mtu_opt[] = { "--mtu", "1400", NULL };
	const char *mtu_env[] = { "MICROVM_TAP_MTU=abc", NULL };
	tap_run_env(&r, &t, "up", mtu_opt, mtu_env);
	ck_assert_msg(r.status == 0, "up --mtu 1400: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	ck_assert_uint_eq(sysnum("vm1-a", "mtu"), 1400);
	tap_ok(&t, "down", NULL);
	/* up still takes them, and names the bad one. */
	tap_run_env(&r, &t, "up", NULL, bad_env);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "'abc'") || strstr(r.err, "'pfifo'"), "%s", r.err);
	tu_run_free(&r);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	tu_vm_free(&t);

	make_bridge("br1");
	tu_vm_make(&t, "vm2");
	make_veth("lower0");
	tu_write(t.runner, "share/microvm/macvtap-interfaces", "mvt0 02:11:22:33:44:55 lower0 bridge\n");
	char *dev = tu_path(t.root, "dev");
	ck_assert_int_eq(mkdir(dev, 0755), 0);
	const char *extra[] = { "--macvtap", "--devfs", dev, NULL };
	const char *bridge_env[] = { "MICROVM_TAP_BRIDGE=br1", "MICROVM_TAP_MTU=1300",
				     "MICROVM_TAP_QDISC=pfifo", NULL };
	tap_run_env(&r, &t, "up", extra, bridge_env);
	ck_assert_msg(r.status == 0, "macvtap up: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	ck_assert_int_gt(ifindex("mvt0"), 0);
	ck_assert_uint_eq(sysnum("mvt0", "mtu"), 1300);
	ck_assert_int_ne(access("/sys/class/net/mvt0/master", F_OK), 0);
	/* --qdisc given to a macvtap up is still checked (and then left
	 * aside); --bridge there is a usage error, but not for down */
	const char *mq_bad[] = { "--macvtap", "--devfs", dev, "--qdisc", "fq", NULL };
	tap_run(&r, &t, "up", mq_bad);
	ck_assert_int_eq(r.status, 2);
	tu_run_free(&r);
	const char *mbr[] = { "--macvtap", "--devfs", dev, "--bridge", "br1", NULL };
	tap_run(&r, &t, "up", mbr);
	ck_assert_int_eq(r.status, 2);
	tu_run_free(&r);
	ck_assert_int_gt(ifindex("mvt0"), 0);
	tap_run_env(&r, &t, "down", mbr, bad_env);
	ck_assert_msg(r.status == 0, "macvtap down: exit %d: %s", r.status, r.err);
	tu_run_free(&r);
	ck_assert_int_eq(ifindex("mvt0"), 0);
	ck_assert_ptr_null(record_of(&t, "macvtap"));
	free(dev);
	tu_vm_free(&t);
}
END_TEST

/* A damaged record (a NUL byte after its first TAP) is an error naming
 * its line: down deletes nothing and keeps the record, where it read the
 * record as ending there, deleted the first TAP, removed the record and
 * forgot the second (found by an audit). */
START_TEST(down_refuses_a_record_with_a_nul)
{
	struct tu_vm t;
	vm_taps(&t, "vm1-a\nvm1-b\n", NULL);
	tap_ok(&t, "up", NULL);
	char *rec = record_of(&t, "tap");
	ck_assert_ptr_nonnull(rec);
	char *a = strstr(rec, "vm1-a ");
	ck_assert_ptr_nonnull(a);
	size_t n = strlen(rec), cut = (size_t)(strchr(a, '\n') - rec);
	char *bad = malloc(n + 2);
	memcpy(bad, rec, cut);
	bad[cut] = '\0';
	memcpy(bad + cut + 1, rec + cut, n - cut + 1);
	char rel[32];
	snprintf(rel, sizeof(rel), "%s/tap", t.name);
	tu_write_n(t.runtime, rel, bad, n + 1);
	struct tu_run r;
	tap_run(&r, &t, "down", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "not a line of a tap-setup record") && strstr(r.err, "\\x00'"),
		      "%s", r.err);
	tu_run_free(&r);
	ck_assert_int_gt(ifindex("vm1-a"), 0);
	ck_assert_int_gt(ifindex("vm1-b"), 0);
	char *kept = record_of(&t, "tap");
	ck_assert_ptr_nonnull(kept);
	free(kept);
	tu_write_n(t.runtime, rel, rec, n);
	tap_ok(&t, "down", NULL);
	ck_assert_int_eq(ifindex("vm1-a"), 0);
	ck_assert_int_eq(ifindex("vm1-b"), 0);
	free(bad);
	free(rec);
	tu_vm_free(&t);
}
END_TEST

/* No record: nothing to do. A record that names nothing (only its header
 * and group, as an edit or an older tap-setup could leave it): down
 * removes it, a dry run leaves it (it changes nothing, found by the
 * mutation pass: a dry run that removed it went unseen). */
START_TEST(down_without_record)
{
	struct tu_vm t;
	tu_vm_make(&t, "vm1");
	tap_ok(&t, "down", NULL);
	char rel[64];
	snprintf(rel, sizeof(rel), "%s/tap", t.name);
	static const char empty[] = "# tap-setup record 2\ngroup 123456\n";
	tu_write(t.runtime, rel, empty);
	tap_ok(&t, "down", (const char *[]){ "--dry-run", NULL });
	char *rec = record_of(&t, "tap");
	ck_assert_msg(rec && strcmp(rec, empty) == 0, "after down --dry-run, the record is %s",
		      rec ? rec : "gone");
	free(rec);
	tap_ok(&t, "down", NULL);
	ck_assert_ptr_null(record_of(&t, "tap"));
	tu_vm_free(&t);
}
END_TEST

/* A VM that is not there (a mistyped name): up and grant fail on it, down
 * finds nothing to undo, and none of them makes anything on the host, not
 * even the VM's lock file in the runtime dir (it was made before the
 * runner was read). */
START_TEST(unknown_vm_makes_nothing)
{
	static const struct {
		const char *verb, *opt;
		int status;
	} runs[] = {
		{ "up", NULL, 1 },   { "up", "--macvtap", 1 },	 { "grant", "--macvtap", 1 },
		{ "down", NULL, 0 }, { "down", "--macvtap", 0 },
	};
	struct tu_vm t;
	tu_vm_make(&t, "vm1");
	ck_assert_int_eq(mkdir(t.runtime, 0755), 0);
	struct tu_vm ghost = t;
	ghost.name = "vm9";
	for (size_t i = 0; i < ARRAY_SIZE(runs); i++) {
		struct tu_run r;
		tap_run(&r, &ghost, runs[i].verb, (const char *const[]){ runs[i].opt, NULL });
		ck_assert_msg(r.status == runs[i].status, "%s %s: exit %d: %s",
			      runs[i].opt ? runs[i].opt : "", runs[i].verb, r.status, r.err);
		ck_assert_msg(runs[i].status == 0 ||
				      (strstr(r.err, "unable to find VM 'vm9': no directory '") &&
				       strstr(r.err, "/state/vm9'\n")),
			      "%s: %s", runs[i].verb, r.err);
		char names[256];
		tu_list_dir(t.runtime, names, sizeof(names));
		ck_assert_msg(!names[0], "%s %s left in the runtime dir: %s",
			      runs[i].opt ? runs[i].opt : "", runs[i].verb, names);
		tu_run_free(&r);
	}
	tu_vm_free(&t);
}
END_TEST

Suite *tap_suite(void)
{
	Suite *s = suite_create("tap");
	TCase *cli = tu_tcase_create("cli");
	tcase_add_test(cli, usage_errors);
	tcase_add_test(cli, bad_mtu_from_environment);
	tcase_add_test(cli, bad_lock_timeout_from_environment);
	tcase_add_test(cli, mtu_bounds);
	suite_add_tcase(s, cli);
	TCase *tc = tu_tcase_create("netns");
	const char *why = tu_need_netns();
	tcase_add_checked_fixture(tc, netns_setup, netns_teardown);
	tcase_set_timeout(tc, 60);
	tu_add_loop_test_if(tc, up_creates_taps_down_deletes, 0, (int)ARRAY_SIZE(flag_cases), why);
	tu_add_test_if(tc, multi_queue_attach_as_vm_user, why);
	tu_add_test_if(tc, bridge_and_mtu, why);
	tu_add_test_if(tc, kernel_refusal_says_why, why);
	tu_add_test_if(tc, qdisc_noqueue_unless_default, why);
	tu_add_test_if(tc, bridge_from_environment_and_missing_bridge, why);
	tu_add_test_if(tc, environment_defaults_only_where_they_apply, why);
	tu_add_test_if(tc, empty_environment_is_unset, why);
	tu_add_loop_test_if(tc, refuses_non_tap, 0, 3, why);
	tu_add_test_if(tc, refuses_held_tap, why);
	tu_add_test_if(tc, held_error_names_the_first, why);
	tu_add_test_if(tc, bad_name_on_line_3_creates_nothing, why);
	tu_add_test_if(tc, rollback_taps, why);
	tu_add_test_if(tc, idempotent_and_down_without_runner, why);
	tu_add_test_if(tc, link_group_own_and_stable, why);
	tu_add_test_if(tc, dry_run_changes_nothing, why);
	tu_add_test_if(tc, dry_run_lines_are_escaped, why);
	tu_add_test_if(tc, reasons_name_paths_escaped, why);
	tu_add_test_if(tc, down_group_only_when_exact, why);
	tu_add_test_if(tc, down_leaves_what_is_no_longer_a_tap, why);
	tu_add_test_if(tc, down_leaves_a_renamed_tap, why);
	tu_add_test_if(tc, down_pending_only_in_its_group, why);
	tu_add_test_if(tc, down_without_record, why);
	tu_add_test_if(tc, unknown_vm_makes_nothing, why);
	tu_add_test_if(tc, down_refuses_a_record_with_a_nul, why);
	tu_add_test_if(tc, many_taps, why);
	tu_add_loop_test_if(tc, up_with_no_interfaces_says_so, 0, 2, why);
	tu_add_loop_test_if(tc, interface_count_agrees_with_its_noun, 0, 2, why);
	tu_add_test_if(tc, macvtap_up_down, why);
	tu_add_loop_test_if(tc, macvtap_devt_from_node_or_refused, 0, 2, why);
	tu_add_test_if(tc, macvtap_refusals_and_rollback, why);
	tu_add_test_if(tc, macvtap_stale_node_refused, why);
	tu_add_test_if(tc, macvtap_grant_checks_the_kernel, why);
	suite_add_tcase(s, tc);
	tap_attack_cases(s);
	return s;
}
