// schemaflow console: a little JavaScript on server-rendered pages.
// Subject search filters as you type ("/" focuses it), the pipelines page
// follows server-sent events, the dead-letter page replays.
"use strict";
(function () {
  var base = document.body.getAttribute("data-console") || "/console/";

  // "/" focuses the search box, as on many sites.
  document.addEventListener("keydown", function (e) {
    var q = document.getElementById("q");
    if (e.key === "/" && q && document.activeElement !== q && !/INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) {
      e.preventDefault();
      q.focus();
      q.select();
    }
  });

  // Subject search: filter the list as you type.
  var q = document.getElementById("q");
  if (q && q.dataset.filter) {
    q.addEventListener("input", function () {
      var needle = q.value.trim().toLowerCase(), n = 0;
      document.querySelectorAll(q.dataset.filter).forEach(function (li) {
        var name = (li.dataset.name || "").toLowerCase();
        var show = !li.dataset.name || name.indexOf(needle) >= 0;
        if (!li.dataset.name) { return; }
        li.hidden = !show;
        if (show) { n++; }
      });
      var count = document.getElementById("subject-count");
      if (count) { count.textContent = n; }
    });
  }

  function el(tag, text, attrs) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    for (var k in attrs || {}) { e.setAttribute(k, attrs[k]); }
    return e;
  }
  function fill(list, items, make, empty) {
    list.replaceChildren();
    if (!items || items.length === 0) { list.appendChild(el("li", empty, { "class": "empty" })); return; }
    items.forEach(function (it) { list.appendChild(make(it)); });
  }

  // Pipelines: live updates.
  var pipes = document.getElementById("pipelines");
  function update(data) {
    (data.pipelines || []).forEach(function (p) {
      var card = pipes.querySelector('[data-pipeline="' + CSS.escape(p.name) + '"]');
      if (!card) { return; }
      card.className = "pipeline state-" + p.state;
      var set = function (field, text) { var f = card.querySelector('[data-field="' + field + '"]'); if (f) { f.textContent = text; } return f; };
      set("state", p.state);
      set("inPerSecond", p.inPerSecond.toFixed(1));
      set("outPerSecond", p.outPerSecond.toFixed(1));
      set("out", p.out);
      set("lag", Math.round(p.lag) + " " + p.lagUnit);
      set("restarts", p.restarts);
      set("deadLetters", p.deadLetters);
      ["lastError", "mongodb"].forEach(function (f) { var e = set(f, p[f] || ""); if (e) { e.hidden = !p[f]; } });
      var st = set("stuck", p.stuck ? "stuck: " + p.stuck : ""); if (st) { st.hidden = !p.stuck; }
      fill(card.querySelector('[data-field="deadLettersByClass"]'), p.deadLettersByClass, function (c) { return el("li", c.class + ": " + c.n); }, "none");
      fill(card.querySelector('[data-field="subjects"]'), p.subjects, function (s) {
        var li = el("li");
        li.appendChild(el("a", s.subject, { href: base + "schemas/" + encodeURIComponent(s.subject) }));
        li.appendChild(document.createTextNode(" v" + s.version));
        return li;
      }, "none yet");
      fill(card.querySelector('[data-field="copies"]'), p.copies, function (c) {
        var t = c.namespace + ": " + c.copied + (c.estimated >= 0 ? " / " + c.estimated : "") +
          (c.done ? " done" : " (" + Math.round(c.perSecond) + "/s" + (c.eta ? ", ETA " + c.eta : "") + ")");
        var li = el("li", t);
        if (c.percent >= 0) { li.appendChild(document.createTextNode(" ")); li.appendChild(el("progress", Math.round(c.percent) + "%", { max: "100", value: String(Math.round(c.percent)) })); }
        return li;
      }, "no copy");
    });
    var live = document.getElementById("live");
    if (live && data.at) { live.dataset.at = data.at; live.textContent = "as of " + new Date(data.at).toLocaleTimeString(); }
  }
  if (pipes) {
    if (window.EventSource) {
      var es = new EventSource(pipes.dataset.events);
      es.addEventListener("pipelines", function (e) { update(JSON.parse(e.data)); });
    } else {
      setInterval(function () {
        fetch(base + "api/pipelines", { headers: { Accept: "application/json" } }).then(function (r) { return r.json(); }).then(update);
      }, 1000);
    }
  }

  // Dead letters: replay selected or all.
  var form = document.getElementById("replay");
  function replay(body) {
    var status = document.getElementById("replay-status");
    status.textContent = "Replaying…";
    fetch(form.dataset.api, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (res) {
        if (!res.ok) { status.textContent = "Replay refused: " + res.body.error; return; }
        var lines = res.body.results.map(function (r) {
          return r.error ? "not replayed " + r.id + ": " + r.error : "replayed " + r.id + " (" + r.class + ") to " + r.originTopic + " " + r.partition + ":" + r.offset;
        });
        status.replaceChildren();
        lines.forEach(function (l) { status.appendChild(el("div", l, { "class": "result" })); });
        if (lines.length === 0) { status.textContent = "Nothing to replay."; }
      })
      .catch(function (e) { status.textContent = "Replay failed: " + e; });
  }
  if (form) {
    var sel = document.getElementById("replay-selected"), all = document.getElementById("replay-all");
    if (sel) {
      sel.addEventListener("click", function () {
        var ids = Array.prototype.map.call(form.querySelectorAll('input[name="id"]:checked'), function (c) { return c.value; });
        if (ids.length === 0) { document.getElementById("replay-status").textContent = "Select dead letters first."; return; }
        replay({ ids: ids });
      });
    }
    if (all) {
      all.addEventListener("click", function () {
        if (window.confirm("Replay every dead letter" + (form.dataset.class ? " of class " + form.dataset.class : "") + " shown to its original topic?")) {
          replay({ all: true, class: form.dataset.class });
        }
      });
    }
    form.addEventListener("submit", function (e) { e.preventDefault(); });
  }
})();
