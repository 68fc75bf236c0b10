#include "session/guest_link.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "base/check.h"

namespace warren {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kWriteChunk = 64 * 1024;
// Safety net for the pump: libssh may buffer a packet for one channel while
// another channel is being read, after which the socket no longer polls
// readable. A short bounded wait makes such a packet late, never lost.
constexpr int kPumpRecheckMillis = 200;
using Clock = std::chrono::steady_clock;
// How often a consumer blocked in Next() rechecks its stop token.
constexpr std::chrono::milliseconds kStopRecheck{200};

}  // namespace

PumpWaker::PumpWaker() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) { CHECK(fd_ >= 0); }
PumpWaker::~PumpWaker() { ::close(fd_); }

void PumpWaker::Wake() {
  uint64_t one = 1;
  ssize_t ignored = ::write(fd_, &one, sizeof(one));  // a full counter is still a wakeup
  (void)ignored;
}

void PumpWaker::Drain() {
  uint64_t count;
  while (::read(fd_, &count, sizeof(count)) > 0) {
  }
}

// ---- GuestProcess ----

ProcessUpdate GuestProcess::Next(std::stop_token stop) {
  // Wakes the wait promptly; takes no lock (the stopping thread may hold one).
  std::stop_callback on_stop(stop, [this] { out_cv_.SignalAll(); });
  ProcessUpdate u;
  bool was_full = false;
  {
    MutexLock lock(&out_mu_);
    auto nothing = [&]() REQUIRES(out_mu_) {
      return out_.empty() && err_.empty() && stdin_written_ == stdin_reported_ &&
             !(ended_ && !end_reported_);
    };
    while (nothing() && !stop.stop_requested()) out_cv_.WaitFor(&out_mu_, kStopRecheck);
    was_full = out_.size() >= kProcessOutputBytes || err_.size() >= kProcessOutputBytes;
    u.out = std::move(out_);
    u.err = std::move(err_);
    out_.clear();
    err_.clear();
    u.stdin_written = stdin_reported_ = stdin_written_;
    if (ended_) {
      end_reported_ = true;
      u.ended = true;
      u.exit_code = exit_code_;
      u.error = error_;
    }
  }
  if (was_full) waker_->Wake();  // the pump may read this channel again
  return u;
}

Status GuestProcess::Write(std::string_view bytes) {
  {
    MutexLock lock(&in_mu_);
    if (closed_) return FailedPrecondition("the command has ended");
    if (eof_) return FailedPrecondition("stdin of the command is already closed");
    if (in_.size() + bytes.size() > kProcessInputBytes) {
      return ResourceExhausted("the command's input buffer is full (" +
                               std::to_string(kProcessInputBytes) +
                               " bytes); it is not reading its input");
    }
    in_.append(bytes);
  }
  waker_->Wake();
  return Status::Ok();
}

void GuestProcess::CloseStdin() {
  {
    MutexLock lock(&in_mu_);
    eof_ = true;
  }
  waker_->Wake();
}

void GuestProcess::Resize(int cols, int rows) {
  {
    MutexLock lock(&in_mu_);
    resize_ = std::make_pair(cols, rows);
  }
  waker_->Wake();
}

void GuestProcess::Signal(std::string name) {
  {
    MutexLock lock(&in_mu_);
    signals_.push_back(std::move(name));
  }
  waker_->Wake();
}

void GuestProcess::Terminate() {
  {
    MutexLock lock(&in_mu_);
    terminate_ = true;
  }
  waker_->Wake();
}

bool GuestProcess::ended() {
  MutexLock lock(&out_mu_);
  return ended_;
}

GuestProcess::InputWork GuestProcess::TakeInput(size_t max_bytes) {
  MutexLock lock(&in_mu_);
  InputWork w;
  w.stdin_bytes = in_.substr(0, max_bytes);
  w.eof = eof_ && !eof_taken_ && in_.size() <= max_bytes;
  w.terminate = terminate_;
  w.resize = std::exchange(resize_, std::nullopt);
  w.signals = std::exchange(signals_, {});
  return w;
}

void GuestProcess::ConsumedInput(size_t n, bool eof_sent) {
  {
    MutexLock lock(&in_mu_);
    in_.erase(0, n);
    if (eof_sent) eof_taken_ = true;
  }
  if (n == 0) return;
  MutexLock lock(&out_mu_);
  stdin_written_ += n;
  out_cv_.SignalAll();
}

