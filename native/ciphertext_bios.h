// The two BIOs a TlsConnection's SSL reads and writes ciphertext through.
//
// OpenSSL's memory BIO zero-fills every byte before copying it in
// (BUF_MEM_grow_clean), and what it holds must then be copied out again:
// passes over every byte that bulk transfers pay for. These two avoid them:
// - CiphertextSource holds what the transport delivered until OpenSSL reads
//   it, copied once. It must be a copy: cycle() may overwrite the transport's
//   chunk with plaintext (inPlace), and OpenSSL reads a record only whole.
// - CiphertextSink writes straight into a buffer JavaScript lends for the
//   call (write()), so a write costs one copy of its ciphertext, as with
//   node:tls. Without a loan, or when the output outgrows it, bytes collect in
//   a private buffer that is taken whole.
#ifndef NATIVE_CIPHERTEXT_BIOS_H_
#define NATIVE_CIPHERTEXT_BIOS_H_

#include <openssl/bio.h>

#include <cstddef>

namespace ctls {

// A malloc'd byte buffer that grows without zero-filling.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  ~ByteBuffer();
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  // False only when memory runs out; nothing is appended then.
  bool Append(const char* data, size_t length);
  // Drops the first `count` bytes.
  void Consume(size_t count);
  // Empties the buffer; memory above `keep` bytes is released.
  void Clear(size_t keep);

  const char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  char* data_ = nullptr;
  size_t capacity_ = 0;
  size_t size_ = 0;
};

class CiphertextSource {
 public:
  // A new BIO that reads what was appended to `source`. The SSL that takes
  // the BIO owns it; `source` must outlive every read through it.
  static BIO* NewBio(CiphertextSource* source);

  // Appends bytes from the transport; false when memory runs out.
  bool Append(const char* data, size_t length);
  // The transport ended: once drained, reads report end of stream instead of
  // "try again", so OpenSSL judges a record or handshake cut short.
  void MarkEnd() { ended_ = true; }
  // Copies up to `length` unread bytes out; returns how many.
  size_t Read(char* out, size_t length);
  // Frees the memory at once (the connection is destroyed).
  void Release() { Discard(); }
  // Drops every unread byte and frees their memory.
  void Discard() {
    bytes_.Clear(0);
    read_ = 0;
    last_chunk_ = 0;
  }

  size_t pending() const { return bytes_.size() - read_; }
  bool ended() const { return ended_; }

 private:
  ByteBuffer bytes_;
  size_t read_ = 0;        // bytes OpenSSL has read from the front of bytes_
  size_t last_chunk_ = 0;  // the length of the latest Append()
  bool ended_ = false;
};

class CiphertextSink {
 public:
  // A new BIO that appends what OpenSSL writes to `sink`. The SSL that takes
  // the BIO owns it; `sink` must outlive every write through it.
  static BIO* NewBio(CiphertextSink* sink);

  // Lends `data` for the output of the next writes; Unlend() ends the loan.
  void Lend(char* data, size_t capacity);
  void Unlend();
  // What the BIO does with each write; false only when memory runs out.
  bool Append(const char* data, size_t length);

  // Bytes written into the lent buffer since Lend(); 0 when they spilled.
  size_t lent_used() const { return lent_used_; }
  // Bytes waiting in the private buffer, and taking them.
  size_t spilled() const { return spill_.size(); }
  const char* spill_data() const { return spill_.data(); }
  void ClearSpill();
  // Frees the memory at once (the connection is destroyed).
  void Release() { spill_.Clear(0); }

  size_t pending() const { return lent_used_ + spill_.size(); }

 private:
  char* lent_ = nullptr;
  size_t lent_capacity_ = 0;
  size_t lent_used_ = 0;
  ByteBuffer spill_;
};

}  // namespace ctls

#endif  // NATIVE_CIPHERTEXT_BIOS_H_
