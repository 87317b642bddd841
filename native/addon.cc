// Module init: checks the OpenSSL that Node exports and registers the classes.
#include <napi.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include <string>

#include "openssl_ptr.h"
#include "secure_context.h"
#include "tls_connection.h"

namespace ctls {

namespace {

// crlInfo(pem: Buffer, withSerials = true) -> [CrlFacts]
// What TypeScript needs to judge a CRL's freshness (RFC 5280 section 5.1.2.5)
// and to report which serials it revokes, without a JS ASN.1 parser.
Napi::Value CrlInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ErrorQueueScope scope;
  if (!info[0].IsBuffer()) {
    CodedError(env, "ERR_CTLS_BAD_PEM", "crl must be PEM text").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Buffer<char> pem = info[0].As<Napi::Buffer<char>>();
  const bool with_serials = info[1].IsUndefined() || info[1].ToBoolean();
  std::vector<X509CrlPointer> crls = ReadCrls(pem.Data(), pem.Length());
  if (crls.empty()) {
    OpenSSLError(env, "no CRL found in crl", "ERR_CTLS_BAD_PEM").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array result = Napi::Array::New(env, crls.size());
  for (size_t i = 0; i < crls.size(); ++i) {
    result.Set(static_cast<uint32_t>(i), CrlFacts(env, crls[i].get(), with_serials));
  }
  return result;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // The post-handshake auth, SSL_CTX_use_cert_and_key and client-hello APIs
  // this addon relies on need OpenSSL 3.0 at run time, whatever the headers.
  const unsigned long runtime_version = OpenSSL_version_num();  // NOLINT(runtime/int)
  exports.Set("opensslVersion", OpenSSL_version(OPENSSL_VERSION));
  exports.Set("opensslVersionNumber", static_cast<double>(runtime_version));
  if (runtime_version < 0x30000000UL) {
    CodedError(env, "ERR_CTLS_OPENSSL_TOO_OLD",
               std::string("continuous-tls needs OpenSSL >= 3.0, but Node runs ") +
                   OpenSSL_version(OPENSSL_VERSION))
        .ThrowAsJavaScriptException();
    return exports;
  }
  exports.Set("SecureContext", SecureContext::Init(env));
  exports.Set("TlsConnection", TlsConnection::Init(env));
  exports.Set("crlInfo", Napi::Function::New(env, CrlInfo, "crlInfo"));

  Napi::Object versions = Napi::Object::New(env);
  versions.Set("TLSv1", TLS1_VERSION);
  versions.Set("TLSv1.1", TLS1_1_VERSION);
  versions.Set("TLSv1.2", TLS1_2_VERSION);
  versions.Set("TLSv1.3", TLS1_3_VERSION);
  exports.Set("versions", versions);

  Napi::Object events = Napi::Object::New(env);
  events.Set("handshakeDone", static_cast<uint32_t>(TlsConnection::kHandshakeDone));
  events.Set("reauthDone", static_cast<uint32_t>(TlsConnection::kReauthDone));
  events.Set("closeNotify", static_cast<uint32_t>(TlsConnection::kCloseNotify));
  events.Set("newSession", static_cast<uint32_t>(TlsConnection::kNewSession));
  events.Set("clientHello", static_cast<uint32_t>(TlsConnection::kClientHello));
  events.Set("fatal", static_cast<uint32_t>(TlsConnection::kFatal));
  events.Set("writeBlocked", static_cast<uint32_t>(TlsConnection::kWriteBlocked));
  exports.Set("events", events);
  return exports;
}

NODE_API_MODULE(continuous_tls, Init)

}  // namespace ctls
