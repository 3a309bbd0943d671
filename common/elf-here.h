/* SPDX-License-Identifier: MIT */
/* The ELF headers of this machine's own class and byte order: what
 * virtiofs-launch reads of a daemon's binary (and its test makes). */
#pragma once

#include <elf.h>
#include <stdint.h>

#if UINTPTR_MAX > 0xffffffffu
typedef Elf64_Ehdr Ehdr;
typedef Elf64_Shdr Shdr;
#define ELFCLASS_HERE ELFCLASS64
#else
typedef Elf32_Ehdr Ehdr;
typedef Elf32_Shdr Shdr;
#define ELFCLASS_HERE ELFCLASS32
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ELFDATA_HERE ELFDATA2LSB
#else
#define ELFDATA_HERE ELFDATA2MSB
#endif
