#include "tls_connection.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "js_values.h"
#include "secure_context.h"

// OpenSSL's own alert sender. It is not public API: libssl exports it and
// Node's binary re-exports every OpenSSL symbol, so it is linked weakly and
// checked for null; where it is missing a denial ends without the alert. From
// OpenSSL 3.2 it takes an SSL_CONNECTION, whose first member is the SSL, so
// the same pointer serves both.
extern "C" int ssl3_send_alert(SSL* ssl, int level, int description) __attribute__((weak));

namespace ctls {

namespace {

// One scratch buffer per thread for decrypted records: SSL_read writes into it
// and the plaintext is copied once into a right-sized JS Buffer. A buffer per
// connection would hold 64 KiB for every idle connection.
constexpr size_t kScratchFloor = 64 * 1024;
constexpr size_t kScratchCeiling = 1024 * 1024;
thread_local std::vector<char> scratch;
// The most keying material one exportKeyingMaterial() call derives (as TypeScript allows).
constexpr double kMaxKeyingMaterial = 65536;

}  // namespace

// The values of a write(): one value or the elements of an array. Reading an
// array's elements can run JavaScript (an accessor), which may destroy the
// connection or detach a buffer read before it: callers read everything
// first, check the connection again, and only then take pointers. False when
// an element could not be read (a getter threw, or the environment is being
// torn down): then nothing of this write may go out, not the elements around it.
bool TlsConnection::WriteValues(const Napi::Value& data, std::vector<Napi::Value>* values) {
  if (!data.IsArray()) {
    values->push_back(data);
    return true;
  }
  Napi::Array list = data.As<Napi::Array>();
  const uint32_t length = list.Length();
  values->reserve(length);
  for (uint32_t i = 0; i < length; ++i) {
    Napi::Value value = list.Get(i);
    if (value.IsEmpty()) return false;
    values->push_back(value);
  }
  return true;
}

namespace {

// The bytes of a Buffer-like value (napi_is_buffer takes any ArrayBufferView
// on newer Node, a DataView included, which napi_get_buffer_info then cannot
// read): false when it cannot be read as bytes.
bool BufferBytes(napi_env env, napi_value value, const char** data, size_t* length) {
  void* base = nullptr;
  if (napi_get_buffer_info(env, value, &base, length) != napi_ok) return false;
  *data = static_cast<const char*>(base);
  return true;
}

// The Buffers among `values`, empty ones skipped; false, with nothing
// collected, when one of them cannot be read as bytes. Runs no JavaScript, so
// the pointers stay valid until the caller next returns to it.
bool CollectPieces(const std::vector<Napi::Value>& values, std::vector<std::pair<const char*, size_t>>* pieces,
                   size_t* total) {
  for (const Napi::Value& value : values) {
    if (!value.IsBuffer()) continue;
    const char* data = nullptr;
    size_t length = 0;
    if (!BufferBytes(value.Env(), value, &data, &length)) {
      pieces->clear();
      *total = 0;
      return false;
    }
    if (length == 0) continue;
    pieces->emplace_back(data, length);
    *total += length;
  }
  return true;
}

}  // namespace

Napi::Function TlsConnection::Init(Napi::Env env) {
  return DefineClass(env, "TlsConnection",
                     {
                         InstanceMethod<&TlsConnection::Cycle>("cycle"),
                         InstanceMethod<&TlsConnection::Write>("write"),
                         InstanceMethod<&TlsConnection::Shutdown>("shutdown"),
                         InstanceMethod<&TlsConnection::SendFatalAlert>("sendFatalAlert"),
                         InstanceMethod<&TlsConnection::RequestCertificate>("requestCertificate"),
                         InstanceMethod<&TlsConnection::SetContext>("setContext"),
                         InstanceMethod<&TlsConnection::SetIdentity>("setIdentity"),
                         InstanceMethod<&TlsConnection::ResumeIdentity>("resumeIdentity"),
                         InstanceMethod<&TlsConnection::Destroy>("destroy"),
                         InstanceMethod<&TlsConnection::GetInfo>("getInfo"),
                         InstanceMethod<&TlsConnection::GetPeerChain>("getPeerChain"),
                         InstanceMethod<&TlsConnection::GetVerifiedChain>("getVerifiedChain"),
                         InstanceMethod<&TlsConnection::GetOwnCertificate>("getOwnCertificate"),
                         InstanceMethod<&TlsConnection::GetSession>("getSession"),
                         InstanceMethod<&TlsConnection::GetVerifyError>("getVerifyError"),
                         InstanceMethod<&TlsConnection::VerifiedUnderCurrentTrust>("verifiedUnderCurrentTrust"),
                         InstanceMethod<&TlsConnection::VerifiedNotAfter>("verifiedNotAfter"),
                         InstanceMethod<&TlsConnection::ExportKeyingMaterial>("exportKeyingMaterial"),
                         InstanceMethod<&TlsConnection::AttachTransport>("attachTransport"),
                         InstanceMethod<&TlsConnection::Send>("send"),
                         InstanceMethod<&TlsConnection::SetReading>("setReading"),
                         InstanceMethod<&TlsConnection::EndTransport>("endTransport"),
                         InstanceMethod<&TlsConnection::SetTransportRef>("setTransportRef"),
                         InstanceMethod<&TlsConnection::CloseTransportMethod>("closeTransport"),
                         InstanceMethod<&TlsConnection::TransportStats>("transportStats"),
                     });
}

// new TlsConnection(context, isServer, { servername, requestCert,
//                   rejectUnauthorized, offerPostHandshakeAuth, session,
//                   askIdentity })
TlsConnection::TlsConnection(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TlsConnection>(info) {
  Napi::Env env = info.Env();
  ErrorQueueScope scope;
  trust_context_ = SecureContext::Unwrap(info[0]);
  if (trust_context_ == nullptr) {
    CodedError(env, "ERR_CTLS_INVALID_OPTION", "a SecureContext is required").ThrowAsJavaScriptException();
    return;
  }
  trust_context_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
  Napi::Object options = info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  // Every option is read before the connection is made and before any Buffer's
  // memory is: reading an option can run JavaScript (an accessor), which could
  // detach or free a Buffer read earlier, or end the environment. An option
  // that cannot be read makes no connection (no ssl_: every method refuses);
  // none may fall back to a default, rejectUnauthorized least of all.
  bool is_server = false;
  bool reject_unauthorized = false;
  if (!ReadTruth(env, info[1], &is_server) || !ReadFlag(env, options, "rejectUnauthorized", &reject_unauthorized)) {
    return;
  }
  is_server_ = is_server;
  reject_unauthorized_ = reject_unauthorized;
  if (is_server_) {
    bool request_cert = false;
    if (!ReadFlag(env, options, "requestCert", &request_cert)) return;
    if (!Attach(trust_context_->ctx(), &trust_context_->trust())) {
      OpenSSLError(env, "SSL_new failed").ThrowAsJavaScriptException();
      return;
    }
    ConfigureServer(request_cert);
    return;
  }
  Napi::Value servername = options.Get("servername");
  if (servername.IsEmpty()) return;
  const std::string name = servername.IsString() ? servername.As<Napi::String>().Utf8Value() : std::string();
  Napi::Value session = options.Get("session");
  if (session.IsEmpty()) return;
  bool offer_post_handshake_auth = false;
  bool ask_identity = false;
  if (!ReadFlag(env, options, "offerPostHandshakeAuth", &offer_post_handshake_auth) ||
      !ReadFlag(env, options, "askIdentity", &ask_identity)) {
    return;
  }
  if (!Attach(trust_context_->ctx(), &trust_context_->trust())) {
    OpenSSLError(env, "SSL_new failed").ThrowAsJavaScriptException();
    return;
  }
  const bool has_session = session.IsBuffer();
  Napi::Buffer<unsigned char> der =
      has_session ? session.As<Napi::Buffer<unsigned char>>() : Napi::Buffer<unsigned char>();
  ConfigureClient(servername.IsString() ? &name : nullptr, offer_post_handshake_auth,
                  has_session ? der.Data() : nullptr, has_session ? der.Length() : 0);
  if (ask_identity) AskForIdentity();
}

TlsConnection::~TlsConnection() {
  // Collected or torn down with the environment: no JavaScript to tell.
  if (transport_ != nullptr) transport_->Close();
  transport_ = nullptr;
  if (ssl_) SSL_set_app_data(ssl_.get(), nullptr);
}

bool TlsConnection::Alive(Napi::Env env) {
  if (ssl_) return true;
  CodedError(env, "ERR_CTLS_SOCKET_CLOSED", "the TLS connection is destroyed").ThrowAsJavaScriptException();
  return false;
}

// cycle(ciphertext?: Buffer, endOfInput?: boolean, inPlace?: boolean)
//   -> [plaintext | null, ciphertext | null, events, error | null, placed, own | null]
// endOfInput says the transport ended: the read BIO then reports EOF instead
// of "retry", so OpenSSL judges it (a handshake or record cut short is
// SSL_R_UNEXPECTED_EOF_WHILE_READING) rather than waiting for more bytes.
// inPlace says the caller owns `ciphertext` outright: once its bytes are in
// the read BIO (a copy), the first `placed` bytes of it are overwritten with
// plaintext, and only what does not fit comes back as `plaintext`. That saves
// a JS allocation and a copy per chunk; node:tls likewise decrypts into one
// buffer per read rather than into its network buffer and then a copy.
// `own` is those `placed` bytes copied out when they are few next to the
// chunk's memory (see CopyOutSmall); the chunk is then possibly detached.
Napi::Value TlsConnection::Cycle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Alive(env)) return env.Undefined();
  ErrorQueueScope scope;
  events_ = 0;
  fatal_error_.Reset();
  UseTrustStore();
  // The flags are read before anything below can run JavaScript (an error's
  // making, once): reading them after it could fail.
  bool end_of_input = false;
  bool in_place = false;
  if (!ReadTruth(env, info[1], &end_of_input) || !ReadTruth(env, info[2], &in_place)) return env.Undefined();
  char* reuse = nullptr;
  size_t reuse_length = 0;
  if (info[0].IsBuffer()) {
    const char* data = nullptr;
    size_t length = 0;
    if (!BufferBytes(env, info[0], &data, &length)) {
      CodedError(env, "ERR_CTLS_INVALID_OPTION", "ciphertext must be a Buffer or a Uint8Array")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!Receive(data, length)) RecordDataAfterClose(env);
    if (in_place) {
      reuse = const_cast<char*>(data);
      reuse_length = length;
    }
  }
  if (end_of_input) source_.MarkEnd();
  size_t placed = 0;
  Napi::Value plaintext = ReadPlaintext(env, reuse, reuse_length, &placed);
  Napi::Value own = env.Null();
  if (placed > 0) own = CopyOutSmall(env, info[0].As<Napi::Buffer<char>>(), placed);
  return Result(env, plaintext, Napi::Number::New(env, static_cast<double>(placed)), own);
}

