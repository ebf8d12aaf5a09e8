"""Dashboard pages, one module per topic; each page's htmx partials live in its template."""
