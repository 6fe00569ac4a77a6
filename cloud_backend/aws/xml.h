// The little XML that S3 speaks: flat elements of text, read by tag name,
// written with the five entities escaped. Not a general XML parser: no
// CDATA, comments or namespaces prefixes; an element's attributes are
// skipped.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/encoding.h"

namespace portflow::aws {

// & < > " ' as entities (core/encoding.h).
using ::portflow::XmlEscape;
// The five entities and &#N; / &#xN; back to their characters.
std::string XmlUnescape(std::string_view text);
// What is between each <tag ...> and its </tag>, in order, as written
// (unescape the text of a leaf); <tag/> gives "". Elements of the same name
// nested in each other are not supported.
std::vector<std::string> XmlElements(std::string_view xml, std::string_view tag);
// The first of XmlElements, unescaped; "" when there is none.
std::string XmlText(std::string_view xml, std::string_view tag);

}  // namespace portflow::aws
