// Typed options bound once (joule/config/options.h): the same visit() gives the schema, reads TOML
// (with errors naming the key, file:line and the closest valid key), writes the resolved TOML,
// validates, and handles lists and arrays of tables; every method's options are scoped to it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "joule/config/options.h"
#include "joule/methods/ebm.h"
#include "joule/methods/jem.h"
#include "joule/methods/method.h"
#include "joule/methods/rbm.h"
#include "joule/methods/vera.h"

namespace {

using joule::config::ConfigError;
using joule::config::Doc;
using joule::config::Document;
using joule::config::Fields;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {  // ConfigError, or the runtime error of a missing file
    return e.what();
  }
  return "";
}

// A small options struct with every kind of field, including an array of tables.
struct Scale {
  double sigma = 1.0;
  int64_t steps = 10;
  void visit(Fields& f) {
    f("sigma", sigma, Doc("noise of this scale").min(0.0));
    f("steps", steps, Doc("steps at this scale").min(1));
  }
};

struct Toy {
  int64_t n = 3;
  double lr = 0.1;
  bool flag = false;
  std::string kind = "a";
  std::vector<std::string> sets{"x", "y"};
  std::vector<double> weights{1.0};
  std::vector<int64_t> sizes;
  std::vector<Scale> scales{Scale{}};
  struct Inner {
    std::string name = "inner";
    void visit(Fields& f) { f("name", name, "a name"); }
  } inner;
  void visit(Fields& f) {
    f("n", n, Doc("a count").min(1).max(100));
    f("lr", lr, Doc("a rate").min(1e-12));
    f("flag", flag, "a switch");
    f("kind", kind, Doc("a choice").choices({"a", "b", "long_name"}));
    f("sets", sets, Doc("a list of choices").choices({"x", "y", "z"}));
    f("weights", weights, Doc("a list of numbers").min(0.0));
    f("sizes", sizes, "a list of integers");
    f.list("scales", scales, "one table per scale");
    f.section("inner", inner);
  }
};

TEST(ConfigTest, ReadsEveryFieldTypeFromToml) {
  Toy t;
  auto doc = Document::from_string(R"(
n = 7
lr = 1e-3
flag = true
kind = "long_name"
sets = ["z", "x"]
weights = [0.5, 2]
sizes = [1, 2, 3]
[inner]
name = "with # hash"
[[scales]]
sigma = 0.1
[[scales]]
sigma = 0.5
steps = 20
)",
                                   "t.toml");
  joule::config::read(joule::config::visit_of(t), doc);
  EXPECT_EQ(t.n, 7);
  EXPECT_DOUBLE_EQ(t.lr, 1e-3);
  EXPECT_TRUE(t.flag);
  EXPECT_EQ(t.kind, "long_name");
  EXPECT_EQ(t.sets, (std::vector<std::string>{"z", "x"}));
  EXPECT_EQ(t.weights, (std::vector<double>{0.5, 2.0}));
  EXPECT_EQ(t.sizes, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(t.inner.name, "with # hash");
  ASSERT_EQ(t.scales.size(), 2u);
  EXPECT_DOUBLE_EQ(t.scales[0].sigma, 0.1);
  EXPECT_EQ(t.scales[0].steps, 10);  // the element's own default
  EXPECT_EQ(t.scales[1].steps, 20);
}

TEST(ConfigTest, CommandLineTextBecomesTypedValues) {
  Toy t;
  Document doc;
  doc.set("n", "12");
  doc.set("lr", "2e-2");
  doc.set("flag", "yes");
  doc.set("kind", "b");              // a bare word is a string
  doc.set("sets", "x,z");            // a comma list (old configs wrote lists this way)
  doc.set("weights", "[1, 3.5]");    // a TOML array
  doc.set("inner.name", "runs/a-b");
  joule::config::read(joule::config::visit_of(t), doc);
  EXPECT_EQ(t.n, 12);
  EXPECT_DOUBLE_EQ(t.lr, 0.02);
  EXPECT_TRUE(t.flag);
  EXPECT_EQ(t.kind, "b");
  EXPECT_EQ(t.sets, (std::vector<std::string>{"x", "z"}));
  EXPECT_EQ(t.weights, (std::vector<double>{1.0, 3.5}));
  EXPECT_EQ(t.inner.name, "runs/a-b");
}

