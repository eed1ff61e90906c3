// TOML configuration text: parsing, reading into typed options with every kind of field,
// command-line style overrides, and writing back.
#include <c10/util/Exception.h>

#include <string>
#include <vector>

#include "joule/config/options.h"

namespace {

struct Section {
  double rate = 0.1;
  int64_t steps = 10;
  std::string kind = "a";
  std::vector<int64_t> sizes{1, 2};
  std::vector<double> weights{0.5};
  std::vector<std::string> names{"x"};
  bool flag = false;
  void visit(joule::config::Fields& f) {
    using joule::config::Doc;
    f("rate", rate, Doc("a rate").min(0.0).max(10.0));
    f("steps", steps, Doc("steps").min(1));
    f("kind", kind, Doc("kind").choices({"a", "b"}));
    f("sizes", sizes, Doc("sizes").min(1));
    f("weights", weights, "weights");
    f("names", names, "names");
    f("flag", flag, "flag");
  }
};

struct Options {
  std::string method = "ebm";
  Section train, model;
  void visit(joule::config::Fields& f) {
    f("method", method, "method");
    f.section("train", train);
    f.section("model", model);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto doc = joule::config::Document::from_string(text, "fuzz.toml");
    for (const auto& key : doc.keys()) (void)doc.get_text(key);
    Options o;
    joule::config::read(joule::config::visit_of(o), doc);
    auto again = joule::config::Document::from_string(joule::config::to_toml(joule::config::visit_of(o)), "round trip");
    Options back;
    joule::config::read(joule::config::visit_of(back), again);
    if (back.train.steps != o.train.steps || back.model.kind != o.model.kind) __builtin_trap();
  } catch (const std::exception&) {
  }
  // The same text as one command-line override value.
  try {
    joule::config::Document d;
    d.set("train.rate", text);
    Options o;
    joule::config::read(joule::config::visit_of(o), d);
  } catch (const std::exception&) {
  }
  return 0;
}
