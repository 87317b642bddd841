#include "record_engine.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>

namespace ctls {

namespace {

// Decrypted records go to a scratch buffer of at least this size; one record
// carries at most 2^14 bytes of plaintext (RFC 8446 section 5.1), plus slack.
constexpr size_t kScratchFloor = 64 * 1024;
constexpr size_t kMaxRecord = 16 * 1024 + 256;

// Small writes handed over together are sealed into one record instead of one
// record each (a 5-byte header and 16-byte tag saved per piece).
constexpr size_t kCoalesceLimit = 16 * 1024;

// Puts an SSL's verify mode back as it found it, unless dismissed: a
// certificate request that cannot be made leaves the connection unchanged.
class VerifyModeGuard {
 public:
  VerifyModeGuard(SSL* ssl, SSL_verify_cb callback) : ssl_(ssl), mode_(SSL_get_verify_mode(ssl)), callback_(callback) {}
  ~VerifyModeGuard() {
    if (ssl_ != nullptr) SSL_set_verify(ssl_, mode_, callback_);
  }
  VerifyModeGuard(const VerifyModeGuard&) = delete;
  VerifyModeGuard& operator=(const VerifyModeGuard&) = delete;

  void Dismiss() { ssl_ = nullptr; }

 private:
  SSL* ssl_;
  const int mode_;
  const SSL_verify_cb callback_;
};

}  // namespace

namespace {

// The option bits of RFC 8879 certificate compression, fixed by OpenSSL 3.2's
// ABI (SSL_OP_NO_TX_CERTIFICATE_COMPRESSION, SSL_OP_NO_RX_CERTIFICATE_COMPRESSION);
// older versions use neither bit.
constexpr uint64_t kNoCertificateCompression = (uint64_t{1} << 32) | (uint64_t{1} << 33);
constexpr unsigned long kFirstWithCertificateCompression = 0x30200000UL;  // NOLINT(runtime/int)
#ifdef SSL_OP_NO_TX_CERTIFICATE_COMPRESSION
static_assert((SSL_OP_NO_TX_CERTIFICATE_COMPRESSION | SSL_OP_NO_RX_CERTIFICATE_COMPRESSION) ==
                  kNoCertificateCompression,
              "OpenSSL's certificate compression option bits");
#endif

}  // namespace

SSL_CTX* RecordEngine::NewContext(bool is_server) {
  SSLCtxPointer ctx(SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method()));
  if (!ctx) return nullptr;
  // TLS 1.2 is the floor unless TypeScript lowers it; compression and
  // legacy renegotiation stay off (OpenSSL 3 defaults, stated for clarity).
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // OpenSSL 3.2 and later, when built with brotli, turn RFC 8879 certificate
  // compression on by default and compress our chain at brotli's top quality
  // on every handshake and every post-handshake certificate answer, which
  // makes each fresh re-authentication CPU-bound on compression.
  // node:tls keeps compression off unless asked; so do we, both ways, so a
  // peer sees the same handshake whichever OpenSSL Node brought. Decided by
  // the OpenSSL the process runs, not the headers the addon was built with:
  // one Node-API binary (a prebuild made against OpenSSL 3.0's headers) runs
  // on every Node line, OpenSSL 3.5's included.
  if (OpenSSL_version_num() >= kFirstWithCertificateCompression) {
    SSL_CTX_set_options(ctx.get(), kNoCertificateCompression);
  }
  // Memory BIOs accept any amount of ciphertext, so a partial write only
  // happens when a renegotiation blocks the write side.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // OpenSSL's record buffers (about 17 KB each way) are freed whenever they
  // are empty, as node:tls does: an idle connection then holds none, which
  // is most of a server's connections most of the time.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  if (is_server) {
    // A renegotiation must not silently resume the old session: it would
    // skip the certificate request and bring no new certificate.
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
    static const unsigned char kDefaultSessionIdContext[] = "continuous-tls";
    SSL_CTX_set_session_id_context(ctx.get(), kDefaultSessionIdContext, sizeof(kDefaultSessionIdContext) - 1);
    // Sessions resume through tickets only, as with node:tls: OpenSSL's own
    // server cache (20,480 sessions by default) would keep every client's
    // presented chain, padding and all, long after its connection closed.
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
  } else {
    // Clients keep no internal cache: sessions are handed to TypeScript.
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx.get(), NewSessionCallback);
  }
  // Every peer chain, at the handshake and at each re-authentication, is
  // verified through the connection's trust and its VerifiedChains.
  SSL_CTX_set_cert_verify_callback(ctx.get(), CertVerifyCallback, nullptr);
  return ctx.release();
}

