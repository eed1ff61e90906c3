// The option registry: one place that catches unknown keys (naming the closest), bad values,
// and parses the TOML subset used by configs/*.toml.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tools/joule/config.h"

namespace {

using joule::cli::Config;
using joule::cli::UsageError;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigTest, UnknownKeyNamesTheClosestValidKey) {
  Config cfg("train");
  auto msg = error_of([&] { cfg.set("sampler.stepsize", "0.1", "command line"); });
  EXPECT_NE(msg.find("unknown option 'sampler.stepsize'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'sampler.step_size'"), std::string::npos) << msg;
  msg = error_of([&] { cfg.set("trian.lr", "0.1", "command line"); });
  EXPECT_NE(msg.find("'train.lr'"), std::string::npos) << msg;
  msg = error_of([&] { cfg.set("stepsize", "0.1", "command line"); });
  EXPECT_NE(msg.find("sampler.step_size"), std::string::npos) << msg;
}

TEST(ConfigTest, BadValuesNameTheKeyAndTheAllowedValues) {
  Config cfg("train");
  auto msg = error_of([&] { cfg.set("sampler.kind", "langvin", "x.toml:3"); });
  EXPECT_NE(msg.find("x.toml:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'sampler.kind'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("langevin, mala, hmc"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'langevin'"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { cfg.set("train.steps", "12.5", "cli"); }).find("integer"), std::string::npos);
  EXPECT_NE(error_of([&] { cfg.set("train.lr", "fast", "cli"); }).find("number"), std::string::npos);
  EXPECT_NE(error_of([&] { cfg.set("train.lr", "-1", "cli"); }).find("must be in"), std::string::npos);
  EXPECT_NE(error_of([&] { cfg.set("model.spectral_norm", "maybe", "cli"); }).find("true or false"), std::string::npos);
  EXPECT_NE(error_of([&] { cfg.set("run.device", "gpu", "cli"); }).find("cuda"), std::string::npos);
}

TEST(ConfigTest, OptionsOfOtherCommandsAreRefused) {
  Config cfg("sample");
  auto msg = error_of([&] { cfg.set("train.lr", "0.1", "cli"); });
  EXPECT_NE(msg.find("does not apply to 'joule sample'"), std::string::npos) << msg;
  cfg.set("sample.n", "10", "cli");
  EXPECT_EQ(cfg.get_int("sample.n"), 10);
}

TEST(ConfigTest, TomlSectionsCommentsAndTypesAreParsed) {
  Config cfg("train");
  cfg.load_string(R"(
# a comment
method = "ebm"   # trailing comment
[sampler]
steps = 40
step_size = 1e-2
noise = 0.01
[model]
activation = 'leaky_relu'
spectral_norm = true
[run]
name = "with # hash"
)",
                  "t.toml");
  EXPECT_EQ(cfg.get_int("sampler.steps"), 40);
  EXPECT_DOUBLE_EQ(cfg.get_float("sampler.step_size"), 0.01);
  EXPECT_EQ(cfg.get_string("model.activation"), "leaky_relu");
  EXPECT_TRUE(cfg.get_bool("model.spectral_norm"));
  EXPECT_EQ(cfg.get_string("run.name"), "with # hash");
  EXPECT_TRUE(cfg.is_set("sampler.steps"));
  EXPECT_FALSE(cfg.is_set("train.steps"));
}

TEST(ConfigTest, TomlErrorsCarryFileAndLine) {
  Config cfg("train");
  auto msg = error_of([&] { cfg.load_string("[sampler]\nsteps = 3\nbogus line\n", "c.toml"); });
  EXPECT_NE(msg.find("c.toml:3"), std::string::npos) << msg;
  msg = error_of([&] { cfg.load_string("[sampler]\nsteps = 1\nsteps = 2\n", "d.toml"); });
  EXPECT_NE(msg.find("set twice"), std::string::npos) << msg;
  msg = error_of([&] { cfg.load_string("[train]\nlr = \"0.1\n", "e.toml"); });
  EXPECT_NE(msg.find("unterminated"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { cfg.load_file("/nonexistent/joule.toml"); }).find("cannot read"), std::string::npos);
}

TEST(ConfigTest, ResolvedTomlOpensEachTableOnceAndIsValidToml) {
  // Methods add options to shared sections ([eval], [train]) after other sections: the writer
  // must still open each table once (strict TOML readers reject a repeated table).
  Config a("train");
  const std::string toml = a.to_toml();
  std::set<std::string> seen;
  std::istringstream lines(toml);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line[0] == '[') EXPECT_TRUE(seen.insert(line).second) << "table opened twice: " << line;
  }
  EXPECT_TRUE(seen.count("[eval]"));
  ASSERT_NE(toml.find("\nmethod = "), std::string::npos);
  EXPECT_LT(toml.find("\nmethod = "), toml.find("\n[")) << "top-level keys come before the first table";
  // Python's tomllib (Debian's python3.11) parses it.
  const std::string path = ::testing::TempDir() + "joule-resolved.toml";
  std::ofstream(path) << toml;
  EXPECT_EQ(std::system(("/usr/bin/python3 -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], \"rb\"))' " + path +
                         " 2>&1").c_str()),
            0)
      << toml;
}

TEST(ConfigTest, ResolvedTomlRoundTrips) {
  Config a("train");
  a.set("sampler.steps", "7", "cli");
  a.set("run.name", "quote \" and \\ backslash", "cli");
  Config b("train");
  b.load_string(a.to_toml(), "resolved");
  EXPECT_EQ(a.to_toml(), b.to_toml());
  EXPECT_EQ(b.get_int("sampler.steps"), 7);
  EXPECT_EQ(b.get_string("run.name"), "quote \" and \\ backslash");
}

TEST(ConfigTest, EveryShippedConfigIsValid) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(JOULE_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".toml") continue;
    Config cfg("train");
    EXPECT_NO_THROW(cfg.load_file(entry.path().string())) << entry.path();
    ++n;
  }
  EXPECT_GT(n, 0);
}

TEST(ConfigTest, HelpListsEveryOptionOfTheCommand) {
  const auto help = joule::cli::Registry::global().help("train");
  for (const auto& o : joule::cli::Registry::global().options()) {
    if (o.commands.empty() || std::find(o.commands.begin(), o.commands.end(), "train") != o.commands.end()) {
      EXPECT_NE(help.find(o.key), std::string::npos) << o.key;
    }
  }
}

TEST(ConfigTest, EditDistanceSuggestionsAreConservative) {
  EXPECT_EQ(joule::cli::edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(joule::cli::closest_match("pdc", {"pcd", "cd"}), "pcd");
  EXPECT_EQ(joule::cli::closest_match("completely-different", {"pcd", "cd"}), "");
}

}  // namespace
