// tumorsynth reader study: the reader page. Plain JavaScript, no external code.
// The access token arrives in the URL fragment (#token=...), which browsers never send to a
// server; it is kept in sessionStorage for this tab and sent as "Authorization: Bearer".
"use strict";
(function () {
  const TOKEN_KEY = "tumorsynth-reader-token";
  const $ = (id) => document.getElementById(id);
  const state = {
    token: null, me: null, cases: [], index: -1, vol: null, commentDirty: false, view: "axial",
    slice: { axial: 0, coronal: 0, sagittal: 0 }, ww: 400, wl: 50, lut: null,
    openedAt: 0, cache: new Map(), saving: 0, pendingConf: null, zoom: 1,
  };

  function readToken() {
    const m = /(?:^|[#&])token=([^&]+)/.exec(window.location.hash || "");
    if (m) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      history.replaceState(null, "", window.location.pathname);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  async function api(path, opts) {
    const o = opts || {};
    o.headers = Object.assign({ Authorization: "Bearer " + state.token }, o.headers || {});
    const res = await fetch(path, o);
    if (res.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin("This link or token is not valid for this study.");
      throw new Error("unauthorized");
    }
    return res;
  }

  function showLogin(message) {
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
  }

  // ---------------------------------------------------------------- volumes
  function loadVolume(c) {
    if (state.cache.has(c.id)) return state.cache.get(c.id);
    const p = (async () => {
      const res = await api("/api/cases/" + c.id + "/volume");
      if (!res.ok) throw new Error("could not load case (" + res.status + ")");
      const offset = parseInt(res.headers.get("X-Data-Offset") || "0", 10);
      const buf = await res.arrayBuffer();
      const [nx, ny, nz] = c.shape;
      if (buf.byteLength !== offset + 2 * nx * ny * nz) throw new Error("case data has the wrong size");
      const data = new Int16Array(buf, offset, nx * ny * nz);
      const [sx, sy, sz] = c.spacing_mm;
      return { id: c.id, data, nx, ny, nz, sx, sy, sz };
    })();
    state.cache.set(c.id, p);
    p.catch(() => state.cache.delete(c.id));
    // keep at most 3 volumes in memory: the current one and the neighbours
    while (state.cache.size > 3) state.cache.delete(state.cache.keys().next().value);
    return p;
  }

  // ---------------------------------------------------------------- rendering
  function buildLut() {
    const lut = new Uint8ClampedArray(65536);
    const lo = state.wl - state.ww / 2;
    const scale = 255 / Math.max(1, state.ww);
    for (let i = 0; i < 65536; i++) lut[i] = (i - 32768 - lo) * scale;
    state.lut = lut;
  }

  function sliceCount(v, view) {
    return view === "axial" ? v.nz : view === "coronal" ? v.ny : v.nx;
  }

  // Radiological convention: patient right on the viewer's left, anterior up (axial),
  // superior up (coronal, sagittal), anterior on the left (sagittal). Arrays are RAS, (z, y, x).
  function render() {
    const v = state.vol;
    if (!v) return;
    const view = state.view;
    const s = state.slice[view];
    let w, h, pw, ph, at;
    const nxy = v.nx * v.ny;
    if (view === "axial") {
      w = v.nx; h = v.ny; pw = v.sx; ph = v.sy;
      at = (r, c) => s * nxy + (v.ny - 1 - r) * v.nx + (v.nx - 1 - c);
    } else if (view === "coronal") {
      w = v.nx; h = v.nz; pw = v.sx; ph = v.sz;
      at = (r, c) => (v.nz - 1 - r) * nxy + s * v.nx + (v.nx - 1 - c);
    } else {
      w = v.ny; h = v.nz; pw = v.sy; ph = v.sz;
      at = (r, c) => (v.nz - 1 - r) * nxy + (v.ny - 1 - c) * v.nx + s;
    }
    const canvas = $("canvas");
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(w, h);
    const px = img.data, lut = state.lut, d = v.data;
    let k = 0;
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        const g = lut[d[at(r, c)] + 32768];
        px[k] = g; px[k + 1] = g; px[k + 2] = g; px[k + 3] = 255; k += 4;
      }
    }
    ctx.putImageData(img, 0, 0);
    const stage = $("stage");
    const physW = w * pw, physH = h * ph;
    const scale = state.zoom * Math.min(stage.clientWidth / physW, stage.clientHeight / physH);
    canvas.style.width = Math.max(1, Math.floor(physW * scale)) + "px";
    canvas.style.height = Math.max(1, Math.floor(physH * scale)) + "px";
    const n = sliceCount(v, view);
    $("slice").max = String(n - 1);
    $("slice").value = String(s);
    $("slice-label").textContent = view + " " + (s + 1) + " / " + n;
    stage.dataset.caseId = v.id;
    stage.dataset.slice = String(s);
    document.body.dataset.ready = "1";
  }

  function setSlice(s) {
    if (!state.vol) return;
    const n = sliceCount(state.vol, state.view);
    state.slice[state.view] = Math.max(0, Math.min(n - 1, s));
    render();
  }

  // Zoom 1 fits the slice to the viewer; larger values overflow it (scroll or shift-drag to pan).
  function setZoom(z) {
    const st = $("stage");
    const cx = (st.scrollLeft + st.clientWidth / 2) / Math.max(1, st.scrollWidth);
    const cy = (st.scrollTop + st.clientHeight / 2) / Math.max(1, st.scrollHeight);
    state.zoom = Math.max(1, Math.min(8, z));
    st.classList.toggle("zoomed", state.zoom > 1);
    $("zoom-label").textContent = Math.round(state.zoom * 100) + "%";
    render();
    st.scrollLeft = cx * st.scrollWidth - st.clientWidth / 2;
    st.scrollTop = cy * st.scrollHeight - st.clientHeight / 2;
  }

  function setWindow(ww, wl) {
    state.ww = Math.max(1, Math.round(ww));
    state.wl = Math.round(wl);
    $("ww").value = String(state.ww);
    $("wl").value = String(state.wl);
    for (const b of $("windows").children) {
      b.classList.toggle("on", +b.dataset.ww === state.ww && +b.dataset.wl === state.wl);
    }
    buildLut();
    render();
  }

  // ---------------------------------------------------------------- cases and answers
  async function openCase(i) {
    if (i < 0 || i >= state.cases.length) return;
    await flushComment();
    state.index = i;
    localStorage.setItem("tumorsynth-pos-" + state.me.reader, String(i));
    const c = state.cases[i];
    $("case-title").textContent = "Case " + c.number + " of " + state.cases.length;
    showAnswer(c);
    updateGrid();
    $("loading").hidden = false;
    $("loading").textContent = "Loading case…";
    document.body.dataset.ready = "0";
    try {
      const v = await loadVolume(c);
      if (state.index !== i) return;
      state.vol = v;
      state.slice = { axial: v.nz >> 1, coronal: v.ny >> 1, sagittal: v.nx >> 1 };
      $("loading").hidden = true;
      state.openedAt = performance.now();
      render();
      if (i + 1 < state.cases.length) loadVolume(state.cases[i + 1]).catch(() => {});
    } catch (e) {
      if (e.message !== "unauthorized") $("loading").textContent = "Could not load this case: " + e.message;
    }
  }

  function showAnswer(c) {
    const a = c.answer;
    for (const b of document.querySelectorAll("button.answer")) {
      const on = !!a && a.answer === b.dataset.answer;
      b.classList.toggle("on", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    }
    state.pendingConf = a ? a.confidence : null;
    showConfidence();
    $("comment").value = a ? a.comment || "" : "";
    state.commentDirty = false;
    setStatus(a ? "Saved answer: " + a.answer : "Not answered yet", a ? "ok" : "");
  }

  function showConfidence() {
    for (const b of document.querySelectorAll("button.conf")) {
      const on = state.pendingConf === +b.dataset.conf;
      b.classList.toggle("on", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    }
  }

  function setStatus(text, cls) {
    const el = $("save-status");
    el.textContent = text;
    el.className = cls || "";
  }

  async function save(answer) {
    const c = state.cases[state.index];
    if (!answer) return;
    const body = {
      answer: answer,
      confidence: state.pendingConf,
      comment: $("comment").value,
      seconds: Math.round((performance.now() - state.openedAt) / 100) / 10,
    };
    setStatus("Saving…", "pending");
    state.saving++;
    try {
      const res = await api("/api/answers/" + c.id, {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const out = await res.json().catch(() => ({}));
      if (!res.ok) { setStatus("Not saved: " + (out.detail || res.status), "err"); return; }
      c.answer = { answer: out.answer, confidence: out.confidence, comment: body.comment };
      if (state.cases[state.index] === c) {
        showAnswer(c);
        setStatus("Saved: " + out.answer + " (" + new Date().toLocaleTimeString() + ")", "ok");
      }
      updateProgress();
      updateGrid();
    } catch (e) {
      if (e.message !== "unauthorized") setStatus("Not saved (server unreachable); try again", "err");
    } finally {
      state.saving--;
    }
  }

  // Save an edited comment (on leaving the text box or the case); only after the reader typed.
  async function flushComment() {
    const c = state.index >= 0 ? state.cases[state.index] : null;
    if (!c || !c.answer || !state.commentDirty) return;
    state.commentDirty = false;
    if (($("comment").value || "") !== (c.answer.comment || "")) await save(c.answer.answer);
  }

  function currentAnswer() {
    const c = state.cases[state.index];
    return c && c.answer ? c.answer.answer : null;
  }

  function updateProgress() {
    const n = state.cases.length;
    const done = state.cases.filter((c) => c.answer).length;
    $("progress").max = Math.max(1, n);
    $("progress").value = done;
    $("progress-label").textContent = done + " of " + n + " answered";
    $("done").hidden = done !== n;
  }

  function updateGrid() {
    const grid = $("case-grid");
    if (grid.children.length !== state.cases.length) {
      grid.textContent = "";
      state.cases.forEach((c, i) => {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = String(c.number);
        b.title = "Case " + c.number;
        b.addEventListener("click", () => openCase(i));
        grid.appendChild(b);
      });
    }
    state.cases.forEach((c, i) => {
      const b = grid.children[i];
      b.classList.toggle("answered", !!c.answer);
      b.classList.toggle("current", i === state.index);
    });
  }

  function nextOpen() {
    const n = state.cases.length;
    for (let k = 1; k <= n; k++) {
      const i = (state.index + k) % n;
      if (!state.cases[i].answer) return openCase(i);
    }
    return undefined;
  }

  // ---------------------------------------------------------------- wiring
  function wire() {
    for (const b of document.querySelectorAll("#views button")) {
      b.addEventListener("click", () => {
        state.view = b.dataset.view;
        for (const o of document.querySelectorAll("#views button")) o.classList.toggle("on", o === b);
        render();
      });
    }
    for (const w of state.me.windows) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = w.name;
      b.title = "W " + w.width + " / L " + w.level;
      b.dataset.ww = String(w.width);
      b.dataset.wl = String(w.level);
      b.addEventListener("click", () => setWindow(w.width, w.level));
      $("windows").appendChild(b);
    }
    $("ww").addEventListener("change", () => setWindow(+$("ww").value || state.ww, state.wl));
    $("wl").addEventListener("change", () => setWindow(state.ww, +$("wl").value));
    $("slice").addEventListener("input", () => setSlice(+$("slice").value));
    $("stage").addEventListener("wheel", (e) => {
      e.preventDefault();
      if (e.ctrlKey) setZoom(state.zoom * (e.deltaY > 0 ? 1 / 1.25 : 1.25));
      else setSlice(state.slice[state.view] + (e.deltaY > 0 ? 1 : -1));
    }, { passive: false });
    let drag = null;
    $("stage").addEventListener("mousedown", (e) => {
      e.preventDefault();
      const st = $("stage");
      drag = { x: e.clientX, y: e.clientY, ww: state.ww, wl: state.wl, pan: e.shiftKey || e.button === 1,
               sl: st.scrollLeft, stp: st.scrollTop };
    });
    window.addEventListener("mouseup", () => { drag = null; });
    window.addEventListener("mousemove", (e) => {
      if (!drag) return;
      if (drag.pan) {
        $("stage").scrollLeft = drag.sl - (e.clientX - drag.x);
        $("stage").scrollTop = drag.stp - (e.clientY - drag.y);
      } else {
        setWindow(drag.ww + (e.clientX - drag.x) * 2, drag.wl - (e.clientY - drag.y) * 2);
      }
    });
    $("zoom-in").addEventListener("click", () => setZoom(state.zoom * 1.5));
    $("zoom-out").addEventListener("click", () => setZoom(state.zoom / 1.5));
    $("zoom-fit").addEventListener("click", () => setZoom(1));
    window.addEventListener("resize", render);
    for (const b of document.querySelectorAll("button.answer")) {
      b.addEventListener("click", () => save(b.dataset.answer));
    }
    for (const b of document.querySelectorAll("button.conf")) {
      b.addEventListener("click", () => {
        const v = +b.dataset.conf;
        state.pendingConf = state.pendingConf === v ? null : v;
        showConfidence();
        if (currentAnswer()) save(currentAnswer());
        else setStatus("Choose real, synthetic or unsure to save", "pending");
      });
    }
    $("comment").addEventListener("input", () => { state.commentDirty = true; });
    $("comment").addEventListener("blur", () => { flushComment(); });
    $("prev").addEventListener("click", () => openCase(state.index - 1));
    $("next").addEventListener("click", () => openCase(state.index + 1));
    $("next-open").addEventListener("click", () => nextOpen());
    document.addEventListener("keydown", (e) => {
      const tag = (e.target && e.target.tagName) || "";
      if (tag === "TEXTAREA" || tag === "INPUT" || e.ctrlKey || e.metaKey || e.altKey) return;
      const k = e.key;
      if (k === "ArrowUp" || k === "PageUp") { setSlice(state.slice[state.view] + 1); e.preventDefault(); }
      else if (k === "ArrowDown" || k === "PageDown") { setSlice(state.slice[state.view] - 1); e.preventDefault(); }
      else if (k === "+" || k === "=") setZoom(state.zoom * 1.5);
      else if (k === "-") setZoom(state.zoom / 1.5);
      else if (k === "0") setZoom(1);
      else if (k === "n" || k === "N") openCase(state.index + 1);
      else if (k === "p" || k === "P") openCase(state.index - 1);
      else if (k === "r" || k === "R") save("real");
      else if (k === "s" || k === "S") save("synthetic");
      else if (k === "u" || k === "U") save("unsure");
      else if (k >= "1" && k <= "5") {
        state.pendingConf = +k;
        showConfidence();
        if (currentAnswer()) save(currentAnswer());
      }
    });
    // a comment typed just before the tab closes is still sent (keepalive outlives the page)
    window.addEventListener("pagehide", () => {
      const c = state.index >= 0 ? state.cases[state.index] : null;
      if (!c || !c.answer || !state.commentDirty) return;
      state.commentDirty = false;
      fetch("/api/answers/" + c.id, {
        method: "PUT", keepalive: true,
        headers: { Authorization: "Bearer " + state.token, "Content-Type": "application/json" },
        body: JSON.stringify({ answer: c.answer.answer, confidence: state.pendingConf,
                               comment: $("comment").value }),
      }).catch(() => {});
    });
    window.addEventListener("beforeunload", (e) => {
      if (state.saving > 0) { e.preventDefault(); e.returnValue = ""; }
    });
  }

  async function start() {
    state.token = readToken();
    if (!state.token) { showLogin(""); return; }
    let res;
    try { res = await api("/api/me"); } catch (e) { return; }
    if (!res.ok) { showLogin("The server refused this token (" + res.status + ")."); return; }
    state.me = await res.json();
    if (state.me.role === "owner") { window.location.replace("/owner"); return; }
    state.cases = state.me.cases;
    document.title = state.me.title;
    $("title").textContent = state.me.title;
    $("reader-name").textContent = "Reader: " + state.me.reader;
    $("login").hidden = true;
    $("app").hidden = false;
    $("comment").maxLength = state.me.comment_max;
    wire();
    const w = state.me.windows[0] || { width: 400, level: 50 };
    state.ww = w.width; state.wl = w.level;
    setWindow(w.width, w.level);
    updateProgress();
    const saved = parseInt(localStorage.getItem("tumorsynth-pos-" + state.me.reader) || "", 10);
    let i = Number.isInteger(saved) && saved >= 0 && saved < state.cases.length ? saved : -1;
    if (i < 0) { i = state.cases.findIndex((c) => !c.answer); if (i < 0) i = 0; }
    openCase(i);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("token-submit").addEventListener("click", () => {
      const t = $("token-input").value.trim();
      if (!t) return;
      sessionStorage.setItem(TOKEN_KEY, t);
      window.location.reload();
    });
    start();
  });
})();
