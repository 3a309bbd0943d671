/* SPDX-License-Identifier: MIT */
/* The shares' sockets belong to the launcher: it binds and listens on each
 * one itself and hands the daemon the listening descriptor (--fd=3), so
 * the socket is there from before the first daemon until the launcher
 * stops, across restarts, and no daemon ever makes, removes or chowns a
 * file by path.
 *
 * The socket's directory is opened by walk_dir() (the VM user may own it).
 * bind() takes a path, so it is called with the root directory changed to
 * one where the socket's absolute path leads, through root's directories
 * only, to a mount of that very directory (pin_chroot_call()); the kernel
 * keeps that path for the socket, so /proc/net/unix and ss(8) name it as
 * any other. The socket is made with its final owner (root), group (setegid)
 * and mode 0660 (umask): nothing is chowned or chmoded afterwards. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "launch.h"
#include "log.h"
#include "util.h"

/* Connections a socket queues while no daemon accepts (between two). */
#define BACKLOG 16

int group_lookup(const char *name, gid_t *gid, struct mvm_error *e)
{
	unsigned long v;
	if (parse_uint(name, 0xfffffffeUL, &v) == 0) {
		*gid = (gid_t)v;
		return 0;
	}
	/* The launcher is linked statically: no NSS, /etc/group only. */
	char *buf;
	size_t len;
	int r = read_file("/etc/group", 1 << 24, &buf, &len);
	if (r < 0)
		return mvm_error_set(e, -r, "read", "/etc/group", NULL);
	struct lines it;
	const char *s;
	size_t n, nl = strlen(name);
	r = mvm_error_setf(e, ENOENT, "resolve group", name,
			   "not in /etc/group (give another group by number)");
	lines_init(&it, buf, len);
	while (lines_next(&it, &s, &n)) {
		/* name:password:GID:members */
		const char *c1 = memchr(s, ':', n);
		if (!c1 || (size_t)(c1 - s) != nl || memcmp(s, name, nl) != 0)
			continue;
		const char *c2 = memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - s));
		const char *c3 = c2 ? memchr(c2 + 1, ':', n - (size_t)(c2 + 1 - s)) : NULL;
		char num[16];
		if (c3 && c3 - c2 - 1 > 0 && (size_t)(c3 - c2 - 1) < sizeof(num)) {
			memcpy(num, c2 + 1, (size_t)(c3 - c2 - 1));
			num[c3 - c2 - 1] = '\0';
			if (parse_uint(num, 0xfffffffeUL, &v) == 0) {
				*gid = (gid_t)v;
				r = 0;
			}
		}
		break;
	}
	free(buf);
	return r;
}

/* Whether the socket file at base in dir listens: 1, 0 or -errno. Asked of
 * the kernel by connect(2) through an O_PATH descriptor of that very file
 * (/proc/self/fd/N: no path the VM user could change in between), with
 * nothing sent: the connection is closed at once. */
static int answers(int dir, const char *base)
{
	int pfd = openat(dir, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return errno == ENOENT ? 0 : -errno;
	struct stat st;
	int r = fstat(pfd, &st) < 0 ? -errno : S_ISSOCK(st.st_mode) ? 1 : 0;
	int s = r > 0 ? socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0) : -1;
	if (r > 0 && s < 0)
		r = -errno;
	if (s >= 0) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", pfd);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN)
			r = 1; /* (EAGAIN: it listens, its queue is full) */
		else
			r = errno == ECONNREFUSED ? 0 : -errno;
		close(s);
	}
	close(pfd);
	return r;
}

/* A file at base in dir: gone, or a socket nobody listens on (removed).
 * Another file, or a socket in use, is left alone: an error. Whether it
 * listens is answers()'s: /proc/net/unix shows only the sockets of the
 * reader's network namespace (the unit has one of its own), and is text
 * that anyone can add lines to (an abstract socket's name may hold a
 * newline). The one cost: a daemon that waits there for its one client
 * takes the empty connection, and its supervisor starts it again. */
