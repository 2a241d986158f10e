// The literate view: each clause of the agreement beside the parameters that encode it, the
// zones they use (and how those are built), and the lines of the agreement file that say so.
"use strict";

(() => {
  const { api, el, safeUrl } = Detente;

  // A parameter's value as short text: lists joined, objects as "key: value" pairs.
  function show(value) {
    if (Array.isArray(value)) return value.map(show).join(", ");
    if (value && typeof value === "object") {
      return Object.entries(value).map(([k, v]) => `${k}: ${show(v)}`).join("; ");
    }
    return String(value);
  }

  const table = (entries, cls) => el("table", { class: cls },
    el("tbody", {}, entries.map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, show(v))))));

  function head(data) {
    const box = document.getElementById("agreement-head");
    box.replaceChildren(
      el("h1", {}, data.title),
      el("p", { class: "meta" }, `${data.agreement} · version ${data.version} (stored version ${data.version_no}) · `,
        `${data.file} · sha256 ${data.sha256.slice(0, 16)}… · times in ${data.timezone}`),
      el("h2", {}, "Parties"),
      table(data.parties.map((p) => [p.id, p.name + (p.aliases.length ? ` (also: ${p.aliases.join(", ")})` : "")]), "kv"),
      el("h2", {}, "Sources"),
      el("ul", { class: "sources" }, data.sources.map((s) => {
        const url = safeUrl(s.url);
        return el("li", { id: `source-${s.id}` }, el("strong", {}, s.id), ": ", s.title,
          url ? [" — ", el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url)] : "",
          s.note ? el("div", { class: "muted" }, s.note) : "");
      })),
    );
  }

  function clause(c) {
    const cite = [c.citation.title || c.citation.source, c.citation.article].filter(Boolean).join(", ");
    const text = el("div", { class: "text" },
      el("h2", {}, c.title || c.obligation),
      el("blockquote", { class: "clause" }, c.clause),
      el("p", { class: "citation" }, "Source: ", el("a", { href: `#source-${c.citation.source}` }, cite)),
      c.note ? el("p", { class: "note" }, c.note) : "");
    const params = el("div", { class: "params" },
      el("h3", {}, "Encoded as"),
      table([["id", c.obligation], ["window", c.window], ...Object.entries(c.parameters)], "kv params-table"),
      Object.keys(c.categories).length ? [el("h3", {}, "Categories"), table(Object.entries(c.categories), "kv")] : "",
      Object.keys(c.zones).length ? [el("h3", {}, "Zones"), table(Object.entries(c.zones), "kv")] : "",
      el("details", {}, el("summary", {}, `In the agreement file, from line ${c.line ?? "?"}`),
        el("pre", { class: "yaml" }, c.yaml)));
    return el("article", { class: "dt-clause", id: `clause-${c.obligation}` }, text, params);
  }

  Detente.start(async (_me, agreement) => {
    if (!agreement) return Detente.showError("No agreement is stored yet.");
    const data = await api(`/ui/api/agreements/${encodeURIComponent(agreement)}/clauses`);
    head(data);
    document.getElementById("clauses").replaceChildren(...data.clauses.map(clause));
    if (window.location.hash) document.querySelector(window.location.hash)?.scrollIntoView();
  });
})();
