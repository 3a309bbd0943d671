/* SPDX-License-Identifier: MIT */
/* tap-pps: bulk traffic from the host side into a TAP, read by a process
 * on its VM end, for the tap-memory bench (what a root qdisc is worth).
 *
 *   tap-pps TAP DST SECONDS SIZE [mq]
 *
 * The TAP exists (persistent, up), the host has an address on it and a
 * permanent neighbour entry for DST (an IPv4 address behind it), so that
 * UDP to DST leaves through the TAP without ARP. tap-pps attaches to the
 * TAP as the VM does (TUNSETIFF, IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, and
 * IFF_MULTI_QUEUE with "mq": one queue), waits for the carrier, then:
 *   - a child, the VM end, reads packets as fast as it can;
 *   - the parent sends UDP datagrams of SIZE bytes to DST:9 with
 *     sendmmsg(), 64 a call, for SECONDS;
 * then waits 100 ms for the reader to drain what is queued and stops it.
 * Prints key=value lines:
 *   sent        datagrams the host's stack accepted
 *   received    packets the VM end read
 *   tx_dropped  the TAP's tx_dropped growth (the queue to the VM end was
 *               full), from /proc/net/dev
 *   pps_sent, pps_received   per second of sending
 *   drop_pct    100 * (sent - received) / sent
 * Exit 0, or 1 with one line on stderr. Run it only in a network
 * namespace made for it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what, const char *obj, int err)
{
	fprintf(stderr, "tap-pps: unable to %s '%s': %s\n", what, obj, strerror(err));
	exit(1);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The TAP's tx_dropped, from /proc/net/dev (of this network namespace;
 * /sys/class/net shows the namespace sysfs was mounted in). */
static long long tx_dropped(const char *tap)
{
	FILE *f = fopen("/proc/net/dev", "re");
	if (!f)
		die("open", "/proc/net/dev", errno);
	char line[512];
	long long v = -1;
	size_t tl = strlen(tap);
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " ");
		if (strncmp(p, tap, tl) || p[tl] != ':')
			continue;
		long long c[12];
		if (sscanf(p + tl + 1, "%lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld", &c[0],
			   &c[1], &c[2], &c[3], &c[4], &c[5], &c[6], &c[7], &c[8], &c[9], &c[10], &c[11]) == 12)
			v = c[11];
	}
	fclose(f);
	if (v < 0)
		die("find in /proc/net/dev", tap, ENODEV);
	return v;
}

static int running(const char *tap)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, tap, strlen(tap));
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_RUNNING);
	if (s >= 0)
		close(s);
	return r;
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	if (argc < 5 || argc > 6 || (argc == 6 && strcmp(argv[5], "mq"))) {
		fputs("usage: tap-pps TAP DST SECONDS SIZE [mq]\n", stderr);
		return 2;
	}
	const char *tap = argv[1];
	double secs = atof(argv[3]);
	size_t size = (size_t)atol(argv[4]);
	if (secs <= 0 || size < 1 || size > 8192 || strlen(tap) >= IFNAMSIZ)
		die("use arguments", tap, EINVAL);

	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, tap, strlen(tap));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (argc == 6 ? IFF_MULTI_QUEUE : 0);
	int tfd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (tfd < 0)
		die("open", "/dev/net/tun", errno);
	if (ioctl(tfd, TUNSETIFF, &ifr) < 0)
		die("attach to", tap, errno);
	/* the carrier comes on; the qdisc is activated by linkwatch */
	for (int i = 0; i < 200 && !running(tap); i++)
		usleep(5000);
	usleep(200000);

	int pfd[2];
	if (pipe(pfd) < 0)
		die("make", "pipe", errno);
	/* SIGTERM blocked across the fork: one sent before the reader has its
	 * handler waits for it, instead of killing it uncounted. */
	sigset_t term, old;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old);
	pid_t pid = fork();
	if (pid < 0)
		die("fork", "reader", errno);
	if (pid == 0) {
		close(pfd[0]);
		struct sigaction sa = { .sa_handler = on_term }; /* no SA_RESTART */
		sigaction(SIGTERM, &sa, NULL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		static char buf[65536 + 64];
		long long n = 0;
		while (!stop) {
			ssize_t r = read(tfd, buf, sizeof(buf));
			if (r > 0)
				n++;
			else if (r < 0 && errno != EINTR && errno != EAGAIN)
				break;
		}
		if (write(pfd[1], &n, sizeof(n)) != sizeof(n))
			_exit(1);
		_exit(0);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(pfd[1]);

	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(9) };
	if (s < 0 || inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1)
		die("make a socket to", argv[2], s < 0 ? errno : EINVAL);
	if (connect(s, (struct sockaddr *)&dst, sizeof(dst)) < 0)
		die("connect to", argv[2], errno);
	static char payload[8192];
	memset(payload, 0x5a, sizeof(payload));
	struct iovec iov = { payload, size };
	struct mmsghdr m[64];
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 64; i++) {
		m[i].msg_hdr.msg_iov = &iov;
		m[i].msg_hdr.msg_iovlen = 1;
	}
	long long drop0 = tx_dropped(tap);
	long long sent = 0;
	double t0 = now(), t = t0;
	while (t - t0 < secs) {
		int r = sendmmsg(s, m, 64, 0);
		if (r > 0)
			sent += r;
		else if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
			die("send to", argv[2], errno);
		t = now();
	}
	double dt = t - t0;
	usleep(100000);
	/* Again every 100 ms until it answers: a SIGTERM that came between
	 * its check of stop and its read() leaves it blocked there, with
	 * nothing more to read. */
	for (;;) {
		kill(pid, SIGTERM);
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		int r = poll(&p, 1, 100);
		if (r < 0 && errno != EINTR)
			die("wait for", "reader", errno);
		if (r > 0)
			break;
	}
	long long received = -1;
	if (read(pfd[0], &received, sizeof(received)) != sizeof(received))
		die("read the count of", "reader", EIO);
	waitpid(pid, NULL, 0);
	long long dropped = tx_dropped(tap) - drop0;
	printf("sent=%lld\nreceived=%lld\ntx_dropped=%lld\npps_sent=%.0f\npps_received=%.0f\n"
	       "drop_pct=%.2f\n",
	       sent, received, dropped, (double)sent / dt, (double)received / dt,
	       sent ? 100.0 * (double)(sent - received) / (double)sent : 0.0);
	return 0;
}
