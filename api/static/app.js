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

  function table(columns, rows, opts) {
    const options = opts || {};
    const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.title))));
    const body = h("tbody", {}, rows.map((row) =>
      h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : null }, c.render ? c.render(row) : cell(row[c.key]))))));
    if (!rows.length) return h("p", { class: "empty" }, options.empty || "None.");
    const t = h("table", { class: "grid" + (options.compact ? " compact" : "") }, head, body);
    if (options.fold && rows.length > options.fold) {
      for (const tr of Array.from(body.children).slice(options.fold)) tr.hidden = true;
      const more = h("button", { type: "button", class: "button small more" }, `Show all ${rows.length}`);
      more.addEventListener("click", () => {
        for (const tr of body.children) tr.hidden = false;
        more.remove();
      });
      return h("div", { class: "table-wrap" }, t, more);
    }
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

  function shownOf(shown, total, one, many) {
    return shown < total ? `${shown} of ${total} ${many || `${one}s`} shown` : count(total, one, many);
  }

  function alertBox(message, kind) {
    return h("div", { class: `alert ${kind || "error"}`, role: "alert" }, message);
  }

  function loading(view, what) {
    clear(view);
    put(view, h("p", { class: "loading" }, `Loading ${what}…`));
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
    const data = await api("GET", `/v1/search?q=${encodeURIComponent(q)}&limit=50`);
    const exact = data.matches.filter((m) => ["key", "id", "udi", "serial"].includes(m.match));
    if (exact.length === 1 && data.counts.matches === 1) {
      location.replace(nodeHref(exact[0].key));
      return;
    }
    clear(view);
    put(view, h("h1", {}, `Search: “${q}”`),
      section("Matches", shownOf(data.counts.shown, data.counts.matches, "match", "matches"),
        table([
          { title: "Type", render: (m) => badge(m.type) },
          { title: "Id", render: (m) => keyLink(m.key) },
          { title: "Description", key: "label" },
          { title: "Matched on", render: (m) => human(m.match) },
        ], data.matches, { empty: "Nothing matches. Try a key (Device:D-000117), an id, a serial or a full UDI." })));
  }

  // ------------------------------------------------------------------ views: hotspots

  async function viewHotspots(view, params) {
    loading(view, "the risk-hotspot dashboard");
    const qs = new URLSearchParams();
    for (const name of ["severity", "product", "from", "to"]) if (params.get(name)) qs.set(name, params.get(name));
    const [data, products] = await Promise.all([
      api("GET", `/v1/dashboard?${qs}`),
      api("GET", "/v1/search?type=Product&limit=200"),
    ]);
    clear(view);
    const counts = data.counts;
    const hot = data.hotspots;
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
        stat("failed calibrations", counts.calibrations, counts.calibrations ? "bad" : "good")),
      complaintsPanel(data),
      rankingPanel(hot),
      h("div", { class: "two" }, certificatesPanel(data), calibrationsPanel(data)));
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

  function complaintsPanel(data) {
    return section("Recent complaints", shownOf(data.counts.complaints_shown, data.counts.complaints, "complaint"),
      table([
        { title: "Reported", render: (c) => at(c.reported_at) },
        { title: "Severity", render: (c) => severityTag(c.severity) },
        { title: "Complaint", render: (c) => keyLink(c.key) },
        { title: "Device", render: (c) => keyLink(c.device) },
        { title: "Product", render: (c) => keyLink(c.product) },
        { title: "Description", render: (c) => h("span", { class: "desc" }, c.description || "") },
        { title: "", render: (c) => (c.device ? h("a", { href: traceHref(c.device, { direction: "up" }), class: "button small" }, "Trace upstream") : "") },
      ], data.complaints, { empty: "No complaints match the filters." }));
  }

  function rankingPanel(hot) {
    const top = hot.ranking.length ? hot.ranking[0].p_value : 1;
    const rows = hot.ranking.map((r, i) => ({ ...r, rank: i + 1 }));
    const scope = hot.population_scope === "all devices" ? "all devices" : `the devices of ${idOf(hot.population_scope)}`;
    return section("Common-cause ranking",
      `${shownOf(hot.counts.shown, hot.counts.ranked, "suspect")} · ${hot.counts.cases} case devices among ${hot.population} (${scope})`,
      h("p", { class: "explain" }, "Upstream lots, suppliers, batches, equipment, processes and change orders shared by at least two complaint devices, most suspicious first: p is the chance that this many cases fall among the devices it reached if complaints struck at random."),
      table([
        { title: "#", key: "rank", num: true },
        { title: "Suspect", render: (r) => typedLink(r.key) },
        { title: "Name", render: (r) => r.name || "" },
        { title: "Cases", key: "cases", num: true },
        { title: "Devices reached", key: "exposure", num: true },
        { title: "Case rate", render: (r) => rateBar(r.rate) },
        { title: "p-value", num: true, render: (r) => h("span", { class: r.p_value === top ? "strong" : "" }, pValue(r.p_value)) },
        { title: "", render: (r) => h("span", { class: "actions" },
          h("a", { href: recallHref(r.key), class: "button small primary" }, "Recall"),
          h("a", { href: traceHref(r.key), class: "button small" }, "Trace")) },
      ], rows, { empty: "Fewer than two complaint devices: nothing to compare." }));
  }

  function rateBar(rate) {
    const bar = h("span", { class: "bar" }, h("span", { class: "bar-fill" }));
    bar.firstChild.style.width = `${Math.max(2, Math.round(rate * 100))}%`;
    return h("span", { class: "rate" }, bar, h("span", { class: "num" }, percent(rate)));
  }

  function certificatesPanel(data) {
    const body = data.certificates.map((sup) => h("div", { class: "item" },
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
      ], sup.lots, { compact: true })));
    return section("Suppliers with lapsed certificates", `${count(data.counts.suppliers, "supplier")}, ${count(data.counts.lots, "lot")}`,
      body.length ? body : h("p", { class: "empty" }, "Every lot was received under a valid certificate."));
  }

  function calibrationsPanel(data) {
    const body = data.calibrations.map((c) => h("div", { class: "item" },
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
      { compact: true, empty: "No batch processed since the last pass." }),
      h("a", { href: recallHref(c.key), class: "button small primary" }, `Recall ${c.id}`)));
    return section("Failed calibrations", `${count(data.counts.calibrations, "failure")}, ${count(data.counts.batches, "batch", "batches")} since the last pass`,
      body.length ? body : h("p", { class: "empty" }, "No calibration failed."));
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
    let data;
    try {
      data = await api("POST", "/v1/recall", body);
    } catch (err) {
      clear(out);
      showError(err, out);
      return;
    }
    clear(out);
    const c = data.counts;
    const names = Object.fromEntries(data.customers.map((x) => [x.key, x.name]));
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
        h("h2", {}, "Scope of ", data.suspects.map((k, i) => [i ? ", " : "", typedLink(k)]), windowText),
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
      section("Customers", `${count(c.customers, "customer")} received affected devices`,
        table([
          { title: "Customer", render: (x) => keyLink(x.key, x.name || x.id) },
          { title: "Id", render: (x) => x.id },
          { title: "Country", key: "country" },
          { title: "Affected devices", num: true, render: (x) => h("strong", {}, String(x.devices)) },
        ], [...data.customers].sort((a, b) => b.devices - a.devices || a.key.localeCompare(b.key)),
        { empty: "No affected device was shipped." })),
      section("Devices", `${count(c.devices, "device")}, each with the reason it is in scope`,
        table([
          { title: "Device", render: (d) => keyLink(d.key) },
          { title: "UDI", render: (d) => h("span", { class: "mono" }, d.udi || "") },
          { title: "Product", render: (d) => keyLink(d.product) },
          { title: "Batch", render: (d) => keyLink(d.batch) },
          { title: "Customer", render: (d) => (d.customer ? keyLink(d.customer, names[d.customer] || idOf(d.customer)) : h("span", { class: "muted" }, "not shipped")) },
          { title: "Shipped", render: (d) => at(d.shipped_at, true) },
          { title: "Reason", render: (d) => chain(d.path) },
        ], data.devices, { empty: "No device is affected." })),
      h("div", { class: "two" },
        listSection("Batches", data.batches, ["status", "kind"]),
        listSection("Shipments", data.shipments, ["shipped_at"]),
        listSection("Complaints", data.complaints, ["severity", "reported_at", "description"]),
        listSection("Service events", data.service_events, ["kind", "performed_at"])));
  }

  function listSection(title, items, fields) {
    return section(title, `${items.length}`,
      table([{ title: "Id", render: (x) => keyLink(x.key) },
        ...fields.map((f) => ({ title: human(f), render: (x) => (f === "severity" ? severityTag(x[f]) : cell(x[f])) }))],
      items, { compact: true }));
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
    let data;
    try {
      data = await api("GET", `/v1/impact/${encodeURIComponent(current)}`);
    } catch (err) {
      clear(out);
      showError(err, out);
      return;
    }
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
      Object.keys(CATEGORY).map((name) => categorySection(name, data[name] || [], data)));
  }

  function categorySection(name, items, data) {
    const [title, help] = CATEGORY[name];
    const skip = new Set(["id", "key", "type"]);
    const fields = [];
    for (const item of items) for (const k of Object.keys(item)) if (!skip.has(k) && !fields.includes(k)) fields.push(k);
    const extra = name === "complaints" && data.closed_complaints ? ` (${data.closed_complaints} closed not shown)` : "";
    const el = section(title, `${items.length}${extra}`,
      help ? h("p", { class: "explain" }, help) : null,
      table([{ title: "Id", render: (x) => typedLink(x.key) },
        ...fields.slice(0, 6).map((f) => ({ title: human(f), render: (x) => (f === "path" ? chain(x[f]) : cell(x[f])) }))],
      items, { compact: true, empty: "None.", fold: 10 }));
    el.id = `cat-${name}`;
    el.classList.add("category");
    return el;
  }

  // ------------------------------------------------------------------ views: entity page

  async function viewNode(view, parts) {
    const [type, id] = parts;
    const key = `${type}:${id}`;
    loading(view, key);
    const data = await api("GET", `/v1/nodes/${encodeURIComponent(type)}/${encodeURIComponent(id)}`);
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
        section("Version history", count(data.counts.versions, "version"), versions(data.versions))),
      h("div", { class: "two" },
        linksSection("Links in", "from", data.links.in, data.page && data.page.total["links.in"]),
        linksSection("Links out", "to", data.links.out, data.page && data.page.total["links.out"])));
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

  function linksSection(title, end, links, total) {
    const shown = links.length;
    const all = total || shown;
    return section(title, shownOf(shown, all, "link"),
      table([
        { title: "Relationship", render: (l) => h("span", { class: "rel" }, l.type) },
        { title: end === "from" ? "From" : "To", render: (l) => typedLink(l[end]) },
        { title: "Fields", render: (l) => Object.entries(l).filter(([k]) => !["type", "from", "to"].includes(k)).map(([k, v]) => `${k}: ${when(v)}`).join(", ") },
      ], links, { compact: true }));
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
    put(view,
      h("div", { class: "entity-head" },
        h("div", {}, h("h1", {}, "Trace of ", typedLink(key)),
          h("p", { class: "muted" }, `${data.counts.shown} of ${data.counts.total} nodes shown · click a node to open it, its +N to show its hidden neighbours`)),
        h("div", { class: "actions" }, h("label", { class: "inline" }, "Show ", dirSelect), h("label", { class: "inline" }, capSelect),
          expand.length ? h("button", { type: "button", class: "button", onclick: () => go({ expand: "" }) }, `Collapse ${expand.length} expanded`) : null)),
      legend(data),
      graphBox(data, (k) => go({ expand: [...expand, k].join(",") })));
  }

  function graphBox(data, onExpand) {
    const wrap = h("div", { class: "graph-wrap fit" }, drawGraph(data, onExpand));
    const toggle = h("button", { type: "button", class: "button small", id: "graph-zoom" }, "Actual size");
    toggle.addEventListener("click", () => {
      const fit = wrap.classList.toggle("fit");
      toggle.textContent = fit ? "Actual size" : "Fit to width";
    });
    return h("div", {}, h("div", { class: "graph-tools" }, toggle), wrap);
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

  function drawGraph(data, onExpand) {
    const W = data.node_size.width;
    const H = data.node_size.height;
    const at = Object.fromEntries(data.nodes.map((n) => [n.key, n]));
    const root = s("svg", { class: "graph", id: "trace-graph", width: data.width, height: data.height,
      viewBox: `0 0 ${data.width} ${data.height}`, role: "img", "aria-label": `Trace of ${data.start}` });
    const defs = s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
      s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" })));
    root.append(defs);
    for (const level of data.levels) {
      const label = level.shown < level.total ? `${level.shown} of ${level.total} shown` : `${level.total}`;
      root.append(s("text", { x: level.x, y: level.y, class: "level-label" },
        s("tspan", {}, level.label), s("tspan", { class: level.shown < level.total ? "level-count cut" : "level-count", dx: "8" }, label)));
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
        const cx = n.x + W - 16;
        const cy = n.y + 12;
        const plus = s("g", { class: "plus-badge", role: "button", tabindex: "0", dataset: { key: n.key },
          "aria-label": `Show ${n.hidden} hidden neighbours of ${n.key}` },
        s("title", {}, `Show ${n.hidden} hidden neighbour${n.hidden === 1 ? "" : "s"}`),
        s("rect", { x: cx - 14, y: cy - 8, width: 28, height: 16, rx: 8 }),
        s("text", { x: cx, y: cy + 4, "text-anchor": "middle" }, `+${n.hidden}`));
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
      const current = a.dataset.view === name;
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
      else if (name === "recall") await viewRecall(page, params);
      else if (name === "impact") await viewImpact(page, parts);
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
