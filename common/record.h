/* SPDX-License-Identifier: MIT */
/* The runtime records of DESIGN.md section 4: what a root helper did, so
 * that its stop action undoes exactly that, whatever `current` and
 * `booted` point at by then. One text file per helper kind, at
 * RUNTIME_DIR/VM/KIND ("tap", "macvtap", "pci"), written atomically. */
#pragma once

#include "error.h"

/* Write text (NUL-terminated) atomically: RUNTIME/VM made 0755 if
 * missing, temp file in the same dir, fsync, rename over. 0 or -errno. */
int record_write(const char *runtime_dir, const char *vm, const char *kind, const char *text,
		 struct mvm_error *e);
/* Read it back; -ENOENT when there is none (nothing to undo). */
int record_read(const char *runtime_dir, const char *vm, const char *kind, char **text,
		struct mvm_error *e);
/* Remove it (a missing one is fine), and RUNTIME/VM when then empty. */
int record_remove(const char *runtime_dir, const char *vm, const char *kind, struct mvm_error *e);
