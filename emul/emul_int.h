/*
 * emul_int.h - private to the emul/ sources: the session, objects and the helpers
 * every command family shares. Other modules use emul.h only.
 */
#ifndef EMUL_EMUL_INT_H
#define EMUL_EMUL_INT_H

#include <linux/bpf.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "emul/emul.h"
#include "emul/registry_layout.h"

#define EMU_ATTR_SZ sizeof(union bpf_attr)
#define EMU_PAGE_SZ 4096
#define offsetofend(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))

/* An object bpftime handed out an fd for. Owned by the session's table. */
struct emu_obj {
	enum emu_reg_kind kind;
	uint32_t id;
	struct emu_reg_slot *slot; /* in the shared registry */
	dev_t dev;
	ino_t ino;
	int fd;                    /* our own description of the backing file; never handed out */
	void *priv;                /* kind-specific local state (e.g. the loaded jit program) */
	void (*priv_free)(void *priv);
	int wd;                    /* inotify watch on an untracked-by-link inode (lifetime.c), or -1 */
	int wake_fd;               /* eventfd added EPOLLET to target epoll sets (epoll.c, ring_wake.c), -1 if none */
	struct emu_obj *next;      /* session table chain */
};

/* What the supervisor keeps of a program it loaded (emu_obj.priv of a prog). */
struct jit_prog;
struct emu_prog_priv {
	struct jit_prog *jp;  /* for PROG_TEST_RUN */
	void *func_info;      /* struct bpf_func_info[func_info_cnt] (registry slot) */
	void *line_info;      /* struct bpf_line_info[line_info_cnt] */
};

/* A pin this bpftime-run made: unlinking its file drops the pin's reference (lifetime.c). */
struct emu_pin {
	int wd;                /* inotify watch of the directory holding it */
	char name[256];        /* file name in that directory */
	enum emu_reg_kind kind;
	uint32_t id;
	struct emu_pin *next;
};

struct emu_session {
	char *dir;         /* session directory */
	char *bpffs_dir;   /* <dir>/bpffs */
	char *tracefs_dir; /* <dir>/tracing */
	char *obj_dir;     /* <dir>/obj */
	char *fd_dir;      /* <dir>/obj/fd: one link per handed-out description (lifetime.c) */
	int lock_fd;       /* flock(LOCK_SH) held while we use the session */
	struct emu_reg_hdr *reg;
	struct emu_obj *objs; /* local cache of objects we hold an fd for */
	int ino_fd;           /* inotify: close events on objects we own (lifetime.c) */
	int fd_dir_wd;        /* its watch on fd_dir */
	struct emu_pin *pins; /* pins we made, watched for removal */
	dev_t obj_devs[3];    /* st_dev of every file an object can be: obj/ files, memfds, sysfs BTF */
	uint32_t uprobe_pmu_type; /* /sys/bus/event_source/devices/uprobe/type */
};

/* registry.c */
int emu_reg_map(struct emu_session *s, int fd, bool init);
struct emu_reg_slot *emu_reg_slot_at(struct emu_session *s, uint32_t i);
/* Claim a slot and an id for a new object of @kind; the slot is CLAIMED until published. */
int emu_reg_claim(struct emu_session *s, enum emu_reg_kind kind, struct emu_reg_slot **out);
void emu_reg_publish(struct emu_session *s, struct emu_reg_slot *slot);
void emu_reg_release(struct emu_session *s, struct emu_reg_slot *slot);
struct emu_reg_slot *emu_reg_find_id(struct emu_session *s, enum emu_reg_kind kind, uint32_t id);
struct emu_reg_slot *emu_reg_find_ino(struct emu_session *s, uint64_t dev, uint64_t ino);
/* The smallest live id of @kind greater than @id, or 0. */
uint32_t emu_reg_next_id(struct emu_session *s, enum emu_reg_kind kind, uint32_t id);
void emu_reg_write_begin(struct emu_reg_slot *slot);
void emu_reg_write_end(struct emu_session *s, struct emu_reg_slot *slot);
/* A change agents must apply that no slot shows (a prog array slot): bump the generation, wait for them. */
void emu_reg_changed_wait(struct emu_session *s);

