/* uidl_import.c: imported UIDLs into a Maildir's index (uidl_import.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/index.h"
#include "store/maildir_private.h"
#include "store/uidl.h"
#include "store/uidl_import.h"

struct uidl_import_ctx {
	const struct uidl_import_pair *pairs;
	size_t *by_base;  /* pair indexes sorted by base */
	size_t count;
	bool *used;       /* per pair: names a message */
};

static const struct uidl_import_pair *uidl_import_sort_pairs;

/* qsort has no context argument; the import is a short-lived tool's
 * single call, so one module-global pointer is safe. */
static int uidl_import_base_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(uidl_import_sort_pairs[x].base,
		       uidl_import_sort_pairs[y].base);

	/* equal bases: the earlier pair first, so it wins the lookup */
	if (c != 0)
		return c;
	return x < y ? -1 : x > y;
}

/* The first pair (in list order) for base, or SIZE_MAX. */
static size_t uidl_import_find(const struct uidl_import_ctx *ctx,
			       const char *base)
{
	size_t lo = 0, hi = ctx->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(ctx->pairs[ctx->by_base[mid]].base, base) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < ctx->count &&
	    strcmp(ctx->pairs[ctx->by_base[lo]].base, base) == 0)
		return ctx->by_base[lo];
	return SIZE_MAX;
}

/* Message order for the uniqueness pass: imported messages in the old
 * server's order, then the others in the snapshot's. rank[i] is the pair
 * index or SIZE_MAX. */
static const size_t *uidl_import_sort_rank;

static int uidl_import_rank_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	size_t rx = uidl_import_sort_rank[x], ry = uidl_import_sort_rank[y];

	if (rx != ry)
		return rx < ry ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Computes the new UIDLs into uidls (one MAILDROP_UIDL_MAX + 1 buffer per
 * message), counting into st. Returns 0 or -1 (out of memory). */
static int uidl_import_compute(struct maildir *md, struct uidl_import_ctx *ctx,
			       char (*uidls)[MAILDROP_UIDL_MAX + 1],
			       struct uidl_import_stats *st)
{
	size_t n = md->files_count, i, *rank, *order;
	struct uidl_set set = { 0 };
	int ret = -1;

	rank = calloc(n + 1, sizeof(*rank));
	order = calloc(n + 1, sizeof(*order));
	if (rank == NULL || order == NULL || uidl_set_init(&set, n) < 0)
		goto out_free;
	for (i = 0; i < n; i++) {
		size_t j = uidl_import_find(ctx, md->files[i].base);
		const char *uidl = md->drop.msgs[i].uidl;

		/* the index cannot hold this name (a space, a control
		 * byte: docs/store.md): its UIDL could not be kept */
		if (j != SIZE_MAX && !index_key_is_valid(md->files[i].base)) {
			ctx->used[j] = true;
			st->unstorable++;
			j = SIZE_MAX;
		}
		rank[i] = j;
		order[i] = i;
		if (j != SIZE_MAX) {
			ctx->used[j] = true;
			uidl = ctx->pairs[j].uidl;
			st->imported++;
		}
		memcpy(uidls[i], uidl, strlen(uidl) + 1);
	}
	uidl_import_sort_rank = rank;
	qsort(order, n, sizeof(*order), uidl_import_rank_cmp);
	for (i = 0; i < n; i++) {
		char *id = uidls[order[i]];

		if (!uidl_set_add(&set, id)) {
			uidl_set_add_unique(&set, id);
			st->renamed++;
		}
	}
	for (i = 0; i < ctx->count; i++)
		st->unmatched += !ctx->used[i];
	ret = 0;
out_free:
	uidl_set_deinit(&set);
	free(rank);
	free(order);
	return ret;
}

/* Drops the pairs whose UIDL could never be sent (RFC 1939 7.: 1-70
 * octets of 0x21-0x7E) or whose base is empty. Returns the kept count. */
static size_t uidl_import_valid_pairs(const struct uidl_import_pair *pairs,
				      size_t count, size_t *by_base,
				      struct uidl_import_stats *st)
{
	size_t i, kept = 0;

	for (i = 0; i < count; i++) {
		if (pairs[i].base[0] == '\0' ||
		    !uidl_is_valid(pairs[i].uidl, strlen(pairs[i].uidl))) {
			st->invalid++;
			continue;
		}
		by_base[kept++] = i;
	}
	return kept;
}

int uidl_import_maildir(const struct maildrop_settings *set,
			const struct uidl_import_pair *pairs, size_t count,
			bool dry_run, struct uidl_import_stats *stats_r,
			const char **error_r)
{
	struct uidl_import_ctx ctx = { .pairs = pairs };
	char (*uidls)[MAILDROP_UIDL_MAX + 1] = NULL;
	struct maildrop *drop = NULL;
	struct maildir *md;
	size_t i;
	int ret;

	memset(stats_r, 0, sizeof(*stats_r));
	if (set->kind != MAILDROP_MAILDIR || set->create) {
		*error_r = "UIDLs can only be imported into an existing "
			   "Maildir";
		return MAILDROP_PERM;
	}
	ctx.by_base = calloc(count + 1, sizeof(*ctx.by_base));
	ctx.used = calloc(count + 1, sizeof(*ctx.used));
	if (ctx.by_base == NULL || ctx.used == NULL) {
		*error_r = "out of memory";
		ret = MAILDROP_TEMP;
		goto out_free;
	}
	ctx.count = uidl_import_valid_pairs(pairs, count, ctx.by_base,
					    stats_r);
	uidl_import_sort_pairs = pairs;
	qsort(ctx.by_base, ctx.count, sizeof(*ctx.by_base),
	      uidl_import_base_cmp);
	/* the session lock and a snapshot, exactly as a POP3 login */
	ret = maildrop_open(set, &drop, error_r);
	if (ret != MAILDROP_OK)
		goto out_free;
	md = (struct maildir *)drop;
	stats_r->messages = md->files_count;
	uidls = calloc(md->files_count + 1, sizeof(*uidls));
	if (uidls == NULL ||
	    uidl_import_compute(md, &ctx, uidls, stats_r) < 0) {
		*error_r = "out of memory";
		ret = MAILDROP_TEMP;
		goto out_free;
	}
	for (i = 0; i < md->files_count; i++) {
		if (strcmp(uidls[i], md->drop.msgs[i].uidl) == 0)
			continue;
		stats_r->changed++;
		memcpy(md->drop.msgs[i].uidl, uidls[i], sizeof(uidls[i]));
	}
	if (stats_r->changed > 0 && !dry_run) {
		if (maildir_write_index(md, NULL, &md->listing, error_r) < 0) {
			ret = MAILDROP_TEMP;
			goto out_free;
		}
		stats_r->written = true;
	}
	ret = MAILDROP_OK;
out_free:
	maildrop_close(&drop);
	free(uidls);
	free(ctx.by_base);
	free(ctx.used);
	return ret;
}
