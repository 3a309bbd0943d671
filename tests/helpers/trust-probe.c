/* SPDX-License-Identifier: MIT */
/* trust-probe: one of common/vm.h's checks of a path, in a program of its
 * own, so that a test can preload a shim into it (tests/shims/gate.so):
 *   trust-probe fuse PATH    prints on_fuse(PATH, -1): "1", "0" or "-ERRNO"
 *   trust-probe check PATH   prints trust_check(PATH): "0", or "-ERRNO"
 *                            and the error on the next line
 * Exit 0 when it printed, 2 on a usage error. */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "vm.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fputs("usage: trust-probe fuse|check PATH\n", stderr);
		return 2;
	}
	if (strcmp(argv[1], "fuse") == 0) {
		printf("%d\n", on_fuse(argv[2], -1));
		return 0;
	}
	if (strcmp(argv[1], "check") == 0) {
		struct mvm_error e;
		memset(&e, 0, sizeof(e));
		int r = trust_check(argv[2], &e);
		char buf[1024] = "";
		if (r < 0)
			mvm_error_format(&e, buf, sizeof(buf));
		printf("%d\n%s\n", r, buf);
		return 0;
	}
	fputs("usage: trust-probe fuse|check PATH\n", stderr);
	return 2;
}
