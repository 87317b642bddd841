// libFuzzer harness over the record feed of one TLS connection: the target is
// a RecordEngine (the code TlsConnection runs), configured as SecureContext
// and TlsConnection configure it, and the peer a plain OpenSSL SSL object.
// Built twice: CTLS_FUZZ_TARGET_IS_SERVER=1 (fuzz_tls_server) and =0
// (fuzz_tls_client).
//
// Input: two configuration bytes, then operations until the input ends:
//   byte 0: bits 0-1 versions (0 any, 1 target TLS 1.3 only, 2 target up to
//           TLS 1.2, 3 peer up to TLS 1.2); bit 2 the server asks for a
//           certificate in the handshake; bit 3 target rejectUnauthorized;
//           bits 4-5 client identity (none, alice, mallory (revoked),
//           stranger (unknown CA)); bit 6 the client offers post-handshake
//           auth; bit 7 server target pauses at the ClientHello (SNI) /
//           client target sends server_name.
//   byte 1: bit 0 CRLs in the trust store, bit 1 stale CRLs, bit 2
//           crlCheckAll, bit 3 allowStaleCrl, bits 4-5 TLS 1.2 cipher, bit 6
//           the SNI callback swaps to another context.
// Operations (see Op) move ciphertext between the two sides whole, in parts,
// corrupted or truncated, inject raw bytes, write application data, request a
// certificate (TLS 1.3 post-handshake auth or TLS 1.2 renegotiation), update
// keys, swap the trust store, give the peer a fuzzed certificate chain (the
// way fuzzed certificates reach the target inside encrypted handshakes), shut
// down and end the transport.
//
// Randomness is deterministic (fuzz_common.h), so a transcript recorded with
// a live peer replays as injected bytes: with CTLS_FUZZ_WRITE_SEEDS=<dir> the
// harness writes such transcripts as seeds and exits.
//
// Besides ASan/UBSan, it checks properties: plaintext the target reads is a
// prefix of what the peer wrote (and the other way round), and a handshake or
// re-authentication that a strict verification governs never completes with
// an unverified certificate.
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../../native/record_engine.h"
#include "fuzz_common.h"

#ifndef CTLS_FUZZ_TARGET_IS_SERVER
#error "define CTLS_FUZZ_TARGET_IS_SERVER to 1 or 0"
#endif

namespace {

using ctls::RecordEngine;
using ctls_fuzz::Actor;
using ctls_fuzz::ActorScope;
using ctls_fuzz::Violation;

constexpr bool kTargetIsServer = CTLS_FUZZ_TARGET_IS_SERVER != 0;
constexpr uint64_t kSeed = 0xc0ffee;
const bool debug = std::getenv("CTLS_FUZZ_DEBUG") != nullptr;

enum Op : uint8_t {
  kDeliverAll = 0,  // every pending peer byte to the target
  kDeliverSome,     // u8 n: the first n+1 pending bytes
  kDeliverToPeer,   // every pending target byte to the peer
  kFlip,            // u16 offset, u8 mask: corrupts a pending peer byte
  kInject,          // u16 n, n bytes: raw bytes to the target
  kPeerWrite,       // u16 n: the peer writes n bytes of application data
  kTargetWrite,     // u8 pieces, u16 size each, u8 lent/256: the target writes
  kRequest,         // a certificate request (the server side asks)
  kPeerRekey,       // the peer renegotiates (TLS 1.2) or updates keys (TLS 1.3)
  kTargetShutdown,  // the target sends close_notify
  kPeerShutdown,    // the peer sends close_notify
  kEnd,             // the transport ends
  kTrustSwap,       // u8 variant: setTrust (bits: CRLs, stale CRLs, crlCheckAll, allowStaleCrl)
  kPump,            // both ways until quiet
  kTruncate,        // u16 n: drops pending peer bytes beyond n
  kDeliverInPlace,  // like kDeliverAll with cycle()'s inPlace
  kPeerChain,       // u16 n, n bytes of (u16 length, DER)*: the peer's next chain
  kPeerIdentity,    // u8 which: the peer's certificate from now on (see Pki)
  kOpCount,
};

struct Reader {
  const uint8_t* data;
  size_t size;
  size_t at = 0;
  bool more() const { return at < size; }
  uint8_t U8() { return at < size ? data[at++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>((U8() << 8) | U8()); }
  std::string Bytes(size_t n) {
    n = std::min(n, size - at);
    std::string out(reinterpret_cast<const char*>(data + at), n);
    at += n;
    return out;
  }
};

// Application bytes are a fixed pattern by stream offset, so any reordering,
// loss, duplication or forgery shows as a mismatch.
char PatternByte(bool from_target, size_t offset) {
  return static_cast<char>((offset * (from_target ? 31 : 17) + (from_target ? 7 : 3)) & 0xff);
}

struct Config {
  int versions;
  bool request_cert, reject_unauthorized, offer_pha, hello_pause_or_sni;
  int client_identity;
  bool with_crl, stale_crl, crl_check_all, allow_stale_crl, sni_swap;
  int cipher;
};

Config ParseConfig(Reader* in) {
  const uint8_t a = in->U8(), b = in->U8();
  return Config{a & 3,        (a & 4) != 0, (a & 8) != 0, (a & 64) != 0, (a & 128) != 0, (a >> 4) & 3,
                (b & 1) != 0, (b & 2) != 0, (b & 4) != 0, (b & 8) != 0,  (b & 64) != 0,  (b >> 4) & 3};
}

// The target's SSL_CTX variants, made once at start-up (their ticket keys
// come from the deterministic random source, like everything else).
struct Contexts {
  SSL_CTX* target[16] = {};  // by with_crl | stale_crl << 1 | crl_check_all << 2 | hello_pause << 3
  SSL_CTX* sni = nullptr;
  SSL_CTX* peer = nullptr;
};
Contexts contexts;

// A peer's view of any certificate is "fine": the harness judges the target.
int AcceptAny(int, X509_STORE_CTX*) { return 1; }

class Target : public RecordEngine {
 public:
  explicit Target(const Config& config) : config_(config) {}

