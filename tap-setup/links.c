/* SPDX-License-Identifier: MIT */
/* tap-setup: the netlink side (one libnl-route socket, one link dump),
 * the VM's link group, and the macvtaps' character devices. */
#include "tap-setup.h" /* first: net/if.h before the linux/ headers */

#include <errno.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* How long a wait for the kernel's answer may be. The kernel answers a
 * request before its sendmsg() returns, so a wait is for an answer that
 * will not come: libnl 3.7 drops the error of a dump request it could
 * not send (link_request_update()) and waits for the dump all the same. */
#define NL_TIMEOUT_S 5

/* What libnl does not keep of the last request that failed: the errno
 * (it maps every errno it does not know, EIO and ENOSPC among them, to
 * "Unspecific failure"), and the kernel's own words for a refusal (the
 * extended ACK, as `ip` prints it). Cleared as each request is sent, so it
 * is always that of the last one; one socket at a time (ctx_renew() frees
 * the old one). */
static struct {
	int err;	/* errno: of sendmsg(), or in the kernel's NLMSG_ERROR; 0 */
	char says[256]; /* NLMSGERR_ATTR_MSG, escaped; "" */
} last;

int fail_nl(struct mvm_error *e, int nlerr, const char *verb, const char *obj)
{
	/* (A wait in vain after a request that could not be sent: libnl
	 * drops the error of a dump's, then waits for the dump.) */
	if (nlerr == -NLE_AGAIN && last.err > 0)
		return mvm_error_set(e, last.err, verb, obj, NULL);
	if (nlerr == -NLE_AGAIN)
		return mvm_error_setf(e, ETIMEDOUT, verb, obj, "no answer from the kernel in %d s",
				      NL_TIMEOUT_S);
	/* (The errno only when it is what libnl made nlerr of: a request
	 * that failed in libnl itself has none.) */
	if (last.err > 0 && nl_syserr2nlerr(last.err) == -nlerr)
		return mvm_error_setf(e, 0, verb, obj, "%s%s%s%s", strerror(last.err),
				      last.says[0] ? " (the kernel: " : "", last.says,
				      last.says[0] ? ")" : "");
	return mvm_error_setf(e, 0, verb, obj, "%s", nl_geterror(nlerr));
}

/* Each request goes out here (libnl's nl_send() with the errno noted). */
static int send_noting(struct nl_sock *sk, struct nl_msg *msg)
{
	struct iovec iov = { .iov_base = nlmsg_hdr(msg), .iov_len = nlmsg_hdr(msg)->nlmsg_len };
	last.err = 0;
	last.says[0] = '\0';
	int r = nl_send_iovec(sk, msg, &iov, 1);
	if (r < 0)
		last.err = errno; /* sendmsg()'s: libnl's return keeps it */
	return r;
}

/* The kernel refused a request: its errno and extended ACK noted, then
 * libnl's own handling (NL_STOP: the request fails with nlerr). */
static int nack_in(struct sockaddr_nl *nla, struct nlmsgerr *err, void *arg)
{
	const struct nlmsghdr *h = (const void *)((const char *)err - NLMSG_HDRLEN);
	last.err = err->error < 0 ? -err->error : err->error;
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_STOP;
	/* The attributes follow the request echoed (only its header with
	 * NETLINK_CAP_ACK: NLM_F_CAPPED). */
	size_t at = NLMSG_HDRLEN + sizeof(*err), len = h->nlmsg_len;
	if (!(h->nlmsg_flags & NLM_F_CAPPED) && err->msg.nlmsg_len > NLMSG_HDRLEN)
		at += err->msg.nlmsg_len - NLMSG_HDRLEN;
	at = NLMSG_ALIGN(at);
	if (at >= len)
		return NL_STOP;
	const struct nlattr *a = nla_find((struct nlattr *)((char *)h + at), (int)(len - at),
					  NLMSGERR_ATTR_MSG);
	if (a && nla_len(a) > 0) {
		char msg[sizeof(last.says)];
		snprintf(msg, sizeof(msg), "%.*s", nla_len(a), (const char *)nla_data(a));
		escape_text(msg, last.says, sizeof(last.says));
	}
	return NL_STOP;
}

