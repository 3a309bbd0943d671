/* SPDX-License-Identifier: MIT */
#include "vm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "util.h"
#include "walk.h"

static const char *const trust_hint = "the runner package and the path to it must be root's; "
				      "--allow-untrusted overrides";

const char *vm_link_name(enum vm_link l)
{
	return l == VM_CURRENT ? "current" : "booted";
}

/* An error about symlink path: its target as the value, which is what
 * the admin fixes (nothing when it is no symlink). */
static void link_target(const char *path, struct mvm_error *e)
{
	char t[PATH_MAX];
	ssize_t n = e ? readlink(path, t, sizeof(t)) : -1;
	if (n > 0 && (size_t)n < sizeof(t))
		escape_value(t, (size_t)n, e->value, sizeof(e->value));
}

/* NAME.lock in the runtime dir is the lock of VM NAME's runs (lock.h),
 * and RUNTIME/OTHER the directory of VM OTHER's records (record.h): a VM
 * named NAME.lock would have its records where NAME's lock is, and
 * whichever ran first would keep the other from taking its lock or
 * writing its record, unbind and down included. */
static const char lock_suffix[] = ".lock";

int vm_name_check(const char *name, struct mvm_error *e)
{
	const char *why = component_invalid(name, VM_NAME_MAX);
	size_t n = strlen(name), k = sizeof(lock_suffix) - 1;
	if (!why && n >= k && strcmp(name + n - k, lock_suffix) == 0)
		why = "a name may not end in '.lock' (the runtime dir's lock file of another VM)";
	if (!why)
		return 0;
	mvm_error_set(e, EINVAL, "use VM name", "", why);
	if (e)
		snprintf(e->path, sizeof(e->path), "%s", name); /* escaped when shown */
	return -EINVAL;
}

static int untrusted(struct mvm_error *e, const char *path, const char *reason,
		     const char *value)
{
	mvm_error_set(e, EPERM, "trust", path, reason);
	if (e) {
		snprintf(e->value, sizeof(e->value), "%s", value);
		e->hint = trust_hint;
	}
	return -EPERM;
}

/* No directory v->dir (err ENOENT): no VM of that name, as runner-exec
 * status says it. Keeps err, so that a stop has nothing to do. */
static int no_vm(struct mvm_error *e, const struct vm *v, int err)
{
	if (err != ENOENT)
		return mvm_error_set(e, err, "resolve", v->dir, NULL);
	char esc[PATH_MAX];
	return mvm_error_setf(e, ENOENT, "find VM", v->name, "no directory '%s'",
			      escape_value(v->dir, strlen(v->dir), esc, sizeof(esc)));
}

/* untrusted() for what root does not own: its owner as the value. */
static int not_roots(struct mvm_error *e, const char *path, const char *reason, uid_t uid)
{
	char v[32];
	snprintf(v, sizeof(v), "uid %lu", (unsigned long)uid);
	return untrusted(e, path, reason, v);
}

/* sticky_ok: a root-owned sticky directory (/tmp, /nix/store) passes,
 * since nobody else can rename or remove root's entries in it; that holds
 * above a runner, never for the runner itself or anything below it (the
 * VM user could make entries of its own there). */
static int trust_stat(const char *path, const struct stat *st, bool sticky_ok,
		      struct mvm_error *e)
{
	if (st->st_uid != 0)
		return not_roots(e, path, "not owned by root", st->st_uid);
	if (sticky_ok && S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX))
		return 0;
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		char v[32];
		snprintf(v, sizeof(v), "mode %04lo", (unsigned long)(st->st_mode & 07777));
		return untrusted(e, path, "writable by group or others", v);
	}
	return 0;
}

/* The line of a mount table after its ID field, [p, eol): where its type
 * field is (*type, n bytes), 0; -EINVAL when the line is not the kernel's
 * (no "-" separator after the six fields, no type, nothing after it). */
static int line_fstype(const char *p, const char *eol, const char **type, size_t *n)
{
	for (unsigned field = 2;; field++) {
		const char *sp = memchr(p, ' ', (size_t)(eol - p));
		if (field > 6 && (sp ? sp : eol) - p == 1 && *p == '-') {
			const char *t = sp ? sp + 1 : eol;
			const char *te = memchr(t, ' ', (size_t)(eol - t));
			if (!te || te == t)
				return -EINVAL;
			*type = t;
			*n = (size_t)(te - t);
			return 0;
		}
		if (!sp)
			return -EINVAL;
		p = sp + 1;
	}
}

int mountinfo_fstype(const char *text, size_t len, unsigned long long id, char *type,
		     size_t size)
{
	if (memchr(text, '\0', len))
		return -EINVAL;
	const char *end = text + len, *found = NULL;
	size_t n = 0;
	for (const char *p = text; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end, *q = p;
		unsigned long long v = 0;
		for (; q < eol && *q >= '0' && *q <= '9'; q++) {
			unsigned d = (unsigned)(*q - '0');
			if (v > (ULLONG_MAX - d) / 10)
				return -EINVAL;
			v = v * 10 + d;
		}
		if (q == p || q == eol || *q != ' ')
			return -EINVAL;
		if (v == id) {
			if (found)
				return -EINVAL;
			int r = line_fstype(q + 1, eol, &found, &n);
			if (r < 0)
				return r;
		}
		p = nl ? nl + 1 : end;
	}
	if (!found)
		return 0;
	if (n >= size)
		return -ENAMETOOLONG;
	memcpy(type, found, n);
	type[n] = '\0';
	return 1;
}

/* This process's mounts; only a file on FUSE has them read (never a path
 * a caller names: what the kernel says of this very process). Longer than
 * MOUNTINFO_MAX: not read, FUSE. */
#define MOUNTINFO "/proc/self/mountinfo"
#define MOUNTINFO_MAX (16u << 20)

/* The mount ID of fd (statx() with AT_STATX_DONT_SYNC: nothing asked of
 * a FUSE daemon), or -errno (-ENOSYS before Linux 5.8). */
static int mnt_id_of(int fd, const char *name, uint64_t *id)
{
	struct statx x;
	if (statx(fd, name, (name[0] ? 0 : AT_EMPTY_PATH) | AT_SYMLINK_NOFOLLOW |
				    AT_STATX_DONT_SYNC, 0, &x) < 0)
		return -errno;
	if (!(x.stx_mask & STATX_MNT_ID))
		return -ENOSYS;
	*id = x.stx_mnt_id;
	return 0;
}

/* The type of mount id in MOUNTINFO, into type: 1, 0 when it is not
 * there (gone since), or -errno. */
static int mount_type(uint64_t id, char *type, size_t size)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = read_file(MOUNTINFO, MOUNTINFO_MAX, &text, &len);
	return r < 0 ? r : mountinfo_fstype(text, len, id, type, size);
}

/* Is fd, which is on FUSE_SUPER_MAGIC, on a virtiofs mount? Its mount's
 * ID (mnt_id_of(): Linux 5.8 on, nothing asked of a FUSE daemon), looked
 * up in MOUNTINFO: true only when that mount's type is exactly "virtiofs";
 * anything else, or any trouble, is false (FUSE: fail closed). The fd
 * holds the mount, so its ID names no other while the table is read. */
static bool on_virtiofs(int fd)
{
	uint64_t id;
	char type[sizeof("virtiofs")];
	return mnt_id_of(fd, "", &id) == 0 && mount_type(id, type, sizeof(type)) == 1 &&
	       strcmp(type, "virtiofs") == 0;
}

int mount_is_fuse(uint64_t id)
{
	char type[64];
	int r = mount_type(id, type, sizeof(type));
	if (r <= 0)
		return r < 0 ? r : -ENOENT; /* (gone since) */
	return strcmp(type, "fuse") == 0 || strcmp(type, "fuseblk") == 0 ||
	       strncmp(type, "fuse.", 5) == 0;
}

int mount_point_on_fuse(int pfd, int fd, const char *name)
{
	uint64_t a, b;
	int r = mnt_id_of(pfd, "", &a);
	if (r == 0)
		r = mnt_id_of(fd, name, &b);
	if (r < 0)
		return r;
	return a == b ? 0 /* (no mount point: the directory's own file system) */
		      : mount_is_fuse(b);
}

