// Semantic checks of a parsed workload: names, needs, cycles, references.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <set>

#include "core/spec_loader.h"
#include "core/template.h"

namespace portflow {
namespace {

// Where the character at `offset` of `t` is in the file: exact on one line
// and in literal blocks; the value's start in other multi-line scalars
// (folded, their lines do not map to the file's).
SourcePos At(const Templated& t, size_t offset) {
  SourcePos p = t.pos;
  if (p.line == 0) return p;
  if (t.literal_block) {
    size_t start = t.text.rfind('\n', offset == 0 ? 0 : offset - 1);
    if (offset == 0 || start == std::string::npos) start = std::string::npos;
    p.line += static_cast<int>(std::count(t.text.begin(), t.text.begin() + offset, '\n'));
    p.column += static_cast<int>(start == std::string::npos ? offset : offset - start - 1);
  } else if (t.text.find('\n') == std::string::npos) {
    p.column += static_cast<int>(offset);
  }
  return p;
}

std::vector<std::string> Keys(const auto& pairs) {
  std::vector<std::string> out;
  for (const auto& p : pairs) out.push_back(p.first);
  return out;
}

std::string Hint(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best = ClosestMatch(word, candidates);
  return best.empty() ? "" : "; did you mean \"" + best + "\"?";
}

class RefChecker {
 public:
  using NeedsFn = std::function<bool(const std::string& from, const std::string& target)>;
  RefChecker(const Workload& w, Diagnostics& diags, NeedsFn needs)
      : w_(w), diags_(diags), needs_(std::move(needs)) {}

  // `step` is null for workload-level strings.
  void Check(const Templated& t, const Step* step) {
    auto refs = FindTemplateRefs(t.text);
    if (!refs.ok()) {
      diags_.Add(t.pos, refs.status().message());
      return;
    }
    // A reference used twice in one value is checked (and reported) at its
    // first use, as a compiler reports an undeclared name once.
    std::set<std::string> seen;
    for (const TemplateRef& ref : *refs) {
      if (seen.insert(JoinRef(ref)).second) CheckRef(t, ref, step);
    }
  }

 private:
  void CheckRef(const Templated& t, const TemplateRef& ref, const Step* step) {
    const auto& p = ref.path;
    SourcePos pos = At(t, ref.offset);
    std::string shown = "{{" + JoinRef(ref) + "}}";
    auto fail = [&](const std::string& why) {
      diags_.Add(pos, "unresolved reference " + shown + ": " + why);
    };
    const std::string& ns = p[0];
    if (ns == "run") {
      if (p.size() != 2 || p[1] != "id") fail("the run namespace has only run.id");
      return;
    }
    if (ns == "params") {
      if (p.size() != 2) return fail("expected params.NAME");
      std::vector<std::string> names = Keys(w_.params);
      if (std::find(names.begin(), names.end(), p[1]) == names.end()) {
        fail("no param \"" + p[1] + "\" in spec.params" + Hint(p[1], names));
      }
      return;
    }
    if (!step) return fail("only params.* and run.id can be used outside a step");
    if (ns == "matrix") {
      if (p.size() != 2) return fail("expected matrix.NAME");
      std::vector<std::string> names = Keys(step->matrix);
      if (std::find(names.begin(), names.end(), p[1]) == names.end()) {
        fail("step \"" + step->name + "\" has no matrix key \"" + p[1] + "\"" + Hint(p[1], names));
      }
      return;
    }
    if (ns == "outputs") {
      if (p.size() != 2) return fail("expected outputs.NAME");
      if (std::find(step->outputs.begin(), step->outputs.end(), p[1]) == step->outputs.end()) {
        fail("step \"" + step->name + "\" declares no output \"" + p[1] + "\"" +
             Hint(p[1], step->outputs));
      }
      return;
    }
    if (ns == "steps") {
      if (p.size() != 4 || p[2] != "outputs") return fail("expected steps.STEP.outputs.NAME");
      const Step* other = w_.FindStep(p[1]);
      if (!other) {
        std::vector<std::string> names;
        for (const Step& s : w_.steps) names.push_back(s.name);
        return fail("no step \"" + p[1] + "\"" + Hint(p[1], names));
      }
      if (p[1] == step->name) {
        return fail("a step names its own outputs as {{outputs." + p[3] + "}}");
      }
      if (!needs_(step->name, p[1])) {
        return fail("step \"" + step->name + "\" does not need \"" + p[1] +
                    "\" (add it to needs so its outputs exist first)");
      }
      if (std::find(other->outputs.begin(), other->outputs.end(), p[3]) == other->outputs.end()) {
        fail("step \"" + p[1] + "\" declares no output \"" + p[3] + "\"" +
             Hint(p[3], other->outputs));
      }
      return;
    }
    fail("unknown namespace \"" + ns + "\" (use params, matrix, outputs, steps or run)");
  }

