// servechain dashboard: draws the page the server's shell names (map, link, team, me) from the
// JSON routes under /dashboard/api. Hand-written, no libraries and no build step: the pages need
// one deterministic SVG layout (a ring of teams grouped by department, which stays readable at
// 100 teams and never moves between loads), a few line and bar charts, and tables; a bundler and
// a force-layout package would add a build to reproduce for less than this file does.
"use strict";

(function () {
  const main = document.getElementById("main");
  const page = main.dataset.page;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const params = new URLSearchParams(location.search);
  const windowParam = params.get("window") || "90d";
  const COLOURS = { fast: "#2ca02c", ok: "#ff7f0e", slow: "#d62728", "no data": "#7f7f7f" };
  const WORDS = { fast: "fast", ok: "fair", slow: "slow", "no data": "no data yet" };
  const SVGNS = "http://www.w3.org/2000/svg";

  // ------------------------------------------------------------------ small helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVGNS, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children.flat(Infinity)) if (child) node.append(child);
    return node;
  }

  async function getJSON(path) {
    const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    let body = {};
    try {
      body = await response.json();
    } catch (error) {
      body = { error: "The server sent something unexpected; try again in a minute." };
    }
    if (response.status === 401) {
      location.reload(); // the session ended: the page itself redirects to sign-in
      throw new Error(body.error);
    }
    if (!response.ok) throw new Error(body.error || `The server answered ${response.status}.`);
    return body;
  }

  function problem(message) {
    main.replaceChildren(el("h1", { text: "Something went wrong" }), el("p", { class: "error", role: "alert", text: message }));
  }

  function percent(value) {
    return value === null || value === undefined ? "–" : `${Math.round(value * 100)}%`;
  }

  function score(value) {
    return value === null || value === undefined ? "–" : `${value.toFixed(1)}/5`;
  }

  function badge(kind) {
    return el("span", { class: `badge badge-${kind.replace(" ", "-")}`, text: WORDS[kind] || kind });
  }

  function teamHref(id) {
    return `/dashboard/team/${encodeURIComponent(id)}?window=${encodeURIComponent(windowParam)}`;
  }

  function linkHref(source, target) {
    return `/dashboard/link/${encodeURIComponent(source)}/${encodeURIComponent(target)}?window=${encodeURIComponent(windowParam)}`;
  }

  function windowLabel(data) {
    const since = new Date(data.since);
    const until = new Date(data.until);
    const fmt = { day: "numeric", month: "short", year: "numeric" };
    return `requests created ${since.toLocaleDateString("en-GB", fmt)} – ${until.toLocaleDateString("en-GB", fmt)}`;
  }

  function filters(extra) {
    const form = el("form", { class: "filters", method: "get" });
    const select = el("select", { id: "window", name: "window" });
    for (const [value, label] of [["30d", "30 days"], ["90d", "90 days"], ["180d", "180 days"], ["365d", "a year"]]) {
      select.append(el("option", { value, selected: value === windowParam }, label));
    }
    form.append(el("label", { for: "window" }, "Window"), select);
    if (extra) form.append(...extra);
    form.append(el("button", { type: "submit" }, "Show"));
    return form;
  }

  function figureList(figs) {
    const rows = [
      ["Requests", `${figs.volume} (${figs.open} open)`],
      ["Median time to acknowledge", figs.median_time_to_acknowledge],
      ["90th percentile to acknowledge", figs.p90_time_to_acknowledge],
      ["Still waiting for a first answer", String(figs.waiting_to_acknowledge)],
      ["Median time to resolve", figs.median_time_to_resolve],
      ["Promises kept", (figs.promises_total ? `${figs.promises_kept} of ${figs.promises_total} (${percent(figs.promise_rate)})` : "–") + (figs.renegotiations ? ` · ${figs.renegotiations} ${figs.renegotiations === 1 ? "date" : "dates"} moved by agreement` : "")],
      ["Average rating", figs.rated ? `${score(figs.average_rating)} from ${figs.rated}` : "–"],
    ];
    const needs = Object.entries(figs.needs || {});
    if (needs.length) rows.push(["Six needs", needs.map(([need, value]) => `${need} ${value.toFixed(1)}`).join(" · ")]);
    return el("dl", { class: "figures" }, rows.map(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })]));
  }

  function card(title, ...children) {
    return el("section", { class: "card" }, el("h2", { text: title }), ...children);
  }

  function table(caption, headers, rows, empty) {
    if (!rows.length) return el("p", { class: "empty", text: empty || "Nothing here." });
    return el(
      "div",
      { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
      el(
        "table",
        {},
        el("caption", { text: caption }),
        el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c)))))
      )
    );
  }

  // ------------------------------------------------------------------ charts

  function lineChart(title, weeks, series, unit) {
    // series: [{name, colour, values}] over weeks; gaps where a value is null
    const width = 560, height = 200, left = 44, right = 12, top = 14, bottom = 30;
    const all = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
    const figure = el("figure", { class: "chart" });
    figure.append(el("figcaption", { text: title }));
    if (!all.length) {
      figure.append(el("p", { class: "empty", text: "No data in this window." }));
      return figure;
    }
    const max = unit === "%" ? 1 : Math.max(...all, 0.5) * 1.1;
    const x = (i) => left + (weeks.length === 1 ? (width - left - right) / 2 : (i * (width - left - right)) / (weeks.length - 1));
    const y = (v) => top + (1 - v / max) * (height - top - bottom);
    const label = (v) => (unit === "%" ? `${Math.round(v * 100)}%` : unit === "h" ? `${v.toFixed(v < 10 ? 1 : 0)}h` : v.toFixed(1));
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${title}: ${series.map((s) => s.name).join(", ")} per week` });
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      chart.append(svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "gridline" }));
      chart.append(svg("text", { x: left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end", text: label(v) }));
    }
    const step = Math.max(1, Math.ceil(weeks.length / 7));
    weeks.forEach((week, i) => {
      if (i % step === 0 || i === weeks.length - 1) chart.append(svg("text", { x: x(i), y: height - 8, class: "axis", "text-anchor": "middle", text: week.replace(/^\d{4}-/, "") }));
    });
    for (const s of series) {
      let d = "";
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) return;
        d += `${d && s.values[i - 1] !== null && s.values[i - 1] !== undefined ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      });
      chart.append(svg("path", { d, fill: "none", stroke: s.colour, "stroke-width": 2.5 }));
      s.values.forEach((v, i) => {
        if (v !== null && v !== undefined) chart.append(svg("circle", { cx: x(i), cy: y(v), r: 3, fill: s.colour }, svg("title", { text: `${weeks[i]}: ${label(v)}` })));
      });
    }
    figure.append(chart);
    if (series.length > 1) figure.append(el("p", { class: "legend" }, series.map((s) => el("span", {}, el("i", { class: "swatch", style: null, "data-colour": s.colour }), s.name))));
    figure.querySelectorAll("i.swatch").forEach((i) => (i.style.background = i.dataset.colour));
    return figure;
  }

  function barChart(title, weeks, values, colour) {
    const width = 560, height = 150, left = 36, right = 12, top = 12, bottom = 28;
    const figure = el("figure", { class: "chart" }, el("figcaption", { text: title }));
    const max = Math.max(1, ...values);
    const band = (width - left - right) / weeks.length;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${title} per week, at most ${max}` });
    for (let i = 0; i <= 2; i++) {
      const v = Math.round((max * i) / 2);
      const yy = top + (1 - v / max) * (height - top - bottom);
      chart.append(svg("line", { x1: left, x2: width - right, y1: yy, y2: yy, class: "gridline" }));
      chart.append(svg("text", { x: left - 6, y: yy + 4, class: "axis", "text-anchor": "end", text: String(v) }));
    }
    const step = Math.max(1, Math.ceil(weeks.length / 7));
    values.forEach((v, i) => {
      const h = (v / max) * (height - top - bottom);
      chart.append(svg("rect", { x: left + i * band + band * 0.15, y: height - bottom - h, width: band * 0.7, height: h, fill: colour }, svg("title", { text: `${weeks[i]}: ${v}` })));
      if (i % step === 0 || i === weeks.length - 1) chart.append(svg("text", { x: left + i * band + band / 2, y: height - 8, class: "axis", "text-anchor": "middle", text: weeks[i].replace(/^\d{4}-/, "") }));
    });
    figure.append(chart);
    return figure;
  }

  // ------------------------------------------------------------------ the map

  const MAP_SIZE = 1000;

  function ringLayout(nodes) {
    // Teams on a ring, departments together with a gap between departments.
    const departments = [];
    for (const node of nodes) {
      if (!departments.length || departments[departments.length - 1].name !== node.department) departments.push({ name: node.department, nodes: [] });
      departments[departments.length - 1].nodes.push(node);
    }
    const gap = departments.length > 1 ? 1.5 : 0;
    const slots = nodes.length + gap * departments.length;
    const radius = MAP_SIZE * (nodes.length > 40 ? 0.38 : 0.32);
    const centre = MAP_SIZE / 2;
    const position = {};
    let slot = gap / 2;
    for (const department of departments) {
      department.from = slot;
      for (const node of department.nodes) {
        const angle = (2 * Math.PI * slot) / slots - Math.PI / 2;
        position[node.id] = { x: centre + radius * Math.cos(angle), y: centre + radius * Math.sin(angle), angle };
        slot += 1;
      }
      department.to = slot - 1;
      slot += gap;
    }
    return { position, departments, slots, radius, centre };
  }

  function drawMap(data, panel, note) {
    const busiest = note.textContent;
    const { position, departments, slots, radius, centre } = ringLayout(data.nodes);
    const many = data.nodes.length > 40;
    const maxVolume = Math.max(1, ...data.links.map((l) => l.figures.volume));
    const chart = svg("svg", {
      viewBox: "-45 -45 1090 1090",
      class: "map",
      role: "group",
      "aria-label": `Chain map: ${data.nodes.length} teams, ${data.links.length} links. Each link is a button; the table below lists them too.`,
    });
    const defs = svg("defs");
    for (const [kind, colour] of Object.entries(COLOURS)) {
      defs.append(svg("marker", { id: `arrow-${kind.replace(" ", "-")}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 5, markerHeight: 5, orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", fill: colour })));
    }
    chart.append(defs);
    const nameLayer = svg("g", { class: "department-names" });
    // department arcs and names
    for (const department of departments) {
      const a0 = (2 * Math.PI * (department.from - 0.4)) / slots - Math.PI / 2;
      const a1 = (2 * Math.PI * (department.to + 0.4)) / slots - Math.PI / 2;
      const r = radius;
      const large = a1 - a0 > Math.PI ? 1 : 0;
      chart.append(svg("path", { d: `M${centre + r * Math.cos(a0)},${centre + r * Math.sin(a0)} A${r},${r} 0 ${large} 1 ${centre + r * Math.cos(a1)},${centre + r * Math.sin(a1)}`, class: "department-arc" }));
      const mid = (a0 + a1) / 2;
      // the department's name just inside its arc, towards the centre
      const rl = radius - 30;
      const anchor = Math.cos(mid) > 0.6 ? "end" : Math.cos(mid) < -0.6 ? "start" : "middle";
      nameLayer.append(svg("text", { x: centre + rl * Math.cos(mid), y: centre + rl * Math.sin(mid) + 6 + (Math.sin(mid) < -0.7 ? 10 : 0), class: "department", "text-anchor": anchor, text: department.name }));
    }
    const linkLayer = svg("g", { class: "links" });
    const nodeLayer = svg("g", { class: "nodes" });
    chart.append(linkLayer, nodeLayer, nameLayer);
    let drawn = [];
    function renderLinks(list) {
    drawn = [];
    linkLayer.replaceChildren();
    for (const link of list) {
      const a = position[link.source], b = position[link.target];
      if (!a || !b) continue;
      // a curve bent towards the centre; the two directions of a pair bend to opposite sides
      const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
      const dx = b.x - a.x, dy = b.y - a.y;
      const length = Math.hypot(dx, dy) || 1;
      const pull = 0.45;
      const cx = mx + (centre - mx) * pull + (-dy / length) * 18;
      const cy = my + (centre - my) * pull + (dx / length) * 18;
      // stop short of the target node so the arrow shows
      const ex = b.x - ((b.x - cx) / Math.hypot(b.x - cx, b.y - cy)) * 9;
      const ey = b.y - ((b.y - cy) / Math.hypot(b.x - cx, b.y - cy)) * 9;
      const kind = link.figures.responsiveness;
      const width = 1 + 7 * Math.sqrt(link.figures.volume / maxVolume);
      const words = `${link.label}: ${link.figures.volume} requests, ${link.figures.acknowledge_text}, ${WORDS[kind]}${link.complaints ? `, ${link.complaints} complaints` : ""}`;
      const anchor = svg("a", { href: linkHref(link.source, link.target), class: `link link-${kind.replace(" ", "-")}`, "data-source": link.source, "data-target": link.target, "aria-label": words });
      anchor.append(svg("title", { text: words }));
      anchor.append(svg("path", { d: `M${a.x.toFixed(1)},${a.y.toFixed(1)} Q${cx.toFixed(1)},${cy.toFixed(1)} ${ex.toFixed(1)},${ey.toFixed(1)}`, stroke: COLOURS[kind], "stroke-width": width.toFixed(1), fill: "none", "marker-end": `url(#arrow-${kind.replace(" ", "-")})` }));
      // a wider invisible path makes thin links easy to click
      anchor.append(svg("path", { d: `M${a.x},${a.y} Q${cx},${cy} ${ex},${ey}`, class: "hit", fill: "none" }));
      if (link.complaints) {
        const t = 0.5;
        const px = (1 - t) * (1 - t) * a.x + 2 * (1 - t) * t * cx + t * t * ex;
        const py = (1 - t) * (1 - t) * a.y + 2 * (1 - t) * t * cy + t * t * ey;
        anchor.append(svg("circle", { cx: px.toFixed(1), cy: py.toFixed(1), r: (3 + Math.min(6, Math.sqrt(link.complaints) * 1.5)).toFixed(1), class: "complaint" }));
      }
      anchor.addEventListener("click", (event) => {
        event.preventDefault();
        showLink(link, panel);
      });
      drawn.push({ link, anchor });
      linkLayer.append(anchor);
    }
    }
    renderLinks(data.links);
    for (const node of data.nodes) {
      const p = position[node.id];
      const kind = node.as_provider.responsiveness;
      const r = 5 + Math.min(9, Math.sqrt(node.as_provider.volume) * 0.8);
      const words = `${node.name} (${node.department}): served ${node.as_provider.volume} requests, ${node.as_provider.acknowledge_text}; asked ${node.as_customer_volume}`;
      const anchor = svg("a", { href: teamHref(node.id), class: "node", "data-team": node.id, "aria-label": words });
      anchor.append(svg("title", { text: words }));
      anchor.append(svg("circle", { cx: p.x.toFixed(1), cy: p.y.toFixed(1), r: r.toFixed(1), fill: COLOURS[kind] }));
      const lx = centre + (radius + r + 6) * Math.cos(p.angle);
      const ly = centre + (radius + r + 6) * Math.sin(p.angle);
      const degrees = (p.angle * 180) / Math.PI;
      const flip = Math.cos(p.angle) < 0;
      anchor.append(svg("text", { x: lx.toFixed(1), y: ly.toFixed(1), class: many ? "team small" : "team", "text-anchor": flip ? "end" : "start", "dominant-baseline": "middle", transform: `rotate(${(flip ? degrees + 180 : degrees).toFixed(1)} ${lx.toFixed(1)} ${ly.toFixed(1)})`, text: node.name }));
      const highlight = (on) => {
        chart.classList.toggle("focused", on);
        for (const { link, anchor: a } of drawn) a.classList.toggle("lit", on && (link.source === node.id || link.target === node.id));
      };
      anchor.addEventListener("mouseenter", () => highlight(true));
      anchor.addEventListener("mouseleave", () => highlight(false));
      anchor.addEventListener("focus", () => highlight(true));
      anchor.addEventListener("blur", () => highlight(false));
      anchor.addEventListener("click", async (event) => {
        event.preventDefault();
        let links = data.links;
        if (data.links_total > data.links.length) {
          try {
            const focused = await getJSON(`/dashboard/api/map?window=${encodeURIComponent(windowParam)}&tag=${encodeURIComponent(data.tag)}&team=${encodeURIComponent(node.id)}`);
            links = focused.links;
            renderLinks(links);
            note.textContent = `Showing all ${links.length} links of ${node.name}. `;
            note.append(el("button", { type: "button", class: "small", onclick: () => { renderLinks(data.links); chart.classList.remove("focused"); note.textContent = busiest; } }, "Show the busiest links again"));
          } catch (error) {
            panel.replaceChildren(el("p", { class: "error", role: "alert", text: error.message }));
            return;
          }
        }
        highlight(true);
        showTeam(node, links, data, panel);
      });
      nodeLayer.append(anchor);
    }
    return chart;
  }

  function legend() {
    return el(
      "ul",
      { class: "map-legend", "aria-label": "Legend" },
      Object.keys(COLOURS).map((kind) => el("li", {}, el("i", { class: `swatch swatch-${kind.replace(" ", "-")}` }), WORDS[kind] + (kind === "fast" ? " (median ≤ 1h to acknowledge)" : kind === "ok" ? " (≤ 4h)" : kind === "slow" ? " (> 4h)" : ""))),
      el("li", {}, el("i", { class: "swatch swatch-complaint" }), "complaints (dot size)"),
      el("li", {}, "line width: number of requests; arrow: who was asked")
    );
  }

  async function showLink(link, panel) {
    panel.replaceChildren(el("h2", { text: link.label }), el("p", { role: "status", text: "Loading…" }));
    try {
      const data = await getJSON(`/dashboard/api/link/${encodeURIComponent(link.source)}/${encodeURIComponent(link.target)}?window=${encodeURIComponent(windowParam)}`);
      const weeks = data.weeks.map((w) => w.week);
      panel.replaceChildren(
        el("h2", { text: data.label }),
        el("p", {}, badge(data.figures.responsiveness), ` ${data.figures.acknowledge_text}`),
        figureList(data.figures),
        lineChart("Median time to acknowledge, per week (working hours)", weeks, [{ name: "acknowledge", colour: "#1f5fa8", values: data.weeks.map((w) => w.acknowledge_hours) }], "h"),
        requestTable("Slowest requests you may see", data.slowest, data.slowest_hidden),
        el("p", {}, el("a", { href: linkHref(data.source, data.target), class: "button" }, "Open this link's page"))
      );
    } catch (error) {
      panel.replaceChildren(el("p", { class: "error", role: "alert", text: error.message }));
    }
  }

  function showTeam(node, links, data, panel) {
    const asCustomer = links.filter((l) => l.source === node.id).sort((a, b) => b.figures.volume - a.figures.volume);
    const asProvider = links.filter((l) => l.target === node.id).sort((a, b) => b.figures.volume - a.figures.volume);
    const name = (id) => (data.nodes.find((n) => n.id === id) || { name: id }).name;
    panel.replaceChildren(
      el("h2", { text: node.name }),
      el("p", { class: "muted", text: node.department }),
      el("h3", { text: "As provider" }),
      el("p", {}, badge(node.as_provider.responsiveness), ` ${node.as_provider.acknowledge_text}`),
      table("Teams it serves", ["Team", "Requests", "Acknowledge"], asProvider.slice(0, 6).map((l) => [name(l.source), String(l.figures.volume), l.figures.median_time_to_acknowledge]), "No other team asked it."),
      el("h3", { text: "As customer" }),
      table("Teams it asks", ["Team", "Requests", "Acknowledge"], asCustomer.slice(0, 6).map((l) => [name(l.target), String(l.figures.volume), l.figures.median_time_to_acknowledge]), "It asked no other team."),
      el("p", {}, el("a", { href: teamHref(node.id), class: "button" }, "Open the team page"))
    );
  }

  async function mapPage() {
    const tag = params.get("tag") || "";
    const data = await getJSON(`/dashboard/api/map?window=${encodeURIComponent(windowParam)}&tag=${encodeURIComponent(tag)}`);
    const tagSelect = el("select", { id: "tag", name: "tag" }, el("option", { value: "" }, "all tags"), data.tags.map((t) => el("option", { value: t, selected: t === tag }, t)));
    const summary = `${data.requests} ${windowLabel(data)}${data.tag ? `, tagged ${data.tag}` : ""}; ${data.nodes.length} teams${data.idle_teams ? ` (${data.idle_teams} without requests not drawn)` : ""}.`;
    const panel = el(
      "aside",
      { class: "panel", "aria-live": "polite", "aria-label": "Details" },
      el("h2", { text: "Details" }),
      el("p", { class: "muted", text: "Click a team or a link to see its figures." }),
      el("p", { text: summary }),
      el("h3", { text: "Slowest links" }),
      data.slowest.length ? el("ol", {}, data.slowest.map((label) => el("li", { text: label }))) : el("p", { class: "empty", text: "None acknowledged yet." })
    );
    const note = el("p", { class: "map-note", role: "status", text: data.links_total > data.links.length ? `Showing the ${data.links.length} busiest and slowest of ${data.links_total} links; click a team to see all of its links.` : `All ${data.links_total} links shown.` });
    const links = [...data.links].sort((a, b) => b.figures.volume - a.figures.volume);
    const nodeName = Object.fromEntries(data.nodes.map((n) => [n.id, n.name]));
    main.replaceChildren(
      el("div", { class: "page-head" }, el("h1", { text: "Chain map" }), filters([el("label", { for: "tag" }, "Tag"), tagSelect])),
      el("div", { class: "map-layout" }, el("div", { class: "map-box" }, drawMap(data, panel, note), legend(), note), panel),
      el(
        "details",
        { class: "all-links" },
        el("summary", { text: `The ${links.length} links drawn, as a table` }),
        table(
          "Links between teams",
          ["From (asked)", "To (served)", "Requests", "Median to acknowledge", "Waiting", "Complaints", ""],
          links.map((l) => [nodeName[l.source] || l.source, nodeName[l.target] || l.target, String(l.figures.volume), l.figures.median_time_to_acknowledge, String(l.figures.waiting_to_acknowledge), String(l.complaints), el("a", { href: linkHref(l.source, l.target), "aria-label": `Open ${l.label}` }, "Open")])
        )
      )
    );
  }

  // ------------------------------------------------------------------ link page

  function requestTable(caption, rows, hidden) {
    const note = hidden ? el("p", { class: "muted", text: `${hidden} more you are not party to ${hidden === 1 ? "is" : "are"} counted in the figures but not listed.` }) : null;
    return el(
      "div",
      {},
      el("h3", { text: caption }),
      table(caption, ["Request", "Asked by", "Held by", "Status", "To acknowledge", "Complaints"], rows.map((r) => [el("span", {}, el("strong", { text: r.ref }), ` ${r.text}`), r.requester, r.provider, r.status, r.acknowledge, r.complaints.join(", ") || "–"]), "None you may see."),
      note
    );
  }

  async function linkPage() {
    const { source, target } = main.dataset;
    const data = await getJSON(`/dashboard/api/link/${encodeURIComponent(source)}/${encodeURIComponent(target)}?window=${encodeURIComponent(windowParam)}`);
    document.title = `${data.label} · servechain`;
    const weeks = data.weeks.map((w) => w.week);
    main.replaceChildren(
      el("p", { class: "crumbs" }, el("a", { href: `/dashboard/?window=${encodeURIComponent(windowParam)}` }, "Chain map"), " › link"),
      el("h1", { text: data.label }),
      el("p", { class: "muted", text: windowLabel(data) }),
      filters(),
      el(
        "div",
        { class: "grid" },
        card("Figures", el("p", {}, badge(data.figures.responsiveness), ` ${data.figures.acknowledge_text}`), figureList(data.figures), el("p", {}, `${data.complaints} complaints`)),
        card(
          "Over time",
          lineChart("Median working hours to acknowledge and resolve", weeks, [
            { name: "to acknowledge", colour: "#1f5fa8", values: data.weeks.map((w) => w.acknowledge_hours) },
            { name: "to resolve", colour: "#8a4fbf", values: data.weeks.map((w) => w.resolve_hours) },
          ], "h"),
          barChart("Requests", weeks, data.weeks.map((w) => w.volume), "#4a7fb5")
        )
      ),
      card("Slowest and most complained about", requestTable("Slowest requests you may see", data.slowest, data.slowest_hidden), requestTable("Most complained about, that you may see", data.complained, data.complained_hidden))
    );
  }

  // ------------------------------------------------------------------ team page

  async function teamPage() {
    const data = await getJSON(`/dashboard/api/team/${encodeURIComponent(main.dataset.team)}?window=${encodeURIComponent(windowParam)}`);
    document.title = `${data.name} · servechain`;
    const weeks = data.weeks.map((w) => w.week);
    const partner = (rows, empty, caption) => table(caption, ["Team", "Requests", "Median to acknowledge", "Promises kept"], rows.map((r) => [el("a", { href: teamHref(r.id) }, r.name), String(r.figures.volume), r.figures.median_time_to_acknowledge, percent(r.figures.promise_rate)]), empty);
    const parts = [
      el("p", { class: "crumbs" }, el("a", { href: `/dashboard/?window=${encodeURIComponent(windowParam)}` }, "Chain map"), " › team"),
      el("h1", { text: data.name }),
      el("p", { class: "muted", text: `${data.manager ? `Managed by ${data.manager}. ` : ""}${data.sub_teams.length ? `With ${data.sub_teams.join(", ")}. ` : ""}${windowLabel(data)}.` }),
      filters(),
      el(
        "div",
        { class: "grid" },
        card("As provider", el("p", {}, badge(data.as_provider.responsiveness), ` ${data.as_provider.acknowledge_text}`), figureList(data.as_provider)),
        card("As customer", el("p", {}, badge(data.as_customer.responsiveness), ` ${data.as_customer.acknowledge_text}`), figureList(data.as_customer))
      ),
      el(
        "div",
        { class: "grid" },
        card("Trends", lineChart("Median working hours to acknowledge and resolve", weeks, [
          { name: "to acknowledge", colour: "#1f5fa8", values: data.weeks.map((w) => w.acknowledge_hours) },
          { name: "to resolve", colour: "#8a4fbf", values: data.weeks.map((w) => w.resolve_hours) },
        ], "h")),
        card("Promises and ratings", lineChart("Promises kept", weeks, [{ name: "kept", colour: "#2a7a2a", values: data.weeks.map((w) => w.promise_rate) }], "%"), lineChart("Average rating (1–5)", weeks, [{ name: "rating", colour: "#b5651d", values: data.weeks.map((w) => w.average_rating) }], ""))
      ),
    ];
    if (data.manages) {
      const groups = Object.entries(data.stuck);
      parts.push(
        el(
          "div",
          { class: "grid" },
          card("Stuck now", groups.map(([group, items]) => el("div", {}, el("h3", { text: `${group[0].toUpperCase()}${group.slice(1)} (${items.length})` }), items.length ? el("ul", { class: "stuck" }, items.map((i) => el("li", { text: i.line }))) : el("p", { class: "empty", text: "nothing" })))),
          card("Complaint patterns", el("ul", { class: "patterns" }, data.patterns.lines.map((line) => el("li", { text: line }))))
        ),
        el(
          "div",
          { class: "grid" },
          card("Kudos", barChart("Kudos received", data.kudos.map((k) => k.week), data.kudos.map((k) => k.received), "#c27c0e")),
          card(
            "Pulse",
            lineChart("Anonymous pulse (1–5), only weeks with enough answers", data.pulse.map((p) => p.week), [
              { name: "felt supported", colour: "#1f5fa8", values: data.pulse.map((p) => p.manager_support) },
              { name: "served by other teams", colour: "#8a4fbf", values: data.pulse.map((p) => p.service) },
            ], ""),
            el("p", { class: "muted", text: `Shown only for weeks with enough answers in a big enough team; never per person. ${data.pulse.filter((p) => !p.shown).length} of ${data.pulse.length} weeks hidden.` })
          )
        )
      );
    } else {
      parts.push(el("p", { class: "note", text: data.restricted }));
    }
    parts.push(el("div", { class: "grid" }, card("Teams it serves", partner(data.customers, "No other team asked it.", "Teams it serves")), card("Teams it asks", partner(data.providers, "It asked no other team.", "Teams it asks"))));
    main.replaceChildren(...parts);
  }

  // ------------------------------------------------------------------ my page

  async function askUpdate(number, button, status) {
    button.disabled = true;
    try {
      const response = await fetch(`/dashboard/api/requests/${number}/ask-update`, { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf, "Idempotency-Key": `dash-${number}-${Date.now()}` } });
      const body = await response.json();
      status.textContent = response.ok ? body.reply : body.error;
    } catch (error) {
      status.textContent = "Couldn't reach servechain; nothing was sent. Try again in a minute.";
      button.disabled = false;
    }
  }

  function chatLinks(row) {
    return row.links.length ? el("span", {}, row.links.map((l) => el("a", { href: l.url, class: "chat", rel: "noopener" }, `open in ${l.platform}`))) : "–";
  }

  async function mePage() {
    const data = await getJSON("/dashboard/api/me");
    const status = el("p", { class: "status", role: "status", "aria-live": "polite" });
    const asked = data.asked.map((r) => {
      const button = el("button", { type: "button", class: "small", "aria-label": `Ask ${r.with} for an update on ${r.ref}` }, "Ask for an update");
      button.addEventListener("click", () => askUpdate(r.number, button, status));
      return [el("span", {}, el("strong", { text: r.ref }), ` ${r.text}`), r.with, r.status, r.waited, r.due ? el("span", { class: r.overdue ? "overdue" : "" }, r.overdue ? `overdue since ${r.due}` : r.due) : "–", chatLinks(r), button];
    });
    const held = data.held.map((r) => [el("span", {}, el("strong", { text: r.ref }), ` ${r.text}`), r.with, r.status, r.waited, r.due ? el("span", { class: r.overdue ? "overdue" : "" }, r.overdue ? `overdue since ${r.due}` : r.due) : "–", chatLinks(r)]);
    main.replaceChildren(
      el("h1", { text: `${data.name}'s page` }),
      el("p", { class: "muted" }, `@${data.handle}`, data.team ? [" · ", el("a", { href: teamHref(data.team_id) }, data.team)] : ""),
      status,
      card(`Waiting on others (${data.asked.length})`, table("Requests I asked that are still open", ["Request", "Asked", "Status", "Waiting (working time)", "Due", "In chat", "Action"], asked, "You are not waiting on anyone.")),
      card(`Others waiting on me (${data.held.length})`, table("Requests I hold that are still open", ["Request", "For", "Status", "Waiting (working time)", "Due", "In chat"], held, "Nobody is waiting on you.")),
      el(
        "div",
        { class: "grid" },
        card("My promises", el("p", { text: data.promises_total ? `Kept ${data.promises_kept} of ${data.promises_total} in the last 30 days.` : "No promise came due in the last 30 days." }), data.promises.length ? el("ul", {}, data.promises.map((r) => el("li", {}, el("strong", { text: r.ref }), ` for ${r.with}: `, el("span", { class: r.overdue ? "overdue" : "" }, r.overdue ? `overdue since ${r.due}` : `due ${r.due}`)))) : el("p", { class: "empty", text: "No open promises." })),
        card("My kudos", el("p", { text: `${data.kudos_received_total} received, ${data.kudos_given_total} given; ${data.kudos_left_today} left to give today.` }), data.kudos_received.length ? el("ul", { class: "kudos" }, data.kudos_received.map((k) => el("li", {}, el("strong", { text: k.from }), `: “${k.message}” `, el("span", { class: "muted", text: k.at })))) : el("p", { class: "empty", text: "No kudos yet." }))
      ),
      el("div", { class: "grid" }, card("How I served others (30 days)", figureList(data.as_provider)), card("How others served me (30 days)", figureList(data.as_customer)))
    );
  }

  const pages = { map: mapPage, link: linkPage, team: teamPage, me: mePage };
  (pages[page] || mapPage)().then(
    () => main.setAttribute("data-ready", "true"),
    (error) => {
      problem(error.message);
      main.setAttribute("data-ready", "error");
    }
  );
})();
