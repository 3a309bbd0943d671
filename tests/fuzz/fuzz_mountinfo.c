/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the mount table parser of common/vm.h, which reads
 * /proc/self/mountinfo to tell virtiofs from a user's FUSE mount (on_fuse()).
 * The first byte is the mount ID looked for ('b' is 98, as in the seeds),
 * the rest the table. It must not crash or read past the input; it
 * returns 1, 0, -EINVAL or -ENAMETOOLONG; a type it returns fits its
 * buffer, is one field that follows " - " in the input, and nothing is
 * written to the buffer otherwise.
 * Build: make fuzz; run: build/fuzz/fuzz-mountinfo tests/fuzz/corpus/mountinfo */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t len = size - 1;
	char *buf = malloc(len ? len : 1);
	char type[16 + 1];
	if (!buf)
		return 0;
	memcpy(buf, data + 1, len);
	memset(type, 'x', sizeof(type));
	int r = mountinfo_fstype(buf, len, data[0], type, sizeof(type) - 1);
	CHECK(r == 1 || r == 0 || r == -EINVAL || r == -ENAMETOOLONG);
	CHECK(type[sizeof(type) - 1] == 'x'); /* never past size */
	if (r == 1) {
		size_t n = strnlen(type, sizeof(type) - 1);
		CHECK(n > 0 && n < sizeof(type) - 1);
		CHECK(!strpbrk(type, " \n"));
		/* the field it came from is in the input */
		char field[sizeof(type) + 8];
		snprintf(field, sizeof(field), " - %s ", type);
		CHECK(memmem(buf, len, field, strlen(field)) != NULL);
	} else {
		for (size_t i = 0; i < sizeof(type); i++)
			CHECK(type[i] == 'x');
	}
	free(buf);
	return 0;
}
