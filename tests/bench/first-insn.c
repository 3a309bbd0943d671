/* SPDX-License-Identifier: MIT */
/* first-insn: a runner (bin/microvm-run) for the runner-exec bench. Its
 * first action is to read CLOCK_MONOTONIC; it prints that time in ns as
 * one line on stdout and exits 0.
 *
 * On x86_64 it is built static with no C library (-nostdlib): _start is
 * the first instruction of the process, and the clock is read with the
 * raw syscall (no vDSO lookup), so nothing runs before it. Elsewhere it
 * falls back to a plain main(), which measures a little libc start-up
 * too (the same for every variant of the bench). */
#if defined(__x86_64__) && defined(FIRST_INSN_NOLIBC)

struct ts {
	long sec, nsec;
};

static long sys3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(n), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return r;
}

void probe_main(void);
void probe_main(void)
{
	struct ts t;
	sys3(228 /* clock_gettime */, 1 /* CLOCK_MONOTONIC */, (long)&t, 0);
	unsigned long long ns = (unsigned long long)t.sec * 1000000000ULL + (unsigned long long)t.nsec;
	char buf[32];
	int i = (int)sizeof(buf);
	buf[--i] = '\n';
	do {
		buf[--i] = (char)('0' + ns % 10);
		ns /= 10;
	} while (ns && i > 0);
	sys3(1 /* write */, 1, (long)(buf + i), (long)sizeof(buf) - i);
	sys3(231 /* exit_group */, 0, 0, 0);
}

__asm__(".text\n"
	".globl _start\n"
	"_start:\n"
	"	xor %rbp, %rbp\n"
	"	and $-16, %rsp\n"
	"	call probe_main\n"
	"	hlt\n");

#else

#include <stdio.h>
#include <time.h>

int main(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	printf("%lld\n", (long long)t.tv_sec * 1000000000LL + t.tv_nsec);
	return 0;
}

#endif
