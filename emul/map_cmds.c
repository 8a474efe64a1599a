/*
 * map_cmds.c - the BPF_MAP_* commands (kernel/bpf/syscall.c: map_create(),
 * map_lookup_elem(), map_update_elem(), map_delete_elem(),
 * map_get_next_key(), map_lookup_and_delete_elem(), map_freeze(),
 * bpf_map_do_batch()).
 *
 * The maps live in maps/ (one sealed memfd each, kernel layout, shared with
 * the agents). This file copies keys and values between the caller's memory
 * and the map exactly once per argument, and turns fds into objects:
 *   - the map fd we hand out is a new open file description of the map's
 *     memfd, so mmap() of it gives the kernel's layout (libbpf's mmapable
 *     arrays and ring buffers need that);
 *   - PERF_EVENT_ARRAY values are perf event fds on the syscall side: we
 *     store the perf event's registry id (an ARRAY of u32 underneath), which
 *     is what bpf_perf_event_output() in the agent resolves, and the array
 *     holds a reference on each event, as the kernel's fd array holds the
 *     perf file.
 */
#include "emul/emul_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "maps/helpers.h"
#include "maps/maps.h"

#define ENOTSUPP_ 524
#define MAP_BATCH_MAX_SZ (64u << 20) /* bound on one batch's copy buffers */

static void map_priv_free(void *p)
{
	map_put(p);
}

static struct map *obj_map(struct emu_obj *o)
{
	return o->priv;
}

/* Make the map object of another bpftime-run's map usable here (its memfd reached via /proc). */
static int map_obj_ready(struct emu_obj *o)
{
	struct map *m;
	int err;

	if (o->priv)
		return 0;
	err = map_open_fd(o->fd, &m);
	if (err)
		return err;
	o->priv = m;
	o->priv_free = map_priv_free;
	return 0;
}

static int map_create_cmd(struct emu_session *s, const struct emu_target *t, union bpf_attr *a,
			  struct emu_reply *r)
{
	struct map_create_opts opts = { .sz = sizeof(opts), .spin_lock_off = -1 };
	union bpf_attr ma = *a;
	struct emu_obj *btf = NULL, *o;
	struct emu_reg_slot *slot;
	struct map *m;
	int err, fd;

	if (a->map_type == BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
		/* fd_array_map_alloc_check(): u32 keys and u32 (fd) values. */
		if (a->key_size != 4 || a->value_size != 4 || (a->map_flags & BPF_F_MMAPABLE))
			return -EINVAL;
		ma.map_type = BPF_MAP_TYPE_ARRAY;
	}
	if (a->inner_map_fd || a->map_type == BPF_MAP_TYPE_ARRAY_OF_MAPS || a->map_type == BPF_MAP_TYPE_HASH_OF_MAPS) {
		log_info("MAP_CREATE: maps of maps are not supported by bpftime yet\n");
		return -EINVAL;
	}
	if (a->map_ifindex) {
		log_info("MAP_CREATE: device offload is not supported by bpftime\n");
		return -EINVAL;
	}
	if (a->btf_key_type_id || a->btf_value_type_id || a->btf_vmlinux_value_type_id) {
		err = emu_fd_lookup(s, t, (int)a->btf_fd, EMU_REG_BTF, &btf);
		if (err)
			return err;
	}
	err = emu_reg_claim(s, EMU_REG_MAP, &slot);
	if (err)
		return err;
	opts.id = slot->id;
	err = map_create(&ma, &opts, &m);
	if (err) {
		if (err == -EINVAL)
			log_info("MAP_CREATE type %u key %u value %u entries %u flags 0x%x refused (EINVAL)\n",
				 a->map_type, a->key_size, a->value_size, a->max_entries, a->map_flags);
		emu_reg_release(s, slot);
		__atomic_store_n(&slot->state, EMU_REG_FREE, __ATOMIC_RELEASE);
		return err;
	}
	fd = fcntl(map_fd(m), F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		map_put(m);
		emu_reg_release(s, slot);
		__atomic_store_n(&slot->state, EMU_REG_FREE, __ATOMIC_RELEASE);
		return err;
	}
	err = emu_obj_adopt_slot(s, slot, fd, a->map_name, a->map_type, &o);
	if (err) {
		close(fd);
		map_put(m);
		emu_reg_release(s, slot);
		__atomic_store_n(&slot->state, EMU_REG_FREE, __ATOMIC_RELEASE);
		return err;
	}
	o->priv = m;
	o->priv_free = map_priv_free;
	slot->u.map.key_size = a->key_size;
	slot->u.map.value_size = a->value_size;
	slot->u.map.max_entries = a->max_entries;
	slot->u.map.map_flags = a->map_flags;
	slot->u.map.map_extra = a->map_extra;
	slot->u.map.owner_fd = (uint32_t)o->fd;
	slot->u.map.btf_key_type_id = a->btf_key_type_id;
	slot->u.map.btf_value_type_id = a->btf_value_type_id;
	if (btf) {
		slot->u.map.btf_id = btf->id;
		emu_obj_get(btf);
	}
	emu_reg_publish(s, slot);
	log_debug("MAP_CREATE: map id %u '%.16s' type %u\n", o->id, a->map_name, a->map_type);
	return emu_obj_reply_fd(s, o, true, r);
}

