/*
 * prdshm-create: create the segment from the configuration and load the
 * plan of phases.  See docs/man/prdshm-create.1.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: prdshm-create [options]\n"
		"Create the shared-memory segment sized from the configuration and load\n"
		"its plan of phases.\n"
		"\n"
		"  -c, --config FILE   read FILE instead of ./prdpar.yaml\n"
		"      --name NAME     segment name (overrides PRD_PARALLEL_SHM_NAME and\n"
		"                      shm_name from the file; default /prdpar)\n"
		"      --force         replace an existing segment if no live agent uses it\n"
		"      --print-config  print the effective configuration and where each\n"
		"                      value came from, then exit\n"
		"  -q, --quiet         print nothing on success\n"
		"  -v, --verbose       say more\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n"
		"\n"
		"Exit status: 0 created (or configuration printed); 65 invalid\n"
		"configuration; 73 the segment exists (with --force: live agents use it);\n"
		"74 no room in /dev/shm; 77 permission denied or segment not trusted;\n"
		"64 usage; 70 internal error.\n");
}

static const tool_optdef create_optdefs[] = {
	TOOL_OPT_SET("force", 0, struct create_opts, force, 1),
	TOOL_OPT_SET("print-config", 0, struct create_opts, print_config, 1),
	{ 0 },
};

int create_parse(int argc, char **argv, struct create_opts *o, int silent)
{
	memset(o, 0, sizeof(*o));
	o->tc.silent = silent;
	return tool_getopt(&o->tc, argc, argv, TOOL_C_IS_CONFIG | TOOL_NO_OPERANDS,
			   create_optdefs, o);
}

static const char *origin_name(prdshm_origin o)
{
	static const char *const names[] = { "default", "file", "environment", "command line" };

	return o <= PRDSHM_FROM_CMDLINE ? names[o] : "?";
}

/* One "key: value  # origin" line per key: valid YAML, readable. */
static int print_config(const prdshm_config *cfg)
{
	const char *const *keys = prdshm_config_keys();
	char val[1100]; /* zookeeper.hosts: up to 1023 bytes */
	int line, col;

	for (size_t i = 0; keys[i]; i++) {
		prdshm_origin o = prdshm_config_origin(cfg, keys[i], &line, &col);

		if (prdshm_config_get(cfg, keys[i], val, sizeof(val)) != 0)
			return tool_fail(PRDSHM_EINVAL, "print configuration");
		printf("%s: %s  # %s", keys[i], val, origin_name(o));
		if (o == PRDSHM_FROM_FILE && cfg->path_)
			printf(" %s:%d:%d", cfg->path_, line, col);
		if (o == PRDSHM_FROM_ENV) {
			printf(" PRD_PARALLEL_");
			for (const char *k = keys[i]; *k; k++)
				putchar(*k >= 'a' && *k <= 'z' ? *k - 'a' + 'A' : *k == '.' ? '_' : *k);
		}
		putchar('\n');
	}
	printf("# phases: %zu", cfg->nphases);
	if (cfg->nphases && cfg->path_)
		printf(" from %s", cfg->path_);
	putchar('\n');
	return TOOL_EXIT_OK;
}

/*
 * Whether the object under @p name is no prdshm segment, not even one being
 * created (a creator sizes it, then writes the magic last, so its bytes are
 * zeros until then): some bytes that are not the magic.  @p what describes
 * it ("17 bytes starting \"my data\"").
 */
static int foreign_object(const char *name, char *what, size_t size)
{
	static const char magic[8] = "PRDSHM01";
	unsigned char head[16] = { 0 };
	struct stat st;
	ssize_t n = -1;
	int fd = shm_open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	int zeros = 1;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		n = pread(fd, head, sizeof(head), 0);
	close(fd);
	if (n <= 0 || memcmp(head, magic, n < 8 ? (size_t)n : 8) == 0)
		return 0;
	for (ssize_t i = 0; i < n; i++) {
		zeros &= head[i] == 0;
		if (head[i] < ' ' || head[i] > '~')
			head[i] = '.';
	}
	if (zeros)
		return 0;
	snprintf(what, size, "%lld bytes starting \"%.*s\"", (long long)st.st_size, (int)n,
		 (const char *)head);
	return 1;
}

/*
 * --force: replace an existing segment only when no live agent is attached.
 * The library checks and removes under the session mutex, so no agent can
 * attach in between.  A segment we cannot read (not ours, another version,
 * corrupt) has no agents we could see, and --force says the user wants it
 * gone.
 */
