/*
 * agent_capstone.c - load Capstone only when the agent first patches code.
 *
 * The probe engine (hooks/reloc.c, hooks/syscall_scan.c) decodes x86-64 with
 * Capstone. libcapstone.so.4 holds every architecture Capstone supports, and
 * the dynamic loader spends about 2 ms relocating it, in every process
 * bpftime-run starts, whether or not anything is ever probed there. So the
 * agent does not link it: these forwarders, which the engine's calls bind to
 * inside the agent, dlopen() it at the first call (a probe or a syscall
 * tracepoint that applies to this process) and call through.
 *
 * If it cannot be loaded, cs_open() fails with CS_ERR_MEM, so every attach
 * fails with the engine's usual error and one log line says why.
 */
#define _GNU_SOURCE
#include <capstone/capstone.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

#include "common/log.h"

static struct {
	cs_err (*open)(cs_arch, cs_mode, csh *);
	cs_err (*close)(csh *);
	cs_err (*option)(csh, cs_opt_type, size_t);
	size_t (*disasm)(csh, const uint8_t *, size_t, uint64_t, size_t, cs_insn **);
	void (*free)(cs_insn *, size_t);
	cs_insn *(*malloc)(csh);
	bool (*disasm_iter)(csh, const uint8_t **, size_t *, uint64_t *, cs_insn *);
	bool (*insn_group)(csh, const cs_insn *, unsigned int);
} cs;
static pthread_once_t cs_once = PTHREAD_ONCE_INIT;
static bool cs_ok;

static void cs_load(void)
{
	/* Debian 12 ships 4.0.2 (libcapstone.so.4); newer releases bump the soname. */
	static const char *const names[] = { "libcapstone.so.4", "libcapstone.so.5", "libcapstone.so" };
	void *h = NULL;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !h; i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		log_warn("cannot load Capstone (%s): no probe can be placed in this process\n", dlerror());
		return;
	}
	cs.open = (cs_err(*)(cs_arch, cs_mode, csh *))dlsym(h, "cs_open");
	cs.close = (cs_err(*)(csh *))dlsym(h, "cs_close");
	cs.option = (cs_err(*)(csh, cs_opt_type, size_t))dlsym(h, "cs_option");
	cs.disasm = (size_t(*)(csh, const uint8_t *, size_t, uint64_t, size_t, cs_insn **))dlsym(h, "cs_disasm");
	cs.free = (void (*)(cs_insn *, size_t))dlsym(h, "cs_free");
	cs.malloc = (cs_insn * (*)(csh)) dlsym(h, "cs_malloc");
	cs.disasm_iter = (bool (*)(csh, const uint8_t **, size_t *, uint64_t *, cs_insn *))dlsym(h, "cs_disasm_iter");
	cs.insn_group = (bool (*)(csh, const cs_insn *, unsigned int))dlsym(h, "cs_insn_group");
	cs_ok = cs.open && cs.close && cs.option && cs.disasm && cs.free && cs.malloc && cs.disasm_iter &&
		cs.insn_group;
	if (!cs_ok)
		log_warn("Capstone lacks a function the probe engine uses: no probe can be placed in this process\n");
}

cs_err cs_open(cs_arch arch, cs_mode mode, csh *handle)
{
	pthread_once(&cs_once, cs_load);
	return cs_ok ? cs.open(arch, mode, handle) : CS_ERR_MEM;
}

cs_err cs_close(csh *handle)
{
	return cs_ok ? cs.close(handle) : CS_ERR_HANDLE;
}

cs_err cs_option(csh handle, cs_opt_type type, size_t value)
{
	return cs_ok ? cs.option(handle, type, value) : CS_ERR_HANDLE;
}

size_t cs_disasm(csh handle, const uint8_t *code, size_t code_size, uint64_t address, size_t count, cs_insn **insn)
{
	return cs_ok ? cs.disasm(handle, code, code_size, address, count, insn) : 0;
}

void cs_free(cs_insn *insn, size_t count)
{
	if (cs_ok)
		cs.free(insn, count);
}

cs_insn *cs_malloc(csh handle)
{
	return cs_ok ? cs.malloc(handle) : NULL;
}

bool cs_disasm_iter(csh handle, const uint8_t **code, size_t *size, uint64_t *address, cs_insn *insn)
{
	return cs_ok && cs.disasm_iter(handle, code, size, address, insn);
}

bool cs_insn_group(csh handle, const cs_insn *insn, unsigned int group_id)
{
	return cs_ok && cs.insn_group(handle, insn, group_id);
}
