#include "k8s_backend/outputs_reader.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "core/json_fields.h"
#include "core/json_parse.h"
#include "k8s_backend/render.h"

namespace portflow::k8s {

using nlohmann::json;

Result<std::string> ReadOutputsArchive(ApiClient& client, const NamespacePaths& paths,
                                       const std::string& claim, const std::string& image,
                                       const std::string& dir, Clock& clock) {
  std::string name = "portflow-outputs-" + std::to_string(::getpid()) + "-" +
                     std::to_string(ToUnixMillis(clock.Now()) % 1000000);
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", name}, {"labels", {{"app.kubernetes.io/managed-by", "portflow"}}}}},
      {"spec",
       {{"restartPolicy", "Never"},
        {"containers",
         {{{"name", "reader"},
           {"image", image},
           {"command", {"sh", "-c", "cd \"$0\" && tar cf - . | base64", dir}},
           {"volumeMounts",
            {{{"name", "artifacts"}, {"mountPath", kArtifactMount}, {"readOnly", true}}}}}}},
        {"volumes",
         {{{"name", "artifacts"}, {"persistentVolumeClaim", {{"claimName", claim}}}}}}}}};
  auto created = client.Call({"POST", paths.Pods(), pod.dump()});
  if (!created.ok()) return created.status();
  RETURN_IF_ERROR(ApiError(*created));
  std::string path = paths.Pods() + "/" + name;
  std::string phase;
  for (TimePoint until = clock.Now() + std::chrono::minutes(5);
       phase != "Succeeded" && phase != "Failed";) {
    if (clock.Now() > until) {
      phase = "a timeout";
      break;
    }
    SleepFor(clock, std::chrono::milliseconds(200));
    auto got = client.Call({"GET", path, ""});
    if (got.ok() && got->status == 200) phase = Str(Sub(ParseJson(got->body), "status"), "phase");
  }
  auto log = client.Call({"GET", path + "/log", ""});
  (void)client.Call({"DELETE", path + "?gracePeriodSeconds=0", ""});
  if (!log.ok()) return log.status();
  if (phase != "Succeeded") {
    return Unavailable("the pod that reads " + dir + " from volume " + claim + " ended with " +
                       phase + ": " + log->body.substr(0, 500));
  }
  std::optional<std::string> tar = Base64Decode(log->body);
  if (!tar) return Internal("the pod that read " + dir + " printed no base64 archive");
  return *tar;
}

}  // namespace portflow::k8s
