/* SPDX-License-Identifier: MIT */
/* vfs-fake-virtiofsd: a stand-in for virtiofsd in the virtiofs suite, for
 * the Rust command line (Debian 12 ships only QEMU's C virtiofsd) and for
 * failures the real one cannot be made to show.
 *
 *   --help   prints a help text like the Rust virtiofsd's (or the C one's
 *            with $VFS_FAKE_HELP=c, or none of either with =none), exit 0;
 *            the binary itself holds neither "shared-dir" nor "source="
 *            (written here with '~' for '-' and '^' for '=', put right at
 *            run time), so the launcher must run --help to tell;
 *            with $VFS_FAKE_HELP_SLEEP_MS=N it first writes the SigBlk
 *            line of its /proc/self/status to $VFS_FAKE_DIR/help.sigblk
 *            and sleeps N ms (a launcher slow to set up); run with
 *            NOTIFY_SOCKET set (which it should not be), it writes its
 *            value to $VFS_FAKE_DIR/help.notify
 *   else     writes its argv, NUL-separated, to $VFS_FAKE_DIR/PID.argv;
 *            refuses an argument --fake-refuse as virtiofsd does one it
 *            does not know (a share's bad extra-args): prints "fake:
 *            unknown argument '--fake-refuse'", exits 2;
 *            takes the shared dir from --shared-dir=DIR or -o source=DIR;
 *            then by what that dir holds:
 *              .fake-fail      prints "fake: failing", exits 1
 *              .fake-nolisten  never accepts; waits for a signal
 *              .fake-talk      prints "fake: one" ended by "\r\n", a
 *                              line of 300 'x' then "END", and "fake:
 *                              last words" with no newline, exits 1
 *              .fake-exit0     never accepts; prints "fake: exiting
 *                              without a client", exits 0 (a broken
 *                              daemon)
 *              .fake-term-late as the C virtiofsd between setting its
 *                              SIGTERM handler (no SA_RESTART: it
 *                              notes the signal) and calling accept():
 *                              writes $VFS_FAKE_DIR/PID.starting, waits
 *                              (at most 10 s) until a SIGTERM is noted,
 *                              prints "fake: SIGTERM noted while
 *                              starting", then accepts as below; an
 *                              accept() a signal interrupts fails
 *              .fake-term-slow with .fake-term-late: once a SIGTERM
 *                              is noted, goes on starting for 500 ms
 *                              more (noting those that come), prints
 *                              "fake: started", then accepts
 *              .fake-term-ignore  ignores SIGTERM, writes
 *                              $VFS_FAKE_DIR/PID.ignoring, then accepts
 *                              as below
 *              otherwise       accepts one client on the listening socket
 *                              --fd=N (or listens on --socket-path=PATH
 *                              itself, removing what is there, as
 *                              virtiofsd does), writes
 *                              $VFS_FAKE_DIR/PID.serving, serves it until
 *                              it leaves, exits 0. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t term_noted;

static void note_term(int sig)
{
	(void)sig;
	term_noted = 1;
}

/* Touch $VFS_FAKE_DIR/PID.NAME (a test waits for it). */
static void mark(const char *name)
{
	const char *dir = getenv("VFS_FAKE_DIR");
	char p[PATH_MAX];
	if (!dir)
		return;
	snprintf(p, sizeof(p), "%s/%d.%s", dir, (int)getpid(), name);
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}

static const char rust_help[] =
	"virtiofsd backend\n\n"
	"Usage: virtiofsd [OPTIONS]\n\n"
	"Options:\n"
	"      --shared~dir <shared~dir>  Shared directory path\n"
	"      --socket-path <socket-path>  vhost-user socket path\n"
	"      --socket-group <socket-group>  Name of group for the vhost-user socket\n"
	"      --fd <FD>  File descriptor for the listening (not yet connected) socket\n"
	"      --thread-pool-size <thread-pool-size>  Maximum thread pool size [default: 0]\n"
	"      --xattr  Enable support for extended attributes\n"
	"      --posix-acl  Enable support for posix ACLs (implies --xattr)\n"
	"      --rlimit-nofile <rlimit-nofile>  Set maximum number of file descriptors\n"
	"  -h, --help  Print help\n"
	"  -V, --version  Print version\n";

static const char c_help[] = "usage: virtiofsd [options]\n"
			     "    -o source^PATH             shared directory tree\n"
			     "    --socket-path=PATH         path for the vhost-user socket\n";

