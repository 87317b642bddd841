// The TlsConnection methods that run it over a socket it owns (UvTransport):
// bytes from the socket go through the same record loop cycle() runs, the
// ciphertext produced goes straight back to the socket, and JavaScript hears
// once per read, through the single callback given to attachTransport():
//   (kRead, room, placed, plaintext, events, error): the plaintext is the
//       first `placed` bytes of `room` (an ArrayBuffer or a Buffer), then
//       `plaintext` (either may be null)
//   (kEnd): the peer ended its side (EOF)
//   (kError, code, errno, syscall): e.g. 'ECONNRESET', -104, 'read'
//   (kDrain): the write queue emptied after passing its high-water mark
//   (kShutdown, code | null): our half-close is done, or failed
#include <cstring>

#include "js_values.h"
#include "tls_connection.h"

namespace ctls {

namespace {

enum TransportCall : uint32_t { kRead = 0, kEnd = 1, kError = 2, kDrain = 3, kShutdown = 4 };

// Rooms up to this size are plain ArrayBuffers, which V8 zero-fills and
// JavaScript wraps in a Buffer itself: node's C++ Buffer::New gives a
// Uint8Array a new prototype, which costs about what zeroing 4 KB does (a
// request/response protocol's reads are mostly smaller). Larger rooms stay
// uninitialised Buffers, whose tail is zeroed only past the plaintext.
constexpr size_t kZeroedRoomLimit = 4 * 1024;

}  // namespace

// attachTransport(fd: number, callback) -> 0, or a libuv error code (negative
// errno) when the socket could not be opened.
Napi::Value TlsConnection::AttachTransport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Alive(env)) return env.Undefined();
  if (transport_ != nullptr || !info[0].IsNumber() || !info[1].IsFunction()) {
    CodedError(env, "ERR_CTLS_INVALID_OPTION", "attachTransport(fd, callback) once per connection")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int status = 0;
  transport_ = UvTransport::Open(env, info[0].As<Napi::Number>().Int32Value(), this, &status);
  if (transport_ == nullptr) return Napi::Number::New(env, status);
  on_transport_ = Napi::Persistent(info[1].As<Napi::Function>());
  async_context_ = std::make_unique<Napi::AsyncContext>(env, "continuous-tls:transport", Value());
  Ref();
  return Napi::Number::New(env, 0);
}

void TlsConnection::CloseTransport() {
  if (transport_ == nullptr) return;
  transport_->Close();
  transport_ = nullptr;
  on_transport_.Reset();
  async_context_.reset();
  Unref();
}

bool TlsConnection::FlushToTransport() {
  if (transport_ == nullptr) return false;
  transport_->Write(sink_.spill_data(), sink_.spilled());
  sink_.ClearSpill();
  return true;
}

// send(data: Buffer | Buffer[]) -> true | false | [events, error | null, consumed, flowing]
// Seals and writes the data; `flowing` is false when the socket's queue is
// past its high-water mark (callback(kDrain) follows once it empties). The
// common outcome, everything sealed with no event and no error, is only
// `flowing` itself: no array to build and read back on every write.
Napi::Value TlsConnection::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Alive(env)) return env.Undefined();
  // See WriteValues: what reading the data runs may have destroyed the connection.
  std::vector<Napi::Value> values;
  if (!WriteValues(info[0], &values)) return env.Undefined();
  if (!Alive(env)) return env.Undefined();
  size_t total = 0;
  const size_t consumed = Seal(env, values, &total);
  if (consumed == kRefused) return env.Undefined();
  FlushToTransport();
  const bool flowing = transport_ == nullptr || !transport_->above_high_water();
  if (events_ == 0 && fatal_error_.IsEmpty() && consumed == total) return Napi::Boolean::New(env, flowing);
  Napi::Value error = fatal_error_.IsEmpty() ? env.Null() : fatal_error_.Value();
  fatal_error_.Reset();
  return Napi::Value(
      env, NewTuple(env, {Napi::Number::New(env, events_), error, Napi::Number::New(env, static_cast<double>(consumed)),
                          Napi::Boolean::New(env, flowing)}));
}

