/* SPDX-License-Identifier: MIT */
/* The layout parsers of common/layout.h on buffers: one table of good
 * inputs and one of bad inputs per format (DESIGN.md section 2). Reading
 * the files (e.path, trust) is tests/unit/vm.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "testutil.h"
#include "util.h"

/* A bad input: the error must name this line and value, for this reason. */
struct bad_case {
	const char *in;
	size_t len; /* 0: strlen(in) */
	unsigned line;
	const char *value;
	const char *reason;
};

static size_t in_len(const char *in, size_t len)
{
	return len ? len : strlen(in);
}

/* An error of a parser: EINVAL, verb "parse", no path (vm.c fills it). */
#define assert_bad(e, c) tu_assert_error(e, EINVAL, "parse", "", (c)->line, (c)->value, (c)->reason)

static const char *const ifname_chars =
	"interface name with white space, a control or non-ASCII byte";

/* ---- tap-interfaces ---- */

static const struct {
	const char *in;
	const char *want; /* names joined by ',' */
} tap_good[] = {
	{"", ""},
	{"\n", ""},
	{"tap0", "tap0"},
	{"tap0\n", "tap0"},
	{"tap0\ntap1\n", "tap0,tap1"},
	{"tap0 tap1\n", "tap0,tap1"},
	{"\n\n  tap0\t\n\n\ttap1  \n\n", "tap0,tap1"},
	{"tap0\r\ntap1\r\n", "tap0,tap1"},
	{"vm-a.b_c@1\n", "vm-a.b_c@1"},
	{"abcdefghijklmno\n", "abcdefghijklmno"}, /* 15 bytes: the longest */
	{"...\n", "..."},
	{"tap10 tap1\n", "tap10,tap1"}, /* a name that starts another is no duplicate */
	/* 20: the list grows past its first sizes (4, 8, 16) */
	{"tap0 tap1 tap2 tap3 tap4 tap5 tap6 tap7 tap8 tap9\n"
	 "tap10 tap11 tap12 tap13 tap14 tap15 tap16 tap17 tap18 tap19\n",
	 "tap0,tap1,tap2,tap3,tap4,tap5,tap6,tap7,tap8,tap9,"
	 "tap10,tap11,tap12,tap13,tap14,tap15,tap16,tap17,tap18,tap19"},
};

START_TEST(tap_interfaces_good)
{
	struct ifname_list l = {.n = 99};
	struct mvm_error e;
	const char *in = tap_good[_i].in;
	ck_assert_int_eq(parse_tap_interfaces(in, strlen(in), &l, &e), 0);
	char got[256] = "";
	for (size_t i = 0; i < l.n; i++) {
		ck_assert_uint_lt(strlen(l.v[i]), IFNAMSIZ);
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "",
			 l.v[i]);
	}
	ck_assert_str_eq(got, tap_good[_i].want);
	ifname_list_free(&l);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_ptr_null(l.v);
}
END_TEST

static const struct bad_case tap_bad[] = {
	{"abcdefghijklmnop\n", 0, 1, "abcdefghijklmnop", "interface name of 16 bytes or more"},
	{"tap0\ntap/1\n", 0, 2, "tap/1", "interface name with '/' or ':'"},
	{"tap:1\n", 0, 1, "tap:1", "interface name with '/' or ':'"},
	{"tap0\ntap%d\n", 0, 2, "tap%d", "interface name with '%' (the kernel's name template)"},
	{".\n", 0, 1, ".", "'.' and '..' are not interface names"},
	{"tap0\n..\n", 0, 2, "..", "'.' and '..' are not interface names"},
	{"tap0 tap1\ntap0\n", 0, 2, "tap0", "duplicate interface name"},
	{"tap\xff\n", 0, 1, "tap\\xff", ifname_chars},		/* not UTF-8 */
	{"t\xc3\xa4p\n", 0, 1, "t\xc3\xa4p", ifname_chars}, /* UTF-8, not ASCII (shown as it is) */
	{"tap\x01x\n", 0, 1, "tap\\x01x", ifname_chars},
	{"tap\x7f\n", 0, 1, "tap\\x7f", ifname_chars},
	{"tap0\ntap\0x\ntap2\n", 16, 2, "tap\\x00x", "NUL byte"},
	{"tap0\r\nbad/\r\n", 0, 2, "bad/", "interface name with '/' or ':'"}, /* no \r in it */
	{"\n\n\n\nabcdefghijklmnopq", 0, 5, "abcdefghijklmnopq", "interface name of 16 bytes or more"},
};

START_TEST(tap_interfaces_bad)
{
	const struct bad_case *c = &tap_bad[_i];
	struct ifname_list l = {.n = 99};
	struct mvm_error e;
	ck_assert_int_eq(parse_tap_interfaces(c->in, in_len(c->in, c->len), &l, &e), -EINVAL);
	assert_bad(&e, c);
	ck_assert_uint_eq(l.n, 99); /* outputs untouched on failure */
}
END_TEST

/* ---- tap-flags ---- */

static const struct {
	const char *in;
	unsigned want;
} flags_good[] = {
	{"", 0},
	{"\n\n", 0},
	{"vnet_hdr\n", TAP_FLAG_VNET_HDR},
	{"multi_queue", TAP_FLAG_MULTI_QUEUE},
	{"vnet_hdr multi_queue\n", TAP_FLAG_VNET_HDR | TAP_FLAG_MULTI_QUEUE},
	{"multi_queue\r\n\r\nvnet_hdr\r\n", TAP_FLAG_VNET_HDR | TAP_FLAG_MULTI_QUEUE},
	{"\tvnet_hdr  ", TAP_FLAG_VNET_HDR},
};

START_TEST(tap_flags_good)
{
	unsigned f = 12345;
	struct mvm_error e;
	const char *in = flags_good[_i].in;
	ck_assert_int_eq(parse_tap_flags(in, strlen(in), &f, &e), 0);
	ck_assert_uint_eq(f, flags_good[_i].want);
}
END_TEST

static const char *const unknown_flag = "unknown flag (known: vnet_hdr, multi_queue)";
static const struct bad_case flags_bad[] = {
	{"vnet_hdr foo\n", 0, 1, "foo", unknown_flag},
	{"VNET_HDR\n", 0, 1, "VNET_HDR", unknown_flag},
	{"vnet_hdr,multi_queue\n", 0, 1, "vnet_hdr,multi_queue", unknown_flag},
	{"vnet\n", 0, 1, "vnet", unknown_flag},
	{"vnet_hdr\nvnet_hdr\n", 0, 2, "vnet_hdr", "duplicate flag"},
	{"multi_queue\r\n\r\nvnet_hdr\xe9\r\n", 0, 3, "vnet_hdr\\xe9", unknown_flag},
	{"vnet_hdr\0", 9, 1, "vnet_hdr\\x00", "NUL byte"},
};

START_TEST(tap_flags_bad)
{
	const struct bad_case *c = &flags_bad[_i];
	unsigned f = 12345;
	struct mvm_error e;
	ck_assert_int_eq(parse_tap_flags(c->in, in_len(c->in, c->len), &f, &e), -EINVAL);
	assert_bad(&e, c);
	ck_assert_uint_eq(f, 12345);
}
END_TEST