// Plaintext decrypted in place keeps the memory of the whole buffer it sits
// in alive, while every bound on inbound data counts the plaintext alone.
// When `placed` is small next to that memory (padded records, RFC 8446
// section 5.4) this returns a Buffer of its own size, and gives the large
// memory back at once when `buffer` spans it all (nothing else can see it);
// otherwise null: the plaintext stays where it is.
Napi::Value TlsConnection::CopyOutSmall(Napi::Env env, Napi::Buffer<char> buffer, size_t placed) {
  Napi::ArrayBuffer whole = buffer.ArrayBuffer();
  if (placed >= whole.ByteLength() / 2) return env.Null();
  Napi::Value own = Napi::Buffer<char>::Copy(env, buffer.Data(), placed);
  // A failed detach (a buffer that cannot be detached) only leaves the memory
  // to the garbage collector.
  if (buffer.ByteOffset() == 0 && buffer.ByteLength() == whole.ByteLength()) napi_detach_arraybuffer(env, whole);
  return own;
}

// Drives the handshake and decrypts every complete record. SSL_read also runs
// handshake messages (initial, post-handshake auth, renegotiation, key update).
// Plaintext fills `reuse` first (`*placed` bytes), then the scratch buffer,
// whose part is returned as a new Buffer.
Napi::Value TlsConnection::ReadPlaintext(Napi::Env env, char* reuse, size_t reuse_length, size_t* placed) {
  size_t used = 0;
  const int fatal = ReadRecords(reuse, reuse_length, placed, &scratch, &used);
  if (fatal != 0) RecordFatal(env, fatal);
  NoteProgress();
  if (used == 0) return env.Null();
  Napi::Value plaintext = Napi::Buffer<char>::Copy(env, scratch.data(), used);
  if (scratch.size() > kScratchCeiling) {
    scratch.resize(kScratchFloor);
    scratch.shrink_to_fit();
  }
  return plaintext;
}

