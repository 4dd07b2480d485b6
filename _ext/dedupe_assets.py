"""Drop duplicate <script> entries from every page (Sphinx 7.4 adds an extension's inline script
twice when it is added after the builder started: once as filename None, once as ''), which made
`const THEBE_JS_URL` a redeclaration error on every page."""


def _dedupe(app, pagename, templatename, context, doctree):
    files = context.get("script_files")
    if not files:
        return
    seen, unique = set(), []
    for js in files:
        attrs = getattr(js, "attributes", {}) or {}
        key = (getattr(js, "filename", str(js)) or "", getattr(js, "priority", None),
               tuple(sorted((k, str(v)) for k, v in attrs.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
