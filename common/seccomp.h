/* SPDX-License-Identifier: MIT */
/* A seccomp filter a helper sets on itself, on top of its unit's (which
 * it also holds without one: by hand, or under someone else's unit). */
#pragma once

#include <stdbool.h>

/* process_vm_writev, process_vm_readv and ptrace fail with EPERM, and so
 * does every system call of another ABI (i386, x32), which could name them
 * by other numbers. With netlink_route_only, socket() too but for
 * AF_NETLINK/NETLINK_ROUTE: the units allow AF_NETLINK, and systemd cannot
 * tell its protocols apart; NETLINK_KOBJECT_UEVENT would let a root
 * process with CAP_NET_ADMIN send udev's events, from which PID 1 starts
 * the units they name (SYSTEMD_WANTS=). socketpair() is another system
 * call and stays. An ASan build keeps ptrace (LeakSanitizer uses it at
 * exit). Needs no_new_privs (or CAP_SYS_ADMIN). 0 or -errno; on
 * an architecture other than x86_64 and aarch64, 0 and no filter. */
int seccomp_confine(bool netlink_route_only);
