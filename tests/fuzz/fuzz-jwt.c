/* fuzz-jwt.c: hostile bearer tokens through the JWT checks (base64url,
 * JSON header and claims, signature framing). The key is made once with
 * OpenSSL; no input is expected to verify, only to be refused safely. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth/jwt.h"

static struct jwt_key *fuzz_key(void)
{
	static struct jwt_key *key;
	char path[] = "/tmp/satchel-fuzz-jwt-XXXXXX";
	const char *error;
	EVP_PKEY *pkey;
	FILE *f;
	int fd;

	if (key != NULL)
		return key;
	pkey = EVP_EC_gen("P-256");
	fd = mkstemp(path);
	if (pkey == NULL || fd < 0 || (f = fdopen(fd, "w")) == NULL)
		abort();
	PEM_write_PUBKEY(f, pkey);
	fclose(f);
	EVP_PKEY_free(pkey);
	if (jwt_key_load(path, &key, &error) < 0)
		abort();
	unlink(path);
	return key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwt_policy policy = { .issuer = "https://issuer.test",
				     .audience = "pop", .user_claim = "email",
				     .now = 1800000000 };
	const char *error;
	char user[256];

	if (jwt_verify(fuzz_key(), (const char *)data, size, &policy, user,
		       sizeof(user), &error) == 0)
		__builtin_trap(); /* nothing unsigned by our key verifies */
	return 0;
}
