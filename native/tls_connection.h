// TlsConnection: one SSL object over two BIOs of our own (ciphertext_bios.h).
// TypeScript moves ciphertext between them and the transport; each incoming
// chunk costs one JS->C++ call that returns the plaintext and the ciphertext
// to send back.
#ifndef CONTINUOUS_TLS_TLS_CONNECTION_H_
#define CONTINUOUS_TLS_TLS_CONNECTION_H_

#include <napi.h>

#include <string>
#include <vector>

#include "ciphertext_bios.h"
#include "openssl_ptr.h"

namespace ctls {

class SecureContext;

class TlsConnection : public Napi::ObjectWrap<TlsConnection> {
 public:
  // Bits of the `events` field returned by cycle()/write(). Mechanism only:
  // TypeScript decides what each means for authorization.
  enum Event : uint32_t {
    kHandshakeDone = 1 << 0,    // the initial handshake completed
    kReauthDone = 1 << 1,       // a post-handshake auth / renegotiation completed
    kCloseNotify = 1 << 2,      // the peer sent close_notify
    kNewSession = 1 << 3,       // (client) a resumable session arrived
    kClientHello = 1 << 4,      // (server) paused at ClientHello for SNICallback
    kFatal = 1 << 5,            // a fatal TLS error; any alert is in the ciphertext
    kWriteBlocked = 1 << 6,     // SSL_write needs the peer's handshake messages first
  };

  static Napi::Function Init(Napi::Env env);
  explicit TlsConnection(const Napi::CallbackInfo& info);
  ~TlsConnection() override;

  static int VerifyCallback(int preverify_ok, X509_STORE_CTX* store_ctx);
  // SSL_CTX_set_cert_verify_callback: X509_verify_cert through the trust
  // context's VerifiedChains.
  static int CertVerifyCallback(X509_STORE_CTX* store_ctx, void* arg);
  static int ClientHelloCallback(SSL* ssl, int* alert, void* arg);
  static int NewSessionCallback(SSL* ssl, SSL_SESSION* session);

 private:
  static TlsConnection* FromSSL(const SSL* ssl);
  // The connection whose handshake runs the verification in `store_ctx`, if any.
  static TlsConnection* FromStoreContext(X509_STORE_CTX* store_ctx);

  Napi::Value Cycle(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value Shutdown(const Napi::CallbackInfo& info);
  Napi::Value SendFatalAlert(const Napi::CallbackInfo& info);
  Napi::Value RequestCertificate(const Napi::CallbackInfo& info);
  Napi::Value SetContext(const Napi::CallbackInfo& info);
  Napi::Value SetIdentity(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value GetInfo(const Napi::CallbackInfo& info);
  Napi::Value GetPeerChain(const Napi::CallbackInfo& info);
  Napi::Value GetVerifiedChain(const Napi::CallbackInfo& info);
  Napi::Value GetOwnCertificate(const Napi::CallbackInfo& info);
  Napi::Value GetSession(const Napi::CallbackInfo& info);
  Napi::Value GetVerifyError(const Napi::CallbackInfo& info);
  Napi::Value ExportKeyingMaterial(const Napi::CallbackInfo& info);

  // The steps of one cycle, split the way Node splits TLSWrap.
  Napi::Value ReadPlaintext(Napi::Env env, char* reuse, size_t reuse_length, size_t* placed);
  Napi::Value TakeCiphertext(Napi::Env env);
  void NoteProgress();
  void RememberPeerCertificates();
  void RecordFatal(Napi::Env env, int ssl_error);
  Napi::Array Result(Napi::Env env, Napi::Value plaintext);
  void UseTrustStore();
  bool Alive(Napi::Env env);

  // Declared before ssl_ so that they outlive the BIOs that use them.
  CiphertextSource source_;
  CiphertextSink sink_;
  SSLPointer ssl_;
  // The context whose trust store and CRL policy verify the peer: the one the
  // connection was created with, or the one an SNICallback chose for it
  // (held alive by sni_context_ref_).
  Napi::ObjectReference trust_context_ref_;
  SecureContext* trust_context_ = nullptr;
  Napi::ObjectReference sni_context_ref_;
  // The store last handed to SSL_set1_verify_cert_store (the SSL owns a reference).
  X509_STORE* verify_store_ = nullptr;

  bool is_server_ = false;
  bool reject_unauthorized_ = false;
  bool handshake_done_ = false;
  bool reauth_pending_ = false;  // a PHA request or renegotiation is outstanding
  bool reauth_strict_ = false;   // fail the connection on a bad fresh certificate
  bool reauth_chain_seen_ = false;  // the verify callback saw the answer's certificate
  bool client_hello_paused_ = false;
  bool client_hello_resolved_ = false;
  uint32_t events_ = 0;
  Napi::Reference<Napi::Value> fatal_error_;
  std::string client_hello_servername_;
  std::string session_der_;

  // The first verification error of the current verification (node:tls'
  // authorizationError) and its depth; -1 when none.
  int verify_error_ = X509_V_OK;
  int verify_error_depth_ = -1;
  bool stale_crl_seen_ = false;
  // (client) the server certificate of the first handshake; a renegotiation
  // presenting another one is refused.
  X509Pointer server_leaf_;
  bool peer_changed_ = false;
};

}  // namespace ctls

#endif  // CONTINUOUS_TLS_TLS_CONNECTION_H_
