/*
 * map_shm.h - private to maps/: the shared file behind a map (maps/shm.c).
 */
#ifndef MAPS_MAP_SHM_H
#define MAPS_MAP_SHM_H

#include <stdbool.h>
#include <stdint.h>

#include "maps/maps_int.h"

/* Create, size, commit (if @prealloc), seal and map a new map file. */
int map_shm_create(const char *name, uint64_t file_sz, bool prealloc, int *fd_out, void **base_out);
/* Check that @fd is a sealed map file with a sane header and map it (*fd_out = -1: not kept). */
int map_shm_open(int fd, int *fd_out, void **base_out, uint64_t *file_sz_out);
void map_shm_unmap(void *base, uint64_t file_sz);

#endif /* MAPS_MAP_SHM_H */
