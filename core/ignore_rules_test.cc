#include "core/ignore_rules.h"

#include <gtest/gtest.h>

namespace portflow {
namespace {

TEST(IgnoreRules, NamesMatchAtAnyDepthAndAnchoredPathsFromTheTop) {
  IgnoreRules r(
      "# data and caches\n*.ckpt\ndata/\n/build\nnotes/**/draft.md\n\n!keep.ckpt\n\\#odd\n");
  EXPECT_TRUE(r.Ignored("model.ckpt", false));
  EXPECT_TRUE(r.Ignored("runs/a/model.ckpt", false));
  EXPECT_FALSE(r.Ignored("keep.ckpt", false));  // re-included: the last rule decides
  EXPECT_TRUE(r.Ignored("data", true));
  EXPECT_TRUE(r.Ignored("src/data", true));
  EXPECT_FALSE(r.Ignored("data", false));  // a file named data is not the folder
  EXPECT_TRUE(r.Ignored("build", true));
  EXPECT_FALSE(r.Ignored("src/build", true));  // anchored to the top
  EXPECT_TRUE(r.Ignored("notes/draft.md", false));
  EXPECT_TRUE(r.Ignored("notes/a/b/draft.md", false));
  EXPECT_FALSE(r.Ignored("draft.md", false));
  EXPECT_TRUE(r.Ignored("#odd", false));
  EXPECT_FALSE(r.Ignored("train.py", false));
  EXPECT_FALSE(IgnoreRules().Ignored("anything", false));
}

}  // namespace
}  // namespace portflow
