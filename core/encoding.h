// Byte encodings for text protocols: lower-case hex (digests, signatures,
// continue tokens), RFC 3986 percent-encoding (URL paths and queries) and
// markup's five entities (XML, HTML).
// Base64 is in base64.h.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace portflow {

// Two lower-case hex digits a byte.
std::string HexEncode(std::string_view bytes);
// nullopt for an odd length or a digit that is not 0-9 or a-f.
std::optional<std::string> HexDecode(std::string_view hex);

// All but letters, digits and -_.~ as %XX (upper-case, as SigV4 wants it);
// '/' kept as it is when `keep_slash` (a path, or a Kubernetes query value).
std::string PercentEncode(std::string_view s, bool keep_slash);
// %XX back to its byte (a malformed escape stays as it is); '+' to a space
// when `plus_is_space` (a form-encoded query).
std::string PercentDecode(std::string_view s, bool plus_is_space);
// "a=1&b&c=%20" -> {a: "1", b: "", c: " "}, '+' read as a space; the last
// of a repeated key wins.
std::map<std::string, std::string> ParseQuery(std::string_view query);

// & < > " ' as entities: text safe in XML and HTML, attributes included.
std::string XmlEscape(std::string_view text);

}  // namespace portflow
