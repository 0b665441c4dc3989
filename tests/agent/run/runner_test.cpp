#include "agent/run/runner.hpp"

#include "agent/modules/docker_insecure_registry_module.hpp"
#include "agent/modules/systemd_module.hpp"

#include "fakes.hpp"

#include <catch2/catch.hpp>

using namespace rs::agent;
using namespace rs::agent::test;
using rs::Result;

namespace {

// An action whose check and apply are scripted; counts calls.
struct Scripted : Action {
  int differs_for = 1;  // how many checks report a change
  bool apply_fails = false;
  bool restarts = false;  // also asks for a restart on every run
  bool rolls_back = false;
  // When set, a change is reported until this other action has applied (a handler's work).
  const Scripted* done_by = nullptr;
  int checks = 0, applies = 0;
  Result<Diff> check(HostContext&) override {
    Diff d;
    if (done_by ? done_by->applies == 0 : checks < differs_for) d.changes.push_back({ChangeKind::unloaded, "something"});
    ++checks;
    if (restarts) d.changes.push_back({ChangeKind::restart, "restart", true});
    return d;
  }
  Result<void> apply(HostContext&, const Diff&) override {
    ++applies;
    if (apply_fails) return rs::make_error(rs::Errc::io, "boom");
    return rs::ok();
  }
  std::string summary() const override { return "scripted"; }
  bool rolls_back_on_failure() const override { return rolls_back; }
};

struct Book {
  Play play;
  std::vector<TaskSpec> specs;
  HostPlan plan;
  std::vector<Scripted*> actions;

  // tasks: name -> notify list; handlers: names.
  Book(std::vector<std::pair<std::string, std::vector<std::string>>> tasks, std::vector<std::string> handlers) {
    play.name = "p";
    for (auto& [name, notify] : tasks) play.tasks.push_back(TaskSpec{name, "scripted", {}, notify, 0, name});
    for (auto& name : handlers) play.handlers.push_back(TaskSpec{name, "scripted", {}, {}, 0, name});
    PlannedPlay pp;
    pp.play = &play;
    for (auto& t : play.tasks) pp.tasks.push_back(add(t));
    for (auto& t : play.handlers) pp.handlers.push_back(add(t));
    plan.plays.push_back(std::move(pp));
  }
  PlannedTask add(const TaskSpec& spec) {
    auto a = std::make_unique<Scripted>();
    actions.push_back(a.get());
    return PlannedTask{&spec, std::move(a)};
  }
};

}  // namespace

TEST_CASE("runner: a changed task notifies its handler, which runs once at the end") {
  FakeHost h;
  Book book({{"t1", {"restart"}}, {"t2", {"restart"}}, {"t3", {}}}, {"restart", "unused"});
  std::vector<std::string> order;
  auto report = run_host(book.plan, h.ctx, RunOptions{}, [&](const std::string&, const TaskReport& t) {
    order.push_back(t.task + ":" + to_string(t.status));
  });
  CHECK(order == std::vector<std::string>{"t1:changed", "t2:changed", "t3:changed", "restart:changed"});
  CHECK(book.actions[3]->applies == 1);  // handler ran once although notified twice
  CHECK(book.actions[4]->checks == 0);   // not notified: not even checked
  CHECK(report.count(TaskStatus::changed) == 4);
}

TEST_CASE("runner: unchanged tasks do not notify, check mode applies nothing") {
  FakeHost h;
  Book book({{"t1", {"restart"}}}, {"restart"});
  book.actions[0]->differs_for = 0;
  auto report = run_host(book.plan, h.ctx, RunOptions{}, nullptr);
  CHECK(report.count(TaskStatus::ok) == 1);
  CHECK(report.tasks.size() == 1);
  CHECK(book.actions[1]->checks == 0);

  Book check_book({{"t1", {"restart"}}}, {"restart"});
  auto checked = run_host(check_book.plan, h.ctx, RunOptions{true}, nullptr);
  CHECK(checked.count(TaskStatus::changed) == 2);  // would change, would restart
  CHECK(check_book.actions[0]->applies == 0);
  CHECK(check_book.actions[1]->applies == 0);
}

TEST_CASE("runner: a task still differing after apply fails, later tasks are skipped") {
  FakeHost h;
  Book book({{"t1", {}}, {"t2", {}}}, {});
  book.actions[0]->differs_for = 2;
  auto report = run_host(book.plan, h.ctx, RunOptions{}, nullptr);
  REQUIRE(report.tasks.size() == 2);
  CHECK(report.tasks[0].status == TaskStatus::failed);
  CHECK_THAT(report.tasks[0].message, Catch::Contains("still differs after apply"));
  CHECK(report.tasks[1].status == TaskStatus::skipped);
  CHECK(book.actions[1]->checks == 0);
  CHECK(report.failed());
}

TEST_CASE("runner: handlers of changes already made still run after a later failure") {
  FakeHost h;
  Book book({{"t1", {"restart"}}, {"t2", {}}}, {"restart"});
  book.actions[1]->apply_fails = true;
  auto report = run_host(book.plan, h.ctx, RunOptions{}, nullptr);
  REQUIRE(report.tasks.size() == 3);
  CHECK(report.tasks[1].status == TaskStatus::failed);
  CHECK(report.tasks[1].message == "boom");
  CHECK(report.tasks[2].handler);
  CHECK(book.actions[2]->applies == 1);
}

TEST_CASE("runner: a change asked for on every run does not fail the check after apply") {
  FakeHost h;
  Book book({{"t1", {}}}, {});
  book.actions[0]->restarts = true;
  auto report = run_host(book.plan, h.ctx, RunOptions{}, nullptr);
  REQUIRE(report.tasks.size() == 1);
  CHECK(report.tasks[0].status == TaskStatus::changed);
  CHECK(book.actions[0]->checks == 2);
}

