/* SPDX-License-Identifier: MIT */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	int r = write_all(fd, data, len);
	/* sysfs reports some errors only at close(). */
	if (close(fd) < 0 && r == 0 && errno != EINTR)
		r = -errno;
	return r;
}

int write_str(const char *path, const char *s)
{
	return write_file(path, s, strlen(s));
}

int read_fd(int fd, size_t max, char **buf, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	return read_fd_stat(fd, &st, max, buf, len);
}

void stat_from_statx(struct stat *st, const struct statx *x)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(x->stx_dev_major, x->stx_dev_minor);
	st->st_ino = x->stx_ino;
	st->st_mode = x->stx_mode;
	st->st_nlink = x->stx_nlink;
	st->st_uid = x->stx_uid;
	st->st_gid = x->stx_gid;
	st->st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor);
	st->st_size = (off_t)x->stx_size;
	st->st_blksize = (blksize_t)x->stx_blksize;
	st->st_blocks = (blkcnt_t)x->stx_blocks;
	st->st_atim = (struct timespec){x->stx_atime.tv_sec, x->stx_atime.tv_nsec};
	st->st_mtim = (struct timespec){x->stx_mtime.tv_sec, x->stx_mtime.tv_nsec};
	st->st_ctim = (struct timespec){x->stx_ctime.tv_sec, x->stx_ctime.tv_nsec};
}

int fstat_mnt(int fd, struct stat *st, uint64_t *mnt, bool *mnt_known)
{
	struct statx x;
	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_MNT_ID,
		  &x) < 0)
		return -errno;
	stat_from_statx(st, &x);
	*mnt_known = x.stx_mask & STATX_MNT_ID;
	*mnt = *mnt_known ? x.stx_mnt_id : 0;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void names_free(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

int dir_names(int fd, char ***names, size_t *n)
{
	char **v = NULL;
	size_t k = 0, cap = 0;
	int r = lseek(fd, 0, SEEK_SET) < 0 ? -errno : 0;
	char *buf = r == 0 ? malloc(16384) : NULL;
	if (r == 0 && !buf)
		r = -ENOMEM;
	while (r == 0) {
		ssize_t got = getdents64(fd, buf, 16384);
		if (got < 0) {
			r = -errno;
			break;
		}
		if (got == 0)
			break;
		for (ssize_t off = 0; off < got && r == 0;) {
			const struct dirent64 *d = (const struct dirent64 *)(buf + off);
			off += d->d_reclen;
			if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
				continue;
			if (k == cap) {
				char **nv = reallocarray(v, cap ? cap * 2 : 16, sizeof(*v));
				if (!nv) {
					r = -ENOMEM;
					break;
				}
				v = nv;
				cap = cap ? cap * 2 : 16;
			}
			if (!(v[k] = strdup(d->d_name)))
				r = -ENOMEM;
			else
				k++;
		}
	}
	free(buf);
	if (r < 0) {
		names_free(v, k);
		return r;
	}
	if (k > 1)
		qsort(v, k, sizeof(*v), name_cmp);
	*names = v;
	*n = k;
	return 0;
}

int read_fd_stat(int fd, const struct stat *st0, size_t max, char **buf, size_t *len)
{
	const struct stat st = *st0;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max)
		return -EFBIG;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	if (!b)
		return -ENOMEM;
	for (;;) {
		if (n + 1 >= cap) {
			if (cap > max + 1) {
				free(b);
				return -EFBIG;
			}
			char *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, b + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int err = -errno;
			free(b);
			return err;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		free(b);
		return -EFBIG;
	}
	b[n] = '\0';
	*buf = b;
	if (len)
		*len = n;
	return 0;
}

int read_file(const char *path, size_t max, char **buf, size_t *len)
{
	/* O_NONBLOCK: a FIFO must not hang a root helper in open(). */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	struct stat st;
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	if (r == 0 && S_ISDIR(st.st_mode))
		r = -EISDIR;
	else if (r == 0 && !S_ISREG(st.st_mode))
		r = -EINVAL;
	if (r == 0)
		r = read_fd(fd, max, buf, len);
	close(fd);
	return r;
}

int read_line(const char *path, char **out)
{
	char *b;
	size_t n;
	int r = read_file(path, 4096, &b, &n);
	if (r < 0)
		return r;
	while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r'))
		b[--n] = '\0';
	*out = b;
	return 0;
}

int read_link(const char *path, char **out)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	char *s = strdup(buf);
	if (!s)
		return -ENOMEM;
	*out = s;
	return 0;
}

