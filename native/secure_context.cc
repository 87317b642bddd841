#include "secure_context.h"

#include <openssl/pem.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "chain_batch.h"
#include "crl_info.h"
#include "js_values.h"
#include "record_engine.h"

namespace ctls {

namespace {

std::string BufferToString(const Napi::Value& value) {
  if (!value.IsBuffer()) return std::string();
  Napi::Buffer<char> buffer = value.As<Napi::Buffer<char>>();
  return std::string(buffer.Data(), buffer.Length());
}

std::optional<std::string_view> PemOf(const Napi::Buffer<char>& buffer) {
  if (buffer.IsEmpty()) return std::nullopt;
  return std::string_view(buffer.Data(), buffer.Length());
}

}  // namespace

Napi::Function SecureContext::Init(Napi::Env env) {
  return DefineClass(env, "SecureContext",
                     {
                         InstanceMethod<&SecureContext::AddIdentity>("addIdentity"),
                         InstanceMethod<&SecureContext::SetTrust>("setTrust"),
                         InstanceMethod<&SecureContext::SetVersions>("setVersions"),
                         InstanceMethod<&SecureContext::SetCiphers>("setCiphers"),
                         InstanceMethod<&SecureContext::SetCiphersuites>("setCiphersuites"),
                         InstanceMethod<&SecureContext::SetGroups>("setGroups"),
                         InstanceMethod<&SecureContext::SetAlpnProtocols>("setAlpnProtocols"),
                         InstanceMethod<&SecureContext::SetSessionIdContext>("setSessionIdContext"),
                         InstanceMethod<&SecureContext::SetSessionTimeout>("setSessionTimeout"),
                         InstanceMethod<&SecureContext::SetTicketKeys>("setTicketKeys"),
                         InstanceMethod<&SecureContext::GetTicketKeys>("getTicketKeys"),
                         InstanceMethod<&SecureContext::EnableClientHelloPause>("enableClientHelloPause"),
                         InstanceMethod<&SecureContext::VerifyChain>("verifyChain"),
                         InstanceMethod<&SecureContext::VerifyChains>("verifyChains"),
                         InstanceMethod<&SecureContext::AbandonBatches>("abandonBatches"),
                         InstanceMethod<&SecureContext::CacheStats>("cacheStats"),
                     });
}

namespace {

// Marks the objects this class wraps: napi_unwrap returns whatever native
// object is wrapped, so without the tag another class's object (a connection)
// would be read as a SecureContext.
constexpr napi_type_tag kSecureContextTag = {0x6374'6c73'5365'6375ULL, 0x7265'436f'6e74'6578ULL};

}  // namespace

SecureContext* SecureContext::Unwrap(Napi::Value value) {
  if (!value.IsObject()) return nullptr;
  Napi::Object object = value.As<Napi::Object>();
  if (!object.CheckTypeTag(&kSecureContextTag)) return nullptr;
  return Napi::ObjectWrap<SecureContext>::Unwrap(object);
}

// new SecureContext(isServer)
SecureContext::SecureContext(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SecureContext>(info) {
  Napi::Env env = info.Env();
  ErrorQueueScope scope;
  info.This().As<Napi::Object>().TypeTag(&kSecureContextTag);
  if (!ReadTruth(env, info[0], &is_server_)) return;
  // The shared settings (versions floor, options, session handling) and the
  // connection's verification callbacks are in RecordEngine::NewContext,
  // which the fuzz harnesses use too.
  ctx_.reset(RecordEngine::NewContext(is_server_));
  if (!ctx_) {
    OpenSSLError(env, "SSL_CTX_new failed").ThrowAsJavaScriptException();
    return;
  }
  SSL_CTX_set_app_data(ctx_.get(), this);
}

// addIdentity(keyPem: Buffer, certChainPem: Buffer, passphrase?: string)
Napi::Value SecureContext::AddIdentity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ErrorQueueScope scope;
  Identity identity;
  if (!ParseIdentity(env, info[0], info[1], info[2], &identity)) return env.Undefined();
  // One SSL_CTX holds one identity per key type (RSA, ECDSA, Ed25519): a second
  // call with another key type adds to it, the same type replaces.
  if (SSL_CTX_use_cert_and_key(ctx_.get(), identity.leaf.get(), identity.key.get(), identity.chain.get(), 1) != 1) {
    OpenSSLError(env, "the private key does not match the certificate", "ERR_CTLS_BAD_PEM")
        .ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// setTrust(caPem: Buffer | undefined, crlPem: Buffer | undefined,
//          { crlCheckAll: boolean, allowStaleCrl: boolean }) -> [CrlFacts without serials]
// Builds a whole new store and swaps it in (TrustState::Replace).
Napi::Value SecureContext::SetTrust(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ErrorQueueScope scope;
  Napi::Object flags = info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  // A flag that cannot be read changes nothing: neither may default to a laxer store.
  bool crl_check_all = false;
  bool allow_stale_crl = false;
  if (!ReadFlag(env, flags, "crlCheckAll", &crl_check_all) ||
      !ReadFlag(env, flags, "allowStaleCrl", &allow_stale_crl)) {
    return env.Undefined();
  }
  // A missing argument is "none of these"; an empty Buffer is bad PEM.
  const Napi::Buffer<char> ca = info[0].IsBuffer() ? info[0].As<Napi::Buffer<char>>() : Napi::Buffer<char>();
  const Napi::Buffer<char> crl = info[1].IsBuffer() ? info[1].As<Napi::Buffer<char>>() : Napi::Buffer<char>();
  TrustStore trust;
  const char* bad = ReadTrustStore(PemOf(ca), PemOf(crl), crl_check_all, &trust);
  if (bad != nullptr) {
    const bool bad_ca = std::strcmp(bad, "ca") == 0;
    Napi::Error error =
        OpenSSLError(env, bad_ca ? "no certificate found in ca" : "no CRL found in crl", "ERR_CTLS_BAD_PEM");
    DefineOwn(env, error.Value(), "option", bad);  // which input was bad, for the TS message
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  X509StorePointer store = std::move(trust.store);
  // The TLS verification path uses the SSL_CTX's store; verifyChain uses ours.
  X509_STORE_up_ref(store.get());
  SSL_CTX_set_cert_store(ctx_.get(), store.get());
  trust_.Replace(std::move(store), allow_stale_crl);
  // The CA names a server sends in its CertificateRequest, so clients with
  // several identities pick the right one (RFC 8446 section 4.2.4).
  if (is_server_) SSL_CTX_set_client_CA_list(ctx_.get(), trust.ca_names.release());
  // Read from the very objects the store verifies with: one parse, not two.
  Napi::Array crl_facts = Napi::Array::New(env, trust.crls.size());
  for (size_t i = 0; i < trust.crls.size(); ++i) {
    DefineElement(env, crl_facts, static_cast<uint32_t>(i), CrlFacts(env, trust.crls[i].get(), false));
  }
  return crl_facts;
}

static int VersionFromNumber(const Napi::Value& value) {
  return value.IsNumber() ? value.As<Napi::Number>().Int32Value() : 0;
}

// setVersions(min: number, max: number) with TLS1_2_VERSION-style numbers.
Napi::Value SecureContext::SetVersions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ErrorQueueScope scope;
  if (!SSL_CTX_set_min_proto_version(ctx_.get(), VersionFromNumber(info[0])) ||
      !SSL_CTX_set_max_proto_version(ctx_.get(), VersionFromNumber(info[1]))) {
    OpenSSLError(env, "unsupported TLS version", "ERR_CTLS_INVALID_OPTION").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value SecureContext::SetCiphers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ErrorQueueScope scope;
  const std::string list = info[0].As<Napi::String>().Utf8Value();
  if (!SSL_CTX_set_cipher_list(ctx_.get(), list.c_str())) {
    OpenSSLError(env, "no cipher matches the ciphers option", "ERR_CTLS_INVALID_OPTION").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value SecureContext::SetCiphersuites(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ErrorQueueScope scope;
  const std::string list = info[0].As<Napi::String>().Utf8Value();
  if (!SSL_CTX_set_ciphersuites(ctx_.get(), list.c_str())) {
    OpenSSLError(env, "invalid ciphersuites option", "ERR_CTLS_INVALID_OPTION").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value SecureContext::SetGroups(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ErrorQueueScope scope;
  const std::string list = info[0].As<Napi::String>().Utf8Value();
  if (!SSL_CTX_set1_groups_list(ctx_.get(), list.c_str())) {
    OpenSSLError(env, "invalid ecdhCurve option", "ERR_CTLS_INVALID_OPTION").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// setAlpnProtocols(wire: Buffer) — already in RFC 7301 wire format.
Napi::Value SecureContext::SetAlpnProtocols(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  alpn_wire_ = BufferToString(info[0]);
  if (is_server_) {
    SSL_CTX_set_alpn_select_cb(ctx_.get(), SelectAlpn, this);
  } else if (SSL_CTX_set_alpn_protos(ctx_.get(), reinterpret_cast<const unsigned char*>(alpn_wire_.data()),
                                     static_cast<unsigned int>(alpn_wire_.size())) != 0) {
    CodedError(env, "ERR_CTLS_INVALID_OPTION", "invalid ALPNProtocols").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// Picks the first of our protocols that the client also offers. No overlap is
// a fatal no_application_protocol alert (RFC 7301 section 3.2), as in node:tls.
int SecureContext::SelectAlpn(SSL* ssl, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
                              unsigned int in_length, void* arg) {
  const auto* self = static_cast<SecureContext*>(arg);
  if (self->alpn_wire_.empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* selected = nullptr;
  const int status =
      SSL_select_next_proto(&selected, out_length, reinterpret_cast<const unsigned char*>(self->alpn_wire_.data()),
                            static_cast<unsigned int>(self->alpn_wire_.size()), in, in_length);
  if (status != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

Napi::Value SecureContext::SetSessionIdContext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string context = BufferToString(info[0]);
  if (context.size() > SSL_MAX_SID_CTX_LENGTH ||
      !SSL_CTX_set_session_id_context(ctx_.get(), reinterpret_cast<const unsigned char*>(context.data()),
                                      static_cast<unsigned int>(context.size()))) {
    CodedError(env, "ERR_CTLS_INVALID_OPTION", "sessionIdContext is too long (max 32 bytes)")
        .ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value SecureContext::SetSessionTimeout(const Napi::CallbackInfo& info) {
  SSL_CTX_set_timeout(ctx_.get(), static_cast<long>(info[0].As<Napi::Number>().Int64Value()));  // NOLINT(runtime/int)
  return info.Env().Undefined();
}

// Ticket keys in OpenSSL's own 80-byte layout: 16-byte name, 32-byte HMAC
// secret, 32-byte AES secret. Sharing them across processes lets any of them
// resume a session another issued.
Napi::Value SecureContext::SetTicketKeys(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Buffer<unsigned char> keys = info[0].As<Napi::Buffer<unsigned char>>();
  const long length = static_cast<long>(keys.Length());  // NOLINT(runtime/int): OpenSSL's type
  if (SSL_CTX_set_tlsext_ticket_keys(ctx_.get(), keys.Data(), length) != 1) {
    CodedError(env, "ERR_CTLS_INVALID_OPTION", "ticketKeys must be an 80-byte Buffer").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value SecureContext::GetTicketKeys(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Buffer<unsigned char> keys = Napi::Buffer<unsigned char>::New(env, 80);
  // No Buffer (an environment being torn down): nothing to write the keys into.
  if (keys.IsEmpty()) return env.Undefined();
  if (SSL_CTX_get_tlsext_ticket_keys(ctx_.get(), keys.Data(), 80) != 1) return env.Undefined();
  return keys;
}

// Servers with an SNICallback pause at the ClientHello so TypeScript can pick
// the context before any certificate is chosen.
Napi::Value SecureContext::EnableClientHelloPause(const Napi::CallbackInfo& info) {
  RecordEngine::PauseAtClientHello(ctx_.get());
  return info.Env().Undefined();
}

X509* SecureContext::FindDecoded(const unsigned char* der, size_t length) {
  auto found = decoded_.find(std::string(reinterpret_cast<const char*>(der), length));
  if (found == decoded_.end() || X509_up_ref(found->second.get()) != 1) return nullptr;
  return found->second.get();
}

X509* SecureContext::DecodeCertificate(const unsigned char* der, size_t length) {
  std::string key(reinterpret_cast<const char*>(der), length);
  auto found = decoded_.find(key);
  if (found == decoded_.end()) {
    X509Pointer certificate = DecodeDer(der, length);
    if (!certificate) return nullptr;
    found = KeepDecoded(std::move(key), std::move(certificate));
  }
  X509* certificate = found->second.get();
  X509_up_ref(certificate);
  return certificate;
}

SecureContext::DecodedMap::iterator SecureContext::KeepDecoded(std::string der, X509Pointer certificate) {
  if (decoded_.size() >= kMaxDecoded) decoded_.clear();
  return decoded_.emplace(std::move(der), std::move(certificate)).first;
}

void SecureContext::RememberDecoded(X509* certificate) {
  if (certificate == nullptr) return;
  // i2d reuses the encoding kept from decoding; a peer's non-canonical DER
  // would only give a key no later lookup uses.
  const CertificateDer der = EncodeCertificate(certificate);
  if (!der.data) return;
  std::string key(reinterpret_cast<const char*>(der.data.get()), der.length);
  if (decoded_.count(key) != 0) return;
  X509_up_ref(certificate);
  KeepDecoded(std::move(key), X509Pointer(certificate));
}

// verifyChain(derChain: Buffer[], purpose: 'sslclient' | 'sslserver',
//             extraUntrusted?: Buffer[]) -> { ok, code, error, depth, notAfter?, chain? }
// (when ok, `chain` is the chain OpenSSL built, leaf first and anchor last)
// Verifies an already-presented chain against today's store, CRLs and clock,
// with no handshake: the revalidation path of continuous authorization.
Napi::Value SecureContext::VerifyChain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ErrorQueueScope scope;
  const std::string purpose = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "sslclient";
  // An unknown purpose must not quietly verify as another one.
  if (!info[0].IsArray() || (purpose != "sslclient" && purpose != "sslserver")) {
    CodedError(env, "ERR_CTLS_INVALID_OPTION",
               "verifyChain takes an array of DER Buffers and 'sslclient' or 'sslserver'")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array der_chain = info[0].As<Napi::Array>();

  X509StackPointer untrusted(sk_X509_new_null());
  X509Pointer leaf;
  // A certificate that could not be read (a getter threw, or the environment is going away and
  // the read failed without an exception) stops the verification: none runs on part of a chain.
  bool unreadable = false;
  // The length is read once: a getter could lengthen the list while it is read.
  auto decode_into = [&](Napi::Array list, bool first_is_leaf) {
    const uint32_t count = list.Length();
    for (uint32_t i = 0; i < count; ++i) {
      Napi::Value item = list.Get(i);
      if (item.IsEmpty() || env.IsExceptionPending()) {
        unreadable = true;
        return;
      }
      const unsigned char* data = nullptr;
      size_t length = 0;
      if (!BufferBytes(env, item, &data, &length)) continue;
      X509Pointer certificate(DecodeCertificate(data, length));
      if (!certificate) continue;
      if (first_is_leaf && i == 0) {
        // The leaf also heads the untrusted list, as in OpenSSL's own TLS
        // verification: both paths then verify (and cache) identical inputs.
        leaf.reset(certificate.get());
        X509_up_ref(leaf.get());
      }
      if (sk_X509_push(untrusted.get(), certificate.get())) {
        certificate.release();  // owned by `untrusted`
      }
    }
  };
  // More certificates than any chain has are refused before one is read: a sparse array's length
  // says nothing of what it holds.
  if (der_chain.Length() > kMaxChainCertificates ||
      (info[2].IsArray() && info[2].As<Napi::Array>().Length() > kMaxChainCertificates)) {
    CodedError(env, "ERR_CTLS_INVALID_OPTION", "verifyChain takes at most 100 certificates in each list")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  decode_into(der_chain, true);
  if (!unreadable && info[2].IsArray()) decode_into(info[2].As<Napi::Array>(), false);
  if (unreadable) return env.Undefined();

  if (!leaf) return VerifyOutcomeObject(env, false, VerifiedChains::Outcome());
  const int purpose_id = purpose == "sslserver" ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT;
  // The key-strength floor of the context's security level, as a handshake applies it.
  const VerifiedChains::Outcome outcome =
      trust_.verified_chains().VerifyPresented(trust_.store(), leaf.get(), untrusted.get(), purpose_id,
                                               SSL_CTX_get_security_level(ctx_.get()), trust_.allow_stale_crl());
  if (!outcome.ran) {
    OpenSSLError(env, "X509_STORE_CTX_init failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return VerifyOutcomeObject(env, true, outcome);
}

// verifyChains(items: Array<[derChain: Buffer[], purpose, extraUntrusted?: Buffer[]]>,
//              threads: number) -> Promise<(result of verifyChain() | null)[]> | undefined
// verifyChain() for many chains at once, off the event loop, against the store
// in force now, on pool threads while all batches together hold at most
// `threads` (undefined when they hold that many already; see chain_batch.h). The
// verified-chain cache is not read (a trust change, the one caller, has just
// replaced the store it would answer for); clean successes are kept in it.
Napi::Value SecureContext::VerifyChains(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ErrorQueueScope scope;
  if (!info[0].IsArray() || !info[1].IsNumber()) {
    CodedError(env, "ERR_CTLS_INVALID_OPTION", "verifyChains takes an array of [chain, purpose, extra?] and a count")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array items = info[0].As<Napi::Array>();
  // Lengths are read once and checked before anything is read or reserved: a sparse array's
  // length says nothing of what it holds, and a getter could lengthen it while it is read.
  const uint32_t item_count = items.Length();
  if (item_count > kMaxBatchChains) {
    CodedError(env, "ERR_CTLS_INVALID_OPTION", "verifyChains takes at most 10000 chains").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<BatchChain> chains;
  chains.reserve(item_count);
  // Reading an element may run a getter that throws: the exception is then left pending and the
  // call returns at once (throwing another over it would be fatal with C++ exceptions off).
  // An empty value is a read that failed without an exception (the environment is going away).
  auto element = [&](Napi::Array array, uint32_t index, Napi::Value* value) {
    *value = array.Get(index);
    return !value->IsEmpty() && !env.IsExceptionPending();
  };
  // Certificates the context decoded already are shared; the rest are decoded on the pool, once
  // per chain that carries them.
  auto add = [&](BatchChain* chain, Napi::Value list, bool first_is_leaf) {
    if (!list.IsArray()) return true;
    Napi::Array array = list.As<Napi::Array>();
    const uint32_t count = array.Length();
    if (count > kMaxChainCertificates) {
      CodedError(env, "ERR_CTLS_INVALID_OPTION", "verifyChains takes at most 100 certificates in each list")
          .ThrowAsJavaScriptException();
      return false;
    }
    // The length is read once: a getter could lengthen the list while it is read.
    for (uint32_t i = 0; i < count; ++i) {
      Napi::Value item;
      if (!element(array, i, &item)) return false;
      const unsigned char* data = nullptr;
      size_t length = 0;
      if (!BufferBytes(env, item, &data, &length)) continue;
      BatchCertificate certificate;
      certificate.is_leaf = first_is_leaf && i == 0;
      certificate.decoded.reset(FindDecoded(data, length));
      if (!certificate.decoded) certificate.der.assign(reinterpret_cast<const char*>(data), length);
      chain->certificates.push_back(std::move(certificate));
    }
    return true;
  };
  for (uint32_t i = 0; i < item_count; ++i) {
    Napi::Value entry;
    if (!element(items, i, &entry)) return env.Undefined();
    Napi::Value presented;
    Napi::Value purpose;
    Napi::Value extra;
    const bool pair = entry.IsArray();
    if (pair && (!element(entry.As<Napi::Array>(), 0, &presented) || !element(entry.As<Napi::Array>(), 1, &purpose) ||
                 !element(entry.As<Napi::Array>(), 2, &extra))) {
      return env.Undefined();
    }
    const std::string name = pair && purpose.IsString() ? purpose.As<Napi::String>().Utf8Value() : "";
    // An unknown purpose must not quietly verify as another one.
    if (!pair || !presented.IsArray() || (name != "sslclient" && name != "sslserver")) {
      CodedError(env, "ERR_CTLS_INVALID_OPTION", "each verifyChains item is [Buffer[], 'sslclient' | 'sslserver']")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    BatchChain chain;
    chain.purpose = name == "sslserver" ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT;
    if (!add(&chain, presented, true) || !add(&chain, extra, false)) return env.Undefined();
    chains.push_back(std::move(chain));
  }
  // A limit below one thread starts nothing (the caller has no thread to spare); above the cap, the cap.
  const double limit = info[1].As<Napi::Number>().DoubleValue();
  if (!(limit >= 1)) return env.Undefined();
  const size_t threads = static_cast<size_t>(std::min(limit, kMaxBatchThreads));
  return VerifyChainsInBackground(env, info.This().As<Napi::Object>(), &trust_, SSL_CTX_get_security_level(ctx_.get()),
                                  std::move(chains), threads);
}

// abandonBatches(): the batches verifyChains() has out for this context stop
// before their next chain (they answer null for the chains they skipped).
Napi::Value SecureContext::AbandonBatches(const Napi::CallbackInfo& info) {
  trust_.AbandonBatches();
  return info.Env().Undefined();
}

// cacheStats() -> { decoded, verified, verifiedHits }: sizes of the two caches
// and how many verifications the second one answered. For tests and metrics.
Napi::Value SecureContext::CacheStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object stats = Napi::Object::New(env);
  DefineOwn(env, stats, "decoded", static_cast<double>(decoded_.size()));
  DefineOwn(env, stats, "verified", static_cast<double>(trust_.verified_chains().size()));
  DefineOwn(env, stats, "verifiedHits", static_cast<double>(trust_.verified_chains().hits()));
  return stats;
}

}  // namespace ctls