TEST_CASE("runner: a notifying task is checked again after its handlers ran, not before") {
  FakeHost h;
  Book book({{"t1", {"restart"}}}, {"restart"});
  // t1's change is complete only once its handler applied (a drop-in loaded by a restart).
  book.actions[0]->done_by = book.actions[1];
  auto report = run_host(book.plan, h.ctx, RunOptions{}, nullptr);
  REQUIRE(report.tasks.size() == 2);
  CHECK(report.tasks[0].status == TaskStatus::changed);
  CHECK(report.tasks[1].status == TaskStatus::changed);
  CHECK(book.actions[0]->checks == 2);  // before apply, after the handler
  CHECK_FALSE(report.failed());

  // Still different after the handler: the task is reported failed, after the handler.
  Book stuck({{"t1", {"restart"}}}, {"restart"});
  stuck.actions[0]->differs_for = 5;
  auto failed = run_host(stuck.plan, h.ctx, RunOptions{}, nullptr);
  REQUIRE(failed.tasks.size() == 3);
  CHECK(failed.tasks[2].task == "t1");
  CHECK(failed.tasks[2].status == TaskStatus::failed);
  CHECK_THAT(failed.tasks[2].message, Catch::Contains("still differs after its handlers ran: something"));
  CHECK(failed.failed());
}

TEST_CASE("runner: a failed restart rolls back: files restored, reloaded, restarted, docker's error reported") {
  FakeHost h;
  const std::string dropin = "/etc/systemd/system/docker.service.d/90-registry-setup.conf";
  write_text(h.at("/etc/docker/daemon.json"), "{\"insecure-registries\": [\"a:1\"]}\n");
  // dockerd refuses to start with the flag while daemon.json has the key.
  h.systemd.fails = [&](const std::string&) {
    auto argv = h.systemd.exec_start("docker.service")->front();
    return !flag_registries(argv).empty() && std::filesystem::exists(h.at("/etc/docker/daemon.json"));
  };
  h.commands.results["journalctl"] = CommandResult{
      0,
      "unable to configure the Docker daemon with file /etc/docker/daemon.json: the following directives are "
      "specified both as a flag and in the configuration file: insecure-registries\n",
      ""};
  REQUIRE(h.ctx.write_file(dropin, render_dropin({"/usr/sbin/dockerd", "--insecure-registry", "b:2"}), 0644).ok());

  Play play;
  play.name = "p";
  play.handlers.push_back(TaskSpec{"restart docker", "systemd", {}, {}, 0, "h"});
  SystemdConfig restart;
  restart.unit = "docker.service";
  restart.state = "restarted";
  PlannedPlay pp;
  pp.play = &play;
  pp.handlers.push_back(PlannedTask{&play.handlers[0], std::make_unique<SystemdAction>(restart)});
  HostPlan plan;
  plan.plays.push_back(std::move(pp));
  // A handler runs when notified: here by a task whose work is already done above.
  play.tasks.push_back(TaskSpec{"t", "scripted", {}, {"restart docker"}, 0, "t"});
  auto t = std::make_unique<Scripted>();
  t->done_by = t.get();  // differs until its own apply, then settled
  plan.plays[0].tasks.push_back(PlannedTask{&play.tasks[0], std::move(t)});

  auto report = run_host(plan, h.ctx, RunOptions{}, nullptr);
  REQUIRE(report.tasks.size() == 2);
  const auto& r = report.tasks[1];
  CHECK(r.handler);
  CHECK(r.status == TaskStatus::failed);
  CHECK_THAT(r.message, Catch::Contains("specified both as a flag and in the configuration file"));
  CHECK_THAT(r.message, Catch::Contains("restored " + dropin));
  CHECK_THAT(r.message, Catch::Contains("'restart docker' succeeded again with the previous files"));
  // The drop-in did not exist before the run: restoring removes it.
  CHECK_FALSE(std::filesystem::exists(h.at(dropin)));
  CHECK(h.systemd.reloads == 2);
  CHECK(h.systemd.jobs == std::vector<std::string>{"restart docker.service", "restart docker.service"});
  CHECK(h.systemd.units["docker.service"].active_state == "active");
}

TEST_CASE("runner: rollback loads restored unit files whatever the task's own daemon_reload") {
  FakeHost h;
  const std::string dropin = "/etc/systemd/system/docker.service.d/90-registry-setup.conf";
  REQUIRE(h.ctx.write_file(dropin, "[Service]\n", 0644).ok());
  Book book({{"t1", {}}}, {});
  book.actions[0]->apply_fails = true;
  book.actions[0]->rolls_back = true;
  auto report = run_host(book.plan, h.ctx, RunOptions{}, nullptr);
  REQUIRE(report.tasks.size() == 1);
  CHECK(report.tasks[0].status == TaskStatus::failed);
  CHECK_THAT(report.tasks[0].message, Catch::StartsWith("boom; restored " + dropin));
  CHECK_FALSE(std::filesystem::exists(h.at(dropin)));
  CHECK(h.systemd.reloads == 1);
  CHECK_FALSE(h.ctx.unit_files_changed());
  // A task that does not ask for it is not rolled back.
  FakeHost h2;
  REQUIRE(h2.ctx.write_file(dropin, "[Service]\n", 0644).ok());
  Book plain({{"t1", {}}}, {});
  plain.actions[0]->apply_fails = true;
  auto r2 = run_host(plain.plan, h2.ctx, RunOptions{}, nullptr);
  CHECK(r2.tasks[0].message == "boom");
  CHECK(std::filesystem::exists(h2.at(dropin)));
}
