#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "vm.h"

#define WALK_MAX_LINKS 40

int fuse_unasked(const char *path, struct mvm_error *e)
{
	mvm_error_set(e, EPERM, "resolve", path,
		      "on a FUSE mount (not looked into: its daemon could keep root waiting)");
	if (e)
		snprintf(e->value, sizeof(e->value), "fuse");
	return -EPERM;
}

/* The mount of the directory the walk is in: its ID, or none known (no
 * mount IDs, before Linux 5.8). */
struct walk_mnt {
	uint64_t id;
	bool known;
};

/* fd's mount into *m (statx() with AT_STATX_DONT_SYNC: nothing asked of a
 * FUSE daemon), with the attributes of mask (cached ones) into *x. */
static int mnt_look(int fd, unsigned mask, struct statx *x, struct walk_mnt *m)
{
	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, mask, x) < 0)
		return -errno;
	m->known = x->stx_mask & STATX_MNT_ID;
	m->id = m->known ? x->stx_mnt_id : 0;
	return 0;
}

/* The step nfd, opened in the directory whose mount is *m, refused as on
 * FUSE before anything is asked of it (its mount ID against the
 * directory's: the mount table read only for a mount point), then looked
 * at into *st, its mount into *m. 0, or -errno with e filled. */
static int step_look(const struct walk_rules *w, struct walk_mnt *m, int nfd, const char *step,
		     struct stat *st, struct mvm_error *e)
{
	const unsigned want =
		STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_INO | STATX_NLINK;
	bool cached = w->flags & WALK_DONT_SYNC; /* (the first look's will do) */
	struct statx x;
	struct walk_mnt own = {0};
	int f = mnt_look(nfd, cached ? want : 0, &x, &own);
	if (f == 0)
		f = !own.known || !m->known ? -ENOSYS : own.id == m->id ? 0 : mount_is_fuse(own.id);
	if (f > 0)
		return (w->fuse ? w->fuse : fuse_unasked)(step, e);
	if (f < 0 && (f != -ENOSYS || (w->flags & WALK_MNT_ID)))
		return mvm_error_set(e, -f, w->action, step, NULL);
	if (!cached && statx(nfd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, want, &x) < 0)
		return mvm_error_set(e, errno, w->action, step, NULL);
	stat_from_statx(st, &x);
	*m = own;
	return 0;
}

/* The link nfd (step) spliced into rest; an absolute target takes the
 * walk back to "/" (*cur, *m and res). 0, or -errno with e filled. */
static int link_splice(const struct walk_rules *w, int nfd, const char *step, char *rest,
		       size_t rest_size, int *cur, struct walk_mnt *m, char *res,
		       struct mvm_error *e)
{
	char target[PATH_MAX], joined[2 * PATH_MAX];
	ssize_t k = readlinkat(nfd, "", target, sizeof(target));
	if (k < 0)
		return mvm_error_set(e, errno, w->action, step, NULL);
	if (k == 0) /* (as the kernel takes an empty target) */
		return mvm_error_set(e, ENOENT, w->action, step, NULL);
	if ((size_t)k >= sizeof(target))
		return mvm_error_set(e, ENAMETOOLONG, w->action, step, NULL);
	target[k] = '\0';
	if (snprintf(joined, sizeof(joined), "%s/%s", target, rest) >= (int)sizeof(joined) ||
	    strlen(joined) >= rest_size)
		return mvm_error_set(e, ENAMETOOLONG, w->action, step, NULL);
	if (target[0] == '/') {
		struct statx x;
		int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (root < 0 || mnt_look(root, 0, &x, m) < 0) {
			int err = errno;
			if (root >= 0)
				close(root);
			return mvm_error_set(e, err, w->action, step, NULL);
		}
		close(*cur);
		*cur = root;
		res[0] = '\0';
	}
	memcpy(rest, joined, strlen(joined) + 1);
	return 0;
}

/* The directory the walk starts in, into *cur, its resolved path into
 * res ("" for "/"). */
static int walk_start(int at, const char *at_path, const char *path, int *cur, char *res,
		      size_t res_size)
{
	int fd;
	res[0] = '\0';
	if (path[0] == '/') {
		fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	} else if (at >= 0) {
		fd = openat(at, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (snprintf(res, res_size, "%s", strcmp(at_path, "/") ? at_path : "") >=
		    (int)res_size) {
			if (fd >= 0)
				close(fd);
			return -ENAMETOOLONG;
		}
	} else {
		fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0 && !getcwd(res, res_size)) {
			int err = errno;
			close(fd);
			return -err;
		}
		if (strcmp(res, "/") == 0)
			res[0] = '\0';
	}
	if (fd < 0)
		return -errno;
	*cur = fd;
	return 0;
}

