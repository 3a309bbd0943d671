/* SPDX-License-Identifier: MIT */
/* Helpers of the tap suite: see tapkit.h. Links the tests need (a plain
 * link to collide with, a macvtap's lower link, a bridge) are made with
 * libnl; veth stands in for dummy, which is often a module (and tests
 * never load modules). */
#include "tapkit.h"

#include <check.h>
#include <errno.h>
#include <net/if.h> /* before the linux/ headers */
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "util.h"

struct nl_sock *tap_sk;

void netns_setup(void)
{
	ck_assert_msg(unshare(CLONE_NEWNET | CLONE_NEWNS) == 0, "unshare: %s", strerror(errno));
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_msg(mount("sysfs", "/sys", "sysfs", 0, NULL) == 0, "mount sysfs: %s",
		      strerror(errno));
	tap_sk = nl_socket_alloc();
	ck_assert_ptr_nonnull(tap_sk);
	ck_assert_int_eq(nl_connect(tap_sk, NETLINK_ROUTE), 0);
}

void netns_teardown(void)
{
	nl_socket_free(tap_sk);
	tap_sk = NULL;
}

void make_veth(const char *name)
{
	char peer[IFNAMSIZ];
	snprintf(peer, sizeof(peer), "%.13sp", name);
	int r = rtnl_link_veth_add(tap_sk, name, peer, getpid()); /* 0 is not "here" */
	ck_assert_msg(r == 0, "veth %s: %s", name, nl_geterror(r));
}

void make_bridge(const char *name)
{
	int r = rtnl_link_bridge_add(tap_sk, name);
	ck_assert_msg(r == 0, "bridge %s: %s", name, nl_geterror(r));
}

int ifindex(const char *name)
{
	return (int)if_nametoindex(name);
}

struct rtnl_link *get_link(const char *name)
{
	struct rtnl_link *l = NULL;
	int r = rtnl_link_get_kernel(tap_sk, 0, name, &l);
	ck_assert_msg(r == 0, "get %s: %s", name, nl_geterror(r));
	return l;
}

void set_group(const char *name, uint32_t group)
{
	struct rtnl_link *orig = get_link(name), *ch = rtnl_link_alloc();
	rtnl_link_set_group(ch, group);
	ck_assert_int_eq(rtnl_link_change(tap_sk, orig, ch, 0), 0);
	rtnl_link_put(ch);
	rtnl_link_put(orig);
}

void set_mac_master(const char *name, const char *mac, const char *master)
{
	struct rtnl_link *orig = get_link(name), *ch = rtnl_link_alloc();
	struct nl_addr *a = NULL;
	ck_assert_int_eq(nl_addr_parse(mac, AF_LLC, &a), 0);
	rtnl_link_set_addr(ch, a);
	if (master)
		rtnl_link_set_master(ch, ifindex(master));
	int r = rtnl_link_change(tap_sk, orig, ch, 0);
	ck_assert_msg(r == 0, "%s address %s: %s", name, mac, nl_geterror(r));
	nl_addr_put(a);
	rtnl_link_put(ch);
	rtnl_link_put(orig);
}

/* An alternative name: the kernel then refuses NAME for a new interface,
 * though no interface has it as its name (what a dump shows). */
void add_altname(const char *dev, const char *alt)
{
	struct nl_msg *m = nlmsg_alloc_simple(RTM_NEWLINKPROP, NLM_F_REQUEST | NLM_F_ACK |
								      NLM_F_CREATE | NLM_F_EXCL |
								      NLM_F_APPEND);
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex(dev) };
	ck_assert_int_eq(nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO), 0);
	struct nlattr *list = nla_nest_start(m, IFLA_PROP_LIST);
	ck_assert_int_eq(nla_put_string(m, IFLA_ALT_IFNAME, alt), 0);
	nla_nest_end(m, list);
	int r = nl_send_sync(tap_sk, m);
	ck_assert_msg(r == 0, "altname %s: %s", alt, nl_geterror(r));
}

char *sysattr(const char *name, const char *attr)
{
	char p[256], *v = NULL;
	snprintf(p, sizeof(p), "/sys/class/net/%s/%s", name, attr);
	int r = read_line(p, &v);
	ck_assert_msg(r == 0, "read %s: %s", p, strerror(-r));
	return v;
}