TEST(ConfigTest, BadValuesNameTheKeyWhereItWasSetAndWhatIsAllowed) {
  auto read = [](const std::string& text) {
    Toy t;
    return error_of([&] { joule::config::read(joule::config::visit_of(t), Document::from_string(text, "x.toml")); });
  };
  auto msg = read("n = 1\nkind = \"lnog_name\"\n");
  EXPECT_NE(msg.find("x.toml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'kind'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("a, b, long_name"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'long_name'"), std::string::npos) << msg;
  EXPECT_NE(read("n = 12.5").find("expected an integer"), std::string::npos);
  EXPECT_NE(read("n = 1000").find("must be in [1, 100]"), std::string::npos);
  EXPECT_NE(read("lr = \"fast\"").find("expected a number"), std::string::npos);
  EXPECT_NE(read("lr = nan").find("not nan"), std::string::npos);
  EXPECT_NE(read("flag = \"maybe\"").find("true or false"), std::string::npos);
  EXPECT_NE(read("sets = [\"x\", \"w\"]").find("allowed values are x, y, z"), std::string::npos);
  EXPECT_NE(read("weights = [-1]").find("must be in [0, inf]"), std::string::npos);
  EXPECT_NE(read("scales = 3").find("array of tables"), std::string::npos);
  msg = read("[[scales]]\nsigma = 1\nsteps = 0\n");
  EXPECT_NE(msg.find("scales[0].steps"), std::string::npos) << msg;
}

TEST(ConfigTest, UnknownKeysNameTheClosestValidKey) {
  Toy t;
  auto msg = error_of([&] { joule::config::read(joule::config::visit_of(t), Document::from_string("n = 2\nlrr = 0.1\n", "y.toml")); });
  EXPECT_NE(msg.find("y.toml:2: unknown option 'lrr' (did you mean 'lr'?)"), std::string::npos) << msg;
  msg = error_of([&] {
    joule::config::read(joule::config::visit_of(t), Document::from_string("[[scales]]\nsigmaa = 1\n", "z.toml"));
  });
  EXPECT_NE(msg.find("unknown option 'scales[0].sigmaa' (did you mean 'scales[0].sigma'?)"), std::string::npos) << msg;
  Document d;
  d.set("inner.nmae", "q");
  msg = error_of([&] { joule::config::read(joule::config::visit_of(t), d); });
  EXPECT_NE(msg.find("command line: unknown option 'inner.nmae' (did you mean 'inner.name'?)"), std::string::npos) << msg;
}

TEST(ConfigTest, TomlSyntaxErrorsCarryFileAndLine) {
  auto msg = error_of([] { Document::from_string("[sampler]\nsteps = 3\nbogus line\n", "c.toml"); });
  EXPECT_NE(msg.find("c.toml:3"), std::string::npos) << msg;
  msg = error_of([] { Document::from_string("[sampler]\nsteps = 1\nsteps = 2\n", "d.toml"); });
  EXPECT_NE(msg.find("d.toml:3"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { Document::from_file("/nonexistent/joule.toml"); }).find("cannot read"), std::string::npos);
  // A folder is not a config file (it would read as an empty one), and a UTF-8 byte-order mark is skipped.
  const auto dir = std::filesystem::temp_directory_path() / "joule-config-test-folder";
  std::filesystem::create_directories(dir);
  EXPECT_NE(error_of([&] { Document::from_file(dir.string()); }).find("is a folder"), std::string::npos);
  std::ofstream((dir / "bom.toml").string()) << "\xEF\xBB\xBF[train]\nsteps = 7\n";
  EXPECT_EQ(Document::from_file((dir / "bom.toml").string()).get_text("train.steps"), "7");
  std::filesystem::remove_all(dir);
}

