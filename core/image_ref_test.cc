#include "core/image_ref.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portflow {
namespace {

TEST(ImageRef, WhatRuntimesAccept) {
  const std::string digest = "sha256:" + std::string(64, 'a');
  for (const std::string& ref : std::vector<std::string>{
           "busybox", "python:3.12-slim", "library/python:3.12", "ghcr.io/org/app:v1.2",
           "localhost:5000/a/b", "localhost/a", "nvcr.io/nvidia/pytorch:24.01-py3",
           "Registry.Example.com:443/team/app_x__y.z-w---v:Latest_1", "[::1]:5000/app",
           "x@" + digest, "ghcr.io/org/app:v1@" + digest, "a/b/c/d/e",
           "x@sha512:" + std::string(128, 'b'),
           "Team/app" /* capitals make the first component a registry host */}) {
    EXPECT_TRUE(IsImageReference(ref)) << ref;
  }
}

TEST(ImageRef, WhatTheyRefuse) {
  for (const std::string& ref : std::vector<std::string>{"",
                                                         "Python:3.12",
                                                         "python:",
                                                         "python:-x",
                                                         ":3.12",
                                                         "/python",
                                                         "python/",
                                                         "a//b",
                                                         "py thon",
                                                         "app_",
                                                         "a..b",
                                                         "a___b",
                                                         "host:port/app",
                                                         "-x.io/app",
                                                         "x@sha256:abc",
                                                         "x@:" + std::string(64, 'a'),
                                                         "x@sha256:" + std::string(64, 'g'),
                                                         "x@sha256:" + std::string(32, 'a'),
                                                         "x@sha256:" + std::string(64, 'A'),
                                                         "x@md5:" + std::string(32, 'a'),
                                                         std::string(256, 'a'),
                                                         "python:" + std::string(129, 't')}) {
    EXPECT_FALSE(IsImageReference(ref)) << ref;
  }
}

}  // namespace
}  // namespace portflow
