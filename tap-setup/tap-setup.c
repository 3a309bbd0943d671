/* SPDX-License-Identifier: MIT */
/* tap-setup: create (up) and delete (down) the TAP or macvtap interfaces
 * of one VM. The TAPs are made with the /dev/net/tun ioctls; everything
 * else (the link dump, up, master, MTU, link group, macvtap, delete) goes
 * through one libnl-route socket. What up created is recorded under the
 * runtime dir and down undoes exactly that, without the runner package.
 *
 * Safety (DESIGN.md section 3): an existing interface of a wanted name is
 * replaced only when it is a TAP (macvtap) that no process holds open;
 * anything else is refused before the host is changed. up is all or
 * nothing: on a failure the interfaces this run created are removed. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h> /* before the linux/ headers */
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/macvtap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "layout.h"
#include "log.h"
#include "record.h"
#include "util.h"
#include "vm.h"

/* Above the values common/cli.c uses for the shared options. */
enum { OPT_MACVTAP = 0x1000, OPT_BRIDGE, OPT_MTU };

static const struct option tool_options[] = {
	{ "macvtap", no_argument, NULL, OPT_MACVTAP },
	{ "bridge", required_argument, NULL, OPT_BRIDGE },
	{ "mtu", required_argument, NULL, OPT_MTU },
	{ 0 },
};

struct opts {
	bool macvtap;
	const char *bridge; /* NULL: no master */
	unsigned mtu;	    /* 0: the kernel's default */
};

static int set_bridge(struct opts *o, const char *arg)
{
	const char *why = ifname_invalid(arg, strlen(arg));
	if (why) {
		log_err("unable to use bridge '%s': %s", arg, why);
		return -EINVAL;
	}
	o->bridge = arg;
	return 0;
}

static int set_mtu(struct opts *o, const char *arg)
{
	unsigned long v;
	if (parse_uint(arg, 65535, &v) < 0 || v < 68) {
		log_err("unable to use MTU '%s': not a number from 68 to 65535", arg);
		return -EINVAL;
	}
	o->mtu = (unsigned)v;
	return 0;
}

static int handle_option(int opt, const char *arg, void *userdata)
{
	struct opts *o = userdata;
	switch (opt) {
	case OPT_MACVTAP:
		o->macvtap = true;
		return 0;
	case OPT_BRIDGE:
		return set_bridge(o, arg);
	case OPT_MTU:
		return set_mtu(o, arg);
	}
	return -EINVAL;
}

static struct opts opts;

static const struct cli_tool tool = {
	.name = "tap-setup",
	.synopsis = "[OPTIONS] up|down NAME",
	.summary = "create or delete the TAP (or macvtap) interfaces of a MicroVM",
	.help = "  up NAME           create the interfaces of current/share/microvm/tap-interfaces\n"
		"  down NAME         delete the interfaces the record of 'up' names\n"
		"      --macvtap     use share/microvm/macvtap-interfaces (ID MAC LINK MODE)\n"
		"      --bridge BR   enslave every TAP to bridge BR ($MICROVM_TAP_BRIDGE)\n"
		"      --mtu N       set the MTU of every interface ($MICROVM_TAP_MTU)\n",
	.flags = CLI_SYSFS | CLI_DEVFS | CLI_PROCFS | CLI_IDS | CLI_UNTRUSTED | CLI_RUNTIME,
	.options = tool_options,
	.handle = handle_option,
	.userdata = &opts,
};

/* ---- errors ---------------------------------------------------------- */

static int fail_nl(struct mvm_error *e, int nlerr, const char *verb, const char *obj)
{
	return mvm_error_setf(e, 0, verb, obj, "%s", nl_geterror(nlerr));
}

/* ---- netlink ----------------------------------------------------------- */

struct ctx {
	const struct cli *c;
	const char *vm;
	const char *kind; /* record kind: "tap" or "macvtap" */
	struct nl_sock *sk;
	struct nl_cache *links; /* one dump, taken before any change */
};

static int ctx_open(struct ctx *x, struct mvm_error *e)
{
	x->sk = nl_socket_alloc();
	if (!x->sk)
		return mvm_error_set(e, ENOMEM, "open", "netlink socket", NULL);
	int r = nl_connect(x->sk, NETLINK_ROUTE);
	if (r < 0)
		return fail_nl(e, r, "open", "netlink socket");
	r = rtnl_link_alloc_cache(x->sk, AF_UNSPEC, &x->links);
	if (r < 0)
		return fail_nl(e, r, "list", "network interfaces");
	return 0;
}

static void ctx_close(struct ctx *x)
{
	if (x->links)
		nl_cache_free(x->links);
	if (x->sk)
		nl_socket_free(x->sk);
	x->links = NULL;
	x->sk = NULL;
}

static bool link_is_tap(struct rtnl_link *l)
{
	const char *k = rtnl_link_get_type(l);
	/* A TUN (layer 3) device has no Ethernet header: ARPHRD_NONE. */
	return k && !strcmp(k, "tun") && rtnl_link_get_arptype(l) == ARPHRD_ETHER;
}

static bool link_is_macvtap(struct rtnl_link *l)
{
	const char *k = rtnl_link_get_type(l);
	return k && !strcmp(k, "macvtap");
}

/* A TAP has carrier exactly while a process has a queue of it attached.
 * IFLA_CARRIER, not IFF_LOWER_UP: the flag can lag behind for a moment
 * after the last queue closed. */