/* agent_wait.c: the agents (hooks/agent_proto.h) */
void emu_agents_wake(struct emu_session *s);

/*
 * The ring waker (ring_wake.c): make @o's wake_fd (an eventfd, created by
 * the caller) signal when the ring's producers wake its consumer; arms it
 * for an epoll_ctl(ADD) that follows (readable iff data is unread).
 * 0, -EPERM (not a ring), -ENOMEM, -errno. unwatch: before @o is freed.
 */
int emu_ring_wake_watch(struct emu_obj *o);
void emu_ring_wake_unwatch(const struct emu_obj *o);
/* Wake the agents and wait (bounded) until each live one applied the current generation. */
void emu_agents_wait(struct emu_session *s);

/* fdtable.c: target fds <-> objects */
/*
 * Create the backing file of a new object and publish it. On success *out is
 * owned by the session table. @size: initial size of the backing file.
 */
int emu_obj_new(struct emu_session *s, enum emu_reg_kind kind, const char *name, uint32_t type,
		const void *data, size_t data_sz, size_t file_sz, struct emu_obj **out);
/* The object behind target fd @tfd; -EBADF for a closed fd, -EINVAL if not of @kind (0: any bpftime object). */
int emu_fd_lookup(struct emu_session *s, const struct emu_target *t, int tfd, enum emu_reg_kind kind,
		  struct emu_obj **out);
int emu_obj_adopt(struct emu_session *s, enum emu_reg_kind kind, int fd, const char *name, uint32_t type,
		  struct emu_obj **out);
/* The same with a slot already claimed (its id was needed first). */
int emu_obj_adopt_slot(struct emu_session *s, struct emu_reg_slot *slot, int fd, const char *name, uint32_t type,
		       struct emu_obj **out);
/* The object with @id; -ENOENT if none. */
int emu_obj_by_id(struct emu_session *s, enum emu_reg_kind kind, uint32_t id, struct emu_obj **out);
/* lifetime.c */
int emu_life_init(struct emu_session *s);
/* A new open file description of @o, counted in fd_cnt when it can be tracked. */
int emu_obj_open_tracked(struct emu_session *s, struct emu_obj *o, int flags);
/* Reply with such a description for the target. */
int emu_obj_reply_fd(struct emu_session *s, struct emu_obj *o, bool cloexec, struct emu_reply *r);
void emu_obj_get(struct emu_obj *o);
/* Record a pin at @path (a file in the session's bpffs tree) holding a reference on @o. */
int emu_pin_watch(struct emu_session *s, struct emu_obj *o, const char *path);
void emu_pins_free(struct emu_session *s);
void emu_obj_put(struct emu_session *s, struct emu_obj *o);
const char *emu_kind_name(enum emu_reg_kind kind);
void emu_link_detach(struct emu_session *s, struct emu_obj *link);
void emu_objs_free(struct emu_session *s);

/* helpers shared by command files */
int emu_copy_name(char dst[16], const char src[16]); /* bpf_obj_name_cpy(): -EINVAL on bad chars */
uint64_t emu_now_boottime_ns(void);

/* Command families: each takes the zero-extended attr copy and fills *r. */
int emu_map_cmd(struct emu_session *s, const struct emu_target *t, int cmd, union bpf_attr *attr,
		uint64_t uattr, struct emu_reply *r);
/* map_cmds.c: the 64-bit value an ld_imm64 map reference has in the supervisor. */
int emu_map_ld_imm64(struct emu_session *s, struct emu_obj *m, const struct bpf_insn insn[2], uint64_t *value);
/* map_cmds.c: the perf event id in a PERF_EVENT_ARRAY slot (idx UINT32_MAX: current CPU);
 * 0, -E2BIG (index), -ENOENT (empty), -EINVAL (not a perf event array). */
