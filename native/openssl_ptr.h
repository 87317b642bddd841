// Error helpers shared by the native classes: the JavaScript-facing half of
// openssl_core.h (which holds the pointer aliases and the PEM/DER parsers).
#ifndef CONTINUOUS_TLS_OPENSSL_PTR_H_
#define CONTINUOUS_TLS_OPENSSL_PTR_H_

#include <napi.h>

#include <string>

#include "openssl_core.h"

namespace ctls {

// Drains the error queue into a JS Error: message from the last entry,
// `code` = ERR_SSL_<REASON> (Node's convention) unless `code` is given, and
// `library`, `reason`, `opensslCode` carried over.
Napi::Error OpenSSLError(Napi::Env env, const char* fallback_message,
                         const char* code = nullptr);

// A coded library error without OpenSSL details.
Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message);

// A CRL's facts for TypeScript: { issuer, lastUpdate, nextUpdate (epoch ms),
// revokedCount, revoked: [serialHex] }. A CRL can list millions of serials,
// and a JS string each costs more than parsing them: without `with_serials`
// the list is left out.
Napi::Object CrlFacts(Napi::Env env, X509_CRL* crl, bool with_serials);

// Parses a key + certificate chain (leaf first) for SSL(_CTX)_use_cert_and_key.
// On failure throws a coded JS error (ERR_CTLS_BAD_PEM) and returns false.
bool ParseIdentity(Napi::Env env, const Napi::Value& key_pem, const Napi::Value& cert_pem,
                   const Napi::Value& passphrase, Identity* identity);

// DER encoding of a certificate into a fresh JS Buffer.
Napi::Value CertificateToBuffer(Napi::Env env, X509* certificate);

}  // namespace ctls

#endif  // CONTINUOUS_TLS_OPENSSL_PTR_H_
