/* SPDX-License-Identifier: MIT */
/* tap-setup up: the TAPs (or macvtaps) of the runner, in the VM's link
 * group. The record is written before the host is changed (STYLE.md 19),
 * so that down undoes a run killed at any point:
 *   1. the plan: what must go first (a stale TAP of a wanted name, what
 *      the last up made and the runner no longer names), all checked
 *      before anything changes: refused when not ours to delete;
 *   2. the intent: the record names those, the link group, and every
 *      wanted name as pending;
 *   3. the changes. A TAP gets its group (with up, master, MTU) before
 *      TUNSETPERSIST, so it either vanishes with our descriptor or is
 *      persistent and in the recorded group; a macvtap is made in the
 *      group. A device node is recorded before mknod;
 *   4. the record of what was made. On a failure the run's interfaces are
 *      deleted again and the record keeps only what could not be. */
#include "tap-setup.h" /* first: net/if.h before the linux/ headers */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <netlink/route/link/macvtap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "util.h"

struct plan {
	struct tap_record old; /* the last up's record */
	struct victims doomed; /* deleted before anything is made */
	uint32_t group;
	const char **wanted;
	size_t n;
};

static void plan_free(struct plan *p)
{
	tap_record_free(&p->old);
	victims_free(&p->doomed);
	free(p->wanted);
	memset(p, 0, sizeof(*p));
}

/* What up deletes first, each checked; the group. Refusals come here,
 * before any change. */
static int plan_up(struct ctx *x, struct plan *p, struct mvm_error *e)
{
	int r = tap_record_load(x->c->runtime_dir, x->vm, x->kind, &p->old, e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->n; i++) {
		struct rtnl_link *l = rtnl_link_get_by_name(x->links, p->wanted[i]);
		int ours = l ? link_kind(x, l) : 1;
		if (ours < 0)
			r = mvm_error_setf(e, -ours, "replace", p->wanted[i],
					   "unable to tell what it is: %s", strerror(-ours));
		else if (!ours)
			r = mvm_error_setf(e, EEXIST, "replace", p->wanted[i],
					   "it exists and is not a %s (kind %s)",
					   x->mac ? "macvtap" : "TAP", ESC(link_kind_str(l)));
		if (l)
			rtnl_link_put(l);
		if (r < 0)
			return r;
	}
	if ((r = victims_from_record(x, &p->old, &p->doomed, e)) < 0)
		return r;
	for (size_t i = 0; i < p->n; i++) { /* after the record's: their nodes kept */
		struct rtnl_link *l = rtnl_link_get_by_name(x->links, p->wanted[i]);
		if (l)
			r = victims_add(&p->doomed, p->wanted[i], rtnl_link_get_ifindex(l), NULL, true);
		if (l)
			rtnl_link_put(l);
		if (r < 0)
			return mvm_error_set(e, ENOMEM, "replace", p->wanted[i], NULL);
	}
	if ((r = victims_of_others(x, &p->doomed, e)) < 0)
		return r;
	bool *held = calloc(p->doomed.r.n + 1, sizeof(*held));
	if (!held)
		return mvm_error_set(e, ENOMEM, "check", x->kind, NULL);
	r = victims_held(x, &p->doomed, held, e);
	free(held);
	if (r != 0)
		return r < 0 ? r : -EBUSY;
	return choose_group(x, &p->doomed.r, &p->group, e);
}

/* The record: group, the entries of a (what is still to be deleted, or
 * what was made), and each wanted name as pending when pending. */
static int save(struct ctx *x, const struct plan *p, const struct tap_record *a, bool pending,
		struct mvm_error *e)
{
	struct tap_record r = { .group = p->group };
	int k = 0;
	for (size_t i = 0; k == 0 && i < a->n; i++)
		k = tap_record_add(&r, a->v[i].name, a->v[i].ifindex, a->v[i].node);
	for (size_t i = 0; k == 0 && pending && i < p->n; i++)
		k = tap_record_add(&r, p->wanted[i], 0, NULL);
	char *t = k == 0 ? tap_record_text(&r) : NULL;
	tap_record_free(&r);
	if (!t)
		return mvm_error_set(e, ENOMEM, "record", x->kind, NULL);
	k = record_write(x->c->runtime_dir, x->vm, x->kind, t, e);
	free(t);
	return k;
}

