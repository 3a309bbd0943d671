/* SPDX-License-Identifier: MIT */
/* LD_PRELOAD shim for the soak test (tests/soak/run): when the program
 * exits, append one line to $PROCSTAT_FILE with what it still held then:
 *   fds=N hwm_kib=N rss_kib=N [FD=TARGET ...]
 * (descriptors the program opened and still held at exit, from
 * /proc/self/fd: those open before main() are not counted; VmHWM
 * and VmRSS from /proc/self/status). A leak shows as a count that grows
 * from one run to the next. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Descriptors open before main(): inherited, not the program's. */
static unsigned long long inherited[1024 / 64];

static void mark(int fd)
{
	if (fd >= 0 && fd < 1024)
		inherited[fd / 64] |= 1ULL << (fd % 64);
}

static int was_inherited(int fd)
{
	return fd >= 0 && fd < 1024 && (inherited[fd / 64] >> (fd % 64)) & 1;
}

__attribute__((constructor)) static void procstat_start(void)
{
	DIR *d = opendir("/proc/self/fd");
	int own = d ? dirfd(d) : -1;
	for (struct dirent *de; d && (de = readdir(d));)
		if (de->d_name[0] != '.' && atoi(de->d_name) != own)
			mark(atoi(de->d_name));
	if (d)
		closedir(d);
}

static long status_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

__attribute__((destructor)) static void procstat_report(void)
{
	const char *file = getenv("PROCSTAT_FILE");
	if (!file || !*file)
		return;
	long hwm = status_kib("VmHWM"), rss = status_kib("VmRSS");
	int out = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (out < 0)
		return;
	DIR *d = opendir("/proc/self/fd");
	int fds = 0, own = d ? dirfd(d) : -1;
	char what[512] = "";
	size_t w = 0;
	for (struct dirent *de; d && (de = readdir(d));) {
		int fd = atoi(de->d_name);
		char link[64], target[128];
		if (de->d_name[0] == '.' || was_inherited(fd) || fd == own || fd == out)
			continue;
		fds++;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		int k = snprintf(what + w, sizeof(what) - w, " %d=%s", fd, target);
		if (k > 0 && (size_t)k < sizeof(what) - w)
			w += (size_t)k;
	}
	if (d)
		closedir(d);
	dprintf(out, "fds=%d hwm_kib=%ld rss_kib=%ld%s\n", fds, hwm, rss, what);
	close(out);
}