/* A connected rtnetlink socket, each wait on it NL_TIMEOUT_S at most, its
 * requests' errors noted in last. */
static int sock_open(struct nl_sock **out, struct mvm_error *e)
{
	last.err = 0; /* (the old socket's, after a failed request) */
	last.says[0] = '\0';
	struct nl_sock *sk = nl_socket_alloc();
	if (!sk)
		return mvm_error_set(e, ENOMEM, "open", "netlink socket", NULL);
	struct nl_cb *cb = nl_socket_get_cb(sk);
	struct timeval tv = { .tv_sec = NL_TIMEOUT_S };
	int one = 1, r = cb ? nl_cb_err(cb, NL_CB_CUSTOM, nack_in, NULL) : -NLE_NOMEM;
	if (cb) {
		nl_cb_overwrite_send(cb, send_noting);
		nl_cb_put(cb);
	}
	if (r >= 0)
		r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		r = fail_nl(e, r, "open", "netlink socket");
	} else if (setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		r = mvm_error_set(e, errno, "open", "netlink socket", NULL);
	} else {
		/* The kernel's words for a refusal, without the request echoed
		 * (a kernel older than 4.12 has no words: the errno alone). */
		setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
		setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	}
	if (r < 0) {
		nl_socket_free(sk);
		return r;
	}
	*out = sk;
	return 0;
}

static int dump_msg_in(struct nl_msg *msg, void *arg);

int ctx_open(struct ctx *x, struct mvm_error *e)
{
	int r = sock_open(&x->sk, e);
	if (r < 0)
		return r;
	/* The dump's messages pass dump_msg_in() too (the cache's reader
	 * takes the socket's callbacks). */
	struct nl_cb *cb = nl_socket_get_cb(x->sk);
	if (!cb)
		return mvm_error_set(e, ENOMEM, "open", "netlink socket", NULL);
	r = nl_cb_set(cb, NL_CB_MSG_IN, NL_CB_CUSTOM, dump_msg_in, x);
	if (r >= 0)
		r = rtnl_link_alloc_cache(x->sk, AF_UNSPEC, &x->links);
	nl_cb_set(cb, NL_CB_MSG_IN, NL_CB_DEFAULT, NULL, NULL);
	nl_cb_put(cb);
	if (r < 0)
		return fail_nl(e, r, "list", "network interfaces");
	/* All that comes on the socket after the dump is an ACK: 36 bytes,
	 * or on an error the request's header and the kernel's words (the
	 * whole request echoed, a few hundred bytes, on a kernel older than
	 * 4.3); far below libnl's 16 KiB buffer, so libnl need not peek at
	 * the size of each first (a second recvmsg() for each request). A
	 * reply that could be larger (a dump, a get, NLM_F_ECHO) needs the
	 * peek back on. */
	nl_socket_disable_msg_peek(x->sk);
	return 0;
}

void ctx_renew(struct ctx *x)
{
	struct nl_sock *sk;
	struct mvm_error e;
	if (sock_open(&sk, &e) < 0) {
		log_warn("unable to open a new netlink socket (%s): going on with the old one",
			 mvm_error_reason(&e));
		return;
	}
	nl_socket_disable_msg_peek(sk); /* (as ctx_open() leaves it) */
	nl_socket_free(x->sk);
	x->sk = sk;
}

char *ctx_record(const struct ctx *x)
{
	char *p = NULL;
	if (record_path(x->c->runtime_dir, x->vm, x->kind, &p, NULL) < 0)
		return NULL;
	return p;
}

void ctx_close(struct ctx *x)
{
	if (x->links)
		nl_cache_free(x->links);
	if (x->sk)
		nl_socket_free(x->sk);
	free(x->tuns);
	x->links = NULL;
	x->sk = NULL;
	x->tuns = NULL;
	x->ntuns = 0;
	x->tuns_err = 0;
}

