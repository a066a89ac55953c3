/* test_conn.c - the transports and sealed multicast (common/conn.c, tls.c,
 * seal.c): mutual TLS 1.3 over loopback with a PKI made by
 * tools/mkcerts.sh (a good pair; a client of another CA; a server whose
 * certificate names another address; a subject outside --tls-allow; a
 * plain-TCP client; a revoked client; a peer gone while we write: an error,
 * not SIGPIPE), megabytes both ways through partial writes, and AES-256-GCM messages that fail on every flipped byte, another
 * group, another session or another key. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"
#include "test_tmp.h"

#define LOOP 0x7f000001u

/* ---- a server in a thread --------------------------------------------------- */

struct server {
	const vms_tls *tls;
	int lfd;
	uint16_t port;
	size_t echo;                 /* bytes to read and send back */
	int r;                       /* vms_conn_accept's result */
	vms_err err;
	char peer[256];
	pthread_t tid;
};

static void *serve(void *arg)
{
	struct server *sv = arg;
	int fd = accept4(sv->lfd, NULL, NULL, SOCK_CLOEXEC);
	vms_conn *c = NULL;
	sv->r = fd < 0 ? -errno : vms_conn_accept(sv->tls, fd, 5000, &c, &sv->err);
	if (sv->r < 0)
		return NULL;
	snprintf(sv->peer, sizeof(sv->peer), "%s", vms_conn_peer(c));
	uint8_t *buf = malloc(sv->echo ? sv->echo : 1);
	size_t got = 0;
	while (buf && got < sv->echo) {
		if (vms_conn_wait(c, 5000) <= 0)
			break;
		ssize_t n = vms_conn_read(c, buf + got, sv->echo - got);
		if (n < 0)
			break;
		got += (size_t)n;
	}
	if (buf && got == sv->echo && sv->echo)
		vms_conn_write_all(c, buf, got);
	free(buf);
	vms_conn_close(c);
	return NULL;
}

static void server_start(struct server *sv, const vms_tls *tls, size_t echo)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(LOOP) };
	socklen_t len = sizeof(sa);
	memset(sv, 0, sizeof(*sv));
	sv->tls = tls;
	sv->echo = echo;
	sv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sv->lfd >= 0);
	assert_int_equal(bind(sv->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(sv->lfd, 4), 0);
	assert_int_equal(getsockname(sv->lfd, (struct sockaddr *)&sa, &len), 0);
	sv->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&sv->tid, NULL, serve, sv), 0);
}

static void server_stop(struct server *sv)
{
	pthread_join(sv->tid, NULL);
	close(sv->lfd);
}

/* ---- credentials --------------------------------------------------------------- */

static char pki[128], other[128];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	if (test_tmp_setup(state) < 0)
		return -1;
	const char *top = getenv("top_srcdir") ? getenv("top_srcdir") : ".";
	snprintf(pki, sizeof(pki), "%s/pki", test_root);
	snprintf(other, sizeof(other), "%s/other", test_root);
	char cmd[1024];
	/* "far" names another address: a receiver there is not 127.0.0.1 */
	snprintf(cmd, sizeof(cmd), "'%s/tools/mkcerts.sh' '%s' src=127.0.0.1 dst=127.0.0.1 far=10.9.9.9 "
		 ">/dev/null && '%s/tools/mkcerts.sh' '%s' src=127.0.0.1 >/dev/null", top, pki, top, other);
	return system(cmd) == 0 ? 0 : -1;
}

static vms_tls *creds(const char *root, const char *host, enum vms_tls_role role)
{
	char dir[256];
	vms_tls *t = NULL;
	vms_err e = { 0 };
	snprintf(dir, sizeof(dir), "%s/%s", root, host);
	int r = vms_tls_new(dir, role, &t, &e);
	if (r < 0)
		fail_msg("%s: %s", dir, e.msg);
	return t;
}

/* ---- TLS ------------------------------------------------------------------------- */

