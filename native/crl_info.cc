#include "crl_info.h"

#include <string>
#include <vector>

#include "js_values.h"
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
  bool with_serials = true;
  if (!info[1].IsUndefined() && !ReadTruth(env, info[1], &with_serials)) return env.Undefined();
  std::vector<X509CrlPointer> crls = ReadCrls(pem.Data(), pem.Length());
  if (crls.empty()) {
    OpenSSLError(env, "no CRL found in crl", "ERR_CTLS_BAD_PEM").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array result = Napi::Array::New(env, crls.size());
  for (size_t i = 0; i < crls.size(); ++i) {
    DefineElement(env, result, static_cast<uint32_t>(i), CrlFacts(env, crls[i].get(), with_serials));
  }
  return result;
}

Napi::Value NodeTrustItem(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ErrorQueueScope scope;
  if (!info[0].IsString() || !info[1].IsBuffer()) {
    CodedError(env, "ERR_CTLS_INVALID_OPTION", "nodeTrustItem(kind, pem: Buffer)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string kind = info[0].As<Napi::String>().Utf8Value();
  Napi::Buffer<char> pem = info[1].As<Napi::Buffer<char>>();
  const std::string text =
      kind == "crl" ? NodeCrlItemText(pem.Data(), pem.Length()) : NodeCaItemText(pem.Data(), pem.Length());
  return Napi::String::New(env, text);
}

namespace {

// The flags node's X509Certificate#issuer prints a name with: a CRL's issuer
// read this way compares with a certificate's issuer attribute for attribute,
// even for types OpenSSL has no name for (XN_FLAG_RFC2253 would dump those as
// #hex DER) and for values of any string type.
constexpr unsigned long kNodeNameFlags =  // NOLINT(runtime/int)
    ASN1_STRFLGS_ESC_2253 | ASN1_STRFLGS_ESC_CTRL | ASN1_STRFLGS_UTF8_CONVERT | XN_FLAG_SEP_MULTILINE | XN_FLAG_FN_SN;

std::string NodeNameText(const X509_NAME* name) {
  BIOPointer bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, kNodeNameFlags) < 0) return std::string();
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
  return std::string(data, static_cast<size_t>(length));
}

// The DER value of the CRL's extension `nid` in upper-case hex, or null when
// the CRL has none. The bytes are the CRL's own (no copy to free).
Napi::Value ExtensionHex(Napi::Env env, X509_CRL* crl, int nid) {
  const int index = X509_CRL_get_ext_by_NID(crl, nid, -1);
  if (index < 0) return env.Null();
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_CRL_get_ext(crl, index));
  if (data == nullptr) return env.Null();
  static const char kDigits[] = "0123456789ABCDEF";
  const unsigned char* bytes = ASN1_STRING_get0_data(data);
  const int length = ASN1_STRING_length(data);
  std::string hex;
  hex.reserve(static_cast<size_t>(length) * 2);
  for (int i = 0; i < length; ++i) {
    hex.push_back(kDigits[bytes[i] >> 4]);
    hex.push_back(kDigits[bytes[i] & 0xf]);
  }
  return Napi::String::New(env, hex);
}

}  // namespace

Napi::Object CrlFacts(Napi::Env env, X509_CRL* crl, bool with_serials) {
  const CrlSummary summary = SummarizeCrl(crl, with_serials);
  Napi::Object entry = Napi::Object::New(env);
  DefineOwn(env, entry, "issuer", summary.issuer);
  DefineOwn(env, entry, "issuerText", NodeNameText(X509_CRL_get_issuer(crl)));
  DefineOwn(env, entry, "distributionPoint", ExtensionHex(env, crl, NID_issuing_distribution_point));
  DefineOwn(env, entry, "authorityKeyId", ExtensionHex(env, crl, NID_authority_key_identifier));
  DefineOwn(env, entry, "lastUpdate", summary.last_update_ms);
  DefineOwn(env, entry, "nextUpdate",
            summary.has_next_update ? Napi::Number::New(env, summary.next_update_ms) : env.Null());
  DefineOwn(env, entry, "revokedCount", static_cast<double>(summary.revoked_count));
  if (!with_serials) return entry;
  Napi::Array serials = Napi::Array::New(env, summary.revoked.size());
  for (size_t j = 0; j < summary.revoked.size(); ++j)
    DefineElement(env, serials, static_cast<uint32_t>(j), Napi::String::New(env, summary.revoked[j]));
  DefineOwn(env, entry, "revoked", serials);
  return entry;
}

}  // namespace ctls
