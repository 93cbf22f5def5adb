/** Line and bar charts drawn by uPlot, loaded on first use; a text summary is always shown. */
import { useEffect, useRef } from "preact/hooks";
import type { Mark, ScoreSeries, Thresholds } from "./history";

const MARK_COLOURS: Record<Mark["kind"], string> = { mql: "#1a7f37", cooled: "#0969da", decay: "#9a6700" };

type UPlot = typeof import("uplot");
let loading: Promise<UPlot> | null = null;
const uPlot = (): Promise<UPlot> => (loading ??= import("uplot").then((module) => module.default));

function width(element: HTMLElement): number {
  return Math.max(280, Math.min(900, element.clientWidth || 600));
}

/** The score over time with its MQL threshold and the marks (MQL, cooled, decay) as vertical lines. */
export function ScoreChart({ series, thresholds, label }: { series: ScoreSeries; thresholds: Thresholds | null; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element || series.times.length === 0) return;
    let plot: { destroy: () => void } | null = null;
    let gone = false;
    uPlot()
      .then((UPlot) => {
        if (gone) return;
        const data: (number | null)[][] = [series.times, series.scores];
        const lines: object[] = [{}, { label: "score", stroke: "#24292f", width: 2, points: { show: series.times.length < 60 } }];
        if (thresholds) {
          data.push(series.times.map(() => thresholds.mql));
          lines.push({ label: `MQL threshold (${thresholds.mql})`, stroke: "#1a7f37", dash: [6, 4], points: { show: false } });
        }
        plot = new UPlot(
          {
            width: width(element),
            height: 220,
            scales: { y: { range: [0, 100] } },
            axes: [{}, { label: "points" }],
            series: lines,
            hooks: {
              draw: [
                (u: any) => {
                  const ctx = u.ctx as CanvasRenderingContext2D;
                  for (const mark of series.marks) {
                    const x = u.valToPos(mark.at, "x", true);
                    ctx.save();
                    ctx.strokeStyle = MARK_COLOURS[mark.kind];
                    ctx.setLineDash(mark.kind === "decay" ? [2, 3] : []);
                    ctx.beginPath();
                    ctx.moveTo(x, u.bbox.top);
                    ctx.lineTo(x, u.bbox.top + u.bbox.height);
                    ctx.stroke();
                    ctx.restore();
                  }
                },
              ],
            },
          } as any,
          data as any,
          element,
        );
      })
      .catch(() => {
        // No canvas (an old browser): the summary and the list of marks still say it all.
      });
    return () => {
      gone = true;
      plot?.destroy();
    };
  }, [series, thresholds]);

  const last = series.scores[series.scores.length - 1] ?? 0;
  return (
    <figure class="chart" data-testid="score-chart">
      <div ref={box} role="img" aria-label={`${label}: ${series.scores.length} changes, now ${last} points`} />
      <figcaption>
        {series.marks.length === 0 ? (
          "No MQL, cooling or decay yet."
        ) : (
          <ul class="marks">
            {series.marks.map((mark) => (
              <li key={`${mark.kind}-${mark.at}`} data-testid={`mark-${mark.kind}`}>
                <span class="swatch" style={{ background: MARK_COLOURS[mark.kind] }} aria-hidden="true" />
                {mark.label} ({new Date(mark.at * 1000).toLocaleString()}, {mark.score} pts)
              </li>
            ))}
          </ul>
        )}
      </figcaption>
    </figure>
  );
}

/** Two histograms side by side as an SVG (before and after): ten buckets of 10 points. */
export function Histogram({ before, after }: { before: number[]; after: number[] }) {
  const top = Math.max(1, ...before, ...after);
  const bar = 14;
  const height = 120;
  return (
    <figure class="chart" data-testid="preview-histogram">
      <svg viewBox={`0 0 ${10 * (2 * bar + 8)} ${height + 20}`} role="img" aria-label="Leads per score band, before and after">
        {before.map((count, band) => {
          const x = band * (2 * bar + 8);
          const h1 = (count / top) * height;
          const h2 = ((after[band] ?? 0) / top) * height;
          return (
            <g key={band}>
              <rect x={x} y={height - h1} width={bar} height={h1} fill="#8c959f">
                <title>{`${band * 10}-${band * 10 + 10}: ${count} before`}</title>
              </rect>
              <rect x={x + bar} y={height - h2} width={bar} height={h2} fill="#0969da">
                <title>{`${band * 10}-${band * 10 + 10}: ${after[band] ?? 0} after`}</title>
              </rect>
              <text x={x + bar} y={height + 14} font-size="9" text-anchor="middle">
                {band * 10}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption>
        <span class="swatch" style={{ background: "#8c959f" }} aria-hidden="true" /> before{" "}
        <span class="swatch" style={{ background: "#0969da" }} aria-hidden="true" /> after (leads per band of 10 points)
      </figcaption>
    </figure>
  );
}