START_TEST(tap_flags_to_string)
{
	char buf[64];
	ck_assert_str_eq(tap_flags_str(0, buf, sizeof(buf)), "none");
	ck_assert_str_eq(tap_flags_str(TAP_FLAG_VNET_HDR, buf, sizeof(buf)), "vnet_hdr");
	ck_assert_str_eq(tap_flags_str(TAP_FLAG_MULTI_QUEUE, buf, sizeof(buf)), "multi_queue");
	ck_assert_str_eq(tap_flags_str(TAP_FLAG_VNET_HDR | TAP_FLAG_MULTI_QUEUE, buf, sizeof(buf)),
			 "vnet_hdr,multi_queue");
}
END_TEST

/* ---- macvtap-interfaces ---- */

static void macvtap_str(const struct macvtap_list *l, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		const struct macvtap_if *m = &l->v[i];
		size_t o = strlen(buf);
		snprintf(buf + o, size - o, "%s%s %02x:%02x:%02x:%02x:%02x:%02x %s %s", i ? ";" : "",
			 m->id, m->mac[0], m->mac[1], m->mac[2], m->mac[3], m->mac[4], m->mac[5],
			 m->link, macvtap_mode_str(m->mode));
	}
}

static const struct {
	const char *in;
	const char *want;
} macvtap_good[] = {
	{"", ""},
	{"\n\n", ""},
	{"mv0 02:00:00:00:00:01 eth0 bridge\n", "mv0 02:00:00:00:00:01 eth0 bridge"},
	{"mv0 02:00:00:00:00:01 eth0 private", "mv0 02:00:00:00:00:01 eth0 private"},
	{"mv0 02:00:00:00:00:01 eth0 vepa\n", "mv0 02:00:00:00:00:01 eth0 vepa"},
	{"mv0 02:00:00:00:00:01 eth0 passthru\n", "mv0 02:00:00:00:00:01 eth0 passthru"},
	{"mv0 02:00:00:00:00:01 eth0 source\n", "mv0 02:00:00:00:00:01 eth0 source"},
	{"mv0 02:AB:cd:Ef:00:fF eth0 bridge\n", "mv0 02:ab:cd:ef:00:ff eth0 bridge"},
	{"\n  mv0\t02:00:00:00:00:01   enp1s0\tbridge  \r\n\r\n"
	 "mv1 fe:ff:ff:ff:ff:ff enp1s0 vepa\r\n",
	 "mv0 02:00:00:00:00:01 enp1s0 bridge;mv1 fe:ff:ff:ff:ff:ff enp1s0 vepa"},
	{"abcdefghijklmno 02:00:00:00:00:01 abcdefghijklmnx bridge\n",
	 "abcdefghijklmno 02:00:00:00:00:01 abcdefghijklmnx bridge"},
	/* one MAC on two links: each link has its own */
	{"mv0 02:00:00:00:00:01 eth0 bridge\nmv1 02:00:00:00:00:01 eth1 bridge\n",
	 "mv0 02:00:00:00:00:01 eth0 bridge;mv1 02:00:00:00:00:01 eth1 bridge"},
};

START_TEST(macvtap_interfaces_good)
{
	struct macvtap_list l = {.n = 99};
	struct mvm_error e;
	const char *in = macvtap_good[_i].in;
	ck_assert_int_eq(parse_macvtap_interfaces(in, strlen(in), &l, &e), 0);
	char got[512];
	macvtap_str(&l, got, sizeof(got));
	ck_assert_str_eq(got, macvtap_good[_i].want);
	macvtap_list_free(&l);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_ptr_null(l.v);
}
END_TEST

static const char *const bad_mac = "invalid MAC address (want unicast aa:bb:cc:dd:ee:ff)";
static const char *const unknown_mode =
	"unknown mode (known: private, vepa, bridge, passthru, source)";
static const char *const four_fields = "expected 'ID MAC LINK MODE'";
static const struct bad_case macvtap_bad[] = {
	{"mv0 02:00:00:00:00:01 eth0\n", 0, 1, "mv0 02:00:00:00:00:01 eth0", four_fields},
	{"mv0 02:00:00:00:00:01 eth0 bridge x\n", 0, 1, "mv0 02:00:00:00:00:01 eth0 bridge x",
	 four_fields},
	{"mv0\n", 0, 1, "mv0", four_fields},
	{"mv0 01:00:00:00:00:01 eth0 bridge\n", 0, 1, "01:00:00:00:00:01", bad_mac}, /* multicast */
	{"mv0 00:00:00:00:00:00 eth0 bridge\n", 0, 1, "00:00:00:00:00:00", bad_mac},
	{"mv0 02:00:00:00:00:0g eth0 bridge\n", 0, 1, "02:00:00:00:00:0g", bad_mac},
	{"mv0 02-00-00-00-00-01 eth0 bridge\n", 0, 1, "02-00-00-00-00-01", bad_mac},
	{"mv0 02:00:00:00:00:001 eth0 bridge\n", 0, 1, "02:00:00:00:00:001", bad_mac},
	{"mv0 2:00:00:00:00:01 eth0 bridge\n", 0, 1, "2:00:00:00:00:01", bad_mac},
	{"mv0 02:00:00:00:00 eth0 bridge\n", 0, 1, "02:00:00:00:00", bad_mac},
	{"mv0 02:00:00:00:00:01 eth0 Bridge\n", 0, 1, "Bridge", unknown_mode},
	{"mv0 02:00:00:00:00:01 eth0 macvlan\n", 0, 1, "macvlan", unknown_mode},
	{"abcdefghijklmnop 02:00:00:00:00:01 eth0 bridge\n", 0, 1, "abcdefghijklmnop",
	 "interface name of 16 bytes or more"},
	{"mv0 02:00:00:00:00:01 eth:0 bridge\n", 0, 1, "eth:0", "interface name with '/' or ':'"},
	{"mv/0 02:00:00:00:00:01 eth0 bridge\n", 0, 1, "mv/0", "interface name with '/' or ':'"},
	{"mv%d 02:00:00:00:00:01 eth0 bridge\n", 0, 1, "mv%d",
	 "interface name with '%' (the kernel's name template)"},
	{". 02:00:00:00:00:01 eth0 bridge\n", 0, 1, ".", "'.' and '..' are not interface names"},
	{"mv0 02:00:00:00:00:01 .. bridge\n", 0, 1, "..", "'.' and '..' are not interface names"},
	{"mv\xff 02:00:00:00:00:01 eth0 bridge\n", 0, 1, "mv\\xff", ifname_chars},
	{"mv0 02:00:00:00:00:01 eth0 bridge\nmv0 02:00:00:00:00:02 eth0 bridge\n", 0, 2, "mv0",
	 "duplicate interface name"},
	{"eth0 02:00:00:00:00:01 eth0 bridge\n", 0, 1, "eth0", "an interface cannot be its own link"},
	/* one MAC twice on a link: the kernel refused it only once the first
	 * was made (on two links it takes it: see macvtap_interfaces_good) */
	{"mv0 02:00:00:00:00:01 eth0 bridge\nmv1 02:00:00:00:00:01 eth0 bridge\n", 0, 2,
	 "02:00:00:00:00:01", "duplicate MAC address on its LINK"},
	{"mv0 02:00:00:00:00:01 eth0 bridge\r\nmv1 02:00:00:00:00:02 eth0 nope\r\n", 0, 2, "nope",
	 unknown_mode},
	{"mv0 02:00:00:00:00:01\0eth0 bridge\n", 34, 1, "mv0 02:00:00:00:00:01\\x00eth0 bridge",
	 "NUL byte"},
};