/* ---- the kernel's view of a tun link (libnl parses no IFLA_INFO_DATA
 * of kind "tun": its attributes are read here, from the dump that fills
 * x->links and from one RTM_GETLINK) ---- */

/* One message: -1 when it is no RTM_NEWLINK; else its index in *ifindex
 * and f filled (the link type; the rest when the kernel says it of a tun
 * link), and 1 for a link of kind "tun", 0 for another kind. */
static int link_facts(struct nlmsghdr *h, int *ifindex, struct tun_facts *f)
{
	struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1], *td[IFLA_TUN_MAX + 1];
	if (h->nlmsg_type != RTM_NEWLINK || !nlmsg_valid_hdr(h, sizeof(struct ifinfomsg)))
		return -1;
	const struct ifinfomsg *ifi = nlmsg_data(h);
	if (nlmsg_parse(h, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0)
		return -1;
	*ifindex = ifi->ifi_index;
	memset(f, 0, sizeof(*f));
	f->arptype = ifi->ifi_type;
	if ((f->has_addr = tb[IFLA_ADDRESS] && nla_len(tb[IFLA_ADDRESS]) == sizeof(f->addr)))
		memcpy(f->addr, nla_data(tb[IFLA_ADDRESS]), sizeof(f->addr));
	if (!tb[IFLA_LINKINFO] || nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) < 0 ||
	    !li[IFLA_INFO_KIND] || nla_strcmp(li[IFLA_INFO_KIND], "tun") != 0)
		return 0;
	if (!li[IFLA_INFO_DATA] || nla_parse_nested(td, IFLA_TUN_MAX, li[IFLA_INFO_DATA], NULL) < 0 ||
	    !td[IFLA_TUN_TYPE])
		return 1; /* a kernel that does not say */
	f->tun = true;
	f->type = nla_get_u8(td[IFLA_TUN_TYPE]);
	if ((f->has_owner = td[IFLA_TUN_OWNER] != NULL))
		f->owner = nla_get_u32(td[IFLA_TUN_OWNER]);
	if ((f->has_group = td[IFLA_TUN_GROUP] != NULL))
		f->group = nla_get_u32(td[IFLA_TUN_GROUP]);
	f->persist = td[IFLA_TUN_PERSIST] && nla_get_u8(td[IFLA_TUN_PERSIST]);
	f->multi_queue = td[IFLA_TUN_MULTI_QUEUE] && nla_get_u8(td[IFLA_TUN_MULTI_QUEUE]);
	/* Counted for a multi_queue TAP only (one queue at most otherwise). */
	if ((f->counted = td[IFLA_TUN_NUM_QUEUES] != NULL))
		f->queues = nla_get_u32(td[IFLA_TUN_NUM_QUEUES]);
	if (td[IFLA_TUN_NUM_DISABLED_QUEUES])
		f->disabled = nla_get_u32(td[IFLA_TUN_NUM_DISABLED_QUEUES]);
	return 1;
}

/* Each message of the dump that fills x->links (libnl calls this before
 * it parses the message into the cache): the facts of the tun links,
 * which the cache does not keep. */
static int dump_msg_in(struct nl_msg *msg, void *arg)
{
	struct ctx *x = arg;
	struct tun_facts f;
	int ifx;
	if (link_facts(nlmsg_hdr(msg), &ifx, &f) != 1)
		return NL_OK;
	struct tun_seen *v = reallocarray(x->tuns, x->ntuns + 1, sizeof(*v));
	if (!v) {
		x->tuns_err = -ENOMEM;
		return NL_OK;
	}
	x->tuns = v;
	v[x->ntuns++] = (struct tun_seen){ ifx, f };
	return NL_OK;
}

struct tun_get {
	int ifindex;
	struct tun_facts *f;
	bool got;
};

