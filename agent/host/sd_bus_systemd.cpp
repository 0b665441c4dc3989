#include "agent/host/sd_bus_systemd.hpp"

#include "agent/host/debug_log.hpp"

#include <systemd/sd-bus.h>

#include <csignal>
#include <cstring>

namespace rs::agent {
namespace {

constexpr const char* kDest = "org.freedesktop.systemd1";
constexpr const char* kPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";
constexpr const char* kUnitIface = "org.freedesktop.systemd1.Unit";
constexpr const char* kServiceIface = "org.freedesktop.systemd1.Service";

// Owns an sd_bus_error for the scope of one call.
struct BusError {
  sd_bus_error e = SD_BUS_ERROR_NULL;
  ~BusError() { sd_bus_error_free(&e); }
  std::string text(int r) const {
    if (e.message && *e.message) return e.message;
    return std::strerror(-r);
  }
};

struct MessageRef {
  sd_bus_message* m = nullptr;
  ~MessageRef() { sd_bus_message_unref(m); }
};

Errc errc_of(int r) {
  switch (-r) {
    case ENOENT: case ECONNREFUSED: case ECONNRESET: case ENOTCONN: case EHOSTUNREACH: return Errc::unavailable;
    case EACCES: case EPERM: return Errc::permission_denied;
    case ETIMEDOUT: return Errc::timeout;
    default: return Errc::io;
  }
}

Error bus_error(const std::string& what, int r, const BusError& e) { return make_error(errc_of(r), what + ": " + e.text(r)); }

// Manager.Subscribe makes systemd send JobRemoved to this connection.
Result<std::unique_ptr<SdBusSystemd>> subscribe(sd_bus* bus, std::unique_ptr<SdBusSystemd> sd) {
  BusError err;
  int r = sd_bus_call_method(bus, kDest, kPath, kManager, "Subscribe", &err.e, nullptr, "");
  if (r < 0) return bus_error("systemd Subscribe", r, err);
  return sd;
}

struct JobWait {
  std::string job;
  bool done = false;
  std::string result;
};

int on_job_removed(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* w = static_cast<JobWait*>(userdata);
  uint32_t id = 0;
  const char *path = nullptr, *unit = nullptr, *result = nullptr;
  if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0) return 0;
  if (path && w->job == path) {
    w->done = true;
    w->result = result ? result : "";
  }
  return 0;
}

}  // namespace

Result<std::unique_ptr<SdBusSystemd>> SdBusSystemd::open_system() {
  sd_bus* bus = nullptr;
  int r = sd_bus_open_system(&bus);
  if (r < 0) return make_error(errc_of(r), std::string("system bus: ") + std::strerror(-r));
  auto sd = std::unique_ptr<SdBusSystemd>(new SdBusSystemd(bus));
  return subscribe(bus, std::move(sd));
}

Result<std::unique_ptr<SdBusSystemd>> SdBusSystemd::open_address(const std::string& address) {
  sd_bus* bus = nullptr;
  int r = sd_bus_new(&bus);
  if (r < 0) return make_error(Errc::internal, std::string("sd_bus_new: ") + std::strerror(-r));
  auto sd = std::unique_ptr<SdBusSystemd>(new SdBusSystemd(bus));
  if ((r = sd_bus_set_address(bus, address.c_str())) < 0)
    return make_error(Errc::invalid_argument, "bus address '" + address + "': " + std::strerror(-r));
  sd_bus_set_bus_client(bus, 1);
  if ((r = sd_bus_start(bus)) < 0)
    return make_error(errc_of(r), "bus '" + address + "': " + std::strerror(-r));
  return subscribe(bus, std::move(sd));
}

SdBusSystemd::~SdBusSystemd() { sd_bus_flush_close_unref(bus_); }

Result<std::string> SdBusSystemd::unit_path(const std::string& unit) {
  BusError err;
  MessageRef reply;
  int r = sd_bus_call_method(bus_, kDest, kPath, kManager, "LoadUnit", &err.e, &reply.m, "s", unit.c_str());
  if (r < 0) return bus_error("load '" + unit + "'", r, err);
  const char* path = nullptr;
  if ((r = sd_bus_message_read(reply.m, "o", &path)) < 0)
    return make_error(Errc::io, "load '" + unit + "': " + std::strerror(-r));
  return std::string(path);
}

