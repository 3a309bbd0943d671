/* SPDX-License-Identifier: MIT */
/* A self-contained sender of the sd_notify protocol: $NOTIFY_SOCKET may be
 * a path or an abstract socket ("@name"). Without $NOTIFY_SOCKET every
 * call is a successful no-op. */
#pragma once

/* Send state ("READY=1", "STATUS=..."): 0, or -errno. */
int notify(const char *state);
int notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