int read_link_base(const char *path, char **out)
{
	char *t;
	int r = read_link(path, &t);
	if (r < 0)
		return r;
	const char *slash = strrchr(t, '/');
	char *s = strdup(slash ? slash + 1 : t);
	free(t);
	if (!s)
		return -ENOMEM;
	*out = s;
	return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (c == '\0')
			break;
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

char *path_join(const char *a, const char *b)
{
	if (b[0] == '/' || !a || !a[0])
		return strdup(b);
	size_t la = strlen(a);
	while (la > 0 && a[la - 1] == '/')
		la--; /* "/" itself becomes "", so "/" + "b" is "/b", not "//b" */
	return xasprintf("%.*s/%s", (int)la, a, b);
}

/* The one escape of an ASCII byte of a value (escape_value(),
 * escape_text()) into out; its length. A value is quoted in a line
 * ('%s'): a quote in it is \', so that it cannot be taken for the end of
 * the value (nor can \', as a backslash of the value is \\); printable
 * ASCII stays, any other byte is \xNN. */
static size_t value_byte(unsigned char c, char out[5])
{
	if (c == '\\' || c == '\'') {
		out[0] = '\\';
		out[1] = (char)c;
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		out[0] = (char)c;
		return 1;
	}
	snprintf(out, 5, "\\x%02x", c);
	return 4;
}

/* Code points that show nothing, or a blank, or change what a terminal
 * shows without showing themselves: Unicode's format characters (Cf:
 * bidi embeddings, overrides and isolates, zero-width marks, the
 * interlinear annotations, the Egyptian and musical format controls, the
 * tags) and default-ignorable code points (soft hyphen, fillers,
 * variation selectors, the combining grapheme joiner), the line and
 * paragraph separators, the spaces other than ASCII's, the blanks that
 * are symbols (braille pattern blank, the null notehead, the Khitan
 * filler), private use and noncharacters. Ranges sorted, from Unicode
 * 15.1's DerivedCoreProperties.txt and UnicodeData.txt. */
static bool invisible_format(unsigned long cp)
{
	static const struct {
		unsigned long lo, hi;
	} r[] = {
		{ 0x00a0, 0x00a0 },   { 0x00ad, 0x00ad },   { 0x034f, 0x034f },
		{ 0x0600, 0x0605 },   { 0x061c, 0x061c },   { 0x06dd, 0x06dd },
		{ 0x070f, 0x070f },   { 0x0890, 0x0891 },   { 0x08e2, 0x08e2 },
		{ 0x115f, 0x1160 },   { 0x1680, 0x1680 },   { 0x17b4, 0x17b5 },
		{ 0x180b, 0x180f },   { 0x2000, 0x200f },   { 0x2028, 0x202f },
		{ 0x205f, 0x206f },   { 0x2800, 0x2800 },   { 0x3000, 0x3000 },
		{ 0x3164, 0x3164 },
		{ 0xe000, 0xf8ff },   { 0xfdd0, 0xfdef },   { 0xfe00, 0xfe0f },
		{ 0xfeff, 0xfeff },   { 0xffa0, 0xffa0 },   { 0xfff0, 0xfffb },
		{ 0x110bd, 0x110bd }, { 0x110cd, 0x110cd }, { 0x13430, 0x1343f },
		{ 0x16fe4, 0x16fe4 }, { 0x1bca0, 0x1bca3 }, { 0x1d159, 0x1d159 },
		{ 0x1d173, 0x1d17a }, { 0xe0000, 0xe0fff },
		{ 0xf0000, 0x10ffff },
	};
	if ((cp & 0xfffe) == 0xfffe)
		return true; /* U+FFFE, U+FFFF of every plane */
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]) && r[i].lo <= cp; i++)
		if (cp <= r[i].hi)
			return true;
	return false;
}

/* (util.h) */
size_t utf8_printable(const unsigned char *s, size_t n)
{
	size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
	if (len == 0 || len > n || s[0] > 0xf4)
		return 0;
	unsigned long cp = s[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	static const unsigned long min[] = { 0, 0, 0xa0, 0x800, 0x10000 };
	if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || invisible_format(cp))
		return 0;
	return len;
}

/* s[0..n) escaped into buf (NUL-terminated), up to the last character
 * or escape that fits; the bytes of s it took (n unless it was cut).
 * value: a value's escape (escape_value(), escape_text(): ASCII as
 * value_byte() has it), else escape_line()'s. */
