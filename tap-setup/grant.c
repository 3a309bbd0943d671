/* SPDX-License-Identifier: MIT */
/* tap-setup --macvtap grant: give each macvtap's DEVFS/tapIFINDEX that up
 * made to the VM user, apart from up. The unit runs up without CAP_CHOWN
 * and with a read-only /dev (up --no-grant), and this as a privileged
 * step after it (ExecStartPost=+): so code that someone made up run
 * cannot chown the host's device nodes, and this step believes nothing
 * that such code could have written. The record only says which
 * interfaces to look at; each is given only when the kernel says now
 * that the index is a macvtap of that name, on the lower link that the
 * runner's macvtap-interfaces gives it, and the node (opened once, never
 * through a link) is that macvtap's character device, by the number
 * sysfs shows under that very index. */
#include "tap-setup.h" /* first: net/if.h before the linux/ headers */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "util.h"

/* The runner's entry of that name, or NULL. */
static const struct macvtap_if *wanted(const struct macvtap_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].id, name) == 0)
			return &l->v[i];
	return NULL;
}

/* Is ifindex, now, the macvtap m of the runner: that name, of kind
 * macvtap, on m's lower link? NULL when it is, else why not. */
static const char *not_the_macvtap(struct ctx *x, int ifindex, const struct macvtap_if *m)
{
	struct rtnl_link *l = rtnl_link_get(x->links, ifindex);
	const char *why = NULL;
	if (!l)
		return "no interface has its index now";
	const char *name = rtnl_link_get_name(l), *type = rtnl_link_get_type(l);
	if (!name || strcmp(name, m->id) != 0)
		why = "its index now has another name";
	else if (!type || strcmp(type, "macvtap") != 0)
		why = "not a macvtap";
	if (!why) {
		struct rtnl_link *lower = rtnl_link_get(x->links, rtnl_link_get_link(l));
		const char *ln = lower ? rtnl_link_get_name(lower) : NULL;
		if (!ln || strcmp(ln, m->link) != 0)
			why = "not on the link that macvtap-interfaces names";
		if (lower)
			rtnl_link_put(lower);
	}
	rtnl_link_put(l);
	return why;
}

/* DEVFS/tapIFINDEX (devfd), opened once as *fd, when it is the character
 * device that sysfs shows for that index. */
static int node_of(struct ctx *x, int devfd, const struct tap_entry *t, int *fd,
		   struct mvm_error *e)
{
	const struct cli *c = x->c;
	char base[32];
	snprintf(base, sizeof(base), "tap%d", t->ifindex);
	_cleanup_free_ char *node = xasprintf("%s/%s", c->devfs, base);
	_cleanup_free_ char *sys = NULL;
	dev_t devt;
	struct stat st;
	if (!node)
		return mvm_error_set(e, ENOMEM, "give", t->name, NULL);
	int r = macvtap_sysfs_devt(c, t->name, t->ifindex, &devt, &sys);
	if (r < 0)
		return mvm_error_set(e, r, "read", sys ? sys : t->name, NULL);
	*fd = openat(devfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0)
		return mvm_error_set(e, errno, "open", node, NULL);
	if (fstat(*fd, &st) < 0)
		return mvm_error_set(e, errno, "open", node, NULL);
	if (!S_ISCHR(st.st_mode))
		return mvm_error_set(e, 0, "chown", node, "not a character device");
	if (st.st_rdev != devt)
		return mvm_error_set(e, 0, "chown", node, "its device number is not the macvtap's");
	return 0;
}

int grant(struct ctx *x, const struct vm *vm, struct mvm_error *e)
{
	const struct cli *c = x->c;
	struct macvtap_list list = { 0 };
	struct tap_record rec = { 0 };
	_cleanup_close_ int devfd = -1;
	int *fds = NULL;
	size_t n = 0;
	int r = vm_macvtap_interfaces(vm, &list, e);
	if (r < 0)
		return r;
	if (c->dry_run) { /* up --dry-run made nothing and recorded nothing */
		for (size_t i = 0; i < list.n; i++)
			log_action("chown %s/tap<index of %s> to %u:%u", ESC(c->devfs),
				   ESC(list.v[i].id),
				   (unsigned)c->uid, (unsigned)c->gid);
		goto out;
	}
	if ((r = tap_record_load(c->runtime_dir, x->vm, x->kind, &rec, e)) < 0)
		goto out;
	if (!(fds = calloc(rec.n + 1, sizeof(*fds)))) {
		r = mvm_error_set(e, ENOMEM, "give", "macvtap", NULL);
		goto out;
	}
	if ((r = ctx_open(x, e)) < 0)
		goto out;
	devfd = open(c->devfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (devfd < 0) {
		r = mvm_error_set(e, errno, "open", c->devfs, NULL);
		goto out;
	}
	/* Every one checked before any is given: a refusal changes nothing. */
	for (size_t i = 0; i < rec.n; i++) {
		const struct tap_entry *t = &rec.v[i];
		if (t->ifindex <= 0)
			continue; /* pending: up did not finish */
		const struct macvtap_if *m = wanted(&list, t->name);
		const char *why = m ? not_the_macvtap(x, t->ifindex, m)
				    : "not in the runner's share/microvm/macvtap-interfaces";
		if (why) {
			_cleanup_free_ char *p = ctx_record(x);
			r = mvm_error_setf(e, 0, "give", t->name, "%s (recorded in %s)", why,
					   ESC(p ? p : x->kind));
			mvm_error_after(e, " to the VM user");
			goto out;
		}
		fds[n] = -1;
		r = node_of(x, devfd, t, &fds[n], e);
		n++;
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < list.n; i++) {
		bool made = false;
		for (size_t k = 0; k < rec.n && !made; k++)
			made = rec.v[k].ifindex > 0 && strcmp(rec.v[k].name, list.v[i].id) == 0;
		if (!made) {
			_cleanup_free_ char *p = ctx_record(x);
			r = mvm_error_setf(e, ENOENT, "give", list.v[i].id,
					   "not made: %s does not name it (run up first)",
					   ESC(p ? p : x->kind));
			mvm_error_after(e, " to the VM user");
			goto out;
		}
	}
	for (size_t i = 0, k = 0; i < rec.n; i++) {
		const struct tap_entry *t = &rec.v[i];
		if (t->ifindex <= 0)
			continue;
		if (fchownat(fds[k], "", c->uid, c->gid, AT_EMPTY_PATH) < 0) {
			_cleanup_free_ char *node = xasprintf("%s/tap%d", c->devfs, t->ifindex);
			r = mvm_error_set(e, errno, "chown", node ? node : t->name, NULL);
			goto out;
		}
		k++;
	}
	log_debug("gave %s %zu %s to %u:%u", plural(n, "the node of", "the nodes of"), n,
		  plural(n, "macvtap", "macvtaps"), (unsigned)c->uid, (unsigned)c->gid);
	r = 0;
out:
	for (size_t i = 0; fds && i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	tap_record_free(&rec);
	macvtap_list_free(&list);
	return r;
}
