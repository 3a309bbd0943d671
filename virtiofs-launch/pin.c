/* SPDX-License-Identifier: MIT */
/* Sources pinned: what a daemon serves is exactly the directory the
 * launcher walked to and opened, whatever the VM user renames or replaces
 * afterwards.
 *
 * The launcher runs in a mount namespace of its own (unshare(CLONE_NEWNS),
 * / made a slave: the host's mounts still show, nothing of ours reaches
 * the host) and mounts a tmpfs on the runtime dir there. For each share it
 * clones the opened source directory (open_tree(OPEN_TREE_CLONE) from its
 * descriptor: no path) and mounts the clone on RUNTIME/NAME/virtiofs/TAG
 * (move_mount), read-only when the share is; that path is what the daemon
 * gets. Every directory on it is root's, and the tmpfs exists in this
 * namespace only (the daemons inherit it): no one else can change what it
 * leads to. The clone is made again at each start of the daemon. */
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launch.h"
#include "log.h"
#include "util.h"

/* (glibc 2.36 has wrappers, but <sys/mount.h> and <linux/mount.h> clash) */
static int sys_open_tree(int dfd, const char *path, unsigned flags)
{
	return (int)syscall(SYS_open_tree, dfd, path, flags);
}

static int sys_move_mount(int from, const char *from_path, int to, const char *to_path,
			  unsigned flags)
{
	return (int)syscall(SYS_move_mount, from, from_path, to, to_path, flags);
}

static int sys_mount_setattr(int dfd, const char *path, unsigned flags, struct mount_attr *a)
{
	return (int)syscall(SYS_mount_setattr, dfd, path, flags, a, sizeof(*a));
}

/* umount2(2)'s flags, from <sys/mount.h> */
#ifndef MNT_DETACH
#define MNT_DETACH 2
#endif
#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 8
#endif

static int sys_umount2(const char *target, int flags)
{
	return (int)syscall(SYS_umount2, target, flags);
}

static int sys_mount(const char *src, const char *target, const char *type, unsigned long flags,
		     const char *data)
{
	return (int)syscall(SYS_mount, src, target, type, flags, data);
}

