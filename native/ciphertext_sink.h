// CiphertextSink: the write side of a TlsConnection's SSL, as a BIO.
//
// A memory BIO zero-fills and copies every byte OpenSSL writes, and the addon
// then copies it out again. The sink instead writes straight into a buffer
// JavaScript lends for the call (write()), so a 64 KiB write costs one copy
// of its ciphertext, like node:tls. Without a lent buffer, or when the output
// outgrows it, bytes collect in a private buffer that is taken as a whole.
#ifndef CONTINUOUS_TLS_CIPHERTEXT_SINK_H_
#define CONTINUOUS_TLS_CIPHERTEXT_SINK_H_

#include <openssl/bio.h>

#include <cstddef>
#include <cstdlib>

namespace ctls {

class CiphertextSink {
 public:
  CiphertextSink() = default;
  ~CiphertextSink() { std::free(spill_); }
  CiphertextSink(const CiphertextSink&) = delete;
  CiphertextSink& operator=(const CiphertextSink&) = delete;

  // A new BIO that appends what OpenSSL writes to `sink`. The SSL that takes
  // the BIO owns it; `sink` must outlive every write through it.
  static BIO* NewBio(CiphertextSink* sink);

  // Lends `data` for the output of the next writes; Unlend() ends the loan.
  void Lend(char* data, size_t capacity);
  void Unlend();

  // Bytes written into the lent buffer since Lend(); 0 when they spilled.
  size_t lent_used() const { return lent_used_; }
  // Bytes waiting in the private buffer.
  size_t spilled() const { return spill_used_; }
  const char* spill_data() const { return spill_; }
  // Forgets the spilled bytes once taken; a large buffer is released.
  void ClearSpill();
  size_t pending() const { return lent_used_ + spill_used_; }

  // What the BIO does with each write; false only when memory runs out.
  bool Append(const char* data, size_t length);

 private:
  bool Spill(const char* data, size_t length);

  char* lent_ = nullptr;
  size_t lent_capacity_ = 0;
  size_t lent_used_ = 0;
  char* spill_ = nullptr;
  size_t spill_capacity_ = 0;
  size_t spill_used_ = 0;
};

}  // namespace ctls

#endif  // CONTINUOUS_TLS_CIPHERTEXT_SINK_H_