static int tun_parse(struct nl_msg *msg, void *arg)
{
	struct tun_get *g = arg;
	int ifx;
	if (link_facts(nlmsg_hdr(msg), &ifx, g->f) < 0 || ifx != g->ifindex)
		return NL_SKIP;
	g->got = true;
	return NL_STOP;
}

int tun_facts_get(struct ctx *x, int ifindex, struct tun_facts *f)
{
	struct tun_get g = { .ifindex = ifindex, .f = f };
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETLINK, NLM_F_REQUEST);
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
	int r = msg && cb ? nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) : -NLE_NOMEM;
	if (r >= 0)
		r = nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, tun_parse, &g);
	if (r >= 0)
		r = nl_send_auto(x->sk, msg);
	/* The reply (one RTM_NEWLINK, a few KiB at most: within libnl's
	 * buffer without the peek, see ctx_open), then the ACK that
	 * nl_send_auto() asked for, as rtnl_link_get_kernel() waits for it. */
	if (r >= 0)
		r = nl_recvmsgs(x->sk, cb);
	if (r >= 0)
		r = nl_wait_for_ack(x->sk);
	if (msg)
		nlmsg_free(msg);
	if (cb)
		nl_cb_put(cb);
	if (r < 0)
		return r == -NLE_NODEV || r == -NLE_OBJ_NOTFOUND ? -ENODEV
		       : r == -NLE_NOMEM			? -ENOMEM
								: -EIO;
	return g.got ? 0 : -EIO;
}

const struct tun_facts *tun_dumped(const struct ctx *x, int ifindex)
{
	for (size_t i = 0; i < x->ntuns; i++)
		if (x->tuns[i].ifindex == ifindex)
			return &x->tuns[i].f;
	return NULL;
}

int link_kind(struct ctx *x, struct rtnl_link *l)
{
	const char *k = rtnl_link_get_type(l);
	if (x->mac)
		return k && !strcmp(k, "macvtap");
	if (!k || strcmp(k, "tun") != 0)
		return 0;
	/* TAP or TUN: the kernel's IFLA_TUN_TYPE in the dump, not the link
	 * type, which the TAP's owner may change while it is down
	 * (TUNSETLINK). */
	const struct tun_facts *f = tun_dumped(x, rtnl_link_get_ifindex(l));
	if (!f)
		return x->tuns_err ? x->tuns_err : -EIO;
	/* A kernel older than 4.15 does not say: the link type then, as
	 * before (a TUN has no Ethernet header). */
	if (!f->tun)
		return f->arptype == ARPHRD_ETHER;
	return f->type == IFF_TAP;
}

const char *link_kind_str(struct rtnl_link *l)
{
	const char *k = rtnl_link_get_type(l);
	return k ? k : rtnl_link_get_arptype(l) == ARPHRD_NONE ? "tun" : "none";
}

/* SIOCGIFINDEX through the netlink socket (any socket serves; no extra
 * descriptor, no dump). */
int ifindex_of(struct ctx *x, const char *name)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(nl_socket_get_fd(x->sk), SIOCGIFINDEX, &ifr) < 0)
		return -errno;
	return ifr.ifr_ifindex;
}

int find_link(struct ctx *x, const char *name, const char *what, int *ifindex,
	      struct mvm_error *e)
{
	struct rtnl_link *l = rtnl_link_get_by_name(x->links, name);
	if (!l)
		return mvm_error_setf(e, ENODEV, "find", name, "no such %s", what);
	*ifindex = rtnl_link_get_ifindex(l);
	rtnl_link_put(l);
	return 0;
}

int delete_ifindex(struct ctx *x, int ifindex, const char *name, struct mvm_error *e)
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

/* A link this run just made but could not find again. */
int delete_name(struct ctx *x, const char *name)
{
	struct rtnl_link *l = rtnl_link_alloc();
	if (!l)
		return -ENOMEM;
	rtnl_link_set_name(l, name);
	int r = rtnl_link_delete(x->sk, l);
	rtnl_link_put(l);
	return r;
}

