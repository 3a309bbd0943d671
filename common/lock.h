/* SPDX-License-Identifier: MIT */
/* One lock per VM, so that the runs of tap-setup and pci-bind for the
 * same VM take turns (DESIGN.md section 3): RUNTIME_DIR/NAME.lock, root's,
 * flock(LOCK_EX), held until the process exits. A run that cannot take it
 * within the timeout fails; runs for other VMs never wait on it. The file
 * stays (removing a lock file races with its next user). */
#pragma once

#include <stdbool.h>

#include "error.h"

/* The wait when $MICROVM_LOCK_TIMEOUT is not set. */
#define LOCK_TIMEOUT_DEFAULT_S 30
#define LOCK_TIMEOUT_MAX_S 3600

/* $MICROVM_LOCK_TIMEOUT (whole seconds, 0 to LOCK_TIMEOUT_MAX_S) in
 * milliseconds, or the default; -EINVAL (e filled) when it is set to
 * anything else. */
int lock_timeout_ms(long *ms, struct mvm_error *e);

/* Take the lock of VM: the runtime dir made if missing (RUNTIME_DIR_MODE, 0711), the lock
 * file opened without following a symlink or blocking, and refused
 * unless it is a regular file of ours; then waited for at most
 * timeout_ms. *fd is the descriptor that holds it (close it, or exit, to
 * let go). With create false (--dry-run, which changes nothing) no file
 * or directory is made: when there is no lock file, no run holds the VM
 * and *fd is -1. 0, or -errno with e filled; -EWOULDBLOCK: "another run
 * holds the VM". */
int vm_lock(const char *runtime_dir, const char *vm, long timeout_ms, bool create, int *fd,
	    struct mvm_error *e);

/* vm_lock() for a run that undoes what the VM's records say (tap-setup
 * down, pci-bind unbind): when there is neither the lock file nor
 * RUNTIME_DIR/VM, where the records live, no run made anything for the VM
 * (each takes the lock before it writes a record, and both stay until
 * the runtime dir goes): 1, with *fd -1 and nothing made, so that a
 * mistyped name changes nothing on the host. A run that makes them after
 * that look came after this one. */
int vm_lock_to_undo(const char *runtime_dir, const char *vm, long timeout_ms, bool create,
		    int *fd, struct mvm_error *e);

/* A lock of the runtime dir itself (flock of the directory: no file whose
 * name a VM's could clash with), for the runs of one tool for all VMs to
 * take turns (pci-bind: each reads the other VMs' records). As vm_lock():
 * the directory made if missing (unless !create: then *fd is -1 when it
 * is missing), refused unless it is ours, made ours alone to read
 * (RUNTIME_DIR_MODE; unless !create) so that no one else can open it and
 * hold the lock, waited for at most timeout_ms; busy says who holds it, in
 * the error. */
int runtime_lock(const char *runtime_dir, const char *busy, long timeout_ms, bool create,
		 int *fd, struct mvm_error *e);
