#ifndef CERTVAULT_COPENSSL_H
#define CERTVAULT_COPENSSL_H
// OpenSSL 3 libcrypto and libssl, as Debian's libssl-dev installs them. Clients speak HTTPS
// through libcurl; libssl serves TLS only in certvault's own loopback servers (the VB365
// simulator).
#include <openssl/opensslv.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/bn.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/objects.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>
#endif
