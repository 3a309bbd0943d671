/* SPDX-License-Identifier: MIT */
#include "record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "util.h"
#include "vm.h"

int record_path(const char *runtime_dir, const char *vm, const char *kind, char **out,
		struct mvm_error *e)
{
	int r = vm_name_check(vm, e);
	if (r < 0)
		return r;
	char *p = xasprintf("%s/%s/%s", runtime_dir, vm, kind);
	if (!p)
		return mvm_error_set(e, ENOMEM, "record", kind, NULL);
	*out = p;
	return 0;
}

/* RUNTIME/VM opened as a directory, not through a symlink (made first when
 * create). *dir is its path either way, for messages. */
static int vm_dir_open(const char *runtime_dir, const char *vm, bool create, char **dir, int *fd,
		       struct mvm_error *e)
{
	int r = vm_name_check(vm, e);
	if (r < 0)
		return r;
	*dir = path_join(runtime_dir, vm);
	if (!*dir)
		return mvm_error_set(e, ENOMEM, "record", vm, NULL);
	if (create && (r = mkdir_p(*dir, RUNTIME_DIR_MODE)) < 0)
		return mvm_error_set(e, r, "create", *dir, NULL);
	*fd = open(*dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0 && (errno == ENOTDIR || errno == ELOOP))
		return mvm_error_set(e, ENOTDIR, "open", *dir,
				     "not a directory (a symlink is not followed)");
	if (*fd < 0)
		return mvm_error_set(e, errno, "open", *dir, NULL);
	return 0;
}

int record_write(const char *runtime_dir, const char *vm, const char *kind, const char *text,
		 struct mvm_error *e)
{
	_cleanup_free_ char *dir = NULL, *tmp = xasprintf("%s.tmp", kind);
	_cleanup_close_ int dfd = -1;
	if (!tmp)
		return mvm_error_set(e, ENOMEM, "record", kind, NULL);
	int r = vm_dir_open(runtime_dir, vm, true, &dir, &dfd, e);
	if (r < 0)
		return r;
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
			0644);
	if (fd < 0) {
		r = -errno;
		rmdir(dir); /* made for this record alone: gone with it (else ENOTEMPTY) */
		return mvm_error_setf(e, r, "create", dir, "%s: %s", tmp, strerror(-r));
	}
	r = write_all(fd, text, strlen(text));
	if (r == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(dfd, tmp, dfd, kind) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dfd, tmp, 0);
		rmdir(dir); /* as above */
		return mvm_error_setf(e, r, "write", dir, "%s: %s", kind, strerror(-r));
	}
	fsync(dfd); /* the rename itself durable */
	return 0;
}

/* record_read(), and the length read: a NUL byte in the text (a damaged
 * file) is the parser's to name, on its line. */
static int record_read_n(const char *runtime_dir, const char *vm, const char *kind, char **text,
			 size_t *len, struct mvm_error *e)
{
	_cleanup_free_ char *dir = NULL, *file = NULL;
	_cleanup_close_ int dfd = -1, fd = -1;
	int r = record_path(runtime_dir, vm, kind, &file, e);
	if (r < 0)
		return r;
	r = vm_dir_open(runtime_dir, vm, false, &dir, &dfd, e);
	if (r == -ENOENT)
		return mvm_error_set(e, ENOENT, "read", file, NULL);
	if (r < 0)
		return r;
	fd = openat(dfd, kind, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP)
		return mvm_error_set(e, EINVAL, "read", file, "not a regular file");
	if (fd < 0)
		return mvm_error_set(e, errno, "read", file, NULL);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return mvm_error_set(e, errno, "read", file, NULL);
	if (!S_ISREG(st.st_mode))
		return mvm_error_set(e, EINVAL, "read", file, "not a regular file");
	r = read_fd(fd, RECORD_MAX, text, len);
	if (r == -EFBIG)
		return mvm_error_set(e, EFBIG, "read", file, "larger than 1 MiB");
	return r < 0 ? mvm_error_set(e, r, "read", file, NULL) : 0;
}

