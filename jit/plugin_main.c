/*
 * plugin_main.c - bpftime-conformance-plugin: runs one program for the
 * upstream bpf_conformance runner (shared/conformance/README.md §4).
 *
 *   bpftime-conformance-plugin [MEM] [OPTIONS...] < program-hex
 *
 * stdin: the program as hex byte pairs (whitespace between pairs optional).
 * MEM:   the input memory as one argument of hex byte pairs; r1 points to a
 *        writable copy, r2 holds its length (no MEM: r1 = 0, r2 = 0).
 * stdout: r0 in hex. Errors: one line on stderr, exit status 1.
 * The runner passes --elf when it feeds ELF objects; that mode is refused
 * (use the runner without --elf). The program runs in the conformance
 * environment (helper 5 = uBPF's unwind helper, jit/conformance.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utils.h"
#include "jit/conformance.h"
#include "jit/jit.h"

/* Parse hex byte pairs from @s, whitespace allowed between pairs.
 * Returns the number of bytes or -EINVAL (odd digit count, non-hex). */
static long hex_parse(const char *s, uint8_t **out)
{
	size_t cap = strlen(s) / 2 + 1, n = 0;
	uint8_t *b = malloc(cap);
	int hi = -1;

	if (!b)
		return -ENOMEM;
	for (; *s; s++) {
		int v;

		if (isspace((unsigned char)*s)) {
			if (hi >= 0)
				goto bad;
			continue;
		}
		if (!isxdigit((unsigned char)*s))
			goto bad;
		v = isdigit((unsigned char)*s) ? *s - '0' : (tolower((unsigned char)*s) - 'a' + 10);
		if (hi < 0) {
			hi = v;
		} else {
			b[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0)
		goto bad;
	*out = b;
	return (long)n;
bad:
	free(b);
	return -EINVAL;
}

static char *slurp(FILE *f)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	while (buf) {
		size_t n = fread(buf + len, 1, cap - len - 1, f);

		len += n;
		if (n == 0)
			break;
		if (cap - len < 2) {
			char *b = realloc(buf, cap * 2);

			if (!b) {
				free(buf);
				return NULL;
			}
			buf = b;
			cap *= 2;
		}
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

int main(int argc, char **argv)
{
	_cleanup_free_ uint8_t *mem = NULL;
	_cleanup_free_ uint8_t *code = NULL;
	_cleanup_free_ char *text = NULL;
	struct jit_prog *prog;
	const char *mem_arg = NULL;
	long mem_sz = 0, code_sz;
	char log[256];
	uint64_t r0;
	int err;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--elf")) {
			fprintf(stderr, "ELF input is not supported; run bpf_conformance_runner without --elf\n");
			return 1;
		}
		if (!strncmp(argv[i], "--", 2)) {
			fprintf(stderr, "unknown option %s\n", argv[i]);
			return 1;
		}
		if (mem_arg) {
			fprintf(stderr, "unexpected argument %s (memory was already given)\n", argv[i]);
			return 1;
		}
		mem_arg = argv[i];
	}
	if (mem_arg) {
		mem_sz = hex_parse(mem_arg, &mem);
		if (mem_sz < 0) {
			fprintf(stderr, "memory argument is not hex byte pairs\n");
			return 1;
		}
	}
	text = slurp(stdin);
	if (!text) {
		fprintf(stderr, "out of memory reading the program\n");
		return 1;
	}
	code_sz = hex_parse(text, &code);
	if (code_sz < 0) {
		fprintf(stderr, "program on stdin is not hex byte pairs\n");
		return 1;
	}
	if (code_sz == 0 || code_sz % 8) {
		fprintf(stderr, "program is %ld bytes, not a whole number of 8-byte instructions\n",
			code_sz);
		return 1;
	}
	err = jit_prog_load((const struct bpf_insn *)code, code_sz / 8, jit_conformance_env(), &prog,
			    log, sizeof(log));
	if (err) {
		fprintf(stderr, "%s\n", log[0] ? log : strerror(-err));
		return 1;
	}
	err = jit_prog_exec(prog, (uint64_t)(uintptr_t)(mem_sz ? mem : NULL), (uint64_t)mem_sz, &r0);
	jit_prog_free(prog);
	if (err) {
		fprintf(stderr, "program fault: %s\n", strerror(-err));
		return 1;
	}
	printf("%llx\n", (unsigned long long)r0);
	return fflush(stdout) ? 1 : 0;
}
