/* SPDX-License-Identifier: MIT */
/* vfs-listen: the least a launcher that listens itself can do, for the
 * virtiofs section of the bench (variant "listen-only").
 *
 *   vfs-listen SOCKET...
 *
 * Binds and listens on each SOCKET (a stale socket file is removed
 * first), sends READY=1 to $NOTIFY_SOCKET, waits for SIGTERM or SIGINT,
 * removes the socket files and exits 0. No runner is read, no source
 * pinned, no daemon started: its READY=1 is the start of a process and
 * its K sockets, the part of virtiofs-launch's time that no work of its
 * own can cut. It is linked as virtiofs-launch is (a static-pie), so
 * that both pay the same start, and sends READY=1 with the launcher's
 * common/notify.c. Exit 1 with a message on stderr when a
 * socket cannot be made or READY=1 not sent. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

static int fail(const char *what, const char *arg)
{
	fprintf(stderr, "vfs-listen: %s '%s': %s\n", what, arg, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	for (int i = 1; i < argc; i++) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		if (strlen(argv[i]) >= sizeof(a.sun_path)) {
			errno = ENAMETOOLONG;
			return fail("socket", argv[i]);
		}
		memcpy(a.sun_path, argv[i], strlen(argv[i]) + 1);
		if (unlink(argv[i]) < 0 && errno != ENOENT)
			return fail("remove", argv[i]);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0)
			return fail("listen on", argv[i]);
	}
	/* (READY=1 sent as the launcher sends it: common/notify.c) */
	const char *n = getenv("NOTIFY_SOCKET");
	int r = n ? notify("READY=1") : -EINVAL;
	if (r < 0) {
		errno = -r;
		return fail("send READY=1 to NOTIFY_SOCKET", n ? n : "");
	}
	int sig;
	sigwait(&ss, &sig);
	for (int i = 1; i < argc; i++)
		unlink(argv[i]);
	return 0;
}
