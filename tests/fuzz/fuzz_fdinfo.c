/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the fdinfo parser of tap-setup's held check
 * (common/procfd.h), which reads /proc/PID/fdinfo/FD of every process's
 * /dev/net/tun descriptors. It must not crash or read past the input,
 * and a name it returns is one the kernel could print: at most 15 bytes,
 * NUL-terminated, without '/', ':' or white space.
 * Build: make fuzz; run: build/fuzz/fuzz-fdinfo tests/fuzz/corpus/fdinfo */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "procfd.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	char name[IFNAMSIZ + 1];
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	memset(name, 'x', sizeof(name));
	int r = fdinfo_iff(buf, size, name);
	CHECK(r == 1 || r == 0 || r == -EINVAL);
	CHECK(name[IFNAMSIZ] == 'x'); /* never past IFNAMSIZ */
	if (r == 1) {
		size_t n = strnlen(name, IFNAMSIZ);
		CHECK(n < IFNAMSIZ);
		for (size_t i = 0; i < n; i++)
			CHECK(name[i] != '/' && name[i] != ':' && !isspace((unsigned char)name[i]));
		CHECK(strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
		/* the line it came from is in the input */
		char line[IFNAMSIZ + 8];
		snprintf(line, sizeof(line), "iff:\t%s", name);
		CHECK(memmem(buf, size, line, strlen(line)) != NULL);
	}
	free(buf);
	return 0;
}