/* path resolved as the kernel would (walk_path(): no name looked up on
 * a FUSE mount, not virtiofs, and nothing asked of one; the VM user can
 * mount one, with allow_other where /etc/fuse.conf lets it, wherever it
 * may write, whose daemon could keep root waiting on any look-up). A
 * last step that is a link is followed when follow_last. (Without mount
 * IDs, before Linux 5.8, each step is taken as it is.) */
static int walk_unasked(int at, const char *at_path, const char *path, bool follow_last,
			int *fd, char **out, struct mvm_error *e)
{
	const struct walk_rules w = {.flags = follow_last ? WALK_FOLLOW_LAST : 0,
				     .action = "resolve"};
	return walk_path(at, at_path, path, &w, fd, out, e);
}

int on_fuse(const char *path, int fd)
{
	/* path looked up once: the magic number and the mount's type are
	 * those of one file (the VM user's FUSE daemon can hold a request
	 * while its mount is taken off and a link put in its place) */
	_cleanup_close_ int own = fd >= 0 ? -1 : open(path, O_PATH | O_CLOEXEC);
	struct statfs sf;
	if (fd < 0 && own < 0)
		return -errno;
	if (fstatfs(fd >= 0 ? fd : own, &sf) < 0)
		return -errno;
	if (sf.f_type != FUSE_SUPER_MAGIC)
		return 0;
	return !on_virtiofs(fd >= 0 ? fd : own);
}

/* A FUSE mount where root's are needed: -EPERM. */
static int fuse_untrusted(const char *path, struct mvm_error *e)
{
	return untrusted(e, path, "on a FUSE mount (its owners are whatever its daemon says)",
			 "fuse");
}

/* Not on FUSE (on_fuse(); virtiofs passes). fd >= 0: of that file. */
static int trust_fs(const char *path, int fd, struct mvm_error *e)
{
	int r = on_fuse(path, fd);
	if (r < 0)
		return mvm_error_set(e, -r, "trust", path, NULL);
	return r ? fuse_untrusted(path, e) : 0;
}

/* links_ok: path may be a symlink, when it is root's (it lies on the file
 * system of its directory, checked before): 1 then; otherwise a symlink
 * is an error, as in a resolved path. */
static int trust_one(const char *path, bool sticky_ok, bool links_ok, struct mvm_error *e)
{
	/* One look-up, not lstat() and statfs(): owner and file system of
	 * one file (the VM user can show root's directory on its FUSE mount,
	 * and swap a link to root's in for it before a second look-up) */
	_cleanup_close_ int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return mvm_error_set(e, errno, "trust", path, NULL);
	if (S_ISLNK(st.st_mode) && !links_ok)
		return mvm_error_set(e, ELOOP, "trust", path, "a symlink in a resolved path");
	if (S_ISLNK(st.st_mode) && st.st_uid == 0)
		return 1;
	int r = trust_stat(path, &st, sticky_ok, e);
	return r < 0 ? r : trust_fs(path, fd, e);
}

/* Check every prefix of path that ends after byte `from` (a '/' or the
 * end), and the path itself; the ones up to `from` are known good. A
 * sticky directory passes above the path's last component when
 * sticky_above (the runner's own dir and what is below it: never); root's
 * symlinks pass when links_ok (a path as written, not resolved: lstat()
 * of a step goes through the links before it, to the very entry), and
 * the walk returns 1 if it met one. */
static int trust_walk(const char *path, size_t from, bool sticky_above, bool links_ok,
		      struct mvm_error *e)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	if (n >= sizeof(buf))
		return mvm_error_set(e, ENAMETOOLONG, "trust", path, NULL);
	memcpy(buf, path, n + 1);
	int r = 0;
	bool links = false;
	for (size_t i = from + 1; r >= 0 && i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (i > 1) {
			r = trust_one(buf, sticky_above && i < n, links_ok, e);
			links |= r == 1;
		}
		buf[i] = c;
	}
	return r < 0 ? r : links;
}

/* Is path below root (itself resolved; "/" holds every path)? */
static bool below(const char *path, const char *root)
{
	_cleanup_free_ char *rr = realpath(root, NULL);
	if (!rr)
		return false;
	size_t n = strlen(rr);
	if (n == 1)
		return true;
	return strncmp(path, rr, n) == 0 && path[n] == '/';
}

/* Root-owned is not root's everywhere: a guest's root writes through a
 * virtiofs share as host uid 0 (virtiofsd runs as root and keeps the
 * guest's owners; it can chown the share's own directory too), and so do
 * a rootful container's root in a bind mount and an NFS client without
 * root squash. So a runner is trusted only below a runner root, where
 * none of those writes: $MICROVM_RUNNER_ROOTS, absolute directories
 * separated by ':', by default /nix/store (written through the Nix daemon
 * alone, read-only to the virtiofsd unit; but any user the daemon lets in
 * can add a path there: README). The runner itself: what links in it lead
 * to outside it, its builder chose. */
static int trust_roots(const char *path, struct mvm_error *e)
{
	const char *env = getenv("MICROVM_RUNNER_ROOTS");
	const char *roots = env && *env ? env : DEFAULT_RUNNER_ROOTS;
	char root[PATH_MAX];
	for (const char *p = roots; *p;) {
		size_t n = strcspn(p, ":");
		if (n > 0 && n < sizeof(root) && p[0] == '/') {
			memcpy(root, p, n);
			root[n] = '\0';
			if (below(path, root))
				return 0;
		}
		p += n + (p[n] == ':');
	}
	mvm_error_set(e, EPERM, "trust", path, "not below a runner root");
	if (e) {
		escape_value(roots, strlen(roots), e->value, sizeof(e->value));
		e->hint = "$MICROVM_RUNNER_ROOTS, by default " DEFAULT_RUNNER_ROOTS
			  ", lists where runners may lie; --allow-untrusted overrides";
	}
	return -EPERM;
}

int trust_check(const char *path, struct mvm_error *e)
{
	if (path[0] != '/')
		return mvm_error_set(e, EINVAL, "trust", path, "not an absolute path");
	int r = trust_one("/", path[1] != '\0', false, e);
	return r < 0 ? r : trust_walk(path, 0, true, false, e);
}

/* The trust check of rp, a file read from the runner: only the part
 * below the runner when rp lies inside it (vm_open() checked the runner
 * and everything above it, all root's and unwritable by anyone else). */
static int trust_in_runner(const struct vm *vm, const char *rp, struct mvm_error *e)
{
	size_t n = strlen(vm->runner);
	if (strncmp(rp, vm->runner, n) == 0 && rp[n] == '/')
		return trust_walk(rp, n, false, false, e);
	return trust_check(rp, e);
}

void vm_close(struct vm *vm)
{
	if (vm->dir && vm->dfd >= 0) /* (vm_open() sets both; { 0 } is not open) */
		close(vm->dfd);
	free(vm->name);
	free(vm->dir);
	free(vm->link);
	free(vm->runner);
	memset(vm, 0, sizeof(*vm));
}

/* resolve_rooted()'s rule for a step: a link is root's, a directory an
 * entry is looked up in root's and unwritable by group or others (a
 * root-owned sticky one too: nobody else can rename root's entries there),
 * so that what is resolved so far holds nothing but root's directories. */
static int rooted_step(void *ctx, const struct walk_step *s, struct mvm_error *e)
{
	(void)ctx;
	if (S_ISLNK(s->st->st_mode))
		return s->st->st_uid == 0 ? 0
					  : not_roots(e, s->path, "a link not made by root",
						      s->st->st_uid);
	if (s->last)
		return 0;
	int r = trust_stat(s->path, s->st, true, e);
	return r < 0 ? r : trust_fs(s->path, s->fd, e);
}

static const struct walk_rules rooted_rules = {.flags = WALK_FOLLOW_LAST,
					       .action = "trust",
					       .step = rooted_step,
					       .fuse = fuse_untrusted};

/* Resolve path, an absolute one, as the kernel would, but only through
 * what root chose: every directory an entry is looked up in is root's and
 * unwritable by group or others (a root-owned sticky one too: nobody else
 * can rename root's entries there), every link met is root's, and no link
 * leads through a directory someone else could change (rooted_step()).
 * Walked by walk_path(): each step opened from the one before, and a FUSE
 * mount on any refused unasked, as not root's (its daemon says who owns
 * what, and could keep root waiting). The result, the resolved path, in
 * *out; -ENOENT (e filled) when a step is missing. */
