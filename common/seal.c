/* seal.c - sealed multicast messages (see common.h): AES-256-GCM under the
 * session's key, with OpenSSL's EVP interface.
 *
 * | offset | size | field                                        |
 * |--------|------|----------------------------------------------|
 * | 0      | 8    | counter u64, big-endian (nonce = 0000 || it) |
 * | 8      | L    | ciphertext of the L-byte message             |
 * | 8 + L  | 16   | GCM tag over AAD (session u64, group u32)    |
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "common.h"

struct vms_seal {
	EVP_CIPHER_CTX *enc, *dec;
	uint64_t session;
	uint64_t next;                   /* the next counter to seal with */
};

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void aad_of(const vms_seal *s, uint32_t group, uint8_t aad[12])
{
	be64(aad, s->session);
	for (int i = 3; i >= 0; i--, group >>= 8)
		aad[8 + i] = (uint8_t)group;
}

int vms_seal_new(const uint8_t key[VMS_SEAL_KEY], uint64_t session, vms_seal **out, vms_err *err)
{
	vms_seal *s = calloc(1, sizeof(*s));
	if (!s)
		return vms_err_set(err, -ENOMEM, "out of memory");
	s->session = session;
	s->next = 1;
	s->enc = EVP_CIPHER_CTX_new();
	s->dec = EVP_CIPHER_CTX_new();
	if (!s->enc || !s->dec ||
	    EVP_EncryptInit_ex(s->enc, EVP_aes_256_gcm(), NULL, key, NULL) != 1 ||
	    EVP_DecryptInit_ex(s->dec, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
		vms_seal_free(s);
		return vms_err_set(err, -EIO, "AES-256-GCM: cannot start");
	}
	*out = s;
	return 0;
}

void vms_seal_free(vms_seal *s)
{
	if (!s)
		return;
	EVP_CIPHER_CTX_free(s->enc);
	EVP_CIPHER_CTX_free(s->dec);
	free(s);
}

int vms_seal_put(vms_seal *s, uint32_t group, const void *msg, size_t len, uint8_t *out,
		 size_t cap, size_t *outlen)
{
	uint8_t iv[12] = { 0 }, aad[12];
	int n = 0, fin = 0;
	if (cap < VMS_SEAL_OVERHEAD || cap - VMS_SEAL_OVERHEAD < len || len > INT32_MAX)
		return -ENOBUFS;
	if (s->next == UINT64_MAX)
		return -EOVERFLOW;
	uint64_t ctr = s->next++;
	be64(out, ctr);
	be64(iv + 4, ctr);
	aad_of(s, group, aad);
	if (EVP_EncryptInit_ex(s->enc, NULL, NULL, NULL, iv) != 1 ||
	    EVP_EncryptUpdate(s->enc, NULL, &n, aad, sizeof(aad)) != 1 ||
	    EVP_EncryptUpdate(s->enc, out + 8, &n, msg, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(s->enc, out + 8 + n, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->enc, EVP_CTRL_GCM_GET_TAG, VMS_SEAL_TAG, out + 8 + len) != 1)
		return -EIO;
	*outlen = len + VMS_SEAL_OVERHEAD;
	return 0;
}

int vms_seal_open(vms_seal *s, uint32_t group, const uint8_t *in, size_t len, uint8_t *out,
		  size_t cap, size_t *outlen)
{
	uint8_t iv[12] = { 0 }, aad[12], tag[VMS_SEAL_TAG];
	int n = 0, fin = 0;
	if (len < VMS_SEAL_OVERHEAD || len - VMS_SEAL_OVERHEAD > cap || len > INT32_MAX)
		return -EBADMSG;
	size_t body = len - VMS_SEAL_OVERHEAD;
	memcpy(iv + 4, in, 8);
	memcpy(tag, in + 8 + body, VMS_SEAL_TAG);
	aad_of(s, group, aad);
	if (EVP_DecryptInit_ex(s->dec, NULL, NULL, NULL, iv) != 1 ||
	    EVP_DecryptUpdate(s->dec, NULL, &n, aad, sizeof(aad)) != 1 ||
	    EVP_DecryptUpdate(s->dec, out, &n, in + 8, (int)body) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->dec, EVP_CTRL_GCM_SET_TAG, VMS_SEAL_TAG, tag) != 1 ||
	    EVP_DecryptFinal_ex(s->dec, out + n, &fin) != 1)
		return -EBADMSG;
	*outlen = body;
	return 0;
}

int vms_random(void *buf, size_t n, vms_err *err)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return vms_err_set(err, -EIO, "getrandom: %s", strerror(errno));
		p += got;
		n -= (size_t)got;
	}
	return 0;
}
