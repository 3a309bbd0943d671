/* SPDX-License-Identifier: MIT */
/* common/notify.h: the sd_notify sender, against a test socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "testutil.h"

static char *root;

static void setup(void)
{
	root = tu_tmpdir();
	unsetenv("NOTIFY_SOCKET");
}

static void teardown(void)
{
	unsetenv("NOTIFY_SOCKET");
	tu_rm_rf(root);
	free(root);
}

/* A datagram socket bound to name ("@..." abstract, else a path). */
static int listen_on(const char *name)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(name);
	ck_assert_uint_lt(n, sizeof(sa.sun_path));
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sa, len) == 0, "bind %s: %s", name,
		      strerror(errno));
	struct timeval tv = {.tv_sec = 5};
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

static void expect(int fd, const char *want)
{
	char buf[2048];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	ck_assert_msg(n >= 0, "recv: %s", strerror(errno));
	buf[n] = '\0';
	ck_assert_str_eq(buf, want);
}

START_TEST(path_socket)
{
	char *path = tu_path(root, "notify.sock");
	int fd = listen_on(path);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
	ck_assert_int_eq(notify("READY=1"), 0);
	expect(fd, "READY=1");
	ck_assert_int_eq(notifyf("STATUS=%u of %u shares ready", 2u, 3u), 0);
	expect(fd, "STATUS=2 of 3 shares ready");
	ck_assert_int_eq(notify("STOPPING=1"), 0);
	expect(fd, "STOPPING=1");
	close(fd);
	free(path);
}
END_TEST

START_TEST(abstract_socket)
{
	char name[64];
	snprintf(name, sizeof(name), "@mvm-test-notify-%d", (int)getpid());
	int fd = listen_on(name);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
	ck_assert_int_eq(notify("READY=1"), 0);
	expect(fd, "READY=1");
	ck_assert_int_eq(notify("RELOADING=1\nSTATUS=reloading"), 0);
	expect(fd, "RELOADING=1\nSTATUS=reloading");
	close(fd);
	/* Nobody listening any more. */
	ck_assert_int_eq(notify("READY=1"), -ECONNREFUSED);
}
END_TEST

START_TEST(no_socket_is_noop)
{
	ck_assert_int_eq(notify("READY=1"), 0);
	ck_assert_int_eq(notifyf("STATUS=%s", "x"), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "", 1), 0);
	ck_assert_int_eq(notify("READY=1"), 0);
}
END_TEST

START_TEST(bad_socket)
{
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "relative.sock", 1), 0);
	ck_assert_int_eq(notify("READY=1"), -EAFNOSUPPORT);
	char *path = tu_path(root, "missing.sock");
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
	ck_assert_int_eq(notify("READY=1"), -ENOENT);
	char longp[200];
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", longp, 1), 0);
	ck_assert_int_eq(notify("READY=1"), -E2BIG);
	/* A message too long for notifyf's buffer is refused, not cut. */
	char big[1100];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
	ck_assert_int_eq(notifyf("STATUS=%s", big), -E2BIG);
	free(path);
}
END_TEST

/* notifyf() sends a message of 1023 bytes whole; one of 1024, which its
 * buffer cannot hold with the NUL, it refuses rather than send it cut. */
START_TEST(notifyf_longest_message)
{
	char *path = tu_path(root, "notify.sock");
	int fd = listen_on(path);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
	char text[1025];
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	memcpy(text, "STATUS=", 7);
	text[1024] = '\0';
	ck_assert_int_eq(notifyf("%s", text), -E2BIG);
	text[1023] = '\0';
	ck_assert_int_eq(notifyf("%s", text), 0);
	expect(fd, text); /* the first datagram: the refused one was never sent */
	close(fd);
	free(path);
}
END_TEST

Suite *notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tu_tcase_create("sd_notify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, path_socket);
	tcase_add_test(tc, abstract_socket);
	tcase_add_test(tc, no_socket_is_noop);
	tcase_add_test(tc, bad_socket);
	tcase_add_test(tc, notifyf_longest_message);
	suite_add_tcase(s, tc);
	return s;
}
