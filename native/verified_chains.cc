#include "verified_chains.h"

#include <algorithm>
#include <utility>

namespace ctls {

namespace {

void AppendNumber(std::string* key, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) key->push_back(static_cast<char>((value >> shift) & 0xff));
}

bool AppendCertificate(std::string* key, X509* certificate) {
  // The bytes the peer sent (re-encoded only where OpenSSL does not keep them,
  // which yields the same certificate and the same signature input).
  const CertificateDer der = EncodeCertificate(certificate);
  if (!der.data) return false;
  AppendNumber(key, static_cast<uint64_t>(der.length));
  key->append(reinterpret_cast<const char*>(der.data.get()), der.length);
  return true;
}

// `now` plus the whole seconds until `time`; `now` itself (an entry that ends
// at once) when the time cannot be read. ASN1_TIME_diff measures from its own
// reading of the clock, taken after `now`, so the result never lies past `time`.
time_t AbsoluteTime(const ASN1_TIME* time, time_t now) {
  int days = 0;
  int seconds = 0;
  if (time == nullptr || ASN1_TIME_diff(&days, &seconds, nullptr, time) != 1) return now;
  return now + static_cast<time_t>(days) * 86400 + seconds;
}

}  // namespace

double EarliestNotAfterMs(STACK_OF(X509) * chain) {
  if (chain == nullptr || sk_X509_num(chain) == 0) return -1;
  const time_t now = time(nullptr);
  time_t earliest = AbsoluteTime(X509_get0_notAfter(sk_X509_value(chain, 0)), now);
  for (int i = 1; i < sk_X509_num(chain); ++i) {
    earliest = std::min(earliest, AbsoluteTime(X509_get0_notAfter(sk_X509_value(chain, i)), now));
  }
  return static_cast<double>(earliest) * 1000.0;
}

namespace {

// Pushes a new reference to `certificate` onto `stack`; on failure nothing is held.
bool PushReference(STACK_OF(X509) * stack, X509* certificate) {
  if (X509_up_ref(certificate) != 1) return false;
  if (sk_X509_push(stack, certificate) > 0) return true;
  X509_free(certificate);
  return false;
}

// Verification callback for verifyChain(): tolerates a CRL past its
// nextUpdate when the context runs revocation in best-effort mode. The
// staleness is reported separately by TypeScript, which reads nextUpdate.
int TolerateStaleCrl(int preverify_ok, X509_STORE_CTX* store_ctx) {
  if (preverify_ok) return 1;
  return X509_STORE_CTX_get_error(store_ctx) == X509_V_ERR_CRL_HAS_EXPIRED ? 1 : 0;
}

}  // namespace

VerifiedChains::Outcome VerifiedChains::VerifyPresented(X509_STORE* store, X509* leaf, STACK_OF(X509) * untrusted,
                                                        int purpose, int auth_level, bool allow_stale_crl) {
  return Run(this, store, leaf, untrusted, purpose, auth_level, allow_stale_crl);
}

VerifiedChains::Outcome VerifiedChains::VerifyUncached(X509_STORE* store, X509* leaf, STACK_OF(X509) * untrusted,
                                                       int purpose, int auth_level, bool allow_stale_crl) {
  return Run(nullptr, store, leaf, untrusted, purpose, auth_level, allow_stale_crl);
}

VerifiedChains::Outcome VerifiedChains::Run(VerifiedChains* cache, X509_STORE* store, X509* leaf,
                                            STACK_OF(X509) * untrusted, int purpose, int auth_level,
                                            bool allow_stale_crl) {
  Outcome outcome;
  X509StoreCtxPointer store_ctx(X509_STORE_CTX_new());
  if (!store_ctx || !X509_STORE_CTX_init(store_ctx.get(), store, leaf, untrusted)) return outcome;
  outcome.ran = true;
  X509_STORE_CTX_set_purpose(store_ctx.get(), purpose);
  X509_VERIFY_PARAM_set_auth_level(X509_STORE_CTX_get0_param(store_ctx.get()), auth_level);
  if (allow_stale_crl) X509_STORE_CTX_set_verify_cb(store_ctx.get(), TolerateStaleCrl);
  outcome.ok = (cache != nullptr ? cache->Verify(store_ctx.get(), purpose) : X509_verify_cert(store_ctx.get())) == 1;
  outcome.error = X509_STORE_CTX_get_error(store_ctx.get());
  outcome.depth = X509_STORE_CTX_get_error_depth(store_ctx.get());
  if (outcome.ok) {
    STACK_OF(X509)* built = X509_STORE_CTX_get0_chain(store_ctx.get());
    outcome.not_after_ms = EarliestNotAfterMs(built);
    // Fails only when memory runs out; the chain is then reported empty.
    if (built != nullptr) outcome.chain.reset(X509_chain_up_ref(built));
  }
  return outcome;
}