static int stale(int dir, const char *base, const char *path, bool dry_run, const char *verb,
		 struct mvm_error *e)
{
	struct stat st;
	if (fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : mvm_error_set(e, errno, verb, path, NULL);
	if (!S_ISSOCK(st.st_mode))
		return mvm_error_set(e, EEXIST, verb, path, "it exists and is not a socket");
	int r = answers(dir, base);
	if (r < 0)
		return mvm_error_set(e, -r, verb, path, "cannot tell whether a process listens on it");
	if (r > 0)
		return mvm_error_set(e, EADDRINUSE, verb, path, "another process listens on it");
	if (dry_run) {
		log_action("remove stale socket '%s'", ESC(path));
		return 0;
	}
	if (unlinkat(dir, base, 0) < 0 && errno != ENOENT)
		return mvm_error_set(e, errno, "remove stale socket", path, NULL);
	log_debug("removed stale socket '%s'", ESC(path));
	return 0;
}

/* Remove the socket file base in dir (path: its name in messages), one
 * whose descriptor is closed or about to be. One that cannot be removed
 * is a warning, not a failure: what is left is a file nobody listens on,
 * which the next start removes as stale (stale()). A stop that exited 1
 * for it would leave the unit failed, and start its OnFailure=, over a
 * file; a start that fails already says why. */
static void sock_remove(int dir, const char *base, const char *path)
{
	if (unlinkat(dir, base, 0) == 0) {
		log_debug("removed socket '%s'", ESC(path));
	} else if (errno != ENOENT) {
		struct mvm_error e;
		mvm_error_set(&e, errno, "remove socket", path, NULL);
		e.hint = "left behind: the next start removes it";
		log_error_as(LOG_WARNING, &e, "");
	}
}

struct bind_arg {
	int fd;
	const char *path;
	int err; /* bind's, or setegid's */
};

/* In the chroot of pin_chroot_call(): bind with the socket's final group
 * and mode. */
static int bind_as_group(void *arg)
{
	const struct bind_arg *b = arg;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, b->path, strlen(b->path) + 1);
	gid_t egid = getegid();
	mode_t old = umask(0117);
	int r = 0;
	if (setegid(L.gid) < 0)
		r = -errno;
	else if (bind(b->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r = -errno;
	if (setegid(egid) < 0 && r == 0)
		r = -errno;
	umask(old);
	return ((struct bind_arg *)arg)->err = r;
}

/* Bind and listen in the opened directory l->dir (*made once a file is
 * there); note the file made. */
static int sock_bind(struct listener *l, const char *path, const char *dir, const char *base,
		     bool *made, const char *verb, struct mvm_error *e)
{
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return mvm_error_set(e, errno, verb, path, NULL);
	struct bind_arg b = {l->fd, path, 0};
	int r = pin_chroot_call(l->dir, dir, bind_as_group, &b, e);
	if (b.err < 0)
		return mvm_error_set(e, -b.err, verb, path, NULL);
	if (r < 0)
		return r;
	*made = true;
	if (listen(l->fd, BACKLOG) < 0)
		return mvm_error_set(e, errno, verb, path, NULL);
	/* What was made: root's, the group's, 0660 (a setgid directory of the
	 * VM user's would have given it that directory's group). */
	struct stat st;
	if (fstatat(l->dir, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return mvm_error_set(e, errno, verb, path, NULL);
	if (!S_ISSOCK(st.st_mode))
		return mvm_error_set(e, EPERM, verb, path,
				     "not the socket it bound: its name was taken away at once");
	if (st.st_uid != 0 || st.st_gid != L.gid || (st.st_mode & 07777) != 0660)
		return mvm_error_setf(e, EPERM, verb, path,
				      "it is owner %u, group %u, mode %04o, not root, %u, 0660 "
				      "(a setgid directory, or its name taken away at once)",
				      (unsigned)st.st_uid, (unsigned)st.st_gid,
				      (unsigned)(st.st_mode & 07777), (unsigned)L.gid);
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return 0;
}

/* walk_dir() of path's directory (into dir, PATH_MAX) with flags; the
 * socket's name in *base. The walk's error names the directory: it names
 * the socket instead (a missing one without WALK_CREATE leaves e alone,
 * as walk_dir() does). */
static int walk_sock_dir(const char *path, char *dir, const char **base, unsigned flags,
			 const char *verb, struct mvm_error *e)
{
	*base = path_split(path, dir, PATH_MAX);
	int r = walk_dir(dir, flags, verb, e);
	if (r < 0 && (r != -ENOENT || (flags & WALK_CREATE)) && e)
		snprintf(e->path, sizeof(e->path), "%s", path);
	return r;
}

int sock_dir(const char *path, const char *verb, struct mvm_error *e)
{
	char dir[PATH_MAX];
	const char *base;
	int r = walk_sock_dir(path, dir, &base, WALK_CREATE, verb, e);
	if (r >= 0)
		close(r);
	return r < 0 ? r : 0;
}

int sock_open(struct listener *l, const char *path, bool dry_run, const char *verb,
	      struct mvm_error *e)
{
	char dir[PATH_MAX];
	const char *base;
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return mvm_error_set(e, ENAMETOOLONG, verb, path, NULL);
	int r = walk_sock_dir(path, dir, &base, dry_run ? 0 : WALK_CREATE, verb, e);
	if (r == -ENOENT && dry_run) { /* no directory, no stale socket */
		log_action("create directory '%s'", ESC(dir));
		r = 0;
	} else if (r >= 0) {
		l->dir = r;
		r = stale(l->dir, base, path, dry_run, verb, e);
	}
	if (r < 0 || dry_run) {
		if (r == 0)
			log_action("listen on socket '%s' (owner root, group %u, mode 0660)", ESC(path),
				   (unsigned)L.gid);
		sock_close(l, NULL);
		return r;
	}
	bool made = false;
	r = sock_bind(l, path, dir, base, &made, verb, e);
	if (r == 0)
		return 0;
	if (made) { /* but not right: away with it, if it is still a socket */
		struct stat st;
		if (fstatat(l->dir, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) &&
		    st.st_uid == 0)
			sock_remove(l->dir, base, path);
	}
	sock_close(l, NULL);
	return r;
}

void sock_close(struct listener *l, const char *path)
{
	if (path && l->dir >= 0 && l->ino) {
		char buf[PATH_MAX];
		const char *base = path_split(path, buf, sizeof(buf));
		struct stat st;
		/* (gone, or another file now: not ours to remove) */
		bool ours = fstatat(l->dir, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    st.st_dev == l->dev && st.st_ino == l->ino;
		if (ours)
			sock_remove(l->dir, base, path);
	}
	if (l->fd >= 0)
		close(l->fd);
	if (l->dir >= 0)
		close(l->dir);
	*l = (struct listener)LISTENER_INIT;
}
