/// The page's stylesheet and script, served from the node itself (`/assets/app.css`,
/// `/assets/app.js`): no CDN, no external fonts, nothing fetched from a third party, nothing to build.
///
/// They are string constants rather than package resources so the single `trustmesh` binary carries
/// them wherever it is copied. The page works without the script (search, results, care and fetch
/// forms are plain HTML forms); the script only adds checking as you type and live fetch progress.
enum WebAssets {
    static let css = """
        :root {
          --ink: #212b32; --muted: #4c6272; --paper: #ffffff; --wash: #f0f4f5; --line: #d8dde0;
          --blue: #005eb8; --dark-blue: #003087; --focus: #ffeb3b; --green: #007f3b; --red: #d5281b;
          --warm: #ffb81c;
        }
        * { box-sizing: border-box; }
        html { font-size: 100%; }
        body {
          margin: 0; color: var(--ink); background: var(--wash); line-height: 1.5;
          font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
        }
        a { color: var(--blue); }
        a:visited { color: #330072; }
        a:focus, button:focus, input:focus, select:focus, [tabindex]:focus {
          outline: 3px solid var(--focus); outline-offset: 0; box-shadow: 0 4px 0 var(--ink);
        }
        .skip { position: absolute; left: -999px; }
        .skip:focus { left: 1rem; top: 1rem; background: var(--focus); color: var(--ink); padding: .5rem; z-index: 9; }
        .masthead { background: var(--blue); color: #fff; padding: .75rem 1rem; }
        .masthead .brand { font-weight: 700; font-size: 1.25rem; }
        .masthead .node { font-size: .95rem; }
        .masthead nav { display: flex; flex-wrap: wrap; gap: .25rem 1rem; margin-top: .5rem; }
        .masthead nav a { color: #fff; font-weight: 600; padding: .25rem 0; }
        .masthead nav a[aria-current="page"] { text-decoration-thickness: 3px; }
        main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
        section, .panel { background: var(--paper); border: 1px solid var(--line); padding: 1rem; margin: 1rem 0; }
        h1 { font-size: 1.75rem; margin: .5rem 0 1rem; }
        h2 { font-size: 1.3rem; margin: 0 0 .75rem; }
        label { display: block; font-weight: 600; margin-bottom: .25rem; }
        .hint { color: var(--muted); font-size: .95rem; margin: 0 0 .25rem; }
        input, select {
          font: inherit; padding: .5rem; border: 2px solid var(--ink); min-height: 2.75rem; background: #fff;
          color: var(--ink);
        }
        input[aria-invalid="true"] { border-color: var(--red); }
        .field { margin-bottom: 1rem; }
        .row { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-end; }
        .row .field { margin-bottom: 0; }
        button {
          font: inherit; font-weight: 600; color: #fff; background: var(--green); border: 0;
          border-bottom: 3px solid #00401e; padding: .5rem 1rem; min-height: 2.75rem; cursor: pointer;
        }
        button.secondary { background: var(--blue); border-bottom-color: var(--dark-blue); }
        .error-message { color: var(--red); font-weight: 600; margin: .25rem 0; }
        .notice { border-left: 8px solid var(--blue); background: #fff; padding: .75rem 1rem; margin: 1rem 0; }
        .notice.error { border-left-color: var(--red); }
        .notice.warn { border-left-color: var(--warm); }
        .notice.ok { border-left-color: var(--green); }
        .notice p { margin: .25rem 0; }
        .table-wrap { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; background: #fff; }
        caption { text-align: left; font-weight: 600; padding: .5rem 0; }
        th, td { text-align: left; padding: .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { border-bottom: 2px solid var(--ink); }
        td.num, th.num { text-align: right; white-space: nowrap; }
        td.nowrap, span.nhs { white-space: nowrap; }
        .ods { color: var(--muted); font-size: .9rem; }
        .tag { display: inline-block; padding: 0 .4rem; border: 1px solid var(--ink); font-size: .85rem; }
        .tag.yes { background: #e6f4ec; }
        progress { width: 100%; height: 1.25rem; }
        .fetch { border: 1px solid var(--line); padding: .75rem; margin: .5rem 0; background: #fff; }
        .fetch[data-state="failed"] { border-left: 6px solid var(--red); }
        .fetch[data-state="completed"] { border-left: 6px solid var(--green); }
        .series { display: grid; grid-template-columns: repeat(auto-fill, minmax(10rem, 1fr)); gap: .75rem; }
        figure { margin: 0; background: #000; color: #fff; text-align: center; padding: .25rem; }
        figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
        figcaption { font-size: .85rem; padding: .25rem; }
        .unavailable { background: var(--wash); color: var(--ink); min-height: 8rem; display: flex; align-items: center;
          justify-content: center; padding: .5rem; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
        dl.facts dt { font-weight: 600; }
        dl.facts dd { margin: 0; }
        .verified { color: var(--green); font-weight: 600; }
        .failed { color: var(--red); font-weight: 700; }
        footer { max-width: 72rem; margin: 0 auto; padding: 1rem; color: var(--muted); font-size: .9rem; }
        @media (max-width: 48rem) {
          h1 { font-size: 1.4rem; }
          th, td { padding: .4rem .3rem; }
          .row { display: block; }
          .row .field { margin-bottom: 1rem; }
        }
        """

