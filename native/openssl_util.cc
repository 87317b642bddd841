#include "openssl_util.h"

#include <openssl/pem.h>

#include <cctype>
#include <cstring>

#include "js_values.h"

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

// OpenSSL 3.2+ runs records through a separate record layer: when it fails, the SSL layer
// queues a generic "record layer failure" after the record layer's own, specific error
// ("packet length too long", "decryption failed or bad record mac"). The specific one is the
// answer users can act on, and the one OpenSSL 3.0 reports alone. Recognised by the reason text
// of the OpenSSL the process runs: one Node-API binary, built against any Node's headers, runs
// on OpenSSL 3.0 and 3.5 alike, and 3.0's headers do not have this reason.
bool IsWrapperReason(unsigned long error) {  // NOLINT(runtime/int)
  if (ERR_GET_LIB(error) != ERR_LIB_SSL) return false;
  const char* reason = ERR_reason_error_string(error);
  return reason != nullptr && std::strcmp(reason, "record layer failure") == 0;
}

}  // namespace

Napi::Error OpenSSLError(Napi::Env env, const char* fallback_message, const char* code) {
  // The last error is the outermost one; a wrapper defers to the error queued just before it.
  unsigned long last = 0;      // NOLINT(runtime/int): OpenSSL's type
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
  // Defined, not assigned (see js_values.h): the error is thrown next, and a setter that threw
  // here would leave an exception pending under it, which is fatal.
  napi_value object = js_error.Value();
  if (code != nullptr) {
    DefineOwn(env, object, "code", code);
  } else if (reason != nullptr) {
    DefineOwn(env, object, "code", ReasonToCode(reason).c_str());
  } else {
    DefineOwn(env, object, "code", "ERR_CTLS_TLS");
  }
  if (reason != nullptr) DefineOwn(env, object, "reason", reason);
  if (library != nullptr) DefineOwn(env, object, "library", library);
  if (last != 0) DefineOwn(env, object, "opensslCode", static_cast<double>(last));
  return js_error;
}

Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error js_error = Napi::Error::New(env, message);
  DefineOwn(env, js_error.Value(), "code", code);
  return js_error;
}

bool ParseIdentity(Napi::Env env, const Napi::Value& key_pem, const Napi::Value& cert_pem,
                   const Napi::Value& passphrase_value, Identity* identity) {
  Napi::Buffer<char> key_buffer = key_pem.As<Napi::Buffer<char>>();
  Napi::Buffer<char> cert_buffer = cert_pem.As<Napi::Buffer<char>>();
  std::string passphrase;
  const bool has_passphrase = passphrase_value.IsString();
  if (has_passphrase) passphrase = passphrase_value.As<Napi::String>().Utf8Value();
  const char* bad = ReadIdentity(key_buffer.Data(), key_buffer.Length(), cert_buffer.Data(), cert_buffer.Length(),
                                 has_passphrase ? &passphrase : nullptr, identity);
  if (bad == nullptr) return true;
  const bool bad_cert = std::strcmp(bad, "cert") == 0;
  Napi::Error error = OpenSSLError(
      env, bad_cert ? "no certificate found in cert" : "could not read the private key (bad PEM or wrong passphrase)",
      "ERR_CTLS_BAD_PEM");
  DefineOwn(env, error.Value(), "option", bad);  // which input was bad, for the TS message
  error.ThrowAsJavaScriptException();
  return false;
}

Napi::Value CertificateToBuffer(Napi::Env env, X509* certificate) {
  const CertificateDer der = EncodeCertificate(certificate);
  if (!der.data) return env.Null();
  return Napi::Buffer<unsigned char>::Copy(env, der.data.get(), der.length);
}

bool BufferBytes(napi_env env, napi_value value, const unsigned char** data, size_t* length) {
  bool is_buffer = false;
  void* bytes = nullptr;
  if (value == nullptr || napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) return false;
  if (napi_get_buffer_info(env, value, &bytes, length) != napi_ok) return false;
  *data = static_cast<const unsigned char*>(bytes);
  return true;
}

Napi::Array ChainToArray(Napi::Env env, STACK_OF(X509) * chain) {
  Napi::Array result = Napi::Array::New(env);
  const int count = chain == nullptr ? 0 : sk_X509_num(chain);
  for (int i = 0; i < count; ++i) {
    DefineElement(env, result, static_cast<uint32_t>(i), CertificateToBuffer(env, sk_X509_value(chain, i)));
  }
  return result;
}

}  // namespace ctls
