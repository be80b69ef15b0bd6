// Small line charts drawn as inline SVG: axes, ticks, grid, one line per series,
// a legend. lineChart({title, series: [{name, points: [[step, value], ...]}]}).

import { el, svg } from "./dom.js";

export const PALETTE = [
  "#4f46e5", "#0891b2", "#d97706", "#dc2626", "#059669", "#9333ea", "#db2777", "#65a30d",
  "#0f766e", "#b45309", "#2563eb", "#be123c",
];
const WIDTH = 520;
const HEIGHT = 230;
const BOOLEAN_HEIGHT = 130;
const MARGIN = { top: 12, right: 18, bottom: 40, left: 58 };
/** Series with at most this many points also get a dot (with a tooltip) per point. */
const MAX_DOTS = 60;

/** Round ticks covering [min, max]: {lo, hi, step, ticks}. */
export function niceScale(min, max, count = 5, integer = false) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return niceScale(0, 1, count, integer);
  if (min === max) {
    const pad = Math.abs(min) * 0.1 || 1;
    return niceScale(min - pad, max + pad, count, integer);
  }
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  let step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
  if (integer) step = Math.max(1, Math.round(step));
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks = [];
  for (let value = lo; value <= hi + step / 2; value += step) ticks.push(value);
  return { lo, hi, step, ticks };
}

/** A tick label with as many decimals as the step needs. */
export function tickLabel(value, step) {
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return value.toFixed(decimals);
}

function extent(values) {
  return [Math.min(...values), Math.max(...values)];
}

function axes(group, xs, ys, boolean, height) {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const bottom = MARGIN.top + plotH;
  for (const tick of ys.ticks) {
    const y = ys.pos(tick);
    group.append(svg("line", { class: "grid", x1: MARGIN.left, x2: MARGIN.left + plotW, y1: y, y2: y }));
    const label = boolean ? (tick === 1 ? "true" : "false") : tickLabel(tick, ys.step);
    group.append(svg("text", { class: "tick y", x: MARGIN.left - 8, y: y + 4 }, label));
  }
  for (const tick of xs.ticks) {
    const x = xs.pos(tick);
    group.append(svg("line", { class: "tick-mark", x1: x, x2: x, y1: bottom, y2: bottom + 5 }));
    group.append(svg("text", { class: "tick x", x, y: bottom + 18 }, String(tick)));
  }
  group.append(svg("line", { class: "axis", x1: MARGIN.left, x2: MARGIN.left + plotW, y1: bottom, y2: bottom }));
  group.append(svg("line", { class: "axis", x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: bottom }));
  group.append(svg("text", { class: "axis-label", x: MARGIN.left + plotW / 2, y: height - 4 }, "step"));
}

function scales(series, boolean, height) {
  const points = series.flatMap((s) => s.points);
  const [xMin, xMax] = extent(points.map((p) => p[0]));
  const [yMin, yMax] = boolean ? [0, 1] : extent(points.map((p) => p[1]));
  const xs = niceScale(xMin, xMax === xMin ? xMin + 1 : xMax, 6, true);
  xs.lo = xMin;
  xs.hi = xMax === xMin ? xMin + 1 : xMax;
  xs.ticks = xs.ticks.filter((t) => t >= xs.lo && t <= xs.hi);
  const integers = points.every((p) => Number.isInteger(p[1]));
  const ys = boolean ? { lo: 0, hi: 1, step: 1, ticks: [0, 1] } : niceScale(yMin, yMax, 4, integers);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  xs.pos = (x) => MARGIN.left + ((x - xs.lo) / (xs.hi - xs.lo)) * plotW;
  ys.pos = (y) => MARGIN.top + plotH - ((y - ys.lo) / (ys.hi - ys.lo)) * plotH;
  return { xs, ys };
}

/**
 * A <figure> with the chart. `series`: [{name, points: [[x, y], ...]}] (y a number,
 * or a boolean when `boolean`); series without points are left out.
 */
export function lineChart({ title, series, boolean = false, id = null }) {
  const drawn = series
    .map((s) => ({ ...s, points: s.points.map(([x, y]) => [x, boolean ? Number(y) : y]) }))
    .filter((s) => s.points.length > 0);
  const figure = el("figure", { class: "chart", "data-variable": id || title });
  figure.append(el("figcaption", {}, title, boolean ? el("span", { class: "muted" }, " (false/true)") : null));
  if (drawn.length === 0) {
    figure.append(el("p", { class: "muted" }, "no values yet"));
    return figure;
  }
  const height = boolean ? BOOLEAN_HEIGHT : HEIGHT;
  const { xs, ys } = scales(drawn, boolean, height);
  const steps = extent(drawn.flatMap((s) => s.points.map((p) => p[0])));
  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${height}`, role: "img", class: "chart-svg",
    "aria-label": `${title}: ${drawn.map((s) => s.name).join(", ")} over steps ${steps[0]} to ${steps[1]}`,
  });
  const group = svg("g");
  axes(group, xs, ys, boolean, height);
  drawn.forEach((s, index) => {
    const color = PALETTE[index % PALETTE.length];
    const path = boolean ? stepped(s.points) : s.points;
    const points = path.map(([x, y]) => `${xs.pos(x).toFixed(1)},${ys.pos(y).toFixed(1)}`);
    group.append(svg("polyline", {
      class: "series", points: points.join(" "), stroke: color, "data-series": s.name,
    }));
    if (s.points.length <= MAX_DOTS) {
      for (const [x, y] of s.points) {
        group.append(svg("circle", { class: "dot", cx: xs.pos(x), cy: ys.pos(y), r: 2.8, fill: color },
          svg("title", {}, `${s.name} · step ${x}: ${boolean ? Boolean(y) : y}`)));
      }
    }
  });
  chart.append(group);
  figure.append(chart);
  if (drawn.length > 1 || drawn[0].name !== title) figure.append(legend(drawn));
  return figure;
}

/** A true/false series holds its value until the next step: draw it as steps. */
function stepped(points) {
  return points.flatMap((point, index) =>
    (index === 0 ? [point] : [[point[0], points[index - 1][1]], point]));
}

function legend(series) {
  return el("ul", { class: "legend", "aria-label": "legend" }, series.map((s, index) => {
    const swatch = el("span", { class: "swatch", "aria-hidden": "true" });
    swatch.style.background = PALETTE[index % PALETTE.length];
    return el("li", {}, swatch, s.name);
  }));
}