START_TEST(macvtap_interfaces_bad)
{
	const struct bad_case *c = &macvtap_bad[_i];
	struct macvtap_list l = {.n = 99};
	struct mvm_error e;
	ck_assert_int_eq(parse_macvtap_interfaces(c->in, in_len(c->in, c->len), &l, &e), -EINVAL);
	assert_bad(&e, c);
	ck_assert_uint_eq(l.n, 99);
}
END_TEST

START_TEST(macvtap_mode_names)
{
	ck_assert_str_eq(macvtap_mode_str(MACVTAP_PRIVATE), "private");
	ck_assert_str_eq(macvtap_mode_str(MACVTAP_VEPA), "vepa");
	ck_assert_str_eq(macvtap_mode_str(MACVTAP_BRIDGE), "bridge");
	ck_assert_str_eq(macvtap_mode_str(MACVTAP_PASSTHRU), "passthru");
	ck_assert_str_eq(macvtap_mode_str(MACVTAP_SOURCE), "source");
	ck_assert_str_eq(macvtap_mode_str((enum macvtap_mode)42), "?");
}
END_TEST

START_TEST(mac_addresses)
{
	uint8_t mac[6] = {9, 9, 9, 9, 9, 9};
	ck_assert_int_eq(parse_mac("02:00:5e:10:AB:ff", 17, mac), 0);
	const uint8_t want[6] = {0x02, 0x00, 0x5e, 0x10, 0xab, 0xff};
	ck_assert_mem_eq(mac, want, 6);
	/* Only n bytes are looked at. */
	ck_assert_int_eq(parse_mac("02:00:00:00:00:01 trailing", 17, mac), 0);
	ck_assert_int_eq(parse_mac("ff:ff:ff:ff:ff:ff", 17, mac), -EINVAL);
	ck_assert_int_eq(parse_mac("02:00:00:00:00:01", 16, mac), -EINVAL);
	ck_assert_int_eq(parse_mac("02:00:00:00:00+01", 17, mac), -EINVAL);
	ck_assert_int_eq(parse_mac("", 0, mac), -EINVAL);
	const uint8_t last[6] = {0x02, 0, 0, 0, 0, 0x01}; /* untouched on failure */
	ck_assert_mem_eq(mac, last, 6);
}
END_TEST

/* ---- pci-devices ---- */

static const struct {
	const char *in;
	const char *want;
} pci_good[] = {
	{"", ""},
	{"\n", ""},
	{"0000:01:00.0\n", "0000:01:00.0"},
	{"0000:01:00.0", "0000:01:00.0"},
	{"01:00.0\n", "0000:01:00.0"}, /* BB:DD.F short form: domain 0000 */
	{"0000:0A:1F.7\n", "0000:0a:1f.7"},
	{"ffff:ff:1f.7\n", "ffff:ff:1f.7"},
	{"10de:00:00.0\n", "10de:00:00.0"},
	{"\n01:00.0\r\n\r\n  0000:02:00.1\t\n", "0000:01:00.0,0000:02:00.1"},
	{"0001:01:00.0\n0000:01:00.0\n", "0001:01:00.0,0000:01:00.0"},
};

START_TEST(pci_devices_good)
{
	struct pci_list l = {.n = 99};
	struct mvm_error e;
	const char *in = pci_good[_i].in;
	ck_assert_int_eq(parse_pci_devices(in, strlen(in), &l, &e), 0);
	char got[256] = "";
	for (size_t i = 0; i < l.n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "",
			 l.v[i].str);
	ck_assert_str_eq(got, pci_good[_i].want);
	pci_list_free(&l);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_ptr_null(l.v);
}
END_TEST

static const char *const bad_pci = "invalid PCI address (want DDDD:BB:DD.F or BB:DD.F)";
static const struct bad_case pci_bad[] = {
	{"0000:01:00.8\n", 0, 1, "0000:01:00.8", bad_pci}, /* function 0-7 */
	{"0000:01:20.0\n", 0, 1, "0000:01:20.0", bad_pci}, /* device 0-1f */
	{"1:00.0\n", 0, 1, "1:00.0", bad_pci},
	{"0000:01:00\n", 0, 1, "0000:01:00", bad_pci},
	{"0000-01:00.0\n", 0, 1, "0000-01:00.0", bad_pci},
	{"000:01:00.0\n", 0, 1, "000:01:00.0", bad_pci},
	{"00000:01:00.0\n", 0, 1, "00000:01:00.0", bad_pci},
	{"0000:0g:00.0\n", 0, 1, "0000:0g:00.0", bad_pci},
	{"0000:01:00:0\n", 0, 1, "0000:01:00:0", bad_pci},
	{"0000:01.00.0\n", 0, 1, "0000:01.00.0", bad_pci},
	{"01:00.0\npci-0000:01:00.0\n", 0, 2, "pci-0000:01:00.0", bad_pci},
	{"0000:01:00.\xff\n", 0, 1, "0000:01:00.\\xff", bad_pci},
	{"01:00.0 02:00.0\n", 0, 1, "01:00.0 02:00.0", "one PCI address a line"},
	{"01:00.0\n0000:01:00.0\n", 0, 2, "0000:01:00.0", "duplicate PCI address"},
	{"0000:0a:00.0\r\n0000:0A:00.0\r\n", 0, 2, "0000:0A:00.0", "duplicate PCI address"},
	{"01:00.0\n\0", 9, 2, "\\x00", "NUL byte"},
};

START_TEST(pci_devices_bad)
{
	const struct bad_case *c = &pci_bad[_i];
	struct pci_list l = {.n = 99};
	struct mvm_error e;
	ck_assert_int_eq(parse_pci_devices(c->in, in_len(c->in, c->len), &l, &e), -EINVAL);
	assert_bad(&e, c);
	ck_assert_uint_eq(l.n, 99);
}
END_TEST

START_TEST(pci_address_fields)
{
	struct pci_addr a;
	ck_assert_int_eq(parse_pci_addr("abcd:1e:1f.6", 12, &a), 0);
	ck_assert_uint_eq(a.domain, 0xabcd);
	ck_assert_uint_eq(a.bus, 0x1e);
	ck_assert_uint_eq(a.dev, 0x1f);
	ck_assert_uint_eq(a.fn, 6);
	ck_assert_str_eq(a.str, "abcd:1e:1f.6");
	ck_assert_int_eq(parse_pci_addr("03:04.5", 7, &a), 0);
	ck_assert_uint_eq(a.domain, 0);
	ck_assert_uint_eq(a.bus, 3);
	ck_assert_uint_eq(a.dev, 4);
	ck_assert_uint_eq(a.fn, 5);
	ck_assert_str_eq(a.str, "0000:03:04.5");
	ck_assert_int_eq(parse_pci_addr("03:04.5", 6, &a), -EINVAL);
	ck_assert_str_eq(a.str, "0000:03:04.5"); /* untouched on failure */
}
END_TEST