Result<std::vector<std::vector<std::string>>> SdBusSystemd::exec_start(const std::string& unit) {
  auto path = unit_path(unit);
  if (!path) return path.error();
  BusError err;
  MessageRef reply;
  int r = sd_bus_get_property(bus_, kDest, path->c_str(), kServiceIface, "ExecStart", &err.e, &reply.m,
                              "a(sasbttttuii)");
  if (r < 0) return bus_error("ExecStart of '" + unit + "'", r, err);
  std::vector<std::vector<std::string>> out;
  auto bad = [&](int rr) { return make_error(Errc::io, "ExecStart of '" + unit + "': " + std::strerror(-rr)); };
  if ((r = sd_bus_message_enter_container(reply.m, 'a', "(sasbttttuii)")) < 0) return bad(r);
  while ((r = sd_bus_message_enter_container(reply.m, 'r', "sasbttttuii")) > 0) {
    const char* program = nullptr;
    char** argv = nullptr;
    if ((r = sd_bus_message_read(reply.m, "s", &program)) < 0) return bad(r);
    if ((r = sd_bus_message_read_strv(reply.m, &argv)) < 0) return bad(r);
    std::vector<std::string> args;
    for (char** a = argv; a && *a; ++a) args.emplace_back(*a);
    for (char** a = argv; a && *a; ++a) free(*a);
    free(argv);
    // argv[0] as written in the unit; the program path is what runs.
    if (!args.empty()) args[0] = program;
    out.push_back(std::move(args));
    if ((r = sd_bus_message_skip(reply.m, "bttttuii")) < 0) return bad(r);
    if ((r = sd_bus_message_exit_container(reply.m)) < 0) return bad(r);
  }
  if (r < 0) return bad(r);
  return out;
}

Result<UnitState> SdBusSystemd::unit_state(const std::string& unit) {
  auto path = unit_path(unit);
  if (!path) return path.error();
  UnitState s;
  auto str = [&](const char* iface, const char* name, std::string& into) -> Result<void> {
    BusError err;
    char* value = nullptr;
    int r = sd_bus_get_property_string(bus_, kDest, path->c_str(), iface, name, &err.e, &value);
    if (r < 0) return bus_error(std::string(name) + " of '" + unit + "'", r, err);
    into = value ? value : "";
    free(value);
    return ok();
  };
  for (auto [name, into] : {std::pair<const char*, std::string*>{"LoadState", &s.load_state},
                            {"ActiveState", &s.active_state},
                            {"SubState", &s.sub_state},
                            {"UnitFileState", &s.unit_file_state}})
    if (auto r = str(kUnitIface, name, *into); !r) return r.error();
  BusError err;
  int need = 0;
  int r = sd_bus_get_property_trivial(bus_, kDest, path->c_str(), kUnitIface, "NeedDaemonReload", &err.e, 'b', &need);
  if (r < 0) return bus_error("NeedDaemonReload of '" + unit + "'", r, err);
  s.need_daemon_reload = need != 0;
  if (unit.size() > 8 && unit.ends_with(".service") && s.load_state == "loaded") {
    if (auto rr = str(kServiceIface, "Result", s.result); !rr) return rr.error();
    BusError err2;
    int32_t status = 0;
    r = sd_bus_get_property_trivial(bus_, kDest, path->c_str(), kServiceIface, "ExecMainStatus", &err2.e, 'i', &status);
    if (r < 0) return bus_error("ExecMainStatus of '" + unit + "'", r, err2);
    s.exec_main_status = status;
    BusError err3;
    uint32_t pid = 0;
    r = sd_bus_get_property_trivial(bus_, kDest, path->c_str(), kServiceIface, "MainPID", &err3.e, 'u', &pid);
    if (r < 0) return bus_error("MainPID of '" + unit + "'", r, err3);
    s.main_pid = pid;
  }
  return s;
}

Result<void> SdBusSystemd::reload() {
  BusError err;
  int r = sd_bus_call_method(bus_, kDest, kPath, kManager, "Reload", &err.e, nullptr, "");
  if (r < 0) return bus_error("daemon-reload", r, err);
  return ok();
}