static int replace_existing(const prdshm_config *cfg)
{
	int r = prdshm_seg_unlink_unused_cfg(cfg);

	/* Never silently: the object may be someone's data under a clashing
	 * name.  (Another user's object is refused by the library: EPERM.) */
	/* EPERM: ours but with a mode that lets others in (the removal
	 * refuses another user's object). */
	if (r == PRDSHM_ENOTSEG || r == PRDSHM_EVERSION || r == PRDSHM_ECORRUPT ||
	    r == PRDSHM_EPERM) {
		char what[160];

		if (foreign_object(cfg->shm_name, what, sizeof(what)))
			tool_err("replacing %s, which is not a usable segment: it is not a prdshm "
				 "segment at all but %s: someone's data under a clashing name?",
				 cfg->shm_name, what);
		else
			tool_err("replacing %s, which is not a usable segment: %s", cfg->shm_name,
				 prdshm_last_error());
		r = tool_seg_remove(cfg, 1);
	}
	if (r == PRDSHM_EINUSE) {
		tool_err("%s: segment already exists and %s", cfg->shm_name, prdshm_last_error());
		return TOOL_EXIT_EXISTS;
	}
	if (r && r != PRDSHM_ENOENT)
		return tool_fail(r, "remove segment %s", cfg->shm_name);
	tool_verbose("removed the old segment %s", cfg->shm_name);
	return TOOL_EXIT_OK;
}

static void print_created(prdshm_seg *seg, const prdshm_config *cfg)
{
	prdshm_snapshot *snap = NULL;
	prdshm_seg_info si = PRDSHM_SEG_INFO_INIT;

	if (tool_verbosity < 0)
		return;
	prdshm_seg_info_get(seg, &si);
	if (tool_is_zookeeper(cfg)) {
		/* Nothing is mapped: where it is says more than its 0 bytes. */
		char hosts[1024] = "", root[512] = "";

		prdshm_config_get(cfg, "zookeeper.hosts", hosts, sizeof(hosts));
		prdshm_config_get(cfg, "zookeeper.root", root, sizeof(root));
		printf("created %s on ZooKeeper %s (root %s): max_locks=%u max_phases=%u "
		       "max_agents=%u\n",
		       si.shm_name, hosts, root, (unsigned)si.max_locks, (unsigned)si.max_phases,
		       (unsigned)si.max_agents);
	} else {
		printf("created %s: %llu bytes, max_locks=%u max_phases=%u max_agents=%u\n",
		       si.shm_name, (unsigned long long)si.size, (unsigned)si.max_locks,
		       (unsigned)si.max_phases, (unsigned)si.max_agents);
	}
	if (prdshm_snapshot_take(seg, 0, &snap) != 0) {
		printf("phases: %zu\n", cfg->nphases);
		return;
	}
	printf("phases: %zu in %zu wave%s (%s scheduling)\n", snap->nphases, snap->nwaves,
	       snap->nwaves == 1 ? "" : "s",
	       si.scheduling == PRDSHM_SCHED_EAGER ? "eager" : "waves");
	for (size_t w = 0; w < snap->nwaves; w++) {
		printf("  wave %u:", (unsigned)snap->waves[w].number);
		for (size_t i = 0; i < snap->nphases; i++)
			if (snap->phases[i].wave == snap->waves[w].number)
				printf(" %s", snap->phases[i].id);
		putchar('\n');
	}
	prdshm_snapshot_free(snap);
}

int main(int argc, char **argv)
{
	struct create_opts o;
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	int rc;

	tool_init("prdshm-create");
	prdshm_config_init(&cfg);
	rc = tool_start(create_parse(argc, argv, &o, 0), &o.tc, usage, &cfg, NULL);
	if (rc != TOOL_CONTINUE)
		goto out;
	if (o.print_config) {
		rc = print_config(&cfg);
		goto out;
	}
	rc = prdshm_seg_create(&cfg, &seg);
	if (rc == PRDSHM_EEXIST && o.force) {
		rc = replace_existing(&cfg);
		if (rc)
			goto out;
		rc = prdshm_seg_create(&cfg, &seg);
	}
	if (rc == PRDSHM_EEXIST && !o.force) {
		tool_err("create segment %s: segment already exists (--force replaces it)",
			 cfg.shm_name);
		rc = TOOL_EXIT_EXISTS;
		goto out;
	}
	if (rc) {
		rc = tool_fail(rc, "create segment %s", cfg.shm_name);
		goto out;
	}
	print_created(seg, &cfg);
	prdshm_seg_close(seg);
out:
	prdshm_config_free(&cfg);
	return rc;
}
