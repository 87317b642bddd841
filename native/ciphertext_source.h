// CiphertextSource: the read side of a TlsConnection's SSL, as a BIO.
//
// What the transport delivers is appended here and OpenSSL reads it back
// record by record. A memory BIO would do the same but zero-fills each byte
// before copying it in (BUF_MEM_grow_clean), a cost callgrind put at over a
// tenth of a bulk receiver's instructions. The bytes must still be copied in:
// cycle() may overwrite the transport's chunk with plaintext (inPlace), and
// OpenSSL reads a record only when it has all of it.
#ifndef CONTINUOUS_TLS_CIPHERTEXT_SOURCE_H_
#define CONTINUOUS_TLS_CIPHERTEXT_SOURCE_H_

#include <openssl/bio.h>

#include <cstddef>
#include <cstdlib>

namespace ctls {

class CiphertextSource {
 public:
  CiphertextSource() = default;
  ~CiphertextSource() { std::free(data_); }
  CiphertextSource(const CiphertextSource&) = delete;
  CiphertextSource& operator=(const CiphertextSource&) = delete;

  // A new BIO that reads what was appended to `source`. The SSL that takes
  // the BIO owns it; `source` must outlive every read through it.
  static BIO* NewBio(CiphertextSource* source);

  // Appends bytes from the transport; false when memory runs out.
  bool Append(const char* data, size_t length);
  // The transport ended: once drained, reads report end of stream instead of
  // "try again", so OpenSSL judges a record or handshake cut short.
  void MarkEnd() { ended_ = true; }

  size_t pending() const { return used_ - read_; }
  bool ended() const { return ended_; }
  // Copies up to `length` unread bytes out; returns how many.
  size_t Read(char* out, size_t length);

 private:
  char* data_ = nullptr;
  size_t capacity_ = 0;
  size_t used_ = 0;  // bytes appended
  size_t read_ = 0;  // of which OpenSSL has read
  bool ended_ = false;
};

}  // namespace ctls

#endif  // CONTINUOUS_TLS_CIPHERTEXT_SOURCE_H_
