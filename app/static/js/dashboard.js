/*
 * The home page dashboard: fetches each panel from /api/v1/dashboard/<panel>?days=N (the user's
 * session, their region scope, texts and formatted numbers in their language) and draws it with
 * Apache ECharts served by the app (app/static/vendor/echarts). Clicking a bar, slice or point
 * opens the matching filtered list (each item carries its link). Charts follow the window size.
 * What each figure counts is written in the page (tooltips and the list of definitions, from
 * app/reports/dashboard.py), not here. The trend's current week is partial and drawn as such.
 *
 * ECharts renders tooltips as HTML: a tooltip formatter returns markup, so every text it places
 * there (a region's name, a label) goes through escapeHtml first. Titles and KPI cards are set as
 * text (textContent), never as HTML.
 */
(function () {
    "use strict";
    var root = document.getElementById("dashboard");
    if (!root || typeof echarts === "undefined") {
        return;
    }
    var i18n = {};
    try {
        i18n = JSON.parse(document.getElementById("dashboard-i18n").textContent || "{}");
    } catch (e) {
        i18n = {};
    }
    var apiTemplate = root.getAttribute("data-api");
    var daysSelect = document.getElementById("dashboard-days");
    var charts = {};
    var COLORS = ["#337ab7", "#5cb85c", "#f0ad4e", "#d9534f", "#5bc0de", "#777777", "#9b59b6"];

    function url(name) {
        return apiTemplate.replace("__name__", encodeURIComponent(name)) + "?days=" + encodeURIComponent(daysSelect.value);
    }

    var HTML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"};

    function escapeHtml(value) {
        return (value === undefined || value === null ? "" : String(value)).replace(/[&<>"']/g, function (ch) {
            return HTML_ESCAPES[ch];
        });
    }

    function text(el, value) {
        if (el) {
            el.textContent = value === undefined || value === null ? "" : String(value);
        }
    }

    function chart(name) {
        if (!charts[name]) {
            var el = document.getElementById("chart-" + name);
            charts[name] = echarts.init(el, null, {renderer: "canvas"});
            charts[name].on("click", function (params) {
                var links = charts[name].__links || [];
                var link = links[params.dataIndex];
                if (link) {
                    window.location.href = link;
                }
            });
        }
        return charts[name];
    }

    function draw(name, option, links) {
        var c = chart(name);
        c.__links = links || [];
        option.animation = false;  // figures appear at once (and screenshots are stable)
        c.setOption(option, true);
        c.getDom().setAttribute("data-ready", "1");
    }

    function emptyGraphic(total) {
        return total ? [] : [{type: "text", left: "center", top: "middle",
                               style: {text: i18n.noData || "-", fill: "#999", fontSize: 14}}];
    }

    function bars(name, data, color) {
        text(document.getElementById("title-" + name), data.title);
        draw(name, {
            color: [color || COLORS[0]],
            tooltip: {trigger: "axis", axisPointer: {type: "shadow"}},
            grid: {left: 40, right: 16, top: 16, bottom: 40, containLabel: true},
            xAxis: {type: "category", data: data.labels, axisLabel: {interval: 0}},
            yAxis: {type: "value", minInterval: 1},
            graphic: emptyGraphic(data.total),
            series: [{type: "bar", name: i18n.count, data: data.values, barMaxWidth: 48, cursor: "pointer"}]
        }, data.links);
    }

    function pie(name, data) {
        text(document.getElementById("title-" + name), data.title);
        // slices with a count only (no clutter of zero labels); links follow the kept items
        var items = [];
        var links = [];
        data.labels.forEach(function (label, i) {
            if (data.values[i] > 0) {
                items.push({name: label, value: data.values[i], itemStyle: {color: COLORS[i % COLORS.length]}});
                links.push(data.links[i]);
            }
        });
        draw(name, {
            color: COLORS,
            tooltip: {
                trigger: "item",
                formatter: function (p) {
                    return escapeHtml(p.name) + ": " + escapeHtml(p.value) + " (" + escapeHtml(p.percent) + "%)";
                }
            },
            legend: {bottom: 0, type: "scroll"},
            graphic: emptyGraphic(data.total),
            series: [{type: "pie", radius: ["35%", "65%"], center: ["50%", "45%"], data: items,
                      label: {formatter: "{b}: {c}"}, cursor: "pointer"}]
        }, links);
    }

    // One bar group per region, or per outlet for a user working on a single region: the first
    // bar series is the region's outlets, or the outlet's complaints received in the period.
    function regions(data) {
        var first = data.per_outlet ? "received" : "outlets";
        text(document.getElementById("title-regions"), data.title);
        draw("regions", {
            color: [COLORS[0], COLORS[2], COLORS[3]],
            tooltip: {
                trigger: "axis",
                formatter: function (params) {
                    var i = params.length ? params[0].dataIndex : 0;
                    return [
                        data.labels[i],
                        data.names[first] + ": " + data[first][i],
                        data.names.open_complaints + ": " + data.open_complaints[i],
                        data.names.breach_rate + ": " + data.breach_rate_display[i]
                    ].map(escapeHtml).join("<br>");
                }
            },
            legend: {bottom: 0},
            grid: {left: 40, right: 40, top: 16, bottom: 48, containLabel: true},
            xAxis: {type: "category", data: data.labels,
                    axisLabel: {interval: 0, rotate: data.labels.length > 6 ? 30 : 0}},
            yAxis: [{type: "value", minInterval: 1},
                    {type: "value", min: 0, max: 100, axisLabel: {formatter: "{value}%"}}],
            graphic: emptyGraphic(data.labels.length),
            series: [
                {type: "bar", name: data.names[first], data: data[first], barMaxWidth: 40, cursor: "pointer"},
                {type: "bar", name: data.names.open_complaints, data: data.open_complaints, barMaxWidth: 40,
                 cursor: "pointer"},
                {type: "line", name: data.names.breach_rate, yAxisIndex: 1, cursor: "pointer",
                 data: data.breach_rate.map(function (v) { return v === null ? null : Math.round(v * 1000) / 10; })}
            ]
        }, data.links);
    }

    // The current week is counted up to now: its point and the segment leading to it are drawn
    // dashed with a hollow marker over a shaded band, and its axis label reads "This week (to date)",
    // so a low partial count does not read as a collapse.
    function trend(data) {
        text(document.getElementById("title-trend"), data.title);
        var badge = document.getElementById("trend-partial");
        if (badge) {
            text(badge, data.partial_note);
            badge.hidden = !data.partial_note;
        }
        var p = data.partial_index;
        var step = Math.max(1, Math.ceil(data.labels.length / 7));
        var total = 0;
        data.series.forEach(function (s) {
            s.values.forEach(function (v) { total += v; });
        });
        var series = [];
        data.series.forEach(function (s, k) {
            var color = [COLORS[3], COLORS[1]][k % 2];
            series.push({type: "line", name: s.name, smooth: false, symbolSize: 6, itemStyle: {color: color},
                         lineStyle: {color: color},
                         data: s.values.map(function (v, i) { return i < p ? v : null; })});
            var partial = {type: "line", name: s.name, smooth: false, symbol: "emptyCircle", symbolSize: 8,
                           itemStyle: {color: color}, lineStyle: {color: color, type: "dashed"},
                           data: s.values.map(function (v, i) { return i >= p - 1 ? v : null; })};
            if (k === 0 && p >= 0) {
                partial.markArea = {silent: true, itemStyle: {color: "rgba(119, 119, 119, 0.12)"},
                                    data: [[{xAxis: data.labels[Math.max(p - 1, 0)]}, {xAxis: data.labels[p]}]]};
            }
            series.push(partial);
        });
        draw("trend", {
            tooltip: {
                trigger: "axis",
                formatter: function (params) {
                    if (!params.length) {
                        return "";
                    }
                    var i = params[0].dataIndex;
                    var seen = {};
                    var lines = [escapeHtml(data.labels[i]) + (i === p ? " · " + escapeHtml(data.partial_note) : "")];
                    params.forEach(function (item) {
                        if (seen[item.seriesName] || item.value === null || item.value === undefined) {
                            return;
                        }
                        seen[item.seriesName] = true;
                        lines.push(item.marker + escapeHtml(item.seriesName) + ": " + escapeHtml(item.value));
                    });
                    return lines.join("<br>");
                }
            },
            legend: {bottom: 0, data: data.series.map(function (s) { return s.name; })},
            grid: {left: 40, right: 32, top: 16, bottom: 48, containLabel: true},
            xAxis: {type: "category", data: data.labels, boundaryGap: false,
                    axisLabel: {
                        // about seven dates across; the partial week's label always shows
                        interval: function (index) {
                            return index === p || (index % step === 0 && p - index >= (step > 1 ? 2 : 1));
                        },
                        formatter: function (value, index) {
                            return index === p ? "{partial|" + value + "}" : value;
                        },
                        alignMaxLabel: "right",  // the partial week's label stays inside the chart
                        rich: {partial: {color: "#777777", fontStyle: "italic", fontWeight: "bold"}}
                    }},
            yAxis: {type: "value", minInterval: 1},
            graphic: emptyGraphic(total),
            series: series
        }, []);
    }

    function kpi(key, label, display, target) {
        var card = document.getElementById("kpi-" + key);
        if (!card) {
            return;
        }
        text(card.querySelector(".kpi-label"), label);
        text(card.querySelector(".kpi-value"), display);
        var targetEl = card.querySelector(".kpi-target");
        card.classList.remove("kpi-met", "kpi-missed");
        if (target) {
            text(targetEl, (i18n.target || "") + " " + target.target_display + (target.met === null ? "" :
                " · " + (target.met ? i18n.metTarget : i18n.missedTarget)));
            if (target.met !== null) {
                card.classList.add(target.met ? "kpi-met" : "kpi-missed");
            }
        }
    }

    function sla(data) {
        kpi("breach_rate", data.labels.breach_rate, data.breach_rate_display);
        text(document.querySelector("#kpi-breach_rate .kpi-target"), data.labels.received + ": " + data.received);
        kpi("mean_response_minutes", data.labels.mean_response_minutes, data.mean_response_minutes_display,
            data.response_target_display === null ? null :
                {target_display: data.response_target_display, met: data.response_met});
        kpi("mean_resolution_hours", data.labels.mean_resolution_hours, data.mean_resolution_hours_display);
        text(document.querySelector("#kpi-mean_resolution_hours .kpi-target"),
             data.labels.resolved + ": " + data.resolved);
    }

    function targets(data) {
        Object.keys(data.items).forEach(function (key) {
            var item = data.items[key];
            kpi(key, item.label, item.display, item);
        });
    }

    function attention(data) {
        Object.keys(data.items).forEach(function (key) {
            var item = data.items[key];
            var card = document.getElementById("attention-" + key);
            if (!card) {
                return;
            }
            card.setAttribute("href", item.link);
            text(card.querySelector(".kpi-value"), item.value);
            text(card.querySelector(".kpi-label"), item.label);
            text(card.querySelector(".kpi-target"), item.detail || "");
            card.classList.toggle("attention-alert", item.value > 0);
        });
    }

    var RENDER = {
        complaints_by_status: function (d) { bars("complaints_by_status", d, COLORS[0]); },
        complaints_by_severity: function (d) { bars("complaints_by_severity", d, COLORS[2]); },
        outlets_by_status: function (d) { pie("outlets_by_status", d); },
        regions: regions,
        trend: trend,
        sla: sla,
        targets: targets,
        attention: attention
    };

    function failed(name) {
        var el = document.getElementById("chart-" + name);
        if (el) {
            el.innerHTML = "";
            var p = document.createElement("p");
            p.className = "text-danger dashboard-error";
            p.textContent = i18n.failed || "!";
            el.appendChild(p);
        }
    }

    function load() {
        Object.keys(RENDER).forEach(function (name) {
            fetch(url(name), {credentials: "same-origin", headers: {"Accept": "application/json"}})
                .then(function (r) {
                    if (!r.ok) {
                        throw new Error(r.status);
                    }
                    return r.json();
                })
                .then(function (data) { RENDER[name](data); })
                .catch(function () { failed(name); });
        });
    }

    var resizeTimer = null;
    window.addEventListener("resize", function () {
        clearTimeout(resizeTimer);
        resizeTimer = setTimeout(function () {
            Object.keys(charts).forEach(function (k) { charts[k].resize(); });
        }, 100);
    });
    daysSelect.addEventListener("change", load);
    load();
}());