Result<void> SdBusSystemd::run_job(const char* method, const std::string& unit) {
  const std::string what = std::string(method) + " '" + unit + "'";
  JobWait wait;
  sd_bus_slot* slot = nullptr;
  // Match before the call, so the JobRemoved of a fast job cannot be missed.
  int r = sd_bus_match_signal(bus_, &slot, kDest, kPath, kManager, "JobRemoved", on_job_removed, &wait);
  if (r < 0) return make_error(errc_of(r), what + ": match JobRemoved: " + std::strerror(-r));
  struct SlotRef {
    sd_bus_slot* s;
    ~SlotRef() { sd_bus_slot_unref(s); }
  } slot_ref{slot};

  BusError err;
  MessageRef reply;
  r = sd_bus_call_method(bus_, kDest, kPath, kManager, method, &err.e, &reply.m, "ss", unit.c_str(), "replace");
  if (r < 0) return bus_error(what, r, err);
  const char* job = nullptr;
  if ((r = sd_bus_message_read(reply.m, "o", &job)) < 0) return make_error(Errc::io, what + ": " + std::strerror(-r));
  wait.job = job;
  debug_log(what + ": waiting for JobRemoved of " + wait.job);

  auto deadline = std::chrono::steady_clock::now() + job_timeout_;
  while (!wait.done) {
    r = sd_bus_process(bus_, nullptr);
    if (r < 0) return make_error(errc_of(r), what + ": bus: " + std::strerror(-r));
    if (r > 0) continue;
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return make_error(Errc::timeout, what + ": job " + wait.job + " not finished after " +
                                           std::to_string(job_timeout_.count() / 1000) + " s");
    r = sd_bus_wait(bus_, static_cast<uint64_t>(left.count()));
    if (r < 0) return make_error(errc_of(r), what + ": bus: " + std::strerror(-r));
  }
  debug_log(what + ": job " + wait.job + " removed, result '" + wait.result + "'");
  auto state = unit_state(unit);
  if (!state) return state.error();
  if (wait.result != "done" || state->active_state != "active")
    return make_error(Errc::conflict, what + ": job result '" + wait.result + "', unit is " + state->active_state +
                                          " (" + state->sub_state + (state->result.empty() ? "" : ", " + state->result) + ")");
  return ok();
}

// A unit whose earlier starts failed (its own Restart= loop after a bad config, or the
// run's attempt before its rollback) may have used up its start limit, and systemd would
// refuse this job for that alone: its failed state and start counter are reset first, as
// `systemctl reset-failed` does. Best effort: a unit not loaded yet has nothing to reset.
void SdBusSystemd::reset_failed(const std::string& unit) {
  BusError err;
  int r = sd_bus_call_method(bus_, kDest, kPath, kManager, "ResetFailedUnit", &err.e, nullptr, "s", unit.c_str());
  if (r < 0) debug_log("reset-failed '" + unit + "': " + std::strerror(-r));
}

Result<void> SdBusSystemd::start(const std::string& unit) {
  reset_failed(unit);
  return run_job("StartUnit", unit);
}

Result<void> SdBusSystemd::restart(const std::string& unit) {
  reset_failed(unit);
  return run_job("RestartUnit", unit);
}

Result<void> SdBusSystemd::reload_unit(const std::string& unit) {
  auto state = unit_state(unit);
  if (!state) return state.error();
  if (state->active_state != "active")
    return make_error(Errc::conflict, "reload '" + unit + "': the unit is " + state->active_state + ", not running");
  auto path = unit_path(unit);
  if (!path) return path.error();
  BusError err;
  int can_reload = 0;
  int r = sd_bus_get_property_trivial(bus_, kDest, path->c_str(), kUnitIface, "CanReload", &err.e, 'b', &can_reload);
  if (r < 0) return bus_error("CanReload of '" + unit + "'", r, err);
  if (can_reload) return run_job("ReloadUnit", unit);
  BusError kill_err;
  r = sd_bus_call_method(bus_, kDest, kPath, kManager, "KillUnit", &kill_err.e, nullptr, "ssi", unit.c_str(), "main",
                         static_cast<int32_t>(SIGHUP));
  if (r < 0) return bus_error("KillUnit '" + unit + "' SIGHUP", r, kill_err);
  return ok();
}

Result<void> SdBusSystemd::enable(const std::string& unit) {
  BusError err;
  MessageRef call, reply;
  int r = sd_bus_message_new_method_call(bus_, &call.m, kDest, kPath, kManager, "EnableUnitFiles");
  if (r >= 0) {
    const char* files[] = {unit.c_str(), nullptr};
    r = sd_bus_message_append_strv(call.m, const_cast<char**>(files));
  }
  if (r >= 0) r = sd_bus_message_append(call.m, "bb", 0, 0);
  if (r < 0) return make_error(Errc::internal, "enable '" + unit + "': " + std::strerror(-r));
  r = sd_bus_call(bus_, call.m, 0, &err.e, &reply.m);
  if (r < 0) return bus_error("enable '" + unit + "'", r, err);
  return reload();
}

std::string unixexec_address(const std::vector<std::string>& argv) {
  auto escape = [](const std::string& s) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '_' || c == '-' || c == '/' || c == '.') {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += hex[c >> 4];
        out += hex[c & 15];
      }
    }
    return out;
  };
  std::string address = "unixexec:path=" + escape(argv.at(0));
  for (std::size_t i = 0; i < argv.size(); ++i) address += ",argv" + std::to_string(i) + "=" + escape(argv[i]);
  return address;
}

std::string ssh_bus_address(const std::vector<std::string>& ssh_argv) {
  std::vector<std::string> argv = ssh_argv;
  argv.push_back("systemd-stdio-bridge");
  return unixexec_address(argv);
}

}  // namespace rs::agent
