/* SPDX-License-Identifier: MIT */
/* Opening a path as root when a user may own part of it (DESIGN.md 3).
 *
 * STATE/NAME belongs to the VM user, who can replace any directory in it
 * by a symlink (to / say) at any moment, and make its guest disconnect so
 * that a daemon starts again. So a path is walked from / one component at
 * a time, each component opened from the descriptor of the one before
 * (openat2 with RESOLVE_NO_SYMLINKS), and a symlink is followed only where
 * no one but root could have made it: owned by root, in a directory that
 * is root's and not writable by group or others (a sticky one is fine:
 * there nobody can replace root's entries). Once the walk enters the state
 * dir (the same directory as --state-dir, however it is reached), the
 * source of a writable share of the VM (by identity too: its guest's root
 * makes links there as host uid 0; writable_note()), a
 * directory another user owns or can write, or one on FUSE (whose owners
 * are whatever its daemon says; not virtiofs, which only root mounts:
 * on_fuse()), it follows no symlink and no '..' any
 * more. A missing directory is made with mkdirat() in the descriptor it
 * belongs to, and then opened the same way: nothing is ever made through
 * a symlink. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launch.h"
#include "log.h"
#include "spawn.h"
#include "util.h"
#include "vm.h"
#include "walk.h"

/* As the kernel's own limit. */
#define MAX_SYMLINKS 40

enum taint {
	CLEAN,	   /* root's all the way */
	IN_STATE,  /* in the state dir (the VM users' directories) */
	IN_OTHERS, /* in a directory a user other than root owns or can write */
	IN_FUSE,   /* in a directory on FUSE (on_fuse(): who owns it is unknown) */
	IN_WRITABLE, /* in a writable share's source (its guest's root makes root's links) */
};

static const char *const symlink_reason[] = {
	[IN_STATE] = "a symlink in the VM's directory (refused: the VM user could point it "
		     "anywhere)",
	[IN_OTHERS] = "a symlink in a directory that a user other than root owns or can write "
		      "(refused: that user could point it anywhere)",
	[IN_FUSE] = "a symlink on a FUSE mount (refused: its owners are whatever its daemon says)",
	[IN_WRITABLE] = "a symlink in the source of a writable share (refused: its guest's root "
			"makes links as host uid 0)",
};
static const char *const dotdot_reason[] = {
	[IN_STATE] = "'..' in a path in the VM's directory",
	[IN_OTHERS] = "'..' in a directory that a user other than root owns or can write",
	[IN_FUSE] = "'..' in a directory on a FUSE mount",
	[IN_WRITABLE] = "'..' in the source of a writable share",
};
/* (WALK_ROOTS: the directory named as the error's value) */
static const char *const roots_reason[] = {
	[IN_STATE] = "a directory on the way is the state dir (the VM users')",
	[IN_OTHERS] = "a directory on the way is not root's, or is writable by others",
	[IN_FUSE] = "a directory on the way is on FUSE (its owners are whatever its daemon says)",
	[IN_WRITABLE] = "a directory on the way is the source of a writable share (its guest's "
			"root makes links there as host uid 0)",
};

bool dir_id_in(const struct dir_id *v, size_t n, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].dev == dev && v[i].ino == ino)
			return true;
	return false;
}

/* st's identity in v (n of them)? */
static bool id_in(const struct dir_id *v, size_t n, const struct stat *st)
{
	return dir_id_in(v, n, st->st_dev, st->st_ino);
}