/* Note the signal mask it was started with, then sleep ms. */
static void help_slowly(int ms)
{
	const char *dir = getenv("VFS_FAKE_DIR");
	FILE *in = fopen("/proc/self/status", "re");
	char line[256], p[PATH_MAX];
	FILE *out = NULL;
	if (dir) {
		snprintf(p, sizeof(p), "%s/help.sigblk", dir);
		out = fopen(p, "we");
	}
	while (in && out && fgets(line, sizeof(line), in))
		if (strncmp(line, "SigBlk:", 7) == 0)
			fputs(line, out);
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int has(const char *dir, const char *name)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		const char *h = getenv("VFS_FAKE_HELP");
		const char *slow = getenv("VFS_FAKE_HELP_SLEEP_MS");
		if (slow)
			help_slowly(atoi(slow));
		const char *ns = getenv("NOTIFY_SOCKET"), *dir = getenv("VFS_FAKE_DIR");
		if (ns && dir) {
			char p[PATH_MAX];
			snprintf(p, sizeof(p), "%s/help.notify", dir);
			FILE *out = fopen(p, "we");
			if (out) {
				fputs(ns, out);
				fclose(out);
			}
		}
		const char *t = h && strcmp(h, "c") == 0    ? c_help
				: h && strcmp(h, "none") == 0 ? "some other program\n"
							      : rust_help;
		for (; *t; t++)
			putchar(*t == '~' ? '-' : *t == '^' ? '=' : *t);
		return 0;
	}
	const char *dir = getenv("VFS_FAKE_DIR");
	if (dir) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%d.argv", dir, (int)getpid());
		FILE *f = fopen(p, "we");
		if (!f) {
			perror("fake: argv file");
			return 3;
		}
		for (int i = 0; i < argc; i++)
			fwrite(argv[i], 1, strlen(argv[i]) + 1, f);
		fclose(f);
	}
	const char *socket_path = NULL, *shared = NULL;
	int fd = -1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--fake-refuse") == 0) {
			fprintf(stderr, "fake: unknown argument '%s'\n", argv[i]);
			return 2;
		}
		if (strncmp(argv[i], "--socket-path=", 14) == 0)
			socket_path = argv[i] + 14;
		else if (strncmp(argv[i], "--fd=", 5) == 0)
			fd = atoi(argv[i] + 5);
		else if (strncmp(argv[i], "--shared", 8) == 0 && strncmp(argv[i] + 8, "-dir=", 5) == 0)
			shared = argv[i] + 13;
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc &&
			 strncmp(argv[i + 1], "source", 6) == 0 && argv[i + 1][6] == '=')
			shared = argv[++i] + 7; /* (no unescaping: tests avoid ',') */
	}
	if ((!socket_path && fd < 0) || !shared) {
		fputs("fake: --socket-path or --fd, and a shared dir are needed\n", stderr);
		return 2;
	}
	if (has(shared, ".fake-fail")) {
		fputs("fake: failing\n", stderr);
		return 1;
	}
	if (has(shared, ".fake-talk")) {
		fputs("fake: one\r\n", stderr);
		for (int i = 0; i < 300; i++)
			fputc('x', stderr);
		fputs("END\nfake: last words", stderr);
		return 1;
	}
	if (has(shared, ".fake-exit0")) {
		fputs("fake: exiting without a client\n", stderr);
		return 0;
	}
	if (has(shared, ".fake-nolisten")) {
		fputs("fake: not accepting\n", stderr);
		for (;;)
			pause();
	}
	if (has(shared, ".fake-term-ignore")) {
		signal(SIGTERM, SIG_IGN);
		mark("ignoring");
	}
	if (has(shared, ".fake-term-late")) {
		struct sigaction sa = {.sa_handler = note_term}; /* (sa_flags 0) */
		sigaction(SIGTERM, &sa, NULL);
		mark("starting");
		for (int i = 0; i < 1000 && !term_noted; i++)
			nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
		if (term_noted)
			fputs("fake: SIGTERM noted while starting\n", stderr);
		if (term_noted && has(shared, ".fake-term-slow")) {
			/* (still starting: what comes now is noted as well) */
			struct timespec end;
			clock_gettime(CLOCK_MONOTONIC, &end);
			end.tv_nsec += 500000000L;
			end.tv_sec += end.tv_nsec / 1000000000L;
			end.tv_nsec %= 1000000000L;
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) == EINTR)
				;
			fputs("fake: started\n", stderr);
		}
	}
	if (fd >= 0) {
		fprintf(stderr, "fake: accepting on fd %d\n", fd);
	} else {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		unlink(socket_path);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(fd, 1) < 0) {
			perror("fake: listen");
			return 1;
		}
		fprintf(stderr, "fake: listening on %s\n", socket_path);
	}
	int c = accept(fd, NULL, NULL);
	if (c < 0) {
		perror("fake: accept");
		return 1;
	}
	close(fd);
	mark("serving");
	char buf[256];
	while (read(c, buf, sizeof(buf)) > 0)
		;
	fputs("fake: client left\n", stderr);
	return 0;
}
