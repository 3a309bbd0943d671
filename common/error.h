/* SPDX-License-Identifier: MIT */
/* What went wrong, and who says so.
 *
 * The rule: an error is logged once, by the code that decides what
 * happens next. Everything below it returns -errno (or the tool's own
 * negative code) and fills a struct mvm_error: what it was doing (verb),
 * on what (object), why (errno, or a reason), and for bad input the file,
 * line and value.
 *  - A verb's run that ends on an error: its main (or the verb's top
 *    function, one per verb) logs it with log_error_info(), once, and
 *    exits 1.
 *  - A loop that goes on after a failure (a rollback, an unbind that gives
 *    the other devices back, virtiofs-launch's supervisor restarting a
 *    daemon, runner-exec status over several VMs) logs that failure where
 *    it goes on. log_error_info() marks it reported, and a reported error
 *    is never logged again: the run's end may return it as its result.
 *  - common/ never logs above debug. The one exception is the command
 *    line: cli_parse(), cli_usage_error() and a tool's option handlers
 *    print what is wrong with it themselves and end the program, with
 *    status 2 (a usage error), before there is a verb.
 *  - Warnings and notices about what a run leaves alone or does (a device
 *    that is gone, an index reused, "giving X back") are logged where
 *    they are noticed.
 *
 * One message shape, made by mvm_error_format() alone:
 *   unable to VERB 'OBJECT'[ line N][AFTER]: REASON[: 'VALUE'][ (HINT)]
 * e.g. "unable to bind '0000:02:00.0' to vfio-pci: the driver did not take
 * it (driver now: none)", with AFTER " to vfio-pci". */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct mvm_error {
	int err;	     /* errno value, or 0 when reason says it all */
	char verb[192];	     /* "read", "parse", "use IOMMU group 5 of", ...: copied */
	char path[PATH_MAX]; /* the object: a path (or an interface, ...) */
	unsigned line;	     /* 1-based line in path, 0 when not about a line */
	char after[PATH_MAX]; /* text after the quoted object (mvm_error_after), "" if none */
	char value[128];     /* the offending value, escaped, "" if none */
	const char *reason;  /* static text, used instead of strerror(err) */
	char why[1280];	     /* a reason built at run time (mvm_error_setf), before reason */
	const char *hint;    /* optional static advice, e.g. "--allow-untrusted" */
	bool reported;	     /* logged already (log_error_info): not to be logged again */
};

/* Fill e (may be NULL), verb and path copied; returns -err (or -EINVAL
 * when err is 0). A verb, why or after too long for its buffer (its
 * values escaped, as every value in a message is) is cut between escapes
 * and ends in "..." (escaped_cut()). */
int mvm_error_set(struct mvm_error *e, int err, const char *verb, const char *path,
		  const char *reason);
/* The same with a reason formatted into e->why (copies of e keep it). */
int mvm_error_setf(struct mvm_error *e, int err, const char *verb, const char *path,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* After mvm_error_set(f): the text that follows the quoted object, e.g.
 * " to %s" for "unable to bind 'ADDR' to vfio-pci: ...". e may be NULL. */
void mvm_error_after(struct mvm_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The reason alone: e->why, else e->reason, else strerror(e->err). */
const char *mvm_error_reason(const struct mvm_error *e);
/* Format the message (the shape above) into buf, cut to size: in its
 * path first; what is still too long is cut between escapes and ends in
 * "..." (escaped_cut()). */
void mvm_error_format(const struct mvm_error *e, char *buf, size_t size);
