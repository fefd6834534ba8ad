// tumorsynth reader study: the owner's progress page.
"use strict";
(function () {
  const KEY = "tumorsynth-owner-token";
  const $ = (id) => document.getElementById(id);
  let token = null;

  function readToken() {
    const m = /(?:^|[#&])token=([^&]+)/.exec(window.location.hash || "");
    if (m) {
      sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
      history.replaceState(null, "", window.location.pathname);
    }
    return sessionStorage.getItem(KEY) || sessionStorage.getItem("tumorsynth-reader-token");
  }

  async function get(path) {
    const res = await fetch(path, { headers: { Authorization: "Bearer " + token } });
    if (res.status === 401 || res.status === 403) {
      $("login").hidden = false;
      $("content").hidden = true;
      $("message").textContent = res.status === 401 ? "Unknown token." : "This page needs the owner token.";
      throw new Error("refused");
    }
    return res;
  }

  async function refresh() {
    const data = await (await get("/api/owner/progress")).json();
    $("title").textContent = (data.title || "Reader study") + ": owner";
    $("summary").textContent = data.readers.length + " readers, " + data.n_cases + " cases.";
    const body = $("readers");
    body.textContent = "";
    for (const r of data.readers) {
      const tr = document.createElement("tr");
      const last = r.last_answer_at ? new Date(r.last_answer_at * 1000).toLocaleString() : "–";
      for (const v of [r.name, r.answered + " / " + r.n_cases, String(r.unsure), last]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    $("content").hidden = false;
    $("login").hidden = true;
    $("message").textContent = "";
  }

  async function download() {
    const res = await get("/api/owner/results?format=csv");
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = "results.csv";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("token-submit").addEventListener("click", () => {
      sessionStorage.setItem(KEY, $("token-input").value.trim());
      window.location.reload();
    });
    $("refresh").addEventListener("click", () => refresh().catch(() => {}));
    $("download").addEventListener("click", () => download().catch(() => {}));
    token = readToken();
    if (!token) { $("login").hidden = false; return; }
    refresh().catch(() => {});
  });
})();
