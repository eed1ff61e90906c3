#include <iostream>

#include "tools/joule/commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return joule::cli::run_cli(args, std::cout, std::cerr);
}