/* ---- virtiofs/TAG/{source,socket} ---- */

#define BASE "/var/lib/microvms/vm1"
static const struct {
	const char *in;
	const char *want;
} path_good[] = {
	{"/srv/data\n", "/srv/data"},
	{"/srv/data", "/srv/data"},
	{"data\n", BASE "/data"},
	{"vm1-virtiofs-ro-store.sock\n", BASE "/vm1-virtiofs-ro-store.sock"},
	{"sub/dir/x.sock\n", BASE "/sub/dir/x.sock"},
	{"\n\n/srv/x\r\n\n", "/srv/x"},
	{"/srv/my data\n", "/srv/my data"},
	{"/srv/d\xc3\xa4ta\n", "/srv/d\xc3\xa4ta"},
};

START_TEST(path_good_cases)
{
	char *p = NULL;
	struct mvm_error e;
	const char *in = path_good[_i].in;
	ck_assert_int_eq(parse_path(in, strlen(in), BASE, &p, &e), 0);
	ck_assert_str_eq(p, path_good[_i].want);
	free(p);
}
END_TEST

static const struct bad_case path_bad[] = {
	{"", 0, 1, "", "no path"},
	{"\n\n  \n", 0, 1, "", "no path"},
	{"/a\n/b\n", 0, 2, "/b", "more than one path"},
	{"/a\n\n\r\nb\r\n", 0, 4, "b", "more than one path"},
	{"/a\x01" "b\n", 0, 1, "/a\\x01b", "path with a control character"},
	{"/a\tb\n", 0, 1, "/a\\x09b", "path with a control character"},
	{"/a\rb\n", 0, 1, "/a\\x0db", "path with a control character"},
	{"/srv\0/x\n", 7, 1, "/srv\\x00/x", "NUL byte"},
	{" /srv/x\n", 0, 1, " /srv/x", "path with a space at its start or end"},
	{"/a\xc2\x85" "b\n", 0, 1, "/a\\xc2\\x85b", "path with a control character"}, /* C1 */
	{"/srv/x \n", 0, 1, "/srv/x ", "path with a space at its start or end"},
};

START_TEST(path_bad_cases)
{
	const struct bad_case *c = &path_bad[_i];
	char *p = (char *)"untouched";
	struct mvm_error e;
	ck_assert_int_eq(parse_path(c->in, in_len(c->in, c->len), BASE, &p, &e), -EINVAL);
	assert_bad(&e, c);
	ck_assert_str_eq(p, "untouched");
}
END_TEST

/* A socket's path, absolute or from the VM's directory, fits a unix
 * socket's address: 107 bytes and its NUL. Found by a mutation test:
 * with 108 bytes let through (> instead of >=), no test failed, and the
 * launcher would have refused it only once it had made directories. */
START_TEST(socket_path_fits_sun_path)
{
	char buf[256], *p = NULL;
	struct mvm_error e;
	size_t base = strlen(BASE) + 1; /* "BASE/" before a relative path */
	for (int rel = 0; rel <= 1; rel++)
		for (size_t n = 106; n <= 109; n++) {
			size_t own = rel ? n - base : n; /* the bytes written */
			memset(buf, 'k', own);
			buf[0] = rel ? 'k' : '/';
			buf[own] = '\n';
			int r = parse_socket_path(buf, own + 1, BASE, &p, &e);
			if (n <= 107) {
				ck_assert_msg(r == 0, "%zu bytes (rel %d): %s", n, rel, e.reason);
				ck_assert_uint_eq(strlen(p), n);
				free(p);
				continue;
			}
			ck_assert_msg(r == -EINVAL, "%zu bytes (rel %d) accepted", n, rel);
			ck_assert_uint_eq(e.line, 1);
			char *want = xasprintf("a path of %zu bytes%s, longer than the 107 a unix "
					       "socket's address takes",
					       n, rel ? " from the VM's directory" : "");
			ck_assert_str_eq(mvm_error_reason(&e), want);
			free(want);
		}
}
END_TEST

START_TEST(path_too_long)
{
	size_t n = PATH_MAX + 10;
	char *buf = malloc(n);
	ck_assert_ptr_nonnull(buf);
	buf[0] = '/';
	memset(buf + 1, 'a', n - 1);
	char *p = NULL;
	struct mvm_error e;
	ck_assert_int_eq(parse_path(buf, n, BASE, &p, &e), -EINVAL);
	ck_assert_uint_eq(e.line, 1);
	ck_assert_str_eq(e.reason, "path too long");
	/* The value is cut to fit, and says so. */
	ck_assert_uint_eq(strlen(e.value), sizeof(e.value) - 1);
	ck_assert_int_eq(strncmp(e.value, "/aaaa", 5), 0);
	ck_assert_str_eq(e.value + strlen(e.value) - 3, "...");
	/* PATH_MAX bytes are one too many (no room for the NUL). */
	ck_assert_int_eq(parse_path(buf, PATH_MAX, BASE, &p, &e), -EINVAL);
	ck_assert_str_eq(e.reason, "path too long");
	/* PATH_MAX - 1 bytes still fit. */
	ck_assert_int_eq(parse_path(buf, PATH_MAX - 1, BASE, &p, &e), 0);
	ck_assert_uint_eq(strlen(p), PATH_MAX - 1);
	free(p);
	free(buf);
}
END_TEST

/* ---- share/microvm/virtiofs/TAG/<setting> ---- */

/* The settings as one string, to compare with a table. */
static const char *settings_str(const struct share_settings *st, char *buf, size_t size)
{
	size_t k = (size_t)snprintf(buf, size, "ro=%d acl=%d cache=%s ifh=%s tag=%s extra=",
				    st->read_only, st->posix_acl,
				    st->cache ? share_cache_str(st->cache) : "-",
				    st->inode_file_handles ? share_ifh_str(st->inode_file_handles)
							   : "-",
				    st->tag);
	for (size_t i = 0; i < st->n_extra && k < size; i++)
		k += (size_t)snprintf(buf + k, size - k, "[%s]", st->extra[i]);
	return buf;
}

#define DEFAULTS "ro=0 acl=1 cache=- ifh=- tag= extra="

