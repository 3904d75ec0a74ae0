#include <catch2/catch.hpp>
#include <fstream>
#include <vector>

#include "kernels/data.h"
#include "tests/support.h"

using namespace memstrat;

TEST_CASE("a generated dataset reads back, deterministically, in batches that wrap around", "[data]") {
  test::TempDir dir;
  DatasetInfo info;
  info.samples = 10, info.channels = 2, info.height = 3, info.width = 4, info.classes = 3, info.seed = 7;
  generate_dataset(dir.path("a.bin"), info);
  generate_dataset(dir.path("b.bin"), info);
  FileBatchSource a(dir.path("a.bin")), b(dir.path("b.bin"));
  REQUIRE(a.info().samples == 10);
  REQUIRE(a.info().sample_floats() == 24);
  std::vector<float> xa(24 * 4), xb(24 * 4);
  std::vector<std::int32_t> la(4), lb(4);
  a.read(8, 4, xa.data(), la.data());  // samples 8, 9, 0, 1
  b.read(8, 4, xb.data(), lb.data());
  REQUIRE(xa == xb);
  REQUIRE(la == lb);
  std::vector<float> x0(24 * 2);
  std::vector<std::int32_t> l0(2);
  a.read(0, 2, x0.data(), l0.data());
  REQUIRE(std::vector<float>(xa.begin() + 48, xa.end()) == x0);
  REQUIRE(l0[0] == la[2]);
  for (auto label : la) REQUIRE((label >= 0 && label < 3));
}

TEST_CASE("a broken dataset file is refused with a message naming it", "[data]") {
  test::TempDir dir;
  DatasetInfo info;
  info.samples = 5;
  generate_dataset(dir.path("good.bin"), info);
  { std::ofstream(dir.path("junk.bin")) << "this is not a dataset"; }
  REQUIRE_THROWS_WITH(FileBatchSource(dir.path("junk.bin")), Catch::Contains("not a memstrat dataset"));
  REQUIRE_THROWS_WITH(FileBatchSource(dir.path("missing.bin")), Catch::Contains("cannot open dataset"));
  // Cut the good file short.
  std::ifstream in(dir.path("good.bin"), std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(dir.path("short.bin"), std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() - 100));
  REQUIRE_THROWS_WITH(FileBatchSource(dir.path("short.bin")), Catch::Contains("truncated"));
  REQUIRE_THROWS_WITH(generate_dataset(dir.path("no/such/dir/x.bin"), info), Catch::Contains("cannot create"));
}
