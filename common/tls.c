/* tls.c - the TLS transport (see common.h): mutual TLS 1.3 with OpenSSL,
 * credentials in QEMU's and libvirt's x509 layout, the peer checked against
 * the CA (and CRL), the server's certificate against the host the sender
 * was given, the client's subject against the receiver's allow-list. */
#define _GNU_SOURCE
#include <errno.h>
#include <fnmatch.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "conn_int.h"

#define ALLOW_MAX 64

struct vms_tls {
	SSL_CTX *ctx;
	BIO_METHOD *bio;             /* sockets without SIGPIPE (sock_write) */
	enum vms_tls_role role;
	char *allow[ALLOW_MAX];
	unsigned nallow;
};

/* ---- a socket BIO that never raises SIGPIPE ----------------------------------
 * OpenSSL's own socket BIO writes with write(2): a peer that went away
 * would kill the process with SIGPIPE. This one sends with MSG_NOSIGNAL. */

static int sock_write(BIO *b, const char *buf, int len)
{
	ssize_t w = send((int)BIO_get_fd(b, NULL), buf, (size_t)len, MSG_NOSIGNAL);
	BIO_clear_retry_flags(b);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)w;
}

static int sock_read(BIO *b, char *buf, int len)
{
	ssize_t got = recv((int)BIO_get_fd(b, NULL), buf, (size_t)len, 0);
	BIO_clear_retry_flags(b);
	if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_read(b);
	return (int)got;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	switch (cmd) {
	case BIO_C_SET_FD:                /* the fd stays the connection's: closed there */
		BIO_set_data(b, (void *)(intptr_t)*(int *)ptr);
		BIO_set_init(b, 1);
		return 1;
	case BIO_C_GET_FD:
		if (ptr)
			*(int *)ptr = (int)(intptr_t)BIO_get_data(b);
		return (long)(intptr_t)BIO_get_data(b);
	case BIO_CTRL_FLUSH:
		return 1;
	default:
		(void)num;
		return 0;
	}
}

/* OpenSSL's reason for the last failure (its error queue is per thread). */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	if (!e)
		return "unknown error";
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static int file_err(vms_err *err, const char *dir, const char *file, const char *what)
{
	char why[256];
	return vms_err_set(err, -EINVAL, "%s/%s: %s: %s", dir, file, what, ssl_reason(why, sizeof(why)));
}

/* ca-crl.pem, when the directory has one: every CRL in it, checked for the
 * whole chain. */
static int load_crl(SSL_CTX *ctx, const char *dir, vms_err *err)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/ca-crl.pem", dir);
	if (access(path, F_OK) < 0)
		return 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return vms_err_set(err, -errno, "%s: %s", path, strerror(errno));
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	unsigned n = 0;
	for (X509_CRL *crl; (crl = PEM_read_X509_CRL(f, NULL, NULL, NULL)); n++) {
		X509_STORE_add_crl(st, crl);
		X509_CRL_free(crl);
	}
	fclose(f);
	ERR_clear_error();
	if (n == 0)
		return file_err(err, dir, "ca-crl.pem", "no CRL in it");
	X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	return 0;
}

