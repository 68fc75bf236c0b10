#include "sys/accept_loop.h"

#include <malloc.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/check.h"

namespace warren::sys {
namespace {

// How often the loop wakes to join finished connections.
constexpr int kReapIntervalMillis = 500;

}  // namespace

Result<std::unique_ptr<AcceptLoop>> AcceptLoop::Create(AcceptLoopOptions options) {
  CHECK(options.listen_fd >= 0 && options.make && options.refuse);
  if (options.max_connections < 1) {
    return InvalidArgument(options.name + " max_connections must be >= 1");
  }
  int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) return ErrnoError("eventfd", errno);
  return std::unique_ptr<AcceptLoop>(new AcceptLoop(std::move(options), stop_fd));
}

AcceptLoop::AcceptLoop(AcceptLoopOptions options, int stop_fd)
    : options_(std::move(options)), stop_fd_(stop_fd) {}

AcceptLoop::~AcceptLoop() {
  Shutdown();
  ::close(stop_fd_);
}

void AcceptLoop::Serve() {
  while (true) {
    pollfd fds[2] = {{options_.listen_fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int n = ::poll(fds, 2, kReapIntervalMillis);
    if (n < 0 && errno != EINTR) {
      spdlog::error("{}: poll on the listening socket failed: {}", options_.name,
                    std::strerror(errno));
      break;
    }
    if (n > 0 && fds[1].revents != 0) break;
    Reap();
    if (n > 0 && fds[0].revents != 0) AcceptOne();
  }
  MutexLock lock(&mu_);
  while (!shutdown_done_) cv_.Wait(&mu_);
}

void AcceptLoop::AcceptOne() {
  int fd = ::accept4(options_.listen_fd, nullptr, nullptr, SOCK_CLOEXEC | options_.accept_flags);
  if (fd < 0) {
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
      spdlog::warn("{}: accept failed: {}", options_.name, std::strerror(errno));
    }
    return;
  }
  std::shared_ptr<ServedConnection> conn = options_.make(fd);
  {
    MutexLock lock(&mu_);
    if (shutting_down_) return;  // conn's destructor closes fd
    if (conns_.size() < static_cast<size_t>(options_.max_connections)) {
      try {
        conns_.push_back(Slot{conn, std::thread([conn] { conn->Run(); })});
      } catch (const std::exception& e) {  // out of threads: refuse this one client
        spdlog::error("{}: cannot serve a connection: {}", options_.name, e.what());
      }
      return;
    }
  }
  options_.refuse(fd);  // conn's destructor closes fd
}

void AcceptLoop::Reap() {
  std::list<Slot> finished;
  bool trim = false;
  {
    MutexLock lock(&mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      auto next = std::next(it);
      if (it->conn->done()) finished.splice(finished.end(), conns_, it);
      it = next;
    }
    ended_since_trim_ += static_cast<int>(finished.size());
    trim = ended_since_trim_ >= kTrimAfterEnded && conns_.size() <= kTrimWhenLive;
    if (trim) {
      ended_since_trim_ = 0;
      ++trims_;
    }
  }
  for (Slot& slot : finished) slot.thread.join();
  finished.clear();  // the connections' memory is freed before the trim
  if (trim) ::malloc_trim(0);
}

void AcceptLoop::StopAll() {
  std::vector<std::shared_ptr<ServedConnection>> open;
  {
    MutexLock lock(&mu_);
    for (Slot& slot : conns_) open.push_back(slot.conn);
  }
  for (auto& conn : open) conn->Stop();
}

void AcceptLoop::Shutdown() {
  std::list<Slot> all;
  {
    MutexLock lock(&mu_);
    if (shutting_down_) {
      while (!shutdown_done_) cv_.Wait(&mu_);
      return;
    }
    shutting_down_ = true;
    all.swap(conns_);
  }
  // Wakes Serve() and every connection that polls the eventfd.
  uint64_t one = 1;
  if (::write(stop_fd_, &one, sizeof(one)) != sizeof(one)) {
    spdlog::error("{}: cannot signal shutdown: {}", options_.name, std::strerror(errno));
  }
  for (Slot& slot : all) slot.conn->Stop();
  for (Slot& slot : all) slot.thread.join();
  all.clear();
  MutexLock lock(&mu_);
  shutdown_done_ = true;
  cv_.SignalAll();
}

int AcceptLoop::ConnectionCountForTest() {
  Reap();
  MutexLock lock(&mu_);
  return static_cast<int>(conns_.size());
}

int AcceptLoop::TrimsForTest() {
  MutexLock lock(&mu_);
  return trims_;
}

}  // namespace warren::sys
