// RecordEngine: the Node-API-free core of a TlsConnection. One SSL object over
// the two ciphertext BIOs, the SSL_read and SSL_write loops, the handshake and
// re-authentication state they advance, the start of a certificate request,
// and the OpenSSL callbacks that verify the peer. TlsConnection (a Napi::ObjectWrap) derives from it and turns the
// outcomes into JavaScript values; the fuzz harnesses in test/fuzz/ drive the
// very same code with bytes instead of JavaScript calls.
#ifndef NATIVE_RECORD_ENGINE_H_
#define NATIVE_RECORD_ENGINE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ciphertext_bios.h"
#include "openssl_core.h"
#include "trust_state.h"

namespace ctls {

class RecordEngine {
 public:
  // Bits of the `events` field returned by cycle()/write(). Mechanism only:
  // TypeScript decides what each means for authorization.
  enum Event : uint32_t {
    kHandshakeDone = 1 << 0,   // the initial handshake completed
    kReauthDone = 1 << 1,      // a post-handshake auth / renegotiation completed
    kCloseNotify = 1 << 2,     // the peer sent close_notify
    kNewSession = 1 << 3,      // (client) a resumable session arrived
    kClientHello = 1 << 4,     // (server) paused at ClientHello for SNICallback
    kFatal = 1 << 5,           // a fatal TLS error; any alert is in the ciphertext
    kWriteBlocked = 1 << 6,    // SSL_write needs the peer's handshake messages first
    kIdentityWanted = 1 << 7,  // (client) paused at a certificate request until the owner resumes
  };

  // How BeginCertificateRequest ended.
  enum class RequestStatus {
    kSent,                 // the request is in the sink; the answer comes through ReadRecords
    kNoPostHandshakeAuth,  // TLS 1.3 client without the post_handshake_auth extension
    kPostHandshakeAuthFailed,
    kNoSecureRenegotiation,  // TLS 1.2 client without RFC 5746
    kRenegotiateFailed,
    kSendFailed,  // queued, but writing it failed
  };

  // A new SSL_CTX with the settings and callbacks every context of ours
  // shares, before its identity and trust are added; nullptr when OpenSSL fails.
  static SSL_CTX* NewContext(bool is_server);
  // Servers that choose their context per name (an SNICallback) pause each
  // handshake at the ClientHello (kClientHello) until the owner resolves it.
  static void PauseAtClientHello(SSL_CTX* ctx);

  // The first host_name of a ClientHello's server_name extension body
  // (RFC 6066 section 3); false when there is none.
  static bool ParseServerName(const unsigned char* data, size_t length, std::string* name);

  RecordEngine() = default;
  RecordEngine(const RecordEngine&) = delete;
  RecordEngine& operator=(const RecordEngine&) = delete;

  SSL* ssl() const { return ssl_.get(); }
  uint32_t events() const { return events_; }
  bool handshake_done() const { return handshake_done_; }
  bool reauth_pending() const { return reauth_pending_; }
  bool identity_paused() const { return identity_paused_; }
  // Whether the last certificate verification ran under the trust in force
  // now (true when none ran). A peer can split its flight so that its
  // Certificate is verified before a trust swap and the handshake ends after it.
  bool VerifiedUnderCurrentTrust() const;
  CiphertextSource& source() { return source_; }
  CiphertextSink& sink() { return sink_; }
  // Queues ciphertext from the transport. After the peer's close_notify
  // OpenSSL reads no further record, so what follows would stay here for
  // good: it is dropped instead (RFC 8446 section 6.1 ignores data after
  // closure). False once the peer has sent more than kAfterCloseLimit bytes
  // after it: an honest peer sends nothing more, and one that streams on
  // would keep this connection reading for nothing, so it is cut.
  bool Receive(const char* data, size_t length);
  static constexpr size_t kAfterCloseLimit = 64 * 1024;

 protected:
  ~RecordEngine() = default;

  // SSL_new over our two BIOs, verifying the peer with `trust`; false (and
  // nothing held) when OpenSSL fails.
  bool Attach(SSL_CTX* ctx, TrustState* trust);
  void ConfigureServer(bool request_cert);
  void ConfigureClient(const std::string* servername, bool offer_post_handshake_auth, const unsigned char* session_der,
                       size_t session_length);
  // (client) Pauses at every certificate request of the server (kIdentityWanted)
  // so that the owner can choose the identity to present, then ResumeIdentity().
  void AskForIdentity();
  void ResumeIdentity();
  // Serves the rest of the handshake from `ctx` (an SNICallback's choice,
  // made at the ClientHello), whose `trust` also decides whom it trusts: its
  // CAs, CRLs and revocation mode verify the peer, now and at every re-check.
  void SwitchContext(SSL_CTX* ctx, TrustState* trust);
  // Hands the SSL the store `trust_` holds now, if it does not have it yet.
  // Called before every step that may verify a certificate.
  void UseTrustStore();

