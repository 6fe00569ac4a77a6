// Cluster access as kubectl finds it: kubeconfig files (`--kubeconfig`, else
// every file in KUBECONFIG merged, else ~/.kube/config), the current context
// or `--context`, the namespace, and the cluster's and user's settings, with
// relative paths resolved against the file that holds them. Without any
// kubeconfig, a process in a pod uses its service account (in-cluster).
//
// Merging follows kubectl: a file that does not exist is skipped; the first
// file to name a cluster, user or context wins it whole; the first non-empty
// current-context wins. Errors point at FILE:LINE:COLUMN and never contain a
// credential.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace portflow::k8s {

// users[].user.exec: a credential plugin (client.authentication.k8s.io).
struct ExecConfig {
  std::string api_version;  // client.authentication.k8s.io/v1 or /v1beta1
  std::string command;      // resolved against the kubeconfig's directory when it holds a '/'
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string install_hint;
  bool provide_cluster_info = false;
};

// Everything needed to reach one cluster as one user.
struct ClusterAccess {
  std::string context;  // the context's name; "" in-cluster
  std::string cluster;  // the cluster's name in the kubeconfig
  std::string server;   // https://host:port
  std::string namespace_name = "default";
  // TLS: the CA as PEM (from certificate-authority-data) or as a file.
  std::string ca_pem;
  std::string ca_file;
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string proxy_url;
  // Client certificate and key, as PEM or as files.
  std::string client_cert_pem, client_cert_file;
  std::string client_key_pem, client_key_file;
  // Bearer token, given or read from a file (re-read as it rotates).
  std::string token;
  std::string token_file;
  std::string username, password;  // basic auth
  std::optional<ExecConfig> exec;
  // "kubeconfig FILE (context NAME, user NAME)" or "in-cluster service account"
  std::string origin = "the kubeconfig";
};

// What the user chose (kubectl's flags).
struct KubeconfigSelection {
  std::string kubeconfig;      // --kubeconfig: this file only, no merging
  std::string context;         // --context
  std::string namespace_name;  // --namespace
};

// Where kubectl looks, from the process environment unless a test says otherwise.
struct KubeconfigEnv {
  std::string kubeconfig;    // $KUBECONFIG: paths separated by ':'
  std::string home;          // $HOME: ~/.kube/config
  std::string service_host;  // $KUBERNETES_SERVICE_HOST, in a pod
  std::string service_port;  // $KUBERNETES_SERVICE_PORT
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";

  static KubeconfigEnv FromProcess();
};

// The merged kubeconfig's contexts, in the order first seen, and the current one.
struct ContextList {
  std::vector<std::string> contexts;
  std::string current;
  std::vector<std::string> files;  // the files that were read
};

// NotFound when there is no kubeconfig at all (and no in-cluster account);
// InvalidArgument, naming FILE:LINE:COLUMN, for a file kubectl would refuse.
Result<ClusterAccess> ResolveClusterAccess(const KubeconfigSelection& selection,
                                           const KubeconfigEnv& env);
Result<ContextList> ListContexts(const KubeconfigSelection& selection, const KubeconfigEnv& env);

}  // namespace portflow::k8s
