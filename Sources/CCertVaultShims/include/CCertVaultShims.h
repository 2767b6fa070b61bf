#ifndef CCERTVAULT_SHIMS_H
#define CCERTVAULT_SHIMS_H
// Thin wrappers for C macros, variadic functions and GNU-only declarations that Swift cannot
// import. Each wrapper is named CCertVaultShims_<exact C name> and holds no logic.

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <openssl/pkcs7.h>
#include <openssl/pkcs12.h>
#include <openssl/ssl.h>
#include <sys/prctl.h>
#include <curl/curl.h>

/// OPENSSL_free is a macro around CRYPTO_free.
void CCertVaultShims_OPENSSL_free(void *ptr);

/// BIO_get_mem_data is a macro around BIO_ctrl.
long CCertVaultShims_BIO_get_mem_data(BIO *bio, char **data);

/// The STACK_OF(X509) accessors are macros.
int CCertVaultShims_sk_X509_num(const STACK_OF(X509) *stack);
void CCertVaultShims_sk_X509_pop_free(STACK_OF(X509) *stack);

/// syncfs (flush one file system) is declared only under _GNU_SOURCE, like renameat2.
int CCertVaultShims_syncfs(int fd);

/// The STACK_OF(PKCS7) and STACK_OF(PKCS12_SAFEBAG) accessors are macros.
int CCertVaultShims_sk_PKCS7_num(const STACK_OF(PKCS7) *stack);
PKCS7 *CCertVaultShims_sk_PKCS7_value(const STACK_OF(PKCS7) *stack, int index);
void CCertVaultShims_sk_PKCS7_pop_free(STACK_OF(PKCS7) *stack);
int CCertVaultShims_sk_PKCS12_SAFEBAG_num(const STACK_OF(PKCS12_SAFEBAG) *stack);
PKCS12_SAFEBAG *CCertVaultShims_sk_PKCS12_SAFEBAG_value(const STACK_OF(PKCS12_SAFEBAG) *stack, int index);
void CCertVaultShims_sk_PKCS12_SAFEBAG_pop_free(STACK_OF(PKCS12_SAFEBAG) *stack);

/// renameat2 is declared only under _GNU_SOURCE, which Swift's Glibc module does not define.
int CCertVaultShims_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                              unsigned int flags);

/// prctl is variadic.
int CCertVaultShims_prctl(int option, unsigned long arg2);

/// curl_easy_setopt and curl_easy_getinfo are variadic; one wrapper per argument type.
CURLcode CCertVaultShims_curl_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode CCertVaultShims_curl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);
CURLcode CCertVaultShims_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode CCertVaultShims_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode CCertVaultShims_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode CCertVaultShims_curl_easy_setopt_write_function(CURL *handle, CURLoption option,
                                                        size_t (*function)(char *, size_t, size_t, void *));
CURLcode CCertVaultShims_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);

/// SSL_CTX_set_min_proto_version is a macro around SSL_CTX_ctrl.
long CCertVaultShims_SSL_CTX_set_min_proto_version(SSL_CTX *context, int version);

#endif
