// Bad input to every option of every subcommand, in one table: each row must be
// answered by exactly one line on stderr that contains the row's words, a
// non-zero exit that is not a crash, nothing on stdout, and no file written or
// changed. With MEMSTRAT_BAD_INPUT_TABLE=PATH the rows and the answers they got
// are also written to PATH as a Markdown table.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "benches/cli/units.h"
#include "tests/support.h"

using memstrat::test::run_cli;

namespace {

struct Row {
  std::string args;    // shell words; {dir} is the fixtures' folder
  std::string expect;  // words the one line must contain; "A || B": either
};

// A sanitizer build refuses every preloaded allocator before it looks for the library.
const std::string kNoLibrary = "no such library file || cannot run in a sanitizer build";

// The smallest configuration each command takes, so that a row's own value (last, so it wins) is all that is wrong.
const std::map<std::string, std::string> kSmall = {
    {"train", "train --steps 1 --batch 2 --samples 4 --model mlp:8 --image 4"},
    {"run", "run --steps 1 --warmup 0 --batch 2 --samples 4 --model mlp:8 --image 4"},
    {"estimate", "estimate --batch 2 --model mlp:8 --image 4"},
    {"trace", "trace record --batch 2 --model mlp:8 --image 4 --out {dir}/trace.json"},
    {"fit", "fit --model mlp:8 --image 4 --budget 64MiB --allocs malloc --steps 1 --max-batch 4 --out {dir}/fit.json"},
};

std::vector<Row> table() {
  std::vector<Row> rows = {
      {"", "subcommand is required"},
      {"nosuch-command", "unknown command 'nosuch-command'"},
      {"--bogus", "unknown option '--bogus'"},
  };
  auto add = [&](const std::vector<std::string>& commands, const std::string& option, const std::string& expect) {
    for (const auto& command : commands) rows.push_back({kSmall.at(command) + " " + option, expect});
  };
  const std::vector<std::string> configured = {"train", "run", "estimate", "trace", "fit"};
  const std::vector<std::string> batched = {"train", "run", "estimate", "trace"};
  const std::vector<std::string> trained = {"train", "run"};

  // The options that name a configuration.
  add(configured, "--model nosuch", "unknown model 'nosuch'");
  add(configured, "--model mlp:0", "mlp width");
  add(configured, "--model mlp:x", "mlp width");
  add(configured, "--model deepconv:0", "deepconv");
  add(configured, "--model vgg16:2", "takes no ':' option");
  add(configured, "--model ''", "unknown model ''");
  add(configured, "--image 0", "--image: expected a whole number from 1 to 4096, got '0'");
  add(configured, "--image -1", "--image");
  add(configured, "--image 99999", "--image: expected a whole number from 1 to 4096, got '99999'");
  add(configured, "--image abc", "--image: expected a whole number from 1 to 4096, got 'abc'");
  add(configured, "--model vgg16 --image 16", "image size");
  add(configured, "--channels 0", "--channels");
  add(configured, "--channels 99999", "--channels");
  add(configured, "--channels 8", "--channels applies to deepconv only");
  add(configured, "--classes 1", "--classes: expected a whole number from 2 to 100000, got '1'");
  add(configured, "--classes -3", "--classes");
  add(configured, "--classes 1000000", "--classes");
  add(configured, "--classes abc", "--classes");
  add(configured, "--threads 0", "--threads: expected a whole number from 1 to 1024, got '0'");
  add(configured, "--threads -1", "--threads");
  add(configured, "--threads 5000", "--threads");
  add(configured, "--threads two", "--threads");
  add(configured, "--optimizer rmsprop", "--optimizer: rmsprop not in {sgd,adam}");
  add(batched, "--batch 0", "--batch: expected a whole number from 1 to 1048576, got '0'");
  add(batched, "--batch -4", "--batch");
  add(batched, "--batch abc", "--batch");
  add(batched, "--batch 1.5", "--batch: expected a whole number from 1 to 1048576, got '1.5'");
  add(batched, "--batch 99999999999", "--batch");
  add(batched, "--tech nosuch", "unknown technique 'nosuch'");
  add(batched, "--tech accum:0", "accum needs a micro-batch count from 1 to 65536");
  add(batched, "--tech accum:x", "accum needs a micro-batch count");
  add(batched, "--tech accum:4", "accum:4 is more micro-batches than the batch of 2 has samples");
  add(batched, "--batch 4 --tech accum:3", "accum:3 does not divide the batch of 4");
  add(batched, "--tech recompute:0", "recompute takes a segment length of at least 1 layer");
  add(batched, "--tech recompute:100", "nothing would be recomputed");
  add(batched, "--tech fp16,bf16", "cannot be combined");
  add(batched, "--tech accum:2,accum:2", "given twice");
  add(batched, "--tech offload:x", "takes no option");
  add(batched, "--tech ,", "empty technique");

  // What a run needs besides.
  add(trained, "--steps 0", "--steps: expected a whole number from 1 to 100000000, got '0'");
  add(trained, "--steps -1", "--steps");
  add(trained, "--steps abc", "--steps");
  add(trained, "--steps 1000000000", "--steps");
  add(trained, "--seed -1", "--seed: expected a whole number from 0 to 18446744073709551615, got '-1'");
  add(trained, "--seed abc", "--seed");
  add(trained, "--seed 99999999999999999999999",
      "--seed: expected a whole number from 0 to 18446744073709551615, got '99999999999999999999999'");
  add(trained, "--lr -1", "--lr: expected a positive number up to 100, got '-1'");
  add(trained, "--lr 0", "--lr: expected a positive number up to 100, got '0'");
  add(trained, "--lr nan", "--lr: expected a positive number");
  add(trained, "--lr inf", "--lr: expected a positive number");
  add(trained, "--lr 1000", "--lr: expected a positive number up to 100, got '1000'");
  add(trained, "--lr 1e-3x", "--lr: expected a positive number");
  add(trained, "--lr abc", "--lr: expected a positive number up to 100, got 'abc'");
  add(trained, "--data {dir}/junk.bin", "is not a memstrat dataset");
  add(trained, "--data {dir}", "is not a regular file");
  add(trained, "--data /nonexistent-dir/x.bin", "cannot create dataset '/nonexistent-dir/x.bin'");
  add(trained, "--data {dir}/afile/x.bin", "cannot create dataset");
  add(trained, "--samples 0", "--samples: expected a whole number from 1 to 1099511627776, got '0'");
  add(trained, "--samples -1", "--samples: expected a whole number from 1 to 1099511627776, got '-1'");
  add(trained, "--samples abc", "--samples");
  add(trained, "--samples 2199023255552", "--samples");
  // More than the machine holds or its disk takes: refused with the figures, before anything is written.
  add(trained, "--samples 1099511627776", "TiB of dataset, and 32.0 MiB for the process); this machine has");
  add(trained, "--samples 1099511627776 --data-mode mmap", "refused; lower --samples");
  add(trained, "--image 64 --samples 100000000", "refused; use --data-mode mmap or stream, or lower --samples");
  add(trained, "--image 64 --samples 100000000 --data-mode mmap", "free: lower --samples");
  add(trained, "--data-mode foo", "--data-mode: foo not in {memory,mmap,stream}");
  add(trained, "--alloc nosuch", "unknown allocator 'nosuch'");
  add(trained, "--alloc pool:foo", "allocator 'pool' takes :best, :first or :worst");
  add(trained, "--alloc arena:foo", "arena");
  add(trained, "--alloc mmap:x", "mmap");
  add(trained, "--alloc planned:x", "planned");
  add(trained, "--alloc malloc:x", "malloc");
  add(trained, "--alloc preload:/nonexistent.so", kNoLibrary);
  add(trained, "--alloc preload:", "preload");
  add(trained, "--bogus-flag", "--bogus-flag");
  add({"train"}, "--eval 0", "--eval: expected a whole number from 1 to 1073741824, got '0'");
  add({"train"}, "--eval -1", "--eval: expected a whole number from 1 to 1073741824, got '-1'");
  add({"train"}, "--eval abc", "--eval");
  add({"train"}, "--quiet=maybe", "Could not convert: --quiet = maybe");
  // Too big for this machine: refused with the estimator's figure, before it takes anything.
  add(trained, "--model vgg16 --image 224 --batch 4096", "needs about");
  add(trained, "--model deepconv:64 --channels 4096 --image 4096", "available: refused");

  // memstrat run's own options.
  add({"run"}, "--warmup -1", "--warmup: expected a whole number from 0 to 1000, got '-1'");
  add({"run"}, "--warmup 1001", "--warmup");
  add({"run"}, "--warmup abc", "--warmup");
  add({"run"}, "--json ''", "--json: expected a file path, got an empty one");
  add({"run"}, "--json {dir}/nodir/x.json",
      "--json: cannot write results file '{dir}/nodir/x.json': folder '{dir}/nodir'");
  add({"run"}, "--json {dir}", "it is a folder");
  add({"run"}, "--json {dir}/afile/x.json", "'{dir}/afile' is not a folder");
  add({"run"}, "--json /proc/x.json", "cannot write results file '/proc/x.json'");
  add({"run"}, "--no-timeline=maybe", "Could not convert: --no-timeline = maybe");

  // estimate, trace, hwinfo, list.
  add({"estimate"}, "--json x", "not expected: x");
  add({"estimate"}, "--json=maybe", "Could not convert: --json = maybe");
  rows.push_back({"trace", "subcommand is required"});
  rows.push_back({"trace nosuch", "unknown command 'trace nosuch' (known: record, replay)"});
  rows.push_back({"trace record --model mlp:8", "--out is required"});
  add({"trace"}, "--out ''", "--out: expected a file path, got an empty one");
  add({"trace"}, "--out {dir}/nodir/x.json", "--out: cannot write trace file '{dir}/nodir/x.json'");
  add({"trace"}, "--out {dir}", "it is a folder");
  add({"trace"}, "--out {dir}/afile/x.json", "is not a folder");
  rows.push_back({"hwinfo extra", "not expected: extra"});
  rows.push_back({"hwinfo --json", "--json"});
  rows.push_back({"list extra", "not expected: extra"});
  rows.push_back({"list --all", "--all"});

  // fit.
  rows.push_back({"fit --model mlp:8", "--budget is required"});
  add({"fit"}, "--budget 0", "size '0' is out of range");
  add({"fit"}, "--budget -1", "--budget: '-1' is not a size");
  add({"fit"}, "--budget abc", "is not a size: write a number and a unit, e.g. 512MiB or 2GiB (K M G T and KiB");
  add({"fit"}, "--budget '2 bananas'", "'2 bananas' is not a size");
  add({"fit"}, "--budget 2Gb", "'2Gb' reads as bits: write 2GB (powers of 1000) or 2GiB (powers of 1024)");
  add({"fit"}, "--budget 1e30", "is not a size");
  add({"fit"}, "--budget 20EiB", "is not a size");
  add({"fit"}, "--budget 99999999TiB", "out of range");
  add({"fit"}, "--budget 1KiB", "is smaller than what mlp:8 holds before its first step");
  add({"fit"}, "--allocs nosuch", "unknown allocator 'nosuch'");
  add({"fit"}, "--allocs pool:foo", "allocator 'pool' takes");
  add({"fit"}, "--allocs preload:/nonexistent.so", kNoLibrary);
  add({"fit"}, "--techs nosuch", "unknown technique 'nosuch'");
  add({"fit"}, "--techs accum:x", "accum needs a micro-batch count");
  add({"fit"}, "--techs accum:8", "accum:8 needs a batch of at least 8, more than --max-batch 4");
  add({"fit"}, "--max-ranks 1", "expected a whole number from 2 to 1024");
  add({"fit"}, "--ranks 4 --max-ranks 2", "--max-ranks 2 is fewer than --ranks 4");
  add({"fit"}, "--ranks 8 --techs zero:3", "zero:3 needs a batch of at least 8 over 8 ranks, more than --max-batch 4");
  add({"fit"}, "--steps 0", "--steps");
  add({"fit"}, "--steps 101", "--steps");
  add({"fit"}, "--steps abc", "--steps");
  add({"fit"}, "--max-batch 0", "--max-batch");
  add({"fit"}, "--max-batch -1", "--max-batch");
  add({"fit"}, "--max-batch abc", "--max-batch");
  add({"fit"}, "--max-batch 99999999", "--max-batch");
  add({"fit"}, "--out ''", "--out: expected a file path");
  add({"fit"}, "--out {dir}/nodir/x.json", "--out: cannot write results file");
  add({"fit"}, "--out {dir}", "it is a folder");
  add({"fit"}, "--out {dir}/afile/x.json", "is not a folder");
  add({"fit"}, "--batch 4", "--batch");
  add({"fit"}, "--tech bf16", "--tech");

  // suite.
  const std::string suite = "suite --config {dir}/ok.json --out {dir}/suite.json";
  rows.push_back(
      {"suite --preset nosuch --out {dir}/suite.json", "unknown preset 'nosuch' (known: quick, default, full, torch)"});
  rows.push_back({"suite --preset quick --config {dir}/ok.json", "--preset excludes --config"});
  rows.push_back({"suite --config {dir}/missing.toml", "--config: File does not exist"});
  rows.push_back({"suite --config {dir}", "--config"});
  rows.push_back({"suite --config {dir}/bad.json", "not valid JSON"});
  rows.push_back({"suite --config {dir}/empty.toml", "matrix"});
  rows.push_back({"suite --config {dir}/accum.json", "accum:4 does not divide the batch of 6"});
  rows.push_back({"suite --config {dir}/accum-big.json", "accum:8 is more micro-batches than the batch of 4"});
  rows.push_back({"suite --config {dir}/recompute.json", "nothing would be recomputed"});
  rows.push_back({suite + " --memory-budget 0", "--memory-budget: size '0' is out of range"});
  rows.push_back({suite + " --memory-budget -5", "--memory-budget: '-5' is not a size"});
  rows.push_back({suite + " --memory-budget abc", "--memory-budget: 'abc' is not a size"});
  rows.push_back({suite + " --memory-budget 2Gb", "reads as bits"});
  rows.push_back({suite + " --memory-budget 1KiB", "smaller than what any cell holds before its first step"});
  rows.push_back({suite + " --repeats 0", "--repeats: expected a whole number from 1 to 100, got '0'"});
  rows.push_back({suite + " --repeats 101", "--repeats"});
  rows.push_back({suite + " --repeats -1", "--repeats"});
  rows.push_back({suite + " --repeats abc", "--repeats"});
  rows.push_back({"suite --config {dir}/ok.json --out ''", "--out: expected a file path"});
  rows.push_back({"suite --config {dir}/ok.json --out {dir}/nodir/x.json", "--out: cannot write results file"});
  rows.push_back({"suite --config {dir}/ok.json --out {dir}", "it is a folder"});
  rows.push_back({"suite --config {dir}/ok.json --out {dir}/afile/x.json", "is not a folder"});
  rows.push_back({"suite --config {dir}/ok.json --resume --out {dir}/bad.json", "is not valid JSON (truncated?)"});
  rows.push_back({"suite --config {dir}/ok.json --resume --out {dir}/other.json", "has no \"benchmarks\" list"});
  rows.push_back({suite + " --bogus", "--bogus"});
  for (const char* flag : {"--resume", "--verbose", "--dry-run"})
    rows.push_back({suite + " " + flag + "=maybe", std::string("Could not convert: ") + flag + " = maybe"});
  return rows;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// Every file under `dir` with its contents: a row must leave it as it was.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    std::string contents;
    if (entry.is_regular_file()) {
      std::ifstream in(entry.path());
      std::stringstream s;
      s << in.rdbuf();
      contents = s.str();
    }
    files[entry.path().string()] = contents;
  }
  return files;
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

TEST_CASE("bad input to every option of every subcommand: one line, a non-zero exit, nothing written",
          "[cli][bad-input]") {
  memstrat::test::TempDir fixtures;
  const std::string dir = fixtures.path("f");
  std::filesystem::create_directory(dir);
  write(dir + "/junk.bin", "not a dataset");
  write(dir + "/afile", "a file, not a folder");
  write(dir + "/bad.json", "{\"benchmarks\": [");
  write(dir + "/other.json", "{\"something\": 1}");
  write(dir + "/empty.toml", "");
  const std::string cell = R"("models": ["mlp:8"], "image": 4, "samples": 4, "allocators": ["malloc"])";
  write(dir + "/ok.json",
        "{\"repeats\": 1, \"steps\": 1, \"warmup\": 0, \"matrix\": [{" + cell + ", \"batches\": [2]}]}");
  write(dir + "/accum.json", "{\"matrix\": [{" + cell + ", \"batches\": [6], \"techniques\": [\"accum:4\"]}]}");
  write(dir + "/accum-big.json", "{\"matrix\": [{" + cell + ", \"batches\": [4], \"techniques\": [\"accum:8\"]}]}");
  write(dir + "/recompute.json",
        "{\"matrix\": [{" + cell + ", \"batches\": [2], \"techniques\": [\"recompute:50\"]}]}");
  const auto before = snapshot(dir);

  const char* table_path = std::getenv("MEMSTRAT_BAD_INPUT_TABLE");
  std::ofstream markdown;
  if (table_path != nullptr) {
    markdown.open(table_path);
    markdown << "| # | `memstrat` arguments | must say | exit | the one line on stderr |\n|---|---|---|---|---|\n";
  }
  const auto rows = table();
  int number = 0;
  for (const Row& row : rows) {
    ++number;
    const std::string args = replace_all(row.args, "{dir}", dir);
    const std::string expect = replace_all(row.expect, "{dir}", dir);
    const auto result = run_cli(args);
    if (markdown.is_open()) {
      const auto cell = [&](const std::string& text) { return replace_all(replace_all(text, dir, "DIR"), "|", "\\|"); };
      markdown << "| " << number << " | `" << cell(args) << "` | " << cell(expect) << " | " << result.exit_code << " | "
               << cell(result.err.substr(0, result.err.find('\n'))) << " |\n";
    }
    INFO("row " << number << ": memstrat " << args << "\nmust say: " << expect << "\nexit " << result.exit_code
                << "\nstdout: " << result.out << "\nstderr: " << result.err);
    CHECK(result.exit_code != 0);
    CHECK(result.exit_code < 128);  // an answer, not a crash
    bool said = false;
    for (std::size_t from = 0; from <= expect.size();) {
      const std::size_t to = std::min(expect.find(" || ", from), expect.size());
      said = said || result.err.find(expect.substr(from, to - from)) != std::string::npos;
      from = to + 4;
    }
    CHECK(said);
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
    CHECK(result.err.rfind("memstrat: error: ", 0) == 0);
    CHECK(result.out.empty());
    CHECK(snapshot(dir) == before);  // no partial file, nothing removed or changed
  }
  CHECK(rows.size() > 200);
}

TEST_CASE("sizes: binary and decimal units in any case, bits refused, the forms named in --help", "[cli][bad-input]") {
  using memstrat::cli::parse_size;
  const struct {
    const char* text;
    std::size_t bytes;
  } accepted[] = {
      {"100", 100},           {"100B", 100},           {"2k", 2048},
      {"2K", 2048},           {"2KiB", 2048},          {"2kib", 2048},
      {"2KB", 2000},          {"2kB", 2000},           {"512MiB", 512ull << 20},
      {"512M", 512ull << 20}, {"512Mi", 512ull << 20}, {"512MB", 512000000},
      {"2GiB", 2ull << 30},   {"2 GiB", 2ull << 30},   {"2gib", 2ull << 30},
      {"2G", 2ull << 30},     {"2GB", 2000000000},     {"2gb", 2000000000},
      {"1.5GiB", 3ull << 29}, {"1TiB", 1ull << 40},    {"1TB", 1000000000000ull},
  };
  for (const auto& a : accepted) {
    INFO(a.text);
    CHECK(parse_size(a.text) == a.bytes);
  }
  for (const char* bad : {"", "GiB", "-1", "0", "2 bananas", "2Gb", "2Mb", "1e9", "2EiB", "2GiBs", "1..5G", "nan"}) {
    INFO("'" << bad << "'");
    CHECK_THROWS_AS(parse_size(bad), std::invalid_argument);
  }
  for (const char* command : {"suite", "fit"}) {
    const auto help = run_cli(std::string(command) + " --help");
    INFO(help.out);
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("powers of 1024") != std::string::npos);
    CHECK(help.out.find("powers of 1000") != std::string::npos);
  }
}
