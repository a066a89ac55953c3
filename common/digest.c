/* digest.c - the page digest --verify compares (see common.h). */
#include <string.h>

#include <xxhash.h>

#include "common.h"

void vms_page_digest(const void *page, uint8_t out[VMS_WIRE_DIGEST])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits(page, VMS_WIRE_PAGE));
	memcpy(out, c.digest, VMS_WIRE_DIGEST);
}
