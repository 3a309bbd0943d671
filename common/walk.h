/* One step-by-step path walker, unasked of any FUSE daemon: what
 * resolve_rooted() (the runner's way, root's all the way), walk_unasked()
 * (a path as the kernel resolves it) and the launcher's note of another
 * VM's writable source each need, with a hook for what they trust. */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

#include "error.h"

/* A step of the walk, as the hook sees it. */
struct walk_step {
	int fd;                /* the step, O_PATH, not followed */
	const char *path;      /* its resolved path */
	const struct stat *st; /* type, mode, owner, device, inode (statx()) */
	bool last;             /* nothing after it to walk */
};

enum {
	WALK_FOLLOW_LAST = 1 << 0, /* a last step that is a link is followed */
	WALK_DONT_SYNC = 1 << 1,   /* statx() AT_STATX_DONT_SYNC: cached attributes */
	WALK_NO_DOTDOT = 1 << 2,   /* a '..' step is refused (-EXDEV) */
	WALK_MNT_ID = 1 << 3,      /* no mount IDs (before Linux 5.8): refused (-ENOSYS) */
};

struct walk_rules {
	unsigned flags;
	const char *action; /* the errors' verb ("resolve", "trust") */
	/* each step (a link before it is followed, a directory before
	 * anything is looked up in it), known to be on no FUSE mount: 0 to
	 * go on, or -errno (e filled) to stop the walk with */
	int (*step)(void *ctx, const struct walk_step *s, struct mvm_error *e);
	/* the error of a step that is a FUSE mount (NULL: "not looked into") */
	int (*fuse)(const char *path, struct mvm_error *e);
	void *ctx;
};

/* A FUSE mount met on the way, left unasked: -EPERM, "not looked into". */
int fuse_unasked(const char *path, struct mvm_error *e);

/* path resolved as the kernel would (relative: from the directory at,
 * whose resolved path is at_path; at -1: from the working directory),
 * with no name looked up on a FUSE mount (not virtiofs) and nothing asked
 * of one: each step (a '..' one too) opened O_PATH, not followed, in a
 * directory known to be on none, and refused as on FUSE from its mount
 * ID (statx() AT_STATX_DONT_SYNC, against the directory's; the mount table
 * read only for a mount point) before anything else is asked of it; then looked at (statx()) and given
 * to w->step. At most 40 links are followed. The last step's descriptor
 * (O_PATH) in *fd, its resolved path in *out (either may be NULL).
 * -errno with e filled (e may be NULL), naming the step. */
int walk_path(int at, const char *at_path, const char *path, const struct walk_rules *w,
	      int *fd, char **out, struct mvm_error *e);
