/* SPDX-License-Identifier: MIT */
/* --user/--group to numbers, through NSS. A file of its own, so a tool
 * that does not resolve names (virtiofs-launch) links no NSS code and can
 * be linked statically. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "util.h"

/* getpwnam(3): "not found" is errno 0, or one of these on some NSS
 * modules; anything else is a real error worth its strerror(). */
static bool not_found(int err)
{
	return err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM;
}

/* A decimal number (a user or group given as a number); anything else
 * is looked up as a name. */
static int parse_id(const char *s, unsigned long *out)
{
	return parse_uint(s, 0xfffffffeUL, out);
}

int cli_resolve_ids(struct cli *c)
{
	unsigned long v;
	if (parse_id(c->user, &v) == 0) {
		c->uid = (uid_t)v;
	} else {
		errno = 0;
		struct passwd *pw = getpwnam(c->user);
		if (!pw) {
			log_err("unable to resolve user '%s': %s", c->user,
				not_found(errno) ? "no such user" : strerror(errno));
			return -ENOENT;
		}
		c->uid = pw->pw_uid;
	}
	if (parse_id(c->group, &v) == 0) {
		c->gid = (gid_t)v;
	} else {
		errno = 0;
		struct group *gr = getgrnam(c->group);
		if (!gr) {
			log_err("unable to resolve group '%s': %s", c->group,
				not_found(errno) ? "no such group" : strerror(errno));
			return -ENOENT;
		}
		c->gid = gr->gr_gid;
	}
	return 0;
}
