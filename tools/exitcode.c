/*
 * exitcode.c: which exit code each library error gives (tool_exit_code),
 * and the error line that goes with it (tool_fail).  See exitcode.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "exitcode.h"
#include "messages.h"
#include "prdshm.h"

int tool_exit_code(int err)
{
	switch (err) {
	case 0:
		return TOOL_EXIT_OK;
	case PRDSHM_EBUSY:
	case PRDSHM_ETIMEDOUT:
	case PRDSHM_EDEADLK:
		return TOOL_EXIT_CONFLICT;
	case PRDSHM_ETRANSITION:
	case PRDSHM_ENOPHASE:
	case PRDSHM_EINUSE:
	case PRDSHM_EHELD:
	case PRDSHM_ENOTHELD:
	case PRDSHM_ELOCKFULL:
	case PRDSHM_EAGENTFULL:
	case PRDSHM_EPHASEFULL:
	case PRDSHM_ENOAGENT:
	case PRDSHM_EWAIT:
	case PRDSHM_EDONE:
		return TOOL_EXIT_REFUSED;
	case PRDSHM_EDEADOWNER:
		return TOOL_EXIT_DEAD;
	case PRDSHM_ENOTSEG:
	case PRDSHM_EVERSION:
	case PRDSHM_ECORRUPT:
	case PRDSHM_ERECOVER:
		return TOOL_EXIT_CORRUPT;
	case PRDSHM_EINVAL:
	case PRDSHM_ENAME:
		return TOOL_EXIT_USAGE;
	case PRDSHM_ECONFIG:
	case PRDSHM_ECYCLE:
	case PRDSHM_EUNKNOWNDEP:
		return TOOL_EXIT_CONFIG;
	case PRDSHM_ENOENT:
		return TOOL_EXIT_NOSEG;
	case PRDSHM_EEXIST:
		return TOOL_EXIT_EXISTS;
	case PRDSHM_ENOSPC:
		return TOOL_EXIT_NOSPACE;
	case PRDSHM_EACCES:
	case PRDSHM_EPERM:
		return TOOL_EXIT_PERM;
	case PRDSHM_ENOTSUP:
	case PRDSHM_EUNREACHABLE:
		return TOOL_EXIT_NOTSUP;
	default: /* ENOMEM, ESYS and anything new */
		return TOOL_EXIT_INTERNAL;
	}
}

int tool_fail(int err, const char *fmt, ...)
{
	/* Copy the detail first: formatting may not call the library, but the
	 * message must not depend on that. */
	char why[512], what[512];
	va_list ap;

	snprintf(why, sizeof(why), "%s",
		 prdshm_last_error()[0] ? prdshm_last_error() : prdshm_strerror(err));
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	tool_err("%s: %s", what, why);
	return tool_exit_code(err);
}