void TlsConnection::NoteProgress() {
  if (TrackProgress()) RememberPeerCertificates();
}

void TlsConnection::RememberPeerCertificates() {
  trust_context_->RememberDecoded(SSL_get0_peer_certificate(ssl_.get()));
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl_.get());
  for (int i = 0; i < sk_X509_num(chain); ++i) trust_context_->RememberDecoded(sk_X509_value(chain, i));
}

void TlsConnection::RecordFatal(Napi::Env env, int ssl_error) {
  events_ |= kFatal;
  Napi::Error error =
      OpenSSLError(env, ssl_error == SSL_ERROR_SYSCALL ? "the TLS connection failed" : "TLS protocol error");
  napi_value object = error.Value();
  if (peer_changed_) {
    DefineOwn(env, object, "peerChanged", true);
  } else if (verify_error_ != X509_V_OK) {
    DefineOwn(env, object, "verifyError", VerifyErrorCode(verify_error_));
    DefineOwn(env, object, "verifyMessage", X509_verify_cert_error_string(verify_error_));
    DefineOwn(env, object, "verifyDepth", static_cast<double>(verify_error_depth_));
  }
  fatal_error_ = Napi::Persistent(error.Value().As<Napi::Value>());
}

void TlsConnection::RecordDataAfterClose(Napi::Env env) {
  if (!fatal_error_.IsEmpty()) return;
  events_ |= kFatal;
  Napi::Error error = CodedError(env, "ERR_CTLS_PROTOCOL", "the peer went on sending after its close_notify");
  fatal_error_ = Napi::Persistent(error.Value().As<Napi::Value>());
}

