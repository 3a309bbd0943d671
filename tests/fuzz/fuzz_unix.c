/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the /proc/net/unix parser of common/unixsock.h, on
 * a buffer and (the same bytes) through a file read a piece at a time. It
 * must not crash, leak or hit undefined behaviour; each path it reports
 * lies inside the input, holds no newline, and both ways agree.
 * Build: make fuzz; run: build/fuzz/fuzz-unix tests/fuzz/corpus/unix */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "unixsock.h"


struct seen {
	const char *buf;
	size_t len;
	unsigned long n, sum; /* how many, and a sum of their bytes */
};

static void listener(const char *path, size_t len, void *ud)
{
	struct seen *s = ud;
	CHECK(len > 0);
	if (s->buf)
		CHECK(path >= s->buf && path + len <= s->buf + s->len);
	CHECK(memchr(path, '\n', len) == NULL);
	s->n++;
	for (size_t i = 0; i < len; i++)
		s->sum += (unsigned char)path[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1); /* exact size: overreads are caught */
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	struct seen a = {buf, size, 0, 0};
	unix_parse(buf, size, listener, &a);
	/* The file reader sees the same (lines longer than its buffer aside:
	 * only when every line is short). */
	char tmpl[] = "/tmp/fuzz-unix.XXXXXX";
	int fd = mkstemp(tmpl);
	if (fd >= 0) {
		if (write(fd, buf, size) == (ssize_t)size) {
			struct seen b = {NULL, 0, 0, 0};
			CHECK(unix_listeners(tmpl, listener, &b) == 0);
			size_t longest = 0, cur = 0;
			for (size_t i = 0; i < size; i++) {
				cur = buf[i] == '\n' ? 0 : cur + 1;
				longest = cur > longest ? cur : longest;
			}
			if (longest < 4000)
				CHECK(a.n == b.n && a.sum == b.sum);
		}
		close(fd);
		unlink(tmpl);
	}
	free(buf);
	return 0;
}
