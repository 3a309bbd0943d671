/* SPDX-License-Identifier: MIT */
/* tap-setup down: delete what the record names (made, or pending in the
 * VM's link group: what a killed up may have left), of this run's kind,
 * that no process holds; the rest stays recorded. */
#include "tap-setup.h" /* first: net/if.h before the linux/ headers */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* May the one request by link group be used? Only when the group holds
 * exactly the links to delete (del: the victims not held). */
static bool group_is_exactly(struct ctx *x, uint32_t group, const struct victims *v,
			     const bool *held)
{
	size_t ndel = 0, members = 0;
	for (size_t i = 0; i < v->r.n; i++)
		ndel += !held[i];
	if (group == 0 || ndel == 0)
		return false;
	for (struct nl_object *o = nl_cache_get_first(x->links); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		if (rtnl_link_get_group(l) != group)
			continue;
		bool listed = false;
		for (size_t i = 0; i < v->r.n && !listed; i++)
			listed = !held[i] && v->r.v[i].ifindex == rtnl_link_get_ifindex(l);
		if (!listed)
			return false;
		members++;
	}
	return members == ndel;
}

static void dry_run_down(struct ctx *x, const struct victims *v, const bool *held, bool by_group,
			 uint32_t group)
{
	for (size_t i = 0; i < v->r.n; i++)
		if (!held[i])
			log_action("delete %s%s", ESC(v->r.v[i].name),
				   by_group ? " (with its link group)" : "");
	if (by_group)
		log_action("delete link group %u in one request", group);
	_cleanup_free_ char *rec = ctx_record(x);
	log_action("remove record %s", ESC(rec ? rec : x->kind));
}

/* Delete the victims not held (by group, or one at a time); what cannot
 * be deleted is added to left. The first error in e when r is 0. */
static int delete_victims(struct ctx *x, const struct victims *v, const bool *held, bool by_group,
			  uint32_t group, struct tap_record *left, int r, struct mvm_error *e)
{
	if (by_group) {
		struct mvm_error e1;
		size_t ndel = 0;
		for (size_t i = 0; i < v->r.n; i++)
			ndel += !held[i];
		if (delete_group(x, group, &e1) == 0) {
			log_debug("deleted %zu %s with link group %u", ndel,
				  plural(ndel, "interface", "interfaces"), group);
		} else {
			log_debug("group delete failed (%s), deleting one at a time",
				  mvm_error_reason(&e1));
			by_group = false;
			ctx_renew(x); /* the next delete on a socket in step */
		}
	}
	for (size_t i = 0; i < v->r.n; i++) {
		const struct tap_entry *m = &v->r.v[i];
		struct mvm_error e1;
		if (held[i])
			continue;
		if (!by_group && delete_ifindex(x, m->ifindex, m->name, &e1) < 0) {
			if (r == 0)
				*e = e1;
			r = r ? r : -EIO;
			if (tap_record_add(left, m->name, m->ifindex, m->node) < 0)
				log_warn("unable to keep '%s' in the record: out of memory",
					 ESC(m->name));
			ctx_renew(x); /* the next delete on a socket in step */
			continue;
		}
		node_remove(m->node);
	}
	return r;
}

int down(struct ctx *x, struct mvm_error *e)
{
	struct tap_record rec = { 0 }, left = { 0 };
	struct victims v = { 0 };
	bool *held = NULL;
	int r = tap_record_load(x->c->runtime_dir, x->vm, x->kind, &rec, e);
	if (r < 0)
		return r;
	if (rec.n == 0) {
		log_debug("no %s recorded: nothing to delete", x->kind);
		if (!x->c->dry_run)
			r = record_remove(x->c->runtime_dir, x->vm, x->kind, e);
		goto out;
	}
	if ((r = ctx_open(x, e)) < 0 || (r = victims_from_record(x, &rec, &v, e)) < 0)
		goto out;
	held = calloc(v.r.n + 1, sizeof(*held));
	if (!held) {
		r = mvm_error_set(e, ENOMEM, "delete", x->kind, NULL);
		goto out;
	}
	/* What a process holds stays, and in the record; the error is the
	 * first one's. */
	int k = victims_held(x, &v, held, e);
	r = k < 0 ? k : k > 0 ? -EBUSY : 0;
	left.group = rec.group;
	for (size_t i = 0; i < v.r.n; i++)
		if (held[i] && tap_record_add(&left, v.r.v[i].name, v.r.v[i].ifindex, v.r.v[i].node) < 0)
			r = mvm_error_set(e, ENOMEM, "record", v.r.v[i].name, NULL);
	bool by_group = group_is_exactly(x, rec.group, &v, held);
	if (x->c->dry_run) {
		dry_run_down(x, &v, held, by_group, rec.group);
		goto out;
	}
	r = delete_victims(x, &v, held, by_group, rec.group, &left, r, e);
	/* The record keeps what is left; the first error is the one reported. */
	struct mvm_error scratch = { 0 };
	char *t = left.n ? tap_record_text(&left) : NULL;
	int rr = !left.n  ? record_remove(x->c->runtime_dir, x->vm, x->kind, r < 0 ? &scratch : e)
		 : t	  ? record_write(x->c->runtime_dir, x->vm, x->kind, t, r < 0 ? &scratch : e)
			  : mvm_error_set(r < 0 ? &scratch : e, ENOMEM, "record", x->kind, NULL);
	free(t);
	if (r == 0)
		r = rr;
out:
	free(held);
	victims_free(&v);
	tap_record_free(&left);
	tap_record_free(&rec);
	return r;
}
