#include "ciphertext_bios.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace ctls {

namespace {

// A drained read buffer is kept for the next chunk only while chunks come in
// larger than one record (a bulk receiver reuses it, up to this size: a fresh
// one per chunk would be faulted in page by page each time). After a smaller
// chunk (handshake flights, requests, acknowledgements) it is freed: a
// server's connections are idle most of the time, and a kept buffer would
// cost each of them the largest chunk it ever received.
constexpr size_t kSourceKeep = 256 * 1024;
constexpr size_t kRecordSize = 16 * 1024 + 256;
// Without a loan the sink only carries handshake flights and alerts.
constexpr size_t kSpillKeep = 0;

long PendingReply(size_t pending) {                               // NOLINT(runtime/int)
  return static_cast<long>(std::min<size_t>(pending, LONG_MAX));  // NOLINT(runtime/int)
}

int SourceRead(BIO* bio, char* out, int length) {
  BIO_clear_retry_flags(bio);
  auto* source = static_cast<CiphertextSource*>(BIO_get_data(bio));
  if (source == nullptr || length <= 0) return 0;
  const size_t read = source->Read(out, static_cast<size_t>(length));
  if (read > 0) return static_cast<int>(read);
  if (source->ended()) return 0;
  BIO_set_retry_read(bio);
  return -1;
}

long SourceControl(BIO* bio, int command, long number, void* pointer) {  // NOLINT(runtime/int)
  auto* source = static_cast<CiphertextSource*>(BIO_get_data(bio));
  switch (command) {
    case BIO_CTRL_PENDING:
      return source == nullptr ? 0 : PendingReply(source->pending());
    case BIO_CTRL_EOF:
      return source == nullptr || (source->ended() && source->pending() == 0) ? 1 : 0;
    case BIO_CTRL_FLUSH:
      return 1;
    default:
      return 0;
  }
}

int SinkWrite(BIO* bio, const char* data, int length) {
  BIO_clear_retry_flags(bio);
  if (length <= 0) return 0;
  auto* sink = static_cast<CiphertextSink*>(BIO_get_data(bio));
  // Append() only fails when memory runs out; OpenSSL reports a write error.
  return sink != nullptr && sink->Append(data, static_cast<size_t>(length)) ? length : -1;
}

long SinkControl(BIO* bio, int command, long number, void* pointer) {  // NOLINT(runtime/int)
  auto* sink = static_cast<CiphertextSink*>(BIO_get_data(bio));
  switch (command) {
    case BIO_CTRL_PENDING:
    case BIO_CTRL_WPENDING:
      return sink == nullptr ? 0 : PendingReply(sink->pending());
    case BIO_CTRL_FLUSH:
      return 1;
    default:
      return 0;
  }
}

int Create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int Destroy(BIO* bio) {
  BIO_set_data(bio, nullptr);
  return 1;
}

// A method table for the process, with either a read or a write side.
BIO_METHOD* MakeMethod(const char* name, int (*read)(BIO*, char*, int), int (*write)(BIO*, const char*, int),
                       long (*control)(BIO*, int, long, void*)) {  // NOLINT(runtime/int)
  BIO_METHOD* method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, name);
  if (method == nullptr) return nullptr;
  if (read != nullptr) BIO_meth_set_read(method, read);
  if (write != nullptr) BIO_meth_set_write(method, write);
  BIO_meth_set_ctrl(method, control);
  BIO_meth_set_create(method, Create);
  BIO_meth_set_destroy(method, Destroy);
  return method;
}

BIO* NewBioWith(const BIO_METHOD* method, void* data) {
  if (method == nullptr) return nullptr;
  BIO* bio = BIO_new(method);
  if (bio != nullptr) BIO_set_data(bio, data);
  return bio;
}

}  // namespace

// ---- ByteBuffer ------------------------------------------------------------

ByteBuffer::~ByteBuffer() { std::free(data_); }

bool ByteBuffer::Append(const char* data, size_t length) {
  if (length > capacity_ - size_) {
    const size_t wanted = std::max(size_ + length, std::max<size_t>(capacity_ * 2, 16 * 1024));
    char* grown = static_cast<char*>(std::realloc(data_, wanted));
    if (grown == nullptr) return false;
    data_ = grown;
    capacity_ = wanted;
  }
  if (length > 0) std::memcpy(data_ + size_, data, length);
  size_ += length;
  return true;
}

void ByteBuffer::Consume(size_t count) {
  std::memmove(data_, data_ + count, size_ - count);
  size_ -= count;
}

void ByteBuffer::Clear(size_t keep) {
  size_ = 0;
  if (capacity_ > keep) {
    std::free(data_);
    data_ = nullptr;
    capacity_ = 0;
  }
}

// ---- CiphertextSource ------------------------------------------------------

BIO* CiphertextSource::NewBio(CiphertextSource* source) {
  // Made on first use and never freed, like OpenSSL's own method tables.
  static const BIO_METHOD* method = MakeMethod("continuous-tls ciphertext source", SourceRead, nullptr, SourceControl);
  return NewBioWith(method, source);
}

bool CiphertextSource::Append(const char* data, size_t length) {
  // OpenSSL takes what it can each cycle, so what is left unread is at most
  // part of a record: moving it to the front is cheap.
  if (read_ > 0) {
    bytes_.Consume(read_);
    read_ = 0;
  }
  last_chunk_ = length;
  return bytes_.Append(data, length);
}

size_t CiphertextSource::Read(char* out, size_t length) {
  const size_t take = std::min(length, pending());
  if (take == 0) return 0;
  std::memcpy(out, bytes_.data() + read_, take);
  read_ += take;
  if (read_ == bytes_.size()) {
    read_ = 0;
    bytes_.Clear(last_chunk_ > kRecordSize ? kSourceKeep : 0);
  }
  return take;
}

// ---- CiphertextSink --------------------------------------------------------

BIO* CiphertextSink::NewBio(CiphertextSink* sink) {
  static const BIO_METHOD* method = MakeMethod("continuous-tls ciphertext sink", nullptr, SinkWrite, SinkControl);
  return NewBioWith(method, sink);
}

void CiphertextSink::Lend(char* data, size_t capacity) {
  lent_ = data;
  lent_capacity_ = capacity;
  lent_used_ = 0;
}

void CiphertextSink::Unlend() { Lend(nullptr, 0); }

void CiphertextSink::ClearSpill() { spill_.Clear(kSpillKeep); }

bool CiphertextSink::Append(const char* data, size_t length) {
  // Earlier bytes already spilled (or no loan): keep the order, spill too.
  if (lent_ != nullptr && spill_.size() == 0) {
    if (length <= lent_capacity_ - lent_used_) {
      std::memcpy(lent_ + lent_used_, data, length);
      lent_used_ += length;
      return true;
    }
    // Outgrown: what the loan holds moves ahead of the rest, and the caller
    // gets one fresh buffer instead.
    const size_t moved = lent_used_;
    lent_used_ = 0;
    if (!spill_.Append(lent_, moved)) return false;
  }
  return spill_.Append(data, length);
}

}  // namespace ctls
