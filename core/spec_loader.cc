// Loading a workload file, in order: the checks of single names and values
// (identifiers, label values, env names, matrix values); the Loader, one
// pass over the YAML tree (the workload, then each step with its resources,
// env and templated fields; the typed readers; the unknown-key, near-miss
// and duplicate-key checks); the checks of the raw text before yaml-cpp sees
// it (CheckText, SecondDocument); --param overrides; then the public entry
// points (ParseWorkload, LoadWorkloadFile, ParseParamArgs).
#include "core/spec_loader.h"

#include <yaml-cpp/yaml.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "core/image_ref.h"
#include "core/quantity.h"
#include "core/utf8.h"

namespace portflow {
namespace {

SourcePos PosOf(const YAML::Node& n) {
  YAML::Mark m = n.Mark();
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  }
  return true;
}

// A Kubernetes label value: empty, or at most 63 characters of letters,
// digits, '-', '_' and '.', starting and ending with a letter or digit.
bool IsLabelValue(std::string_view s) {
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (s.empty()) return true;
  if (s.size() > 63 || !alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s) {
    if (!(alnum(c) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

bool IsEnvName(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

std::string KindOf(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "null";
    default:
      return "nothing";
  }
}

// "{{params.NAME}}" (spaces allowed inside the braces), and NAME.
bool ParamReference(const std::string& text, std::string* name) {
  static const std::regex kRef(R"(^\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$)");
  std::smatch m;
  if (!std::regex_match(text, m, kRef)) return false;
  *name = m[1];
  return true;
}

// Matrix values name instances and output directories: train[lr=0.1].
bool GoodMatrixValue(const std::string& v) {
  return !v.empty() && v.size() <= 63 && v.find_first_of("/,=[]{}\\ \t\n") == std::string::npos &&
         std::none_of(v.begin(), v.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}
std::string BadMatrixValue(const std::string& v) {
  std::string why = " value " + Quoted(v) +
                    " must be 1 to 63 characters without spaces or any of / , = [ ] { } \\";
  if (v.find("{{") != std::string::npos)
    why += "; to take a list param's values, write the key as `KEY: \"{{params.NAME}}\"`";
  return why;
}

class Loader {
 public:
  Loader(std::string_view text, Diagnostics& diags) : text_(text), diags_(diags) {
    std::istringstream in{std::string(text)};
    for (std::string line; std::getline(in, line);) lines_.push_back(line);
  }

  // Fills each matrix whose values are a param's ("{{params.lrs}}"), from
  // the param's value after the -p overrides: a list ([0.1, 0.01]) or one
  // value.
  void ResolveMatrixParams(Workload& w) {
    for (const MatrixParam& m : matrix_params_) {
      auto step = std::find_if(w.steps.begin(), w.steps.end(),
                               [&](const Step& s) { return s.name == m.step; });
      if (step == w.steps.end()) continue;
      std::string where = "step \"" + m.step + "\" matrix." + m.key + ": ";
      auto param = std::find_if(w.params.begin(), w.params.end(),
                                [&](const auto& p) { return p.first == m.param; });
      if (param == w.params.end()) {
        diags_.Add(m.pos, where + "the workload declares no param \"" + m.param + "\"");
        continue;
      }
      YAML::Node list;
      try {
        list = YAML::Load(param->second);
      } catch (const YAML::Exception&) {
        list = YAML::Node(param->second);
      }
      std::vector<std::string> values;
      if (list.IsSequence()) {
        for (const YAML::Node& v : list) values.push_back(v.IsScalar() ? v.Scalar() : "");
      } else {
        values.push_back(param->second);
      }
      std::set<std::string> seen;
      for (const std::string& v : values) {
        if (!GoodMatrixValue(v)) {
          diags_.Add(m.pos, where + "param " + m.param + "'s" + BadMatrixValue(v));
        } else if (!seen.insert(v).second) {
          diags_.Add(m.pos, where + "param " + m.param + " lists \"" + v + "\" twice");
        }
      }
      if (values.empty()) diags_.Add(m.pos, where + "param " + m.param + " lists no value");
      for (auto& [key, vals] : step->matrix) {
        if (key == m.key) vals = values;
      }
      size_t combos = 1;
      for (const auto& [key, vals] : step->matrix) combos *= std::max<size_t>(vals.size(), 1);
      if (combos > 1000) diags_.Add(m.pos, where + "the matrix has more than 1000 combinations");
    }
  }

  void Load(const YAML::Node& root, Workload& w) {
    if (!root.IsMap()) {
      Error(root, "a workload must be a map with apiVersion, kind, metadata and spec; got " +
                      KindOf(root));
      return;
    }
    CheckKeys(root, {"apiVersion", "kind", "metadata", "spec"}, "workload");
    if (auto v = RequiredString(root, "apiVersion", "workload"); v && *v != "portflow.dev/v1") {
      Error(root["apiVersion"], "unsupported apiVersion \"" + *v + "\"; expected portflow.dev/v1");
    }
    if (auto v = RequiredString(root, "kind", "workload"); v && *v != "Workload") {
      Error(root["kind"], "unsupported kind \"" + *v + "\"; expected Workload");
    }
    if (YAML::Node meta = Required(root, "metadata", "workload");
        meta && ExpectMap(meta, "metadata")) {
      CheckKeys(meta, {"name", "labels"}, "metadata");
      if (auto name = RequiredString(meta, "name", "metadata")) {
        if (!IsDns1123Label(*name)) Error(meta["name"], NotDnsLabel("metadata.name", *name));
        w.name = *name;
      }
      if (YAML::Node labels = meta["labels"]) {
        for (auto& [k, key_pos, v] : StringMap(labels, "metadata.labels")) {
          if (k.empty() || !IsLabelValue(k) || !IsLabelValue(v.text)) {
            Error(key_pos, "invalid label \"" + k + ": " + v.text +
                               "\" (keys and values: at most 63 letters, digits, '-', '_' or '.', "
                               "starting and ending with a letter or digit)");
          }
          w.labels[k] = v.text;
        }
      }
    }
    YAML::Node spec = Required(root, "spec", "workload");
    if (!spec || !ExpectMap(spec, "spec")) return;
    CheckKeys(spec, {"params", "image", "env", "resources", "steps"}, "spec");
    if (YAML::Node params = spec["params"]; params && ExpectMap(params, "spec.params")) {
      CheckDuplicateKeys(params);
      for (auto it = params.begin(); it != params.end(); ++it) {
        if (!it->first.IsScalar()) {
          Error(it->first, "spec.params keys must be strings");
          continue;
        }
        std::string k = it->first.Scalar();
        if (!IsIdentifier(k)) Error(it->first, "invalid param name \"" + k + "\"");
        const YAML::Node v = it->second;
        if (!v.IsSequence()) {
          std::optional<Templated> t = Tmpl(v, "spec.params." + k);
          w.params.emplace_back(k, t ? t->text : "");
          continue;
        }
        // A list param (for a matrix) is kept as its flow text, "[a, b]".
        std::string text;
        for (const YAML::Node& item : v) {
          if (!item.IsScalar()) Error(item, "spec.params." + k + " lists only scalars");
          text += (text.empty() ? "" : ", ") + (item.IsScalar() ? item.Scalar() : "");
        }
        w.params.emplace_back(k, "[" + text + "]");
      }
    }
    if (YAML::Node image = spec["image"]) {
      w.image = String(image, "spec.image");
      if (w.image && !IsImageReference(*w.image)) {
        Error(image, "spec.image \"" + *w.image +
                         "\" is not an image reference: [registry[:port]/]path[:tag][@digest], "
                         "the path in lowercase, as in python:3.12 or ghcr.io/org/app:v1");
      }
    }
    if (YAML::Node env = spec["env"]) w.env = Env(env, "spec.env");
    if (YAML::Node res = spec["resources"]) w.resources = LoadResources(res, "spec.resources");
    YAML::Node steps = Required(spec, "steps", "spec");
    if (!steps || !ExpectSeq(steps, "spec.steps")) return;
    if (steps.size() == 0) Error(steps, "spec.steps must list at least one step");
    for (const YAML::Node& s : steps) w.steps.push_back(LoadStep(s));
  }

 private:
  struct MatrixParam {
    std::string step, key, param;
    SourcePos pos;
  };
  std::vector<MatrixParam> matrix_params_;

  Step LoadStep(const YAML::Node& n) {
    Step s;
    s.pos = PosOf(n);
    if (!ExpectMap(n, "a step")) return s;
    CheckKeys(n,
              {"name", "needs", "command", "script", "env", "workdir", "resources", "replicas",
               "matrix", "retries", "timeout", "outputs"},
              "step");
    if (auto name = RequiredString(n, "name", "step")) {
      s.name = *name;
      s.pos = PosOf(n["name"]);
      if (!IsDns1123Label(*name)) Error(n["name"], NotDnsLabel("step name", *name));
    }
    std::string ctx = "step \"" + s.name + "\"";
    if (YAML::Node needs = n["needs"]; needs && ExpectSeq(needs, ctx + " needs")) {
      for (const YAML::Node& item : needs) {
        if (auto v = String(item, ctx + " needs entry")) {
          s.needs.push_back(*v);
          s.needs_pos.push_back(PosOf(item));
        }
      }
    }
    YAML::Node command = n["command"], script = n["script"];
    if (command && script) {
      Error(script, ctx + " has both command and script; use one");
    } else if (!command && !script && !Misspelled(n, "command") && !Misspelled(n, "script")) {
      Error(n, ctx + " has no command (an argv list) or script to run");
    }
    if (command) {
      if (command.IsScalar()) {
        Error(command, ctx +
                           " command must be a list (argv), e.g. [python3, train.py]; "
                           "use script: for a shell line");
      } else if (ExpectSeq(command, ctx + " command")) {
        if (command.size() == 0) Error(command, ctx + " command must not be empty");
        for (const YAML::Node& arg : command) {
          if (auto v = Tmpl(arg, ctx + " command entry")) s.command.push_back(*v);
        }
      }
    }
    if (script) s.script = Tmpl(script, ctx + " script");
    if (YAML::Node env = n["env"]) s.env = Env(env, ctx + " env");
    if (YAML::Node wd = n["workdir"]) s.workdir = Tmpl(wd, ctx + " workdir");
    if (YAML::Node res = n["resources"]) s.resources = LoadResources(res, ctx + " resources");
    if (YAML::Node r = n["replicas"]) {
      if (auto v = Int(r, ctx + " replicas", 1, 1000)) s.replicas = static_cast<int>(*v);
    }
    if (YAML::Node m = n["matrix"]; m && ExpectMap(m, ctx + " matrix")) {
      size_t combos = 1;
      bool too_many = false;
      for (auto it = m.begin(); it != m.end(); ++it) {
        if (!it->first.IsScalar()) {
          Error(it->first, ctx + " matrix keys must be strings");
          continue;
        }
        std::string key = it->first.Scalar();
        if (!IsIdentifier(key))
          Error(it->first, ctx + " has an invalid matrix key \"" + key + "\"");
        std::vector<std::string> values;
        // A copy: yaml-cpp's it->second is a temporary that a range-for would outlive.
        const YAML::Node list = it->second;
        if (std::string param; list.IsScalar() && ParamReference(list.Scalar(), &param)) {
          // Its values once the -p overrides are known (ResolveMatrixParams).
          matrix_params_.push_back({s.name, key, param, PosOf(list)});
          s.matrix.emplace_back(key, std::move(values));
          continue;
        }
        if (list.IsSequence() && list.size() == 0) {
          Error(list, ctx + " matrix." + key + " must list at least one value");
        } else if (ExpectSeq(list, ctx + " matrix." + key)) {
          std::set<std::string> seen;
          for (const YAML::Node& v : list) {
            auto value = String(v, ctx + " matrix." + key + " value");
            if (!value) continue;
            if (!seen.insert(*value).second) {
              Error(v, ctx + " matrix." + key + " lists \"" + *value + "\" twice");
            }
            if (!GoodMatrixValue(*value)) Error(v, ctx + " matrix." + key + BadMatrixValue(*value));
            values.push_back(*value);
          }
        }
        combos = std::min<size_t>(combos * std::max<size_t>(values.size(), 1), 1'000'000);
        if (combos > 1000 && !too_many) {
          too_many = true;
          Error(it->first, ctx + " matrix has more than 1000 combinations");
        }
        s.matrix.emplace_back(key, std::move(values));
      }
      CheckDuplicateKeys(m);
    }
    if (YAML::Node r = n["retries"]; r && ExpectMap(r, ctx + " retries")) {
      CheckKeys(r, {"limit", "backoff"}, "retries");
      if (YAML::Node l = r["limit"]) {
        if (auto v = Int(l, ctx + " retries.limit", 0, 100)) s.retries.limit = static_cast<int>(*v);
      }
      if (YAML::Node b = r["backoff"]) {
        if (auto d = DurationOf(b, ctx + " retries.backoff")) s.retries.backoff = *d;
      }
    }
    if (YAML::Node t = n["timeout"]) {
      if (auto d = DurationOf(t, ctx + " timeout")) {
        if (d->count() <= 0) {
          Error(t, ctx + " timeout must be positive");
        } else {
          s.timeout = *d;
        }
      }
    }
    if (YAML::Node outs = n["outputs"]; outs && ExpectSeq(outs, ctx + " outputs")) {
      std::set<std::string> seen;
      for (const YAML::Node& o : outs) {
        auto v = String(o, ctx + " output");
        if (!v) continue;
        if (!IsIdentifier(*v))
          Error(o, "invalid output name \"" + *v + "\" (letters, digits, _ and -)");
        if (!seen.insert(*v).second) Error(o, "duplicate output \"" + *v + "\"");
        s.outputs.push_back(*v);
      }
    }
    return s;
  }

  Resources LoadResources(const YAML::Node& n, const std::string& ctx) {
    Resources r;
    if (!ExpectMap(n, ctx)) return r;
    CheckKeys(n, {"cpu", "memory", "gpu"}, "resources");
    if (YAML::Node c = n["cpu"]) {
      if (auto v = String(c, ctx + ".cpu")) {
        auto q = ParseMilliQuantity(*v);
        if (!q.ok())
          Error(c, ctx + ".cpu: " + q.status().message());
        else
          r.milli_cpu = *q;
      }
    }
    if (YAML::Node m = n["memory"]) {
      if (auto v = String(m, ctx + ".memory")) {
        auto q = ParseQuantity(*v);
        if (!q.ok())
          Error(m, ctx + ".memory: " + q.status().message());
        else
          r.memory_bytes = *q;
      }
    }
    if (YAML::Node g = n["gpu"]) {
      if (auto v = Int(g, ctx + ".gpu", 0, 1024)) r.gpus = *v;
    }
    return r;
  }

  EnvList Env(const YAML::Node& n, const std::string& ctx) {
    EnvList env;
    for (auto& [k, key_pos, v] : StringMap(n, ctx)) {
      if (!IsEnvName(k)) Error(key_pos, "invalid environment variable name \"" + k + "\"");
      env.emplace_back(k, v);
    }
    return env;
  }

  struct Entry {
    std::string key;
    SourcePos key_pos;
    Templated value;
  };

  // A map of scalar values, e.g. env, labels, params.
  std::vector<Entry> StringMap(const YAML::Node& n, const std::string& ctx) {
    std::vector<Entry> out;
    if (!ExpectMap(n, ctx)) return out;
    CheckDuplicateKeys(n);
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->first.IsScalar()) {
        Error(it->first, ctx + " keys must be strings");
        continue;
      }
      std::string key = it->first.Scalar();
      // A bad value is reported, and the key still counts (for references).
      std::optional<Templated> v = Tmpl(it->second, ctx + "." + key);
      if (!v) v = Templated{"", PosOf(it->first)};
      v->pos = v->pos.line ? v->pos : PosOf(it->first);
      out.push_back({key, PosOf(it->first), *v});
    }
    return out;
  }

  std::optional<Templated> Tmpl(const YAML::Node& n, const std::string& what) {
    auto v = String(n, what);
    if (!v) return std::nullopt;
    SourcePos pos = PosOf(n);
    // Point inside quoted scalars at the first character of the value.
    if (pos.line > 0 && static_cast<size_t>(pos.line) <= lines_.size()) {
      const std::string& line = lines_[pos.line - 1];
      size_t col = static_cast<size_t>(pos.column - 1);
      if (col < line.size() && (line[col] == '"' || line[col] == '\'')) ++pos.column;
      // A literal block: its text starts on the next line, at the block's
      // indentation (that of its first line that is not blank).
      if (col < line.size() && line[col] == '|') {
        for (size_t l = static_cast<size_t>(pos.line); l < lines_.size(); ++l) {
          size_t indent = lines_[l].find_first_not_of(' ');
          if (indent == std::string::npos || lines_[l][indent] == '\r') continue;
          return Templated{*v, {pos.line + 1, static_cast<int>(indent) + 1}, true};
        }
      }
    }
    return Templated{*v, pos};
  }

  std::optional<std::string> String(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) {
      Error(n, what + " must be a string, number or boolean; got " + KindOf(n));
      return std::nullopt;
    }
    return n.Scalar();
  }

  std::optional<int64_t> Int(const YAML::Node& n, const std::string& what, int64_t lo, int64_t hi) {
    auto s = String(n, what);
    if (!s) return std::nullopt;
    int64_t v = 0;
    bool ok = !s->empty() && s->size() <= 12;
    for (char c : *s) ok = ok && std::isdigit(static_cast<unsigned char>(c));
    if (ok) v = std::stoll(*s);
    if (!ok || v < lo || v > hi) {
      Error(n, what + " must be a whole number from " + std::to_string(lo) + " to " +
                   std::to_string(hi) + "; got \"" + *s + "\"");
      return std::nullopt;
    }
    return v;
  }

  std::optional<Duration> DurationOf(const YAML::Node& n, const std::string& what) {
    auto s = String(n, what);
    if (!s) return std::nullopt;
    auto d = ParseDuration(*s);
    if (!d.ok()) {
      Error(n, what + ": " + d.status().message());
      return std::nullopt;
    }
    return *d;
  }

  YAML::Node Required(const YAML::Node& map, const std::string& key, const std::string& ctx) {
    YAML::Node n = map[key];
    if (!n && !Misspelled(map, key)) Error(map, ctx + " is missing required field \"" + key + "\"");
    return n;
  }

  // A key of `map` is a near miss of `key`: its unknown-field error already
  // says "did you mean", so "missing" would only repeat it.
  static bool Misspelled(const YAML::Node& map, const std::string& key) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() != key &&
          ClosestMatch(it->first.Scalar(), {key}) == key) {
        return true;
      }
    }
    return false;
  }

