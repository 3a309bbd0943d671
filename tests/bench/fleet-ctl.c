/* SPDX-License-Identifier: MIT */
/* fleet-ctl: the fleet bench's probe, run inside the systemd container.
 *
 *   fleet-ctl time CMD ARGS...
 *       prints "T0 T1 STATUS": CLOCK_MONOTONIC in microseconds (the clock
 *       of systemd's *TimestampMonotonic properties) just before CMD is
 *       spawned and just after it is reaped, and its exit status
 *   fleet-ctl mem UNIT_PREFIX... [-x COMM]...
 *       the helper processes that stay resident: every process whose
 *       unit (from its name=systemd or unified cgroup path) starts with
 *       one of the UNIT_PREFIXes, except those named COMM (the daemons
 *       and the runner, which every variant has alike). Prints
 *       "rss_kib=N", "pss_kib=N", "procs=N" and "detail=COMM:KIB,..."
 *       (VmRSS summed; PSS from smaps_rollup, which shares a library's
 *       pages among the processes that map it)
 *   fleet-ctl left [-w SECONDS] [-i IFPREFIX] [-f DIR] [-c COMM]... [-s SOCKET]...
 *       what is left: interfaces named IFPREFIX..., regular files below
 *       DIR (records; not the VMs' lock files, NAME.lock, which stay),
 *       processes named COMM, SOCKETs that accept a
 *       connection. Prints one line per
 *       leftover; exit 0 when there is none, 1 otherwise. With -w: look
 *       every 2 ms until nothing is left, then print "clean_us=T" (the
 *       monotonic time in microseconds) and exit 0; after SECONDS print
 *       what is left and exit 1
 * Exit 2 on a usage error. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <net/if.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static int usage(void)
{
	fputs("usage: fleet-ctl time CMD... | mem UNIT_PREFIX... [-x COMM]... |"
	      " left [-w S] [-i IFPREFIX] [-f DIR] [-c COMM]... [-s SOCKET]...\n",
	      stderr);
	return 2;
}

static int do_time(char **cmd)
{
	pid_t pid;
	long long t0 = now_us();
	int r = posix_spawnp(&pid, cmd[0], NULL, NULL, cmd, environ);
	if (r != 0) {
		fprintf(stderr, "fleet-ctl: unable to spawn '%s': %s\n", cmd[0], strerror(r));
		return 1;
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	long long t1 = now_us();
	printf("%lld %lld %d\n", t0, t1, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}

/* Read a small file into buf; length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

static void comm_of(const char *pid, char *comm, size_t size)
{
	char path[300];
	snprintf(path, sizeof(path), "/proc/%s/comm", pid);
	comm[0] = '\0';
	if (slurp(path, comm, size) > 0)
		comm[strcspn(comm, "\n")] = '\0';
}

/* The unit of a process: the last component of its systemd cgroup path
 * that ends in ".service" (name=systemd on a hybrid host, else 0::). */
static bool unit_of(const char *pid, char *unit, size_t size)
{
	char path[300], buf[4096];
	snprintf(path, sizeof(path), "/proc/%s/cgroup", pid);
	if (slurp(path, buf, sizeof(buf)) <= 0)
		return false;
	char *save = NULL;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *p = strstr(l, ":name=systemd:");
		if (p)
			p += strlen(":name=systemd:");
		else if (!strncmp(l, "0::", 3))
			p = l + 3;
		else
			continue;
		char *best = NULL;
		for (char *c = strtok(p, "/"); c; c = strtok(NULL, "/")) {
			size_t cl = strlen(c);
			if (cl > 8 && !strcmp(c + cl - 8, ".service"))
				best = c;
		}
		if (best) {
			snprintf(unit, size, "%s", best);
			return true;
		}
	}
	return false;
}

static long field_kib(const char *path, const char *key)
{
	char buf[8192];
	if (slurp(path, buf, sizeof(buf)) <= 0)
		return 0;
	char *p = strstr(buf, key);
	return p ? atol(p + strlen(key)) : 0;
}

