// The Node-API-free half of the native helpers: ownership of OpenSSL objects,
// the error-queue scope, and the parsers for what callers hand in as PEM or
// DER. The addon and the fuzz harnesses (test/fuzz/) link the same code;
// openssl_util.h adds the JavaScript-facing half.
//
// Every OpenSSL object the addon creates lives in a std::unique_ptr whose
// deleter is OpenSSL's own free function, so no path (error, early return,
// finalizer) can leak or double-free it.
#ifndef NATIVE_OPENSSL_CORE_H_
#define NATIVE_OPENSSL_CORE_H_

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ctls {

template <typename T, void (*function)(T*)>
struct FunctionDeleter {
  void operator()(T* pointer) const { function(pointer); }
};

template <typename T, void (*function)(T*)>
using DeleteFnPtr = std::unique_ptr<T, FunctionDeleter<T, function>>;

inline void FreeX509Stack(STACK_OF(X509) * stack) { sk_X509_pop_free(stack, X509_free); }
inline void FreeX509NameStack(STACK_OF(X509_NAME) * stack) { sk_X509_NAME_pop_free(stack, X509_NAME_free); }

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
using X509NameStackPointer = DeleteFnPtr<STACK_OF(X509_NAME), FreeX509NameStack>;

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

// Node's names for X509_V_ERR_* (what tls.TLSSocket#authorizationError holds).
const char* VerifyErrorCode(int error);

// PEM parsing. Each returns an empty container (and leaves an error queued)
// when the input holds no valid object of that kind.
// Reads every PEM certificate in `data`. With `trusted_form`, "TRUSTED CERTIFICATE" blocks (a
// certificate with OpenSSL's trust settings, as system CA bundles ship them) are read too, as node
// reads a `ca` option.
std::vector<X509Pointer> ReadCertificates(const char* data, size_t length, bool trusted_form = false);
std::vector<X509CrlPointer> ReadCrls(const char* data, size_t length);
// What node loads from one item of a `ca` or `crl` option, as PEM text this library reads the same
// way: every certificate up to the first block node's reader stops at (with trust settings kept),
// or the item's first CRL; empty when nothing is read.
std::string NodeCaItemText(const char* data, size_t length);
std::string NodeCrlItemText(const char* data, size_t length);
EVPKeyPointer ReadPrivateKey(const char* data, size_t length, const std::string* passphrase);

// A key + certificate chain (leaf first) for SSL(_CTX)_use_cert_and_key.
struct Identity {
  X509Pointer leaf;
  EVPKeyPointer key;
  X509StackPointer chain;
};
// Parses one; on failure returns the input at fault ("cert" or "key") with
// OpenSSL's reason queued, nullptr on success.
const char* ReadIdentity(const char* key_pem, size_t key_length, const char* cert_pem, size_t cert_length,
                         const std::string* passphrase, Identity* identity);

// A trust store built from PEM CAs and CRLs (SecureContext::setTrust).
struct TrustStore {
  X509StorePointer store;
  // The CA subjects a server lists in its CertificateRequest.
  X509NameStackPointer ca_names;
  // The CRLs the store verifies with (references), for their facts.
  std::vector<X509CrlPointer> crls;
  bool has_crls = false;
};
// Builds one; without `ca_pem` / `crl_pem` it has no CAs / no CRLs, while a
// given input without a single valid object is an error. On failure returns
// the input at fault ("ca" or "crl") with OpenSSL's reason queued, nullptr on
// success.
const char* ReadTrustStore(std::optional<std::string_view> ca_pem, std::optional<std::string_view> crl_pem,
                           bool crl_check_all, TrustStore* trust);

// What crlInfo() and setTrust() report of one CRL (RFC 5280 section 5.1).
struct CrlSummary {
  std::string issuer;  // RFC 2253
  double last_update_ms = -1;
  bool has_next_update = false;
  double next_update_ms = -1;
  int revoked_count = 0;
  std::vector<std::string> revoked;  // serial numbers, upper-case hex; only `with_serials`
};
// A CRL can list millions of serials: without `with_serials` they are only counted.
CrlSummary SummarizeCrl(X509_CRL* crl, bool with_serials);

// The certificate `der` encodes, or null. Trailing bytes are refused: they
// would make two encodings share one certificate.
X509Pointer DecodeDer(const unsigned char* der, size_t length);

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

}  // namespace ctls

#endif  // NATIVE_OPENSSL_CORE_H_
