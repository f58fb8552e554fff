/** The stylesheet shared by the dashboard and the HTML report. */
export const PAGE_CSS = `
:root { --fg: #1d2125; --muted: #66707a; --line: #dde1e6; --bg: #f6f7f9; --card: #fff;
  --accent: #1c7ed6; --bad: #c92a2a; --warn: #e8590c; --ok: #2b8a3e; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
header.top { display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: baseline;
  padding: 12px 20px; background: #1d2125; color: #fff; }
header.top h1 { margin: 0; font-size: 18px; }
header.top .sub { color: #c9cfd6; }
main { padding: 16px 20px; max-width: 1600px; margin: 0 auto; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 6px;
  padding: 12px 16px; margin-bottom: 16px; }
h2 { font-size: 15px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 0 0 6px; }
.note { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 140px; }
.card .k { color: var(--muted); font-size: 12px; }
.card .v { font-size: 18px; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left;
  white-space: nowrap; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
td.n, th.n { text-align: right; }
td.msg { white-space: normal; }
tr.refused td, .bad { color: var(--bad); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 12px; }
.guest { border: 1px solid var(--line); border-radius: 6px; padding: 8px; min-width: 0; }
.guest h3 .state { font-weight: 400; color: var(--muted); margin-left: 6px; }
.guest-chart, #host-chart { min-height: 40px; }
.bar { position: relative; height: 14px; background: #edf0f3; border-radius: 3px; margin: 4px 0; }
.bar .fill { position: absolute; left: 0; top: 0; bottom: 0; background: var(--accent);
  border-radius: 3px; }
.bar .mark { position: absolute; top: -3px; bottom: -3px; width: 2px; background: #7048e8; }
#bench-charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(620px, 1fr)); gap: 8px 16px; }
.bar-chart { margin: 8px 0 16px; min-width: 0; }
.bar-chart svg { max-width: 100%; height: auto; }
.bar-chart .bar-title { font-weight: 600; font-size: 13px; fill: var(--fg); }
.bar-chart .tick { font-size: 11px; fill: var(--muted); }
.bar-chart line.grid { stroke: var(--line); }
.ev-key { display: inline-flex; align-items: center; gap: 4px; margin-right: 14px;
  font-size: 12px; color: var(--muted); }
.ev-key i { display: inline-block; width: 0; height: 12px; border-left: 2px dashed; }
.row { display: flex; flex-wrap: wrap; gap: 16px; }
.row > section { flex: 1 1 420px; }
form.action { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin: 6px 0; }
form.action label { color: var(--muted); font-size: 12px; }
input, select, button { font: inherit; padding: 3px 6px; }
input[type=text], input[type=password] { width: 9em; }
button { cursor: pointer; }
#status { min-height: 1.4em; }
#status.ok { color: var(--ok); }
#status.error { color: var(--bad); }
.log { max-height: 360px; overflow: auto; }
.scroll { max-height: 480px; overflow: auto; }
h2 input[type=search] { font-size: 13px; font-weight: 400; margin-left: 12px; width: 14em; }
.hidden { display: none; }
.u-legend { font-size: 12px; }
`;
