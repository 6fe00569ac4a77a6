// The "hybrid" backend: one target made of others (its members), in order
// of preference, such as an on-prem cluster first and a cloud for what
// would wait too long there. Each attempt is placed when it is ready: on
// the first member that can start it now, else on the first where it can
// ever fit, where it waits. The engine records each placement (the
// attempt's member and the reason), and every later call for the attempt
// (cancel, logs, recovery) goes to that member. With a budget, a priced
// member takes an attempt only while what the run has spent, what its
// running attempts are expected to cost and this one's estimate stay
// within it.
//
// Members are made through the backend registry from their targets'
// settings (BackendSettings in core/targets.h flattens them), so any
// registered backend can be one; a hybrid target is not a member.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/clock.h"
#include "core/status.h"
#include "core/task.h"

namespace portflow {

struct HybridTarget {
  // The members' target names, in order of preference, with their
  // settings ("backend" among them).
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> members;
  // How long an attempt may wait on a member for capacity before it moves.
  Duration burst_after = std::chrono::minutes(5);
  // The most the run may spend on priced members, in US dollars.
  std::optional<double> budget;
  // Where outputs live when the members do not share a folder (s3://...),
  // the store's endpoint ("" for AWS's own) and the AWS profile whose
  // credentials reach it ("" for the usual chain).
  std::string artifacts;
  std::string artifacts_endpoint;
  std::string profile;
  // The image cluster members' pods copy the agent (portflow) from.
  std::string agent_image = kDefaultAgentImage;
  // The store's credentials (AWS_* variables) where they are not the AWS
  // chain's (the hybrid rehearsal's own cloud); empty: the chain's, with
  // `profile`, read when a cluster member's first attempt is sent.
  std::map<std::string, std::string> credentials;
};

// A hybrid target's settings, as BackendSettings gives them. Errors name
// the setting (for TargetProblem's FILE:LINE:COL).
Result<HybridTarget> ParseHybridTarget(const std::map<std::string, std::string>& settings);

// The backend over `members` (name, backend), made already: what the
// registry's factory does after making each member, and what tests use
// with members of their own. InvalidArgument when the members keep
// outputs in different places and `target.artifacts` does not say where
// they meet. With artifacts, a member on this machine (its outputs in a
// folder here) runs each task under this binary's agent; a member on a
// cluster, in pods under the agent from `agent_image`.
// `clock` times the running attempts' expected cost.
Result<std::unique_ptr<Backend>> MakeHybridBackend(
    const HybridTarget& target,
    std::vector<std::pair<std::string, std::unique_ptr<Backend>>> members,
    Clock& clock = RealClock());

// Registers "hybrid" with the backend registry.
void RegisterHybridBackend();

}  // namespace portflow