bool RecordEngine::Receive(const char* data, size_t length) {
  if (ssl_ && (SSL_get_shutdown(ssl_.get()) & SSL_RECEIVED_SHUTDOWN) != 0) {
    source_.Discard();
    after_close_ += length;
    return after_close_ <= kAfterCloseLimit;
  }
  // Fails only when memory runs out; the record layer then reports the gap.
  source_.Append(data, length);
  return true;
}

void RecordEngine::PauseAtClientHello(SSL_CTX* ctx) { SSL_CTX_set_client_hello_cb(ctx, ClientHelloCallback, nullptr); }

bool RecordEngine::ParseServerName(const unsigned char* data, size_t length, std::string* name) {
  // server_name extension (RFC 6066 section 3): u16 list length, then
  // entries of u8 type, u16 length, name. Only host_name entries exist.
  if (data == nullptr || length <= 5) return false;
  const size_t list_length = (static_cast<size_t>(data[0]) << 8) | data[1];
  const size_t name_length = (static_cast<size_t>(data[3]) << 8) | data[4];
  if (list_length + 2 > length || data[2] != TLSEXT_NAMETYPE_host_name || name_length + 5 > length) return false;
  name->assign(reinterpret_cast<const char*>(data + 5), name_length);
  return true;
}

bool RecordEngine::Attach(SSL_CTX* ctx, TrustState* trust) {
  ssl_.reset(SSL_new(ctx));
  BIO* enc_in = CiphertextSource::NewBio(&source_);
  BIO* enc_out = CiphertextSink::NewBio(&sink_);
  if (!ssl_ || enc_in == nullptr || enc_out == nullptr) {
    BIO_free(enc_in);
    BIO_free(enc_out);
    ssl_.reset();
    return false;
  }
  SSL_set_bio(ssl_.get(), enc_in, enc_out);  // ssl_ owns both from here on
  SSL_set_app_data(ssl_.get(), this);
  trust_ = trust;
  UseTrustStore();
  return true;
}

void RecordEngine::UseTrustStore() {
  // A store replaced with setCa()/setCrl() while a handshake or a certificate
  // request is in flight decides the certificate that arrives after it,
  // never the store the exchange started under.
  X509_STORE* current = trust_->store();
  if (current == verify_store_) return;
  // The SSL holds a reference to the store it was given, so the address
  // cannot be reused by another store while it is compared here.
  SSL_set1_verify_cert_store(ssl_.get(), current);
  verify_store_ = current;
}

void RecordEngine::SwitchContext(SSL_CTX* ctx, TrustState* trust) {
  SSL_set_SSL_CTX(ssl_.get(), ctx);
  trust_ = trust;
  verify_store_ = nullptr;
  UseTrustStore();  // SSL_set_SSL_CTX replaced the per-SSL certificate settings
}

