/* SPDX-License-Identifier: MIT */
/* What went wrong, for the one log line main() prints.
 *
 * Library functions return 0 or -errno and, when they can say more than
 * errno does (which path, which line of which file, which value), fill a
 * struct mvm_error. main() passes it to log_error_info(). */
#pragma once

#include <limits.h>
#include <stddef.h>

struct mvm_error {
	int err;	    /* errno value, or 0 when reason says it all */
	const char *verb;   /* "read", "parse", "trust", "resolve", ... */
	char path[PATH_MAX]; /* the object: a path (or an interface, ...) */
	unsigned line;	    /* 1-based line in path, 0 when not about a line */
	char value[128];    /* the offending value, escaped, "" if none */
	const char *reason; /* static text, used instead of strerror(err) */
	char why[192];	    /* a reason built at run time (mvm_error_setf), before reason */
	const char *hint;   /* optional static advice, e.g. "--allow-untrusted" */
};

/* Fill e (may be NULL); returns -err (or -EINVAL when err is 0). */
int mvm_error_set(struct mvm_error *e, int err, const char *verb, const char *path,
		  const char *reason);
/* The same with a reason formatted into e->why (copies of e keep it). */
int mvm_error_setf(struct mvm_error *e, int err, const char *verb, const char *path,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The reason alone: e->why, else e->reason, else strerror(e->err). */
const char *mvm_error_reason(const struct mvm_error *e);
/* Format the message "unable to VERB 'PATH'[ line N]: REASON[: 'VALUE']". */
void mvm_error_format(const struct mvm_error *e, char *buf, size_t size);
