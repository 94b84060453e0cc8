// The escalation board: polls /api/cases every 2 s and interpolates each countdown between polls
// (covered time only: a clock whose calendar window is closed shows "paused until …").
"use strict";
(function () {
  const POLL_MS = 2000;
  const PAGE = 200;
  const form = document.getElementById("filters");
  const tbody = document.querySelector("#board tbody");
  const statusEl = document.getElementById("status");
  const clockEl = document.getElementById("clock");
  let snapshot = null;   // {serverNowMs, fetchedAtMs, rate, items}
  const seen = { plan: new Set(), priority: new Set(), region: new Set(), customer: new Set() };

  const timeFmt = new Intl.DateTimeFormat(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
  const dateTimeFmt = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  const clockFmt = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
  const STAGE_TEXT = { ok: "in time", warned: "at risk", breached: "breached", overdue: "overdue" };

  function clockNowMs() {
    if (!snapshot) return Date.now();
    return snapshot.serverNowMs + (Date.now() - snapshot.fetchedAtMs) * snapshot.rate;
  }

  // An instant in the viewer's zone: weekday and time within the coming week, else with the date.
  function local(ms) {
    const ahead = ms - clockNowMs();
    return (ahead > -5 * 86400e3 && ahead < 6 * 86400e3 ? timeFmt : dateTimeFmt).format(new Date(ms));
  }

  function duration(seconds) {
    let s = Math.abs(Math.trunc(seconds));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    const pad = (n) => String(n).padStart(2, "0");
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + pad(m) + "m " + pad(s) + "s";
  }

  function target(seconds) {
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
    return (h ? h + "h" : "") + (m ? m + "m" : "") + (!h && !m ? seconds + "s" : "");
  }

  // Covered seconds left at the current clock instant, and the instant the count resumes when it
  // is paused now (its calendar's window closed): counting stretches are [server now, pauses_at)
  // (when counting at the poll) and [resumes_at, …).
  function remaining(item, nowMs) {
    const at = snapshot.serverNowMs;
    const pause = item.pauses_at ? Date.parse(item.pauses_at) : Infinity;
    const resume = item.resumes_at ? Date.parse(item.resumes_at) : Infinity;
    let covered = 0;
    if (item.counting) covered += Math.max(0, Math.min(nowMs, pause) - at);
    if (nowMs > resume) covered += nowMs - Math.max(resume, at);
    const counting = item.counting ? (nowMs < pause || nowMs >= resume) : nowMs >= resume;
    return { seconds: item.remaining_seconds - covered / 1000, pausedUntil: counting ? null : resume };
  }

  function query() {
    const params = new URLSearchParams();
    const data = new FormData(form);
    params.set("state", data.get("state") || "at_risk,breached");
    for (const name of ["plan", "priority", "region", "customer"]) {
      const value = (data.get(name) || "").trim();
      if (value) params.set(name, value);
    }
    params.set("limit", String(PAGE));
    return params;
  }

  function cell(text, cls, title) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    if (title) td.title = title;
    return td;
  }

  function remember(item) {
    for (const name of ["plan", "priority", "region"]) seen[name].add(item[name]);
    if (item.customer_id) seen.customer.add(item.customer_id);
  }

  function refreshOptions() {
    for (const name of ["plan", "priority", "region"]) {
      const select = form.elements[name];
      const have = new Set(Array.from(select.options).map((o) => o.value));
      for (const value of Array.from(seen[name]).sort()) {
        if (!have.has(value)) select.add(new Option(value, value));
      }
    }
    const list = document.getElementById("customers");
    const have = new Set(Array.from(list.options).map((o) => o.value));
    for (const value of Array.from(seen.customer).sort()) {
      if (!have.has(value)) { const o = document.createElement("option"); o.value = value; list.appendChild(o); }
    }
  }

  function render() {
    const rows = [];
    let breached = 0, atRisk = 0;
    for (const item of snapshot.items) {
      if (item.stage === "breached" || item.stage === "overdue") breached++; else if (item.stage === "warned") atRisk++;
      const tr = document.createElement("tr");
      tr.className = "stage-" + item.stage;
      tr.dataset.stage = item.stage;
      tr.dataset.caseId = item.case_id;
      tr.dataset.metric = item.metric;
      const chip = document.createElement("td");
      const span = document.createElement("span");
      span.className = "chip " + item.stage;
      span.textContent = STAGE_TEXT[item.stage] || item.stage;
      chip.appendChild(span);
      tr.appendChild(chip);
      tr.appendChild(cell(item.case_id, "case"));
      tr.appendChild(cell(item.customer_id || "—"));
      tr.appendChild(cell(item.plan, "plan", item.plan));
      tr.appendChild(cell(item.priority));
      tr.appendChild(cell(item.region));
      const metric = item.metric.replace(/_/g, " ");
      tr.appendChild(cell(item.cycle > 1 ? metric + " #" + item.cycle : metric));
      const due = Date.parse(item.due_at);
      tr.appendChild(cell(local(due), "due", item.due_at + " (UTC)"));
      const countdown = cell("", "countdown num");
      countdown.dataset.item = String(rows.length);
      tr.appendChild(countdown);
      tr.appendChild(cell(item.calendar.replace(/_/g, " ") + " · " + target(item.target_seconds), "calendar"));
      tr.appendChild(cell(item.replica, "replica", item.replica + ", partition " + item.partition));
      rows.push(tr);
      remember(item);
    }
    tbody.replaceChildren(...rows);
    document.getElementById("count-breached").textContent = breached + " breached";
    document.getElementById("count-at-risk").textContent = atRisk + " at risk";
    document.getElementById("empty").hidden = rows.length > 0;
    refreshOptions();
    tick();
  }

  function tick() {
    const nowMs = clockNowMs();
    clockEl.textContent = clockFmt.format(new Date(nowMs)) + (snapshot && snapshot.rate !== 1 ? "  (demo clock ×" + snapshot.rate + ")" : "");
    clockEl.title = new Date(nowMs).toISOString() + " (UTC)";
    if (!snapshot) return;
    for (const td of tbody.querySelectorAll("td.countdown")) {
      const item = snapshot.items[Number(td.dataset.item)];
      const left = remaining(item, nowMs);
      const row = td.parentElement;
      // Past due: covered time ran out, or it ran out exactly at a window's close that has passed.
      const pastDue = left.seconds < 0 || (left.seconds <= 0 && nowMs >= Date.parse(item.due_at));
      if (pastDue) {
        if (row.dataset.stage === "ok" || row.dataset.stage === "warned") {
          row.className = "stage-breached";   // due instant passed; the breach event is on its way
          const chip = row.querySelector(".chip");
          chip.className = "chip breached";
          chip.textContent = STAGE_TEXT.breached;
        }
      }
      if (left.pausedUntil !== null) {
        const opens = Number.isFinite(left.pausedUntil) ? "until " + local(left.pausedUntil) : "";
        // A breached clock keeps saying how late it is while its window is closed.
        td.textContent = "paused " + opens;
        if (left.seconds <= -1) {
          const late = document.createElement("span");
          late.className = "late-line";
          late.textContent = "−" + duration(left.seconds) + " late";
          td.prepend(late);
        }
        td.title = (left.seconds < 0 ? duration(left.seconds) + " late" : duration(left.seconds) + " left") + " (covered time)" +
          (Number.isFinite(left.pausedUntil) ? "; window opens " + new Date(left.pausedUntil).toISOString() + " (UTC)" : "");
        td.className = "countdown num paused";
      } else {
        td.textContent = left.seconds < 0 ? "−" + duration(left.seconds) + " late" : duration(left.seconds);
        td.title = left.seconds < 0 ? "covered time past the due instant" : "covered time left";
        td.className = "countdown num" + (left.seconds < 0 ? " late" : "");
      }
    }
  }

  async function fetchPage(params) {
    const response = await fetch("/api/cases?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.json();
  }

  let inFlight = false;
  async function poll() {
    if (inFlight) return;
    inFlight = true;
    const params = query();
    try {
      // A page may stop short (a rare filter: the server bounds each request's walk); follow the
      // cursor until the list is full or complete.
      let body = null;
      const items = [];
      for (let round = 0; round < 10; round++) {
        const page = await fetchPage(params);
        body = body || page;
        items.push(...page.items);
        body.replicas = page.replicas;
        body.next_cursor = page.next_cursor;
        if (!page.next_cursor || items.length >= PAGE) break;
        params.set("cursor", page.next_cursor);
      }
      body.items = items.slice(0, PAGE);
      params.delete("cursor");
      if (params.toString() !== query().toString()) return;   // filters changed meanwhile: the next poll answers
      snapshot = { serverNowMs: Date.parse(body.now), fetchedAtMs: Date.now(), rate: body.clock_rate, items: body.items };
      render();
      const partial = document.getElementById("partial");
      const missing = body.replicas.filter((r) => r.status !== "ok");
      partial.hidden = missing.length === 0;
      partial.textContent = missing.length ? "Partial list: no answer from " + missing.map((r) => r.replica + " (" + r.error + ")").join(", ") : "";
      statusEl.textContent = "live · " + body.items.length + (body.next_cursor ? "+" : "") + " clocks · updated " + new Date().toLocaleTimeString();
      statusEl.className = "status";
    } catch (error) {
      statusEl.textContent = "not updating: " + error.message;
      statusEl.className = "status error";
    } finally {
      inFlight = false;
    }
  }

  form.addEventListener("change", poll);
  form.addEventListener("input", (e) => { if (e.target.name === "customer") poll(); });
  form.addEventListener("reset", () => setTimeout(poll, 0));
  form.addEventListener("submit", (e) => { e.preventDefault(); poll(); });
  poll();
  setInterval(poll, POLL_MS);
  setInterval(tick, 250);
})();
