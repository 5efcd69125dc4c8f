/*
 * confspawn.c: the children of the conformance suites (confspawn.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "confspawn.h"
#include "testutil.h"

/* The configuration a child needs to open the parent's segment. */
static const char *const child_keys[] = { "shm_name", "backend", "zookeeper.hosts",
					  "zookeeper.root", "zookeeper.session_timeout_ms",
					  "zookeeper.auth_file" };

static char self[4096];

pid_t tu_conf_spawn(const prdshm_config *cfg, const char *argv0, const char *prefix,
		    char *const *vars, size_t nvars)
{
	extern char **environ;
	char cvars[8][1200], *envp[512], name[96], a0[64];
	size_t n = 0, k = 0, plen = strlen(prefix);
	pid_t pid;

	for (size_t i = 0; i < sizeof(child_keys) / sizeof(child_keys[0]); i++) {
		char val[1100];
		size_t len;

		CU_ASSERT_EQUAL_FATAL(prdshm_config_get(cfg, child_keys[i], val, sizeof(val)), 0);
		snprintf(name, sizeof(name), "PRD_PARALLEL_%s", child_keys[i]);
		len = strlen(name);
		for (size_t j = 0; j < len; j++)
			name[j] = name[j] == '.' ? '_' : (char)toupper((unsigned char)name[j]);
		snprintf(cvars[k++], sizeof(cvars[0]), "%s=%s", name, val);
	}
	for (size_t i = 0; i < k; i++)
		envp[n++] = cvars[i];
	for (size_t i = 0; i < nvars && n + 1 < sizeof(envp) / sizeof(envp[0]); i++)
		envp[n++] = vars[i];
	for (char **e = environ; *e && n + 1 < sizeof(envp) / sizeof(envp[0]); e++)
		if (strncmp(*e, "PRD_PARALLEL_", 13) != 0 && strncmp(*e, prefix, plen) != 0)
			envp[n++] = *e;
	envp[n] = NULL;
	/* Our path, read rather than exec'd as /proc/self/exe: under valgrind
	 * that is valgrind's tool, while the readlink() it answers for us
	 * names this program (and the child then runs natively). */
	if (self[0] == '\0') {
		ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

		CU_ASSERT_FATAL(len > 0);
		self[len] = '\0';
	}
	snprintf(a0, sizeof(a0), "%s", argv0);
	pid = fork();
	if (pid == 0) {
		char *const argv[] = { a0, NULL };

		execve(self, argv, envp);
		_exit(127);
	}
	CU_ASSERT_FATAL(pid > 0);
	return pid;
}