static const struct {
	const char *name, *in, *want;
} setting_good[] = {
	{"read-only", "true\n", "ro=1 acl=1 cache=- ifh=- tag= extra="},
	{"read-only", "false", DEFAULTS},
	{"read-only", "\n\n  true \r\n\n", "ro=1 acl=1 cache=- ifh=- tag= extra="},
	{"posix-acl", "false\n", "ro=0 acl=0 cache=- ifh=- tag= extra="},
	{"posix-acl", "true\r\n", DEFAULTS},
	{"cache", "auto\n", "ro=0 acl=1 cache=auto ifh=- tag= extra="},
	{"cache", "always\n", "ro=0 acl=1 cache=always ifh=- tag= extra="},
	{"cache", "metadata\n", "ro=0 acl=1 cache=metadata ifh=- tag= extra="},
	{"cache", "never\n", "ro=0 acl=1 cache=never ifh=- tag= extra="},
	{"inode-file-handles", "never\n", "ro=0 acl=1 cache=- ifh=never tag= extra="},
	{"inode-file-handles", "prefer\n", "ro=0 acl=1 cache=- ifh=prefer tag= extra="},
	{"inode-file-handles", "mandatory", "ro=0 acl=1 cache=- ifh=mandatory tag= extra="},
	{"tag", "home\n", "ro=0 acl=1 cache=- ifh=- tag=home extra="},
	{"tag", "a b,c=d\n", "ro=0 acl=1 cache=- ifh=- tag=a b,c=d extra="},
	{"tag", "abcdefghijklmnopqrstuvwxyz0123456789\n", /* 36 bytes: the longest */
	 "ro=0 acl=1 cache=- ifh=- tag=abcdefghijklmnopqrstuvwxyz0123456789 extra="},
	{"extra-args", "", DEFAULTS},
	{"extra-args", "\n\n", DEFAULTS},
	{"extra-args", "--allow-mmap\n", "ro=0 acl=1 cache=- ifh=- tag= extra=[--allow-mmap]"},
	{"extra-args", "--a\r\n\n--xattrmap=:map::user. b:\n-o\nx", /* spaces are kept */
	 "ro=0 acl=1 cache=- ifh=- tag= extra=[--a][--xattrmap=:map::user. b:][-o][x]"},
	{"extra-args", " --lead\n", "ro=0 acl=1 cache=- ifh=- tag= extra=[ --lead]"},
};

START_TEST(share_settings_good)
{
	struct share_settings st;
	struct mvm_error e;
	char got[512];
	share_settings_init(&st);
	const char *in = setting_good[_i].in;
	ck_assert(share_setting_known(setting_good[_i].name));
	ck_assert_int_eq(parse_share_setting(setting_good[_i].name, in, strlen(in), &st, &e), 0);
	ck_assert_str_eq(settings_str(&st, got, sizeof(got)), setting_good[_i].want);
	share_settings_free(&st);
}
END_TEST

static const struct {
	const char *name;
	struct bad_case c;
} setting_bad[] = {
	{"read-only", {"", 0, 1, "", "no value"}},
	{"read-only", {"\n \n", 0, 1, "", "no value"}},
	{"read-only", {"yes\n", 0, 1, "yes", "unknown value (known: true, false)"}},
	{"read-only", {"True\n", 0, 1, "True", "unknown value (known: true, false)"}},
	{"read-only", {"true\nfalse\n", 0, 2, "false", "more than one value"}},
	{"read-only", {"true false\n", 0, 1, "true false", "unknown value (known: true, false)"}},
	{"posix-acl", {"1\n", 0, 1, "1", "unknown value (known: true, false)"}},
	{"posix-acl", {"tr\0ue\n", 6, 1, "tr\\x00ue", "NUL byte"}},
	{"cache", {"none\n", 0, 1, "none",
		   "unknown cache mode (known: auto, always, metadata, never)"}},
	{"cache", {"\nauto\n\nnever\n", 0, 4, "never", "more than one value"}},
	{"inode-file-handles", {"fallback\n", 0, 1, "fallback",
				"unknown value (known: never, prefer, mandatory)"}},
	{"tag", {"a/b\n", 0, 1, "a/b", "a name may not contain '/'"}},
	{"tag", {"..\n", 0, 1, "..", "'.' and '..' are not names"}},
	{"tag", {"abcdefghijklmnopqrstuvwxyz0123456789x\n", 0, 1,
		 "abcdefghijklmnopqrstuvwxyz0123456789x", "tag longer than 36 bytes"}},
	{"tag", {"a\x1b[0mb\n", 0, 1, "a\\x1b[0mb", "a name may not contain control characters"}},
	{"tag", {"a\nb\n", 0, 2, "b", "more than one value"}},
	{"extra-args", {"--a\n--b\tc\n", 0, 2, "--b\\x09c", "an argument with a control character"}},
	{"extra-args", {"--a\r\r\n", 0, 1, "--a\\x0d", "an argument with a control character"}},
	{"extra-args", {"--a\xc2\x85\n", 0, 1, "--a\\xc2\\x85", "an argument with a control character"}},
	{"extra-args", {"--a\n\0\n", 6, 2, "\\x00", "NUL byte"}},
};

START_TEST(share_settings_bad)
{
	const struct bad_case *c = &setting_bad[_i].c;
	struct share_settings st;
	struct mvm_error e;
	char before[512], after[512];
	share_settings_init(&st);
	settings_str(&st, before, sizeof(before));
	ck_assert_int_eq(parse_share_setting(setting_bad[_i].name, c->in, in_len(c->in, c->len),
					     &st, &e),
			 -EINVAL);
	assert_bad(&e, c);
	ck_assert_str_eq(settings_str(&st, after, sizeof(after)), before); /* untouched */
	share_settings_free(&st);
}
END_TEST

/* Not a setting: -ENOENT, nothing said (the caller names the file). */
START_TEST(share_settings_unknown_name)
{
	struct share_settings a, b;
	share_settings_init(&a);
	share_settings_init(&b);
	static const char *const names[] = {"readonly", "source", "socket", "Cache", "", "tag "};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		ck_assert(!share_setting_known(names[i]));
		ck_assert_int_eq(parse_share_setting(names[i], "true\n", 5, &a, NULL), -ENOENT);
	}
	/* equal: every field counts */
	ck_assert(share_settings_equal(&a, &b));
	ck_assert_int_eq(parse_share_setting("extra-args", "x\ny\n", 4, &a, NULL), 0);
	ck_assert(!share_settings_equal(&a, &b));
	ck_assert_int_eq(parse_share_setting("extra-args", "x\ny\n", 4, &b, NULL), 0);
	ck_assert(share_settings_equal(&a, &b));
	ck_assert_int_eq(parse_share_setting("extra-args", "x\nz\n", 4, &b, NULL), 0);
	ck_assert(!share_settings_equal(&a, &b));
	ck_assert_int_eq(parse_share_setting("extra-args", "x\ny\n", 4, &b, NULL), 0);
	ck_assert_int_eq(parse_share_setting("tag", "t\n", 2, &b, NULL), 0);
	ck_assert(!share_settings_equal(&a, &b));
	share_settings_free(&a);
	share_settings_free(&b);
	ck_assert_str_eq(share_cache_str(SHARE_CACHE_NEVER), "never");
	ck_assert_str_eq(share_ifh_str(SHARE_IFH_PREFER), "prefer");
	ck_assert_str_eq(share_cache_str(SHARE_CACHE_UNSET), "?");
}
END_TEST

/* ---- microvm.nix's own virtiofsd script (a runner it built alone) ---- */

/* The script of nixos-modules/microvm/virtiofsd (writeShellScript) to the
 * --socket-path line: the rest, each case's, from line 9. The socket goes
 * through lib.escapeShellArg ('...', a quote as '\''). */
#define MNIX_HEAD                                                                     \
	"#!/nix/store/b-bash/bin/bash\n"                                                \
	"if [ $(id -u) = 0 ]; then\n"                                                   \
	"  OPT_RLIMIT=\"--rlimit-nofile 1048576\"\n"                                    \
	"else\n"                                                                        \
	"  OPT_RLIMIT=\"\"\n"                                                           \
	"fi\n"                                                                          \
	"exec /nix/store/v-virtiofsd/bin/virtiofsd \\\n"                                \
	"  --socket-path='/var/lib/microvms/vm1/it'\\''s.sock' \\\n"