unsigned long sysnum(const char *name, const char *attr)
{
	char *v = sysattr(name, attr);
	unsigned long n = strtoul(v, NULL, 0);
	free(v);
	return n;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *links_now(void)
{
	struct if_nameindex *ni = if_nameindex();
	ck_assert_ptr_nonnull(ni);
	size_t n = 0, len = 1;
	while (ni[n].if_name)
		len += strlen(ni[n++].if_name) + 1;
	const char **v = calloc(n + 1, sizeof(*v));
	char *s = calloc(1, len);
	ck_assert(v && s);
	for (size_t i = 0; i < n; i++)
		v[i] = ni[i].if_name;
	qsort(v, n, sizeof(*v), by_name);
	for (size_t i = 0; i < n; i++)
		sprintf(s + strlen(s), "%s%s", i ? " " : "", v[i]);
	free(v);
	if_freenameindex(ni);
	return s;
}

void tap_run_env(struct tu_run *r, const struct tu_vm *t, const char *verb,
		  const char *const *extra, const char *const *env)
{
	const char *argv[32];
	size_t n = 0;
	char *bin = tu_bin("tap-setup");
	argv[n++] = bin;
	argv[n++] = "--state-dir";
	argv[n++] = t->state;
	argv[n++] = "--runtime-dir";
	argv[n++] = t->runtime;
	argv[n++] = "--user";
	argv[n++] = "990";
	argv[n++] = "--group";
	argv[n++] = "78";
	for (size_t i = 0; extra && extra[i] && n < 29; i++)
		argv[n++] = extra[i];
	argv[n++] = verb;
	argv[n++] = t->name;
	argv[n] = NULL;
	tu_run_env(r, argv, env);
	free(bin);
}

void tap_run(struct tu_run *r, const struct tu_vm *t, const char *verb, const char *const *extra)
{
	tap_run_env(r, t, verb, extra, NULL);
}

void tap_ok(const struct tu_vm *t, const char *verb, const char *const *extra)
{
	struct tu_run r;
	tap_run(&r, t, verb, extra);
	ck_assert_msg(r.status == 0, "tap-setup %s: exit %d: %s", verb, r.status, r.err);
	tu_run_free(&r);
}

char *record_of(const struct tu_vm *t, const char *kind)
{
	char rel[64], *text = NULL, *p;
	snprintf(rel, sizeof(rel), "%s/%s", t->name, kind);
	p = tu_path(t->runtime, rel);
	if (read_file(p, 1 << 20, &text, NULL) < 0)
		text = NULL;
	free(p);
	return text;
}

void vm_taps(struct tu_vm *t, const char *names, const char *flags)
{
	tu_vm_make(t, "vm1");
	tu_write(t->runner, "share/microvm/tap-interfaces", names);
	if (flags)
		tu_write(t->runner, "share/microvm/tap-flags", flags);
}

void vm_n_taps(struct tu_vm *t, size_t n, const char *flags)
{
	char *names = malloc(n * 8 + 1), *p = names; /* "t99999\n" at most */
	ck_assert_ptr_nonnull(names);
	*p = '\0';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "t%zu\n", i);
	vm_taps(t, names, flags);
	free(names);
}

char *tun_node(const struct tu_vm *t)
{
	char *net = tu_path(t->root, "dev/net"), *tun = tu_path(net, "tun");
	struct stat st;
	ck_assert_int_eq(mkdir_p(net, 0755), 0);
	if (stat(tun, &st) < 0)
		ck_assert_int_eq(mknod(tun, S_IFCHR | 0666, makedev(10, 200)), 0);
	ck_assert_int_eq(chmod(tun, 0666), 0);
	free(net);
	return tun;
}

pid_t holder_start(const struct tu_vm *t, uid_t uid, gid_t gid, const char *const *args)
{
	char *bin = tu_bin("tests/helpers/tap-holder"), u[16], g[16];
	char *tun = tun_node(t);
	const char *argv[32] = { bin, "--user", u, "--group", g, "--tun", tun };
	size_t n = 7;
	snprintf(u, sizeof(u), "%u", (unsigned)uid);
	snprintf(g, sizeof(g), "%u", (unsigned)gid);
	for (size_t i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	int out[2];
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(out[1], 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	char buf[256];
	ssize_t k = read(out[0], buf, sizeof(buf) - 1);
	close(out[0]);
	free(tun);
	free(bin);
	buf[k > 0 ? k : 0] = '\0';
	if (strncmp(buf, "ready", 5) != 0) {
		holder_stop(pid);
		ck_abort_msg("tap-holder did not get ready: '%s'", buf);
	}
	return pid;
}

void holder_stop(pid_t pid)
{
	int st;
	kill(pid, SIGTERM);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
}
