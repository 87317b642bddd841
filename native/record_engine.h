// RecordEngine: the Node-API-free core of a TlsConnection. One SSL object over
// the two ciphertext BIOs, the SSL_read and SSL_write loops, the handshake and
// re-authentication state they advance, and the start of a certificate
// request. TlsConnection (a Napi::ObjectWrap) derives from it and turns the
// outcomes into JavaScript values; the fuzz harnesses in test/fuzz/ drive the
// very same code with bytes instead of JavaScript calls.
#ifndef CONTINUOUS_TLS_RECORD_ENGINE_H_
#define CONTINUOUS_TLS_RECORD_ENGINE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ciphertext_bios.h"
#include "openssl_core.h"

namespace ctls {

class RecordEngine {
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

  // How BeginCertificateRequest ended.
  enum class RequestStatus {
    kSent,                    // the request is in the sink; the answer comes through ReadRecords
    kNoPostHandshakeAuth,     // TLS 1.3 client without the post_handshake_auth extension
    kPostHandshakeAuthFailed,
    kNoSecureRenegotiation,   // TLS 1.2 client without RFC 5746
    kRenegotiateFailed,
    kSendFailed,              // queued, but writing it failed
  };

  // A new SSL_CTX with the settings every context of ours shares, before its
  // callbacks, identity and trust are added; nullptr when OpenSSL fails.
  static SSL_CTX* NewContext(bool is_server);

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
  CiphertextSource& source() { return source_; }
  CiphertextSink& sink() { return sink_; }

 protected:
  ~RecordEngine() = default;

  // SSL_new over our two BIOs, with `app_data` for the callbacks; false (and
  // nothing held) when OpenSSL fails.
  bool Attach(SSL_CTX* ctx, void* app_data);
  void ConfigureServer(bool request_cert, SSL_verify_cb callback);
  void ConfigureClient(const std::string* servername, bool offer_post_handshake_auth,
                       const unsigned char* session_der, size_t session_length, SSL_verify_cb callback);

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
  // it to the sink, verifying the answer with `callback`.
  RequestStatus BeginCertificateRequest(SSL_verify_cb callback);

  // Declared before ssl_ so that they outlive the BIOs that use them.
  CiphertextSource source_;
  CiphertextSink sink_;
  SSLPointer ssl_;

  bool is_server_ = false;
  bool reject_unauthorized_ = false;
  bool handshake_done_ = false;
  bool reauth_pending_ = false;  // a PHA request or renegotiation is outstanding
  bool reauth_strict_ = false;   // fail the connection on a bad fresh certificate
  bool reauth_chain_seen_ = false;  // the verify callback saw the answer's certificate
  bool client_hello_paused_ = false;
  bool client_hello_resolved_ = false;
  uint32_t events_ = 0;

  // The first verification error of the current verification (node:tls'
  // authorizationError) and its depth; -1 when none.
  int verify_error_ = X509_V_OK;
  int verify_error_depth_ = -1;
  bool stale_crl_seen_ = false;
};

}  // namespace ctls

#endif  // CONTINUOUS_TLS_RECORD_ENGINE_H_
