/* SPDX-License-Identifier: MIT */
/* Helpers of the tap suite (tests/unit/tap.c, tap-attack.c): each test
 * forks (Check), then makes its own network and mount namespace with a
 * fresh sysfs on /sys, so /sys/class/net shows the test's interfaces and
 * nothing on the host is touched. */
#pragma once

#include <netlink/route/link.h>
#include <stdint.h>
#include <sys/types.h>

#include "testutil.h"

#define UID 990
#define GID 78

/* The namespace (a checked fixture) and one libnl socket in it. */
void netns_setup(void);
void netns_teardown(void);

/* A plain link of this name (one end of a veth pair; the peer is NAMEp). */
void make_veth(const char *name);
void make_bridge(const char *name);
/* The link as the kernel shows it now (rtnl_link_put() it). */
struct rtnl_link *get_link(const char *name);
void set_group(const char *name, uint32_t group);
/* Its MAC address ("aa:bb:..."), then its master (NULL: none). */
void set_mac_master(const char *name, const char *mac, const char *master);
/* An alternative name (the kernel then refuses NAME for a new link). */
void add_altname(const char *dev, const char *alt);
/* if_nametoindex(): 0 when there is no such interface. */
int ifindex(const char *name);
/* /sys/class/net/NAME/ATTR, as text (malloc'ed) or as a number. */
char *sysattr(const char *name, const char *attr);
unsigned long sysnum(const char *name, const char *attr);
/* The names of every interface, sorted, joined by ' ' (malloc'ed). */
char *links_now(void);

/* tap-setup --state-dir .. --runtime-dir .. --user 990 --group 78
 * EXTRA... VERB NAME, with env (NULL-terminated "K=V", or NULL). */
void tap_run_env(struct tu_run *r, const struct tu_vm *t, const char *verb,
		  const char *const *extra, const char *const *env);
void tap_run(struct tu_run *r, const struct tu_vm *t, const char *verb, const char *const *extra);
/* The same, asserting exit status 0. */
void tap_ok(const struct tu_vm *t, const char *verb, const char *const *extra);
/* RUNTIME/NAME/KIND, or NULL when there is none. */
char *record_of(const struct tu_vm *t, const char *kind);
/* A VM vm1 with share/microvm/tap-interfaces (and tap-flags unless NULL). */
void vm_taps(struct tu_vm *t, const char *names, const char *flags);
/* The same with n TAPs, t0 to t(n-1). */
void vm_n_taps(struct tu_vm *t, size_t n, const char *flags);

/* ROOT/dev/net/tun, a TUN clone node of mode 0666 (as udev makes it; the
 * host's may be 0600), made if missing; malloc'ed path. */
char *tun_node(const struct tu_vm *t);
/* tests/helpers/tap-holder as uid/gid (through tun_node()), holding what
 * args name (see the helper), running until holder_stop(). Returns its
 * pid once it said it holds them all. */
pid_t holder_start(const struct tu_vm *t, uid_t uid, gid_t gid, const char *const *args);
void holder_stop(pid_t pid);

/* The attack tests (tap-attack.c), added to the tap suite. */
void tap_attack_cases(Suite *s);
