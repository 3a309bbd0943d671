/* SPDX-License-Identifier: MIT */
/* runner-probe: a stand-in for a runner's bin/microvm-run in the runner
 * suite. It writes what runner-exec handed it, one "key=value" a line, to
 * $RUNNER_PROBE_OUT:
 *   argv0=...  cwd=...  notify=... (or "notify" unset)  pid=...  argc=...
 *   sigign=...  (the signals it was started with ignored: SigIgn of
 *                /proc/self/status, hex)
 *   fds=...     (the descriptors above 2 it was handed, e.g. "3,7", or "")
 * and exits with $RUNNER_PROBE_EXIT (default 0). */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "SigIgn:" of /proc/self/status, or "?" */
static void sig_ignored(char *buf, size_t size)
{
	snprintf(buf, size, "?");
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "SigIgn:\t", 8) == 0) {
			size_t n = strcspn(line + 8, "\n");
			if (n < size) {
				memcpy(buf, line + 8, n);
				buf[n] = '\0';
			}
		}
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	const char *out = getenv("RUNNER_PROBE_OUT");
	if (!out) {
		fputs("runner-probe: RUNNER_PROBE_OUT not set\n", stderr);
		return 3;
	}
	/* Before this program opens any. */
	char fds[256] = "";
	for (int fd = 3; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0 && strlen(fds) < sizeof(fds) - 16)
			snprintf(fds + strlen(fds), sizeof(fds) - strlen(fds), "%s%d", *fds ? "," : "",
				 fd);
	char ign[64];
	sig_ignored(ign, sizeof(ign));
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd))) {
		perror("runner-probe: getcwd");
		return 3;
	}
	FILE *f = fopen(out, "we");
	if (!f) {
		perror("runner-probe: fopen");
		return 3;
	}
	const char *ns = getenv("NOTIFY_SOCKET");
	fprintf(f, "argv0=%s\ncwd=%s\n", argv[0], cwd);
	if (ns)
		fprintf(f, "notify=%s\n", ns);
	else
		fputs("notify\n", f);
	fprintf(f, "pid=%ld\nargc=%d\nsigign=%s\nfds=%s\n", (long)getpid(), argc, ign, fds);
	if (fclose(f) != 0) {
		perror("runner-probe: fclose");
		return 3;
	}
	const char *ex = getenv("RUNNER_PROBE_EXIT");
	return ex ? atoi(ex) : 0;
}
