#include "k8s_backend/fake_cluster/store/selectors.h"

#include <algorithm>
#include <cctype>

#include "core/json_fields.h"

namespace portflow::fake {
namespace {

bool IsKeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
         c == '/';
}

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}
  void SkipSpace() {
    while (i_ < s_.size() && s_[i_] == ' ') ++i_;
  }
  bool Done() {
    SkipSpace();
    return i_ >= s_.size();
  }
  bool Consume(std::string_view tok) {
    SkipSpace();
    if (s_.substr(i_, tok.size()) != tok) return false;
    i_ += tok.size();
    return true;
  }
  std::string Word() {
    SkipSpace();
    size_t start = i_;
    while (i_ < s_.size() && IsKeyChar(s_[i_])) ++i_;
    return std::string(s_.substr(start, i_ - start));
  }
  // A bare word followed by space or '(' ("in", "notin").
  bool Keyword(std::string_view kw) {
    SkipSpace();
    if (s_.substr(i_, kw.size()) != kw) return false;
    size_t after = i_ + kw.size();
    if (after < s_.size() && s_[after] != ' ' && s_[after] != '(') return false;
    i_ = after;
    return true;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

Status BadSelector(std::string_view text, const std::string& why) {
  return InvalidArgument("unable to parse requirement: " + why + " in selector \"" +
                         std::string(text) + "\"");
}

}  // namespace

Result<LabelSelector> LabelSelector::Parse(std::string_view text) {
  LabelSelector sel;
  Scanner sc(text);
  if (sc.Done()) return sel;
  while (true) {
    Requirement r;
    if (sc.Consume("!")) {
      r.key = sc.Word();
      r.op = Op::kDoesNotExist;
      if (r.key.empty()) return BadSelector(text, "expected a key after '!'");
    } else {
      r.key = sc.Word();
      if (r.key.empty()) return BadSelector(text, "expected a key");
      if (sc.Consume("==") || sc.Consume("=")) {
        r.op = Op::kEquals;
        r.values = {sc.Word()};
      } else if (sc.Consume("!=")) {
        r.op = Op::kNotEquals;
        r.values = {sc.Word()};
      } else if (bool notin = sc.Keyword("notin"); notin || sc.Keyword("in")) {
        r.op = notin ? Op::kNotIn : Op::kIn;
        if (!sc.Consume("(")) return BadSelector(text, "expected '(' after in/notin");
        while (true) {
          r.values.push_back(sc.Word());
          if (sc.Consume(")")) break;
          if (!sc.Consume(",")) return BadSelector(text, "expected ',' or ')' in a value list");
        }
      } else {
        r.op = Op::kExists;
      }
    }
    sel.reqs_.push_back(std::move(r));
    if (sc.Done()) break;
    if (!sc.Consume(",")) return BadSelector(text, "expected ','");
  }
  return sel;
}

bool LabelSelector::Matches(const json& object) const {
  if (reqs_.empty()) return true;
  const json& labels = Sub(Sub(object, "metadata"), "labels");
  for (const Requirement& r : reqs_) {
    auto it = labels.find(r.key);
    bool has = it != labels.end() && it->is_string();
    auto in = [&] {
      return has && std::find(r.values.begin(), r.values.end(),
                              it->template get_ref<const std::string&>()) != r.values.end();
    };
    switch (r.op) {
      case Op::kEquals:
      case Op::kIn:
        if (!in()) return false;
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        if (in()) return false;
        break;
      case Op::kExists:
        if (!has) return false;
        break;
      case Op::kDoesNotExist:
        if (has) return false;
        break;
    }
  }
  return true;
}

Result<FieldSelector> FieldSelector::Parse(std::string_view text,
                                           const std::vector<std::string>& supported) {
  FieldSelector sel;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view term = text.substr(start, end - start);
    start = end + 1;
    if (term.empty()) continue;
    Requirement r;
    size_t op = term.find("!=");
    size_t len = 2;
    r.equals = false;
    if (op == std::string_view::npos) {
      r.equals = true;
      op = term.find("==");
      if (op == std::string_view::npos) {
        op = term.find('=');
        len = 1;
      }
    }
    if (op == std::string_view::npos) {
      return InvalidArgument("invalid field selector: \"" + std::string(term) +
                             "\": expected FIELD=VALUE");
    }
    r.field = std::string(term.substr(0, op));
    r.value = std::string(term.substr(op + len));
    if (std::find(supported.begin(), supported.end(), r.field) == supported.end()) {
      return InvalidArgument("field label not supported: " + r.field);
    }
    sel.reqs_.push_back(std::move(r));
  }
  return sel;
}

bool FieldSelector::Matches(const json& object) const {
  return MatchesBy([&](const std::string& field) { return FieldValue(object, field); });
}

std::string FieldValue(const json& object, const std::string& path) {
  const json* cur = &object;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return "";
    auto it = cur->find(part);
    if (it == cur->end()) return "";
    cur = &*it;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_boolean()) return cur->get<bool>() ? "true" : "false";
  if (cur->is_number()) return cur->dump();
  return "";
}

}  // namespace portflow::fake
