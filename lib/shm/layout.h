/*
 * layout.h: the layout descriptor stamped into every segment.
 *
 * A segment is read by every build of prdshm that opens it, so each build
 * must lay out the shared structs exactly as the creator did, and take the
 * mutexes in them by the same protocol.  Like LMDB's MDB_LOCK_FORMAT, the
 * header stores a hash of everything that decides this, and an opener whose
 * own hash differs refuses the segment (PRDSHM_EVERSION).  The hash covers
 *   - the offset and size of every field of every shared struct, and each
 *     struct's size and alignment (so two fields swapped, or a field grown,
 *     is told apart even when the struct's size stays the same);
 *   - the width and value of each constant that sizes an array or is stored
 *     as a value (name limits, state and status numbers, the sentinel
 *     index);
 *   - the platform: byte order, pointer size, the C library's mutex
 *     implementation (PRDSHM__LIBC_TAG) and the operating system.
 *
 * The field lists.  Each shared struct is followed by an X-macro listing its
 * fields, PRDSHM__<STRUCT>_FIELDS(F, S) expanding to F(S, field) for each,
 * in declaration order, and by PRDSHM__LAYOUT_CHECK(), which fails the
 * compilation unless the list names every field exactly once:
 *   - a name that is not a field fails offsetof;
 *   - a name listed twice declares its enumerator twice;
 *   - the listed fields' sizes must add up to sizeof the struct.  Fields
 *     never overlap, so this holds only if no field is left out and the
 *     struct has no implicit padding.
 * The last rule is why shared structs spell their padding out as pad_
 * fields: a field added into implicit padding would change neither the
 * struct's size nor any listed offset, so nothing could catch it.  The
 * price is that whoever adds a field adjusts a pad_ (the compiler says so).
 * Declaring the structs from the lists instead would make forgetting
 * impossible too, but would move every field and its comment into a macro.
 *
 * A field's type is not in the hash, only its size: uint32_t changed to
 * int32_t, or a field's meaning changed, needs a new PRDSHM__FORMAT.
 */
#ifndef PRDSHM_INTERNAL_LAYOUT_H
#define PRDSHM_INTERNAL_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* For a field list: one field's offset and size, as hash input. */
#define PRDSHM__FIELD_FACTS(S, f) \
	(uint64_t)offsetof(struct S, f), (uint64_t)sizeof(((struct S *)0)->f),

/* A struct's size, alignment and every listed field's offset and size. */
#define PRDSHM__STRUCT_FACTS(S, LIST) \
	(uint64_t)sizeof(struct S), (uint64_t)_Alignof(struct S), LIST(PRDSHM__FIELD_FACTS, S)

/* For a list of constants: one constant's width and value. */
#define PRDSHM__CONST_FACTS(c) (uint64_t)sizeof(c), (uint64_t)(c),

#define PRDSHM__FIELD_SIZE(S, f) +sizeof(((struct S *)0)->f)
#define PRDSHM__FIELD_ENUM(S, f) prdshm__listed_##S##_##f,

/* Fail the build unless LIST names every field of struct S once, and S has
 * no implicit padding (see above). */
#define PRDSHM__LAYOUT_CHECK(S, LIST)                                               \
	enum { LIST(PRDSHM__FIELD_ENUM, S) };                                       \
	_Static_assert(0 LIST(PRDSHM__FIELD_SIZE, S) == sizeof(struct S),           \
		       "struct " #S ": its field list must name every field, and its " \
		       "padding must be spelled out as pad_ fields (lib/shm/layout.h)")

/*
 * The C library's mutex implementation.  Every segment mutex is a robust,
 * process-shared pthread_mutex_t, taken and released by whichever library
 * each process links: all of them must agree on what the 40 opaque bytes
 * mean.  glibc and musl do not (glibc keeps the lock word, holding the owner's
 * thread id and the FUTEX_WAITERS / FUTEX_OWNER_DIED bits, first; musl keeps
 * the type first and its lock word and robust-list links elsewhere), though
 * on x86-64 both are 40 bytes: only a tag can tell them apart.  robust.h also
 * reads glibc's lock word itself.
 *
 * The tag names the protocol, not the library's version.  glibc's robust
 * mutex protocol (the lock word above, the __kind encoding, the kernel's
 * robust list with its futex_offset) has been the same since robust mutexes
 * came to NPTL: struct pthread_mutex_t is part of glibc's ABI, its static
 * initialisers are compiled into programs, and the kernel side is a system
 * call ABI.  A version in the tag would refuse a segment after every glibc
 * update, even while processes of both versions interoperate correctly.
 * uClibc-ng defines __GLIBC__ but has its own NPTL port, so it is tested
 * first.  musl defines no macro of its own (on purpose): it falls into
 * "other", which still differs from glibc, the case that matters on Linux.
 * Two other C libraries are told apart only if their layouts differ; a
 * packager who builds for one can set PRDSHM_LIBC_TAG (a string) instead.
 * If prdshm__mutex_init() ever changes the attributes (priority inheritance
 * uses another futex protocol), bump PRDSHM__FORMAT.
 */
#if defined(PRDSHM_LIBC_TAG)
#define PRDSHM__LIBC_TAG PRDSHM_LIBC_TAG
#elif defined(__UCLIBC__)
#define PRDSHM__LIBC_TAG "uclibc-nptl"
#elif defined(__GLIBC__)
#define PRDSHM__LIBC_TAG "glibc-nptl-robust"
#elif defined(__BIONIC__)
#define PRDSHM__LIBC_TAG "bionic"
#else
#define PRDSHM__LIBC_TAG "other"
#endif

/* The kernel side of the mutexes (futexes and the robust list on Linux). */
#if defined(__linux__)
#define PRDSHM__OS_TAG "linux"
#elif defined(__FreeBSD__)
#define PRDSHM__OS_TAG "freebsd"
#else
#define PRDSHM__OS_TAG "other"
#endif

#endif