/* One RTM_DELLINK naming only IFLA_GROUP: the kernel unregisters the whole
 * group in one batch (one RCU grace period instead of one per link).
 * rtnl_link_delete() insists on an index or a name, so build it here. */
int delete_group(struct ctx *x, uint32_t group, struct mvm_error *e)
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

int link_setup(struct ctx *x, struct rtnl_link *ch, int ifindex, const char *name,
	       struct mvm_error *e)
{
	struct rtnl_link *orig = rtnl_link_alloc();
	if (!orig)
		return mvm_error_set(e, ENOMEM, "set up", name, NULL);
	rtnl_link_set_ifindex(orig, ifindex);
	int r = rtnl_link_change(x->sk, orig, ch, 0);
	rtnl_link_put(orig);
	return r < 0 ? fail_nl(e, r, "set up", name) : 0;
}

/* One RTM_NEWQDISC: "noqueue" as the root qdisc, the same request as
 * `tc qdisc replace dev NAME root noqueue` (libnl has no noqueue type, so
 * the message is built here). */
int link_noqueue(struct ctx *x, int ifindex, const char *name, struct mvm_error *e)
{
	struct nl_msg *msg =
		nlmsg_alloc_simple(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
	if (!msg)
		return mvm_error_set(e, ENOMEM, "set the qdisc of", name, NULL);
	struct tcmsg tcm = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex, .tcm_parent = TC_H_ROOT };
	int r = nlmsg_append(msg, &tcm, sizeof(tcm), NLMSG_ALIGNTO);
	if (r >= 0)
		r = nla_put_string(msg, TCA_KIND, "noqueue");
	if (r >= 0)
		r = nl_send_sync(x->sk, msg); /* frees msg */
	else
		nlmsg_free(msg);
	return r < 0 ? fail_nl(e, r, "set the qdisc of", name) : 0;
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

/* Is group g used by a link that this run does not delete first? */
static bool group_taken(struct ctx *x, uint32_t g, const struct tap_record *skip)
{
	for (struct nl_object *o = nl_cache_get_first(x->links); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		if (rtnl_link_get_group(l) != g)
			continue;
		bool skipped = false;
		for (size_t i = 0; i < skip->n && !skipped; i++)
			skipped = skip->v[i].ifindex == rtnl_link_get_ifindex(l);
		if (!skipped)
			return true;
	}
	return false;
}

int choose_group(struct ctx *x, const struct tap_record *skip, uint32_t *out,
		 struct mvm_error *e)
{
	uint32_t h = fnv1a(x->vm) % GROUP_SPAN;
	for (uint32_t i = 0; i < 4096; i++) {
		uint32_t g = GROUP_MIN + (h + i) % GROUP_SPAN;
		if (!group_taken(x, g, skip)) {
			*out = g;
			return 0;
		}
	}
	return mvm_error_set(e, ENOSPC, "choose", "link group", "no free link group found");
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

int macvtap_sysfs_devt(const struct cli *c, const char *name, int ifindex, dev_t *out,
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

int macvtap_devt(const struct cli *c, const char *name, int ifindex, dev_t *out)
{
	if (macvtap_sysfs_devt(c, name, ifindex, out, NULL) == 0)
		return 0;
	_cleanup_free_ char *node = xasprintf("%s/tap%d", c->devfs, ifindex);
	struct stat st;
	if (!node)
		return -ENOMEM;
	if (lstat(node, &st) == 0 && S_ISCHR(st.st_mode)) {
		*out = st.st_rdev;
		return 0;
	}
	return -ENOENT;
}

void node_remove(const char *node)
{
	struct stat st;
	if (node && lstat(node, &st) == 0 && S_ISCHR(st.st_mode) && unlink(node) < 0) {
		int err = errno; /* (before ESC() runs) */
		log_warn("unable to remove '%s': %s", ESC(node), strerror(err));
	}
}