static void test_tls_roundtrip(void **state)
{
	(void)state;
	vms_tls *srv = creds(pki, "dst", VMS_TLS_SERVER), *cli = creds(pki, "src", VMS_TLS_CLIENT);
	size_t n = 3u << 20;                    /* megabytes: partial writes, many records */
	uint8_t *out = malloc(n), *back = malloc(n);
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(i * 2654435761u >> 13);
	struct server sv;
	server_start(&sv, srv, n);
	vms_conn *c = NULL;
	vms_err e = { 0 };
	assert_int_equal(vms_conn_connect(cli, LOOP, sv.port, NULL, 5000, &c, &e), 0);
	assert_string_equal(vms_conn_kind(c), "tls");
	assert_non_null(strstr(vms_conn_peer(c), "CN=dst,O=vmscatter"));
	assert_int_equal(vms_conn_write_all(c, out, n), 0);
	size_t got = 0;
	while (got < n) {
		assert_int_equal(vms_conn_wait(c, 5000), 1);
		ssize_t k = vms_conn_read(c, back + got, n - got);
		assert_true(k >= 0);
		got += (size_t)k;
	}
	assert_memory_equal(out, back, n);
	vms_conn_close(c);
	server_stop(&sv);
	assert_int_equal(sv.r, 0);
	assert_non_null(strstr(sv.peer, "CN=src,O=vmscatter"));
	free(out);
	free(back);
	vms_tls_free(srv);
	vms_tls_free(cli);
}

/* One handshake that must fail: client result, server result. */
static void refused(const vms_tls *srv, const vms_tls *cli, const char *host, int *rc, int *rs, vms_err *ec)
{
	struct server sv;
	server_start(&sv, srv, 0);
	vms_conn *c = NULL;
	*rc = vms_conn_connect(cli, LOOP, sv.port, host, 5000, &c, ec);
	vms_conn_close(c);
	server_stop(&sv);
	*rs = sv.r;
	if (*rc == 0)
		fail_msg("the client got through (server: %d %s)", sv.r, sv.err.msg);
}

static void test_tls_other_ca(void **state)
{
	(void)state;
	vms_tls *srv = creds(pki, "dst", VMS_TLS_SERVER), *cli = creds(other, "src", VMS_TLS_CLIENT);
	int rc, rs;
	vms_err e = { 0 };
	refused(srv, cli, NULL, &rc, &rs, &e);
	assert_true(rs < 0);                   /* the server refused the client's certificate */
	vms_tls_free(srv);
	vms_tls_free(cli);
}

static void test_tls_wrong_server(void **state)
{
	(void)state;
	/* a server certificate for 10.9.9.9 answering on 127.0.0.1 */
	vms_tls *srv = creds(pki, "far", VMS_TLS_SERVER), *cli = creds(pki, "src", VMS_TLS_CLIENT);
	int rc, rs;
	vms_err e = { 0 };
	refused(srv, cli, NULL, &rc, &rs, &e);
	assert_int_equal(rc, -EACCES);
	assert_non_null(strstr(e.msg, "refused"));
	/* ... and a host name the certificate does not carry */
	refused(srv, cli, "receiver.example", &rc, &rs, &e);
	assert_int_equal(rc, -EACCES);
	vms_tls_free(srv);
	vms_tls_free(cli);
}

static void test_tls_allow(void **state)
{
	(void)state;
	vms_tls *srv = creds(pki, "dst", VMS_TLS_SERVER), *cli = creds(pki, "src", VMS_TLS_CLIENT);
	vms_err e = { 0 };
	assert_int_equal(vms_tls_allow(srv, "CN=admin*,O=vmscatter", &e), 0);
	struct server sv;
	server_start(&sv, srv, 0);
	vms_conn *c = NULL;
	vms_conn_connect(cli, LOOP, sv.port, NULL, 5000, &c, &e);   /* TLS 1.3: the client may finish first */
	vms_conn_close(c);
	server_stop(&sv);
	assert_int_equal(sv.r, -EACCES);
	assert_non_null(strstr(sv.err.msg, "CN=src,O=vmscatter"));
	assert_non_null(strstr(sv.err.msg, "--tls-allow"));
	vms_tls_free(srv);
	/* a pattern that admits it */
	srv = creds(pki, "dst", VMS_TLS_SERVER);
	assert_int_equal(vms_tls_allow(srv, "CN=s?c,O=vmscatter", &e), 0);
	server_start(&sv, srv, 0);
	assert_int_equal(vms_conn_connect(cli, LOOP, sv.port, NULL, 5000, &c, &e), 0);
	vms_conn_close(c);
	server_stop(&sv);
	assert_int_equal(sv.r, 0);
	vms_tls_free(srv);
	vms_tls_free(cli);
}

