/* SPDX-License-Identifier: MIT */
/* tap-floor: the floor of the TAP bench. Only the kernel calls that make
 * or remove persistent TAPs, nothing else (no parsing, no checks, no
 * records), so its time is what the kernel itself costs.
 *
 *   tap-floor up PREFIX N UID GID GROUP    PREFIX0..PREFIX{N-1}: for each,
 *       open /dev/net/tun, TUNSETIFF (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR|
 *       IFF_MULTI_QUEUE), TUNSETOWNER, TUNSETGROUP, TUNSETPERSIST, close;
 *       then one RTM_NEWLINK by name that sets IFF_UP and link group GROUP
 *   tap-floor down PREFIX N                one RTM_DELLINK by name per TAP
 *   tap-floor down-group GROUP             one RTM_DELLINK naming the link
 *       group: the kernel unregisters the whole group in one batch
 *
 * Each netlink request waits for its ACK. Exit 0, or 1 with a message.
 * Run it only inside a network namespace made for the bench. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
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

static void up(const char *prefix, unsigned long n, unsigned long uid,
	       unsigned long gid, unsigned group)
{
	nl_open();
	for (unsigned long k = 0; k < n; k++) {
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		ifname(ifr.ifr_name, prefix, k);
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
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

		struct req r;
		req_init(&r, RTM_NEWLINK);
		r.i.ifi_flags = IFF_UP;
		r.i.ifi_change = IFF_UP;
		put_attr(&r, IFLA_IFNAME, ifr.ifr_name, strlen(ifr.ifr_name) + 1);
		put_attr(&r, IFLA_GROUP, &group, sizeof(group));
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
	if (argc == 7 && !strcmp(argv[1], "up")) {
		unsigned long g = num(argv[6]);
		if (g == 0 || g > 0xffffffffUL)
			die("use link group", argv[6], EINVAL); /* 0 is every link */
		up(argv[2], num(argv[3]), num(argv[4]), num(argv[5]), (unsigned)g);
	} else if (argc == 4 && !strcmp(argv[1], "down")) {
		down(argv[2], num(argv[3]));
	} else if (argc == 3 && !strcmp(argv[1], "down-group")) {
		unsigned long g = num(argv[2]);
		if (g == 0 || g > 0xffffffffUL)
			die("use link group", argv[2], EINVAL);
		down_group((unsigned)g);
	} else {
		fputs("usage: tap-floor up PREFIX N UID GID GROUP | down PREFIX N | down-group GROUP\n",
		      stderr);
		return 2;
	}
	return 0;
}