int walk_path(int at, const char *at_path, const char *path, const struct walk_rules *w,
	      int *fd, char **out, struct mvm_error *e)
{
	char res[PATH_MAX];      /* resolved so far, "" for "/" */
	char rest[2 * PATH_MAX]; /* what is left to walk */
	if (snprintf(rest, sizeof(rest), "%s", path) >= (int)sizeof(rest))
		return mvm_error_set(e, ENAMETOOLONG, w->action, path, NULL);
	int cur = -1;
	struct walk_mnt m = {0};
	struct statx x;
	int r = walk_start(at, at_path, path, &cur, res, sizeof(res));
	if (r == 0 && mnt_look(cur, 0, &x, &m) < 0) {
		r = -errno;
		close(cur);
	}
	if (r < 0)
		return mvm_error_set(e, -r, w->action, path, NULL);
	for (int hops = 0;;) {
		char *p = rest + strspn(rest, "/");
		if (*p == '\0')
			break;
		size_t n = strcspn(p, "/");
		char name[NAME_MAX + 1], step[PATH_MAX];
		if (n > NAME_MAX) {
			r = mvm_error_set(e, ENAMETOOLONG, w->action, path, NULL);
			break;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		memmove(rest, p + n, strlen(p + n) + 1);
		bool last = rest[strspn(rest, "/")] == '\0', dotdot = strcmp(name, "..") == 0;
		if (strcmp(name, ".") == 0)
			continue;
		if (dotdot && (w->flags & WALK_NO_DOTDOT)) {
			r = mvm_error_set(e, EXDEV, w->action, path, "a '..' step");
			break;
		}
		if (dotdot) { /* (the directory above: res has no link in it) */
			memcpy(step, res, strlen(res) + 1);
			char *slash = strrchr(step, '/');
			if (slash)
				*slash = '\0';
			if (!step[0])
				memcpy(step, "/", 2);
		} else if (snprintf(step, sizeof(step), "%s/%s", res, name) >= (int)sizeof(step)) {
			r = mvm_error_set(e, ENAMETOOLONG, w->action, path, NULL);
			break;
		}
		/* A step with more after it is a directory or a link: opened as a
		 * directory first (O_DIRECTORY, as the kernel's own walk takes a
		 * step it goes on from, which sets off an automount there: an
		 * O_PATH open of a name alone does not, and a look-up from the
		 * trigger's descriptor finds nothing), then, ENOTDIR, as it is. */
		int nfd = last ? -1 : openat(cur, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
		if (nfd < 0 && (last || errno == ENOTDIR))
			nfd = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			r = mvm_error_set(e, errno, w->action, step, NULL);
			break;
		}
		struct stat st;
		struct walk_mnt nm = m;
		r = step_look(w, &nm, nfd, step, &st, e);
		if (r == 0 && !last && !S_ISLNK(st.st_mode) && !S_ISDIR(st.st_mode))
			r = mvm_error_set(e, ENOTDIR, w->action, step, NULL);
		if (r == 0 && w->step) {
			struct walk_step s = {.fd = nfd, .path = step, .st = &st, .last = last};
			r = w->step(w->ctx, &s, e);
		}
		if (r == 0 && S_ISLNK(st.st_mode) && (!last || (w->flags & WALK_FOLLOW_LAST))) {
			r = ++hops > WALK_MAX_LINKS
				    ? mvm_error_set(e, ELOOP, w->action, step, NULL)
				    : link_splice(w, nfd, step, rest, sizeof(rest), &cur, &m, res, e);
			close(nfd);
			if (r < 0)
				break;
			continue;
		}
		if (r < 0) {
			close(nfd);
			break;
		}
		close(cur);
		cur = nfd;
		m = nm;
		if (dotdot) {
			char *slash = strrchr(res, '/');
			if (slash)
				*slash = '\0';
		} else {
			memcpy(res, step, strlen(step) + 1);
		}
	}
	if (r == 0 && out && !(*out = strdup(res[0] ? res : "/")))
		r = mvm_error_set(e, ENOMEM, w->action, path, NULL);
	if (r == 0 && fd) {
		*fd = cur;
		cur = -1;
	}
	if (cur >= 0)
		close(cur);
	return r;
}