  // Drives the handshake and decrypts every complete record. SSL_read also runs
  // handshake messages (initial, post-handshake auth, renegotiation, key update).
  // Plaintext fills `reuse` first (`*placed` bytes), then `scratch` (`*used`
  // bytes). Returns the SSL_get_error code of a fatal error, 0 otherwise.
  int ReadRecords(char* reuse, size_t reuse_length, size_t* placed, std::vector<char>* scratch, size_t* used);
  // SSL_write of every piece, small ones sealed together through `scratch`.
  // `*consumed` bytes went in; returns the SSL_get_error code of a fatal error,
  // 0 otherwise (kWriteBlocked in events_ when a renegotiation holds writes).
  int WritePieces(std::vector<std::pair<const char*, size_t>> pieces, size_t total, std::vector<char>* scratch,
                  size_t* consumed);
  // Notes a finished handshake or re-authentication in events_; true when one
  // finished, i.e. the peer's certificates may be new.
  bool TrackProgress();
  // Queues a CertificateRequest (TLS 1.3) or HelloRequest (TLS 1.2) and writes
  // it to the sink; the answer is verified strictly.
  RequestStatus BeginCertificateRequest();

  // Declared before ssl_ so that they outlive the BIOs that use them.
  CiphertextSource source_;
  // Bytes the peer sent after its close_notify (see Receive).
  size_t after_close_ = 0;
  CiphertextSink sink_;
  SSLPointer ssl_;

  bool is_server_ = false;
  bool reject_unauthorized_ = false;
  bool handshake_done_ = false;
  bool reauth_pending_ = false;     // a PHA request or renegotiation is outstanding
  bool reauth_strict_ = false;      // fail the connection on a bad fresh certificate
  bool reauth_chain_seen_ = false;  // the verify callback saw the answer's certificate
  bool client_hello_paused_ = false;
  bool client_hello_resolved_ = false;
  bool identity_paused_ = false;    // (client) waiting for the owner's identity
  bool identity_resolved_ = false;  // (client) the owner answered the pending request
  uint32_t events_ = 0;

  // The trust that verifies the peer (not owned: its context outlives us).
  TrustState* trust_ = nullptr;
  // The store last handed to SSL_set1_verify_cert_store (the SSL owns a reference).
  X509_STORE* verify_store_ = nullptr;
  // The trust and its generation at the last certificate verification.
  const TrustState* verified_trust_ = nullptr;
  uint64_t verified_generation_ = 0;
  // (client) the server certificate of the first handshake; a renegotiation
  // presenting another one is refused (peer_changed_).
  X509Pointer server_leaf_;
  bool peer_changed_ = false;
  std::string client_hello_servername_;
  // (client) DER of the latest session NewSessionCallback saw.
  std::string session_der_;

  // The first verification error of the current verification (node:tls'
  // authorizationError) and its depth; -1 when none.
  int verify_error_ = X509_V_OK;
  int verify_error_depth_ = -1;
  bool stale_crl_seen_ = false;

 private:
  // The OpenSSL callbacks. Each recovers its engine from SSL_get_app_data.
  static RecordEngine* FromSSL(const SSL* ssl);
  // The engine whose handshake runs the verification in `store_ctx`, if any.
  static RecordEngine* FromStoreContext(X509_STORE_CTX* store_ctx);
  // SSL_set_verify: records the first verification error and decides whether
  // it is fatal.
  static int VerifyCallback(int preverify_ok, X509_STORE_CTX* store_ctx);
  // SSL_CTX_set_cert_verify_callback: X509_verify_cert through the trust's
  // VerifiedChains.
  static int CertVerifyCallback(X509_STORE_CTX* store_ctx, void* arg);
  static int ClientHelloCallback(SSL* ssl, int* alert, void* arg);
  static int NewSessionCallback(SSL* ssl, SSL_SESSION* session);
  static int CertificateRequestCallback(SSL* ssl, void* arg);
};

}  // namespace ctls

#endif  // NATIVE_RECORD_ENGINE_H_
