/*
 * insn_check.h - PROG_LOAD's structural check of a program (emul-private).
 */
#ifndef EMUL_INSN_CHECK_H
#define EMUL_INSN_CHECK_H

#include <linux/bpf.h>
#include <stdint.h>

struct insn_check_env {
	uint32_t cnt;
	uint32_t prog_type;
	/* Map fd -> map id; 0 or -errno (-EBADF, -EINVAL). */
	int (*resolve_map)(void *cookie, int32_t fd, uint32_t *map_id);
	/* One line for the verifier log. */
	int (*log)(void *log_cookie, const char *msg);
	void *cookie;
	void *log_cookie;
};

/**
 * Check encoding, registers, ld_imm64 pairs and pseudo sources, jump
 * targets, helper ids and the last instruction; rewrite map fds to map ids
 * in place. Returns 0, -EINVAL (with a log line in the kernel's words),
 * -EBADF for a closed map fd.
 */
int emu_insn_check(struct bpf_insn *insns, const struct insn_check_env *env);

/** The kernel's program tag: SHA-256 (Linux 6.17+) of the instructions with map imms zeroed, first 8 bytes. */
void emu_insn_tag(const struct bpf_insn *insns, uint32_t cnt, uint8_t tag[8]);

#endif /* EMUL_INSN_CHECK_H */