int pin_setup(struct mvm_error *e)
{
	/* (kept for made_dirs_undo(); close-on-exec: no daemon gets it) */
	L.host_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (L.host_ns < 0)
		return mvm_error_set(e, errno, "open", "/proc/self/ns/mnt", NULL);
	if (unshare(CLONE_NEWNS) < 0)
		return mvm_error_set(e, errno, "make", "a mount namespace", NULL);
	if (sys_mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return mvm_error_set(e, errno, "make", "a mount namespace", "mount / rslave");
	L.root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	L.cwd_fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (L.root_fd < 0 || L.cwd_fd < 0)
		return mvm_error_set(e, errno, "open", L.root_fd < 0 ? "/" : ".", NULL);
	/* Root's all the way (it is the daemons' way to the sources). Kept:
	 * the host's runtime dir, under the tmpfs from now on, where the
	 * launchers' records are (served.c). */
	int fd = walk_dir(L.runtime, WALK_CREATE | WALK_ROOTS, "use runtime dir", e);
	if (fd < 0)
		return fd;
	if (L.host_rt >= 0)
		close(L.host_rt);
	L.host_rt = fd;
	if (sys_mount("microvm-virtiofs", L.runtime, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		      "mode=0755,size=1m") < 0)
		return mvm_error_set(e, errno, "mount a tmpfs on", L.runtime, NULL);
	/* (a new mount below a slave one is private: nothing more to do) */
	L.rt_fd = open(L.runtime, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (L.rt_fd < 0) {
		/* Off again, as pin_teardown() takes it (it goes by L.rt_fd):
		 * on it, a runtime dir this start made would be left. */
		int err = errno;
		sys_umount2(L.runtime, MNT_DETACH | UMOUNT_NOFOLLOW);
		return mvm_error_set(e, err, "open", L.runtime, NULL);
	}
	return 0;
}

char *pin_path(const char *tag)
{
	return xasprintf("%s/%s/virtiofs/%s", L.runtime, L.name, tag);
}

/* The directory rel (relative, '/'-separated) below the tmpfs, made if
 * missing: an O_PATH descriptor, or -errno. A '..' step goes back one,
 * but never above the first `floor` steps: there it stays, as the kernel
 * stays at a chroot's root (a tree's socket path may climb above /). */
static int tmpfs_dir(const char *rel, size_t floor)
{
	int fd = fcntl(L.rt_fd, F_DUPFD_CLOEXEC, 3);
	char name[NAME_MAX + 1];
	size_t depth = 0;
	for (const char *p = rel; fd >= 0;) {
		p += strspn(p, "/");
		size_t n = strcspn(p, "/");
		if (n == 0)
			return fd;
		if (n > NAME_MAX) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		bool up = strcmp(name, "..") == 0;
		if (strcmp(name, ".") == 0 || (up && depth <= floor))
			continue;
		depth = up ? depth - 1 : depth + 1;
		if (!up && mkdirat(fd, name, 0755) < 0 && errno != EEXIST) {
			int err = errno;
			close(fd);
			return -err;
		}
		int nfd = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int err = errno;
		close(fd);
		if (nfd < 0)
			return -err;
		fd = nfd;
	}
	return -errno;
}

/* Unmount whatever is mounted on path (mounts may be stacked). */
static void unmount_all(const char *path)
{
	while (sys_umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
		;
}

/* A clone of the directory src (and the mounts below it) on the tmpfs
 * directory rel (tmpfs_dir() with floor), read-only if asked. path is
 * rel's absolute path, with no '..' step. */
static int mount_clone(int src, const char *rel, size_t floor, const char *path, bool read_only,
		       bool recursive, struct mvm_error *e)
{
	unmount_all(path); /* (first: opening a mount point opens the mount) */
	int to = tmpfs_dir(rel, floor);
	if (to < 0)
		return mvm_error_set(e, -to, "make", path, NULL);
	int r = 0;
	int tree = sys_open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
						  (recursive ? AT_RECURSIVE : 0));
	if (tree < 0) {
		r = mvm_error_set(e, errno, "clone the mount of", path,
				  errno == ENOSYS ? "needs Linux 5.12 or later" : NULL);
		goto out;
	}
	/* Read-only, and private: a clone is a slave of what it copies, and a
	 * mount made below the source later (an automount the guest's own
	 * look-up triggers, a disk, a FUSE mount) would come into it with its
	 * own flags, read-write (found by an audit). */
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY, .propagation = MS_PRIVATE};
	if (read_only && sys_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &ro) < 0)
		r = mvm_error_set(e, errno, "make read-only", path, NULL);
	else if (sys_move_mount(tree, "", to, "",
				MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		r = mvm_error_set(e, errno, "mount", path, NULL);
	close(tree);
out:
	close(to);
	return r;
}

int pin_source(const char *tag, int src, bool read_only, struct mvm_error *e)
{
	_cleanup_free_ char *rel = xasprintf("%s/virtiofs/%s", L.name, tag);
	_cleanup_free_ char *path = pin_path(tag);
	if (!rel || !path)
		return mvm_error_set(e, ENOMEM, "mount", tag, NULL);
	return mount_clone(src, rel, 0, path, read_only, true, e);
}

void pin_drop(const char *tag)
{
	_cleanup_free_ char *path = pin_path(tag);
	if (path && L.rt_fd >= 0)
		unmount_all(path);
}

void pin_teardown(void)
{
	if (L.rt_fd < 0)
		return;
	close(L.rt_fd);
	L.rt_fd = -1;
	/* (ours alone: what was mounted there before, on the host, stays) */
	sys_umount2(L.runtime, MNT_DETACH | UMOUNT_NOFOLLOW);
}

/* Back from a chroot (from its directory alone when chrooted is false:
 * the chroot was refused): the real root, the old working directory. A
 * failure here would leave the launcher in the wrong root or directory:
 * it stops at once. */
static void unchroot(bool chrooted)
{
	if ((chrooted && (fchdir(L.root_fd) < 0 || chroot(".") < 0)) || fchdir(L.cwd_fd) < 0) {
		log_err("unable to leave a chroot: %s", strerror(errno));
		abort();
	}
}

/* Is the tmpfs directory rel already a mount of the directory dir? */
static bool mounted_as(const char *rel, int dir)
{
	struct stat a, b;
	int fd = openat(L.rt_fd, rel, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	bool yes = fd >= 0 && fstat(fd, &a) == 0 && fstat(dir, &b) == 0 && a.st_dev == b.st_dev &&
		   a.st_ino == b.st_ino;
	if (fd >= 0)
		close(fd);
	return yes;
}

/* The socket directories seen, by their path: each has a chroot tree of
 * its own, RUNTIME/.root/N, so that no socket directory is reached through
 * the clone of another (a directory of the VM user's, where a name could
 * be swapped for a symlink between the check and the bind; found by an
 * audit), nor is any unmounted through one. */
static char **trees;
static size_t ntrees;

static int tree_of(const char *abs_dir)
{
	for (size_t i = 0; i < ntrees; i++)
		if (strcmp(trees[i], abs_dir) == 0)
			return (int)i;
	char **v = realloc(trees, (ntrees + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	trees = v;
	if (!(trees[ntrees] = strdup(abs_dir)))
		return -ENOMEM;
	return (int)ntrees++;
}

int pin_chroot_call(int dir, const char *abs_dir, int (*fn)(void *), void *arg,
		    struct mvm_error *e)
{
	/* RUNTIME/.root/N/ABS_DIR is dir, below nothing but directories of
	 * the tmpfs (made once: the sockets of a VM are usually all in one
	 * directory); chroot to RUNTIME/.root/N, where the socket's path is
	 * ABS_DIR/NAME as it is outside. Its '..' steps are taken in the
	 * tmpfs as the kernel takes them in the chroot: back one, and at its
	 * root (above /) staying there, never up out of the tmpfs (found by
	 * an audit). Where that leads, with no '..' step (lex): what is
	 * looked at and unmounted by path. */
	char lex[PATH_MAX];
	if (path_lexical(abs_dir, lex) < 0)
		return mvm_error_set(e, ENAMETOOLONG, "mount", abs_dir, NULL);
	int n = tree_of(abs_dir);
	if (n < 0)
		return mvm_error_set(e, -n, "mount", abs_dir, NULL);
	_cleanup_free_ char *top = xasprintf(".root/%d", n);
	_cleanup_free_ char *rel = xasprintf(".root/%d/%s", n, abs_dir);
	_cleanup_free_ char *rel_lex = xasprintf(".root/%d%s", n, lex);
	_cleanup_free_ char *path = xasprintf("%s/.root/%d%s", L.runtime, n, lex);
	/* (top as messages name it, absolute, as they do the tmpfs's others) */
	_cleanup_free_ char *top_path = xasprintf("%s/.root/%d", L.runtime, n);
	if (!top || !rel || !rel_lex || !path || !top_path)
		return mvm_error_set(e, ENOMEM, "mount", abs_dir, NULL);
	int r = 0;
	if (!mounted_as(rel_lex, dir)) /* (.root/N/ABS_DIR: its top is 2 steps down) */
		r = mount_clone(dir, rel, 2, path, false, false, e);
	if (r < 0)
		return r;
	int root = tmpfs_dir(top, 0);
	if (root < 0) {
		r = mvm_error_set(e, -root, "make", top_path, NULL);
	} else if (fchdir(root) < 0) {
		r = mvm_error_set(e, errno, "chroot to", top_path, NULL);
	} else if (chroot(".") < 0) { /* (no CAP_SYS_CHROOT, say: still in /) */
		r = mvm_error_set(e, errno, "chroot to", top_path, NULL);
		unchroot(false);
	} else {
		r = fn(arg);
		unchroot(true);
	}
	if (root >= 0)
		close(root);
	return r;
}