void RecordEngine::ConfigureServer(bool request_cert) {
  is_server_ = true;
  SSL_set_accept_state(ssl_.get());
  if (request_cert) {
    const int mode = SSL_VERIFY_PEER | (reject_unauthorized_ ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    SSL_set_verify(ssl_.get(), mode, VerifyCallback);
  } else {
    SSL_set_verify(ssl_.get(), SSL_VERIFY_NONE, nullptr);
  }
}

void RecordEngine::ConfigureClient(const std::string* servername, bool offer_post_handshake_auth,
                                   const unsigned char* session_der, size_t session_length) {
  is_server_ = false;
  SSL_set_connect_state(ssl_.get());
  // The client always verifies; rejectUnauthorized only decides whether a
  // failure aborts the handshake or is reported as authorizationError.
  SSL_set_verify(ssl_.get(), SSL_VERIFY_PEER, VerifyCallback);
  if (servername != nullptr) SSL_set_tlsext_host_name(ssl_.get(), servername->c_str());
  // Without this extension in the ClientHello a TLS 1.3 server cannot ask for
  // a certificate later (RFC 8446 section 4.2.6).
  if (offer_post_handshake_auth) SSL_set_post_handshake_auth(ssl_.get(), 1);
  if (session_der != nullptr) {
    const unsigned char* cursor = session_der;
    const long length = static_cast<long>(session_length);  // NOLINT(runtime/int): OpenSSL's type
    SSLSessionPointer parsed(d2i_SSL_SESSION(nullptr, &cursor, length));
    // An unusable session just means a full handshake.
    if (parsed) SSL_set_session(ssl_.get(), parsed.get());
  }
}

void RecordEngine::AskForIdentity() { SSL_set_cert_cb(ssl_.get(), CertificateRequestCallback, nullptr); }

void RecordEngine::ResumeIdentity() {
  if (!identity_paused_) return;
  identity_paused_ = false;
  identity_resolved_ = true;
}

int RecordEngine::ReadRecords(char* reuse, size_t reuse_length, size_t* placed, std::vector<char>* scratch,
                              size_t* used) {
  while (!client_hello_paused_ && !identity_paused_ && ssl_) {
    const bool into_reuse = *placed < reuse_length;
    if (!into_reuse && scratch->size() < *used + kMaxRecord) {
      scratch->resize(std::max(kScratchFloor, scratch->size() * 2));
    }
    char* target = into_reuse ? reuse + *placed : scratch->data() + *used;
    const size_t space = into_reuse ? reuse_length - *placed : scratch->size() - *used;
    const int read = SSL_read(ssl_.get(), target, static_cast<int>(std::min<size_t>(space, INT_MAX)));
    if (read > 0) {
      (into_reuse ? *placed : *used) += static_cast<size_t>(read);
      continue;
    }
    const int error = SSL_get_error(ssl_.get(), read);
    if (error == SSL_ERROR_WANT_READ) break;
    if (error == SSL_ERROR_ZERO_RETURN) {
      events_ |= kCloseNotify;
    } else if (error == SSL_ERROR_WANT_CLIENT_HELLO_CB) {
      events_ |= kClientHello;
    } else if (error == SSL_ERROR_WANT_X509_LOOKUP && identity_paused_) {
      events_ |= kIdentityWanted;
    } else {
      events_ |= kFatal;
      return error;
    }
    break;
  }
  return 0;
}

int RecordEngine::WritePieces(std::vector<std::pair<const char*, size_t>> pieces, size_t total,
                              std::vector<char>* scratch, size_t* consumed) {
  if (pieces.size() > 1 && total <= kCoalesceLimit) {
    if (scratch->size() < total) scratch->resize(std::max(kScratchFloor, total));
    size_t offset = 0;
    for (const auto& piece : pieces) {
      std::memcpy(scratch->data() + offset, piece.first, piece.second);
      offset += piece.second;
    }
    pieces.assign(1, {scratch->data(), total});
  }
  for (const auto& piece : pieces) {
    size_t offset = 0;
    while (offset < piece.second) {
      const int step = static_cast<int>(std::min<size_t>(piece.second - offset, INT_MAX));
      const int written = SSL_write(ssl_.get(), piece.first + offset, step);
      if (written > 0) {
        offset += static_cast<size_t>(written);
        *consumed += static_cast<size_t>(written);
        continue;
      }
      const int error = SSL_get_error(ssl_.get(), written);
      if (error == SSL_ERROR_WANT_READ) {
        events_ |= kWriteBlocked;
        return 0;
      }
      // A write that ran into a certificate request waits for the identity too.
      if (error == SSL_ERROR_WANT_X509_LOOKUP && identity_paused_) {
        events_ |= kWriteBlocked | kIdentityWanted;
        return 0;
      }
      events_ |= kFatal;
      return error;
    }
  }
  return 0;
}

bool RecordEngine::TrackProgress() {
  if (!ssl_) return false;
  bool finished = false;
  if (!handshake_done_ && SSL_is_init_finished(ssl_.get())) {
    handshake_done_ = true;
    events_ |= kHandshakeDone;
    finished = true;
    if (!is_server_) {
      X509* leaf = SSL_get0_peer_certificate(ssl_.get());
      if (leaf != nullptr && X509_up_ref(leaf) == 1) server_leaf_.reset(leaf);
    }
  }
  // A renegotiation keeps renegotiate_pending until its end. A post-handshake
  // auth leaves "init" as soon as the CertificateRequest is written and
  // re-enters it only when the answer arrives, so application data read in
  // between must not count as the end: wait until the new certificate went
  // through the verify callback and the client's Finished is processed.
  if (reauth_pending_ && reauth_chain_seen_ && !SSL_in_init(ssl_.get()) && !SSL_renegotiate_pending(ssl_.get())) {
    reauth_pending_ = false;
    reauth_strict_ = false;
    reauth_chain_seen_ = false;
    events_ |= kReauthDone;
    finished = true;
  }
  return finished;
}

RecordEngine::RequestStatus RecordEngine::BeginCertificateRequest() {
  verify_error_ = X509_V_OK;
  verify_error_depth_ = -1;
  VerifyModeGuard restore_mode(ssl_.get(), VerifyCallback);
  SSL_set_verify(ssl_.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_POST_HANDSHAKE,
                 VerifyCallback);

  if (SSL_version(ssl_.get()) >= TLS1_3_VERSION) {
    // New tickets after the exchange would re-encode the client certificate
    // into each ticket for nothing.
    SSL_set_num_tickets(ssl_.get(), 0);
    if (SSL_verify_client_post_handshake(ssl_.get()) != 1) {
      const unsigned long error = ERR_peek_last_error();  // NOLINT(runtime/int)
      return ERR_GET_REASON(error) == SSL_R_EXTENSION_NOT_RECEIVED ? RequestStatus::kNoPostHandshakeAuth
                                                                   : RequestStatus::kPostHandshakeAuthFailed;
    }
  } else {
    if (SSL_get_secure_renegotiation_support(ssl_.get()) != 1) return RequestStatus::kNoSecureRenegotiation;
    if (SSL_renegotiate(ssl_.get()) != 1) return RequestStatus::kRenegotiateFailed;
  }
  // The request is made: from here on the stricter mode stays, sent or not.
  restore_mode.Dismiss();
  reauth_pending_ = true;
  reauth_strict_ = true;
  reauth_chain_seen_ = false;
  // The request is only queued; SSL_do_handshake writes it out. For a TLS 1.2
  // renegotiation it returns at once, the rest is driven by SSL_read.
  const int status = SSL_do_handshake(ssl_.get());
  if (status <= 0 && SSL_get_error(ssl_.get(), status) != SSL_ERROR_WANT_READ) return RequestStatus::kSendFailed;
  return RequestStatus::kSent;
}

bool RecordEngine::VerifiedUnderCurrentTrust() const {
  return verified_trust_ == nullptr || (verified_trust_ == trust_ && verified_generation_ == trust_->generation());
}

RecordEngine* RecordEngine::FromSSL(const SSL* ssl) { return static_cast<RecordEngine*>(SSL_get_app_data(ssl)); }

RecordEngine* RecordEngine::FromStoreContext(X509_STORE_CTX* store_ctx) {
  const SSL* ssl = static_cast<const SSL*>(X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  return ssl == nullptr ? nullptr : FromSSL(ssl);
}

int RecordEngine::VerifyCallback(int preverify_ok, X509_STORE_CTX* store_ctx) {
  RecordEngine* self = FromStoreContext(store_ctx);
  if (self == nullptr) return preverify_ok;
  if (self->reauth_pending_) self->reauth_chain_seen_ = true;
  if (preverify_ok) return 1;
  const int error = X509_STORE_CTX_get_error(store_ctx);
  // In best-effort revocation a CRL past its nextUpdate still counts; the
  // staleness itself is reported by TypeScript as a warning.
  if (error == X509_V_ERR_CRL_HAS_EXPIRED && self->trust_->allow_stale_crl()) {
    self->stale_crl_seen_ = true;
    return 1;
  }
  if (self->verify_error_ == X509_V_OK) {
    self->verify_error_ = error;
    self->verify_error_depth_ = X509_STORE_CTX_get_error_depth(store_ctx);
  }
  return (self->reject_unauthorized_ || self->reauth_strict_) ? 0 : 1;
}

int RecordEngine::CertVerifyCallback(X509_STORE_CTX* store_ctx, void* arg) {
  RecordEngine* self = FromStoreContext(store_ctx);
  if (self == nullptr || self->trust_ == nullptr) return X509_verify_cert(store_ctx);
  if (!self->is_server_ && self->server_leaf_ &&
      X509_cmp(X509_STORE_CTX_get0_cert(store_ctx), self->server_leaf_.get()) != 0) {
    // A TLS 1.2 renegotiation must not swap the server's identity under a
    // client that checked the first one (hostname, pinning, policy): the
    // renegotiation fails with a fatal alert instead (RFC 5746 binds the
    // handshakes together, not the certificates).
    self->peer_changed_ = true;
    X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
  }
  self->verified_trust_ = self->trust_;
  self->verified_generation_ = self->trust_->generation();
  // A server verifies client certificates, a client server certificates; OpenSSL
  // has set the matching purpose on store_ctx already.
  return self->trust_->verified_chains().Verify(store_ctx,
                                                self->is_server_ ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER);
}

// Pauses the handshake at the ClientHello (SSL_CLIENT_HELLO_RETRY) so that an
// asynchronous SNICallback in JS can choose the context; the owner resumes.
int RecordEngine::ClientHelloCallback(SSL* ssl, int* alert, void* arg) {
  RecordEngine* self = FromSSL(ssl);
  if (self == nullptr || self->client_hello_resolved_) return SSL_CLIENT_HELLO_SUCCESS;
  self->client_hello_servername_.clear();
  const unsigned char* data = nullptr;
  size_t length = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &data, &length)) {
    ParseServerName(data, length, &self->client_hello_servername_);
  }
  self->client_hello_paused_ = true;
  return SSL_CLIENT_HELLO_RETRY;
}

