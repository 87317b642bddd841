#include "throwaway_identity.h"

#include <openssl/pem.h>

#include <string>

#include "js_values.h"
#include "openssl_util.h"

namespace ctls {

namespace {

constexpr size_t kMaxNameLength = 64;    // RFC 5280 ub-common-name
constexpr long kValiditySeconds = 3600;  // NOLINT(runtime/int)

EVPKeyPointer NewEcKey() { return EVPKeyPointer(EVP_EC_gen("P-256")); }

// A v3 certificate for `key` named CN=`name`, signed by `issuer_key` under
// `issuer` (itself when null: a self-signed CA).
X509Pointer NewCertificate(const std::string& name, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                           long serial) {  // NOLINT(runtime/int)
  X509Pointer cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) return nullptr;
  if (ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial) != 1) return nullptr;
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60) == nullptr) return nullptr;
  if (X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValiditySeconds) == nullptr) return nullptr;
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const auto* bytes = reinterpret_cast<const unsigned char*>(name.data());
  if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, bytes, static_cast<int>(name.size()), -1, 0) != 1)
    return nullptr;
  X509* signer = issuer == nullptr ? cert.get() : issuer;
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) != 1) return nullptr;
  if (X509_set_pubkey(cert.get(), key) != 1) return nullptr;
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, signer, cert.get(), nullptr, nullptr, 0);
  const char* constraints = issuer == nullptr ? "critical,CA:TRUE" : "critical,CA:FALSE";
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, constraints);
  if (extension == nullptr) return nullptr;
  const int added = X509_add_ext(cert.get(), extension, -1);
  X509_EXTENSION_free(extension);
  if (added != 1) return nullptr;
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) return nullptr;
  return cert;
}

bool AppendPem(BIO* bio, X509* cert) { return PEM_write_bio_X509(bio, cert) == 1; }

std::string Drain(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);  // NOLINT(runtime/int)
  return length > 0 ? std::string(data, static_cast<size_t>(length)) : std::string();
}

}  // namespace

Napi::Value ThrowawayIdentity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ErrorQueueScope scope;
  if (!info[0].IsString()) {
    CodedError(env, "ERR_CTLS_INVALID_OPTION", "commonName must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.empty() || name.size() > kMaxNameLength || name.find('\0') != std::string::npos) {
    CodedError(env, "ERR_CTLS_INVALID_OPTION", "commonName must have 1 to 64 characters and no NUL")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  EVPKeyPointer ca_key = NewEcKey();
  EVPKeyPointer leaf_key = NewEcKey();
  if (!ca_key || !leaf_key) {
    OpenSSLError(env, "could not generate a throwaway key").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  X509Pointer ca = NewCertificate(name + " CA", ca_key.get(), nullptr, ca_key.get(), 1);
  X509Pointer leaf = ca ? NewCertificate(name, leaf_key.get(), ca.get(), ca_key.get(), 2) : nullptr;
  BIOPointer chain(BIO_new(BIO_s_mem()));
  BIOPointer key(BIO_new(BIO_s_mem()));
  if (!leaf || !chain || !key || !AppendPem(chain.get(), leaf.get()) || !AppendPem(chain.get(), ca.get()) ||
      PEM_write_bio_PrivateKey(key.get(), leaf_key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    OpenSSLError(env, "could not make a throwaway certificate").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object result = Napi::Object::New(env);
  DefineOwn(env, result, "key", Drain(key.get()));
  DefineOwn(env, result, "chain", Drain(chain.get()));
  return result;
}

}  // namespace ctls