static int resolve_rooted(const char *path, char **out, struct mvm_error *e)
{
	if (path[0] != '/')
		return mvm_error_set(e, EINVAL, "trust", path, "not an absolute path");
	int r = trust_one("/", true, false, e);
	return r < 0 ? r : walk_path(-1, NULL, path, &rooted_rules, NULL, out, e);
}

/* rooted_step(), counting the links met into *ctx. */
static int rooted_step_counted(void *ctx, const struct walk_step *s, struct mvm_error *e)
{
	int r = rooted_step(NULL, s, e);
	if (r == 0 && S_ISLNK(s->st->st_mode))
		++*(unsigned *)ctx;
	return r;
}

/* The directory path (len bytes of it, absolute, as written) resolved as
 * resolve_rooted() resolves a path it is a prefix of, and opened into d:
 * walked as "DIR/.", so that its last step is one with more after it, as
 * in the whole path (opened as a directory, and checked by rooted_step()
 * as a directory an entry is looked up in). Only a way with no link on
 * it: the whole path's walk then follows exactly the links of its last
 * step, as the walk from d does (the same limit of 40, the same lengths).
 * 0, or -errno (nothing said: the caller resolves the whole path the long
 * way then). */
static int rooted_dir_open(const char *path, size_t len, struct vm_rooted_dir *d)
{
	char dir[PATH_MAX];
	if (len == 0 || len + 2 >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, len);
	memcpy(dir + len, "/.", 3);
	unsigned links = 0;
	struct walk_rules w = rooted_rules;
	w.step = rooted_step_counted;
	w.ctx = &links;
	struct vm_rooted_dir n = {.fd = -1};
	int r = trust_one("/", true, false, NULL);
	if (r == 0)
		r = walk_path(-1, NULL, dir, &w, &n.fd, &n.res, NULL);
	if (r == 0 && links > 0)
		r = -ELOOP; /* (not kept: the long way for each) */
	dir[len] = '\0';
	if (r == 0 && !(n.written = strdup(dir)))
		r = -ENOMEM;
	if (r < 0) {
		if (n.fd >= 0)
			close(n.fd);
		free(n.res);
		return r;
	}
	*d = n;
	return 0;
}

static void vm_rooted_dir_free(struct vm_rooted_dir *d)
{
	if (d->written && d->fd >= 0)
		close(d->fd);
	free(d->written);
	free(d->res);
	memset(d, 0, sizeof(*d));
}

/* resolve_rooted() of path, an absolute one, for one more VM of scan: the
 * directory it lies in (as written) resolved and checked once for all the
 * VMs whose runners lie there (/nix/store, the pins' directory), and only
 * the last step walked from it, by the same rule. (Walked from "/" as
 * before when there is no scan, or the last step is no plain name.) */
static int resolve_rooted_in(struct vm_scan *scan, const char *path, char **out,
			     struct mvm_error *e)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	if (!scan || path[0] != '/' || slash == path || !*name || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return resolve_rooted(path, out, e);
	size_t len = (size_t)(slash - path);
	struct vm_rooted_dir *d = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(scan->dirs) && !d; i++) {
		struct vm_rooted_dir *c = &scan->dirs[i];
		if (c->written && strlen(c->written) == len && memcmp(c->written, path, len) == 0)
			d = c;
	}
	if (!d) { /* (a new one, in the place of the oldest) */
		struct vm_rooted_dir n;
		if (rooted_dir_open(path, len, &n) < 0)
			return resolve_rooted(path, out, e);
		d = &scan->dirs[scan->next++ % ARRAY_SIZE(scan->dirs)];
		vm_rooted_dir_free(d);
		*d = n;
	}
	/* Any failure said as the long way says it (a missing step, a
	 * refused one: the same walk from "/" meets it again). */
	int r = walk_path(d->fd, d->res, name, &rooted_rules, NULL, out, NULL);
	return r < 0 ? resolve_rooted(path, out, e) : r;
}

/* The VM's directory v->dir, opened in the state dir sd (resolved as
 * state) into v->dfd, as vm_dir() says. The directory itself is not
 * followed when it is a link, unless link_ok: the state dir is the VM
 * user's too (the NixOS module makes it 0775 microvm:kvm), and its link
 * could lead to any directory that holds a `current` of root's (one the
 * VM user added to /nix/store through the Nix daemon, which makes it
 * root's); then it is refused, naming its target. */
static int dir_open(struct vm *v, int sd, const char *state, bool link_ok, struct mvm_error *e)
{
	int fd = openat(sd, v->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) /* as a missing link: no VM of that name */
		return no_vm(e, v, errno);
	/* known to be no FUSE mount before anything is asked of it */
	int f = mount_point_on_fuse(sd, fd, "");
	struct stat st;
	if (f == 0 || f == -ENOSYS)
		f = fstat(fd, &st) < 0 ? -errno : 0;
	if (f == 0 && S_ISLNK(st.st_mode) && !link_ok) {
		char t[PATH_MAX];
		ssize_t n = readlinkat(fd, "", t, sizeof(t));
		close(fd);
		int r = untrusted(e, v->dir,
				  "a symlink in the state dir (refused: the VM user could point it "
				  "anywhere)",
				  "");
		if (e) {
			if (n > 0 && (size_t)n < sizeof(t))
				escape_value(t, (size_t)n, e->value, sizeof(e->value));
			e->hint = "a VM's directory is a directory of the state dir, not a link; "
				  "--allow-untrusted overrides";
		}
		return r;
	}
	if (f == 0 && S_ISLNK(st.st_mode)) {
		close(fd);
		fd = -1;
		f = walk_unasked(sd, state, v->name, true, &fd, NULL, e);
		if (f == 0)
			f = fstat(fd, &st) < 0 ? -errno : 0;
		else if (f == -ENOENT || f == -ENOTDIR) /* (a dangling link: no VM) */
			return no_vm(e, v, ENOENT);
		else
			return f; /* (e filled: on FUSE, say) */
		v->dir_link = true;
	}
	if (f > 0 && !v->allow_untrusted)
		f = fuse_untrusted(v->dir, e);
	else if (f > 0)
		f = fuse_unasked(v->dir, e);
	else if (f == -ENOENT)
		f = no_vm(e, v, ENOENT);
	else if (f < 0)
		f = mvm_error_set(e, -f, "inspect", v->dir, NULL);
	else if (!S_ISDIR(st.st_mode))
		f = mvm_error_set(e, ENOTDIR, "resolve", v->dir, NULL);
	if (f < 0) {
		if (fd >= 0)
			close(fd);
		return f;
	}
	v->dfd = fd;
	return 0;
}

/* Root's own name of the VM's runner: the link PINS/NAME, PINS being
 * $MICROVM_RUNNER_PINS or DEFAULT_RUNNER_PINS, resolved only through what
 * root chose (resolve_rooted(): no VM user and no guest, whose root makes
 * links as host uid 0 through a virtiofs share, has a say on the way).
 * 1 with vm->runner and vm->link (the pin) set; 0 when there is no pin
 * (the caller reads `current`); a pin that leads nowhere is an error,
 * never "no pin". allow_untrusted: the pin resolved as it is. */
