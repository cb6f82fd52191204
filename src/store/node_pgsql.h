/* node_pgsql.h: node heartbeats in PostgreSQL (node_pgsql.c; node.h
 * decides when they are used). */
#ifndef SATCHEL_NODE_PGSQL_H
#define SATCHEL_NODE_PGSQL_H

#include "store/node.h"

/* Loads libpq (util/libpq_load.h), once: in node_init, before the
 * master forks, so no sandboxed child has to open a library. 0, or -1
 * with *error_r. */
int node_pgsql_load(const char **error_r);

/* The master's beat: upserts this node's row (beat = the database's
 * now()), making the table when missing, within wait_ms. Returns 0, or
 * -1 with *error_r (the connection is dropped and made again at the
 * next beat). */
int node_pgsql_beat(const char *conninfo, const char *node_id,
		    const char *boot, const char *instance, unsigned wait_ms,
		    const char **error_r);

/* What the row of peer says of a lock naming boot and instance ("-": a
 * tool that does not beat): NODE_DEAD when older than timeout_secs on
 * the database's clock or of another boot or instance, NODE_ALIVE, or
 * NODE_UNKNOWN (no row, or no answer within wait_ms). */
enum node_verdict node_pgsql_judge(const char *conninfo, const char *peer,
				   const char *boot, const char *instance,
				   unsigned timeout_secs, unsigned wait_ms);

#endif
