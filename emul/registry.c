/*
 * registry.c - claiming, publishing and finding slots of the shared object
 * registry (layout and invariants in registry_layout.h).
 *
 * Slots are claimed with a CAS on state (FREE -> CLAIMED), filled, then
 * published with a release store of LIVE; readers load state with acquire
 * before they look at the rest. Ids come from a per-kind atomic counter in
 * the header, so ids are unique across every bpftime-run of the session and
 * never reused while the session lives (the kernel's idr cycles; DIVERGES
 * harmlessly). Lookups are linear scans: the table is small (4096 slots) and
 * lookups happen once per bpf() call at most, far cheaper than the seccomp
 * round trip around them.
 */
#include "emul/emul_int.h"

#include "common/compat.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int emu_reg_map(struct emu_session *s, int fd, bool init)
{
	struct emu_reg_hdr *h;

	h = mmap(NULL, EMU_REG_FILE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return -errno;
	if (init) {
		h->version = EMU_REG_VERSION;
		h->hdr_sz = EMU_REG_HDR_SZ;
		h->slot_sz = EMU_REG_SLOT_SZ;
		h->slot_cnt = EMU_REG_SLOT_CNT;
		/* BTF id 1 goes to the kernel's vmlinux BTF, registered first (emul/btf_cmds.c). */
		/* Pairs with the acquire load of magic below, in other bpftime-runs. */
		__atomic_store_n(&h->magic, EMU_REG_MAGIC, __ATOMIC_RELEASE);
	} else if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != EMU_REG_MAGIC ||
		   h->version != EMU_REG_VERSION || h->slot_sz != EMU_REG_SLOT_SZ ||
		   h->slot_cnt != EMU_REG_SLOT_CNT) {
		munmap(h, EMU_REG_FILE_SZ);
		return -EPROTO;
	}
	s->reg = h;
	return 0;
}

struct emu_reg_slot *emu_reg_slot_at(struct emu_session *s, uint32_t i)
{
	return (struct emu_reg_slot *)((char *)s->reg + EMU_REG_HDR_SZ + (size_t)i * EMU_REG_SLOT_SZ);
}

int emu_reg_claim(struct emu_session *s, enum emu_reg_kind kind, struct emu_reg_slot **out)
{
	for (uint32_t i = 0; i < EMU_REG_SLOT_CNT; i++) {
		struct emu_reg_slot *slot = emu_reg_slot_at(s, i);
		uint32_t expect = EMU_REG_FREE;

		if (__atomic_load_n(&slot->state, __ATOMIC_RELAXED) != EMU_REG_FREE)
			continue;
		if (!__atomic_compare_exchange_n(&slot->state, &expect, EMU_REG_CLAIMED, false,
						 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			continue;
		memset((char *)slot + sizeof(slot->state), 0, sizeof(*slot) - sizeof(slot->state));
		slot->kind = kind;
		slot->id = __atomic_add_fetch(&s->reg->next_id[kind], 1, __ATOMIC_RELAXED);
		slot->owner_pid = (uint32_t)getpid();
		*out = slot;
		return 0;
	}
	/* The kernel's idr would run out of memory long after us; ENOSPC is the closest answer. */
	return -ENOSPC;
}

void emu_reg_publish(struct emu_session *s, struct emu_reg_slot *slot)
{
	/* Pairs with the acquire loads in emu_reg_find_*() and in the agent (hooks/). */
	__atomic_store_n(&slot->state, EMU_REG_LIVE, __ATOMIC_RELEASE);
	__atomic_add_fetch(&s->reg->generation, 1, __ATOMIC_RELEASE);
	emu_agents_wake(s);
}

void emu_reg_release(struct emu_session *s, struct emu_reg_slot *slot)
{
	__atomic_store_n(&slot->state, EMU_REG_RELEASED, __ATOMIC_RELEASE);
	__atomic_add_fetch(&s->reg->generation, 1, __ATOMIC_RELEASE);
	/* A freed perf event or raw tracepoint link is detached everywhere when close() returns. */
	if (slot->kind == EMU_REG_PERF ||
	    (slot->kind == EMU_REG_LINK &&
	     (slot->type == BPF_LINK_TYPE_RAW_TRACEPOINT || slot->type == COMPAT_BPF_LINK_TYPE_UPROBE_MULTI)))
		emu_agents_wait(s);
	else
		emu_agents_wake(s);
}

void emu_reg_write_begin(struct emu_reg_slot *slot)
{
	__atomic_add_fetch(&slot->seq, 1, __ATOMIC_ACQ_REL); /* odd: readers retry */
}

void emu_reg_write_end(struct emu_session *s, struct emu_reg_slot *slot)
{
	/* Pairs with the reader's acquire load of seq (hooks/ agent). */
	__atomic_add_fetch(&slot->seq, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&s->reg->generation, 1, __ATOMIC_RELEASE);
	/* Enable/disable/attach of a perf event: answer once the agents applied it (agent_wait.c). */
	if (slot->kind == EMU_REG_PERF)
		emu_agents_wait(s);
	else
		emu_agents_wake(s);
}

void emu_reg_changed_wait(struct emu_session *s)
{
	__atomic_add_fetch(&s->reg->generation, 1, __ATOMIC_RELEASE);
	emu_agents_wait(s);
}

static bool live(struct emu_reg_slot *slot)
{
	return __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE) == EMU_REG_LIVE;
}

struct emu_reg_slot *emu_reg_find_id(struct emu_session *s, enum emu_reg_kind kind, uint32_t id)
{
	for (uint32_t i = 0; i < EMU_REG_SLOT_CNT; i++) {
		struct emu_reg_slot *slot = emu_reg_slot_at(s, i);

		if (live(slot) && slot->kind == (uint32_t)kind && slot->id == id)
			return slot;
	}
	return NULL;
}

struct emu_reg_slot *emu_reg_find_ino(struct emu_session *s, uint64_t dev, uint64_t ino)
{
	for (uint32_t i = 0; i < EMU_REG_SLOT_CNT; i++) {
		struct emu_reg_slot *slot = emu_reg_slot_at(s, i);

		if (live(slot) && slot->ino == ino && slot->dev == dev)
			return slot;
	}
	return NULL;
}

uint32_t emu_reg_next_id(struct emu_session *s, enum emu_reg_kind kind, uint32_t id)
{
	uint32_t best = 0;

	for (uint32_t i = 0; i < EMU_REG_SLOT_CNT; i++) {
		struct emu_reg_slot *slot = emu_reg_slot_at(s, i);

		if (live(slot) && slot->kind == (uint32_t)kind && slot->id > id && (!best || slot->id < best))
			best = slot->id;
	}
	return best;
}
