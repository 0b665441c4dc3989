#include "agent/host/process_command_runner.hpp"

#include <utility>  // before Asio: g++ 12 needs std::exchange declared

#include <boost/asio.hpp>
#include <boost/process.hpp>

#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace rs::agent {
namespace {

namespace bp = boost::process;

// Finds a program on PATH and in the sbin directories, which are not on a non-root PATH.
std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  path += ":/usr/local/sbin:/usr/sbin:/sbin";
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    std::filesystem::path p = std::filesystem::path(dir) / name;
    std::error_code ec;
    if (std::filesystem::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return {};
}

}  // namespace

Result<CommandResult> ProcessCommandRunner::run(const std::vector<std::string>& argv, const std::string& input,
                                                std::chrono::milliseconds timeout) {
  if (argv.empty()) return make_error(Errc::invalid_argument, "run: empty command");
  std::string exe = find_program(argv[0]);
  if (exe.empty()) return make_error(Errc::not_found, "run '" + argv[0] + "': program not found");
  std::vector<std::string> args(argv.begin() + 1, argv.end());

  // io_context + async pipes + run_for: child::wait_for waits the whole timeout even when the
  // child already exited, and reading stdout to the end before stderr can deadlock.
  boost::asio::io_context ioc;
  std::future<std::string> out, err;
  bp::async_pipe in_pipe(ioc);
  int exit_code = -1;
  bool exited = false;
  try {
    bp::child child(bp::exe = exe, bp::args = args, bp::std_out > out, bp::std_err > err, bp::std_in < in_pipe, ioc,
                    bp::on_exit = [&](int code, const std::error_code&) {
                      exit_code = code;
                      exited = true;
                    });
    auto buffer = std::make_shared<std::string>(input);
    if (input.empty())
      in_pipe.close();
    else
      boost::asio::async_write(in_pipe, boost::asio::buffer(*buffer),
                               [&in_pipe, buffer](const boost::system::error_code&, std::size_t) { in_pipe.close(); });
    ioc.run_for(timeout);
    if (!exited) {
      std::error_code ec;
      child.terminate(ec);
      return make_error(Errc::timeout, "run '" + shell_join(argv) + "': no exit after " +
                                           std::to_string(timeout.count()) + " ms, killed");
    }
    child.wait();
  } catch (const std::exception& e) {
    return make_error(Errc::io, "run '" + shell_join(argv) + "': " + e.what());
  }
  CommandResult r;
  r.exit_code = exit_code;
  r.out = out.get();
  r.err = err.get();
  return r;
}

}  // namespace rs::agent
