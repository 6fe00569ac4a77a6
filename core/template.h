// {{...}} references inside workload strings. The grammar is small on
// purpose: {{params.NAME}}, {{matrix.NAME}}, {{outputs.NAME}},
// {{steps.STEP.outputs.NAME}}, {{run.id}}; spaces inside the braces are
// allowed. There is no escaping: a literal "{{" cannot appear.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace portflow {

struct TemplateRef {
  std::vector<std::string> path;  // "steps.a.outputs.x" -> {steps, a, outputs, x}
  size_t offset = 0;              // of "{{" in the text
};

// All references in `text`; InvalidArgument (with the offset in the message)
// for an unterminated "{{" or an empty or malformed reference.
Result<std::vector<TemplateRef>> FindTemplateRefs(std::string_view text);

// Replaces every reference by lookup(ref); the first lookup error wins.
Result<std::string> ExpandTemplate(
    std::string_view text, const std::function<Result<std::string>(const TemplateRef&)>& lookup);

std::string JoinRef(const TemplateRef& ref);

}  // namespace portflow