int record_read(const char *runtime_dir, const char *vm, const char *kind, char **text,
		struct mvm_error *e)
{
	return record_read_n(runtime_dir, vm, kind, text, NULL, e);
}

int record_remove(const char *runtime_dir, const char *vm, const char *kind, struct mvm_error *e)
{
	_cleanup_free_ char *dir = NULL, *tmp = xasprintf("%s.tmp", kind);
	_cleanup_close_ int dfd = -1;
	if (!tmp)
		return mvm_error_set(e, ENOMEM, "record", kind, NULL);
	int r = vm_dir_open(runtime_dir, vm, false, &dir, &dfd, e);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (unlinkat(dfd, kind, 0) < 0 && errno != ENOENT)
		return mvm_error_setf(e, errno, "remove", dir, "%s: %s", kind, strerror(errno));
	if (unlinkat(dfd, tmp, 0) < 0 && errno != ENOENT)
		return mvm_error_setf(e, errno, "remove", dir, "%s: %s", tmp, strerror(errno));
	/* The VM's dir goes with its last record; others may still be there. */
	if (rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
		return mvm_error_set(e, errno, "remove", dir, NULL);
	return 0;
}

int record_each_other_vm(const char *runtime_dir, const char *self,
			 int (*fn)(const char *other, void *arg), void *arg, struct mvm_error *e)
{
	int dfd = open(runtime_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT)
		return 0;
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		int err = errno;
		if (dfd >= 0)
			close(dfd);
		return mvm_error_set(e, err, "list", runtime_dir, NULL);
	}
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d))) {
		struct stat st;
		if (!strcmp(de->d_name, self) || vm_name_check(de->d_name, NULL) < 0 ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
		    st.st_uid != 0 || (st.st_mode & 022))
			continue;
		r = fn(de->d_name, arg);
	}
	closedir(d);
	return r;
}

/* ---- tap-setup ------------------------------------------------------------------ */

#define TAP_HEADER "# tap-setup record 2"

void tap_record_free(struct tap_record *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].node);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