  std::optional<std::string> RequiredString(const YAML::Node& map, const std::string& key,
                                            const std::string& ctx) {
    YAML::Node n = Required(map, key, ctx);
    if (!n) return std::nullopt;
    return String(n, ctx == "workload" ? key : ctx + "." + key);
  }

  bool ExpectMap(const YAML::Node& n, const std::string& what) {
    if (n.IsMap()) return true;
    Error(n, what + " must be a map; got " + KindOf(n));
    return false;
  }

  bool ExpectSeq(const YAML::Node& n, const std::string& what) {
    if (n.IsSequence()) return true;
    Error(n, what + " must be a list; got " + KindOf(n));
    return false;
  }

  void CheckKeys(const YAML::Node& map, const std::vector<std::string>& allowed,
                 const std::string& ctx) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) {
        Error(it->first, ctx + " keys must be strings");
        continue;
      }
      const std::string& key = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      std::string msg = "unknown field \"" + key + "\" in " + ctx;
      if (std::string hint = ClosestMatch(key, allowed); !hint.empty()) {
        msg += "; did you mean \"" + hint + "\"?";
      }
      Error(it->first, msg);
    }
    CheckDuplicateKeys(map);
  }

  void CheckDuplicateKeys(const YAML::Node& map) {
    if (!map.IsMap()) return;
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      if (!seen.insert(it->first.Scalar()).second) {
        Error(it->first, "duplicate key \"" + it->first.Scalar() + "\"");
      }
    }
  }

  static std::string NotDnsLabel(const std::string& what, const std::string& v) {
    return what + " \"" + v +
           "\" is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending "
           "with a letter or digit, at most 63 characters)";
  }

  void Error(const YAML::Node& n, std::string msg) { diags_.Add(PosOf(n), std::move(msg)); }
  void Error(SourcePos pos, std::string msg) { diags_.Add(pos, std::move(msg)); }

  std::string_view text_;
  std::vector<std::string> lines_;
  Diagnostics& diags_;
};

