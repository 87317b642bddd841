#include "openssl_ptr.h"

#include <openssl/pem.h>

#include <cctype>
#include <cstring>
#include <ctime>

namespace ctls {

namespace {

std::string ReasonToCode(const char* reason) {
  std::string code = "ERR_SSL_";
  for (const char* p = reason; *p != '\0'; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    code.push_back(std::isalnum(c) ? static_cast<char>(std::toupper(c)) : '_');
  }
  return code;
}

int PassphraseCallback(char* buffer, int size, int rwflag, void* user_data) {
  const auto* passphrase = static_cast<const std::string*>(user_data);
  if (passphrase == nullptr) return -1;
  const size_t length = passphrase->size();
  if (length > static_cast<size_t>(size)) return -1;
  std::memcpy(buffer, passphrase->data(), length);
  return static_cast<int>(length);
}

// OpenSSL 3.2+ runs records through a separate record layer: when it fails, the SSL layer
// queues a generic "record layer failure" after the record layer's own, specific error
// ("packet length too long", "decryption failed or bad record mac"). The specific one is the
// answer users can act on, and the one OpenSSL 3.0 reports alone.
bool IsWrapperReason(unsigned long error) {  // NOLINT(runtime/int)
#ifdef SSL_R_RECORD_LAYER_FAILURE
  return ERR_GET_LIB(error) == ERR_LIB_SSL && ERR_GET_REASON(error) == SSL_R_RECORD_LAYER_FAILURE;
#else
  (void)error;
  return false;
#endif
}

double TimeToEpochMs(const ASN1_TIME* time) {
  struct tm parts = {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) return -1;
  return static_cast<double>(timegm(&parts)) * 1000.0;
}

std::string NameToString(const X509_NAME* name) {
  BIOPointer bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return std::string();
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
  return std::string(data, static_cast<size_t>(length));
}

std::string SerialToHex(const ASN1_INTEGER* serial) {
  DeleteFnPtr<BIGNUM, BN_free> number(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!number) return std::string();
  char* hex = BN_bn2hex(number.get());
  std::string result = hex == nullptr ? "" : hex;
  OPENSSL_free(hex);
  return result;
}

}  // namespace

Napi::Error OpenSSLError(Napi::Env env, const char* fallback_message, const char* code) {
  // The last error is the outermost one; a wrapper defers to the error queued just before it.
  unsigned long last = 0;     // NOLINT(runtime/int): OpenSSL's type
  unsigned long previous = 0;  // NOLINT(runtime/int)
  unsigned long error;         // NOLINT(runtime/int)
  while ((error = ERR_get_error()) != 0) {
    previous = last;
    last = error;
  }
  if (previous != 0 && IsWrapperReason(last)) last = previous;

  std::string message = fallback_message;
  const char* reason = nullptr;
  const char* library = nullptr;
  if (last != 0) {
    char text[256];
    ERR_error_string_n(last, text, sizeof(text));
    message = text;
    reason = ERR_reason_error_string(last);
    library = ERR_lib_error_string(last);
  }
  Napi::Error js_error = Napi::Error::New(env, message);
  Napi::Object object = js_error.Value();
  if (code != nullptr) {
    object.Set("code", code);
  } else if (reason != nullptr) {
    object.Set("code", ReasonToCode(reason));
  } else {
    object.Set("code", "ERR_CTLS_TLS");
  }
  if (reason != nullptr) object.Set("reason", reason);
  if (library != nullptr) object.Set("library", library);
  if (last != 0) object.Set("opensslCode", static_cast<double>(last));
  return js_error;
}

Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error js_error = Napi::Error::New(env, message);
  js_error.Value().Set("code", code);
  return js_error;
}

const char* VerifyErrorCode(int error) {
  // The same spellings Node uses in crypto_common.cc, so code written for
  // node:tls' authorizationError keeps working.
  switch (error) {
#define CASE(name) \
  case X509_V_ERR_##name: return #name;
    CASE(UNABLE_TO_GET_ISSUER_CERT)
    CASE(UNABLE_TO_GET_CRL)
    CASE(UNABLE_TO_DECRYPT_CERT_SIGNATURE)
    CASE(UNABLE_TO_DECRYPT_CRL_SIGNATURE)
    CASE(UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY)
    CASE(CERT_SIGNATURE_FAILURE)
    CASE(CRL_SIGNATURE_FAILURE)
    CASE(CERT_NOT_YET_VALID)
    CASE(CERT_HAS_EXPIRED)
    CASE(CRL_NOT_YET_VALID)
    CASE(CRL_HAS_EXPIRED)
    CASE(ERROR_IN_CERT_NOT_BEFORE_FIELD)
    CASE(ERROR_IN_CERT_NOT_AFTER_FIELD)
    CASE(ERROR_IN_CRL_LAST_UPDATE_FIELD)
    CASE(ERROR_IN_CRL_NEXT_UPDATE_FIELD)
    CASE(OUT_OF_MEM)
    CASE(DEPTH_ZERO_SELF_SIGNED_CERT)
    CASE(SELF_SIGNED_CERT_IN_CHAIN)
    CASE(UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
    CASE(UNABLE_TO_VERIFY_LEAF_SIGNATURE)
    CASE(CERT_CHAIN_TOO_LONG)
    CASE(CERT_REVOKED)
    CASE(INVALID_CA)
    CASE(PATH_LENGTH_EXCEEDED)
    CASE(INVALID_PURPOSE)
    CASE(CERT_UNTRUSTED)
    CASE(CERT_REJECTED)
    CASE(HOSTNAME_MISMATCH)
    CASE(KEYUSAGE_NO_CRL_SIGN)
    CASE(KEYUSAGE_NO_CERTSIGN)
    CASE(DIFFERENT_CRL_SCOPE)
    CASE(INVALID_EXTENSION)
    CASE(INVALID_NON_CA)
#undef CASE
    default:
      return "UNSPECIFIED";
  }
}

std::vector<X509Pointer> ReadCertificates(const char* data, size_t length) {
  std::vector<X509Pointer> certificates;
  BIOPointer bio(BIO_new_mem_buf(data, static_cast<int>(length)));
  if (!bio) return certificates;
  while (true) {
    X509Pointer certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!certificate) break;
    certificates.push_back(std::move(certificate));
  }
  // Reaching the end of the input queues a "no start line" error; only keep it
  // when nothing was read, so callers can report why.
  if (!certificates.empty()) ERR_clear_error();
  return certificates;
}

