// portflow outputs: where a run's outputs are, and copies of them in a
// local folder from wherever they live (the run directory, the rehearsal's
// volume folder, or a cluster's volume through a short-lived reader pod).
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "cloud_backend/artifacts/run_artifacts.h"
#include "cloud_backend/aws/credentials.h"
#include "core/process/spawn.h"

namespace portflow::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Unpacks the tar archive `tar` into `to` with the system's tar.
Status Untar(const std::string& tar, const std::string& to) {
  std::string file = to + "/.portflow-outputs.tar";
  std::ofstream(file, std::ios::binary) << tar;
  const char* path = std::getenv("PATH");
  auto exe = FindExecutable("tar", path ? path : "/usr/bin:/bin", to);
  if (!exe.ok()) return exe.status();
  auto pid = SpawnProcess({*exe, {"-xf", file, "-C", to}, {"PATH=/usr/bin:/bin"}, to, 2});
  if (!pid.ok()) return pid.status();
  int status = 0;
  ::waitpid(*pid, &status, 0);
  fs::remove(file);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Internal("tar could not unpack the outputs into " + to);
  return OkStatus();
}

// A run whose outputs live in an object store (a hybrid target's
// artifacts): its where is s3://BUCKET/PREFIX/RUN.
bool InStore(const json& where) { return where.value("where", "").rfind("s3://", 0) == 0; }

// Each of `outputs` from the store into `to`/REL. A hybrid target's store
// is read with the endpoint and credentials it names (artifactsEndpoint,
// profile), without making its members; a built-in target's
// (hybrid-rehearsal) is the one its backend makes, which then serves it.
Status FetchFromStore(const RunRecord& run, const std::string& location,
                      const std::vector<OutputPlace>& outputs, const std::string& to) {
  ASSIGN_OR_RETURN(Target target, FindTarget(run.workload_dir, run.target));
  std::string base = location.substr(0, location.size() - run.id.size() - 1);  // less "/RUN"
  ASSIGN_OR_RETURN(artifacts::StoreUri uri, artifacts::ParseStoreUri(base));
  std::string endpoint = target.settings["artifactsEndpoint"], region = "us-east-1";
  aws::Credentials credentials;
  std::unique_ptr<Backend> backend;  // kept while fetching
  if (target.backend == "hybrid") {
    ASSIGN_OR_RETURN(credentials, aws::ResolveCredentials(target.settings["profile"],
                                                          aws::CredentialsEnv::FromProcess()));
  } else {
    ASSIGN_OR_RETURN(backend, BackendFor(run.workload_dir, run.target));
    ASSIGN_OR_RETURN(std::optional<ObjectStoreRef> store, backend->OutputsStore());
    if (!store)
      return FailedPrecondition("target " + run.target + " keeps no object store for outputs");
    endpoint = store->endpoint;
    region = store->region;
    credentials = {store->credentials["AWS_ACCESS_KEY_ID"],
                   store->credentials["AWS_SECRET_ACCESS_KEY"],
                   store->credentials["AWS_SESSION_TOKEN"], "target " + run.target};
  }
  aws::Client client(endpoint, region, credentials);  // no endpoint: AWS's own
  aws::S3 s3(client);
  artifacts::RunArtifacts store(s3, uri, run.id);
  for (const OutputPlace& o : outputs) {
    auto fetched = store.Download(o.rel, to + "/" + o.rel);
    if (!fetched.ok())
      return Status(fetched.status().code(),
                    o.instance + " " + o.name + ": " + fetched.status().message());
  }
  return OkStatus();
}

}  // namespace

