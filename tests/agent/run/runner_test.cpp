#include "agent/run/runner.hpp"

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
  int checks = 0, applies = 0;
  Result<Diff> check(HostContext&) override {
    Diff d;
    if (checks++ < differs_for) d.changes.push_back("something");
    return d;
  }
  Result<void> apply(HostContext&, const Diff&) override {
    ++applies;
    if (apply_fails) return rs::make_error(rs::Errc::io, "boom");
    return rs::ok();
  }
  std::string summary() const override { return "scripted"; }
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