static void test_tls_plain_client(void **state)
{
	(void)state;
	vms_tls *srv = creds(pki, "dst", VMS_TLS_SERVER);
	struct server sv;
	server_start(&sv, srv, 0);
	vms_conn *c = NULL;
	vms_err e = { 0 };
	assert_int_equal(vms_conn_connect(NULL, LOOP, sv.port, NULL, 5000, &c, &e), 0);
	/* a HELLO in the clear: the server must not take it for a handshake */
	static const uint8_t hello[] = { 0, 0, 0, 9, 1, 'V', 'M', 'S', 'C', 0, 3, 0, 0 };
	vms_conn_write_all(c, hello, sizeof(hello));
	server_stop(&sv);
	vms_conn_close(c);
	assert_true(sv.r < 0);
	assert_int_not_equal(sv.r, -ETIMEDOUT);
	vms_tls_free(srv);
}

static void test_tls_revoked(void **state)
{
	(void)state;
	/* revoke src's client certificate with a CRL from the CA */
	sh("cd '%s/ca' && printf '' > index.txt && "
	   "printf '[ca]\\ndefault_ca=c\\n[c]\\ndatabase=index.txt\\ndefault_md=sha256\\ndefault_crl_days=30\\n' > ca.cnf && "
	   "openssl ca -config ca.cnf -keyfile ca-key.pem -cert ca-cert.pem -revoke ../src/client-cert.pem 2>/dev/null && "
	   "openssl ca -config ca.cnf -keyfile ca-key.pem -cert ca-cert.pem -gencrl -out ../dst/ca-crl.pem 2>/dev/null",
	   pki);
	vms_tls *srv = creds(pki, "dst", VMS_TLS_SERVER), *cli = creds(pki, "src", VMS_TLS_CLIENT);
	struct server sv;
	server_start(&sv, srv, 0);
	vms_conn *c = NULL;
	vms_err e = { 0 };
	vms_conn_connect(cli, LOOP, sv.port, NULL, 5000, &c, &e);
	vms_conn_close(c);
	server_stop(&sv);
	assert_int_equal(sv.r, -EACCES);
	assert_non_null(strstr(sv.err.msg, "revoked"));
	sh("rm -f '%s/dst/ca-crl.pem'", pki);
	vms_tls_free(srv);
	vms_tls_free(cli);
}

/* A peer that goes away while we write: an error, never SIGPIPE. */
static void test_tls_peer_gone(void **state)
{
	(void)state;
	vms_tls *srv = creds(pki, "dst", VMS_TLS_SERVER), *cli = creds(pki, "src", VMS_TLS_CLIENT);
	struct server sv;
	server_start(&sv, srv, 0);            /* handshake, then close */
	vms_conn *c = NULL;
	vms_err e = { 0 };
	assert_int_equal(vms_conn_connect(cli, LOOP, sv.port, NULL, 5000, &c, &e), 0);
	server_stop(&sv);
	static uint8_t chunk[1 << 20];
	int r = 0;
	for (int i = 0; i < 64 && r == 0; i++)
		r = vms_conn_write_all(c, chunk, sizeof(chunk));
	assert_true(r < 0);                   /* still alive to see it */
	vms_conn_close(c);
	vms_tls_free(srv);
	vms_tls_free(cli);
}

static void test_tls_bad_dirs(void **state)
{
	(void)state;
	vms_tls *t = NULL;
	vms_err e = { 0 };
	char dir[256];
	assert_int_equal(vms_tls_new("/nonexistent/creds", VMS_TLS_SERVER, &t, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "mkcerts"));
	/* a client directory has no server certificate */
	snprintf(dir, sizeof(dir), "%s/only-client", test_root);
	sh("mkdir -p '%s' && cp '%s/src/ca-cert.pem' '%s/src/client-cert.pem' '%s/src/client-key.pem' '%s'",
	   dir, pki, pki, pki, dir);
	assert_int_equal(vms_tls_new(dir, VMS_TLS_SERVER, &t, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "server-cert.pem"));
	/* a key that does not match its certificate */
	sh("cp '%s/dst/client-key.pem' '%s/client-key.pem'", pki, dir);
	assert_int_equal(vms_tls_new(dir, VMS_TLS_CLIENT, &t, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "client-key.pem"));
	assert_null(t);
}

/* ---- sealed multicast ------------------------------------------------------------ */

