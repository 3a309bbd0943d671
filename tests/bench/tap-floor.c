/* SPDX-License-Identifier: MIT */
/* tap-floor: the floor of the TAP bench. Only the kernel calls that make
 * or remove persistent TAPs, nothing else (no parsing, no checks, no
 * records), so its time is what the kernel itself costs.
 *
 *   tap-floor up PREFIX N UID GID GROUP [FLAGS]   PREFIX0..PREFIX{N-1}: for
 *       each, open /dev/net/tun, TUNSETIFF (IFF_TAP|IFF_NO_PI and the
 *       flags), TUNSETOWNER, TUNSETGROUP, TUNSETPERSIST, close; then one
 *       RTM_NEWLINK by name that sets IFF_UP and link group GROUP.
 *       FLAGS, comma separated [vnet_hdr,multi_queue]:
 *         vnet_hdr, multi_queue   IFF_VNET_HDR, IFF_MULTI_QUEUE
 *         noqueue     before IFF_UP, one RTM_NEWQDISC: root qdisc noqueue
 *                     (`tc qdisc add dev TAP root noqueue`), so that up
 *                     attaches no default qdisc (for a multi_queue TAP: no
 *                     mq root with a pfifo_fast child per possible queue)
 *         txqlen=Q    IFLA_TXQLEN Q in the RTM_NEWLINK (before IFF_UP
 *                     takes effect)
 *       (the prototype of a tap-setup option, for the tap-memory bench)
 *   tap-floor down PREFIX N                one RTM_DELLINK by name per TAP
 *   tap-floor down-group GROUP             one RTM_DELLINK naming the link
 *       group: the kernel unregisters the whole group in one batch
 *
 * Each netlink request waits for its ACK. Exit 0, or 1 with a message.
 * Run it only inside a network namespace made for the bench. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/pkt_sched.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int nl = -1;
static unsigned seq;

static void die(const char *what, const char *obj, int err)
{
	fprintf(stderr, "tap-floor: unable to %s '%s': %s\n", what, obj, strerror(err));
	exit(1);
}

/* PREFIX and k as an interface name. */
static void ifname(char name[IFNAMSIZ], const char *prefix, unsigned long k)
{
	int r = snprintf(name, IFNAMSIZ, "%s%lu", prefix, k);
	if (r < 0 || r >= IFNAMSIZ)
		die("name interface", prefix, ENAMETOOLONG);
}

static unsigned long num(const char *s)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end)
		die("parse number", s, EINVAL);
	return v;
}

struct req {
	struct nlmsghdr h;
	struct ifinfomsg i;
	char attrs[64];
};

static void put_attr(struct req *r, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static void req_init(struct req *r, unsigned short type)
{
	memset(r, 0, sizeof(*r));
	r->h.nlmsg_len = NLMSG_LENGTH(sizeof(r->i));
	r->h.nlmsg_type = type;
	r->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	r->h.nlmsg_seq = ++seq;
	r->i.ifi_family = AF_UNSPEC;
}

/* Send one request, wait for its ACK; return 0 or -errno. */
static int talk(struct req *r)
{
	if (send(nl, r, r->h.nlmsg_len, 0) < 0)
		return -errno;
	char buf[4096];
	for (;;) {
		ssize_t n = recv(nl, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != r->h.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR)
				continue;
			return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
		}
	}
}

static void nl_open(void)
{
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl < 0)
		die("open", "netlink", errno);
}

/* One RTM_NEWQDISC: root qdisc noqueue on ifindex (create or replace);
 * return 0 or -errno. */
static int set_noqueue(int ifindex)
{
	struct {
		struct nlmsghdr h;
		struct tcmsg t;
		char attrs[32];
	} q;
	memset(&q, 0, sizeof(q));
	q.h.nlmsg_len = NLMSG_LENGTH(sizeof(q.t));
	q.h.nlmsg_type = RTM_NEWQDISC;
	q.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
	q.h.nlmsg_seq = ++seq;
	q.t.tcm_family = AF_UNSPEC;
	q.t.tcm_ifindex = ifindex;
	q.t.tcm_parent = TC_H_ROOT;
	struct rtattr *a = (struct rtattr *)((char *)&q + NLMSG_ALIGN(q.h.nlmsg_len));
	a->rta_type = TCA_KIND;
	a->rta_len = (unsigned short)RTA_LENGTH(sizeof("noqueue"));
	memcpy(RTA_DATA(a), "noqueue", sizeof("noqueue"));
	q.h.nlmsg_len = NLMSG_ALIGN(q.h.nlmsg_len) + RTA_ALIGN(a->rta_len);
	return talk((struct req *)&q);
}