// setReading(reading: boolean) -> 0, or the libuv error code of a read that
// could not start: the ReadFlow's pause() and resume().
Napi::Value TlsConnection::SetReading(const Napi::CallbackInfo& info) {
  bool reading = false;
  if (!ReadTruth(info.Env(), info[0], &reading)) return info.Env().Undefined();
  const int status = transport_ == nullptr ? 0 : transport_->SetReading(reading);
  return Napi::Number::New(info.Env(), status);
}

// endTransport() -> 0 (callback(kShutdown) follows once everything queued is
// written and the socket half-closed), or a libuv error code.
Napi::Value TlsConnection::EndTransport(const Napi::CallbackInfo& info) {
  const int status = transport_ == nullptr ? UV_EINVAL : transport_->Shutdown();
  return Napi::Number::New(info.Env(), status);
}

// setTransportRef(ref: boolean): socket.ref() / unref() for our handle.
Napi::Value TlsConnection::SetTransportRef(const Napi::CallbackInfo& info) {
  bool ref = false;
  if (transport_ != nullptr && ReadTruth(info.Env(), info[0], &ref)) transport_->SetRef(ref);
  return info.Env().Undefined();
}

// closeTransport(): closes the socket, keeping the TLS state (both sides of
// the stream ended, plaintext may still wait for a reader).
Napi::Value TlsConnection::CloseTransportMethod(const Napi::CallbackInfo& info) {
  CloseTransport();
  return info.Env().Undefined();
}

// transportStats() -> [queued, bytesRead, bytesWritten] of the attached
// socket, or null: its write queue and what it read and wrote so far.
Napi::Value TlsConnection::TransportStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (transport_ == nullptr) return env.Null();
  return Napi::Value(env, NewTuple(env, {Napi::Number::New(env, static_cast<double>(transport_->queued())),
                                         Napi::Number::New(env, transport_->bytes_read()),
                                         Napi::Number::New(env, transport_->bytes_written())}));
}

// Calls the owner's callback as node calls a stream's listeners from libuv:
// through MakeCallback, so that process.nextTick and promise jobs run after
// it, and an exception it throws becomes an uncaught exception.
void TlsConnection::CallOwner(std::initializer_list<napi_value> args) {
  if (on_transport_.IsEmpty()) return;
  napi_env env = Env();
  // The C call, not node-addon-api's: its failure path builds a JS Error,
  // which aborts when the environment is terminating (a worker's exit).
  napi_value result = nullptr;
  const napi_status status =
      napi_make_callback(env, *async_context_, Value(), on_transport_.Value(), args.size(), args.begin(), &result);
  if (status != napi_pending_exception) return;
  napi_value error = nullptr;
  if (napi_get_and_clear_last_exception(env, &error) == napi_ok && error != nullptr) {
    napi_fatal_exception(env, error);
  }
}

// Whether JavaScript can run. A worker that is exiting still turns its loop
// while it closes its handles, and every Node-API call that would run or
// allocate JavaScript then fails; node-addon-api aborts on such a failure.
// napi_strict_equals checks the same condition without allocating.
bool TlsConnection::CanCallJs() {
  napi_env env = Env();
  napi_value undefined = nullptr;
  bool same = false;
  if (napi_get_undefined(env, &undefined) == napi_ok &&
      napi_strict_equals(env, undefined, undefined, &same) == napi_ok) {
    return true;
  }
  if (transport_ != nullptr) transport_->SetReading(false);
  return false;
}

// The plaintext of `room` JavaScript may keep: every bound on inbound data
// counts a chunk's length, so the memory behind it must be of that order.
// Little plaintext in a large room (padded records, RFC 8446 section 5.4)
// gets a Buffer of its own size (the room's memory freed at once, not left to
// pile up until a collection); otherwise the room goes as it is, its tail
// zeroed, since node does not initialise the Buffers it allocates and the
// chunk's ArrayBuffer must show nothing but this connection's bytes.
Napi::Value TlsConnection::OwnPlaintext(Napi::Env env, Napi::Buffer<char> room, size_t placed) {
  Napi::Value own = CopyOutSmall(env, room, placed);
  if (!own.IsNull()) return own;
  std::memset(room.Data() + placed, 0, room.Length() - placed);
  return room;
}