static bool tap_has_carrier(struct rtnl_link *l)
{
	return rtnl_link_get_carrier(l) != 0;
}

/* The kernel's index of a name: SIOCGIFINDEX through the netlink socket
 * (any socket serves; no extra descriptor, no dump). */
static int ifindex_of(struct ctx *x, const char *name)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(nl_socket_get_fd(x->sk), SIOCGIFINDEX, &ifr) < 0)
		return -errno;
	return ifr.ifr_ifindex;
}

static int delete_ifindex(struct ctx *x, int ifindex, const char *name, struct mvm_error *e)
{
	struct rtnl_link *l = rtnl_link_alloc();
	if (!l)
		return mvm_error_set(e, ENOMEM, "delete", name, NULL);
	rtnl_link_set_ifindex(l, ifindex);
	int r = rtnl_link_delete(x->sk, l);
	rtnl_link_put(l);
	if (r == -NLE_NODEV || r == -NLE_OBJ_NOTFOUND)
		return 0;
	return r < 0 ? fail_nl(e, r, "delete", name) : 0;
}

/* One RTM_DELLINK naming only IFLA_GROUP: the kernel unregisters the whole
 * group in one batch (one RCU grace period instead of one per link).
 * rtnl_link_delete() insists on an index or a name, so build it here. */
static int delete_group(struct ctx *x, uint32_t group, struct mvm_error *e)
{
	char obj[32];
	snprintf(obj, sizeof(obj), "link group %u", group);
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK);
	if (!msg)
		return mvm_error_set(e, ENOMEM, "delete", obj, NULL);
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	int r = nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO);
	if (r >= 0)
		r = nla_put_u32(msg, IFLA_GROUP, group);
	if (r >= 0)
		r = nl_send_sync(x->sk, msg); /* frees msg */
	else
		nlmsg_free(msg);
	return r < 0 ? fail_nl(e, r, "delete", obj) : 0;
}

/* ---- macvtap character devices ------------------------------------------ */

/* "MAJOR:MINOR" (a sysfs dev attribute) to a dev_t. */
static int parse_devt(const char *s, dev_t *out)
{
	const char *colon = strchr(s, ':');
	char maj[16];
	unsigned long a, b;
	if (!colon || (size_t)(colon - s) >= sizeof(maj))
		return -EINVAL;
	memcpy(maj, s, (size_t)(colon - s));
	maj[colon - s] = '\0';
	if (parse_uint(maj, 0xfff, &a) < 0 || parse_uint(colon + 1, 0xfffff, &b) < 0)
		return -EINVAL;
	*out = makedev(a, b);
	return 0;
}

/* The device number of macvtap NAME (index ifindex) as sysfs shows it. */
static int macvtap_sysfs_devt(const struct cli *c, const char *name, int ifindex, dev_t *out,
			      char **path)
{
	_cleanup_free_ char *p = xasprintf("%s/class/net/%s/macvtap/tap%d/dev", c->sysfs, name,
					   ifindex);
	_cleanup_free_ char *line = NULL;
	if (!p)
		return -ENOMEM;
	int r = read_line(p, &line);
	if (r == 0)
		r = parse_devt(line, out);
	if (path) {
		*path = p;
		p = NULL;
	}
	return r;
}

/* The same, else from the node DEVFS/tapIFINDEX. */
static int macvtap_devt(const struct cli *c, const char *name, int ifindex, dev_t *out)
{
	if (macvtap_sysfs_devt(c, name, ifindex, out, NULL) == 0)
		return 0;
	_cleanup_free_ char *node = xasprintf("%s/tap%d", c->devfs, ifindex);
	struct stat st;
	if (!node)
		return -ENOMEM;
	if (stat(node, &st) == 0 && S_ISCHR(st.st_mode)) {
		*out = st.st_rdev;
		return 0;
	}
	return -ENOENT;
}

/* A process holding the character device devt open: its pid, or 0. */
static pid_t devt_holder(const char *procfs, dev_t devt)
{
	DIR *d = opendir(procfs);
	pid_t found = 0;
	if (!d)
		return 0;
	for (struct dirent *de; !found && (de = readdir(d));) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char fdpath[PATH_MAX];
		snprintf(fdpath, sizeof(fdpath), "%s/%s/fd", procfs, de->d_name);
		DIR *fds = opendir(fdpath);
		if (!fds)
			continue;
		for (struct dirent *f; (f = readdir(fds));) {
			struct stat st;
			if (f->d_name[0] == '.' || fstatat(dirfd(fds), f->d_name, &st, 0) < 0)
				continue;
			unsigned long pid;
			if (S_ISCHR(st.st_mode) && st.st_rdev == devt &&
			    parse_uint(de->d_name, INT_MAX, &pid) == 0) {
				found = (pid_t)pid;
				break;
			}
		}
		closedir(fds);
	}
	closedir(d);
	return found;
}

/* ---- the record ------------------------------------------------------------ */

/* RUNTIME/NAME/tap (or macvtap):
 *   group G
 *   IFNAME IFINDEX [NODE]       NODE: a /dev/tapN this run had to make */
struct made {
	char name[IFNAMSIZ];
	int ifindex;
	char *node; /* mknod'ed by us, or NULL */
};

struct made_list {
	size_t n;
	struct made *v;
	uint32_t group;
};

