/**
 * The dashboard's page and the assets it loads (uPlot from its npm package, our browser
 * scripts, the stylesheet), handed to the daemon's server by the CLI: the daemon serves
 * them at `/` and `/assets/*` without importing the web layer.
 */
import { clientScript, uplotCss, uplotScript } from "./assets.js";
import { PAGE_CSS } from "./style.js";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ballast</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/uPlot.min.css">
<link rel="stylesheet" href="/assets/style.css">
</head>
<body>
<header class="top">
  <h1>Ballast</h1>
  <span class="sub" id="hdr-backend"></span>
  <span class="sub" id="hdr-policy"></span>
  <span class="sub" id="hdr-time"></span>
  <form id="token-form" class="sub"><label>token <input type="password" id="token" autocomplete="off" placeholder="from STATE/token"></label></form>
</header>
<main>
<div id="status" role="status"></div>
<div class="row">
<section id="host"><h2>Host</h2><div class="cards" id="host-cards"></div><div id="host-chart"></div>
<p class="note">Dashed marks: events. <span id="event-legend"></span></p></section>
<section id="actions"><h2>Actions <span class="note">(need the token)</span></h2>
<form class="action" id="f-policy"><label for="policy-select">policy</label><select id="policy-select"></select><button>Switch</button></form>
<form class="action" id="f-memset"><label>mem-set</label><select class="domain-select" name="domain"></select><input type="text" name="size" placeholder="2GiB" required><label><input type="checkbox" name="force"> force</label><label><input type="checkbox" name="dry_run"> dry run</label><button>Set target</button></form>
<form class="action" id="f-settings"><label>set</label><select class="domain-select" name="domain"></select><input type="text" name="min" placeholder="min"><input type="text" name="max" placeholder="max"><input type="text" name="weight" placeholder="weight"><input type="text" name="buffer" placeholder="buffer %"><button>Apply</button></form>
<form class="action" id="f-reserve"><label>reserve</label><input type="text" name="size" placeholder="1GiB" required><button>Reserve</button></form>
<table id="reservations"></table>
</section>
</div>
<section><h2>Guests <input type="search" id="guest-filter" placeholder="filter by name" aria-label="filter guests by name"></h2>
<div class="scroll"><table id="guests"></table></div></section>
<section><h2>Memory and pressure over time</h2><div class="grid" id="guest-charts"></div></section>
<section><h2>Decisions and events <select id="log-filter" aria-label="show">
<option value="all">everything</option><option value="decisions">decisions</option>
<option value="events">events</option><option value="trouble">refusals, kills, stalls</option>
</select></h2><div class="log"><table id="log"></table></div></section>
</main>
<script src="/assets/uPlot.iife.min.js"></script>
<script src="/assets/charts.js"></script>
<script src="/assets/dashboard.js"></script>
</body>
</html>
`;

const ASSETS: Record<string, { type: string; body: () => string }> = {
  "/assets/uPlot.iife.min.js": { type: "text/javascript", body: uplotScript },
  "/assets/uPlot.min.css": { type: "text/css", body: uplotCss },
  "/assets/style.css": { type: "text/css", body: () => PAGE_CSS },
  "/assets/charts.js": { type: "text/javascript", body: () => clientScript("charts") },
  "/assets/dashboard.js": { type: "text/javascript", body: () => clientScript("dashboard") },
};

/** What `createApi` serves at `/` (see DashboardSite in src/daemon/dashboard.ts). */
export const dashboardSite = { page: PAGE, assets: ASSETS };
