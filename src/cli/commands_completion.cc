// warren completion bash|zsh, and the hidden `warren __complete KIND` the
// scripts call for names. The scripts are generated from the CLI11 tree itself
// (every command, subcommand and option), so a new command completes without
// anyone editing a script.
#include <algorithm>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli/context.h"

namespace warren::cli {
namespace {

using json = nlohmann::json;

// What a word may be, in the script's tables: "vms", "images", "sessions",
// "ops", or "-" (anything: no names offered).
struct Tables {
  // Keyed by command path: "warren", "warren vm", "warren vm start", ...
  std::map<std::string, std::string> subs;     // command path → its subcommands
  std::map<std::string, std::string> flags;    // command path → every option, globals included
  std::map<std::string, std::string> valopts;  // command path → options that take a value
  std::map<std::string, std::string> pos;      // command path → kinds of its positionals, in order
  std::map<std::string, std::string> optkind;  // option → the kind of its value
};

// The names a positional or an option's value stand for, read from the CLI
// definition: a positional called "vm", or described exactly as an existing
// one ("VM name", "Image name", "Session id or name", "Operation id"). A new
// name (vm create's NAME: "VM name, also its hostname...") matches nothing.
std::string KindOf(const std::string& name, const std::string& description) {
  if (name == "vm" || name == "VM" || description == "VM name" || description == "Only this VM's" ||
      description == "A stopped VM") {
    return "vms";
  }
  if (name == "image" || description == "Image name") return "images";
  if (description.starts_with("Session id")) return "sessions";
  if (description == "Operation id") return "ops";
  return "-";
}

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

std::vector<std::string> OptionNames(const CLI::Option* opt) {
  std::vector<std::string> names;
  for (const std::string& l : opt->get_lnames()) names.push_back("--" + l);
  for (const std::string& s : opt->get_snames()) names.push_back("-" + s);
  return names;
}

// Adds `app` (at `path`: "warren", "warren vm", ...; bash refuses an empty
// key) and everything under it; `globals` are the root's
// options, which every command accepts (the root falls through).
void Walk(const CLI::App* app, const std::string& path, const std::vector<const CLI::Option*>& globals,
          Tables& t) {
  std::vector<std::string> subs, flags, valopts, pos;
  for (const CLI::App* sub : app->get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_group().empty()) continue;  // hidden (__complete)
    subs.push_back(sub->get_name());
    Walk(sub, path + " " + sub->get_name(), globals, t);
  }
  std::vector<const CLI::Option*> opts = app->get_options();
  if (app->get_parent() != nullptr) opts.insert(opts.end(), globals.begin(), globals.end());
  for (const CLI::Option* opt : opts) {
    if (opt->get_positional()) {
      pos.push_back(KindOf(opt->get_name(), opt->get_description()));
      continue;
    }
    std::vector<std::string> names;
    for (std::string& n : OptionNames(opt)) {
      // A subcommand's own --help hides the root's.
      if (std::find(flags.begin(), flags.end(), n) == flags.end()) names.push_back(std::move(n));
    }
    if (names.empty()) continue;
    flags.insert(flags.end(), names.begin(), names.end());
    if (opt->get_expected_max() == 0) continue;  // a flag (CLI11 gives flags expected(0))
    valopts.insert(valopts.end(), names.begin(), names.end());
    const std::string kind = KindOf(opt->get_lnames().empty() ? "" : opt->get_lnames()[0],
                                    opt->get_description());
    for (const std::string& n : names) {
      if (kind != "-") t.optkind[n] = kind;
    }
  }
  t.subs[path] = Join(subs);
  t.flags[path] = Join(flags);
  t.valopts[path] = Join(valopts);
  t.pos[path] = Join(pos);
}

// A bash/zsh single-quoted word.
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void PrintTable(std::ostream& out, const char* name, const std::map<std::string, std::string>& m) {
  out << "declare -gA " << name << "=(\n";
  for (const auto& [k, v] : m) out << "  [" << Quote(k) << "]=" << Quote(v) << "\n";
  out << ")\n";
}

// The completion function; the tables above it hold the CLI's shape. Works in
// bash ≥ 4.2 and in zsh through bashcompinit (both have associative arrays).
// Variable names avoid zsh's specials (path, words).
constexpr std::string_view kFunction = R"SH(
_warren_has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }

# Names from the daemon, quietly: nothing when it is down or slow to answer.
_warren_names() {
  "${COMP_WORDS[0]}" ${_warren_root:+--root "$_warren_root"} \
    ${_warren_sock:+--socket "$_warren_sock"} __complete "$1" 2>/dev/null
}