/* Delete p->doomed (and the device nodes an earlier run made); *done is
 * how many are gone. */
static int delete_doomed(struct ctx *x, const struct plan *p, size_t *done, struct mvm_error *e)
{
	for (*done = 0; *done < p->doomed.r.n; (*done)++) {
		const struct tap_entry *d = &p->doomed.r.v[*done];
		int r = delete_ifindex(x, d->ifindex, d->name, e);
		if (r < 0)
			return r;
		node_remove(d->node);
		log_debug("deleted %s (index %d) first", ESC(d->name), d->ifindex);
	}
	return 0;
}

/* After failure e, said first (the rollback's own lines, if any, follow
 * it): delete what this run made, last first; the record keeps what is
 * still there of the doomed (from done on) and of made. */
static void undo(struct ctx *x, const struct plan *p, size_t done, const struct tap_record *made,
		 struct mvm_error *e)
{
	struct tap_record left = { .group = p->group };
	log_error_info(e);
	ctx_renew(x);
	for (size_t i = done; i < p->doomed.r.n; i++)
		tap_record_add(&left, p->doomed.r.v[i].name, p->doomed.r.v[i].ifindex,
			       p->doomed.r.v[i].node);
	for (size_t i = made->n; i-- > 0;) {
		struct mvm_error e1;
		const struct tap_entry *m = &made->v[i];
		if (delete_ifindex(x, m->ifindex, m->name, &e1) == 0) {
			node_remove(m->node);
			continue;
		}
		log_warn("unable to delete '%s' again: %s", ESC(m->name), mvm_error_reason(&e1));
		tap_record_add(&left, m->name, m->ifindex, m->node);
	}
	struct mvm_error e2;
	int r = left.n ? save(x, &(struct plan){ .group = p->group }, &left, false, &e2)
		       : record_remove(x->c->runtime_dir, x->vm, x->kind, &e2);
	if (r < 0)
		log_error_info(&e2);
	tap_record_free(&left);
}

/* The record of a successful up; none when it made nothing. */
static int finish(struct ctx *x, const struct plan *p, const struct tap_record *made,
		  struct mvm_error *e)
{
	if (made->n == 0)
		return record_remove(x->c->runtime_dir, x->vm, x->kind, e);
	return save(x, p, made, false, e);
}

/* ---- TAPs ------------------------------------------------------------------- */

/* Until TUNSETOWNER and TUNSETGROUP, any local user who can open
 * /dev/net/tun may attach to a new TAP (the kernel's tun_not_capable());
 * for a multi_queue TAP it gets a queue of its own, which keeps what it
 * may do (TUNSETOWNER, TUNSETPERSIST, TUNSETLINK while down) after the
 * owner is set. From then on only the owner or CAP_NET_ADMIN attaches, so
 * what the kernel says now must be exactly what this run made: a TAP of
 * our owner and group, not persistent, an Ethernet link, with our one
 * queue. A reason (static text) when it is not, NULL when it is. */
static const char *tap_not_fresh(const struct tun_facts *f, const struct cli *c, unsigned flags)
{
	bool mq = flags & TAP_FLAG_MULTI_QUEUE;
	if (!f->tun)
		return "the kernel does not say what it is now (Linux 4.15 or later does)";
	if (f->type != IFF_TAP)
		return "it is no longer a TAP";
	if ((f->counted && (f->queues != 1 || f->disabled != 0)) || (mq && !f->counted))
		return "another process attached to it before its owner was set";
	if (!f->has_owner || f->owner != c->uid || !f->has_group || f->group != c->gid)
		return "another process changed its owner or group before they were set";
	if (f->persist)
		return "another process made it persistent before its owner was set";
	if (f->arptype != ARPHRD_ETHER)
		return "another process changed its link type before its owner was set";
	if (f->multi_queue != mq)
		return "its multi_queue flag is not the one asked for";
	return NULL;
}