static int pinned(struct vm *v, int sd, const char *state, struct vm_scan *scan,
		  struct mvm_error *e)
{
	const char *env = getenv("MICROVM_RUNNER_PINS");
	const char *dir = env && *env ? env : DEFAULT_RUNNER_PINS;
	if (dir[0] != '/') {
		mvm_error_set(e, EINVAL, "read", "MICROVM_RUNNER_PINS", "not an absolute path");
		if (e)
			escape_value(dir, strlen(dir), e->value, sizeof(e->value));
		return -EINVAL;
	}
	/* Whether there is a pin: asked only in a directory reached through
	 * root's (whoever could break the way to it would switch pins off). */
	_cleanup_free_ char *rdir = NULL;
	int r = 0;
	if (v->allow_untrusted) {
		rdir = strdup(dir);
		if (!rdir)
			return mvm_error_set(e, ENOMEM, "read", dir, NULL);
	} else if (scan && scan->pins != 0) { /* (as the scan's first VM found it) */
		if (scan->pins < 0)
			return 0;
		if (!(rdir = strdup(scan->pins_dir)))
			return mvm_error_set(e, ENOMEM, "read", dir, NULL);
	} else {
		r = resolve_rooted(dir, &rdir, e);
		if (r == -ENOENT) {
			if (scan)
				scan->pins = -1;
			return 0;
		}
		/* ... and asked in a directory of root's, unwritable by
		 * others: in anyone else's, its owner could remove the pin. */
		if (r == 0)
			r = trust_one(rdir, false, false, e);
		if (r < 0)
			return r;
		if (scan && (scan->pins_dir = strdup(rdir)))
			scan->pins = 1;
	}
	_cleanup_free_ char *pin = path_join(rdir, v->name);
	if (!pin)
		return mvm_error_set(e, ENOMEM, "read", dir, NULL);
	struct stat st;
	if (lstat(pin, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return mvm_error_set(e, errno, "read", pin, NULL);
	}
	/* The VM's directory must be there, as without a pin (no VM of
	 * that name: nothing to do); a link there is followed (`current`,
	 * which could lead anywhere through it, is not read). */
	r = dir_open(v, sd, state, true, e);
	if (r < 0)
		return r;
	if (v->allow_untrusted) {
		/* (as it is, but nothing looked up on a FUSE mount: the pin may
		 * lead through the VM user's directory) */
		r = walk_unasked(-1, NULL, pin, true, NULL, &v->runner, e);
	} else {
		r = resolve_rooted_in(scan, pin, &v->runner, e);
	}
	if (r == -ENOENT) { /* not -ENOENT: that would be "nothing to do" */
		mvm_error_set(e, ENOLINK, "resolve", pin, "dangling symlink");
		link_target(pin, e);
		return -ENOLINK;
	}
	if (r < 0)
		return r;
	free(v->link);
	v->link = pin;
	pin = NULL;
	return 1;
}

/* The runner vm->link (`current`, or `booted` for VM_BOOTED_BY_ROOT)
 * names, into vm->runner, when root named it: a link that root owns, with an absolute target. The VM user owns the
 * VM's directory and can make a link of its own there, to any runner that
 * passes the rest of the rule (on a NixOS host, one it added through the
 * Nix daemon). The link is opened once (O_PATH, not followed) and its
 * owner and text read from that descriptor: a rename, even an exchange
 * and back, cannot slip another link's text in between. One name only
 * (a hard link to another root-owned link, were fs.protected_hardlinks
 * off, is not root's naming); a relative target would resolve through
 * the VM user's directory. Not on FUSE (on_fuse(): virtiofs is not): the
 * VM user can mount one on its directory, whose daemon shows any link as
 * root's. The VM's directory itself is not followed when it is a link
 * (dir_open()). */
static int root_named(struct vm *v, enum vm_link which, int sd, const char *state,
		      struct vm_scan *scan, struct mvm_error *e)
{
	/* who makes the link, and who else may act on another's */
	const char *who = which == VM_CURRENT
				  ? "only root points a VM's `current` at a runner; --allow-untrusted "
				    "overrides"
				  : "run as root, stop runs only what a `booted` of root's names; run "
				    "it as the VM user, as microvm@'s ExecStop= does; --allow-untrusted "
				    "overrides";
	/* The VM's directory opened in the state dir, and known to be no
	 * FUSE mount before anything is asked of it: the VM user can mount
	 * one there (allow_other), whose daemon could keep root waiting on
	 * fstat(); a check before this (vm_scan_dir_on_fuse()) leaves
	 * the time to mount it between. */
	int r = dir_open(v, sd, state, false, e);
	if (r < 0)
		return r;
	int dfd = v->dfd;
	_cleanup_close_ int fd =
		openat(dfd, vm_link_name(which), O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return mvm_error_set(e, errno, "resolve", v->link, NULL);
	/* A mount point there (the VM user's FUSE mount on a directory it
	 * named so) is no link, and is not asked what it is: its daemon
	 * could keep root waiting on fstat(). */
	uint64_t dmnt, lmnt;
	if (mnt_id_of(dfd, "", &dmnt) == 0 && mnt_id_of(fd, "", &lmnt) == 0 && dmnt != lmnt)
		return mvm_error_set(e, EINVAL, "resolve", v->link, "not a symlink (a mount point)");
	struct stat st;
	if (fstat(fd, &st) < 0)
		return mvm_error_set(e, errno, "resolve", v->link, NULL);
	if (!S_ISLNK(st.st_mode))
		return mvm_error_set(e, EINVAL, "resolve", v->link, "not a symlink");
	if (st.st_uid != 0 || st.st_nlink != 1) {
		r = st.st_uid != 0 ? not_roots(e, v->link, "a link not made by root", st.st_uid)
				   : untrusted(e, v->link, "a link with more than one name", "");
		if (e)
			e->hint = who;
		return r;
	}
	r = trust_fs(v->link, fd, e);
	if (r < 0)
		return r;
	char target[PATH_MAX];
	ssize_t n = readlinkat(fd, "", target, sizeof(target));
	if (n < 0)
		return mvm_error_set(e, errno, "resolve", v->link, NULL);
	if ((size_t)n >= sizeof(target))
		return mvm_error_set(e, ENAMETOOLONG, "resolve", v->link, NULL);
	target[n] = '\0';
	if (target[0] != '/') {
		r = untrusted(e, v->link, "a relative link (through the VM user's directory)", "");
		if (e) {
			escape_value(target, (size_t)n, e->value, sizeof(e->value));
			e->hint = which == VM_CURRENT
					  ? "root links `current` to the runner's absolute path; "
					    "--allow-untrusted overrides"
					  : who;
		}
		return r;
	}
	/* Resolved as root's pin is: an absolute target can lead through the
	 * VM user's directory too (STATE/NAME/result), where that user could
	 * put a link of its own. */
	r = resolve_rooted_in(scan, target, &v->runner, e);
	if (r == -ENOENT || r == -ENOTDIR) { /* with the target, as a dangling link is fixed */
		r = mvm_error_set(e, -r, "resolve", v->link, NULL);
		if (e)
			escape_value(target, (size_t)n, e->value, sizeof(e->value));
	}
	return r;
}

/* The state dir resolved (walk_unasked()), and opened: into *sd and
 * *state. */
static int state_open(const char *state_dir, int *sd, char **state, struct mvm_error *e)
{
	int r = walk_unasked(-1, NULL, state_dir, true, sd, state, e);
	if (r < 0 && r != -EPERM) /* (not on FUSE: e names the mount) */
		r = mvm_error_set(e, -r, "open state dir", state_dir, NULL);
	return r;
}

int vm_dir(const char *state_dir, const char *name, bool link_ok, bool *link,
	   struct mvm_error *e)
{
	_cleanup_free_ char *state = NULL;
	_cleanup_close_ int sd = -1;
	int r = state_open(state_dir, &sd, &state, e);
	if (r < 0)
		return r;
	struct vm v = {.name = (char *)name, .dfd = -1, .allow_untrusted = link_ok};
	v.dir = path_join(state, name);
	if (!v.dir)
		return mvm_error_set(e, ENOMEM, "open", name, NULL);
	r = dir_open(&v, sd, state, link_ok, e);
	free(v.dir);
	if (r < 0)
		return r;
	if (link)
		*link = v.dir_link;
	return v.dfd;
}

/* The runner the link (`current` or `booted`) names, into v->runner, as
 * it is: allow_untrusted, or `booted` as the VM user (its own link).
 * Resolved from the VM's directory v->dfd, never onto a FUSE mount. */
static int link_followed(struct vm *v, enum vm_link which, int sd, const char *state,
			 struct mvm_error *e)
{
	int r = v->dfd >= 0 ? 0 : dir_open(v, sd, state, true, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *rel = NULL;
	if (v->dir_link && asprintf(&rel, "%s/%s", v->name, vm_link_name(which)) < 0)
		return mvm_error_set(e, ENOMEM, "resolve", v->link, NULL);
	r = v->dir_link ? walk_unasked(sd, state, rel, true, NULL, &v->runner, e)
			: walk_unasked(v->dfd, v->dir, vm_link_name(which), true, NULL, &v->runner, e);
	if (r == -EPERM) /* (on FUSE: e names the mount) */
		return r;
	if (r < 0) {
		char t[PATH_MAX];
		ssize_t n = v->dir_link ? -1
					: readlinkat(v->dfd, vm_link_name(which), t, sizeof(t));
		r = mvm_error_set(e, -r, "resolve", v->link, NULL);
		if (e && n > 0 && (size_t)n < sizeof(t)) /* booted's runner collected, say */
			escape_value(t, (size_t)n, e->value, sizeof(e->value));
	}
	return r;
}

/* vm_open(), with what scan (NULL: none) took for the VMs before. */
static int vm_open_in(struct vm *vm, const char *state_dir, const char *name, enum vm_link which,
		      bool allow_untrusted, struct vm_scan *scan, struct mvm_error *e)
{
	struct vm v = {.dfd = -1, .allow_untrusted = allow_untrusted};
	int r = vm_name_check(name, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *own_state = NULL;
	_cleanup_close_ int own_sd = -1;
	if (scan && !scan->state)
		r = state_open(state_dir, &scan->sd, &scan->state, e);
	else if (!scan)
		r = state_open(state_dir, &own_sd, &own_state, e);
	if (r < 0)
		return r;
	int sd = scan ? scan->sd : own_sd;
	const char *state = scan ? scan->state : own_state;
	v.name = strdup(name);
	v.dir = path_join(state, name);
	v.link = v.dir ? path_join(v.dir, vm_link_name(which)) : NULL;
	if (!v.name || !v.link) {
		r = mvm_error_set(e, ENOMEM, "open", name, NULL);
		goto fail;
	}
	/* Root's pin when there is one: `current`, which the VM user can
	 * change, is not read then. */
	r = which == VM_CURRENT ? pinned(&v, sd, state, scan, e) : 0;
	/* (resolve_rooted(): every directory on the way checked already) */
	bool rooted = r == 1 && !allow_untrusted;
	if (r == 0 && which != VM_BOOTED && !allow_untrusted) {
		r = root_named(&v, which, sd, state, scan, e);
		rooted = true;
	} else if (r == 0) {
		r = link_followed(&v, which, sd, state, e);
	}
	if (r < 0)
		goto fail;
	if (!allow_untrusted) {
		/* The runner below a runner root; what its own links lead to
		 * outside it, its builder chose (the ownership rule alone).
		 * Resolved by resolve_rooted(), each directory above it passed
		 * that rule on the way (trust_check()'s for them), and the
		 * runner itself is checked alone. */
		r = trust_roots(v.runner, e);
		if (r == 0)
			r = rooted ? trust_one(v.runner, false, false, e) : trust_check(v.runner, e);
		if (r < 0)
			goto fail;
	}
	*vm = v;
	return 0;
fail:
	vm_close(&v);
	return r;
}

int vm_open(struct vm *vm, const char *state_dir, const char *name, enum vm_link which,
	    bool allow_untrusted, struct mvm_error *e)
{
	return vm_open_in(vm, state_dir, name, which, allow_untrusted, NULL, e);
}

int vm_scan_open(struct vm_scan *scan, struct vm *vm, const char *name, struct mvm_error *e)
{
	return vm_open_in(vm, scan->state_dir, name, VM_CURRENT, false, scan, e);
}

int vm_scan_dir_on_fuse(struct vm_scan *scan, const char *name)
{
	/* (a state dir that cannot be opened: vm_scan_open() says why) */
	if (!scan->state && state_open(scan->state_dir, &scan->sd, &scan->state, NULL) < 0)
		return 0;
	return mount_point_on_fuse(scan->sd, scan->sd, name);
}

void vm_scan_free(struct vm_scan *scan)
{
	if (scan->state && scan->sd >= 0)
		close(scan->sd);
	free(scan->state);
	free(scan->pins_dir);
	for (size_t i = 0; i < ARRAY_SIZE(scan->dirs); i++)
		vm_rooted_dir_free(&scan->dirs[i]);
	memset(scan, 0, sizeof(*scan));
}

/* Whether rel is a plain relative path: no empty, "." or ".." step. */
static bool plain_rel(const char *rel)
{
	for (const char *p = rel;; p++) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (p[0] == '.' && (n == 1 || (n == 2 && p[1] == '.'))))
			return false;
		p += n;
		if (*p == '\0')
			return true;
	}
}

/* RUNNER/rel resolved and trust-checked: -ENOENT (e not filled) when
 * there is nothing at all. */
static int resolve(const struct vm *vm, const char *rel, char **real, struct mvm_error *e)
{
	_cleanup_free_ char *path = path_join(vm->runner, rel);
	if (!path)
		return mvm_error_set(e, ENOMEM, "read", rel, NULL);
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return -ENOENT;
		return mvm_error_set(e, errno, "read", path, NULL);
	}
	if (!vm->allow_untrusted) {
		/* As written, before any link in it is followed: each step below
		 * the runner root's, a directory unwritable by anyone else, so
		 * that every link on the way is root's and lies where only root
		 * could have put it. (The resolved path is checked after.) */
		int r = trust_walk(path, strlen(vm->runner), false, true, e);
		if (r == -ENOENT || r == -ENOTDIR) /* a link's target gone meanwhile */
			return mvm_error_set(e, ENOLINK, "read", path, "dangling symlink");
		if (r < 0)
			return r;
		/* No link on the way (the runner itself is resolved): the path
		 * is its own resolution, and the walk checked just what the
		 * check of a resolved one would. */
		if (r == 0 && plain_rel(rel)) {
			*real = path;
			path = NULL;
			return 0;
		}
	}
	char *rp = realpath(path, NULL);
	if (!rp && errno == ENOENT) /* not -ENOENT: that would be "nothing to do" */
		return mvm_error_set(e, ENOLINK, "read", path, "dangling symlink");
	if (!rp)
		return mvm_error_set(e, errno, "read", path, NULL);
	if (!vm->allow_untrusted) {
		int r = trust_in_runner(vm, rp, e);
		if (r < 0) {
			free(rp);
			return r;
		}
	}
	*real = rp;
	return 0;
}

/* The file opened as fd (rp: its resolved path, for messages): a regular
 * one, trusted, at most LAYOUT_FILE_MAX bytes, read whole. dir_mnt: the
 * mount of the directory it was opened in, whose file system passed
 * trust_fs() (NULL: not known): a file on that mount is on that file
 * system, and is not asked again. */
static int read_opened(const struct vm *vm, int fd, const char *rp, const uint64_t *dir_mnt,
		       char **buf, size_t *len, struct mvm_error *e)
{
	struct stat st;
	uint64_t mnt;
	bool mnt_known;
	int f = fstat_mnt(fd, &st, &mnt, &mnt_known);
	if (f < 0)
		return mvm_error_set(e, -f, "read", rp, NULL);
	if (S_ISDIR(st.st_mode))
		return mvm_error_set(e, EISDIR, "read", rp, NULL);
	if (!S_ISREG(st.st_mode))
		return mvm_error_set(e, EINVAL, "read", rp, "not a regular file");
	if (!vm->allow_untrusted) {
		int r = trust_stat(rp, &st, false, e); /* the file we opened, not a swapped one */
		if (r == 0 && !(dir_mnt && mnt_known && mnt == *dir_mnt))
			r = trust_fs(rp, fd, e);
		if (r < 0)
			return r;
	}
	int r = read_fd_stat(fd, &st, LAYOUT_FILE_MAX, buf, len);
	struct stat big;
	if (r == -EFBIG)
		return fstat(fd, &big) == 0
			       ? mvm_error_setf(e, EFBIG, "read", rp,
						"a file of %lld bytes, larger than 64 KiB",
						(long long)big.st_size)
			       : mvm_error_set(e, EFBIG, "read", rp, "file larger than 64 KiB");
	if (r < 0)
		return mvm_error_set(e, r, "read", rp, NULL);
	return 0;
}

int vm_read(const struct vm *vm, const char *rel, char **buf, size_t *len, struct mvm_error *e)
{
	_cleanup_free_ char *rp = NULL;
	int r = resolve(vm, rel, &rp, e);
	if (r < 0)
		return r;
	/* O_NONBLOCK: a FIFO must not hang us; O_NOFOLLOW: rp is resolved. */
	_cleanup_close_ int fd = open(rp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return mvm_error_set(e, errno, "read", rp, NULL);
	return read_opened(vm, fd, rp, NULL, buf, len, e);
}

/* RUNNER/rel of the layout, read whole: 1, 0 when it does not exist (an
 * optional file: nothing to do), or -errno with e filled. */
static int layout_read(const struct vm *vm, const char *rel, char **buf, size_t *len,
		       struct mvm_error *e)
{
	int r = vm_read(vm, rel, buf, len, e);
	return r == -ENOENT ? 0 : r < 0 ? r : 1;
}

/* After the parser of buf (its result r): buf freed, and a parse error
 * named after the file (a parser leaves e->path to its caller). */
static int layout_parsed(const struct vm *vm, const char *rel, char *buf, int r,
			 struct mvm_error *e)
{
	free(buf);
	if (r < 0 && e && e->path[0] == '\0')
		snprintf(e->path, sizeof(e->path), "%s/%s", vm->runner, rel);
	return r < 0 ? r : 0;
}

int vm_tap_interfaces(const struct vm *vm, struct ifname_list *out, struct mvm_error *e)
{
	static const char rel[] = "share/microvm/tap-interfaces";
	char *buf;
	size_t len;
	*out = (struct ifname_list){0};
	int r = layout_read(vm, rel, &buf, &len, e);
	return r <= 0 ? r : layout_parsed(vm, rel, buf, parse_tap_interfaces(buf, len, out, e), e);
}

int vm_tap_flags(const struct vm *vm, unsigned *flags, struct mvm_error *e)
{
	static const char rel[] = "share/microvm/tap-flags";
	char *buf;
	size_t len;
	*flags = 0;
	int r = layout_read(vm, rel, &buf, &len, e);
	return r <= 0 ? r : layout_parsed(vm, rel, buf, parse_tap_flags(buf, len, flags, e), e);
}

int vm_macvtap_interfaces(const struct vm *vm, struct macvtap_list *out, struct mvm_error *e)
{
	static const char rel[] = "share/microvm/macvtap-interfaces";
	char *buf;
	size_t len;
	*out = (struct macvtap_list){0};
	int r = layout_read(vm, rel, &buf, &len, e);
	return r <= 0 ? r
		      : layout_parsed(vm, rel, buf, parse_macvtap_interfaces(buf, len, out, e), e);
}

int vm_pci_devices(const struct vm *vm, struct pci_list *out, struct mvm_error *e)
{
	static const char rel[] = "share/microvm/pci-devices";
	char *buf;
	size_t len;
	*out = (struct pci_list){0};
	int r = layout_read(vm, rel, &buf, &len, e);
	return r <= 0 ? r : layout_parsed(vm, rel, buf, parse_pci_devices(buf, len, out, e), e);
}

void share_free(struct share *s)
{
	free(s->tag);
	free(s->source);
	free(s->source_written);
	free(s->socket);
	free(s->conf);
	share_settings_free(&s->set);
	memset(s, 0, sizeof(*s));
	share_settings_init(&s->set);
}

void share_list_free(struct share_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		share_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* The file name of share s's directory (open as dfd: resolved and
 * trusted all the way): opened there, not through a path; only a symlink
 * is resolved and checked the long way (vm_read). -ENOENT, e untouched,
 * when it is not there. */
static int share_file(const struct vm *vm, const struct share *s, int dfd, const uint64_t *dmnt,
		      const char *name, char **buf, size_t *len, struct mvm_error *e)
{
	char rp[PATH_MAX];
	snprintf(rp, sizeof(rp), "%s/%s", s->conf, name);
	_cleanup_close_ int fd =
		openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && errno == ELOOP) {
		_cleanup_free_ char *rel = xasprintf("share/microvm/virtiofs/%s/%s", s->tag, name);
		return rel ? vm_read(vm, rel, buf, len, e) : mvm_error_set(e, ENOMEM, "read", rp, NULL);
	}
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : mvm_error_set(e, errno, "read", rp, NULL);
	return read_opened(vm, fd, rp, dmnt, buf, len, e);
}

/* Setting or path file name of share s parsed: a parse error names it
 * as RUNNER/share/microvm/virtiofs/TAG/name. (dfd, dmnt: share_file()) */
static int share_parse(const struct vm *vm, struct share *s, int dfd, const uint64_t *dmnt,
		       const char *name, char **path, struct mvm_error *e)
{
	char *buf = NULL;
	size_t len = 0;
	int r = share_file(vm, s, dfd, dmnt, name, &buf, &len, e);
	if (r == -ENOENT) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/share/microvm/virtiofs/%s/%s", vm->runner, s->tag, name);
		return mvm_error_set(e, ENOENT, "read", p, NULL);
	}
	if (r < 0)
		return r;
	r = !path			 ? parse_share_setting(name, buf, len, &s->set, e)
	    : strcmp(name, "socket") == 0
		? parse_socket_path(buf, len, vm->dir, path, e)
		: parse_path_at(buf, len, vm->dir, path, &s->source_written, &s->source_line, e);
	free(buf);
	if (r < 0 && e && e->path[0] == '\0')
		snprintf(e->path, sizeof(e->path), "%s/share/microvm/virtiofs/%s/%s", vm->runner,
			 s->tag, name);
	return r;
}

