/*
 * vector.c - the .data file reader for the conformance tests: line
 * oriented, '#' comments, sections chosen by substring of a "--" header
 * (shared/conformance/README.md §1, as bpf_conformance's own parser does).
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/utils.h"
#include "jit/asm.h"
#include "jit/conformance.h"
#include "jit/jit.h"
#include "tests/isa/vector.h"

enum section { S_NONE, S_ASM, S_RESULT, S_MEM, S_RAW, S_IGNORED, S_ERROR };

static enum section section_of(const char *line)
{
	if (strstr(line, "asm"))
		return S_ASM;
	if (strstr(line, "result"))
		return S_RESULT;
	if (strstr(line, "mem"))
		return S_MEM;
	if (strstr(line, "raw"))
		return S_RAW;
	if (strstr(line, "no register offset") || strstr(line, " c"))
		return S_IGNORED;
	if (strstr(line, "error"))
		return S_ERROR;
	return S_NONE;
}

static int append(char **buf, size_t *len, const char *s)
{
	size_t n = strlen(s);
	char *b = realloc(*buf, *len + n + 2);

	if (!b)
		return -ENOMEM;
	memcpy(b + *len, s, n);
	b[*len + n] = '\n';
	b[*len + n + 1] = '\0';
	*len += n + 1;
	*buf = b;
	return 0;
}

static int push_bytes(uint8_t **buf, size_t *len, const void *src, size_t n)
{
	uint8_t *b = realloc(*buf, *len + n);

	if (!b)
		return -ENOMEM;
	memcpy(b + *len, src, n);
	*len += n;
	*buf = b;
	return 0;
}

void isa_vector_release(struct isa_vector *v)
{
	zfree(&v->asm_text);
	zfree(&v->raw);
	zfree(&v->mem);
	zfree(&v->error);
}

int isa_vector_load(const char *path, enum isa_raw_format fmt, struct isa_vector *v, char *why,
		    size_t why_sz)
{
	FILE *f = fopen(path, "re");
	char line[4096];
	enum section sec = S_NONE;
	size_t asm_len = 0, raw_sz = 0;
	uint8_t *raw = NULL;
	int err = 0;

	memset(v, 0, sizeof(*v));
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *hash, *tok, *save, *end;
		size_t len;

		len = strlen(line);
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (strstr(line, "--")) {
			sec = section_of(line);
			if (sec == S_NONE) {
				v->skipped = true;
				sec = S_IGNORED;
			}
			if (sec == S_ERROR)
				v->has_error = true;
			continue;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		if (sec == S_ASM) {
			err = append(&v->asm_text, &asm_len, line);
			if (err)
				goto out;
			continue;
		}
		/* S_ERROR: the expected text is the whole line, taken below (strtok_r
		 * would cut it at its first blank). */
		for (tok = sec == S_ERROR || sec == S_IGNORED || sec == S_NONE ? NULL : strtok_r(line, " \t", &save);
		     tok; tok = strtok_r(NULL, " \t", &save)) {
			unsigned long long x;

			bool hex_bytes = sec == S_MEM || (sec == S_RAW && fmt == ISA_RAW_BYTES);

			errno = 0;
			x = strtoull(tok, &end, hex_bytes ? 16 : 0);
			if (errno || *end) {
				snprintf(why, why_sz, "%s: bad number '%s'", path, tok);
				err = -EINVAL;
				goto out;
			}
			if (sec == S_RESULT) {
				v->has_result = true;
				v->result = x;
			} else if (sec == S_MEM) {
				uint8_t b = (uint8_t)x;

				err = push_bytes(&v->mem, &v->mem_sz, &b, 1);
			} else if (sec == S_RAW && fmt == ISA_RAW_BYTES) {
				uint8_t b = (uint8_t)x;

				err = push_bytes(&raw, &raw_sz, &b, 1);
			} else if (sec == S_RAW) {
				uint64_t w = x; /* little-endian host: the word's bytes are the slot */

				err = push_bytes(&raw, &raw_sz, &w, 8);
			}
			if (err)
				goto out;
		}
		if (sec == S_ERROR && !v->error) {
			char *s = line;

			while (isspace((unsigned char)*s))
				s++;
			len = strlen(s);
			while (len && isspace((unsigned char)s[len - 1]))
				s[--len] = '\0';
			if (len) {
				v->error = strdup(s);
				if (!v->error) {
					err = -ENOMEM;
					goto out;
				}
			}
		}
	}
	if (raw) {
		if (raw_sz % 8) {
			snprintf(why, why_sz, "%s: raw section is %zu bytes, not whole slots", path,
				 raw_sz);
			err = -EINVAL;
			goto out;
		}
		v->raw = (struct bpf_insn *)steal_ptr(&raw);
		v->raw_cnt = raw_sz / 8;
	}