static void test_seal(void **state)
{
	(void)state;
	uint8_t key[VMS_SEAL_KEY], key2[VMS_SEAL_KEY], msg[300], box[400], open[400];
	vms_seal *tx, *rx, *rx_other_session, *rx_other_key;
	vms_err e = { 0 };
	size_t n, m;
	assert_int_equal(vms_random(key, sizeof(key), &e), 0);
	memcpy(key2, key, sizeof(key));
	key2[31] ^= 1;
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	assert_int_equal(vms_seal_new(key, 42, &tx, &e), 0);
	assert_int_equal(vms_seal_new(key, 42, &rx, &e), 0);
	assert_int_equal(vms_seal_new(key, 43, &rx_other_session, &e), 0);
	assert_int_equal(vms_seal_new(key2, 42, &rx_other_key, &e), 0);
	assert_int_equal(vms_seal_put(tx, 7, msg, sizeof(msg), box, sizeof(box), &n), 0);
	assert_int_equal(n, sizeof(msg) + VMS_SEAL_OVERHEAD);
	assert_memory_not_equal(box + 8, msg, 64);          /* not in the clear */
	assert_int_equal(vms_seal_open(rx, 7, box, n, open, sizeof(open), &m), 0);
	assert_int_equal(m, sizeof(msg));
	assert_memory_equal(open, msg, sizeof(msg));
	/* every flipped byte, counter and tag included, fails */
	for (size_t i = 0; i < n; i++) {
		box[i] ^= 0x40;
		assert_int_equal(vms_seal_open(rx, 7, box, n, open, sizeof(open), &m), -EBADMSG);
		box[i] ^= 0x40;
	}
	assert_int_equal(vms_seal_open(rx, 8, box, n, open, sizeof(open), &m), -EBADMSG);   /* other group */
	assert_int_equal(vms_seal_open(rx_other_session, 7, box, n, open, sizeof(open), &m), -EBADMSG);
	assert_int_equal(vms_seal_open(rx_other_key, 7, box, n, open, sizeof(open), &m), -EBADMSG);
	for (size_t cut = 0; cut < n; cut++)                  /* truncation */
		assert_int_equal(vms_seal_open(rx, 7, box, cut, open, sizeof(open), &m), -EBADMSG);
	assert_int_equal(vms_seal_open(rx, 7, box, n, open, sizeof(msg) - 1, &m), -EBADMSG);
	/* the nonce never repeats: the next message has the next counter */
	uint8_t box2[400];
	assert_int_equal(vms_seal_put(tx, 7, msg, sizeof(msg), box2, sizeof(box2), &n), 0);
	assert_memory_not_equal(box, box2, 8);
	assert_int_equal(box2[7], box[7] + 1);
	assert_int_equal(vms_seal_put(tx, 7, msg, sizeof(msg), box2, sizeof(msg), &n), -ENOBUFS);
	/* an empty message (the multicast hello) seals too */
	assert_int_equal(vms_seal_put(tx, 1, msg, 0, box2, sizeof(box2), &n), 0);
	assert_int_equal(vms_seal_open(rx, 1, box2, n, open, sizeof(open), &m), 0);
	assert_int_equal(m, 0);
	vms_seal_free(tx);
	vms_seal_free(rx);
	vms_seal_free(rx_other_session);
	vms_seal_free(rx_other_key);
}

/* ---- socket helpers ----------------------------------------------------------- */

/* The link speed of an address: loopback has none and an address no
 * interface holds is nobody's (the fallback, both); a migration socket's
 * send buffer grows (past wmem_max as root); nothing is unsent on no
 * connection. */
static void test_socket_helpers(void **state)
{
	(void)state;
	assert_int_equal(vms_if_rate(LOOP, 12345), 12345);
	assert_int_equal(vms_if_rate(0x0afffffe, 777), 777);      /* 10.255.255.254 */
	int sv[2], before = 0, after = 0, max = 0;
	socklen_t len = sizeof(before);
	FILE *f = fopen("/proc/sys/net/core/wmem_max", "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &max), 1);
	fclose(f);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &before, &len), 0);
	vms_sock_sndbuf(sv[0], 4 << 20);
	assert_int_equal(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &after, &len), 0);
	int want = geteuid() == 0 ? 4 << 20 : (max < (4 << 20) ? max : 4 << 20);
	assert_true(after >= want && after >= before);        /* (the kernel doubles it) */
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(vms_conn_unsent(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal),
		cmocka_unit_test(test_tls_roundtrip),
		cmocka_unit_test(test_tls_other_ca),
		cmocka_unit_test(test_tls_wrong_server),
		cmocka_unit_test(test_tls_allow),
		cmocka_unit_test(test_tls_plain_client),
		cmocka_unit_test(test_tls_revoked),
		cmocka_unit_test(test_tls_peer_gone),
		cmocka_unit_test(test_tls_bad_dirs),
		cmocka_unit_test(test_socket_helpers),
	};
	return cmocka_run_group_tests(tests, setup, test_tmp_teardown);
}
