/* SPDX-License-Identifier: MIT */
/* Small helpers every tool uses: cleanup attributes, files, paths. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* The largest file of the runner layout we read (DESIGN.md section 2). */
#define LAYOUT_FILE_MAX (64 * 1024)

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_close_ __attribute__((cleanup(closep)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Write all len bytes to fd, retrying on EINTR and short writes: 0 or
 * -errno. */
int write_all(int fd, const void *data, size_t len);
/* Write the whole buffer to an existing file (sysfs, procfs): O_WRONLY,
 * no O_CREAT, retry on EINTR, close() checked. 0 or -errno. */
int write_file(const char *path, const char *data, size_t len);
/* write_file() of a NUL-terminated string. */
int write_str(const char *path, const char *s);

/* Read a whole regular file of at most max bytes into a NUL-terminated
 * buffer (*buf is set only on success). Opened without blocking and
 * without following a symlink as its last component (-ELOOP); -EISDIR for
 * a directory, -EINVAL for anything else that is not a regular file (a
 * FIFO, a device), -EFBIG when larger than max. */
int read_file(const char *path, size_t max, char **buf, size_t *len);
/* The same from an open descriptor (not closed). */
int read_fd(int fd, size_t max, char **buf, size_t *len);
/* read_fd() of a descriptor whose fstat() the caller has, in st. */
int read_fd_stat(int fd, const struct stat *st, size_t max, char **buf, size_t *len);
/* The struct stat of what statx() said in x (the fields it did not fill:
 * as it left them, zero). */
struct statx;
void stat_from_statx(struct stat *st, const struct statx *x);
/* fstat() of fd, and the ID of its mount into *mnt (statx(); Linux 5.8
 * on, else *mnt_known false). 0 or -errno. */
int fstat_mnt(int fd, struct stat *st, uint64_t *mnt, bool *mnt_known);

/* The names in the directory fd (opened O_RDONLY, listed from its
 * start), but "." and "..", sorted (strcmp): each malloc'ed, as the
 * array, which names_free() frees. 0 or -errno. */
int dir_names(int fd, char ***names, size_t *n);
void names_free(char **names, size_t n);

/* Read a file of one line (sysfs attribute), trailing newline removed. */
int read_line(const char *path, char **out);

/* readlink() into a new string. */
int read_link(const char *path, char **out);
/* The last component of the link's target ("vfio-pci" for
 * .../drivers/vfio-pci), or -ENOENT when path is not there. */
int read_link_base(const char *path, char **out);

/* mkdir -p; existing directories are fine. */
int mkdir_p(const char *path, mode_t mode);

/* a + "/" + b, or a copy of b when b is absolute. NULL on ENOMEM. */
char *path_join(const char *a, const char *b);
/* malloc'ed printf; NULL on ENOMEM. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The noun for a count of n, one when n is 1, else many, for a message:
 * log_action("record %zu %s", n, plural(n, "TAP", "TAPs")). */
static inline const char *plural(unsigned long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* Copy s (n bytes, a NUL among them as \x00) into buf for a message, as
 * escape_text() escapes a value: printable ASCII and printable UTF-8 kept
 * (utf8_printable()), a backslash as \\ and a quote as \' (a value is
 * quoted in a line: one in it cannot end it), other bytes as \xNN; so a
 * value reads the same in every part of a message. Cut (at a character,
 * never in an escape) with "..." at its end if too long; "" when size < 4
 * leaves no room for that. Returns buf. */
const char *escape_value(const char *s, size_t n, char *buf, size_t size);

/* Length of the UTF-8 sequence at s (at most n bytes) of a printable code
 * point above U+00A0, or 0: C1 controls, invisible format controls (bidi
 * overrides, zero-width marks, line separators, tags, variation
 * selectors: Unicode's Cf and default-ignorable code points), fillers,
 * spaces other than ASCII's, private use, noncharacters, overlong forms,
 * surrogates and broken sequences are not. */
size_t utf8_printable(const unsigned char *s, size_t n);

/* s for a log line or a terminal (NUL-terminated into buf): control
 * characters (C0, DEL, C1), the invisible ones utf8_printable() refuses
 * (bidi overrides, zero-width marks, ...) and bytes that are not UTF-8 become
 * \n, \t, \r or \xNN; printable ASCII and UTF-8 stay, backslashes too (values that
 * escape_value() escaped stay readable). Cut at a character, never inside
 * an escape, when buf is too small. Returns buf. */
const char *escape_line(const char *s, char *buf, size_t size);
/* escape_line(), but when s does not fit, cut with "..." at its end
 * (escaped_cut()): for a whole line, whose values ESC() escaped. */
const char *escape_line_cut(const char *s, char *buf, size_t size);
/* s, escaped text (what the functions here make, and lines made of it)
 * that does not fit size (it was cut, or is too long): cut at the last
 * character or escape after which "..." and its NUL fit, never inside one
 * (\xNN, \\, \', a UTF-8 sequence), and marked with "..."; "" when
 * size < 4 leaves no room for the mark. One cut for all: a value, a
 * line, a reason. Returns s. */
char *escaped_cut(char *s, size_t size);
/* escape_line(), but a backslash as \\, a quote as \' and every control
 * character as \xNN: for a name or path inside a message, so that one
 * with a control character and one with the text of its escape read
 * apart, and a quote in one does not end it where it is quoted ('%s').
 * As escape_value() has it (the same function), but cut without a mark
 * when buf is too small (escape_text_cut() marks it). */
const char *escape_text(const char *s, char *buf, size_t size);
/* escape_text(); the bytes of s it took (strlen(s) unless it was cut). */
size_t escape_text_n(const char *s, char *buf, size_t size);
/* escape_text(), but when s does not fit, cut (at a character, never in
 * an escape) with "..." at its end: a cut value does not read as the
 * whole. escape_value() of strlen(s) bytes. Returns buf. */
const char *escape_text_cut(const char *s, char *buf, size_t size);
/* escape_text_cut() of s for one value in a line of log.h (a path, a
 * name, anything the runner package, the state dir, the kernel or the
 * command line gave): log_debug("removed '%s'", ESC(path)). Its buffer is
 * a compound literal, which lives until the enclosing block ends: never
 * keep the result past that block. A line is at most 4096 bytes (log.c):
 * so is an escaped value. */
#define ESC_MAX 4096
#define ESC(s) escape_text_cut((s), (char[ESC_MAX]){ 0 }, ESC_MAX)

/* A control character in s[0..n): C0, DEL, or C1 (U+0080 to U+009F,
 * 0xc2 0x80-0x9f in UTF-8)? */
bool has_control(const char *s, size_t n);

/* One path component: not empty, not "." or "..", no '/', no control
 * characters (has_control()), at most max bytes. NULL when valid, else
 * the reason. */
const char *component_invalid(const char *s, size_t max);
/* A Linux interface name as the kernel and iproute2 accept it, limited to
 * printable ASCII (as systemd does): 1..15 bytes, no '/', ':', '%' (a
 * name template to the kernel) or white space, not "." or "..". NULL when
 * valid, else the reason. */
const char *ifname_invalid(const char *s, size_t n);

/* Longest VM name we accept (it becomes part of unit names and paths). */
#define VM_NAME_MAX 128

/* The runtime dir (and a VM's directory in it) as the tools make it: root's
 * alone to read, so that no one else may open it, and flock it
 * (runtime_lock()); the units' RuntimeDirectoryMode= is the same. */
#define RUNTIME_DIR_MODE 0711

/* Lines of a buffer: strips "\n" and "\r\n", counts from 1. */
struct lines {
	const char *p, *end;
	unsigned lineno;
};
void lines_init(struct lines *l, const char *buf, size_t len);
/* Next line (not NUL-terminated: *s, *n); false at the end. */
bool lines_next(struct lines *l, const char **s, size_t *n);

/* Parse an unsigned decimal number, whole string; -EINVAL/-ERANGE. */
int parse_uint(const char *s, unsigned long max, unsigned long *out);

/* The monotonic clock in milliseconds. */
long long now_ms(void);