// The same for a room that is a bare ArrayBuffer (zero-filled when made, so
// its tail is zero already); JavaScript views its first `placed` bytes.
Napi::Value TlsConnection::OwnPlaintext(Napi::Env env, Napi::ArrayBuffer room, size_t placed) {
  if (placed >= room.ByteLength() / 2) return room;
  Napi::ArrayBuffer own = Napi::ArrayBuffer::New(env, placed);
  if (own.IsEmpty()) return room;
  std::memcpy(own.Data(), room.Data(), placed);
  // Nothing else can see the room yet; a failed detach leaves it to the GC.
  napi_detach_arraybuffer(env, room);
  return own;
}

void TlsConnection::OnTransportRead(const char* data, size_t length) {
  if (!ssl_) return;
  Napi::Env env = Env();
  Napi::HandleScope handle_scope(env);
  if (!CanCallJs()) return;
  Napi::Value plaintext;
  Napi::Buffer<char> room;
  Napi::ArrayBuffer small_room;
  size_t placed = 0;
  bool answered = false;
  {
    ErrorQueueScope scope;
    events_ = 0;
    fatal_error_.Reset();
    UseTrustStore();
    if (!Receive(data, length)) RecordDataAfterClose(env);
    // Once application data flows, records decrypt straight into the Buffer
    // JavaScript receives: it never holds more plaintext than the ciphertext
    // waiting here, but for the rest of a record OpenSSL took earlier, which
    // goes to the scratch buffer and comes as a second Buffer.
    if (handshake_done_ && source_.pending() <= kZeroedRoomLimit) {
      small_room = Napi::ArrayBuffer::New(env, source_.pending());
      // No room (the environment is going away): records stay in OpenSSL, unread. An empty
      // ArrayBuffer keeps no data pointer, and asking it for one aborts.
      if (small_room.IsEmpty()) return;
      plaintext = ReadPlaintext(env, static_cast<char*>(small_room.Data()), small_room.ByteLength(), &placed);
    } else if (handshake_done_) {
      room = Napi::Buffer<char>::New(env, source_.pending());
      plaintext = ReadPlaintext(env, room.Data(), room.Length(), &placed);
    } else {
      plaintext = ReadPlaintext(env, nullptr, 0, &placed);
    }
    answered = sink_.spilled() > 0;
    FlushToTransport();
  }
  // What reading made OpenSSL send (a KeyUpdate's answer, a renegotiation's
  // flight) must not pile up behind a peer that does not read. Application
  // writes are no reason: two peers that both write before they read would
  // wait for each other (see ReadFlow.awaitDrain).
  if (answered && transport_ != nullptr && transport_->above_high_water()) transport_->HoldReadsUntilDrain();
  // Called even when a partial record gave nothing yet: it is activity for
  // the socket's idle timer all the same.
  Napi::Value error = fatal_error_.IsEmpty() ? env.Null() : fatal_error_.Value();
  fatal_error_.Reset();
  Napi::Value first = env.Null();
  if (placed > 0)
    first = small_room.IsEmpty() ? OwnPlaintext(env, room, placed) : OwnPlaintext(env, small_room, placed);
  CallOwner({Napi::Number::New(env, kRead), first, Napi::Number::New(env, static_cast<double>(placed)), plaintext,
             Napi::Number::New(env, events_), error});
}

void TlsConnection::OnTransportEnd() {
  Napi::HandleScope handle_scope(Env());
  if (!CanCallJs()) return;
  CallOwner({Napi::Number::New(Env(), kEnd)});
}

void TlsConnection::OnTransportError(int status, const char* syscall) {
  Napi::Env env = Env();
  Napi::HandleScope handle_scope(env);
  if (!CanCallJs()) return;
  CallOwner({Napi::Number::New(env, kError), Napi::String::New(env, uv_err_name(status)),
             Napi::Number::New(env, status), Napi::String::New(env, syscall)});
}

void TlsConnection::OnTransportDrain() {
  Napi::HandleScope handle_scope(Env());
  if (!CanCallJs()) return;
  CallOwner({Napi::Number::New(Env(), kDrain)});
}

void TlsConnection::OnTransportShutdown(int status) {
  Napi::Env env = Env();
  Napi::HandleScope handle_scope(env);
  if (!CanCallJs()) return;
  CallOwner({Napi::Number::New(env, kShutdown),
             status == 0 ? env.Null() : Napi::String::New(env, uv_err_name(status)).As<Napi::Value>()});
}

void TlsConnection::OnTransportGone() { transport_ = nullptr; }

}  // namespace ctls