  // The trust of the target's context and of the context the SNI callback
  // swaps to, each with its own verified-chains cache, as two SecureContexts.
  bool Start(SSL_CTX* ctx) {
    own_trust_.Replace(StoreOf(ctx), config_.allow_stale_crl);
    sni_trust_.Replace(StoreOf(contexts.sni), false);
    if (!Attach(ctx, &own_trust_)) return false;
    reject_unauthorized_ = config_.reject_unauthorized;
    if (config_.versions == 1) SSL_set_min_proto_version(ssl_.get(), TLS1_3_VERSION);
    if (config_.versions == 2) SSL_set_max_proto_version(ssl_.get(), TLS1_2_VERSION);
    if (kTargetIsServer) {
      ConfigureServer(config_.request_cert);
    } else {
      const std::string name = "localhost";
      ConfigureClient(config_.hello_pause_or_sni ? &name : nullptr, config_.offer_pha, nullptr, 0);
      if (config_.client_identity != 0 && !UseIdentity(config_.client_identity)) return false;
    }
    return true;
  }

  ~Target() {
    if (ssl_) SSL_set_app_data(ssl_.get(), nullptr);
  }

  // TlsConnection::setIdentity.
  bool UseIdentity(int which) {
    const ctls_fuzz::Pki& pki = ctls_fuzz::TestPki();
    const std::string* key[] = {nullptr, &pki.client_key, &pki.revoked_key, &pki.foreign_key};
    const std::string* chain[] = {nullptr, &pki.client_chain, &pki.revoked_chain, &pki.foreign_chain};
    ctls::Identity identity;
    if (ctls::ReadIdentity(key[which]->data(), key[which]->size(), chain[which]->data(), chain[which]->size(), nullptr,
                           &identity) != nullptr) {
      return false;
    }
    return SSL_use_cert_and_key(ssl_.get(), identity.leaf.get(), identity.key.get(), identity.chain.get(), 1) == 1;
  }

  // SecureContext::setTrust on the target's context: a new store, the cache cleared.
  void SwapTrust(uint8_t variant) {
    trust_->Replace(ctls_fuzz::NewTrustStore(variant & 1, variant & 2, variant & 4), variant & 8);
  }

  // TlsConnection::cycle(chunk, endOfInput, inPlace).
  void Cycle(const std::string& chunk, bool end, bool in_place) {
    if (dead_) return;
    ctls::ErrorQueueScope scope;
    events_ = 0;
    UseTrustStore();
    std::string reuse;
    if (!chunk.empty()) {
      // As TlsConnection: past the budget after a close_notify the connection fails.
      if (!Receive(chunk.data(), chunk.size())) {
        dead_ = true;
        return;
      }
      if (in_place) reuse = chunk;
    }
    if (end) source_.MarkEnd();
    size_t placed = 0, used = 0;
    const int fatal = ReadRecords(reuse.empty() ? nullptr : &reuse[0], reuse.size(), &placed, &scratch_, &used);
    Received(reuse.data(), placed);
    Received(scratch_.data(), used);
    if (fatal != 0) {
      dead_ = true;
      if (debug) ERR_print_errors_fp(stderr);
    }
    Progress();
    TakeOutput();
    if (events_ & kCloseNotify) dead_ = true;
    // SNICallback: TypeScript answers, setContext() resumes, cycle() runs again.
    if ((events_ & kClientHello) && !dead_) {
      // TlsConnection::setContext: the chosen context also decides whom it trusts.
      if (config_.sni_swap && contexts.sni != nullptr) SwitchContext(contexts.sni, &sni_trust_);
      client_hello_resolved_ = true;
      client_hello_paused_ = false;
      Cycle(std::string(), false, false);
    }
  }