static void made_list_free(struct made_list *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].node);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static char *record_text(const struct made_list *m)
{
	size_t cap = 64 + m->n * (IFNAMSIZ + 16);
	for (size_t i = 0; i < m->n; i++)
		cap += m->v[i].node ? strlen(m->v[i].node) + 1 : 0;
	char *t = malloc(cap), *p = t;
	if (!t)
		return NULL;
	p += sprintf(p, "group %u\n", m->group);
	for (size_t i = 0; i < m->n; i++)
		p += sprintf(p, "%s %d%s%s\n", m->v[i].name, m->v[i].ifindex,
			     m->v[i].node ? " " : "", m->v[i].node ? m->v[i].node : "");
	return t;
}

static int record_parse(const char *text, const char *file, struct made_list *out,
			struct mvm_error *e)
{
	struct made_list m = { 0 };
	struct lines ls;
	const char *s;
	size_t n;
	lines_init(&ls, text, strlen(text));
	while (lines_next(&ls, &s, &n)) {
		char line[PATH_MAX + 64], name[IFNAMSIZ + 1], *end;
		int off = 0;
		unsigned long g;
		if (n == 0)
			continue;
		if (n >= sizeof(line))
			goto bad;
		memcpy(line, s, n);
		line[n] = '\0';
		if (!strncmp(line, "group ", 6)) {
			if (parse_uint(line + 6, UINT32_MAX, &g) < 0)
				goto bad;
			m.group = (uint32_t)g;
			continue;
		}
		struct made *v = realloc(m.v, (m.n + 1) * sizeof(*v));
		if (!v) {
			made_list_free(&m);
			return mvm_error_set(e, ENOMEM, "read", file, NULL);
		}
		m.v = v;
		v = &m.v[m.n];
		memset(v, 0, sizeof(*v));
		long ifx;
		if (sscanf(line, "%16s %n", name, &off) != 1 || ifname_invalid(name, strlen(name)))
			goto bad;
		errno = 0;
		ifx = strtol(line + off, &end, 10);
		if (errno || ifx <= 0 || ifx > INT_MAX || (*end && *end != ' '))
			goto bad;
		memcpy(v->name, name, strlen(name) + 1); /* at most 15 bytes: checked */
		v->ifindex = (int)ifx;
		if (*end == ' ' && !(v->node = strdup(end + 1))) {
			made_list_free(&m);
			return mvm_error_set(e, ENOMEM, "read", file, NULL);
		}
		m.n++;
	}
	*out = m;
	return 0;
bad:
	made_list_free(&m);
	mvm_error_set(e, EINVAL, "parse", file, "not a line of a tap-setup record");
	e->line = ls.lineno;
	escape_value(s, n, e->value, sizeof(e->value));
	return -EINVAL;
}

static int save_record(struct ctx *x, const struct made_list *m, struct mvm_error *e)
{
	_cleanup_free_ char *t = record_text(m);
	if (!t)
		return mvm_error_set(e, ENOMEM, "record", x->kind, NULL);
	return record_write(x->c->runtime_dir, x->vm, x->kind, t, e);
}

/* The record of a successful up; none when it made nothing (an empty list). */
static int finish_record(struct ctx *x, const struct made_list *m, struct mvm_error *e)
{
	if (m->n == 0)
		return record_remove(x->c->runtime_dir, x->vm, x->kind, e);
	return save_record(x, m, e);
}

/* Delete what m names, best effort, in reverse (rollback of up). */
static void undo(struct ctx *x, struct made_list *m)
{
	for (size_t i = m->n; i-- > 0;) {
		struct mvm_error ignored;
		if (delete_ifindex(x, m->v[i].ifindex, m->v[i].name, &ignored) < 0)
			log_warn("unable to delete '%s' again: %s", m->v[i].name,
				 mvm_error_reason(&ignored));
		if (m->v[i].node)
			unlink(m->v[i].node);
	}
}

/* ---- up: checks before any change ------------------------------------------ */

/* May up delete link l (named name) to make room? 0 when it is a TAP (for
 * --macvtap: a macvtap) that no process holds open, else -EEXIST/-EBUSY
 * with the reason. */
static int may_delete(struct ctx *x, struct rtnl_link *l, const char *name, const char *verb,
		      struct mvm_error *e)
{
	const char *k = rtnl_link_get_type(l);
	int ifx = rtnl_link_get_ifindex(l);
	dev_t devt;
	pid_t pid;
	if (!strcmp(x->kind, "tap")) {
		if (!link_is_tap(l))
			return mvm_error_setf(e, EEXIST, verb, name, "it exists and is not a TAP (kind %s)",
					k ? k : (rtnl_link_get_arptype(l) == ARPHRD_NONE ? "tun" : "none"));
		if (tap_has_carrier(l))
			return mvm_error_setf(e, EBUSY, verb, name,
					"a process holds the TAP open (carrier on); is the VM running?");
		return 0;
	}
	if (!link_is_macvtap(l))
		return mvm_error_setf(e, EEXIST, verb, name, "it exists and is not a macvtap (kind %s)",
				k ? k : "none");
	if (macvtap_devt(x->c, name, ifx, &devt) < 0)
		return mvm_error_setf(e, EBUSY, verb, name,
				"cannot find its /dev/tap%d to check that no process holds it", ifx);
	if ((pid = devt_holder(x->c->procfs, devt)) > 0)
		return mvm_error_setf(e, EBUSY, verb, name,
				"process %d holds /dev/tap%d open; is the VM running?", (int)pid, ifx);
	return 0;
}

