/*
 * AJAX related-field boxes (select2 4, shipped with Flask-AppBuilder).
 *
 * A <select class="app-ajax-select" data-url="/<view>/related/<column>"> holds only the chosen
 * record(s); select2 asks the URL for matches as the user types ({q, page} → {results, more}),
 * one page of rows at a time. data-depends='{"outlet": "outlet"}' sends the value of the form's
 * #outlet field as ?outlet=… so e.g. only engineers of the chosen outlet are offered.
 */
(function ($) {
    "use strict";
    /*
     * CSRF (core.protection): every state-changing request a page's script makes carries the
     * page's token as X-CSRFToken; the API refuses session-cookie writes without it (403).
     */
    var csrfMeta = document.querySelector("meta[name='csrf-token']");
    var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") : "";
    window.appCsrfToken = function () { return csrfToken; };
    $.ajaxSetup({
        beforeSend: function (xhr, settings) {
            if (!/^(GET|HEAD|OPTIONS|TRACE)$/i.test(settings.type) && !this.crossDomain && csrfToken) {
                xhr.setRequestHeader("X-CSRFToken", csrfToken);
            }
        }
    });

    var i18n = {};
    try {
        i18n = JSON.parse($("#app-i18n").text() || "{}");
    } catch (e) {
        i18n = {};
    }

    function initAjaxSelect(el) {
        var $el = $(el);
        if ($el.data("select2") || $el.hasClass("select2-hidden-accessible")) {
            return;
        }
        var depends = $el.data("depends") || {};
        var form = $el.closest("form");
        $el.select2({
            theme: "bootstrap",
            width: "100%",
            allowClear: String($el.data("allow-clear")) === "true",
            placeholder: $el.data("placeholder") || i18n.typeToSearch || "",
            minimumInputLength: 0,
            language: {
                searching: function () { return i18n.searching || "…"; },
                noResults: function () { return i18n.noResults || "-"; },
                loadingMore: function () { return i18n.loadingMore || "…"; },
                errorLoading: function () { return i18n.errorLoading || "!"; }
            },
            ajax: {
                url: $el.data("url"),
                dataType: "json",
                delay: 250,
                data: function (params) {
                    var query = {q: params.term || "", page: params.page || 1};
                    $.each(depends, function (param, fieldName) {
                        var value = form.find("[name='" + fieldName + "']").val();
                        if (value) {
                            query[param] = value;
                        }
                    });
                    return query;
                },
                processResults: function (data) {
                    return {results: data.results || [], pagination: {more: !!data.more}};
                }
            }
        });
    }

    /*
     * select2 replaces the <select> by a <span role="combobox"> that select2 4.0 names after the
     * chosen value only, and its search box has no name at all: name both after the field's
     * <label for=…>, so a screen reader says which field has the focus (FAB's select2 fields too).
     */
    function labelSelect2(select) {
        var instance = $(select).data("select2");
        var label = select.id ? document.querySelector("label[for=\"" + CSS.escape(select.id) + "\"]") : null;
        if (!instance || !label || $(select).data("app-labelled")) {
            return;
        }
        $(select).data("app-labelled", true);
        if (!label.id) {
            label.id = select.id + "-label";
        }
        var name = $.trim($(label).text());
        var $selection = instance.$selection;
        if ($selection && $selection.attr("role") === "combobox") {
            var rendered = $selection.find(".select2-selection__rendered").attr("id");
            $selection.attr("aria-labelledby", label.id + (rendered ? " " + rendered : ""));
        }
        instance.$container.find(".select2-search__field").attr("aria-label", name);
        $(select).on("select2:open", function () {
            if (instance.$dropdown) {
                instance.$dropdown.find(".select2-search__field").attr("aria-label", name);
            }
        });
    }

    function initAll(root) {
        $(root || document).find("select.app-ajax-select").each(function () {
            initAjaxSelect(this);
        });
        $(root || document).find("select.select2-hidden-accessible").each(function () {
            labelSelect2(this);
        });
    }

    $(function () {
        initAll(document);
        // Filters added on the list's search form arrive as new rows: equip them too.
        $(document).on("click", "#filter_form a.filter", function () {
            window.setTimeout(function () { initAll("#filter_form"); }, 0);
        });
    });

    window.appInitAjaxSelects = initAll;
})(jQuery);
