// AWS credentials, found as the AWS CLI finds them: a profile named in the
// target reads the shared files only; otherwise AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, then the shared files' AWS_PROFILE (or default).
#pragma once

#include <string>

#include "core/status.h"

namespace portflow::aws {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // temporary credentials only
  // Where they came from, for messages (never the secret): "the
  // environment" or "FILE, profile NAME".
  std::string source;
};

// Where the AWS CLI looks, from the process environment unless a test says
// otherwise.
struct CredentialsEnv {
  std::string access_key_id, secret_access_key, session_token;  // AWS_*
  std::string profile;                                          // AWS_PROFILE
  std::string credentials_file;  // AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials
  std::string config_file;       // AWS_CONFIG_FILE, else ~/.aws/config

  static CredentialsEnv FromProcess();
};

// The credentials of `profile` ("" for the usual chain). NotFound naming the
// places looked in when there are none; InvalidArgument naming FILE:LINE for
// a profile with a key but no secret.
Result<Credentials> ResolveCredentials(const std::string& profile, const CredentialsEnv& env);

}  // namespace portflow::aws