/* Lines 9 to 12 as microvm.nix writes them with its defaults (group kvm,
 * threadPoolSize "`nproc`"). */
#define MNIX_DEFAULTS                                                                 \
	"  --socket-group=kvm \\\n"                                                     \
	"  --shared-dir='/srv/net data' \\\n"                                           \
	"  $OPT_RLIMIT \\\n"                                                            \
	"  --thread-pool-size `nproc` \\\n"

static const struct {
	const char *in, *want;
} mnix_good[] = {
	/* 71beea0, a readOnly share, every other option its default */
	{MNIX_HEAD MNIX_DEFAULTS "  --posix-acl --xattr \\\n  --cache=auto \\\n"
				 "  --inode-file-handles=prefer \\\n   \\\n  --readonly \\\n   \\\n  \n",
	 "ro=1 acl=1 cache=auto ifh=prefer tag= extra="},
	/* 82fa24f (2025-12): no --cache= yet, --posix-acl always */
	{MNIX_HEAD MNIX_DEFAULTS "  --posix-acl --xattr \\\n  --inode-file-handles=prefer \\\n"
				 "   \\\n  --readonly \\\n  \n",
	 "ro=1 acl=1 cache=- ifh=prefer tag= extra="},
	/* 1547160 to 5bfa7dc (2024-10/11): the group of the shell, no
	 * readOnly yet (so writable), inodeFileHandles null by default */
	{MNIX_HEAD "  --socket-group=$(id -gn) \\\n  --shared-dir='/srv/x' \\\n  $OPT_RLIMIT \\\n"
		   "  --thread-pool-size `nproc` \\\n  --posix-acl --xattr \\\n   \\\n  \n",
	 "ro=0 acl=1 cache=- ifh=- tag= extra="},
	/* a number of threads, no group, crosvm's tag, every share option */
	{MNIX_HEAD "   \\\n  --shared-dir=/srv/x \\\n  $OPT_RLIMIT \\\n  --thread-pool-size 16 \\\n"
		   "   \\\n  --cache=never \\\n  --inode-file-handles=mandatory \\\n  --tag=fs0 \\\n"
		   "   \\\n  --allow-mmap \\\n  --xattrmap=:map::user.virtiofs.: -o x\n",
	 "ro=0 acl=0 cache=never ifh=mandatory tag=fs0 extra=[--allow-mmap]"
	 "[--xattrmap=:map::user.virtiofs.:][-o][x]"},
	/* a $ in single quotes or after a backslash is itself */
	{MNIX_HEAD "  --thread-pool-size 2 --xattrmap='$a:$b' \\$c\n",
	 "ro=0 acl=0 cache=- ifh=- tag= extra=[--xattrmap=$a:$b][$c]"},
	/* --xattr of the share's extraArgs, with no --posix-acl before it:
	 * passed on, not taken for the one --posix-acl brings */
	{MNIX_HEAD "  --thread-pool-size 2 \\\n   \\\n  --xattr\n",
	 "ro=0 acl=0 cache=- ifh=- tag= extra=[--xattr]"},
};

START_TEST(mnix_script_good)
{
	struct share_settings st;
	struct mvm_error e;
	char got[512];
	share_settings_init(&st);
	const char *in = mnix_good[_i].in;
	int r = parse_mnix_virtiofsd_script(in, strlen(in), &st, &e);
	ck_assert_msg(r == 0, "%s", tu_error_str(&e));
	ck_assert_str_eq(settings_str(&st, got, sizeof(got)), mnix_good[_i].want);
	share_settings_free(&st);
}
END_TEST

static const struct bad_case mnix_bad[] = {
	/* a command substitution other than microvm.nix's `nproc` default,
	 * or that one anywhere but as the thread pool's size */
	{MNIX_HEAD MNIX_DEFAULTS "  --allow-mmap `nproc`\n", 0, 13, "`nproc`",
	 "shell syntax microvm.nix's scripts do not write"},
	{MNIX_HEAD "  --thread-pool-size `id -u` \\\n  --readonly\n", 0, 9, "`id -u`",
	 "shell syntax microvm.nix's scripts do not write"},
	{MNIX_HEAD "  --socket-group=$(id -gn)x \\\n  --readonly\n", 0, 9, "--socket-group=$(id -gn)x",
	 "shell syntax microvm.nix's scripts do not write"},
	{MNIX_HEAD "  --socket-group=kvm --thread-pool-size --socket-group=$(id -gn) \\\n  --readonly\n",
	 0, 9, "--socket-group=$(id -gn)", "shell syntax microvm.nix's scripts do not write"},
	/* --thread-pool-size's value is the launcher's own, but no other word
	 * hides in its place (bash gave virtiofsd that, which refused it) */
	{MNIX_HEAD "  --thread-pool-size --readonly \\\n  --cache=auto\n", 0, 9, "--readonly",
	 "not a thread pool size (a number or `nproc`)"},
	{MNIX_HEAD "  --thread-pool-size '' --readonly\n", 0, 9, "\\'\\'",
	 "not a thread pool size (a number or `nproc`)"},
	{MNIX_HEAD "  --readonly \\\n  --thread-pool-size \\\n  \n", 0, 10, "--thread-pool-size",
	 "no value after it"},
	/* a $ outside quotes is an expansion, however the word goes on:
	 * bash gave virtiofsd "--readonly" for $''--readonly */
	{MNIX_HEAD "  $''--readonly\n", 0, 9, "$\\'\\'--readonly",
	 "shell syntax microvm.nix's scripts do not write"},
	{MNIX_HEAD "  --foo='a'$HOME \\\n  --readonly\n", 0, 9, "--foo=\\'a\\'$HOME",
	 "shell syntax microvm.nix's scripts do not write"},
	{MNIX_HEAD "  $OPT_RLIMIT'' \\\n  --readonly\n", 0, 9, "$OPT_RLIMIT\\'\\'",
	 "shell syntax microvm.nix's scripts do not write"},
	/* the value is the word to the end of its line, without the
	 * backslash-newline that continues the command */
	{MNIX_HEAD "  --a \"$EXTRA\"  \\\n  --readonly\n", 0, 9, "\"$EXTRA\"",
	 "shell syntax microvm.nix's scripts do not write"},
	{MNIX_HEAD "  --a 'b c \\\n  --readonly'\n", 0, 9, "\\'b c",
	 "a quote not closed on its line"},
	{MNIX_HEAD "  --a=\\", 0, 9, "--a=\\\\", "shell syntax microvm.nix's scripts do not write"},
	/* a double-quoted word, even with nothing to expand: bash gave
	 * virtiofsd --readonly, never "--readonly" as an extra argument
	 * that leaves the share writable */
	{MNIX_HEAD "  \"--readonly\"\n", 0, 9, "\"--readonly\"",
	 "shell syntax microvm.nix's scripts do not write"},
	/* a tag is at most 36 bytes, as a setting file's */
	{MNIX_HEAD "  --tag=abcdefghijklmnopqrstuvwxyz0123456789a\n", 0, 9,
	 "--tag=abcdefghijklmnopqrstuvwxyz0123456789a", "tag longer than 36 bytes"},
};