Result<std::vector<OutputPlace>> OutputsOf(const RunRecord& run, const Plan& plan,
                                           const std::string& step) {
  json where = json::parse(run.outputs.empty() ? "{}" : run.outputs, nullptr, false);
  if (!where.is_object() || !where.contains("root")) {
    return FailedPrecondition("run " + run.id +
                              " was made by a portflow that did not note where outputs go");
  }
  std::string root = where.value("root", ""), dir = where.value("dir", "");
  std::string location = where.value("where", "");
  std::string volume = location.size() > root.size() ? location.substr(root.size()) : "";
  if (!step.empty() && !plan.workload().FindStep(step)) {
    std::string steps;
    for (const Step& s : plan.workload().steps) steps += (steps.empty() ? "" : ", ") + s.name;
    return NotFound("run " + run.id + " has no step \"" + step + "\" (steps: " + steps + ")");
  }
  std::vector<OutputPlace> out;
  TaskContext ctx{run.id, run.run_dir, root};
  for (size_t i = 0; i < plan.instances().size(); ++i) {
    if (!step.empty() && plan.StepOf(plan.instances()[i]).name != step) continue;
    ASSIGN_OR_RETURN(TaskSpec spec, plan.MakeTask(i, 1, ctx));
    for (const auto& o : spec.outputs) {
      std::string rel = o.path.substr(std::min(o.path.size(), root.size() + 1));
      out.push_back({spec.instance, spec.step, o.name, o.path, rel,
                     InStore(where) ? location + "/" + rel
                     : dir.empty()  ? o.path + volume  // " on the ... volume"
                                    : dir + "/" + rel});
    }
  }
  return out;
}

int Outputs(const GlobalOptions& g, const std::string& run_id, const std::string& step,
            const std::string& to) {
  auto store = OpenStoreOf(g.state_dir, run_id);
  if (!store.ok()) return Fail(store.status(), kExitUsage);
  auto run = (*store)->GetRun(run_id);
  if (!run.ok()) return Fail(run.status(), kExitUsage);
  std::optional<Plan> plan = LoadRunPlan(*run);
  if (!plan) return Fail(FailedPrecondition("the workload of run " + run_id + " cannot be loaded"));
  auto outputs = OutputsOf(*run, *plan, step);
  if (!outputs.ok()) return Fail(outputs.status(), kExitUsage);
  if (to.empty()) {
    for (const OutputPlace& o : *outputs)
      std::cout << o.instance << "\t" << o.name << "\t" << o.location << "\n";
    return kExitOk;
  }
  json where = json::parse(run->outputs, nullptr, false);
  std::string dir = where.value("dir", "");
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return Fail(Internal("cannot create " + to + ": " + ec.message()));
  std::string rel = step;  // the artifact root's folder of that step, or all of it
  fs::path target = (fs::absolute(to) / rel).lexically_normal();
  if (InStore(where)) {
    std::cerr << "portflow: fetching the outputs from " << where.value("where", "") << "...\n";
    Status fetched = FetchFromStore(*run, where.value("where", ""), *outputs, fs::absolute(to));
    if (!fetched.ok()) return Fail(fetched);
  } else if (!dir.empty()) {
    fs::path from = fs::path(dir) / rel;
    if (!fs::exists(from, ec)) {
      return Fail(NotFound("no outputs of run " + run_id + " at " + from.string() +
                           " (the run made none yet, or they were removed)"));
    }
    fs::create_directories(target, ec);
    fs::copy(from, target, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
    if (ec) return Fail(Internal("cannot copy " + from.string() + ": " + ec.message()));
  } else {
    auto backend = BackendFor(run->workload_dir, run->target);
    if (!backend.ok()) return Fail(backend.status());
    std::cerr << "portflow: reading the outputs from the cluster's volume...\n";
    auto tar = (*backend)->OutputsArchive(run_id, rel, plan->workload().image.value_or(""));
    if (!tar.ok()) return Fail(tar.status());
    fs::create_directories(target, ec);
    if (Status s = Untar(*tar, target.string()); !s.ok()) return Fail(s);
  }
  std::cerr << "portflow: copied the outputs of " << run_id << (step.empty() ? "" : " " + step)
            << " into " << target.string() << "\n";
  return kExitOk;
}

}  // namespace portflow::cli
