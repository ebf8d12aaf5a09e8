// Draws every [data-chart] element from the JSON figure beside it (json_script), after each
// page load and each htmx swap, in the current light or dark theme. Also the theme toggle.
(function () {
  "use strict";

  function themeColors() {
    var style = getComputedStyle(document.documentElement);
    return {
      fg: style.getPropertyValue("--fg").trim() || "#1d2330",
      line: style.getPropertyValue("--line").trim() || "#e3e6ec",
    };
  }

  function draw(el) {
    var source = document.getElementById(el.dataset.chart);
    if (!source || !window.Plotly) return;
    var fig = JSON.parse(source.textContent);
    var colors = themeColors();
    var layout = Object.assign({}, fig.layout || {}, {
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: colors.fg, family: "system-ui, sans-serif", size: 12 },
      autosize: true,
    });
    ["xaxis", "yaxis"].forEach(function (axis) {
      layout[axis] = Object.assign({ gridcolor: colors.line, zerolinecolor: colors.line }, layout[axis] || {});
    });
    delete layout.template;
    window.Plotly.react(el, fig.data || [], layout, { displayModeBar: false, responsive: true });
    el.dataset.drawn = "true";
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(draw);
  }

  function applyTheme(theme) {
    if (theme) document.documentElement.dataset.theme = theme;
    else delete document.documentElement.dataset.theme;
  }

  applyTheme(localStorage.getItem("agentledger-theme"));

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-theme-toggle]");
    if (!toggle) return;
    var dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : window.matchMedia("(prefers-color-scheme: dark)").matches;
    var next = dark ? "light" : "dark";
    localStorage.setItem("agentledger-theme", next);
    applyTheme(next);
    drawAll();
  });

  if (window.htmx) {
    window.htmx.onLoad(function (el) { drawAll(el); });
  } else {
    document.addEventListener("DOMContentLoaded", function () { drawAll(); });
  }
})();
