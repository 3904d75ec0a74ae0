#include "benches/cli/supervise.h"

#include "benches/cli/machine.h"

#include <fcntl.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <ctime>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace memstrat::cli {

std::atomic<bool> stop_requested{false};

static void on_stop_signal(int) { stop_requested = true; }

void install_interrupt_handler() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

namespace {

bool write_file(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
  ::close(fd);
  return ok;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A number after `key` in a "key value" file such as memory.events.
std::optional<std::size_t> keyed_value(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  for (std::string k; in >> k;) {
    std::size_t v = 0;
    if (!(in >> v)) break;
    if (k == key) return v;
  }
  return std::nullopt;
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// One memory cgroup for one child, removed when done.
class MemoryCgroup {
 public:
  static std::unique_ptr<MemoryCgroup> create(std::size_t limit) {
    static int counter = 0;
    const std::string name = "memstrat-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    if (is_dir("/sys/fs/cgroup/memory") && !is_dir("/sys/fs/cgroup/memory/cgroup.controllers")) {
      auto cg = std::unique_ptr<MemoryCgroup>(new MemoryCgroup("/sys/fs/cgroup/memory/" + name, "cgroup-v1"));
      if (cg->make() && write_file(cg->path_ + "/memory.limit_in_bytes", std::to_string(limit))) return cg;
    }
    if (::access("/sys/fs/cgroup/cgroup.controllers", R_OK) == 0) {
      write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
      auto cg = std::unique_ptr<MemoryCgroup>(new MemoryCgroup("/sys/fs/cgroup/" + name, "cgroup-v2"));
      if (cg->make() && write_file(cg->path_ + "/memory.max", std::to_string(limit))) {
        write_file(cg->path_ + "/memory.swap.max", "0");
        return cg;
      }
    }
    return nullptr;
  }
  ~MemoryCgroup() {
    if (made_) ::rmdir(path_.c_str());
  }
  bool add(pid_t pid) { return write_file(path_ + "/cgroup.procs", std::to_string(pid)); }
  bool oom_killed() const {
    if (kind_ == "cgroup-v2") return keyed_value(read_file(path_ + "/memory.events"), "oom_kill").value_or(0) > 0;
    const auto kills = keyed_value(read_file(path_ + "/memory.oom_control"), "oom_kill");
    if (kills) return *kills > 0;
    return number_in(path_ + "/memory.failcnt").value_or(0) > 0;
  }
  std::optional<std::size_t> peak() const {
    return kind_ == "cgroup-v2" ? number_in(path_ + "/memory.peak") : number_in(path_ + "/memory.max_usage_in_bytes");
  }
  const std::string& kind() const { return kind_; }

 private:
  MemoryCgroup(std::string path, std::string kind) : path_(std::move(path)), kind_(std::move(kind)) {}
  bool make() { return made_ = ::mkdir(path_.c_str(), 0755) == 0; }
  std::string path_, kind_;
  bool made_ = false;
};

std::size_t rss_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  std::size_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * std::size_t(::sysconf(_SC_PAGESIZE));
}

std::string last_line(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

std::string mib(std::size_t bytes) {
  std::ostringstream s;
  s.precision(1);
  s << std::fixed << double(bytes) / 1048576.0 << " MiB";
  return s.str();
}

}  // namespace

std::string budget_enforcement() {
  auto cg = MemoryCgroup::create(std::size_t(1) << 40);
  return cg ? cg->kind() : "watchdog";
}

std::vector<int> process_tree(int root) {
  std::vector<int> tree;
  if (::kill(root, 0) != 0) return tree;
  tree.push_back(root);
  for (std::size_t i = 0; i < tree.size(); ++i) {
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(tree[i]) + "/task", ec)) {
      std::ifstream in(task.path() / "children");
      for (int child; in >> child;) tree.push_back(child);
    }
  }
  return tree;
}

