/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the parsers of the runtime records (common/record.h),
 * which tap-setup down and pci-bind unbind run as root on what an earlier
 * run (possibly a killed one, or an older version) left. A parser must not
 * crash, leak or hit undefined behaviour; what it accepts must be what
 * its writer would write (checked below: text -> parse -> text -> parse
 * gives the same record); a refusal names its line and value.
 * Build: make fuzz; run: build/fuzz/fuzz-records tests/fuzz/corpus/records */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "layout.h"
#include "record.h"
#include "util.h"


static void check_error(int r, const struct mvm_error *e)
{
	CHECK(r == -EINVAL || r == -ENOMEM);
	if (r == -EINVAL) {
		CHECK(e->reason != NULL && strcmp(e->verb, "parse") == 0);
		CHECK(e->line >= 1);
	}
	CHECK(memchr(e->value, '\0', sizeof(e->value)) != NULL);
}

static void tap(const char *buf, size_t len)
{
	struct tap_record r, again;
	struct mvm_error e;
	int k = tap_record_parse(buf, len, &r, &e);
	if (k < 0) {
		check_error(k, &e);
		return;
	}
	for (size_t i = 0; i < r.n; i++) {
		const struct tap_entry *v = &r.v[i];
		CHECK(ifname_invalid(v->name, strlen(v->name)) == NULL);
		CHECK(v->ifindex >= 0);
		CHECK(v->ifindex > 0 || (!v->node && r.group != 0));
		if (v->node) {
			CHECK(v->node[0] == '/' && strlen(v->node) < PATH_MAX);
			CHECK(strncmp(strrchr(v->node, '/'), "/tap", 4) == 0);
		}
	}
	char *t = tap_record_text(&r);
	CHECK(t != NULL);
	/* A version 1 record without a group becomes group 0, which version
	 * 2 refuses only when something is pending: none here. */
	k = tap_record_parse(t, strlen(t), &again, &e);
	CHECK(k == 0 || (r.group == 0 && k == -EINVAL));
	if (k == 0) {
		CHECK(again.group == r.group && again.n == r.n);
		for (size_t i = 0; i < r.n; i++) {
			CHECK(strcmp(again.v[i].name, r.v[i].name) == 0);
			CHECK(again.v[i].ifindex == r.v[i].ifindex);
			CHECK(!again.v[i].node == !r.v[i].node);
			CHECK(!r.v[i].node || strcmp(again.v[i].node, r.v[i].node) == 0);
		}
		tap_record_free(&again);
	}
	free(t);
	tap_record_free(&r);
}

static void pci(const char *buf, size_t len)
{
	struct pci_record r, again;
	struct mvm_error e;
	int k = pci_record_parse(buf, len, &r, &e);
	if (k < 0) {
		check_error(k, &e);
		return;
	}
	for (size_t i = 0; i < r.n; i++) {
		struct pci_addr a;
		CHECK(parse_pci_addr(r.v[i].addr, strlen(r.v[i].addr), &a) == 0);
		CHECK(strcmp(a.str, r.v[i].addr) == 0);
		CHECK(!r.v[i].prev[0] || !component_invalid(r.v[i].prev, PCI_DRIVER_MAX - 1));
		CHECK(!r.v[i].claimed || (r.version == 3 && !r.v[i].prev[0] && !r.v[i].override[0]));
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(r.v[i].addr, r.v[j].addr) != 0);
	}
	for (size_t i = 0; i < r.nn; i++) {
		CHECK(r.version == 3 && r.nodes[i].mode <= 07777);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(r.nodes[i].group, r.nodes[j].group) != 0);
	}
	char *t = pci_record_text(&r);
	CHECK(t != NULL);
	CHECK(pci_record_parse(t, strlen(t), &again, &e) == 0);
	CHECK(again.n == r.n && again.nn == r.nn && again.version == PCI_RECORD_VERSION);
	for (size_t i = 0; i < r.n; i++)
		CHECK(!memcmp(&again.v[i], &r.v[i], sizeof(r.v[i])));
	for (size_t i = 0; i < r.nn; i++)
		CHECK(!memcmp(&again.nodes[i], &r.nodes[i], sizeof(r.nodes[i])));
	pci_record_free(&again);
	free(t);
	pci_record_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so reads past the end are caught. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	tap(buf, size);
	pci(buf, size);
	free(buf);
	return 0;
}
