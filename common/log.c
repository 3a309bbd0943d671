/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static const char *prog = "microvm";
static const char *subject;
static int verbose;
static bool journal; /* stderr is the journal stream: use <N> prefixes */
static char root_hint[64]; /* log_set_needs_root(): "" when not */

/* $JOURNAL_STREAM is "DEV:INO" of the stream systemd connected; only when
 * stderr is still that stream do the prefixes make sense (sd-daemon(3)). */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

void log_open(const char *p)
{
	const char *slash = strrchr(p, '/');
	prog = slash ? slash + 1 : p;
	journal = stderr_is_journal();
}

const char *log_prog(void)
{
	return prog;
}

void log_set_subject(const char *name)
{
	subject = name;
}

void log_set_needs_root(void)
{
	snprintf(root_hint, sizeof(root_hint), "not root: %s runs as root", prog);
}

void log_set_verbose(int level)
{
	verbose = level;
}

int log_get_verbose(void)
{
	return verbose;
}

/* "PROG: NAME: " (what, if not NULL, after it) into raw; its length.
 * The name comes from the command line, and a backslash is a valid
 * character of it: escaped as any value in a line (ESC()). */
static size_t prefix(char *raw, size_t size, const char *what)
{
	int k = snprintf(raw, size, "%s: %s%s%s", prog, subject ? ESC(subject) : "",
			 subject ? ": " : "", what ? what : "");
	return k < 0 || (size_t)k >= size ? 0 : (size_t)k;
}

/* The bytes of a line before its escape (the rest is cut). */
#define LINE_RAW 4096

/* "PROG: NAME: " (what after it) and fmt's text into msg (size at most
 * LINE_RAW), escaped for a line. Values in messages come from files,
 * links and names the VM user may have written: a newline in one would
 * start a line of its own, with a priority prefix of its choosing
 * (DESIGN.md section 3). A text too long is cut at a character or
 * escape, never inside one (nor inside an escape ESC() made in a value),
 * and ends in "...", as a value ESC() cuts does (escape_line_cut()). The
 * raw text holds a byte more than msg: one cut there is cut in msg too,
 * so marked. */
static void format_line(char *msg, size_t size, const char *what, const char *fmt, va_list ap)
{
	char raw[LINE_RAW + 1];
	size_t k = prefix(raw, sizeof(raw), what);
	vsnprintf(raw + k, sizeof(raw) - k, fmt, ap);
	escape_line_cut(raw, msg, size);
}

void log_vmsg(int prio, const char *fmt, va_list ap)
{
	if (prio >= LOG_DEBUG && verbose < 1)
		return;
	char msg[LINE_RAW];
	format_line(msg, sizeof(msg), NULL, fmt, ap);
	/* One write per line, so lines of concurrent writers do not mix. */
	char line[sizeof(msg) + 8];
	int n = journal ? snprintf(line, sizeof(line), "<%d>%s\n", prio & 7, msg)
			: snprintf(line, sizeof(line), "%s\n", msg);
	if (n < 0)
		return;
	int saved = errno;
	fwrite(line, 1, (size_t)n, stderr);
	fflush(stderr);
	errno = saved;
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}

void log_error_as(int prio, const struct mvm_error *e, const char *lead)
{
	/* Formatted for the room the line has after the prefix and lead: a
	 * message longer than that is cut by mvm_error_format(), in its path,
	 * so that the reason, value and hint stay; cut by log_vmsg(), at
	 * LINE_RAW, it would lose them (and end inside an escape). */
	char raw[LINE_RAW], buf[LINE_RAW];
	size_t room = LINE_RAW - prefix(raw, sizeof(raw), NULL), n = strlen(lead);
	mvm_error_format(e, buf, room > n + 64 ? room - n : 64);
	log_msg(prio, "%s%s", lead, buf);
}

void log_error_info(struct mvm_error *e)
{
	if (e->reported)
		return;
	if (root_hint[0] && !e->hint && (e->err == EACCES || e->err == EPERM) && geteuid() != 0)
		e->hint = root_hint;
	log_error_as(LOG_ERR, e, "");
	e->reported = true;
}

/* Printed whole, however long: a line of --dry-run may be a command line
 * to paste into a shell (virtiofs-launch's daemons'), which a cut would
 * leave inside a $'...' quote, or, marked, make another command. Only
 * when there is no memory for it, cut and marked as a log line. */
void log_action(const char *fmt, ...)
{
	char pre[LINE_RAW];
	pre[prefix(pre, sizeof(pre), "would ")] = '\0';
	va_list ap, aq;
	va_start(ap, fmt);
	va_copy(aq, ap);
	_cleanup_free_ char *body = NULL, *raw = NULL, *msg = NULL;
	if (vasprintf(&body, fmt, ap) < 0)
		body = NULL;
	va_end(ap);
	size_t n = 0;
	if (body && (raw = xasprintf("%s%s", pre, body)))
		n = strlen(raw);
	if (raw && n < SIZE_MAX / 4 && (msg = malloc(4 * n + 1))) {
		printf("%s\n", escape_line(raw, msg, 4 * n + 1)); /* 4 bytes a byte at most */
	} else {
		char line[LINE_RAW];
		format_line(line, sizeof(line), "would ", fmt, aq);
		printf("%s\n", line);
	}
	va_end(aq);
	fflush(stdout);
}
