/* mcast_probe.c - drive the PGM wrapper from a test, one side per process:
 *   mcast_probe send IFADDR GROUP PORT COUNT RATE_BYTES_PER_S
 *   mcast_probe recv IFADDR GROUP PORT COUNT TIMEOUT_MS
 * Message i is 4100 bytes: be32 i, then a pattern derived from i. The
 * receiver checks every message and prints "received N of COUNT"; it exits 0
 * only when all COUNT arrived intact. */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"

#define MSG 4100

static void fill(uint8_t *b, uint32_t i)
{
	b[0] = (uint8_t)(i >> 24), b[1] = (uint8_t)(i >> 16), b[2] = (uint8_t)(i >> 8), b[3] = (uint8_t)i;
	for (int k = 4; k < MSG; k++)
		b[k] = (uint8_t)(i * 31 + (uint32_t)k * 7);
}

static uint32_t addr(const char *s)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "mcast_probe: bad address %s\n", s);
		exit(2);
	}
	return ntohl(a.s_addr);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: mcast_probe send|recv IFADDR GROUP PORT COUNT RATE|TIMEOUT_MS\n");
		return 2;
	}
	uint32_t ifa = addr(argv[2]), grp = addr(argv[3]);
	uint16_t port = (uint16_t)atoi(argv[4]);
	uint32_t count = (uint32_t)strtoul(argv[5], NULL, 10);
	long arg = atol(argv[6]);
	vms_err err = { 0 };
	vms_mcast *m = NULL;
	static uint8_t buf[VMS_MCAST_MSG_MAX], want[MSG];
	if (strcmp(argv[1], "send") == 0) {
		if (vms_mcast_sender(ifa, grp, port, (uint64_t)arg, &m, &err) < 0)
			goto fail;
		for (uint32_t i = 0; i < count; i++) {
			fill(buf, i);
			if (vms_mcast_send(m, buf, MSG, 10000, &err) < 0)
				goto fail;
		}
		vms_mcast_service(m, 3000, &err);      /* answer late NAKs */
		vms_mcast_close(m);
		printf("sent %u\n", count);
		return 0;
	}
	if (vms_mcast_receiver(ifa, grp, port, &m, &err) < 0)
		goto fail;
	uint8_t *seen = calloc(count ? count : 1, 1);
	uint32_t got = 0, bad = 0, resets = 0;
	long deadline = now_ms() + arg;
	while (got < count && now_ms() < deadline) {
		size_t len;
		int wait = -1, r = vms_mcast_recv(m, buf, sizeof(buf), &len, &wait, &err);
		if (r < 0)
			goto fail;
		if (r == 2) {
			resets++;
			continue;
		}
		if (r == 1) {
			uint32_t i = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
			fill(want, i);
			if (len != MSG || i >= count || memcmp(buf, want, MSG) != 0)
				bad++;
			else if (!seen[i]) {
				seen[i] = 1;
				got++;
			}
			continue;
		}
		struct pollfd fds[4];
		int n = 4;
		vms_mcast_pollfds(m, fds, &n);
		long left = deadline - now_ms();
		poll(fds, (nfds_t)n, wait < 0 || wait > left ? (int)(left > 0 ? left : 0) : wait);
	}
	uint64_t repaired = vms_mcast_repaired(m);
	vms_mcast_close(m);
	printf("received %u of %u (bad %u, resets %u, repairs %llu)\n", got, count, bad, resets,
	       (unsigned long long)repaired);
	return got == count && bad == 0 ? 0 : 1;
fail:
	fprintf(stderr, "mcast_probe: %s\n", err.msg);
	return 1;
}
