/* SPDX-License-Identifier: MIT */
/* bench-exec: run commands one after the other and time each one, from
 * just before the child is spawned to just after it is reaped
 * (CLOCK_MONOTONIC), so the timer's own start-up is not measured.
 *
 *   bench-exec [-n] [-l LOG] STEP [:: STEP]...
 *   STEP := [+check=PREFIX:COUNT] [+probe] ARGV...
 *
 *   -n       first unshare(CLONE_NEWNET): the steps run in a fresh, empty
 *            network namespace that dies with this process
 *   -l LOG   the steps' stdout and stderr are appended to LOG (default
 *            /dev/null)
 *   +check=PREFIX:COUNT   after the step (not timed): exactly COUNT
 *            interfaces named PREFIX<digits> exist, and all of them are up
 *   +probe   the step's stdout is a pipe; its first line is a
 *            CLOCK_MONOTONIC time in ns (tests/bench/first-insn prints it
 *            as its first action); reported relative to the start of the
 *            first step
 *
 * Prints one line per step: "ELAPSED_NS" or, with +probe,
 * "ELAPSED_NS PROBE_NS". A failing step (exit status not 0, or a failed
 * check) prints "FAIL STEP: reason" and ends the run with exit 1. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((format(printf, 2, 3), noreturn))
static void fail(int step, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL %d: ", step);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	exit(1);
}

/* Interfaces named PREFIX<digits>: how many, and are they all up. */
static int count_links(const char *prefix, bool *all_up)
{
	struct if_nameindex *l = if_nameindex();
	if (!l)
		return -1;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	size_t pl = strlen(prefix);
	int n = 0;
	*all_up = true;
	for (struct if_nameindex *p = l; p->if_index; p++) {
		const char *d = p->if_name + pl;
		if (strncmp(p->if_name, prefix, pl) != 0 || !*d || strspn(d, "0123456789") != strlen(d))
			continue;
		n++;
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", p->if_name);
		if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || !(ifr.ifr_flags & IFF_UP))
			*all_up = false;
	}
	if (s >= 0)
		close(s);
	if_freenameindex(l);
	return n;
}

int main(int argc, char **argv)
{
	const char *log = "/dev/null";
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-n")) {
			if (unshare(CLONE_NEWNET) < 0) {
				perror("bench-exec: unshare(CLONE_NEWNET)");
				return 1;
			}
		} else if (!strcmp(argv[i], "-l") && i + 1 < argc) {
			log = argv[++i];
		} else {
			fputs("usage: bench-exec [-n] [-l LOG] STEP [:: STEP]...\n", stderr);
			return 2;
		}
	}
	if (i >= argc) {
		fputs("usage: bench-exec [-n] [-l LOG] STEP [:: STEP]...\n", stderr);
		return 2;
	}
	int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (logfd < 0 || nullfd < 0) {
		perror("bench-exec: open log");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	long long t_first = -1;
	for (int step = 1; i < argc; step++) {
		const char *check = NULL;
		bool probe = false;
		for (; i < argc && argv[i][0] == '+'; i++) {
			if (!strncmp(argv[i], "+check=", 7))
				check = argv[i] + 7;
			else if (!strcmp(argv[i], "+probe"))
				probe = true;
			else
				fail(step, "unknown step option %s", argv[i]);
		}
		int end = i;
		while (end < argc && strcmp(argv[end], "::") != 0)
			end++;
		if (end == i)
			fail(step, "empty step");
		argv[end < argc ? end : argc] = NULL;
		char **cmd = argv + i;

		int pfd[2] = { -1, -1 };
		if (probe && pipe2(pfd, O_CLOEXEC) < 0)
			fail(step, "pipe: %s", strerror(errno));
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, nullfd, 0);
		posix_spawn_file_actions_adddup2(&fa, probe ? pfd[1] : logfd, 1);
		posix_spawn_file_actions_adddup2(&fa, logfd, 2);

		pid_t pid;
		long long t0 = now_ns();
		if (t_first < 0)
			t_first = t0;
		int r = posix_spawnp(&pid, cmd[0], &fa, NULL, cmd, environ);
		if (r != 0)
			fail(step, "spawn %s: %s", cmd[0], strerror(r));
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		long long t1 = now_ns();
		posix_spawn_file_actions_destroy(&fa);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail(step, "%s exited with status %d", cmd[0],
			     WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));

		long long pns = -1;
		if (probe) {
			close(pfd[1]);
			char buf[64] = "";
			ssize_t n = read(pfd[0], buf, sizeof(buf) - 1);
			close(pfd[0]);
			if (n > 0)
				buf[n] = '\0';
			char *e;
			long long v = strtoll(buf, &e, 10);
			if (n <= 0 || e == buf)
				fail(step, "%s printed no timestamp", cmd[0]);
			pns = v - t_first;
		}
		if (check) {
			char prefix[IFNAMSIZ];
			const char *colon = strrchr(check, ':');
			if (!colon || (size_t)(colon - check) >= sizeof(prefix))
				fail(step, "bad +check=%s", check);
			memcpy(prefix, check, (size_t)(colon - check));
			prefix[colon - check] = '\0';
			long want = atol(colon + 1);
			bool all_up = false;
			int got = count_links(prefix, &all_up);
			if (got != want)
				fail(step, "+check=%s: found %d", check, got);
			if (!all_up)
				fail(step, "+check=%s: not all up", check);
		}
		if (probe)
			printf("%lld %lld\n", t1 - t0, pns);
		else
			printf("%lld\n", t1 - t0);
		i = end + 1;
	}
	return 0;
}
