// TlsConnection: one SSL object over two BIOs of our own (ciphertext_bios.h).
// Either TypeScript moves ciphertext between them and the transport (each
// incoming chunk costs one JS->C++ call that returns the plaintext and the
// ciphertext to send back), or the connection owns the socket itself through
// libuv (attachTransport, uv_transport.h): ciphertext then never enters
// JavaScript, and plaintext crosses once per read.
#ifndef NATIVE_TLS_CONNECTION_H_
#define NATIVE_TLS_CONNECTION_H_

#include <napi.h>

#include <memory>
#include <utility>
#include <vector>

#include "openssl_util.h"
#include "record_engine.h"
#include "uv_transport.h"

namespace ctls {

class SecureContext;

// The record loop, its state and the OpenSSL callbacks live in RecordEngine
// (record_engine.h), which the fuzz harnesses drive without Node-API.
class TlsConnection : public Napi::ObjectWrap<TlsConnection>, public RecordEngine, private UvTransport::Delegate {
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

  // The native transport (tls_connection_transport.cc).
  Napi::Value AttachTransport(const Napi::CallbackInfo& info);
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value SetReading(const Napi::CallbackInfo& info);
  Napi::Value EndTransport(const Napi::CallbackInfo& info);
  Napi::Value SetTransportRef(const Napi::CallbackInfo& info);
  Napi::Value CloseTransportMethod(const Napi::CallbackInfo& info);
  Napi::Value TransportStats(const Napi::CallbackInfo& info);
  void CloseTransport();
  // Writes what OpenSSL produced to the attached transport; false without one.
  bool FlushToTransport();
  void CallOwner(std::initializer_list<napi_value> args);
  bool CanCallJs();
  static Napi::Value CopyOutSmall(Napi::Env env, Napi::Buffer<char> buffer, size_t placed);
  static Napi::Value OwnPlaintext(Napi::Env env, Napi::Buffer<char> room, size_t placed);
  static Napi::Value OwnPlaintext(Napi::Env env, Napi::ArrayBuffer room, size_t placed);
  void OnTransportRead(const char* data, size_t length) override;
  void OnTransportEnd() override;
  void OnTransportError(int status, const char* syscall) override;
  void OnTransportDrain() override;
  void OnTransportShutdown(int status) override;
  void OnTransportGone() override;

  // The steps of one cycle, split the way Node splits TLSWrap.
  Napi::Value ReadPlaintext(Napi::Env env, char* reuse, size_t reuse_length, size_t* placed);
  Napi::Value TakeCiphertext(Napi::Env env);
  // The values of write()'s and send()'s data (a value, or an array's elements); may run JavaScript.
  static bool WriteValues(const Napi::Value& data, std::vector<Napi::Value>* values);
  // write()'s and send()'s shared step: SSL_write (WritePieces) of the Buffers among `values`, in
  // a fresh error scope and event set, a fatal error recorded. Runs no JavaScript between reading
  // the Buffers' memory and writing it. Returns the bytes consumed; `offered` gets those given.
  // kRefused, with a JavaScript exception pending and nothing sealed, when a value cannot be read.
  static constexpr size_t kRefused = static_cast<size_t>(-1);
  size_t Seal(Napi::Env env, const std::vector<Napi::Value>& values, size_t* offered = nullptr);
  void NoteProgress();
  void RememberPeerCertificates();
  // The peer sent more than RecordEngine::kAfterCloseLimit after its close_notify.
  void RecordDataAfterClose(Napi::Env env);
  void RecordFatal(Napi::Env env, int ssl_error);
  // [plaintext, ciphertext, events, error, fifth, sixth], every element defined (see js_values.h).
  Napi::Value Result(Napi::Env env, Napi::Value plaintext, Napi::Value fifth, Napi::Value sixth);
  bool Alive(Napi::Env env);

  // The context whose trust (RecordEngine::trust_) verifies the peer: the one
  // the connection was created with, or the one an SNICallback chose for it
  // (held alive by sni_context_ref_).
  Napi::ObjectReference trust_context_ref_;
  SecureContext* trust_context_ = nullptr;
  Napi::ObjectReference sni_context_ref_;

  Napi::Reference<Napi::Value> fatal_error_;

  // Set while the connection owns its socket (attachTransport until destroy);
  // the wrapper is then referenced strongly (Ref) so that libuv's callbacks
  // always find it alive. The transport deletes itself after its close.
  UvTransport* transport_ = nullptr;
  Napi::FunctionReference on_transport_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
};

}  // namespace ctls

#endif  // NATIVE_TLS_CONNECTION_H_
