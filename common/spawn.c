/* SPDX-License-Identifier: MIT */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* environ without the names in unset (NULL-terminated), pointers shared. */
static char **env_without(const char *const *unset)
{
	size_t n = 0;
	while (environ && environ[n])
		n++;
	char **env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		bool drop = false;
		for (size_t j = 0; unset && unset[j]; j++) {
			size_t l = strlen(unset[j]);
			if (strncmp(environ[i], unset[j], l) == 0 && environ[i][l] == '=')
				drop = true;
		}
		if (!drop)
			env[k++] = environ[i];
	}
	return env;
}

/* In the child, between fork and exec: async-signal-safe calls only.
 * Returns 0, or the errno to report to the parent. */
static int child_setup(const struct spawn_opts *o, pid_t parent, int *errfd)
{
	sigset_t none;
	sigemptyset(&none);
	/* Every disposition back to SIG_DFL through the system call: glibc's
	 * signal() refuses its own two (32 and 33, SIGCANCEL and SIGSETXID),
	 * which a parent may pass on ignored (every child of GNU make 4.3 has
	 * them so, from glibc's posix_spawn). A zeroed struct sigaction is
	 * SIG_DFL on every architecture. Fails harmlessly for SIGKILL and
	 * SIGSTOP. */
	static const unsigned long dfl[8];
	for (int s = 1; s < NSIG; s++)
		syscall(SYS_rt_sigaction, s, dfl, NULL, (size_t)(NSIG - 1) / 8);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		return errno;
	if (o->pdeathsig) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			return errno;
		if (getppid() != parent) /* the parent died before prctl */
			return ESRCH;
	}
	if (o->new_pgroup && setpgid(0, 0) < 0)
		return errno;
	int in = o->stdin_fd >= 0 ? o->stdin_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (in < 0 || dup2(in, 0) < 0)
		return errno;
	if (o->stdout_fd >= 0 && dup2(o->stdout_fd, 1) < 0)
		return errno;
	if (o->stderr_fd >= 0 && dup2(o->stderr_fd, 2) < 0)
		return errno;
	/* Every descriptor above 2 is closed at exec (the error pipe too),
	 * but the one passed as 3 (dup2 of a descriptor onto itself would
	 * leave its close-on-exec flag). */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return errno;
	if (o->pass_fd >= 0 && *errfd == 3 && (*errfd = fcntl(3, F_DUPFD_CLOEXEC, 4)) < 0)
		return errno; /* (unreported: the parent sees the child exit 127) */
	if (o->pass_fd == 3 && fcntl(3, F_SETFD, 0) < 0)
		return errno;
	if (o->pass_fd >= 0 && o->pass_fd != 3 && dup2(o->pass_fd, 3) < 0)
		return errno;
	if (o->cwd && chdir(o->cwd) < 0)
		return errno;
	return 0;
}

pid_t spawn_nowait(char *const argv[], const struct spawn_opts *o, int *exec_fd,
		   struct mvm_error *e)
{
	static const struct spawn_opts defaults = SPAWN_OPTS_INIT;
	if (!o)
		o = &defaults;
	char **env = env_without(o->unset_env);
	if (!env)
		return mvm_error_set(e, ENOMEM, "start", argv[0], NULL);
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		free(env);
		return mvm_error_set(e, errno, "start", argv[0], NULL);
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int err = errno;
		free(env);
		close(pfd[0]);
		close(pfd[1]);
		return mvm_error_set(e, err, "start", argv[0], NULL);
	}
	if (pid == 0) {
		close(pfd[0]);
		int errfd = pfd[1];
		int err = child_setup(o, parent, &errfd);
		if (err == 0) {
			execve(argv[0], argv, env);
			err = errno;
		}
		while (write(errfd, &err, sizeof(err)) < 0 && errno == EINTR)
			;
		_exit(127);
	}
	free(env);
	close(pfd[1]);
	*exec_fd = pfd[0];
	return pid;
}

int spawn_exec_error(int exec_fd)
{
	int err = 0;
	ssize_t n;
	while ((n = read(exec_fd, &err, sizeof(err))) < 0 && errno == EINTR)
		;
	if (n < 0)
		return errno;
	return n == (ssize_t)sizeof(err) ? err : 0;
}

const char *spawn_exec_reason(int err, const char *path, const char *cwd)
{
	if (err != ENOENT || path[0] != '/' || access(path, X_OK) != 0 ||
	    (cwd && access(cwd, X_OK) != 0)) /* (a child's chdir() fails with ENOENT too) */
		return NULL;
	return "not found: its interpreter (#! line) or ELF loader";
}

pid_t spawn(char *const argv[], const struct spawn_opts *o, struct mvm_error *e)
{
	int fd;
	pid_t pid = spawn_nowait(argv, o, &fd, e);
	if (pid < 0)
		return pid;
	int err = spawn_exec_error(fd);
	close(fd);
	if (err) {
		/* exec failed: reap the child, report why. */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return mvm_error_set(e, err, "start", argv[0],
				     spawn_exec_reason(err, argv[0], o ? o->cwd : NULL));
	}
	return pid;
}

int spawn_wait(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

char *find_in_path(const char *name)
{
	const char *path = getenv("PATH");
	if (!path || strchr(name, '/'))
		return NULL;
	for (const char *p = path; *p;) {
		const char *c = strchr(p, ':');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		if (l > 0) {
			char *cand = xasprintf("%.*s/%s", (int)l, p, name);
			struct stat st;
			if (cand && stat(cand, &st) == 0 && S_ISREG(st.st_mode) &&
			    access(cand, X_OK) == 0)
				return cand;
			free(cand);
		}
		p = c ? c + 1 : p + l;
	}
	return NULL;
}
