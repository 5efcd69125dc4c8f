/*
 * json_out.h: the tools' JSON documents (jansson), as docs/json-schema.md
 * describes them: strings from untrusted bytes, times, a phase, the whole
 * inspection document, and printing one.
 */
#ifndef PRDSHM_TOOLS_JSON_OUT_H
#define PRDSHM_TOOLS_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "prdshm.h"
#include "problems.h"

/**
 * A JSON string from @p len bytes that may be anything but NUL.  Valid UTF-8
 * is kept as is (jansson escapes control characters); each byte that is not
 * part of a valid UTF-8 sequence becomes U+FFFD.  Never returns NULL unless
 * out of memory.  @param lossy set to 1 if a byte was replaced (may be NULL).
 */
json_t *tool_json_bytes(const char *s, size_t len, int *lossy);
/** The same for a NUL-terminated string; NULL @p s gives JSON null. */
json_t *tool_json_str(const char *s);
/** A CLOCK_REALTIME time as "2024-05-01T12:00:00.123Z"; 0 gives null. */
json_t *tool_json_time(uint64_t ns);

/** One phase as documented in docs/json-schema.md. */
json_t *tool_json_phase(const prdshm_phase_info *p, uint64_t now_ns);

/**
 * The whole inspection document: {segment, agents, locks, phases, waves,
 * problems}.  @p pb may be NULL (problems is then []).
 */
json_t *tool_json_snapshot(const prdshm_snapshot *snap, const tool_problems *pb);

/**
 * Name the backend of @p cfg in @p doc's "segment": "backend" ("shm" or
 * "zookeeper") and, for ZooKeeper, "zookeeper": {"hosts", "root"}.
 */
void tool_json_backend(json_t *doc, const prdshm_config *cfg);

/**
 * Print @p doc on @p out followed by a newline: indented, or on one line
 * with @p compact.  @return 0, or -1 if writing failed.
 */
int tool_json_print(json_t *doc, FILE *out, int compact);

#endif
