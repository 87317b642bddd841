#include "ciphertext_source.h"

#include <algorithm>
#include <climits>
#include <cstring>

namespace ctls {

namespace {

// Drained buffers up to this size are kept for the next chunk (a bulk
// receiver reuses one); larger ones, left by a burst, are released.
constexpr size_t kKeep = 256 * 1024;

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
      return source == nullptr ? 0 : static_cast<long>(std::min<size_t>(source->pending(), LONG_MAX));  // NOLINT
    case BIO_CTRL_EOF:
      return source == nullptr || (source->ended() && source->pending() == 0) ? 1 : 0;
    case BIO_CTRL_FLUSH:
      return 1;
    default:
      return 0;
  }
}

int SourceCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int SourceDestroy(BIO* bio) {
  BIO_set_data(bio, nullptr);
  return 1;
}

// One method table for the process, made on first use and never freed.
const BIO_METHOD* SourceMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "continuous-tls ciphertext source");
    if (made == nullptr) return made;
    BIO_meth_set_read(made, SourceRead);
    BIO_meth_set_ctrl(made, SourceControl);
    BIO_meth_set_create(made, SourceCreate);
    BIO_meth_set_destroy(made, SourceDestroy);
    return made;
  }();
  return method;
}

}  // namespace

BIO* CiphertextSource::NewBio(CiphertextSource* source) {
  const BIO_METHOD* method = SourceMethod();
  if (method == nullptr) return nullptr;
  BIO* bio = BIO_new(method);
  if (bio != nullptr) BIO_set_data(bio, source);
  return bio;
}

bool CiphertextSource::Append(const char* data, size_t length) {
  if (length == 0) return true;
  // OpenSSL takes what it can each cycle, so what is left unread is at most
  // part of a record: moving it to the front is cheap.
  if (read_ > 0) {
    std::memmove(data_, data_ + read_, used_ - read_);
    used_ -= read_;
    read_ = 0;
  }
  if (length > capacity_ - used_) {
    const size_t wanted = std::max(used_ + length, std::max<size_t>(capacity_ * 2, 16 * 1024));
    char* grown = static_cast<char*>(std::realloc(data_, wanted));
    if (grown == nullptr) return false;
    data_ = grown;
    capacity_ = wanted;
  }
  std::memcpy(data_ + used_, data, length);
  used_ += length;
  return true;
}

size_t CiphertextSource::Read(char* out, size_t length) {
  const size_t take = std::min(length, used_ - read_);
  if (take == 0) return 0;
  std::memcpy(out, data_ + read_, take);
  read_ += take;
  if (read_ == used_) {
    read_ = 0;
    used_ = 0;
    if (capacity_ > kKeep) {
      std::free(data_);
      data_ = nullptr;
      capacity_ = 0;
    }
  }
  return take;
}

}  // namespace ctls
