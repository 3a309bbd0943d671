/* SPDX-License-Identifier: MIT */
/* What every libFuzzer target of tests/fuzz/ shares: the entry point and
 * CHECK(), which aborts (a finding) when what a parser returned breaks
 * its contract. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                           \
	do {                                                                               \
		if (!(x)) {                                                                \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x); \
			abort();                                                           \
		}                                                                          \
	} while (0)
