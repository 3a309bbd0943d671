/* SPDX-License-Identifier: MIT */
#include "unixsock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SO_ACCEPTCON_FLAG 0x10000UL

/* One line (without its newline) after the header. */
static void unix_line(const char *l, size_t n, unix_listener_fn *fn, void *ud)
{
	const char *end = l + n;
	unsigned long flags = 0;
	/* Seven fields, each after blanks; Flags is the fourth, in hex. */
	for (int f = 0; f < 7; f++) {
		while (l < end && *l == ' ')
			l++;
		const char *w = l;
		while (l < end && *l != ' ')
			l++;
		if (l == w)
			return;
		if (f == 3) {
			flags = 0;
			for (const char *c = w; c < l; c++) {
				int d = *c >= '0' && *c <= '9'	 ? *c - '0'
					: *c >= 'a' && *c <= 'f' ? *c - 'a' + 10
					: *c >= 'A' && *c <= 'F' ? *c - 'A' + 10
								 : -1;
				if (d < 0 || flags > (~0UL >> 4))
					return;
				flags = flags * 16 + (unsigned long)d;
			}
		}
	}
	/* One blank, then the path (which may begin with a blank itself). */
	if ((flags & SO_ACCEPTCON_FLAG) && l + 1 < end && *l == ' ')
		fn(l + 1, (size_t)(end - l - 1), ud);
}

/* The complete lines of buf; *header is cleared after the first one.
 * Returns how many bytes were used. */
static size_t lines(const char *buf, size_t len, bool *header, unix_listener_fn *fn, void *ud)
{
	const char *p = buf, *end = buf + len, *nl;
	while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
		if (!*header)
			unix_line(p, (size_t)(nl - p), fn, ud);
		*header = false;
		p = nl + 1;
	}
	return (size_t)(p - buf);
}

void unix_parse(const char *buf, size_t len, unix_listener_fn *fn, void *ud)
{
	bool header = true;
	size_t used = lines(buf, len, &header, fn, ud);
	if (used < len && !header) /* a last line without its newline */
		unix_line(buf + used, len - used, fn, ud);
}

int unix_listeners(const char *file, unix_listener_fn *fn, void *ud)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[4096];
	size_t len = 0;
	bool header = true, skip = false;
	int r = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		len += (size_t)n;
		size_t used;
		if (skip) { /* the rest of a line too long for any socket */
			const char *nl = memchr(buf, '\n', len);
			used = nl ? (size_t)(nl - buf) + 1 : len;
			skip = !nl;
		} else {
			used = lines(buf, len, &header, fn, ud);
			if (used == 0 && len == sizeof(buf)) {
				skip = true;
				used = len;
			}
		}
		len -= used;
		memmove(buf, buf + used, len);
		if (n == 0 && used == 0) { /* the end: a last line without newline */
			if (len > 0 && !header && !skip)
				unix_line(buf, len, fn, ud);
			break;
		}
	}
	close(fd);
	return r;
}

struct want {
	const char *path;
	size_t len;
	bool found;
};

static void match(const char *path, size_t len, void *ud)
{
	struct want *w = ud;
	if (len == w->len && memcmp(path, w->path, len) == 0)
		w->found = true;
}

int unix_listening(const char *file, const char *path)
{
	struct want w = {path, strlen(path), false};
	int r = unix_listeners(file, match, &w);
	return r < 0 ? r : w.found;
}
