"""The web view: a server-rendered app (Starlette, Jinja2) on the monitor's store."""
