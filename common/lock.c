/* SPDX-License-Identifier: MIT */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "vm.h"

int lock_timeout_ms(long *ms, struct mvm_error *e)
{
	const char *s = getenv("MICROVM_LOCK_TIMEOUT");
	unsigned long v = LOCK_TIMEOUT_DEFAULT_S;
	if (s && *s && parse_uint(s, LOCK_TIMEOUT_MAX_S, &v) < 0) {
		mvm_error_set(e, EINVAL, "use", "MICROVM_LOCK_TIMEOUT",
			      "not a number of seconds from 0 to 3600");
		if (e)
			escape_value(s, strlen(s), e->value, sizeof(e->value));
		return -EINVAL;
	}
	*ms = (long)v * 1000;
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* flock(LOCK_EX) within timeout_ms: polls, 1 ms at first, then up to 50. */
static int lock_wait(int fd, long timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	for (long pause = 1;; pause = pause < 50 ? pause * 2 : 50) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		long long left = deadline - now_ms();
		if (left <= 0)
			return -EWOULDBLOCK;
		sleep_ms(pause < left ? pause : (long)left);
	}
}

/* The flock of lfd (path, opened without following a symlink) within
 * timeout_ms, once it is ours: a regular file (a VM's lock), or a
 * directory (dir) that only we can write. busy says who holds it when
 * the wait is over. *fd = lfd, or lfd closed and -errno with e filled. */
static int take(int lfd, const char *path, bool dir, const char *busy, long timeout_ms, int *fd,
		struct mvm_error *e)
{
	struct stat st;
	int r;
	if (fstat(lfd, &st) < 0)
		r = mvm_error_set(e, errno, "lock", path, NULL);
	else if (st.st_uid != geteuid() || (dir ? (st.st_mode & 022) != 0 : !S_ISREG(st.st_mode)))
		r = mvm_error_set(e, EPERM, "lock", path,
				  dir ? "not a directory of ours that only we can write"
				      : "not a regular file of ours");
	else if ((r = lock_wait(lfd, timeout_ms)) == -EWOULDBLOCK)
		r = mvm_error_setf(e, EWOULDBLOCK, "lock", path,
				   "%s (waited %ld s); try again when it is done", busy,
				   timeout_ms / 1000);
	else if (r < 0)
		r = mvm_error_set(e, r, "lock", path, NULL);
	if (r < 0) {
		close(lfd);
		return r;
	}
	*fd = lfd;
	return 0;
}

int vm_lock(const char *runtime_dir, const char *vm, long timeout_ms, bool create, int *fd,
	    struct mvm_error *e)
{
	int r = vm_name_check(vm, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *path = xasprintf("%s/%s.lock", runtime_dir, vm);
	if (!path)
		return mvm_error_set(e, ENOMEM, "lock", vm, NULL);
	if (create && (r = mkdir_p(runtime_dir, RUNTIME_DIR_MODE)) < 0)
		return mvm_error_set(e, r, "create", runtime_dir, NULL);
	int flags = O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (create ? O_CREAT : 0);
	int lfd = open(path, flags, 0600);
	if (lfd < 0 && !create && (errno == ENOENT || errno == ENOTDIR)) {
		*fd = -1;
		return 0;
	}
	if (lfd < 0)
		return mvm_error_set(e, errno, "lock", path, errno == ELOOP ? "a symlink" : NULL);
	return take(lfd, path, false, "another run holds the VM", timeout_ms, fd, e);
}

int vm_lock_to_undo(const char *runtime_dir, const char *vm, long timeout_ms, bool create,
		    int *fd, struct mvm_error *e)
{
	int r = vm_lock(runtime_dir, vm, timeout_ms, false, fd, e);
	if (r < 0 || *fd >= 0 || !create)
		return r;
	_cleanup_free_ char *dir = path_join(runtime_dir, vm);
	if (!dir)
		return mvm_error_set(e, ENOMEM, "lock", vm, NULL);
	struct stat st;
	if (lstat(dir, &st) < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 1;
	return vm_lock(runtime_dir, vm, timeout_ms, true, fd, e);
}

int runtime_lock(const char *runtime_dir, const char *busy, long timeout_ms, bool create,
		 int *fd, struct mvm_error *e)
{
	int r;
	if (create && (r = mkdir_p(runtime_dir, RUNTIME_DIR_MODE)) < 0)
		return mvm_error_set(e, r, "create", runtime_dir, NULL);
	int dfd = open(runtime_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 && !create && errno == ENOENT) {
		*fd = -1;
		return 0;
	}
	if (dfd < 0)
		return mvm_error_set(e, errno, "lock", runtime_dir,
				     errno == ELOOP || errno == ENOTDIR ? "not a directory" : NULL);
	/* Whoever can open a directory can flock it: ours, but readable by
	 * others (made so by hand, or by an older unit), it is made ours alone
	 * to read (not by a dry run), or the VM user could hold up every VM's
	 * runs. (One who opened it before keeps that descriptor, until the
	 * next boot empties /run.) */
	struct stat st;
	if (create && fstat(dfd, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 022) == 0 &&
	    (st.st_mode & 044) && fchmod(dfd, st.st_mode & 07711) < 0) {
		int err = errno;
		close(dfd);
		return mvm_error_set(e, err, "lock", runtime_dir, "unable to make it ours alone to read");
	}
	return take(dfd, runtime_dir, true, busy, timeout_ms, fd, e);
}