Outcome supervise(const std::vector<std::string>& argv, const Limits& limits, const std::string& stdout_path,
                  const std::string& stderr_path, const ChildSetup& setup) {
  Outcome outcome;
  std::unique_ptr<MemoryCgroup> cgroup;
  if (limits.memory_bytes) cgroup = MemoryCgroup::create(*limits.memory_bytes);
  outcome.enforcement = !limits.memory_bytes ? "none" : cgroup ? cgroup->kind() : "watchdog";

  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The child's environment: this one's, with the setup's variables put over it.
  std::vector<std::string> env_text;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string key = entry.substr(0, entry.find('=') + 1);
    bool replaced = false;
    for (const auto& mine : setup.env) replaced = replaced || mine.compare(0, key.size(), key) == 0;
    if (!replaced) env_text.push_back(entry);
  }
  env_text.insert(env_text.end(), setup.env.begin(), setup.env.end());
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string out = stdout_path.empty() ? "/dev/null" : stdout_path;
  const std::string err = stderr_path.empty() ? "/dev/null" : stderr_path;
  int go[2];
  auto cannot_start = [&outcome] {
    outcome.status = RunStatus::crash;
    outcome.reason = std::string("cannot start a run: ") + std::strerror(errno);
    return outcome;
  };
  if (::pipe2(go, O_CLOEXEC) != 0) return cannot_start();

  const auto start = std::chrono::steady_clock::now();
  timespec start_time{};
  ::clock_gettime(CLOCK_MONOTONIC, &start_time);
  outcome.start_monotonic_ns = double(start_time.tv_sec) * 1e9 + double(start_time.tv_nsec);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(go[0]), ::close(go[1]);
    return cannot_start();
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o >= 0) ::dup2(o, STDOUT_FILENO);
    if (e >= 0) ::dup2(e, STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    char byte;
    ::close(go[1]);
    if (::read(go[0], &byte, 1) != 1) ::_exit(126);  // the parent gave up
    for (const int fd : setup.inherit_fds) ::fcntl(fd, F_SETFD, 0);
    if (setup.search_path)
      ::execvpe(args[0], args.data(), envp.data());
    else
      ::execve(args[0], args.data(), envp.data());
    const char message[] = "memstrat: error: cannot execute the run\n";
    if (::write(STDERR_FILENO, message, sizeof message - 1) < 0) ::_exit(127);
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(go[0]);
  if (cgroup && !cgroup->add(pid)) {
    cgroup.reset();
    outcome.enforcement = "watchdog";
  }
  const char byte = 1;
  if (::write(go[1], &byte, 1) != 1) {
  }
  ::close(go[1]);

  int status = 0;
  std::string killed_for;
  struct rusage usage {};
  std::set<int> seen;
  auto next_sample = start;
  for (;;) {
    const pid_t done = ::wait4(pid, &status, WNOHANG, &usage);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) break;
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start).count();
    std::size_t tree_rss = 0;
    if (setup.sample_ms > 0 && now >= next_sample) {
      next_sample = now + std::chrono::microseconds(long(setup.sample_ms * 1000));
      const std::vector<int> tree = process_tree(pid);
      for (const int p : tree) tree_rss += rss_of(p), seen.insert(p);
      outcome.timeline.push_back({elapsed * 1000.0, tree_rss, int(tree.size())});
      outcome.tree_peak_rss_bytes = std::max(outcome.tree_peak_rss_bytes, tree_rss);
    }
    if (killed_for.empty()) {
      if (stop_requested) {
        killed_for = "interrupted";
      } else if (limits.timeout_s > 0 && elapsed > limits.timeout_s) {
        killed_for = "timeout";
      } else if (limits.memory_bytes && !cgroup) {
        const std::size_t rss = setup.sample_ms > 0 ? tree_rss : rss_of(pid);
        if (rss > *limits.memory_bytes) {
          killed_for = "oom";
          outcome.reason = std::string(setup.sample_ms > 0 ? "the process tree's RSS " : "RSS ") + mib(rss) +
                           " passed the budget of " + mib(*limits.memory_bytes) + " (watchdog)";
        }
      }
      if (!killed_for.empty()) ::kill(-pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(killed_for.empty() ? 5 : 1));
  }
  outcome.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  outcome.cpu_s = double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                  double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  outcome.minor_faults = usage.ru_minflt;
  outcome.major_faults = usage.ru_majflt;
  outcome.processes_seen = int(seen.size());
  // The tree outlives its leader when a process it started does not die with it.
  if (setup.sample_ms > 0) ::kill(-pid, SIGKILL);
  if (cgroup) outcome.cgroup_peak_bytes = cgroup->peak();

  if (WIFEXITED(status)) outcome.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) outcome.signal = WTERMSIG(status);
  if (killed_for == "interrupted") {
    outcome.status = RunStatus::interrupted;
    outcome.reason = "stopped by the user";
  } else if (killed_for == "timeout") {
    outcome.status = RunStatus::timeout;
    outcome.reason = "ran past its time limit of " + std::to_string(int(limits.timeout_s)) + " s";
  } else if (killed_for == "oom" || (cgroup && cgroup->oom_killed() && outcome.exit_code != 0)) {
    outcome.status = RunStatus::oom;
    if (outcome.reason.empty())
      outcome.reason = "over the budget of " + mib(*limits.memory_bytes) + " (" + outcome.enforcement + " OOM kill)";
  } else if (outcome.exit_code == 0) {
    outcome.status = RunStatus::ok;
  } else {
    outcome.status = RunStatus::crash;
    const std::string said = last_line(err);
    outcome.reason = outcome.signal != 0 ? std::string("killed by signal ") + ::strsignal(outcome.signal)
                                         : "exited with status " + std::to_string(outcome.exit_code);
    if (!said.empty()) outcome.reason += ": " + said;
  }
  return outcome;
}

std::string self_exe() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

WorkDir::WorkDir(const std::string& name) {
  std::string pattern = "/tmp/memstrat-" + name + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot make a working directory in /tmp");
  path_ = pattern;
}

WorkDir::~WorkDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string read_child_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace memstrat::cli