Napi::Value TlsConnection::Result(Napi::Env env, Napi::Value plaintext, Napi::Value fifth, Napi::Value sixth) {
  Napi::Value ciphertext = TakeCiphertext(env);
  Napi::Value error = fatal_error_.IsEmpty() ? env.Null() : fatal_error_.Value();
  fatal_error_.Reset();
  return Napi::Value(env, NewTuple(env, {plaintext, ciphertext, Napi::Number::New(env, events_), error, fifth, sixth}));
}

// The ciphertext OpenSSL wrote outside a lent buffer, as a new Buffer; with a
// native transport it is written there instead, and null returned.
Napi::Value TlsConnection::TakeCiphertext(Napi::Env env) {
  if (sink_.spilled() == 0 || FlushToTransport()) return env.Null();
  Napi::Value buffer = Napi::Buffer<char>::Copy(env, sink_.spill_data(), sink_.spilled());
  sink_.ClearSpill();
  return buffer;
}

// write(data: Buffer | Buffer[], out?: Buffer)
//   -> [null, ciphertext | null, events, error | null, consumed, placed]
// `consumed` < total when a renegotiation blocks writing (kWriteBlocked); the
// caller keeps the rest and retries after the next cycle().
// `out` is a buffer the caller lends for the ciphertext: when all of it fits,
// it is placed there (`placed` bytes) and `ciphertext` is null. Reusing one
// buffer saves a fresh JS allocation per write, and the external-memory
// pressure that would make bulk senders collect garbage again and again.
Napi::Value TlsConnection::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Alive(env)) return env.Undefined();
  std::vector<Napi::Value> values;
  if (!WriteValues(info[0], &values)) return env.Undefined();
  if (!Alive(env)) return env.Undefined();
  if (info[1].IsBuffer()) {
    Napi::Buffer<char> out = info[1].As<Napi::Buffer<char>>();
    sink_.Lend(out.Data(), out.Length());
  }
  const size_t consumed = Seal(env, values);
  if (consumed == kRefused) return env.Undefined();
  Napi::Value result = Result(env, env.Null(), Napi::Number::New(env, static_cast<double>(consumed)),
                              Napi::Number::New(env, static_cast<double>(sink_.lent_used())));
  sink_.Unlend();
  return result;
}