  // TlsConnection::write(pieces, out).
  void Write(const std::vector<size_t>& sizes, size_t lent) {
    if (dead_) return;
    ctls::ErrorQueueScope scope;
    events_ = 0;
    UseTrustStore();
    std::vector<char> out(lent);
    if (lent > 0) sink_.Lend(out.data(), out.size());
    std::vector<std::string> buffers;
    std::vector<std::pair<const char*, size_t>> pieces;
    size_t total = 0, offset = sent_.size();
    for (size_t size : sizes) {
      if (size == 0) continue;
      std::string piece(size, '\0');
      for (size_t i = 0; i < size; ++i) piece[i] = PatternByte(true, offset + i);
      offset += size;
      total += size;
      buffers.push_back(std::move(piece));
    }
    for (const std::string& buffer : buffers) pieces.emplace_back(buffer.data(), buffer.size());
    size_t consumed = 0;
    const int fatal = WritePieces(std::move(pieces), total, &scratch_, &consumed);
    if (consumed > total) Violation("write consumed more than it was given");
    for (size_t i = 0; i < consumed; ++i) sent_.push_back(PatternByte(true, sent_.size()));
    if (fatal != 0) dead_ = true;
    Progress();
    // Either everything went into the loan or nothing did (ciphertext_bios.h).
    if (sink_.lent_used() != 0 && sink_.spilled() != 0) Violation("ciphertext split between loan and spill");
    if (sink_.lent_used() > lent) Violation("ciphertext past the loan");
    output_.append(out.data(), sink_.lent_used());
    TakeOutput();
    sink_.Unlend();
  }

  // TlsConnection::requestCertificate() on a server target.
  void Request() {
    if (dead_ || !is_server_ || !handshake_done_ || reauth_pending_) return;
    ctls::ErrorQueueScope scope;
    UseTrustStore();
    if (BeginCertificateRequest() == RequestStatus::kSendFailed) dead_ = true;
    TakeOutput();
  }

  // TlsConnection::shutdown().
  void Shutdown() {
    if (dead_) return;
    ctls::ErrorQueueScope scope;
    if (SSL_is_init_finished(ssl_.get())) SSL_shutdown(ssl_.get());
    TakeOutput();
  }

  // What the target read is the peer's pattern from offset 0 (a replayed
  // transcript carries the same pattern), and no more than the peer wrote
  // unless raw bytes were injected.
  void CheckPeerStream(const std::string& peer_sent, bool injected) {
    for (; checked_ < received_.size(); ++checked_) {
      if (received_[checked_] != PatternByte(false, checked_))
        Violation("the target read plaintext the peer never wrote");
    }
    if (!injected && received_.size() > peer_sent.size()) Violation("the target read more than the peer wrote");
  }

  std::string& output() { return output_; }
  const std::string& sent() const { return sent_; }
  bool dead() const { return dead_; }

  // What getInfo, getPeerChain, getVerifiedChain, getOwnCertificate,
  // getSession and exportKeyingMaterial read, at whatever state the
  // connection is in: TypeScript may call them after any cycle.
  void Inspect() {
    if (!ssl_) return;
    SSL* ssl = ssl_.get();
    ctls::ErrorQueueScope scope;
    auto encode = [](X509* certificate) {
      if (certificate != nullptr && !ctls::EncodeCertificate(certificate).data)
        Violation("a certificate does not encode");
    };
    encode(SSL_get0_peer_certificate(ssl));
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
    for (int i = 0; i < sk_X509_num(chain); ++i) encode(sk_X509_value(chain, i));
    STACK_OF(X509)* verified = SSL_get0_verified_chain(ssl);
    for (int i = 0; i < sk_X509_num(verified); ++i) encode(sk_X509_value(verified, i));
    encode(SSL_get_certificate(ssl));
    SSL_get_version(ssl);
    if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) {
      SSL_CIPHER_get_name(cipher);
      SSL_CIPHER_standard_name(cipher);
    }
    SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    SSL_SESSION* session = SSL_get_session(ssl);
    if (session != nullptr && SSL_SESSION_is_resumable(session)) {
      const int length = i2d_SSL_SESSION(session, nullptr);
      if (length > 0) {
        std::vector<unsigned char> der(static_cast<size_t>(length));
        unsigned char* cursor = der.data();
        if (i2d_SSL_SESSION(session, &cursor) != length) Violation("a session encodes to two lengths");
      }
    }
    unsigned char keying[32];
    static const char kLabel[] = "EXPORTER-continuous-tls-fuzz";
    SSL_export_keying_material(ssl, keying, sizeof(keying), kLabel, sizeof(kLabel) - 1, nullptr, 0, 0);
  }

  void Describe() const {
    std::fprintf(stderr, "target: %s handshake=%d reauths=%d pending=%d dead=%d read=%zu wrote=%zu verify=%ld\n",
                 SSL_get_version(ssl_.get()), handshake_done_, reauths_, reauth_pending_, dead_, received_.size(),
                 sent_.size(), SSL_get_verify_result(ssl_.get()));
  }

 private:
  // A new reference to the store a context was built with.
  static ctls::X509StorePointer StoreOf(SSL_CTX* ctx) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    X509_STORE_up_ref(store);
    return ctls::X509StorePointer(store);
  }