static const struct made *made_find(const struct made_list *m, int ifindex)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].ifindex == ifindex)
			return &m->v[i];
	return NULL;
}

/* ---- the link group ------------------------------------------------------ */

/* Groups 0-255 are the ones admins name in /etc/iproute2/group; ours come
 * from a hash of the VM name in [2^16, 2^31), the next free one when taken. */
#define GROUP_MIN 0x10000u
#define GROUP_SPAN (0x80000000u - GROUP_MIN)

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* Is group g used by an interface that this run does not delete first? */
static bool group_taken(struct ctx *x, uint32_t g, const struct made_list *doomed)
{
	for (struct nl_object *o = nl_cache_get_first(x->links); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		if (rtnl_link_get_group(l) != g)
			continue;
		if (!made_find(doomed, rtnl_link_get_ifindex(l)))
			return true;
	}
	return false;
}

static int choose_group(struct ctx *x, const struct made_list *doomed, uint32_t *out,
			struct mvm_error *e)
{
	uint32_t h = fnv1a(x->vm) % GROUP_SPAN;
	for (uint32_t i = 0; i < 4096; i++) {
		uint32_t g = GROUP_MIN + (h + i) % GROUP_SPAN;
		if (!group_taken(x, g, doomed)) {
			*out = g;
			return 0;
		}
	}
	return mvm_error_set(e, ENOSPC, "choose", "link group", "no free link group found");
}

static int doomed_add(struct made_list *d, const char *name, int ifindex,
		      const struct made_list *old, struct mvm_error *e)
{
	struct made *m = &d->v[d->n];
	const struct made *o = made_find(old, ifindex);
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->ifindex = ifindex;
	if (o && o->node && !(m->node = strdup(o->node)))
		return mvm_error_set(e, ENOMEM, "replace", name, NULL);
	d->n++;
	return 0;
}

/* What up deletes before it creates: an interface that has a wanted name
 * (a TAP/macvtap left behind, see may_delete()), and an interface that the
 * last up recorded but the runner no longer names. Anything that may not
 * be deleted is refused here, before any change. */
static int plan_deletions(struct ctx *x, const char *const *wanted, size_t n,
			  struct made_list *doomed, struct mvm_error *e)
{
	struct made_list old = { 0 };
	_cleanup_free_ char *text = NULL, *file = NULL;
	int r = record_read(x->c->runtime_dir, x->vm, x->kind, &text, e);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0) {
		file = xasprintf("%s/%s/%s", x->c->runtime_dir, x->vm, x->kind);
		if (!file)
			return mvm_error_set(e, ENOMEM, "read", x->kind, NULL);
		if ((r = record_parse(text, file, &old, e)) < 0)
			return r;
	}
	r = 0;
	doomed->v = calloc(n + old.n + 1, sizeof(*doomed->v));
	if (!doomed->v) {
		r = mvm_error_set(e, ENOMEM, "create", x->kind, NULL);
		goto out;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct rtnl_link *l = rtnl_link_get_by_name(x->links, wanted[i]);
		if (!l)
			continue;
		r = may_delete(x, l, wanted[i], "replace", e);
		if (r == 0)
			r = doomed_add(doomed, wanted[i], rtnl_link_get_ifindex(l), &old, e);
		rtnl_link_put(l);
	}
	for (size_t i = 0; r == 0 && i < old.n; i++) {
		const struct made *o = &old.v[i];
		bool still_wanted = false;
		for (size_t k = 0; k < n && !still_wanted; k++)
			still_wanted = !strcmp(wanted[k], o->name);
		struct rtnl_link *l = still_wanted ? NULL : rtnl_link_get(x->links, o->ifindex);
		if (!l)
			continue;
		const char *now = rtnl_link_get_name(l);
		if (now && !strcmp(now, o->name) && may_delete(x, l, o->name, "delete", e) == 0)
			r = doomed_add(doomed, o->name, o->ifindex, &old, e);
		else if (now && !strcmp(now, o->name) && e->err == EBUSY)
			r = -EBUSY; /* the last up's, and held: the VM still runs */
		rtnl_link_put(l);
	}
out:
	made_list_free(&old);
	return r;
}

/* Delete what plan_deletions() chose, and the device nodes we had made. */
static int delete_doomed(struct ctx *x, const struct made_list *d, struct mvm_error *e)
{
	for (size_t i = 0; i < d->n; i++) {
		int r = delete_ifindex(x, d->v[i].ifindex, d->v[i].name, e);
		if (r < 0)
			return r;
		struct stat st;
		if (d->v[i].node && lstat(d->v[i].node, &st) == 0 && S_ISCHR(st.st_mode))
			unlink(d->v[i].node);
		log_debug("deleted %s (index %d) first", d->v[i].name, d->v[i].ifindex);
	}
	return 0;
}

static int find_link(struct ctx *x, const char *name, const char *what, int *ifindex,
		     struct mvm_error *e)
{
	struct rtnl_link *l = rtnl_link_get_by_name(x->links, name);
	if (!l)
		return mvm_error_setf(e, ENODEV, "find", name, "no such %s", what);
	*ifindex = rtnl_link_get_ifindex(l);
	rtnl_link_put(l);
	return 0;
}

/* ---- up: the actions ------------------------------------------------------- */