_warren() {
  local cur="${COMP_WORDS[COMP_CWORD]}" cmdpath=warren w i npos=0 valfor="" kind="" cands=""
  local _warren_root="" _warren_sock="" dashdash=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${COMP_WORDS[i]}"
    if ((dashdash)); then npos=$((npos + 1)); continue; fi
    case "$w" in
      --) dashdash=1; continue ;;
      --root) _warren_root="${COMP_WORDS[i+1]}" ;;
      --socket) _warren_sock="${COMP_WORDS[i+1]}" ;;
    esac
    case "$w" in
      -*)
        if _warren_has "${_warren_valopts[$cmdpath]}" "$w"; then
          if ((i + 1 == COMP_CWORD)); then valfor="$w"; else i=$((i + 1)); fi
        fi
        continue ;;
    esac
    if ((npos == 0)) && _warren_has "${_warren_subs[$cmdpath]}" "$w"; then
      cmdpath="$cmdpath $w"
    else
      npos=$((npos + 1))
    fi
  done
  COMPREPLY=()
  if ((dashdash)); then return 0; fi
  if [[ -n "$valfor" ]]; then
    kind="${_warren_optkind[$valfor]}"
    if [[ -n "$kind" ]]; then
      COMPREPLY=($(compgen -W "$(_warren_names "$kind")" -- "$cur"))
    else
      COMPREPLY=($(compgen -f -- "$cur"))
    fi
    return 0
  fi
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "${_warren_flags[$cmdpath]}" -- "$cur"))
    return 0
  fi
  if ((npos == 0)); then cands="${_warren_subs[$cmdpath]}"; fi
  local -a kinds
  kinds=(${_warren_pos[$cmdpath]})
  # Arrays are 0-based in bash and in bashcompinit's sh emulation (ksh_arrays).
  kind="${kinds[npos]}"
  if [[ -n "$kind" && "$kind" != - ]]; then cands="$cands $(_warren_names "$kind")"; fi
  COMPREPLY=($(compgen -W "$cands" -- "$cur"))
  return 0
}
complete -F _warren warren
)SH";

void PrintScript(std::ostream& out, const CLI::App& root, const std::string& shell) {
  Tables t;
  Walk(&root, "warren", root.get_options(), t);
  if (shell == "zsh") {
    out << "# zsh completion for warren (generated by `warren completion zsh`).\n"
           "# Load it with: source <(warren completion zsh)\n"
           "# zsh runs the bash function below through bashcompinit.\n"
           "if ! (( $+functions[compdef] )); then autoload -U +X compinit && compinit -i; fi\n"
           "autoload -U +X bashcompinit && bashcompinit\n";
  } else {
    out << "# bash completion for warren (generated by `warren completion bash`).\n"
           "# Load it with: source <(warren completion bash)\n";
  }
  PrintTable(out, "_warren_subs", t.subs);
  PrintTable(out, "_warren_flags", t.flags);
  PrintTable(out, "_warren_valopts", t.valopts);
  PrintTable(out, "_warren_pos", t.pos);
  PrintTable(out, "_warren_optkind", t.optkind);
  out << kFunction;
}

// One name per line for `kind`; nothing (and exit 0) when the daemon does not answer.
void PrintNames(CliContext& ctx, const std::string& kind) {
  struct Source {
    const char* kind;
    const char* method;
    const char* list;
    const char* field;
  };
  constexpr Source kSources[] = {{"vms", "vm.list", "vms", "name"},
                                 {"images", "image.list", "images", "name"},
                                 {"sessions", "session.ls", "sessions", "id"},
                                 {"ops", "op.list", "ops", "id"}};
  for (const Source& s : kSources) {
    if (kind != s.kind) continue;
    Result<json> r = ctx.Call(s.method);
    if (!r.ok() || !r->contains(s.list)) return;
    for (const json& item : (*r)[s.list]) {
      if (item.contains(s.field) && item[s.field].is_string()) {
        std::cout << item[s.field].get<std::string>() << "\n";
      }
      // A session has a name besides its id; either attaches.
      if (kind == "sessions" && item.value("name", "") != "") {
        std::cout << item["name"].get<std::string>() << "\n";
      }
    }
  }
}

}  // namespace

void AddCompletionCommands(CLI::App& app, CliContext& ctx) {
  auto shell = std::make_shared<std::string>();
  CLI::App* completion = app.add_subcommand(
      "completion", "Print a shell completion script (source <(warren completion bash))");
  completion->add_option("shell", *shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  completion->callback([&app, shell] { PrintScript(std::cout, app, *shell); });

  // Hidden (no group): what the scripts call for names.
  auto kind = std::make_shared<std::string>();
  CLI::App* complete = app.add_subcommand("__complete", "Names for shell completion");
  complete->group("");
  complete->add_option("kind", *kind, "vms, images, sessions or ops")->required();
  complete->callback([&ctx, kind] { PrintNames(ctx, *kind); });
}

}  // namespace warren::cli