out:
	free(raw);
	fclose(f);
	if (err)
		isa_vector_release(v);
	return err;
}

const char *isa_shared_dir(void)
{
	static char buf[4096];
	const char *env = getenv("BPFTIME_SHARED");
	struct stat st;

	if (env && *env) {
		snprintf(buf, sizeof(buf), "%s/conformance", env);
		if (!stat(buf, &st) && S_ISDIR(st.st_mode))
			return env;
	}
	snprintf(buf, sizeof(buf), "%s/../shared/conformance", BPFTIME_SRCDIR);
	if (!stat(buf, &st) && S_ISDIR(st.st_mode)) {
		snprintf(buf, sizeof(buf), "%s/../shared", BPFTIME_SRCDIR);
		return buf;
	}
	return NULL;
}

int isa_vector_run(const char *path, const char *name, enum isa_raw_format fmt)
{
	struct isa_vector v;
	struct bpf_insn *insns = NULL;
	struct jit_prog *prog = NULL;
	uint32_t cnt = 0;
	uint64_t r0 = 0;
	char log[256] = "";
	void *mem = NULL;
	int err, ret = 1;

	err = isa_vector_load(path, fmt, &v, log, sizeof(log));
	if (err) {
		printf("FAIL %s: cannot read: %s %s\n", name, strerror(-err), log);
		return 1;
	}
	if (v.skipped || !(v.has_result || v.has_error) || !(v.asm_text || v.raw)) {
		printf("FAIL %s: needs asm or raw, and result or error\n", name);
		goto out;
	}
	if (v.asm_text) {
		err = jit_asm_assemble(v.asm_text, &insns, &cnt, log, sizeof(log));
		if (err) {
			printf("FAIL %s: assembler: %s\n", name, log);
			goto out;
		}
	}
	/* Round trip: the disassembly of what we assembled assembles to the same
	 * words (programs meant to be refused may hold undecodable slots: skip). */
	if (insns) {
		size_t cap = (size_t)cnt * 64 + 1, len = 0;
		char *text = malloc(cap);
		struct bpf_insn *again = NULL;
		uint32_t again_cnt = 0;
		int used = 1;

		if (!text)
			goto out;
		text[0] = '\0';
		for (uint32_t i = 0; i < cnt && used > 0; i += used) {
			char line[96];

			used = jit_disasm_insn(&insns[i], cnt - i, line, sizeof(line));
			if (used > 0)
				len += snprintf(text + len, cap - len, "%s\n", line);
		}
		if (used < 0) {
			free(text);
			goto roundtrip_done;
		}
		err = jit_asm_assemble(text, &again, &again_cnt, log, sizeof(log));
		if (err || again_cnt != cnt || memcmp(again, insns, cnt * sizeof(*insns))) {
			printf("FAIL %s: disassembly does not assemble back to the program (%s):\n%s",
			       name, err ? log : "different words", text);
			free(again);
			free(text);
			goto out;
		}
		free(again);
		free(text);
	}
roundtrip_done:
	if (v.raw && insns) {
		if (v.raw_cnt != cnt || memcmp(v.raw, insns, cnt * sizeof(*insns))) {
			printf("FAIL %s: assembled program differs from its raw section\n", name);
			goto out;
		}
	}
	err = jit_prog_load(v.raw ? v.raw : insns, v.raw ? v.raw_cnt : cnt, jit_conformance_env(),
			    &prog, log, sizeof(log));
	/* "-- error": the load must fail with a message starting with this text
	 * (a prefix, because '#' starts a comment in .data files). */
	if (v.has_error) {
		if (!err)
			printf("FAIL %s: loaded, expected error '%s'\n", name, v.error ? v.error : "");
		else if (!v.error || strncmp(log, v.error, strlen(v.error)))
			printf("FAIL %s: error '%s', expected '%s'\n", name, log, v.error ? v.error : "");
		else
			ret = 0;
		goto out;
	}
	if (err) {
		printf("FAIL %s: load: %s (%s)\n", name, log, strerror(-err));
		goto out;
	}
	if (v.mem_sz) {
		mem = malloc(v.mem_sz);
		if (!mem)
			goto out;
		memcpy(mem, v.mem, v.mem_sz);
	}
	err = jit_prog_exec(prog, (uint64_t)(uintptr_t)mem, v.mem_sz, &r0);
	if (err) {
		printf("FAIL %s: run: %s\n", name, strerror(-err));
		goto out;
	}
	if (r0 != v.result) {
		printf("FAIL %s: r0 = 0x%llx, expected 0x%llx\n", name, (unsigned long long)r0,
		       (unsigned long long)v.result);
		goto out;
	}
	ret = 0;
out:
	free(mem);
	jit_prog_free(prog);
	free(insns);
	isa_vector_release(&v);
	return ret;
}
