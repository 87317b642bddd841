// SecureContext: one SSL_CTX with its identity, versions, ciphers, ALPN and a
// trust store (CAs + CRLs) that can be replaced while connections are live.
#ifndef NATIVE_SECURE_CONTEXT_H_
#define NATIVE_SECURE_CONTEXT_H_

#include <napi.h>

#include <cstdint>
#include <string>
#include <unordered_map>

#include "openssl_util.h"
#include "trust_state.h"

namespace ctls {

class SecureContext : public Napi::ObjectWrap<SecureContext> {
 public:
  static Napi::Function Init(Napi::Env env);
  static SecureContext* Unwrap(Napi::Value value);

  explicit SecureContext(const Napi::CallbackInfo& info);

  SSL_CTX* ctx() const { return ctx_.get(); }
  // Whom this context trusts; setTrust() replaces it in place, so connections
  // verifying through it see the new trust at their next verification.
  TrustState& trust() { return trust_; }
  // Adds certificates a handshake already decoded to the cache VerifyChain
  // uses, so revalidating that connection later decodes nothing.
  void RememberDecoded(X509* certificate);
  bool is_server() const { return is_server_; }

 private:
  Napi::Value AddIdentity(const Napi::CallbackInfo& info);
  Napi::Value SetTrust(const Napi::CallbackInfo& info);
  Napi::Value SetVersions(const Napi::CallbackInfo& info);
  Napi::Value SetCiphers(const Napi::CallbackInfo& info);
  Napi::Value SetCiphersuites(const Napi::CallbackInfo& info);
  Napi::Value SetGroups(const Napi::CallbackInfo& info);
  Napi::Value SetAlpnProtocols(const Napi::CallbackInfo& info);
  Napi::Value SetSessionIdContext(const Napi::CallbackInfo& info);
  Napi::Value SetSessionTimeout(const Napi::CallbackInfo& info);
  Napi::Value SetTicketKeys(const Napi::CallbackInfo& info);
  Napi::Value GetTicketKeys(const Napi::CallbackInfo& info);
  Napi::Value EnableClientHelloPause(const Napi::CallbackInfo& info);
  Napi::Value VerifyChain(const Napi::CallbackInfo& info);
  Napi::Value VerifyChains(const Napi::CallbackInfo& info);
  Napi::Value AbandonBatches(const Napi::CallbackInfo& info);
  Napi::Value CacheStats(const Napi::CallbackInfo& info);

  // A new reference to the certificate `der` decodes to, decoded once per
  // distinct encoding (nullptr if it does not decode). See VerifyChain.
  X509* DecodeCertificate(const unsigned char* der, size_t length);
  // A new reference to the certificate already decoded from `der`, or nullptr;
  // decodes nothing.
  X509* FindDecoded(const unsigned char* der, size_t length);

  static int SelectAlpn(SSL* ssl, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
                        unsigned int in_length, void* arg);

  SSLCtxPointer ctx_;
  TrustState trust_;
  std::string alpn_wire_;  // RFC 7301 wire format: length-prefixed protocol names
  bool is_server_ = false;
  // Decoded certificates by their exact DER bytes. Revalidation verifies the
  // same few client chains over and over, and OpenSSL 3.0 spends more on
  // decoding a certificate (its public-key decoder set-up) than on checking
  // its signature. A decoded X509 depends only on its bytes, never on the
  // trust store, so a store swap keeps it valid. Bounded: cleared when full.
  using DecodedMap = std::unordered_map<std::string, X509Pointer>;
  DecodedMap::iterator KeepDecoded(std::string der, X509Pointer certificate);
  DecodedMap decoded_;
  static constexpr size_t kMaxDecoded = 512;
  // verifyChains() batches hold at most this many pool threads, whatever they are asked for.
  static constexpr double kMaxBatchThreads = 16;
  // Inputs longer than these are refused before anything is read: more chains than a batch is
  // given (VERIFY_CACHE_ENTRIES), more certificates than any presented chain holds.
  static constexpr uint32_t kMaxBatchChains = 10000;
  static constexpr uint32_t kMaxChainCertificates = 100;
};

}  // namespace ctls

#endif  // NATIVE_SECURE_CONTEXT_H_
