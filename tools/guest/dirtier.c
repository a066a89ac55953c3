/* dirtier.c - the guest workload: keeps dirtying memory at a set rate and
 * prints a running counter on the console, so a test can see that a guest
 * kept running across a migration.
 *
 * Usage (inside the guest): vms-dirtier MIB PAGES_PER_SECOND
 * Every 100 ms it writes PAGES_PER_SECOND/10 pages of its MIB-sized buffer
 * (round robin, each page gets the tick number and a pseudo-random body) and
 * once a second prints "vmscatter-counter N". Built static by tools/mkguest.sh.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

static uint64_t next_rand(uint64_t *s)
{
	/* xorshift64: the body only needs to differ from page to page */
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: vms-dirtier MIB PAGES_PER_SECOND\n");
		return 2;
	}
	unsigned long mib = strtoul(argv[1], NULL, 10);
	unsigned long rate = strtoul(argv[2], NULL, 10);
	if (mib == 0 || mib > 65536) {
		fprintf(stderr, "vms-dirtier: MIB must be 1..65536\n");
		return 2;
	}
	size_t pages = mib * 256;
	uint8_t *mem = malloc(pages * PAGE);
	if (!mem) {
		perror("vms-dirtier: malloc");
		return 1;
	}
	memset(mem, 0, pages * PAGE);

	uint64_t seed = 0x9e3779b97f4a7c15ull, counter = 0, tick = 0;
	size_t cursor = 0;
	unsigned long per_tick = rate / 10;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		for (unsigned long i = 0; i < per_tick; i++) {
			uint64_t *p = (uint64_t *)(mem + cursor * PAGE);
			p[0] = tick;
			for (size_t w = 1; w < PAGE / 8; w += 8)
				p[w] = next_rand(&seed);
			cursor = (cursor + 1) % pages;
		}
		tick++;
		if (tick % 10 == 0) {
			printf("vmscatter-counter %llu\n", (unsigned long long)++counter);
			fflush(stdout);
		}
		next.tv_nsec += 100 * 1000 * 1000;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
}