int vms_tls_new(const char *dir, enum vms_tls_role role, vms_tls **out, vms_err *err)
{
	const char *cert = role == VMS_TLS_SERVER ? "server-cert.pem" : "client-cert.pem";
	const char *key = role == VMS_TLS_SERVER ? "server-key.pem" : "client-key.pem";
	char path[4200];
	struct stat st;
	int r = 0;
	vms_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return vms_err_set(err, -ENOMEM, "out of memory");
	t->role = role;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		r = vms_err_set(err, -ENOENT, "%s: not a directory of TLS credentials "
				"(make one with tools/mkcerts.sh; doc/SECURITY.md)", dir);
		goto out;
	}
	t->ctx = SSL_CTX_new(role == VMS_TLS_SERVER ? TLS_server_method() : TLS_client_method());
	t->bio = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "vmscatter socket");
	if (!t->ctx || !t->bio || !BIO_meth_set_write(t->bio, sock_write) || !BIO_meth_set_read(t->bio, sock_read) ||
	    !BIO_meth_set_ctrl(t->bio, sock_ctrl)) {
		r = vms_err_set(err, -ENOMEM, "TLS: cannot make a context");
		goto out;
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_3_VERSION);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_num_tickets(t->ctx, 0);   /* no resumption: every connection shows its certificate */
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_TICKET);
	snprintf(path, sizeof(path), "%s/ca-cert.pem", dir);
	if (SSL_CTX_load_verify_locations(t->ctx, path, NULL) != 1) {
		r = file_err(err, dir, "ca-cert.pem", "cannot load the CA certificate");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, cert);
	if (SSL_CTX_use_certificate_chain_file(t->ctx, path) != 1) {
		r = file_err(err, dir, cert, "cannot load the certificate");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, key);
	if (SSL_CTX_use_PrivateKey_file(t->ctx, path, SSL_FILETYPE_PEM) != 1) {
		r = file_err(err, dir, key, "cannot load the private key");
		goto out;
	}
	if (SSL_CTX_check_private_key(t->ctx) != 1) {
		r = file_err(err, dir, key, "does not match the certificate");
		goto out;
	}
	if ((r = load_crl(t->ctx, dir, err)) < 0)
		goto out;
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	*out = t;
	return 0;
out:
	vms_tls_free(t);
	return r;
}

int vms_tls_allow(vms_tls *t, const char *pattern, vms_err *err)
{
	if (t->nallow == ALLOW_MAX)
		return vms_err_set(err, -E2BIG, "at most %u --tls-allow patterns", ALLOW_MAX);
	if (!(t->allow[t->nallow] = strdup(pattern)))
		return vms_err_set(err, -ENOMEM, "out of memory");
	t->nallow++;
	return 0;
}

void vms_tls_free(vms_tls *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < t->nallow; i++)
		free(t->allow[i]);
	SSL_CTX_free(t->ctx);
	BIO_meth_free(t->bio);
	free(t);
}

/* ---- the transport ------------------------------------------------------------ */

