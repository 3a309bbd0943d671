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
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

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

/* The scan in a process of its own (privilege separation).
 *
 * Reading another user's descriptors takes CAP_SYS_PTRACE (and
 * CAP_DAC_READ_SEARCH). In a process that runs as root, CAP_SYS_PTRACE
 * opens every process to it, past any sandbox: it could write into PID 1's
 * memory (process_vm_writev, /proc/1/mem) and, through /proc/1/root, into
 * the host's own files, which a mount namespace does not cover. So the
 * scan runs in a child forked before the caller reads anything a VM user
 * can change: the child becomes nobody (65534:65534, no supplementary
 * groups) with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH alone (as far as the
 * caller held them), no new privileges and a seccomp filter that denies
 * process_vm_writev, process_vm_readv and ptrace, and answers
 * fd_scanner_holders() over a socket. As nobody it cannot write a file
 * that root owns, whichever path it takes. The caller then drops
 * CAP_SYS_PTRACE, CAP_SETUID and CAP_SETGID for good (and sets
 * no_new_privs, so that no exec gives them back). Without CAP_SETUID and
 * CAP_SETGID the child keeps the caller's uid; the caller still drops.
 * The caller also takes gid 65534 and no supplementary groups (while
 * CAP_SETGID lasts): a root process with no capability the caller lacks
 * would otherwise still be open to it through /proc/PID (same uid, same
 * gid). */
struct fd_scanner {
	pid_t pid;	/* the child, 0 when none */
	int sock;	/* our end of its socket, -1 when none */
	bool as_nobody; /* the child runs as 65534 */
};

/* Fork the scanner for PROCFS and drop the caller's capabilities as above.
 * 0, or -errno (what failed in e, nothing is left running). */
int fd_scanner_start(struct fd_scanner *sc, const char *procfs, struct mvm_error *e);
/* fd_holders() in the scanner (any n: more than one request holds are
 * asked in turns): the same results, or -errno when it cannot
 * be asked (EPIPE: it is gone; ETIMEDOUT: no answer in 30 s, as when
 * another process of nobody's stopped it). After such an error the
 * scanner is stopped: every later call gets EPIPE. */
int fd_scanner_holders(struct fd_scanner *sc, struct fd_target *t, size_t n, struct fd_scan *s);
/* Close its socket (it exits) and reap it. Idempotent. */
void fd_scanner_stop(struct fd_scanner *sc);
