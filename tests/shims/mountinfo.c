/* SPDX-License-Identifier: MIT */
/* mountinfo.so: an LD_PRELOAD shim that shows the program its own mount
 * table with one mount's type changed, so a test can make a FUSE mount
 * (bindfs) look like virtiofs to the helpers' on_fuse() (common/vm.h).
 * virtiofs is the guest's side of a share: no mount of it can be made on
 * a machine that is no VM of a virtiofs host, which these are not. No
 * test hooks in the product code: the program runs unchanged, and reads
 * the kernel's table of its own mount namespace (the launcher's is a copy
 * with mount IDs of its own), changed on the way.
 *
 *   MOUNTINFO_AT=PATH    the mount point, as the table writes it
 *   MOUNTINFO_TYPE=TYPE  the type shown for every mount on PATH
 *
 * An open() of "/proc/self/mountinfo" (that very string) then gives a
 * memfd with the changed table. Both variables are taken out of the
 * environment at load (no child sees them). Built without sanitizers. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "openmode.h"

static char *at, *type;

__attribute__((constructor)) static void mountinfo_init(void)
{
	const char *a = getenv("MOUNTINFO_AT"), *t = getenv("MOUNTINFO_TYPE");
	if (a && *a && t && *t) {
		at = strdup(a);
		type = strdup(t);
	}
	unsetenv("MOUNTINFO_AT");
	unsetenv("MOUNTINFO_TYPE");
}

/* Write line (without its newline) to f, the type changed when its
 * mount point (the fifth field) is at. */
static void put_line(FILE *f, const char *line)
{
	const char *p = line;
	for (int i = 0; i < 4 && p; i++)
		if ((p = strchr(p, ' ')))
			p++;
	size_t n = p ? strcspn(p, " ") : 0;
	const char *sep = p ? strstr(p, " - ") : NULL;
	if (!sep || n != strlen(at) || strncmp(p, at, n) != 0) {
		fprintf(f, "%s\n", line);
		return;
	}
	const char *t = sep + 3;
	fprintf(f, "%.*s%s%s\n", (int)(t - line), line, type, t + strcspn(t, " "));
}

/* The changed table in a memfd at offset 0, or -1. */
static int changed(int (*real)(const char *, int, ...), int fl)
{
	int in = real("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	FILE *src = in >= 0 ? fdopen(in, "r") : NULL;
	int out = memfd_create("mountinfo", (fl & O_CLOEXEC) ? MFD_CLOEXEC : 0);
	FILE *dst = out >= 0 ? fdopen(dup(out), "w") : NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t k;
	while (src && dst && (k = getline(&line, &cap, src)) > 0) {
		if (line[k - 1] == '\n')
			line[k - 1] = '\0';
		put_line(dst, line);
	}
	free(line);
	int ok = src && dst && !ferror(src);
	if (dst && fclose(dst) != 0)
		ok = 0;
	if (src)
		fclose(src);
	else if (in >= 0)
		close(in);
	if (!ok || lseek(out, 0, SEEK_SET) < 0) {
		if (out >= 0)
			close(out);
		return -1;
	}
	return out;
}

int open(const char *p, int fl, ...)
{
	static int (*real)(const char *, int, ...);
	if (!real)
		real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	mode_t m = OPEN_MODE(fl);
	if (at && strcmp(p, "/proc/self/mountinfo") == 0)
		return changed(real, fl);
	return real(p, fl, m);
}
