#include "crl_info.h"

#include <vector>

#include "openssl_util.h"

namespace ctls {

Napi::Value CrlInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ErrorQueueScope scope;
  if (!info[0].IsBuffer()) {
    CodedError(env, "ERR_CTLS_BAD_PEM", "crl must be PEM text").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Buffer<char> pem = info[0].As<Napi::Buffer<char>>();
  const bool with_serials = info[1].IsUndefined() || info[1].ToBoolean();
  std::vector<X509CrlPointer> crls = ReadCrls(pem.Data(), pem.Length());
  if (crls.empty()) {
    OpenSSLError(env, "no CRL found in crl", "ERR_CTLS_BAD_PEM").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array result = Napi::Array::New(env, crls.size());
  for (size_t i = 0; i < crls.size(); ++i) {
    result.Set(static_cast<uint32_t>(i), CrlFacts(env, crls[i].get(), with_serials));
  }
  return result;
}

Napi::Object CrlFacts(Napi::Env env, X509_CRL* crl, bool with_serials) {
  const CrlSummary summary = SummarizeCrl(crl, with_serials);
  Napi::Object entry = Napi::Object::New(env);
  entry.Set("issuer", summary.issuer);
  entry.Set("lastUpdate", summary.last_update_ms);
  entry.Set("nextUpdate", summary.has_next_update ? Napi::Number::New(env, summary.next_update_ms) : env.Null());
  entry.Set("revokedCount", summary.revoked_count);
  if (!with_serials) return entry;
  Napi::Array serials = Napi::Array::New(env, summary.revoked.size());
  for (size_t j = 0; j < summary.revoked.size(); ++j) serials.Set(static_cast<uint32_t>(j), summary.revoked[j]);
  entry.Set("revoked", serials);
  return entry;
}

}  // namespace ctls