size_t TlsConnection::Seal(Napi::Env env, const std::vector<Napi::Value>& values, size_t* offered) {
  ErrorQueueScope scope;
  events_ = 0;
  fatal_error_.Reset();
  UseTrustStore();
  std::vector<std::pair<const char*, size_t>> pieces;
  size_t total = 0;
  if (!CollectPieces(values, &pieces, &total)) {
    // Refused whole, before a byte is sealed: sealing the rest would put
    // records on the wire the caller is told were not written.
    CodedError(env, "ERR_CTLS_INVALID_OPTION", "write data must be Buffers or Uint8Arrays")
        .ThrowAsJavaScriptException();
    return kRefused;
  }
  if (offered != nullptr) *offered = total;
  size_t consumed = 0;
  const int fatal = WritePieces(std::move(pieces), total, &scratch, &consumed);
  if (fatal != 0) RecordFatal(env, fatal);
  NoteProgress();
  return consumed;
}

// shutdown() -> ciphertext carrying our close_notify (RFC 8446 section 6.1).
Napi::Value TlsConnection::Shutdown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ssl_) return env.Null();
  ErrorQueueScope scope;
  if (SSL_is_init_finished(ssl_.get())) SSL_shutdown(ssl_.get());
  return TakeCiphertext(env);
}

// sendFatalAlert(description: number) -> ciphertext carrying a fatal alert
// (RFC 8446 section 6.2), or null where none can be sent. A peer the policy
// denies learns why (access_denied, certificate_revoked, certificate_expired)
// instead of seeing a close it cannot tell from a normal one.
Napi::Value TlsConnection::SendFatalAlert(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ssl_ || ssl3_send_alert == nullptr || !info[0].IsNumber()) return env.Null();
  ErrorQueueScope scope;
  const int description = info[0].As<Napi::Number>().Int32Value();
  if (description <= 0 || description > 255) return env.Null();
  if ((SSL_get_shutdown(ssl_.get()) & SSL_SENT_SHUTDOWN) != 0) return env.Null();
  ssl3_send_alert(ssl_.get(), SSL3_AL_FATAL, description);
  return TakeCiphertext(env);
}

// requestCertificate() -> ciphertext carrying the CertificateRequest (TLS 1.3
// post-handshake auth, RFC 8446 section 4.6.2) or HelloRequest (TLS 1.2
// renegotiation, RFC 5746). Completion is reported by cycle() as kReauthDone;
// a missing or bad certificate is a fatal alert (kFatal).
Napi::Value TlsConnection::RequestCertificate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Alive(env)) return env.Undefined();
  ErrorQueueScope scope;
  if (!is_server_ || !handshake_done_) {
    CodedError(env, "ERR_CTLS_FRESH_UNSUPPORTED",
               is_server_ ? "the handshake has not completed" : "only a server can request a certificate")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (reauth_pending_) {
    CodedError(env, "ERR_CTLS_REAUTH_IN_PROGRESS", "a certificate request is already outstanding")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  UseTrustStore();
  switch (BeginCertificateRequest()) {
    case RequestStatus::kSent:
      return TakeCiphertext(env);
    case RequestStatus::kNoPostHandshakeAuth:
      ERR_clear_error();
      CodedError(env, "ERR_CTLS_FRESH_UNSUPPORTED", "the client did not offer post-handshake authentication")
          .ThrowAsJavaScriptException();
      break;
    case RequestStatus::kPostHandshakeAuthFailed:
      OpenSSLError(env, "SSL_verify_client_post_handshake failed").ThrowAsJavaScriptException();
      break;
    case RequestStatus::kNoSecureRenegotiation:
      CodedError(env, "ERR_CTLS_FRESH_UNSUPPORTED", "the client does not support secure renegotiation")
          .ThrowAsJavaScriptException();
      break;
    case RequestStatus::kRenegotiateFailed:
      OpenSSLError(env, "SSL_renegotiate failed").ThrowAsJavaScriptException();
      break;
    case RequestStatus::kSendFailed:
      OpenSSLError(env, "could not send the certificate request").ThrowAsJavaScriptException();
      break;
  }
  return env.Undefined();
}

// setContext(context?: SecureContext): resumes a handshake paused at the
// ClientHello, serving our identity from `context` (the SNICallback's answer).
Napi::Value TlsConnection::SetContext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Alive(env)) return env.Undefined();
  SecureContext* context = SecureContext::Unwrap(info[0]);
  if (context == nullptr && !info[0].IsUndefined() && !info[0].IsNull()) {
    CodedError(env, "ERR_CTLS_INVALID_OPTION", "setContext takes a SecureContext").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (context != nullptr && context->ctx() != SSL_get_SSL_CTX(ssl_.get())) {
    sni_context_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
    trust_context_ = context;
    SwitchContext(context->ctx(), &context->trust());
  }
  client_hello_resolved_ = true;
  client_hello_paused_ = false;
  return env.Undefined();
}