int VerifiedChains::Verify(X509_STORE_CTX* store_ctx, int purpose) {
  std::string key;
  // The cache's own calls leave nothing on the error queue: inside a handshake,
  // any queued error turns OpenSSL's next "want read" into a fatal error.
  ERR_set_mark();
  const bool keyed = MakeKey(store_ctx, purpose, &key);
  ERR_pop_to_mark();
  // A chain padded with junk is verified, not kept: entries stay the size of real chains.
  if (!keyed || key.size() > kMaxKeyBytes) return X509_verify_cert(store_ctx);
  X509_STORE* store = X509_STORE_CTX_get0_store(store_ctx);
  const time_t now = time(nullptr);

  auto found = entries_.find(key);
  if (found != entries_.end()) {
    const Entry& entry = found->second;
    // A clock set back before the verification voids it as much as one past the expiry.
    if (entry.store.get() == store && now >= entry.verified_at && now < entry.expires_at) {
      X509* leaf = X509_STORE_CTX_get0_cert(store_ctx);
      if (!ReplaySuccess(store_ctx, entry.chain.get(), leaf)) {
        // Only a callback that refuses a verified certificate gets here; X509_verify_cert
        // would have failed the same way, without an error of its own.
        if (X509_STORE_CTX_get_error(store_ctx) == X509_V_OK)
          X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_UNSPECIFIED);
        return 0;
      }
      X509StackPointer verified(sk_X509_new_reserve(nullptr, sk_X509_num(entry.chain.get())));
      bool built = verified != nullptr && PushReference(verified.get(), leaf);
      for (int depth = 1; built && depth < sk_X509_num(entry.chain.get()); ++depth) {
        built = PushReference(verified.get(), sk_X509_value(entry.chain.get(), depth));
      }
      if (built) {
        X509_STORE_CTX_set0_verified_chain(store_ctx, verified.release());
        // The replay ended at depth 0 with the leaf as the current certificate.
        X509_STORE_CTX_set_error(store_ctx, X509_V_OK);
        ++hits_;
        return 1;
      }
      // Out of memory while copying: the entry is fine, verification just runs for real.
      return X509_verify_cert(store_ctx);
    }
    entries_.erase(found);
  }

  const int result = X509_verify_cert(store_ctx);
  if (result == 1 && X509_STORE_CTX_get_error(store_ctx) == X509_V_OK) {
    ERR_set_mark();
    Remember(std::move(key), store, X509_STORE_CTX_get0_chain(store_ctx), now);
    ERR_pop_to_mark();
  }
  return result;
}

void VerifiedChains::Keep(X509_STORE* store, X509* leaf, STACK_OF(X509) * untrusted, int purpose, int auth_level,
                          STACK_OF(X509) * chain, time_t verified_at) {
  ErrorQueueScope scope;
  // The key comes from a context set up exactly as VerifyPresented sets one up.
  X509StoreCtxPointer store_ctx(X509_STORE_CTX_new());
  if (!store_ctx || !X509_STORE_CTX_init(store_ctx.get(), store, leaf, untrusted)) return;
  X509_STORE_CTX_set_purpose(store_ctx.get(), purpose);
  X509_VERIFY_PARAM_set_auth_level(X509_STORE_CTX_get0_param(store_ctx.get()), auth_level);
  std::string key;
  if (!MakeKey(store_ctx.get(), purpose, &key) || key.size() > kMaxKeyBytes) return;
  // A clock set back since the verification: the entry could only be refused later.
  if (time(nullptr) < verified_at) return;
  Remember(std::move(key), store, chain, verified_at);
}

