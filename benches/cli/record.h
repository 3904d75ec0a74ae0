// Results files: Google Benchmark's JSON shape ({"context": ..., "benchmarks":
// [...]}), one record per run, written atomically so that no reader ever sees
// half a file.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "benches/cli/session.h"
#include "benches/cli/status.h"

namespace memstrat::cli {

// The exit status of `memstrat run` when training diverged (its record says where).
inline constexpr int kDivergedExit = 3;

// Trains `options` here and returns its record (every figure of DESIGN.md), or a
// record of status "diverged" when the loss left the rails.
nlohmann::json measure_run(const RunOptions& options, int warmup, bool keep_timeline);

// The record of a run that gave no figures (or whose figures do not count): its name
// as both name and run_name, its status and why, the error fields Google Benchmark's
// readers look for, and its configuration.
nlohmann::json failure_record(const std::string& name, const nlohmann::json& config, RunStatus status,
                              const std::string& reason);

nlohmann::json results_document(const std::vector<nlohmann::json>& records, const nlohmann::json& context);
// Writes to PATH.tmp, flushes, renames over PATH: a reader sees the old file or the
// new one, never half of one, and a full disk leaves the old file as it was.
// Throws std::runtime_error naming `what` and the path.
void write_file_atomically(const std::string& path, const std::string& text, const std::string& what);
// Refuses (std::logic_error) a document whose records or context hold a key that
// schema/results.json does not declare, or of another type than it declares.
void check_against_schema(const nlohmann::json& document);
// Checks the document against the schema, then writes it atomically.
void write_results_file(const std::string& path, const nlohmann::json& document);
// Reads and checks a results file: every record has a name and a status, and every
// run (run_type "iteration") has the fields that --resume reads from it, of the right
// types. Throws std::runtime_error naming the file and what is wrong.
nlohmann::json read_results_file(const std::string& path);
// The same from the file's text; `path` names it in errors.
nlohmann::json parse_results_text(const std::string& text, const std::string& path);

void print_record_summary(const nlohmann::json& record);

}  // namespace memstrat::cli