START_TEST(mnix_script_bad)
{
	const struct bad_case *c = &mnix_bad[_i];
	struct share_settings st;
	struct mvm_error e;
	share_settings_init(&st);
	ck_assert_int_eq(parse_mnix_virtiofsd_script(c->in, in_len(c->in, c->len), &st, &e),
			 -EINVAL);
	assert_bad(&e, c);
	ck_assert(!st.read_only && st.n_extra == 0);
	share_settings_free(&st);
}
END_TEST

/* bin/virtiofsd-run: the configuration its exec line names. */
static const struct {
	const char *in, *want;
} mnix_run_good[] = {
	{"#!/nix/store/b-bash/bin/bash\n"
	 "exec /nix/store/s-supervisor/bin/supervisord --configuration /nix/store/c.conf \"$@\"\n",
	 "/nix/store/c.conf"},
	{"exec /nix/store/s/bin/supervisord -c '/nix/store/c d.conf'\n", "/nix/store/c d.conf"},
	/* a line that only starts with "exec" is no exec line */
	{"executor=supervisord\nexec /s/supervisord -c /nix/store/c.conf\n", "/nix/store/c.conf"},
};

START_TEST(mnix_run_good_cases)
{
	struct mvm_error e;
	char *conf = NULL;
	const char *in = mnix_run_good[_i].in;
	int r = parse_mnix_virtiofsd_run(in, strlen(in), &conf, &e);
	ck_assert_msg(r == 0, "%s", tu_error_str(&e));
	ck_assert_str_eq(conf, mnix_run_good[_i].want);
	free(conf);
}
END_TEST

static const struct bad_case mnix_run_bad[] = {
	{"exec /s/supervisord --configuration /nix/store/$X.conf\n", 0, 1, "/nix/store/$X.conf",
	 "shell syntax microvm.nix's scripts do not write"},
	{"exec /s/supervisord --configuration '/nix/store/'$X\n", 0, 1, "\\'/nix/store/\\'$X",
	 "shell syntax microvm.nix's scripts do not write"},
	{"exec /s/supervisord --configuration `nproc`\n", 0, 1, "`nproc`",
	 "shell syntax microvm.nix's scripts do not write"},
	/* relative: to the unit's working directory, which is not the store */
	{"#!/bin/sh\nexec /s/supervisord -c c.conf\n", 0, 2, "c.conf",
	 "the configuration is not an absolute path"},
};

START_TEST(mnix_run_bad_cases)
{
	const struct bad_case *c = &mnix_run_bad[_i];
	struct mvm_error e;
	char *conf = NULL;
	ck_assert_int_eq(parse_mnix_virtiofsd_run(c->in, in_len(c->in, c->len), &conf, &e), -EINVAL);
	assert_bad(&e, c);
	ck_assert_ptr_null(conf);
}
END_TEST

/* The supervisord configuration: the command= of the share's own
 * [program:virtiofsd-TAG] section, never another share's. */
static const struct {
	const char *in, *want;
} mnix_conf_good[] = {
	{"[program:virtiofsd-ro]\ncommand=/nix/store/r-virtiofsd-ro\nstderr_syslog=true\n\n"
	 "[program:virtiofsd-rw]\ncommand=/nix/store/w-virtiofsd-rw\n",
	 "/nix/store/r-virtiofsd-ro"},
	{"[program:virtiofsd-rw]\ncommand=/nix/store/w\n[program:virtiofsd-ro]\n"
	 "  command = /nix/store/r  \r\n",
	 "/nix/store/r"},
	/* a key that only starts with "command" is another key */
	{"[program:virtiofsd-ro]\ncommand_note=x\ncommand=/nix/store/r\n", "/nix/store/r"},
};

START_TEST(mnix_conf_good_cases)
{
	struct mvm_error e;
	char *cmd = NULL;
	const char *in = mnix_conf_good[_i].in;
	int r = parse_mnix_supervisord(in, strlen(in), "ro", &cmd, &e);
	ck_assert_msg(r == 0, "%s", tu_error_str(&e));
	ck_assert_str_eq(cmd, mnix_conf_good[_i].want);
	free(cmd);
}
END_TEST

static const struct bad_case mnix_conf_bad[] = {
	/* its section has no command=: not the next section's (share rw's
	 * script, whose settings, writable, are not ro's) */
	{"[program:virtiofsd-ro]\nstderr_syslog=true\n[program:virtiofsd-rw]\n"
	 "command=/nix/store/w-virtiofsd-rw\n",
	 0, 0, "[program:virtiofsd-ro]", "no command= in the share's program section"},
	{"[program:virtiofsd-rw]\ncommand=/nix/store/w\n", 0, 0, "[program:virtiofsd-ro]",
	 "no command= in the share's program section"},
	/* one absolute path, no arguments (no shell reads them) */
	{"[program:virtiofsd-ro]\ncommand=/nix/store/r --readonly\n", 0, 2,
	 "command=/nix/store/r --readonly", "not a command of one absolute path"},
	{"[program:virtiofsd-ro]\ncommand=r-virtiofsd-ro\n", 0, 2, "command=r-virtiofsd-ro",
	 "not a command of one absolute path"},
};

START_TEST(mnix_conf_bad_cases)
{
	const struct bad_case *c = &mnix_conf_bad[_i];
	struct mvm_error e;
	char *cmd = NULL;
	ck_assert_int_eq(parse_mnix_supervisord(c->in, in_len(c->in, c->len), "ro", &cmd, &e),
			 -EINVAL);
	assert_bad(&e, c);
	ck_assert_ptr_null(cmd);
}
END_TEST

/* ---- what holds for every format ---- */

typedef int (*any_parser)(const char *buf, size_t len, struct mvm_error *e);

static int p_tap(const char *b, size_t n, struct mvm_error *e)
{
	struct ifname_list l;
	int r = parse_tap_interfaces(b, n, &l, e);
	if (r == 0)
		ifname_list_free(&l);
	return r;
}
static int p_flags(const char *b, size_t n, struct mvm_error *e)
{
	unsigned f;
	return parse_tap_flags(b, n, &f, e);
}
static int p_macvtap(const char *b, size_t n, struct mvm_error *e)
{
	struct macvtap_list l;
	int r = parse_macvtap_interfaces(b, n, &l, e);
	if (r == 0)
		macvtap_list_free(&l);
	return r;
}
static int p_pci(const char *b, size_t n, struct mvm_error *e)
{
	struct pci_list l;
	int r = parse_pci_devices(b, n, &l, e);
	if (r == 0)
		pci_list_free(&l);
	return r;
}
static int p_path(const char *b, size_t n, struct mvm_error *e)
{
	char *p;
	int r = parse_path(b, n, BASE, &p, e);
	if (r == 0)
		free(p);
	return r;
}