  void Received(const char* data, size_t length) { received_.append(data, length); }

  void TakeOutput() {
    if (sink_.spilled() == 0) return;
    if (debug) {
      uint32_t hash = 2166136261u;
      for (size_t i = 0; i < sink_.spilled(); ++i)
        hash = (hash ^ static_cast<uint8_t>(sink_.spill_data()[i])) * 16777619u;
      std::fprintf(stderr, "target output: %zu bytes, fnv %08x\n", sink_.spilled(), hash);
    }
    output_.append(sink_.spill_data(), sink_.spilled());
    sink_.ClearSpill();
  }

  // TlsConnection::NoteProgress, plus what must hold when it reports.
  void Progress() {
    const bool reauth_was_pending = reauth_pending_;
    if (!TrackProgress()) {
      CheckServerUnchanged();
      return;
    }
    CheckServerUnchanged();
    if (events_ & kReauthDone) ++reauths_;
    const long result = SSL_get_verify_result(ssl_.get());  // NOLINT(runtime/int)
    // A stale CRL counts where the verify callback tolerated it, under the
    // allowStaleCrl in force when the certificate was verified: a setTrust
    // between that and the handshake's end does not reach back (TypeScript
    // re-decides under the new trust).
    const bool verified = result == X509_V_OK || (result == X509_V_ERR_CRL_HAS_EXPIRED && stale_crl_seen_);
    const bool has_certificate = SSL_get0_peer_certificate(ssl_.get()) != nullptr;
    const bool resumed = SSL_session_reused(ssl_.get()) == 1;
    if (debug) {
      std::fprintf(stderr, "progress: events=%u reauth_was_pending=%d certificate=%d verify=%ld resumed=%d\n", events_,
                   reauth_was_pending, has_certificate, result, resumed);
    }
    if ((events_ & kReauthDone) && (!reauth_was_pending || !has_certificate || !verified)) {
      Violation("a re-authentication completed without a verified certificate");
    }
    if ((events_ & kHandshakeDone) && !resumed && reject_unauthorized_ && (!kTargetIsServer || config_.request_cert) &&
        (!has_certificate || !verified)) {
      Violation("a strict handshake completed without a verified certificate");
    }
  }

  // A client never carries on with another server certificate than the first.
  void CheckServerUnchanged() const {
    if (is_server_ || !server_leaf_ || dead_) return;
    X509* leaf = SSL_get0_peer_certificate(ssl_.get());
    if (leaf != nullptr && !SSL_in_init(ssl_.get()) && X509_cmp(leaf, server_leaf_.get()) != 0) {
      Violation("the server certificate changed under the client");
    }
  }

  Config config_;
  ctls::TrustState own_trust_;
  ctls::TrustState sni_trust_;
  std::vector<char> scratch_;
  std::string output_;    // ciphertext for the peer
  std::string received_;  // plaintext read
  std::string sent_;      // plaintext written (consumed)
  bool dead_ = false;     // fatal error or close_notify: TypeScript stops feeding
  int reauths_ = 0;
  size_t checked_ = 0;
};

class Peer {
 public:
  explicit Peer(const Config& config) : config_(config) {}
  ~Peer() = default;