static ssize_t tls_io_result(vms_conn *c, int ok, size_t done, int ret)
{
	SSL *ssl = c->priv;
	if (ok)
		return (ssize_t)done;
	switch (SSL_get_error(ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		c->want = POLLIN;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		c->want = POLLOUT;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return -ECONNRESET;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		return errno && errno != EPIPE ? -errno : -ECONNRESET;
	default:                          /* a bad record, a forged tag, an alert, ... */
		ssl_reason(c->why, sizeof(c->why));
		return -EPROTO;
	}
}

static ssize_t tls_read(vms_conn *c, void *buf, size_t n)
{
	size_t got = 0;
	errno = 0;
	int ret = SSL_read_ex(c->priv, buf, n, &got);
	return tls_io_result(c, ret == 1, got, ret);
}

static ssize_t tls_write(vms_conn *c, const void *buf, size_t n)
{
	size_t put = 0;
	errno = 0;
	int ret = SSL_write_ex(c->priv, buf, n, &put);
	return tls_io_result(c, ret == 1, put, ret);
}

/* Decrypted bytes only: a partial record buffered inside OpenSSL is no
 * reason to skip poll (the rest must come from the socket first). */
static int tls_pending(const vms_conn *c)
{
	return SSL_pending(c->priv) > 0;
}

static void tls_close(vms_conn *c, int notify)
{
	if (notify)
		SSL_shutdown(c->priv);        /* non-blocking: sends close_notify if it can */
	SSL_free(c->priv);
	c->priv = NULL;
}

static const struct vms_conn_ops tls_ops = {
	.name = "tls", .read = tls_read, .write = tls_write, .pending = tls_pending, .close = tls_close,
};

/* The peer certificate's subject, RFC 2253 ("CN=t1,O=vmscatter"). */
static void subject_of(SSL *ssl, char *out, size_t len)
{
	X509 *x = SSL_get0_peer_certificate(ssl);
	BIO *b = BIO_new(BIO_s_mem());
	out[0] = '\0';
	if (x && b && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
		int n = BIO_read(b, out, (int)len - 1);
		out[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
}

static int allowed(const vms_tls *t, const char *subject)
{
	if (t->nallow == 0)
		return 1;
	for (unsigned i = 0; i < t->nallow; i++)
		if (fnmatch(t->allow[i], subject, 0) == 0)
			return 1;
	return 0;
}

int vms_tls_start(const vms_tls *t, vms_conn *c, const char *host, int timeout_ms, vms_err *err)
{
	char subject[200];
	SSL *ssl = SSL_new(t->ctx);
	BIO *bio = BIO_new(t->bio);
	int r = 0;
	if (!ssl || !bio || BIO_set_fd(bio, c->fd, BIO_NOCLOSE) != 1) {
		SSL_free(ssl);
		BIO_free(bio);
		return vms_err_set(err, -ENOMEM, "TLS: cannot start a connection");
	}
	SSL_set_bio(ssl, bio, bio);           /* ssl owns bio now */
	if (t->role == VMS_TLS_CLIENT) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
		struct in_addr a;
		const char *want = host ? host : c->peer;
		char ip[256];
		if (vms_strlcpy_n(ip, sizeof(ip), want, strlen(want)) < 0) {
			SSL_free(ssl);
			return vms_err_set(err, -ENAMETOOLONG, "TLS: host name too long");
		}
		if (!host && strchr(ip, ':'))
			*strchr(ip, ':') = '\0';  /* ADDR:PORT -> ADDR */
		int ok = inet_pton(AF_INET, ip, &a) == 1 ? X509_VERIFY_PARAM_set1_ip_asc(vp, ip)
							  : X509_VERIFY_PARAM_set1_host(vp, ip, 0);
		if (ok != 1 || (!inet_pton(AF_INET, ip, &a) && SSL_set_tlsext_host_name(ssl, ip) != 1)) {
			SSL_free(ssl);
			return vms_err_set(err, -EINVAL, "TLS: cannot check a certificate against '%s'", ip);
		}
	}
	const struct vms_conn_ops *plain = c->ops;
	c->ops = &tls_ops;
	c->priv = ssl;
	int64_t end = vms_now_ms() + timeout_ms;
	for (;;) {
		errno = 0;
		int ret = t->role == VMS_TLS_CLIENT ? SSL_connect(ssl) : SSL_accept(ssl);
		if (ret == 1)
			break;
		ssize_t e = tls_io_result(c, 0, 0, ret);
		long v = SSL_get_verify_result(ssl);
		if (e != -EAGAIN && v != X509_V_OK) {
			r = vms_err_set(err, -EACCES, "TLS: the peer's certificate was refused: %s",
					X509_verify_cert_error_string(v));
			goto out;
		}
		if (e != -EAGAIN) {
			r = vms_err_set(err, (int)e, "TLS handshake failed: %s",
					e == -EPROTO ? c->why : strerror((int)-e));
			goto out;
		}
		int left = (int)(end - vms_now_ms());
		if (left <= 0) {
			r = vms_err_set(err, -ETIMEDOUT, "TLS handshake: no answer within %d s", timeout_ms / 1000);
			goto out;
		}
		struct pollfd pfd = { .fd = c->fd, .events = c->want };
		if (poll(&pfd, 1, left) < 0 && errno != EINTR) {
			r = vms_err_set(err, -errno, "poll: %s", strerror(errno));
			goto out;
		}
	}
	subject_of(ssl, subject, sizeof(subject));
	snprintf(c->subject, sizeof(c->subject), "%s", subject);
	if (t->role == VMS_TLS_SERVER && !allowed(t, subject)) {
		r = vms_err_set(err, -EACCES, "TLS: client '%s' (%s) is not in --tls-allow", subject, c->peer);
		goto out;
	}
	snprintf(c->peer + strlen(c->peer), sizeof(c->peer) - strlen(c->peer), " (%s)", subject);
	return 0;
out:
	ERR_clear_error();
	SSL_free(ssl);
	c->ops = plain;
	c->priv = NULL;
	return r;
}