/* The identity of directory fd added to L.above (once): 0, or -errno. */
static int above_add(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (id_in(L.above, L.n_above, &st))
		return 0;
	struct dir_id *v = realloc(L.above, (L.n_above + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	v[L.n_above++] = (struct dir_id){st.st_dev, st.st_ino};
	L.above = v;
	return 0;
}

/* (not inlined: failrealloc.so fails its realloc() by its name, in
 * failed_writable_note_refuses_the_start) */
__attribute__((noinline)) int writable_add(dev_t dev, ino_t ino)
{
	if (dir_id_in(L.writable, L.n_writable, dev, ino))
		return 0;
	struct dir_id *v = realloc(L.writable, (L.n_writable + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	v[L.n_writable++] = (struct dir_id){dev, ino};
	L.writable = v;
	return 0;
}

/* The identity of directory fd noted (once): 0, or -errno. */
static int writable_add_fd(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	return writable_add(st.st_dev, st.st_ino);
}

int writable_note(const struct share_list *l, int fd, struct mvm_error *e)
{
	int r = fd >= 0 ? writable_add_fd(fd) : 0;
	for (size_t i = 0; r == 0 && l && i < l->n; i++) {
		if (l->v[i].set.read_only || !l->v[i].source)
			continue;
		struct mvm_error scratch;
		/* (as the start walks it: a '..' after a directory it would
		 * make leads back to one that is there) */
		int src = walk_dir(l->v[i].source, WALK_AS_MADE, "note", &scratch);
		if (src >= 0) {
			r = writable_add_fd(src);
			close(src);
		}
	}
	/* (unknown, it would be no taint: refused instead) */
	return r < 0 ? mvm_error_set(e, -r, "note", "the writable shares' sources", NULL) : 0;
}

/* The error for VM name's directory, on FUSE (on == 1) or not known to
 * be elsewhere (-errno). */
static int fuse_dir_error(const char *name, int on, struct mvm_error *e)
{
	_cleanup_free_ char *dir = path_join(L.c.state_dir, name);
	if (on > 0)
		return mvm_error_set(e, EPERM, "read", dir ? dir : name,
				     "a FUSE mount (its daemon could keep the launcher waiting)");
	return mvm_error_set(e, -on, "inspect", dir ? dir : name, NULL);
}

/* Another VM's writable source path noted when the way to it is root's
 * all the way (root's directories, unwritable by group or others unless
 * sticky, and root's links in them, none in a source noted already), and
 * on no FUSE mount: the walk follows no link in anything else anyway, so
 * the source needs no noting there. Looked at without asking any FUSE
 * daemon (the other VM user's, which could keep the launcher waiting):
 * each step opened O_PATH, not followed, and looked at with statx()'s
 * AT_STATX_DONT_SYNC, a mount point's type from the mount table
 * (walk_path(), note_step()); a '..' step in a link's target is not
 * noted. The last directory's descriptor is the one noted. 0 (noted or
 * not), or -errno: no memory. */
struct note_walk {
	const struct stat *state;
	bool in_writable; /* past a source noted already: no link followed */
};

/* note_rooted()'s rule for a step: root's, a link not past a noted
 * source, a directory unwritable by group or others unless sticky, and
 * not the state dir. Any other: -EPERM (not noted). */
static int note_step(void *ctx, const struct walk_step *s, struct mvm_error *e)
{
	struct note_walk *n = ctx;
	mode_t m = s->st->st_mode;
	if (s->st->st_uid != 0)
		return -EPERM;
	if (S_ISLNK(m))
		return n->in_writable ? -EPERM : 0;
	if (!S_ISDIR(m) || ((m & (S_IWGRP | S_IWOTH)) && !(m & S_ISVTX)) ||
	    (s->st->st_dev == n->state->st_dev && s->st->st_ino == n->state->st_ino))
		return -EPERM;
	if (id_in(L.writable, L.n_writable, s->st))
		n->in_writable = true;
	return 0;
}

static int note_rooted(const char *path, const struct stat *state)
{
	struct note_walk n = {.state = state};
	const struct walk_rules w = {
		.flags = WALK_FOLLOW_LAST | WALK_DONT_SYNC | WALK_NO_DOTDOT | WALK_MNT_ID,
		.action = "note",
		.step = note_step,
		.ctx = &n};
	_cleanup_close_ int fd = -1;
	if (path[0] != '/' || walk_path(-1, NULL, path, &w, &fd, NULL, NULL) < 0)
		return 0; /* (not noted: anything but root's way, or not there) */
	return writable_add_fd(fd);
}

/* Another VM's writable sources outside the state dir (as written, state
 * its real path) noted by note_rooted(): a walk into the state dir follows
 * no link there at all, and one through another VM user's directory, or
 * its FUSE mount, follows none there either. */
static int note_outside(const struct share_list *l, const char *state, struct mvm_error *e)
{
	size_t sn = strlen(state);
	struct stat sst;
	if (stat(state, &sst) < 0)
		return mvm_error_set(e, errno, "inspect", L.c.state_dir, NULL);
	for (size_t i = 0; i < l->n; i++) {
		char lex[PATH_MAX];
		const struct share *sh = &l->v[i];
		if (sh->set.read_only || !sh->source)
			continue;
		if (path_lexical(sh->source, lex) < 0)
			continue; /* (too long to be walked to, by anyone) */
		if (strncmp(lex, state, sn) == 0 && (lex[sn] == '\0' || lex[sn] == '/'))
			continue;
		/* Taken as written, with no '..' step: ROOT/new/../data is
		 * ROOT/data, also while new is still to be made (as that VM's
		 * start walks it). A '..' right after a link of root's, which
		 * the kernel takes to the target's parent, is taken as written
		 * too: an administrator's oddity, not what microvm.nix writes. */
		int r = note_rooted(lex[0] ? lex : "/", &sst);
		if (r < 0)
			return mvm_error_set(e, -r, "note", "the writable shares' sources", NULL);
	}
	return 0;
}

int others_note(struct mvm_error *e)
{
	char **names = NULL;
	size_t n = 0;
	_cleanup_free_ char *state = realpath(L.c.state_dir, NULL);
	if (!state)
		return mvm_error_set(e, errno, "open state dir", L.c.state_dir, NULL);
	int r = vm_list(state, &names, &n);
	if (r < 0)
		return mvm_error_set(e, -r, "list", L.c.state_dir, NULL);
	/* (the state dir, the pins' directory and the runners' directories
	 * looked at once for all of them) */
	struct vm_scan scan = {.state_dir = L.c.state_dir};
	for (size_t i = 0; i < n; i++) {
		struct vm v;
		struct share_list l = {0};
		struct mvm_error oe = {0};
		int k = 0;
		if (r != 0 || strcmp(names[i], L.name) == 0 || vm_name_check(names[i], NULL) < 0)
			k = 1; /* (not another VM, or after a failure) */
		else if ((k = vm_scan_dir_on_fuse(&scan, names[i])) != 0)
			k = fuse_dir_error(names[i], k, &oe);
		else
			k = vm_scan_open(&scan, &v, names[i], &oe);
		if (k == 0) {
			k = vm_shares(&v, &l, &oe);
			vm_close(&v);
		}
		if (k == 0)
			r = note_outside(&l, state, e);
		else if (k == -ENOMEM)
			r = mvm_error_set(e, ENOMEM, "read", names[i], NULL);
		else if (k < 0 && k != -ENOENT) {
			char lead[4 * VM_NAME_MAX + 96];
			snprintf(lead, sizeof(lead),
				 "VM '%s' passed over (its writable shares unknown): ",
				 ESC(names[i]));
			oe.hint = NULL; /* (not this VM's: no option of its overrides) */
			log_error_as(LOG_WARNING, &oe, lead);
		}
		share_list_free(&l);
		free(names[i]);
	}
	free(names);
	vm_scan_free(&scan);
	/* What their launchers serve, which their runners may no longer say
	 * (a switch restarts no launcher). */
	return r < 0 ? r : served_note_others(e);
}

const char *path_split(const char *path, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		snprintf(buf, size, ".");
		return path;
	}
	snprintf(buf, size, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	return slash + 1;
}

/* The directory name in dfd, never through a symlink. */
static int open_dir_at(int dfd, const char *name)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dfd, name, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS) /* Linux < 5.6; one component: as safe */
		fd = openat(dfd, name, (int)how.flags);
	return (int)fd;
}

/* What looking up names in the directory fd means from now on, into *t:
 * 0, or -errno. A directory on FUSE is nobody's known (the VM user can
 * mount its own with allow_other where /etc/fuse.conf lets it, on a
 * directory it owns, and show it and its links as root's); a source on
 * FUSE is still served, as long as the walk follows no link and no '..'
 * on it. A directory on virtiofs (a nested host's share from its own
 * host, which only root mounts) is not FUSE: its owners count, as on any
 * other file system (on_fuse() tells the two apart by the mount's type).
 * (A link lies on its directory's file system: no mount has a symlink
 * for its root.) */
static int taint_of(int fd, enum taint *t)
{
	struct stat st;
	if (*t != CLEAN)
		return 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_dev == L.state_dev && st.st_ino == L.state_ino) {
		*t = IN_STATE;
		return 0;
	}
	if (id_in(L.writable, L.n_writable, &st)) {
		*t = IN_WRITABLE;
		return 0;
	}
	int fuse = on_fuse(NULL, fd);
	if (fuse < 0)
		return fuse;
	if (fuse)
		*t = IN_FUSE;
	else if (st.st_uid != 0 ||
		 ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)))
		*t = IN_OTHERS;
	return 0;
}

