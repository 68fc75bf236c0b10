#include "vm/qemu/qmp.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

namespace warren {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr auto kConnectRetry = std::chrono::milliseconds(20);

}  // namespace

Result<std::unique_ptr<QmpClient>> QmpClient::Connect(const std::filesystem::path& path,
                                                      std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  ASSIGN_OR_RETURN(UniqueFd fd, ConnectSocket(path, timeout));
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return FromFd(std::move(fd), std::max(left, std::chrono::milliseconds(1)));
}

Result<UniqueFd> QmpClient::ConnectSocket(const std::filesystem::path& path,
                                          std::chrono::milliseconds timeout) {
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.string().size() >= sizeof(addr.sun_path)) {
    return InvalidArgument("QMP socket path " + path.string() + " is too long for a unix socket");
  }
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  const auto deadline = SteadyClock::now() + timeout;
  int last_err = 0;
  do {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) return ErrnoError("socket for QMP", errno);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
    last_err = errno;
    // Missing or refusing: QEMU has not created/listened on it yet (or a stale
    // socket of a dead QEMU is in the way, which QEMU replaces on start).
    if (last_err != ENOENT && last_err != ECONNREFUSED && last_err != EAGAIN) {
      return ErrnoError("connect to QMP socket " + path.string(), last_err);
    }
    std::this_thread::sleep_for(kConnectRetry);
  } while (SteadyClock::now() < deadline);
  return DeadlineExceeded("no QMP server answered at " + path.string() + " within " +
                          std::to_string(timeout.count()) +
                          " ms (last error: " + std::strerror(last_err) + ")");
}

Result<std::unique_ptr<QmpClient>> QmpClient::FromFd(UniqueFd fd,
                                                     std::chrono::milliseconds timeout) {
  std::unique_ptr<QmpClient> client(new QmpClient(std::move(fd)));
  RETURN_IF_ERROR(client->Handshake(timeout));
  return client;
}

Status QmpClient::Handshake(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  ASSIGN_OR_RETURN(nlohmann::json greeting, ReadMessage(deadline));
  if (!greeting.is_object() || !greeting.contains("QMP")) {
    return Internal("QMP peer did not greet with {\"QMP\": ...}: " + greeting.dump());
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return Execute("qmp_capabilities", nullptr, std::max(left, std::chrono::milliseconds(1)))
      .status()
      .Annotate("QMP capabilities negotiation");
}

Status QmpClient::Send(const nlohmann::json& message, SteadyClock::time_point deadline,
                       int pass_fd) {
  return channel_.Write(message.dump() + "\n", deadline, pass_fd);
}

Result<nlohmann::json> QmpClient::ReadMessage(SteadyClock::time_point deadline) {
  ASSIGN_OR_RETURN(std::string line, channel_.ReadLine(deadline));
  nlohmann::json msg = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (msg.is_discarded()) return Internal("QMP sent malformed JSON: " + line.substr(0, 200));
  return msg;
}

bool QmpClient::StashIfEvent(const nlohmann::json& message) {
  if (!message.is_object() || !message.contains("event")) return false;
  QmpEvent ev;
  ev.name = message["event"].is_string() ? message["event"].get<std::string>() : "";
  ev.data = message.value("data", nlohmann::json());
  const nlohmann::json& ts = message.value("timestamp", nlohmann::json::object());
  if (ts.is_object()) {
    ev.timestamp_us =
        ts.value("seconds", int64_t{0}) * 1000000 + ts.value("microseconds", int64_t{0});
  }
  if (events_.size() == kMaxEvents) events_.pop_front();
  events_.push_back(std::move(ev));
  return true;
}

Result<nlohmann::json> QmpClient::Execute(std::string_view command, const nlohmann::json& args,
                                          std::chrono::milliseconds timeout) {
  return ExecuteImpl(command, args, -1, timeout);
}

Result<nlohmann::json> QmpClient::ExecuteWithFd(std::string_view command,
                                                const nlohmann::json& args, int fd,
                                                std::chrono::milliseconds timeout) {
  if (fd < 0) return InvalidArgument("QMP " + std::string(command) + ": no descriptor to pass");
  return ExecuteImpl(command, args, fd, timeout);
}

Result<nlohmann::json> QmpClient::ExecuteImpl(std::string_view command,
                                              const nlohmann::json& args, int pass_fd,
                                              std::chrono::milliseconds timeout) {
  const std::string cmd(command);
  if (closed()) return Unavailable("QMP " + cmd + ": QEMU closed the connection");
  const auto deadline = SteadyClock::now() + timeout;
  const uint64_t id = next_id_++;
  nlohmann::json request = {{"execute", cmd}, {"id", id}};
  if (!args.is_null()) request["arguments"] = args;
  RETURN_IF_ERROR(Send(request, deadline, pass_fd).Annotate("QMP " + cmd));
  while (true) {
    Result<nlohmann::json> msg = ReadMessage(deadline);
    if (!msg.ok()) return msg.error().Annotate("QMP " + cmd);
    if (StashIfEvent(*msg)) continue;
    // Replies to commands that timed out earlier carry their own ids; skip them.
    if (!msg->is_object() || !msg->contains("id") || (*msg)["id"] != id) continue;
    if (msg->contains("return")) return (*msg)["return"];
    if (msg->contains("error")) {
      const nlohmann::json err = (*msg)["error"];
      return FailedPrecondition("QMP " + cmd + ": " + err.value("class", std::string("Error")) +
                                ": " + err.value("desc", std::string("(no description)")));
    }
    return Internal("QMP " + cmd + ": reply has neither return nor error: " + msg->dump());
  }
}

Result<QmpStatus> QmpClient::QueryStatus(std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(nlohmann::json r, Execute("query-status", nullptr, timeout));
  if (!r.is_object()) return Internal("QMP query-status: unexpected reply " + r.dump());
  QmpStatus st;
  st.running = r.value("running", false);
  st.status = r.value("status", std::string());
  return st;
}

Status QmpClient::SystemPowerdown(std::chrono::milliseconds timeout) {
  return Execute("system_powerdown", nullptr, timeout).status();
}

Status QmpClient::Quit(std::chrono::milliseconds timeout) {
  Result<nlohmann::json> r = Execute("quit", nullptr, timeout);
  if (!r.ok() && r.error().code() == Code::kUnavailable && closed()) return Status::Ok();
  return r.status();
}

Result<QmpEvent> QmpClient::WaitEvent(std::string_view name, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (true) {
    auto it = std::find_if(events_.begin(), events_.end(),
                           [&](const QmpEvent& e) { return e.name == name; });
    if (it != events_.end()) {
      QmpEvent ev = std::move(*it);
      events_.erase(events_.begin(), it + 1);
      return ev;
    }
    ASSIGN_OR_RETURN(nlohmann::json msg, ReadMessage(deadline));
    StashIfEvent(msg);  // Anything else is a late reply nobody waits for.
  }
}

std::vector<QmpEvent> QmpClient::TakeEvents() {
  while (true) {
    Result<nlohmann::json> msg = ReadMessage(SteadyClock::now());
    if (!msg.ok()) break;
    StashIfEvent(*msg);
  }
  std::vector<QmpEvent> out(std::make_move_iterator(events_.begin()),
                            std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

}  // namespace warren
