#include "ciphertext_sink.h"

#include <algorithm>
#include <climits>
#include <cstring>

namespace ctls {

namespace {

// Idle connections keep no more than this between writes.
constexpr size_t kSpillKeep = 64 * 1024;

int SinkWrite(BIO* bio, const char* data, int length) {
  BIO_clear_retry_flags(bio);
  if (length <= 0) return 0;
  auto* sink = static_cast<CiphertextSink*>(BIO_get_data(bio));
  // Append() only fails when memory runs out; OpenSSL reports it as a write error.
  return sink != nullptr && sink->Append(data, static_cast<size_t>(length)) ? length : -1;
}

long SinkControl(BIO* bio, int command, long number, void* pointer) {  // NOLINT(runtime/int)
  auto* sink = static_cast<CiphertextSink*>(BIO_get_data(bio));
  switch (command) {
    case BIO_CTRL_PENDING:
    case BIO_CTRL_WPENDING:
      return sink == nullptr ? 0 : static_cast<long>(std::min<size_t>(sink->pending(), LONG_MAX));  // NOLINT
    case BIO_CTRL_FLUSH:
      return 1;
    default:
      return 0;
  }
}

int SinkCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int SinkDestroy(BIO* bio) {
  BIO_set_data(bio, nullptr);
  return 1;
}

// One method table for the process, made on first use and never freed.
const BIO_METHOD* SinkMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "continuous-tls ciphertext sink");
    if (made == nullptr) return made;
    BIO_meth_set_write(made, SinkWrite);
    BIO_meth_set_ctrl(made, SinkControl);
    BIO_meth_set_create(made, SinkCreate);
    BIO_meth_set_destroy(made, SinkDestroy);
    return made;
  }();
  return method;
}

}  // namespace

BIO* CiphertextSink::NewBio(CiphertextSink* sink) {
  const BIO_METHOD* method = SinkMethod();
  if (method == nullptr) return nullptr;
  BIO* bio = BIO_new(method);
  if (bio != nullptr) BIO_set_data(bio, sink);
  return bio;
}

void CiphertextSink::Lend(char* data, size_t capacity) {
  lent_ = data;
  lent_capacity_ = capacity;
  lent_used_ = 0;
}

void CiphertextSink::Unlend() {
  lent_ = nullptr;
  lent_capacity_ = 0;
  lent_used_ = 0;
}

void CiphertextSink::ClearSpill() {
  spill_used_ = 0;
  if (spill_capacity_ > kSpillKeep) {
    std::free(spill_);
    spill_ = nullptr;
    spill_capacity_ = 0;
  }
}

bool CiphertextSink::Append(const char* data, size_t length) {
  // Earlier bytes already spilled (or no loan): keep the order, spill too.
  if (lent_ != nullptr && spill_used_ == 0) {
    if (length <= lent_capacity_ - lent_used_) {
      std::memcpy(lent_ + lent_used_, data, length);
      lent_used_ += length;
      return true;
    }
    // Outgrown: what the loan holds moves ahead of the rest, and the caller
    // gets one fresh buffer instead.
    const size_t moved = lent_used_;
    lent_used_ = 0;
    if (!Spill(lent_, moved)) return false;
  }
  return Spill(data, length);
}

bool CiphertextSink::Spill(const char* data, size_t length) {
  if (length > spill_capacity_ - spill_used_) {
    const size_t wanted = std::max(spill_used_ + length, std::max<size_t>(spill_capacity_ * 2, 16 * 1024));
    char* grown = static_cast<char*>(std::realloc(spill_, wanted));
    if (grown == nullptr) return false;
    spill_ = grown;
    spill_capacity_ = wanted;
  }
  std::memcpy(spill_ + spill_used_, data, length);
  spill_used_ += length;
  return true;
}

}  // namespace ctls