  bool Start() {
    ActorScope actor(Actor::kPeer);
    ssl_.reset(SSL_new(contexts.peer));
    if (!ssl_) return false;
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in, -1);
    SSL_set_bio(ssl_.get(), in, out);
    in_ = in;
    out_ = out;
    if (config_.versions == 3) SSL_set_max_proto_version(ssl_.get(), TLS1_2_VERSION);
    static const char* kCiphers[] = {nullptr, "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305",
                                     "ECDHE-ECDSA-AES256-SHA384"};
    if (kCiphers[config_.cipher] != nullptr) SSL_set_cipher_list(ssl_.get(), kCiphers[config_.cipher]);
    if (kTargetIsServer) {
      SSL_set_connect_state(ssl_.get());
      SSL_set_verify(ssl_.get(), SSL_VERIFY_NONE, nullptr);
      SSL_set_tlsext_host_name(ssl_.get(),
                               const_cast<char*>(config_.hello_pause_or_sni ? "localhost" : "fuzz.invalid"));
      if (config_.offer_pha) SSL_set_post_handshake_auth(ssl_.get(), 1);
      if (config_.client_identity != 0) {
        const ctls_fuzz::Pki& pki = ctls_fuzz::TestPki();
        const std::string* key[] = {nullptr, &pki.client_key, &pki.revoked_key, &pki.foreign_key};
        const std::string* chain[] = {nullptr, &pki.client_chain, &pki.revoked_chain, &pki.foreign_chain};
        ctls::Identity identity;
        const int which = config_.client_identity;
        if (ctls::ReadIdentity(key[which]->data(), key[which]->size(), chain[which]->data(), chain[which]->size(),
                               nullptr, &identity) != nullptr ||
            SSL_use_cert_and_key(ssl_.get(), identity.leaf.get(), identity.key.get(), identity.chain.get(), 1) != 1) {
          return false;
        }
      }
      Drive();
    } else {
      SSL_set_accept_state(ssl_.get());
      SSL_set_verify(ssl_.get(), config_.request_cert ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, AcceptAny);
    }
    return true;
  }

  void Receive(const std::string& bytes) {
    if (dead_) return;
    ActorScope actor(Actor::kPeer);
    if (!bytes.empty()) BIO_write(in_, bytes.data(), static_cast<int>(bytes.size()));
    Drive();
  }

  void Write(size_t size) {
    if (dead_ || size == 0) return;
    ActorScope actor(Actor::kPeer);
    std::string data(size, '\0');
    for (size_t i = 0; i < size; ++i) data[i] = PatternByte(false, sent_.size() + i);
    const int written = SSL_write(ssl_.get(), data.data(), static_cast<int>(size));
    if (written > 0) sent_.append(data, 0, static_cast<size_t>(written));
    Collect();
  }

  // The intermediates the peer sends with its certificate from now on: in
  // TLS 1.3 and in a renegotiation the Certificate message is encrypted, so
  // this is how fuzzed certificates reach the target's verification there.
  void SetChain(const std::string& list) {
    if (dead_) return;
    ActorScope actor(Actor::kPeer);
    ctls::X509StackPointer chain(sk_X509_new_null());
    for (size_t at = 0; at + 2 <= list.size();) {
      const size_t length =
          (static_cast<size_t>(static_cast<uint8_t>(list[at])) << 8) | static_cast<uint8_t>(list[at + 1]);
      at += 2;
      if (length > list.size() - at) break;
      const unsigned char* cursor = reinterpret_cast<const unsigned char*>(list.data() + at);
      X509* certificate = d2i_X509(nullptr, &cursor, static_cast<long>(length));  // NOLINT(runtime/int)
      at += length;
      if (certificate != nullptr && !sk_X509_push(chain.get(), certificate)) X509_free(certificate);
    }
    if (SSL_set0_chain(ssl_.get(), chain.get()) == 1) chain.release();
    ERR_clear_error();
  }

  // Another certificate for the peer from now on: 0 server (localhost),
  // 1 alice, 2 mallory (revoked), 3 stranger (unknown CA).
  void UseIdentity(uint8_t which) {
    if (dead_) return;
    ActorScope actor(Actor::kPeer);
    const ctls_fuzz::Pki& pki = ctls_fuzz::TestPki();
    const std::string* key[] = {&pki.server_key, &pki.client_key, &pki.revoked_key, &pki.foreign_key};
    const std::string* chain[] = {&pki.server_chain, &pki.client_chain, &pki.revoked_chain, &pki.foreign_chain};
    which %= 4;
    ctls::Identity identity;
    if (ctls::ReadIdentity(key[which]->data(), key[which]->size(), chain[which]->data(), chain[which]->size(), nullptr,
                           &identity) == nullptr) {
      SSL_use_cert_and_key(ssl_.get(), identity.leaf.get(), identity.key.get(), identity.chain.get(), 1);
    }
    ERR_clear_error();
  }

  // The server side asks the client (target) for a certificate.
  void Request() {
    if (dead_ || !SSL_is_init_finished(ssl_.get())) return;
    ActorScope actor(Actor::kPeer);
    SSL_set_verify(ssl_.get(), SSL_VERIFY_PEER | SSL_VERIFY_POST_HANDSHAKE, AcceptAny);
    if (SSL_version(ssl_.get()) >= TLS1_3_VERSION) {
      if (SSL_verify_client_post_handshake(ssl_.get()) != 1) ERR_clear_error();
    } else if (SSL_renegotiate(ssl_.get()) != 1) {
      ERR_clear_error();
    }
    SSL_do_handshake(ssl_.get());
    ERR_clear_error();
    Collect();
  }

  void Rekey() {
    if (dead_ || !SSL_is_init_finished(ssl_.get())) return;
    ActorScope actor(Actor::kPeer);
    if (SSL_version(ssl_.get()) >= TLS1_3_VERSION) {
      SSL_key_update(ssl_.get(), SSL_KEY_UPDATE_REQUESTED);
    } else {
      SSL_renegotiate(ssl_.get());
    }
    SSL_do_handshake(ssl_.get());
    ERR_clear_error();
    Collect();
  }

  void Shutdown() {
    if (dead_) return;
    ActorScope actor(Actor::kPeer);
    if (SSL_is_init_finished(ssl_.get())) SSL_shutdown(ssl_.get());
    ERR_clear_error();
    Collect();
  }

  void CheckTargetStream(const std::string& target_sent) const {
    if (received_.size() > target_sent.size() || target_sent.compare(0, received_.size(), received_) != 0) {
      Violation("the peer read plaintext the target never wrote");
    }
  }

  std::string& output() { return output_; }
  const std::string& sent() const { return sent_; }

 private:
  void Drive() {
    char buffer[16 * 1024];
    while (!dead_) {
      const int read = SSL_read(ssl_.get(), buffer, sizeof(buffer));
      if (read > 0) {
        received_.append(buffer, static_cast<size_t>(read));
        continue;
      }
      const int error = SSL_get_error(ssl_.get(), read);
      if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
        dead_ = true;
        if (debug) {
          std::fprintf(stderr, "peer failed:\n");
          ERR_print_errors_fp(stderr);
        }
      }
      break;
    }
    ERR_clear_error();
    Collect();
  }

  void Collect() {
    char* data = nullptr;
    const long length = BIO_get_mem_data(out_, &data);  // NOLINT(runtime/int)
    if (length > 0) output_.append(data, static_cast<size_t>(length));
    (void)BIO_reset(out_);
  }

  Config config_;
  ctls::SSLPointer ssl_;
  BIO* in_ = nullptr;   // owned by ssl_
  BIO* out_ = nullptr;  // owned by ssl_
  std::string output_, received_, sent_;
  bool dead_ = false;
};

