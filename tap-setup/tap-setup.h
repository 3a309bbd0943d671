/* SPDX-License-Identifier: MIT */
/* tap-setup's parts: tap-setup.c (command line, lock, verbs), links.c
 * (netlink, link groups, macvtap device numbers), held.c (what up and
 * down may delete: kind, record, holders), up.c, down.c, grant.c. */
#pragma once

#include <net/if.h> /* before the linux/ headers */
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cli.h"
#include "error.h"
#include "procfd.h"
#include "record.h"
#include "vm.h"

struct opts {
	bool macvtap;
	const char *bridge; /* NULL: no master */
	unsigned mtu;	    /* 0: the kernel's default */
	const char *qdisc;  /* --qdisc as given, NULL: not given */
	bool kernel_qdisc;  /* --qdisc default: leave the kernel's root qdisc */
	bool no_grant;	    /* --no-grant: up leaves the macvtaps' nodes root's */
};
extern struct opts opts;

struct ctx {
	const struct cli *c;
	const char *vm;
	const char *kind; /* record kind and what is made: "tap" or "macvtap" */
	bool mac;	  /* kind is macvtap */
	struct nl_sock *sk;
	struct nl_cache *links; /* one dump, taken before any change */
	struct tun_seen *tuns;	/* what that dump said of its tun links */
	size_t ntuns;
	int tuns_err;		/* -ENOMEM: tuns lacks some */
	struct fd_scanner *scan; /* who holds what: common/procfd.h */
};

/* ---- links.c ---- */
int fail_nl(struct mvm_error *e, int nlerr, const char *verb, const char *obj);
int ctx_open(struct ctx *x, struct mvm_error *e);
/* x->sk replaced by a new socket, after a failed request (up's rollback,
 * down's next delete): a request libnl could not send leaves the old one
 * out of step (libnl numbered it, and takes every answer after it for one
 * with the wrong sequence number). The old one stays, with a warning,
 * when no new one can be had. */
void ctx_renew(struct ctx *x);
void ctx_close(struct ctx *x);
/* The path of this run's record (malloc'ed), for messages; NULL on ENOMEM. */
char *ctx_record(const struct ctx *x);
/* What the kernel says of a tun link now (RTM_GETLINK, IFLA_INFO_DATA). */
struct tun_facts {
	unsigned arptype;      /* ARPHRD_*: the link type, which TUNSETLINK changes */
	bool tun;	       /* of kind "tun", and the kernel said the rest: */
	unsigned type;	       /* IFF_TUN or IFF_TAP */
	bool has_owner, has_group;
	uint32_t owner, group;
	bool persist, multi_queue;
	/* Attached queues and, of those, disabled: the kernel counts them for
	 * a multi_queue TAP only (a TAP without can have one queue at most). */
	bool counted;
	uint32_t queues, disabled;
	bool has_addr; /* its MAC address, as the kernel said it (any kind) */
	unsigned char addr[6];
};
struct tun_seen {
	int ifindex;
	struct tun_facts f;
};
/* 0 with f filled, -ENODEV when there is no such link, else -errno. */
int tun_facts_get(struct ctx *x, int ifindex, struct tun_facts *f);
/* What x's dump said of tun link ifindex, or NULL. */
const struct tun_facts *tun_dumped(const struct ctx *x, int ifindex);
/* Is l (of x->links) of the kind this run makes: 1, a TAP (the kernel's
 * IFLA_TUN_TYPE in the same dump, whatever its link type) or a macvtap;
 * 0, not; or -errno when the dump's facts of it are missing. */
int link_kind(struct ctx *x, struct rtnl_link *l);
/* What l is, for messages: "veth", "tun" (layer 3), ... */
const char *link_kind_str(struct rtnl_link *l);
/* The kernel's index of a name now, or -errno. */
int ifindex_of(struct ctx *x, const char *name);
int find_link(struct ctx *x, const char *name, const char *what, int *ifindex,
	      struct mvm_error *e);
int delete_ifindex(struct ctx *x, int ifindex, const char *name, struct mvm_error *e);
int delete_name(struct ctx *x, const char *name);
int delete_group(struct ctx *x, uint32_t group, struct mvm_error *e);
/* "noqueue" as the root qdisc of a TAP that is still down: the kernel then
 * gives it none of its own when it comes up (for a multi_queue TAP, an mq
 * root with a pfifo_fast child per possible queue: 6.5 MiB). */
int link_noqueue(struct ctx *x, int ifindex, const char *name, struct mvm_error *e);
/* Up, and the changes of ch (group, master, MTU), in one RTM_NEWLINK. */
int link_setup(struct ctx *x, struct rtnl_link *ch, int ifindex, const char *name,
	       struct mvm_error *e);
/* A link group of the VM's own that no link outside skip uses. */
int choose_group(struct ctx *x, const struct tap_record *skip, uint32_t *out,
		 struct mvm_error *e);
/* The device number of macvtap name (index ifindex): from
 * SYSFS/class/net/NAME/macvtap/tapN/dev (its path in *path if asked),
 * else (macvtap_devt) from the node DEVFS/tapN. */
int macvtap_sysfs_devt(const struct cli *c, const char *name, int ifindex, dev_t *out,
		       char **path);
int macvtap_devt(const struct cli *c, const char *name, int ifindex, dev_t *out);
/* Remove a device node tap-setup made, if it is still a character device. */
void node_remove(const char *node);

/* ---- held.c ---- */
/* What up or down is to delete: record entries and links of wanted names
 * that are there now, each checked. */
struct victims {
	struct tap_record r; /* name, ifindex now, node (from the record) */
	bool *replace;	     /* a wanted name (up replaces it), not a record's */
};
void victims_free(struct victims *v);
/* Add one (none twice: the same index again only marks it replace). */
int victims_add(struct victims *v, const char *name, int ifindex, const char *node, bool replace);
/* The links the record old names that are still there as it recorded
 * them (the index with that name, or a pending name in its group), of
 * this run's kind, added to v; others are logged and left. */
int victims_from_record(struct ctx *x, const struct tap_record *old, struct victims *v,
			struct mvm_error *e);
/* One pass over /proc for all victims: held[i] is set for each one that a
 * process holds open, or for which that cannot be told (failing closed).
 * Returns how many, e filled with the first one's reason (EBUSY; verb
 * "replace" or "delete"), or -ENOMEM with every held[i] set (a /proc
 * that cannot be read at all makes every victim held, as unsure). */
int victims_held(struct ctx *x, const struct victims *v, bool *held, struct mvm_error *e);
/* Refuse (EBUSY, naming it and the VM) a link up would replace (a wanted
 * name) that another VM's record names, as that VM's down would delete
 * it: another VM's TAP is never this one's stale TAP. */
int victims_of_others(struct ctx *x, const struct victims *v, struct mvm_error *e);
/* Does another VM's record (of either kind) name l, as that VM's down
 * would delete it? 1 (that VM's name in who), 0, or -errno with e set (a
 * record that cannot be read: what it holds is unknown). */
int link_of_other_vm(struct ctx *x, struct rtnl_link *l, char *who, size_t size,
		     struct mvm_error *e);

/* ---- up.c, down.c, grant.c ---- */
int up_taps(struct ctx *x, const struct vm *vm, struct mvm_error *e);
int up_macvtaps(struct ctx *x, const struct vm *vm, struct mvm_error *e);
int down(struct ctx *x, struct mvm_error *e);
/* Each recorded macvtap's DEVFS/tapN to the VM user, when the kernel says
 * it is the runner's macvtap and the node its device (grant.c). */
int grant(struct ctx *x, const struct vm *vm, struct mvm_error *e);
