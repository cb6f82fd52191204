/* uidl.c: UIDL validity, digests and uniqueness (uidl.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "store/uidl.h"
#include "util/strhash.h"

bool uidl_is_valid(const char *text, size_t len)
{
	size_t i;

	if (len < 1 || len > MAILDROP_UIDL_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x21 || c > 0x7e)
			return false;
	}
	return true;
}

int uidl_digest(const struct iovec *parts, size_t count, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	EVP_MD_CTX *ctx;
	size_t i;
	int ret = -1;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -1;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out_free;
	for (i = 0; i < count; i++) {
		uint64_t len = parts[i].iov_len;

		if (EVP_DigestUpdate(ctx, &len, sizeof(len)) != 1 ||
		    EVP_DigestUpdate(ctx, parts[i].iov_base,
				     parts[i].iov_len) != 1)
			goto out_free;
	}
	if (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 ||
	    md_len < UIDL_DIGEST_HEX / 2)
		goto out_free;
	for (i = 0; i < UIDL_DIGEST_HEX / 2; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[UIDL_DIGEST_HEX] = '\0';
	ret = 0;
out_free:
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* ids are short and not chosen to attack a hash table we never
 * grow beyond the snapshot (a bad distribution only costs time). */
static size_t uidl_hash(const char *id)
{
	return (size_t)strhash(id);
}

int uidl_set_init(struct uidl_set *set, size_t expected)
{
	size_t size = 16;

	while (size < expected * 2 + 16) {
		if (size > SIZE_MAX / 4)
			return -1;
		size *= 2;
	}
	set->slots = calloc(size, sizeof(*set->slots));
	if (set->slots == NULL)
		return -1;
	set->mask = size - 1;
	set->used = 0;
	return 0;
}

void uidl_set_deinit(struct uidl_set *set)
{
	free(set->slots);
	set->slots = NULL;
}

bool uidl_set_add(struct uidl_set *set, const char *id)
{
	size_t i = uidl_hash(id) & set->mask;

	/* init sized the table for the expected count at half load; more
	 * adds than announced would be a caller bug, caught here. */
	if (set->used >= set->mask)
		return false;
	while (set->slots[i] != NULL) {
		if (strcmp(set->slots[i], id) == 0)
			return false;
		i = (i + 1) & set->mask;
	}
	set->slots[i] = id;
	set->used++;
	return true;
}

void uidl_set_add_unique(struct uidl_set *set, char *id)
{
	char stem[MAILDROP_UIDL_MAX + 1];
	unsigned n;

	if (uidl_set_add(set, id))
		return;
	snprintf(stem, sizeof(stem), "%s", id);
	for (n = 2; n != 0; n++) {
		char suffix[16];
		size_t slen = (size_t)snprintf(suffix, sizeof(suffix), "-%u", n);
		size_t keep = strlen(stem);

		if (keep + slen > MAILDROP_UIDL_MAX)
			keep = MAILDROP_UIDL_MAX - slen;
		memcpy(id, stem, keep);
		memcpy(id + keep, suffix, slen + 1);
		if (uidl_set_add(set, id))
			return;
		if (set->used >= set->mask)
			return;
	}
}
