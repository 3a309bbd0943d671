/* SPDX-License-Identifier: MIT */
/* Parsers for the files of the runner package layout (DESIGN.md
 * section 2). They work on a buffer, so they can be tested and fuzzed
 * without files; vm.h reads the files and calls them.
 *
 * Each returns 0, -ENOMEM, or -EINVAL with e->line, e->value and
 * e->reason set (e->path is the caller's to fill). Outputs are filled only
 * on success and freed with the matching *_free(). */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* share/microvm/tap-interfaces: names separated by white space. */
struct ifname_list {
	size_t n;
	char (*v)[IFNAMSIZ];
};
int parse_tap_interfaces(const char *buf, size_t len, struct ifname_list *out, struct mvm_error *e);
void ifname_list_free(struct ifname_list *l);

/* share/microvm/tap-flags: words separated by white space. */
enum {
	TAP_FLAG_VNET_HDR = 1u << 0,
	TAP_FLAG_MULTI_QUEUE = 1u << 1,
};
int parse_tap_flags(const char *buf, size_t len, unsigned *flags, struct mvm_error *e);
/* "vnet_hdr,multi_queue" (or "none") into buf. */
const char *tap_flags_str(unsigned flags, char *buf, size_t size);

/* share/microvm/macvtap-interfaces: "ID MAC LINK MODE" a line. */
enum macvtap_mode {
	MACVTAP_PRIVATE,
	MACVTAP_VEPA,
	MACVTAP_BRIDGE,
	MACVTAP_PASSTHRU,
	MACVTAP_SOURCE,
};
struct macvtap_if {
	char id[IFNAMSIZ];
	uint8_t mac[6];
	char link[IFNAMSIZ];
	enum macvtap_mode mode;
	unsigned line; /* in the file, for messages */
};
struct macvtap_list {
	size_t n;
	struct macvtap_if *v;
};
int parse_macvtap_interfaces(const char *buf, size_t len, struct macvtap_list *out,
			     struct mvm_error *e);
void macvtap_list_free(struct macvtap_list *l);
const char *macvtap_mode_str(enum macvtap_mode m);
/* "aa:bb:cc:dd:ee:ff": 0 or -EINVAL (multicast and all-zero refused). */
int parse_mac(const char *s, size_t n, uint8_t mac[6]);

/* share/microvm/pci-devices: "DDDD:BB:DD.F" (or "BB:DD.F") a line. */
struct pci_addr {
	unsigned domain, bus, dev, fn;
	char str[13]; /* canonical, lower case: "0000:01:00.0" */
};
struct pci_list {
	size_t n;
	struct pci_addr *v;
};
int parse_pci_devices(const char *buf, size_t len, struct pci_list *out, struct mvm_error *e);
void pci_list_free(struct pci_list *l);
int parse_pci_addr(const char *s, size_t n, struct pci_addr *out);

/* share/microvm/virtiofs/TAG/{source,socket}: one path, made absolute
 * against base (the VM's state dir) when relative. */
int parse_path(const char *buf, size_t len, const char *base, char **out, struct mvm_error *e);
/* parse_path(), for a socket: the result must fit a unix socket's address
 * (107 bytes), which its clients (the VM) connect to. */
int parse_socket_path(const char *buf, size_t len, const char *base, char **out,
		      struct mvm_error *e);
/* parse_path(), also giving the path as written (malloc'ed) and its line,
 * for a message about the value later. */
int parse_path_at(const char *buf, size_t len, const char *base, char **out, char **written,
		  unsigned *line, struct mvm_error *e);

/* The virtio-fs device config holds at most 36 bytes of tag. */
#define VIRTIOFS_TAG_MAX 36

/* share/microvm/virtiofs/TAG/<setting>: optional files beside source and
 * socket, one setting each (virtiofs-launch(8)). A missing file keeps the
 * default given here. */
enum share_cache {
	SHARE_CACHE_UNSET, /* the daemon's own default */
	SHARE_CACHE_AUTO,
	SHARE_CACHE_ALWAYS,
	SHARE_CACHE_METADATA,
	SHARE_CACHE_NEVER,
};
enum share_ifh { /* inode-file-handles */
	SHARE_IFH_UNSET,
	SHARE_IFH_NEVER,
	SHARE_IFH_PREFER,
	SHARE_IFH_MANDATORY,
};
struct share_settings {
	bool read_only;			       /* read-only: true|false, default false */
	bool posix_acl;			       /* posix-acl: true|false, default true */
	enum share_cache cache;		       /* cache: auto|always|metadata|never */
	enum share_ifh inode_file_handles;     /* inode-file-handles: never|prefer|mandatory */
	char tag[VIRTIOFS_TAG_MAX + 1];	       /* tag: "" when not given */
	char **extra;			       /* extra-args: one argument a line */
	size_t n_extra;
	/* The line of the value of cache, inode-file-handles and tag, for
	 * messages (0: not given; not compared by share_settings_equal). */
	unsigned cache_line, ifh_line, tag_line;
};
/* The names of the setting files, for messages: "read-only, cache, ...". */
extern const char share_setting_names[];
/* Is name the name of a setting file? */
bool share_setting_known(const char *name);
void share_settings_init(struct share_settings *s);
void share_settings_free(struct share_settings *s);
bool share_settings_equal(const struct share_settings *a, const struct share_settings *b);
/* The file called name parsed into s: -ENOENT (e untouched) when name is
 * not a setting. One value a file (extra-args: one argument a line); an
 * unknown value, a second one, a control character is an error. */
int parse_share_setting(const char *name, const char *buf, size_t len, struct share_settings *s,
			struct mvm_error *e);
/* A runner microvm.nix built alone has no setting files: its shares'
 * settings are in its own scripts. bin/virtiofsd-run: the supervisord
 * configuration its `exec` line names (*conf, an absolute path). */
int parse_mnix_virtiofsd_run(const char *buf, size_t len, char **conf, struct mvm_error *e);
/* That configuration: the command= of [program:virtiofsd-TAG] (*cmd). */
int parse_mnix_supervisord(const char *buf, size_t len, const char *tag, char **cmd,
			   struct mvm_error *e);
/* That command, microvm.nix's script for the share: the settings its
 * `exec` line gives virtiofsd (--readonly, --cache=, --posix-acl,
 * --inode-file-handles=, --tag=, the rest as extra arguments) into s;
 * posix-acl false unless given. A word needing more shell than quotes is
 * an error naming it. */
int parse_mnix_virtiofsd_script(const char *buf, size_t len, struct share_settings *s,
				struct mvm_error *e);
const char *share_cache_str(enum share_cache c);
const char *share_ifh_str(enum share_ifh h);