/* What a process that attached and left again may have set for the whole
 * TAP, back to the kernel's defaults, from our own queue: cheap, and
 * harmless on a TAP nobody touched. (The VM sets what it needs itself.) */
static int tap_reset(int fd, const char *name, struct mvm_error *e)
{
	struct tun_filter none = { 0 };
	int sndbuf = INT_MAX, hdrsz = sizeof(struct virtio_net_hdr), off = 0, nofd = -1;
	const struct {
		unsigned long req;
		void *arg;
		const char *what;
	} v[] = {
		{ TUNSETTXFILTER, &none, "TUNSETTXFILTER" },
		{ TUNDETACHFILTER, NULL, "TUNDETACHFILTER" },
		{ TUNSETSTEERINGEBPF, &nofd, "TUNSETSTEERINGEBPF" },
		{ TUNSETFILTEREBPF, &nofd, "TUNSETFILTEREBPF" },
		{ TUNSETSNDBUF, &sndbuf, "TUNSETSNDBUF" },
		{ TUNSETVNETHDRSZ, &hdrsz, "TUNSETVNETHDRSZ" },
		{ TUNSETVNETLE, &off, "TUNSETVNETLE" },
		{ TUNSETVNETBE, &off, "TUNSETVNETBE" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		/* EINVAL, ENOTTY: not in this kernel (TUNSETVNETBE without
		 * CONFIG_TUN_VNET_CROSS_LE), nothing to reset */
		if (ioctl(fd, v[i].req, v[i].arg) < 0 && errno != EINVAL && errno != ENOTTY)
			return mvm_error_setf(e, errno, "create", name, "%s: %s", v[i].what,
					      strerror(errno));
	}
	return 0;
}

/* A persistent TAP owned by the VM user, its root qdisc noqueue (unless
 * --qdisc default) while it is still down, set up with ch (group first)
 * before TUNSETPERSIST: until then it goes away with fd, unless another
 * process holds a queue of it (tap_not_fresh()): so *ifindex is set as
 * soon as it exists, and the caller deletes it by that index on a
 * failure. IFF_TUN_EXCL: EBUSY instead of attaching to an interface that
 * appeared since the dump. */
static int tap_create(struct ctx *x, const char *tun, const char *name, unsigned flags,
		      struct rtnl_link *ch, int *ifindex, struct mvm_error *e)
{
	const struct cli *c = x->c;
	struct ifreq ifr;
	struct tun_facts f;
	_cleanup_close_ int fd = open(tun, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return mvm_error_set(e, errno, "open", tun, NULL);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL;
	if (flags & TAP_FLAG_VNET_HDR)
		ifr.ifr_flags |= IFF_VNET_HDR;
	if (flags & TAP_FLAG_MULTI_QUEUE)
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return mvm_error_setf(e, errno, "create", name, "TUNSETIFF: %s", strerror(errno));
	/* Owner and group at once: the window above is as short as can be. */
	int r = 0;
	if (ioctl(fd, TUNSETOWNER, (unsigned long)c->uid) < 0)
		r = mvm_error_setf(e, errno, "create", name, "TUNSETOWNER %u: %s",
				   (unsigned)c->uid, strerror(errno));
	else if (ioctl(fd, TUNSETGROUP, (unsigned long)c->gid) < 0)
		r = mvm_error_setf(e, errno, "create", name, "TUNSETGROUP %u: %s",
				   (unsigned)c->gid, strerror(errno));
	/* Its index, for the delete on a failure (the name is ours while we
	 * hold fd: renaming it needs CAP_NET_ADMIN). */
	int ifx = ifindex_of(x, name);
	if (ifx > 0)
		*ifindex = ifx;
	else if (r == 0)
		r = mvm_error_set(e, -ifx, "find", name, NULL);
	if (r < 0)
		return r;
	r = tun_facts_get(x, *ifindex, &f);
	if (r < 0)
		return mvm_error_setf(e, -r, "create", name,
				      "unable to ask the kernel about it after setting its owner: %s",
				      strerror(-r));
	const char *bad = tap_not_fresh(&f, c, flags);
	if (bad)
		return mvm_error_setf(e, EBUSY, "create", name, "%s", bad);
	if ((r = tap_reset(fd, name, e)) < 0)
		return r;
	/* A bridge whose address was never set takes the lowest of its
	 * ports'; the kernel's random one of a TAP (first byte 02 to fe)
	 * often sorts below the host's port's, and the host's bridge would
	 * change its address as the VM starts and stops. fe as the first
	 * byte (a local unicast address, as libvirt gives its TAPs), the
	 * kernel's random rest kept: set with up, in the same request. */
	if (!f.has_addr)
		return mvm_error_set(e, EIO, "create", name,
				     "the kernel does not say its MAC address");
	f.addr[0] = 0xfe;
	struct nl_addr *a = nl_addr_build(AF_LLC, f.addr, sizeof(f.addr));
	if (!a)
		return mvm_error_set(e, ENOMEM, "create", name, NULL);
	rtnl_link_set_addr(ch, a); /* (ch takes its own reference) */
	nl_addr_put(a);
	r = opts.kernel_qdisc ? 0 : link_noqueue(x, *ifindex, name, e);
	/* Our queue is attached: with its carrier on, IFF_UP would start the
	 * kernel's address configuration, only to stop it again when fd
	 * closes. Off, the TAP comes up as one nobody holds yet, as it will
	 * be once persistent (a VM attaching turns the carrier on). */
	int off = 0;
	if (r == 0 && ioctl(fd, TUNSETCARRIER, &off) < 0 && errno != EINVAL && errno != ENOTTY)
		r = mvm_error_setf(e, errno, "create", name, "TUNSETCARRIER 0: %s", strerror(errno));
	if (r == 0)
		r = link_setup(x, ch, *ifindex, name, e);
	if (r < 0)
		return r;
	if (ioctl(fd, TUNSETPERSIST, 1UL) < 0)
		return mvm_error_setf(e, errno, "create", name, "TUNSETPERSIST: %s", strerror(errno));
	return 0;
}

static const char *settings_str(uint32_t group, char *buf, size_t size)
{
	int n = snprintf(buf, size, "group %u", group);
	if (opts.bridge && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " master %s", ESC(opts.bridge));
	if (opts.mtu && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " mtu %u", opts.mtu);
	return buf;
}

/* The last line of a dry run: the record of n interfaces, or, for none
 * (a runner that lists none), what finish() does then: the record removed,
 * if there is one. */
static void dry_run_record(struct ctx *x, size_t n, const char *one, const char *many)
{
	_cleanup_free_ char *rec = ctx_record(x);
	if (n > 0)
		log_action("record %zu %s in %s", n, plural(n, one, many), ESC(rec ? rec : x->kind));
	else if (rec && access(rec, F_OK) == 0)
		log_action("remove record %s", ESC(rec));
}

/* A runner's list of no interface (empty, or no file): said, as the run
 * makes nothing (rel: the list). */
static void none_listed(size_t n, const char *rel)
{
	if (n == 0)
		log_info("no interface in the runner's %s: nothing to create", rel);
}

static void dry_run_taps(struct ctx *x, const struct plan *p, unsigned flags)
{
	const struct cli *c = x->c;
	char fl[64], set[96];
	tap_flags_str(flags, fl, sizeof(fl));
	settings_str(p->group, set, sizeof(set));
	for (size_t i = 0; i < p->doomed.r.n; i++)
		log_action("delete stale TAP %s", ESC(p->doomed.r.v[i].name));
	for (size_t i = 0; i < p->n; i++) {
		const char *name = ESC(p->wanted[i]);
		log_action("create %s flags %s owner %u:%u", name, fl, (unsigned)c->uid,
			   (unsigned)c->gid);
		if (!opts.kernel_qdisc)
			log_action("set the root qdisc of %s to noqueue", name);
		log_action("set %s up %s address fe:<the kernel's random rest>", name, set);
	}
	dry_run_record(x, p->n, "TAP", "TAPs");
}

/* Steps 2 to 4 for TAPs. */
static int make_taps(struct ctx *x, const struct plan *p, unsigned flags, int master,
		     struct mvm_error *e)
{
	struct tap_record made = { 0 };
	size_t done = 0;
	char fl[64], set[96];
	_cleanup_free_ char *tun = path_join(x->c->devfs, "net/tun");
	struct rtnl_link *ch = rtnl_link_alloc();
	int r = 0;
	if (!tun || !ch) {
		r = mvm_error_set(e, ENOMEM, "create", "TAP", NULL);
		goto out;
	}
	rtnl_link_set_flags(ch, IFF_UP);
	rtnl_link_set_group(ch, p->group);
	if (master)
		rtnl_link_set_master(ch, master);
	if (opts.mtu)
		rtnl_link_set_mtu(ch, opts.mtu);
	tap_flags_str(flags, fl, sizeof(fl));
	settings_str(p->group, set, sizeof(set));
	if ((r = save(x, p, &p->doomed.r, true, e)) < 0)
		goto out; /* nothing changed yet */
	if ((r = delete_doomed(x, p, &done, e)) < 0)
		goto undo;
	for (size_t i = 0; i < p->n; i++) {
		int ifx = 0;
		r = tap_create(x, tun, p->wanted[i], flags, ch, &ifx, e);
		/* Made (ifx set), even when it then failed: into made, so that
		 * undo deletes it by its index (another process's queue or
		 * TUNSETPERSIST would keep it after our descriptor), or keeps
		 * it recorded when it cannot. */
		if (ifx > 0 && tap_record_add(&made, p->wanted[i], ifx, NULL) < 0) {
			if (r == 0)
				r = mvm_error_set(e, ENOMEM, "record", p->wanted[i], NULL);
			delete_ifindex(x, ifx, p->wanted[i], NULL);
		}
		if (r < 0)
			goto undo;
		log_debug("created %s (index %d) flags %s %s", ESC(p->wanted[i]), ifx, fl, set);
	}
	if ((r = finish(x, p, &made, e)) == 0)
		goto out;
undo:
	undo(x, p, done, &made, e);
out:
	if (ch)
		rtnl_link_put(ch);
	tap_record_free(&made);
	return r;
}

int up_taps(struct ctx *x, const struct vm *vm, struct mvm_error *e)
{
	struct ifname_list names = { 0 };
	struct plan p = { 0 };
	unsigned flags = 0;
	int master = 0;
	int r = vm_tap_interfaces(vm, &names, e);
	if (r < 0)
		return r;
	none_listed(names.n, "share/microvm/tap-interfaces");
	if ((r = vm_tap_flags(vm, &flags, e)) < 0 || (r = ctx_open(x, e)) < 0)
		goto out;
	if (opts.bridge && (r = find_link(x, opts.bridge, "bridge", &master, e)) < 0)
		goto out;
	p.n = names.n;
	p.wanted = calloc(names.n + 1, sizeof(*p.wanted));
	if (!p.wanted) {
		r = mvm_error_set(e, ENOMEM, "create", "TAP", NULL);
		goto out;
	}
	for (size_t i = 0; i < names.n; i++)
		p.wanted[i] = names.v[i];
	if ((r = plan_up(x, &p, e)) < 0)
		goto out;
	if (x->c->dry_run)
		dry_run_taps(x, &p, flags);
	else
		r = make_taps(x, &p, flags, master, e);
out:
	plan_free(&p);
	ifname_list_free(&names);
	return r;
}

/* ---- macvtaps --------------------------------------------------------------- */

static const uint32_t macvtap_modes[] = {
	[MACVTAP_PRIVATE] = MACVLAN_MODE_PRIVATE, [MACVTAP_VEPA] = MACVLAN_MODE_VEPA,
	[MACVTAP_BRIDGE] = MACVLAN_MODE_BRIDGE,	  [MACVTAP_PASSTHRU] = MACVLAN_MODE_PASSTHRU,
	[MACVTAP_SOURCE] = MACVLAN_MODE_SOURCE,
};

/* Made in the VM's group in the same request: there is no moment at which
 * it exists outside it. */
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

/* DEVFS/tapIFINDEX to the VM user (with --no-grant, to grant later).
 * devtmpfs makes the node as the kernel registers the macvtap (and
 * removes it with the macvtap); a /dev without devtmpfs (or a re-rooted
 * one) does not have it, so it is made from the device number sysfs
 * shows, recorded first, and removed by down. The node of made's last
 * entry. */
static int macvtap_node(struct ctx *x, const struct plan *p, struct tap_record *made,
			struct mvm_error *e)
{
	const struct cli *c = x->c;
	struct tap_entry *m = &made->v[made->n - 1];
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
		if (!(m->node = strdup(node)))
			return mvm_error_set(e, ENOMEM, "create", node, NULL);
		if ((r = save(x, p, made, true, e)) < 0)
			return r;
		if (mknod(node, S_IFCHR | 0600, devt) < 0)
			return mvm_error_set(e, errno, "create", node, NULL);
	} else if (!S_ISCHR(st.st_mode)) {
		return mvm_error_set(e, 0, "chown", node, "not a character device");
	} else if (macvtap_sysfs_devt(c, m->name, m->ifindex, &devt, NULL) == 0 &&
		   st.st_rdev != devt) {
		return mvm_error_set(e, 0, "chown", node,
				     "a stale node: its device number is not the macvtap's");
	}
	if (opts.no_grant)
		return 0; /* grant gives it, a privileged step apart */
	if (lchown(node, c->uid, c->gid) < 0)
		return mvm_error_set(e, errno, "chown", node, NULL);
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

static void dry_run_macvtaps(struct ctx *x, const struct plan *p, const struct macvtap_list *list)
{
	const struct cli *c = x->c;
	for (size_t i = 0; i < p->doomed.r.n; i++)
		log_action("delete stale macvtap %s", ESC(p->doomed.r.v[i].name));
	for (size_t i = 0; i < list->n; i++) {
		const struct macvtap_if *m = &list->v[i];
		const char *id = ESC(m->id);
		log_action("create macvtap %s link %s mac %02x:%02x:%02x:%02x:%02x:%02x "
			   "mode %s allmulticast group %u",
			   id, ESC(m->link), m->mac[0], m->mac[1], m->mac[2], m->mac[3], m->mac[4],
			   m->mac[5], macvtap_mode_str(m->mode), p->group);
		if (opts.mtu)
			log_action("set mtu %u on %s", opts.mtu, id);
		log_action("disable IPv6 on %s", id);
		if (!opts.no_grant)
			log_action("chown %s/tap<index of %s> to %u:%u", ESC(c->devfs), id,
				   (unsigned)c->uid, (unsigned)c->gid);
		log_action("set %s up", id);
	}
	dry_run_record(x, list->n, "macvtap", "macvtaps");
}

/* One macvtap: made, found, IPv6 off, its node, up. */
static int make_macvtap(struct ctx *x, const struct plan *p, const struct macvtap_if *m,
			int lower, struct rtnl_link *ch, struct tap_record *made,
			struct mvm_error *e)
{
	int r = macvtap_create(x, m, lower, p->group, e);
	if (r < 0)
		return r;
	int ifx = ifindex_of(x, m->id);
	if (ifx < 0) {
		delete_name(x, m->id); /* made, but not in made: delete it here */
		return mvm_error_set(e, -ifx, "find", m->id, NULL);
	}
	if (tap_record_add(made, m->id, ifx, NULL) < 0) {
		delete_ifindex(x, ifx, m->id, NULL);
		return mvm_error_set(e, ENOMEM, "record", m->id, NULL);
	}
	if ((r = disable_ipv6(x, m->id, e)) < 0 || (r = macvtap_node(x, p, made, e)) < 0 ||
	    (r = link_setup(x, ch, ifx, m->id, e)) < 0)
		return r;
	log_debug("created macvtap %s (index %d) on %s mode %s group %u", ESC(m->id), ifx,
		  ESC(m->link),
		  macvtap_mode_str(m->mode), p->group);
	return 0;
}

static int make_macvtaps(struct ctx *x, const struct plan *p, const struct macvtap_list *list,
			 const int *lower, struct mvm_error *e)
{
	struct tap_record made = { 0 };
	size_t done = 0;
	struct rtnl_link *ch = rtnl_link_alloc();
	int r = 0;
	if (!ch)
		return mvm_error_set(e, ENOMEM, "create", "macvtap", NULL);
	rtnl_link_set_flags(ch, IFF_UP);
	if ((r = save(x, p, &p->doomed.r, true, e)) < 0)
		goto out; /* nothing changed yet */
	if ((r = delete_doomed(x, p, &done, e)) < 0)
		goto undo;
	for (size_t i = 0; i < list->n; i++)
		if ((r = make_macvtap(x, p, &list->v[i], lower[i], ch, &made, e)) < 0)
			goto undo;
	if ((r = finish(x, p, &made, e)) == 0)
		goto out;
undo:
	undo(x, p, done, &made, e);
out:
	rtnl_link_put(ch);
	tap_record_free(&made);
	return r;
}

int up_macvtaps(struct ctx *x, const struct vm *vm, struct mvm_error *e)
{
	struct macvtap_list list = { 0 };
	struct plan p = { 0 };
	int *lower = NULL;
	int r = vm_macvtap_interfaces(vm, &list, e);
	if (r < 0)
		return r;
	none_listed(list.n, "share/microvm/macvtap-interfaces");
	if ((r = ctx_open(x, e)) < 0)
		goto out;
	p.n = list.n;
	p.wanted = calloc(list.n + 1, sizeof(*p.wanted));
	lower = calloc(list.n + 1, sizeof(*lower));
	if (!p.wanted || !lower) {
		r = mvm_error_set(e, ENOMEM, "create", "macvtap", NULL);
		goto out;
	}
	for (size_t i = 0; i < list.n; i++) {
		if ((r = find_link(x, list.v[i].link, "link", &lower[i], e)) < 0) {
			/* the host lacks it: say where the runner asks for it */
			char id[4 * IFNAMSIZ], runner[PATH_MAX];
			if (r == -ENODEV)
				mvm_error_setf(e, ENODEV, "find", list.v[i].link,
					       "no such link, the LINK of '%s' in "
					       "'%s/share/microvm/macvtap-interfaces' line %u",
					       escape_value(list.v[i].id, strlen(list.v[i].id), id,
							    sizeof(id)),
					       escape_value(vm->runner, strlen(vm->runner), runner,
							    sizeof(runner)),
					       list.v[i].line);
			goto out;
		}
		/* Another VM's TAP or macvtap is no host link: a macvtap on it
		 * would see that VM's traffic (passthru: all of it). */
		char who[VM_NAME_MAX + 1];
		struct rtnl_link *l = rtnl_link_get(x->links, lower[i]);
		r = l ? link_of_other_vm(x, l, who, sizeof(who), e) : 0;
		if (l)
			rtnl_link_put(l);
		if (r > 0) {
			r = mvm_error_setf(e, EBUSY, "use", list.v[i].link,
					   "the record of VM '%s' names it: no host link (the "
					   "LINK of '%s')",
					   ESC(who), ESC(list.v[i].id));
			mvm_error_after(e, " as a macvtap's link");
		}
		if (r < 0)
			goto out;
		p.wanted[i] = list.v[i].id;
	}
	if ((r = plan_up(x, &p, e)) < 0)
		goto out;
	if (x->c->dry_run)
		dry_run_macvtaps(x, &p, &list);
	else
		r = make_macvtaps(x, &p, &list, lower, e);
out:
	free(lower);
	plan_free(&p);
	macvtap_list_free(&list);
	return r;
}
