/*
 * abi.h: the caller's structs whose first field, struct_size, says how many
 * bytes the caller has (see "ABI" at the top of prdshm.h).  Never installed.
 */
#ifndef PRDSHM_INTERNAL_ABI_H
#define PRDSHM_INTERNAL_ABI_H

#include <stddef.h>
#include <stdint.h>

/*
 * 0 if the struct at @p p announces at least @p min bytes in its
 * struct_size; otherwise PRDSHM_EINVAL with a message naming @p type and
 * the function @p fn.  @p p must not be NULL.
 */
int prdshm__abi_check(const void *p, size_t min, const char *type, const char *fn);

/* The struct_size of the struct at @p p (read bytewise: @p p may be an
 * element of a caller's array whose stride is not a multiple of 4). */
uint32_t prdshm__abi_size(const void *p);

/*
 * Copy the library's struct @p src (@p len bytes, struct_size first) out to
 * the caller's @p dst, whose struct_size was checked: the bytes both know
 * are copied, the caller's bytes past @p len are zeroed, and the caller's
 * struct_size stays.  Nothing past dst's struct_size is written.
 */
void prdshm__abi_copy_out(void *dst, const void *src, size_t len);

/* Zero the caller's struct @p dst except its struct_size. */
void prdshm__abi_clear(void *dst);

#endif
