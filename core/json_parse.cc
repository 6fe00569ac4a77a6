#include "core/json_parse.h"

#include <locale.h>
#include <stdlib.h>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/src.hpp>  // Boost.JSON's compiled part, here only
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace portflow {
namespace {

using nlohmann::json;
using error_code = boost::system::error_code;
using boost::json::string_view;

// Boost.JSON's parser calls these as it reads; each builds the tree in place.
class TreeBuilder {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  json& root() { return root_; }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) { return Open(json::value_t::object); }
  bool on_object_end(std::size_t, error_code&) { return Close(); }
  bool on_array_begin(error_code&) { return Open(json::value_t::array); }
  bool on_array_end(std::size_t, error_code&) { return Close(); }
  // Keys, strings and numbers can come in parts (escapes, a buffer's end).
  bool on_key_part(string_view s, std::size_t, error_code&) { return Append(key_, s); }
  bool on_key(string_view s, std::size_t, error_code&) { return Append(key_, s); }
  bool on_string_part(string_view s, std::size_t, error_code&) { return Append(text_, s); }
  bool on_string(string_view s, std::size_t, error_code&) {
    Append(text_, s);
    Slot() = std::move(text_);
    text_.clear();
    return true;
  }
  bool on_number_part(string_view s, error_code&) { return Append(text_, s); }
  bool on_int64(std::int64_t i, string_view s, error_code&) {
    // As nlohmann's parser has it: a number without a minus sign is unsigned.
    bool negative = (text_.empty() ? s.front() : text_.front()) == '-';
    text_.clear();
    if (negative) {
      Slot() = i;
    } else {
      Slot() = static_cast<std::uint64_t>(i);
    }
    return true;
  }
  bool on_uint64(std::uint64_t u, string_view, error_code&) {
    text_.clear();
    Slot() = u;
    return true;
  }
  bool on_double(double, string_view s, error_code& ec) {
    // Read again from its text as nlohmann reads it (strtod, whatever the
    // locale), and refused as nlohmann refuses it when it does not fit.
    static const locale_t kC = newlocale(LC_ALL_MASK, "C", locale_t{});
    Append(text_, s);
    double d = strtod_l(text_.c_str(), nullptr, kC);
    text_.clear();
    if (!std::isfinite(d)) {
      ec = boost::json::error::exponent_overflow;  // (nlohmann's verdict is then asked)
      return false;
    }
    Slot() = d;
    return true;
  }
  bool on_bool(bool b, error_code&) {
    Slot() = b;
    return true;
  }
  bool on_null(error_code&) {
    Slot() = nullptr;
    return true;
  }
  bool on_comment_part(string_view, error_code&) { return true; }  // comments are refused
  bool on_comment(string_view, error_code&) { return true; }

 private:
  static bool Append(std::string& to, string_view s) {
    to.append(s.data(), s.size());
    return true;
  }
  // Where the next value goes: the root, the end of the open array, or the
  // open object's pending key (the last of a repeated key wins). Members
  // are added with the map's end as the hint: the API servers' objects
  // come with sorted keys, each then added in constant time.
  json& Slot() {
    if (open_.empty()) return root_;
    json& top = *open_.back();
    if (top.is_array()) {
      auto& items = top.get_ref<json::array_t&>();
      items.emplace_back();
      return items.back();
    }
    auto& members = top.get_ref<json::object_t&>();
    json& slot = members.try_emplace(members.end(), key_)->second;
    key_.clear();
    return slot;
  }
  bool Open(json::value_t type) {
    json& slot = Slot();
    slot = type;
    open_.push_back(&slot);  // stays put: only the innermost open container grows
    return true;
  }
  bool Close() {
    open_.pop_back();
    return true;
  }

  json root_;
  std::vector<json*> open_;  // the arrays and objects not yet closed, innermost last
  std::string key_;          // the pending key
  std::string text_;         // a string or a number while it comes in parts
};

}  // namespace

nlohmann::json ParseJson(std::string_view text) {
  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  boost::json::basic_parser<TreeBuilder> parser(options);
  error_code ec;
  std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (ec == boost::json::error::too_deep) return json(json::value_t::discarded);
  if (ec || used != text.size()) return json::parse(text, nullptr, false);
  return std::move(parser.handler().root());
}

}  // namespace portflow