bool VerifiedChains::MakeKey(X509_STORE_CTX* store_ctx, int purpose, std::string* key) {
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(store_ctx);
  X509* leaf = X509_STORE_CTX_get0_cert(store_ctx);
  if (param == nullptr || leaf == nullptr) return false;
  const unsigned long flags = X509_VERIFY_PARAM_get_flags(param);  // NOLINT(runtime/int)
  if ((flags & X509_V_FLAG_USE_CHECK_TIME) != 0) return false;
  if (X509_VERIFY_PARAM_get0_host(param, 0) != nullptr || X509_VERIFY_PARAM_get0_email(param) != nullptr) return false;
  char* ip = X509_VERIFY_PARAM_get1_ip_asc(param);
  if (ip != nullptr) {
    OPENSSL_free(ip);
    return false;
  }
  STACK_OF(X509)* untrusted = X509_STORE_CTX_get0_untrusted(store_ctx);
  key->reserve(4096);
  AppendNumber(key, static_cast<uint64_t>(purpose));
  AppendNumber(key, flags);
  AppendNumber(key, static_cast<uint32_t>(X509_VERIFY_PARAM_get_depth(param)));
  AppendNumber(key, static_cast<uint32_t>(X509_VERIFY_PARAM_get_auth_level(param)));
  AppendNumber(key, static_cast<uint64_t>(sk_X509_num(untrusted) < 0 ? 0 : sk_X509_num(untrusted)));
  if (!AppendCertificate(key, leaf)) return false;
  for (int i = 0; i < sk_X509_num(untrusted); ++i) {
    X509* certificate = sk_X509_value(untrusted, i);
    // OpenSSL's TLS verification lists the leaf object among the untrusted
    // certificates too; a zero length marks "the leaf again" (no DER is empty).
    if (certificate == leaf) {
      AppendNumber(key, 0);
    } else if (!AppendCertificate(key, certificate)) {
      return false;
    }
  }
  return true;
}

bool VerifiedChains::ReplaySuccess(X509_STORE_CTX* store_ctx, STACK_OF(X509) * chain, X509* leaf) {
  X509_STORE_CTX_verify_cb callback = X509_STORE_CTX_get_verify_cb(store_ctx);
  for (int depth = sk_X509_num(chain) - 1; depth >= 0; --depth) {
    X509_STORE_CTX_set_current_cert(store_ctx, depth == 0 ? leaf : sk_X509_value(chain, depth));
    X509_STORE_CTX_set_error_depth(store_ctx, depth);
    if (callback != nullptr && callback(1, store_ctx) == 0) return false;
  }
  return true;
}

time_t VerifiedChains::ExpiryOf(X509_STORE* store, STACK_OF(X509) * chain, time_t now) {
  time_t expires = now + kLifetimeSeconds;
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    expires = std::min(expires, AbsoluteTime(X509_get0_notAfter(sk_X509_value(chain, i)), now));
  }
  // Every CRL in the store, not only the chain's issuers': a superset can only end the entry sooner.
  if (!X509_STORE_lock(store)) return now;
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    X509_CRL* crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objects, i));
    if (crl == nullptr) continue;
    const ASN1_TIME* next_update = X509_CRL_get0_nextUpdate(crl);
    // A CRL without nextUpdate never goes stale (RFC 5280 makes the field mandatory).
    if (next_update != nullptr) expires = std::min(expires, AbsoluteTime(next_update, now));
  }
  X509_STORE_unlock(store);
  return expires;
}

void VerifiedChains::Remember(std::string key, X509_STORE* store, STACK_OF(X509) * chain, time_t now) {
  if (store == nullptr || chain == nullptr || sk_X509_num(chain) == 0) return;
  const time_t expires_at = ExpiryOf(store, chain, now);
  if (expires_at <= now) return;
  X509StackPointer copy(X509_chain_up_ref(chain));
  if (!copy || X509_STORE_up_ref(store) != 1) return;
  if (entries_.size() >= kMaxEntries) entries_.clear();
  Entry entry{X509StorePointer(store), std::move(copy), now, expires_at};
  entries_.insert_or_assign(std::move(key), std::move(entry));
}

}  // namespace ctls