/* Read @n bytes at @uaddr into a fresh buffer; *out owned by the caller. */
static int copy_in(const struct emu_target *t, uint64_t uaddr, size_t n, void **out)
{
	void *p = malloc(n ? n : 1);
	int err;

	if (!p)
		return -ENOMEM;
	err = t->ops->read(t, uaddr, p, n);
	if (err) {
		free(p);
		return err == -ENOENT ? err : -EFAULT;
	}
	*out = p;
	return 0;
}

static int copy_out(const struct emu_target *t, uint64_t uaddr, const void *p, size_t n)
{
	int err = t->ops->write(t, uaddr, p, n);

	return err == -ENOENT ? err : (err ? -EFAULT : 0);
}

/* PERF_EVENT_ARRAY: the fd on the syscall side becomes the perf event's id. */
static int perf_array_update(struct emu_session *s, const struct emu_target *t, struct emu_obj *o,
			     const void *key, const void *value, uint64_t flags)
{
	struct map *m = obj_map(o);
	struct emu_obj *pe, *old;
	uint32_t id, *cur;
	int err;

	if (flags > BPF_EXIST)
		return -EINVAL;
	if (flags == BPF_NOEXIST)
		return -EEXIST; /* array semantics: every slot exists */
	err = emu_fd_lookup(s, t, *(const int32_t *)value, EMU_REG_PERF, &pe);
	if (err)
		return err == -EINVAL ? -EBADF : err;
	id = pe->id;
	cur = map_lookup_elem(m, key);
	if (!cur)
		return -E2BIG;
	err = map_sys_update_elem(m, key, &id, BPF_ANY);
	if (err)
		return err;
	emu_obj_get(pe);
	if (*cur != id && *cur && !emu_obj_by_id(s, EMU_REG_PERF, *cur, &old))
		emu_obj_put(s, old);
	return 0;
}

static int perf_array_delete(struct emu_session *s, struct emu_obj *o, const void *key)
{
	struct map *m = obj_map(o);
	struct emu_obj *old;
	uint32_t zero = 0, *cur;
	int err;

	cur = map_lookup_elem(m, key);
	if (!cur)
		return -E2BIG;
	if (!*cur)
		return -ENOENT;
	if (!emu_obj_by_id(s, EMU_REG_PERF, *cur, &old))
		emu_obj_put(s, old);
	err = map_sys_update_elem(m, key, &zero, BPF_ANY);
	return err;
}

/*
 * PROG_ARRAY: the fd on the syscall side becomes the program's id
 * (bpf_fd_array_map_update_elem() and prog_fd_array_get_ptr() in
 * kernel/bpf/arraymap.c). The array holds a reference on each program it
 * names, as the kernel's does. A change is answered once every agent has
 * seen it (emu_reg_changed_wait()): the agents load the programs a prog
 * array names before they can be tail-called (hooks/agent_tail.c), so a
 * tool that updates a slot and then triggers the probe sees the new
 * program run, as with the kernel's xchg of the pointer.
 */