struct walk {
	char buf[2 * PATH_MAX]; /* what is left to walk */
	int fd;			/* where the walk is */
	bool record;		/* each directory it stands in noted in L.above */
	bool unrecorded;	/* (one of them not, for want of memory) */
	enum taint t;
	unsigned links;
	const char *reason; /* for the error */
	char where[PATH_MAX]; /* the directory refused, or "" (the error's value) */
};

/* Follow the symlink name in w->fd, with rest still to walk after it:
 * 0, or -errno with w->reason set when refused. */
static int follow(struct walk *w, const char *name, const struct stat *lst, const char *rest)
{
	if (w->t != CLEAN) {
		w->reason = symlink_reason[w->t];
		return -ELOOP;
	}
	if (lst->st_uid != 0) {
		w->reason = "a symlink not owned by root (refused: its owner could point it "
			    "anywhere)";
		return -ELOOP;
	}
	if (++w->links > MAX_SYMLINKS)
		return -ELOOP;
	char target[PATH_MAX];
	ssize_t n = readlinkat(w->fd, name, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	char next[sizeof(w->buf)];
	if ((size_t)snprintf(next, sizeof(next), "%s/%s", target, rest) >= sizeof(next))
		return -ENAMETOOLONG;
	memcpy(w->buf, next, strlen(next) + 1);
	if (target[0] == '/') {
		int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		close(w->fd);
		w->fd = fd;
	}
	return 0;
}

void made_dirs_note(int parent, const char *name, int fd)
{
	struct made_dirs *m = L.made;
	struct stat st;
	if (!m || fstat(fd, &st) < 0)
		return;
	struct made_dir *v = realloc(m->v, (m->n + 1) * sizeof(*v));
	if (!v)
		return;
	m->v = v;
	struct made_dir *d = &v[m->n];
	d->parent = fcntl(parent, F_DUPFD_CLOEXEC, 3);
	if (d->parent < 0)
		return;
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	snprintf(d->name, sizeof(d->name), "%s", name);
	m->n++;
}

void made_dirs_forget(struct made_dirs *m)
{
	for (size_t i = 0; i < m->n; i++)
		close(m->v[i].parent);
	free(m->v);
	*m = (struct made_dirs){0};
}

void made_dirs_move(struct made_dirs *to, struct made_dirs *from)
{
	struct made_dir *v = from->n ? realloc(to->v, (to->n + from->n) * sizeof(*v)) : NULL;
	if (!v) { /* (nothing to move, or for want of memory: left, as before) */
		made_dirs_forget(from);
		return;
	}
	memcpy(v + to->n, from->v, from->n * sizeof(*v));
	to->v = v;
	to->n += from->n;
	free(from->v);
	*from = (struct made_dirs){0};
}

/* d's path for a message, escaped: where its parent is now, as the
 * kernel names the descriptor (its name alone if that cannot be read). */
static const char *made_dir_shown(const struct made_dir *d, char *buf, size_t size)
{
	char fdp[32];
	_cleanup_free_ char *parent = NULL, *path = NULL;
	snprintf(fdp, sizeof(fdp), "/proc/self/fd/%d", d->parent);
	if (read_link(fdp, &parent) == 0 && parent[0] == '/')
		path = path_join(parent, d->name);
	return escape_text(path ? path : d->name, buf, size);
}

/* Each directory of m, deepest first, said to be left: why, err. */
static void say_left(const struct made_dirs *m, const char *why, int err)
{
	char shown[4 * PATH_MAX];
	for (size_t i = m->n; i-- > 0;)
		log_debug("left directory '%s' it made: %s: %s",
			  made_dir_shown(&m->v[i], shown, sizeof(shown)), why, strerror(err));
}

/* made_dirs_undo()'s child: its exit status. */
static int remove_in_host(const struct made_dirs *m)
{
	if (setns(L.host_ns, CLONE_NEWNS) < 0) {
		say_left(m, "unable to enter the host's mount namespace", errno);
		return 1;
	}
	for (size_t i = m->n; i-- > 0;) {
		const struct made_dir *d = &m->v[i];
		struct stat st;
		char shown[4 * PATH_MAX];
		/* (one the VM user put in its place is theirs: left) */
		if (fstatat(d->parent, d->name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode) || st.st_dev != d->dev || st.st_ino != d->ino)
			continue;
		if (unlinkat(d->parent, d->name, AT_REMOVEDIR) == 0) {
			log_debug("removed directory '%s' it made",
				  made_dir_shown(d, shown, sizeof(shown)));
		} else {
			int err = errno;
			log_debug("left directory '%s' it made: %s",
				  made_dir_shown(d, shown, sizeof(shown)), strerror(err));
		}
	}
	return 0;
}

/* Removed in the mount namespace the launcher was started in (the
 * host's), never in its own: the kernel refuses to remove a directory
 * that is a mount point in the remover's namespace (EBUSY), but removes
 * one that is a mount point elsewhere alone, and detaches the mounts on
 * it in every namespace. A mount that someone made on one of these after
 * the launcher made its namespace is in the host's, but not in the
 * launcher's where the host's mounts do not propagate to it (run by hand
 * under `unshare -m`, or on a host whose / is private). So a child enters
 * the host's namespace and removes there, by the same descriptors (a path
 * would be the VM user's to change; after setns() the child's root is the
 * host's, whatever chroot the launcher was in). Where it cannot enter
 * (setns() refused: no CAP_SYS_CHROOT, say), or no child can be made, the
 * directories are left: an empty directory does less harm than someone's
 * mount gone. */
void made_dirs_undo(struct made_dirs *m)
{
	if (m->n) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(remove_in_host(m));
		if (pid < 0)
			say_left(m, "unable to fork", errno);
		else
			spawn_wait(pid);
	}
	made_dirs_forget(m);
}

