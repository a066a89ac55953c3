/* digest.c - page identities: the digests of the wire protocol and the zero
 * test (see common.h). */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <xxhash.h>

#include "common.h"

void vms_page_digest(const void *page, uint8_t out[VMS_WIRE_DIGEST])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits(page, VMS_WIRE_PAGE));
	memcpy(out, c.digest, VMS_WIRE_DIGEST);
}

int vms_page_sha256(const void *page, uint8_t out[32])
{
	unsigned len = 32;
	return EVP_Digest(page, VMS_WIRE_PAGE, out, &len, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

int vms_page_is_zero(const void *page)
{
	const uint8_t *b = page;
	for (size_t i = 0; i < VMS_WIRE_PAGE; i += 64) {
		uint64_t w[8];
		memcpy(w, b + i, sizeof(w));
		if (w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7])
			return 0;
	}
	return 1;
}
