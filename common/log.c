/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *prog = "microvm";
static const char *subject;
static int verbose;
static bool journal; /* stderr is the journal stream: use <N> prefixes */

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

void log_set_verbose(int level)
{
	verbose = level;
}

int log_get_verbose(void)
{
	return verbose;
}

void log_vmsg(int prio, const char *fmt, va_list ap)
{
	if (prio >= LOG_DEBUG && verbose < 1)
		return;
	char msg[4096];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One write per line, so lines of concurrent writers do not mix. */
	char pfx[4] = "";
	if (journal)
		snprintf(pfx, sizeof(pfx), "<%d>", prio & 7);
	char line[4096 + 512];
	int n = snprintf(line, sizeof(line), "%s%s: %s%s%s\n", pfx, prog, subject ? subject : "",
			 subject ? ": " : "", msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
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

int log_fail(int err, const char *verb, const char *obj)
{
	log_err("unable to %s '%s': %s", verb, obj, strerror(err < 0 ? -err : err));
	return err;
}

void log_error_info(const struct mvm_error *e)
{
	char buf[PATH_MAX + 512];
	mvm_error_format(e, buf, sizeof(buf));
	log_err("%s", buf);
}

void log_action(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (subject)
		printf("%s: %s: would ", prog, subject);
	else
		printf("%s: would ", prog);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
	va_end(ap);
}