TEST(ConfigTest, ResolvedTomlRoundTripsAndPythonReadsIt) {
  Toy a;
  a.n = 9;
  a.inner.name = "quote \" and \\ backslash";
  a.scales.push_back(Scale{0.25, 4});
  a.lr = 1.0 / 3.0;
  const std::string toml = joule::config::to_toml(joule::config::visit_of(a));
  Toy b;
  b.scales.clear();
  joule::config::read(joule::config::visit_of(b), Document::from_string(toml, "resolved"));
  EXPECT_EQ(joule::config::to_toml(joule::config::visit_of(b)), toml);
  EXPECT_EQ(b.inner.name, a.inner.name);
  EXPECT_EQ(b.lr, a.lr);  // shortest round-trip formatting: bit for bit
  ASSERT_EQ(b.scales.size(), 2u);
  EXPECT_EQ(b.scales[1].steps, 4);
  // Every method's resolved config is valid TOML for Python's tomllib (Debian's python3.11).
  for (const auto& info : joule::methods::registry()) {
    const std::string path = ::testing::TempDir() + "joule-resolved-" + info.name + ".toml";
    std::ofstream(path) << info.create()->config_toml();
    EXPECT_EQ(std::system(("/usr/bin/python3 -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], \"rb\"))' " + path).c_str()), 0)
        << info.name;
  }
}

TEST(ConfigTest, ValidateChecksValuesSetFromCpp) {
  Toy t;
  t.kind = "c";
  EXPECT_NE(error_of([&] { joule::config::validate(joule::config::visit_of(t)); }).find("'kind'"), std::string::npos);
  Toy u;
  u.scales[0].steps = 0;
  EXPECT_NE(error_of([&] { joule::config::validate(joule::config::visit_of(u)); }).find("scales[0].steps"), std::string::npos);
}

TEST(ConfigTest, SchemaListsDefaultsAndHelpNamesEveryField) {
  Toy t;
  const auto fields = joule::config::schema(joule::config::visit_of(t));
  std::set<std::string> keys;
  for (const auto& f : fields) keys.insert(f.key);
  for (const char* k : {"n", "lr", "flag", "kind", "sets", "weights", "sizes", "scales", "scales[].sigma", "inner.name"}) {
    EXPECT_TRUE(keys.count(k)) << k;
  }
  const auto help = joule::config::help_text(fields);
  EXPECT_NE(help.find("[default: 3]"), std::string::npos) << help;
  EXPECT_NE(help.find("{a|b|long_name}"), std::string::npos) << help;
}

