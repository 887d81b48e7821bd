"""The review web app: FastAPI, server-rendered Jinja2 templates and vendored htmx (see ``app.create_app``)."""
