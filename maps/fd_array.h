/*
 * fd_array.h - private to maps/: the fd-array operations of maps/fd_array.c
 * that ARRAY_OF_MAPS (maps/map_in_map.c) shares, as the kernel's arraymap.c
 * shares them between its fd-array types.
 */
#ifndef MAPS_FD_ARRAY_H
#define MAPS_FD_ARRAY_H

#include "maps/maps_int.h"

int map_fd_array_alloc_check(struct map_params *p);
int map_fd_array_layout(const struct map_params *p, struct map_shm_hdr *hdr, uint64_t *body_sz);
int map_fd_array_attach(struct map *m);
int map_fd_array_sys_lookup(struct map *m, const void *key, void *value, uint64_t flags);
/* Store @id (already validated) in slot *key: BPF_ANY only, -E2BIG past the end, -EBADF for 0. */
int map_fd_array_sys_update(struct map *m, const void *key, const void *value, uint64_t flags);
int map_fd_array_sys_delete(struct map *m, const void *key);
int map_fd_array_get_next_key(struct map *m, const void *key, void *next_key);
int map_fd_array_lookup_batch(struct map *m, struct map_batch *b, bool do_delete);
/* The id in slot @idx (0 if empty or out of range). */
uint32_t map_fd_array_slot(struct map *m, uint32_t idx);

#endif /* MAPS_FD_ARRAY_H */
