/* SPDX-License-Identifier: MIT */
/* The kernel floor for creating TAPs, to compare tap-setup against:
 *   tap-floor [-d] [-f FLAGS] [-u UID] [-g GID] PREFIX N
 * creates PREFIX0..PREFIX{N-1} (IFF_TAP|IFF_NO_PI plus FLAGS, "vnet_hdr",
 * "multi_queue" or both comma separated), owner, group, persistent, up,
 * with nothing but ioctls, and prints the milliseconds it took. -d deletes
 * them instead (TUNSETPERSIST 0). Run it inside `unshare -n`. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int die(const char *what, const char *name)
{
	fprintf(stderr, "tap-floor: %s %s: %s\n", what, name, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	int opt, del = 0;
	short extra = 0;
	unsigned long uid = 0, gid = 0;
	while ((opt = getopt(argc, argv, "df:u:g:")) != -1) {
		switch (opt) {
		case 'd': del = 1; break;
		case 'f':
			if (strstr(optarg, "vnet_hdr"))
				extra |= IFF_VNET_HDR;
			if (strstr(optarg, "multi_queue"))
				extra |= IFF_MULTI_QUEUE;
			break;
		case 'u': uid = strtoul(optarg, NULL, 10); break;
		case 'g': gid = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: tap-floor [-d] [-f FLAGS] [-u UID] [-g GID] PREFIX N\n");
			return 2;
		}
	}
	if (argc - optind != 2)
		return 2;
	const char *prefix = argv[optind];
	int n = (int)strtol(argv[optind + 1], NULL, 10);
	int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sk < 0)
		return die("socket", "");
	double t0 = now();
	for (int i = 0; i < n; i++) {
		struct ifreq ifr;
		char name[IFNAMSIZ];
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return die("open", "/dev/net/tun");
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | extra);
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		if (ioctl(fd, TUNSETIFF, &ifr) < 0)
			return die("TUNSETIFF", name);
		if (del) {
			if (ioctl(fd, TUNSETPERSIST, 0UL) < 0)
				return die("TUNSETPERSIST", name);
			close(fd);
			continue;
		}
		if (ioctl(fd, TUNSETOWNER, uid) < 0 || ioctl(fd, TUNSETGROUP, gid) < 0 ||
		    ioctl(fd, TUNSETPERSIST, 1UL) < 0)
			return die("TUNSETOWNER/GROUP/PERSIST", name);
		close(fd);
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		if (ioctl(sk, SIOCGIFFLAGS, &ifr) < 0)
			return die("SIOCGIFFLAGS", name);
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(sk, SIOCSIFFLAGS, &ifr) < 0)
			return die("SIOCSIFFLAGS", name);
	}
	printf("%.2f\n", now() - t0);
	close(sk);
	return 0;
}