  const Workload& w_;
  Diagnostics& diags_;
  NeedsFn needs_;
};

}  // namespace

void ValidateWorkload(const Workload& w, Diagnostics& diags) {
  if (w.steps.size() > kMaxSteps) {
    diags.Add({}, "the workload has " + std::to_string(w.steps.size()) + " steps; at most " +
                      std::to_string(kMaxSteps) + " are allowed");
    return;
  }
  size_t instances = 0;
  for (const Step& s : w.steps) {
    size_t n = 1;
    for (const auto& [k, values] : s.matrix) n *= std::max<size_t>(values.size(), 1);
    instances += n;
  }
  if (instances > kMaxInstances) {
    diags.Add({}, "the workload fans out to " + std::to_string(instances) + " instances; at most " +
                      std::to_string(kMaxInstances) + " are allowed");
    return;
  }
  std::map<std::string, const Step*> by_name;
  std::vector<std::string> names;
  for (const Step& s : w.steps) {
    if (s.name.empty()) continue;  // already reported by the loader
    if (!by_name.emplace(s.name, &s).second) {
      diags.Add(s.pos, "duplicate step name \"" + s.name + "\"");
    }
    names.push_back(s.name);
  }
  for (const Step& s : w.steps) {
    if (s.name.empty()) continue;
    std::set<std::string> seen;
    for (size_t i = 0; i < s.needs.size(); ++i) {
      const std::string& need = s.needs[i];
      if (need == s.name) {
        diags.Add(s.needs_pos[i], "step \"" + s.name + "\" needs itself");
      } else if (!by_name.count(need)) {
        diags.Add(s.needs_pos[i], "step \"" + s.name + "\" needs unknown step \"" + need + "\"" +
                                      Hint(need, names));
      } else if (!seen.insert(need).second) {
        diags.Add(s.needs_pos[i], "step \"" + s.name + "\" lists \"" + need + "\" twice in needs");
      }
    }
  }

  // Cycles: depth-first search, reporting each cycle once with its path.
  std::map<std::string, int> color;  // 0 new, 1 on stack, 2 done
  std::vector<std::string> stack;
  std::function<void(const Step&)> visit = [&](const Step& s) {
    color[s.name] = 1;
    stack.push_back(s.name);
    for (size_t i = 0; i < s.needs.size(); ++i) {
      auto it = by_name.find(s.needs[i]);
      if (it == by_name.end() || s.needs[i] == s.name) continue;
      int c = color[s.needs[i]];
      if (c == 1) {
        auto from = std::find(stack.begin(), stack.end(), s.needs[i]);
        std::string cycle;
        for (auto k = from; k != stack.end(); ++k) cycle += *k + " -> ";
        diags.Add(s.needs_pos[i], "dependency cycle: " + cycle + s.needs[i]);
      } else if (c == 0) {
        visit(*it->second);
      }
    }
    stack.pop_back();
    color[s.name] = 2;
  };
  for (const Step& s : w.steps) {
    if (color[s.name] == 0) visit(s);
  }

  // Transitive needs as one bitset per step, built in topological order:
  // N*N bits (3 MB at the 5000-step limit), linear work per reference.
  size_t n = w.steps.size(), words = (n + 63) / 64;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < n; ++i) {
    if (!w.steps[i].name.empty()) index.emplace(w.steps[i].name, i);
  }
  std::vector<std::vector<uint64_t>> ancestors(n, std::vector<uint64_t>(words, 0));
  std::vector<int> indegree(n, 0);
  std::vector<std::vector<size_t>> dependents(n);
  for (size_t i = 0; i < n; ++i) {
    for (const std::string& need : w.steps[i].needs) {
      auto it = index.find(need);
      if (it == index.end() || it->second == i) continue;
      dependents[it->second].push_back(i);
      ++indegree[i];
    }
  }
  std::vector<size_t> ready;
  std::vector<bool> ordered(n, false);
  for (size_t i = 0; i < n; ++i) {
    if (indegree[i] == 0) ready.push_back(i);
  }
  while (!ready.empty()) {  // steps on or after a cycle are never ready: already reported
    size_t u = ready.back();
    ready.pop_back();
    ordered[u] = true;
    for (size_t d : dependents[u]) {
      for (size_t k = 0; k < words; ++k) ancestors[d][k] |= ancestors[u][k];
      ancestors[d][u / 64] |= uint64_t{1} << (u % 64);
      if (--indegree[d] == 0) ready.push_back(d);
    }
  }
  auto needs_transitively = [&](const std::string& from, const std::string& target) {
    auto f = index.find(from), t = index.find(target);
    if (f == index.end() || t == index.end()) return false;
    if (!ordered[f->second]) return true;  // behind a cycle: say nothing more
    return (ancestors[f->second][t->second / 64] >> (t->second % 64) & 1) != 0;
  };

  RefChecker refs(w, diags, needs_transitively);
  // A command line, an environment and a path end at a NUL: "a\0b" would
  // run as "a".
  auto no_nul = [&](const Templated& t, const std::string& what) {
    if (t.text.find('\0') != std::string::npos) {
      diags.Add(t.pos, what +
                           " holds a NUL byte (\\0), which a command line, environment or "
                           "path cannot carry");
    }
  };
  for (const auto& [k, v] : w.env) {
    refs.Check(v, nullptr);
    no_nul(v, "env " + k);
  }
  for (const Step& s : w.steps) {
    if (s.name.empty()) continue;
    for (const Templated& arg : s.command) {
      refs.Check(arg, &s);
      no_nul(arg, "a command argument");
    }
    if (s.script) {
      refs.Check(*s.script, &s);
      no_nul(*s.script, "the script");
    }
    for (const auto& [k, v] : s.env) {
      refs.Check(v, &s);
      no_nul(v, "env " + k);
    }
    if (s.workdir) {
      refs.Check(*s.workdir, &s);
      no_nul(*s.workdir, "workdir");
    }
  }
}

}  // namespace portflow