// SSL_set_cert_cb on a client runs when the server's CertificateRequest (or a
// TLS 1.2 renegotiation's) is processed; -1 pauses the handshake with
// SSL_ERROR_WANT_X509_LOOKUP, and OpenSSL calls again when it is driven on
// (SSL_set_cert_cb(3)). The owner's answer is already on the SSL by then.
int RecordEngine::CertificateRequestCallback(SSL* ssl, void* arg) {
  RecordEngine* self = FromSSL(ssl);
  if (self == nullptr) return 1;
  if (self->identity_resolved_) {
    self->identity_resolved_ = false;
    return 1;
  }
  self->identity_paused_ = true;
  return -1;
}

int RecordEngine::NewSessionCallback(SSL* ssl, SSL_SESSION* session) {
  RecordEngine* self = FromSSL(ssl);
  if (self == nullptr) return 0;
  const int length = i2d_SSL_SESSION(session, nullptr);
  if (length <= 0) return 0;
  self->session_der_.resize(static_cast<size_t>(length));
  unsigned char* cursor = reinterpret_cast<unsigned char*>(&self->session_der_[0]);
  i2d_SSL_SESSION(session, &cursor);
  self->events_ |= kNewSession;
  return 0;  // we did not keep a reference to `session`
}

}  // namespace ctls