/* The setting files of share s (every file of its directory but source and
 * socket): an unknown one is an error naming it. */
static int share_settings_read(const struct vm *vm, struct share *s, int dfd,
			       const uint64_t *dmnt, size_t *found, struct mvm_error *e)
{
	char **names;
	size_t n;
	int r = dir_names(dfd, &names, &n);
	if (r < 0)
		return mvm_error_set(e, -r, "read", s->conf, NULL);
	for (size_t i = 0; i < n && r == 0; i++) {
		const char *name = names[i];
		if (strcmp(name, "source") == 0 || strcmp(name, "socket") == 0)
			continue;
		if (!share_setting_known(name)) {
			char p[PATH_MAX];
			snprintf(p, sizeof(p), "%s/%s", s->conf, name);
			r = mvm_error_setf(e, EINVAL, "use", p,
					   "not a share setting (known: source, socket, %s)",
					   share_setting_names);
			break;
		}
		r = share_parse(vm, s, dfd, dmnt, name, NULL, e);
		(*found)++;
	}
	names_free(names, n);
	return r;
}

/* An absolute path a runner's file names (a store path in microvm.nix's
 * scripts), trusted as the runner is (resolved through root's steps
 * alone, below a runner root, root's and unwritable by anyone else) and
 * read whole. */
