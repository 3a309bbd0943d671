/* SPDX-License-Identifier: MIT */
/* fleet-runner: the light VM runner of the fleet bench, in place of QEMU.
 * It does what a hypervisor does with the host side the helpers made,
 * and nothing else:
 *
 *   fleet-runner [-t TAP]... [-s SOCKET]...
 *
 *   -t TAP     open /dev/net/tun and attach to the persistent TAP
 *              (TUNSETIFF, IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, as QEMU's
 *              tap,vhost=off,ifname=TAP does); fails if it does not
 *              exist or is not ours
 *   -s SOCKET  connect to a virtiofs share's vhost-user socket (a path,
 *              relative to the working directory, as QEMU's chardev
 *              socket,path= is) and wait for the daemon's answer to
 *              VHOST_USER_GET_FEATURES, the first message QEMU sends;
 *              fails if nobody listens, as QEMU does, or if no answer
 *              comes within 20 s (QEMU would wait on)
 *
 * Then READY=1 to $NOTIFY_SOCKET if it is set (a notify-capable runner,
 * microvm.nix's supportsNotifySocket), and it waits for SIGTERM (or
 * SIGINT), on which it exits 0 holding everything until then. A share
 * that hangs up (its daemon died) is not noticed: the runner only holds
 * its descriptors. Exit 1 with one line on stderr naming what failed. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static void die(const char *what, const char *obj, int err)
{
	fprintf(stderr, "fleet-runner: unable to %s '%s': %s\n", what, obj, strerror(err));
	exit(1);
}

static void open_tap(const char *name)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	if (strlen(name) >= IFNAMSIZ)
		die("open TAP", name, ENAMETOOLONG);
	memcpy(ifr.ifr_name, name, strlen(name));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open", "/dev/net/tun", errno);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("attach to TAP", name, errno);
	/* kept open until exit, as the VM keeps its queue */
}

static void connect_share(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		die("connect to", path, ENAMETOOLONG);
	memcpy(sa.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("make a socket for", path, errno);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect to", path, errno);
	/* vhost-user: header (request, flags: version 1, payload size) */
	uint32_t req[3] = { 1 /* VHOST_USER_GET_FEATURES */, 0x1, 0 };
	if (send(fd, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		die("send VHOST_USER_GET_FEATURES to", path, errno);
	struct timeval tv = { 20, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct {
		uint32_t request, flags, size;
		uint64_t features;
	} __attribute__((packed)) reply = { 0 };
	size_t got = 0;
	while (got < sizeof(reply)) {
		ssize_t n = recv(fd, (char *)&reply + got, sizeof(reply) - got, 0);
		if (n <= 0)
			die("read the answer to VHOST_USER_GET_FEATURES from", path,
			    n == 0 ? ECONNRESET : errno == EAGAIN ? ETIMEDOUT : errno);
		got += (size_t)n;
	}
	if (reply.request != 1 || !(reply.flags & 0x4) || reply.size != 8)
		die("understand the answer to VHOST_USER_GET_FEATURES from", path, EPROTO);
}

/* READY=1 to $NOTIFY_SOCKET (sd_notify(3)'s protocol, self-contained). */
static void notify_ready(void)
{
	const char *p = getenv("NOTIFY_SOCKET");
	if (!p || !*p)
		return;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(p);
	if ((p[0] != '/' && p[0] != '@') || len >= sizeof(sa.sun_path))
		die("use NOTIFY_SOCKET", p, EINVAL);
	memcpy(sa.sun_path, p, len);
	if (p[0] == '@')
		sa.sun_path[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("make a socket for", p, errno);
	socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if (sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa, sl) < 0)
		die("send READY=1 to", p, errno);
	close(fd);
}

int main(int argc, char **argv)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int opt;
	while ((opt = getopt(argc, argv, "t:s:")) != -1) {
		switch (opt) {
		case 't':
			open_tap(optarg);
			break;
		case 's':
			connect_share(optarg);
			break;
		default:
			fputs("usage: fleet-runner [-t TAP]... [-s SOCKET]...\n", stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fputs("usage: fleet-runner [-t TAP]... [-s SOCKET]...\n", stderr);
		return 2;
	}
	notify_ready();
	int sig;
	while (sigwait(&set, &sig) != 0)
		;
	return 0;
}
