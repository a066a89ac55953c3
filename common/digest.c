/* digest.c - the page digests of the wire protocol (see common.h). */
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