static int do_mem(int argc, char **argv)
{
	const char *prefix[64], *excl[64];
	int np = 0, nx = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-x") && i + 1 < argc && nx < 64)
			excl[nx++] = argv[++i];
		else if (argv[i][0] != '-' && np < 64)
			prefix[np++] = argv[i];
		else
			return usage();
	}
	DIR *d = opendir("/proc");
	if (!d)
		return 1;
	long rss = 0, pss = 0;
	int procs = 0;
	char detail[4096] = "";
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char unit[256], comm[64], path[300];
		if (!unit_of(de->d_name, unit, sizeof(unit)))
			continue;
		bool match = false;
		for (int k = 0; k < np && !match; k++)
			match = !strncmp(unit, prefix[k], strlen(prefix[k]));
		if (!match)
			continue;
		comm_of(de->d_name, comm, sizeof(comm));
		bool skip = false;
		for (int k = 0; k < nx && !skip; k++)
			skip = !strcmp(comm, excl[k]);
		if (skip)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", de->d_name);
		long r = field_kib(path, "VmRSS:");
		if (r == 0)
			continue; /* a kernel thread or gone */
		snprintf(path, sizeof(path), "/proc/%s/smaps_rollup", de->d_name);
		long p = field_kib(path, "\nPss:");
		rss += r;
		pss += p;
		procs++;
		size_t l = strlen(detail);
		if (l < sizeof(detail) - 80)
			snprintf(detail + l, sizeof(detail) - l, "%s%s:%ld", l ? " " : "", comm, r);
	}
	closedir(d);
	printf("rss_kib=%ld\npss_kib=%ld\nprocs=%d\ndetail=%s\n", rss, pss, procs, detail);
	return 0;
}

struct left {
	const char *ifprefix, *files, *comms[64], *socks[1024];
	int nc, ns;
};

static int nfiles;
static bool loud_files;

static int count_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	/* RUNTIME/NAME.lock stays by design (common/lock.h): a lock file is
	 * not a record. */
	size_t n = strlen(path);
	if (type == FTW_F && !(n > 5 && strcmp(path + n - 5, ".lock") == 0)) {
		if (loud_files)
			printf("file %s\n", path);
		nfiles++;
	}
	return 0;
}

/* Count what is left; print each leftover when loud. */
static int count_left(const struct left *w, bool loud)
{
	int left = 0;
	if (w->ifprefix) {
		struct if_nameindex *l = if_nameindex();
		for (struct if_nameindex *p = l; p && p->if_index; p++)
			if (!strncmp(p->if_name, w->ifprefix, strlen(w->ifprefix))) {
				if (loud)
					printf("interface %s\n", p->if_name);
				left++;
			}
		if (l)
			if_freenameindex(l);
	}
	if (w->nc) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (!isdigit((unsigned char)de->d_name[0]) || atoi(de->d_name) == getpid())
				continue;
			char comm[64];
			comm_of(de->d_name, comm, sizeof(comm));
			for (int k = 0; k < w->nc; k++)
				if (!strcmp(comm, w->comms[k])) {
					if (loud)
						printf("process %s %s\n", de->d_name, comm);
					left++;
				}
		}
		if (d)
			closedir(d);
	}
	if (w->files) {
		nfiles = 0;
		loud_files = loud;
		nftw(w->files, count_file, 16, FTW_PHYS);
		left += nfiles;
	}
	for (int k = 0; k < w->ns; k++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", w->socks[k]);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			if (loud)
				printf("listening socket %s\n", w->socks[k]);
			left++;
		}
		if (fd >= 0)
			close(fd);
	}
	return left;
}

static int do_left(int argc, char **argv)
{
	struct left w = { 0 };
	double wait_s = -1;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-i") && i + 1 < argc)
			w.ifprefix = argv[++i];
		else if (!strcmp(argv[i], "-c") && i + 1 < argc && w.nc < 64)
			w.comms[w.nc++] = argv[++i];
		else if (!strcmp(argv[i], "-s") && i + 1 < argc && w.ns < 1024)
			w.socks[w.ns++] = argv[++i];
		else if (!strcmp(argv[i], "-f") && i + 1 < argc)
			w.files = argv[++i];
		else if (!strcmp(argv[i], "-w") && i + 1 < argc)
			wait_s = atof(argv[++i]);
		else
			return usage();
	}
	if (wait_s < 0)
		return count_left(&w, true) ? 1 : 0;
	long long end = now_us() + (long long)(wait_s * 1e6);
	while (count_left(&w, false)) {
		if (now_us() > end) {
			count_left(&w, true);
			return 1;
		}
		struct timespec t = { 0, 2000000 };
		nanosleep(&t, NULL);
	}
	printf("clean_us=%lld\n", now_us());
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && !strcmp(argv[1], "time"))
		return do_time(argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "mem"))
		return do_mem(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "left"))
		return do_left(argc - 2, argv + 2);
	return usage();
}
