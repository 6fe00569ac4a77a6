#include "k8s_backend/fake_cluster/store/json.h"

#include <array>
#include <charconv>
#include <cstring>
#include <string_view>

namespace portflow::fake {
namespace {

// The bytes a JSON string holds as they are: printable ASCII but for the
// quote and the backslash. (Past ASCII, dump() checks the UTF-8.)
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> plain{};
  for (int b = 0x20; b < 0x80; ++b) plain[b] = b != '"' && b != '\\';
  return plain;
}();

// Appends to a string grown ahead and cut to size at the end: what
// std::string::push_back costs each byte (a call, out of line) is most of
// a serialiser's time.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out), n_(out.size()) { out_.resize(n_ + 2048); }
  ~Writer() { out_.resize(n_); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void Put(char c) {
    if (n_ == out_.size()) Grow(1);
    out_.data()[n_++] = c;
  }
  void Put(std::string_view s) {
    if (out_.size() - n_ < s.size()) Grow(s.size());
    std::memcpy(out_.data() + n_, s.data(), s.size());
    n_ += s.size();
  }
  size_t size() const { return n_; }
  void Cut(size_t n) { n_ = n; }

 private:
  void Grow(size_t more) { out_.resize(std::max(out_.size() * 2, n_ + more)); }

  std::string& out_;
  size_t n_;
};

// `s` quoted and escaped as dump() does; false, with nothing written, for a
// string with a byte past ASCII (the caller has dump() write it).
bool PutString(std::string_view s, Writer& out) {
  size_t start = out.size();
  out.Put('"');
  size_t i = 0;
  while (true) {
    size_t run = i;
    while (i < s.size() && kPlain[static_cast<unsigned char>(s[i])]) ++i;
    out.Put(s.substr(run, i - run));
    if (i == s.size()) break;
    unsigned char c = static_cast<unsigned char>(s[i++]);
    switch (c) {
      case '"':
        out.Put("\\\"");
        break;
      case '\\':
        out.Put("\\\\");
        break;
      case '\b':
        out.Put("\\b");
        break;
      case '\f':
        out.Put("\\f");
        break;
      case '\n':
        out.Put("\\n");
        break;
      case '\r':
        out.Put("\\r");
        break;
      case '\t':
        out.Put("\\t");
        break;
      default: {
        if (c >= 0x80) {
          out.Cut(start);
          return false;
        }
        static constexpr char kHex[] = "0123456789abcdef";
        const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out.Put(std::string_view(escaped, sizeof escaped));
      }
    }
  }
  out.Put('"');
  return true;
}

template <class Number>
void PutNumber(Number n, Writer& out) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.Put(std::string_view(digits, static_cast<size_t>(end - digits)));
}

void Put(const json& v, Writer& out) {
  switch (v.type()) {
    case json::value_t::object: {
      out.Put('{');
      bool first = true;
      for (const auto& [key, member] : v.get_ref<const json::object_t&>()) {
        if (!first) out.Put(',');
        first = false;
        if (!PutString(key, out)) out.Put(json(key).dump());
        out.Put(':');
        Put(member, out);
      }
      out.Put('}');
      return;
    }
    case json::value_t::array: {
      out.Put('[');
      bool first = true;
      for (const json& element : v.get_ref<const json::array_t&>()) {
        if (!first) out.Put(',');
        first = false;
        Put(element, out);
      }
      out.Put(']');
      return;
    }
    case json::value_t::string:
      if (!PutString(v.get_ref<const std::string&>(), out)) out.Put(v.dump());
      return;
    case json::value_t::boolean:
      out.Put(v.get<bool>() ? "true" : "false");
      return;
    case json::value_t::null:
      out.Put("null");
      return;
    case json::value_t::number_integer:
      return PutNumber(v.get<int64_t>(), out);
    case json::value_t::number_unsigned:
      return PutNumber(v.get<uint64_t>(), out);
    default:  // a float (dump()'s own shortest form), binary, discarded
      out.Put(v.dump());
  }
}

}  // namespace

std::string Serialize(const json& v) {
  std::string out;
  {
    Writer writer(out);
    Put(v, writer);
  }
  return out;
}

}  // namespace portflow::fake
