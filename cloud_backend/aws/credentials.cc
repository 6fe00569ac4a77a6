#include "cloud_backend/aws/credentials.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>

namespace portflow::aws {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// One section of an INI file: its keys, with the line each is on.
struct Section {
  std::map<std::string, std::pair<std::string, int>> keys;
  int line = 0;
};

// The sections of `path` by name, as the AWS CLI reads them: in the config
// file "[profile NAME]" is profile NAME, "[default]" is default, and other
// sections ("[sso-session x]") are no profile. Keys are lower case; a line
// indented under a key is part of that key's value (nested settings) and
// skipped. Empty when the file cannot be read.
std::map<std::string, Section> ReadIni(const std::string& path, bool config) {
  std::map<std::string, Section> out;
  std::ifstream in(path);
  Section* current = nullptr;
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t[0] == '[') {
      size_t end = t.find(']');
      std::string name = end == std::string::npos ? "" : Trim(t.substr(1, end - 1));
      if (config && name.rfind("profile ", 0) == 0) {
        name = Trim(name.substr(8));
      } else if (config && name != "default") {
        name.clear();
      }
      current = name.empty() ? nullptr : &out[name];
      if (current) current->line = n;
      continue;
    }
    bool indented = line[0] == ' ' || line[0] == '\t';
    if (!current || (indented && !current->keys.empty())) continue;
    size_t sep = t.find_first_of("=:");
    if (sep == std::string::npos) continue;
    std::string key = Trim(t.substr(0, sep));
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    current->keys[key] = {Trim(t.substr(sep + 1)), n};
  }
  return out;
}

}  // namespace

CredentialsEnv CredentialsEnv::FromProcess() {
  CredentialsEnv e;
  e.access_key_id = Env("AWS_ACCESS_KEY_ID");
  e.secret_access_key = Env("AWS_SECRET_ACCESS_KEY");
  e.session_token = Env("AWS_SESSION_TOKEN");
  e.profile = Env("AWS_PROFILE");
  std::string home = Env("HOME");
  e.credentials_file = Env("AWS_SHARED_CREDENTIALS_FILE");
  if (e.credentials_file.empty()) e.credentials_file = home + "/.aws/credentials";
  e.config_file = Env("AWS_CONFIG_FILE");
  if (e.config_file.empty()) e.config_file = home + "/.aws/config";
  return e;
}

Result<Credentials> ResolveCredentials(const std::string& profile, const CredentialsEnv& env) {
  if (profile.empty() && !env.access_key_id.empty() && !env.secret_access_key.empty())
    return Credentials{env.access_key_id, env.secret_access_key, env.session_token,
                       "the environment (AWS_ACCESS_KEY_ID)"};
  std::string name = !profile.empty() ? profile : !env.profile.empty() ? env.profile : "default";
  // The credentials file first, then the config file, as the AWS CLI reads them.
  for (const auto& [path, config] :
       {std::pair{env.credentials_file, false}, std::pair{env.config_file, true}}) {
    auto sections = ReadIni(path, config);
    auto it = sections.find(name);
    if (it == sections.end()) continue;
    const auto& keys = it->second.keys;
    auto key = keys.find("aws_access_key_id");
    if (key == keys.end()) continue;
    auto secret = keys.find("aws_secret_access_key");
    if (secret == keys.end() || secret->second.first.empty()) {
      return InvalidArgument(path + ":" + std::to_string(key->second.second) + ": profile " + name +
                             " has aws_access_key_id but no aws_secret_access_key");
    }
    auto token = keys.find("aws_session_token");
    return Credentials{key->second.first, secret->second.first,
                       token == keys.end() ? "" : token->second.first, path + ", profile " + name};
  }
  return NotFound("no AWS credentials for profile " + name + ": looked in " +
                  (profile.empty() ? "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, " : "") +
                  env.credentials_file + " and " + env.config_file);
}

}  // namespace portflow::aws
