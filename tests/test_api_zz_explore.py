def test_explore(app):
    for r in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        print(r.rule, sorted(r.methods - {"HEAD","OPTIONS"}), r.endpoint)