std::vector<X509CrlPointer> ReadCrls(const char* data, size_t length) {
  std::vector<X509CrlPointer> crls;
  BIOPointer bio(BIO_new_mem_buf(data, static_cast<int>(length)));
  if (!bio) return crls;
  while (true) {
    X509CrlPointer crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
    if (!crl) break;
    crls.push_back(std::move(crl));
  }
  if (!crls.empty()) ERR_clear_error();
  return crls;
}

EVPKeyPointer ReadPrivateKey(const char* data, size_t length, const std::string* passphrase) {
  BIOPointer bio(BIO_new_mem_buf(data, static_cast<int>(length)));
  if (!bio) return EVPKeyPointer();
  return EVPKeyPointer(PEM_read_bio_PrivateKey(
      bio.get(), nullptr, PassphraseCallback, const_cast<std::string*>(passphrase)));
}

bool ParseIdentity(Napi::Env env, const Napi::Value& key_pem, const Napi::Value& cert_pem,
                   const Napi::Value& passphrase_value, Identity* identity) {
  Napi::Buffer<char> key_buffer = key_pem.As<Napi::Buffer<char>>();
  Napi::Buffer<char> cert_buffer = cert_pem.As<Napi::Buffer<char>>();
  std::vector<X509Pointer> certificates = ReadCertificates(cert_buffer.Data(), cert_buffer.Length());
  if (certificates.empty()) {
    Napi::Error error = OpenSSLError(env, "no certificate found in cert", "ERR_CTLS_BAD_PEM");
    error.Value().Set("option", "cert");  // which input was bad, for the TS message
    error.ThrowAsJavaScriptException();
    return false;
  }
  std::string passphrase;
  const bool has_passphrase = passphrase_value.IsString();
  if (has_passphrase) passphrase = passphrase_value.As<Napi::String>().Utf8Value();
  identity->key = ReadPrivateKey(key_buffer.Data(), key_buffer.Length(),
                                 has_passphrase ? &passphrase : nullptr);
  if (!identity->key) {
    Napi::Error error = OpenSSLError(env, "could not read the private key (bad PEM or wrong passphrase)",
                                     "ERR_CTLS_BAD_PEM");
    error.Value().Set("option", "key");
    error.ThrowAsJavaScriptException();
    return false;
  }
  identity->chain.reset(sk_X509_new_null());
  for (size_t i = 1; i < certificates.size(); ++i) {
    if (!sk_X509_push(identity->chain.get(), certificates[i].get())) break;
    certificates[i].release();  // now owned by identity->chain
  }
  identity->leaf = std::move(certificates[0]);
  return true;
}

CertificateDer EncodeCertificate(X509* certificate) {
  // One encoding pass (OpenSSL allocates), not one to size and one to write.
  CertificateDer der;
  unsigned char* bytes = nullptr;
  const int length = i2d_X509(certificate, &bytes);
  if (length <= 0) return der;
  der.data.reset(bytes);
  der.length = static_cast<size_t>(length);
  return der;
}

Napi::Value CertificateToBuffer(Napi::Env env, X509* certificate) {
  const CertificateDer der = EncodeCertificate(certificate);
  if (!der.data) return env.Null();
  return Napi::Buffer<unsigned char>::Copy(env, der.data.get(), der.length);
}

Napi::Object CrlFacts(Napi::Env env, X509_CRL* crl, bool with_serials) {
  Napi::Object entry = Napi::Object::New(env);
  entry.Set("issuer", NameToString(X509_CRL_get_issuer(crl)));
  entry.Set("lastUpdate", TimeToEpochMs(X509_CRL_get0_lastUpdate(crl)));
  const ASN1_TIME* next_update = X509_CRL_get0_nextUpdate(crl);
  entry.Set("nextUpdate", next_update == nullptr ? env.Null()
                                                 : Napi::Number::New(env, TimeToEpochMs(next_update)));
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
  const int count = revoked == nullptr ? 0 : sk_X509_REVOKED_num(revoked);
  entry.Set("revokedCount", count);
  if (!with_serials) return entry;
  Napi::Array serials = Napi::Array::New(env, static_cast<size_t>(count));
  for (int j = 0; j < count; ++j) {
    const X509_REVOKED* item = sk_X509_REVOKED_value(revoked, j);
    serials.Set(static_cast<uint32_t>(j), SerialToHex(X509_REVOKED_get0_serialNumber(item)));
  }
  entry.Set("revoked", serials);
  return entry;
}

}  // namespace ctls
