/* SPDX-License-Identifier: MIT */
/* failrealloc.so: an LD_PRELOAD shim that makes realloc() fail, as the C
 * library's does when memory runs out (NULL, errno ENOMEM, the block
 * left as it was), for the calls made from one function of the program,
 * while every other call goes through: a test can check that the
 * program's answer to no memory at that very place is to refuse, not to
 * go on as if the call had been made. No test hooks in the product code:
 * the function is found by its name in the program's own symbol table
 * (static functions too), and a call is its when realloc() returns into
 * it.
 *
 *   FAILREALLOC_IN=NAME   the function: a symbol of /proc/self/exe's
 *              .symtab (a program not stripped, and NAME not inlined
 *              away: otherwise the shim says so on stderr, at the first
 *              realloc() of the program, and fails nothing: a test that
 *              waits for the failure sees that line instead); unset:
 *              nothing fails
 *   FAILREALLOC_NTH=N     only its Nth call fails (default: every one)
 *   FAILREALLOC_LOG=PATH  append "N NAME" for each of its calls, with
 *              " (failed here)" for the one failed
 *
 * Built without sanitizers; the next realloc() (the C library's, or a
 * sanitizer's) does the work. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

/* glibc's own, for what dlsym() may realloc() while init() runs */
extern void *__libc_realloc(void *p, size_t size);

static void *(*next_realloc)(void *, size_t);
static uintptr_t fn_start, fn_end; /* [start, end): where NAME's code runs */
static long calls;
static int ready, in_init;

static void say(const char *what, const char *name)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "failrealloc: %s '%s'\n", what, name);
	if (n > 0 && write(2, msg, (size_t)n) < 0)
		n = 0;
}

/* The load bias of the program whose file is m: where the kernel put its
 * program headers (AT_PHDR) less where the file says they are. (Not
 * dl_iterate_phdr(): a sanitizer intercepts it, and the first realloc()
 * may come before the sanitizer is ready.) */
static uintptr_t load_bias(const unsigned char *m)
{
	const ElfW(Ehdr) *eh = (const void *)m;
	const ElfW(Phdr) *ph = (const void *)(m + eh->e_phoff);
	for (size_t i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset <= eh->e_phoff &&
		    eh->e_phoff < ph[i].p_offset + ph[i].p_filesz)
			return (uintptr_t)getauxval(AT_PHDR) -
			       (ph[i].p_vaddr + (eh->e_phoff - ph[i].p_offset));
	return 0;
}

/* fn_start and fn_end of function name in /proc/self/exe; 0, or -1. */
static int find_function(const char *name)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(ElfW(Ehdr)))
		return -1;
	const unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -1;
	const ElfW(Ehdr) *eh = (const void *)m;
	const ElfW(Shdr) *sh = (const void *)(m + eh->e_shoff);
	int r = -1;
	for (size_t i = 0; r < 0 && i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_SYMTAB)
			continue;
		const ElfW(Sym) *sym = (const void *)(m + sh[i].sh_offset);
		const char *str = (const char *)(m + sh[sh[i].sh_link].sh_offset);
		for (size_t k = 0; k < sh[i].sh_size / sizeof(*sym); k++)
			if (ELF64_ST_TYPE(sym[k].st_info) == STT_FUNC && sym[k].st_size &&
			    strcmp(str + sym[k].st_name, name) == 0) {
				fn_start = load_bias(m) + sym[k].st_value;
				fn_end = fn_start + sym[k].st_size;
				r = 0;
				break;
			}
	}
	munmap((void *)m, (size_t)st.st_size);
	return r;
}

/* The next realloc() found, and NAME looked up once it is in the
 * environment (a sanitizer's runtime may realloc() before there is one). */
static void init(void)
{
	const char *name = getenv("FAILREALLOC_IN");
	in_init = 1;
	if (!next_realloc)
		next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	if (!next_realloc)
		next_realloc = __libc_realloc;
	if (name && *name) {
		if (find_function(name) < 0)
			say("no function in /proc/self/exe's symbol table (stripped, or "
			    "inlined?):", name);
		ready = 1;
	}
	in_init = 0;
}

void *realloc(void *p, size_t size)
{
	if (in_init)
		return __libc_realloc(p, size);
	if (!ready)
		init();
	uintptr_t from = (uintptr_t)__builtin_return_address(0);
	if (from < fn_start || from >= fn_end)
		return next_realloc(p, size);
	const char *nth = getenv("FAILREALLOC_NTH"), *log = getenv("FAILREALLOC_LOG");
	long n = ++calls;
	int fail = !nth || !*nth || strtol(nth, NULL, 10) == n;
	if (log && *log) {
		char line[256];
		int k = snprintf(line, sizeof(line), "%ld %s%s\n", n, getenv("FAILREALLOC_IN"),
				 fail ? " (failed here)" : "");
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			if (k > 0 && write(fd, line, (size_t)k) < 0)
				k = 0;
			close(fd);
		}
	}
	if (!fail)
		return next_realloc(p, size);
	errno = ENOMEM;
	return NULL;
}