TEST(ConfigTest, OptionsAreScopedByMethodWithEachMethodsOwnDefaults) {
  // JEM alone runs JEM's sampler and data, not the 2-D EBM defaults.
  auto jem = joule::methods::create(Document::from_string("method = \"jem\"", "cli"));
  auto& j = static_cast<joule::methods::JemMethod&>(*jem).config();
  EXPECT_EQ(j.data.dataset, "fashion-mnist");
  EXPECT_DOUBLE_EQ(j.sampler.step_size, 1.0);
  EXPECT_DOUBLE_EQ(j.sampler.noise, 0.01);
  EXPECT_DOUBLE_EQ(j.buffer.init_low, -1.0);
  auto ebm = joule::methods::create("ebm");
  EXPECT_DOUBLE_EQ(static_cast<joule::methods::EbmMethod&>(*ebm).config().sampler.noise, -1.0);
  // Another method's key is refused, and the message says whose it is.
  auto msg = error_of([] { joule::methods::create(Document::from_string("method = \"jem\"\n[rbm]\nhidden = 3\n", "j.toml")); });
  EXPECT_NE(msg.find("j.toml:3: unknown option 'rbm.hidden'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("it is an option of method rbm"), std::string::npos) << msg;
  // Renamed keys say what they are called now.
  msg = error_of([] { joule::methods::create(Document::from_string("[lsd]\ncritic_steps = 3\n", "l.toml")); });
  EXPECT_NE(msg.find("optim.critic.updates"), std::string::npos) << msg;
  msg = error_of([] { joule::methods::create(Document::from_string("method = \"jem\"\n[jem]\nchannels = 3\n", "j.toml")); });
  EXPECT_NE(msg.find("unknown option 'jem.channels'; it is now 'model.channels'"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("did you mean"), std::string::npos) << msg;  // the hint already names it
  // A run saved before a rename still loads: its old keys are read under their new names.
  const auto old_vera = Document::from_string("method = \"vera\"\n[eval]\nmala_steps = 7\nmala_step_size = 0.002\n", "c.toml");
  msg = error_of([&] { joule::methods::create(old_vera); });
  EXPECT_NE(msg.find("it is now 'refine.step"), std::string::npos) << msg;
  auto vera = joule::methods::create(joule::methods::rename_saved_keys(old_vera));
  const auto& refine = static_cast<joule::methods::VeraMethod&>(*vera).config().refine;
  EXPECT_EQ(refine.steps, 7);
  EXPECT_DOUBLE_EQ(refine.step_size, 0.002);
  EXPECT_EQ(refine.kind, "mala");
  msg = error_of([] { joule::methods::create("jme"); });
  EXPECT_NE(msg.find("did you mean 'jem'"), std::string::npos) << msg;
}

TEST(ConfigTest, EveryShippedPresetIsValidForItsMethod) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(JOULE_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".toml") continue;
    const auto name = entry.path().stem().string();
    // The compiled-in preset is the file.
    std::ifstream f(entry.path());
    std::stringstream ss;
    ss << f.rdbuf();
    EXPECT_EQ(joule::config::preset_text(name), ss.str()) << name;
    EXPECT_NO_THROW(joule::methods::create(joule::config::preset(name))) << name;
    ++n;
  }
  EXPECT_EQ(n, int(joule::config::preset_names().size()));
  EXPECT_NE(error_of([] { joule::config::preset_text("jem_fashion_cn"); }).find("did you mean 'jem_fashion_cnn'"),
            std::string::npos);
}

TEST(ConfigTest, EditDistanceSuggestionsAreConservative) {
  EXPECT_EQ(joule::config::edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(joule::config::closest_match("pdc", {"pcd", "cd"}), "pcd");
  EXPECT_EQ(joule::config::closest_match("completely-different", {"pcd", "cd"}), "");
  // By the part after the section: the same section first, and short leaves need a close match.
  using joule::config::FieldInfo;
  using joule::config::FieldType;
  std::vector<FieldInfo> fields{{"optim.generator.lr", FieldType::kFloat, "", ""},
                                {"run.out", FieldType::kString, "", ""},
                                {"optim.generator.step_size", FieldType::kFloat, "", ""},
                                {"sampler.step_size", FieldType::kFloat, "", ""}};
  EXPECT_EQ(joule::config::suggest_key("run.dir", fields), "");
  EXPECT_EQ(joule::config::suggest_key("sampler.stepsize", fields), "sampler.step_size");
  EXPECT_EQ(joule::config::suggest_key("stepsize", fields), "optim.generator.step_size");
}

}  // namespace

TEST(ConfigDocumentTest, ACopyIsIndependentOfItsOriginal) {
  auto original = joule::config::Document::from_string("[train]\nlr = 0.1\n", "x");
  joule::config::Document copy = original;
  copy.set("train.lr", "0.5");
  copy.set("train.steps", "7");
  EXPECT_EQ(original.get_text("train.lr"), "0.1");
  EXPECT_FALSE(original.has("train.steps"));
  joule::config::Document assigned;
  assigned = original;
  assigned.erase("train.lr");
  EXPECT_TRUE(original.has("train.lr"));
  EXPECT_EQ(copy.get_text("train.lr"), "0.5");
}
