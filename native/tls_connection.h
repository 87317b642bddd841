// TlsConnection: one SSL object over two BIOs of our own (ciphertext_bios.h).
// TypeScript moves ciphertext between them and the transport; each incoming
// chunk costs one JS->C++ call that returns the plaintext and the ciphertext
// to send back.
#ifndef NATIVE_TLS_CONNECTION_H_
#define NATIVE_TLS_CONNECTION_H_

#include <napi.h>

#include "openssl_util.h"
#include "record_engine.h"

namespace ctls {

class SecureContext;

// The record loop, its state and the OpenSSL callbacks live in RecordEngine
// (record_engine.h), which the fuzz harnesses drive without Node-API.
class TlsConnection : public Napi::ObjectWrap<TlsConnection>, public RecordEngine {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit TlsConnection(const Napi::CallbackInfo& info);
  ~TlsConnection() override;

 private:
  Napi::Value Cycle(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value Shutdown(const Napi::CallbackInfo& info);
  Napi::Value SendFatalAlert(const Napi::CallbackInfo& info);
  Napi::Value RequestCertificate(const Napi::CallbackInfo& info);
  Napi::Value SetContext(const Napi::CallbackInfo& info);
  Napi::Value SetIdentity(const Napi::CallbackInfo& info);
  Napi::Value ResumeIdentity(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value GetInfo(const Napi::CallbackInfo& info);
  Napi::Value GetPeerChain(const Napi::CallbackInfo& info);
  Napi::Value GetVerifiedChain(const Napi::CallbackInfo& info);
  Napi::Value GetOwnCertificate(const Napi::CallbackInfo& info);
  Napi::Value GetSession(const Napi::CallbackInfo& info);
  Napi::Value GetVerifyError(const Napi::CallbackInfo& info);
  Napi::Value VerifiedUnderCurrentTrust(const Napi::CallbackInfo& info);
  Napi::Value VerifiedNotAfter(const Napi::CallbackInfo& info);
  Napi::Value ExportKeyingMaterial(const Napi::CallbackInfo& info);

  // The steps of one cycle, split the way Node splits TLSWrap.
  Napi::Value ReadPlaintext(Napi::Env env, char* reuse, size_t reuse_length, size_t* placed);
  Napi::Value TakeCiphertext(Napi::Env env);
  void NoteProgress();
  void RememberPeerCertificates();
  void RecordFatal(Napi::Env env, int ssl_error);
  Napi::Array Result(Napi::Env env, Napi::Value plaintext);
  bool Alive(Napi::Env env);

  // The context whose trust (RecordEngine::trust_) verifies the peer: the one
  // the connection was created with, or the one an SNICallback chose for it
  // (held alive by sni_context_ref_).
  Napi::ObjectReference trust_context_ref_;
  SecureContext* trust_context_ = nullptr;
  Napi::ObjectReference sni_context_ref_;

  Napi::Reference<Napi::Value> fatal_error_;
};

}  // namespace ctls

#endif  // NATIVE_TLS_CONNECTION_H_