/* One step: the component name (rest after it) from w->fd. 1 when the
 * walk must start over from w->buf (a symlink was followed), 0 when it
 * moved on, -errno. */
static int step(struct walk *w, const char *name, const char *rest, unsigned flags)
{
	int fd;
	if (strcmp(name, "..") == 0) {
		if (w->t != CLEAN) {
			w->reason = dotdot_reason[w->t];
			return -EINVAL;
		}
		fd = openat(w->fd, "..", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	} else {
		fd = open_dir_at(w->fd, name);
		if (fd < 0 && errno == ENOENT && (flags & WALK_CREATE)) {
			/* (the runtime dir's way, WALK_ROOTS: as the other
			 * tools make it, root's alone to read) */
			mode_t mode = flags & WALK_ROOTS ? RUNTIME_DIR_MODE : 0755;
			bool made = mkdirat(w->fd, name, mode) == 0;
			if (!made && errno != EEXIST)
				return -errno;
			fd = open_dir_at(w->fd, name);
			if (made && fd >= 0)
				made_dirs_note(w->fd, name, fd);
		}
	}
	if (fd < 0) {
		int err = errno;
		struct stat lst;
		if (fstatat(w->fd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode)) {
			int r = follow(w, name, &lst, rest);
			return r < 0 ? r : 1;
		}
		return -err;
	}
	int r = taint_of(fd, &w->t);
	if (r < 0) {
		close(fd);
		return r;
	}
	close(w->fd);
	w->fd = fd;
	if (w->record && above_add(fd) < 0)
		w->unrecorded = true;
	if ((flags & WALK_ROOTS) && w->t != CLEAN) {
		w->reason = roots_reason[w->t];
		char self[32];
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(self, w->where, sizeof(w->where) - 1);
		w->where[n > 0 ? n : 0] = '\0';
		return -EPERM;
	}
	return 0;
}

/* walk_dir(); with below (WALK_AS_MADE), a path that ends in directories
 * still to be made gives the last directory there is, and how many steps
 * below it the path ends in *below (0: the path's own); with record, each
 * directory it stands in noted in L.above (-ENOMEM if one is not). */
static int walk_at(const char *path, unsigned flags, const char *verb, struct mvm_error *e,
		   unsigned *below, bool record)
{
	if (path[0] != '/')
		return mvm_error_set(e, EINVAL, verb, path, "not an absolute path");
	struct walk w = {.fd = -1, .t = CLEAN, .where = "", .record = record};
	if (strlen(path) >= PATH_MAX)
		return mvm_error_set(e, ENAMETOOLONG, verb, path, NULL);
	memcpy(w.buf, path, strlen(path) + 1);
	int r = 0;
	w.fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (w.fd < 0)
		r = -errno;
	else
		r = taint_of(w.fd, &w.t);
	if (r >= 0 && record && above_add(w.fd) < 0)
		w.unrecorded = true;
	const char *p = w.buf;
	unsigned made = 0; /* (WALK_AS_MADE) steps below a missing directory */
	while (r >= 0) {
		p += strspn(p, "/");
		size_t n = strcspn(p, "/");
		if (n == 0)
			break;
		char name[NAME_MAX + 1];
		if (n > NAME_MAX) {
			r = -ENAMETOOLONG;
			break;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		if (strcmp(name, ".") == 0)
			continue;
		if (made) { /* in directories that would be made: no link, nothing there */
			bool up = strcmp(name, "..") == 0;
			if (up && w.t != CLEAN) { /* (as made, they would have w's taint) */
				w.reason = dotdot_reason[w.t];
				r = -EINVAL;
			}
			made = up ? made - 1 : made + 1;
			continue;
		}
		r = step(&w, name, p, flags);
		if (r == 1) { /* a symlink: on from its target */
			p = w.buf;
			r = 0;
		} else if (r == -ENOENT && (flags & WALK_AS_MADE) && !(flags & WALK_CREATE) &&
			   !w.reason) {
			made = 1;
			r = 0;
		}
	}
	if (r >= 0 && made && below)
		*below = made;
	else if (r >= 0 && made)
		r = -ENOENT;
	else if (below)
		*below = 0;
	if (r >= 0 && w.unrecorded)
		r = -ENOMEM;
	if (r >= 0)
		return w.fd;
	if (w.fd >= 0)
		close(w.fd);
	if (r == -ENOENT && !(flags & WALK_CREATE) && !w.reason)
		return -ENOENT;
	r = mvm_error_set(e, -r, verb, path, w.reason);
	if (e && w.where[0])
		escape_value(w.where, strlen(w.where), e->value, sizeof(e->value));
	return r;
}

int walk_dir(const char *path, unsigned flags, const char *verb, struct mvm_error *e)
{
	return walk_at(path, flags, verb, e, NULL, false);
}

int state_dir_note(const char *abs, struct mvm_error *e)
{
	static const char verb[] = "open state dir";
	int fd = walk_at(abs, 0, verb, e, NULL, true);
	if (fd == -ENOENT)
		return mvm_error_set(e, ENOENT, verb, abs, NULL);
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int err = errno;
		close(fd);
		return mvm_error_set(e, err, verb, abs, NULL);
	}
	L.state_dev = st.st_dev;
	L.state_ino = st.st_ino;
	L.state_fd = fd;
	/* Its parents, up to /: where the walk above went, when a link of
	 * root's led it elsewhere, need not be above it. */
	_cleanup_close_ int at = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (at < 0)
		return mvm_error_set(e, errno, verb, abs, NULL);
	for (;;) {
		struct stat ps;
		int up = openat(at, "..", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (up < 0 || fstat(up, &ps) < 0) {
			int err = errno;
			if (up >= 0)
				close(up);
			return mvm_error_set(e, err, verb, abs, NULL);
		}
		struct stat cs;
		bool top = fstat(at, &cs) == 0 && cs.st_dev == ps.st_dev && cs.st_ino == ps.st_ino;
		close(at);
		at = up;
		if (top)
			break;
		int r = above_add(at);
		if (r < 0)
			return mvm_error_set(e, -r, verb, abs, NULL);
	}
	return 0;
}

/* Is the directory fd (of identity st) one in the state dir: its parent
 * the state dir, or, by another way there (a bind mount of one), the same
 * directory as one of the state dir's? Looked at with statx()'s
 * AT_STATX_DONT_SYNC (no FUSE daemon of a VM user's asked). 1, 0, or
 * -errno. */
static int in_state_dir(int fd, const struct stat *st)
{
	struct stat ps;
	_cleanup_close_ int up = openat(fd, "..", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (up >= 0 && fstat(up, &ps) == 0 && ps.st_dev == L.state_dev &&
	    ps.st_ino == L.state_ino)
		return 1;
	int dfd = openat(L.state_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		int err = errno;
		if (dfd >= 0)
			close(dfd);
		return -err;
	}
	int found = 0;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		struct statx sx;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    statx(dirfd(d), de->d_name,
			  AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_DONT_SYNC,
			  STATX_TYPE | STATX_INO, &sx) < 0)
			continue;
		found = S_ISDIR(sx.stx_mode) && sx.stx_ino == st->st_ino &&
			makedev(sx.stx_dev_major, sx.stx_dev_minor) == st->st_dev;
	}
	closedir(d);
	return found;
}

/* The refusal of writable share sh, whose source is what. */
static int vm_dir_error(const struct share *sh, const char *what, struct mvm_error *e)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/source", sh->conf ? sh->conf : sh->tag);
	mvm_error_setf(e, EINVAL, share_verb(sh, "source"), path,
		       "a writable share of %s, where its guest's root would make links of host "
		       "uid 0 (a `current` there is one the helpers take for root's, for a VM "
		       "without a pin)",
		       what);
	if (e) {
		const char *v = sh->source_written ? sh->source_written : sh->source;
		e->line = sh->source_line;
		escape_value(v, strlen(v), e->value, sizeof(e->value));
		e->hint = "share a directory below a VM's directory, or make the share read-only";
	}
	return -EINVAL;
}