static int prog_array_compatible(struct emu_session *s, struct map *m, const struct emu_obj *prog)
{
	/* DIVERGES: bpf_prog_map_compatible() compares with the map's owner type, fixed by
	 * the first program that used or entered the map; we compare with the programs the
	 * array holds now (and the kernel also checks the JIT mode and xdp_has_frags). */
	for (uint32_t i = 0; i < map_max_entries(m); i++) {
		struct emu_obj *other;
		uint32_t id;

		if (!map_sys_lookup_elem(m, &i, &id, 0) && !emu_obj_by_id(s, EMU_REG_PROG, id, &other) &&
		    other->slot->type != prog->slot->type)
			return -EINVAL;
	}
	return 0;
}

/* The id in slot @key of a prog array, 0 when empty; -E2BIG past max_entries. */
static int prog_array_slot(struct map *m, const void *key, uint32_t *id)
{
	if (*(const uint32_t *)key >= map_max_entries(m))
		return -E2BIG;
	if (map_sys_lookup_elem(m, key, id, 0))
		*id = 0;
	return 0;
}

static int prog_array_update(struct emu_session *s, const struct emu_target *t, struct emu_obj *o,
			     const void *key, const void *value, uint64_t flags)
{
	struct map *m = obj_map(o);
	struct emu_obj *prog, *old;
	uint32_t id, prev;
	int err;

	if (flags != BPF_ANY)
		return -EINVAL;
	err = prog_array_slot(m, key, &prev);
	if (err)
		return err;
	/* bpf_prog_get(): -EBADF for a closed fd, -EINVAL for an fd that is no program. */
	err = emu_fd_lookup(s, t, *(const int32_t *)value, EMU_REG_PROG, &prog);
	if (err)
		return err;
	if (prog->slot->type == BPF_PROG_TYPE_EXT)
		return -EINVAL;
	err = prog_array_compatible(s, m, prog);
	if (err)
		return err;
	id = prog->id;
	emu_obj_get(prog);
	err = map_sys_update_elem(m, key, &id, BPF_ANY);
	if (err) {
		emu_obj_put(s, prog);
		return err;
	}
	if (prev && !emu_obj_by_id(s, EMU_REG_PROG, prev, &old))
		emu_obj_put(s, old);
	emu_reg_changed_wait(s);
	return 0;
}

static int prog_array_delete(struct emu_session *s, struct emu_obj *o, const void *key)
{
	struct map *m = obj_map(o);
	struct emu_obj *old;
	uint32_t prev;
	int err;

	err = prog_array_slot(m, key, &prev);
	if (err)
		return err;
	err = map_sys_delete_elem(m, key);
	if (err)
		return err;
	if (prev && !emu_obj_by_id(s, EMU_REG_PROG, prev, &old))
		emu_obj_put(s, old);
	emu_reg_changed_wait(s);
	return 0;
}

static int elem_cmd(struct emu_session *s, const struct emu_target *t, int cmd, union bpf_attr *a, struct emu_obj *o)
{
	_cleanup_free_ void *key = NULL, *value = NULL;
	struct map *m = obj_map(o);
	bool perf_array = o->slot->type == BPF_MAP_TYPE_PERF_EVENT_ARRAY;
	uint32_t ksz = map_key_size(m), vsz = map_sys_value_size(m);
	int err;

	if (perf_array)
		vsz = 4;
	/* GET_NEXT_KEY and the ring buffer: a NULL key is allowed / there are no keys. */
	if (a->key || cmd != BPF_MAP_GET_NEXT_KEY) {
		err = copy_in(t, a->key, ksz, &key);
		if (err)
			return err;
	}
	switch (cmd) {
	case BPF_MAP_LOOKUP_ELEM:
	case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
		if (perf_array)
			return cmd == BPF_MAP_LOOKUP_ELEM ? -ENOTSUPP_ : -ENOTSUPP_;
		value = malloc(vsz ? vsz : 1);
		if (!value)
			return -ENOMEM;
		err = cmd == BPF_MAP_LOOKUP_ELEM ? map_sys_lookup_elem(m, key, value, a->flags)
						 : map_sys_lookup_and_delete_elem(m, key, value, a->flags);
		if (err)
			return err;
		return copy_out(t, a->value, value, vsz);
	case BPF_MAP_UPDATE_ELEM:
		err = copy_in(t, a->value, vsz, &value);
		if (err)
			return err;
		if (perf_array)
			return perf_array_update(s, t, o, key, value, a->flags);
		if (o->slot->type == BPF_MAP_TYPE_PROG_ARRAY)
			return prog_array_update(s, t, o, key, value, a->flags);
		return map_sys_update_elem(m, key, value, a->flags);
	case BPF_MAP_DELETE_ELEM:
		if (perf_array)
			return perf_array_delete(s, o, key);
		if (o->slot->type == BPF_MAP_TYPE_PROG_ARRAY)
			return prog_array_delete(s, o, key);
		return map_sys_delete_elem(m, key);
	case BPF_MAP_GET_NEXT_KEY:
		value = malloc(ksz ? ksz : 1);
		if (!value)
			return -ENOMEM;
		err = map_sys_get_next_key(m, key, value);
		if (err)
			return err;
		return copy_out(t, a->next_key, value, ksz);
	}
	return -EINVAL;
}

