/* SPDX-License-Identifier: MIT */
/* Children by fork and exec of an argv, never through a shell. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

struct spawn_opts {
	int stdin_fd;		   /* -1: /dev/null */
	int stdout_fd, stderr_fd;  /* -1: inherit */
	bool pdeathsig;		   /* SIGKILL the child when we die */
	bool new_pgroup;	   /* child leads a process group of its own */
	const char *const *unset_env; /* NULL-terminated names removed from env */
	const char *cwd;	   /* chdir() first, or NULL */
	int pass_fd;		   /* -1: none; else the child's fd 3 (not close-on-exec) */
};
#define SPAWN_OPTS_INIT { .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1, .pass_fd = -1 }

/* Start argv[0] (a path; no PATH search) with a reset signal mask and
 * dispositions and only fds 0-2 open (and 3 with pass_fd). Returns the pid, or -errno with e
 * filled when fork or exec failed (exec errors are reported back through
 * a close-on-exec pipe, so a missing binary is an error here). */
pid_t spawn(char *const argv[], const struct spawn_opts *o, struct mvm_error *e);

/* The same without waiting for the exec (a supervisor starting many
 * children at once): *exec_fd (close-on-exec) then reads as EOF once
 * argv[0] runs, or yields the errno of a failed start (the child exits
 * 127); spawn_exec_error() reads it. Returns the pid, or -errno with e
 * filled when the fork failed. */
pid_t spawn_nowait(char *const argv[], const struct spawn_opts *o, int *exec_fd,
		   struct mvm_error *e);
/* 0 once the child runs argv[0] (blocks until then), or why it does not. */
int spawn_exec_error(int exec_fd);

/* The reason for an exec of path (absolute) that failed with err, in the
 * working directory cwd (NULL: the caller's), when strerror() would
 * mislead: ENOENT for a file that is there means the program its #! line
 * names, or its ELF loader, is missing. NULL otherwise. */
const char *spawn_exec_reason(int err, const char *path, const char *cwd);

/* waitpid() retried on EINTR; returns the exit code (128+sig when killed),
 * or -errno. */
int spawn_wait(pid_t pid);

/* The first executable file named name in $PATH, or NULL. */
char *find_in_path(const char *name);
