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
#include "js_values.h"
#include "openssl_util.h"
#include "secure_context.h"
#include "throwaway_identity.h"
#include "tls_connection.h"

namespace ctls {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // The post-handshake auth, SSL_CTX_use_cert_and_key and client-hello APIs
  // this addon relies on need OpenSSL 3.0 at run time, whatever the headers.
  const unsigned long runtime_version = OpenSSL_version_num();  // NOLINT(runtime/int)
  DefineOwn(env, exports, "opensslVersion", OpenSSL_version(OPENSSL_VERSION));
  DefineOwn(env, exports, "opensslVersionNumber", static_cast<double>(runtime_version));
  if (runtime_version < 0x30000000UL) {
    CodedError(env, "ERR_CTLS_OPENSSL_TOO_OLD",
               std::string("continuous-tls needs OpenSSL >= 3.0, but Node runs ") + OpenSSL_version(OPENSSL_VERSION))
        .ThrowAsJavaScriptException();
    return exports;
  }
  DefineOwn(env, exports, "SecureContext", SecureContext::Init(env));
  DefineOwn(env, exports, "TlsConnection", TlsConnection::Init(env));
  DefineOwn(env, exports, "crlInfo", Napi::Function::New(env, CrlInfo, "crlInfo"));
  DefineOwn(env, exports, "nodeTrustItem", Napi::Function::New(env, NodeTrustItem, "nodeTrustItem"));
  DefineOwn(env, exports, "throwawayIdentity", Napi::Function::New(env, ThrowawayIdentity, "throwawayIdentity"));

  // The process's soft limit on open descriptors (Node raises it to the hard limit at start-up).
  // The native I/O path holds two per connection, and gives way to the stream path past half of it.
  double descriptor_limit = std::numeric_limits<double>::infinity();
#ifndef _WIN32
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    descriptor_limit = static_cast<double>(limit.rlim_cur);
  }
#endif
  DefineOwn(env, exports, "descriptorLimit", descriptor_limit);

  Napi::Object versions = Napi::Object::New(env);
  DefineOwn(env, versions, "TLSv1", static_cast<double>(TLS1_VERSION));
  DefineOwn(env, versions, "TLSv1.1", static_cast<double>(TLS1_1_VERSION));
  DefineOwn(env, versions, "TLSv1.2", static_cast<double>(TLS1_2_VERSION));
  DefineOwn(env, versions, "TLSv1.3", static_cast<double>(TLS1_3_VERSION));
  DefineOwn(env, exports, "versions", versions);

  Napi::Object events = Napi::Object::New(env);
  DefineOwn(env, events, "handshakeDone", static_cast<double>(TlsConnection::kHandshakeDone));
  DefineOwn(env, events, "reauthDone", static_cast<double>(TlsConnection::kReauthDone));
  DefineOwn(env, events, "closeNotify", static_cast<double>(TlsConnection::kCloseNotify));
  DefineOwn(env, events, "newSession", static_cast<double>(TlsConnection::kNewSession));
  DefineOwn(env, events, "clientHello", static_cast<double>(TlsConnection::kClientHello));
  DefineOwn(env, events, "fatal", static_cast<double>(TlsConnection::kFatal));
  DefineOwn(env, events, "writeBlocked", static_cast<double>(TlsConnection::kWriteBlocked));
  DefineOwn(env, events, "identityWanted", static_cast<double>(TlsConnection::kIdentityWanted));
  DefineOwn(env, exports, "events", events);
  return exports;
}

NODE_API_MODULE(continuous_tls, Init)

}  // namespace ctls
