// Training an energy without sampling: sliced score matching and learned Stein discrepancy
// (docs/methods/score_matching_lsd.md), both from shipped presets.
#include <joule/joule.h>

#include "example_args.h"

int main(int argc, char** argv) {
  const auto args = example_args(argc, argv, 2000, "score_matching");

  for (const std::string preset : {"ssm_8gaussians", "lsd_8gaussians"}) {
    // A preset is a configuration document; key = value overrides go on top, as on the command line.
    auto doc = joule::config::preset(preset);
    doc.set("train.steps", std::to_string(args.steps));
    auto method = joule::methods::create(doc);  // the method the document names ("ebm")
    method->build();
    const auto result = joule::methods::train_run(*method, args.out + "/" + preset);
    std::cout << preset << ":\n";
    result.report.print(std::cout);
  }
}
