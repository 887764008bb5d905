/* TraceGraph web page: plain JavaScript, no framework, no build step.
 *
 * Every view is a function of the URL's hash (#/recall?s=...), so the back button, reloads and
 * shared links work. Everything shown comes from the /v1 API, called with the user's key (kept
 * in sessionStorage: asked once per browser tab). The trace graph is laid out by the server
 * (GET /v1/layout/...): this file only draws the boxes and curves it is given, as SVG.
 * DOM is built with createElement/textContent only: no data ever goes through innerHTML.
 */
"use strict";

(function () {
  const KEY_STORE = "tracegraph.key";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const host = document.getElementById("view");
  let current = null; // the page element of the latest route; older ones are dropped

  // Type → colour (the graph's boxes, the badges and the legend share them).
  const TYPE_COLOUR = {
    Supplier: "#6d28d9", Material: "#8b5cf6", Certificate: "#7c8ba1",
    MaterialLot: "#2563eb", Equipment: "#475569", Process: "#475569",
    ChangeOrder: "#a16207", MaintenanceEvent: "#7c8ba1", Document: "#7c8ba1",
    Batch: "#0e7490", Product: "#7c8ba1", Inspection: "#7c8ba1",
    Device: "#047857", Shipment: "#b45309", ServiceEvent: "#c2410c",
    Complaint: "#b91c1c", Customer: "#9d174d",
  };
  const FLOW = ["Supplier", "Material", "MaterialLot", "Batch", "Device", "Shipment", "Customer"];
  const SUSPECT_TYPES = new Set(["MaterialLot", "Material", "Supplier", "Certificate", "Batch",
    "Device", "Equipment", "MaintenanceEvent", "Process", "ChangeOrder", "Inspection"]);
  const EVIDENCE_ROLES = new Set(["auditor", "admin"]);
  const SEVERITIES = ["death", "serious_injury", "malfunction", "other"];

  let who = null; // {id, name, role} of the key in use

  // ------------------------------------------------------------------ DOM helpers

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "dataset") Object.assign(el.dataset, value);
      else el.setAttribute(name, value === true ? "" : String(value));
    }
  }

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  /** Append children (arrays flattened; null, undefined and false left out). */
  function put(el, ...children) {
    append(el, children);
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
  }

  // ------------------------------------------------------------------ formatting

  const typeOf = (key) => String(key).split(":")[0];
  const idOf = (key) => String(key).slice(typeOf(key).length + 1);
  const isKey = (v) => typeof v === "string" && /^[A-Z][A-Za-z]+:./.test(v) && typeOf(v) in TYPE_COLOUR;

  function when(value) {
    if (!value) return "";
    const text = String(value);
    if (/^\d{4}-\d{2}-\d{2}T/.test(text)) {
      const [day, time] = text.split("T");
      const hm = time.slice(0, 5);
      return hm === "00:00" ? day : `${day} ${hm}`;
    }
    return text;
  }

  function at(value, dayOnly) {
    const text = when(value);
    return h("span", { class: "nowrap" }, dayOnly ? text.slice(0, 10) : text);
  }

  function pValue(p) {
    if (p === null || p === undefined) return "";
    if (p === 0) return "0";
    return p < 0.001 ? p.toExponential(1) : p.toPrecision(2);
  }

  const percent = (x) => `${Math.round(x * 1000) / 10} %`;
  const human = (name) => String(name).replace(/_/g, " ");

  function truncate(text, n) {
    const t = String(text || "");
    return t.length > n ? t.slice(0, n - 1) + "…" : t;
  }

  function nodeHref(key) {
    return `#/node/${encodeURIComponent(typeOf(key))}/${encodeURIComponent(idOf(key))}`;
  }

  function traceHref(key, extra) {
    const q = new URLSearchParams(extra || {});
    const qs = q.toString();
    return `#/trace/${encodeURIComponent(typeOf(key))}/${encodeURIComponent(idOf(key))}${qs ? "?" + qs : ""}`;
  }

  function recallHref(suspects, start, end) {
    const q = new URLSearchParams({ s: [].concat(suspects).join(",") });
    if (start) q.set("from", start);
    if (end) q.set("to", end);
    return `#/recall?${q}`;
  }

  function badge(type) {
    const el = h("span", { class: "badge", title: type }, human(type));
    el.style.setProperty("--c", TYPE_COLOUR[type] || "#64748b");
    return el;
  }

  function keyLink(key, label) {
    if (!key) return "";
    return h("a", { href: nodeHref(key), class: "key", title: key }, label || idOf(key));
  }

  function typedLink(key, label) {
    return h("span", { class: "typed" }, badge(typeOf(key)), " ", keyLink(key, label));
  }

  function severityTag(sev) {
    return h("span", { class: `sev sev-${sev}` }, human(sev || ""));
  }

  function chain(path) {
    const out = h("span", { class: "chain" });
    (path || []).forEach((key, i) => {
      if (i) put(out, h("span", { class: "arrow", "aria-hidden": "true" }, "→"));
      put(out, keyLink(key));
    });
    return out;
  }

  function cell(value) {
    if (Array.isArray(value)) {
      if (value.every(isKey)) {
        const first = value.length > 6 ? value.slice(0, 5) : value;
        const rest = value.length - first.length;
        return h("span", { class: "keys", title: rest ? value.map(idOf).join(", ") : null },
          first.map((k, i) => [i ? ", " : "", keyLink(k)]), rest ? ` and ${rest} more` : "");
      }
      return value.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ");
    }
    if (isKey(value)) return keyLink(value);
    if (value === true) return "yes";
    if (value === false) return "no";
    if (value && typeof value === "object") return h("code", {}, JSON.stringify(value));
    return /^\d{4}-\d{2}-\d{2}/.test(String(value)) ? at(value) : when(value);
  }

  function tableHead(columns) {
    return h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.title))));
  }

  function tableRow(columns, row, i, options) {
    return h("tr", { class: options && options.rowClass ? options.rowClass(row, i) : null },
      columns.map((c) => h("td", { class: c.num ? "num" : null }, c.render ? c.render(row, i) : cell(row[c.key]))));
  }

  /** A table of rows at hand; with `fold`, its first `fold` rows and a pager for the rest. */
  function table(columns, rows, opts) {
    const options = opts || {};
    if (!rows.length) return h("p", { class: "empty" }, options.empty || "None.");
    if (options.fold && rows.length > options.fold) return pagedTable(columns, localPages(rows), "rows", { ...options, first: options.fold });
    const t = h("table", { class: "grid" + (options.compact ? " compact" : "") }, tableHead(columns),
      h("tbody", {}, rows.map((row, i) => tableRow(columns, row, i, options))));
    return h("div", { class: "table-wrap" }, t);
  }

  function section(title, subtitle, ...content) {
    return h("section", { class: "card", id: typeof title === "string" ? `panel-${title.toLowerCase().replace(/[^a-z]+/g, "-")}` : null },
      h("header", { class: "card-head" }, h("h2", {}, title), subtitle ? h("span", { class: "muted" }, subtitle) : null),
      ...content);
  }

  function stat(label, value, tone) {
    return h("div", { class: "stat" + (tone ? " " + tone : "") },
      h("div", { class: "stat-value" }, String(value)), h("div", { class: "stat-label" }, label));
  }

  function count(n, one, many) {
    return `${n} ${n === 1 ? one : many || `${one}s`}`;
  }

  function alertBox(message, kind) {
    return h("div", { class: `alert ${kind || "error"}`, role: "alert" }, message);
  }

  function loading(view, what) {
    clear(view);
    put(view, h("p", { class: "loading" }, `Loading ${what}…`));
  }

  // ------------------------------------------------------------------ paged lists

  /* Every list in an API answer is paged (api/paging.py): one window [offset, offset + limit)
   * over all the answer's lists at once, `page.total` with each list's length (by dotted name:
   * "hotspots.ranking", "links.in"), and `page.next_cursor` for the next window of the same
   * query (answered as of the first page's time). A view asks for a small first page; each
   * list then shows "N of M shown" and loads further pages as its "Show more" needs them.
   * Nothing is cut silently: what is not shown is counted, and can be shown. */
  const FIRST = 10;        // rows a list shows first
  const MORE = 500;        // rows one "Show more" adds
  const ALL_PAGE = 5000;   // items per list in each request of "Show all" (TRACEGRAPH_MAX_PAGE_SIZE is 10000)
  const ALL_ROWS = 1000000; // the dashboard's `top` and `recent` for "every one" (its MAX_ROWS)

  function listAt(doc, dotted) {
    let value = doc;
    for (const part of dotted.split(".")) value = value && value[part];
    return Array.isArray(value) ? value : [];
  }

  /** The lists of one answer, loaded so far; `next(cursor, limit)` answers the next page. */
  class Pages {
    constructor(first, next) {
      const page = first.page || { total: {}, next_cursor: null };
      this.first = first;
      this.next = next;
      this.total = page.total;
      this.cursor = page.next_cursor;
      this.loaded = {};
      for (const name of Object.keys(this.total)) this.loaded[name] = [...listAt(first, name)];
      this.busy = null;
    }

    items(name) {
      return this.loaded[name] || listAt(this.first, name);
    }

    count(name) {
      return name in this.total ? this.total[name] : this.items(name).length;
    }

    /** Load pages (``limit`` items per list) until ``name`` holds ``want`` items or all. */
    async load(name, want, limit) {
      while (this.cursor && this.items(name).length < Math.min(want, this.count(name))) {
        if (!this.busy) this.busy = this.fetch(limit).finally(() => { this.busy = null; });
        await this.busy;
      }
    }

    async fetch(limit) {
      let page;
      try {
        page = await this.next(this.cursor, limit);
      } catch (err) {
        // A server configured for smaller pages refuses the limit: take its default size.
        if (!(err instanceof ApiError && err.status === 422 && /^limit/.test(err.message))) throw err;
        page = await this.next(this.cursor, null);
      }
      for (const name of Object.keys(this.total)) this.loaded[name].push(...listAt(page, name));
      this.cursor = page.page.next_cursor;
    }
  }

  /** A list at hand, as a Pages with nothing more to load. */
  function localPages(rows) {
    return new Pages({ rows, page: { total: { rows: rows.length }, next_cursor: null } }, null);
  }

  /** The query string of a next page: the view's own parameters, the limit and the cursor. */
  function pageQuery(params, cursor, limit) {
    const q = new URLSearchParams(params || {});
    if (limit) q.set("limit", limit);
    if (cursor) q.set("cursor", cursor);
    return q.toString();
  }

  /** The first rows of one list into ``body`` (``draw(items, from)`` makes their nodes), and a
   * bar under it: "N of M shown", Show more, Show all. */
  function pager(pages, name, body, draw, opts) {
    const options = opts || {};
    const first = options.first || FIRST;
    let shown = 0;
    const status = h("span", { class: "pager-status" });
    const more = h("button", { type: "button", class: "button small more" });
    const all = h("button", { type: "button", class: "button small all" });
    const bar = h("div", { class: "pager", dataset: { list: name } }, status, more, all);
    const show = (n) => {
      const items = pages.items(name);
      const upto = Math.min(n, items.length);
      if (upto > shown) {
        put(body, draw(items.slice(shown, upto), shown));
        shown = upto;
      }
      const total = pages.count(name);
      const left = total - shown;
      status.textContent = `${shown} of ${total} ${options.noun || "shown"}`;
      more.hidden = left <= 0;
      more.textContent = `Show ${Math.min(left, MORE)} more`;
      all.hidden = left <= MORE;
      all.textContent = `Show all ${total}`;
      bar.hidden = total <= first;
      bar.dataset.shown = String(shown);
    };
    const grow = async (want, limit) => {
      more.disabled = all.disabled = true;
      bar.dataset.busy = "true";
      status.textContent = `Loading… (${shown} of ${pages.count(name)} shown)`;
      try {
        await pages.load(name, want, limit);
        show(want);
      } catch (err) {
        show(shown);
        status.textContent = err instanceof ApiError && err.status === 409
          ? "The data changed since this page was loaded: reload it to see the rest."
          : `Could not load more: ${err.message}`;
      } finally {
        more.disabled = all.disabled = false;
        delete bar.dataset.busy;
      }
    };
    more.addEventListener("click", () => grow(shown + MORE, MORE));
    all.addEventListener("click", () => grow(Infinity, ALL_PAGE));
    show(first);
    return bar;
  }

  /** A table of one list of a paged answer, its first rows shown and the rest on request. */
  function pagedTable(columns, pages, name, opts) {
    const options = opts || {};
    if (!pages.count(name)) return h("p", { class: "empty" }, options.empty || "None.");
    const body = h("tbody");
    const bar = pager(pages, name, body, (items, from) => items.map((row, i) => tableRow(columns, row, from + i, options)), options);
    const t = h("table", { class: "grid" + (options.compact ? " compact" : ""), dataset: { list: name } }, tableHead(columns), body);
    return h("div", { class: "table-wrap" }, t, bar);
  }

  // ------------------------------------------------------------------ the API

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  async function api(method, path, body, as) {
    const key = sessionStorage.getItem(KEY_STORE);
    if (!key) {
      askForKey();
      throw new ApiError(401, "no API key");
    }
    const headers = { Authorization: `Bearer ${key}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!res.ok) {
      let detail = `${res.status} ${res.statusText}`;
      try {
        const problem = await res.json();
        if (problem && problem.detail) detail = problem.detail;
      } catch (_) { /* not JSON */ }
      if (res.status === 401) {
        sessionStorage.removeItem(KEY_STORE);
        askForKey(detail);
      }
      throw new ApiError(res.status, detail);
    }
    if (as === "blob") return { blob: await res.blob(), name: fileName(res) };
    return res.json();
  }

  function fileName(res) {
    const cd = res.headers.get("Content-Disposition") || "";
    const m = /filename="([^"]+)"/.exec(cd);
    return m ? m[1] : "download";
  }

  function save(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function showError(err, target) {
    if (err instanceof ApiError && err.status === 401) return; // the key dialog says it
    target.append(alertBox(err instanceof ApiError ? err.message : `Something failed: ${err.message}`));
  }

  // ------------------------------------------------------------------ the key

  function askForKey(reason) {
    const overlay = document.getElementById("key-overlay");
    const error = document.getElementById("key-error");
    overlay.hidden = false;
    error.hidden = !reason;
    error.textContent = reason || "";
    document.getElementById("who").hidden = true;
    document.getElementById("key-input").focus();
  }

  async function signIn(key) {
    sessionStorage.setItem(KEY_STORE, key);
    who = await api("GET", "/v1/whoami");
    document.getElementById("who-name").textContent = `${who.name} · ${who.role}`;
    document.getElementById("who").hidden = false;
    document.getElementById("key-overlay").hidden = true;
  }

  document.getElementById("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("key-input");
    const key = input.value.trim();
    if (!key) return;
    try {
      await signIn(key);
      input.value = "";
      route();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) askForKey(err.message);
    }
  });

  document.getElementById("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    who = null;
    current = null;
    clear(host);
    askForKey();
  });

  document.getElementById("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = document.getElementById("search-input").value.trim();
    if (q) location.hash = `#/search?q=${encodeURIComponent(q)}`;
  });

  // ------------------------------------------------------------------ views: search

  async function viewSearch(view, params) {
    const q = params.get("q") || "";
    document.getElementById("search-input").value = q;
    loading(view, "search results");
    const search = (offset, limit) => api("GET", `/v1/search?q=${encodeURIComponent(q)}&limit=${limit}&offset=${offset}`);
    const data = await search(0, 50);
    const exact = data.matches.filter((m) => ["key", "id", "udi", "serial"].includes(m.match));
    if (exact.length === 1 && data.counts.matches === 1) {
      location.replace(nodeHref(exact[0].key));
      return;
    }
    // The search pages by offset (at most 200 a request), not by cursor: the same Pages, with
    // the next offset as its cursor.
    const paged = (answer, offset) => ({ ...answer, page: { total: { matches: answer.counts.matches },
      next_cursor: offset + answer.matches.length < answer.counts.matches ? String(offset + answer.matches.length) : null } });
    const pages = new Pages(paged(data, 0), async (cursor) => paged(await search(Number(cursor), 200), Number(cursor)));
    clear(view);
    put(view, h("h1", {}, `Search: “${q}”`),
      data.notes && data.notes.length ? data.notes.map((n) => alertBox(n, "note")) : null,
      section("Matches", count(data.counts.matches, "match", "matches"),
        pagedTable([
          { title: "Type", render: (m) => badge(m.type) },
          { title: "Id", render: (m) => keyLink(m.key) },
          { title: "Description", key: "label" },
          { title: "Matched on", render: (m) => m.why || human(m.match) },
        ], pages, "matches", { first: 50, empty: "Nothing matches. Try a key (Device:D-000117), an id, a serial or a piece of one, or a full UDI." })));
  }

  // ------------------------------------------------------------------ views: hotspots

  async function viewHotspots(view, params) {
    loading(view, "the risk-hotspot dashboard");
    const qs = { top: ALL_ROWS, recent: ALL_ROWS };
    for (const name of ["severity", "product", "from", "to"]) if (params.get(name)) qs[name] = params.get(name);
    // Every entry of every panel, read a page at a time: the first ten of each now.
    const board = (cursor, limit) => api("GET", `/v1/dashboard?${pageQuery(qs, cursor, limit)}`);
    const [data, products] = await Promise.all([
      board(null, FIRST),
      api("GET", "/v1/search?type=Product&limit=200"),
    ]);
    const pages = new Pages(data, board);
    clear(view);
    const counts = data.counts;
    const hot = data.hotspots;
    // The data-quality panel runs every check over the store (seconds on a large one): it is
    // asked for once the hotspots are drawn, and fills its place when it answers.
    const qualityStat = stat("data-quality errors", "…");
    const qualityPlace = section("Data quality", "checking…", h("p", { class: "loading" }, "Running the data-quality checks…"));
    put(view,
      h("div", { class: "page-head" },
        h("h1", {}, "Risk hotspots"),
        h("p", { class: "muted" }, "What the complaints have in common, suppliers whose qualification lapsed, equipment that failed calibration.")),
      filterBar(params, products.matches),
      h("div", { class: "stats" },
        stat("complaints", counts.complaints, counts.complaints ? "warn" : ""),
        stat("complaint devices (cases)", hot.counts.cases),
        stat("upstream suspects ranked", counts.hotspots),
        stat("suppliers with lapsed certificates", counts.suppliers, counts.suppliers ? "bad" : "good"),
        stat("failed calibrations", counts.calibrations, counts.calibrations ? "bad" : "good"),
        qualityStat),
      complaintsPanel(data, pages),
      rankingPanel(hot, pages),
      h("div", { class: "two" }, certificatesPanel(data, pages), calibrationsPanel(data, pages)),
      qualityPlace);
    api("GET", "/v1/dashboard/quality").then((quality) => {
      if (!qualityPlace.isConnected) return;
      qualityStat.replaceWith(stat("data-quality errors", quality.counts.error, quality.counts.error ? "bad" : "good"));
      const panel = qualityPanel(quality);
      panel.dataset.loaded = "true";
      qualityPlace.replaceWith(panel);
    }, (err) => {
      if (!qualityPlace.isConnected) return;
      clear(qualityPlace);
      put(qualityPlace, h("header", { class: "card-head" }, h("h2", {}, "Data quality")));
      showError(err, qualityPlace);
      qualityPlace.dataset.loaded = "error";
    });
  }

  function qualityPanel(q) {
    const c = q.counts;
    const levels = ["error", "warning", "info"].filter((l) => c[l]).map((l) => count(c[l], l)).join(", ");
    const suppliers = Object.entries(q.suppliers).map(([status, n]) => `${n} ${human(status)}`).join(" · ");
    return section("Data quality",
      `${count(c.findings, "finding")}${levels ? ` (${levels})` : ""} · tracegraph check, ${when(q.as_of)} UTC`,
      h("div", { class: "stats" },
        ...Object.entries(q.expiring_within).map(([days, n]) =>
          stat(`certificates expiring within ${days} days`, n, n ? "warn" : "good")),
        stat("suppliers by status", suppliers || "none")),
      h("h3", {}, "Findings by rule"),
      table([
        { title: "Rule", render: (r) => h("code", {}, r.id) },
        { title: "Severity", render: (r) => h("span", { class: `pill ${r.severity === "error" ? "bad" : r.severity === "warning" ? "warn" : ""}` }, r.severity) },
        { title: "Findings", key: "findings", num: true },
        { title: "What it finds", key: "description" },
      ], q.rules, { compact: true, empty: "No rule finds anything." }),
      h("h3", {}, `Findings (${count(c.findings, "finding")})`),
      pagedTable([
        { title: "Severity", render: (f) => f.severity },
        { title: "Finding", render: (f) => h("span", { class: "desc" }, f.message) },
        { title: "Records", render: (f) => h("span", { class: "keys" }, f.keys.slice(0, 6).map((k) => [keyLink(k), " "]),
          f.keys.length > 6 ? `and ${f.keys.length - 6} more` : "") },
      ], findingPages(q), "findings", { compact: true, first: 20, empty: "Nothing found." }),
      h("h3", {}, "Certificates expiring in the next 90 days"),
      table([
        { title: "Certificate", render: (e) => keyLink(e.key) },
        { title: "Kind", key: "kind" },
        { title: "Supplier", render: (e) => e.suppliers.map((k) => [typedLink(k), " "]) },
        { title: "Valid to", render: (e) => at(e.valid_to) },
        { title: "In", render: (e) => count(e.days, "day"), num: true },
      ], q.expiring, { compact: true, empty: "No certificate expires in the next 90 days." }));
  }

  /** The panel's first findings, then the rest from GET /v1/checks (the same findings in the
   * same order), page by page after them. */
  function findingPages(q) {
    const had = q.findings.length;
    const first = { findings: q.findings, page: { total: { findings: q.counts.findings }, next_cursor: had < q.counts.findings ? "after-panel" : null } };
    return new Pages(first, async (cursor, limit) => {
      const size = limit || MORE;
      const after = cursor === "after-panel";
      const page = await api("GET", `/v1/checks?${pageQuery({}, after ? null : cursor, after ? had + size : size)}`);
      return { findings: after ? page.findings.slice(had) : page.findings, page: page.page };
    });
  }

  function filterBar(params, products) {
    const severity = h("select", { name: "severity", id: "f-severity" },
      h("option", { value: "" }, "any severity"),
      SEVERITIES.map((v) => h("option", { value: v, selected: params.get("severity") === v }, human(v))));
    const product = h("select", { name: "product", id: "f-product" },
      h("option", { value: "" }, "all products"),
      products.map((p) => h("option", { value: p.id, selected: params.get("product") === p.id }, `${p.label || p.id} (${p.id})`)));
    const start = h("input", { type: "date", name: "from", id: "f-from", value: params.get("from") || "" });
    const end = h("input", { type: "date", name: "to", id: "f-to", value: params.get("to") || "" });
    const form = h("form", { class: "filters", id: "hotspot-filters" },
      h("label", {}, "Severity", severity), h("label", {}, "Product", product),
      h("label", {}, "Reported from", start), h("label", {}, "to", end),
      h("button", { type: "submit", class: "primary" }, "Apply"),
      h("a", { href: "#/", class: "button" }, "Clear"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const q = new URLSearchParams();
      for (const [k, v] of new FormData(form).entries()) if (v) q.set(k, v);
      location.hash = `#/?${q}`;
    });
    return form;
  }

  function complaintsPanel(data, pages) {
    return section("Recent complaints", `${count(data.counts.complaints, "complaint")}, newest first`,
      pagedTable([
        { title: "Reported", render: (c) => at(c.reported_at) },
        { title: "Severity", render: (c) => severityTag(c.severity) },
        { title: "Complaint", render: (c) => keyLink(c.key) },
        { title: "Device", render: (c) => keyLink(c.device) },
        { title: "Product", render: (c) => keyLink(c.product) },
        { title: "Description", render: (c) => h("span", { class: "desc" }, c.description || "") },
        { title: "", render: (c) => (c.device ? h("a", { href: traceHref(c.device, { direction: "up" }), class: "button small" }, "Trace upstream") : "") },
      ], pages, "complaints", { empty: "No complaints match the filters." }));
  }

  /** Entries that tie with the one before them (the same figures): they share its rank. */
  function sameFigures(a, b) {
    return !!a && !!b && a.separates === b.separates && a.unit_p_value === b.unit_p_value && a.p_value === b.p_value
      && a.cases === b.cases && a.unit_exposure === b.unit_exposure && a.exposure === b.exposure;
  }

  function rankingPanel(hot, pages) {
    const c = hot.counts;
    const ranking = pages.items("hotspots.ranking");
    const ranks = [];
    const rankOf = (i) => {
      for (let j = ranks.length; j <= i; j++) ranks[j] = j && sameFigures(ranking[j - 1], ranking[j]) ? ranks[j - 1] : j + 1;
      return ranks[i];
    };
    const tied = (i) => sameFigures(ranking[i - 1], ranking[i]) || sameFigures(ranking[i], ranking[i + 1]);
    const top = ranking.length ? ranking[0].unit_p_value : 1;
    const scope = hot.population_scope === "all devices" ? "all devices" : `the devices of ${idOf(hot.population_scope)}`;
    const installed = hot.population - hot.units;
    const units = installed > 0;
    const weak = c.ranked - c.separating;
    return section("Common-cause ranking",
      `${count(c.ranked, "suspect")} · ${c.cases} case devices among ${units ? `${hot.units} units (${hot.population} devices, ${scope})` : `${hot.population} (${scope})`}`,
      h("p", { class: "explain" }, "Upstream lots, suppliers, batches, equipment, processes and change orders shared by at least two complaint devices, most suspicious first: p is the chance that this many cases fall among the ",
        units ? "units" : "devices", ` it reached if complaints struck at random; p (BH) adjusts it for the ${c.ranked} candidates tested (Benjamini-Hochberg), since among that many some small p is luck. Entries with the same figures share a rank (=): the data cannot tell them apart.`,
        units ? ` Units are the devices not installed in another device (${installed} installed components left out): what is shipped and complained about.` : ""),
      weak ? h("p", { class: "explain", id: "ranking-ties" }, h("strong", {}, count(weak, "entry", "entries")),
        ` reached 95 % or more of the ${units ? "units" : "devices"} (what every ${units ? "unit" : "device"} is made of or with): cases and non-cases alike came from ${weak === 1 ? "it" : "them"}, so ${weak === 1 ? "it separates" : "they separate"} nothing. ${weak === 1 ? "It is" : "They are"} ranked last, greyed.`) : null,
      pagedTable([
        { title: "#", num: true, render: (r, i) => h("span", { title: tied(i) ? "tied: the same figures as the entries marked alike" : null }, `${rankOf(i)}${tied(i) ? "=" : ""}`) },
        { title: "Suspect", render: (r) => typedLink(r.key) },
        { title: "Name", render: (r) => r.name || "" },
        { title: "Cases", key: "cases", num: true },
        { title: units ? "Units reached" : "Devices reached", num: true, render: (r) => String(r.unit_exposure) },
        { title: "Case rate", render: (r) => rateBar(r.unit_rate) },
        { title: "p-value", num: true, render: (r) => h("span", { class: r.unit_p_value === top && r.separates ? "strong" : "", title: units ? `among all ${hot.population} devices: p = ${pValue(r.p_value)} (${r.exposure} reached)` : null }, pValue(r.unit_p_value)) },
        { title: "p (BH)", num: true, render: (r) => h("span", { title: `adjusted for the ${hot.counts.ranked} candidates tested (Benjamini-Hochberg)` }, pValue(r.unit_p_adjusted ?? r.p_adjusted)) },
        { title: "", render: (r) => h("span", { class: "actions" },
          r.separates ? null : h("span", { class: "pill" }, "separates nothing"),
          h("a", { href: recallHref(r.key), class: "button small primary" }, "Recall"),
          h("a", { href: traceHref(r.key), class: "button small" }, "Trace")) },
      ], pages, "hotspots.ranking", { rowClass: (r) => (r.separates ? null : "weak"), empty: "Fewer than two complaint devices: nothing to compare." }));
  }

  function rateBar(rate) {
    const bar = h("span", { class: "bar" }, h("span", { class: "bar-fill" }));
    bar.firstChild.style.width = `${Math.max(2, Math.round(rate * 100))}%`;
    return h("span", { class: "rate" }, bar, h("span", { class: "num" }, percent(rate)));
  }

  function certificatesPanel(data, pages) {
    const item = (sup) => h("div", { class: "item" },
      h("div", { class: "item-head" }, typedLink(sup.key, sup.id), " ", h("strong", {}, sup.name || ""), sup.country ? h("span", { class: "muted" }, ` (${sup.country})`) : "",
        sup.lapsed_now ? h("span", { class: "pill bad" }, `no valid certificate since ${sup.lapsed_since || "ever"}`) : null),
      h("ul", { class: "certs" }, sup.certificates.map((c) => h("li", {}, keyLink(c.key), ` ${c.kind}: ${c.valid_from} → ${c.valid_to}`,
        c.valid_today ? h("span", { class: "pill good" }, "valid today") : h("span", { class: "pill" }, "not valid today")))),
      table([
        { title: "Lot", render: (l) => keyLink(l.key) },
        { title: "Received", render: (l) => at(l.received_at) },
        { title: "Why", key: "reason" },
        { title: "Batches", render: (l) => cell(l.batches) },
        { title: "Devices", key: "devices", num: true },
        { title: "", render: (l) => h("a", { href: recallHref(l.key), class: "button small primary" }, "Recall") },
      ], sup.lots, { compact: true, fold: FIRST, noun: "lots shown" }));
    const body = h("div", { class: "items" });
    return section("Suppliers with lapsed certificates", `${count(data.counts.suppliers, "supplier")}, ${count(data.counts.lots, "lot")}`,
      data.counts.suppliers
        ? [body, pager(pages, "certificates", body, (items) => items.map(item), { first: FIRST, noun: "suppliers shown" })]
        : h("p", { class: "empty" }, "Every lot was received under a valid certificate."));
  }

  function calibrationsPanel(data, pages) {
    const item = (c) => h("div", { class: "item" },
      h("div", { class: "item-head" }, typedLink(c.equipment), " ", h("strong", {}, c.equipment_name || ""),
        h("span", { class: "pill bad" }, `failed ${when(c.performed_at)}`)),
      h("p", { class: "small" }, keyLink(c.key), c.finding ? `: ${c.finding}` : "",
        h("br"), "Last pass before: ", c.last_pass ? [keyLink(c.last_pass.key), ` ${when(c.last_pass.performed_at)}`] : "none",
        " · next pass: ", c.next_pass ? [keyLink(c.next_pass.key), ` ${when(c.next_pass.performed_at)}`] : h("span", { class: "pill bad" }, "none yet")),
      table([
        { title: "Batch", render: (b) => keyLink(b.key) },
        { title: "Processed", render: (b) => at(b.at) },
        { title: "When", render: (b) => b.when },
        { title: "Status", render: (b) => human(b.status || "") },
      ], [...c.batches_before_failure.map((b) => ({ ...b, when: "since the last pass" })),
        ...c.batches_after_failure.map((b) => ({ ...b, when: "after the failure" }))],
      { compact: true, fold: FIRST, noun: "batches shown", empty: "No batch processed since the last pass." }),
      h("a", { href: recallHref(c.key), class: "button small primary" }, `Recall ${c.id}`));
    const body = h("div", { class: "items" });
    return section("Failed calibrations", `${count(data.counts.calibrations, "failure")}, ${count(data.counts.batches, "batch", "batches")} since the last pass`,
      data.counts.calibrations
        ? [body, pager(pages, "calibrations", body, (items) => items.map(item), { first: FIRST, noun: "failures shown" })]
        : h("p", { class: "empty" }, "No calibration failed."));
  }

  // ------------------------------------------------------------------ views: recall

  async function viewRecall(view, params) {
    const suspects = (params.get("s") || "").split(/[\s,]+/).filter(Boolean);
    const start = params.get("from") || "";
    const end = params.get("to") || "";
    const form = h("form", { class: "filters", id: "recall-form" },
      h("label", { class: "grow" }, "Suspects (keys, comma separated)",
        h("input", { name: "s", id: "recall-suspects", value: suspects.join(", "), placeholder: "MaterialLot:L-2026-0042, Equipment:EQ-SOLDER-3", required: true })),
      h("label", {}, "From", h("input", { type: "date", name: "from", id: "recall-from", value: start })),
      h("label", {}, "To", h("input", { type: "date", name: "to", id: "recall-to", value: end })),
      h("button", { type: "submit", class: "primary" }, "Find recall scope"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const f = new FormData(form);
      location.hash = recallHref(String(f.get("s")).split(/[\s,]+/).filter(Boolean), f.get("from"), f.get("to"));
    });
    clear(view);
    put(view, h("div", { class: "page-head" }, h("h1", {}, "Recall scope"),
      h("p", { class: "muted" }, "Everything downstream of the suspects, each device with the chain that puts it in scope. A window bounds the lots a material or supplier delivered and the batches equipment processed.")), form);
    if (!suspects.length) return;
    const out = h("div", { id: "recall-result" }, h("p", { class: "loading" }, "Working out the recall scope…"));
    put(view, out);
    const body = { suspects };
    if (start) body.from = start;
    if (end) body.to = end;
    // A first page of 100 of each list (every customer, in nearly every recall); the rest of
    // each list page by page as its "Show more" asks (the same query, so the same body).
    const scope = (cursor, limit) => api("POST", `/v1/recall?${pageQuery({}, cursor, limit)}`, body);
    let data;
    let pages;
    try {
      data = await scope(null, 100);
      pages = new Pages(data, scope);
      // The customers are sorted here by their affected devices: all of them first.
      await pages.load("customers", Infinity, ALL_PAGE);
    } catch (err) {
      clear(out);
      showError(err, out);
      return;
    }
    clear(out);
    const c = data.counts;
    const customers = pages.items("customers");
    customers.sort((a, b) => b.devices - a.devices || a.key.localeCompare(b.key));
    const names = Object.fromEntries(customers.map((x) => [x.key, x.name]));
    const csv = h("button", { type: "button", class: "primary", id: "recall-csv" }, "Download CSV");
    csv.addEventListener("click", async () => {
      csv.disabled = true;
      try {
        const file = await api("POST", "/v1/recall/csv", body, "blob");
        save(file.blob, file.name);
      } catch (err) {
        showError(err, out);
      } finally {
        csv.disabled = false;
      }
    });
    const windowText = data.window.from || data.window.to ? ` from ${when(data.window.from) || "…"} to ${when(data.window.to) || "…"}` : "";
    put(out,
      h("div", { class: "result-head" },
        h("h2", {}, "Scope of ", data.suspects.map((k, i) => [i ? ", " : "", typedLink(k)]),
          pages.count("suspects") > data.suspects.length ? ` and ${pages.count("suspects") - data.suspects.length} more` : "", windowText),
        csv),
      data.notes.map((n) => alertBox(n, "note")),
      h("div", { class: "stats" },
        stat("devices", c.devices, c.devices ? "bad" : "good"), stat("customers", c.customers),
        stat("shipments", c.shipments), stat("batches", c.batches), stat("lots", c.lots),
        stat("complaints", c.complaints), stat("service events", c.service_events)),
      Object.keys(data.counts_by_product).length
        ? h("p", { class: "by-product" }, "Devices per product: ",
          Object.entries(data.counts_by_product).map(([p, n], i) => [i ? " · " : "", isKey(p) ? keyLink(p) : p, ` ${n}`]))
        : null,
      openCaseCard(suspects, start, end, c.devices),
      section("Customers", `${count(c.customers, "customer")} received affected devices, most first`,
        pagedTable([
          { title: "Customer", render: (x) => keyLink(x.key, x.name || x.id) },
          { title: "Id", render: (x) => x.id },
          { title: "Country", key: "country" },
          { title: "Affected devices", num: true, render: (x) => h("strong", {}, String(x.devices)) },
        ], pages, "customers", { first: 100, empty: "No affected device was shipped." })),
      section("Devices", `${count(c.devices, "device")}, each with the reason it is in scope`,
        pagedTable([
          { title: "Device", render: (d) => keyLink(d.key) },
          { title: "UDI", render: (d) => h("span", { class: "mono" }, d.udi || "") },
          { title: "Product", render: (d) => keyLink(d.product) },
          { title: "Batch", render: (d) => keyLink(d.batch) },
          { title: "Customer", render: (d) => (d.customer ? keyLink(d.customer, names[d.customer] || idOf(d.customer)) : h("span", { class: "muted" }, "not shipped")) },
          { title: "Shipped", render: (d) => at(d.shipped_at, true) },
          { title: "Reason", render: (d) => chain(d.path) },
        ], pages, "devices", { first: 100, empty: "No device is affected." })),
      h("div", { class: "two" },
        listSection("Batches", pages, "batches", ["status", "kind"]),
        listSection("Shipments", pages, "shipments", ["shipped_at"]),
        listSection("Complaints", pages, "complaints", ["severity", "reported_at", "description"]),
        listSection("Service events", pages, "service_events", ["kind", "performed_at"])));
  }

  function listSection(title, pages, name, fields) {
    return section(title, `${pages.count(name)}`,
      pagedTable([{ title: "Id", render: (x) => keyLink(x.key) },
        ...fields.map((f) => ({ title: human(f), render: (x) => (f === "severity" ? severityTag(x[f]) : cell(x[f])) }))],
      pages, name, { compact: true, first: 25 }));
  }

  // ------------------------------------------------------------------ views: recall cases

  /* A recall case freezes a recall scope and tracks the action on it (docs/cases.md): who was
   * notified, who answered, what came back, against the 21 CFR 7.42 level's target. Analysts
   * and admins open and work cases; auditors read them (the API refuses their writes). */
  const CASE_WRITE_ROLES = new Set(["analyst", "admin"]);
  const LEVELS = [["A", 100, "every consignee"], ["B", 50, "half of them"], ["C", 10, ""], ["D", 2, ""], ["E", 0, "no effectiveness checks"]];
  const VIAS = ["letter", "email", "phone", "visit"];
  const canWriteCases = () => !!who && CASE_WRITE_ROLES.has(who.role);
  const caseHref = (id) => `#/cases/${encodeURIComponent(id)}`;
  const casePath = (id) => `/v1/cases/${encodeURIComponent(id)}`;

  function statusPill(status) {
    return h("span", { class: `pill ${status === "open" ? "warn" : "good"} status`, dataset: { status } }, status);
  }

  /** A window bound as the recall form takes it: its day when it is the day's start (or end). */
  function dayOf(value, whole) {
    if (!value) return "";
    return String(value).slice(11, 19) === whole ? String(value).slice(0, 10) : String(value);
  }

  function windowText(window) {
    const w = window || {};
    return w.from || w.to ? `from ${when(w.from) || "…"} to ${when(w.to) || "…"}` : "";
  }

  /** "checked of target": the effectiveness level's target against what is reached. */
  function checkedText(e) {
    return `${e.checked} of ${e.target_consignees}`;
  }

  /** A button that downloads ``path`` with the key (fetch and a blob), as ``name`` when the
   * answer names no file. */
  function downloadButton(label, path, name, id, status) {
    const button = h("button", { type: "button", class: "button small", id });
    put(button, label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      status.textContent = `Downloading ${label}…`;
      try {
        const file = await api("GET", path, undefined, "blob");
        const saved = file.name === "download" ? name : file.name;
        save(file.blob, saved);
        status.textContent = `Saved ${saved}`;
      } catch (err) {
        status.textContent = err.message;
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  async function viewCases(view, parts) {
    if (parts.length) return viewCase(view, parts[0]);
    loading(view, "the recall cases");
    const listed = (await api("GET", "/v1/cases")).cases.slice().reverse(); // newest first
    // The list names each case; its figures (scope, checks) are in each case's own answer:
    // asked for the rows shown, the first ones before the list is drawn.
    const shows = new Map();
    const showOf = (id) => {
      if (!shows.has(id)) shows.set(id, api("GET", casePath(id)));
      return shows.get(id);
    };
    const first = 25;
    await Promise.all(listed.slice(0, first).map((c) => showOf(c.id).catch(() => null)));
    const figure = (c, pick, cls) => {
      const out = h("span", { class: cls || null }, "…");
      showOf(c.id).then((shown) => { clear(out); put(out, pick(shown)); }, () => { out.textContent = "?"; out.title = "could not load this case"; });
      return out;
    };
    clear(view);
    const open = listed.filter((c) => c.status === "open").length;
    put(view,
      h("div", { class: "page-head" }, h("h1", {}, "Recall cases"),
        h("p", { class: "muted" }, "Each case freezes a recall scope when it is opened and tracks the notices, the answers and the devices returned or corrected, against the effectiveness level's target (21 CFR 7.42). ",
          canWriteCases() ? "Open one from a recall scope (Recall → Find recall scope → Open a recall case)." : "Your key reads cases; an analyst or admin key opens and works them.")),
      section("Cases", `${count(listed.length, "case")}, ${open} open, newest first`,
        pagedTable([
          { title: "Case", render: (c) => h("a", { href: caseHref(c.id), class: "key case-link" }, c.id) },
          { title: "Title", render: (c) => c.title },
          { title: "Level", render: (c) => h("span", { title: `${LEVELS.find((l) => l[0] === c.level)?.[1]} % of the consignees to check` }, c.level) },
          { title: "Status", render: (c) => statusPill(c.status) },
          { title: "Opened", render: (c) => [at(c.opened_at), h("div", { class: "muted small" }, c.opened_by)] },
          { title: "Suspects", render: (c) => cell(c.suspects) },
          { title: "Devices", num: true, render: (c) => figure(c, (s) => String(s.scope.counts.devices)) },
          { title: "Consignees", num: true, render: (c) => figure(c, (s) => String(s.effectiveness.consignees)) },
          { title: "Checked / target", num: true, render: (c) => figure(c, (s) => [checkedText(s.effectiveness), " ",
            h("span", { class: `pill ${s.effectiveness.met ? "good" : "bad"}` }, s.effectiveness.met ? "met" : "not met")]) },
        ], localPages(listed), "rows", { first, empty: "No recall case yet." })));
  }

  async function viewCase(view, id) {
    loading(view, `case ${id}`);
    const [shown, fda] = await Promise.all([
      api("GET", casePath(id)),
      api("GET", `${casePath(id)}/reports/fda-806`),
    ]);
    clear(view);
    const c = shown.case;
    const e = shown.effectiveness;
    const rows = shown.consignees;
    const counts = shown.scope.counts;
    const writable = canWriteCases() && c.status === "open";
    const status = h("span", { class: "muted small", id: "case-download-status" });
    const downloads = h("div", { class: "actions", id: "case-reports" },
      downloadButton("FDA 806 (JSON)", `${casePath(c.id)}/reports/fda-806`, `${c.id}-fda-806.json`, "report-fda-806", status),
      downloadButton("EU FSCA (JSON)", `${casePath(c.id)}/reports/fsca`, `${c.id}-fsca.json`, "report-fsca", status),
      downloadButton("Spreadsheet (.xlsx)", `${casePath(c.id)}/reports/spreadsheet`, `${c.id}-devices.xlsx`, "report-spreadsheet", status),
      status);
    const level = LEVELS.find((l) => l[0] === e.level) || [e.level, e.target_percent, ""];
    put(view,
      h("div", { class: "entity-head" },
        h("div", {},
          h("span", { class: "muted small" }, "Recall case"),
          h("h1", { class: "entity-id", id: "case-id" }, c.id, " ", statusPill(c.status)),
          h("p", { class: "entity-sub", id: "case-title" }, c.title),
          h("p", { class: "muted small", id: "case-meta" },
            `Level ${c.level} · opened ${when(c.opened_at)} by ${c.opened_by}`,
            c.closed_at ? ` · closed ${when(c.closed_at)} by ${c.closed_by}` : "",
            c.audit_seq ? ` · audit #${c.audit_seq}` : "",
            c.reason ? [h("br"), `Reason: ${c.reason}`] : null),
          canWriteCases() ? null : h("p", { class: "muted small", id: "case-read-only" }, "Read only: your key reads cases; an analyst or admin key records notices and responses.")),
        h("div", { class: "actions" },
          h("a", { href: recallHref(c.suspects, dayOf(c.window.from, "00:00:00"), dayOf(c.window.to, "23:59:59")), class: "button", id: "case-recall-now" }, "Recall scope now"),
          h("a", { href: "#/cases", class: "button" }, "All cases"),
          writable ? closeButton(c) : null)),
      section("Frozen scope", `as of ${when(c.as_of)}: the recall as it was when the case was opened; later imports do not change it`,
        h("p", { class: "small", id: "case-scope" }, "Suspects: ", c.suspects.map((k, i) => [i ? ", " : "", typedLink(k)]),
          windowText(c.window) ? ` · ${windowText(c.window)}` : ""),
        h("div", { class: "stats", id: "case-stats" },
          stat("devices", counts.devices, "bad"), stat("consignees", counts.customers), stat("shipments", counts.shipments),
          stat("batches", counts.batches), stat("lots", counts.lots), stat("complaints", counts.complaints),
          stat("service events", counts.service_events)),
        Object.keys(shown.scope.counts_by_product || {}).length
          ? h("p", { class: "by-product" }, "Devices per product: ",
            Object.entries(shown.scope.counts_by_product).map(([p, n], i) => [i ? " · " : "", isKey(p) ? keyLink(p) : p, ` ${n}`]))
          : null,
        refreshBox(c)),
      section("Effectiveness", `level ${e.level}: ${e.target_percent} % of the consignees to check${level[2] ? ` (${level[2]})` : ""} · 21 CFR 7.42(b)(3)`,
        h("div", { class: "stats", id: "case-effectiveness" },
          stat("consignees checked", checkedText(e), e.met ? "good" : "bad"),
          stat("target (consignees)", e.target_consignees),
          stat("checked", `${e.checked_percent} %`),
          stat("notified", `${e.notified} of ${e.consignees}`, e.notified === e.consignees ? "good" : "warn"),
          stat("devices returned or corrected", `${e.devices_returned_or_corrected} of ${e.devices}`)),
        h("p", { class: "explain", id: "case-met" }, e.met
          ? `Target met: ${count(e.checked, "consignee")} answered, ${e.target_consignees} needed.`
          : `Target not met: ${count(e.checked, "consignee")} answered, ${e.target_consignees} needed (${e.target_consignees - e.checked} more). A consignee counts as checked once its response is recorded.`)),
      missingSection(rows, shown.missing, fda),
      section("Consignees", `${count(rows.length, "consignee")}, ${count(e.devices, "device")} in scope`,
        consigneeTable(c, rows, writable)),
      section("Action log", count(shown.actions.length, "entry", "entries"),
        pagedTable([
          { title: "#", key: "n", num: true },
          { title: "What", render: (a) => a.kind === "notify" ? "notified" : "responded" },
          { title: "Consignee", render: (a) => keyLink(a.customer) },
          { title: "At", render: (a) => at(a.at) },
          { title: "Details", render: (a) => a.kind === "notify" ? `via ${a.via}` : [`${a.returned} returned, ${a.corrected} corrected`, a.note ? ` · ${a.note}` : ""] },
          { title: "Recorded", render: (a) => [at(a.recorded_at), h("div", { class: "muted small" }, `${a.recorded_by}${a.audit_seq ? ` · audit #${a.audit_seq}` : ""}`)] },
        ], localPages(shown.actions.slice().reverse()), "rows", { compact: true, first: 25, empty: "Nothing recorded yet." })),
      section("Reports", "made from the frozen scope: the same whenever they are made", downloads));
  }

  function missingSection(rows, gaps, fda) {
    const unnotified = rows.filter((r) => !r.notified_at);
    const unanswered = rows.filter((r) => r.notified_at && !r.responded_at);
    const silent = rows.filter((r) => !r.notified_at && !r.responded_at).length;
    const names = (list, id, empty) => list.length
      ? h("ul", { class: "missing-list", id }, list.map((r) => h("li", {}, keyLink(r.key, r.name || r.id), ` (${r.id}, ${count(r.devices, "device")})`)))
      : h("p", { class: "empty", id }, empty);
    const lines = (list, id, empty) => list.length
      ? h("ul", { class: "missing-list", id }, list.map((m) => h("li", {}, m)))
      : h("p", { class: "empty", id }, empty);
    const total = unnotified.length + unanswered.length + fda.missing.length;
    return section("What is missing", total ? `${count(unnotified.length, "consignee")} not notified, ${unanswered.length} not answered, ${count(fda.missing.length, "entry", "entries")} missing from the FDA 806 report` : "nothing",
      h("div", { class: "missing-grid" },
        h("div", {}, h("h3", {}, `Not yet notified (${unnotified.length})`), names(unnotified, "missing-unnotified", "Every consignee was notified.")),
        h("div", {}, h("h3", {}, `Notified, not yet answered (${unanswered.length})`), names(unanswered, "missing-unanswered",
          silent ? "No notified consignee is waiting for an answer." : "Every notified consignee answered.")),
        h("div", {}, h("h3", {}, `Missing from the FDA 806 report (${fda.missing.length})`),
          lines(fda.missing, "missing-fda-806", "Nothing: the report is complete."),
          gaps.length ? h("p", { class: "muted small" }, `${count(gaps.length, "consignee")} without address or phone: a notice cannot be sent to ${gaps.length === 1 ? "it" : "them"}.`) : null)));
  }

  function consigneeTable(c, rows, writable) {
    const columns = [
      { title: "Consignee", render: (r) => [keyLink(r.key, r.name || r.id), h("div", { class: "muted small" }, r.id, r.country ? ` · ${r.country}` : "")] },
      { title: "Address", render: (r) => r.address || h("span", { class: "pill bad" }, "no address") },
      { title: "Phone", render: (r) => [r.phone || h("span", { class: "pill bad" }, "no phone"), r.contact ? h("div", { class: "muted small" }, r.contact) : null] },
      { title: "Devices", num: true, render: (r) => String(r.devices) },
      { title: "Notified", render: (r) => (r.notified_at ? [at(r.notified_at), h("div", { class: "muted small" }, `via ${r.notified_via}`)] : h("span", { class: "muted" }, "not yet")) },
      { title: "Responded", render: (r) => (r.responded_at ? [at(r.responded_at), r.notes.length ? h("div", { class: "muted small" }, r.notes.join(" · ")) : null] : h("span", { class: "muted" }, "not yet")) },
      { title: "Returned", num: true, render: (r) => String(r.returned) },
      { title: "Corrected", num: true, render: (r) => String(r.corrected) },
    ];
    if (writable) {
      columns.push({ title: "", render: (r) => h("span", { class: "actions" },
        h("button", { type: "button", class: "button small primary notify", dataset: { customer: r.key }, onclick: (ev) => actionForm(ev, c, r, "notify") }, r.notified_at ? "Notify again" : "Notify"),
        h("button", { type: "button", class: "button small respond", dataset: { customer: r.key }, onclick: (ev) => actionForm(ev, c, r, "respond") }, "Response")) });
    }
    const wrap = table(columns, rows, { fold: 100, rowClass: (r) => `consignee${r.responded_at ? " answered" : ""}`, empty: "No consignee: no affected device was shipped.", noun: "consignees shown" });
    const t = wrap.querySelector("table");
    if (t) t.id = "case-consignees";
    return wrap;
  }

  /** A local date-time for an <input type=datetime-local>: now, to the minute. */
  function localNow() {
    const d = new Date();
    d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
    return d.toISOString().slice(0, 16);
  }

  /** The notify or respond form, in a row under the consignee's; recorded, the view reloads. */
  function actionForm(event, c, r, kind) {
    const row = event.currentTarget.closest("tr");
    const next = row.nextElementSibling;
    if (next && next.classList.contains("action-row")) {
      const same = next.dataset.kind === kind;
      next.remove();
      if (same) return;
    }
    const atInput = h("input", { type: "datetime-local", name: "at", value: localNow(), required: true });
    const error = h("p", { class: "error small", role: "alert", hidden: true });
    const fields = kind === "notify"
      ? [h("label", {}, "Via", h("select", { name: "via" }, VIAS.map((v) => h("option", { value: v }, v))))]
      : [h("label", {}, "Returned", h("input", { type: "number", name: "returned", min: 0, max: r.devices - r.returned - r.corrected, value: 0 })),
        h("label", {}, "Corrected", h("input", { type: "number", name: "corrected", min: 0, max: r.devices - r.returned - r.corrected, value: 0 })),
        h("label", { class: "grow" }, "Note", h("input", { name: "note", maxlength: 2000 }))];
    const submit = h("button", { type: "submit", class: "primary" }, kind === "notify" ? "Record notice" : "Record response");
    const form = h("form", { class: "filters action-form", dataset: { kind, customer: r.key } },
      h("strong", { class: "action-title" }, kind === "notify" ? `Notify ${r.name || r.id}` : `Response of ${r.name || r.id}`),
      h("label", {}, kind === "notify" ? "Notified at" : "Answered at", atInput), fields, submit,
      h("button", { type: "button", class: "button", onclick: () => holder.remove() }, "Cancel"), error);
    const holder = h("tr", { class: "action-row", dataset: { kind } }, h("td", { colspan: row.cells.length }, form));
    row.after(holder);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      const body = { customer: r.key, at: new Date(String(f.get("at"))).toISOString() };
      if (kind === "notify") body.via = f.get("via");
      else {
        body.returned = Number(f.get("returned") || 0);
        body.corrected = Number(f.get("corrected") || 0);
        if (String(f.get("note") || "").trim()) body.note = String(f.get("note")).trim();
      }
      submit.disabled = true;
      try {
        await api("POST", `${casePath(c.id)}/${kind}`, body);
        route(); // the case again, with the entry counted
      } catch (err) {
        error.hidden = false;
        error.textContent = err.message;
        submit.disabled = false;
      }
    });
    form.querySelector("input, select").focus();
  }

  function closeButton(c) {
    const button = h("button", { type: "button", class: "button", id: "case-close" }, "Close case");
    button.addEventListener("click", async () => {
      if (button.dataset.confirm !== "true") {
        button.dataset.confirm = "true";
        button.textContent = "Close it: no more notices or responses";
        button.classList.add("primary");
        return;
      }
      button.disabled = true;
      try {
        await api("POST", `${casePath(c.id)}/close`);
        route();
      } catch (err) {
        button.disabled = false;
        button.replaceWith(alertBox(err.message));
      }
    });
    return button;
  }

  /** "What would change": the recall run now on the case's suspects and window, compared. */
  function refreshBox(c) {
    const out = h("div", { id: "case-refresh" });
    const button = h("button", { type: "button", class: "button small" }, "Compare with a recall now");
    button.addEventListener("click", async () => {
      button.disabled = true;
      clear(out);
      put(out, h("p", { class: "loading" }, "Running the recall now…"));
      try {
        const r = (await api("GET", `${casePath(c.id)}?refresh=true`)).refresh;
        clear(out);
        const keys = (label, list) => (list.length ? h("p", { class: "small" }, `${label} (${list.length}): `, cell(list)) : null);
        put(out, r.changed
          ? [alertBox(`A recall now (${when(r.as_of)}) differs from the frozen scope; the case does not change.`, "note"),
            keys("devices it would add", r.devices_added), keys("devices it would remove", r.devices_removed),
            keys("consignees it would add", r.consignees_added), keys("consignees it would remove", r.consignees_removed)]
          : h("p", { class: "small" }, `A recall now (${when(r.as_of)}) finds the same devices and consignees.`));
      } catch (err) {
        clear(out);
        showError(err, out);
      } finally {
        button.disabled = false;
      }
    });
    return h("div", { class: "refresh" }, button, out);
  }

  /** On a recall view: open a case on its suspects and window (analysts, admins), and the
   * cases already opened on the same suspects. */
  function openCaseCard(suspects, start, end, devices) {
    const card = section("Recall case", "freeze this scope and track the notices and answers", h("div", { id: "case-open-place" }));
    const place = card.querySelector("#case-open-place");
    api("GET", "/v1/cases").then((answer) => {
      const same = answer.cases.filter((c) => c.suspects.slice().sort().join(",") === suspects.slice().sort().join(",")
        && (c.window.from || "").slice(0, 10) === (start || "") && (c.window.to || "").slice(0, 10) === (end || ""));
      if (same.length && place.isConnected) {
        place.before(h("p", { class: "small", id: "case-existing" }, "Already opened on these suspects: ",
          same.map((c, i) => [i ? ", " : "", h("a", { href: caseHref(c.id), class: "key" }, c.id), ` (${c.status})`])));
      }
    }, () => {});
    if (!canWriteCases()) {
      put(place, h("p", { class: "muted small", id: "case-open-denied" }, "Opening a recall case needs an analyst or admin key; your key reads the cases."));
      return card;
    }
    if (!devices) {
      put(place, h("p", { class: "muted small" }, "No device in scope: nothing to open a case on."));
      return card;
    }
    const title = h("input", { name: "title", id: "case-title-input", required: true, maxlength: 2000, placeholder: "e.g. Capacitor lot L-2026-0042, field action" });
    const level = h("select", { name: "level", id: "case-level" },
      LEVELS.map(([l, p, what]) => h("option", { value: l }, `${l}: ${p} % of consignees${what ? ` (${what})` : ""}`)));
    const reason = h("input", { name: "reason", id: "case-reason", maxlength: 2000, placeholder: "optional" });
    const error = h("p", { class: "error small", role: "alert", hidden: true });
    const submit = h("button", { type: "submit", class: "primary" }, "Open a recall case");
    const form = h("form", { class: "filters", id: "case-open" },
      h("label", { class: "grow" }, "Title", title), h("label", {}, "Effectiveness level", level),
      h("label", {}, "Reason", reason), submit, error);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { suspects, title: title.value.trim(), level: level.value };
      if (start) body.from = start;
      if (end) body.to = end;
      if (reason.value.trim()) body.reason = reason.value.trim();
      submit.disabled = true;
      try {
        const made = await api("POST", "/v1/cases", body);
        location.hash = caseHref(made.id);
      } catch (err) {
        error.hidden = false;
        error.textContent = err.message;
        submit.disabled = false;
      }
    });
    put(place, form);
    return card;
  }

  // ------------------------------------------------------------------ views: change impact

  const CATEGORY = {
    changes: ["Items the change changes", "What the change order names."],
    products: ["Products affected", "Where-used over the bill of materials, and products of changed processes, documents and suppliers."],
    processes: ["Processes", "Processes that govern the affected products."],
    documents: ["Documents", "Documents that govern those processes."],
    suppliers: ["Suppliers", "Suppliers that delivered lots of changed materials."],
    batches_under_change: ["Batches built under the change", "Batches the change was implemented in."],
    batches_in_process: ["Batches still in process", "Open batches of affected products."],
    devices_before: ["Devices built before it took effect", "Field-action candidates."],
    devices_under_change: ["Devices built under the change", ""],
    devices_after_without_change: ["Devices built after it took effect, without it", "Built after the effective date in a batch the change was not implemented in."],
    complaints: ["Open complaints on affected products", ""],
  };

  async function viewImpact(view, parts) {
    const current = parts[0] || "";
    loading(view, "change orders");
    const changes = await api("GET", "/v1/search?type=ChangeOrder&limit=200");
    clear(view);
    const picker = h("select", { name: "change", id: "impact-change" },
      h("option", { value: "" }, "choose a change order…"),
      changes.matches.map((m) => h("option", { value: m.id, selected: m.id === current }, `${m.id} — ${m.label}`)));
    const form = h("form", { class: "filters", id: "impact-form" },
      h("label", { class: "grow" }, "Change order", picker),
      h("button", { type: "submit", class: "primary" }, "Show impact"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (picker.value) location.hash = `#/impact/${encodeURIComponent(picker.value)}`;
    });
    put(view, h("div", { class: "page-head" }, h("h1", {}, "Change impact"),
      h("p", { class: "muted" }, "What a change order touches, by category. A proposed change is a what-if: the same answer before anything is built.")), form);
    if (!current) return;
    const out = h("div", { id: "impact-result" }, h("p", { class: "loading" }, "Working out the impact…"));
    put(view, out);
    // The first ten of each category; the rest page by page (each category's "Show more").
    const answer = (cursor, limit) => api("GET", `/v1/impact/${encodeURIComponent(current)}?${pageQuery({}, cursor, limit)}`);
    let data;
    try {
      data = await answer(null, FIRST);
    } catch (err) {
      clear(out);
      showError(err, out);
      return;
    }
    const pages = new Pages(data, answer);
    clear(out);
    const co = data.change;
    put(out,
      h("div", { class: "result-head" },
        h("h2", {}, typedLink(co.key), " ", co.title || "", data.what_if ? h("span", { class: "pill warn", id: "what-if" }, "what-if") : null),
        h("span", { class: "muted" }, `${human(co.kind)} change · ${human(co.status)}${co.effective_at ? " · effective " + when(co.effective_at) : ""}`)),
      data.notes.map((n) => alertBox(n, "note")),
      h("nav", { class: "toc", "aria-label": "Categories" },
        Object.keys(CATEGORY).map((name) => h("a", { href: `#/impact/${encodeURIComponent(current)}`, class: "toc-item", dataset: { target: name },
          onclick: (e) => { e.preventDefault(); document.getElementById(`cat-${name}`).scrollIntoView({ behavior: "smooth" }); } },
        h("span", { class: "toc-count" + (data.counts[name] ? "" : " zero") }, String(data.counts[name])), CATEGORY[name][0]))),
      Object.keys(CATEGORY).map((name) => categorySection(name, pages, data)));
  }

  function categorySection(name, pages, data) {
    const [title, help] = CATEGORY[name];
    const skip = new Set(["id", "key", "type"]);
    const fields = [];
    for (const item of pages.items(name)) for (const k of Object.keys(item)) if (!skip.has(k) && !fields.includes(k)) fields.push(k);
    const extra = name === "complaints" && data.closed_complaints ? ` (${data.closed_complaints} closed not shown)` : "";
    const el = section(title, `${pages.count(name)}${extra}`,
      help ? h("p", { class: "explain" }, help) : null,
      pagedTable([{ title: "Id", render: (x) => typedLink(x.key) },
        ...fields.slice(0, 6).map((f) => ({ title: human(f), render: (x) => (f === "path" ? chain(x[f]) : cell(x[f])) }))],
      pages, name, { compact: true, empty: "None." }));
    el.id = `cat-${name}`;
    el.classList.add("category");
    return el;
  }

  // ------------------------------------------------------------------ views: entity page

  async function viewNode(view, parts) {
    const [type, id] = parts;
    const key = `${type}:${id}`;
    loading(view, key);
    const answer = (cursor, limit) => api("GET", `/v1/nodes/${encodeURIComponent(type)}/${encodeURIComponent(id)}?${pageQuery({}, cursor, limit)}`);
    const data = await answer(null, 50);
    const pages = new Pages(data, answer);
    // Each version is shown with what it changed from the one before: all of them.
    await pages.load("versions", Infinity, ALL_PAGE);
    clear(view);
    const fields = Object.entries(data).filter(([k]) => !["key", "type", "id", "record", "versions", "links", "counts", "page"].includes(k));
    const actions = h("div", { class: "actions" },
      h("a", { href: traceHref(key), class: "button primary", id: "open-trace" }, "Trace"),
      SUSPECT_TYPES.has(type) ? h("a", { href: recallHref(key), class: "button" }, "Recall scope") : null,
      type === "ChangeOrder" ? h("a", { href: `#/impact/${encodeURIComponent(id)}`, class: "button" }, "Change impact") : null,
      type === "Device" || type === "Batch" ? evidenceButton(type, id) : null);
    const title = data.name || data.title || data.description || data.udi || "";
    put(view,
      h("div", { class: "entity-head" },
        h("div", {}, badge(type), h("h1", { class: "entity-id" }, id), title ? h("p", { class: "entity-sub" }, title) : null),
        actions),
      h("div", { class: "two" },
        section("Fields", `recorded ${when(data.record.recorded_at)} · audit #${data.record.audit_seq}`,
          table([{ title: "Field", render: (r) => human(r[0]) }, { title: "Value", render: (r) => cell(r[1]) }], fields, { compact: true })),
        section("Version history", count(data.counts.versions, "version"), versions(pages.items("versions")))),
      h("div", { class: "two" },
        linksSection("Links in", "from", pages, "links.in"),
        linksSection("Links out", "to", pages, "links.out")));
  }

  function evidenceButton(type, id) {
    const allowed = who && EVIDENCE_ROLES.has(who.role);
    const button = h("button", { type: "button", class: "button", id: "evidence-download",
      disabled: !allowed, title: allowed ? "The evidence chain as a BagIt package (zip)" : "Evidence needs an auditor or admin key" },
    "Download evidence (BagIt)");
    const status = h("span", { class: "muted small", id: "evidence-status" }, allowed ? "" : "needs an auditor key");
    button.addEventListener("click", async () => {
      button.disabled = true;
      status.textContent = "Building the package…";
      try {
        const file = await api("GET", `/v1/evidence/${encodeURIComponent(type)}/${encodeURIComponent(id)}`, undefined, "blob");
        save(file.blob, file.name);
        status.textContent = `Saved ${file.name}`;
      } catch (err) {
        status.textContent = err.message;
      } finally {
        button.disabled = false;
      }
    });
    return h("span", { class: "evidence" }, button, status);
  }

  function plain(value) {
    if (value === undefined || value === null || value === "") return "∅";
    return typeof value === "object" ? JSON.stringify(value) : when(value);
  }

  function versions(list) {
    const rows = list.map((v, i) => {
      const before = i ? list[i - 1].fields : {};
      const changed = Object.keys({ ...before, ...v.fields }).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(v.fields[k]));
      return { ...v, n: i + 1, changed, before, first: i === 0 };
    }).reverse();
    return table([
      { title: "#", key: "n", num: true },
      { title: "Recorded", render: (v) => at(v.recorded_at) },
      { title: "Audit", render: (v) => `#${v.audit_seq}` },
      { title: "Change", render: (v) => (v.first ? "created" : h("ul", { class: "diff" }, v.changed.map((k) =>
        h("li", {}, h("strong", {}, human(k)), ": ", h("del", {}, plain(v.before[k])), " → ", h("ins", {}, plain(v.fields[k])))))) },
    ], rows, { compact: true });
  }

  function linksSection(title, end, pages, name) {
    return section(title, count(pages.count(name), "link"),
      pagedTable([
        { title: "Relationship", render: (l) => h("span", { class: "rel" }, l.type) },
        { title: end === "from" ? "From" : "To", render: (l) => typedLink(l[end]) },
        { title: "Fields", render: (l) => Object.entries(l).filter(([k]) => !["type", "from", "to"].includes(k)).map(([k, v]) => `${k}: ${when(v)}`).join(", ") },
      ], pages, name, { compact: true, first: 50 }));
  }

  // ------------------------------------------------------------------ views: trace graph

  async function viewTrace(view, parts, params) {
    if (parts.length < 2) {
      clear(view);
      const input = h("input", { name: "key", id: "trace-key", placeholder: "Device:D-000125 or MaterialLot:L-2026-0042", required: true });
      const form = h("form", { class: "filters" }, h("label", { class: "grow" }, "Start from (key)", input), h("button", { type: "submit", class: "primary" }, "Trace"));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const text = input.value.trim();
        // A key traces at once; anything else (an id, a serial) is looked up first.
        if (text) location.hash = isKey(text) ? traceHref(text) : `#/search?q=${encodeURIComponent(text)}`;
      });
      put(view, h("div", { class: "page-head" }, h("h1", {}, "Trace"), h("p", { class: "muted" }, "Where a node came from and where it went, drawn left to right in flow order. Open any node's page and press Trace, or give a key.")), form);
      return;
    }
    const [type, id] = parts;
    const key = `${type}:${id}`;
    const direction = params.get("direction") || "both";
    const cap = params.get("cap") || "12";
    const expand = (params.get("expand") || "").split(",").filter(Boolean);
    loading(view, `the trace of ${key}`);
    const q = new URLSearchParams({ direction, cap });
    expand.forEach((k) => q.append("expand", k));
    const data = await api("GET", `/v1/layout/${encodeURIComponent(type)}/${encodeURIComponent(id)}?${q}`);
    clear(view);
    const go = (changes) => {
      const next = { direction, cap, expand: expand.join(","), ...changes };
      if (!next.expand) delete next.expand;
      location.hash = traceHref(key, next);
    };
    const dirSelect = h("select", { id: "trace-direction", onchange: (e) => go({ direction: e.target.value }) },
      [["both", "up- and downstream"], ["up", "upstream only"], ["down", "downstream only"]].map(([v, t]) => h("option", { value: v, selected: v === direction }, t)));
    const capSelect = h("select", { id: "trace-cap", onchange: (e) => go({ cap: e.target.value }) },
      ["12", "25", "50", "100", "200"].map((v) => h("option", { value: v, selected: v === cap }, `${v} per level`)));
    // A cut level's count raises the cap to the next choice; past the last, the list view
    // shows every node of the trace, a page at a time.
    const caps = ["12", "25", "50", "100", "200"];
    const bigger = caps.find((c) => Number(c) > Number(cap));
    const more = (bigger ? traceHref(key, { direction, cap: bigger, ...(expand.length ? { expand: expand.join(",") } : {}) })
      : `#/trace-list/${encodeURIComponent(type)}/${encodeURIComponent(id)}?direction=${direction}`);
    const moreOf = () => more;
    put(view,
      h("div", { class: "entity-head" },
        h("div", {}, h("h1", {}, "Trace of ", typedLink(key)),
          h("p", { class: "muted" }, `${data.counts.shown} of ${data.counts.total} nodes shown`,
            data.counts.shown < data.counts.total ? [" · ", h("a", { href: `#/trace-list/${encodeURIComponent(type)}/${encodeURIComponent(id)}?direction=${direction}`, id: "trace-list" }, `list all ${data.counts.total}`)] : null,
            " · click a node to open it, its +N to show its hidden neighbours, a level's “N of M” to show more of it")),
        h("div", { class: "actions" }, h("label", { class: "inline" }, "Show ", dirSelect), h("label", { class: "inline" }, capSelect),
          expand.length ? h("button", { type: "button", class: "button", onclick: () => go({ expand: "" }) }, `Collapse ${expand.length} expanded`) : null)),
      graphBox(data, (k) => go({ expand: [...expand, k].join(",") }), moreOf));
  }

  function graphBox(data, onExpand, moreOf) {
    const wrap = h("div", { class: "graph-wrap fit" }, drawGraph(data, onExpand, moreOf));
    const toggle = h("button", { type: "button", class: "button small", id: "graph-zoom" }, "Actual size");
    toggle.addEventListener("click", () => {
      const fit = wrap.classList.toggle("fit");
      toggle.textContent = fit ? "Actual size" : "Fit to width";
    });
    // The legend and the zoom button share one row: the legend wraps, the button keeps its place.
    return h("div", {}, h("div", { class: "graph-bar" }, legend(data), toggle), wrap);
  }

  // ------------------------------------------------------------------ views: a trace as a list

  async function viewTraceList(view, parts, params) {
    const [type, id] = parts;
    const key = `${type}:${id}`;
    const direction = params.get("direction") || "both";
    const ways = direction === "both" ? ["down", "up"] : [direction];
    loading(view, `the trace of ${key}`);
    const answers = await Promise.all(ways.map(async (way) => {
      const answer = (cursor, limit) => api("GET", `/v1/trace/${encodeURIComponent(type)}/${encodeURIComponent(id)}?${pageQuery({ direction: way }, cursor, limit)}`);
      return [way, new Pages(await answer(null, 100), answer)];
    }));
    clear(view);
    put(view,
      h("div", { class: "entity-head" },
        h("div", {}, h("h1", {}, "Trace of ", typedLink(key), " as a list"),
          h("p", { class: "muted" }, "Every node the trace reaches, by key, with its distance in hops.")),
        h("div", { class: "actions" }, h("a", { href: traceHref(key, { direction }), class: "button" }, "Back to the graph"))),
      answers.map(([way, pages]) => section(way === "down" ? "Downstream" : "Upstream", count(pages.count("nodes"), "node"),
        pagedTable([
          { title: "Type", render: (n) => badge(n.type) },
          { title: "Id", render: (n) => keyLink(n.key) },
          { title: "Hops", key: "depth", num: true },
          { title: "", render: (n) => h("a", { href: traceHref(n.key), class: "button small" }, "Trace") },
        ], pages, "nodes", { compact: true, first: 100 }))));
  }

  function legend(data) {
    const present = new Set(data.nodes.map((n) => n.type));
    const ordered = Object.keys(TYPE_COLOUR).sort((a, b) => rank(a) - rank(b)).filter((t) => present.has(t));
    return h("div", { class: "legend", "aria-label": "Legend" },
      ordered.map((t) => {
        const sw = h("span", { class: "swatch" });
        sw.style.background = TYPE_COLOUR[t];
        return h("span", { class: "legend-item" }, sw, human(t));
      }),
      h("span", { class: "legend-item" }, h("span", { class: "swatch start" }), "start"),
      h("span", { class: "legend-item" }, h("span", { class: "plus" }, "+N"), "hidden neighbours (click to expand)"),
      h("span", { class: "legend-item" }, "lower band: equipment, processes, changes, service, complaints"));
  }

  function rank(type) {
    const i = FLOW.indexOf(type);
    return i < 0 ? 100 + Object.keys(TYPE_COLOUR).indexOf(type) : i;
  }

  function drawGraph(data, onExpand, moreOf) {
    const W = data.node_size.width;
    const H = data.node_size.height;
    const at = Object.fromEntries(data.nodes.map((n) => [n.key, n]));
    const root = s("svg", { class: "graph", id: "trace-graph", width: data.width, height: data.height,
      viewBox: `0 0 ${data.width} ${data.height}`, role: "img", "aria-label": `Trace of ${data.start}` });
    const defs = s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
      s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" })));
    root.append(defs);
    // A level's name on one line and its count on the next, each within its column: a long
    // name and "12 of 2275 shown" side by side ran into the next column's header.
    const fits = (text, chars) => truncate(text, chars);
    for (const level of data.levels) {
      const cut = level.shown < level.total;
      const name = s("text", { x: level.x, y: level.y - 14, class: "level-label" }, fits(level.label, 28), s("title", {}, level.label));
      const label = cut ? `${level.shown} of ${level.total} shown · more` : `${level.total}`;
      const countText = s("text", { x: level.x, y: level.y, class: cut ? "level-count cut" : "level-count" }, label);
      root.append(name, cut && moreOf ? s("a", { href: moreOf(), class: "level-more" }, countText) : countText);
    }
    const edges = s("g", { class: "edges" });
    for (const e of data.edges) {
      const a = at[e.from];
      const b = at[e.to];
      if (!a || !b) continue;
      const x1 = a.x + W;
      const y1 = a.y + H / 2;
      const x2 = b.x;
      const y2 = b.y + H / 2;
      const dx = Math.max(40, (x2 - x1) / 2);
      const path = s("path", { d: `M ${x1} ${y1} C ${x1 + dx} ${y1}, ${x2 - dx} ${y2}, ${x2 - 2} ${y2}`, class: "edge", "marker-end": "url(#arrow)", dataset: { from: e.from, to: e.to } },
        s("title", {}, `${e.from} ${e.type} ${e.to}`));
      edges.append(path);
    }
    root.append(edges);
    const nodes = s("g", { class: "nodes" });
    for (const n of data.nodes) {
      const colour = TYPE_COLOUR[n.type] || "#64748b";
      const link = s("a", { href: nodeHref(n.key), class: "node" + (n.start ? " start" : "") + (n.expanded ? " expanded" : ""), dataset: { key: n.key } },
        s("title", {}, `${n.key}${n.label ? "\n" + n.label : ""}`),
        s("rect", { x: n.x, y: n.y, width: W, height: H, rx: 6, class: "box" }),
        s("rect", { x: n.x, y: n.y, width: 5, height: H, rx: 2, fill: colour }),
        s("text", { x: n.x + 13, y: n.y + 15, class: "node-type", fill: colour }, human(n.type).toUpperCase()),
        s("text", { x: n.x + 13, y: n.y + 32, class: "node-id" }, truncate(n.id, 22)),
        n.label ? s("text", { x: n.x + 13, y: n.y + 47, class: "node-label" }, truncate(n.label, 29)) : null);
      nodes.append(link);
      if (n.hidden > 0) {
        // As wide as its number: "+224" and "+1983" stay inside the badge.
        const text = `+${n.hidden}`;
        const w = Math.max(28, 10 + 6.6 * text.length);
        const cx = n.x + W - 2 - w / 2;
        const cy = n.y + 12;
        const plus = s("g", { class: "plus-badge", role: "button", tabindex: "0", dataset: { key: n.key },
          "aria-label": `Show ${n.hidden} hidden neighbours of ${n.key}` },
        s("title", {}, `Show ${n.hidden} hidden neighbour${n.hidden === 1 ? "" : "s"}`),
        s("rect", { x: cx - w / 2, y: cy - 8, width: w, height: 16, rx: 8 }),
        s("text", { x: cx, y: cy + 4, "text-anchor": "middle" }, text));
        plus.addEventListener("click", (e) => { e.preventDefault(); e.stopPropagation(); onExpand(n.key); });
        plus.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onExpand(n.key); } });
        nodes.append(plus);
      }
    }
    root.append(nodes);
    return root;
  }

  // ------------------------------------------------------------------ routing

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, "");
    const [path, query] = raw.split("?");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    return { name: parts[0] || "hotspots", parts: parts.slice(1), params: new URLSearchParams(query || "") };
  }

  // Each render's stamp (this document's id and a count), set with data-ready: a client that
  // changed the hash can wait for the render that follows, not the one before it.
  const DOCUMENT_ID = Math.random().toString(36).slice(2);
  let renders = 0;
  const rendered = () => { host.dataset.rendered = `${DOCUMENT_ID}:${++renders}`; };

  async function route() {
    if (!sessionStorage.getItem(KEY_STORE)) {
      askForKey();
      return;
    }
    const { name, parts, params } = parseHash();
    for (const a of document.querySelectorAll(".tabs a")) {
      const current = a.dataset.view === (name === "trace-list" ? "trace" : name);
      a.classList.toggle("active", current);
      if (current) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const page = h("div", { class: "page" });
    current = page;
    clear(host);
    host.append(page);
    delete host.dataset.ready;
    try {
      if (name === "hotspots" || name === "") await viewHotspots(page, params);
      else if (name === "search") await viewSearch(page, params);
      else if (name === "node" && parts.length >= 2) await viewNode(page, parts);
      else if (name === "trace") await viewTrace(page, parts, params);
      else if (name === "trace-list" && parts.length >= 2) await viewTraceList(page, parts, params);
      else if (name === "recall") await viewRecall(page, params);
      else if (name === "impact") await viewImpact(page, parts);
      else if (name === "cases") await viewCases(page, parts);
      else page.append(alertBox("No such page.", "note"), h("a", { href: "#/" }, "Go to the hotspots"));
      if (current !== page) return;
      document.title = `TraceGraph · ${name === "hotspots" ? "Risk hotspots" : human(name)}`;
      host.dataset.ready = name;
      rendered();
    } catch (err) {
      if (current !== page) return;
      clear(page);
      showError(err, page);
      host.dataset.ready = "error";
      rendered();
    }
  }

  window.addEventListener("hashchange", route);

  async function start() {
    const key = sessionStorage.getItem(KEY_STORE);
    if (!key) {
      askForKey();
      return;
    }
    try {
      await signIn(key);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) askForKey(err.message);
      return;
    }
    route();
  }

  start();
})();