static int read_named(const struct vm *vm, const char *path, char **buf, size_t *len,
		      struct mvm_error *e)
{
	_cleanup_free_ char *rp = NULL;
	int r = 0;
	if (vm->allow_untrusted) {
		rp = realpath(path, NULL);
		if (!rp)
			return mvm_error_set(e, errno, "read", path, NULL);
	} else {
		r = resolve_rooted(path, &rp, e);
		if (r == 0)
			r = trust_roots(rp, e);
		if (r == 0)
			r = trust_check(rp, e);
		if (r < 0)
			return r;
	}
	_cleanup_close_ int fd = open(rp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return mvm_error_set(e, errno, "read", rp, NULL);
	return read_opened(vm, fd, rp, NULL, buf, len, e);
}

/* What vm_shares() read of microvm.nix's scripts once for all its shares:
 * bin/virtiofsd-run (none: state -1) and the supervisord configuration it
 * names (state 1), path and text. */
struct mnix_run {
	int state;
	char *conf;
	char *text;
	size_t len;
};

static void mnix_run_free(struct mnix_run *m)
{
	free(m->conf);
	free(m->text);
}

/* A share with no setting file, of a runner microvm.nix built alone (it
 * has bin/virtiofsd-run, which the helpers replace): its settings from
 * microvm.nix's own scripts (parse_mnix_virtiofsd_run()), so that a
 * readOnly share stays read-only. No bin/virtiofsd-run: the defaults.
 * bin/virtiofsd-run and the configuration are read at the first such
 * share into m, and taken from there for the others. */
static int share_mnix_settings(const struct vm *vm, struct share *s, struct mnix_run *m,
			       struct mvm_error *e)
{
	static const char run[] = "bin/virtiofsd-run";
	char *buf = NULL;
	size_t len = 0;
	_cleanup_free_ char *cmd = NULL;
	int r = 0;
	if (m->state == 0) {
		r = vm_read(vm, run, &buf, &len, e);
		if (r == -ENOENT)
			m->state = -1;
		else if (r < 0)
			return r;
	}
	if (m->state < 0)
		return 0;
	if (m->state == 0) {
		r = parse_mnix_virtiofsd_run(buf, len, &m->conf, e);
		free(buf);
		if (r < 0) {
			if (e && e->path[0] == '\0')
				snprintf(e->path, sizeof(e->path), "%s/%s", vm->runner, run);
			return r;
		}
		r = read_named(vm, m->conf, &m->text, &m->len, e);
		if (r == -ENOENT)
			return mvm_error_set(e, ENOENT, "read", m->conf, NULL);
		if (r < 0)
			return r;
		m->state = 1;
	}
	r = parse_mnix_supervisord(m->text, m->len, s->tag, &cmd, e);
	if (r < 0) {
		if (e && e->path[0] == '\0')
			snprintf(e->path, sizeof(e->path), "%s", m->conf);
		return r;
	}
	r = read_named(vm, cmd, &buf, &len, e);
	if (r == -ENOENT)
		return mvm_error_set(e, ENOENT, "read", cmd, NULL);
	if (r < 0)
		return r;
	r = parse_mnix_virtiofsd_script(buf, len, &s->set, e);
	free(buf);
	if (r < 0 && e && e->path[0] == '\0')
		snprintf(e->path, sizeof(e->path), "%s", cmd);
	return r;
}

/* Share tag's directory, a directory of root's (not a link) in vdfd, the
 * virtiofs directory (vm_shares(): resolved as vdir, and trust-checked
 * with everything above it; vmnt its mount, NULL when not known), opened
 * there into *dfd and checked alone (its file system only when it is a
 * mount of its own), s->conf set: 0, its mount into *dmnt when known (it
 * passed trust_fs() then, as vdfd's or its own). 1 when it is something
 * else (a link, say), to be resolved the long way. */
static int share_dir_open(const struct vm *vm, int vdfd, const char *vdir, const uint64_t *vmnt,
			  struct share *s, int *dfd, uint64_t *dmnt, bool *dmnt_known,
			  struct mvm_error *e)
{
	int fd = openat(vdfd, s->tag, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 1;
	if (!(s->conf = path_join(vdir, s->tag))) {
		close(fd);
		return mvm_error_set(e, ENOMEM, "read", s->tag, NULL);
	}
	struct stat st;
	int r = 0;
	*dmnt_known = false;
	if (!vm->allow_untrusted) {
		r = fstat_mnt(fd, &st, dmnt, dmnt_known);
		r = r < 0 ? mvm_error_set(e, -r, "trust", s->conf, NULL)
			  : trust_stat(s->conf, &st, false, e);
		if (r == 0 && !(vmnt && *dmnt_known && *dmnt == *vmnt))
			r = trust_fs(s->conf, fd, e);
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	*dfd = fd;
	return 0;
}

/* Share tag: its directory, paths and settings into s (s->tag set). The
 * directory is opened in the virtiofs directory vdfd (vdir), or, when it
 * is a link there, resolved and trust-checked the long way; its files are
 * read from it. */
static int share_read(const struct vm *vm, int vdfd, const char *vdir, const uint64_t *vmnt,
		      struct share *s, struct mnix_run *m, struct mvm_error *e)
{
	_cleanup_free_ char *rel = xasprintf("share/microvm/virtiofs/%s", s->tag);
	if (!rel)
		return mvm_error_set(e, ENOMEM, "read", s->tag, NULL);
	_cleanup_close_ int dfd = -1;
	uint64_t dmnt = 0;
	bool dmnt_known = false;
	int r = share_dir_open(vm, vdfd, vdir, vmnt, s, &dfd, &dmnt, &dmnt_known, e);
	const uint64_t *dm = r == 0 && dmnt_known ? &dmnt : NULL;
	if (r < 0)
		return r;
	if (r == 1)
		r = resolve(vm, rel, &s->conf, e);
	if (r == -ENOENT)
		return mvm_error_set(e, ENOENT, "read", rel, NULL);
	if (r < 0)
		return r;
	if (dfd < 0)
		dfd = open(s->conf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s/source", vm->runner, rel);
		/* (a file where the directory should be: no source in it) */
		return mvm_error_set(e, errno == ENOTDIR ? ENOENT : errno, "read",
				     errno == ENOTDIR ? p : s->conf, NULL);
	}
	r = share_parse(vm, s, dfd, dm, "source", &s->source, e);
	if (r == 0)
		r = share_parse(vm, s, dfd, dm, "socket", &s->socket, e);
	size_t found = 0;
	if (r == 0)
		r = share_settings_read(vm, s, dfd, dm, &found, e);
	if (r == 0 && found == 0)
		r = share_mnix_settings(vm, s, m, e);
	return r;
}

/* in, an absolute path, into out (PATH_MAX) step by step, as written:
 * "" and "." skipped, ".." back one. 1 as soon as out is strictly below
 * below (NULL: never), -1 when a step does not fit in PATH_MAX (no share
 * path is that long: the caller refuses it), else 0 at the end. */
static int lexical_walk(const char *in, char *out, const char *below)
{
	size_t o = 0, bn = below ? strlen(below) : 0;
	out[0] = '\0';
	for (const char *p = in; *p;) {
		p += strspn(p, "/");
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(out, '/');
			o = slash ? (size_t)(slash - out) : 0;
			out[o] = '\0';
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (o + 1 + n >= PATH_MAX)
				return -1;
			out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
			out[o] = '\0';
			if (below && o > bn && strncmp(out, below, bn) == 0 && out[bn] == '/')
				return 1;
		}
		p += n;
	}
	return 0;
}

/* Does path, as written, pass strictly below dir at any step (1)? A path
 * that only passes through dir's inside, as x/../.. does, counts: the
 * walk goes there, through whatever x is by then. -1: too long to tell. */
static int passes_below(const char *path, const char *dir)
{
	char d[PATH_MAX], cur[PATH_MAX];
	if (lexical_walk(dir, d, NULL) < 0)
		return -1;
	return lexical_walk(path, cur, d);
}

/* A share's source or socket inside the source of a writable share of the
 * same VM: that share's guest makes directories and links of host uid 0
 * there, which pass as root's, and so could make the path lead anywhere
 * (the host's /etc as a share, a socket in root's directory). */
static int nested_in_writable(const struct share_list *l, struct mvm_error *e)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct share *w = &l->v[i];
		if (w->set.read_only)
			continue;
		for (size_t j = 0; j < l->n; j++) {
			const struct share *s = &l->v[j];
			int k = j != i ? passes_below(s->source, w->source) : 0;
			const char *what = s->source;
			if (k == 0) {
				k = passes_below(s->socket, w->source);
				what = s->socket;
			}
			if (k == 0)
				continue;
			char tag[4 * VIRTIOFS_TAG_MAX + 8];
			escape_value(w->tag, strlen(w->tag), tag, sizeof(tag));
			if (k < 0)
				mvm_error_setf(e, ENAMETOOLONG, "use", what,
					       "too long to tell whether it lies inside writable "
					       "share '%s'",
					       tag);
			else
				mvm_error_setf(e, EINVAL, "use", what,
					       "inside the source of writable share '%s', whose "
					       "guest could make it lead anywhere",
					       tag);
			if (e)
				escape_value(s->tag, strlen(s->tag), e->value, sizeof(e->value));
			return k < 0 ? -ENAMETOOLONG : -EINVAL;
		}
	}
	return 0;
}

