/* SPDX-License-Identifier: MIT */
/* --user/--group to numbers, through NSS. A file of its own, so a tool
 * that does not resolve names (virtiofs-launch) links no NSS code and can
 * be linked statically. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli.h"
#include "error.h"
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

/* The reason a failed getpwnam() or getgrnam() gives, in e. */
static int unknown(struct mvm_error *e, int err, const char *what, const char *name)
{
	char verb[32];
	snprintf(verb, sizeof(verb), "resolve %s", what);
	if (not_found(err))
		return mvm_error_setf(e, ENOENT, verb, name, "no such %s", what);
	return mvm_error_set(e, err, verb, name, NULL);
}

int cli_resolve_ids(struct cli *c, struct mvm_error *e)
{
	unsigned long v;
	if (parse_id(c->user, &v) == 0) {
		c->uid = (uid_t)v;
	} else {
		errno = 0;
		struct passwd *pw = getpwnam(c->user);
		if (!pw)
			return unknown(e, errno, "user", c->user);
		c->uid = pw->pw_uid;
	}
	if (parse_id(c->group, &v) == 0) {
		c->gid = (gid_t)v;
	} else {
		errno = 0;
		struct group *gr = getgrnam(c->group);
		if (!gr)
			return unknown(e, errno, "group", c->group);
		c->gid = gr->gr_gid;
	}
	return 0;
}