/* The index is learnt before TUNSETPERSIST: when that fails, closing fd
 * takes the TAP away again, so there is nothing left to roll back. */
static int tap_create(struct ctx *x, const char *tun, const char *name, unsigned flags,
		      int *ifindex, struct mvm_error *e)
{
	const struct cli *c = x->c;
	struct ifreq ifr;
	int r = 0;
	_cleanup_close_ int fd = open(tun, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return mvm_error_set(e, errno, "open", tun, NULL);
	memset(&ifr, 0, sizeof(ifr));
	/* IFF_TUN_EXCL: fail with EBUSY instead of attaching to an existing
	 * interface that appeared since the dump. */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL;
	if (flags & TAP_FLAG_VNET_HDR)
		ifr.ifr_flags |= IFF_VNET_HDR;
	if (flags & TAP_FLAG_MULTI_QUEUE)
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return mvm_error_setf(e, errno, "create", name, "TUNSETIFF: %s", strerror(errno));
	if (ioctl(fd, TUNSETOWNER, (unsigned long)c->uid) < 0)
		r = mvm_error_setf(e, errno, "create", name, "TUNSETOWNER %u: %s", (unsigned)c->uid,
			     strerror(errno));
	else if (ioctl(fd, TUNSETGROUP, (unsigned long)c->gid) < 0)
		r = mvm_error_setf(e, errno, "create", name, "TUNSETGROUP %u: %s", (unsigned)c->gid,
			     strerror(errno));
	else if ((*ifindex = ifindex_of(x, name)) < 0)
		r = mvm_error_set(e, -*ifindex, "find", name, NULL);
	else if (ioctl(fd, TUNSETPERSIST, 1UL) < 0)
		r = mvm_error_setf(e, errno, "create", name, "TUNSETPERSIST: %s", strerror(errno));
	/* Without TUNSETPERSIST the interface goes away with fd. */
	return r;
}

/* Up, and the per-host settings, in one RTM_NEWLINK. */
static int link_setup(struct ctx *x, struct rtnl_link *changes, int ifindex, const char *name,
		      struct mvm_error *e)
{
	struct rtnl_link *orig = rtnl_link_alloc();
	if (!orig)
		return mvm_error_set(e, ENOMEM, "set up", name, NULL);
	rtnl_link_set_ifindex(orig, ifindex);
	int r = rtnl_link_change(x->sk, orig, changes, 0);
	rtnl_link_put(orig);
	return r < 0 ? fail_nl(e, r, "set up", name) : 0;
}

static const char *settings_str(const struct opts *o, uint32_t group, char *buf, size_t size)
{
	int n = snprintf(buf, size, "group %u", group);
	if (o->bridge && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " master %s", o->bridge);
	if (o->mtu && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " mtu %u", o->mtu);
	return buf;
}

static int up_taps(struct ctx *x, const struct vm *vm, struct mvm_error *e)
{
	const struct cli *c = x->c;
	struct ifname_list names = { 0 };
	struct made_list made = { 0 }, doomed = { 0 };
	unsigned flags = 0;
	const char **wanted = NULL;
	int master = 0, r;
	struct rtnl_link *changes = NULL;
	_cleanup_free_ char *tun = path_join(c->devfs, "net/tun");

	if (!tun)
		return mvm_error_set(e, ENOMEM, "create", "TAP", NULL);
	r = vm_tap_interfaces(vm, &names, e);
	if (r < 0)
		return r;
	r = vm_tap_flags(vm, &flags, e);
	if (r < 0)
		goto out;
	r = ctx_open(x, e);
	if (r < 0)
		goto out;
	if (opts.bridge && (r = find_link(x, opts.bridge, "bridge", &master, e)) < 0)
		goto out;
	wanted = calloc(names.n + 1, sizeof(*wanted));
	made.v = calloc(names.n + 1, sizeof(*made.v));
	if (!wanted || !made.v) {
		r = mvm_error_set(e, ENOMEM, "create", "TAP", NULL);
		goto out;
	}
	for (size_t i = 0; i < names.n; i++)
		wanted[i] = names.v[i];
	if ((r = plan_deletions(x, wanted, names.n, &doomed, e)) < 0 ||
	    (r = choose_group(x, &doomed, &made.group, e)) < 0)
		goto out;

	char fl[64], set[64];
	tap_flags_str(flags, fl, sizeof(fl));
	settings_str(&opts, made.group, set, sizeof(set));
	if (c->dry_run) {
		for (size_t i = 0; i < doomed.n; i++)
			log_action("delete stale TAP %s", doomed.v[i].name);
		for (size_t i = 0; i < names.n; i++) {
			log_action("create %s flags %s owner %u:%u", names.v[i], fl,
				   (unsigned)c->uid, (unsigned)c->gid);
			log_action("set %s up %s", names.v[i], set);
		}
		log_action("record %zu TAPs in %s/%s/tap", names.n, c->runtime_dir, x->vm);
		goto out;
	}

	changes = rtnl_link_alloc();
	if (!changes) {
		r = mvm_error_set(e, ENOMEM, "create", "TAP", NULL);
		goto out;
	}
	rtnl_link_set_flags(changes, IFF_UP);
	rtnl_link_set_group(changes, made.group);
	if (master)
		rtnl_link_set_master(changes, master);
	if (opts.mtu)
		rtnl_link_set_mtu(changes, opts.mtu);

	if ((r = delete_doomed(x, &doomed, e)) < 0)
		goto out;
	for (size_t i = 0; i < names.n; i++) {
		const char *name = names.v[i];
		int ifx = 0;
		if ((r = tap_create(x, tun, name, flags, &ifx, e)) < 0)
			goto undo;
		snprintf(made.v[made.n].name, IFNAMSIZ, "%s", name);
		made.v[made.n++].ifindex = ifx;
		if ((r = link_setup(x, changes, ifx, name, e)) < 0)
			goto undo;
		log_debug("created %s (index %d) flags %s %s", name, ifx, fl, set);
	}
	if ((r = finish_record(x, &made, e)) < 0)
		goto undo;
	goto out;
undo:
	undo(x, &made);
out:
	if (changes)
		rtnl_link_put(changes);
	free(wanted);
	made_list_free(&doomed);
	made_list_free(&made);
	ifname_list_free(&names);
	return r;
}

static const uint32_t macvtap_modes[] = {
	[MACVTAP_PRIVATE] = MACVLAN_MODE_PRIVATE, [MACVTAP_VEPA] = MACVLAN_MODE_VEPA,
	[MACVTAP_BRIDGE] = MACVLAN_MODE_BRIDGE,	  [MACVTAP_PASSTHRU] = MACVLAN_MODE_PASSTHRU,
	[MACVTAP_SOURCE] = MACVLAN_MODE_SOURCE,
};

static int macvtap_create(struct ctx *x, const struct macvtap_if *m, int lower, uint32_t group,
			  struct mvm_error *e)
{
	struct rtnl_link *l = rtnl_link_macvtap_alloc();
	struct nl_addr *mac = nl_addr_build(AF_LLC, m->mac, sizeof(m->mac));
	int r = -NLE_NOMEM;
	if (l && mac) {
		rtnl_link_set_name(l, m->id);
		rtnl_link_set_link(l, lower);
		rtnl_link_set_addr(l, mac);
		rtnl_link_set_group(l, group);
		rtnl_link_set_flags(l, IFF_ALLMULTI);
		if (opts.mtu)
			rtnl_link_set_mtu(l, opts.mtu);
		r = rtnl_link_macvtap_set_mode(l, macvtap_modes[m->mode]);
		if (r >= 0)
			r = rtnl_link_add(x->sk, l, NLM_F_CREATE | NLM_F_EXCL);
	}
	if (mac)
		nl_addr_put(mac);
	if (l)
		rtnl_link_put(l);
	return r < 0 ? fail_nl(e, r, "create", m->id) : 0;
}

/* DEVFS/tapIFINDEX to the VM user. devtmpfs makes the node as the kernel
 * registers the macvtap; a /dev without devtmpfs (or a re-rooted one) does
 * not have it, so it is made from the device number sysfs shows, and
 * recorded so that down removes it again. */
static int macvtap_node(struct ctx *x, struct made *m, struct mvm_error *e)
{
	const struct cli *c = x->c;
	_cleanup_free_ char *node = xasprintf("%s/tap%d", c->devfs, m->ifindex);
	_cleanup_free_ char *dev = NULL;
	struct stat st;
	dev_t devt = 0;
	if (!node)
		return mvm_error_set(e, ENOMEM, "create", m->name, NULL);
	if (lstat(node, &st) < 0) {
		if (errno != ENOENT)
			return mvm_error_set(e, errno, "stat", node, NULL);
		int r = macvtap_sysfs_devt(c, m->name, m->ifindex, &devt, &dev);
		if (r < 0)
			return mvm_error_set(e, r, "read", dev ? dev : m->name, NULL);
		if (mknod(node, S_IFCHR | 0600, devt) < 0)
			return mvm_error_set(e, errno, "create", node, NULL);
		m->node = node;
		node = NULL;
	} else if (!S_ISCHR(st.st_mode)) {
		return mvm_error_set(e, 0, "chown", node, "not a character device");
	} else if (macvtap_sysfs_devt(c, m->name, m->ifindex, &devt, NULL) == 0 &&
		   st.st_rdev != devt) {
		return mvm_error_set(e, 0, "chown", node,
				     "a stale node: its device number is not the macvtap's");
	}
	const char *p = m->node ? m->node : node;
	if (chown(p, c->uid, c->gid) < 0)
		return mvm_error_set(e, errno, "chown", p, NULL);
	return 0;
}

static int disable_ipv6(struct ctx *x, const char *name, struct mvm_error *e)
{
	_cleanup_free_ char *p = xasprintf("%s/sys/net/ipv6/conf/%s/disable_ipv6",
					   x->c->procfs, name);
	if (!p)
		return mvm_error_set(e, ENOMEM, "write", name, NULL);
	if (access(p, F_OK) < 0)
		return 0; /* no IPv6 in this kernel */
	int r = write_str(p, "1");
	return r < 0 ? mvm_error_set(e, r, "write", p, NULL) : 0;
}

static int up_macvtaps(struct ctx *x, const struct vm *vm, struct mvm_error *e)
{
	const struct cli *c = x->c;
	struct macvtap_list list = { 0 };
	struct made_list made = { 0 }, doomed = { 0 };
	const char **wanted = NULL;
	int *lower = NULL, r;
	struct rtnl_link *changes = NULL;

	r = vm_macvtap_interfaces(vm, &list, e);
	if (r < 0)
		goto out;
	r = ctx_open(x, e);
	if (r < 0)
		goto out;
	wanted = calloc(list.n + 1, sizeof(*wanted));
	lower = calloc(list.n + 1, sizeof(*lower));
	made.v = calloc(list.n + 1, sizeof(*made.v));
	if (!wanted || !lower || !made.v) {
		r = mvm_error_set(e, ENOMEM, "create", "macvtap", NULL);
		goto out;
	}
	for (size_t i = 0; i < list.n; i++) {
		if ((r = find_link(x, list.v[i].link, "link", &lower[i], e)) < 0)
			goto out;
		wanted[i] = list.v[i].id;
	}
	if ((r = plan_deletions(x, wanted, list.n, &doomed, e)) < 0 ||
	    (r = choose_group(x, &doomed, &made.group, e)) < 0)
		goto out;

	if (c->dry_run) {
		for (size_t i = 0; i < doomed.n; i++)
			log_action("delete stale macvtap %s", doomed.v[i].name);
		for (size_t i = 0; i < list.n; i++) {
			const struct macvtap_if *m = &list.v[i];
			log_action("create macvtap %s link %s mac %02x:%02x:%02x:%02x:%02x:%02x "
				   "mode %s allmulticast group %u",
				   m->id, m->link, m->mac[0], m->mac[1], m->mac[2], m->mac[3],
				   m->mac[4], m->mac[5], macvtap_mode_str(m->mode), made.group);
			if (opts.mtu)
				log_action("set mtu %u on %s", opts.mtu, m->id);
			log_action("disable IPv6 on %s", m->id);
			log_action("chown %s/tap<index of %s> to %u:%u", c->devfs, m->id,
				   (unsigned)c->uid, (unsigned)c->gid);
			log_action("set %s up", m->id);
		}
		log_action("record %zu macvtaps in %s/%s/macvtap", list.n, c->runtime_dir, x->vm);
		goto out;
	}

	changes = rtnl_link_alloc();
	if (!changes) {
		r = mvm_error_set(e, ENOMEM, "create", "macvtap", NULL);
		goto out;
	}
	rtnl_link_set_flags(changes, IFF_UP);
	if ((r = delete_doomed(x, &doomed, e)) < 0)
		goto out;
	for (size_t i = 0; i < list.n; i++) {
		const struct macvtap_if *m = &list.v[i];
		if ((r = macvtap_create(x, m, lower[i], made.group, e)) < 0)
			goto undo;
		int ifx = ifindex_of(x, m->id);
		if (ifx < 0) {
			/* Created but not in made: delete it by name here. */
			struct rtnl_link *l = rtnl_link_alloc();
			if (l) {
				rtnl_link_set_name(l, m->id);
				rtnl_link_delete(x->sk, l);
				rtnl_link_put(l);
			}
			r = mvm_error_set(e, -ifx, "find", m->id, NULL);
			goto undo;
		}
		struct made *d = &made.v[made.n++];
		snprintf(d->name, IFNAMSIZ, "%s", m->id);
		d->ifindex = ifx;
		if ((r = disable_ipv6(x, m->id, e)) < 0 || (r = macvtap_node(x, d, e)) < 0 ||
		    (r = link_setup(x, changes, ifx, m->id, e)) < 0)
			goto undo;
	}
	if ((r = finish_record(x, &made, e)) < 0)
		goto undo;
	goto out;
undo:
	undo(x, &made);
out:
	if (changes)
		rtnl_link_put(changes);
	free(wanted);
	free(lower);
	made_list_free(&doomed);
	made_list_free(&made);
	macvtap_list_free(&list);
	return r;
}

/* ---- down ------------------------------------------------------------------- */

static int down(struct ctx *x, struct mvm_error *e)
{
	const struct cli *c = x->c;
	_cleanup_free_ char *text = NULL, *file = NULL;
	struct made_list rec = { 0 }, left = { 0 };
	int r = record_read(c->runtime_dir, x->vm, x->kind, &text, e);
	if (r == -ENOENT) {
		log_debug("no %s record: nothing to delete", x->kind);
		return 0;
	}
	if (r < 0)
		return r;
	file = xasprintf("%s/%s/%s", c->runtime_dir, x->vm, x->kind);
	if (!file)
		return mvm_error_set(e, ENOMEM, "read", x->kind, NULL);
	if ((r = record_parse(text, file, &rec, e)) < 0)
		return r;
	if ((r = ctx_open(x, e)) < 0)
		goto out;
	left.v = calloc(rec.n + 1, sizeof(*left.v));
	bool *del = calloc(rec.n + 1, sizeof(*del));
	if (!left.v || !del) {
		free(del);
		r = mvm_error_set(e, ENOMEM, "delete", x->kind, NULL);
		goto out;
	}
	left.group = rec.group;

	/* Which recorded interfaces are still ours to delete. */
	size_t ndel = 0;
	for (size_t i = 0; i < rec.n; i++) {
		struct made *m = &rec.v[i];
		struct rtnl_link *l = rtnl_link_get(x->links, m->ifindex);
		if (!l) {
			log_debug("%s (index %d) is gone already", m->name, m->ifindex);
			continue;
		}
		bool kind_ok = !strcmp(x->kind, "tap") ? link_is_tap(l) : link_is_macvtap(l);
		const char *now = rtnl_link_get_name(l);
		if (!kind_ok || !now || strcmp(now, m->name)) {
			log_warn("index %d is now '%s' (%s), not the %s '%s' recorded: left alone",
				 m->ifindex, now ? now : "?", rtnl_link_get_type(l) ? rtnl_link_get_type(l) : "?",
				 x->kind, m->name);
		} else {
			dev_t devt;
			bool held = !strcmp(x->kind, "tap")
					    ? tap_has_carrier(l)
					    : (macvtap_devt(c, m->name, m->ifindex, &devt) == 0 &&
					       devt_holder(c->procfs, devt) > 0);
			if (held) {
				if (r == 0)
					r = mvm_error_setf(e, EBUSY, "delete", m->name,
						     "a process holds it open; is the VM still running?");
				left.v[left.n] = *m;
				left.v[left.n++].node = m->node ? strdup(m->node) : NULL;
			} else {
				del[i] = true;
				ndel++;
			}
		}
		rtnl_link_put(l);
	}

	/* The group delete only when the group is exactly the set to delete. */
	bool by_group = rec.group != 0 && ndel > 0;
	size_t members = 0;
	for (struct nl_object *o = nl_cache_get_first(x->links); by_group && o;
	     o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		if (rtnl_link_get_group(l) != rec.group)
			continue;
		bool listed = false;
		for (size_t i = 0; i < rec.n && !listed; i++)
			listed = del[i] && rec.v[i].ifindex == rtnl_link_get_ifindex(l);
		by_group = listed;
		members++;
	}
	by_group = by_group && members == ndel;

	if (c->dry_run) {
		for (size_t i = 0; i < rec.n; i++)
			if (del[i])
				log_action("delete %s%s", rec.v[i].name,
					   by_group ? " (with its link group)" : "");
		if (by_group)
			log_action("delete link group %u in one request", rec.group);
		log_action("remove record %s", file);
		free(del);
		goto out;
	}

	int rd = 0;
	if (by_group) {
		rd = delete_group(x, rec.group, e);
		if (rd == 0)
			log_debug("deleted %zu interfaces with link group %u", ndel, rec.group);
		if (rd < 0) {
			log_debug("group delete failed (%s), deleting one at a time", mvm_error_reason(e));
			rd = 0;
			by_group = false;
		}
	}
	for (size_t i = 0; i < rec.n; i++) {
		if (!del[i])
			continue;
		struct mvm_error e1;
		int r1 = by_group ? 0 : delete_ifindex(x, rec.v[i].ifindex, rec.v[i].name, &e1);
		if (r1 < 0) {
			/* Keep it in the record, go on with the rest. */
			if (rd == 0 && r == 0)
				*e = e1;
			rd = rd ? rd : r1;
			left.v[left.n] = rec.v[i];
			left.v[left.n++].node = rec.v[i].node ? strdup(rec.v[i].node) : NULL;
			continue;
		}
		struct stat st;
		if (rec.v[i].node && lstat(rec.v[i].node, &st) == 0 && S_ISCHR(st.st_mode))
			unlink(rec.v[i].node);
	}
	free(del);
	if (r == 0)
		r = rd;
	/* The record keeps what is left; the first error is the one reported. */
	struct mvm_error scratch = { 0 };
	struct mvm_error *e2 = r < 0 ? &scratch : e;
	int rr = left.n ? save_record(x, &left, e2)
			: record_remove(c->runtime_dir, x->vm, x->kind, e2);
	if (r == 0)
		r = rr;
out:
	made_list_free(&rec);
	made_list_free(&left);
	return r;
}

/* ---- main ------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct cli c;
	struct mvm_error e = { 0 };
	int st;
	const char *env;

	if ((env = getenv("MICROVM_TAP_BRIDGE")) && *env)
		opts.bridge = env;
	int i = cli_parse(&tool, argc, argv, &c, &st);
	if (i < 0)
		return st;
	/* After cli_parse (which opens the log): --mtu wins over it. */
	if (!opts.mtu && (env = getenv("MICROVM_TAP_MTU")) && *env && set_mtu(&opts, env) < 0)
		return 2;
	if (argc - i != 2)
		return cli_usage_error(&tool, "expected up|down and a VM name");
	const char *verb = argv[i], *name = argv[i + 1];
	bool up = !strcmp(verb, "up");
	if (!up && strcmp(verb, "down"))
		return cli_usage_error(&tool, "unknown verb '%s' (up or down)", verb);
	if (opts.bridge && set_bridge(&opts, opts.bridge) < 0)
		return 2;
	if (opts.bridge && opts.macvtap)
		return cli_usage_error(&tool, "--bridge applies to TAPs, not to macvtaps");
	if (vm_name_check(name, &e) < 0) {
		log_error_info(&e);
		return 1;
	}
	log_set_subject(name);

	struct ctx x = { .c = &c, .vm = name, .kind = opts.macvtap ? "macvtap" : "tap" };
	int r;
	if (up) {
		struct vm vm = { 0 };
		if (cli_resolve_ids(&c) < 0)
			return 1;
		r = vm_open(&vm, c.state_dir, name, VM_CURRENT, c.allow_untrusted, &e);
		if (r == 0)
			r = opts.macvtap ? up_macvtaps(&x, &vm, &e) : up_taps(&x, &vm, &e);
		vm_close(&vm);
	} else {
		r = down(&x, &e);
	}
	ctx_close(&x);
	if (r < 0) {
		log_error_info(&e);
		return 1;
	}
	return 0;
}
