// Readiness: verify's database and configuration checks, run now on the server, each with its
// evidence; and the figures of the last `feedfusion loadtest` run, if one was saved.
import { adminApi, cell, explain, formatDate, formatMs, formatNumber, formatPercent, showState, startPage } from "/admin/assets/admin.js";

function statusCell(status) {
  const td = document.createElement("td");
  const badge = document.createElement("span");
  badge.className = `badge ${status === "PASS" ? "pass" : status === "WARN" ? "warn" : "banned"}`;
  badge.textContent = status;
  td.append(badge);
  return td;
}

function findings(check) {
  const td = document.createElement("td");
  const summary = document.createElement("p");
  summary.textContent = check.summary;
  td.append(summary);
  if (check.evidence && check.evidence.length) {
    const list = document.createElement("ul");
    for (const item of check.evidence) {
      const li = document.createElement("li");
      li.textContent = item;
      list.append(li);
    }
    td.append(list);
  }
  return td;
}

function showLoadTest(report) {
  const state = document.getElementById("loadtest-state");
  const box = document.getElementById("loadtest");
  box.replaceChildren();
  const run = report.loadtest;
  if (!run) {
    showState(state, "loading", "No load test was saved on this server yet: run feedfusion loadtest (its figures land in the data folder).");
    return;
  }
  showState(state, "none");
  const p95 = run.http_req_duration && run.http_req_duration.p95;
  const facts = document.createElement("dl");
  facts.className = "facts";
  for (const [term, value] of [
    ["Run", formatDate(report.loadtest_at)], ["Verdict", run.passed ? "every threshold passed" : "a threshold failed"],
    ["Requests", `${formatNumber(run.http_reqs)} (${(run.http_reqs_per_second || 0).toFixed(1)}/s over ${Math.round(run.duration_seconds || 0)} s)`],
    ["Failed", formatPercent(run.http_req_failed_rate)], ["p95 latency", formatMs(p95)],
    ["Feeds without the database", formatPercent(run.feed_no_database_rate)], ["Peak database connections", formatNumber(run.db_connections_max)],
  ]) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    facts.append(dt, dd);
  }
  const list = document.createElement("ul");
  for (const threshold of run.thresholds || []) {
    const li = document.createElement("li");
    const measured = threshold.value == null ? "no data" : `measured ${Number(threshold.value).toFixed(3).replace(/\.?0+$/, "")}`;
    li.textContent = `${threshold.passed ? "passed" : "FAILED"}: ${threshold.threshold} (${measured})`;
    list.append(li);
  }
  box.append(facts, list);
}

async function runChecks() {
  const state = document.getElementById("checks-state");
  const button = document.getElementById("run-checks");
  button.disabled = true;
  showState(state, "loading", "Running the checks…");
  try {
    const report = await adminApi("readiness");
    document.getElementById("check-rows").replaceChildren(...report.checks.map((check) => {
      const row = document.createElement("tr");
      row.append(statusCell(check.status), cell(check.name), findings(check));
      return row;
    }));
    const failed = report.checks.filter((c) => c.status === "FAIL").length;
    document.getElementById("checks-verdict").textContent = failed ? `Not ready: ${failed} check(s) failed` : "Ready: no check failed";
    showState(state, "none");
    showLoadTest(report);
  } catch (error) {
    showState(state, "error", `The checks could not run: ${explain(error)}`, runChecks);
    showState(document.getElementById("loadtest-state"), "error", "Not read: the checks did not run.");
  } finally {
    button.disabled = false;
  }
}

startPage(async () => {
  document.getElementById("run-checks").addEventListener("click", runChecks);
  await runChecks();
});