static int batch_cmd(struct emu_session *s, const struct emu_target *t, int cmd, union bpf_attr *a, uint64_t uattr,
		     struct emu_obj *o)
{
	_cleanup_free_ void *in_tok = NULL, *out_tok = NULL, *keys = NULL, *values = NULL;
	struct map *m = obj_map(o);
	uint32_t ksz = map_key_size(m), vsz = map_sys_value_size(m), tsz = map_batch_token_size(m);
	uint64_t cnt = a->batch.count;
	struct map_batch b = { 0 };
	bool reading = cmd == BPF_MAP_LOOKUP_BATCH || cmd == BPF_MAP_LOOKUP_AND_DELETE_BATCH;
	int err, werr;

	if (o->slot->type == BPF_MAP_TYPE_PERF_EVENT_ARRAY)
		return -ENOTSUPP_;
	/* generic_map_*_batch(), htab_map_lookup_batch(): flags first, then "nothing to do". */
	if ((a->batch.elem_flags & ~(uint64_t)BPF_F_LOCK) || a->batch.flags)
		return -EINVAL;
	if (cnt == 0)
		return 0;
	if (cnt * (ksz + vsz) > MAP_BATCH_MAX_SZ)
		return -E2BIG;
	if (reading) {
		if (a->batch.in_batch) {
			err = copy_in(t, a->batch.in_batch, tsz, &in_tok);
			if (err)
				return err;
		}
		out_tok = calloc(1, tsz ? tsz : 1);
		keys = calloc(1, cnt * ksz + 1);
		values = calloc(1, cnt * vsz + 1);
		if (!out_tok || !keys || !values)
			return -ENOMEM;
	} else {
		err = copy_in(t, a->batch.keys, cnt * ksz, &keys);
		if (err)
			return err;
		if (cmd == BPF_MAP_UPDATE_BATCH) {
			err = copy_in(t, a->batch.values, cnt * vsz, &values);
			if (err)
				return err;
		}
	}
	b.in_batch = in_tok;
	b.out_batch = out_tok;
	b.keys = keys;
	b.values = values;
	b.count = (uint32_t)cnt;
	b.elem_flags = a->batch.elem_flags;
	b.flags = a->batch.flags;
	switch (cmd) {
	case BPF_MAP_LOOKUP_BATCH:
		err = map_sys_lookup_batch(m, &b);
		break;
	case BPF_MAP_LOOKUP_AND_DELETE_BATCH:
		err = map_sys_lookup_and_delete_batch(m, &b);
		break;
	case BPF_MAP_UPDATE_BATCH:
		err = map_sys_update_batch(m, &b);
		break;
	default:
		err = map_sys_delete_batch(m, &b);
		break;
	}
	/* The kernel writes count back whatever happened, and the elements done so far. */
	if (reading && b.count) {
		werr = copy_out(t, a->batch.keys, keys, (size_t)b.count * ksz);
		if (!werr)
			werr = copy_out(t, a->batch.values, values, (size_t)b.count * vsz);
		if (werr)
			return werr;
	}
	if (reading && (!err || err == -ENOENT)) {
		werr = copy_out(t, a->batch.out_batch, out_tok, tsz);
		if (werr)
			return werr;
	}
	werr = copy_out(t, uattr + offsetof(union bpf_attr, batch.count), &b.count, sizeof(b.count));
	return werr ? werr : err;
}

int emu_map_cmd(struct emu_session *s, const struct emu_target *t, int cmd, union bpf_attr *a, uint64_t uattr,
		struct emu_reply *r)
{
	struct emu_obj *o;
	int err, ufd;

