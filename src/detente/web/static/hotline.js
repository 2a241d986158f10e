// The caller's hotline channels (a party reads only its own; GET /hotline lists them), each
// with its records and a fresh verification of every signature, hash and link.
"use strict";

(() => {
  const { api, el } = Detente;

  function content(r) {
    if (r.kind === "ack") return `acknowledges #${r.acks}`;
    const body = r.body || {};
    return typeof body.text === "string" ? body.text : JSON.stringify(body);
  }

  async function open(channel) {
    const [data, check] = await Promise.all([
      api(`/hotline/${encodeURIComponent(channel)}`),
      api(`/hotline/${encodeURIComponent(channel)}/verify`),
    ]);
    const verdict = check.ok
      ? el("p", { class: "badge ok", id: "verify" }, `verified: ${check.checked} records, head #${check.head.seq}`)
      : el("p", { class: "badge bad", id: "verify" }, `chain broken at #${check.first_bad_seq}: ${check.reason}`);
    document.getElementById("channel").replaceChildren(
      el("h2", {}, channel), verdict,
      el("table", { class: "records" },
        el("thead", {}, el("tr", {}, ...["#", "kind", "from → to", "at", "content"].map((h) => el("th", {}, h)))),
        el("tbody", {}, data.records.map((r) => el("tr", { dataset: { seq: r.seq } },
          el("td", { class: "num" }, r.seq), el("td", {}, r.kind), el("td", {}, `${r.sender} → ${r.to}`),
          el("td", {}, String(r.at).replace("T", " ").slice(0, 19)), el("td", {}, content(r)))))));
  }

  Detente.start(async (me) => {
    const box = document.getElementById("channels");
    if (!("read_hotline" in me.actions)) {
      box.replaceChildren(el("p", { class: "muted", id: "not-allowed" },
        `Hotline channels are private to their two parties; your role (${me.role}) reads none.`));
      return;
    }
    const heads = await api("/hotline");
    if (!heads.length) {
      box.replaceChildren(el("p", { class: "muted" }, `No channel of ${me.party} holds a record yet.`));
    } else {
      box.replaceChildren(el("ul", { class: "channel-list" }, heads.map((h) => el("li", {},
        el("button", { type: "button", class: "link", dataset: { channel: h.channel }, on: { click: () => open(h.channel).catch((e) => Detente.showError(e.message)) } },
          `${h.channel} (${h.seq} record${h.seq === 1 ? "" : "s"})`)))));
      await open(heads[0].channel);
    }
  });
})();
