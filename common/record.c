/* SPDX-License-Identifier: MIT */
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "vm.h"

static int record_paths(const char *runtime_dir, const char *vm, const char *kind, char **dir,
			char **file, struct mvm_error *e)
{
	int r = vm_name_check(vm, e);
	if (r < 0)
		return r;
	*dir = path_join(runtime_dir, vm);
	*file = *dir ? path_join(*dir, kind) : NULL;
	if (!*file) {
		free(*dir);
		*dir = NULL; /* the callers' cleanup frees it again otherwise */
		return mvm_error_set(e, ENOMEM, "record", kind, NULL);
	}
	return 0;
}

int record_write(const char *runtime_dir, const char *vm, const char *kind, const char *text,
		 struct mvm_error *e)
{
	_cleanup_free_ char *dir = NULL, *file = NULL, *tmp = NULL;
	int r = record_paths(runtime_dir, vm, kind, &dir, &file, e);
	if (r < 0)
		return r;
	r = mkdir_p(dir, 0755);
	if (r < 0)
		return mvm_error_set(e, r, "create", dir, NULL);
	tmp = xasprintf("%s.tmp.XXXXXX", file);
	if (!tmp)
		return mvm_error_set(e, ENOMEM, "write", file, NULL);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return mvm_error_set(e, errno, "create", tmp, NULL);
	size_t len = strlen(text);
	const char *p = text;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (r == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, file) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return mvm_error_set(e, r, "write", file, NULL);
	}
	/* Make the rename itself durable. */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int record_read(const char *runtime_dir, const char *vm, const char *kind, char **text,
		struct mvm_error *e)
{
	_cleanup_free_ char *dir = NULL, *file = NULL;
	int r = record_paths(runtime_dir, vm, kind, &dir, &file, e);
	if (r < 0)
		return r;
	r = read_file(file, 1024 * 1024, text, NULL);
	if (r < 0)
		return mvm_error_set(e, r, "read", file, NULL);
	return 0;
}

int record_remove(const char *runtime_dir, const char *vm, const char *kind, struct mvm_error *e)
{
	_cleanup_free_ char *dir = NULL, *file = NULL;
	int r = record_paths(runtime_dir, vm, kind, &dir, &file, e);
	if (r < 0)
		return r;
	if (unlink(file) < 0 && errno != ENOENT)
		return mvm_error_set(e, errno, "remove", file, NULL);
	/* The VM's dir goes with its last record; others may still be there. */
	if (rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
		return mvm_error_set(e, errno, "remove", dir, NULL);
	return 0;
}
