// The claims review queue: claims extracted from documents, accepted or rejected by an analyst
// (POST /claims/{id}/review). Only roles with read_claims see it; the API refuses the others.
"use strict";

(() => {
  const { api, el } = Detente;
  let me = null;

  function quantities(text) {
    try {
      return JSON.parse(text || "[]").map((q) => `${q.best ?? q.count_best ?? ""} ${q.category || ""}`.trim()).join(", ");
    } catch {
      return String(text || "");
    }
  }

  function actions(claim) {
    if (!("review_claims" in me.actions)) return "";
    const note = el("input", { type: "text", placeholder: "note", "aria-label": "review note", class: "note" });
    const review = (action) => async () => {
      await api(`/claims/${encodeURIComponent(claim.claim_id)}/review`, { method: "POST", json: { action, note: note.value } });
      await load();
    };
    const buttons = claim.status === "pending"
      ? [el("button", { type: "button", class: "accept", on: { click: review("accept") } }, "Accept"),
        el("button", { type: "button", class: "reject", on: { click: review("reject") } }, "Reject")]
      : [el("button", { type: "button", class: "reopen", on: { click: review("reopen") } }, "Reopen")];
    return [note, ...buttons];
  }

  function row(c) {
    const where = [c.place_name, c.lat != null ? `${Number(c.lat).toFixed(3)}, ${Number(c.lon).toFixed(3)}` : ""].filter(Boolean).join(" · ");
    return el("tr", { dataset: { claim: c.claim_id, status: c.status } },
      el("td", {}, el("div", { class: "sentence" }, c.sentence), el("div", { class: "muted" }, `${c.source || ""} ${c.reliability || ""}${c.credibility ?? ""} · ${c.doc_title || c.doc_file || c.doc_id}`)),
      el("td", {}, `${c.event_type || ""} (${c.modality || ""})`),
      el("td", {}, [c.actor, c.party].filter(Boolean).join(" → ")),
      el("td", {}, quantities(c.quantities)),
      el("td", {}, where),
      el("td", {}, [c.time_start, c.time_end].filter(Boolean).join(" – ")),
      el("td", { class: "num" }, c.confidence != null ? Number(c.confidence).toFixed(2) : ""),
      el("td", {}, el("span", { class: `badge claim-${c.status}` }, c.status), c.reviewer ? el("div", { class: "muted" }, c.reviewer) : ""),
      el("td", { class: "actions" }, actions(c)));
  }

  async function load() {
    const status = document.getElementById("claim-status").value;
    const data = await api(`/claims${status ? `?status=${status}` : ""}`);
    const box = document.getElementById("claims");
    document.getElementById("claims-summary").textContent = `${data.claims.length} claim${data.claims.length === 1 ? "" : "s"}`;
    if (!data.claims.length) return box.replaceChildren(el("p", { class: "muted" }, "No claims here."));
    box.replaceChildren(el("table", { class: "claims" },
      el("thead", {}, el("tr", {}, ...["sentence", "event", "actor → party", "quantities", "place", "time", "conf.", "status", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, data.claims.map(row))));
  }

  Detente.start(async (who) => {
    me = who;
    if (!("read_claims" in me.actions)) {
      document.getElementById("claims").replaceChildren(el("p", { class: "muted", id: "not-allowed" },
        `Your role (${me.role}) does not read claims: analysts and admins review them.`));
      return;
    }
    document.getElementById("claim-status").addEventListener("change", () => load().catch((e) => Detente.showError(e.message)));
    await load();
  });
})();
