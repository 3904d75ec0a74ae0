// Bad input to the CLI: every case answers one line on stderr and a non-zero exit.
#include <catch2/catch.hpp>
#include <algorithm>
#include <fstream>

#include "tests/support.h"

using memstrat::test::run_cli;

TEST_CASE("bad input to memstrat train gets one line and a non-zero exit", "[cli]") {
  memstrat::test::TempDir dir;
  { std::ofstream(dir.path("junk.bin")) << "not a dataset"; }
  struct Case {
    std::string args, expect;
  };
  const Case cases[] = {
      {"train --batch 0", "--batch"},
      {"train --batch -4", "--batch"},
      {"train --batch abc", "--batch"},
      {"train --steps 0", "--steps"},
      {"train --threads 0", "--threads"},
      {"train --model nosuch", "unknown model 'nosuch'"},
      {"train --model mlp:0", "mlp width"},
      {"train --model vgg16 --image 16", "image size"},
      {"train --model vgg-mini --channels 8", "deepconv only"},
      {"train --lr -1", "--lr"},
      {"train --lr 0", "--lr"},
      {"train --lr nan", "--lr"},
      {"train --optimizer rmsprop", "--optimizer"},
      {"train --alloc nosuch", "unknown allocator 'nosuch'"},
      {"train --data " + dir.path("junk.bin"), "not a memstrat dataset"},
      {"train --data /nonexistent-dir/x.bin --samples 4", "cannot create dataset"},
      {"train --bogus-flag", "bogus"},
      {"nosuch-command", "unknown command 'nosuch-command'"},
      {"", "subcommand"},
  };
  for (const Case& c : cases) {
    // Small defaults first, so that the case's own value comes last and wins.
    std::string args = c.args;
    if (args.rfind("train", 0) == 0) args.insert(5, " --steps 1 --batch 2 --samples 4 --model mlp:8 --image 4");
    const auto result = run_cli(args);
    INFO("memstrat " << c.args << "\nstdout: " << result.out << "\nstderr: " << result.err);
    CHECK(result.exit_code != 0);
    CHECK(result.exit_code < 128);  // an answer, not a crash
    CHECK(result.err.find(c.expect) != std::string::npos);
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
}

TEST_CASE("a dataset made for another model is refused", "[cli]") {
  memstrat::test::TempDir dir;
  const std::string data = dir.path("mlp.bin");
  REQUIRE(run_cli("train --model mlp:8 --image 4 --batch 2 --steps 1 --samples 4 --data " + data).exit_code == 0);
  const auto result = run_cli("train --model vgg-mini --batch 2 --steps 1 --data " + data);
  REQUIRE(result.exit_code == 1);
  REQUIRE(result.err.find("the dataset holds 3x4x4 samples") != std::string::npos);
}

TEST_CASE("memstrat --help and list name every subcommand, model and allocator", "[cli]") {
  const auto help = run_cli("--help");
  REQUIRE(help.exit_code == 0);
  for (const char* word : {"train", "list"}) REQUIRE(help.out.find(word) != std::string::npos);
  const auto list = run_cli("list");
  REQUIRE(list.exit_code == 0);
  for (const char* word : {"malloc", "arena", "pool", "mmap", "planned", "vgg16", "deepconv"})
    REQUIRE(list.out.find(word) != std::string::npos);
}