size_t GuestProcess::OutputRoom(int stream) {
  MutexLock lock(&out_mu_);
  size_t used = stream == 0 ? out_.size() : err_.size();
  return used >= kProcessOutputBytes ? 0 : kProcessOutputBytes - used;
}

void GuestProcess::Deliver(std::string_view out, std::string_view err) {
  if (out.empty() && err.empty()) return;
  MutexLock lock(&out_mu_);
  out_.append(out);
  err_.append(err);
  out_cv_.SignalAll();
}

void GuestProcess::End(std::optional<int> exit_code, Status error) {
  {
    MutexLock lock(&in_mu_);
    closed_ = true;
    in_.clear();
  }
  MutexLock lock(&out_mu_);
  if (ended_) return;
  ended_ = true;
  exit_code_ = exit_code;
  error_ = std::move(error);
  out_cv_.SignalAll();
}

bool GuestProcess::WantsOutput() {
  MutexLock lock(&out_mu_);
  return out_.size() < kProcessOutputBytes && err_.size() < kProcessOutputBytes;
}

bool GuestProcess::HasInput() {
  MutexLock lock(&in_mu_);
  return !in_.empty() || (eof_ && !eof_taken_) || terminate_ || resize_ || !signals_.empty();
}

// ---- GuestLink ----

GuestLink::GuestLink(std::string vm, std::unique_ptr<GuestConnection> conn, LinkOptions options)
    : vm_(std::move(vm)),
      waker_(std::make_shared<PumpWaker>()),
      options_(std::move(options)),
      conn_(std::move(conn)) {
  pump_ = std::thread([this] { PumpLoop(); });
}

GuestLink::~GuestLink() { Close("connection closed"); }

bool GuestLink::StandbyForTest() {
  MutexLock lock(&mu_);
  return standby_;
}

bool GuestLink::alive() {
  MutexLock lock(&mu_);
  return !closing_ && !dead_;
}

void GuestLink::Close(const std::string& reason) {
  {
    MutexLock lock(&mu_);
    if (!closing_) {
      closing_ = true;
      close_reason_ = Unavailable("the connection to VM " + vm_ + " ended: " + reason);
    }
  }
  waker_->Wake();
  if (pump_.joinable() && pump_.get_id() != std::this_thread::get_id()) pump_.join();
}

Result<std::shared_ptr<GuestProcess>> GuestLink::Start(const ExecSpec& spec) {
  auto req = std::make_shared<OpenRequest>();
  req->spec = spec;
  {
    MutexLock lock(&mu_);
    if (closing_ || dead_) {
      return close_reason_.ok() ? Unavailable("the connection to VM " + vm_ + " is closed")
                                : close_reason_;
    }
    opens_.push_back(req);
  }
  waker_->Wake();
  MutexLock lock(&mu_);
  while (!req->done) open_cv_.Wait(&mu_);
  return req->result;
}

void GuestLink::OpenPending(std::list<Active>& active) {
  std::vector<std::shared_ptr<OpenRequest>> opens;
  {
    MutexLock lock(&mu_);
    opens.swap(opens_);
  }
  for (auto& req : opens) {
    Result<std::unique_ptr<GuestChannel>> ch = conn_->OpenChannel(req->spec);
    // A server may close a channel while it is being opened (dropbear does so
    // now and then under concurrent opens); on a live connection, try again.
    for (int retry = 0;
         retry < 2 && !ch.ok() && ch.error().code() == Code::kUnavailable && conn_->Connected();
         ++retry) {
      ch = conn_->OpenChannel(req->spec);
    }
    Result<std::shared_ptr<GuestProcess>> result = Unavailable("");
    if (ch.ok()) {
      auto proc = std::make_shared<GuestProcess>(waker_);
      active.push_back(Active{proc, std::move(*ch)});
      result = proc;
    } else {
      result = ch.error();
    }
    const bool standby = conn_->HasStandby();
    MutexLock lock(&mu_);
    standby_ = standby;
    req->result = std::move(result);
    req->done = true;
    open_cv_.SignalAll();
  }
}

void GuestLink::PrewarmIfIdle(const std::list<Active>& active, bool reusable, bool& want) {
  if (!active.empty()) {
    want = options_.prewarm;  // again once this command is done
    return;
  }
  if (!want || !reusable) return;
  {
    MutexLock lock(&mu_);
    if (!opens_.empty()) return;
  }
  want = false;
  // A failure leaves no standby; the next command opens its own channel, and
  // a broken connection is noticed by the next round.
  (void)conn_->Prewarm();
  NoteStandby();
}