// Recording: every chunk the target is fed, as kInject operations.
std::string* recording = nullptr;

void Feed(Target* target, const std::string& chunk, bool end, bool in_place) {
  if (recording != nullptr && !chunk.empty()) {
    for (size_t at = 0; at < chunk.size(); at += 0xffff) {
      const size_t n = std::min<size_t>(0xffff, chunk.size() - at);
      recording->push_back(static_cast<char>(kInject));
      recording->push_back(static_cast<char>(n >> 8));
      recording->push_back(static_cast<char>(n & 0xff));
      recording->append(chunk, at, n);
    }
  }
  if (recording != nullptr && end) recording->push_back(static_cast<char>(kEnd));
  target->Cycle(chunk, end, in_place);
}

void Run(const uint8_t* data, size_t size) {
  ctls_fuzz::ResetRandom(kSeed);
  ERR_clear_error();
  // Each input starts from empty session caches, as a fresh process would.
  for (SSL_CTX* ctx : contexts.target) SSL_CTX_flush_sessions(ctx, 0);
  SSL_CTX_flush_sessions(contexts.sni, 0);
  SSL_CTX_flush_sessions(contexts.peer, 0);
  Reader in{data, size};
  const Config config = ParseConfig(&in);
  if (recording != nullptr) recording->append(reinterpret_cast<const char*>(data), 2);
  const int variant = (config.with_crl ? 1 : 0) | (config.stale_crl ? 2 : 0) | (config.crl_check_all ? 4 : 0) |
                      (config.hello_pause_or_sni && kTargetIsServer ? 8 : 0);
  Target target(config);
  Peer peer(config);
  if (!target.Start(contexts.target[variant]) || !peer.Start()) Violation("could not set up the connection");
  if (!kTargetIsServer) Feed(&target, std::string(), false, false);  // the ClientHello

  bool injected = false;
  int budget = 256;  // operations per input, so one input cannot run for long
  while (in.more() && budget-- > 0) {
    const uint8_t op = in.U8() % kOpCount;
    if (debug) std::fprintf(stderr, "op %d\n", op);
    switch (op) {
      case kDeliverAll:
      case kDeliverInPlace: {
        std::string chunk;
        chunk.swap(peer.output());
        Feed(&target, chunk, false, op == kDeliverInPlace);
        break;
      }
      case kDeliverSome: {
        const size_t n = std::min<size_t>(in.U8() + 1u, peer.output().size());
        const std::string chunk = peer.output().substr(0, n);
        peer.output().erase(0, n);
        Feed(&target, chunk, false, false);
        break;
      }
      case kDeliverToPeer: {
        std::string chunk;
        chunk.swap(target.output());
        peer.Receive(chunk);
        break;
      }
      case kFlip: {
        const uint16_t offset = in.U16();
        const uint8_t mask = in.U8();
        std::string& pending = peer.output();
        if (!pending.empty()) pending[offset % pending.size()] ^= static_cast<char>(mask == 0 ? 1 : mask);
        break;
      }
      case kInject: {
        injected = true;
        const size_t n = in.U16();
        Feed(&target, in.Bytes(n), false, false);
        break;
      }
      case kPeerWrite:
        peer.Write(in.U16() % 20000);
        break;
      case kTargetWrite: {
        std::vector<size_t> sizes(in.U8() % 4 + 1);
        for (size_t& piece : sizes) piece = in.U16() % 20000;
        const size_t lent = in.U8() * 256u;
        target.Write(sizes, lent);
        if (recording != nullptr) {
          recording->push_back(static_cast<char>(kTargetWrite));
          recording->push_back(static_cast<char>(sizes.size() - 1));
          for (size_t piece : sizes) {
            recording->push_back(static_cast<char>(piece >> 8));
            recording->push_back(static_cast<char>(piece & 0xff));
          }
          recording->push_back(static_cast<char>(lent / 256));
        }
        break;
      }
      case kRequest:
        if (kTargetIsServer) {
          target.Request();
          if (recording != nullptr) recording->push_back(static_cast<char>(kRequest));
        } else {
          peer.Request();
        }
        break;
      case kPeerRekey:
        peer.Rekey();
        break;
      case kTargetShutdown:
        target.Shutdown();
        if (recording != nullptr) recording->push_back(static_cast<char>(kTargetShutdown));
        break;
      case kPeerShutdown:
        peer.Shutdown();
        break;
      case kEnd:
        Feed(&target, std::string(), true, false);
        break;
      case kTrustSwap: {
        const uint8_t swap = in.U8();
        target.SwapTrust(swap);
        if (recording != nullptr) {
          recording->push_back(static_cast<char>(kTrustSwap));
          recording->push_back(static_cast<char>(swap));
        }
        break;
      }
      case kPump:
        for (int round = 0; round < 8 && !(peer.output().empty() && target.output().empty()); ++round) {
          std::string to_target, to_peer;
          to_target.swap(peer.output());
          if (!to_target.empty()) Feed(&target, to_target, false, false);
          to_peer.swap(target.output());
          peer.Receive(to_peer);
        }
        break;
      case kPeerChain:
        peer.SetChain(in.Bytes(in.U16()));
        break;
      case kPeerIdentity:
        peer.UseIdentity(in.U8());
        break;
      case kTruncate: {
        const size_t n = in.U16();
        if (n < peer.output().size()) peer.output().resize(n);
        break;
      }
      default:
        break;
    }
    target.Inspect();
    target.CheckPeerStream(peer.sent(), injected);
    peer.CheckTargetStream(target.sent());
  }
  if (debug) target.Describe();
  ERR_clear_error();
}

