/* SPDX-License-Identifier: MIT */
#include "error.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int mvm_error_set(struct mvm_error *e, int err, const char *verb, const char *path,
		  const char *reason)
{
	if (err < 0)
		err = -err;
	if (e) {
		memset(e, 0, sizeof(*e));
		e->err = err;
		snprintf(e->verb, sizeof(e->verb), "%s", verb ? verb : "");
		snprintf(e->path, sizeof(e->path), "%s", path ? path : "");
		e->reason = reason;
	}
	return err ? -err : -EINVAL;
}

int mvm_error_setf(struct mvm_error *e, int err, const char *verb, const char *path,
		   const char *fmt, ...)
{
	int r = mvm_error_set(e, err, verb, path, NULL);
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->why, sizeof(e->why), fmt, ap);
		va_end(ap);
	}
	return r;
}

void mvm_error_after(struct mvm_error *e, const char *fmt, ...)
{
	if (!e)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->after, sizeof(e->after), fmt, ap);
	va_end(ap);
}

const char *mvm_error_reason(const struct mvm_error *e)
{
	if (e->why[0])
		return e->why;
	return e->reason ? e->reason : strerror(e->err ? e->err : EINVAL);
}

void mvm_error_format(const struct mvm_error *e, char *buf, size_t size)
{
	char line[32] = "";
	if (e->line)
		snprintf(line, sizeof(line), " line %u", e->line);
	const char *why = mvm_error_reason(e);
	/* Cut (at a character, never in an escape) to leave half of buf for
	 * the rest: a long escaped path must not push the reason out. */
	char path[sizeof(e->path)] = "";
	escape_text(e->path, path, size / 2 < sizeof(path) ? size / 2 : sizeof(path));
	int n = snprintf(buf, size, "unable to %s '%s'%s%s: %s", e->verb[0] ? e->verb : "handle",
			 path, line, e->after, why);
	if (n < 0 || (size_t)n >= size)
		return;
	if (e->value[0])
		n += snprintf(buf + n, size - (size_t)n, ": '%s'", e->value);
	if (e->hint && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " (%s)", e->hint);
}
