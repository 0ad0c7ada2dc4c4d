// grader review: the question page's behaviour. Plain JavaScript, no build step. Student text is only
// ever put into the page with textContent, never as HTML.
"use strict";
(function () {
  const S = JSON.parse(document.getElementById("state").textContent);
  const C = JSON.parse(document.getElementById("config").textContent);
  const $ = (id) => document.getElementById(id);
  let idx = 0;
  let pending = null; // {items: Set, adjust, comment, flag, dirty, suggested}

  function api(path, body) {
    const opts = {headers: {"X-Review-Token": C.token, "Content-Type": "application/json"}};
    if (body !== undefined) { opts.method = "POST"; opts.body = JSON.stringify(body); }
    return fetch(path, opts).then((r) => r.json().then((data) => {
      if (!r.ok) throw new Error(data.error || ("HTTP " + r.status));
      return data;
    }));
  }
  function byKey(key) { return S.answers.find((a) => a.key === key); }
  function itemById(id) { return S.items.find((i) => i.id === id); }
  function fmt(p) { return p === null || p === undefined ? "–" : String(Math.round(p * 100) / 100); }
  function score(items, adjust) {
    let total = 0;
    items.forEach((id) => { const it = itemById(id); if (it) total += it.points; });
    total += Number(adjust) || 0;
    return Math.min(Math.max(total, 0), S.max_points);
  }
  function suggestion(a) {
    // The group's latest decision: what a TA applies to the next answer like it.
    let best = null;
    S.answers.forEach((b) => {
      if (b.group === a.group && b.graded && b.key !== a.key && (!best || b.time > best.time)) best = b;
    });
    return best;
  }
  function startPending() {
    const a = S.answers[idx];
    if (!a) { pending = null; return; }
    if (a.graded) {
      pending = {items: new Set(a.items), adjust: a.adjust, comment: a.comment, flag: a.flag, dirty: false, suggested: false};
    } else {
      const s = suggestion(a);
      pending = {items: new Set(s ? s.items : []), adjust: s ? s.adjust : null, comment: a.comment, flag: a.flag,
                 dirty: false, suggested: !!s};
    }
  }
  function go(i) {
    if (!S.answers.length) return;
    idx = (i + S.answers.length) % S.answers.length;
    startPending();
    render(false);
    const row = document.querySelector('#answers tr[data-index="' + idx + '"]');
    if (row) row.scrollIntoView({block: "nearest"});
  }
  function nextUngraded() {
    for (let step = 1; step <= S.answers.length; step++) {
      const j = (idx + step) % S.answers.length;
      if (!S.answers[j].graded) { go(j); return; }
    }
    go(idx); // everything graded: stay
  }
  function merge(data) {
    if (!data.changed) return;
    S.version = data.version;
    S.items = data.items;
    data.answers.forEach((d) => { const a = byKey(d.key); if (a) Object.assign(a, d); });
    if (!pending || !pending.dirty) startPending();
    render();
  }
  function decisionOf(a, p) {
    return {key: a.key, items: Array.from(p.items), adjust: p.adjust, comment: p.comment, flag: p.flag};
  }
  function save(keys) {
    const a = S.answers[idx];
    if (!a || !pending) return Promise.resolve();
    const decisions = [decisionOf(a, pending)];
    (keys || []).forEach((k) => {
      if (k !== a.key) decisions.push({key: k, items: Array.from(pending.items), adjust: pending.adjust, comment: "", flag: false});
    });
    $("sync").textContent = "saving…";
    return api("/api/q/" + encodeURIComponent(S.question) + "/decide", {decisions: decisions}).then((data) => {
      pending.dirty = false;
      merge(data);
      $("sync").textContent = "saved";
    }).catch((e) => { $("sync").textContent = "NOT saved: " + e.message; throw e; });
  }
  function saveAndNext() { return save().then(nextUngraded, () => {}); }
  function applyToGroup() {
    const a = S.answers[idx];
    const keys = S.answers.filter((b) => b.group === a.group && !b.graded).map((b) => b.key);
    return save(keys).then(nextUngraded, () => {});
  }
  function toggle(n) {
    const it = S.items[n];
    if (!it || !pending) return;
    if (pending.items.has(it.id)) pending.items.delete(it.id); else pending.items.add(it.id);
    pending.dirty = true; pending.suggested = false;
    render(false);
  }
  function editItem(change) {
    return api("/api/q/" + encodeURIComponent(S.question) + "/items", change).then(merge)
      .catch((e) => { $("sync").textContent = "item NOT saved: " + e.message; });
  }

  function render(all) {
    // all: redraw the answer list and the groups too (after new decisions); otherwise only this answer's
    // panel, so a key press stays fast with 500 answers.
    const a = S.answers[idx];
    const done = S.answers.filter((b) => b.graded).length;
    $("progress").textContent = done + " / " + S.answers.length + " graded";
    if (!a) { $("who").textContent = "No answers"; return; }
    $("who").textContent = a.key;
    $("status").textContent = a.graded ? "graded " + fmt(a.points) + (a.grader ? " by " + a.grader : "") :
      (pending.suggested ? "ungraded · suggested from its group" : "ungraded");
    const g = S.groups.find((x) => x.id === a.group);
    const typical = g ? byKey(g.typical) : null;
    $("groupline").textContent = "Group " + a.group + " (" + (g ? g.size : 1) + " answers)" +
      (typical && typical.key !== a.key ? " · most typical: " + typical.text.slice(0, 160) : " · this is its most typical answer");
    $("answer").textContent = a.text;
    if (!a.text.trim()) $("answer").textContent = "(no answer)";
    if (document.activeElement !== $("comment")) $("comment").value = pending.comment || "";
    if (document.activeElement !== $("adjust")) $("adjust").value = pending.adjust === null || pending.adjust === undefined ? "" : pending.adjust;
    $("flag").checked = !!pending.flag;
    $("points").textContent = fmt(score(pending.items, pending.adjust)) + " / " + fmt(S.max_points) +
      (pending.dirty ? " (not saved)" : "");
    $("points").className = pending.suggested ? "suggested" : "";
    renderItems();
    if (all !== false) {
      renderList();
      renderGroups();
    } else {
      document.querySelectorAll("#answers tbody tr.cur").forEach((tr) => tr.classList.remove("cur"));
      const row = document.querySelector('#answers tr[data-index="' + idx + '"]');
      if (row) row.classList.add("cur");
    }
  }
  function renderItems() {
    const ol = $("items");
    const focused = document.activeElement && ol.contains(document.activeElement);
    if (focused) { // keep the field being typed in; only the marks change
      ol.querySelectorAll("li").forEach((li) => li.classList.toggle("on", pending.items.has(li.dataset.id)));
      return;
    }
    ol.textContent = "";
    S.items.forEach((it, n) => {
      const li = document.createElement("li");
      li.dataset.id = it.id;
      li.className = pending && pending.items.has(it.id) ? "on" : "";
      const k = document.createElement("kbd"); k.textContent = n < 9 ? String(n + 1) : "";
      const pts = document.createElement("input"); pts.className = "pts"; pts.value = it.points; pts.title = "points";
      pts.setAttribute("aria-label", "points of item " + it.id);
      const txt = document.createElement("input"); txt.className = "txt"; txt.value = it.text; txt.title = "feedback";
      txt.setAttribute("aria-label", "feedback of item " + it.id);
      pts.addEventListener("change", () => editItem({id: it.id, points: pts.value}));
      txt.addEventListener("change", () => editItem({id: it.id, text: txt.value}));
      li.append(k, " ", pts, " ", txt);
      li.addEventListener("click", (e) => { if (e.target.tagName !== "INPUT") toggle(n); });
      ol.append(li);
    });
  }
  const rows = []; // one <tr> per answer, built once and updated in place
  function renderList() {
    const tbody = document.querySelector("#answers tbody");
    const q = $("search").value.trim().toLowerCase();
    S.answers.forEach((b, n) => {
      let tr = rows[n];
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.index = n; tr.dataset.key = b.key;
        for (let i = 0; i < 5; i++) tr.append(document.createElement("td"));
        tr.children[0].textContent = b.key;
        tr.children[1].textContent = b.group;
        tr.children[4].textContent = b.text.slice(0, 90);
        tr.addEventListener("click", () => go(n));
        tbody.append(tr);
        rows[n] = tr;
      }
      tr.className = n === idx ? "cur" : "";
      tr.hidden = !!q && !b.text.toLowerCase().includes(q) && !b.key.toLowerCase().includes(q);
      tr.children[2].textContent = b.graded ? fmt(b.points) : "open";
      tr.children[2].className = b.graded ? "graded points" : "open points";
      tr.children[3].textContent = b.items.join(" ") + (b.flag ? " ⚑" : "");
      tr.children[3].className = b.flag ? "flag" : "";
    });
  }
  function renderGroups() {
    const tbody = document.querySelector("#groups tbody");
    tbody.textContent = "";
    S.groups.forEach((g) => {
      const members = S.answers.filter((b) => b.group === g.id);
      const tr = document.createElement("tr");
      const t = byKey(g.typical);
      [g.id === "empty" ? "empty" : g.id, String(g.size), members.filter((b) => b.graded).length + "",
       t ? (t.text.trim() ? t.text.slice(0, 120) : "(no answer)") : ""].forEach((c) => {
        const td = document.createElement("td"); td.textContent = c; tr.append(td);
      });
      tr.addEventListener("click", () => go(S.answers.indexOf(members[0])));
      tbody.append(tr);
    });
  }

  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA")) {
      if (e.key === "Escape") { t.blur(); e.preventDefault(); }
      else if (e.key === "Enter" && t === $("search")) {
        const first = document.querySelector("#answers tbody tr:not([hidden])");
        t.blur(); if (first) go(Number(first.dataset.index)); e.preventDefault();
      } else if (e.key === "Enter" && (t === $("comment") || t === $("adjust"))) {
        t.blur(); e.preventDefault(); saveAndNext();
      } else if (e.key === "Enter" && t === $("newpts")) {
        e.preventDefault(); $("newtext").focus();
      } else if (e.key === "Enter" && t === $("newtext")) {
        e.preventDefault(); $("additem").click();
      }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key;
    if (k >= "1" && k <= "9") { toggle(Number(k) - 1); }
    else if (k === "Enter") { saveAndNext(); }
    else if (k === "g" || k === "G") { applyToGroup(); }
    else if (k === "j" || k === "ArrowDown" || k === "ArrowRight") { go(idx + 1); }
    else if (k === "k" || k === "ArrowUp" || k === "ArrowLeft") { go(idx - 1); }
    else if (k === "f" || k === "F") { if (pending) { pending.flag = !pending.flag; pending.dirty = true; render(false); } }
    else if (k === "c" || k === "C") { $("comment").focus(); }
    else if (k === "a" || k === "A") { $("adjust").focus(); }
    else if (k === "i" || k === "I") { $("newpts").focus(); }
    else if (k === "/") { $("search").focus(); }
    else if (k === "?") { $("help").hidden = !$("help").hidden; }
    else if (k === "Escape") { $("help").hidden = true; }
    else return;
    e.preventDefault();
  });
  $("comment").addEventListener("input", () => { pending.comment = $("comment").value; pending.dirty = true; });
  $("adjust").addEventListener("input", () => {
    const v = $("adjust").value.replace(",", ".").trim();
    pending.adjust = v === "" || isNaN(Number(v)) ? null : Number(v); pending.dirty = true;
    $("points").textContent = fmt(score(pending.items, pending.adjust)) + " / " + fmt(S.max_points) + " (not saved)";
  });
  $("flag").addEventListener("change", () => { pending.flag = $("flag").checked; pending.dirty = true; });
  $("save").addEventListener("click", saveAndNext);
  $("groupapply").addEventListener("click", applyToGroup);
  $("prev").addEventListener("click", () => go(idx - 1));
  $("next").addEventListener("click", () => go(idx + 1));
  $("search").addEventListener("input", renderList);
  $("additem").addEventListener("click", () => {
    const pts = $("newpts").value.replace(",", ".").trim();
    const text = $("newtext").value.trim();
    if (pts === "" || isNaN(Number(pts))) { $("sync").textContent = "a new item needs points"; return; }
    editItem({points: Number(pts), text: text}).then(() => {
      $("newpts").value = ""; $("newtext").value = ""; $("newtext").blur(); render();
    });
  });
  setInterval(() => {
    api("/api/q/" + encodeURIComponent(S.question) + "?since=" + encodeURIComponent(S.version)).then(merge, () => {
      $("sync").textContent = "cannot reach the app";
    });
  }, C.poll_ms);
  // Start on the answer the link names (the overview's "look again" list), else the first ungraded one.
  const named = S.answers.findIndex((a) => a.key === decodeURIComponent(location.hash.slice(1)));
  const first = S.answers.findIndex((a) => !a.graded);
  idx = named >= 0 ? named : (first < 0 ? 0 : first);
  startPending();
  render(true);
  go(idx);
  document.body.dataset.ready = "1";
})();
