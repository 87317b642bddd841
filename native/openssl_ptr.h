// Ownership and error helpers shared by the native classes.
//
// Every OpenSSL object the addon creates lives in a std::unique_ptr whose
// deleter is OpenSSL's own free function, so no path (error, early return,
// finalizer) can leak or double-free it.
#ifndef CONTINUOUS_TLS_OPENSSL_PTR_H_
#define CONTINUOUS_TLS_OPENSSL_PTR_H_

#include <napi.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <vector>

namespace ctls {

template <typename T, void (*function)(T*)>
struct FunctionDeleter {
  void operator()(T* pointer) const { function(pointer); }
};

template <typename T, void (*function)(T*)>
using DeleteFnPtr = std::unique_ptr<T, FunctionDeleter<T, function>>;

inline void FreeX509Stack(STACK_OF(X509)* stack) { sk_X509_pop_free(stack, X509_free); }

using SSLCtxPointer = DeleteFnPtr<SSL_CTX, SSL_CTX_free>;
using SSLPointer = DeleteFnPtr<SSL, SSL_free>;
using SSLSessionPointer = DeleteFnPtr<SSL_SESSION, SSL_SESSION_free>;
using BIOPointer = DeleteFnPtr<BIO, BIO_free_all>;
using X509Pointer = DeleteFnPtr<X509, X509_free>;
using X509CrlPointer = DeleteFnPtr<X509_CRL, X509_CRL_free>;
using X509StorePointer = DeleteFnPtr<X509_STORE, X509_STORE_free>;
using X509StoreCtxPointer = DeleteFnPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
using EVPKeyPointer = DeleteFnPtr<EVP_PKEY, EVP_PKEY_free>;
using X509StackPointer = DeleteFnPtr<STACK_OF(X509), FreeX509Stack>;

// Restores OpenSSL's thread-local error queue to its state at construction, so
// errors from one operation never leak into the next one's report (the role of
// Node's MarkPopErrorOnReturn).
class ErrorQueueScope {
 public:
  ErrorQueueScope() { ERR_set_mark(); }
  ~ErrorQueueScope() { ERR_pop_to_mark(); }
  ErrorQueueScope(const ErrorQueueScope&) = delete;
  ErrorQueueScope& operator=(const ErrorQueueScope&) = delete;
};

// Drains the error queue into a JS Error: message from the last entry,
// `code` = ERR_SSL_<REASON> (Node's convention) unless `code` is given, and
// `library`, `reason`, `opensslCode` carried over.
Napi::Error OpenSSLError(Napi::Env env, const char* fallback_message,
                         const char* code = nullptr);

// A coded library error without OpenSSL details.
Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message);

// Node's names for X509_V_ERR_* (what tls.TLSSocket#authorizationError holds).
const char* VerifyErrorCode(int error);

// PEM parsing. Each returns an empty container (and leaves an error queued)
// when the input holds no valid object of that kind.
std::vector<X509Pointer> ReadCertificates(const char* data, size_t length);
std::vector<X509CrlPointer> ReadCrls(const char* data, size_t length);
EVPKeyPointer ReadPrivateKey(const char* data, size_t length, const std::string* passphrase);

// A CRL's facts for TypeScript: { issuer, lastUpdate, nextUpdate (epoch ms),
// revokedCount, revoked: [serialHex] }. A CRL can list millions of serials,
// and a JS string each costs more than parsing them: without `with_serials`
// the list is left out.
Napi::Object CrlFacts(Napi::Env env, X509_CRL* crl, bool with_serials);

// Parses a key + certificate chain (leaf first) for SSL(_CTX)_use_cert_and_key.
// On failure throws a coded JS error (ERR_CTLS_BAD_PEM) and returns false.
struct Identity {
  X509Pointer leaf;
  EVPKeyPointer key;
  X509StackPointer chain;
};
bool ParseIdentity(Napi::Env env, const Napi::Value& key_pem, const Napi::Value& cert_pem,
                   const Napi::Value& passphrase, Identity* identity);

// A certificate's DER, encoded in one pass into memory OpenSSL allocates (i2d
// reuses the encoding kept from decoding, so this is the bytes the peer sent).
// Empty (null data) when the certificate does not encode.
struct CertificateDer {
  struct Free {
    void operator()(unsigned char* bytes) const { OPENSSL_free(bytes); }
  };
  std::unique_ptr<unsigned char, Free> data;
  size_t length = 0;
};
CertificateDer EncodeCertificate(X509* certificate);

// DER encoding of a certificate into a fresh JS Buffer.
Napi::Value CertificateToBuffer(Napi::Env env, X509* certificate);

}  // namespace ctls

#endif  // CONTINUOUS_TLS_OPENSSL_PTR_H_
