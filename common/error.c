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
		if (snprintf(e->verb, sizeof(e->verb), "%s", verb ? verb : "") >= (int)sizeof(e->verb))
			escaped_cut(e->verb, sizeof(e->verb));
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
		int k = vsnprintf(e->why, sizeof(e->why), fmt, ap);
		va_end(ap);
		/* Its values are escaped: a cut lands between escapes, marked. */
		if (k >= (int)sizeof(e->why))
			escaped_cut(e->why, sizeof(e->why));
	}
	return r;
}

void mvm_error_after(struct mvm_error *e, const char *fmt, ...)
{
	if (!e)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(e->after, sizeof(e->after), fmt, ap);
	va_end(ap);
	if (k >= (int)sizeof(e->after))
		escaped_cut(e->after, sizeof(e->after));
}

const char *mvm_error_reason(const struct mvm_error *e)
{
	if (e->why[0])
		return e->why;
	return e->reason ? e->reason : strerror(e->err ? e->err : EINVAL);
}

/* The message with path (escaped) as its object into buf; the length it
 * needs (without the NUL), as snprintf() returns it. */
static size_t format_with(const struct mvm_error *e, const char *path, char *buf, size_t size)
{
	char line[32] = "";
	if (e->line)
		snprintf(line, sizeof(line), " line %u", e->line);
	size_t n = 0;
	int k = snprintf(buf, size, "unable to %s '%s'%s%s: %s", e->verb[0] ? e->verb : "handle",
			 path, line, e->after, mvm_error_reason(e));
	n += k > 0 ? (size_t)k : 0;
	if (e->value[0]) {
		k = snprintf(n < size ? buf + n : NULL, n < size ? size - n : 0, ": '%s'", e->value);
		n += k > 0 ? (size_t)k : 0;
	}
	if (e->hint) {
		k = snprintf(n < size ? buf + n : NULL, n < size ? size - n : 0, " (%s)", e->hint);
		n += k > 0 ? (size_t)k : 0;
	}
	return n;
}

void mvm_error_format(const struct mvm_error *e, char *buf, size_t size)
{
	char path[sizeof(e->path) + 4];
	escape_text_cut(e->path, path, sizeof(path));
	size_t n = format_with(e, path, buf, size), pn = strlen(path);
	/* Too long with the whole path: the path is cut, not the reason, the
	 * value and the hint after it (a long escaped path must not push them
	 * out), as long as half of the line is left for it. */
	if (n >= size && size > 16 && pn > 8) {
		size_t rest = n - pn, room = rest + size / 2 < size ? size - rest : size / 2;
		if (room < pn) {
			escape_text_cut(e->path, path, room > 8 ? room : 8);
			n = format_with(e, path, buf, size);
		}
	}
	/* Still too long (its verb, after-text and reason): cut between
	 * escapes, as every part of it is escaped text, and marked. */
	if (n >= size)
		escaped_cut(buf, size);
}
