/* SPDX-License-Identifier: MIT */
/* Which unix sockets listen, from PROCFS/net/unix: a line a socket,
 * "Num RefCount Protocol Flags Type St Inode Path"; a listening socket has
 * __SO_ACCEPTCON (0x10000) in Flags, and Path is the rest of the line as
 * it was given to bind() (it may hold spaces). Learnt without connecting:
 * a virtiofsd serves one client and exits when it leaves. */
#pragma once

#include <stddef.h>

/* Called for each listening socket that has a path (len bytes, not
 * NUL-terminated: a bound path may hold any byte but NUL and newline). */
typedef void unix_listener_fn(const char *path, size_t len, void *ud);

/* The lines of buf (the header line first), as the kernel writes them;
 * a line that does not fit is skipped. Never fails. */
void unix_parse(const char *buf, size_t len, unix_listener_fn *fn, void *ud);

/* Read the file (PROCFS/net/unix) a piece at a time and parse it: 0 or
 * -errno. */
int unix_listeners(const char *file, unix_listener_fn *fn, void *ud);

/* 1 when a socket bound at path listens, 0 when none does, or -errno. */
int unix_listening(const char *file, const char *path);
