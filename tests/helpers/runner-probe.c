/* SPDX-License-Identifier: MIT */
/* runner-probe: a stand-in for a runner's bin/microvm-run in the runner
 * suite. It writes what runner-exec handed it, one "key=value" a line, to
 * $RUNNER_PROBE_OUT:
 *   argv0=...  cwd=...  notify=... (or "notify" unset)  pid=...  argc=...
 * and exits with $RUNNER_PROBE_EXIT (default 0). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *out = getenv("RUNNER_PROBE_OUT");
	if (!out) {
		fputs("runner-probe: RUNNER_PROBE_OUT not set\n", stderr);
		return 3;
	}
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
	fprintf(f, "pid=%ld\nargc=%d\n", (long)getpid(), argc);
	if (fclose(f) != 0) {
		perror("runner-probe: fclose");
		return 3;
	}
	const char *ex = getenv("RUNNER_PROBE_EXIT");
	return ex ? atoi(ex) : 0;
}