void GuestLink::NoteStandby() {
  const bool standby = conn_->HasStandby();
  MutexLock lock(&mu_);
  standby_ = standby;
}

Status GuestLink::PumpOne(Active& a, bool& progress, bool& reusable) {
  GuestProcess::InputWork w = a.proc->TakeInput(kWriteChunk);
  if (w.terminate) {
    reusable = false;  // its channel is closed by us while the command may run on
    (void)a.channel->Signal("HUP");
    a.proc->End(std::nullopt, Cancelled("terminated"));
    return Status::Ok();
  }
  if (w.resize) RETURN_IF_ERROR(a.channel->Resize(w.resize->first, w.resize->second));
  for (const std::string& sig : w.signals) RETURN_IF_ERROR(a.channel->Signal(sig));
  size_t written = 0;
  if (!w.stdin_bytes.empty()) {
    ASSIGN_OR_RETURN(written, a.channel->Write(w.stdin_bytes));
  }
  const bool send_eof = w.eof && written == w.stdin_bytes.size();
  if (send_eof) RETURN_IF_ERROR(a.channel->SendEof());
  if (written > 0 || send_eof) {
    a.proc->ConsumedInput(written, send_eof);
    progress = true;
  }
  std::string got[2];
  char buf[kReadChunk];
  for (int stream = 0; stream < 2; ++stream) {
    if (a.eof[stream]) continue;
    size_t room = a.proc->OutputRoom(stream);
    if (room == 0) {
      // Only let libssh take in packets (window adjusts, other channels'
      // data); this stream's own data stays in the SSH window.
      ASSIGN_OR_RETURN(int avail, a.channel->Available(stream));
      if (avail == GuestChannel::kEof) a.eof[stream] = true;
      continue;
    }
    while (room > 0) {
      ASSIGN_OR_RETURN(int n, a.channel->Read(stream, buf, std::min(room, sizeof(buf))));
      if (n == GuestChannel::kEof) {
        a.eof[stream] = true;
        progress = true;
        break;
      }
      if (n == 0) break;
      got[stream].append(buf, static_cast<size_t>(n));
      room -= static_cast<size_t>(n);
      progress = true;
    }
  }
  a.proc->Deliver(got[0], got[1]);
  if (a.eof[0] && a.eof[1] && a.channel->Closed()) {
    a.finished = true;  // PumpOnce ends the process once the link is free again
    a.exit_code = a.channel->ExitCode();
    progress = true;
  }
  return Status::Ok();
}

Result<bool> GuestLink::PumpOnce(std::list<Active>& active, bool& reusable) {
  bool progress = false;
  for (auto it = active.begin(); it != active.end();) {
    RETURN_IF_ERROR(PumpOne(*it, progress, reusable));
    if (!it->finished && !it->proc->ended()) {
      ++it;
      continue;
    }
    std::shared_ptr<GuestProcess> proc = it->proc;
    std::optional<int> exit_code = it->exit_code;
    bool finished = it->finished;
    it = active.erase(it);  // the channel is gone before the link is handed on
    // The link goes back to its pool before the process's end is told, so a
    // caller that starts its next command at once finds it idle.
    if (active.empty() && options_.on_idle) options_.on_idle(this, reusable);
    if (finished) proc->End(exit_code, Status::Ok());
  }
  return progress;
}

