/* SPDX-License-Identifier: MIT */
/* tap-holder: what a running VM does to its interfaces, for the tests of
 * tap-setup's "held" check. It takes the user and group first (a VM runs
 * as microvm:kvm) and executes itself again, as a VM started by systemd
 * is (a process that changed its ids without an exec is not "dumpable":
 * its /proc/PID belongs to root, unlike a VM's), then holds each interface
 * named on the command line,
 * prints "ready PID" on standard output once it holds them all, and
 * waits until it is killed.
 *
 *   tap-holder [--user UID --group GID] [--tun PATH] [OPTIONS] WHAT...
 *     WHAT            a TAP's name: a queue of it, through PATH (default
 *                     /dev/net/tun); or a path (/dev/tapN): the macvtap's
 *                     character device, opened read-write
 *     --multi-queue   attach to the TAPs with IFF_MULTI_QUEUE
 *     --vnet-hdr      ... and IFF_VNET_HDR (attaching sets the TAP's flag)
 *     --carrier-off   turn the carrier of each TAP off (TUNSETCARRIER), as
 *                     a VM may: the TAP is still held
 *     --detach        detach each queue again (TUNSETQUEUE
 *                     IFF_DETACH_QUEUE; multi-queue only): still held
 *     --thread        hold them from a second thread, then end the main
 *                     one (pthread_exit): /proc/PID/fd of the process, the
 *                     main thread's, lists nothing; still held
 *     --own-files     with --thread: that thread first takes a descriptor
 *                     table of its own (unshare CLONE_FILES) and the main
 *                     thread stays: only /proc/PID/task/TID/fd shows them
 *     --in-flight     send each TAP's descriptor to itself over a socket
 *                     pair (SCM_RIGHTS) and close it: the message, unread,
 *                     holds the queue, and no /proc/PID/fd shows it
 * Exit status 1 (with a line on stderr) when it cannot hold one. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h> /* before the linux/ headers */
#include <linux/if_tun.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int die(const char *what, const char *obj)
{
	fprintf(stderr, "tap-holder: unable to %s '%s': %s\n", what, obj, strerror(errno));
	return 1;
}

/* fd sent over a socket pair to this process and closed: the message,
 * never read, keeps the file (and its queue) as long as the pair stays. */
static int send_away(int fd, const char *name)
{
	int sv[2]; /* kept open: never closed */
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0)
		return die("make a socket pair for", name);
	char data = 'q';
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sv[0], &m, 0) != 1)
		return die("send the descriptor of", name);
	if (close(fd) < 0)
		return die("close the descriptor of", name);
	return 0;
}

static int hold_tap(const char *tun, const char *name, short flags, bool carrier_off, bool detach,
		    bool in_flight)
{
	int fd = open(tun, O_RDWR); /* kept open: no O_CLOEXEC needed, never closed */
	if (fd < 0)
		return die("open", tun);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = flags;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return die("attach to", name);
	int off = 0;
	if (carrier_off && ioctl(fd, TUNSETCARRIER, &off) < 0)
		return die("turn the carrier off of", name);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_DETACH_QUEUE;
	if (detach && ioctl(fd, TUNSETQUEUE, &ifr) < 0)
		return die("detach the queue of", name);
	return in_flight ? send_away(fd, name) : 0;
}

struct hold {
	int argc, i;
	char **argv;
	const char *tun;
	short flags;
	bool carrier_off, detach, own_files, in_flight;
};

/* Hold every WHAT from argv[i] on, then say so: 0, or 1 after a line. */
static int hold_all(const struct hold *h)
{
	if (h->own_files && unshare(CLONE_FILES) < 0)
		return die("unshare the descriptor table of", "a thread");
	for (int i = h->i; i < h->argc; i++) {
		if (h->argv[i][0] == '/') {
			if (open(h->argv[i], O_RDWR) < 0)
				return die("open", h->argv[i]);
		} else if (hold_tap(h->tun, h->argv[i], h->flags, h->carrier_off, h->detach,
				    h->in_flight)) {
			return 1;
		}
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	return 0;
}

static void *holder_thread(void *arg)
{
	if (hold_all(arg))
		exit(1);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	bool thread = false, own_files = false, in_flight = false;
	const char *tun = "/dev/net/tun";
	short flags = IFF_TAP | IFF_NO_PI;
	bool carrier_off = false, detach = false;
	long uid = -1, gid = -1;
	int i = 1;
	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--user") && i + 1 < argc)
			uid = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--group") && i + 1 < argc)
			gid = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--tun") && i + 1 < argc)
			tun = argv[++i];
		else if (!strcmp(argv[i], "--multi-queue"))
			flags |= IFF_MULTI_QUEUE;
		else if (!strcmp(argv[i], "--vnet-hdr"))
			flags |= IFF_VNET_HDR;
		else if (!strcmp(argv[i], "--carrier-off"))
			carrier_off = true;
		else if (!strcmp(argv[i], "--detach"))
			detach = true;
		else if (!strcmp(argv[i], "--thread"))
			thread = true;
		else if (!strcmp(argv[i], "--own-files"))
			own_files = true;
		else if (!strcmp(argv[i], "--in-flight"))
			in_flight = true;
		else {
			fprintf(stderr, "tap-holder: unknown option '%s'\n", argv[i]);
			return 2;
		}
	}
	if (gid >= 0 && (setgroups(0, NULL) < 0 || setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) < 0))
		return die("switch to group", argv[0]);
	if (uid >= 0 && setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0)
		return die("switch to user", argv[0]);
	if (uid >= 0 || gid >= 0) {
		/* Again without --user and --group, by exec. */
		char **nv = calloc((size_t)argc + 1, sizeof(*nv));
		int k = 0;
		if (!nv)
			return die("allocate", argv[0]);
		for (int j = 0; j < argc; j++) {
			if ((!strcmp(argv[j], "--user") || !strcmp(argv[j], "--group")) && j + 1 < argc &&
			    j < i) {
				j++;
				continue;
			}
			nv[k++] = argv[j];
		}
		execv("/proc/self/exe", nv);
		return die("execute", "/proc/self/exe");
	}
	static struct hold h;
	h = (struct hold){argc, i, argv, tun, flags, carrier_off, detach, own_files, in_flight};
	if (!thread) {
		if (hold_all(&h))
			return 1;
		for (;;)
			pause();
	}
	pthread_t t;
	errno = pthread_create(&t, NULL, holder_thread, &h);
	if (errno)
		return die("start", "a thread");
	if (!own_files)
		pthread_exit(NULL); /* the process lives on in the other thread */
	for (;;)
		pause();
}