int emu_map_perf_slot(void *map, uint32_t idx, uint32_t *id);
/* map_cmds.c: the map helpers of maps/ in the supervisor's helper table. */
#include "jit/jit.h"
void emu_map_helpers_fill(jit_helper_fn *table, uint32_t cnt);
/* map_cmds.c: drop what a map holds (PERF_EVENT_ARRAY's perf events) before it is freed. */
void emu_map_release(struct emu_session *s, struct emu_obj *o);
int emu_prog_load(struct emu_session *s, const struct emu_target *t, union bpf_attr *attr, struct emu_reply *r);
int emu_prog_ensure_loaded(struct emu_session *s, struct emu_obj *o);
int emu_prog_test_run(struct emu_session *s, const struct emu_target *t, union bpf_attr *attr,
		      uint64_t uattr, struct emu_reply *r);
int emu_prog_bind_map(struct emu_session *s, const struct emu_target *t, union bpf_attr *attr,
		      struct emu_reply *r);
int emu_obj_cmd(struct emu_session *s, const struct emu_target *t, int cmd, union bpf_attr *attr,
		uint64_t uattr, struct emu_reply *r);
int emu_btf_load(struct emu_session *s, const struct emu_target *t, union bpf_attr *attr, struct emu_reply *r);
int emu_btf_vmlinux(struct emu_session *s, struct emu_obj **out);
int emu_btf_init_vmlinux(struct emu_session *s);
int emu_link_cmd(struct emu_session *s, const struct emu_target *t, int cmd, union bpf_attr *attr,
		 struct emu_reply *r);
int emu_info_by_fd(struct emu_session *s, const struct emu_target *t, union bpf_attr *attr, uint64_t uattr,
		   struct emu_reply *r);
int emu_perf_event_open(struct emu_session *s, const struct emu_target *t, const uint64_t args[6],
			struct emu_reply *r);
int emu_perf_ioctl(struct emu_session *s, const struct emu_target *t, const uint64_t args[6],
		   struct emu_reply *r);
int emu_epoll_ctl(struct emu_session *s, const struct emu_target *t, const uint64_t args[6],
		  struct emu_reply *r);

int emu_perf_attach(struct emu_session *s, struct emu_obj *perf, struct emu_obj *prog, uint32_t link_id,
		    uint64_t cookie);

/* raw_tp.c: BPF_RAW_TRACEPOINT_OPEN; the raw_tracepoint part of bpf_link_info (tp_name is a
 * pointer into the target): 0, -EINVAL, -EFAULT or -ENOSPC (name cut, as the kernel). */
int emu_raw_tp_open(struct emu_session *s, const struct emu_target *t, union bpf_attr *attr,
		    struct emu_reply *r);
int emu_raw_tp_link_info(const struct emu_target *t, const struct emu_obj *link, struct bpf_link_info *info);
/* uprobe_multi.c: LINK_CREATE(BPF_TRACE_UPROBE_MULTI) for @prog (a KPROBE program); the
 * uprobe_multi part of a 64-byte (6.6+) bpf_link_info: 0 or -EINVAL, -EFAULT, -ENOSPC, -ENAMETOOLONG. */
int emu_uprobe_multi_attach(struct emu_session *s, const struct emu_target *t, union bpf_attr *attr,
			    struct emu_obj *prog, struct emu_reply *r);
int emu_uprobe_multi_link_info(const struct emu_target *t, const struct emu_obj *link, void *info_buf);

/* obj_cmds.c: statfs(2) on /sys/fs/bpf answers BPF_FS_MAGIC. */
int emu_statfs(struct emu_session *s, const struct emu_target *t, const uint64_t args[6], struct emu_reply *r);

/* perf_ring.c: the kernel's perf ring, producer side. */
int emu_perf_ring_learn_size(struct emu_session *s, struct emu_obj *o, pid_t pid);
int emu_perf_ring_output(struct emu_obj *o, const void *data, uint32_t size);

/* tracefs.c */
int emu_tracefs_prepare(struct emu_session *s);
/* Tracepoint id -> is it one we serve? */
bool emu_tracefs_id_known(uint64_t id);

#endif /* EMUL_EMUL_INT_H */