// setIdentity(keyPem, certChainPem, passphrase?): what a client presents at
// the next certificate request (initial handshake, PHA or renegotiation).
Napi::Value TlsConnection::SetIdentity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Alive(env)) return env.Undefined();
  ErrorQueueScope scope;
  Identity identity;
  if (!ParseIdentity(env, info[0], info[1], info[2], &identity)) return env.Undefined();
  if (SSL_use_cert_and_key(ssl_.get(), identity.leaf.get(), identity.key.get(), identity.chain.get(), 1) != 1) {
    OpenSSLError(env, "the private key does not match the certificate", "ERR_CTLS_BAD_PEM")
        .ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// resumeIdentity(): the owner set the identity for the certificate request
// that paused the handshake (kIdentityWanted); the next cycle() answers it.
Napi::Value TlsConnection::ResumeIdentity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Alive(env)) return env.Undefined();
  RecordEngine::ResumeIdentity();
  return env.Undefined();
}

Napi::Value TlsConnection::Destroy(const Napi::CallbackInfo& info) {
  CloseTransport();
  if (ssl_) {
    SSL_set_app_data(ssl_.get(), nullptr);
    ssl_.reset();  // frees both BIOs too
  }
  // Their buffers are ours: release them now, not when the wrapper is collected.
  source_.Release();
  sink_.Release();
  sni_context_ref_.Reset();
  return info.Env().Undefined();
}

// getInfo() -> the connection's negotiated facts in one crossing.
Napi::Value TlsConnection::GetInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  if (!ssl_) return result;
  SSL* ssl = ssl_.get();
  DefineOwn(env, result, "protocol", SSL_get_version(ssl));
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  if (cipher != nullptr) {
    Napi::Object cipher_info = Napi::Object::New(env);
    DefineOwn(env, cipher_info, "name", SSL_CIPHER_get_name(cipher));
    DefineOwn(env, cipher_info, "standardName", SSL_CIPHER_standard_name(cipher));
    DefineOwn(env, cipher_info, "version", SSL_CIPHER_get_version(cipher));
    DefineOwn(env, result, "cipher", cipher_info);
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_length = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_length);
  if (alpn != nullptr && alpn_length > 0) {
    DefineOwn(env, result, "alpnProtocol", std::string(reinterpret_cast<const char*>(alpn), alpn_length));
  }
  const char* servername = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (servername != nullptr) {
    DefineOwn(env, result, "servername", servername);
  } else if (!client_hello_servername_.empty()) {
    DefineOwn(env, result, "servername", client_hello_servername_);
  }
  DefineOwn(env, result, "sessionReused", SSL_session_reused(ssl) == 1);
  DefineOwn(env, result, "handshakeDone", handshake_done_);
  DefineOwn(env, result, "reauthPending", reauth_pending_);
  DefineOwn(env, result, "staleCrlSeen", stale_crl_seen_);
  DefineOwn(env, result, "version", static_cast<double>(SSL_version(ssl)));
  return result;
}

// getPeerChain() -> DER buffers, leaf first. On a server OpenSSL keeps the
// leaf apart from the rest of the chain; on a client the chain includes it.
Napi::Value TlsConnection::GetPeerChain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array result = Napi::Array::New(env);
  if (!ssl_) return result;
  X509* leaf = SSL_get0_peer_certificate(ssl_.get());
  if (leaf == nullptr) return result;
  uint32_t index = 0;
  DefineElement(env, result, index++, CertificateToBuffer(env, leaf));
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl_.get());
  const int count = chain == nullptr ? 0 : sk_X509_num(chain);
  for (int i = 0; i < count; ++i) {
    X509* certificate = sk_X509_value(chain, i);
    // A client's chain starts with the very leaf object; a server's lacks it.
    // (X509_cmp would hash both certificates at every re-authentication.)
    if (certificate == leaf) continue;
    DefineElement(env, result, index++, CertificateToBuffer(env, certificate));
  }
  return result;
}

// getVerifiedChain() -> DER buffers, leaf first, of the chain the last
// verification built up to the trust anchor (what node's
// getPeerCertificate(true) links as issuerCertificate). Empty when no
// verification ran, e.g. on a resumed session.
Napi::Value TlsConnection::GetVerifiedChain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return ChainToArray(env, ssl_ ? SSL_get0_verified_chain(ssl_.get()) : nullptr);
}