// The scripted conversations recorded as seeds: config bytes, then operations.
struct Script {
  const char* name;
  std::vector<uint8_t> bytes;
  bool replay;  // also write the recorded transcript (the corpus stays small)
};

std::vector<Script> Scripts() {
  std::vector<Script> scripts;
  const uint8_t hs = kPump, w = kTargetWrite, pw = kPeerWrite, rq = kRequest;
  // Pieces for a target write: 2 pieces of 300 and 5 bytes, no loan; and one with a 4 KiB loan.
  const std::vector<uint8_t> write_two = {w, 1, 0x01, 0x2c, 0x00, 0x05, 0};
  const std::vector<uint8_t> write_lent = {w, 0, 0x02, 0x00, 16};
  auto add = [&](const char* name, std::vector<uint8_t> config, std::vector<uint8_t> ops, bool replay = false) {
    std::vector<uint8_t> bytes = config;
    bytes.insert(bytes.end(), ops.begin(), ops.end());
    scripts.push_back({name, bytes, replay});
  };
  std::vector<uint8_t> data = {pw, 0x00, 0x40, hs};
  data.insert(data.end(), write_two.begin(), write_two.end());
  data.insert(data.end(), write_lent.begin(), write_lent.end());
  data.push_back(hs);
  // TLS 1.3 and TLS 1.2, plain; then with the client's certificate at the handshake.
  std::vector<uint8_t> handshake_then_data = {hs, hs};
  handshake_then_data.insert(handshake_then_data.end(), data.begin(), data.end());
  add("tls13-data", {0x00, 0x00}, handshake_then_data, true);
  add("tls12-data", {0x02, 0x10}, handshake_then_data, true);
  add("tls13-mtls-crl", {0x1c, 0x05}, {hs, hs, pw, 0x00, 0x10, hs});
  add("tls12-mtls-revoked", {0x2e, 0x01}, {hs, hs, hs});
  // A certificate request after the handshake: PHA (TLS 1.3) and renegotiation (TLS 1.2),
  // answered, then again (the verified-chain cache answers the second).
  add("tls13-pha", {0x58, 0x00}, {hs, hs, pw, 0x00, 0x20, hs, rq, hs, hs, rq, hs, hs, pw, 0x00, 0x08, hs}, true);
  add("tls12-reneg", {0x1a, 0x20}, {hs, hs, rq, hs, hs, hs, pw, 0x00, 0x08, hs, rq, hs, hs, hs}, true);
  // Requests pending while data, a trust swap, a key update and a close arrive.
  add("tls13-pha-pending", {0x58, 0x00},
      {hs, hs, rq, pw, 0x01, 0x00, kDeliverAll, kTrustSwap, 0x01, kDeliverToPeer, hs, kPeerRekey, hs, kPeerShutdown, hs,
       kEnd},
      true);
  add("tls12-reneg-pending", {0x1a, 0x30},
      {hs, hs, rq, pw, 0x00, 0x80, kDeliverAll, kDeliverToPeer, kDeliverSome, 0x10, hs, kTargetShutdown, hs});
  // The peer's chain replaced before a PHA and a renegotiation: the
  // intermediate and the unrelated root, as the fuzzer will mutate them.
  std::vector<uint8_t> chain_op = {kPeerChain};
  {
    const ctls_fuzz::Pki& pki = ctls_fuzz::TestPki();
    std::vector<uint8_t> list;
    for (const std::vector<uint8_t>* der : {&pki.client_der_chain[1], &pki.other_ca_der}) {
      list.push_back(static_cast<uint8_t>(der->size() >> 8));
      list.push_back(static_cast<uint8_t>(der->size() & 0xff));
      list.insert(list.end(), der->begin(), der->end());
    }
    chain_op.push_back(static_cast<uint8_t>(list.size() >> 8));
    chain_op.push_back(static_cast<uint8_t>(list.size() & 0xff));
    chain_op.insert(chain_op.end(), list.begin(), list.end());
  }
  std::vector<uint8_t> pha_chain = {hs, hs};
  pha_chain.insert(pha_chain.end(), chain_op.begin(), chain_op.end());
  pha_chain.insert(pha_chain.end(), {rq, hs, hs, pw, 0x00, 0x08, hs});
  add("tls13-pha-chain", {0x58, 0x00}, pha_chain);
  add("tls12-reneg-chain", {0x1a, 0x20}, pha_chain);
  // The peer's certificate replaced before a renegotiation / PHA: the server
  // by an unrelated one (the client must refuse it), the client by a revoked one.
  add("tls12-reneg-new-server", {0x12, 0x21}, {hs, hs, kPeerIdentity, 3, rq, hs, hs, pw, 0x00, 0x08, hs});
  add("tls13-pha-revoked", {0x58, 0x01}, {hs, hs, kPeerIdentity, 2, rq, hs, hs, pw, 0x00, 0x08, hs});
  // SNI pause and swap, TLS 1.2 CBC, stale CRL tolerated.
  add("sni-stale-crl", {0x9c, 0x7b}, {hs, hs, hs, pw, 0x00, 0x10, hs});
  return scripts;
}

