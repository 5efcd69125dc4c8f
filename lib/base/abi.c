/*
 * abi.c: the library's version and the size-prefixed structs of the
 * public API (see "ABI" at the top of prdshm.h).
 */
#include <string.h>

#include "base/abi.h"
#include "base/util.h"

/*
 * The Makefile reads the version from prdshm.h and passes it back with -D:
 * a build whose flags disagree with the header it compiles against (a
 * stale build directory, a sed that stopped matching) does not compile.
 */
#ifdef PRDSHM_BUILD_VERSION_MAJOR
#if PRDSHM_BUILD_VERSION_MAJOR != PRDSHM_VERSION_MAJOR || \
	PRDSHM_BUILD_VERSION_MINOR != PRDSHM_VERSION_MINOR || \
	PRDSHM_BUILD_VERSION_PATCH != PRDSHM_VERSION_PATCH
#error "the Makefile's version flags disagree with lib/prdshm.h"
#endif
#endif

#define PRDSHM__STR(x) #x
#define PRDSHM__XSTR(x) PRDSHM__STR(x)

const char *prdshm_version(void)
{
	return PRDSHM__XSTR(PRDSHM_VERSION_MAJOR) "." PRDSHM__XSTR(PRDSHM_VERSION_MINOR) "."
		PRDSHM__XSTR(PRDSHM_VERSION_PATCH);
}

int prdshm_version_number(void)
{
	return PRDSHM_VERSION_NUMBER;
}

uint32_t prdshm__abi_size(const void *p)
{
	return prdshm__load32(p);
}

int prdshm__abi_check(const void *p, size_t min, const char *type, const char *fn)
{
	uint32_t size = prdshm__abi_size(p);

	if (size >= min && size <= PRDSHM_STRUCT_SIZE_MAX)
		return 0;
	if (size > PRDSHM_STRUCT_SIZE_MAX)
		return prdshm__fail(PRDSHM_EINVAL,
				    "%s: %s.struct_size is %u, more than any version's %u bytes: "
				    "it was not initialised (see \"ABI\" in prdshm.h)",
				    fn, type, (unsigned)size, (unsigned)PRDSHM_STRUCT_SIZE_MAX);
	return prdshm__fail(PRDSHM_EINVAL,
			    "%s: %s.struct_size is %u, less than the %zu bytes of its first "
			    "version: set it to sizeof(%s) (see \"ABI\" in prdshm.h)",
			    fn, type, (unsigned)size, min, type);
}

void prdshm__abi_copy_out(void *dst, const void *src, size_t len)
{
	const size_t skip = sizeof(uint32_t); /* struct_size */
	size_t size = prdshm__abi_size(dst);
	size_t n = size < len ? size : len;

	if (n > skip)
		memcpy((char *)dst + skip, (const char *)src + skip, n - skip);
	/* A newer caller's fields that this library does not know: 0. */
	if (size > len)
		memset((char *)dst + len, 0, size - len);
}

void prdshm__abi_clear(void *dst)
{
	const size_t skip = sizeof(uint32_t);
	size_t size = prdshm__abi_size(dst);

	if (size > skip)
		memset((char *)dst + skip, 0, size - skip);
}
