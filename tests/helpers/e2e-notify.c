/* SPDX-License-Identifier: MIT */
/* e2e-notify SOCKET_PATH: a stand-in for systemd's notify socket in the
 * end-to-end tests. Binds a datagram socket at SOCKET_PATH (replacing a
 * stale one), then prints every message it receives, one line per
 * variable, prefixed by the CLOCK_MONOTONIC time in microseconds:
 *   1234567 READY=1
 *   1234567 STATUS=1 of 1 share up
 * stdout is flushed after each message. It runs until SIGTERM/SIGINT and
 * then removes SOCKET_PATH. Exit status 0, or 1 when it cannot bind. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fputs("usage: e2e-notify SOCKET_PATH\n", stderr);
		return 2;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "e2e-notify: %s: path too long\n", argv[1]);
		return 1;
	}
	strcpy(sa.sun_path, argv[1]);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("e2e-notify: socket");
		return 1;
	}
	(void)unlink(argv[1]);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "e2e-notify: bind %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	/* Without SA_RESTART, recv() returns EINTR on the signal. */
	struct sigaction act = { .sa_handler = on_signal };
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	char buf[4096];
	while (!stop) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("e2e-notify: recv");
			break;
		}
		buf[n] = '\0';
		long long t = now_us();
		char *save = NULL;
		for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
			printf("%lld %s\n", t, l);
		fflush(stdout);
	}
	(void)unlink(argv[1]);
	return 0;
}
