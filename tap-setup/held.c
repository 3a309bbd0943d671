/* SPDX-License-Identifier: MIT */
/* tap-setup: what up and down may delete. Only a link of this run's kind
 * (a TAP, or a macvtap) that the record names as made (same index and
 * name) or as pending (same name, in the recorded link group), or that
 * has a name up wants; and never one that a process holds open, nor one
 * whose holders cannot be told (DESIGN.md section 3; common/procfd.h). */
#include "tap-setup.h" /* first: net/if.h before the linux/ headers */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "procfd.h"
#include "util.h"
#include "vm.h"

void victims_free(struct victims *v)
{
	tap_record_free(&v->r);
	free(v->replace);
	memset(v, 0, sizeof(*v));
}

int victims_add(struct victims *v, const char *name, int ifindex, const char *node, bool replace)
{
	for (size_t i = 0; i < v->r.n; i++) {
		if (v->r.v[i].ifindex == ifindex) {
			v->replace[i] |= replace;
			return 0;
		}
	}
	bool *nr = realloc(v->replace, (v->r.n + 1) * sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	v->replace = nr;
	nr[v->r.n] = replace;
	return tap_record_add(&v->r, name, ifindex, node);
}

int victims_from_record(struct ctx *x, const struct tap_record *old, struct victims *v,
			struct mvm_error *e)
{
	for (size_t i = 0; i < old->n; i++) {
		const struct tap_entry *o = &old->v[i];
		struct rtnl_link *l = o->ifindex > 0 ? rtnl_link_get(x->links, o->ifindex)
						     : rtnl_link_get_by_name(x->links, o->name);
		if (!l) {
			log_debug("%s (%s %d) is not there", ESC(o->name),
				  o->ifindex ? "index" : "pending",
				  o->ifindex);
			continue;
		}
		const char *now = rtnl_link_get_name(l);
		int ifx = rtnl_link_get_ifindex(l), r = 0, ours = link_kind(x, l);
		if (ours < 0)
			r = mvm_error_setf(e, -ours, "delete", o->name,
					   "unable to tell what index %d is: %s", ifx,
					   strerror(-ours));
		else if (o->ifindex > 0 && (!ours || !now || strcmp(now, o->name) != 0))
			log_warn("index %d is now '%s' (%s), not the %s '%s' recorded: left alone",
				 o->ifindex, now ? ESC(now) : "?", ESC(link_kind_str(l)), x->kind,
				 ESC(o->name));
		else if (o->ifindex == 0 && (!ours || rtnl_link_get_group(l) != old->group))
			log_debug("%s is not a %s in link group %u: not the one recorded as pending",
				  ESC(o->name), x->kind, old->group);
		else if (victims_add(v, o->name, ifx, o->node, false) < 0)
			r = mvm_error_set(e, ENOMEM, "delete", o->name, NULL);
		rtnl_link_put(l);
		if (r < 0)
			return r;
	}
	return 0;
}

/* What the kernel counts of a victim's queues: a multi_queue TAP's
 * (IFLA_TUN_NUM_QUEUES, IFLA_TUN_NUM_DISABLED_QUEUES; asked as it is
 * checked, as the scan looks). Each is a descriptor of /dev/net/tun
 * attached to it, wherever that is: in a process's table, or in a message
 * on a socket (SCM_RIGHTS), which no /proc/PID/fd shows. */
struct kcount {
	bool known; /* the kernel said: the TAP is held exactly when n > 0 */
	uint32_t n, disabled;
};

static struct kcount kernel_count(struct ctx *x, int ifindex)
{
	/* (not asked of a TAP the dump showed without multi_queue: a flag
	 * that an existing TAP's holders cannot change, TUNSETIFF refuses) */
	const struct tun_facts *d = tun_dumped(x, ifindex);
	struct tun_facts f;
	if (x->mac || (d && d->tun && !d->multi_queue))
		return (struct kcount){ 0 };
	int r = tun_facts_get(x, ifindex, &f);
	if (r < 0 && r != -ENODEV)
		ctx_renew(x); /* the requests that follow on a socket in step */
	if (r < 0 || !f.tun || !f.counted)
		return (struct kcount){ 0 };
	return (struct kcount){ true, f.queues + f.disabled, f.disabled };
}

/* The reason victim i is held (or cannot be told free), into e. */
static void held_why(struct ctx *x, const struct victims *v, size_t i, const struct fd_target *t,
		     const struct fd_scan *s, const struct kcount *k, struct mvm_error *e)
{
	const char *verb = v->replace[i] ? "replace" : "delete", *name = v->r.v[i].name;
	char dis[32] = "";
	if (k->disabled)
		snprintf(dis, sizeof(dis), " (%u disabled)", (unsigned)k->disabled);
	if (t->pid && t->err)
		mvm_error_setf(e, EBUSY, verb, name,
			       "process %d holds a TAP of that name in another network namespace, "
			       "and whether it is this one cannot be told: %s",
			       (int)t->pid, strerror(t->err));
	else if (t->pid)
		mvm_error_setf(e, EBUSY, verb, name, "process %d holds it open; is the VM running?",
			       (int)t->pid);
	else if (k->known && k->n && s->blind_pid) /* (it may be the holder) */
		mvm_error_setf(e, EBUSY, verb, name,
			       "the kernel counts %u %s attached to it%s, and which process holds it "
			       "cannot be told: unable to read '%s/%s': %s",
			       (unsigned)k->n, plural(k->n, "queue", "queues"), dis,
			       ESC(x->c->procfs), ESC(s->blind_what), strerror(s->blind_err));
	else if (k->known && k->n)
		mvm_error_setf(e, EBUSY, verb, name,
			       "the kernel counts %u %s attached to it%s, in no process that /proc "
			       "shows (a descriptor sent in a message?); is the VM running?",
			       (unsigned)k->n, plural(k->n, "queue", "queues"), dis);
	else
		mvm_error_setf(e, EBUSY, verb, name,
			       "cannot tell whether a process holds it open: unable to read "
			       "'%s/%s': %s",
			       ESC(x->c->procfs), ESC(s->blind_what), strerror(s->blind_err));
}

int victims_held(struct ctx *x, const struct victims *v, bool *held, struct mvm_error *e)
{
	size_t n = v->r.n;
	int count = 0;
	if (n == 0)
		return 0;
	struct fd_target *t = calloc(n, sizeof(*t));
	bool *nodev = calloc(n, sizeof(*nodev));
	struct kcount *k = calloc(n, sizeof(*k));
	if (!t || !nodev || !k) { /* unsure of every one: each counts as held */
		free(t);
		free(nodev);
		free(k);
		for (size_t i = 0; i < n; i++)
			held[i] = true;
		return mvm_error_set(e, ENOMEM, "check", x->kind, NULL);
	}
	bool scan = false; /* some victim the kernel did not count free */
	for (size_t i = 0; i < n; i++) {
		const struct tap_entry *m = &v->r.v[i];
		k[i] = kernel_count(x, m->ifindex);
		scan |= !k[i].known || k[i].n > 0;
		if (!x->mac)
			t[i].name = m->name;
		else if (macvtap_devt(x->c, m->name, m->ifindex, &t[i].devt) < 0)
			nodev[i] = true; /* devt 0: matches nothing */
	}
	/* The scan, unless the kernel counted every victim free: it names
	 * the holder, and it is all there is for the rest. */
	struct fd_scan s = { 0 };
	int r = scan ? fd_scanner_holders(x->scan, t, n, &s) : 0;
	if (r < 0) { /* every victim unsure */
		s = (struct fd_scan){ .blind_pid = 1, .blind_err = -r };
		snprintf(s.blind_what, sizeof(s.blind_what), ".");
	}
	if (s.excused_pid)
		log_debug("process %d could not be read, and holds capabilities the scan lacks: "
			  "more privileged than any VM, not counted",
			  (int)s.excused_pid);
	for (size_t i = 0; i < n; i++) {
		/* (a process the scan could not read holds nothing the kernel
		 * counted free) */
		bool kfree = k[i].known && !k[i].n;
		held[i] = nodev[i] || t[i].pid || (k[i].known && k[i].n) || (s.blind_pid && !kfree);
		if (held[i] && count++ > 0)
			continue;
		if (nodev[i])
			mvm_error_setf(e, EBUSY, v->replace[i] ? "replace" : "delete", v->r.v[i].name,
				       "cannot find its /dev/tap%d to check that no process holds it",
				       v->r.v[i].ifindex);
		else if (held[i])
			held_why(x, v, i, &t[i], &s, &k[i], e);
	}
	free(t);
	free(nodev);
	free(k);
	return count;
}

/* Does OTHER's record of kind name link l, as that VM's down would
 * delete it (victims_from_record(); made: the same index and name; pending:
 * the same name in its group)? 1, 0, or -errno with e set. */
static int other_names(struct ctx *x, const char *other, const char *kind, struct rtnl_link *l,
		       struct mvm_error *e)
{
	struct tap_record rec;
	int r = tap_record_load(x->c->runtime_dir, other, kind, &rec, e);
	if (r < 0)
		return r;
	const char *name = rtnl_link_get_name(l);
	int ifx = rtnl_link_get_ifindex(l), found = 0;
	for (size_t i = 0; i < rec.n && !found; i++) {
		const struct tap_entry *o = &rec.v[i];
		found = name && !strcmp(o->name, name) &&
			(o->ifindex > 0 ? o->ifindex == ifx : rtnl_link_get_group(l) == rec.group);
	}
	tap_record_free(&rec);
	return found;
}

struct other_arg {
	struct ctx *x;
	struct rtnl_link *l;
	char *who;
	size_t size;
	struct mvm_error *e;
};
static int other_vm_names(const char *other, void *arg)
{
	static const char *const kinds[] = { "tap", "macvtap" };
	struct other_arg *a = arg;
	int r = 0;
	for (size_t k = 0; r == 0 && k < ARRAY_SIZE(kinds); k++)
		r = other_names(a->x, other, kinds[k], a->l, a->e);
	if (r < 0)
		a->e->hint = "another VM's record: the interfaces it holds are unknown";
	else if (r > 0)
		snprintf(a->who, a->size, "%s", other);
	return r;
}

int link_of_other_vm(struct ctx *x, struct rtnl_link *l, char *who, size_t size,
		     struct mvm_error *e)
{
	struct other_arg a = { x, l, who, size, e };
	return record_each_other_vm(x->c->runtime_dir, x->vm, other_vm_names, &a, e);
}

int victims_of_others(struct ctx *x, const struct victims *v, struct mvm_error *e)
{
	char who[VM_NAME_MAX + 1];
	for (size_t i = 0; i < v->r.n; i++) {
		struct rtnl_link *l = v->replace[i] ? rtnl_link_get(x->links, v->r.v[i].ifindex)
						    : NULL;
		if (!l)
			continue;
		int r = link_of_other_vm(x, l, who, sizeof(who), e);
		rtnl_link_put(l);
		if (r > 0)
			r = mvm_error_setf(e, EBUSY, "replace", v->r.v[i].name,
					   "the record of VM '%s' names it", ESC(who));
		if (r < 0)
			return r;
	}
	return 0;
}