int GuestLink::PollTimeoutMillis(bool busy, Clock::time_point now) const {
  int timeout = busy ? kPumpRecheckMillis : -1;
  if (options_.keepalive_interval.count() <= 0 || !received_) return timeout;
  // The next moment CheckAlive has something to do: a probe or the verdict.
  Clock::time_point due = std::min(std::max(heard_, probed_) + options_.keepalive_interval,
                                   heard_ + options_.keepalive_interval * options_.keepalive_count);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(due - now).count() + 1;
  int keepalive = static_cast<int>(std::clamp<int64_t>(left, 0, 60'000));
  return timeout < 0 ? keepalive : std::min(timeout, keepalive);
}

bool GuestLink::WaitForWork(const std::list<Active>& active, bool progress) {
  if (progress) return false;
  bool want_socket = active.empty();  // idle: notice the guest hanging up at once
  for (const Active& a : active) {
    want_socket =
        want_socket || a.proc->WantsOutput() || a.proc->HasInput() || (a.eof[0] && a.eof[1]);
  }
  // An unanswered keepalive: its reply must be seen even while every channel
  // is blocked on a slow reader.
  bool for_probe = !want_socket && probed_ > heard_;
  // Bytes libssh could not write yet (stdin, our EOF, a window adjust the
  // guest waits for before it sends more output) leave only when the socket
  // is writable and the pump flushes them: wait for that too, whatever the
  // channels want.
  short events = static_cast<short>(((want_socket || for_probe) ? POLLIN : 0) |
                                    (conn_->WritePending() ? POLLOUT : 0));
  pollfd fds[2] = {{waker_->fd(), POLLIN, 0}, {conn_->PollFd(), events, 0}};
  int nfds = events != 0 && fds[1].fd >= 0 ? 2 : 1;
  ::poll(fds, nfds, PollTimeoutMillis(!active.empty(), Clock::now()));
  // Readable with no channel that will read it: libssh must take the packets
  // in here, or the next poll returns at once.
  bool readable = nfds == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
  return readable && (active.empty() || for_probe);
}

Status GuestLink::CheckAlive(Clock::time_point now) {
  std::optional<uint64_t> got = conn_->BytesReceived();
  if (options_.keepalive_interval.count() <= 0 || !got) return Status::Ok();
  if (got != received_) {
    received_ = got;
    heard_ = now;
    return Status::Ok();
  }
  auto silent = now - heard_;
  if (silent >= options_.keepalive_interval * options_.keepalive_count) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(silent).count();
    return Unavailable("the guest of VM " + vm_ + " stopped answering over SSH (no reply to " +
                       "keepalives for " + std::to_string(ms) + " ms)");
  }
  if (silent >= options_.keepalive_interval && now - probed_ >= options_.keepalive_interval) {
    probed_ = now;
    return conn_->SendKeepalive();
  }
  return Status::Ok();
}

void GuestLink::FinishAll(std::list<Active>& active, const Status& why) {
  for (Active& a : active) a.proc->End(std::nullopt, why);
  active.clear();
  std::vector<std::shared_ptr<OpenRequest>> opens;
  MutexLock lock(&mu_);
  dead_ = true;
  opens.swap(opens_);
  for (auto& req : opens) {
    req->result = why;
    req->done = true;
  }
  open_cv_.SignalAll();
}

void GuestLink::PumpLoop() {
  std::list<Active> active;
  bool progress = true;
  bool reusable = true;  // no command was hung up on (its channel closed by us)
  bool want_standby = options_.prewarm;
  received_ = conn_->BytesReceived();
  heard_ = probed_ = Clock::now();
  Status why;
  while (true) {
    bool take_in = WaitForWork(active, progress);
    waker_->Drain();
    {
      MutexLock lock(&mu_);
      if (closing_) why = close_reason_;
    }
    if (!why.ok()) break;
    if (take_in) {
      why = conn_->SendKeepalive();  // takes in what arrived
      if (why.ok() && active.empty()) NoteStandby();  // its shell may have died
    }
    // Before the channels are read: what the flush takes in is read below.
    if (why.ok() && conn_->WritePending()) why = conn_->Flush();
    size_t before = active.size();
    OpenPending(active);
    // A command started: a standby again once it is done, even if it is done
    // within this very round (then PrewarmIfIdle never sees it active).
    if (active.size() > before) want_standby = options_.prewarm;
    Result<bool> moved = false;
    if (why.ok()) moved = PumpOnce(active, reusable);
    if (!why.ok() || !moved.ok() || !conn_->Connected()) {
      if (why.ok()) {
        why = moved.ok() ? Unavailable("the SSH connection to VM " + vm_ + " dropped")
                         : Unavailable("the SSH connection to VM " + vm_ +
                                       " broke: " + moved.error().message());
      }
      break;
    }
    why = CheckAlive(Clock::now());
    if (!why.ok()) break;
    PrewarmIfIdle(active, reusable, want_standby);
    progress = *moved || active.size() != before;
  }
  FinishAll(active, why);
  conn_.reset();  // hang up now, not when the last owner lets go
  if (options_.on_idle) options_.on_idle(this, false);
}

}  // namespace warren
