#pragma once
// What every example shares: its two arguments, [steps] [run folder], and a plain message instead
// of an abort when the library throws (a bad option, a run folder that exists, a missing dataset).
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

struct ExampleArgs {
  int64_t steps;
  std::string out;
};

inline ExampleArgs example_args(int argc, char** argv, int64_t default_steps, const std::string& name) {
  if (argc > 3 || (argc > 1 && std::string(argv[1]).find_first_not_of("0123456789") != std::string::npos)) {
    std::cerr << "usage: " << argv[0] << " [steps (default " << default_steps << ")] [run folder (default runs/" << name
              << ")]\n";
    std::exit(2);
  }
  return {argc > 1 ? std::stoll(argv[1]) : default_steps, argc > 2 ? argv[2] : "runs/" + name};
}

inline const bool example_errors_printed = [] {
  std::set_terminate([] {
    try {
      if (auto error = std::current_exception()) std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::cerr << "error: " << e.what() << "\n";
    } catch (...) {
    }
    std::_Exit(1);
  });
  return true;
}();