// Catches input that is not YAML text at all, and flow nesting deep enough to
// exhaust the parser, before yaml-cpp sees it.
bool CheckText(std::string_view text, Diagnostics& diags) {
  int line = 1, col = 1, depth = 0;
  char quote = 0;        // inside '...' or "..."
  bool comment = false;  // after a # that starts a comment
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0 || c == 0x7F || (c < 0x20 && c != '\n' && c != '\t' && c != '\r')) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", c);
      diags.Add({line, col}, std::string("the file is not text (control byte ") + hex + ")");
      return false;
    }
    size_t n = Utf8SequenceLength(text, i);
    if (n == 0) {
      diags.Add({line, col}, "the file is not valid UTF-8");
      return false;
    }
    if (c == '\n') {
      comment = false;
      if (quote == '\'') quote = 0;  // a plain multi-line scalar may hold a lone '
    } else if (comment) {
    } else if (quote) {
      if (c == '\\' && quote == '"') {
        ++i, ++col;  // skip the escaped character
      } else if (c == static_cast<unsigned char>(quote)) {
        quote = 0;
      }
    } else if (c == '#' &&
               (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t' || text[i - 1] == '\n')) {
      comment = true;
    } else if ((c == '"' || c == '\'') &&
               (i == 0 ||
                std::string_view(" \t\n[{,:-").find(text[i - 1]) != std::string_view::npos)) {
      quote = static_cast<char>(c);
    } else if (c == '[' || c == '{') {
      if (++depth > 64) {
        diags.Add({line, col}, "nesting deeper than 64 levels");
        return false;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
    if (c == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
    i += n;
  }
  return true;
}

// Where a second YAML document starts ("---" or content after "..." at the
// start of a line, once content was seen), or line 0. Scanned by hand:
// yaml-cpp 0.7's LoadAll can loop forever on malformed input.
SourcePos SecondDocument(std::string_view text) {
  bool content = false, ended = false;
  SourcePos second;  // a "---" after content: a second document if content follows
  int line = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(start, end - start);
    ++line;
    start = end + 1;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    auto marker = [&](std::string_view m) {
      return l.substr(0, 3) == m && (l.size() == 3 || l[3] == ' ' || l[3] == '\t');
    };
    if (marker("---")) {
      if (content && second.line == 0) second = {line, 1};
      std::string_view rest = l.substr(3);
      size_t inline_content = rest.find_first_not_of(" \t");
      if (second.line > 0 && inline_content != std::string_view::npos &&
          rest[inline_content] != '#') {
        return second;
      }
      continue;
    }
    if (marker("...")) {
      ended = content;
      continue;
    }
    size_t first = l.find_first_not_of(" \t");
    bool blank = first == std::string_view::npos || l[first] == '#';
    if (blank || l[0] == '%') continue;  // comments and directives
    if (ended) return {line, 1};
    if (second.line > 0) return second;
    content = true;
  }
  return {};
}

void ApplyOverrides(Workload& w, const ParamOverrides& overrides, Diagnostics& diags) {
  std::vector<std::string> names;
  for (auto& [k, v] : w.params) names.push_back(k);
  for (const auto& override : overrides) {
    const std::string& key = override.first;
    const std::string& value = override.second;
    auto it = std::find_if(w.params.begin(), w.params.end(),
                           [&](const auto& p) { return p.first == key; });
    if (it == w.params.end()) {
      std::string msg = "-p " + key + ": the workload declares no param \"" + key + "\"";
      if (std::string hint = ClosestMatch(key, names); !hint.empty()) {
        msg += "; did you mean \"" + hint + "\"?";
      }
      diags.Add({}, msg);
    } else {
      it->second = value;
    }
  }
}

}  // namespace