static size_t escape_utf8(const char *s, size_t n, char *buf, size_t size, bool value)
{
	size_t o = 0, i = 0;
	while (i < n) {
		const unsigned char *c = (const unsigned char *)s + i;
		char tmp[5];
		size_t k, take = 1;
		if (value && *c < 0x80) {
			k = value_byte(*c, tmp);
		} else if (*c >= 0x20 && *c < 0x7f) {
			tmp[0] = (char)*c;
			k = 1;
		} else if (!value && (*c == '\n' || *c == '\t' || *c == '\r')) {
			tmp[0] = '\\';
			tmp[1] = *c == '\n' ? 'n' : *c == '\t' ? 't' : 'r';
			k = 2;
		} else if (*c >= 0x80 && (take = utf8_printable(c, n - i)) > 0) {
			memcpy(tmp, c, take);
			k = take;
		} else {
			take = 1;
			snprintf(tmp, sizeof(tmp), "\\x%02x", *c);
			k = 4;
		}
		if (o + k + 1 > size)
			break;
		memcpy(buf + o, tmp, k);
		o += k;
		i += take;
	}
	if (size > 0)
		buf[o] = '\0';
	return i;
}

/* The length of the character or escape at s[0..n) of escaped text: a
 * backslash and the byte after it (\\, \', \n) or \xNN, a UTF-8
 * sequence (as many continuation bytes as its lead byte announces and
 * it has), else 1; more than n when s ends inside it. */
static size_t escaped_unit(const unsigned char *s, size_t n)
{
	if (s[0] == '\\')
		return n >= 2 && s[1] == 'x' ? 4 : 2;
	size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 1;
	for (size_t i = 1; i < len; i++) {
		if (i >= n)
			return len;
		if ((s[i] & 0xc0) != 0x80)
			return i;
	}
	return len;
}

/* (util.h) */
char *escaped_cut(char *s, size_t size)
{
	if (size < 4) { /* (s may hold no NUL at all when size is 0) */
		if (size > 0)
			s[0] = '\0';
		return s;
	}
	size_t n = strlen(s), o = 0;
	while (o < n) {
		size_t k = escaped_unit((const unsigned char *)s + o, n - o);
		if (o + k + 4 > size) /* and "...", NUL */
			break;
		o += k;
	}
	memcpy(s + o, "...", 4);
	return s;
}

const char *escape_value(const char *s, size_t n, char *buf, size_t size)
{
	if (escape_utf8(s, n, buf, size, true) < n)
		escaped_cut(buf, size);
	return buf;
}

const char *escape_line(const char *s, char *buf, size_t size)
{
	escape_utf8(s, strlen(s), buf, size, false);
	return buf;
}

const char *escape_line_cut(const char *s, char *buf, size_t size)
{
	size_t n = strlen(s);
	if (escape_utf8(s, n, buf, size, false) < n)
		escaped_cut(buf, size);
	return buf;
}

const char *escape_text(const char *s, char *buf, size_t size)
{
	escape_utf8(s, strlen(s), buf, size, true);
	return buf;
}

size_t escape_text_n(const char *s, char *buf, size_t size)
{
	return escape_utf8(s, strlen(s), buf, size, true);
}

const char *escape_text_cut(const char *s, char *buf, size_t size)
{
	return escape_value(s, strlen(s), buf, size);
}

bool has_control(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f ||
		    (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
		     (unsigned char)s[i + 1] <= 0x9f))
			return true;
	}
	return false;
}

const char *component_invalid(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0)
		return "empty name";
	if (n > max)
		return "name too long";
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return "'.' and '..' are not names";
	if (memchr(s, '/', n))
		return "a name may not contain '/'";
	if (has_control(s, n))
		return "a name may not contain control characters";
	return NULL;
}

const char *ifname_invalid(const char *s, size_t n)
{
	if (n == 0)
		return "empty interface name";
	if (n >= 16 /* IFNAMSIZ */)
		return "interface name of 16 bytes or more";
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return "'.' and '..' are not interface names";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '/' || c == ':')
			return "interface name with '/' or ':'";
		/* The kernel makes a link of a name with "%d" under the next
		 * free name of that form (tap%d: tap0, tap1, ...), and refuses
		 * any other '%': no link is ever called so. */
		if (c == '%')
			return "interface name with '%' (the kernel's name template)";
		if (c == '\0')
			return "NUL byte";
		if (c <= ' ' || c >= 0x7f)
			return "interface name with white space, a control or non-ASCII byte";
	}
	return NULL;
}

void lines_init(struct lines *l, const char *buf, size_t len)
{
	l->p = buf;
	l->end = buf + len;
	l->lineno = 0;
}

bool lines_next(struct lines *l, const char **s, size_t *n)
{
	if (l->p >= l->end)
		return false;
	const char *nl = memchr(l->p, '\n', (size_t)(l->end - l->p));
	const char *e = nl ? nl : l->end;
	*s = l->p;
	*n = (size_t)(e - l->p);
	if (*n > 0 && (*s)[*n - 1] == '\r')
		(*n)--;
	l->p = nl ? nl + 1 : l->end;
	l->lineno++;
	return true;
}

int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
