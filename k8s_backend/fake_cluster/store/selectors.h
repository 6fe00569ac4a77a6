// Kubernetes label and field selectors, as the API server parses them
// (k8s.io/apimachinery/pkg/labels and pkg/fields).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "k8s_backend/fake_cluster/store/json.h"

namespace portflow::fake {

// "app=web,tier!=db,env in (a,b),!legacy,release"
class LabelSelector {
 public:
  // InvalidArgument with the API server's kind of message on bad syntax.
  static Result<LabelSelector> Parse(std::string_view text);
  // Whether `object`'s metadata.labels (none when absent) satisfy it; only
  // the labels it names are read.
  bool Matches(const json& object) const;
  bool empty() const { return reqs_.empty(); }

 private:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  std::vector<Requirement> reqs_;
};

// "metadata.name=x,status.phase!=Running"; only the fields in `supported`
// may be used (others are a 400 on the real server).
class FieldSelector {
 public:
  static Result<FieldSelector> Parse(std::string_view text,
                                     const std::vector<std::string>& supported);
  // Whether `object`'s values (FieldValue) at the fields it names satisfy it.
  bool Matches(const json& object) const;
  // The same, with value_of(field) as each field's value (an object held
  // in another form than JSON).
  template <class ValueOf>
  bool MatchesBy(const ValueOf& value_of) const {
    for (const Requirement& r : reqs_) {
      if ((value_of(r.field) == r.value) != r.equals) return false;
    }
    return true;
  }
  bool empty() const { return reqs_.empty(); }

 private:
  struct Requirement {
    std::string field;
    bool equals;
    std::string value;
  };
  std::vector<Requirement> reqs_;
};

// The value at a dotted path ("spec.nodeName") as the API server's field
// selectors see it: strings as they are, other scalars printed, else "".
std::string FieldValue(const json& object, const std::string& path);

}  // namespace portflow::fake
