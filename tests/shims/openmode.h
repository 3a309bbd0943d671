/* SPDX-License-Identifier: MIT */
/* The mode argument of open(), open64() and openat() in a shim that
 * stands in for them: only when the flags ask for one (O_CREAT, or all
 * of O_TMPFILE's bits: O_TMPFILE holds O_DIRECTORY's, which alone asks
 * for none), else 0. Used in the variadic function itself, whose last
 * named parameter is flags. */
#pragma once

#include <fcntl.h>
#include <stdarg.h>
#include <sys/types.h>

#define OPEN_MODE(flags)                                                         \
	({                                                                       \
		mode_t mode_ = 0;                                                \
		if (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE) { \
			va_list ap_;                                             \
			va_start(ap_, flags);                                    \
			mode_ = va_arg(ap_, mode_t);                             \
			va_end(ap_);                                             \
		}                                                                \
		mode_;                                                           \
	})
