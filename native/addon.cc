// Module init: checks the OpenSSL that Node exports and registers the classes
// and module-level functions.
#include <napi.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include <limits>
#include <string>

#ifndef _WIN32
#include <sys/resource.h>
#endif

#include "crl_info.h"
#include "openssl_util.h"
#include "secure_context.h"
#include "throwaway_identity.h"
#include "tls_connection.h"

namespace ctls {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // The post-handshake auth, SSL_CTX_use_cert_and_key and client-hello APIs
  // this addon relies on need OpenSSL 3.0 at run time, whatever the headers.
  const unsigned long runtime_version = OpenSSL_version_num();  // NOLINT(runtime/int)
  exports.Set("opensslVersion", OpenSSL_version(OPENSSL_VERSION));
  exports.Set("opensslVersionNumber", static_cast<double>(runtime_version));
  if (runtime_version < 0x30000000UL) {
    CodedError(env, "ERR_CTLS_OPENSSL_TOO_OLD",
               std::string("continuous-tls needs OpenSSL >= 3.0, but Node runs ") + OpenSSL_version(OPENSSL_VERSION))
        .ThrowAsJavaScriptException();
    return exports;
  }
  exports.Set("SecureContext", SecureContext::Init(env));
  exports.Set("TlsConnection", TlsConnection::Init(env));
  exports.Set("crlInfo", Napi::Function::New(env, CrlInfo, "crlInfo"));
  exports.Set("nodeTrustItem", Napi::Function::New(env, NodeTrustItem, "nodeTrustItem"));
  exports.Set("throwawayIdentity", Napi::Function::New(env, ThrowawayIdentity, "throwawayIdentity"));

  // The process's soft limit on open descriptors (Node raises it to the hard limit at start-up).
  // The native I/O path holds two per connection, and gives way to the stream path past half of it.
  double descriptor_limit = std::numeric_limits<double>::infinity();
#ifndef _WIN32
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    descriptor_limit = static_cast<double>(limit.rlim_cur);
  }
#endif
  exports.Set("descriptorLimit", descriptor_limit);

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
  events.Set("identityWanted", static_cast<uint32_t>(TlsConnection::kIdentityWanted));
  exports.Set("events", events);
  return exports;
}

NODE_API_MODULE(continuous_tls, Init)

}  // namespace ctls