    static let javascript = """
        // TrustMesh page enhancements. Everything works without this file; it adds checking as you
        // type and live fetch progress. It talks only to this node.
        (function () {
          "use strict";

          // NHS number: 10 digits, modulus 11 check digit (NHS Data Dictionary).
          function nhsProblem(text) {
            if (/[^0-9 \\-]/.test(text)) return "An NHS number has only digits.";
            var d = text.replace(/[^0-9]/g, "");
            if (d.length === 0) return "Enter the patient's NHS number.";
            if (d.length < 10) return "An NHS number has 10 digits; " + d.length + " so far.";
            if (d.length > 10) return "An NHS number has 10 digits; this has " + d.length + ".";
            var sum = 0;
            for (var i = 0; i < 9; i++) sum += Number(d[i]) * (10 - i);
            var check = 11 - (sum % 11);
            if (check === 11) check = 0;
            if (check === 10 || check !== Number(d[9])) {
              return "This is not a valid NHS number: check it for a typing error.";
            }
            return "";
          }
          function spaced(d) {
            return [d.slice(0, 3), d.slice(3, 6), d.slice(6, 10)].filter(Boolean).join(" ");
          }
          document.querySelectorAll("input[data-nhs]").forEach(function (input) {
            var hint = document.getElementById(input.getAttribute("data-nhs"));
            function check(final) {
              var problem = nhsProblem(input.value);
              var complete = input.value.replace(/[^0-9]/g, "").length >= 10;
              var show = problem && (final || complete || /[^0-9 \\-]/.test(input.value));
              input.setAttribute("aria-invalid", show ? "true" : "false");
              input.setCustomValidity(problem && final ? problem : "");
              if (hint) hint.textContent = show ? problem : "";
              return !problem;
            }
            input.addEventListener("input", function () {
              var digits = input.value.replace(/[^0-9]/g, "");
              if (/^[0-9 ]*$/.test(input.value) && digits.length <= 10) input.value = spaced(digits);
              check(false);
            });
            if (input.form) {
              input.form.addEventListener("submit", function (event) {
                if (!check(true)) { event.preventDefault(); input.focus(); }
              });
            }
          });

          // Live fetch progress: every fetch the server listed on this page is polled until it ends,
          // so a reload picks up where it was.
          var rules = {};
          var rulesNode = document.getElementById("rule-sentences");
          if (rulesNode) { try { rules = JSON.parse(rulesNode.textContent); } catch (e) { rules = {}; } }
          function bytes(n) {
            if (n >= 1e9) return (n / 1e9).toFixed(1) + " GB";
            if (n >= 1e6) return (n / 1e6).toFixed(1) + " MB";
            if (n >= 1e3) return (n / 1e3).toFixed(0) + " KB";
            return n + " bytes";
          }
          function seconds(s) {
            if (s === null || s === undefined) return "working it out";
            if (s < 1) return "under a second";
            if (s < 90) return Math.round(s) + (Math.round(s) === 1 ? " second" : " seconds");
            return Math.round(s / 60) + " minutes";
          }
          function render(box, p) {
            box.setAttribute("data-state", p.state);
            var bar = box.querySelector("progress");
            var status = box.querySelector("[data-status]");
            var total = p.bytesToMove || 0;
            if (bar) {
              bar.max = total > 0 ? total : 1;
              bar.value = total > 0 ? p.bytesReceived : (p.state === "completed" ? 1 : 0);
            }
            var text;
            if (p.state === "completed") {
              text = "Complete: " + bytes(p.bytesReceived) + " moved (" + p.chunksAlreadyHeld + " of " +
                p.chunksTotal + " pieces were already here).";
            } else if (p.state === "failed") {
              text = "Not fetched. " + (p.rule && rules[p.rule] ? rules[p.rule] : (p.error || "The fetch failed."));
            } else if (p.state === "requesting") {
              text = "Asking " + p.holder + " for the study…";
            } else if (p.waitingForOtherFetches) {
              text = "Waiting for another fetch that is bringing the same images…";
            } else {
              text = bytes(p.bytesReceived) + " of " + bytes(total) + " at " + bytes(Math.round(p.bytesPerSecond)) +
                "/s; time left: " + seconds(p.secondsLeft) + ".";
            }
            if (status) status.textContent = text;
            var view = box.querySelector("[data-view]");
            if (view) view.hidden = p.state !== "completed";
          }
          document.querySelectorAll("[data-fetch-id]").forEach(function (box) {
            var id = box.getAttribute("data-fetch-id");
            function poll() {
              fetch("/fetch/" + encodeURIComponent(id) + "?part=json", { headers: { "Accept": "application/json" } })
                .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
                .then(function (p) {
                  render(box, p);
                  if (p.state === "requesting" || p.state === "transferring") { setTimeout(poll, 400); return; }
                  // Ended: the server's own rendering of the box (with the link to view the study).
                  return fetch("/fetch/" + encodeURIComponent(id) + "?part=1")
                    .then(function (r) { return r.ok ? r.text() : null; })
                    .then(function (html) { if (html) box.outerHTML = html; });
                })
                .catch(function () {
                  var status = box.querySelector("[data-status]");
                  if (status) status.textContent = "This node did not answer; progress will resume when it does.";
                  setTimeout(poll, 2000);
                });
            }
            var state = box.getAttribute("data-state");
            if (state === "requesting" || state === "transferring") poll();
          });
        })();
        """
}
