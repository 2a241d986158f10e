// Detente dashboard: what every page shares — the token, API calls, the header, small helpers.
//
// The API token is asked for once per browser tab (a sign-in dialog), kept in sessionStorage
// and sent as "Authorization: Bearer dtk_…" with each fetch(). A 401 forgets it and asks again.
// Data is always put into the page as text (never as HTML): claims quote news articles.
"use strict";

const Detente = (() => {
  const TOKEN_KEY = "detente.token";
  const AGREEMENT_KEY = "detente.agreement";

  // Status colours, most severe first; "uncited" is evidence no finding cites.
  const STATUS = ["violation", "unverified", "compliant", "pending", "inactive", "uncited"];
  const COLOURS = {
    violation: "#c62828", unverified: "#ef6c00", compliant: "#2e7d32",
    pending: "#1565c0", inactive: "#9e9e9e", uncited: "#78909c",
  };

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // el("td", {class: "x", dataset: {id: 1}}, "text", child) — children as text or nodes.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
      else if (key === "hidden") node.hidden = true;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${token() || ""}` };
    let body;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    }
    const response = await fetch(path, {
      method: options.method || "GET", headers, body, signal: options.signal,
    });
    const isJson = (response.headers.get("content-type") || "").includes("json");
    const data = isJson ? await response.json() : null;
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      signIn.open("Your token was refused (unknown or revoked): sign in again.");
    }
    if (!response.ok) {
      throw new ApiError(response.status, (data && data.error && data.error.message) || response.statusText);
    }
    return data;
  }

  function showError(message) {
    if (message) console.error(message); // the browser tests fail on any console error
    const box = document.getElementById("page-error");
    box.textContent = message;
    box.hidden = !message;
  }

  // The sign-in dialog: resolves with the caller (GET /ui/api/me) once a token is accepted.
  const signIn = (() => {
    const dialog = document.getElementById("sign-in");
    const form = document.getElementById("sign-in-form");
    const input = document.getElementById("token");
    const error = document.getElementById("sign-in-error");
    let waiting = [];

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      try {
        const me = await api("/ui/api/me");
        input.value = "";
        error.textContent = "";
        dialog.close();
        for (const resolve of waiting) resolve(me);
        waiting = [];
      } catch (err) {
        sessionStorage.removeItem(TOKEN_KEY);
        error.textContent = err.status === 401 ? "This token is not valid." : err.message;
        if (!dialog.open) dialog.showModal();
      }
    });
    dialog.addEventListener("cancel", (event) => event.preventDefault()); // no data without a token

    function open(message) {
      error.textContent = message || "";
      if (!dialog.open) dialog.showModal();
      input.focus();
      return new Promise((resolve) => waiting.push(resolve));
    }
    return { open };
  })();

  async function whoAmI() {
    if (token()) {
      try {
        return await api("/ui/api/me");
      } catch (err) {
        if (err.status !== 401) throw err;
        return signIn.open("Your saved token was refused (unknown or revoked): sign in again.");
      }
    }
    return signIn.open();
  }

  function showUser(me) {
    const who = document.getElementById("who");
    who.textContent = `${me.name} · ${me.role}${me.party ? ` (${me.party})` : ""}`;
    for (const link of document.querySelectorAll("nav [data-needs]")) {
      link.hidden = !(link.dataset.needs in me.actions);
    }
    const out = document.getElementById("sign-out");
    out.hidden = false;
    out.onclick = () => {
      sessionStorage.removeItem(TOKEN_KEY);
      window.location.reload();
    };
    const page = document.body.dataset.page;
    document.querySelector(`nav [data-nav="${page}"]`)?.setAttribute("aria-current", "page");
  }

  // The agreement shown: ?agreement= in the address, else the last one chosen, else the first.
  async function chooseAgreement() {
    const list = await api("/agreements");
    const select = document.getElementById("agreement-select");
    select.replaceChildren(...list.map((a) => el("option", { value: a.id }, `${a.id} — ${a.title}`)));
    const ids = list.map((a) => a.id);
    const wanted = new URLSearchParams(window.location.search).get("agreement")
      || sessionStorage.getItem(AGREEMENT_KEY);
    const chosen = ids.includes(wanted) ? wanted : ids[0] || null;
    if (chosen) {
      select.value = chosen;
      sessionStorage.setItem(AGREEMENT_KEY, chosen);
      for (const link of document.querySelectorAll("nav a")) {
        link.href = `${link.pathname}?agreement=${encodeURIComponent(chosen)}`;
      }
    }
    select.onchange = () => {
      sessionStorage.setItem(AGREEMENT_KEY, select.value);
      const url = new URL(window.location.href);
      url.searchParams.set("agreement", select.value);
      url.hash = "";
      window.location.assign(url);
    };
    return chosen;
  }

  // Start a page: sign in if needed, then run(me, agreementId).
  async function start(run) {
    try {
      const me = await whoAmI();
      showUser(me);
      const agreement = await chooseAgreement();
      await run(me, agreement);
      document.body.dataset.ready = "1"; // the page has drawn what it has (tests wait for it)
    } catch (err) {
      showError(err.message || String(err));
      throw err;
    }
  }

  const fmtDate = (iso) => (iso ? String(iso).slice(0, 10) : "…");
  const debounce = (fn, ms) => {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  };
  // Only web links become links: a citation URL is data, not trusted markup.
  const safeUrl = (url) => (/^https?:\/\//i.test(url || "") ? url : null);

  return { STATUS, COLOURS, ApiError, api, el, start, showError, fmtDate, debounce, safeUrl };
})();