void WriteSeeds(const char* directory) {
  for (const Script& script : Scripts()) {
    std::string replay;
    recording = &replay;
    Run(script.bytes.data(), script.bytes.size());
    recording = nullptr;
    const std::string path = std::string(directory) + "/" + script.name;
    if (script.replay) {
      FILE* file = std::fopen(path.c_str(), "wb");
      if (file == nullptr) Violation("cannot write a seed");
      std::fwrite(replay.data(), 1, replay.size(), file);
      std::fclose(file);
    }
    // The live script too: it reaches the same states with the peer in the loop.
    FILE* live = std::fopen((path + "-live").c_str(), "wb");
    if (live == nullptr) Violation("cannot write a seed");
    std::fwrite(script.bytes.data(), 1, script.bytes.size(), live);
    std::fclose(live);
    std::fprintf(stderr, "seed %s: %zu bytes replayed, %zu live\n", script.name, replay.size(), script.bytes.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ctls_fuzz::UseDeterministicRandom();
  ctls_fuzz::TestPki();
  ctls_fuzz::ResetRandom(kSeed ^ 1);
  for (int variant = 0; variant < 16; ++variant) {
    ctls_fuzz::ContextOptions options;
    options.is_server = kTargetIsServer;
    options.with_identity = kTargetIsServer;
    options.with_crl = variant & 1;
    options.stale_crl = variant & 2;
    options.crl_check_all = variant & 4;
    SSL_CTX* ctx = ctls_fuzz::NewContext(options);
    if (variant & 8) RecordEngine::PauseAtClientHello(ctx);
    contexts.target[variant] = ctx;
  }
  ctls_fuzz::ContextOptions sni;
  sni.is_server = true;
  contexts.sni = ctls_fuzz::NewContext(sni);
  // The peer: stock OpenSSL settings, TLS 1.2 and up, renegotiation allowed.
  ctls_fuzz::SetActor(Actor::kPeer);
  contexts.peer = SSL_CTX_new(kTargetIsServer ? TLS_client_method() : TLS_server_method());
  SSL_CTX_set_min_proto_version(contexts.peer, TLS1_2_VERSION);
  // A peer server renegotiates in full, so a certificate it swaps is sent.
  SSL_CTX_set_options(contexts.peer, SSL_OP_ALLOW_CLIENT_RENEGOTIATION | SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  static const unsigned char kPeerSessionContext[] = "fuzz peer";
  SSL_CTX_set_session_id_context(contexts.peer, kPeerSessionContext, sizeof(kPeerSessionContext) - 1);
  if (!kTargetIsServer) {
    const ctls_fuzz::Pki& pki = ctls_fuzz::TestPki();
    ctls::Identity identity;
    if (ctls::ReadIdentity(pki.server_key.data(), pki.server_key.size(), pki.server_chain.data(),
                           pki.server_chain.size(), nullptr, &identity) != nullptr ||
        SSL_CTX_use_cert_and_key(contexts.peer, identity.leaf.get(), identity.key.get(), identity.chain.get(), 1) !=
            1) {
      Violation("peer identity");
    }
  }
  ctls_fuzz::SetActor(Actor::kTarget);
  if (const char* directory = std::getenv("CTLS_FUZZ_WRITE_SEEDS")) {
    WriteSeeds(directory);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  Run(data, size);
  return 0;
}
