#include "image/recipe.h"

#include "base/toml.h"

#include <algorithm>
#include <set>

#include "image/digest.h"
#include "image/guest/assets.h"

namespace warren {
namespace {

constexpr uint64_t kMinRootfsMib = 256;
constexpr uint64_t kMaxRootfsMib = 1 << 20;  // 1 TiB

// Prefixes every error with where it came from, so a user sees
// "recipe.toml:7: unknown key \"pakages\"".
class Errors {
 public:
  explicit Errors(std::string_view origin) : origin_(origin) {}
  Status At(const toml::node& node, std::string_view what) const {
    auto line = node.source().begin.line;
    return InvalidArgument(origin_ + ":" + std::to_string(line) + ": " + std::string(what));
  }
  Status Plain(std::string_view what) const {
    return InvalidArgument(origin_ + ": " + std::string(what));
  }

 private:
  std::string origin_;
};

bool IsValidSuite(std::string_view s) {
  if (s.empty() || s.size() > 32 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsSafeGuestPath(std::string_view p) {
  if (p.size() < 2 || p[0] != '/' || p.back() == '/') return false;
  if (p.find('\0') != std::string_view::npos) return false;
  for (const auto& part : std::filesystem::path(p)) {
    if (part == "..") return false;
  }
  return true;
}

Result<std::string> StringAt(const Errors& err, const toml::node& n, std::string_view key) {
  if (!n.is_string()) return err.At(n, "\"" + std::string(key) + "\" must be a string");
  return std::string(*n.value<std::string_view>());
}

Result<std::vector<std::string>> StringArray(const Errors& err, const toml::node& n,
                                             std::string_view key) {
  const toml::array* arr = n.as_array();
  if (arr == nullptr) return err.At(n, "\"" + std::string(key) + "\" must be an array of strings");
  std::vector<std::string> out;
  for (const toml::node& el : *arr) {
    ASSIGN_OR_RETURN(std::string s, StringAt(err, el, key));
    out.push_back(std::move(s));
  }
  return out;
}

Result<uint32_t> ParseMode(const Errors& err, const toml::node& n) {
  int64_t mode = -1;
  if (n.is_integer()) {
    mode = *n.value<int64_t>();
  } else if (n.is_string()) {
    std::string s(*n.value<std::string_view>());
    if (s.empty() || s.size() > 4 || s.find_first_not_of("01234567") != std::string::npos) {
      return err.At(n, "file mode \"" + s + "\" must be octal like \"0644\"");
    }
    mode = std::stol(s, nullptr, 8);
  }
  if (mode < 0 || mode > 07777) return err.At(n, "file mode must be 0o0000..0o7777 or \"0644\"");
  return static_cast<uint32_t>(mode);
}

Result<RecipeFile> ParseFile(const Errors& err, const toml::node& n) {
  const toml::table* t = n.as_table();
  if (t == nullptr) return err.At(n, "each [[files]] entry must be a table");
  RecipeFile f;
  bool has_path = false, has_content = false;
  for (const auto& [key, value] : *t) {
    if (key == "path") {
      ASSIGN_OR_RETURN(f.path, StringAt(err, value, "path"));
      if (!IsSafeGuestPath(f.path)) {
        return err.At(value, "file path \"" + f.path + "\" must be absolute, without \"..\"");
      }
      has_path = true;
    } else if (key == "content") {
      ASSIGN_OR_RETURN(f.content, StringAt(err, value, "content"));
      has_content = true;
    } else if (key == "mode") {
      ASSIGN_OR_RETURN(f.mode, ParseMode(err, value));
    } else {
      return err.At(value, "unknown key \"" + std::string(key.str()) +
                               "\" in [[files]] (expected path, content, mode)");
    }
  }
  if (!has_path || !has_content) return err.At(n, "[[files]] needs both path and content");
  return f;
}

Result<std::vector<std::vector<std::string>>> ParseCommands(const Errors& err,
                                                            const toml::node& n) {
  const toml::array* arr = n.as_array();
  if (arr == nullptr) return err.At(n, "\"commands\" must be an array of argv arrays");
  std::vector<std::vector<std::string>> out;
  for (const toml::node& el : *arr) {
    ASSIGN_OR_RETURN(std::vector<std::string> argv, StringArray(err, el, "commands"));
    if (argv.empty() || argv[0].empty()) return err.At(el, "a command needs a program name");
    out.push_back(std::move(argv));
  }
  return out;
}

// Applies one top-level key to `r`.
Status ApplyKey(const Errors& err, std::string_view key, const toml::node& v, Recipe& r,
                bool& ssh_given) {
  if (key == "suite") {
    ASSIGN_OR_RETURN(r.suite, StringAt(err, v, key));
    if (!IsValidSuite(r.suite)) return err.At(v, "bad suite \"" + r.suite + "\"");
  } else if (key == "flavour") {
    ASSIGN_OR_RETURN(std::string f, StringAt(err, v, key));
    if (f == "minimal") {
      r.flavour = Flavour::kMinimal;
    } else if (f == "systemd") {
      r.flavour = Flavour::kSystemd;
    } else {
      return err.At(v, "bad flavour \"" + f + "\" (expected \"minimal\" or \"systemd\")");
    }
  } else if (key == "ssh_server") {
    ASSIGN_OR_RETURN(std::string s, StringAt(err, v, key));
    if (s == "dropbear") {
      r.ssh_server = SshServer::kDropbear;
    } else if (s == "openssh") {
      r.ssh_server = SshServer::kOpenssh;
    } else {
      return err.At(v, "bad ssh_server \"" + s + "\" (expected \"dropbear\" or \"openssh\")");
    }
    ssh_given = true;
  } else if (key == "packages") {
    ASSIGN_OR_RETURN(r.packages, StringArray(err, v, key));
    for (const std::string& p : r.packages) {
      if (!IsValidPackageName(p)) return err.At(v, "bad package name \"" + p + "\"");
    }
  } else if (key == "commands") {
    ASSIGN_OR_RETURN(r.commands, ParseCommands(err, v));
  } else if (key == "files") {
    const toml::array* arr = v.as_array();
    if (arr == nullptr) return err.At(v, "\"files\" must be an array of tables ([[files]])");
    for (const toml::node& el : *arr) {
      ASSIGN_OR_RETURN(RecipeFile f, ParseFile(err, el));
      r.files.push_back(std::move(f));
    }
  } else if (key == "cmdline") {
    ASSIGN_OR_RETURN(r.cmdline_extra, StringAt(err, v, key));
    if (r.cmdline_extra.find_first_of("\n\r") != std::string::npos) {
      return err.At(v, "cmdline must be a single line");
    }
  } else if (key == "rootfs_mib") {
    std::optional<int64_t> mib = v.value<int64_t>();
    if (!v.is_integer() || *mib < static_cast<int64_t>(kMinRootfsMib) ||
        *mib > static_cast<int64_t>(kMaxRootfsMib)) {
      return err.At(v, "rootfs_mib must be an integer from 256 to 1048576");
    }
    r.rootfs_mib = static_cast<uint64_t>(*mib);
  } else {
    return err.At(v, "unknown key \"" + std::string(key) +
                         "\" (expected suite, flavour, ssh_server, packages, "
                         "commands, files, "
                         "cmdline, rootfs_mib)");
  }
  return Status::Ok();
}

}  // namespace

std::string_view FlavourName(Flavour f) { return f == Flavour::kMinimal ? "minimal" : "systemd"; }
std::string_view SshServerName(SshServer s) {
  return s == SshServer::kDropbear ? "dropbear" : "openssh";
}

bool IsValidPackageName(std::string_view n) {
  if (n.size() < 2 || n.size() > 128) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(n[0])) return false;
  return std::all_of(n.begin(), n.end(),
                     [&](char c) { return alnum(c) || c == '+' || c == '-' || c == '.'; });
}

Result<Recipe> ParseRecipe(std::string_view text, std::string_view origin) {
  Errors err(origin);
  toml::table table;
  try {
    table = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return InvalidArgument(std::string(origin) + ":" + std::to_string(e.source().begin.line) +
                           ": " + std::string(e.description()));
  }
  Recipe r;
  bool ssh_given = false;
  for (const auto& [key, value] : table) {
    RETURN_IF_ERROR(ApplyKey(err, key.str(), value, r, ssh_given));
  }
  if (r.flavour == Flavour::kSystemd) {
    if (ssh_given && r.ssh_server == SshServer::kDropbear) {
      return err.Plain("ssh_server \"dropbear\" is only supported by flavour \"minimal\"");
    }
    r.ssh_server = SshServer::kOpenssh;
  }
  return r;
}

Recipe DefaultRecipe() { return Recipe{}; }

std::vector<std::string> BasePackages(const Recipe& recipe) {
  std::set<std::string> pkgs(recipe.packages.begin(), recipe.packages.end());
  pkgs.insert({"linux-image-cloud-amd64", "busybox-static", "kmod"});
  // The kernel package needs some initramfs generator; tiny-initramfs is the
  // cheapest to install. warren builds its own initramfs and drops the one
  // the generator produced.
  pkgs.insert("tiny-initramfs");
  pkgs.insert(recipe.ssh_server == SshServer::kDropbear ? "dropbear-bin" : "openssh-server");
  if (recipe.flavour == Flavour::kSystemd) pkgs.insert("systemd-sysv");
  return {pkgs.begin(), pkgs.end()};
}

std::string CacheKey(std::string_view step, const Recipe& recipe) {
  std::string in;
  auto field = [&in](std::string_view name, std::string_view value) {
    // Length-prefixed so no two different inputs serialize the same.
    in += std::string(name) + ":" + std::to_string(value.size()) + ":" + std::string(value) + "\n";
  };
  field("step", step);
  field("base-version", kBaseStepVersion);
  field("suite", recipe.suite);
  field("flavour", FlavourName(recipe.flavour));
  for (const std::string& p : BasePackages(recipe)) field("package", p);
  if (step == "base") return Sha256Hex(in);
  CHECK(step == "image");
  field("ssh", SshServerName(recipe.ssh_server));
  for (const auto& argv : recipe.commands) {
    field("command", std::to_string(argv.size()));
    for (const std::string& a : argv) field("arg", a);
  }
  for (const RecipeFile& f : recipe.files) {
    field("file", f.path);
    field("content", f.content);
    field("mode", std::to_string(f.mode));
  }
  field("cmdline", recipe.cmdline_extra);
  field("rootfs_mib", std::to_string(recipe.rootfs_mib));
  for (const GuestAsset& a : GuestAssets()) {
    field("asset", a.name);
    field("asset-content", a.content);
  }
  field("agent", GuestAgentProgram());
  return Sha256Hex(in);
}

}  // namespace warren