	if (cmd == BPF_MAP_CREATE)
		return map_create_cmd(s, t, a, r);
	switch (cmd) {
	case BPF_MAP_LOOKUP_BATCH:
	case BPF_MAP_LOOKUP_AND_DELETE_BATCH:
	case BPF_MAP_UPDATE_BATCH:
	case BPF_MAP_DELETE_BATCH:
		ufd = (int)a->batch.map_fd;
		break;
	default:
		ufd = (int)a->map_fd;
		break;
	}
	err = emu_fd_lookup(s, t, ufd, EMU_REG_MAP, &o);
	if (err)
		return err;
	err = map_obj_ready(o);
	if (err)
		return err;
	switch (cmd) {
	case BPF_MAP_FREEZE:
		err = map_sys_freeze(obj_map(o));
		if (!err)
			o->slot->u.map.frozen = 1;
		return err;
	case BPF_MAP_LOOKUP_BATCH:
	case BPF_MAP_LOOKUP_AND_DELETE_BATCH:
	case BPF_MAP_UPDATE_BATCH:
	case BPF_MAP_DELETE_BATCH:
		return batch_cmd(s, t, cmd, a, uattr, o);
	default:
		return elem_cmd(s, t, cmd, a, o);
	}
}

int emu_map_ld_imm64(struct emu_session *s, struct emu_obj *o, const struct bpf_insn insn[2], uint64_t *value)
{
	struct map *m;
	uint32_t zero = 0;
	char *v;
	int err;

	err = map_obj_ready(o);
	if (err)
		return err;
	m = obj_map(o);
	if (insn[0].src_reg == BPF_PSEUDO_MAP_FD) {
		/* The helpers of maps/ take the struct map * itself (maps/helpers.c). */
		*value = (uint64_t)(uintptr_t)m;
		return 0;
	}
	/* BPF_PSEUDO_MAP_VALUE: address of the single value of an array plus the offset. */
	if (map_type(m) != BPF_MAP_TYPE_ARRAY || (uint32_t)insn[1].imm >= map_value_size(m))
		return -EINVAL;
	v = map_lookup_elem(m, &zero);
	if (!v)
		return -EINVAL;
	*value = (uint64_t)(uintptr_t)(v + (uint32_t)insn[1].imm);
	return 0;
}

void emu_map_release(struct emu_session *s, struct emu_obj *o)
{
	struct map *m = obj_map(o);
	enum emu_reg_kind kind;
	struct emu_obj *pe;

	if (!m)
		return;
	if (o->slot->type == BPF_MAP_TYPE_PERF_EVENT_ARRAY)
		kind = EMU_REG_PERF;
	else if (o->slot->type == BPF_MAP_TYPE_PROG_ARRAY)
		kind = EMU_REG_PROG;
	else
		return;
	/* The fd array drops its perf events or programs (fd_array_map_free(),
	 * prog_array_map_clear()). */
	for (uint32_t i = 0; i < map_max_entries(m); i++) {
		uint32_t id;

		if (kind == EMU_REG_PERF) {
			uint32_t *v = map_lookup_elem(m, &i); /* an ARRAY underneath (map_create_cmd()) */

			id = v ? *v : 0;
		} else if (map_sys_lookup_elem(m, &i, &id, 0)) {
			id = 0;
		}
		if (id && !emu_obj_by_id(s, kind, id, &pe))
			emu_obj_put(s, pe);
	}
}

int emu_map_perf_slot(void *map, uint32_t idx, uint32_t *id)
{
	struct map *m = map;
	uint32_t *v;

	if (idx == UINT32_MAX)
		idx = map_current_cpu();
	/* The PERF_EVENT_ARRAY is an ARRAY of u32 underneath (see above); the helper only
	 * receives maps the program referenced, which the verifier would have typed. */
	if (map_type(m) != BPF_MAP_TYPE_ARRAY || map_value_size(m) != 4)
		return -EINVAL;
	if (idx >= map_max_entries(m))
		return -E2BIG;
	v = map_lookup_elem(m, &idx);
	if (!v || !*v)
		return -ENOENT;
	*id = *v;
	return 0;
}

void emu_map_helpers_fill(jit_helper_fn *table, uint32_t cnt)
{
	map_helpers_fill(table, cnt);
}