int path_lexical(const char *path, char *out)
{
	return lexical_walk(path, out, NULL) < 0 ? -ENAMETOOLONG : 0;
}

bool path_same_as_written(const char *a, const char *b)
{
	char pa[PATH_MAX], pb[PATH_MAX];
	return lexical_walk(a, pa, NULL) == 0 && lexical_walk(b, pb, NULL) == 0 &&
	       strcmp(pa, pb) == 0;
}

/* in without its "" and "." steps into out (PATH_MAX); false when it has
 * a ".." step (which the launcher's walk takes in the file system, or
 * refuses) or ends in "/" or "/." (no name of its own). */
static bool plain_form(const char *in, char *out)
{
	size_t n = strlen(in);
	if (n == 0 || in[n - 1] == '/' || (n >= 2 && strcmp(in + n - 2, "/.") == 0))
		return false;
	for (const char *p = in; *p;) {
		p += strspn(p, "/");
		size_t k = strcspn(p, "/");
		if (k == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += k;
	}
	return lexical_walk(in, out, NULL) == 0;
}

bool path_same_plain(const char *a, const char *b)
{
	char pa[PATH_MAX], pb[PATH_MAX];
	return strcmp(a, b) == 0 || (plain_form(a, pa) && plain_form(b, pb) && strcmp(pa, pb) == 0);
}

/* The tag the guest sees: the tag setting, else the directory's name. */
static const char *guest_tag(const struct share *s)
{
	return s->set.tag[0] ? s->set.tag : s->tag;
}

/* Share s against an earlier one, a: one socket (their paths the same,
 * step by step as written, as the launcher walks them) or one tag is an
 * error naming s's file. */
static int same_socket_or_tag(const struct vm *vm, const struct share *a, const struct share *s,
			      struct mvm_error *e)
{
	bool sock = path_same_as_written(a->socket, s->socket);
	if (!sock && strcmp(guest_tag(a), guest_tag(s)) != 0)
		return 0;
	const char *what = sock ? "socket" : "tag", *value = sock ? s->socket : guest_tag(s);
	/* (a tag from the directory's name: the directory) */
	bool dir = !sock && !s->set.tag[0];
	char file[PATH_MAX];
	snprintf(file, sizeof(file), "%s/share/microvm/virtiofs/%s%s%s", vm->runner, s->tag,
		 dir ? "" : "/", dir ? "" : what);
	char tag[4 * VIRTIOFS_TAG_MAX + 8];
	int r = mvm_error_setf(e, EINVAL, "use", file, "the %s of share '%s' too", what,
			       escape_value(a->tag, strlen(a->tag), tag, sizeof(tag)));
	if (e)
		escape_value(value, strlen(value), e->value, sizeof(e->value));
	return r;
}

int vm_shares(const struct vm *vm, struct share_list *out, struct mvm_error *e)
{
	*out = (struct share_list){0};
	_cleanup_free_ char *rp = NULL;
	int r = resolve(vm, "share/microvm/virtiofs", &rp, e);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	_cleanup_close_ int vdfd = open(rp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (vdfd < 0)
		return mvm_error_set(e, errno, "read", rp, NULL);
	/* Its mount, once this very descriptor's file system passed (what
	 * resolve() checked was opened by path before): what lies on it is
	 * not asked again. */
	struct stat vst;
	uint64_t vmnt;
	bool vmnt_known = false;
	if (!vm->allow_untrusted &&
	    (fstat_mnt(vdfd, &vst, &vmnt, &vmnt_known) < 0 || trust_fs(rp, vdfd, NULL) < 0))
		vmnt_known = false;
	char **names;
	size_t n;
	r = dir_names(vdfd, &names, &n);
	if (r < 0)
		return mvm_error_set(e, -r, "read", rp, NULL);
	struct mnix_run m = {0};
	struct share_list l = {.v = calloc(n + 1, sizeof(struct share))};
	if (!l.v)
		r = mvm_error_set(e, ENOMEM, "read", rp, NULL);
	for (size_t i = 0; i < n && r == 0; i++) {
		const char *tag = names[i];
		const char *why = component_invalid(tag, VIRTIOFS_TAG_MAX);
		if (why) {
			r = mvm_error_set(e, EINVAL, "use virtiofs tag", rp, why);
			if (e)
				escape_value(tag, strlen(tag), e->value, sizeof(e->value));
			break;
		}
		struct share *s = &l.v[l.n];
		share_settings_init(&s->set);
		s->tag = strdup(tag);
		if (!s->tag) {
			r = mvm_error_set(e, ENOMEM, "read", rp, NULL);
			break;
		}
		l.n++;
		r = share_read(vm, vdfd, rp, vmnt_known ? &vmnt : NULL, s, &m, e);
		for (size_t j = 0; r == 0 && j + 1 < l.n; j++)
			r = same_socket_or_tag(vm, &l.v[j], s, e);
	}
	names_free(names, n);
	mnix_run_free(&m);
	if (r == 0)
		r = nested_in_writable(&l, e);
	if (r < 0 || l.n == 0) { /* an empty list owns no memory */
		share_list_free(&l);
		return r;
	}
	*out = l;
	return 0;
}

int vm_executable(const struct vm *vm, const char *rel, char **out, struct mvm_error *e)
{
	char *rp = NULL;
	int r = resolve(vm, rel, &rp, e);
	if (r == -ENOENT) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", vm->runner, rel);
		return mvm_error_set(e, ENOENT, "find", p, NULL);
	}
	if (r < 0)
		return r;
	struct stat st;
	if (stat(rp, &st) < 0)
		r = mvm_error_set(e, errno, "execute", rp, NULL);
	else if (!S_ISREG(st.st_mode))
		r = mvm_error_set(e, EACCES, "execute", rp, "not a regular file");
	else if (faccessat(AT_FDCWD, rp, X_OK, AT_EACCESS) < 0)
		r = mvm_error_set(e, errno, "execute", rp, NULL);
	if (r < 0) {
		free(rp);
		return r;
	}
	*out = rp;
	return 0;
}

int vm_system(const struct vm *vm, char **out, struct mvm_error *e)
{
	_cleanup_free_ char *path = path_join(vm->runner, "share/microvm/system");
	if (!path)
		return mvm_error_set(e, ENOMEM, "read", "system", NULL);
	/* (the runner may be the VM user's, runner-exec status shows it:
	 * nothing looked up on a FUSE mount of that user's) */
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *rp = NULL;
	int r = walk_unasked(-1, NULL, path, false, &fd, &rp, e);
	if (r == -ENOENT || r == -ENOTDIR)
		return -ENOENT;
	if (r < 0)
		return r;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return mvm_error_set(e, errno, "read", path, NULL);
	if (!S_ISLNK(st.st_mode)) { /* not a symlink: name what it is */
		*out = rp;
		rp = NULL;
		return 0;
	}
	char t[PATH_MAX];
	ssize_t n = readlinkat(fd, "", t, sizeof(t));
	if (n < 0 || (size_t)n >= sizeof(t))
		return mvm_error_set(e, n < 0 ? errno : ENAMETOOLONG, "read", path, NULL);
	t[n] = '\0';
	if (!(*out = strdup(t)))
		return mvm_error_set(e, ENOMEM, "read", path, NULL);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int vm_list(const char *state_dir, char ***names, size_t *n)
{
	/* (the state dir as vm_open() reaches it: no FUSE mount asked) */
	int sd = -1;
	int r = walk_unasked(-1, NULL, state_dir, true, &sd, NULL, NULL);
	if (r < 0)
		return r;
	int fd = openat(sd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = errno;
	close(sd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		err = fd < 0 ? err : errno;
		if (fd >= 0)
			close(fd);
		return -err;
	}
	char **v = NULL;
	size_t k = 0, cap = 0;
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		/* (the type readdir() gives: a stat would ask a FUSE daemon
		 * mounted there, which can keep the caller waiting; where the
		 * file system gives none, a FUSE mount point is listed
		 * unasked, and anything else asked) */
		struct stat st;
		if (de->d_type != DT_DIR &&
		    (de->d_type != DT_UNKNOWN ||
		     (mount_point_on_fuse(dirfd(d), dirfd(d), de->d_name) != 1 &&
		      (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		       !S_ISDIR(st.st_mode)))))
			continue;
		if (k == cap) {
			cap = cap ? cap * 2 : 16;
			char **nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			v = nv;
		}
		if (!(v[k] = strdup(de->d_name))) {
			r = -ENOMEM;
			break;
		}
		k++;
	}
	if (!de && errno && r == 0)
		r = -errno;
	closedir(d);
	if (r < 0) {
		while (k)
			free(v[--k]);
		free(v);
		return r;
	}
	if (k)
		qsort(v, k, sizeof(*v), cmp_str);
	*names = v;
	*n = k;
	return 0;
}
