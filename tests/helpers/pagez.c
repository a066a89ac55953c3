/* pagez - compressed data as an attacker would send it, for
 * tests/integration/attacks.sh: SIZE bytes of a fixed pattern (byte k is
 * (k mod 4096) / 64: every page the same, so it compresses), compressed with one library as the
 * wire's page tags name them (doc/PROTOCOL.md, "Contents"), written to
 * stdout without the tag. SIZE need not be a page: that is the point.
 *
 *   pagez raw SIZE                 the pattern itself
 *   pagez zstd SIZE [--size]       one zstd frame (level 1, 19 over a page;
 *                                  no checksum; --size: with its content size)
 *   pagez lz4 SIZE                 one LZ4 block
 *   pagez lzo SIZE                 LZO1X-1 data
 * Exit status 0, or 1 with a message on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lz4.h>
#include <lzo/lzo1x.h>
#include <zstd.h>

static int usage(void)
{
	fprintf(stderr, "usage: pagez raw|zstd|lz4|lzo SIZE [--size]\n");
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4)
		return usage();
	char *end;
	unsigned long size = strtoul(argv[2], &end, 10);
	int level = size > 4096 ? 19 : 1;   /* (a MiB fits a page's room only at a high level) */
	int with_size = argc == 4 && strcmp(argv[3], "--size") == 0;
	if (*end || size == 0 || size > (64ul << 20) || (argc == 4 && !with_size))
		return usage();
	size_t cap = size + size / 16 + 64 + 3 + ZSTD_compressBound(size) + (size_t)LZ4_compressBound((int)size);
	unsigned char *in = malloc(size), *out = malloc(cap);
	lzo_align_t *work = malloc(LZO1X_1_MEM_COMPRESS);
	if (!in || !out || !work) {
		fprintf(stderr, "pagez: out of memory\n");
		return 1;
	}
	for (size_t k = 0; k < size; k++)
		in[k] = (unsigned char)(k % 4096 / 64);
	size_t n = 0;
	if (strcmp(argv[1], "raw") == 0) {
		memcpy(out, in, size);
		n = size;
	} else if (strcmp(argv[1], "zstd") == 0) {
		ZSTD_CCtx *z = ZSTD_createCCtx();
		if (!z || ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, level)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_contentSizeFlag, with_size)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 0)) ||
		    ZSTD_isError(n = ZSTD_compress2(z, out, cap, in, size))) {
			fprintf(stderr, "pagez: zstd failed\n");
			return 1;
		}
		ZSTD_freeCCtx(z);
	} else if (strcmp(argv[1], "lz4") == 0) {
		int r = LZ4_compress_default((const char *)in, (char *)out, (int)size, (int)cap);
		if (r <= 0) {
			fprintf(stderr, "pagez: LZ4 failed\n");
			return 1;
		}
		n = (size_t)r;
	} else if (strcmp(argv[1], "lzo") == 0) {
		lzo_uint len = 0;
		if (lzo_init() != LZO_E_OK || lzo1x_1_compress(in, size, out, &len, work) != LZO_E_OK) {
			fprintf(stderr, "pagez: LZO failed\n");
			return 1;
		}
		n = len;
	} else {
		return usage();
	}
	if (fwrite(out, 1, n, stdout) != n || fflush(stdout) != 0) {
		fprintf(stderr, "pagez: cannot write\n");
		return 1;
	}
	free(in);
	free(out);
	free(work);
	return 0;
}
