#include "core/template.h"

#include <cctype>

namespace portflow {
namespace {

bool IsRefChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

// Parses "{{ a.b.c }}" starting at `open`; returns the end (past "}}").
Result<size_t> ParseOne(std::string_view text, size_t open, TemplateRef& ref) {
  size_t close = text.find("}}", open + 2);
  if (close == std::string_view::npos) {
    return InvalidArgument("unterminated \"{{\" at offset " + std::to_string(open));
  }
  std::string_view inner = text.substr(open + 2, close - open - 2);
  while (!inner.empty() && inner.front() == ' ') inner.remove_prefix(1);
  while (!inner.empty() && inner.back() == ' ') inner.remove_suffix(1);
  ref.offset = open;
  ref.path.clear();
  std::string part;
  for (char c : inner) {
    if (c == '.') {
      if (part.empty()) break;
      ref.path.push_back(part);
      part.clear();
    } else if (IsRefChar(c)) {
      part += c;
    } else {
      return InvalidArgument("malformed reference \"{{" + std::string(inner) + "}}\"");
    }
  }
  if (part.empty()) {
    return InvalidArgument("malformed reference \"{{" + std::string(inner) + "}}\"");
  }
  ref.path.push_back(part);
  return close + 2;
}

}  // namespace

Result<std::vector<TemplateRef>> FindTemplateRefs(std::string_view text) {
  std::vector<TemplateRef> refs;
  size_t pos = 0;
  while ((pos = text.find("{{", pos)) != std::string_view::npos) {
    TemplateRef ref;
    ASSIGN_OR_RETURN(pos, ParseOne(text, pos, ref));
    refs.push_back(std::move(ref));
  }
  return refs;
}

Result<std::string> ExpandTemplate(
    std::string_view text, const std::function<Result<std::string>(const TemplateRef&)>& lookup) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) break;
    out.append(text.substr(pos, open - pos));
    TemplateRef ref;
    ASSIGN_OR_RETURN(pos, ParseOne(text, open, ref));
    ASSIGN_OR_RETURN(std::string value, lookup(ref));
    out += value;
  }
  out.append(text.substr(pos));
  return out;
}

std::string JoinRef(const TemplateRef& ref) {
  std::string out;
  for (const std::string& p : ref.path) out += (out.empty() ? "" : ".") + p;
  return out;
}

}  // namespace portflow
