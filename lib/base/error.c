/*
 * error.c: the error table and the per-thread detailed message.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/util.h"

/* Detailed message of the thread's last failure; see prdshm_last_error().
 * Valid while prdshm__error_set says so. */
static _Thread_local char last_error[512];
__thread unsigned char prdshm__error_set __attribute__((tls_model("initial-exec")));

const char *prdshm_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
#define XX(name, val, msg) \
	case val:          \
		return msg;
		PRDSHM_ERRNO_MAP(XX)
#undef XX
	}
	return "unknown error";
}

const char *prdshm_err_name(int err)
{
	switch (err) {
	case 0:
		return "PRDSHM_OK";
#define XX(name, val, msg) \
	case val:          \
		return "PRDSHM_" #name;
		PRDSHM_ERRNO_MAP(XX)
#undef XX
	}
	return "PRDSHM_UNKNOWN";
}

const char *prdshm_last_error(void)
{
	return prdshm__error_set ? last_error : "";
}

void prdshm__error_save(struct prdshm__saved_error *e)
{
	_Static_assert(sizeof(e->msg) == sizeof(last_error), "the whole message is kept");
	e->set = prdshm__error_set;
	if (e->set)
		memcpy(e->msg, last_error, sizeof(last_error));
}

void prdshm__error_restore(const struct prdshm__saved_error *e)
{
	if (e->set)
		memcpy(last_error, e->msg, sizeof(last_error));
	prdshm__error_set = e->set;
}

int prdshm__fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	prdshm__error_set = 1;
	return err;
}

int prdshm__fail_errno(int err_default, const char *fmt, ...)
{
	int saved = errno;
	int err = err_default;
	size_t len;
	va_list ap;

	if (saved == EACCES || saved == EPERM)
		err = PRDSHM_EACCES;
	else if (saved == ENOENT)
		err = PRDSHM_ENOENT;
	else if (saved == EEXIST)
		err = PRDSHM_EEXIST;
	else if (saved == ENOMEM)
		err = PRDSHM_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	len = strlen(last_error);
	snprintf(last_error + len, sizeof(last_error) - len, ": %s", strerror(saved));
	prdshm__error_set = 1;
	errno = saved;
	return err;
}

uint64_t prdshm__now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t prdshm__now_real_coarse(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t prdshm__now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void prdshm__strlcpy(char *dst, const char *src, size_t size)
{
	size_t n;

	if (size == 0)
		return;
	n = src ? strnlen(src, size - 1) : 0;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

int prdshm__valid_id(const char *id)
{
	size_t n;

	if (id == NULL)
		return 0;
	n = strnlen(id, PRDSHM_ID_MAX + 1);
	if (n == 0 || n > PRDSHM_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (c <= ' ' || c >= 0x7f)
			return 0;
	}
	return 1;
}

const char *prdshm_phase_status_name(int status)
{
	static const char *const names[PRDSHM_PHASE_NSTATUS] = {
		"NOT_STARTED", "QUEUED",  "IN_PROGRESS", "COMPLETED",
		"FAILED",      "BLOCKED", "SKIPPED",     "CANCELLED",
	};
	if (status < 0 || status >= PRDSHM_PHASE_NSTATUS)
		return NULL;
	return names[status];
}

const char *prdshm_agent_status_name(int status)
{
	static const char *const names[] = { "IDLE", "BUSY", "EXITED", "DEAD" };
	if (status < 0 || status > PRDSHM_AGENT_DEAD)
		return NULL;
	return names[status];
}

const char *prdshm_mode_name(int mode)
{
	if (mode == PRDSHM_SHARED)
		return "shared";
	if (mode == PRDSHM_EXCLUSIVE)
		return "exclusive";
	return NULL;
}
