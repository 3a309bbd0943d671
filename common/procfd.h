/* SPDX-License-Identifier: MIT */
/* Who holds an interface open, from every process's descriptors in /proc
 * (DESIGN.md section 3: an interface a process holds is never deleted).
 *
 * A TAP is held while a process has a descriptor of /dev/net/tun attached
 * to it, whatever its carrier (a VM can turn that off) and even as a
 * detached queue: the kernel names the interface of such a descriptor in
 * /proc/PID/fdinfo/FD ("iff:\tNAME"). A macvtap is held while a process has
 * its character device /dev/tapN open. One pass over /proc answers for
 * all the interfaces of a run.
 *
 * The check fails closed: a process whose descriptors cannot be read
 * (EACCES without CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE) is reported, and
 * the caller must not call anything "free" then. One exception: a process
 * that cannot be read although the scan holds those capabilities, and that
 * runs as root with capabilities the scan lacks, is more privileged than
 * the caller can ever be (a sandbox's own init, as PID 1 of a Firecracker
 * guest): nothing the VM user can make; it is reported as excused_pid. A
 * process that exits during the scan is not an error. */
#pragma once

#include <net/if.h>
#include <stddef.h>
#include <sys/types.h>

/* The interface name of a /dev/net/tun descriptor, from the text of its
 * /proc/PID/fdinfo/FD (len bytes, need not be NUL-terminated): 1 with
 * name set ("" when attached to no interface), 0 when there is no iff:
 * line, -EINVAL when that line is not a name the kernel could print. */
int fdinfo_iff(const char *buf, size_t len, char name[IFNAMSIZ]);

/* One interface to look for. */
struct fd_target {
	const char *name; /* a TAP: attached tun descriptors named so; NULL: */
	dev_t devt;	  /* ... a character device (a macvtap's) by number */
	pid_t pid;	  /* result: a process holding it, 0 when none */
	int err;	  /* result: when pid holds a TAP of that name in another
			   * network namespace and whether it is this one could not
			   * be told: why (pid is set: held, failing closed) */
};

/* What a scan could not see. */
struct fd_scan {
	pid_t blind_pid;    /* a process whose descriptors could not be read */
	int blind_err;	    /* ... and why (errno) */
	char blind_what[64]; /* ... what could not be read, "PID/fd" in PROCFS */
	pid_t excused_pid;   /* one that could not be read, more privileged than
			      * the scan (see above), not counted */
};

/* Look through PROCFS/PID/fd (and fdinfo) of every process but this one
 * for the n targets. 0 (results in t[] and s), or -errno when PROCFS itself
 * cannot be listed. */
int fd_holders(const char *procfs, struct fd_target *t, size_t n, struct fd_scan *s);
