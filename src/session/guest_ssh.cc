#include "session/guest_ssh.h"

namespace warren {
namespace {

bool IsShellSafe(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("_-./:,+=@%").find(c) != std::string_view::npos;
}

void AppendQuoted(std::string_view word, std::string& out) {
  bool safe = !word.empty();
  for (char c : word) safe = safe && IsShellSafe(c);
  if (safe) {
    out.append(word);
    return;
  }
  out.push_back('\'');
  for (char c : word) {
    if (c == '\'') {
      out.append("'\\''");  // close the quote, an escaped quote, reopen
    } else {
      out.push_back(c);
    }
  }
  out.push_back('\'');
}

bool IsEnvName(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<GuestChannel>> GuestConnection::OpenChannel(const ExecSpec&) {
  return FailedPrecondition("this guest connection does not support streaming channels");
}

Result<std::string> ExecCommandLine(const ExecSpec& spec) {
  if (spec.argv.empty()) return InvalidArgument("empty command");
  std::string out;
  for (const auto& [name, value] : spec.env) {
    if (!IsEnvName(name)) {
      return InvalidArgument("environment variable name \"" + name +
                             "\" is not valid (letters, digits and _, not starting with a digit)");
    }
    out += "export " + name + "=";
    AppendQuoted(value, out);
    out += "; ";
  }
  if (!spec.workdir.empty()) {
    out += "cd ";
    AppendQuoted(spec.workdir, out);
    out += " && ";
  }
  out += "exec " + ShellQuote(spec.argv);
  return out;
}

std::string_view StandbyCommand() {
  // _warren_nl holds a newline for the lines StandbyLine writes, made without
  // a newline in this text, so the shell's messages name line 1 as they do
  // for an exec request (the subshell is paid while idle). Both names are
  // unexported, so the command's environment does not see them.
  return "_warren_nl=$(printf '\\nx'); _warren_nl=${_warren_nl%x}; "
         "IFS= read -r _warren_cmd || exit 0; eval \"$_warren_cmd\"";
}

std::optional<std::string> StandbyLine(const ExecSpec& spec) {
  if (spec.tty || spec.argv.empty()) return std::nullopt;
  for (const auto& [name, value] : spec.env) {
    if (name.starts_with("_warren_")) return std::nullopt;  // would change the launcher's own
  }
  Result<std::string> command = ExecCommandLine(spec);
  if (!command.ok()) return std::nullopt;
  std::string line;
  line.reserve(command->size() + 1);
  for (char c : *command) {
    if (c == '\0') return std::nullopt;
    if (c == '\n') {
      line += "'\"$_warren_nl\"'";  // close the quote, the newline, reopen
    } else {
      line.push_back(c);
    }
  }
  line.push_back('\n');
  if (line.size() > kStandbyLineMaxBytes) return std::nullopt;
  return line;
}

std::string ShellQuote(const std::vector<std::string>& argv) {
  std::string out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i > 0) out.push_back(' ');
    AppendQuoted(argv[i], out);
  }
  return out;
}

}  // namespace warren
