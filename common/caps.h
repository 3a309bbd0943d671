/* SPDX-License-Identifier: MIT */
/* The capability sets of this process (capget/capset, no libcap). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define CAP_BIT(c) (1ULL << (c))

struct caps {
	uint64_t eff, prm, inh;
};

/* 0 or -errno. */
int caps_get(struct caps *c);
int caps_set(const struct caps *c);

/* Is cap in the effective set? false when it cannot be read. */
bool cap_effective(int cap);