bool IsDns1123Label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s) {
    if (!alnum(c) && c != '-') return false;
  }
  return true;
}

LoadResult ParseWorkload(std::string_view text, const std::string& file, const std::string& dir,
                         const ParamOverrides& overrides) {
  LoadResult result{std::nullopt, Diagnostics(file)};
  Diagnostics& diags = result.diagnostics;
  if (text.size() > kMaxWorkloadBytes) {
    diags.Add({}, "the file is larger than " + std::to_string(kMaxWorkloadBytes) +
                      " bytes; a workload is a small text file");
    return result;
  }
  if (!CheckText(text, diags)) return result;
  if (SourcePos second = SecondDocument(text); second.line > 0) {
    diags.Add(second, "a workload file holds one YAML document; a second one starts here");
    return result;
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    diags.Add({e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg);
    return result;
  }
  Workload w;
  w.file = file;
  w.dir = dir;
  Loader loader(text, diags);
  try {
    loader.Load(root, w);
  } catch (const YAML::Exception& e) {
    diags.Add({e.mark.line + 1, e.mark.column + 1}, std::string("invalid workload: ") + e.msg);
  }
  ApplyOverrides(w, overrides, diags);
  loader.ResolveMatrixParams(w);  // its own YAML errors are caught where they happen
  ValidateWorkload(w, diags);
  if (diags.empty()) result.workload = std::move(w);
  return result;
}

LoadResult LoadWorkloadFile(const std::string& path, const ParamOverrides& overrides) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    LoadResult r{std::nullopt, Diagnostics(path)};
    r.diagnostics.Add({}, "is a directory; give the workload file");
    return r;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult r{std::nullopt, Diagnostics(path)};
    r.diagnostics.Add({}, "cannot read the file: " + std::string(std::strerror(errno)));
    return r;
  }
  // Read in pieces: a buffer of the largest size allowed would be cleared
  // and faulted in, a megabyte, for a file of a few hundred bytes.
  std::string text;
  char piece[65536];
  while (text.size() <= kMaxWorkloadBytes && in.read(piece, sizeof piece).gcount() > 0)
    text.append(piece, static_cast<size_t>(in.gcount()));
  std::string dir = fs::absolute(path, ec).parent_path().lexically_normal().string();
  return ParseWorkload(text, path, dir, overrides);
}

Result<ParamOverrides> ParseParamArgs(const std::vector<std::string>& args) {
  ParamOverrides out;
  for (const std::string& a : args) {
    size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("-p " + a + ": expected key=value");
    }
    // Params reach commands, logs and JSON output: text only, as the file's.
    if (ToValidUtf8(a) != a) {
      return InvalidArgument("-p " + ToValidUtf8(a.substr(0, eq)) +
                             ": not valid UTF-8 (a param is text, as the workload file is)");
    }
    out.emplace_back(a.substr(0, eq), a.substr(eq + 1));
  }
  return out;
}

const Step* Workload::FindStep(const std::string& name) const {
  for (const Step& s : steps) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace portflow