int tap_record_add(struct tap_record *r, const char *name, int ifindex, const char *node)
{
	struct tap_entry *v = realloc(r->v, (r->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->v = v;
	v = &r->v[r->n];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->ifindex = ifindex;
	if (node && !(v->node = strdup(node)))
		return -ENOMEM;
	r->n++;
	return 0;
}

char *tap_record_text(const struct tap_record *r)
{
	size_t cap = sizeof(TAP_HEADER) + 32 + r->n * (IFNAMSIZ + 16);
	for (size_t i = 0; i < r->n; i++)
		cap += r->v[i].node ? strlen(r->v[i].node) + 1 : 0;
	char *t = malloc(cap);
	if (!t)
		return NULL;
	size_t o = (size_t)snprintf(t, cap, TAP_HEADER "\ngroup %u\n", r->group);
	for (size_t i = 0; i < r->n && o < cap; i++) {
		const struct tap_entry *v = &r->v[i];
		if (v->ifindex > 0)
			o += (size_t)snprintf(t + o, cap - o, "%s %d%s%s\n", v->name, v->ifindex,
					      v->node ? " " : "", v->node ? v->node : "");
		else
			o += (size_t)snprintf(t + o, cap - o, "%s pending\n", v->name);
	}
	return t;
}

/* NODE of a record line: an absolute path without control characters
 * whose last component is tapN. */
static bool node_ok(const char *s)
{
	const char *base = strrchr(s, '/');
	if (s[0] != '/' || strlen(s) >= PATH_MAX || strncmp(base + 1, "tap", 3) != 0 || !base[4])
		return false;
	for (const char *c = base + 4; *c; c++)
		if (*c < '0' || *c > '9')
			return false;
	return !has_control(s, strlen(s));
}

/* "IFNAME IFINDEX [NODE]" or "IFNAME pending" (line NUL-terminated). */
static int tap_entry_parse(char *line, bool v2, struct tap_record *m)
{
	char *sp = strchr(line, ' ');
	if (!sp)
		return -EINVAL;
	*sp = '\0';
	char *idx = sp + 1, *node = strchr(idx, ' ');
	if (node)
		*node++ = '\0';
	if (ifname_invalid(line, strlen(line)))
		return -EINVAL;
	if (v2 && !strcmp(idx, "pending"))
		return node || m->group == 0 ? -EINVAL : tap_record_add(m, line, 0, NULL);
	unsigned long ifx;
	if (parse_uint(idx, INT_MAX, &ifx) < 0 || ifx == 0 || (node && !node_ok(node)))
		return -EINVAL;
	return tap_record_add(m, line, (int)ifx, node);
}

/* "group G": 1 when it is one (m->group set), 0 when not, -EINVAL. */
static int group_parse(const char *line, struct tap_record *m)
{
	unsigned long g;
	if (strncmp(line, "group ", 6) != 0)
		return 0;
	if (parse_uint(line + 6, UINT32_MAX, &g) < 0)
		return -EINVAL;
	m->group = (uint32_t)g;
	return 1;
}

int tap_record_parse(const char *text, size_t len, struct tap_record *out, struct mvm_error *e)
{
	struct tap_record m = { 0 };
	struct lines ls;
	const char *s = NULL;
	size_t n = 0;
	int r = 0, seen = 0; /* lines seen: in version 2, 1 is the header, 2 the group */
	bool v2 = false;
	const char *why = "not a line of a tap-setup record";
	lines_init(&ls, text, len);
	while (r >= 0 && lines_next(&ls, &s, &n)) {
		char line[PATH_MAX + 64];
		if (n == 0)
			continue;
		if (n >= sizeof(line) || memchr(s, '\0', n)) {
			r = -EINVAL;
			break;
		}
		memcpy(line, s, n);
		line[n] = '\0';
		seen++;
		if (seen == 1 && !strcmp(line, TAP_HEADER))
			v2 = true;
		else if (v2 && seen == 2 && (group_parse(line, &m) != 1 || !m.group)) {
			why = "not the group line that follows the header ('group GID', GID above 0)";
			r = -EINVAL;
		} else if (v2 && seen == 2)
			r = 0;
		else if (!v2 && (r = group_parse(line, &m)) == 0)
			r = tap_entry_parse(line, false, &m);
		else if (v2)
			r = tap_entry_parse(line, true, &m);
		r = r > 0 ? 0 : r;
	}
	if (r == 0 && v2 && seen < 2) {
		why = "the header without the group line that follows it";
		r = -EINVAL;
	}
	if (r == 0) {
		*out = m;
		return 0;
	}
	tap_record_free(&m);
	if (r == -ENOMEM)
		return mvm_error_set(e, ENOMEM, "read", "", NULL);
	mvm_error_set(e, EINVAL, "parse", "", why);
	if (e) {
		e->line = ls.lineno;
		escape_value(s ? s : "", n, e->value, sizeof(e->value));
	}
	return -EINVAL;
}

int tap_record_load(const char *runtime_dir, const char *vm, const char *kind,
		    struct tap_record *out, struct mvm_error *e)
{
	_cleanup_free_ char *text = NULL, *file = NULL;
	size_t len = 0;
	int r = record_read_n(runtime_dir, vm, kind, &text, &len, e);
	if (r == -ENOENT) {
		*out = (struct tap_record){ 0 };
		return 0;
	}
	if (r < 0)
		return r;
	if (!text)
		return mvm_error_set(e, EIO, "read", kind, NULL); /* not reached */
	r = tap_record_parse(text, len, out, e);
	if (r < 0 && e && record_path(runtime_dir, vm, kind, &file, NULL) == 0)
		snprintf(e->path, sizeof(e->path), "%s", file);
	return r;
}

/* ---- pci-bind -------------------------------------------------------------------- */

void pci_record_free(struct pci_record *r)
{
	free(r->v);
	free(r->nodes);
	memset(r, 0, sizeof(*r));
}

#define PCI_HEADER "# pci-bind record 3"
#define PCI_HEADER_2 "# pci-bind record 2"

char *pci_record_text(const struct pci_record *r)
{
	size_t cap = 160 + r->n * (16 + 2 * PCI_DRIVER_MAX + 8) + r->nn * 48;
	char *t = malloc(cap);
	if (!t)
		return NULL;
	size_t o = (size_t)snprintf(t, cap, PCI_HEADER "\n# ADDRESS PREVIOUS-DRIVER listed|group "
					     "PREVIOUS-OVERRIDE\n# node GROUP UID GID MODE\n");
	for (size_t i = 0; i < r->n && o < cap; i++) {
		const struct pci_entry *x = &r->v[i];
		const char *prev = x->claimed ? "?" : *x->prev ? x->prev : "-";
		const char *ov = x->claimed ? "?" : *x->override ? x->override : "-";
		o += (size_t)snprintf(t + o, cap - o, "%s %s %s %s\n", x->addr, prev,
				      x->by_group ? "group" : "listed", ov);
	}
	for (size_t i = 0; i < r->nn && o < cap; i++)
		o += (size_t)snprintf(t + o, cap - o, "node %s %u %u %04o\n", r->nodes[i].group,
				      (unsigned)r->nodes[i].uid, (unsigned)r->nodes[i].gid,
				      (unsigned)r->nodes[i].mode);
	return t;
}

/* A driver name of a record line, or "-" for none ("?", not known yet,
 * is no driver name). */
static bool driver_field_ok(const char *s)
{
	return !strcmp(s, "-") || (strcmp(s, "?") != 0 && !component_invalid(s, PCI_DRIVER_MAX - 1));
}

/* One "ADDRESS PREVIOUS-DRIVER HOW" line (version 1), or "... HOW
 * PREVIOUS-OVERRIDE" (version 2 and 3), into m (not when listed already). */
static int pci_entry_parse(const char *line, int version, struct pci_record *m)
{
	/* Each field as wide as the line, so that none is cut and run into
	 * the next; their lengths are checked below. */
	char addr[256], prev[256], how[256], ov[256] = "-", extra[2];
	struct pci_addr a;
	int want = version > 1 ? 4 : 3;
	if (sscanf(line, "%255s %255s %255s %255s %1s", addr, prev, how, ov, extra) != want)
		return -EINVAL;
	bool claimed = version >= 3 && !strcmp(prev, "?") && !strcmp(ov, "?");
	if (parse_pci_addr(addr, strlen(addr), &a) < 0 ||
	    (!claimed && (!driver_field_ok(prev) || !driver_field_ok(ov))) ||
	    (strcmp(how, "listed") != 0 && strcmp(how, "group") != 0))
		return -EINVAL;
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->v[i].addr, a.str))
			return 0;
	struct pci_entry *v = realloc(m->v, (m->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	m->v = v;
	v = &m->v[m->n++];
	memset(v, 0, sizeof(*v));
	snprintf(v->addr, sizeof(v->addr), "%s", a.str);
	v->by_group = !strcmp(how, "group");
	v->claimed = claimed;
	if (claimed)
		return 0;
	if (strcmp(prev, "-") != 0)
		memcpy(v->prev, prev, strlen(prev) + 1); /* checked to fit above */
	if (strcmp(ov, "-") != 0)
		memcpy(v->override, ov, strlen(ov) + 1); /* checked to fit above */
	return 0;
}

/* An IOMMU group's name as the kernel writes it: decimal, no leading 0. */
bool pci_group_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n < sizeof(((struct pci_node *)0)->group) && strspn(s, "0123456789") == n &&
	       (s[0] != '0' || n == 1);
}

/* One "node GROUP UID GID MODE" line (version 3) into m (not when the
 * group has one already). */
static int pci_node_parse(const char *line, struct pci_record *m)
{
	char word[256], group[256], uid[256], gid[256], mode[256], extra[2];
	unsigned long u, g, md;
	char *end;
	if (sscanf(line, "%255s %255s %255s %255s %255s %1s", word, group, uid, gid, mode,
		   extra) != 5 ||
	    strcmp(word, "node") != 0 || !pci_group_ok(group) ||
	    parse_uint(uid, UINT32_MAX - 1, &u) < 0 || parse_uint(gid, UINT32_MAX - 1, &g) < 0 ||
	    strspn(mode, "01234567") != strlen(mode) || strlen(mode) > 5)
		return -EINVAL;
	md = strtoul(mode, &end, 8);
	if (!*mode || *end || md > 07777)
		return -EINVAL;
	for (size_t i = 0; i < m->nn; i++)
		if (!strcmp(m->nodes[i].group, group))
			return 0;
	struct pci_node *v = realloc(m->nodes, (m->nn + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	m->nodes = v;
	v = &m->nodes[m->nn++];
	memset(v, 0, sizeof(*v));
	memcpy(v->group, group, strlen(group) + 1); /* checked to fit above */
	v->uid = (uint32_t)u;
	v->gid = (uint32_t)g;
	v->mode = (uint32_t)md;
	return 0;
}

/* One line that is not a comment, of a record of version v. */
static int pci_line_parse(const char *s, size_t n, int version, struct pci_record *m)
{
	char line[256];
	if (n >= 200 || memchr(s, '\0', n))
		return -EINVAL;
	memcpy(line, s, n);
	line[n] = '\0';
	if (version >= 3 && !strncmp(line, "node", 4))
		return pci_node_parse(line, m);
	return pci_entry_parse(line, version, m);
}

int pci_record_parse(const char *text, size_t len, struct pci_record *out, struct mvm_error *e)
{
	struct pci_record m = { .version = 1 };
	struct lines ls;
	const char *s = NULL;
	size_t n = 0;
	int r = 0;
	bool first = true; /* the first line that is not blank */
	const char *why = "not a line of a pci-bind record";
	lines_init(&ls, text, len);
	while (r == 0 && lines_next(&ls, &s, &n)) {
		if (n > 0 && memchr(s, '\0', n))
			r = -EINVAL; /* a damaged file, comment or not */
		else if (n > 0 && first && n == strlen(PCI_HEADER) && !memcmp(s, PCI_HEADER, n))
			m.version = 3;
		else if (n > 0 && first && n == strlen(PCI_HEADER_2) && !memcmp(s, PCI_HEADER_2, n))
			m.version = 2;
		else if (n > 0 && s[0] != '#')
			r = pci_line_parse(s, n, m.version, &m);
		first = first && n == 0;
	}
	/* Every version's writer ends each line with a newline: a last line
	 * without one is a record cut short, whose last field may still
	 * parse, as something else ("0660" cut to "06"). */
	if (r == 0 && len > 0 && text[len - 1] != '\n') {
		why = "its last line is cut short (no newline at its end)";
		r = -EINVAL;
	}
	if (r == 0) {
		*out = m;
		return 0;
	}
	pci_record_free(&m);
	if (r == -ENOMEM)
		return mvm_error_set(e, ENOMEM, "read", "", NULL);
	mvm_error_set(e, EINVAL, "parse", "", why);
	if (e) {
		e->line = ls.lineno;
		escape_value(s, n, e->value, sizeof(e->value));
	}
	return -EINVAL;
}

int pci_record_load(const char *runtime_dir, const char *vm, struct pci_record *out,
		    struct mvm_error *e)
{
	_cleanup_free_ char *text = NULL, *file = NULL;
	size_t len = 0;
	int r = record_read_n(runtime_dir, vm, "pci", &text, &len, e);
	if (r == -ENOENT) {
		*out = (struct pci_record){ .version = PCI_RECORD_VERSION };
		return 0;
	}
	if (r < 0)
		return r;
	if (!text)
		return mvm_error_set(e, EIO, "read", "pci", NULL); /* not reached */
	r = pci_record_parse(text, len, out, e);
	if (r < 0 && e && record_path(runtime_dir, vm, "pci", &file, NULL) == 0)
		snprintf(e->path, sizeof(e->path), "%s", file);
	return r;
}
