// Huifang web app: live refresh of the monitor, campaign progress and the agent's queue (polling
// JSON every 2-3 s), and confirmation of destructive buttons. No inline scripts (CSP).
(function () {
  "use strict";
  function text(v) { return v === null || v === undefined ? "" : String(v); }
  function row(cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (c) { var td = document.createElement("td"); td.textContent = text(c); tr.appendChild(td); });
    return tr;
  }
  function fill(tbody, rows, cols, empty) {
    tbody.replaceChildren();
    if (!rows.length) { var tr = row([empty]); tr.firstChild.colSpan = cols; tr.firstChild.className = "muted"; tbody.appendChild(tr); return; }
    rows.forEach(function (r) { tbody.appendChild(row(r)); });
  }
  function poll(url, every, fn) {
    function tick() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(fn).catch(function () {}).finally(function () { setTimeout(tick, every); });
    }
    setTimeout(tick, every);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-confirm]").forEach(function (b) {
      b.addEventListener("click", function (e) { if (!window.confirm(b.dataset.confirm)) e.preventDefault(); });
    });
    var mon = document.getElementById("monitor");
    if (mon) poll(mon.dataset.url, 2000, function (s) {
      document.getElementById("n-calls").textContent = s.calls.length;
      document.getElementById("n-waiting").textContent = s.waiting;
      document.getElementById("n-answered").textContent = s.answered;
      fill(document.querySelector("#calls tbody"), s.calls.map(function (c) {
        return [c.number, c.state_label, c.node, c.intent, c.locale, c.campaign_id, c.since, c.duration]; }), 8, mon.dataset.empty);
      fill(document.querySelector("#queue tbody"), s.queue.map(function (q) {
        return [q.id, q.number, q.reason, q.status_label, q.agent, q.waited]; }), 6, mon.dataset.noqueue);
      fill(document.querySelector("#mcampaigns tbody"), s.campaigns.map(function (c) {
        return [c.id, c.name, c.state_label, c.done + " / " + c.total, c.live + " / " + c.max_concurrent]; }), 5, "-");
      var u = document.getElementById("updated"); u.textContent = u.dataset.label + " " + new Date().toLocaleTimeString();
    });
    var prog = document.getElementById("progress");
    if (prog) poll(prog.dataset.url, 2000, function (p) {
      prog.querySelectorAll("[data-k]").forEach(function (el) {
        var k = el.dataset.k; if (k === "pending_commands") { el.textContent = p[k] ? "⏳ " + p[k] : ""; } else { el.textContent = text(p[k]); }
      });
      prog.querySelector(".fill").style.width = p.percent + "%";
      var st = document.getElementById("state"); st.textContent = p.state_label; st.className = "state s-" + p.state;
    });
    var q = document.getElementById("agent-queue");
    if (q) poll(q.dataset.url, 3000, function (s) {
      var known = q.dataset.current ? q.dataset.current.split(",") : [];
      var fresh = s.current.filter(function (c) { return known.indexOf(String(c.id)) < 0; });
      if (fresh.length) { window.location.href = fresh[0].url; return; }   // screen-pop
      if (String(s.waiting_count) !== q.dataset.waiting) window.location.reload();
    });
  });
})();