struct flags {
	short iff;
	bool noqueue;
	long txqlen; /* -1: the kernel's */
};

static struct flags parse_flags(const char *s)
{
	struct flags f = { IFF_VNET_HDR | IFF_MULTI_QUEUE, false, -1 };
	if (!s)
		return f;
	f.iff = 0;
	char *copy = strdup(s), *save = NULL;
	if (!copy)
		die("parse flags", s, ENOMEM);
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (!strcmp(w, "vnet_hdr"))
			f.iff |= IFF_VNET_HDR;
		else if (!strcmp(w, "multi_queue"))
			f.iff |= IFF_MULTI_QUEUE;
		else if (!strcmp(w, "noqueue"))
			f.noqueue = true;
		else if (!strncmp(w, "txqlen=", 7))
			f.txqlen = (long)num(w + 7);
		else
			die("parse flag", w, EINVAL);
	}
	free(copy);
	return f;
}

static void up(const char *prefix, unsigned long n, unsigned long uid,
	       unsigned long gid, unsigned group, struct flags f)
{
	nl_open();
	for (unsigned long k = 0; k < n; k++) {
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		ifname(ifr.ifr_name, prefix, k);
		ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | f.iff);
		int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
		if (fd < 0)
			die("open", "/dev/net/tun", errno);
		if (ioctl(fd, TUNSETIFF, &ifr) < 0)
			die("TUNSETIFF", ifr.ifr_name, errno);
		if (ioctl(fd, TUNSETOWNER, uid) < 0)
			die("TUNSETOWNER", ifr.ifr_name, errno);
		if (ioctl(fd, TUNSETGROUP, gid) < 0)
			die("TUNSETGROUP", ifr.ifr_name, errno);
		if (ioctl(fd, TUNSETPERSIST, 1) < 0)
			die("TUNSETPERSIST", ifr.ifr_name, errno);
		close(fd);

		if (f.noqueue) {
			int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (s < 0 || ioctl(s, SIOCGIFINDEX, &ifr) < 0)
				die("find", ifr.ifr_name, errno);
			close(s);
			int e = set_noqueue(ifr.ifr_ifindex);
			if (e < 0)
				die("set root qdisc noqueue on", ifr.ifr_name, -e);
		}
		struct req r;
		req_init(&r, RTM_NEWLINK);
		r.i.ifi_flags = IFF_UP;
		r.i.ifi_change = IFF_UP;
		put_attr(&r, IFLA_IFNAME, ifr.ifr_name, strlen(ifr.ifr_name) + 1);
		put_attr(&r, IFLA_GROUP, &group, sizeof(group));
		if (f.txqlen >= 0) {
			unsigned q = (unsigned)f.txqlen;
			put_attr(&r, IFLA_TXQLEN, &q, sizeof(q));
		}
		int e = talk(&r);
		if (e < 0)
			die("set up", ifr.ifr_name, -e);
	}
}

static void down(const char *prefix, unsigned long n)
{
	nl_open();
	for (unsigned long k = 0; k < n; k++) {
		char name[IFNAMSIZ];
		ifname(name, prefix, k);
		struct req r;
		req_init(&r, RTM_DELLINK);
		put_attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
		int e = talk(&r);
		if (e < 0)
			die("delete", name, -e);
	}
}

static void down_group(unsigned group)
{
	nl_open();
	struct req r;
	req_init(&r, RTM_DELLINK);
	put_attr(&r, IFLA_GROUP, &group, sizeof(group));
	int e = talk(&r);
	if (e < 0)
		die("delete link group", "group", -e);
}

int main(int argc, char **argv)
{
	if ((argc == 7 || argc == 8) && !strcmp(argv[1], "up")) {
		unsigned long g = num(argv[6]);
		if (g == 0 || g > 0xffffffffUL)
			die("use link group", argv[6], EINVAL); /* 0 is every link */
		up(argv[2], num(argv[3]), num(argv[4]), num(argv[5]), (unsigned)g,
		   parse_flags(argc == 8 ? argv[7] : NULL));
	} else if (argc == 4 && !strcmp(argv[1], "down")) {
		down(argv[2], num(argv[3]));
	} else if (argc == 3 && !strcmp(argv[1], "down-group")) {
		unsigned long g = num(argv[2]);
		if (g == 0 || g > 0xffffffffUL)
			die("use link group", argv[2], EINVAL);
		down_group((unsigned)g);
	} else {
		fputs("usage: tap-floor up PREFIX N UID GID GROUP [FLAGS] | down PREFIX N | down-group GROUP\n",
		      stderr);
		return 2;
	}
	return 0;
}