static int p_setting(const char *name, const char *b, size_t n, struct mvm_error *e)
{
	struct share_settings st;
	share_settings_init(&st);
	int r = parse_share_setting(name, b, n, &st, e);
	share_settings_free(&st);
	return r;
}
static int p_read_only(const char *b, size_t n, struct mvm_error *e)
{
	return p_setting("read-only", b, n, e);
}
static int p_cache(const char *b, size_t n, struct mvm_error *e)
{
	return p_setting("cache", b, n, e);
}
static int p_posix_acl(const char *b, size_t n, struct mvm_error *e)
{
	return p_setting("posix-acl", b, n, e);
}
static int p_ifh(const char *b, size_t n, struct mvm_error *e)
{
	return p_setting("inode-file-handles", b, n, e);
}
static int p_tag(const char *b, size_t n, struct mvm_error *e)
{
	return p_setting("tag", b, n, e);
}
static int p_extra(const char *b, size_t n, struct mvm_error *e)
{
	return p_setting("extra-args", b, n, e);
}

static const struct {
	const char *name;
	any_parser parse;
	const char *one; /* one valid line */
} formats[] = {
	{"tap-interfaces", p_tap, "tap0\n"},
	{"tap-flags", p_flags, "vnet_hdr\n"},
	{"macvtap-interfaces", p_macvtap, "mv0 02:00:00:00:00:01 eth0 bridge\n"},
	{"pci-devices", p_pci, "0000:01:00.0\n"},
	{"virtiofs path", p_path, "/srv/share\n"},
	{"read-only", p_read_only, "true\n"},
	{"cache", p_cache, "never\n"},
	{"posix-acl", p_posix_acl, "false\n"},
	{"inode-file-handles", p_ifh, "prefer\n"},
	{"tag", p_tag, "fs0\n"},
	{"extra-args", p_extra, "--allow-mmap\n"},
};

/* 65 KiB is refused whatever it holds; exactly 64 KiB is read. */
START_TEST(over_64k_refused)
{
	size_t n = 65 * 1024;
	char *buf = malloc(n);
	ck_assert_ptr_nonnull(buf);
	memset(buf, '\n', n);
	size_t l1 = strlen(formats[_i].one);
	memcpy(buf + n - l1, formats[_i].one, l1);
	struct mvm_error e;
	ck_assert_int_eq(formats[_i].parse(buf, n, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "parse", "", 0, "66560 bytes", "file larger than 64 KiB");
	ck_assert_int_eq(formats[_i].parse(buf, n - 1023, &e), -EINVAL);
	ck_assert_str_eq(e.value, "65537 bytes");
	/* 64 KiB: blank lines and the valid one at the end. */
	ck_assert_int_eq(formats[_i].parse(buf + 1024, LAYOUT_FILE_MAX, &e), 0);
	free(buf);
}
END_TEST

/* The NUL byte check comes before the format: every parser names it. */
START_TEST(nul_byte_refused)
{
	char buf[128];
	size_t l1 = strlen(formats[_i].one);
	memcpy(buf, "\n", 1);
	memcpy(buf + 1, formats[_i].one, l1);
	buf[1 + l1] = '\0'; /* a NUL on line 3 */
	memcpy(buf + 2 + l1, "x\n", 2);
	struct mvm_error e;
	ck_assert_int_eq(formats[_i].parse(buf, l1 + 4, &e), -EINVAL);
	tu_assert_error(&e, EINVAL, "parse", "", 3, "\\x00x", "NUL byte");
}
END_TEST

/* A NULL error pointer is allowed. */
START_TEST(null_error_ok)
{
	ck_assert_int_eq(formats[_i].parse("\x01/:\n", 4, NULL), -EINVAL);
	ck_assert_int_eq(formats[_i].parse(formats[_i].one, strlen(formats[_i].one), NULL), 0);
}
END_TEST

Suite *parse_suite(void)
{
	Suite *s = suite_create("parse");
	TCase *tc;

	tc = tu_tcase_create("tap-interfaces");
	tcase_add_loop_test(tc, tap_interfaces_good, 0, ARRAY_SIZE(tap_good));
	tcase_add_loop_test(tc, tap_interfaces_bad, 0, ARRAY_SIZE(tap_bad));
	suite_add_tcase(s, tc);

	tc = tu_tcase_create("tap-flags");
	tcase_add_loop_test(tc, tap_flags_good, 0, ARRAY_SIZE(flags_good));
	tcase_add_loop_test(tc, tap_flags_bad, 0, ARRAY_SIZE(flags_bad));
	tcase_add_test(tc, tap_flags_to_string);
	suite_add_tcase(s, tc);

	tc = tu_tcase_create("macvtap-interfaces");
	tcase_add_loop_test(tc, macvtap_interfaces_good, 0, ARRAY_SIZE(macvtap_good));
	tcase_add_loop_test(tc, macvtap_interfaces_bad, 0, ARRAY_SIZE(macvtap_bad));
	tcase_add_test(tc, macvtap_mode_names);
	tcase_add_test(tc, mac_addresses);
	suite_add_tcase(s, tc);

	tc = tu_tcase_create("pci-devices");
	tcase_add_loop_test(tc, pci_devices_good, 0, ARRAY_SIZE(pci_good));
	tcase_add_loop_test(tc, pci_devices_bad, 0, ARRAY_SIZE(pci_bad));
	tcase_add_test(tc, pci_address_fields);
	suite_add_tcase(s, tc);

	tc = tu_tcase_create("path");
	tcase_add_loop_test(tc, path_good_cases, 0, ARRAY_SIZE(path_good));
	tcase_add_loop_test(tc, path_bad_cases, 0, ARRAY_SIZE(path_bad));
	tcase_add_test(tc, path_too_long);
	tcase_add_test(tc, socket_path_fits_sun_path);
	suite_add_tcase(s, tc);

	tc = tu_tcase_create("share-settings");
	tcase_add_loop_test(tc, share_settings_good, 0, ARRAY_SIZE(setting_good));
	tcase_add_loop_test(tc, share_settings_bad, 0, ARRAY_SIZE(setting_bad));
	tcase_add_test(tc, share_settings_unknown_name);
	suite_add_tcase(s, tc);

	tc = tu_tcase_create("mnix-script");
	tcase_add_loop_test(tc, mnix_script_good, 0, ARRAY_SIZE(mnix_good));
	tcase_add_loop_test(tc, mnix_script_bad, 0, ARRAY_SIZE(mnix_bad));
	tcase_add_loop_test(tc, mnix_run_good_cases, 0, ARRAY_SIZE(mnix_run_good));
	tcase_add_loop_test(tc, mnix_run_bad_cases, 0, ARRAY_SIZE(mnix_run_bad));
	tcase_add_loop_test(tc, mnix_conf_good_cases, 0, ARRAY_SIZE(mnix_conf_good));
	tcase_add_loop_test(tc, mnix_conf_bad_cases, 0, ARRAY_SIZE(mnix_conf_bad));
	suite_add_tcase(s, tc);

	tc = tu_tcase_create("every-format");
	tcase_add_loop_test(tc, over_64k_refused, 0, ARRAY_SIZE(formats));
	tcase_add_loop_test(tc, nul_byte_refused, 0, ARRAY_SIZE(formats));
	tcase_add_loop_test(tc, null_error_ok, 0, ARRAY_SIZE(formats));
	suite_add_tcase(s, tc);
	return s;
}
