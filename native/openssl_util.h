// The JavaScript-facing half of openssl_core.h (which holds the pointer
// aliases and the PEM/DER parsers): OpenSSL errors as coded JS errors, parsed
// identities, certificates as Buffers. Defined in openssl_util.cc.
#ifndef NATIVE_OPENSSL_UTIL_H_
#define NATIVE_OPENSSL_UTIL_H_

#include <napi.h>

#include <string>

#include "openssl_core.h"

namespace ctls {

// Drains the error queue into a JS Error: message from the last entry,
// `code` = ERR_SSL_<REASON> (Node's convention) unless `code` is given, and
// `library`, `reason`, `opensslCode` carried over.
Napi::Error OpenSSLError(Napi::Env env, const char* fallback_message, const char* code = nullptr);

// A coded library error without OpenSSL details.
Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message);

// Parses a key + certificate chain (leaf first) for SSL(_CTX)_use_cert_and_key.
// On failure throws a coded JS error (ERR_CTLS_BAD_PEM) and returns false.
bool ParseIdentity(Napi::Env env, const Napi::Value& key_pem, const Napi::Value& cert_pem,
                   const Napi::Value& passphrase, Identity* identity);

// The bytes of `value` when it is a Buffer (or another view Node-API reads as
// one); false, with nothing thrown, for anything else. A DataView passes
// napi_is_buffer on some Node lines but not napi_get_buffer_info.
bool BufferBytes(napi_env env, napi_value value, const unsigned char** data, size_t* length);

// DER encoding of a certificate into a fresh JS Buffer.
Napi::Value CertificateToBuffer(Napi::Env env, X509* certificate);

// Each certificate of `chain` as CertificateToBuffer gives it, in order; empty for no chain.
Napi::Array ChainToArray(Napi::Env env, STACK_OF(X509) * chain);

}  // namespace ctls

#endif  // NATIVE_OPENSSL_UTIL_H_
