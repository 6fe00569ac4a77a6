#include "core/image_ref.h"

#include <cctype>

namespace portflow {
namespace {

bool LowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool Alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool Digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// A path component: lowercase letters and digits, with single separators
// "." or "_", a double "__", or any run of "-" between them.
bool PathComponent(std::string_view s) {
  if (s.empty() || !LowerAlnum(s.front()) || !LowerAlnum(s.back())) return false;
  for (size_t i = 0; i < s.size();) {
    if (LowerAlnum(s[i])) {
      ++i;
      continue;
    }
    size_t run = i;
    while (run < s.size() && !LowerAlnum(s[run])) ++run;
    std::string_view sep = s.substr(i, run - i);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = run;
  }
  return true;
}

// host[:port]: labels of letters, digits and inner '-', joined by '.';
// or a bracketed IPv6 address.
bool Domain(std::string_view s) {
  size_t colon = s.front() == '[' ? s.find(':', s.find(']')) : s.find(':');
  std::string_view host = s.substr(0, colon);
  if (colon != std::string_view::npos && !Digits(s.substr(colon + 1))) return false;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    for (char c : host.substr(1, host.size() - 2)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':') return false;
    }
    return true;
  }
  size_t start = 0;
  while (true) {
    size_t dot = host.find('.', start);
    std::string_view label = host.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || !Alnum(label.front()) || !Alnum(label.back())) return false;
    for (char c : label) {
      if (!Alnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool Tag(std::string_view s) {
  if (s.empty() || s.size() > 128 || !(Alnum(s.front()) || s.front() == '_')) return false;
  for (char c : s) {
    if (!Alnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

// algorithm:hex for the algorithms runtimes know, with exactly as many
// lowercase hex digits as the algorithm gives.
bool Digest(std::string_view s) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view algorithm = s.substr(0, colon), hex = s.substr(colon + 1);
  size_t want = algorithm == "sha256"   ? 64
                : algorithm == "sha384" ? 96
                : algorithm == "sha512" ? 128
                                        : 0;
  if (want == 0 || hex.size() != want) return false;
  for (char c : hex) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

}  // namespace

bool IsImageReference(std::string_view ref) {
  if (ref.empty() || ref.size() > 4096) return false;
  if (size_t at = ref.find('@'); at != std::string_view::npos) {
    if (!Digest(ref.substr(at + 1))) return false;
    ref = ref.substr(0, at);
  }
  size_t slash = ref.rfind('/');
  size_t colon = ref.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    if (!Tag(ref.substr(colon + 1))) return false;
    ref = ref.substr(0, colon);
  }
  if (ref.size() > 255) return false;  // the name, registry included
  // The first component is a registry when more follow and it looks like a
  // host: it has a '.' or a ':', or is localhost, or has capitals.
  size_t first = ref.find('/');
  if (first != std::string_view::npos) {
    std::string_view head = ref.substr(0, first);
    bool host = head.find_first_of(".:") != std::string_view::npos || head == "localhost" ||
                head.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string_view::npos;
    if (host) {
      if (head.empty() || !Domain(head)) return false;
      ref = ref.substr(first + 1);
    }
  }
  size_t start = 0;
  while (true) {
    size_t next = ref.find('/', start);
    if (!PathComponent(ref.substr(start, next == std::string_view::npos ? next : next - start)))
      return false;
    if (next == std::string_view::npos) return true;
    start = next + 1;
  }
}

}  // namespace portflow
