/* SPDX-License-Identifier: MIT */
/* One message shape: "PROG: NAME: unable to VERB 'OBJ': REASON".
 * Under systemd (stderr is $JOURNAL_STREAM) each line carries the <N>
 * priority prefix of sd-daemon(3). */
#pragma once

#include <stdarg.h>
#include <syslog.h>

#include "error.h"

void log_open(const char *prog);
const char *log_prog(void);
/* The VM (or other subject) named after the program in every line. */
void log_set_subject(const char *name);
void log_set_verbose(int level);
int log_get_verbose(void);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int prio, const char *fmt, va_list ap);

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
/* Its arguments are not evaluated unless debug lines are on: the ESC() of
 * each value (a 4 KiB buffer cleared and filled) costs nothing otherwise. */
#define log_debug(...)                                   \
	do {                                             \
		if (log_get_verbose() >= 1)              \
			log_msg(LOG_DEBUG, __VA_ARGS__); \
	} while (0)

/* The program runs as root (tap-setup, pci-bind, virtiofs-launch): from
 * now on, an error that log_error_info() logs for want of permission
 * (EACCES, EPERM) in a run whose effective uid is not 0, and that has no
 * hint of its own, gets the hint "not root: PROG runs as root". */
void log_set_needs_root(void);

/* log_err() of a filled struct mvm_error, unless it was logged already;
 * it is then marked reported (error.h: an error is logged once). */
void log_error_info(struct mvm_error *e);
/* e's message at prio after lead (the line's own text, any value in it
 * escaped; "" for none), cut to fit the line as mvm_error_format() cuts:
 * in the path, never the reason after it. Not marked reported. */
void log_error_as(int prio, const struct mvm_error *e, const char *lead);

/* --dry-run: print one action on stdout, "PROG: NAME: would ACTION". */
void log_action(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