/* (vm_dirs_refuse() with the writable sources unknown) */
static int vm_dirs_check(const struct share_list *l, struct mvm_error *e)
{
	for (size_t i = 0; l && i < l->n; i++) {
		const struct share *sh = &l->v[i];
		if (sh->set.read_only || !sh->source)
			continue;
		unsigned below = 0;
		struct mvm_error scratch;
		/* (as the start walks it, making nothing: a missing source is
		 * the directory it would be made in, and the steps below) */
		_cleanup_close_ int fd = walk_at(sh->source, WALK_AS_MADE, "check", &scratch, &below,
						 false);
		struct stat st;
		if (fd == -ENOMEM)
			return mvm_error_set(e, ENOMEM, "check", sh->source, NULL);
		if (fd < 0)
			continue; /* (its own walk says why, when it is made) */
		if (fstat(fd, &st) < 0)
			return mvm_error_set(e, errno, share_verb(sh, "source"), sh->source, NULL);
		bool state = st.st_dev == L.state_dev && st.st_ino == L.state_ino;
		const char *what = NULL;
		if (below == 1 && state)
			what = "a VM's directory in the state dir (one the start would make)";
		else if (below == 0 && state)
			what = "the state dir";
		else if (below == 0 && id_in(L.above, L.n_above, &st))
			what = "a directory above the state dir, or on the way to it";
		else if (below == 0) {
			int k = in_state_dir(fd, &st);
			if (k < 0)
				return mvm_error_set(e, -k, "read", L.c.state_dir, NULL);
			if (k)
				what = "a VM's directory in the state dir";
		}
		if (what)
			return vm_dir_error(sh, what, e);
	}
	return 0;
}

/* Each source walked as if no writable source were known: a link of
 * root's in one (ROOT/alias -> ROOT, the share's own) or a '..' step there
 * is followed, so that a source that is a directory above the state dir by
 * such a spelling is named as that, not as a link the start would refuse.
 * Nothing is done where it leads: it is only compared, and the start's
 * own walk refuses such a path all the same. */
int vm_dirs_refuse(const struct share_list *l, struct mvm_error *e)
{
	size_t n = L.n_writable;
	L.n_writable = 0;
	int r = vm_dirs_check(l, e);
	L.n_writable = n;
	return r;
}
