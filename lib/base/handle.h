/*
 * handle.h: what every backend's segment and session handle starts with,
 * so that the public entry points (lib/api/) find the backend that made a
 * handle (struct prdshm__backend, lib/api/backend.h).
 */
#ifndef PRDSHM_INTERNAL_HANDLE_H
#define PRDSHM_INTERNAL_HANDLE_H

struct prdshm__backend;

struct prdshm__handle {
	const struct prdshm__backend *backend;
};

#endif