Napi::Value TlsConnection::GetOwnCertificate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ssl_) return env.Null();
  X509* certificate = SSL_get_certificate(ssl_.get());
  return certificate == nullptr ? env.Null() : CertificateToBuffer(env, certificate);
}

// getSession() -> DER of the latest resumable session (a TLS 1.3 ticket
// arrives after the handshake, hence the callback-kept copy).
Napi::Value TlsConnection::GetSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!session_der_.empty()) return Napi::Buffer<char>::Copy(env, session_der_.data(), session_der_.size());
  if (!ssl_) return env.Null();
  SSL_SESSION* session = SSL_get_session(ssl_.get());
  if (session == nullptr || !SSL_SESSION_is_resumable(session)) return env.Null();
  const int length = i2d_SSL_SESSION(session, nullptr);
  if (length <= 0) return env.Null();
  Napi::Buffer<unsigned char> buffer = Napi::Buffer<unsigned char>::New(env, static_cast<size_t>(length));
  if (buffer.IsEmpty()) return env.Undefined();
  unsigned char* cursor = buffer.Data();
  i2d_SSL_SESSION(session, &cursor);
  return buffer;
}

// verifiedUnderCurrentTrust() -> whether the last certificate verification
// ran under the trust the connection's context holds now. A peer can split its
// flight so that its Certificate is verified before a setCrl()/setCa() and the
// handshake ends after it; TypeScript then verifies the chain again.
Napi::Value TlsConnection::VerifiedUnderCurrentTrust(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Boolean::New(env, RecordEngine::VerifiedUnderCurrentTrust());
}

// verifiedNotAfter() -> the earliest notAfter (epoch ms) of the chain OpenSSL
// built for the peer, anchor and store intermediates included, or null. A
// decision on the peer lapses then even if the presented certificates live on.
Napi::Value TlsConnection::VerifiedNotAfter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ssl_) return env.Null();
  const double not_after = EarliestNotAfterMs(SSL_get0_verified_chain(ssl_.get()));
  return not_after < 0 ? env.Null() : Napi::Number::New(env, not_after);
}

Napi::Value TlsConnection::GetVerifyError(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (verify_error_ == X509_V_OK) return env.Null();
  Napi::Object result = Napi::Object::New(env);
  DefineOwn(env, result, "code", VerifyErrorCode(verify_error_));
  DefineOwn(env, result, "message", X509_verify_cert_error_string(verify_error_));
  DefineOwn(env, result, "depth", static_cast<double>(verify_error_depth_));
  return result;
}

// exportKeyingMaterial(length, label, context?) per RFC 5705 / RFC 8446 7.5.
Napi::Value TlsConnection::ExportKeyingMaterial(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Alive(env)) return env.Undefined();
  ErrorQueueScope scope;
  // TypeScript checks these (socket.exportKeyingMaterial); the handle refuses anything else too.
  const bool context_ok = info[2].IsUndefined() || (info[2].IsBuffer() && info[2].IsTypedArray());
  if (!info[0].IsNumber() || !info[1].IsString() || !context_ok || info[0].As<Napi::Number>().DoubleValue() < 1 ||
      info[0].As<Napi::Number>().DoubleValue() > kMaxKeyingMaterial) {
    CodedError(env, "ERR_CTLS_INVALID_OPTION", "exportKeyingMaterial(length, label[, context])")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const size_t length = info[0].As<Napi::Number>().Uint32Value();
  const std::string label = info[1].As<Napi::String>().Utf8Value();
  const bool has_context = info[2].IsBuffer();
  Napi::Buffer<unsigned char> context =
      has_context ? info[2].As<Napi::Buffer<unsigned char>>() : Napi::Buffer<unsigned char>::New(env, 0);
  Napi::Buffer<unsigned char> out = Napi::Buffer<unsigned char>::New(env, length);
  if (out.IsEmpty() || context.IsEmpty()) return env.Undefined();
  if (SSL_export_keying_material(ssl_.get(), out.Data(), length, label.data(), label.size(), context.Data(),
                                 context.Length(), has_context ? 1 : 0) != 1) {
    OpenSSLError(env, "exportKeyingMaterial failed (handshake not complete?)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return out;
}

}  // namespace ctls
